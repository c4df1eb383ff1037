//! The `Distribution` trait (log-density and sampling with log-density, conditional on a
//! per-sample c and an optional extra condition y) and the `Condition` a batch carries.

use crate::FlowError;
use rand::RngCore;
use std::fmt;
use trade_ad::{Float, ParamStore, Tape, Var};

/// The condition of a batch, as tape values (so that c can be a condition leaf whose tangent
/// is 1: every log-density computed from it then carries `∂/∂c` per sample).
///
/// * `c`: the raw scalar condition per sample, (n, 1) (relative T, β, κ, τ).
/// * `c_target`: Flows for Flows only: the condition c′ the base is evaluated at, (n, 1).
/// * `y`: extra condition, (n, y_dim), concatenated to the conditioner inputs.
#[derive(Debug, Clone, Copy, Default)]
pub struct Condition {
    /// Raw scalar condition c per sample, (n, 1).
    pub c: Option<Var>,
    /// Target condition c′ (Flows for Flows), (n, 1).
    pub c_target: Option<Var>,
    /// Extra condition y, (n, y_dim).
    pub y: Option<Var>,
}

impl Condition {
    /// No condition (unconditional flows).
    pub fn none() -> Self {
        Self::default()
    }

    /// Only the scalar condition c, (n, 1).
    pub fn c(c: Var) -> Self {
        Self {
            c: Some(c),
            ..Self::default()
        }
    }

    /// Adds the extra condition y.
    pub fn with_y(self, y: Var) -> Self {
        Self { y: Some(y), ..self }
    }

    /// Adds the target condition c′ (Flows for Flows).
    pub fn with_target(self, c_target: Var) -> Self {
        Self {
            c_target: Some(c_target),
            ..self
        }
    }
}

/// A (conditional) probability density on R^d that can be evaluated and sampled on the tape.
///
/// Base distributions, flows and frozen flows used as the base of another flow (Flows for
/// Flows) all implement it. Every returned value is a tape value: with `cond.c` a condition
/// leaf, `tape.tangent(log_prob)` is `∂ log p(x_i|c_i)/∂c_i` per row.
///
/// `F` is the tape's element type: f64 by default, f32 for the faster first-order path.
pub trait Distribution<F: Float = f64>: Send + Sync + fmt::Debug {
    /// Dimension d of a sample.
    fn dim(&self) -> usize;

    /// `log p(x | cond)` per row, shape (n, 1), for x of shape (n, d).
    fn log_prob(
        &self,
        tape: &mut Tape<F>,
        store: &ParamStore<F>,
        x: Var,
        cond: &Condition,
    ) -> Result<Var, FlowError>;

    /// Draws `n_samples` samples (n, d) and their log-density (n, 1) in one pass. The samples
    /// are reparameterised: they depend on parameters and on c through the tape.
    fn sample_with_log_prob(
        &self,
        tape: &mut Tape<F>,
        store: &ParamStore<F>,
        n_samples: usize,
        cond: &Condition,
        rng: &mut dyn RngCore,
    ) -> Result<(Var, Var), FlowError>;
}

/// Checks that `x` is (n, d) and finite; returns n.
pub(crate) fn check_input<F: Float>(
    tape: &Tape<F>,
    what: &'static str,
    x: Var,
    dim: usize,
) -> Result<usize, FlowError> {
    let v = tape.value(x);
    if v.ncols() != dim {
        return Err(FlowError::Dimension {
            what,
            expected: dim,
            got: v.ncols(),
        });
    }
    if let Some(row) = v
        .rows()
        .into_iter()
        .position(|r| r.iter().any(|x| !x.is_finite()))
    {
        return Err(FlowError::NonFinite { what, row });
    }
    Ok(v.nrows())
}

/// Checks an (n, 1) or (n, k) condition: n rows, `cols` columns, finite, and positive if
/// `positive`.
pub(crate) fn check_condition<F: Float>(
    tape: &Tape<F>,
    what: &'static str,
    v: Var,
    (n, cols): (usize, usize),
    positive: bool,
) -> Result<(), FlowError> {
    let a = tape.value(v);
    if a.ncols() != cols {
        return Err(FlowError::Dimension {
            what,
            expected: cols,
            got: a.ncols(),
        });
    }
    if a.nrows() != n {
        return Err(FlowError::Dimension {
            what: "condition rows (must equal the batch size)",
            expected: n,
            got: a.nrows(),
        });
    }
    for (row, r) in a.rows().into_iter().enumerate() {
        for &x in r {
            if !x.is_finite() {
                return Err(FlowError::NonFinite { what, row });
            }
            if positive && x <= F::zero() {
                return Err(FlowError::Condition {
                    what,
                    row,
                    value: x.f64(),
                    allowed: "> 0 (it enters as log c or as a variance)",
                });
            }
        }
    }
    Ok(())
}
