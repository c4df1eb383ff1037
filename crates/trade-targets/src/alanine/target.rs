//! `AlanineDipeptide`: the reduced energy U(x; c) = E(x)/(k_B T(c)) as a [`Target`], batched with
//! rayon, with the condition either τ = T/600 K (TRADE) or T in kelvin (command line).

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis, Zip};
use rayon::prelude::*;

use super::forcefield::{EnergyTerms, ForceField};
use super::{DIM, N_ATOMS, Positions, REFERENCE_TEMPERATURE, positions_from_row};
use crate::{ConditionSpec, Target, TargetError, broadcast_conditions, check_input};

/// Smallest interatomic distance (nm) accepted by [`Target::check`]; closer atoms are rejected.
pub const MIN_DISTANCE: f64 = 1e-6;

/// What the condition `c` of [`AlanineDipeptide`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConditionUnit {
    /// τ = T / 600 K (spec §6.5, the TRADE condition): U = u_600/τ, ∂U/∂τ = −u_600/τ².
    Tau,
    /// T in kelvin (command line): U = E/(R T), ∂U/∂T = −E/(R T²) in K⁻¹ (= (∂U/∂τ)/600 K).
    Kelvin,
}

/// Alanine dipeptide in OBC-II implicit solvent as a target on x ∈ R⁶⁶ (nm, atom-major).
#[derive(Debug, Clone, Copy)]
pub struct AlanineDipeptide {
    ff: &'static ForceField,
    unit: ConditionUnit,
}

impl Default for AlanineDipeptide {
    fn default() -> Self {
        Self::new()
    }
}

impl AlanineDipeptide {
    /// The TRADE target: condition τ = T/600 K, range [0.4, 1.1], boundary τ = 1.
    pub fn new() -> Self {
        Self::with_unit(ConditionUnit::Tau)
    }

    /// The same density with the condition given as T in kelvin (used by the CLI).
    pub fn kelvin() -> Self {
        Self::with_unit(ConditionUnit::Kelvin)
    }

    /// The target with the chosen condition unit.
    pub fn with_unit(unit: ConditionUnit) -> Self {
        AlanineDipeptide {
            ff: ForceField::embedded(),
            unit,
        }
    }

    /// The condition unit.
    pub fn unit(&self) -> ConditionUnit {
        self.unit
    }

    /// The force field.
    pub fn force_field(&self) -> &'static ForceField {
        self.ff
    }

    /// Temperature in K of condition `c`.
    pub fn temperature(&self, c: f64) -> f64 {
        match self.unit {
            ConditionUnit::Tau => c * REFERENCE_TEMPERATURE,
            ConditionUnit::Kelvin => c,
        }
    }

    /// dT/dc: 600 K for τ, 1 for kelvin.
    fn dtemperature_dc(&self) -> f64 {
        match self.unit {
            ConditionUnit::Tau => REFERENCE_TEMPERATURE,
            ConditionUnit::Kelvin => 1.0,
        }
    }

    /// k_B T(c) in kJ/mol.
    fn kt(&self, c: f64) -> f64 {
        self.ff.gas_constant() * self.temperature(c)
    }

    /// Potential energy E(x) in kJ/mol per row (no condition).
    pub fn potential_energy(&self, x: ArrayView2<f64>) -> Array1<f64> {
        self.map_rows(x, |p| self.ff.energy(p))
    }

    /// Per-term energies in kJ/mol, one [`EnergyTerms`] per row.
    pub fn energy_terms(&self, x: ArrayView2<f64>) -> Vec<EnergyTerms> {
        let rows: Vec<_> = x.axis_iter(Axis(0)).collect();
        rows.into_par_iter()
            .map(|r| self.ff.energy_terms(&positions_from_row(r)))
            .collect()
    }

    fn map_rows(&self, x: ArrayView2<f64>, f: impl Fn(&Positions) -> f64 + Sync) -> Array1<f64> {
        let rows: Vec<_> = x.axis_iter(Axis(0)).collect();
        let v: Vec<f64> = rows
            .into_par_iter()
            .map(|r| f(&positions_from_row(r)))
            .collect();
        Array1::from_vec(v)
    }

    /// Checks that no two atoms of any row are closer than [`MIN_DISTANCE`].
    fn check_overlaps(&self, x: ArrayView2<f64>) -> Result<(), TargetError> {
        for (row, r) in x.axis_iter(Axis(0)).enumerate() {
            let p = positions_from_row(r);
            for i in 0..N_ATOMS {
                for j in i + 1..N_ATOMS {
                    if super::geometry::distance(p[i], p[j]) < MIN_DISTANCE {
                        return Err(TargetError::Singular {
                            row,
                            what: format!("atoms {i} and {j} closer than {MIN_DISTANCE} nm"),
                        });
                    }
                }
            }
        }
        Ok(())
    }
}

impl Target for AlanineDipeptide {
    fn name(&self) -> &str {
        "alanine-dipeptide"
    }

    fn dim(&self) -> usize {
        DIM
    }

    fn condition(&self) -> ConditionSpec {
        let t0 = REFERENCE_TEMPERATURE;
        match self.unit {
            ConditionUnit::Tau => ConditionSpec {
                name: "tau",
                min: 0.05,
                max: 10.0,
                train_range: (0.4, 1.1),
                boundary: vec![1.0],
            },
            ConditionUnit::Kelvin => ConditionSpec {
                name: "T",
                min: 0.05 * t0,
                max: 10.0 * t0,
                train_range: (0.4 * t0, 1.1 * t0),
                boundary: vec![t0],
            },
        }
    }

    fn energy(&self, x: ArrayView2<f64>, c: ArrayView1<f64>) -> Array1<f64> {
        let e = self.potential_energy(x);
        let c = broadcast_conditions(c, e.len());
        Zip::from(&e).and(&c).map_collect(|&e, &c| e / self.kt(c))
    }

    fn grad_x(&self, x: ArrayView2<f64>, c: ArrayView1<f64>) -> Array2<f64> {
        self.energy_and_grad(x, c).1
    }

    fn d_energy_dc(&self, x: ArrayView2<f64>, c: ArrayView1<f64>) -> Array1<f64> {
        let e = self.potential_energy(x);
        let c = broadcast_conditions(c, e.len());
        let dt = self.dtemperature_dc();
        Zip::from(&e)
            .and(&c)
            .map_collect(|&e, &c| -e * dt / (self.kt(c) * self.temperature(c)))
    }

    fn energy_and_grad(
        &self,
        x: ArrayView2<f64>,
        c: ArrayView1<f64>,
    ) -> (Array1<f64>, Array2<f64>) {
        let n = x.nrows();
        let c = broadcast_conditions(c, n);
        let mut u = Array1::zeros(n);
        let mut g = Array2::zeros((n, DIM));
        Zip::from(&mut u)
            .and(g.rows_mut())
            .and(x.rows())
            .and(&c)
            .par_for_each(|u, mut g, x, &c| {
                let mut grad = [[0.0; 3]; N_ATOMS];
                let beta = 1.0 / self.kt(c);
                *u = self.ff.energy_grad(&positions_from_row(x), &mut grad) * beta;
                for (gi, v) in g.iter_mut().zip(grad.as_flattened()) {
                    *gi = v * beta;
                }
            });
        (u, g)
    }

    fn check(&self, x: ArrayView2<f64>, c: ArrayView1<f64>) -> Result<(), TargetError> {
        check_input(self.dim(), &self.condition(), x, c)?;
        self.check_overlaps(x)
    }
}
