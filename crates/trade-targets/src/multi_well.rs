//! Multi-well target: E(x) = Σ_i (x_i⁴ − 4x_i²), U = E/T, with exact 1D-quadrature references and sampler.
//!
//! Spec `targets.md` §1: coefficients (a1, a2, a4) = (0, −4, 1), no rotation; per coordinate the
//! minima sit at ±√2 with E_i = −4 and a barrier of height 4 at 0, so d = 5 gives 32 modes.
//! `U(x; T) = E(x)/T`, `∇_x U = (4x³ − 8x)/T`, `∂_T U = −E/T²`. The condition is the temperature T
//! (dimensionless); training range [0.4, 1.1], boundary T = 1.
//!
//! The density factorises, so every exact reference is a 1D trapezoidal quadrature on [−5, 5] with
//! 400 001 points (`log Z_d = d · log Z_1D`), and exact samples come from the 1D inverse CDF per
//! coordinate.

use crate::quadrature::Grid1d;
use crate::rows::{map_rows, map_rows_grad};
use crate::{ConditionSpec, ReferenceSampler, Target, TargetError};
use ndarray::{Array1, Array2, ArrayView1, ArrayView2};
use rand::RngCore;

/// Grid of the 1D quadrature and sampler: [−5, 5] with 400 001 points (`targets.md` §1).
pub const GRID: (f64, f64, usize) = (-5.0, 5.0, 400_001);

/// Allowed temperatures: U is defined for every T > 0; the exact references need the density to
/// fit the grid, which holds on [0.1, 10].
pub(crate) const T_ALLOWED: (f64, f64) = (0.1, 10.0);

/// One-coordinate energy `x⁴ − 4x²` (dimensionless).
pub fn energy_1d(x: f64) -> f64 {
    let x2 = x * x;
    x2 * x2 - 4.0 * x2
}

/// The multi-well family in d dimensions (d = 5 in the paper).
#[derive(Debug, Clone, PartialEq)]
pub struct MultiWell {
    dim: usize,
}

impl MultiWell {
    /// A multi-well target of dimension `dim ≥ 1`.
    ///
    /// ```
    /// use ndarray::array;
    /// use trade_targets::{MultiWell, Target};
    /// let t = MultiWell::new(2)?;
    /// let u = t.energy(array![[2f64.sqrt(), -2f64.sqrt()]].view(), array![0.5].view());
    /// assert!((u[0] + 16.0).abs() < 1e-12); // E = −8, T = 0.5
    /// # Ok::<(), trade_targets::TargetError>(())
    /// ```
    pub fn new(dim: usize) -> Result<Self, TargetError> {
        if dim == 0 {
            return Err(TargetError::InvalidParameter {
                field: "dim",
                value: "0".into(),
                allowed: ">= 1".into(),
            });
        }
        Ok(Self { dim })
    }

    /// E(x) = Σ_i (x_i⁴ − 4x_i²) of one row.
    pub fn raw_energy(x: ArrayView1<f64>) -> f64 {
        x.iter().map(|&v| energy_1d(v)).sum()
    }
}

impl Default for MultiWell {
    /// The paper's 5D target.
    fn default() -> Self {
        Self { dim: 5 }
    }
}

/// ConditionSpec shared by the temperature-conditioned toys.
pub(crate) fn temperature_spec() -> ConditionSpec {
    ConditionSpec {
        name: "T",
        min: T_ALLOWED.0,
        max: T_ALLOWED.1,
        train_range: (0.4, 1.1),
        boundary: vec![1.0],
    }
}

impl Target for MultiWell {
    fn name(&self) -> &str {
        "multi-well"
    }
    fn dim(&self) -> usize {
        self.dim
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
            let mut e = 0.0;
            for (gi, &v) in g.iter_mut().zip(row) {
                e += energy_1d(v);
                *gi = (4.0 * v * v * v - 8.0 * v) / t;
            }
            e / t
        })
    }
}

/// Exact thermodynamic references of a temperature family (dimensionless; E in units of the
/// energy scale, T in the same units).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ThermoReference {
    /// log Z(T) = log ∫ exp(−E/T) dx.
    pub log_z: f64,
    /// ⟨E⟩_T.
    pub mean_energy: f64,
    /// Var_T(E).
    pub var_energy: f64,
    /// Entropy H = log Z + ⟨E⟩/T (the optimal NLL).
    pub entropy: f64,
    /// ⟨∂_T U⟩ = −⟨E⟩/T².
    pub mean_du_dc: f64,
}

impl ThermoReference {
    /// Assembles the derived fields from log Z, ⟨E⟩, Var E at temperature `t`.
    pub(crate) fn from_moments(log_z: f64, mean_energy: f64, var_energy: f64, t: f64) -> Self {
        Self {
            log_z,
            mean_energy,
            var_energy,
            entropy: log_z + mean_energy / t,
            mean_du_dc: -mean_energy / (t * t),
        }
    }
}

/// The 1D grid of `exp(−(x⁴ − 4x²)/T)` used by the references and the sampler.
pub(crate) fn grid_1d(t: f64) -> Result<Grid1d, TargetError> {
    check_temperature(t)?;
    Grid1d::new(|x| energy_1d(x) / t, GRID.0, GRID.1, GRID.2)
}

pub(crate) fn check_temperature(t: f64) -> Result<(), TargetError> {
    if t.is_finite() && T_ALLOWED.0 <= t && t <= T_ALLOWED.1 {
        return Ok(());
    }
    Err(TargetError::ConditionOutOfRange {
        name: "T",
        value: t,
        allowed: format!("[{}, {}]", T_ALLOWED.0, T_ALLOWED.1),
    })
}

/// Exact log Z, ⟨E⟩, Var E and entropy of the d-dimensional multi-well at temperature `t`
/// (`experiments.md` §1 table for d = 5).
///
/// ```
/// let r = trade_targets::multi_well::reference(5, 0.5)?;
/// assert!((r.log_z - 39.5349).abs() < 1e-4);
/// # Ok::<(), trade_targets::TargetError>(())
/// ```
pub fn reference(dim: usize, t: f64) -> Result<ThermoReference, TargetError> {
    let grid = grid_1d(t)?;
    let (mean, var) = grid.mean_and_var(energy_1d);
    let d = dim as f64;
    Ok(ThermoReference::from_moments(
        d * grid.log_z(),
        d * mean,
        d * var,
        t,
    ))
}

/// Exact i.i.d. sampler of the multi-well at one temperature (1D inverse CDF per coordinate).
#[derive(Debug, Clone)]
pub struct MultiWellSampler {
    dim: usize,
    grid: Grid1d,
}

impl MultiWellSampler {
    /// Tabulates the 1D inverse CDF at temperature `t`.
    pub fn new(dim: usize, t: f64) -> Result<Self, TargetError> {
        MultiWell::new(dim)?;
        Ok(Self {
            dim,
            grid: grid_1d(t)?,
        })
    }
}

impl ReferenceSampler for MultiWellSampler {
    fn dim(&self) -> usize {
        self.dim
    }
    fn sample(&self, n: usize, rng: &mut dyn RngCore) -> Array2<f64> {
        Array2::from_shape_simple_fn((n, self.dim), || self.grid.sample_one(rng))
    }
}
