//! A fixed random rotation of chosen circle coordinates (`flows.md` §9: "random fixed torsion
//! shifts between layers"): `y_j = (x_j + s_j) mod 1` on the chosen dims, the identity on the
//! others, log|det| = 0. A bijection of [0, 1) per chosen dim (of the circle R/Z); it moves
//! the point a circular spline keeps fixed (0 ≡ 1), so that stacked splines do not all pin
//! the same torsion value. The shifts s_j ~ U[0, 1) are drawn from the seeded build RNG and
//! stored as the frozen (1, d) parameter `{name}.shift` (0 on unshifted dims).

use crate::FlowError;
use crate::bijector::{Bijector, Context, zero_log_det};
use ndarray::Array2;
use rand::Rng;
use trade_ad::{Float, ParamId, ParamStore, Tape, Var};

/// `(x + s) mod 1` on the dims of `mask`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CircularShift {
    mask: Vec<bool>,
    shift: ParamId,
}

impl CircularShift {
    /// Uniform random shifts on `dims` (distinct, < dim; errors name `{name}.dims`).
    pub fn random<F: Float, R: Rng + ?Sized>(
        store: &mut ParamStore<F>,
        name: &str,
        dim: usize,
        dims: &[usize],
        rng: &mut R,
    ) -> Result<Self, FlowError> {
        let mut mask = vec![false; dim];
        if dims.is_empty()
            || dims
                .iter()
                .any(|&i| i >= dim || std::mem::replace(&mut mask[i], true))
        {
            return Err(FlowError::out_of_range(
                format!("{name}.dims"),
                format!("{dims:?}"),
                "non-empty, distinct indices < dim",
            ));
        }
        let mut value = Array2::zeros((1, dim));
        for &i in dims {
            value[[0, i]] = F::c(rng.random::<f64>());
        }
        let shift = store.add_value(&format!("{name}.shift"), value)?;
        store.set_trainable(shift, false);
        Ok(Self { mask, shift })
    }

    /// Adds `sign · s` and takes the chosen columns mod 1 (⌊·⌋ is a constant: no derivative).
    fn rotate<F: Float>(
        &self,
        tape: &mut Tape<F>,
        store: &ParamStore<F>,
        v: Var,
        sign: f64,
    ) -> Var {
        let s = tape.constant(store.get(self.shift).clone());
        let s = tape.scale(s, sign);
        let moved = tape.add(v, s);
        let mut turns = tape.value(moved).to_owned();
        for (j, mut col) in turns.columns_mut().into_iter().enumerate() {
            if self.mask[j] {
                col.mapv_inplace(|x| x.floor());
            } else {
                col.fill(F::zero());
            }
        }
        let turns = tape.constant(turns);
        tape.sub(moved, turns)
    }
}

impl<F: Float> Bijector<F> for CircularShift {
    fn dim(&self) -> usize {
        self.mask.len()
    }

    fn forward(
        &self,
        tape: &mut Tape<F>,
        store: &ParamStore<F>,
        x: Var,
        _: &Context,
    ) -> (Var, Var) {
        let y = self.rotate(tape, store, x, 1.0);
        (y, zero_log_det(tape, x))
    }

    fn inverse(
        &self,
        tape: &mut Tape<F>,
        store: &ParamStore<F>,
        z: Var,
        _: &Context,
    ) -> (Var, Var) {
        let x = self.rotate(tape, store, z, -1.0);
        (x, zero_log_det(tape, z))
    }

    fn ignores_context(&self) -> bool {
        true
    }

    fn constant_log_det(&self) -> bool {
        true
    }
}
