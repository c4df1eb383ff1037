//! Conditioner networks (`flows.md` §1): MLP, residual MLP and the periodic CNN of φ⁴
//! ([`crate::conv`]) with explicit initialisation; the last layer starts at zero by default, so
//! a coupling starts as the identity.

use crate::FlowError;
use crate::conv::{Cnn, CnnShape, ConvSpec};
use rand::Rng;
use serde::{Deserialize, Serialize};
use trade_ad::{Activation, Float, Init, Linear, ParamStore, Tape, Var};

/// How weights and biases start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum InitScheme {
    /// Loop A: PyTorch default U(±1/√fan_in) for weights and hidden biases; last bias 0.
    #[default]
    Torch,
    /// Loop B: Xavier-normal weights, zero biases.
    Xavier,
}

fn default_true() -> bool {
    true
}

/// A conditioner network, as data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ConditionerConfig {
    /// Linear → act → … → Linear with the given hidden widths.
    Mlp {
        /// Hidden widths, e.g. `[256, 256]`.
        hidden: Vec<usize>,
        /// Nonlinearity between layers (SiLU by default).
        #[serde(default)]
        activation: Activation,
        /// Initialisation scheme.
        #[serde(default)]
        init: InitScheme,
        /// Zero the last weight too (identity start). Default true.
        #[serde(default = "default_true")]
        zero_last: bool,
    },
    /// Linear(in → width) → `blocks` × [h ← h + Linear(act(Linear(h)))] → act → Linear(width → out).
    ResNet {
        /// Width of the residual stream.
        width: usize,
        /// Number of residual blocks (ala2 affine: 1).
        blocks: usize,
        /// Nonlinearity (SiLU by default).
        #[serde(default)]
        activation: Activation,
        /// Initialisation scheme.
        #[serde(default)]
        init: InitScheme,
        /// Zero the last layer (identity start). Default true.
        #[serde(default = "default_true")]
        zero_last: bool,
    },
    /// Periodic CNN on a `height`×`width` image (φ⁴: 4×4): the `hidden` convolutions, then a
    /// 1×1 output layer; context values enter as constant channels ([`crate::conv`]).
    Cnn {
        /// Image height H.
        height: usize,
        /// Image width W.
        width: usize,
        /// Hidden convolutions (φ⁴: 3×3(64), 3×3(64), 1×1(32), 1×1(32)).
        hidden: Vec<ConvSpec>,
        /// Nonlinearity (SiLU by default).
        #[serde(default)]
        activation: Activation,
        /// Initialisation scheme (φ⁴: Xavier).
        #[serde(default)]
        init: InitScheme,
        /// Zero the last layer (identity start). Default true.
        #[serde(default = "default_true")]
        zero_last: bool,
    },
}

impl ConditionerConfig {
    /// The φ⁴ CNN of `flows.md` §1 on an H×W image: 3×3 convolutions with the first two widths
    /// of `channels`, 1×1 with the rest, SiLU, Xavier-normal, last layer zero. The spec's is
    /// `cnn(4, 4, &[64, 64, 32, 32])`.
    pub fn cnn(height: usize, width: usize, channels: &[usize]) -> Self {
        let hidden = channels
            .iter()
            .enumerate()
            .map(|(l, &c)| ConvSpec {
                channels: c,
                kernel: if l < 2 { 3 } else { 1 },
            })
            .collect();
        ConditionerConfig::Cnn {
            height,
            width,
            hidden,
            activation: Activation::Silu,
            init: InitScheme::Xavier,
            zero_last: true,
        }
    }

    /// The Loop A MLP of `flows.md` §1: SiLU, PyTorch init, last bias 0, last weight random.
    pub fn mlp_loop_a(hidden: &[usize]) -> Self {
        ConditionerConfig::Mlp {
            hidden: hidden.to_vec(),
            activation: Activation::Silu,
            init: InitScheme::Torch,
            zero_last: false,
        }
    }

    /// An MLP with SiLU, PyTorch init and a zero last layer (identity start).
    pub fn mlp(hidden: &[usize]) -> Self {
        ConditionerConfig::Mlp {
            hidden: hidden.to_vec(),
            activation: Activation::Silu,
            init: InitScheme::Torch,
            zero_last: true,
        }
    }

