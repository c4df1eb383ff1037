//! Loop B "TRADE (no grid)": the widening window (`method.md` §8.3). Each step uses P
//! conditions — the base c0 and P − 1 log-uniform draws from a window around it that opens
//! linearly in iterations — each with its own SNIS estimate from fresh model samples and its own
//! fresh evaluation points.

use super::{LossBatch, StepCtx, model, trade::residual_on_tape};
use crate::{CoreError, Loss, Residual, error::out_of_range, snis_mean};
use ndarray::{Array1, Array2, Axis, concatenate};
use rand::{Rng, RngCore};
use rand_xoshiro::Xoshiro256PlusPlus;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::ops::Range;
use std::sync::Arc;
use trade_ad::{Tape, Var, rng_for};
use trade_targets::Target;

/// Settings of the widening window (GMM values in brackets, `experiments.md` §3).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TradeWindowConfig {
    /// Lower end of the condition range [0.16238].
    pub c_min: f64,
    /// Upper end [6.15848].
    pub c_max: f64,
    /// Base condition, always one of the P conditions [1].
    pub c0: f64,
    /// Conditions per step P, base included [5].
    pub n_conditions: usize,
    /// SNIS samples per condition, `n_expect` [500].
    pub n_expect: usize,
    /// Evaluation points per condition, `n_eval` [105].
    pub n_eval: usize,
    /// Iteration at which the window starts to open, s_burn [0].
    pub burn_steps: usize,
    /// Iteration at which it is fully open, s_full [all training steps].
    pub full_steps: usize,
}

impl TradeWindowConfig {
    /// Checks every field.
    pub fn validate(&self) -> Result<(), CoreError> {
        if !(self.c_min > 0.0
            && self.c_min <= self.c0
            && self.c0 <= self.c_max
            && self.c_max.is_finite())
        {
            return Err(out_of_range(
                "trade_window.c_min/c0/c_max",
                format!("{} / {} / {}", self.c_min, self.c0, self.c_max),
                "0 < c_min ≤ c0 ≤ c_max < ∞",
            ));
        }
        for (field, v) in [
            ("trade_window.n_conditions", self.n_conditions),
            ("trade_window.n_expect", self.n_expect),
            ("trade_window.n_eval", self.n_eval),
        ] {
            if v == 0 {
                return Err(out_of_range(field, v, "≥ 1"));
            }
        }
        if self.full_steps <= self.burn_steps {
            return Err(out_of_range(
                "trade_window.full_steps",
                self.full_steps,
                "> burn_steps",
            ));
        }
        Ok(())
    }

    /// Opening fraction `l = clip((s − s_burn)/(s_full − s_burn), 0, 1)`.
    pub fn opening(&self, step: usize) -> f64 {
        let num = step as f64 - self.burn_steps as f64;
        let den = (self.full_steps - self.burn_steps) as f64;
        (num / den).clamp(0.0, 1.0)
    }

    /// The window `[c_lo, c_hi]` at `step`:
    /// `exp(ln c0 − l (ln c0 − ln c_min))` to `exp(ln c0 + l (ln c_max − ln c0))`.
    pub fn window(&self, step: usize) -> (f64, f64) {
        let l = self.opening(step);
        let (lo, c0, hi) = (self.c_min.ln(), self.c0.ln(), self.c_max.ln());
        ((c0 - l * (c0 - lo)).exp(), (c0 + l * (hi - c0)).exp())
    }
}

/// Widening-window TRADE with ground-truth ∂_c U (Loop B, `method.md` §8.3).
pub struct TradeWindow {
    config: TradeWindowConfig,
    energy: Arc<dyn Target>,
    residual: Residual,
}

impl TradeWindow {
    /// A window loss; `residual` is Huber (δ = 0.1) for the GMM.
    pub fn new(
        config: TradeWindowConfig,
        energy: Arc<dyn Target>,
        residual: Residual,
    ) -> Result<Self, CoreError> {
        config.validate()?;
        residual.validate()?;
        Ok(Self {
            config,
            energy,
            residual,
        })
    }

    /// The settings.
    pub fn config(&self) -> &TradeWindowConfig {
        &self.config
    }

    /// Evaluation points and targets at one condition: Ê by SNIS from `n_expect` model samples
    /// (`log w = −U − log q`), then `n_eval` fresh samples with `t = Ê − ∂_c U`.
    fn at_condition(
        &self,
        ctx: &StepCtx<'_>,
        c: f64,
        rng: &mut dyn RngCore,
    ) -> Result<(Array2<f64>, Array1<f64>), CoreError> {
        let (ne, nv) = (self.config.n_expect, self.config.n_eval);
        let (xs, lq) = model::sample(ctx.model, ctx.store, ne, c, rng)?;
        let cs = Array1::from_elem(ne, c);
        let log_w = -&self.energy.energy(xs.view(), cs.view()) - &lq;
        let du = self.energy.d_energy_dc(xs.view(), cs.view());
        let e = snis_mean(
            log_w.as_slice().expect("contiguous"),
            du.as_slice().expect("contiguous"),
            c,
        )?
        .value;
        let (x, _) = model::sample(ctx.model, ctx.store, nv, c, rng)?;
        let du = self
            .energy
            .d_energy_dc(x.view(), Array1::from_elem(nv, c).view());
        Ok((x, du.mapv(|d| e - d)))
    }
}

impl Loss for TradeWindow {
    fn name(&self) -> &'static str {
        "trade"
    }

    fn prepare(
        &mut self,
        ctx: &StepCtx<'_>,
        rng: &mut Xoshiro256PlusPlus,
    ) -> Result<LossBatch, CoreError> {
        let (lo, hi) = self.config.window(ctx.step);
        let (llo, lhi) = (lo.ln(), hi.ln());
        let mut conditions = vec![self.config.c0];
        conditions.extend(
            (1..self.config.n_conditions).map(|_| (llo + (lhi - llo) * rng.random::<f64>()).exp()),
        );
        let seed = rng.next_u64();
        let parts: Vec<(Array2<f64>, Array1<f64>)> = conditions
            .par_iter()
            .enumerate()
            .map(|(k, &c)| self.at_condition(ctx, c, &mut rng_for(seed, k as u64)))
            .collect::<Result<_, CoreError>>()?;
        let xs: Vec<_> = parts.iter().map(|(x, _)| x.view()).collect();
        let ts: Vec<_> = parts.iter().map(|(_, t)| t.view()).collect();
        let x = concatenate(Axis(0), &xs).expect("same width");
        let target = concatenate(Axis(0), &ts)
            .expect("columns")
            .insert_axis(Axis(1));
        let nv = self.config.n_eval;
        let c = Array2::from_shape_fn((x.nrows(), 1), |(i, _)| conditions[i / nv]);
        Ok(LossBatch {
            n: x.nrows(),
            x,
            c,
            target: Some(target),
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
        residual_on_tape(self.residual, tape, ctx, b, rows)
    }
}
