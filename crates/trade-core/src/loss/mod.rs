//! Losses on a model: one `Loss` trait, and `WeightedObjective`, which weights, clips and sums
//! several losses into the trainer's `Objective` (`method.md` §3; Loop A weights §11.1, Loop B
//! ramp and annealing weights §11.2).

mod flows_for_flows;
mod model;
mod nll;
mod observed;
mod reverse_kl;
mod reweight;
mod trade;
mod variance;
mod window;

pub use flows_for_flows::{ConditionalFlowsForFlows, Direction, FlowsForFlows, Movement};
pub use model::{
    EnergyOp, energy_on_tape, log_prob, log_prob_with_y, marginal_log_prob, sample, sample_per_row,
    sample_with_y,
};
pub use nll::Nll;
pub use observed::{LogPrior, ObservedEnergy, TargetAt, TradeObserved};
pub use reverse_kl::ReverseKl;
pub use reweight::Reweighting;
pub use trade::{
    EnergySource, GridLoopB, NoiseMode, Proposal, ReferencePoints, TradeContinuous, TradeGrid,
    TradeGridConfig,
};
pub use variance::VarianceLoss;
pub use window::{TradeWindow, TradeWindowConfig};

use crate::{
    AdaptiveWeights, AnnealingWeight, CoreError, LoopBWeighting, LossWeight, Objective,
    clip_per_sample,
};
use ndarray::{Array1, Array2};
use rand_xoshiro::Xoshiro256PlusPlus;
use std::ops::Range;
use trade_ad::{ParamStore, Tape, Var};
use trade_flows::Distribution;

/// What a loss sees of the current step.
pub struct StepCtx<'a> {
    /// The model (a flow).
    pub model: &'a dyn Distribution,
    /// Its parameters.
    pub store: &'a ParamStore,
    /// Step index.
    pub step: usize,
    /// Total steps.
    pub total: usize,
}

/// One loss's batch for a step: evaluation points, per-sample conditions and constant targets,
/// all drawn or computed without gradients.
#[derive(Debug, Clone, Default)]
pub struct LossBatch {
    /// Evaluation points (n, d) (empty for losses that sample on the tape).
    pub x: Array2<f64>,
    /// Condition per row (n, 1).
    pub c: Array2<f64>,
    /// Extra condition y per row (n, y_dim), for models conditioned on an observation.
    pub y: Option<Array2<f64>>,
    /// Constant regression target per row (n, 1) (TRADE's t).
    pub target: Option<Array2<f64>>,
    /// Grid index per row (grid mode).
    pub grid_index: Vec<usize>,
    /// Constant weight per row (n, 1) multiplying the TRADE residual loss ℓ (reweighted
    /// evaluation points, `method.md` §9); `None`: unweighted.
    pub weight: Option<Array2<f64>>,
    /// Seed for per-chunk randomness inside `per_sample` (`rng_for(seed, first row)`).
    pub seed: u64,
    /// Rows of the batch.
    pub n: usize,
}

/// A training loss: per-sample values recorded on the tape.
pub trait Loss: Send + Sync {
    /// Name in reports (`nll`, `trade`, `reverse-kl`, …).
    fn name(&self) -> &'static str;
    /// Draws the step's batch (no gradients).
    fn prepare(
        &mut self,
        ctx: &StepCtx<'_>,
        rng: &mut Xoshiro256PlusPlus,
    ) -> Result<LossBatch, CoreError>;
    /// Per-sample values (m, 1) for `rows` of the batch.
    fn per_sample(
        &self,
        tape: &mut Tape,
        ctx: &StepCtx<'_>,
        batch: &LossBatch,
        rows: Range<usize>,
    ) -> Result<Var, CoreError>;
    /// Sees the clipped per-sample values of a successful step (running statistics).
    fn finish(&mut self, batch: &LossBatch, per_sample: &[f64]) {
        let _ = (batch, per_sample);
    }
    /// Checkpointed state.
    fn state(&self) -> serde_json::Value {
        serde_json::Value::Null
    }
    /// Restores [`Loss::state`].
    fn restore(&mut self, state: &serde_json::Value) -> Result<(), CoreError> {
        let _ = state;
        Ok(())
    }
}

/// Slices rows `r` of an (n, k) array.
pub(crate) fn rows_of(a: &Array2<f64>, r: &Range<usize>) -> Array2<f64> {
    a.slice(ndarray::s![r.clone(), ..]).to_owned()
}

/// A weighted sum of losses: `Σ_i λ_i(s) w_i mean_j clip(ℓ_ij)`, with the Loop A schedule,
/// adaptive weights every `adaptive_every` steps, and per-sample clipping; optionally one term
/// weighted against the boundary NLL by Loop B's ramp or annealing weights
/// ([`WeightedObjective::with_loop_b`]).
pub struct WeightedObjective<'m> {
    model: &'m dyn Distribution,
    losses: Vec<(Box<dyn Loss + 'm>, LossWeight)>,
    adaptive: AdaptiveWeights,
    adaptive_every: usize,
    loop_b: Option<(LoopBWeighting, AnnealingWeight)>,
}

