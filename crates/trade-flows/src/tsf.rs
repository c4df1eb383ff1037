//! Temperature-steerable flows and augmentation (`flows.md` §5, §10).
//!
//! A temperature-steerable (TSF / volume-preserving) flow has no c-input and an x-independent
//! log-det (GIN couplings, permutations, ActNorm, orthogonal mixing) over a N(0, T·I) base, so
//! `log p(x|T) = −|f(x)|²/(2T) − (d/2) ln(2πT) + const` and `∂_T log p = |f(x)|²/(2T²) − d/(2T)`.
//! Build one with [`FlowConfig::temperature_steerable`](crate::FlowConfig::temperature_steerable)
//! and check it with [`Flow::is_temperature_steerable`].
//!
//! Augmentation: the flow models (x, a) with `a ~ N(0, c·I)` drawn afresh; the marginal is
//! estimated by `log p(x|c) ≈ LSE_r[log p(x, a_r|c) − log N(a_r; 0, c·I)] − ln R`. The draws
//! `a_r` are tape constants (no tangent, no gradient): the c-derivative of the estimate is
//! taken at fixed a.

use crate::FlowError;
use crate::distribution::{Condition, Distribution, check_input};
use crate::flow::Flow;
use ndarray::{Array2, Axis};
use rand::RngCore;
use rand_distr::{Distribution as _, StandardNormal};
use std::f64::consts::PI;
use trade_ad::{Float, ParamStore, Tape, Var};

/// The per-row augmentation variance: c if given, else 1.
fn aug_variance<F: Float>(tape: &Tape<F>, cond: &Condition, n: usize) -> Array2<F> {
    match cond.c {
        Some(c) => tape.value(c).to_owned(),
        None => Array2::ones((n, 1)),
    }
}

/// log N(a; 0, v·I) per row with v an (n, 1) tape value or a constant.
fn log_normal<F: Float>(tape: &mut Tape<F>, a: Var, v: Var) -> Var {
    let k = tape.shape(a).1 as f64;
    let sq = tape.square(a);
    let r2 = tape.sum(sq, Some(Axis(1)));
    let q = tape.div(r2, v);
    let q = tape.scale(q, -0.5);
    let lv = tape.log(v);
    let lv = tape.scale(lv, -0.5 * k);
    let lp = tape.add(q, lv);
    tape.add_scalar(lp, -0.5 * k * (2.0 * PI).ln())
}

/// The variance the augmentation density uses on the tape: the condition c (carrying its
/// tangent) if given, else the constant 1.
fn variance_var<F: Float>(tape: &mut Tape<F>, cond: &Condition, n: usize) -> Var {
    match cond.c {
        Some(c) => c,
        None => tape.constant(Array2::ones((n, 1))),
    }
}

/// The importance estimate of the marginal `log p(x|c)` with `repeats` draws of the
/// augmentation (R = 1: the single-sample estimate). `x` is (n, data dim).
pub fn augmented_log_prob<F: Float>(
    flow: &Flow<F>,
    tape: &mut Tape<F>,
    store: &ParamStore<F>,
    x: Var,
    cond: &Condition,
    repeats: usize,
    rng: &mut dyn RngCore,
) -> Result<Var, FlowError> {
    let k = flow.augmentation_dims();
    let data_dim = flow.dim() - k;
    let n = check_input(tape, "x", x, data_dim)?;
    if repeats == 0 {
        return Err(FlowError::out_of_range("repeats", repeats, "≥ 1"));
    }
    if k == 0 {
        return flow.log_prob(tape, store, x, cond);
    }
    let var = aug_variance(tape, cond, n);
    let mut terms = Vec::with_capacity(repeats);
    for _ in 0..repeats {
        let a = Array2::from_shape_fn((n, k), |(i, _)| {
            let e: f64 = StandardNormal.sample(rng);
            F::c(e) * var[[i, 0]].sqrt()
        });
        let a = tape.constant(a);
        let xa = tape.concat_cols(&[x, a]);
        let joint = flow.log_prob(tape, store, xa, cond)?;
        let v = variance_var(tape, cond, n);
        let la = log_normal(tape, a, v);
        terms.push(tape.sub(joint, la));
    }
    if repeats == 1 {
        return Ok(terms[0]);
    }
    let all = tape.concat_cols(&terms);
    let lse = tape.logsumexp(all, Some(Axis(1)));
    Ok(tape.add_scalar(lse, -(repeats as f64).ln()))
}

/// Samples of the data part (augmentation discarded) with the single-sample estimate
/// `log p(x, a|c) − log N(a; 0, c·I)` of their marginal log-density.
pub fn augmented_sample_with_log_prob<F: Float>(
    flow: &Flow<F>,
    tape: &mut Tape<F>,
    store: &ParamStore<F>,
    n_samples: usize,
    cond: &Condition,
    rng: &mut dyn RngCore,
) -> Result<(Var, Var), FlowError> {
    let k = flow.augmentation_dims();
    let (xa, joint) = flow.sample_with_log_prob(tape, store, n_samples, cond, rng)?;
    if k == 0 {
        return Ok((xa, joint));
    }
    let d = flow.dim() - k;
    let x = tape.slice_cols(xa, 0, d);
    let a = tape.slice_cols(xa, d, d + k);
    let v = variance_var(tape, cond, n_samples);
    let la = log_normal(tape, a, v);
    Ok((x, tape.sub(joint, la)))
}
