//! Final conditional affine layer (`flows.md` §3): z = exp(s) ⊙ x + t on the whole vector with
//! (a_s, t) = MLP([c, y]) of the raw condition and s = 2.0 · 0.636 · atan(a_s), so |s| < 2.

use crate::FlowError;
use crate::bijector::{Bijector, Context};
use crate::conditioner::{Conditioner, ConditionerConfig};
use ndarray::Axis;
use rand::Rng;
use trade_ad::{Float, ParamStore, Tape, Var};

/// The soft clamp factor 2.0 · 0.636 of the spec (0.636 ≈ 2/π, kept as written).
const ATAN_CLAMP: f64 = 2.0 * 0.636;

/// Conditional elementwise affine map driven by the raw context.
#[derive(Debug)]
pub struct ConditionalAffine {
    dim: usize,
    net: Conditioner,
}

impl ConditionalAffine {
    /// Registers `{name}.net`: raw context width `raw_dim` → 2d.
    pub fn new<F: Float, R: Rng + ?Sized>(
        store: &mut ParamStore<F>,
        name: &str,
        (dim, raw_dim): (usize, usize),
        conditioner: &ConditionerConfig,
        rng: &mut R,
    ) -> Result<Self, FlowError> {
        if raw_dim == 0 {
            return Err(FlowError::out_of_range(
                format!("{name} (conditional_affine) context width"),
                raw_dim,
                "≥ 1: the flow needs a condition",
            ));
        }
        let net = Conditioner::build(
            conditioner,
            store,
            &format!("{name}.net"),
            (raw_dim, 2 * dim),
            rng,
        )?;
        Ok(Self { dim, net })
    }

    fn scale_shift<F: Float>(
        &self,
        tape: &mut Tape<F>,
        store: &ParamStore<F>,
        ctx: &Context,
    ) -> (Var, Var) {
        let raw = ctx
            .raw
            .expect("conditional affine: called without a raw context");
        let out = self.net.forward(tape, store, raw);
        let a = tape.slice_cols(out, 0, self.dim);
        let t = tape.slice_cols(out, self.dim, 2 * self.dim);
        let at = tape.atan(a);
        (tape.scale(at, ATAN_CLAMP), t)
    }
}

impl<F: Float> Bijector<F> for ConditionalAffine {
    fn dim(&self) -> usize {
        self.dim
    }

    fn forward(
        &self,
        tape: &mut Tape<F>,
        store: &ParamStore<F>,
        x: Var,
        ctx: &Context,
    ) -> (Var, Var) {
        let (s, t) = self.scale_shift(tape, store, ctx);
        let e = tape.exp(s);
        let ex = tape.mul(e, x);
        let z = tape.add(ex, t);
        (z, tape.sum(s, Some(Axis(1))))
    }

    fn inverse(
        &self,
        tape: &mut Tape<F>,
        store: &ParamStore<F>,
        z: Var,
        ctx: &Context,
    ) -> (Var, Var) {
        let (s, t) = self.scale_shift(tape, store, ctx);
        let d = tape.sub(z, t);
        let ns = tape.neg(s);
        let e = tape.exp(ns);
        let x = tape.mul(d, e);
        (x, tape.sum(ns, Some(Axis(1))))
    }

    fn constant_log_det(&self) -> bool {
        true
    }
}
