//! The `Bijector` trait (an invertible map with its log-determinant, recorded on the tape), the
//! per-batch `Context` a layer sees, and `Chain` (layers in sequence).
//!
//! Direction convention (`flows.md`): `forward` maps data x to latent z (the density
//! direction); `inverse` maps z back to x (sampling). Both return the log |det J| of the map
//! they apply, per sample, as an (n, 1) tape value.

use ndarray::{Array2, ArrayView2};
use std::fmt;
use trade_ad::{Float, ParamStore, Tape, Var};

/// What a layer may condition on, for one batch; both parts are (n, k) tape values carrying
/// the c-tangent.
#[derive(Debug, Clone, Copy, Default)]
pub struct Context {
    /// Features concatenated to coupling-conditioner inputs: `[log c (or e(log c), or the
    /// Flows-for-Flows context h), y]`; `None` for an unconditional flow.
    pub coupling: Option<Var>,
    /// Raw features for the final conditional affine: `[c, y]` (or h in transport mode).
    pub raw: Option<Var>,
}

/// An invertible, differentiable map R^d → R^d recorded on a [`Tape`].
///
/// Implementations read their parameters from the [`ParamStore`] they were built into and must
/// record every value with tape ops (or a custom op with a tangent rule), so that gradients,
/// c-tangents and mixed second derivatives flow through them. Rows never mix.
///
/// `F` is the tape's element type: f64 by default (TRADE runs in f64), f32 for the faster
/// first-order path. Layers hold only parameter handles and sizes, so every layer implements
/// the trait for both.
pub trait Bijector<F: Float = f64>: Send + Sync + fmt::Debug {
    /// Dimension d of the vectors it maps.
    fn dim(&self) -> usize;

    /// z = f(x; context) and `log |det ∂z/∂x|` per sample, shape (n, 1).
    fn forward(
        &self,
        tape: &mut Tape<F>,
        store: &ParamStore<F>,
        x: Var,
        ctx: &Context,
    ) -> (Var, Var);

    /// x = f⁻¹(z; context) and `log |det ∂x/∂z|` per sample, shape (n, 1).
    fn inverse(
        &self,
        tape: &mut Tape<F>,
        store: &ParamStore<F>,
        z: Var,
        ctx: &Context,
    ) -> (Var, Var);

    /// True if the map ignores the context (no c-input: temperature-steerable flows).
    fn ignores_context(&self) -> bool {
        false
    }

    /// True if `log |det J|` does not depend on x (volume-preserving up to a constant).
    fn constant_log_det(&self) -> bool {
        false
    }

    /// Data-dependent initialisation from a batch `x` arriving at this layer (ActNorm).
    /// Couples samples: never call it inside a TRADE step. Default: nothing to do.
    fn data_init(&self, store: &mut ParamStore<F>, x: ArrayView2<'_, F>) {
        let _ = (store, x);
    }
}

/// Layers applied in order: forward runs first to last, inverse last to first.
#[derive(Debug)]
pub struct Chain<F: Float = f64> {
    layers: Vec<Box<dyn Bijector<F>>>,
}

impl<F: Float> Default for Chain<F> {
    fn default() -> Self {
        Self { layers: Vec::new() }
    }
}

impl<F: Float> Chain<F> {
    /// A chain of layers (all of one dimension; checked).
    pub fn new(layers: Vec<Box<dyn Bijector<F>>>) -> Self {
        if let Some(first) = layers.first() {
            let d = first.dim();
            assert!(
                layers.iter().all(|l| l.dim() == d),
                "Chain: layers of different dimensions"
            );
        }
        Self { layers }
    }

    /// The layers in forward order.
    pub fn layers(&self) -> &[Box<dyn Bijector<F>>] {
        &self.layers
    }

    /// Number of layers.
    pub fn len(&self) -> usize {
        self.layers.len()
    }

    /// True if the chain has no layers (the identity).
    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }
}

/// A zero log-det column (n, 1).
pub(crate) fn zero_log_det<F: Float>(tape: &mut Tape<F>, x: Var) -> Var {
    let n = tape.shape(x).0;
    tape.constant(Array2::zeros((n, 1)))
}

impl<F: Float> Bijector<F> for Chain<F> {
    fn dim(&self) -> usize {
        self.layers.first().map_or(0, |l| l.dim())
    }

    fn forward(
        &self,
        tape: &mut Tape<F>,
        store: &ParamStore<F>,
        x: Var,
        ctx: &Context,
    ) -> (Var, Var) {
        let mut h = x;
        let mut log_det = zero_log_det(tape, x);
        for layer in &self.layers {
            let (y, ld) = layer.forward(tape, store, h, ctx);
            h = y;
            log_det = tape.add(log_det, ld);
        }
        (h, log_det)
    }

    fn inverse(
        &self,
        tape: &mut Tape<F>,
        store: &ParamStore<F>,
        z: Var,
        ctx: &Context,
    ) -> (Var, Var) {
        let mut h = z;
        let mut log_det = zero_log_det(tape, z);
        for layer in self.layers.iter().rev() {
            let (x, ld) = layer.inverse(tape, store, h, ctx);
            h = x;
            log_det = tape.add(log_det, ld);
        }
        (h, log_det)
    }

    fn ignores_context(&self) -> bool {
        self.layers.iter().all(|l| l.ignores_context())
    }

    fn constant_log_det(&self) -> bool {
        self.layers.iter().all(|l| l.constant_log_det())
    }
}
