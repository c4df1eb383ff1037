//! Flow configs as serde data (experiments are data): layers, conditioning, base, with
//! `validate()` naming the field and its allowed range. [`Flow::build`](crate::Flow::build)
//! turns a config into a flow.

use crate::FlowError;
use crate::base::Scaling;
use crate::conditioner::{ConditionerConfig, InitScheme};
use serde::{Deserialize, Serialize};
use trade_ad::Activation;

/// How c (and y) enter the coupling conditioners (`flows.md` §4, §11.4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ConditionInput {
    /// No c-input (unconditional or temperature-steerable flows).
    #[default]
    None,
    /// `log c` concatenated to the conditioner inputs.
    LogC,
    /// A learned embedding `e(c) = MLP(u) + u` of `u = log c` (φ⁴, `flows.md` §4): MLP
    /// 1 → hidden → 1, SiLU, Xavier-normal with zero biases. With `standardise`, u is the
    /// standardised `(log c − centre) / scale` instead (a project choice; see [`Standardise`]).
    Embedding {
        /// Hidden widths (φ⁴: [32, 32, 32]).
        hidden: Vec<usize>,
        /// Optional standardisation of log c before the embedding (None: the spec's raw log c).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        standardise: Option<Standardise>,
    },
    /// Flows for Flows: context `h = c′ − c`, with the inverse rule for c′ < c.
    Delta,
    /// Flows for Flows: context `h = [c, c′]`, with the inverse rule for c′ < c.
    Concat,
}

/// An affine standardisation `u = (log c − centre) / scale` of the embedding input.
///
/// An affine map of the input of an MLP (its first layer has weights and biases; the skip
/// term feeds conditioners that have them too) changes nothing the embedding can represent,
/// only how fast it is learned: the two φ⁴ training conditions κ0 = 0.25 and 0.29 are 0.15
/// apart in log κ, and with the raw input a flow trained by NLL on both barely tells them
/// apart after a thousand steps (measured: ⟨|m|⟩ 0.93 and 1.12 at κ = 0.25 and 0.29 after
/// 1024 steps, against 0.33 and 1.91 in the data); with [0.22, 0.32] standardised to
/// [−1, 1] (κ0 at −0.32 and +0.47), the same run follows the magnetisation curve (0.33 and
/// 1.74; `docs/reproduce.md`, φ⁴).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Standardise {
    /// Subtracted from log c.
    pub centre: f64,
    /// Divides log c − centre (> 0).
    pub scale: f64,
}

impl Standardise {
    /// Maps the log-range of `[lo, hi]` onto [−1, 1].
    pub fn log_range(lo: f64, hi: f64) -> Self {
        let (a, b) = (lo.ln(), hi.ln());
        Self {
            centre: 0.5 * (a + b),
            scale: 0.5 * (b - a),
        }
    }
}

impl ConditionInput {
    /// True for the Flows-for-Flows transport contexts (Delta, Concat).
    pub fn is_transport(&self) -> bool {
        matches!(self, ConditionInput::Delta | ConditionInput::Concat)
    }

    /// Width of the c-part of the context (0, 1 or 2).
    pub fn width(&self) -> usize {
        match self {
            ConditionInput::None => 0,
            ConditionInput::Concat => 2,
            _ => 1,
        }
    }
}

/// The condition a flow takes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ConditionConfig {
    /// How c enters the couplings; the base and the final conditional affine see raw c.
    #[serde(default)]
    pub input: ConditionInput,
    /// Width of the extra condition y (0: none).
    #[serde(default)]
    pub y_dim: usize,
}

impl ConditionConfig {
    /// Width of [`Context::coupling`](crate::Context::coupling).
    pub fn coupling_width(&self) -> usize {
        self.input.width() + self.y_dim
    }

    /// Width of [`Context::raw`](crate::Context::raw).
    pub fn raw_width(&self) -> usize {
        self.input.width() + self.y_dim
    }
}

/// Which fixed permutation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum PermutationKind {
    /// Uniformly random from the seeded RNG.
    #[default]
    Random,
    /// d−1, …, 0.
    Reverse,
}

fn default_clamp() -> f64 {
    0.3
}
fn default_bound() -> f64 {
    3.0
}
fn default_min_bin() -> f64 {
    0.1
}
fn default_unit_min() -> f64 {
    1e-3
}
fn default_prior_loc() -> f64 {
    0.5
}
fn default_prior_scale() -> f64 {
    0.1
}

