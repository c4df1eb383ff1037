//! The TRADE loss (`method.md` §3–§9): match g = ∂_c log q(x|c), recorded as a tangent on the
//! tape, to t = E_p[∂_c U] − ∂_c U(x; c), with E_p estimated by SNIS. Continuous mode (§8.2)
//! and grid mode with causality weights: Loop A (§7.1) and, as options of the same loss, Loop B
//! (§7.2: evaluation at the grid point, V1/V2 logits, several bases, decaying ε). The Loop B
//! widening window (§8.3) is in `window.rs`.

use super::{LossBatch, StepCtx, model, rows_of};
use crate::{
    Causality, CausalityRule, ConditionGrid, ConditionPrior, CoreError, ExpectationTable, Loss,
    Residual, decayed_epsilon, snis_mean, snis_weights,
};
use ndarray::{Array1, Array2};
use rand::{Rng, RngCore};
use rand_distr::{Distribution as _, StandardNormal};
use rand_xoshiro::Xoshiro256PlusPlus;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::ops::Range;
use std::sync::Arc;
use trade_ad::{ParamStore, Tape, Var, rng_for};
use trade_flows::{Condition, Distribution};
use trade_targets::Target;

/// Where ∂_c U comes from.
#[derive(Clone)]
pub enum EnergySource {
    /// The target's hand-written ∂U/∂c.
    GroundTruth(Arc<dyn Target>),
    /// Energy-free, temperature families (`method.md` §5.1): ∂_T U ≈ log q_θ(x|T)/T, the model
    /// evaluated without gradient at the same T (−E/T² − log Z_θ(T)/T for q_θ ∝ e^{−E/T}; the
    /// x-independent term cancels in the centred target).
    SelfTemperature,
}

/// Evaluation-point noise (`method.md` §9).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum NoiseMode {
    /// No noise.
    Raw,
    /// `+ N(0, σ²)` per coordinate.
    Gaussian(f64),
}

/// Reference samples of continuous mode (§8.2 step 2).
#[derive(Clone)]
pub enum ReferencePoints {
    /// Fresh model samples at c0.
    FlowSamples,
    /// Rows drawn from a dataset at c0.
    Dataset(Arc<Array2<f64>>),
}

/// Proposal density of the SNIS weights for reference samples (§6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Proposal {
    /// −U(x; c0): treat the samples as exact draws at c0 (the reference implementation).
    ReferenceEnergy,
    /// log q_θ(x|c0): exact SNIS for model samples.
    ModelDensity,
}

/// ∂_c U(x_i; c_i) per row, from the energy or from the model (self variant).
fn du_dc(
    energy: &EnergySource,
    model: &dyn Distribution,
    store: &ParamStore,
    x: &Array2<f64>,
    c: &Array2<f64>,
) -> Result<Array1<f64>, CoreError> {
    match energy {
        EnergySource::GroundTruth(t) => Ok(t.d_energy_dc(x.view(), c.column(0))),
        EnergySource::SelfTemperature => {
            let lq = model::log_prob(model, store, x.view(), c.view())?;
            Ok(&lq / &c.column(0))
        }
    }
}

pub(super) fn add_noise(x: &mut Array2<f64>, noise: NoiseMode, rng: &mut dyn RngCore) {
    if let NoiseMode::Gaussian(s) = noise {
        x.mapv_inplace(|v| {
            let z: f64 = StandardNormal.sample(rng);
            v + s * z
        });
    }
}

/// The per-sample TRADE residual ℓ(g − t) on the tape, shared by both modes.
pub(super) fn residual_on_tape(
    residual: Residual,
    tape: &mut Tape,
    ctx: &StepCtx<'_>,
    b: &LossBatch,
    rows: Range<usize>,
) -> Result<Var, CoreError> {
    let x = tape.constant(rows_of(&b.x, &rows));
    let c = tape.condition(rows_of(&b.c, &rows));
    let mut cond = Condition::c(c);
    if let Some(y) = &b.y {
        cond = cond.with_y(tape.constant(rows_of(y, &rows)));
    }
    let lq = ctx.model.log_prob(tape, ctx.store, x, &cond)?;
    let g = match tape.tangent(lq) {
        Some(g) => g,
        None => tape.constant(Array2::zeros((rows.len(), 1))),
    };
    let t = tape.constant(rows_of(
        b.target.as_ref().expect("TRADE batches carry a target"),
        &rows,
    ));
    let r = tape.sub(g, t);
    let l = residual.apply(tape, r);
    Ok(match &b.weight {
        Some(w) => {
            let w = tape.constant(rows_of(w, &rows));
            tape.mul(l, w)
        }
        None => l,
    })
}

