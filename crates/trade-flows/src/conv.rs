//! CNN conditioner (`flows.md` §1, §7): periodic-boundary 2-D convolutions on the tape, built from
//! existing ops (im2col = one column gather + reshape, then a matmul), so gradients, c-tangents
//! and mixed second derivatives come from the ops' own rules.
//!
//! Layouts. A batch row holds an image of C channels on an H×W torus:
//!
//! * **channel-major** `[c][i][j]` (column `c·HW + i·W + j`): the coupling's input and output;
//! * **pixel-major** `[i][j][c]`, reshaped to (n·HW, C) rows: the hidden activations, so a 1×1
//!   convolution is a plain matmul.
//!
//! The conditioner input is `[x_other (C_in channels, channel-major), ctx (k values)]`; each ctx
//! value enters as one extra **constant channel** (the κ embedding e(κ) in φ⁴). A k×k layer is
//! cross-correlation with periodic wrap (offsets −⌊k/2⌋..⌊k/2⌋, like PyTorch with circular
//! padding), so the spatial size is kept. The output has `G·p` channels for G transformed
//! channels with p parameters each; it is returned as (n, G·HW·p) with the p parameters of value
//! (g, i, j) contiguous, the layout the coupling transforms expect.

use crate::FlowError;
use crate::conditioner::InitScheme;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use trade_ad::{Activation, Float, Init, ParamId, ParamStore, Tape, Var};

/// One hidden convolution of a CNN conditioner, as data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConvSpec {
    /// Output channels.
    pub channels: usize,
    /// Odd kernel size k (k×k, periodic padding keeps H×W).
    pub kernel: usize,
}

/// The image geometry and parameter grouping a CNN conditioner is built for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CnnShape {
    /// Image height H.
    pub height: usize,
    /// Image width W.
    pub width: usize,
    /// Channels of the image part of the input (C_in).
    pub in_channels: usize,
    /// Constant context channels appended (the width of the context vector).
    pub ctx: usize,
    /// Transformed channels G of the output.
    pub groups: usize,
    /// Parameters per transformed value p (so the last layer has G·p channels).
    pub per_value: usize,
}

/// One built convolution: weight (k²·C_in, C_out) with rows ordered `[c][tap]`, bias (1, C_out),
/// and its im2col gather (None: a 1×1 layer on pixel-major rows, a plain matmul).
#[derive(Debug, Clone, PartialEq, Eq)]
struct ConvLayer {
    weight: ParamId,
    bias: ParamId,
    im2col: Option<Arc<Vec<usize>>>,
    in_width: usize,
}

/// A built CNN conditioner: (n, C_in·HW + ctx) → (n, G·HW·p).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cnn {
    shape: CnnShape,
    layers: Vec<ConvLayer>,
    activation: Activation,
    /// Gather from pixel-major `[pos][g·p + q]` to `[g][pos][q]`.
    output: Arc<Vec<usize>>,
}

/// Periodic neighbour of `pos` at tap `(a, b)` of a k×k kernel on an H×W torus.
fn neighbour((h, w): (usize, usize), pos: usize, (a, b): (usize, usize), k: usize) -> usize {
    let (i, j) = (pos / w, pos % w);
    let r = k / 2;
    let ii = (i + a + h * (r / h + 1) - r) % h;
    let jj = (j + b + w * (r / w + 1) - r) % w;
    ii * w + jj
}

/// im2col gather indices, ordered `[pos][c][tap]`, for a k×k layer whose input channel c at
/// site q sits in column `src(c, q)`.
fn im2col(
    (h, w): (usize, usize),
    channels: usize,
    k: usize,
    src: impl Fn(usize, usize) -> usize,
) -> Vec<usize> {
    let mut idx = Vec::with_capacity(h * w * channels * k * k);
    for pos in 0..h * w {
        for c in 0..channels {
            for a in 0..k {
                for b in 0..k {
                    idx.push(src(c, neighbour((h, w), pos, (a, b), k)));
                }
            }
        }
    }
    idx
}