/// One entry of a flow's layer list, in data → latent order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum LayerConfig {
    /// GLOW affine coupling with soft clamp `clamp · tanh`.
    AffineCoupling {
        /// Conditioner network.
        conditioner: ConditionerConfig,
        /// Soft clamp (and initial value when learnable). Default 0.3.
        #[serde(default = "default_clamp")]
        clamp: f64,
        /// Use the one learnable clamp scalar shared by all blocks.
        #[serde(default)]
        learnable_clamp: bool,
    },
    /// Volume-preserving GIN coupling.
    GinCoupling {
        /// Conditioner network.
        conditioner: ConditionerConfig,
        /// Soft clamp. Default 0.3.
        #[serde(default = "default_clamp")]
        clamp: f64,
    },
    /// Rational-quadratic spline coupling.
    RqCoupling {
        /// Conditioner network.
        conditioner: ConditionerConfig,
        /// Number of bins K (Loop A 8, Loop B 10).
        bins: usize,
        /// Initial domain [−bound, bound]. Default 3.
        #[serde(default = "default_bound")]
        bound: f64,
        /// Minimum bin width and height. Default 0.1.
        #[serde(default = "default_min_bin")]
        min_bin: f64,
    },
    /// One-sided RQ spline coupling on [0, 1] over index groups (alanine-dipeptide spline flow,
    /// `flows.md` §9): `transformed` mapped by a unit-interval spline (circular: periodic, for
    /// torsions) whose parameters come from `[x_conditioning, context]`; other dims unchanged.
    UnitSplineCoupling {
        /// Conditioner network (MLP or ResNet).
        conditioner: ConditionerConfig,
        /// Indices transformed.
        transformed: Vec<usize>,
        /// Indices the conditioner sees (disjoint from `transformed`).
        conditioning: Vec<usize>,
        /// Number of bins K (spec 8).
        bins: usize,
        /// Circular (periodic) spline. Default false.
        #[serde(default)]
        circular: bool,
        /// Minimum bin width and height, in (0, 1/K). Default 1e-3.
        #[serde(default = "default_unit_min")]
        min_bin: f64,
        /// Minimum knot derivative, in [0, 1). Default 1e-3.
        #[serde(default = "default_unit_min")]
        min_derivative: f64,
    },
    /// A fixed random rotation `(x + s) mod 1` of the circle coordinates `dims`.
    CircularShift {
        /// Indices shifted.
        dims: Vec<usize>,
    },
    /// Identity in the density direction, clamp to [0, 1] when sampling.
    UnitClamp,
    /// ActNorm with data-dependent initialisation.
    ActNorm,
    /// A fixed permutation.
    Permutation {
        /// Random (default) or reverse.
        #[serde(default)]
        kind: PermutationKind,
    },
    /// A fixed random orthogonal mixing matrix.
    Orthogonal,
    /// The final conditional affine on raw `[c, y]`.
    ConditionalAffine {
        /// Conditioner network (`[c, y] → 2d`).
        conditioner: ConditionerConfig,
    },
    /// Conditional global scaling x·exp(w) + b, one scalar w and b per sample from the coupling
    /// context (φ⁴: the embedding e(κ)).
    GlobalScaling {
        /// The network of each of w and b (context width → 1; φ⁴: MLP [64, 64, 64]).
        conditioner: ConditionerConfig,
    },
    /// Space-to-depth C×H×W → 4C×(H/2)×(W/2) (a fixed permutation).
    SpaceToDepth {
        /// Input channels C.
        channels: usize,
        /// Input height H (even).
        height: usize,
        /// Input width W (even).
        width: usize,
    },
    /// ActNorm per channel of a channel-major image, with data-dependent initialisation.
    ChannelActNorm {
        /// Number of channels (a divisor of the dimension).
        channels: usize,
    },
    /// A fixed random permutation of the channels of a channel-major image.
    ChannelPermutation {
        /// Number of channels (a divisor of the dimension).
        channels: usize,
    },
    /// `count` copies of `layers` (fresh parameters each).
    Repeat {
        /// Number of copies.
        count: usize,
        /// The block.
        layers: Vec<LayerConfig>,
    },
}

