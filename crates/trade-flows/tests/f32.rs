//! The f32 path: a multi-well model cast to f32 (`FlowModel::to_f32`) agrees with its f64
//! original on log q, on the c-tangent ∂_T log q and on first-order (NLL) gradients, and its
//! inverse undoes its forward map — for the RQ-spline flow and its affine-coupling variant.
//! (Measured: about 1e-6 relative on all three; the bounds leave a wide margin.)

mod common;

use common::{grid, perturbed};
use ndarray::{Array2, Axis};
use trade_ad::{Float, Gradients, Tape};
use trade_flows::{Condition, Distribution, FlowConfig, FlowModel};

/// The multi-well flow (RQ couplings, MLP SiLU, log T into the couplings, N(0, T·I) base) with
/// 3 blocks of [16, 16], or the same with affine couplings (clamp 1), as in `step_timing`.
fn config(affine: bool) -> FlowConfig {
    if affine {
        FlowConfig::multi_well_affine(5, 3, &[16, 16])
    } else {
        FlowConfig::multi_well(5, 3, &[16, 16])
    }
}

/// A model away from its initialisation (so every layer does something).
fn model(affine: bool) -> FlowModel {
    perturbed(config(affine), 0.05, 21)
}

/// Points in the spline domain and a few in the linear tails; per-row temperatures.
fn data() -> (Array2<f64>, Array2<f64>) {
    let mut x = grid(40, 5, 5.0);
    let tails = Array2::from_shape_fn((4, 5), |(i, j)| [-4.5, 3.8, -3.3, 5.0][i] + 0.2 * j as f64);
    x.append(Axis(0), tails.view()).unwrap();
    let c = Array2::from_shape_fn((x.nrows(), 1), |(i, _)| 0.5 + 0.04 * i as f64);
    (x, c)
}

/// log q(x|c), ∂_c log q and the NLL gradients (−mean log q), all in f64 for comparison.
fn evaluate<F: Float>(
    m: &FlowModel<F>,
    x: &Array2<f64>,
    c: &Array2<f64>,
) -> (Array2<f64>, Array2<f64>, Gradients<F>) {
    let mut tape: Tape<F> = Tape::new();
    let cv = tape.condition(c.mapv(F::c));
    let xv = tape.constant(x.mapv(F::c));
    let lp = m
        .flow
        .log_prob(&mut tape, &m.params, xv, &Condition::c(cv))
        .unwrap();
    let g = tape.tangent(lp).unwrap();
    let total = tape.sum(lp, None);
    let nll = tape.scale(total, -1.0 / x.nrows() as f64);
    let grads = tape.backward(nll);
    let to64 = |v: ndarray::ArrayView2<F>| v.mapv(|a| a.f64());
    (to64(tape.value(lp)), to64(tape.value(g)), grads)
}

/// max_i |a_i − b_i| / max(1, |b_i|).
fn max_rel(a: &Array2<f64>, b: &Array2<f64>) -> f64 {
    a.iter()
        .zip(b.iter())
        .map(|(a, b)| (a - b).abs() / b.abs().max(1.0))
        .fold(0.0, f64::max)
}

#[test]
fn cast_keeps_handles_names_flags_and_rounds_values() {
    let m = model(false);
    let f = m.to_f32().unwrap();
    assert_eq!(f.config, m.config);
    assert_eq!(f.params.len(), m.params.len());
    for id in m.params.ids() {
        assert_eq!(f.params.name(id), m.params.name(id));
        assert_eq!(f.params.is_trainable(id), m.params.is_trainable(id));
        let (a, b) = (m.params.get(id), f.params.get(id));
        assert_eq!(a.dim(), b.dim());
        assert!(
            a.iter()
                .zip(b.iter())
                .all(|(&a, &b)| (a as f32).to_bits() == b.to_bits())
        );
    }
    // Casting back gives an f64 model that evaluates the rounded parameters.
    let back: FlowModel = f.cast().unwrap();
    let (x, c) = data();
    let (lp32, ..) = evaluate(&f, &x, &c);
    let (lp_back, ..) = evaluate(&back, &x, &c);
    assert!(max_rel(&lp32, &lp_back) < 1e-4);
}

#[test]
fn f32_log_prob_and_c_tangent_match_f64() {
    for affine in [false, true] {
        let m = model(affine);
        let f = m.to_f32().unwrap();
        let (x, c) = data();
        let (lp64, dlp64, _) = evaluate(&m, &x, &c);
        let (lp32, dlp32, _) = evaluate(&f, &x, &c);
        let (e_lp, e_dlp) = (max_rel(&lp32, &lp64), max_rel(&dlp32, &dlp64));
        assert!(e_lp < 1e-4, "affine {affine}: log q off by {e_lp:e}");
        assert!(e_dlp < 1e-4, "affine {affine}: ∂_T log q off by {e_dlp:e}");
    }
}

