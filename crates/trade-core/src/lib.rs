//! `trade-core`: the TRADE loss machinery, baselines, training, metrics and checkpoints.
//!
//! The model-independent parts live here first: self-normalised importance sampling
//! ([`snis_mean`]), the parameter prior ([`ConditionPrior`]), grid mode ([`ConditionGrid`],
//! [`ExpectationTable`], [`Causality`]), residual losses ([`Residual`]), loss weights and
//! clipping ([`LossWeight`], [`AdaptiveWeights`], [`AnnealingWeight`]), metrics, the
//! [`Observer`] seam and atomic checkpoint writes.
//!
//! ```
//! use trade_core::{effective_sample_size, snis_mean};
//!
//! // Proposal = target: uniform weights, ESS 100 %, plain mean.
//! let log_w = [0.0; 4];
//! let est = snis_mean(&log_w, &[1.0, 2.0, 3.0, 4.0], 1.0).unwrap();
//! assert!((est.value - 2.5).abs() < 1e-12);
//! assert!((effective_sample_size(&log_w) - 100.0).abs() < 1e-12);
//! ```

pub mod checkpoint;
mod error;
mod grid;
mod ic_flow;
pub mod loss;
pub mod metrics;
mod observe;
mod prior;
mod residual;
mod run_config;
mod snis;
mod train;
mod weights;

pub use error::CoreError;
pub use grid::{Causality, CausalityRule, ConditionGrid, ExpectationTable, decayed_epsilon};
pub use ic_flow::{CartesianLogDet, IcFlow, ToCartesian};
pub use loss::{Loss, LossBatch, StepCtx, WeightedObjective};
pub use observe::{Event, Observer, Silent};
pub use prior::ConditionPrior;
pub use residual::Residual;
pub use run_config::{
    CheckedRun, DataSpec, EnergyKind, FlowSpec, LossSpec, ReferenceKind, RunConfig, TargetSpec,
    TrainSpec, WeightedLosses,
};
pub use snis::{
    SnisEstimate, effective_sample_size, log_sum_exp, normalized_weights, plain_mean, snis_mean,
    snis_weights,
};
pub use train::{Objective, TrainConfig, TrainSummary, Trainer};
pub use weights::{
    AdaptiveWeights, AnnealingWeight, LoopBWeighting, LossWeight, clip_per_sample, clip_value,
    linear_ramp,
};