/// The sizes of the φ⁴ flow ([`FlowConfig::phi4`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Phi4Arch {
    /// Lattice side N (even).
    pub lattice: usize,
    /// Conv coupling blocks (spec 3).
    pub conv_blocks: usize,
    /// Fully connected coupling blocks (spec 3).
    pub fc_blocks: usize,
    /// CNN widths: 3×3, 3×3, then 1×1 layers (spec [64, 64, 32, 32]).
    pub cnn_channels: Vec<usize>,
    /// FC conditioner widths (spec 4 × 128).
    pub fc_hidden: Vec<usize>,
    /// Global-scaling MLP widths (spec [64, 64, 64]).
    pub scaling_hidden: Vec<usize>,
    /// Embedding MLP widths (spec [32, 32, 32]).
    pub embedding_hidden: Vec<usize>,
    /// Spline bins K (spec 10).
    pub bins: usize,
    /// κ range whose log is standardised to [−1, 1] before the embedding (project choice,
    /// [`Standardise`]; `targets.md` §5.2's training range [0.22, 0.32]); None: raw log κ.
    pub embedding_range: Option<(f64, f64)>,
}

impl Phi4Arch {
    /// `flows.md` §6–7 on the 8×8 lattice.
    pub fn paper() -> Self {
        Self {
            lattice: 8,
            conv_blocks: 3,
            fc_blocks: 3,
            cnn_channels: vec![64, 64, 32, 32],
            fc_hidden: vec![128; 4],
            scaling_hidden: vec![64; 3],
            embedding_hidden: vec![32; 3],
            bins: 10,
            embedding_range: Some((0.22, 0.32)),
        }
    }
}

/// The base distribution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum BaseConfig {
    /// Isotropic Gaussian N(0, v(c)·I).
    Gaussian {
        /// Standard, temperature (v = c) or precision (v = 1/c).
        scaling: Scaling,
    },
    /// The internal-coordinate prior on [0, 1]^d (`flows.md` §5): the first `truncated`
    /// coordinates truncated N(loc, scale²) on [0, 1], the rest U[0, 1]
    /// ([`IcPrior`](crate::IcPrior)).
    IcPrior {
        /// Number of truncated-normal coordinates (alanine: 29 bonds and angles).
        truncated: usize,
        /// Mean, in [0, 1]. Default 0.5.
        #[serde(default = "default_prior_loc")]
        loc: f64,
        /// Standard deviation, in [0.01, 1]. Default 0.1.
        #[serde(default = "default_prior_scale")]
        scale: f64,
    },
    /// A frozen flow (Flows for Flows). Its parameters live under `base.` in the same store
    /// and are frozen at build time; it is evaluated at c′ in transport mode.
    Flow {
        /// The base flow's config.
        flow: Box<FlowConfig>,
    },
}

/// A whole flow as data.
///
/// ```
/// let json = r#"{
///   "dim": 2,
///   "condition": { "input": "log_c" },
///   "layers": [
///     { "type": "repeat", "count": 2, "layers": [
///       { "type": "rq_coupling", "bins": 8, "conditioner": { "kind": "mlp", "hidden": [16] } },
///       { "type": "permutation" } ] },
///     { "type": "conditional_affine", "conditioner": { "kind": "mlp", "hidden": [16] } }
///   ],
///   "base": { "kind": "gaussian", "scaling": "temperature" }
/// }"#;
/// let config: trade_flows::FlowConfig = serde_json::from_str(json).unwrap();
/// config.validate().unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowConfig {
    /// Data dimension.
    pub dim: usize,
    /// Augmentation dimensions appended to the data (the flow acts on dim + augmentation_dims).
    #[serde(default)]
    pub augmentation_dims: usize,
    /// Conditioning.
    #[serde(default)]
    pub condition: ConditionConfig,
    /// Layers in data → latent order.
    pub layers: Vec<LayerConfig>,
    /// Base distribution.
    pub base: BaseConfig,
    /// Seed of the initialisation RNG (weights, permutations).
    #[serde(default)]
    pub seed: u64,
}

fn positive(field: String, v: f64) -> Result<(), FlowError> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(FlowError::out_of_range(field, v, "> 0 and finite"))
    }
}

