//! Variance (log-variance) loss (`method.md` §12): the batch variance of
//! `v(x) = U(x; c) + log q(x|c)` for `x ~ q(·|c)`, one c per batch from the parameter prior.
//!
//! The samples are drawn without gradients in `prepare` (the log-variance loss of Richter et
//! al. 2020 differentiates only through log q), together with the batch mean `v̄`. The
//! per-sample value is `(v_j − v̄)²` with `v̄` held constant: its mean is the (biased) batch
//! variance, and its gradient `(2/n) Σ (v_j − v̄) ∇ log q(x_j|c)` is exactly the gradient of
//! the variance, because `Σ_j (v_j − v̄) ∇v̄ = 0`. The loss is zero iff q ∝ e^{−U} on the batch.

use super::{LossBatch, StepCtx, rows_of};
use crate::{ConditionPrior, CoreError, Loss};
use ndarray::Array2;
use rand_xoshiro::Xoshiro256PlusPlus;
use std::ops::Range;
use std::sync::Arc;
use trade_ad::{Tape, Var};
use trade_flows::Condition;
use trade_targets::Target;

/// Log-variance loss at one c per batch drawn from the parameter prior (§8.1).
pub struct VarianceLoss {
    target: Arc<dyn Target>,
    prior: ConditionPrior,
    batch: usize,
}

impl VarianceLoss {
    /// `batch` model samples per step (≥ 2: a variance needs two points).
    pub fn new(
        target: Arc<dyn Target>,
        prior: ConditionPrior,
        batch: usize,
    ) -> Result<Self, CoreError> {
        prior.validate()?;
        if batch < 2 {
            return Err(crate::error::out_of_range("variance.batch", batch, "≥ 2"));
        }
        Ok(Self {
            target,
            prior,
            batch,
        })
    }
}

impl Loss for VarianceLoss {
    fn name(&self) -> &'static str {
        "variance"
    }

    fn prepare(
        &mut self,
        ctx: &StepCtx<'_>,
        rng: &mut Xoshiro256PlusPlus,
    ) -> Result<LossBatch, CoreError> {
        let c = self.prior.sample(ctx.step, ctx.total, rng);
        let (x, _) = super::sample(ctx.model, ctx.store, self.batch, c, rng)?;
        // v̄ must be the mean of exactly what `per_sample` records (log q evaluated at x, not
        // the sampler's inverse-pass value, which differs by round-off far out in the tails).
        let cc = ndarray::Array1::from_elem(self.batch, c);
        let log_q = super::log_prob(
            ctx.model,
            ctx.store,
            x.view(),
            Array2::from_elem((self.batch, 1), c).view(),
        )?;
        let u = self.target.energy(x.view(), cc.view());
        // Non-finite v (a sample outside the support) would poison the mean: such rows are
        // dropped here, and the trainer reports a non-finite loss if nothing is left.
        let keep: Vec<usize> = (0..self.batch)
            .filter(|&i| (u[i] + log_q[i]).is_finite())
            .collect();
        let x = x.select(ndarray::Axis(0), &keep);
        let n = keep.len();
        let mean = keep.iter().map(|&i| u[i] + log_q[i]).sum::<f64>() / n.max(1) as f64;
        let u_kept: Vec<f64> = keep.iter().map(|&i| u[i]).collect();
        Ok(LossBatch {
            n,
            x,
            c: Array2::from_elem((n, 1), c),
            // Column 0: U(x_j; c) (constant: x carries no gradient); column 1: v̄.
            target: Some(Array2::from_shape_fn((n, 2), |(j, k)| {
                if k == 0 { u_kept[j] } else { mean }
            })),
            ..LossBatch::default()
        })
    }

    fn per_sample(
        &self,
        tape: &mut Tape,
        ctx: &StepCtx<'_>,
        b: &LossBatch,
        rows: Range<usize>,
    ) -> Result<Var, CoreError> {
        let t = rows_of(b.target.as_ref().expect("prepared"), &rows);
        let x = tape.constant(rows_of(&b.x, &rows));
        let c = tape.constant(rows_of(&b.c, &rows));
        let lq = ctx.model.log_prob(tape, ctx.store, x, &Condition::c(c))?;
        // (lq + U − v̄)², with U − v̄ a constant column.
        let shift = tape.constant(Array2::from_shape_fn((rows.len(), 1), |(j, _)| {
            t[[j, 0]] - t[[j, 1]]
        }));
        let d = tape.add(lq, shift);
        Ok(tape.square(d))
    }
}
