//! The alanine-dipeptide force field: AMBER ff99SB-ILDN + OBC-II/ACE implicit solvent, energy in
//! kJ/mol and its gradient for one configuration, total or per term.

use std::sync::OnceLock;

use super::gbsa::GbModel;
use super::nonbonded::{Pair, build_pairs, nonbonded};
use super::params::{Angle, Bond, Constraint, Parameters, Torsion};
use super::{N_ATOMS, Positions, bonded};

/// One of the seven energy terms of `targets.md` §6.3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Term {
    /// 9 harmonic heavy-atom bonds.
    Bond,
    /// 36 harmonic angles.
    Angle,
    /// 42 periodic torsions (propers and impropers).
    Torsion,
    /// Lennard-Jones with exclusions and 1-4 exceptions.
    LennardJones,
    /// Coulomb (vacuum dielectric) with exclusions and 1-4 exceptions.
    Coulomb,
    /// OBC-II generalized-Born polar solvation.
    GbPolar,
    /// ACE non-polar surface term.
    GbNonPolar,
}

impl Term {
    /// All terms in the fixed order used by [`EnergyTerms::as_array`].
    pub const ALL: [Term; 7] = [
        Term::Bond,
        Term::Angle,
        Term::Torsion,
        Term::LennardJones,
        Term::Coulomb,
        Term::GbPolar,
        Term::GbNonPolar,
    ];

    /// Short name as in the fixture: bond, angle, torsion, lj, coulomb, gb, ace.
    pub fn name(self) -> &'static str {
        match self {
            Term::Bond => "bond",
            Term::Angle => "angle",
            Term::Torsion => "torsion",
            Term::LennardJones => "lj",
            Term::Coulomb => "coulomb",
            Term::GbPolar => "gb",
            Term::GbNonPolar => "ace",
        }
    }
}

/// The per-term energies of one configuration, kJ/mol.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct EnergyTerms {
    /// Harmonic bonds.
    pub bond: f64,
    /// Harmonic angles.
    pub angle: f64,
    /// Periodic torsions.
    pub torsion: f64,
    /// Lennard-Jones.
    pub lennard_jones: f64,
    /// Coulomb.
    pub coulomb: f64,
    /// GB polar.
    pub gb_polar: f64,
    /// ACE non-polar.
    pub gb_non_polar: f64,
}

impl EnergyTerms {
    /// Sum of all terms.
    pub fn total(&self) -> f64 {
        self.as_array().iter().sum()
    }

    /// The terms in the order of [`Term::ALL`].
    pub fn as_array(&self) -> [f64; 7] {
        [
            self.bond,
            self.angle,
            self.torsion,
            self.lennard_jones,
            self.coulomb,
            self.gb_polar,
            self.gb_non_polar,
        ]
    }

    /// The energy of one term.
    pub fn get(&self, term: Term) -> f64 {
        self.as_array()[term as usize]
    }
}

/// The force field with its parameters preprocessed for evaluation.
#[derive(Debug, Clone)]
pub struct ForceField {
    params: Parameters,
    pairs: Vec<Pair>,
    gb: GbModel,
}

impl ForceField {
    /// Builds the evaluator from exported parameters.
    ///
    /// # Panics
    /// If the parameters do not describe 22 atoms (the atom count is fixed at compile time).
    pub fn new(params: Parameters) -> Self {
        assert_eq!(
            params.atoms.len(),
            N_ATOMS,
            "alanine dipeptide has {N_ATOMS} atoms"
        );
        let pairs = build_pairs(&params);
        let gb = GbModel::new(&params);
        ForceField { params, pairs, gb }
    }

    /// The shared instance built from the embedded OpenMM export.
    pub fn embedded() -> &'static ForceField {
        static FF: OnceLock<ForceField> = OnceLock::new();
        FF.get_or_init(|| ForceField::new(Parameters::embedded()))
    }

    /// The raw parameters.
    pub fn parameters(&self) -> &Parameters {
        &self.params
    }

    /// Atomic masses in Da.
    pub fn masses(&self) -> [f64; N_ATOMS] {
        std::array::from_fn(|i| self.params.atoms[i].mass)
    }

    /// The 12 X–H constraints.
    pub fn constraints(&self) -> &[Constraint] {
        &self.params.constraints
    }

    /// The harmonic bonds.
    pub fn bonds(&self) -> &[Bond] {
        &self.params.bonds
    }

    /// The harmonic angles.
    pub fn angles(&self) -> &[Angle] {
        &self.params.angles
    }

    /// The periodic torsions.
    pub fn torsions(&self) -> &[Torsion] {
        &self.params.torsions
    }

    /// Molar gas constant R in kJ mol⁻¹ K⁻¹ (k_B T in kJ/mol is `R · T`).
    pub fn gas_constant(&self) -> f64 {
        self.params.molar_gas_constant
    }

    /// All seven terms, kJ/mol.
    pub fn energy_terms(&self, x: &Positions) -> EnergyTerms {
        let mut scratch = [[0.0; 3]; N_ATOMS];
        self.terms::<false>(x, &Term::ALL, &mut scratch)
    }

    /// Total energy E(x), kJ/mol.
    pub fn energy(&self, x: &Positions) -> f64 {
        self.energy_terms(x).total()
    }

    /// Total energy (kJ/mol); writes ∇E (kJ mol⁻¹ nm⁻¹, i.e. −forces) into `grad`.
    pub fn energy_grad(&self, x: &Positions, grad: &mut Positions) -> f64 {
        *grad = [[0.0; 3]; N_ATOMS];
        self.terms::<true>(x, &Term::ALL, grad).total()
    }

    /// One term's energy (kJ/mol); writes its gradient into `grad`.
    pub fn term_energy_grad(&self, term: Term, x: &Positions, grad: &mut Positions) -> f64 {
        *grad = [[0.0; 3]; N_ATOMS];
        self.terms::<true>(x, &[term], grad).get(term)
    }

    /// The selected terms (others 0); gradient of their sum added to `grad` when `G`.
    fn terms<const G: bool>(
        &self,
        x: &Positions,
        sel: &[Term],
        grad: &mut Positions,
    ) -> EnergyTerms {
        let has = |t| sel.contains(&t);
        let p = &self.params;
        let mut e = EnergyTerms::default();
        if has(Term::Bond) {
            e.bond = bonded::bonds::<G>(&p.bonds, x, grad);
        }
        if has(Term::Angle) {
            e.angle = bonded::angles::<G>(&p.angles, x, grad);
        }
        if has(Term::Torsion) {
            e.torsion = bonded::torsions::<G>(&p.torsions, x, grad);
        }
        let (lj, coul) = (has(Term::LennardJones), has(Term::Coulomb));
        if lj || coul {
            (e.lennard_jones, e.coulomb) = nonbonded::<G>(&self.pairs, x, lj, coul, grad);
        }
        let (polar, ace) = (has(Term::GbPolar), has(Term::GbNonPolar));
        if polar || ace {
            (e.gb_polar, e.gb_non_polar) = self.gb.energy::<G>(x, polar, ace, grad);
        }
        e
    }
}
