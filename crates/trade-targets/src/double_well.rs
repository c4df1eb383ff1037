//! Double well 2D: E(x) = x0⁴ − 4x0² + ½x1², U = E/T, with exact references and sampler.
//!
//! Spec `targets.md` §2. Condition T (dimensionless), training range [0.4, 1.1], boundary T = 1.
//! `∇_x U = (4x0³ − 8x0, x1)/T`, `∂_T U = −E/T²`. Exact references: the 1D quadrature of the
//! multi-well coordinate (`multi_well::GRID`) times the Gaussian in x1, whose contributions are
//! `½ log(2πT)` to log Z, `T/2` to ⟨E⟩ and `T²/2` to Var E. Exact samples: x0 by the 1D inverse
//! CDF, `x1 ~ N(0, T)`.

use crate::multi_well::{ThermoReference, energy_1d, grid_1d, temperature_spec};
use crate::quadrature::Grid1d;
use crate::rows::{map_rows, map_rows_grad};
use crate::{ConditionSpec, ReferenceSampler, Target, TargetError};
use ndarray::{Array1, Array2, ArrayView1, ArrayView2};
use rand::RngCore;
use rand_distr::{Distribution, StandardNormal};

/// The 2D double well.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct DoubleWell;

impl DoubleWell {
    /// E(x) of one row (x0, x1).
    pub fn raw_energy(x: ArrayView1<f64>) -> f64 {
        energy_1d(x[0]) + 0.5 * x[1] * x[1]
    }
}

impl Target for DoubleWell {
    fn name(&self) -> &str {
        "double-well"
    }
    fn dim(&self) -> usize {
        2
    }
    fn condition(&self) -> ConditionSpec {
        temperature_spec()
    }
    fn energy(&self, x: ArrayView2<f64>, c: ArrayView1<f64>) -> Array1<f64> {
        map_rows(x, c, |row, t| Self::raw_energy(row) / t)
    }
    fn grad_x(&self, x: ArrayView2<f64>, c: ArrayView1<f64>) -> Array2<f64> {
        self.energy_and_grad(x, c).1
    }
    fn d_energy_dc(&self, x: ArrayView2<f64>, c: ArrayView1<f64>) -> Array1<f64> {
        map_rows(x, c, |row, t| -Self::raw_energy(row) / (t * t))
    }
    fn energy_and_grad(
        &self,
        x: ArrayView2<f64>,
        c: ArrayView1<f64>,
    ) -> (Array1<f64>, Array2<f64>) {
        map_rows_grad(x, c, |row, t, mut g| {
            g[0] = (4.0 * row[0].powi(3) - 8.0 * row[0]) / t;
            g[1] = row[1] / t;
            Self::raw_energy(row) / t
        })
    }
}

/// Exact log Z, ⟨E⟩, Var E and entropy of the double well at temperature `t`.
///
/// ```
/// let r = trade_targets::double_well::reference(1.0)?;
/// let mw = trade_targets::multi_well::reference(1, 1.0)?;
/// let gauss = 0.5 * (2.0 * std::f64::consts::PI).ln();
/// assert!((r.log_z - mw.log_z - gauss).abs() < 1e-12);
/// # Ok::<(), trade_targets::TargetError>(())
/// ```
pub fn reference(t: f64) -> Result<ThermoReference, TargetError> {
    let grid = grid_1d(t)?;
    let (mean, var) = grid.mean_and_var(energy_1d);
    let log_z = grid.log_z() + 0.5 * (2.0 * std::f64::consts::PI * t).ln();
    Ok(ThermoReference::from_moments(
        log_z,
        mean + 0.5 * t,
        var + 0.5 * t * t,
        t,
    ))
}

/// Exact i.i.d. sampler of the double well at one temperature.
#[derive(Debug, Clone)]
pub struct DoubleWellSampler {
    t: f64,
    grid: Grid1d,
}

impl DoubleWellSampler {
    /// Tabulates the x0 inverse CDF at temperature `t`.
    pub fn new(t: f64) -> Result<Self, TargetError> {
        Ok(Self {
            t,
            grid: grid_1d(t)?,
        })
    }
}

impl ReferenceSampler for DoubleWellSampler {
    fn dim(&self) -> usize {
        2
    }
    fn sample(&self, n: usize, rng: &mut dyn RngCore) -> Array2<f64> {
        let sd = self.t.sqrt();
        let mut out = Array2::zeros((n, 2));
        for mut row in out.rows_mut() {
            row[0] = self.grid.sample_one(rng);
            row[1] = sd * <StandardNormal as Distribution<f64>>::sample(&StandardNormal, rng);
        }
        out
    }
}