impl Cnn {
    /// Registers `{name}.{l}.weight` / `.bias` for the `hidden` layers and a final 1×1 layer
    /// with G·p channels. `init`: Xavier-normal with PyTorch's conv fans (σ = √(2/((C_in +
    /// C_out)k²))) and zero biases, or PyTorch's default U(±1/√(C_in k²)); `zero_last` zeroes the
    /// last weight and bias (identity start).
    pub fn build<F: Float, R: rand::Rng + ?Sized>(
        store: &mut ParamStore<F>,
        name: &str,
        shape: CnnShape,
        hidden: &[ConvSpec],
        (activation, init, zero_last): (Activation, InitScheme, bool),
        rng: &mut R,
    ) -> Result<Self, FlowError> {
        let hw = (shape.height, shape.width);
        let n_pix = shape.height * shape.width;
        let mut specs = hidden.to_vec();
        specs.push(ConvSpec {
            channels: shape.groups * shape.per_value,
            kernel: 1,
        });
        let mut layers = Vec::with_capacity(specs.len());
        let mut c_in = shape.in_channels + shape.ctx;
        for (l, spec) in specs.iter().enumerate() {
            let k = spec.kernel;
            if k % 2 == 0 {
                return Err(FlowError::out_of_range(
                    format!("{name} conv layer {l} kernel"),
                    k,
                    "an odd size ≥ 1",
                ));
            }
            let im2col = if l == 0 {
                let (ci, x_cols) = (shape.in_channels, shape.in_channels * n_pix);
                let src = |c: usize, q: usize| {
                    if c < ci {
                        c * n_pix + q
                    } else {
                        x_cols + c - ci
                    }
                };
                Some(Arc::new(im2col(hw, c_in, k, src)))
            } else if k > 1 {
                let ch = c_in;
                Some(Arc::new(im2col(hw, ch, k, |c, q| q * ch + c)))
            } else {
                None
            };
            let last = l + 1 == specs.len();
            let fan_in = c_in * k * k;
            let (w_init, b_init) = match init {
                InitScheme::Xavier => {
                    let s = (2.0 / ((c_in + spec.channels) * k * k) as f64).sqrt();
                    (Init::Normal(s), Init::Zeros)
                }
                InitScheme::Torch => {
                    let t = Init::TorchLinear { fan_in };
                    (t, t)
                }
            };
            let (w_init, b_init) = if last && zero_last {
                (Init::Zeros, Init::Zeros)
            } else {
                (w_init, b_init)
            };
            let weight = store.add(
                &format!("{name}.{l}.weight"),
                (fan_in, spec.channels),
                w_init,
                rng,
            )?;
            let bias = store.add(&format!("{name}.{l}.bias"), (1, spec.channels), b_init, rng)?;
            layers.push(ConvLayer {
                weight,
                bias,
                im2col,
                in_width: fan_in,
            });
            c_in = spec.channels;
        }
        let (g, p) = (shape.groups, shape.per_value);
        let mut output = Vec::with_capacity(g * n_pix * p);
        for gi in 0..g {
            for pos in 0..n_pix {
                for q in 0..p {
                    output.push(pos * g * p + gi * p + q);
                }
            }
        }
        Ok(Self {
            shape,
            layers,
            activation,
            output: Arc::new(output),
        })
    }

    /// The geometry it was built for.
    pub fn shape(&self) -> CnnShape {
        self.shape
    }

