//! Two-sided coupling (`flows.md` §2.1): x1' = T(x1; NN1([x2, cond])), then
//! x2' = T(x2; NN2([x1', cond])); the element transform T is a [`CouplingTransform`].

use crate::FlowError;
use crate::bijector::{Bijector, Context};
use crate::conditioner::{Conditioner, ConditionerConfig};
use rand::Rng;
use std::fmt;
use trade_ad::{Float, ParamStore, Tape, Var};

/// The element-wise transform of one half, parameterised per sample by conditioner outputs,
/// on a tape of element type `F` (f64 by default).
pub trait CouplingTransform<F: Float = f64>: Send + Sync + fmt::Debug {
    /// Conditioner outputs per transformed dimension (affine: 2; RQ spline: 3K + 1).
    fn params_per_dim(&self) -> usize;
    /// y = T(x; params) and Σ log|∂y/∂x| per row; `params` is (n, D·params_per_dim), x (n, D).
    fn forward(&self, tape: &mut Tape<F>, store: &ParamStore<F>, params: Var, x: Var)
    -> (Var, Var);
    /// x = T⁻¹(y; params) and Σ log|∂x/∂y| per row.
    fn inverse(&self, tape: &mut Tape<F>, store: &ParamStore<F>, params: Var, y: Var)
    -> (Var, Var);
    /// True if the log-det does not depend on x (GIN).
    fn constant_log_det(&self) -> bool {
        false
    }
}

/// `len1 = round_half_even(d/2)`: 5 → 2|3, 3 → 2|1, 7 → 4|3, 2 → 1|1, 64 → 32|32.
pub fn split_len(dim: usize) -> usize {
    let k = dim / 2;
    if dim % 2 == 0 || k % 2 == 0 { k } else { k + 1 }
}

/// A two-sided coupling block with element transform `T`.
#[derive(Debug)]
pub struct Coupling<T> {
    dim: usize,
    len1: usize,
    nn1: Conditioner,
    nn2: Conditioner,
    transform: T,
    conditional: bool,
}

impl<T> Coupling<T> {
    /// Registers the two conditioners `{name}.nn1`, `{name}.nn2`; `ctx_dim` is the width of
    /// [`Context::coupling`] (0: unconditional).
    pub fn new<F: Float, R: Rng + ?Sized>(
        transform: T,
        store: &mut ParamStore<F>,
        name: &str,
        (dim, ctx_dim): (usize, usize),
        conditioner: &ConditionerConfig,
        rng: &mut R,
    ) -> Result<Self, FlowError>
    where
        T: CouplingTransform<F>,
    {
        if dim < 2 {
            return Err(FlowError::out_of_range("dim", dim, "≥ 2 for a coupling"));
        }
        let len1 = split_len(dim);
        let len2 = dim - len1;
        let p = transform.params_per_dim();
        let nn1 = Conditioner::build_split(
            conditioner,
            store,
            &format!("{name}.nn1"),
            (len2, ctx_dim),
            (len1, p),
            rng,
        )?;
        let nn2 = Conditioner::build_split(
            conditioner,
            store,
            &format!("{name}.nn2"),
            (len1, ctx_dim),
            (len2, p),
            rng,
        )?;
        Ok(Self {
            dim,
            len1,
            nn1,
            nn2,
            transform,
            conditional: ctx_dim > 0,
        })
    }

    /// The element transform.
    pub fn transform(&self) -> &T {
        &self.transform
    }

    fn params<F: Float>(
        &self,
        tape: &mut Tape<F>,
        store: &ParamStore<F>,
        nn: &Conditioner,
        other: Var,
        ctx: &Context,
    ) -> Var {
        let input = match (self.conditional, ctx.coupling) {
            (true, Some(c)) => tape.concat_cols(&[other, c]),
            (true, None) => panic!("coupling: built with a context, called without one"),
            (false, _) => other,
        };
        nn.forward(tape, store, input)
    }
}

impl<F: Float, T: CouplingTransform<F>> Bijector<F> for Coupling<T> {
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
        let x1 = tape.slice_cols(x, 0, self.len1);
        let x2 = tape.slice_cols(x, self.len1, self.dim);
        let p1 = self.params(tape, store, &self.nn1, x2, ctx);
        let (y1, ld1) = self.transform.forward(tape, store, p1, x1);
        let p2 = self.params(tape, store, &self.nn2, y1, ctx);
        let (y2, ld2) = self.transform.forward(tape, store, p2, x2);
        let y = tape.concat_cols(&[y1, y2]);
        (y, tape.add(ld1, ld2))
    }

    fn inverse(
        &self,
        tape: &mut Tape<F>,
        store: &ParamStore<F>,
        z: Var,
        ctx: &Context,
    ) -> (Var, Var) {
        let y1 = tape.slice_cols(z, 0, self.len1);
        let y2 = tape.slice_cols(z, self.len1, self.dim);
        let p2 = self.params(tape, store, &self.nn2, y1, ctx);
        let (x2, ld2) = self.transform.inverse(tape, store, p2, y2);
        let p1 = self.params(tape, store, &self.nn1, x2, ctx);
        let (x1, ld1) = self.transform.inverse(tape, store, p1, y1);
        let x = tape.concat_cols(&[x1, x2]);
        (x, tape.add(ld1, ld2))
    }

    fn ignores_context(&self) -> bool {
        !self.conditional
    }

    fn constant_log_det(&self) -> bool {
        self.transform.constant_log_det()
    }
}

#[cfg(test)]
mod tests {
    use super::split_len;

    #[test]
    fn split_follows_round_half_even() {
        for (d, len1) in [
            (2, 1),
            (3, 2),
            (5, 2),
            (7, 4),
            (48, 24),
            (64, 32),
            (108, 54),
        ] {
            assert_eq!(split_len(d), len1, "d = {d}");
        }
    }
}
