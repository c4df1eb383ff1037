//! RQ spline coupling: K-bin rational-quadratic spline with learnable edges, minimum bin size
//! and linear tails (`flows.md` §2.4), composed from tape ops.
//!
//! Per transformed dimension the conditioner outputs 3K + 1 raw numbers
//! `[left, bottom, w_1..w_K, h_1..h_K, δ_1..δ_{K−1}]`:
//!
//! * `left = raw − B`, `bottom = raw − B` (B = `bound`, 3 in the spec);
//! * `w_k = m + softplus(raw + σ_K)`, `h_k` likewise, with m = `min_bin` (0.1) and
//!   `σ_K = ln(exp(2B/K − m) − 1)`, so raw = 0 gives width 2B/K;
//! * `δ_k = softplus(raw + ln(e − 1))` inside; `δ_0 = δ_K = s = Σh/Σw`, the tail slope;
//! * outside [left, right]: `y = s·x + (bottom − s·left)`, log|det| = ln s.
//!
//! With all raw outputs 0 the spline is the identity on [−B, B] with unit-slope tails. Bin
//! indices and the inside/outside mask are piecewise constant (no derivative); ξ is clamped to
//! [0, 1] so both branches stay finite for any input.

use super::coupling::{Coupling, CouplingTransform};
use ndarray::{Array2, ArrayView2, Axis};
use std::sync::Arc;
use trade_ad::{Float, ParamStore, Tape, Var};

/// ln(e − 1) ≈ 0.5413249: softplus(0 + ln(e − 1)) = 1.
fn ln_e_minus_1() -> f64 {
    (std::f64::consts::E - 1.0).ln()
}

/// The RQ spline element transform.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RqSpline {
    /// Number of bins K.
    pub bins: usize,
    /// Half-width B of the initial domain [−B, B].
    pub bound: f64,
    /// Minimum bin width and height (absolute).
    pub min_bin: f64,
}

/// A two-sided RQ spline coupling block.
pub type RqCoupling = Coupling<RqSpline>;

/// The gathered per-row spline quantities of the bin each point falls in, as tape values.
struct Bin {
    /// Knot x_k, width w_k, knot y_k, height h_k, derivatives δ_k, δ_{k+1}.
    xk: Var,
    w: Var,
    yk: Var,
    h: Var,
    d0: Var,
    d1: Var,
}

/// Edges, cumulative widths/heights, derivative knots and tail slope of m per-row splines,
/// all (m, ·) tape values: the shared input of [`forward_knots`] and [`inverse_knots`].
pub(crate) struct Knots {
    /// Left edge x_0, (m, 1).
    pub(crate) left: Var,
    /// Bottom edge y_0, (m, 1).
    pub(crate) bottom: Var,
    /// Bin widths, (m, K).
    pub(crate) w: Var,
    /// Bin heights, (m, K).
    pub(crate) h: Var,
    /// Cumulative widths, (m, K).
    pub(crate) cw: Var,
    /// Cumulative heights, (m, K).
    pub(crate) ch: Var,
    /// Knot derivatives δ_0..δ_K, (m, K + 1).
    pub(crate) derivs: Var,
    /// Slope of both linear tails, (m, 1).
    pub(crate) slope: Var,
}

impl RqSpline {
    /// The spec spline: K bins on [−3, 3], minimum bin 0.1.
    pub fn new(bins: usize) -> Self {
        Self {
            bins,
            bound: 3.0,
            min_bin: 0.1,
        }
    }

    /// σ_K = ln(exp(2B/K − m) − 1).
    pub fn sigma(&self) -> f64 {
        (2.0 * self.bound / self.bins as f64 - self.min_bin)
            .exp_m1()
            .ln()
    }

