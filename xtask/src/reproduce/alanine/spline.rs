//! The spline variant of the alanine-dipeptide experiment (`flows.md` §9 "Spline",
//! `experiments.md` §5 spline rows): methods `trade-grid-spline` (NLL + TRADE grid with the
//! ground-truth energy), `reverse-kl-nll-spline` (NLL + reverse KL) and `nll-spline`, all on
//! [`FlowConfig::alanine_spline`] (nine unit-interval RQ couplings on the IC groups, circular
//! on torsions, IC prior). The data, the IC transform and the evaluation are the affine
//! variant's: the normalised ICs already lie in [0, 1] (torsions as a fraction of the period,
//! centred on the reference structure; bonds and angles `0.5 + 0.1·Δ/width`).

use crate::reproduce::Profile;
use anyhow::{Result, bail};
use std::sync::Arc;
use trade_core::loss::{NoiseMode, ReverseKl, TradeGrid, TradeGridConfig};
use trade_core::{ConditionPrior, Loss, LossWeight, Residual};
use trade_flows::FlowConfig;
use trade_targets::Target;

/// The spline methods, in table order.
pub(super) const METHODS: &[&str] = &["trade-grid-spline", "reverse-kl-nll-spline", "nll-spline"];

/// True for a spline-flow method.
pub(super) fn is_spline(method: &str) -> bool {
    METHODS.contains(&method)
}

/// Flow and training sizes of the spline variant.
pub(super) struct SplineSetup {
    /// Couplings per IC group (spec 3: 9 in all).
    pub layers_per_group: usize,
    /// Spline bins K (spec 8).
    pub bins: usize,
    /// Residual conditioner width (spec 128) and residual blocks (spec 2).
    pub width: usize,
    pub res_blocks: usize,
    pub batch: usize,
    pub epochs: usize,
    pub lr: f64,
    /// TRADE grid: log points before adding τ = 1 (spec 25), SNIS samples per point (spec
    /// 5000), steps between expectation refreshes (spec 1000).
    pub grid_points: usize,
    pub n_snis: usize,
    pub refresh_every: usize,
}

impl SplineSetup {
    pub(super) fn of(profile: Profile) -> Self {
        match profile {
            // experiments.md §5: Adam 1e-4, 60 epochs of batch 289.
            Profile::Paper => Self {
                layers_per_group: 3,
                bins: 8,
                width: 128,
                res_blocks: 2,
                batch: 289,
                epochs: 60,
                lr: 1e-4,
                grid_points: 25,
                n_snis: 5000,
                refresh_every: 1000,
            },
            // The spec's nine couplings with a narrower conditioner, the affine quick profile's
            // batch, epochs and learning rate, and fewer SNIS samples refreshed more often (the
            // quick run has ~500 steps, fewer than one spec refresh interval).
            Profile::Quick => Self {
                layers_per_group: 3,
                bins: 8,
                width: 64,
                res_blocks: 2,
                batch: 256,
                epochs: 8,
                lr: 1e-3,
                grid_points: 25,
                n_snis: 1000,
                refresh_every: 100,
            },
        }
    }

    /// The flow on the 48 normalised ICs.
    pub(super) fn flow_config(&self, seed: u64) -> FlowConfig {
        let mut c = FlowConfig::alanine_spline(
            self.layers_per_group,
            self.bins,
            self.width,
            self.res_blocks,
        );
        c.seed = seed;
        c
    }
}

/// The loss added to the NLL by a spline method (None for `nll-spline`), with its weight.
pub(super) fn extra_loss(
    method: &str,
    s: &SplineSetup,
    target: Arc<dyn Target>,
    prior: ConditionPrior,
) -> Result<Option<(Box<dyn Loss>, LossWeight)>> {
    match method {
        "nll-spline" => Ok(None),
        // experiments.md §5 "TRADE spline": 25 log points on [0.4, 1.1] + τ = 1, SmoothL1
        // δ 5e-4, ε 0.1254, α_EX 0.6455, α_L 0.8; weight pct_start 0.3167, 0 → 0.2291,
        // adaptive (init 1e-3, α 1.03e-4). Logit refresh every 50 steps (Loop A default).
        "trade-grid-spline" => {
            let cfg = TradeGridConfig {
                c_min: 0.4,
                c_max: 1.1,
                n_points: s.grid_points,
                c0: 1.0,
                n_snis: s.n_snis,
                refresh_every: s.refresh_every,
                alpha_ex: 0.6455,
                logits_every: 50,
                epsilon: 0.1254,
                alpha_l: 0.8,
                batch: s.batch,
                causality: true,
            };
            let grid = TradeGrid::new(
                cfg,
                target,
                prior,
                Residual::SmoothL1 { delta: 5e-4 },
                NoiseMode::Gaussian(3e-4),
            )?;
            let weight = LossWeight {
                pct_start: 0.3167,
                start_value: 0.0,
                end_value: 0.2291,
                adaptive: true,
                adaptive_init: 1e-3,
                alpha: 1.03e-4,
                clip: 1e9,
                log_clip: 1e3,
            };
            Ok(Some((Box::new(grid), weight)))
        }
        // experiments.md §5 "rev KL spline": pct_start 0, 0 → 1, adaptive (init 1; α 0.1 as
        // in the affine rows, the spec gives none); one τ per batch (method.md §8.1).
        "reverse-kl-nll-spline" => {
            let weight = LossWeight {
                pct_start: 0.0,
                start_value: 0.0,
                end_value: 1.0,
                adaptive: true,
                adaptive_init: 1.0,
                alpha: 0.1,
                clip: 1e9,
                log_clip: 1e3,
            };
            let kl = ReverseKl::new(target, prior, false, s.batch)?;
            Ok(Some((Box::new(kl), weight)))
        }
        other => bail!("method {other:?} is not an alanine-dipeptide spline method"),
    }
}
