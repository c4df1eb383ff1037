//! Reverse KL: `U(x; c) + log q(x|c)` for reparameterised model samples (`method.md` §12).

use super::{LossBatch, StepCtx, energy_on_tape};
use crate::{ConditionPrior, CoreError, Loss};
use ndarray::Array2;
use rand::{Rng, RngCore};
use rand_xoshiro::Xoshiro256PlusPlus;
use std::ops::Range;
use std::sync::Arc;
use trade_ad::{Tape, Var, rng_for};
use trade_flows::Condition;
use trade_targets::Target;

/// Reverse KL with c from the parameter prior, per sample or one per batch, log-uniform per
/// sample on an absolute range (Loop B targets such as φ⁴, whose κ is not relative to c0 = 1),
/// or at the boundary c0 only (the data-free boundary term of `method.md` §3). Its expectation
/// is KL(q‖p) − log Z(c).
pub struct ReverseKl {
    target: Arc<dyn Target>,
    conditions: Conditions,
    batch: usize,
}

/// Where the conditions of a batch come from.
enum Conditions {
    Prior {
        prior: ConditionPrior,
        per_sample: bool,
    },
    /// ln c uniform on [ln lo, ln hi), per sample.
    LogUniform {
        lo: f64,
        hi: f64,
    },
    Boundary(f64),
}

impl ReverseKl {
    /// `batch` samples per step.
    pub fn new(
        target: Arc<dyn Target>,
        prior: ConditionPrior,
        per_sample: bool,
        batch: usize,
    ) -> Result<Self, CoreError> {
        prior.validate()?;
        if batch == 0 {
            return Err(crate::error::out_of_range("reverse_kl.batch", batch, "≥ 1"));
        }
        Ok(Self {
            target,
            conditions: Conditions::Prior { prior, per_sample },
            batch,
        })
    }

    /// c log-uniform per sample on the absolute range `[lo, hi)` (`range`, in the target's
    /// condition units), which must lie inside the target's allowed condition range with
    /// 0 < lo < hi. Used where the parameter prior's relative-to-c0 form does not fit, e.g.
    /// φ⁴'s κ ∈ [0.22, 0.32] (`experiments.md` §4).
    pub fn log_uniform(
        target: Arc<dyn Target>,
        range: (f64, f64),
        batch: usize,
    ) -> Result<Self, CoreError> {
        let (lo, hi) = range;
        let spec = target.condition();
        if !(lo.is_finite() && hi.is_finite() && 0.0 < lo && lo < hi) {
            return Err(crate::error::out_of_range(
                "reverse_kl.range",
                format!("[{lo}, {hi}]"),
                "finite with 0 < lo < hi",
            ));
        }
        if !(spec.min <= lo && hi <= spec.max) {
            return Err(crate::error::out_of_range(
                "reverse_kl.range",
                format!("[{lo}, {hi}]"),
                "inside the target's condition range",
            ));
        }
        if batch == 0 {
            return Err(crate::error::out_of_range("reverse_kl.batch", batch, "≥ 1"));
        }
        Ok(Self {
            target,
            conditions: Conditions::LogUniform { lo, hi },
            batch,
        })
    }

    /// Every sample at the boundary condition `c0`: the data-free boundary loss that replaces
    /// the NLL when no samples at c0 exist (`method.md` §3). `c0` must be inside the target's
    /// allowed condition range.
    pub fn at_boundary(target: Arc<dyn Target>, c0: f64, batch: usize) -> Result<Self, CoreError> {
        let spec = target.condition();
        if !(c0.is_finite() && spec.min <= c0 && c0 <= spec.max) {
            return Err(crate::error::out_of_range(
                "reverse_kl.c0",
                c0,
                "inside the target's condition range",
            ));
        }
        if batch == 0 {
            return Err(crate::error::out_of_range("reverse_kl.batch", batch, "≥ 1"));
        }
        Ok(Self {
            target,
            conditions: Conditions::Boundary(c0),
            batch,
        })
    }
}

impl Loss for ReverseKl {
    fn name(&self) -> &'static str {
        "reverse-kl"
    }

    fn prepare(
        &mut self,
        ctx: &StepCtx<'_>,
        rng: &mut Xoshiro256PlusPlus,
    ) -> Result<LossBatch, CoreError> {
        let c = match &self.conditions {
            Conditions::Prior {
                prior,
                per_sample: true,
            } => Array2::from_shape_simple_fn((self.batch, 1), || {
                prior.sample(ctx.step, ctx.total, rng)
            }),
            Conditions::Prior {
                prior,
                per_sample: false,
            } => Array2::from_elem((self.batch, 1), prior.sample(ctx.step, ctx.total, rng)),
            Conditions::LogUniform { lo, hi } => {
                let (ln_lo, ln_hi) = (lo.ln(), hi.ln());
                Array2::from_shape_simple_fn((self.batch, 1), || {
                    rng.random_range(ln_lo..ln_hi).exp()
                })
            }
            Conditions::Boundary(c0) => Array2::from_elem((self.batch, 1), *c0),
        };
        Ok(LossBatch {
            n: self.batch,
            c,
            seed: rng.next_u64(),
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
        let mut rng = rng_for(b.seed, rows.start as u64);
        let c = b.c.slice(ndarray::s![rows.clone(), ..]).to_owned();
        let cv = tape.constant(c.clone());
        let (x, lq) = ctx.model.sample_with_log_prob(
            tape,
            ctx.store,
            rows.len(),
            &Condition::c(cv),
            &mut rng,
        )?;
        let u = energy_on_tape(tape, &self.target, x, &c.column(0).to_owned());
        Ok(tape.add(u, lq))
    }
}