    /// The same network with the last layer zeroed (identity start) or not.
    pub fn with_zero_last(self, zero: bool) -> Self {
        match self {
            ConditionerConfig::Mlp {
                hidden,
                activation,
                init,
                ..
            } => ConditionerConfig::Mlp {
                hidden,
                activation,
                init,
                zero_last: zero,
            },
            ConditionerConfig::ResNet {
                width,
                blocks,
                activation,
                init,
                ..
            } => ConditionerConfig::ResNet {
                width,
                blocks,
                activation,
                init,
                zero_last: zero,
            },
            ConditionerConfig::Cnn {
                height,
                width,
                hidden,
                activation,
                init,
                ..
            } => ConditionerConfig::Cnn {
                height,
                width,
                hidden,
                activation,
                init,
                zero_last: zero,
            },
        }
    }

    /// Checks widths; `field` names the config path in errors.
    pub fn validate(&self, field: &str) -> Result<(), FlowError> {
        match self {
            ConditionerConfig::Mlp { hidden, .. } => {
                if hidden.contains(&0) {
                    return Err(FlowError::out_of_range(
                        format!("{field}.hidden"),
                        format!("{hidden:?}"),
                        "every width ≥ 1",
                    ));
                }
            }
            ConditionerConfig::ResNet { width, .. } => {
                if *width == 0 {
                    return Err(FlowError::out_of_range(
                        format!("{field}.width"),
                        width,
                        "≥ 1",
                    ));
                }
            }
            ConditionerConfig::Cnn {
                height,
                width,
                hidden,
                ..
            } => {
                if *height == 0 || *width == 0 {
                    return Err(FlowError::out_of_range(
                        format!("{field}.height/width"),
                        format!("{height}×{width}"),
                        "both ≥ 1",
                    ));
                }
                for (l, spec) in hidden.iter().enumerate() {
                    if spec.channels == 0 {
                        return Err(FlowError::out_of_range(
                            format!("{field}.hidden[{l}].channels"),
                            spec.channels,
                            "≥ 1",
                        ));
                    }
                    if spec.kernel % 2 == 0 {
                        return Err(FlowError::out_of_range(
                            format!("{field}.hidden[{l}].kernel"),
                            spec.kernel,
                            "an odd size ≥ 1",
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

/// A built conditioner: its layers' parameter handles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conditioner {
    /// Plain MLP.
    Mlp {
        /// Layers in order.
        layers: Vec<Linear>,
        /// Nonlinearity between layers.
        activation: Activation,
    },
    /// Residual MLP.
    ResNet {
        /// in → width.
        input: Linear,
        /// Residual blocks (two layers each).
        blocks: Vec<(Linear, Linear)>,
        /// width → out.
        output: Linear,
        /// Nonlinearity.
        activation: Activation,
    },
    /// Periodic CNN.
    Cnn(Cnn),
}

fn linear<F: Float, R: Rng + ?Sized>(
    store: &mut ParamStore<F>,
    name: &str,
    (n_in, n_out): (usize, usize),
    (scheme, last, zero_last): (InitScheme, bool, bool),
    rng: &mut R,
) -> Result<Linear, FlowError> {
    let (w_init, b_init) = match scheme {
        InitScheme::Torch => {
            let t = Init::TorchLinear { fan_in: n_in };
            (t, if last { Init::Zeros } else { t })
        }
        InitScheme::Xavier => (Init::XavierNormal { gain: 1.0 }, Init::Zeros),
    };
    let w_init = if last && zero_last {
        Init::Zeros
    } else {
        w_init
    };
    let weight = store.add(&format!("{name}.weight"), (n_in, n_out), w_init, rng)?;
    let bias = store.add(&format!("{name}.bias"), (1, n_out), b_init, rng)?;
    Ok(Linear { weight, bias })
}

impl Conditioner {
    /// Registers the parameters under `name` for an `n_in → n_out` network (a CNN reads the
    /// whole input as an image and writes one parameter per output value).
    pub fn build<F: Float, R: Rng + ?Sized>(
        config: &ConditionerConfig,
        store: &mut ParamStore<F>,
        name: &str,
        (n_in, n_out): (usize, usize),
        rng: &mut R,
    ) -> Result<Self, FlowError> {
        Self::build_split(config, store, name, (n_in, 0), (n_out, 1), rng)
    }

    /// Registers a coupling conditioner under `name`: input `[x_other (n_other), ctx (n_ctx)]`,
    /// output `p` parameters for each of `n_transformed` values (an MLP sees
    /// `n_other + n_ctx → n_transformed·p`; a CNN needs the split to make ctx constant channels
    /// and to group its output channels per value).
    pub fn build_split<F: Float, R: Rng + ?Sized>(
        config: &ConditionerConfig,
        store: &mut ParamStore<F>,
        name: &str,
        (n_other, n_ctx): (usize, usize),
        (n_transformed, p): (usize, usize),
        rng: &mut R,
    ) -> Result<Self, FlowError> {
        let (n_in, n_out) = (n_other + n_ctx, n_transformed * p);
        match config {
            ConditionerConfig::Cnn {
                height,
                width,
                hidden,
                activation,
                init,
                zero_last,
            } => {
                let pix = height * width;
                if n_other % pix != 0 || n_transformed % pix != 0 {
                    return Err(FlowError::out_of_range(
                        format!("{name} (cnn conditioner) height×width"),
                        format!("{height}×{width}"),
                        "a divisor of both coupling halves (whole channels on the image)",
                    ));
                }
                let shape = CnnShape {
                    height: *height,
                    width: *width,
                    in_channels: n_other / pix,
                    ctx: n_ctx,
                    groups: n_transformed / pix,
                    per_value: p,
                };
                let spec = (*activation, *init, *zero_last);
                Ok(Conditioner::Cnn(Cnn::build(
                    store, name, shape, hidden, spec, rng,
                )?))
            }
            ConditionerConfig::Mlp {
                hidden,
                activation,
                init,
                zero_last,
            } => {
                let mut widths = vec![n_in];
                widths.extend_from_slice(hidden);
                widths.push(n_out);
                let n = widths.len() - 1;
                let layers = (0..n)
                    .map(|k| {
                        let spec = (*init, k + 1 == n, *zero_last);
                        let shape = (widths[k], widths[k + 1]);
                        linear(store, &format!("{name}.{k}"), shape, spec, rng)
                    })
                    .collect::<Result<_, _>>()?;
                Ok(Conditioner::Mlp {
                    layers,
                    activation: *activation,
                })
            }
            ConditionerConfig::ResNet {
                width,
                blocks,
                activation,
                init,
                zero_last,
            } => {
                let hidden = (*init, false, false);
                let input = linear(store, &format!("{name}.in"), (n_in, *width), hidden, rng)?;
                let blocks = (0..*blocks)
                    .map(|b| {
                        let shape = (*width, *width);
                        let l1 = linear(store, &format!("{name}.res{b}.0"), shape, hidden, rng)?;
                        let l2 = linear(store, &format!("{name}.res{b}.1"), shape, hidden, rng)?;
                        Ok((l1, l2))
                    })
                    .collect::<Result<_, FlowError>>()?;
                let last = (*init, true, *zero_last);
                let output = linear(store, &format!("{name}.out"), (*width, n_out), last, rng)?;
                Ok(Conditioner::ResNet {
                    input,
                    blocks,
                    output,
                    activation: *activation,
                })
            }
        }
    }

    /// Records the network on a batch (n, in) → (n, out).
    pub fn forward<F: Float>(&self, tape: &mut Tape<F>, store: &ParamStore<F>, x: Var) -> Var {
        match self {
            Conditioner::Mlp { layers, activation } => {
                let mut h = x;
                for (k, layer) in layers.iter().enumerate() {
                    h = layer.forward(tape, store, h);
                    if k + 1 < layers.len() {
                        h = activation.apply(tape, h);
                    }
                }
                h
            }
            Conditioner::ResNet {
                input,
                blocks,
                output,
                activation,
            } => {
                let mut h = input.forward(tape, store, x);
                for (l1, l2) in blocks {
                    let a = l1.forward(tape, store, h);
                    let a = activation.apply(tape, a);
                    let r = l2.forward(tape, store, a);
                    h = tape.add(h, r);
                }
                let h = activation.apply(tape, h);
                output.forward(tape, store, h)
            }
            Conditioner::Cnn(cnn) => cnn.forward(tape, store, x),
        }
    }
}
