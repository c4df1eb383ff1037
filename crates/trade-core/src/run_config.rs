//! A whole training run as one JSON document ([`RunConfig`]): target, data, flow, trainer and
//! the weighted losses. [`RunConfig::check`] validates every field once and returns a
//! [`CheckedRun`]; errors name the field by its path in the document (`losses[1].batch`) and
//! the allowed range.
//!
//! ```
//! let json = r#"{
//!   "target": { "name": "multi-well", "dim": 2 },
//!   "data": { "n_train": 256, "c0": 1.0, "seed": 42 },
//!   "flow": { "preset": "multi-well", "blocks": 2, "hidden": [8] },
//!   "train": { "steps": 2, "lr": 1e-3 },
//!   "losses": [ { "kind": "nll", "batch": 64 } ]
//! }"#;
//! let run = trade_core::RunConfig::from_json(json)?.check()?;
//! assert_eq!(run.data().dim(), (256, 2));
//! # Ok::<(), trade_core::CoreError>(())
//! ```

use crate::loss::{
    EnergySource, Nll, NoiseMode, Proposal, ReferencePoints, ReverseKl, Reweighting,
    TradeContinuous, TradeGrid, TradeGridConfig, VarianceLoss,
};
use crate::{ConditionPrior, CoreError, Loss, LossWeight, Residual, TrainConfig};
use ndarray::Array2;
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use trade_ad::{AdamConfig, MatmulPrecision, OneCycle, Schedule};
use trade_flows::{FlowConfig, FlowModel};
use trade_targets::{Target, TargetOptions};

/// The target family, by its registry name (`trade_targets::TARGET_NAMES`) and options.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetSpec {
    /// Registry name (`multi-well`, `double-well`, `gmm`, `two-moons`, `phi4`, …).
    pub name: String,
    /// Multi-well dimension.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dim: Option<usize>,
    /// Two-moons observation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observation: Option<[f64; 2]>,
    /// φ⁴ quartic coupling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lambda: Option<f64>,
    /// φ⁴ lattice side.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lattice: Option<usize>,
}

impl TargetSpec {
    fn options(&self) -> TargetOptions {
        TargetOptions {
            dim: self.dim,
            observation: self.observation,
            lambda: self.lambda,
            lattice: self.lattice,
        }
    }
}

/// Training data: exact (or reference) samples of the target at the boundary c0.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSpec {
    /// Number of training samples.
    pub n_train: usize,
    /// Boundary condition c0 (within the target's allowed range).
    pub c0: f64,
    /// Seed of the sampler.
    pub seed: u64,
}

/// The flow: a preset of `trade_flows::FlowConfig`, or a full config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum FlowSpec {
    /// `FlowConfig::multi_well(dim, blocks, hidden)` (RQ couplings, log c conditioning, N(0, c·I)
    /// base) or `FlowConfig::temperature_steerable(dim, augmentation, blocks, hidden)`; the
    /// dimension is the target's.
    Preset {
        /// `multi-well` or `temperature-steerable`.
        preset: String,
        /// Coupling blocks.
        blocks: usize,
        /// Hidden widths of the conditioners.
        hidden: Vec<usize>,
        /// Augmentation dimensions (temperature-steerable only).
        #[serde(default)]
        augmentation: usize,
        /// Initialisation seed.
        #[serde(default)]
        seed: u64,
    },
    /// A complete flow config.
    Full(Box<FlowConfig>),
}

/// Trainer settings (`experiments.md` §0): Adam + OneCycle with peak `lr`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainSpec {
    /// Optimisation steps.
    pub steps: usize,
    /// Peak learning rate of the OneCycle schedule.
    pub lr: f64,
    /// Global-norm gradient clip (default 3).
    #[serde(default = "default_clip")]
    pub grad_clip: f64,
    /// Classic L2 weight decay (default 0).
    #[serde(default)]
    pub weight_decay: f64,
    /// Master seed (default 0).
    #[serde(default)]
    pub seed: u64,
    /// Rows per data-parallel chunk (default 64).
    #[serde(default = "default_chunk")]
    pub chunk_rows: usize,
    /// Checkpoint interval in steps (default 200; 0 = only at the end).
    #[serde(default = "default_checkpoint")]
    pub checkpoint_every: usize,
    /// Non-finite steps in a row before training stops (default 20).
    #[serde(default = "default_nonfinite")]
    pub max_consecutive_nonfinite: usize,
    /// Matrix-product precision of the training step: `"native"` (f64, default) or `"f32"`.
    #[serde(default)]
    pub matmul_precision: MatmulPrecision,
}