impl LayerConfig {
    fn validate(&self, field: &str, cond: &ConditionConfig, dim: usize) -> Result<(), FlowError> {
        let coupling_dim = |dim: usize| {
            if dim < 2 {
                Err(FlowError::out_of_range(
                    "dim",
                    dim,
                    "≥ 2 for coupling layers",
                ))
            } else {
                Ok(())
            }
        };
        let channels = |channels: usize| {
            if channels == 0 || dim % channels != 0 {
                Err(FlowError::out_of_range(
                    format!("{field}.channels"),
                    channels,
                    "≥ 1 and a divisor of the flow dimension",
                ))
            } else {
                Ok(())
            }
        };
        match self {
            LayerConfig::AffineCoupling {
                conditioner, clamp, ..
            }
            | LayerConfig::GinCoupling { conditioner, clamp } => {
                coupling_dim(dim)?;
                positive(format!("{field}.clamp"), *clamp)?;
                conditioner.validate(&format!("{field}.conditioner"))
            }
            LayerConfig::RqCoupling {
                conditioner,
                bins,
                bound,
                min_bin,
            } => {
                coupling_dim(dim)?;
                if *bins < 2 {
                    return Err(FlowError::out_of_range(
                        format!("{field}.bins"),
                        bins,
                        "≥ 2",
                    ));
                }
                positive(format!("{field}.bound"), *bound)?;
                positive(format!("{field}.min_bin"), *min_bin)?;
                if 2.0 * bound / *bins as f64 <= *min_bin {
                    return Err(FlowError::out_of_range(
                        format!("{field}.min_bin"),
                        min_bin,
                        "< 2·bound/bins (the initial bin width)",
                    ));
                }
                if let ConditionerConfig::Cnn { height, width, .. } = conditioner {
                    let (len1, pix) = (crate::layers::split_len(dim), height * width);
                    if len1 % pix != 0 || (dim - len1) % pix != 0 {
                        return Err(FlowError::out_of_range(
                            format!("{field}.conditioner.height/width"),
                            format!("{height}×{width}"),
                            "an image size dividing both coupling halves",
                        ));
                    }
                }
                conditioner.validate(&format!("{field}.conditioner"))
            }
            LayerConfig::GlobalScaling { conditioner } => {
                if cond.coupling_width() == 0 {
                    return Err(FlowError::out_of_range(
                        "condition.input",
                        "none (with y_dim = 0)",
                        "a condition, for a global_scaling layer",
                    ));
                }
                conditioner.validate(&format!("{field}.conditioner"))
            }
            LayerConfig::SpaceToDepth {
                channels,
                height,
                width,
            } => {
                if channels * height * width != dim {
                    return Err(FlowError::out_of_range(
                        format!("{field}.channels×height×width"),
                        format!("{channels}×{height}×{width}"),
                        "equal to the flow dimension",
                    ));
                }
                crate::layers::SpaceToDepth::new(*channels, *height, *width).map(|_| ())
            }
            LayerConfig::ChannelActNorm { channels: c }
            | LayerConfig::ChannelPermutation { channels: c } => channels(*c),
            LayerConfig::ConditionalAffine { conditioner } => {
                if cond.raw_width() == 0 {
                    return Err(FlowError::out_of_range(
                        "condition.input",
                        "none (with y_dim = 0)",
                        "a condition, for a conditional_affine layer",
                    ));
                }
                conditioner.validate(&format!("{field}.conditioner"))
            }
            LayerConfig::Repeat { count, layers } => {
                if *count == 0 {
                    return Err(FlowError::out_of_range(
                        format!("{field}.count"),
                        count,
                        "≥ 1",
                    ));
                }
                layers
                    .iter()
                    .enumerate()
                    .try_for_each(|(k, l)| l.validate(&format!("{field}.layers[{k}]"), cond, dim))
            }
            LayerConfig::UnitSplineCoupling {
                conditioner,
                transformed,
                conditioning,
                bins,
                min_bin,
                min_derivative,
                ..
            } => {
                if *bins < 2 {
                    return Err(FlowError::out_of_range(
                        format!("{field}.bins"),
                        bins,
                        "≥ 2",
                    ));
                }
                if !(*min_bin > 0.0 && *min_bin * (*bins as f64) < 1.0) {
                    return Err(FlowError::out_of_range(
                        format!("{field}.min_bin"),
                        min_bin,
                        "in (0, 1/bins)",
                    ));
                }
                if !(0.0..1.0).contains(min_derivative) {
                    return Err(FlowError::out_of_range(
                        format!("{field}.min_derivative"),
                        min_derivative,
                        "in [0, 1)",
                    ));
                }
                if matches!(conditioner, ConditionerConfig::Cnn { .. }) {
                    return Err(FlowError::out_of_range(
                        format!("{field}.conditioner.kind"),
                        "cnn",
                        "mlp or res_net",
                    ));
                }
                let groups = crate::layers::Groups {
                    transformed: transformed.clone(),
                    conditioning: conditioning.clone(),
                };
                groups.validate(field, dim)?;
                conditioner.validate(&format!("{field}.conditioner"))
            }
            LayerConfig::CircularShift { dims } => {
                let mut seen = vec![false; dim];
                if dims.is_empty()
                    || dims
                        .iter()
                        .any(|&i| i >= dim || std::mem::replace(&mut seen[i], true))
                {
                    return Err(FlowError::out_of_range(
                        format!("{field}.dims"),
                        format!("{dims:?}"),
                        "non-empty, distinct indices < dim",
                    ));
                }
                Ok(())
            }
            LayerConfig::ActNorm
            | LayerConfig::Permutation { .. }
            | LayerConfig::Orthogonal
            | LayerConfig::UnitClamp => Ok(()),
        }
    }
}

