//! Conditional global scaling (`flows.md` §3, the first φ⁴ layer): x' = x·exp(w) + b with one
//! scalar w = 5·tanh(MLP_w(e)) and one scalar b = MLP_b(e) per sample for the whole field, driven
//! by the coupling context e (the κ embedding); log|det| = d·w.

use crate::FlowError;
use crate::bijector::{Bijector, Context};
use crate::conditioner::{Conditioner, ConditionerConfig};
use rand::Rng;
use trade_ad::{Float, ParamStore, Tape, Var};

/// The bound of the log-scale: w = `SCALE_BOUND`·tanh(raw).
const SCALE_BOUND: f64 = 5.0;

/// Global affine map of the whole vector, conditioned on the coupling context.
#[derive(Debug)]
pub struct GlobalScaling {
    dim: usize,
    net_w: Conditioner,
    net_b: Conditioner,
}

impl GlobalScaling {
    /// Registers `{name}.w` and `{name}.b`, each a `ctx_dim → 1` network (φ⁴: 1→64→64→64→1,
    /// SiLU, Xavier, last layer zero, so the layer starts as the identity).
    pub fn new<F: Float, R: Rng + ?Sized>(
        store: &mut ParamStore<F>,
        name: &str,
        (dim, ctx_dim): (usize, usize),
        conditioner: &ConditionerConfig,
        rng: &mut R,
    ) -> Result<Self, FlowError> {
        if ctx_dim == 0 {
            return Err(FlowError::out_of_range(
                format!("{name} (global_scaling) context width"),
                ctx_dim,
                "≥ 1: the layer is driven by the condition (condition.input)",
            ));
        }
        let net_w =
            Conditioner::build(conditioner, store, &format!("{name}.w"), (ctx_dim, 1), rng)?;
        let net_b =
            Conditioner::build(conditioner, store, &format!("{name}.b"), (ctx_dim, 1), rng)?;
        Ok(Self { dim, net_w, net_b })
    }

    /// (w, b), both (n, 1).
    fn scale_shift<F: Float>(
        &self,
        tape: &mut Tape<F>,
        store: &ParamStore<F>,
        ctx: &Context,
    ) -> (Var, Var) {
        let e = ctx
            .coupling
            .expect("global scaling: called without a coupling context");
        let raw = self.net_w.forward(tape, store, e);
        let t = tape.tanh(raw);
        let w = tape.scale(t, SCALE_BOUND);
        (w, self.net_b.forward(tape, store, e))
    }
}

impl<F: Float> Bijector<F> for GlobalScaling {
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
        let (w, b) = self.scale_shift(tape, store, ctx);
        let e = tape.exp(w);
        let ex = tape.mul(x, e);
        let y = tape.add(ex, b);
        (y, tape.scale(w, self.dim as f64))
    }

    fn inverse(
        &self,
        tape: &mut Tape<F>,
        store: &ParamStore<F>,
        z: Var,
        ctx: &Context,
    ) -> (Var, Var) {
        let (w, b) = self.scale_shift(tape, store, ctx);
        let d = tape.sub(z, b);
        let nw = tape.neg(w);
        let e = tape.exp(nw);
        let x = tape.mul(d, e);
        (x, tape.scale(nw, self.dim as f64))
    }

    fn constant_log_det(&self) -> bool {
        true
    }
}
