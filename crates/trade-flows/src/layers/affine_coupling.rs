//! GLOW-style affine coupling (`flows.md` §2.2): y = exp(s) ⊙ x + t with the soft clamp
//! s = clamp · tanh(s_raw); log|det| = Σ s. The clamp is fixed or one learnable shared scalar.

use super::coupling::{Coupling, CouplingTransform};
use ndarray::Axis;
use trade_ad::{Float, ParamId, ParamStore, Tape, Var};

/// The soft-clamp scale of s.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Clamp {
    /// A constant (Loop A: 0.3).
    Fixed(f64),
    /// A learnable (1, 1) parameter shared by all blocks (`learnable_clamp`).
    Learnable(ParamId),
}

/// The affine element transform; `volume_preserving` subtracts the per-sample mean of s (GIN).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Affine {
    /// Soft clamp of the log-scale.
    pub clamp: Clamp,
    /// s ← s − mean(s) per sample (GIN, `flows.md` §2.3): log|det| = 0 exactly.
    pub volume_preserving: bool,
}

/// A two-sided GLOW affine coupling block.
pub type AffineCoupling = Coupling<Affine>;

impl Affine {
    /// Splits conditioner outputs into (s, t), both (n, D).
    fn scale_shift<F: Float>(
        &self,
        tape: &mut Tape<F>,
        store: &ParamStore<F>,
        params: Var,
    ) -> (Var, Var) {
        let d = tape.shape(params).1 / 2;
        let s_raw = tape.slice_cols(params, 0, d);
        let t = tape.slice_cols(params, d, 2 * d);
        let th = tape.tanh(s_raw);
        let mut s = match self.clamp {
            Clamp::Fixed(a) => tape.scale(th, a),
            Clamp::Learnable(id) => {
                let a = tape.param(store, id);
                tape.mul(th, a)
            }
        };
        if self.volume_preserving {
            let m = tape.mean(s, Some(Axis(1)));
            s = tape.sub(s, m);
        }
        (s, t)
    }

    fn log_det<F: Float>(&self, tape: &mut Tape<F>, s: Var, sign: f64) -> Var {
        if self.volume_preserving {
            return crate::bijector::zero_log_det(tape, s);
        }
        let ld = tape.sum(s, Some(Axis(1)));
        if sign < 0.0 { tape.neg(ld) } else { ld }
    }
}

impl<F: Float> CouplingTransform<F> for Affine {
    fn params_per_dim(&self) -> usize {
        2
    }

    fn forward(
        &self,
        tape: &mut Tape<F>,
        store: &ParamStore<F>,
        params: Var,
        x: Var,
    ) -> (Var, Var) {
        let (s, t) = self.scale_shift(tape, store, params);
        let e = tape.exp(s);
        let ex = tape.mul(e, x);
        let y = tape.add(ex, t);
        (y, self.log_det(tape, s, 1.0))
    }

    fn inverse(
        &self,
        tape: &mut Tape<F>,
        store: &ParamStore<F>,
        params: Var,
        y: Var,
    ) -> (Var, Var) {
        let (s, t) = self.scale_shift(tape, store, params);
        let diff = tape.sub(y, t);
        let ms = tape.neg(s);
        let e = tape.exp(ms);
        let x = tape.mul(diff, e);
        (x, self.log_det(tape, s, -1.0))
    }

    fn constant_log_det(&self) -> bool {
        self.volume_preserving
    }
}

/// Parameters layout: conditioner outputs are `[s_raw (D), t (D)]` per sample.
#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn zero_params_are_the_identity() {
        let mut tape: Tape = Tape::new();
        let store = ParamStore::new();
        let aff = Affine {
            clamp: Clamp::Fixed(0.3),
            volume_preserving: false,
        };
        let p = tape.constant(ndarray::Array2::zeros((2, 4)));
        let x = tape.constant(array![[1.0, -2.0], [0.5, 3.0]]);
        let (y, ld) = aff.forward(&mut tape, &store, p, x);
        assert_eq!(tape.value(y), tape.value(x));
        assert!(tape.value(ld).iter().all(|&v| v.abs() < 1e-300));
    }
}