fn default_clip() -> f64 {
    3.0
}
fn default_chunk() -> usize {
    64
}
fn default_checkpoint() -> usize {
    200
}
fn default_nonfinite() -> usize {
    20
}
fn default_weight() -> LossWeight {
    LossWeight::constant(1.0, 1e9, 1e3)
}

/// Source of ∂_c U for TRADE losses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EnergyKind {
    /// The target's hand-written ∂_c U.
    GroundTruth,
    /// Energy-free self-consistency for temperature families (`method.md` §5.1).
    SelfTemperature,
}

/// Reference samples of continuous TRADE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReferenceKind {
    /// Fresh flow samples at c0.
    Flow,
    /// The training data.
    Dataset,
}

/// One weighted loss term.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum LossSpec {
    /// Maximum likelihood on the training data at c0.
    Nll {
        /// Weight schedule (default: constant 1).
        #[serde(default = "default_weight")]
        weight: LossWeight,
        /// Mini-batch size.
        batch: usize,
        /// Dequantisation σ (default 0).
        #[serde(default)]
        noise: f64,
    },
    /// Reverse KL at conditions from the parameter prior.
    ReverseKl {
        /// Weight schedule.
        #[serde(default = "default_weight")]
        weight: LossWeight,
        /// Parameter prior.
        prior: ConditionPrior,
        /// One c per sample (true) or per batch.
        per_sample: bool,
        /// Samples per step.
        batch: usize,
    },
    /// Data-free boundary: reverse KL with every sample at c0 (`method.md` §3).
    ReverseKlBoundary {
        /// Weight schedule.
        #[serde(default = "default_weight")]
        weight: LossWeight,
        /// Samples per step.
        batch: usize,
    },
    /// Temperature-weighted NLL (`method.md` §12).
    Reweighting {
        /// Weight schedule.
        #[serde(default = "default_weight")]
        weight: LossWeight,
        /// Parameter prior.
        prior: ConditionPrior,
        /// Mini-batch size.
        batch: usize,
    },
    /// Log-variance loss (`method.md` §12).
    Variance {
        /// Weight schedule.
        #[serde(default = "default_weight")]
        weight: LossWeight,
        /// Parameter prior.
        prior: ConditionPrior,
        /// Samples per step.
        batch: usize,
    },
    /// Grid-mode TRADE, Loop A (`method.md` §7.1).
    TradeGrid {
        /// Weight schedule.
        #[serde(default = "default_weight")]
        weight: LossWeight,
        /// Grid, SNIS and causality settings.
        grid: TradeGridConfig,
        /// Prior for the "no causality" ablation (snapped to the grid).
        prior: ConditionPrior,
        /// Residual loss ℓ.
        residual: Residual,
        /// Evaluation-point noise.
        noise: NoiseMode,
    },
    /// Continuous TRADE (`method.md` §8.2).
    TradeContinuous {
        /// Weight schedule.
        #[serde(default = "default_weight")]
        weight: LossWeight,
        /// Parameter prior.
        prior: ConditionPrior,
        /// Evaluation points per step.
        batch: usize,
        /// Reference samples.
        reference: ReferenceKind,
        /// SNIS proposal.
        proposal: Proposal,
        /// Source of ∂_c U.
        energy: EnergyKind,
        /// Residual loss ℓ.
        residual: Residual,
        /// Evaluation-point noise.
        noise: NoiseMode,
    },
}

impl LossSpec {
    fn kind(&self) -> &'static str {
        match self {
            LossSpec::Nll { .. } => "nll",
            LossSpec::ReverseKl { .. } => "reverse-kl",
            LossSpec::ReverseKlBoundary { .. } => "reverse-kl-boundary",
            LossSpec::Reweighting { .. } => "reweighting",
            LossSpec::Variance { .. } => "variance",
            LossSpec::TradeGrid { .. } => "trade-grid",
            LossSpec::TradeContinuous { .. } => "trade-continuous",
        }
    }

    fn weight(&self) -> LossWeight {
        match self {
            LossSpec::Nll { weight, .. }
            | LossSpec::ReverseKl { weight, .. }
            | LossSpec::ReverseKlBoundary { weight, .. }
            | LossSpec::Reweighting { weight, .. }
            | LossSpec::Variance { weight, .. }
            | LossSpec::TradeGrid { weight, .. }
            | LossSpec::TradeContinuous { weight, .. } => *weight,
        }
    }
}

/// A whole run: what `cargo xtask train --config run.json` reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// Target family.
    pub target: TargetSpec,
    /// Training data at c0.
    pub data: DataSpec,
    /// The flow.
    pub flow: FlowSpec,
    /// Trainer settings.
    pub train: TrainSpec,
    /// Weighted loss terms (at least one).
    pub losses: Vec<LossSpec>,
}