    fn knots<F: Float>(&self, tape: &mut Tape<F>, raw: Var) -> Knots {
        let k = self.bins;
        let sigma = self.sigma();
        let left_raw = tape.slice_cols(raw, 0, 1);
        let left = tape.add_scalar(left_raw, -self.bound);
        let bottom_raw = tape.slice_cols(raw, 1, 2);
        let bottom = tape.add_scalar(bottom_raw, -self.bound);
        let size = |tape: &mut Tape<F>, start: usize| {
            let r = tape.slice_cols(raw, start, start + k);
            let r = tape.add_scalar(r, sigma);
            let sp = tape.softplus(r);
            tape.add_scalar(sp, self.min_bin)
        };
        let w = size(tape, 2);
        let h = size(tape, 2 + k);
        let d_raw = tape.slice_cols(raw, 2 + 2 * k, 3 * k + 1);
        let d_raw = tape.add_scalar(d_raw, ln_e_minus_1());
        let d_inner = tape.softplus(d_raw);
        let sw = tape.sum(w, Some(Axis(1)));
        let sh = tape.sum(h, Some(Axis(1)));
        let slope = tape.div(sh, sw);
        let derivs = tape.concat_cols(&[slope, d_inner, slope]);
        let cw = tape.cumsum(w, Axis(1));
        let ch = tape.cumsum(h, Axis(1));
        Knots {
            left,
            bottom,
            w,
            h,
            cw,
            ch,
            derivs,
            slope,
        }
    }

    /// Forward on (m, 3K+1) raw params and (m, 1) inputs: (y, log dy/dx), both (m, 1).
    pub fn forward_flat<F: Float>(&self, tape: &mut Tape<F>, raw: Var, x: Var) -> (Var, Var) {
        let kn = self.knots(tape, raw);
        forward_knots(tape, &kn, x)
    }

    /// Inverse on (m, 3K+1) raw params and (m, 1) outputs: (x, log dx/dy), both (m, 1).
    pub fn inverse_flat<F: Float>(&self, tape: &mut Tape<F>, raw: Var, y: Var) -> (Var, Var) {
        let kn = self.knots(tape, raw);
        inverse_knots(tape, &kn, y)
    }
}

/// The RQ spline forward of per-row knots on (m, 1) inputs: (y, log dy/dx), both (m, 1); linear
/// tails with slope `kn.slope` outside [left, left + Σw].
pub(crate) fn forward_knots<F: Float>(tape: &mut Tape<F>, kn: &Knots, x: Var) -> (Var, Var) {
    let (idx, inside) = search(tape.value(kn.left), tape.value(kn.cw), tape.value(x));
    let b = gather(tape, kn, idx);
    let dx = tape.sub(x, b.xk);
    let xi = tape.div(dx, b.w);
    let xi = tape.clamp(xi, 0.0, 1.0);
    let sk = tape.div(b.h, b.w);
    let xi2 = tape.square(xi);
    let t = tape.sub(xi, xi2);
    let dd = big_d(tape, &b, sk);
    let a = tape.mul(sk, xi2);
    let c = tape.mul(b.d0, t);
    let num = tape.add(a, c);
    let num = tape.mul(b.h, num);
    let dt = tape.mul(dd, t);
    let den = tape.add(sk, dt);
    let frac = tape.div(num, den);
    let y_in = tape.add(b.yk, frac);
    let ld_in = log_slope(tape, &b, sk, xi, den);
    let off = tape.sub(x, kn.left);
    let off = tape.mul(kn.slope, off);
    let y_out = tape.add(kn.bottom, off);
    let ld_out = tape.log(kn.slope);
    let inside = Arc::new(inside);
    let y = tape.where_shared(inside.clone(), y_in, y_out);
    let ld = tape.where_shared(inside, ld_in, ld_out);
    (y, ld)
}