impl FlowConfig {
    /// Dimension the flow acts on: data plus augmentation.
    pub fn flow_dim(&self) -> usize {
        self.dim + self.augmentation_dims
    }

    /// Checks every field; errors name the field path and the allowed range.
    pub fn validate(&self) -> Result<(), FlowError> {
        if self.dim == 0 {
            return Err(FlowError::out_of_range("dim", self.dim, "≥ 1"));
        }
        if let ConditionInput::Embedding {
            hidden,
            standardise,
        } = &self.condition.input
        {
            if hidden.contains(&0) {
                return Err(FlowError::out_of_range(
                    "condition.input.embedding.hidden",
                    format!("{hidden:?}"),
                    "every width ≥ 1",
                ));
            }
            if let Some(s) = standardise {
                if !s.centre.is_finite() {
                    return Err(FlowError::out_of_range(
                        "condition.input.embedding.standardise.centre",
                        s.centre,
                        "finite",
                    ));
                }
                if !(s.scale.is_finite() && s.scale > 0.0) {
                    return Err(FlowError::out_of_range(
                        "condition.input.embedding.standardise.scale",
                        s.scale,
                        "finite and > 0",
                    ));
                }
            }
        }
        for (k, layer) in self.layers.iter().enumerate() {
            layer.validate(&format!("layers[{k}]"), &self.condition, self.flow_dim())?;
        }
        if let BaseConfig::IcPrior {
            truncated,
            loc,
            scale,
        } = &self.base
        {
            crate::IcPrior::new(self.flow_dim(), *truncated, *loc, *scale)?;
        }
        if let BaseConfig::Flow { flow } = &self.base {
            flow.validate()?;
            if flow.flow_dim() != self.flow_dim() {
                return Err(FlowError::out_of_range(
                    "base.flow.dim",
                    flow.flow_dim(),
                    "equal to this flow's dimension",
                ));
            }
        }
        Ok(())
    }

    /// Parses and validates a JSON config.
    pub fn from_json(json: &str) -> Result<Self, FlowError> {
        let config: Self =
            serde_json::from_str(json).map_err(|e| FlowError::File(format!("flow config: {e}")))?;
        config.validate()?;
        Ok(config)
    }

    /// Zeroes (or un-zeroes) the last layer of every coupling and conditional-affine
    /// conditioner, e.g. for an identity start (Flows for Flows §11.5).
    pub fn with_zero_last(mut self, zero: bool) -> Self {
        fn walk(layers: &mut [LayerConfig], zero: bool) {
            for l in layers {
                match l {
                    LayerConfig::AffineCoupling { conditioner, .. }
                    | LayerConfig::GinCoupling { conditioner, .. }
                    | LayerConfig::RqCoupling { conditioner, .. }
                    | LayerConfig::UnitSplineCoupling { conditioner, .. }
                    | LayerConfig::ConditionalAffine { conditioner }
                    | LayerConfig::GlobalScaling { conditioner } => {
                        *conditioner = conditioner.clone().with_zero_last(zero);
                    }
                    LayerConfig::Repeat { layers, .. } => walk(layers, zero),
                    LayerConfig::ActNorm
                    | LayerConfig::Permutation { .. }
                    | LayerConfig::Orthogonal
                    | LayerConfig::CircularShift { .. }
                    | LayerConfig::UnitClamp
                    | LayerConfig::SpaceToDepth { .. }
                    | LayerConfig::ChannelActNorm { .. }
                    | LayerConfig::ChannelPermutation { .. } => {}
                }
            }
        }
        walk(&mut self.layers, zero);
        self
    }

