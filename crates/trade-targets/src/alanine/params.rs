//! Force-field parameters of alanine dipeptide as exported from OpenMM (`data/alanine/params.json`).
//!
//! The JSON is the source of truth for every parameter (spec `targets.md` §6.10); it is embedded
//! with `include_str!`, so nothing is read at run time. Units: nm, kJ/mol, rad, e, Da.

use serde::Deserialize;

/// The exported parameter file, embedded at compile time.
pub(crate) const PARAMS_JSON: &str = include_str!("../../data/alanine/params.json");

/// All parameters of the system, field for field as in `params.json`.
#[derive(Debug, Clone, Deserialize)]
pub struct Parameters {
    /// Provenance: OpenMM version and the `createSystem` call.
    pub source: String,
    /// Coulomb constant k_e = 1/(4π ε0) in kJ mol⁻¹ nm e⁻² (OpenMM 8.x `ONE_4PI_EPS0`).
    pub coulomb_constant: f64,
    /// Molar gas constant R = N_A k_B in kJ mol⁻¹ K⁻¹.
    pub molar_gas_constant: f64,
    /// The 22 atoms in the order of spec §6.2.
    pub atoms: Vec<Atom>,
    /// The 9 harmonic heavy-atom bonds (the 12 X–H bonds are constraints instead).
    pub bonds: Vec<Bond>,
    /// The 36 harmonic angles.
    pub angles: Vec<Angle>,
    /// The 42 periodic torsions (38 proper Fourier terms, 4 impropers).
    pub torsions: Vec<Torsion>,
    /// The 98 nonbonded exceptions (57 exclusions with zero parameters, 41 scaled 1-4 pairs).
    pub exceptions: Vec<Exception>,
    /// The 12 X–H distance constraints.
    pub constraints: Vec<Constraint>,
    /// OBC-II implicit-solvent constants.
    pub gbsa: Gbsa,
}

/// One atom: identity, mass, nonbonded and GB parameters.
#[derive(Debug, Clone, Deserialize)]
pub struct Atom {
    /// Position in the atom order.
    pub index: usize,
    /// Residue name (ACE, ALA, NME).
    pub residue: String,
    /// Atom name within the residue.
    pub name: String,
    /// Element symbol.
    pub element: String,
    /// Mass in Da.
    pub mass: f64,
    /// Partial charge in e.
    pub charge: f64,
    /// Lennard-Jones σ in nm.
    pub sigma: f64,
    /// Lennard-Jones ε in kJ/mol.
    pub epsilon: f64,
    /// Unoffset GB radius ρ in nm.
    pub gb_radius: f64,
    /// GB descreening scale s (dimensionless).
    pub gb_scale: f64,
}

/// Harmonic bond `½ k (r − r0)²`.
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct Bond {
    /// First atom.
    pub i: usize,
    /// Second atom.
    pub j: usize,
    /// Rest length r0 in nm.
    pub r0: f64,
    /// Force constant k in kJ mol⁻¹ nm⁻².
    pub k: f64,
}

/// Harmonic angle `½ k_θ (θ − θ0)²` with the vertex at `j`.
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct Angle {
    /// First atom.
    pub i: usize,
    /// Vertex atom.
    pub j: usize,
    /// Third atom.
    pub k: usize,
    /// Rest angle θ0 in rad.
    pub theta0: f64,
    /// Force constant k_θ in kJ mol⁻¹ rad⁻².
    pub k_theta: f64,
}

/// Periodic torsion `k (1 + cos(n φ − φ0))` of the IUPAC dihedral (i, j, k, l).
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct Torsion {
    /// First atom.
    pub i: usize,
    /// Second atom.
    pub j: usize,
    /// Third atom (the central atom of an improper).
    pub k: usize,
    /// Fourth atom.
    pub l: usize,
    /// Periodicity n.
    pub periodicity: u32,
    /// Phase φ0 in rad.
    pub phase: f64,
    /// Barrier k in kJ/mol.
    pub k_torsion: f64,
    /// True if the consecutive pairs are not all bonded.
    pub improper: bool,
}

/// Nonbonded exception: the pair uses these parameters instead of the combining rules.
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct Exception {
    /// First atom.
    pub i: usize,
    /// Second atom.
    pub j: usize,
    /// Charge product q_i q_j in e² (already scaled for 1-4 pairs; 0 for exclusions).
    pub qq: f64,
    /// σ in nm.
    pub sigma: f64,
    /// ε in kJ/mol (0 for exclusions).
    pub epsilon: f64,
}

/// Distance constraint |x_i − x_j| = d.
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct Constraint {
    /// Heavy atom.
    pub i: usize,
    /// Hydrogen.
    pub j: usize,
    /// Length d in nm.
    pub d: f64,
}

/// OBC-II generalized-Born constants (dielectrics from the force; the rest hard-coded in OpenMM).
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct Gbsa {
    /// Solute dielectric ε_in.
    pub solute_dielectric: f64,
    /// Solvent dielectric ε_out.
    pub solvent_dielectric: f64,
    /// ACE surface tension γ_SA in kJ mol⁻¹ nm⁻².
    pub surface_area_energy: f64,
    /// ACE probe radius in nm.
    pub probe_radius: f64,
    /// Dielectric offset subtracted from ρ in nm.
    pub dielectric_offset: f64,
    /// OBC α.
    pub alpha: f64,
    /// OBC β.
    pub beta: f64,
    /// OBC γ.
    pub gamma: f64,
}

impl Parameters {
    /// Parses the embedded OpenMM export.
    ///
    /// # Panics
    /// Never in practice: the embedded file is checked by the crate's tests.
    pub fn embedded() -> Self {
        serde_json::from_str(PARAMS_JSON).expect("embedded params.json is valid (tested)")
    }
}
