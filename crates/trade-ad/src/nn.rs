//! Small building blocks recorded on the tape: affine layers and multilayer perceptrons.

use crate::{AdError, Float, Init, ParamId, ParamStore, Tape, Var};
use rand::Rng;
use serde::{Deserialize, Serialize};

/// Elementwise nonlinearity between hidden layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// x·σ(x) (the reference code's choice for every conditioner).
    #[default]
    Silu,
    /// max(x, 0)
    Relu,
    /// tanh x
    Tanh,
    /// x
    Identity,
}

impl Activation {
    /// Records the activation.
    pub fn apply<F: Float>(self, tape: &mut Tape<F>, x: Var) -> Var {
        match self {
            Activation::Silu => tape.silu(x),
            Activation::Relu => tape.relu(x),
            Activation::Tanh => tape.tanh(x),
            Activation::Identity => x,
        }
    }
}

/// How the last layer of an [`Mlp`] starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum LastLayer {
    /// Same init as the hidden layers.
    #[default]
    Default,
    /// Weight and bias zero: the network outputs 0, so a coupling starts as the identity.
    Zero,
}

/// y = x·W + b with W of shape (in, out) and b of shape (1, out).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Linear {
    /// Weight handle, (in, out).
    pub weight: ParamId,
    /// Bias handle, (1, out).
    pub bias: ParamId,
}

impl Linear {
    /// Registers `{name}.weight` and `{name}.bias` with PyTorch's default init
    /// (U(±1/√in) for both), or zeros.
    pub fn new<F: Float, R: Rng + ?Sized>(
        store: &mut ParamStore<F>,
        name: &str,
        (n_in, n_out): (usize, usize),
        zero: bool,
        rng: &mut R,
    ) -> Result<Self, AdError> {
        let init = if zero {
            Init::Zeros
        } else {
            Init::TorchLinear { fan_in: n_in }
        };
        let weight = store.add(&format!("{name}.weight"), (n_in, n_out), init, rng)?;
        let bias = store.add(&format!("{name}.bias"), (1, n_out), init, rng)?;
        Ok(Self { weight, bias })
    }

    /// Records x·W + b for a batch x of shape (n, in).
    pub fn forward<F: Float>(&self, tape: &mut Tape<F>, store: &ParamStore<F>, x: Var) -> Var {
        let w = tape.param(store, self.weight);
        let b = tape.param(store, self.bias);
        let xw = tape.matmul(x, w);
        tape.add(xw, b)
    }
}

/// A multilayer perceptron `in → hidden… → out` with one activation between layers.
///
/// ```
/// use trade_ad::{Activation, LastLayer, Mlp, ParamStore, Tape};
/// use ndarray::Array2;
/// use rand::SeedableRng;
///
/// let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(0);
/// let mut store: ParamStore = ParamStore::new();
/// let mlp = Mlp::new(&mut store, "net", &[3, 16, 2], Activation::Silu, LastLayer::Zero, &mut rng).unwrap();
/// let mut tape: Tape = Tape::new();
/// let x = tape.constant(Array2::ones((5, 3)));
/// let y = mlp.forward(&mut tape, &store, x);
/// assert_eq!(tape.shape(y), (5, 2));
/// assert!(tape.value(y).iter().all(|&v| v == 0.0)); // zero last layer → zero output
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mlp {
    layers: Vec<Linear>,
    activation: Activation,
}

impl Mlp {
    /// Registers the layers `{name}.{k}` for widths `[in, h1, …, out]` (at least two entries).
    pub fn new<F: Float, R: Rng + ?Sized>(
        store: &mut ParamStore<F>,
        name: &str,
        widths: &[usize],
        activation: Activation,
        last: LastLayer,
        rng: &mut R,
    ) -> Result<Self, AdError> {
        if widths.len() < 2 || widths.contains(&0) {
            return Err(AdError::OutOfRange {
                field: "mlp widths",
                value: format!("{widths:?}"),
                allowed: "at least [in, out], every width ≥ 1",
            });
        }
        let n = widths.len() - 1;
        let layers = (0..n)
            .map(|k| {
                let zero = k == n - 1 && last == LastLayer::Zero;
                Linear::new(
                    store,
                    &format!("{name}.{k}"),
                    (widths[k], widths[k + 1]),
                    zero,
                    rng,
                )
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { layers, activation })
    }

    /// The layers in order.
    pub fn layers(&self) -> &[Linear] {
        &self.layers
    }

    /// Records the network on a batch (n, in) → (n, out).
    pub fn forward<F: Float>(&self, tape: &mut Tape<F>, store: &ParamStore<F>, x: Var) -> Var {
        let mut h = x;
        for (k, layer) in self.layers.iter().enumerate() {
            h = layer.forward(tape, store, h);
            if k + 1 < self.layers.len() {
                h = self.activation.apply(tape, h);
            }
        }
        h
    }
}