/// The inverse of [`forward_knots`] on (m, 1) outputs: (x, log dx/dy), both (m, 1).
pub(crate) fn inverse_knots<F: Float>(tape: &mut Tape<F>, kn: &Knots, y: Var) -> (Var, Var) {
    let (idx, inside) = search(tape.value(kn.bottom), tape.value(kn.ch), tape.value(y));
    let b = gather(tape, kn, idx);
    let inside = Arc::new(inside);
    let sk = tape.div(b.h, b.w);
    let dd = big_d(tape, &b, sk);
    // Tail rows take the inside formulas at y = y_k (Δ = 0, discriminant B² > 0): with the
    // tail's y there, B² − 4AC < 0 is clamped to 0 and √'s infinite derivative times the
    // zero gradient of the unselected branch would make every gradient NaN.
    let y_safe = tape.where_shared(inside.clone(), y, b.yk);
    let delta = tape.sub(y_safe, b.yk);
    let delta_d = tape.mul(delta, dd);
    // A = h(s_k − δ_k) + Δ·D;  B = h δ_k − Δ·D;  C = −s_k Δ.
    let a = tape.sub(sk, b.d0);
    let a = tape.mul(b.h, a);
    let a = tape.add(a, delta_d);
    let bq = tape.mul(b.h, b.d0);
    let bq = tape.sub(bq, delta_d);
    let c = tape.mul(sk, delta);
    let c = tape.neg(c);
    // ξ = 2C / (−B − √(B² − 4AC)), discriminant clamped at ≥ 0.
    let b2 = tape.square(bq);
    let ac = tape.mul(a, c);
    let ac4 = tape.scale(ac, 4.0);
    let disc = tape.sub(b2, ac4);
    let disc = tape.clamp(disc, 0.0, f64::INFINITY);
    let root = tape.sqrt(disc);
    let den = tape.add(bq, root);
    let den = tape.neg(den);
    let two_c = tape.scale(c, 2.0);
    let xi = tape.div(two_c, den);
    let xi = tape.clamp(xi, 0.0, 1.0);
    let xw = tape.mul(xi, b.w);
    let x_in = tape.add(b.xk, xw);
    let xi2 = tape.square(xi);
    let t = tape.sub(xi, xi2);
    let dt = tape.mul(dd, t);
    let den_f = tape.add(sk, dt);
    let ld_fwd = log_slope(tape, &b, sk, xi, den_f);
    let ld_in = tape.neg(ld_fwd);
    let off = tape.sub(y, kn.bottom);
    let off = tape.div(off, kn.slope);
    let x_out = tape.add(kn.left, off);
    let ln_s = tape.log(kn.slope);
    let ld_out = tape.neg(ln_s);
    let x = tape.where_shared(inside.clone(), x_in, x_out);
    let ld = tape.where_shared(inside, ld_in, ld_out);
    (x, ld)
}

/// Gathers the bin quantities at per-row bin indices `idx` (m, 1).
fn gather<F: Float>(tape: &mut Tape<F>, kn: &Knots, idx: Array2<usize>) -> Bin {
    let next = Arc::new(idx.mapv(|i| i + 1));
    let idx = Arc::new(idx);
    let w = tape.take_along_rows_shared(kn.w, idx.clone());
    let cw = tape.take_along_rows_shared(kn.cw, idx.clone());
    let xk = tape.add(kn.left, cw);
    let xk = tape.sub(xk, w);
    let h = tape.take_along_rows_shared(kn.h, idx.clone());
    let ch = tape.take_along_rows_shared(kn.ch, idx.clone());
    let yk = tape.add(kn.bottom, ch);
    let yk = tape.sub(yk, h);
    let d0 = tape.take_along_rows_shared(kn.derivs, idx);
    let d1 = tape.take_along_rows_shared(kn.derivs, next);
    Bin {
        xk,
        w,
        yk,
        h,
        d0,
        d1,
    }
}

/// log dy/dx inside the bin at ξ: 2 ln s_k + ln[δ_{k+1}ξ² + 2 s_k ξ(1−ξ) + δ_k(1−ξ)²] − 2 ln den.
fn log_slope<F: Float>(tape: &mut Tape<F>, b: &Bin, sk: Var, xi: Var, den: Var) -> Var {
    let xi2 = tape.square(xi);
    let one_m = tape.scale(xi, -1.0);
    let one_m = tape.add_scalar(one_m, 1.0);
    let one_m2 = tape.square(one_m);
    let t = tape.mul(xi, one_m);
    let a = tape.mul(b.d1, xi2);
    let bb = tape.mul(sk, t);
    let bb = tape.scale(bb, 2.0);
    let c = tape.mul(b.d0, one_m2);
    let num = tape.add(a, bb);
    let num = tape.add(num, c);
    let ln_num = tape.log(num);
    let ln_sk = tape.log(sk);
    let ln_den = tape.log(den);
    let two = tape.sub(ln_sk, ln_den);
    let two = tape.scale(two, 2.0);
    tape.add(two, ln_num)
}