/// A step's batches: `None` for losses whose weight is zero this step.
pub struct ObjectiveBatch {
    batches: Vec<Option<(LossBatch, f64)>>,
    step: usize,
    total: usize,
}

impl<'m> WeightedObjective<'m> {
    /// Losses with their weight settings.
    pub fn new(
        model: &'m dyn Distribution,
        losses: Vec<(Box<dyn Loss + 'm>, LossWeight)>,
    ) -> Result<Self, CoreError> {
        for (l, w) in &losses {
            w.validate(l.name())?;
        }
        let cfg: Vec<LossWeight> = losses.iter().map(|(_, w)| *w).collect();
        Ok(Self {
            model,
            adaptive: AdaptiveWeights::new(&cfg),
            losses,
            adaptive_every: 25,
            loop_b: None,
        })
    }

    /// Weights the loss `loop_b.term` against `loop_b.boundary` the Loop B way (`method.md`
    /// §11.2): "NLL + λ_eff·TRADE" or "NLL + λ_eff·KL". λ_eff starts at 1e-3 (λ_r = 1e-3,
    /// λ_bc = 1) and is updated from the plain L2 gradient norms of the two unweighted terms
    /// every `loop_b.every` steps once the term is on.
    pub fn with_loop_b(mut self, loop_b: LoopBWeighting) -> Result<Self, CoreError> {
        loop_b.validate(self.losses.len())?;
        let annealing = AnnealingWeight::new(loop_b.alpha, loop_b.fixed_relative);
        self.loop_b = Some((loop_b, annealing));
        Ok(self)
    }

    /// The current adaptive multipliers.
    pub fn adaptive_weights(&self) -> &[f64] {
        &self.adaptive.weights
    }

    /// The Loop B annealing state, if [`WeightedObjective::with_loop_b`] was used.
    pub fn annealing(&self) -> Option<&AnnealingWeight> {
        self.loop_b.as_ref().map(|(_, a)| a)
    }

    /// λ of loss `i` at `step` before any Loop B annealing update of this step.
    fn lambda(&self, i: usize, step: usize, total: usize) -> f64 {
        let w = self.losses[i].1.scheduled(step, total) * self.adaptive.weights[i];
        match &self.loop_b {
            Some((lb, a)) if lb.term == i => w * lb.factor(step, a),
            _ => w,
        }
    }

    /// Gradient norm of loss `i` alone (unweighted) on its full batch.
    fn grad_norm(
        &self,
        i: usize,
        ctx: &StepCtx<'_>,
        batches: &[Option<(LossBatch, f64)>],
    ) -> Result<Option<f64>, CoreError> {
        let Some((b, _)) = &batches[i] else {
            return Ok(None);
        };
        let mut t = Tape::new();
        let Some((v, _)) = self.record_loss(i, &mut t, ctx, b, 0..b.n)? else {
            return Ok(None);
        };
        Ok(Some(t.backward(v).global_norm()))
    }

    /// Loop B: updates λ_bc, λ_r from this step's gradient norms and sets the term's λ.
    fn update_loop_b(
        &mut self,
        ctx: &StepCtx<'_>,
        batches: &mut [Option<(LossBatch, f64)>],
    ) -> Result<(), CoreError> {
        let Some((lb, _)) = self.loop_b else {
            return Ok(());
        };
        if lb.updates_at(ctx.step) {
            let g_term = self.grad_norm(lb.term, ctx, batches)?;
            let g_nll = self.grad_norm(lb.boundary, ctx, batches)?;
            if let (Some(gt), Some(gn), Some((_, a))) = (g_term, g_nll, self.loop_b.as_mut()) {
                a.update(gt, gn);
            }
        }
        let lambda = self.lambda(lb.term, ctx.step, ctx.total);
        if let Some((_, l)) = batches[lb.term].as_mut() {
            *l = lambda;
        }
        Ok(())
    }

    fn record_loss(
        &self,
        i: usize,
        tape: &mut Tape,
        ctx: &StepCtx<'_>,
        batch: &LossBatch,
        rows: Range<usize>,
    ) -> Result<Option<(Var, Array1<f64>)>, CoreError> {
        let r = rows.start.min(batch.n)..rows.end.min(batch.n);
        if r.is_empty() {
            return Ok(None);
        }
        let (loss, w) = (&self.losses[i].0, &self.losses[i].1);
        let v = loss.per_sample(tape, ctx, batch, r)?;
        let v = clip_per_sample(tape, v, w.clip, w.log_clip);
        let values = tape.value(v).column(0).to_owned();
        let s = tape.sum(v, None);
        Ok(Some((tape.scale(s, 1.0 / batch.n as f64), values)))
    }

    /// Gradient norms of each active loss on the full batch (for adaptive weighting).
    fn grad_norms(
        &self,
        ctx: &StepCtx<'_>,
        batches: &[Option<(LossBatch, f64)>],
    ) -> Result<Vec<Option<f64>>, CoreError> {
        (0..self.losses.len())
            .map(|i| {
                let Some((b, _)) = &batches[i] else {
                    return Ok(None);
                };
                let mut t = Tape::new();
                let Some((v, _)) = self.record_loss(i, &mut t, ctx, b, 0..b.n)? else {
                    return Ok(None);
                };
                Ok(Some(t.backward(v).global_norm()))
            })
            .collect()
    }
}

impl Objective for WeightedObjective<'_> {
    type Batch = ObjectiveBatch;
    type ChunkOut = Vec<Option<Array1<f64>>>;

