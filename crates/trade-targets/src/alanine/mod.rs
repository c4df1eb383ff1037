//! Alanine dipeptide (Ace-Ala-Nme) in OBC-II implicit solvent: AMBER ff99SB-ILDN energy identical
//! to OpenMM's Reference platform, internal coordinates, minimisation and constrained Langevin MD.
//!
//! Spec: `targets.md` §6. Positions are (22, 3) in nm, flattened atom-major to x ∈ R⁶⁶
//! (x0, y0, z0, x1, …) in the atom order of §6.2. Energies are in kJ/mol:
//!
//! `E = E_bond + E_angle + E_torsion + E_LJ + E_Coul + E_GB + E_ACE`
//!
//! * bonds `½k(r − r0)²` (9 heavy-atom bonds; the 12 X–H bonds are constraints, not terms);
//! * angles `½k_θ(θ − θ0)²` (36); torsions `k(1 + cos(nφ − φ0))` (42, IUPAC dihedral);
//! * LJ `4ε[(σ/r)¹² − (σ/r)⁶]` (Lorentz–Berthelot) and Coulomb `k_e q_i q_j / r`, all pairs, no
//!   cutoff, 57 exclusions and 41 scaled 1-4 exceptions as exported;
//! * OBC-II GB with HCT Born radii and ACE surface term (see the `gbsa` source file for the
//!   formulas, identical to OpenMM's `ReferenceObc`).
//!
//! Every parameter comes from `data/alanine/params.json`, written by `tools/export_alanine.py`
//! from OpenMM and embedded with `include_str!`. The reduced energy is
//! `U(x; T) = E(x)/(k_B T)`; the TRADE condition is τ = T/600 K ([`AlanineDipeptide::new`]), the
//! command line uses kelvin ([`AlanineDipeptide::kelvin`]).
//!
//! ```
//! use ndarray::Array2;
//! use trade_targets::Target;
//! use trade_targets::alanine::{AlanineDipeptide, IcTransform, reference_structure};
//! let target = AlanineDipeptide::new(); // condition τ = T / 600 K
//! let x = reference_structure(); // minimised C5/β structure, (22, 3) nm
//! let xs = Array2::from_shape_vec((1, 66), x.as_flattened().to_vec()).unwrap();
//! let tau = ndarray::array![1.0];
//! let (u, grad) = target.energy_and_grad(xs.view(), tau.view()); // E/(k_B · 600 K), ∇_x U
//! assert!((u[0] + 26.81).abs() < 0.01 && grad.dim() == (1, 66)); // E_min = −133.77 kJ/mol
//! let (phi, psi) = trade_targets::alanine::phi_psi(&x);
//! assert!((phi.to_degrees() + 144.6).abs() < 1.0 && (psi.to_degrees() - 159.2).abs() < 1.0);
//! let ic = IcTransform::new(); // 66 Cartesian ↔ 48 free internal coordinates
//! let (z, _log_det) = ic.to_internal(xs.view());
//! assert_eq!(z.dim(), (1, 48));
//! ```

mod bonded;
mod constraints;
mod dual;
mod forcefield;
mod gbsa;
pub mod geometry;
pub mod ic;
mod ic_transform;
mod internal;
mod md;
mod minimise;
mod nonbonded;
pub mod params;
mod target;

pub use forcefield::{EnergyTerms, ForceField, Term};
pub use ic_transform::{ANGLE_WIDTH, BOND_WIDTH, IcScaling, IcTransform};
pub use internal::AlanineInternal;
pub use md::{LangevinIntegrator, MdConfig, MdSampler, MdState, Trajectory};
pub use minimise::{MinimiseConfig, Minimum, minimise, reference_structure};
pub use target::{AlanineDipeptide, ConditionUnit, MIN_DISTANCE};

use ndarray::{Array2, ArrayView1, ArrayView2, Axis};

/// Number of atoms.
pub const N_ATOMS: usize = 22;
/// Cartesian dimension 3 · 22.
pub const DIM: usize = 3 * N_ATOMS;
/// Temperature (K) at which τ = 1.
pub const REFERENCE_TEMPERATURE: f64 = 600.0;

/// Positions of the 22 atoms in nm.
pub type Positions = [geometry::Vec3; N_ATOMS];

/// Atom quadruple of the backbone dihedral φ (C–N–CA–C).
pub const PHI_ATOMS: [usize; 4] = [4, 6, 8, 14];
/// Atom quadruple of the backbone dihedral ψ (N–CA–C–N).
pub const PSI_ATOMS: [usize; 4] = [6, 8, 14, 16];
/// Atom quadruples of the peptide bonds ω1 and ω2.
pub const OMEGA_ATOMS: [[usize; 4]; 2] = [[1, 4, 6, 8], [8, 14, 16, 18]];

/// Copies one atom-major row of length 66 into positions.
///
/// # Panics
/// If the row does not have 66 entries.
pub fn positions_from_row(row: ArrayView1<f64>) -> Positions {
    assert_eq!(row.len(), DIM, "alanine row must have {DIM} coordinates");
    std::array::from_fn(|i| [row[3 * i], row[3 * i + 1], row[3 * i + 2]])
}

/// The IUPAC dihedral of four atoms, rad in (−π, π].
pub fn dihedral_of(x: &Positions, atoms: [usize; 4]) -> f64 {
    let [a, b, c, d] = atoms;
    geometry::dihedral(x[a], x[b], x[c], x[d])
}

/// Backbone dihedrals (φ, ψ) in rad.
pub fn phi_psi(x: &Positions) -> (f64, f64) {
    (dihedral_of(x, PHI_ATOMS), dihedral_of(x, PSI_ATOMS))
}

/// (φ, ψ) in rad for every row of x (N, 66): an (N, 2) array for Ramachandran histograms.
///
/// # Panics
/// If x does not have 66 columns.
pub fn phi_psi_rows(x: ArrayView2<f64>) -> Array2<f64> {
    let mut out = Array2::zeros((x.nrows(), 2));
    for (mut o, row) in out.axis_iter_mut(Axis(0)).zip(x.axis_iter(Axis(0))) {
        let (phi, psi) = phi_psi(&positions_from_row(row));
        o[0] = phi;
        o[1] = psi;
    }
    out
}

/// Chirality volume `V = (x_6 − x_8) · [(x_14 − x_8) × (x_10 − x_8)]` in nm³; L-Ala has V > 0.
pub fn chirality(x: &Positions) -> f64 {
    use geometry::{cross, dot, sub};
    dot(sub(x[6], x[8]), cross(sub(x[14], x[8]), sub(x[10], x[8])))
}