/// Continuous-mode TRADE (Loop A, §8.2): one c per batch from the prior, SNIS from the batch.
pub struct TradeContinuous {
    /// Source of ∂_c U.
    pub energy: EnergySource,
    /// Parameter prior with its curriculum.
    pub prior: ConditionPrior,
    /// Boundary condition c0.
    pub c0: f64,
    /// Evaluation points per step.
    pub batch: usize,
    /// Reference samples.
    pub reference: ReferencePoints,
    /// SNIS proposal.
    pub proposal: Proposal,
    /// ℓ.
    pub residual: Residual,
    /// Evaluation-point noise.
    pub noise: NoiseMode,
    /// Reweighted evaluation points (`method.md` §9, §14 row 4): multiply each point's ℓ by the
    /// normalised SNIS weight ω_j (mean 1 over the batch, §6.1 step 2) of its reference sample
    /// towards the batch's c, the same weights as the batch's SNIS estimate; constants, no
    /// gradient. At c = c0 (reference proposal or self energy) every ω_j is exactly 1.
    /// `false`: unweighted (the reference implementation, where the option is inert).
    pub reweight_points: bool,
}

impl TradeContinuous {
    /// The batch's SNIS estimate Ê(c) and, if `weights`, the normalised weights ω_j (mean 1).
    fn snis_expectation(
        &self,
        ctx: &StepCtx<'_>,
        x: &Array2<f64>,
        c: f64,
        weights: bool,
    ) -> Result<(f64, Option<Vec<f64>>), CoreError> {
        let n = x.nrows();
        let (cc, c0) = (
            Array2::from_elem((n, 1), c),
            Array2::from_elem((n, 1), self.c0),
        );
        let du = du_dc(&self.energy, ctx.model, ctx.store, x, &cc)?;
        let log_w: Array1<f64> = match (&self.energy, self.proposal) {
            (EnergySource::GroundTruth(t), Proposal::ReferenceEnergy) => {
                &t.energy(x.view(), c0.column(0)) - &t.energy(x.view(), cc.column(0))
            }
            (EnergySource::GroundTruth(t), Proposal::ModelDensity) => {
                -&t.energy(x.view(), cc.column(0))
                    - &model::log_prob(ctx.model, ctx.store, x.view(), c0.view())?
            }
            (EnergySource::SelfTemperature, _) => {
                &model::log_prob(ctx.model, ctx.store, x.view(), cc.view())?
                    - &model::log_prob(ctx.model, ctx.store, x.view(), c0.view())?
            }
        };
        let (log_w, du) = (
            log_w.as_slice().expect("contiguous"),
            du.as_slice().expect("contiguous"),
        );
        let value = snis_mean(log_w, du, c)?.value;
        Ok((value, weights.then(|| snis_weights(log_w, du))))
    }
}

