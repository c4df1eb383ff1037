//! The clamp to [0, 1] after the last layer of the alanine-dipeptide spline flow (`flows.md`
//! §9), in data → latent order its first layer. The density direction (forward) is the
//! identity; sampling (inverse) clamps every coordinate to [0, 1], log|det| = 0. On [0, 1]^d,
//! where the flow's samples lie up to rounding (the unit splines map [0, 1] onto itself and the
//! IC prior lives on [0, 1]^d), both directions are the identity, so this only removes
//! rounding excursions before the IC transform sees the sample.

use crate::bijector::{Bijector, Context, zero_log_det};
use trade_ad::{Float, ParamStore, Tape, Var};

/// Identity forward, clamp to [0, 1] inverse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnitClamp {
    dim: usize,
}

impl UnitClamp {
    /// On R^dim.
    pub fn new(dim: usize) -> Self {
        Self { dim }
    }
}

impl<F: Float> Bijector<F> for UnitClamp {
    fn dim(&self) -> usize {
        self.dim
    }

    fn forward(&self, tape: &mut Tape<F>, _: &ParamStore<F>, x: Var, _: &Context) -> (Var, Var) {
        (x, zero_log_det(tape, x))
    }

    fn inverse(&self, tape: &mut Tape<F>, _: &ParamStore<F>, z: Var, _: &Context) -> (Var, Var) {
        let x = tape.clamp(z, 0.0, 1.0);
        (x, zero_log_det(tape, z))
    }

    fn ignores_context(&self) -> bool {
        true
    }

    fn constant_log_det(&self) -> bool {
        true
    }
}