    /// Records the network on a batch (n, C_in·HW + ctx) → (n, G·HW·p).
    pub fn forward<F: Float>(&self, tape: &mut Tape<F>, store: &ParamStore<F>, x: Var) -> Var {
        let s = self.shape;
        let n_pix = s.height * s.width;
        let (n, cols) = tape.shape(x);
        assert_eq!(
            cols,
            s.in_channels * n_pix + s.ctx,
            "cnn conditioner: input width for {} channels on {}×{} plus {} context",
            s.in_channels,
            s.height,
            s.width,
            s.ctx
        );
        let mut h = x;
        for (l, layer) in self.layers.iter().enumerate() {
            let cols = match &layer.im2col {
                Some(idx) => {
                    let g = tape.gather_cols_shared(h, idx.clone());
                    tape.reshape(g, (n * n_pix, layer.in_width))
                }
                None => h,
            };
            let w = tape.param(store, layer.weight);
            let b = tape.param(store, layer.bias);
            let y = tape.matmul(cols, w);
            let y = tape.add(y, b);
            if l + 1 < self.layers.len() {
                let y = self.activation.apply(tape, y);
                // Pixel-major rows (n·HW, C) ↔ (n, HW·C) for the next gather.
                let next_gathers = self.layers[l + 1].im2col.is_some();
                h = if next_gathers {
                    let c = tape.shape(y).1;
                    tape.reshape(y, (n, n_pix * c))
                } else {
                    y
                };
            } else {
                h = y;
            }
        }
        let c_out = tape.shape(h).1;
        let flat = tape.reshape(h, (n, n_pix * c_out));
        tape.gather_cols_shared(flat, self.output.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neighbours_wrap_periodically() {
        // 4×4 torus, 3×3 kernel: tap (0, 0) of site (0, 0) is (3, 3); tap (2, 2) of (3, 3) is (0, 0).
        assert_eq!(neighbour((4, 4), 0, (0, 0), 3), 15);
        assert_eq!(neighbour((4, 4), 15, (2, 2), 3), 0);
        assert_eq!(neighbour((4, 4), 5, (1, 1), 3), 5);
        // A kernel wider than the torus still wraps (2×2 torus, 5×5 kernel).
        assert_eq!(neighbour((2, 2), 0, (0, 0), 5), 0);
        assert_eq!(neighbour((2, 2), 0, (0, 1), 5), 1);
    }

    #[test]
    fn convolution_matches_a_direct_loop() {
        use ndarray::Array2;
        use rand::SeedableRng;
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(3);
        let mut store = ParamStore::new();
        let shape = CnnShape {
            height: 3,
            width: 4,
            in_channels: 2,
            ctx: 1,
            groups: 1,
            per_value: 2,
        };
        let spec = (Activation::Identity, InitScheme::Torch, false);
        let cnn = Cnn::build(&mut store, "c", shape, &[], spec, &mut rng).unwrap();
        // Only the final 1×1 layer: out[g=0][pos][q] = Σ_c in[c][pos]·W[c, q] + ctx·W[2, q] + b[q].
        let x = Array2::from_shape_fn((2, 25), |(r, j)| (r * 25 + j) as f64 * 0.1 - 1.0);
        let mut tape: Tape = Tape::new();
        let xv = tape.constant(x.clone());
        let y = cnn.forward(&mut tape, &store, xv);
        let w = store.get(cnn.layers[0].weight);
        let b = store.get(cnn.layers[0].bias);
        for r in 0..2 {
            for pos in 0..12 {
                for q in 0..2 {
                    let expect = x[[r, pos]] * w[[0, q]]
                        + x[[r, 12 + pos]] * w[[1, q]]
                        + x[[r, 24]] * w[[2, q]]
                        + b[[0, q]];
                    let got = tape.value(y)[[r, pos * 2 + q]];
                    assert!((got - expect).abs() < 1e-12, "{r} {pos} {q}");
                }
            }
        }
    }

    #[test]
    fn three_by_three_matches_a_direct_periodic_loop() {
        use ndarray::Array2;
        use rand::SeedableRng;
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(4);
        let mut store = ParamStore::new();
        let (h, w) = (3, 4);
        let shape = CnnShape {
            height: h,
            width: w,
            in_channels: 1,
            ctx: 0,
            groups: 1,
            per_value: 1,
        };
        let hidden = [ConvSpec {
            channels: 1,
            kernel: 3,
        }];
        let spec = (Activation::Identity, InitScheme::Torch, false);
        let cnn = Cnn::build(&mut store, "c", shape, &hidden, spec, &mut rng).unwrap();
        // Make the last layer the identity so the output is the 3×3 convolution itself.
        *store.get_mut(cnn.layers[1].weight) = Array2::ones((1, 1));
        *store.get_mut(cnn.layers[1].bias) = Array2::zeros((1, 1));
        let x = Array2::from_shape_fn((1, 12), |(_, j)| ((j * 7) % 5) as f64 - 2.0);
        let mut tape: Tape = Tape::new();
        let xv = tape.constant(x.clone());
        let y = cnn.forward(&mut tape, &store, xv);
        let k = store.get(cnn.layers[0].weight);
        let b = store.get(cnn.layers[0].bias)[[0, 0]];
        for i in 0..h {
            for j in 0..w {
                let mut s = b;
                for a in 0..3 {
                    for c in 0..3 {
                        let ii = (i + h + a - 1) % h;
                        let jj = (j + w + c - 1) % w;
                        s += k[[a * 3 + c, 0]] * x[[0, ii * w + jj]];
                    }
                }
                let got = tape.value(y)[[0, i * w + j]];
                assert!((got - s).abs() < 1e-12, "({i}, {j}): {got} vs {s}");
            }
        }
    }
}