    fn prepare(
        &mut self,
        store: &ParamStore,
        step: usize,
        total: usize,
        rng: &mut Xoshiro256PlusPlus,
    ) -> Result<ObjectiveBatch, CoreError> {
        let ctx = StepCtx {
            model: self.model,
            store,
            step,
            total,
        };
        let mut batches = Vec::with_capacity(self.losses.len());
        for i in 0..self.losses.len() {
            let lambda = self.lambda(i, step, total);
            batches.push(if lambda > 0.0 {
                Some((self.losses[i].0.prepare(&ctx, rng)?, lambda))
            } else {
                None
            });
        }
        self.update_loop_b(&ctx, &mut batches)?;
        let any_adaptive = self.losses.iter().any(|(_, w)| w.adaptive);
        if any_adaptive && step % self.adaptive_every == 0 {
            let norms = self.grad_norms(&ctx, &batches)?;
            let active: Vec<Option<f64>> = norms
                .iter()
                .zip(&self.losses)
                .map(|(g, (_, w))| g.filter(|_| w.is_active(step, total)))
                .collect();
            let cfg: Vec<LossWeight> = self.losses.iter().map(|(_, w)| *w).collect();
            self.adaptive
                .update(&cfg, &active, store.n_trainable_scalars());
        }
        Ok(ObjectiveBatch {
            batches,
            step,
            total,
        })
    }

    fn n_rows(&self, batch: &ObjectiveBatch) -> usize {
        batch
            .batches
            .iter()
            .flatten()
            .map(|(b, _)| b.n)
            .max()
            .unwrap_or(0)
    }

    fn record(
        &self,
        tape: &mut Tape,
        store: &ParamStore,
        batch: &ObjectiveBatch,
        rows: Range<usize>,
    ) -> Result<(Var, Self::ChunkOut), CoreError> {
        let ctx = StepCtx {
            model: self.model,
            store,
            step: batch.step,
            total: batch.total,
        };
        let mut total: Option<Var> = None;
        let mut outs = Vec::with_capacity(self.losses.len());
        for (i, b) in batch.batches.iter().enumerate() {
            let Some((b, lambda)) = b else {
                outs.push(None);
                continue;
            };
            match self.record_loss(i, tape, &ctx, b, rows.clone())? {
                Some((v, values)) => {
                    let v = tape.scale(v, *lambda);
                    total = Some(match total {
                        Some(t) => tape.add(t, v),
                        None => v,
                    });
                    outs.push(Some(values));
                }
                None => outs.push(None),
            }
        }
        let total = total.unwrap_or_else(|| tape.constant(Array2::zeros((1, 1))));
        Ok((total, outs))
    }

    fn finish(&mut self, _step: usize, batch: ObjectiveBatch, outs: Vec<Self::ChunkOut>) {
        for (i, b) in batch.batches.iter().enumerate() {
            let Some((b, _)) = b else { continue };
            let values: Vec<f64> = outs
                .iter()
                .filter_map(|o| o[i].as_ref())
                .flat_map(|v| v.iter().copied())
                .collect();
            self.losses[i].0.finish(b, &values);
        }
    }

    fn state(&self) -> serde_json::Value {
        serde_json::json!({
            "adaptive": self.adaptive.weights,
            "annealing": self.loop_b.map(|(_, a)| a),
            "losses": self.losses.iter().map(|(l, _)| l.state()).collect::<Vec<_>>(),
        })
    }

    fn restore(&mut self, state: &serde_json::Value) -> Result<(), CoreError> {
        let bad = |what: &str| CoreError::Checkpoint {
            path: "objective state".into(),
            reason: what.into(),
        };
        let w: Vec<f64> =
            serde_json::from_value(state["adaptive"].clone()).map_err(|e| bad(&e.to_string()))?;
        if w.len() != self.losses.len() {
            return Err(bad("adaptive weights do not match the losses"));
        }
        self.adaptive.weights = w;
        if let Some((_, a)) = self.loop_b.as_mut() {
            *a = serde_json::from_value(state["annealing"].clone())
                .map_err(|e| bad(&format!("annealing weights: {e}")))?;
        }
        let states = state["losses"]
            .as_array()
            .ok_or_else(|| bad("missing loss states"))?;
        for ((l, _), s) in self.losses.iter_mut().zip(states) {
            l.restore(s)?;
        }
        Ok(())
    }
}