#[test]
fn f32_inverse_undoes_forward() {
    for affine in [false, true] {
        let f = model(affine).to_f32().unwrap();
        let (x, c) = data();
        let mut tape: Tape<f32> = Tape::new();
        let cv = tape.constant(c.mapv(|v| v as f32));
        let cond = Condition::c(cv);
        let xv = tape.constant(x.mapv(|v| v as f32));
        let (z, ld) = f.flow.transform(&mut tape, &f.params, xv, &cond).unwrap();
        let (back, ld_inv) = f
            .flow
            .inverse_transform(&mut tape, &f.params, z, &cond)
            .unwrap();
        let err = (&tape.value(back) - &tape.value(xv))
            .iter()
            .zip(x.iter())
            .map(|(e, x)| f64::from(e.abs()) / x.abs().max(1.0))
            .fold(0.0, f64::max);
        let ld_err = (&tape.value(ld) + &tape.value(ld_inv))
            .iter()
            .map(|e| f64::from(e.abs()))
            .fold(0.0, f64::max);
        assert!(err < 1e-5, "affine {affine}: f⁻¹(f(x)) − x = {err:e}");
        assert!(ld_err < 1e-4, "affine {affine}: log det sum {ld_err:e}");
    }
}

#[test]
fn f32_nll_gradients_match_f64() {
    for affine in [false, true] {
        let m = model(affine);
        let f = m.to_f32().unwrap();
        let (x, c) = data();
        let (.., g64) = evaluate(&m, &x, &c);
        let (.., g32) = evaluate(&f, &x, &c);
        let (mut diff, mut norm, mut worst) = (0.0, 0.0, 0.0f64);
        for id in m.params.ids().filter(|&id| m.params.is_trainable(id)) {
            let a = g64.param(id).expect("f64 gradient");
            let b = g32.param(id).expect("f32 gradient");
            let d: f64 = a
                .iter()
                .zip(b.iter())
                .map(|(a, b)| (a - b.f64()).powi(2))
                .sum();
            let n: f64 = a.iter().map(|a| a * a).sum();
            diff += d;
            norm += n;
            worst = worst.max((d / n.max(1e-30)).sqrt());
        }
        let rel = (diff / norm).sqrt();
        assert!(rel < 1e-3, "affine {affine}: NLL gradient off by {rel:e}");
        assert!(
            worst < 1e-3,
            "affine {affine}: a tensor's NLL gradient off by {worst:e}"
        );
    }
}

/// TRADE's mixed second-order gradient ∇_θ mean SmoothL1(∂_T log q − r) in f32 (what
/// `step_timing … f32` times) stays close to f64 too.
#[test]
fn f32_trade_gradients_match_f64() {
    fn trade<F: Float>(m: &FlowModel<F>, x: &Array2<f64>, c: &Array2<f64>) -> Gradients<F> {
        let mut tape: Tape<F> = Tape::new();
        let cv = tape.condition(c.mapv(F::c));
        let xv = tape.constant(x.mapv(F::c));
        let lp = m
            .flow
            .log_prob(&mut tape, &m.params, xv, &Condition::c(cv))
            .unwrap();
        let g = tape.tangent(lp).unwrap();
        let r = Array2::from_shape_fn((x.nrows(), 1), |(i, _)| F::c((i as f64 * 0.37).sin()));
        let rv = tape.constant(r);
        let d = tape.sub(g, rv);
        let l = tape.smooth_l1(d, 1.0);
        let total = tape.sum(l, None);
        let loss = tape.scale(total, 1.0 / x.nrows() as f64);
        tape.backward(loss)
    }
    for affine in [false, true] {
        let m = model(affine);
        let f = m.to_f32().unwrap();
        let (x, c) = data();
        let (g64, g32) = (trade(&m, &x, &c), trade(&f, &x, &c));
        let (mut diff, mut norm) = (0.0, 0.0);
        for id in m.params.ids().filter(|&id| m.params.is_trainable(id)) {
            let (a, b) = (g64.param(id).unwrap(), g32.param(id).unwrap());
            diff += a
                .iter()
                .zip(b.iter())
                .map(|(a, b)| (a - b.f64()).powi(2))
                .sum::<f64>();
            norm += a.iter().map(|a| a * a).sum::<f64>();
        }
        let rel = (diff / norm).sqrt();
        assert!(rel < 1e-3, "affine {affine}: TRADE gradient off by {rel:e}");
    }
}