/// Wraps an error with the path of the config field it concerns.
fn at(path: impl Into<String>) -> impl FnOnce(CoreError) -> CoreError {
    let path = path.into();
    move |e| CoreError::Config {
        path,
        error: Box::new(e),
    }
}

/// A field out of range, named by its path.
fn field(path: &str, value: impl ToString, allowed: &str) -> CoreError {
    CoreError::ConfigField {
        path: path.into(),
        value: value.to_string(),
        allowed: allowed.into(),
    }
}

fn positive(path: &str, v: usize, min: usize, allowed: &'static str) -> Result<(), CoreError> {
    if v < min {
        return Err(field(path, v, allowed));
    }
    Ok(())
}

impl RunConfig {
    /// Parses JSON; a syntax error, an unknown field or a wrong type names the line, column and
    /// field.
    pub fn from_json(json: &str) -> Result<Self, CoreError> {
        serde_json::from_str(json).map_err(|e| CoreError::Parse {
            what: "run config",
            reason: e.to_string(),
        })
    }

    /// Pretty JSON (round-trips through [`RunConfig::from_json`]).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("plain data")
    }

    /// Validates every field, draws the training data and builds the flow.
    pub fn check(self) -> Result<CheckedRun, CoreError> {
        let target: Arc<dyn Target> =
            trade_targets::by_name(&self.target.name, &self.target.options())
                .map_err(|e| at("target")(e.into()))?
                .into();
        let d = &self.data;
        positive("data.n_train", d.n_train, 1, "≥ 1")?;
        let sampler =
            trade_targets::sampler_by_name(&self.target.name, &self.target.options(), d.c0)
                .map_err(|e| at("data.c0")(e.into()))?;
        let t = &self.train;
        positive("train.steps", t.steps, 1, "≥ 1")?;
        if !(t.lr.is_finite() && t.lr > 0.0) {
            return Err(field("train.lr", t.lr, "> 0"));
        }
        let train = TrainConfig {
            steps: t.steps,
            adam: AdamConfig {
                weight_decay: t.weight_decay,
                ..AdamConfig::default()
            },
            schedule: Schedule::OneCycle(OneCycle::new(t.lr, t.steps)),
            grad_clip: t.grad_clip,
            seed: t.seed,
            chunk_rows: t.chunk_rows,
            max_consecutive_nonfinite: t.max_consecutive_nonfinite,
            checkpoint_every: t.checkpoint_every,
            matmul_precision: t.matmul_precision,
        };
        train.validate().map_err(at("train"))?;
        let flow_config = match &self.flow {
            FlowSpec::Full(c) => (**c).clone(),
            FlowSpec::Preset {
                preset,
                blocks,
                hidden,
                augmentation,
                seed,
            } => {
                let mut c = match preset.as_str() {
                    "multi-well" => FlowConfig::multi_well(target.dim(), *blocks, hidden),
                    "temperature-steerable" => FlowConfig::temperature_steerable(
                        target.dim(),
                        *augmentation,
                        *blocks,
                        hidden,
                    ),
                    other => {
                        return Err(field(
                            "flow.preset",
                            other,
                            "multi-well, temperature-steerable",
                        ));
                    }
                };
                c.seed = *seed;
                c
            }
        };
        let model = FlowModel::new(flow_config).map_err(|e| at("flow")(e.into()))?;
        let data_dim = trade_flows::Distribution::dim(&model.flow) - model.flow.augmentation_dims();
        if data_dim != target.dim() {
            return Err(at("flow")(CoreError::Dimension {
                what: "flow data dimension (the target's dimension)",
                expected: target.dim(),
                got: data_dim,
            }));
        }
        if self.losses.is_empty() {
            return Err(field("losses (number of entries)", 0, "≥ 1"));
        }
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(d.seed);
        let data = Arc::new(sampler.sample(d.n_train, &mut rng));
        let run = CheckedRun {
            target,
            data,
            model,
            train,
            config: self,
        };
        // Build every loss once now, so that their own checks run before training starts.
        run.losses()?;
        Ok(run)
    }
}

/// Losses with their weight settings, as `WeightedObjective::new` takes them.
pub type WeightedLosses = Vec<(Box<dyn Loss>, LossWeight)>;

/// A validated run, ready to train.
pub struct CheckedRun {
    config: RunConfig,
    target: Arc<dyn Target>,
    data: Arc<Array2<f64>>,
    model: FlowModel,
    train: TrainConfig,
}

impl CheckedRun {
    /// The document it was checked from.
    pub fn config(&self) -> &RunConfig {
        &self.config
    }
    /// The training data (n_train, d) at c0.
    pub fn data(&self) -> &Array2<f64> {
        &self.data
    }
    /// The target.
    pub fn target(&self) -> &Arc<dyn Target> {
        &self.target
    }
    /// The model (initial, or trained after [`CheckedRun::train`]).
    pub fn model(&self) -> &FlowModel {
        &self.model
    }
    /// The trainer settings.
    pub fn train_config(&self) -> &TrainConfig {
        &self.train
    }