/// D = δ_k + δ_{k+1} − 2 s_k.
fn big_d<F: Float>(tape: &mut Tape<F>, b: &Bin, sk: Var) -> Var {
    let dsum = tape.add(b.d0, b.d1);
    let two_sk = tape.scale(sk, 2.0);
    tape.sub(dsum, two_sk)
}

/// Bin index per row (number of interior knots ≤ v, in 0..K) and the inside mask
/// `start ≤ v ≤ start + total`, from (m, 1) start edges, (m, K) cumulative sizes and (m, 1)
/// points.
fn search<F: Float>(
    start: ArrayView2<'_, F>,
    cum: ArrayView2<'_, F>,
    v: ArrayView2<'_, F>,
) -> (Array2<usize>, Array2<bool>) {
    let m = v.nrows();
    let k = cum.ncols();
    let mut idx = Array2::zeros((m, 1));
    let mut inside = Array2::from_elem((m, 1), false);
    for i in 0..m {
        let (s, x) = (start[[i, 0]], v[[i, 0]]);
        let row = cum.row(i);
        let bin = row.iter().take(k - 1).take_while(|&&c| s + c <= x).count();
        idx[[i, 0]] = bin;
        inside[[i, 0]] = s <= x && x <= s + row[k - 1];
    }
    (idx, inside)
}

/// Reshapes (n, D·P) params and (n, D) values of an element-wise spline to per-element rows
/// ((n·D, P) and (n·D, 1)), applies `f`, and reshapes back: (n, D) values and (n, 1) summed
/// log-dets. Shared by [`RqSpline`] and the unit-interval spline.
pub(super) fn per_element<F: Float>(
    tape: &mut Tape<F>,
    params: Var,
    v: Var,
    p: usize,
    f: impl FnOnce(&mut Tape<F>, Var, Var) -> (Var, Var),
) -> (Var, Var) {
    let (n, d) = tape.shape(v);
    assert_eq!(
        tape.shape(params),
        (n, d * p),
        "spline: params shape for {d} dims of {p} numbers each"
    );
    let raw = tape.reshape(params, (n * d, p));
    let flat = tape.reshape(v, (n * d, 1));
    let (out, ld) = f(tape, raw, flat);
    let out = tape.reshape(out, (n, d));
    let ld = tape.reshape(ld, (n, d));
    (out, tape.sum(ld, Some(Axis(1))))
}

impl<F: Float> CouplingTransform<F> for RqSpline {
    fn params_per_dim(&self) -> usize {
        3 * self.bins + 1
    }

    fn forward(&self, tape: &mut Tape<F>, _: &ParamStore<F>, params: Var, x: Var) -> (Var, Var) {
        per_element(tape, params, x, 3 * self.bins + 1, |t, r, v| {
            self.forward_flat(t, r, v)
        })
    }

    fn inverse(&self, tape: &mut Tape<F>, _: &ParamStore<F>, params: Var, y: Var) -> (Var, Var) {
        per_element(tape, params, y, 3 * self.bins + 1, |t, r, v| {
            self.inverse_flat(t, r, v)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn sigma_matches_spec_constants() {
        // flows.md §2.4: σ_8 = −0.0882403, σ_10 = −0.4327521.
        assert!((RqSpline::new(8).sigma() + 0.088_240_3).abs() < 1e-7);
        assert!((RqSpline::new(10).sigma() + 0.432_752_1).abs() < 1e-7);
        assert!((ln_e_minus_1() - 0.541_324_9).abs() < 1e-7);
    }

    #[test]
    fn zero_raw_is_identity_with_unit_tails() {
        let s = RqSpline::new(8);
        let mut tape: Tape = Tape::new();
        let x = array![[-50.0], [-3.0], [-1.3], [0.0], [0.2], [2.99], [3.0], [7.5]];
        let raw = tape.constant(Array2::zeros((x.nrows(), 25)));
        let xv = tape.constant(x.clone());
        let (y, ld) = s.forward_flat(&mut tape, raw, xv);
        for (a, b) in tape.value(y).iter().zip(x.iter()) {
            assert!((a - b).abs() < 1e-12, "{a} vs {b}");
        }
        assert!(tape.value(ld).iter().all(|v| v.abs() < 1e-12));
    }
}
