//! RQ spline on the unit interval [0, 1] (`flows.md` §9, alanine-dipeptide spline flow): the
//! same rational-quadratic bins as [`RqSpline`](super::RqSpline) (shared formulas), with the
//! domain fixed to [0, 1] × [0, 1] and, optionally, circular (periodic) boundary conditions.
//!
//! Per transformed dimension the conditioner outputs `[w_1..w_K, h_1..h_K, δ_1..δ_{K−1}]`
//! (3K − 1 numbers) plus, for a circular spline, one more `δ_0` (3K):
//!
//! * `w_k = m + (1 − K m) softmax(raw_w)_k`, `h_k` likewise (m = `min_bin`), so Σw = Σh = 1;
//! * `δ_k = m_δ + softplus(raw + ln(e^{1 − m_δ} − 1))` (m_δ = `min_derivative`), so raw = 0
//!   gives δ = 1;
//! * interval spline: `δ_0 = δ_K = 1` and identity tails outside [0, 1] (C¹ at the ends);
//! * circular spline: `δ_0 = δ_K` learned, so f(0) = 0, f(1) = 1 and f'(0) = f'(1): a
//!   diffeomorphism of the circle R/Z. It acts on any real x through its lift
//!   `f(x) = f(x − ⌊x⌋) + ⌊x⌋` (⌊x⌋ is piecewise constant: no derivative).
//!
//! All raw outputs 0 give the identity. Defaults m = m_δ = 1e-3 (the nflows/bgflow values).

use super::coupling::CouplingTransform;
use super::spline::{Knots, forward_knots, inverse_knots, per_element};
use ndarray::{Array2, Axis};
use trade_ad::{Float, ParamStore, Tape, Var};

/// The unit-interval RQ spline element transform.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UnitSpline {
    /// Number of bins K (≥ 2).
    pub bins: usize,
    /// Minimum bin width and height, in (0, 1/K).
    pub min_bin: f64,
    /// Minimum knot derivative, in [0, 1).
    pub min_derivative: f64,
    /// Periodic boundary (equal end derivatives; acts on the circle).
    pub circular: bool,
}

impl UnitSpline {
    /// K bins with the default minima (1e-3): interval or circular.
    pub fn new(bins: usize, circular: bool) -> Self {
        Self {
            bins,
            min_bin: 1e-3,
            min_derivative: 1e-3,
            circular,
        }
    }

    /// Raw numbers per transformed dimension: 3K − 1 (interval) or 3K (circular).
    pub fn params(&self) -> usize {
        3 * self.bins - usize::from(!self.circular)
    }

    /// The softplus shift with `m_δ + softplus(0 + shift) = 1`.
    fn derivative_shift(&self) -> f64 {
        (1.0 - self.min_derivative).exp_m1().ln()
    }

    fn derivative<F: Float>(&self, tape: &mut Tape<F>, raw: Var) -> Var {
        let r = tape.add_scalar(raw, self.derivative_shift());
        let sp = tape.softplus(r);
        tape.add_scalar(sp, self.min_derivative)
    }

    fn knots<F: Float>(&self, tape: &mut Tape<F>, raw: Var) -> Knots {
        let (m, k) = (tape.shape(raw).0, self.bins);
        let size = |tape: &mut Tape<F>, start: usize| {
            let r = tape.slice_cols(raw, start, start + k);
            let sm = tape.softmax(r);
            let sm = tape.scale(sm, 1.0 - k as f64 * self.min_bin);
            tape.add_scalar(sm, self.min_bin)
        };
        let w = size(tape, 0);
        let h = size(tape, k);
        let d_raw = tape.slice_cols(raw, 2 * k, 3 * k - 1);
        let d_inner = self.derivative(tape, d_raw);
        let ones = tape.constant(Array2::ones((m, 1)));
        let edge = if self.circular {
            let r = tape.slice_cols(raw, 3 * k - 1, 3 * k);
            self.derivative(tape, r)
        } else {
            ones
        };
        let derivs = tape.concat_cols(&[edge, d_inner, edge]);
        let cw = tape.cumsum(w, Axis(1));
        let ch = tape.cumsum(h, Axis(1));
        let zeros = tape.constant(Array2::zeros((m, 1)));
        // Tails: the identity. For the circular spline they are reached only by rounding
        // (Σw within an ulp of 1), where f(1) = 1 makes them continuous.
        Knots {
            left: zeros,
            bottom: zeros,
            w,
            h,
            cw,
            ch,
            derivs,
            slope: ones,
        }
    }

    /// The integer parts ⌊v⌋ of a circular spline's inputs (zeros for an interval spline).
    fn turns<F: Float>(&self, tape: &mut Tape<F>, v: Var) -> Option<Var> {
        if !self.circular {
            return None;
        }
        let k = tape.value(v).mapv(|x| x.floor());
        Some(tape.constant(k))
    }

    /// Forward on (m, P) raw params and (m, 1) inputs: (y, log dy/dx), both (m, 1).
    pub fn forward_flat<F: Float>(&self, tape: &mut Tape<F>, raw: Var, x: Var) -> (Var, Var) {
        let kn = self.knots(tape, raw);
        match self.turns(tape, x) {
            None => forward_knots(tape, &kn, x),
            Some(k) => {
                let frac = tape.sub(x, k);
                let (y, ld) = forward_knots(tape, &kn, frac);
                (tape.add(y, k), ld)
            }
        }
    }

    /// Inverse on (m, P) raw params and (m, 1) outputs: (x, log dx/dy), both (m, 1).
    pub fn inverse_flat<F: Float>(&self, tape: &mut Tape<F>, raw: Var, y: Var) -> (Var, Var) {
        let kn = self.knots(tape, raw);
        match self.turns(tape, y) {
            None => inverse_knots(tape, &kn, y),
            Some(k) => {
                let frac = tape.sub(y, k);
                let (x, ld) = inverse_knots(tape, &kn, frac);
                (tape.add(x, k), ld)
            }
        }
    }
}

impl<F: Float> CouplingTransform<F> for UnitSpline {
    fn params_per_dim(&self) -> usize {
        self.params()
    }

    fn forward(&self, tape: &mut Tape<F>, _: &ParamStore<F>, params: Var, x: Var) -> (Var, Var) {
        per_element(tape, params, x, self.params(), |t, r, v| {
            self.forward_flat(t, r, v)
        })
    }

    fn inverse(&self, tape: &mut Tape<F>, _: &ParamStore<F>, params: Var, y: Var) -> (Var, Var) {
        per_element(tape, params, y, self.params(), |t, r, v| {
            self.inverse_flat(t, r, v)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn zero_raw_is_the_identity() {
        for circular in [false, true] {
            let s = UnitSpline::new(8, circular);
            let mut tape: Tape = Tape::new();
            let x = array![[-0.7], [0.0], [0.13], [0.5], [0.999], [1.0], [2.4]];
            let raw = tape.constant(Array2::zeros((x.nrows(), s.params())));
            let xv = tape.constant(x.clone());
            let (y, ld) = s.forward_flat(&mut tape, raw, xv);
            for (a, b) in tape.value(y).iter().zip(x.iter()) {
                assert!((a - b).abs() < 1e-12, "circular {circular}: {a} vs {b}");
            }
            assert!(tape.value(ld).iter().all(|v| v.abs() < 1e-12));
        }
    }
}