    /// Pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("config serialises")
    }

    /// The multi-well flow of `flows.md` §6: `blocks` × [RQ coupling K = 8 (MLP `hidden`,
    /// SiLU, Loop A init: last bias 0, last weight random) → random permutation] → conditional
    /// affine (raw T) → N(0, T·I); log T into the couplings.
    pub fn multi_well(dim: usize, blocks: usize, hidden: &[usize]) -> Self {
        let conditioner = ConditionerConfig::mlp_loop_a(hidden);
        Self {
            dim,
            augmentation_dims: 0,
            condition: ConditionConfig {
                input: ConditionInput::LogC,
                y_dim: 0,
            },
            layers: vec![
                LayerConfig::Repeat {
                    count: blocks,
                    layers: vec![
                        LayerConfig::RqCoupling {
                            conditioner: conditioner.clone(),
                            bins: 8,
                            bound: 3.0,
                            min_bin: 0.1,
                        },
                        LayerConfig::Permutation {
                            kind: PermutationKind::Random,
                        },
                    ],
                },
                LayerConfig::ConditionalAffine { conditioner },
            ],
            base: BaseConfig::Gaussian {
                scaling: Scaling::Temperature,
            },
            seed: 0,
        }
    }

    /// [`FlowConfig::multi_well`] with GLOW affine couplings (soft clamp 1, the same
    /// conditioner) in place of the RQ splines: the affine variant of the side-by-side PyTorch
    /// comparison (`benchmarks/pytorch/`), not a spec model.
    pub fn multi_well_affine(dim: usize, blocks: usize, hidden: &[usize]) -> Self {
        let mut config = Self::multi_well(dim, blocks, hidden);
        if let Some(LayerConfig::Repeat { layers, .. }) = config.layers.first_mut() {
            if let Some(LayerConfig::RqCoupling { conditioner, .. }) = layers.first().cloned() {
                layers[0] = LayerConfig::AffineCoupling {
                    conditioner,
                    clamp: 1.0,
                    learnable_clamp: false,
                };
            }
        }
        config
    }

    /// A temperature-steerable (volume-preserving) flow (`flows.md` §10): `blocks` × [GIN
    /// coupling 0.3·tanh (MLP `hidden`, Loop A init) → random permutation] → ActNorm → N(0, T·I); no
    /// c-input; `augmentation_dims` extra dims.
    pub fn temperature_steerable(
        dim: usize,
        augmentation_dims: usize,
        blocks: usize,
        hidden: &[usize],
    ) -> Self {
        Self {
            dim,
            augmentation_dims,
            condition: ConditionConfig::default(),
            layers: vec![
                LayerConfig::Repeat {
                    count: blocks,
                    layers: vec![
                        LayerConfig::GinCoupling {
                            conditioner: ConditionerConfig::mlp_loop_a(hidden),
                            clamp: 0.3,
                        },
                        LayerConfig::Permutation {
                            kind: PermutationKind::Random,
                        },
                    ],
                },
                LayerConfig::ActNorm,
            ],
            base: BaseConfig::Gaussian {
                scaling: Scaling::Temperature,
            },
            seed: 0,
        }
    }

    /// The φ⁴ flow of `flows.md` §7 on an N×N lattice (N even; 8 in the spec), data → latent:
    /// conditional global scaling (MLP `scaling_hidden`) → space-to-depth 1×N×N → 4×(N/2)×(N/2)
    /// → `conv_blocks` × [channel ActNorm → RQ coupling over channels 2|2, K = 10, CNN
    /// `cnn_channels` (3×3, 3×3, then 1×1) → channel permutation] → `fc_blocks` × [ActNorm → RQ
    /// coupling (d/2 | d/2), MLP `fc_hidden` → permutation] → N(0, I). Every conditioner is
    /// Loop B (SiLU, Xavier, last layer zero), so the flow starts as the identity up to the
    /// ActNorms; e(κ) = MLP(log κ) + log κ (1→32→32→32→1) feeds the couplings (an extra
    /// constant channel for the CNNs) and the global scaling.
    ///
    /// The spec's model is `FlowConfig::phi4(&Phi4Arch::paper())`.
    pub fn phi4(arch: &Phi4Arch) -> Self {
        let n = arch.lattice;
        let half = n / 2;
        let conv_block = vec![
            LayerConfig::ChannelActNorm { channels: 4 },
            LayerConfig::RqCoupling {
                conditioner: ConditionerConfig::cnn(half, half, &arch.cnn_channels),
                bins: arch.bins,
                bound: 3.0,
                min_bin: 0.1,
            },
            LayerConfig::ChannelPermutation { channels: 4 },
        ];
        let fc_block = vec![
            LayerConfig::ActNorm,
            LayerConfig::RqCoupling {
                conditioner: Self::loop_b_conditioner(&arch.fc_hidden),
                bins: arch.bins,
                bound: 3.0,
                min_bin: 0.1,
            },
            LayerConfig::Permutation {
                kind: PermutationKind::Random,
            },
        ];
        Self {
            dim: n * n,
            augmentation_dims: 0,
            condition: ConditionConfig {
                input: ConditionInput::Embedding {
                    hidden: arch.embedding_hidden.clone(),
                    standardise: arch
                        .embedding_range
                        .map(|(lo, hi)| Standardise::log_range(lo, hi)),
                },
                y_dim: 0,
            },
            layers: vec![
                LayerConfig::GlobalScaling {
                    conditioner: Self::loop_b_conditioner(&arch.scaling_hidden),
                },
                LayerConfig::SpaceToDepth {
                    channels: 1,
                    height: n,
                    width: n,
                },
                LayerConfig::Repeat {
                    count: arch.conv_blocks,
                    layers: conv_block,
                },
                LayerConfig::Repeat {
                    count: arch.fc_blocks,
                    layers: fc_block,
                },
            ],
            base: BaseConfig::Gaussian {
                scaling: Scaling::Standard,
            },
            seed: 0,
        }
    }

    /// Loop B MLP conditioner: `hidden`, SiLU, Xavier-normal, last layer zero.
    pub fn loop_b_conditioner(hidden: &[usize]) -> ConditionerConfig {
        ConditionerConfig::Mlp {
            hidden: hidden.to_vec(),
            activation: Activation::Silu,
            init: InitScheme::Xavier,
            zero_last: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(json: &str) -> String {
        match FlowConfig::from_json(json) {
            Ok(_) => panic!("accepted: {json}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn error_messages_name_field_and_range() {
        let mk = |layer: &str| {
            format!(
                r#"{{"dim": 3, "layers": [{layer}], "base": {{"kind": "gaussian", "scaling": "standard"}}}}"#
            )
        };
        let mlp = r#"{"kind": "mlp", "hidden": [8]}"#;
        let cases = [
            (
                mk(&format!(
                    r#"{{"type": "rq_coupling", "bins": 1, "conditioner": {mlp}}}"#
                )),
                "config field layers[0].bins = 1 is out of range: allowed ≥ 2",
            ),
            (
                mk(&format!(
                    r#"{{"type": "affine_coupling", "clamp": -0.3, "conditioner": {mlp}}}"#
                )),
                "config field layers[0].clamp = -0.3 is out of range: allowed > 0 and finite",
            ),
            (
                mk(
                    r#"{"type": "repeat", "count": 2, "layers": [{"type": "gin_coupling", "conditioner": {"kind": "mlp", "hidden": [0]}}]}"#,
                ),
                "config field layers[0].layers[0].conditioner.hidden = [0] is out of range: allowed every width ≥ 1",
            ),
            (
                mk(&format!(
                    r#"{{"type": "conditional_affine", "conditioner": {mlp}}}"#
                )),
                "config field condition.input = none (with y_dim = 0) is out of range: allowed a condition, for a conditional_affine layer",
            ),
        ];
        for (json, expect) in cases {
            assert_eq!(err(&json), expect);
        }
        assert!(err(r#"{"dim": 2, "layers": [], "base": {"kind": "gaussian", "scaling": "standard"}, "typo": 1}"#)
            .contains("unknown field `typo`"));
    }

    #[test]
    fn presets_validate_and_round_trip() {
        for c in [
            FlowConfig::multi_well(5, 15, &[256, 256]),
            FlowConfig::temperature_steerable(5, 5, 25, &[256, 256]),
            FlowConfig::phi4(&Phi4Arch::paper()),
        ] {
            c.validate().unwrap();
            assert_eq!(FlowConfig::from_json(&c.to_json()).unwrap(), c);
        }
    }
}