impl Loss for TradeContinuous {
    fn name(&self) -> &'static str {
        "trade"
    }

    fn prepare(
        &mut self,
        ctx: &StepCtx<'_>,
        rng: &mut Xoshiro256PlusPlus,
    ) -> Result<LossBatch, CoreError> {
        let c = self.prior.sample(ctx.step, ctx.total, rng);
        let mut x = match &self.reference {
            ReferencePoints::FlowSamples => {
                model::sample(ctx.model, ctx.store, self.batch, self.c0, rng)?.0
            }
            ReferencePoints::Dataset(d) => {
                let idx: Vec<usize> = (0..self.batch)
                    .map(|_| rng.random_range(0..d.nrows()))
                    .collect();
                d.select(ndarray::Axis(0), &idx)
            }
        };
        let (e, weights) = self.snis_expectation(ctx, &x, c, self.reweight_points)?;
        add_noise(&mut x, self.noise, rng);
        let cc = Array2::from_elem((self.batch, 1), c);
        let du = du_dc(&self.energy, ctx.model, ctx.store, &x, &cc)?;
        let target = du.mapv(|d| e - d).insert_axis(ndarray::Axis(1));
        Ok(LossBatch {
            n: self.batch,
            x,
            c: cc,
            target: Some(target),
            weight: weights.map(|w| Array2::from_shape_vec((self.batch, 1), w).expect("n rows")),
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

/// Settings of grid-mode TRADE (Loop A, `method.md` §7.1; multi-well values in brackets).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TradeGridConfig {
    /// Lower end of the grid [0.4].
    pub c_min: f64,
    /// Upper end [1.1].
    pub c_max: f64,
    /// Log-spaced points before adding c0 [50].
    pub n_points: usize,
    /// Boundary condition [1].
    pub c0: f64,
    /// SNIS samples per grid point [5000].
    pub n_snis: usize,
    /// Steps between expectation refreshes [100].
    pub refresh_every: usize,
    /// EMA weight of the old expectation α_EX [0.5].
    pub alpha_ex: f64,
    /// Steps between logit refreshes [50].
    pub logits_every: usize,
    /// Causality ε [0.9].
    pub epsilon: f64,
    /// Running-loss EMA α_L [0.5].
    pub alpha_l: f64,
    /// Evaluation points per step [512].
    pub batch: usize,
    /// Use causality weights (false: the "no causality weights" ablation, prior snapped to the grid).
    pub causality: bool,
}

/// The Loop B options of grid mode (`method.md` §7.2; GMM values in brackets).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GridLoopB {
    /// Causality rule: [`CausalityRule::LoopBV1`] (φ⁴) or [`CausalityRule::LoopBV2`] (GMM).
    pub rule: CausalityRule,
    /// Base values, each inside [c_min, c_max] ([1]; φ⁴: [0.25, 0.29]). Replaces `c0` of the
    /// grid config.
    pub bases: Vec<f64>,
    /// ε at the end of the TRADE phase relative to its start, `decay_factor` in (0, 1] [0.8].
    pub epsilon_decay: f64,
    /// First step of the TRADE phase, s_start [0]; ε decays over the steps from here to the end.
    pub trade_start: usize,
    /// `epsilon_reduction_factor_inbetween` on the logits strictly between two bases (φ⁴: 0.376;
    /// unused with one base).
    pub inbetween_factor: f64,
}

impl GridLoopB {
    fn validate(&self) -> Result<(), CoreError> {
        use crate::error::out_of_range;
        if self.rule == CausalityRule::LoopA {
            return Err(out_of_range(
                "trade_grid.loop_b.rule",
                "loop_a",
                "loop_b_v1 or loop_b_v2",
            ));
        }
        if !(self.epsilon_decay > 0.0 && self.epsilon_decay <= 1.0) {
            return Err(out_of_range(
                "trade_grid.loop_b.epsilon_decay",
                self.epsilon_decay,
                "(0, 1]",
            ));
        }
        if !(self.inbetween_factor > 0.0 && self.inbetween_factor.is_finite()) {
            return Err(out_of_range(
                "trade_grid.loop_b.inbetween_factor",
                self.inbetween_factor,
                "finite, > 0",
            ));
        }
        Ok(())
    }
}

/// Grid-mode TRADE with causality weights (Loop A, or Loop B with [`TradeGrid::loop_b`]).
pub struct TradeGrid {
    config: TradeGridConfig,
    loop_b: Option<GridLoopB>,
    energy: EnergySource,
    prior: Option<ConditionPrior>,
    residual: Residual,
    noise: NoiseMode,
    grid: ConditionGrid,
    state: GridState,
}

#[derive(Clone, Serialize, Deserialize)]
struct GridState {
    table: ExpectationTable,
    causality: Causality,
    last_refresh: Option<usize>,
}

impl TradeGrid {
    /// A grid loss with ground-truth ∂_c U.
    pub fn new(
        config: TradeGridConfig,
        energy: Arc<dyn Target>,
        prior: ConditionPrior,
        residual: Residual,
        noise: NoiseMode,
    ) -> Result<Self, CoreError> {
        Self::build(config, None, energy, Some(prior), residual, noise)
    }

    /// Replaces the source of ∂_c U. [`EnergySource::SelfTemperature`] is the energy-free grid
    /// ("TRADE grid, flow energy"; `method.md` §5.1 throughout, §6.2 "grid, self"): the table
    /// entry of c_k is the plain mean (uniform SNIS weights) of log q_θ(x|c_k)/c_k over the M
    /// model samples drawn at c_k, and the evaluation term of x_i is log q_θ(x_i|c_{k_i})/c_{k_i},
    /// both without gradient, so `t_i = Ē_{k_i} − ∂_c U(x_i; c_{k_i})` as with the ground truth.
    /// Draws the same random numbers as the ground-truth loss. Loop A only: a Loop B grid
    /// ([`TradeGrid::loop_b`]) refuses the self variant.
    pub fn with_energy(mut self, energy: EnergySource) -> Result<Self, CoreError> {
        if self.loop_b.is_some() && matches!(energy, EnergySource::SelfTemperature) {
            return Err(crate::error::out_of_range(
                "trade_grid.energy",
                "self",
                "ground truth (Loop B grid)",
            ));
        }
        self.energy = energy;
        Ok(self)
    }

    /// A Loop B grid loss (`method.md` §7.2): evaluation points are fresh model samples at each
    /// point's own grid value; running losses with α_L^{n_k}; logits by `loop_b.rule` from every
    /// base with ε decaying to `ε · epsilon_decay` over the TRADE phase. `config.c0` is ignored
    /// (the bases are `loop_b.bases`); `config.causality = false` needs a `prior` to snap.
    pub fn loop_b(
        config: TradeGridConfig,
        loop_b: GridLoopB,
        energy: Arc<dyn Target>,
        prior: Option<ConditionPrior>,
        residual: Residual,
        noise: NoiseMode,
    ) -> Result<Self, CoreError> {
        loop_b.validate()?;
        if !config.causality && prior.is_none() {
            return Err(crate::error::out_of_range(
                "trade_grid.causality",
                false,
                "true, or a prior to snap to the grid",
            ));
        }
        Self::build(config, Some(loop_b), energy, prior, residual, noise)
    }

    fn build(
        config: TradeGridConfig,
        loop_b: Option<GridLoopB>,
        energy: Arc<dyn Target>,
        prior: Option<ConditionPrior>,
        residual: Residual,
        noise: NoiseMode,
    ) -> Result<Self, CoreError> {
        residual.validate()?;
        let bases = loop_b.as_ref().map_or(vec![config.c0], |b| b.bases.clone());
        let grid = ConditionGrid::log_spaced(config.c_min, config.c_max, config.n_points, &bases)?;
        if !(0.0..1.0).contains(&config.alpha_ex) || !(0.0..1.0).contains(&config.alpha_l) {
            return Err(crate::error::out_of_range(
                "trade_grid.alpha_ex/alpha_l",
                config.alpha_ex.max(config.alpha_l),
                "[0, 1)",
            ));
        }
        if config.n_snis == 0
            || config.batch == 0
            || config.refresh_every == 0
            || config.logits_every == 0
        {
            return Err(crate::error::out_of_range(
                "trade_grid.n_snis/batch/refresh_every/logits_every",
                0,
                "≥ 1",
            ));
        }
        let n = grid.len();
        let (rule, inbetween) = loop_b.as_ref().map_or((CausalityRule::LoopA, 1.0), |b| {
            (b.rule, b.inbetween_factor)
        });
        let state = GridState {
            table: ExpectationTable::new(n, config.alpha_ex),
            causality: Causality::new(rule, n, config.alpha_l, inbetween),
            last_refresh: None,
        };
        Ok(Self {
            config,
            loop_b,
            energy: EnergySource::GroundTruth(energy),
            prior,
            residual,
            noise,
            grid,
            state,
        })
    }

    /// The grid.
    pub fn grid(&self) -> &ConditionGrid {
        &self.grid
    }

    /// Current E_p[∂_c U] per grid point.
    pub fn expectations(&self) -> &ExpectationTable {
        &self.state.table
    }

    /// Running losses and current logits.
    pub fn causality(&self) -> &Causality {
        &self.state.causality
    }

    /// ε at `step` of `total`: constant in Loop A; in Loop B decaying from the TRADE start so
    /// that it ends at `ε · epsilon_decay` (`method.md` §7.2).
    pub fn epsilon_at(&self, step: usize, total: usize) -> f64 {
        match &self.loop_b {
            None => self.config.epsilon,
            Some(b) => decayed_epsilon(
                self.config.epsilon,
                b.epsilon_decay,
                step,
                b.trade_start,
                total.saturating_sub(b.trade_start),
            ),
        }
    }

    /// Grid indices of a batch of `n` points: causality draws or prior draws snapped to the grid.
    fn draw_indices(
        &self,
        ctx: &StepCtx<'_>,
        n: usize,
        rng: &mut Xoshiro256PlusPlus,
    ) -> Vec<usize> {
        match (&self.prior, self.config.causality) {
            (Some(prior), false) => (0..n)
                .map(|_| self.grid.nearest(prior.sample(ctx.step, ctx.total, rng)))
                .collect(),
            _ => self.state.causality.sample(n, rng),
        }
    }

    /// Recomputes every grid point's SNIS estimate (rayon over points; seeded per point).
    fn refresh(&mut self, ctx: &StepCtx<'_>, seed: u64) -> Result<(), CoreError> {
        let (m, energy) = (self.config.n_snis, &self.energy);
        let estimates: Vec<Result<f64, CoreError>> = self
            .grid
            .points
            .par_iter()
            .enumerate()
            .map(|(k, &c)| {
                let mut rng = rng_for(seed, k as u64);
                let (x, lq) = model::sample(ctx.model, ctx.store, m, c, &mut rng)?;
                let (du, log_w) = match energy {
                    EnergySource::GroundTruth(target) => {
                        let cc = Array1::from_elem(m, c);
                        let du = target.d_energy_dc(x.view(), cc.view());
                        (du, -&target.energy(x.view(), cc.view()) - &lq)
                    }
                    // §6.2 "grid, self": target = proposal = q_θ(·|c_k), uniform weights.
                    EnergySource::SelfTemperature => (lq.mapv(|l| l / c), Array1::zeros(m)),
                };
                Ok(snis_mean(
                    log_w.as_slice().expect("contiguous"),
                    du.as_slice().expect("contiguous"),
                    c,
                )?
                .value)
            })
            .collect();
        for (k, e) in estimates.into_iter().enumerate() {
            self.state.table.update(k, e?);
        }
        self.state.last_refresh = Some(ctx.step);
        Ok(())
    }
}

impl Loss for TradeGrid {
    fn name(&self) -> &'static str {
        "trade"
    }

    fn prepare(
        &mut self,
        ctx: &StepCtx<'_>,
        rng: &mut Xoshiro256PlusPlus,
    ) -> Result<LossBatch, CoreError> {
        let seed = rng.next_u64();
        let due = self
            .state
            .last_refresh
            .is_none_or(|s| ctx.step >= s + self.config.refresh_every);
        if due {
            self.refresh(ctx, seed)?;
        }
        if self.config.causality && ctx.step % self.config.logits_every == 0 {
            let eps = self.epsilon_at(ctx.step, ctx.total);
            self.state.causality.refresh_logits(&self.grid, eps);
        }
        let n = self.config.batch;
        let (x, idx) = if self.loop_b.is_some() {
            // Loop B: draw the indices first, then one model sample at each point's c_k.
            let idx = self.draw_indices(ctx, n, rng);
            let c = Array1::from_shape_fn(n, |i| self.grid.points[idx[i]]);
            let (x, _) = model::sample_per_row(ctx.model, ctx.store, c.view(), rng)?;
            (x, idx)
        } else {
            let (x, _) = model::sample(ctx.model, ctx.store, n, self.config.c0, rng)?;
            (x, Vec::new())
        };
        let mut x = x;
        add_noise(&mut x, self.noise, rng);
        let idx = if self.loop_b.is_some() {
            idx
        } else {
            self.draw_indices(ctx, n, rng)
        };
        let c = Array2::from_shape_fn((n, 1), |(i, _)| self.grid.points[idx[i]]);
        let du = du_dc(&self.energy, ctx.model, ctx.store, &x, &c)?;
        let target = Array2::from_shape_fn((n, 1), |(i, _)| {
            self.state.table.values[idx[i]].expect("refreshed") - du[i]
        });
        Ok(LossBatch {
            n,
            x,
            c,
            target: Some(target),
            grid_index: idx,
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

    fn finish(&mut self, b: &LossBatch, per_sample: &[f64]) {
        self.state
            .causality
            .update_running(&b.grid_index, per_sample);
    }

    fn state(&self) -> serde_json::Value {
        serde_json::to_value(&self.state).expect("grid state serialises")
    }

    fn restore(&mut self, state: &serde_json::Value) -> Result<(), CoreError> {
        self.state = serde_json::from_value(state.clone()).map_err(|e| CoreError::Checkpoint {
            path: "trade grid state".into(),
            reason: e.to_string(),
        })?;
        Ok(())
    }
}