    /// The weighted losses, built fresh (each constructor validates its own fields).
    pub fn losses(&self) -> Result<WeightedLosses, CoreError> {
        let c0 = self.config.data.c0;
        let cs = Arc::new(Array2::from_elem((self.data.nrows(), 1), c0));
        let aug = self.model.flow.augmentation_dims();
        let mut out: Vec<(Box<dyn Loss>, LossWeight)> = Vec::new();
        for (i, spec) in self.config.losses.iter().enumerate() {
            let path = format!("losses[{i}] ({})", spec.kind());
            let weight = spec.weight();
            weight.validate("weight").map_err(at(path.clone()))?;
            let seed = self.train.seed.wrapping_add(1 + i as u64);
            let gt = || EnergySource::GroundTruth(self.target.clone());
            let loss: Result<Box<dyn Loss>, CoreError> = match spec {
                LossSpec::Nll { batch, noise, .. } => {
                    Nll::new(self.data.clone(), cs.clone(), *batch, *noise, seed)
                        .map(|l| Box::new(l.with_augmentation(aug)) as Box<dyn Loss>)
                }
                LossSpec::ReverseKl {
                    prior,
                    per_sample,
                    batch,
                    ..
                } => ReverseKl::new(self.target.clone(), *prior, *per_sample, *batch)
                    .map(|l| Box::new(l) as Box<dyn Loss>),
                LossSpec::ReverseKlBoundary { batch, .. } => {
                    ReverseKl::at_boundary(self.target.clone(), c0, *batch)
                        .map(|l| Box::new(l) as Box<dyn Loss>)
                }
                LossSpec::Reweighting { prior, batch, .. } => {
                    Reweighting::new(self.data.clone(), *prior, *batch)
                        .map(|l| Box::new(l) as Box<dyn Loss>)
                }
                LossSpec::Variance { prior, batch, .. } => {
                    VarianceLoss::new(self.target.clone(), *prior, *batch)
                        .map(|l| Box::new(l) as Box<dyn Loss>)
                }
                LossSpec::TradeGrid {
                    grid,
                    prior,
                    residual,
                    noise,
                    ..
                } => TradeGrid::new(*grid, self.target.clone(), *prior, *residual, *noise)
                    .map(|l| Box::new(l) as Box<dyn Loss>),
                LossSpec::TradeContinuous {
                    prior,
                    batch,
                    reference,
                    proposal,
                    energy,
                    residual,
                    noise,
                    ..
                } => (|| {
                    prior.validate()?;
                    residual.validate()?;
                    if *batch < 2 {
                        return Err(crate::error::out_of_range("batch", batch, "≥ 2"));
                    }
                    if let NoiseMode::Gaussian(s) = noise
                        && !(s.is_finite() && *s >= 0.0)
                    {
                        return Err(crate::error::out_of_range("noise", s, "σ ≥ 0"));
                    }
                    Ok(Box::new(TradeContinuous {
                        energy: match energy {
                            EnergyKind::GroundTruth => gt(),
                            EnergyKind::SelfTemperature => EnergySource::SelfTemperature,
                        },
                        prior: *prior,
                        c0,
                        batch: *batch,
                        reference: match reference {
                            ReferenceKind::Flow => ReferencePoints::FlowSamples,
                            ReferenceKind::Dataset => ReferencePoints::Dataset(self.data.clone()),
                        },
                        proposal: *proposal,
                        residual: *residual,
                        noise: *noise,
                        reweight_points: false,
                    }) as Box<dyn Loss>)
                })(),
            };
            out.push((loss.map_err(at(path))?, weight));
        }
        Ok(out)
    }

    /// Trains the model in place. With a `checkpoint` path the trainer writes its state there
    /// atomically every `train.checkpoint_every` steps and at the end; with `resume` it first
    /// continues from that file if it exists (bit-identical to an uninterrupted run).
    pub fn train(
        &mut self,
        observer: &mut dyn crate::Observer,
        checkpoint: Option<std::path::PathBuf>,
        resume: bool,
    ) -> Result<crate::TrainSummary, CoreError> {
        let losses = self.losses()?;
        let FlowModel { flow, params, .. } = &mut self.model;
        let mut objective = crate::WeightedObjective::new(flow, losses)?;
        let mut trainer = crate::Trainer::new(self.train.clone(), checkpoint)?;
        if resume {
            trainer.resume(params, &mut objective)?;
        }
        trainer.run(params, &mut objective, observer, None)
    }
}
