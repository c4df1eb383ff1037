//! ActNorm (`flows.md` §3): y = exp(a) ⊙ x + b per dimension, log|det| = Σ a, with a
//! data-dependent initialisation (zero mean, unit variance on the first batch it sees).

use crate::FlowError;
use crate::bijector::{Bijector, Context};
use ndarray::{Array2, ArrayView2, Axis};
use trade_ad::{ParamId, ParamStore, Tape, Var};

/// Per-dimension affine normalisation with learnable log-scale `a` and shift `b`, both (1, d).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActNorm {
    dim: usize,
    log_scale: ParamId,
    shift: ParamId,
}

impl ActNorm {
    /// Registers `{name}.log_scale` and `{name}.shift`, both zero (the identity).
    pub fn new(store: &mut ParamStore, name: &str, dim: usize) -> Result<Self, FlowError> {
        let log_scale = store.add_value(&format!("{name}.log_scale"), Array2::zeros((1, dim)))?;
        let shift = store.add_value(&format!("{name}.shift"), Array2::zeros((1, dim)))?;
        Ok(Self {
            dim,
            log_scale,
            shift,
        })
    }

    fn log_det(&self, tape: &mut Tape, store: &ParamStore, x: Var, sign: f64) -> Var {
        let a = tape.param(store, self.log_scale);
        let s = tape.sum(a, None);
        let s = if sign < 0.0 { tape.neg(s) } else { s };
        let n = tape.shape(x).0;
        tape.broadcast(s, (n, 1))
    }
}

impl Bijector for ActNorm {
    fn dim(&self) -> usize {
        self.dim
    }

    fn forward(&self, tape: &mut Tape, store: &ParamStore, x: Var, _: &Context) -> (Var, Var) {
        let a = tape.param(store, self.log_scale);
        let b = tape.param(store, self.shift);
        let e = tape.exp(a);
        let ex = tape.mul(x, e);
        let y = tape.add(ex, b);
        (y, self.log_det(tape, store, x, 1.0))
    }

    fn inverse(&self, tape: &mut Tape, store: &ParamStore, z: Var, _: &Context) -> (Var, Var) {
        let a = tape.param(store, self.log_scale);
        let b = tape.param(store, self.shift);
        let d = tape.sub(z, b);
        let na = tape.neg(a);
        let e = tape.exp(na);
        let x = tape.mul(d, e);
        (x, self.log_det(tape, store, z, -1.0))
    }

    fn ignores_context(&self) -> bool {
        true
    }

    fn constant_log_det(&self) -> bool {
        true
    }

    /// a = −ln std(x), b = −mean(x)·exp(a) per dimension (population std, floor 1e-6).
    fn data_init(&self, store: &mut ParamStore, x: ArrayView2<'_, f64>) {
        let mean = x.mean_axis(Axis(0)).expect("non-empty batch");
        let std = x.std_axis(Axis(0), 0.0).mapv(|s| s.max(1e-6));
        let a = std.mapv(|s| -s.ln());
        let b = -&mean * &a.mapv(f64::exp);
        *store.get_mut(self.log_scale) = a.insert_axis(Axis(0));
        *store.get_mut(self.shift) = b.insert_axis(Axis(0));
    }
}
