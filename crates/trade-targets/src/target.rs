//! The `Target` trait: a dimensionless energy U(x; c) with q̃ = exp(−U), its x-gradient and c-derivative.
//!
//! Conventions (spec `targets.md`): rows of `x` are samples; `c` holds one condition per row
//! (pass a length-1 view to use one condition for all rows, see [`broadcast_conditions`]).
//! Sign: `∂_c log q̃ = −∂_c U`. Where the density is zero the energy is `+∞` and callers cope.

use crate::TargetError;
use ndarray::{Array1, Array2, ArrayView1, ArrayView2};

/// What the external condition of a target is and where it may go.
#[derive(Debug, Clone, PartialEq)]
pub struct ConditionSpec {
    /// Symbol of the condition: "T", "beta", "kappa", "tau".
    pub name: &'static str,
    /// Smallest allowed value (inclusive) at which U is defined.
    pub min: f64,
    /// Largest allowed value (inclusive).
    pub max: f64,
    /// The TRADE training range `[lo, hi]` (a sub-interval of `[min, max]`).
    pub train_range: (f64, f64),
    /// Boundary condition(s) c0 where data exist.
    pub boundary: Vec<f64>,
}

/// An unnormalised density family `q̃(x|c) = exp(−U(x; c))`.
///
/// Implementors validate nothing in the hot methods; call [`Target::check`] at the door.
pub trait Target: Send + Sync {
    /// Short name as used on the command line (`multi-well`, `phi4`, ...).
    fn name(&self) -> &str;
    /// Dimension d of a sample row.
    fn dim(&self) -> usize;
    /// The condition's name, range and boundary.
    fn condition(&self) -> ConditionSpec;
    /// Reduced energy U(x_i; c_i), one value per row (may be `+∞`).
    fn energy(&self, x: ArrayView2<f64>, c: ArrayView1<f64>) -> Array1<f64>;
    /// ∇_x U(x_i; c_i), shape (N, d).
    fn grad_x(&self, x: ArrayView2<f64>, c: ArrayView1<f64>) -> Array2<f64>;
    /// ∂U/∂c at (x_i, c_i), one value per row.
    fn d_energy_dc(&self, x: ArrayView2<f64>, c: ArrayView1<f64>) -> Array1<f64>;

    /// `(U, ∇_x U)` in one pass; override when the two share work.
    fn energy_and_grad(
        &self,
        x: ArrayView2<f64>,
        c: ArrayView1<f64>,
    ) -> (Array1<f64>, Array2<f64>) {
        (self.energy(x, c), self.grad_x(x, c))
    }

    /// Validates shapes, finiteness and the condition range; the one door for user input.
    fn check(&self, x: ArrayView2<f64>, c: ArrayView1<f64>) -> Result<(), TargetError> {
        check_input(self.dim(), &self.condition(), x, c)
    }
}

/// Validates `x` (N, d) and `c` (N or 1) against a dimension and a condition spec.
pub fn check_input(
    dim: usize,
    spec: &ConditionSpec,
    x: ArrayView2<f64>,
    c: ArrayView1<f64>,
) -> Result<(), TargetError> {
    if x.ncols() != dim {
        return Err(TargetError::Dimension {
            expected: dim,
            got: x.ncols(),
        });
    }
    if c.len() != 1 && c.len() != x.nrows() {
        return Err(TargetError::ConditionCount {
            rows: x.nrows(),
            got: c.len(),
        });
    }
    for &ci in c {
        if !(ci.is_finite() && spec.min <= ci && ci <= spec.max) {
            return Err(TargetError::ConditionOutOfRange {
                name: spec.name,
                value: ci,
                allowed: format!("[{}, {}]", spec.min, spec.max),
            });
        }
    }
    for ((row, col), v) in x.indexed_iter() {
        if !v.is_finite() {
            return Err(TargetError::NonFinite { row, col });
        }
    }
    Ok(())
}

/// Expands a length-1 condition view to `n` rows; returns a copy otherwise.
pub fn broadcast_conditions(c: ArrayView1<f64>, n: usize) -> Array1<f64> {
    if c.len() == 1 {
        Array1::from_elem(n, c[0])
    } else {
        c.to_owned()
    }
}
