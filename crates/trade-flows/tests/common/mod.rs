//! Shared test helpers: small flows with perturbed parameters, evaluation shortcuts, and a
//! numerical Jacobian log-determinant built on the trade-ad oracle.
#![allow(dead_code)]

use ndarray::Array2;
use rand::SeedableRng;
use rand_distr::{Distribution as _, Normal};
use rand_xoshiro::Xoshiro256PlusPlus;
use trade_ad::testing::numerical_gradient;
use trade_ad::{ParamStore, Tape, Var};
use trade_flows::{Condition, Distribution, FlowConfig, FlowModel};

/// Builds the model and adds N(0, scale²) to every trainable parameter (so that zero-init
/// conditioners do something), leaving frozen ones (permutations, F4F bases) alone unless
/// `names_with` selects them.
pub fn perturbed(config: FlowConfig, scale: f64, seed: u64) -> FlowModel {
    let mut model = FlowModel::new(config).unwrap();
    perturb(&mut model.params, scale, seed, |_, trainable| trainable);
    model
}

/// Adds N(0, scale²) to the parameters `pick(name, trainable)` selects.
pub fn perturb(store: &mut ParamStore, scale: f64, seed: u64, pick: impl Fn(&str, bool) -> bool) {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let normal = Normal::new(0.0, scale).unwrap();
    for id in store.ids().collect::<Vec<_>>() {
        if pick(store.name(id), store.is_trainable(id))
            && !store.name(id).ends_with("indices")
            && !store.name(id).ends_with("matrix")
        {
            store
                .get_mut(id)
                .mapv_inplace(|v| v + normal.sample(&mut rng));
        }
    }
}

/// Deterministic quasi-random points in [−scale/2, scale/2).
pub fn grid(r: usize, c: usize, scale: f64) -> Array2<f64> {
    Array2::from_shape_fn((r, c), |(i, j)| {
        scale * (((i * 7 + j * 13 + 3) as f64 * 0.754_877_666).fract() - 0.5)
    })
}

/// Points in and around the spline domain plus rows far outside it (up to 13× the domain).
pub fn test_points(d: usize) -> Array2<f64> {
    let mut x = grid(6, d, 5.0);
    let far = [-40.0, 25.0, -7.5, 12.0];
    let rows = Array2::from_shape_fn((far.len(), d), |(i, j)| far[i] * (1.0 + 0.1 * j as f64));
    x.append(ndarray::Axis(0), rows.view()).unwrap();
    x
}

/// Points in and around the spline domain, plus two rows moderately outside it (log q stays
/// O(100), so finite differences of sums over rows keep their precision).
pub fn gradient_points(d: usize) -> Array2<f64> {
    let mut x = grid(5, d, 5.0);
    let out = Array2::from_shape_fn((2, d), |(i, j)| [-8.0, 11.0][i] + 0.3 * j as f64);
    x.append(ndarray::Axis(0), out.view()).unwrap();
    x
}

/// Per-row conditions matching `test_points`.
pub fn test_conditions(n: usize) -> Array2<f64> {
    Array2::from_shape_fn((n, 1), |(i, _)| 0.5 + 0.17 * i as f64)
}

/// The condition for a model, built on the tape from plain values.
pub fn condition(
    model: &FlowModel,
    tape: &mut Tape,
    c: Option<Var>,
    c_values: &Array2<f64>,
) -> Condition {
    let cfg = &model.config.condition;
    let n = c_values.nrows();
    let mut cond = Condition {
        c,
        c_target: None,
        y: None,
    };
    if cfg.input.is_transport() {
        let ct = c_values.mapv(|v| 2.6 - v); // some rows c′ > c, some c′ < c
        cond.c_target = Some(tape.constant(ct));
    }
    if cfg.y_dim > 0 {
        // y is a function of the row's c rounded to 1e-2 (test conditions are multiples of
        // 1e-2), so single-row evaluations see the same y and finite differences in c do not
        // move it.
        let y = Array2::from_shape_fn((n, cfg.y_dim), |(i, j)| {
            let c = (c_values[[i, 0]] * 100.0).round() / 100.0;
            (3.0 * c + j as f64).sin()
        });
        cond.y = Some(tape.constant(y));
    }
    cond
}

/// z = f(x; c) and log|det| as plain arrays.
pub fn transform(
    model: &FlowModel,
    x: &Array2<f64>,
    c: &Array2<f64>,
) -> (Array2<f64>, Array2<f64>) {
    let mut tape: Tape = Tape::new();
    let cv = tape.constant(c.clone());
    let cond = condition(model, &mut tape, Some(cv), c);
    let xv = tape.constant(x.clone());
    let (z, ld) = model
        .flow
        .transform(&mut tape, &model.params, xv, &cond)
        .unwrap();
    (tape.value(z).to_owned(), tape.value(ld).to_owned())
}

/// x = f⁻¹(z; c) and log|det| as plain arrays.
pub fn inverse(model: &FlowModel, z: &Array2<f64>, c: &Array2<f64>) -> (Array2<f64>, Array2<f64>) {
    let mut tape: Tape = Tape::new();
    let cv = tape.constant(c.clone());
    let cond = condition(model, &mut tape, Some(cv), c);
    let zv = tape.constant(z.clone());
    let (x, ld) = model
        .flow
        .inverse_transform(&mut tape, &model.params, zv, &cond)
        .unwrap();
    (tape.value(x).to_owned(), tape.value(ld).to_owned())
}

/// log q(x|c) as a plain column.
pub fn log_prob(model: &FlowModel, x: &Array2<f64>, c: &Array2<f64>) -> Array2<f64> {
    let mut tape: Tape = Tape::new();
    let cv = tape.constant(c.clone());
    let cond = condition(model, &mut tape, Some(cv), c);
    let xv = tape.constant(x.clone());
    let lp = model
        .flow
        .log_prob(&mut tape, &model.params, xv, &cond)
        .unwrap();
    tape.value(lp).to_owned()
}

/// ln|det J| of `f` at `x` (one row) from a central-difference Jacobian (trade-ad's
/// `numerical_gradient` per output component) and Gaussian elimination.
pub fn numerical_log_det(f: impl Fn(&Array2<f64>) -> Array2<f64>, x: &Array2<f64>) -> f64 {
    let d = x.ncols();
    let mut jac = Array2::zeros((d, d));
    for a in 0..d {
        let g = numerical_gradient(|xp| f(xp)[[0, a]], x);
        jac.row_mut(a).assign(&g.row(0));
    }
    log_abs_det(jac)
}

pub fn log_abs_det(mut m: Array2<f64>) -> f64 {
    let d = m.nrows();
    let mut acc = 0.0;
    for k in 0..d {
        let p = (k..d)
            .max_by(|&i, &j| m[[i, k]].abs().total_cmp(&m[[j, k]].abs()))
            .unwrap();
        if p != k {
            for j in 0..d {
                m.swap([k, j], [p, j]);
            }
        }
        let piv = m[[k, k]];
        acc += piv.abs().ln();
        for i in k + 1..d {
            let f = m[[i, k]] / piv;
            for j in k..d {
                m[[i, j]] -= f * m[[k, j]];
            }
        }
    }
    acc
}

/// Largest relative error (|analytic − numerical| / max(|numerical|, 1)) between the parameter
/// gradients of `loss` (value and gradients from one reverse sweep) and central differences of
/// its value, per trainable parameter of `m`, as `(name, error)`.
pub fn parameter_gradient_errors(
    m: &FlowModel,
    loss: impl Fn(&ParamStore) -> (f64, trade_ad::Gradients),
) -> Vec<(String, f64)> {
    let (_, grads) = loss(&m.params);
    m.params
        .ids()
        .filter(|&id| m.params.is_trainable(id))
        .map(|id| {
            let num = numerical_gradient(
                |p| {
                    let mut st = m.params.clone();
                    *st.get_mut(id) = p.clone();
                    loss(&st).0
                },
                m.params.get(id),
            );
            let ana = grads
                .param(id)
                .cloned()
                .unwrap_or_else(|| Array2::zeros(num.dim()));
            let err = (&ana - &num)
                .iter()
                .zip(num.iter())
                .map(|(e, n)| e.abs() / n.abs().max(1.0))
                .fold(0.0, f64::max);
            (m.params.name(id).to_string(), err)
        })
        .collect()
}

/// Σ W ⊙ v for a fixed pseudo-random W.
pub fn project(t: &mut Tape, v: Var) -> Var {
    let w = grid(t.shape(v).0, t.shape(v).1, 2.0);
    let w = t.constant(w);
    let p = t.mul(v, w);
    t.sum(p, None)
}

/// The loss `Σ W ⊙ log q` (`tangent = false`) or `Σ W ⊙ ∂_c log q` (true), and its parameter
/// gradients from one reverse sweep. Layers that do not see c (a circular shift, the unit
/// clamp) record no c-tangent; theirs is the zero one. (Whether a conditional flow's tangent
/// is right is `tangent_check`'s job, against finite differences in c.)
pub fn param_loss(
    m: &FlowModel,
    store: &ParamStore,
    x: &Array2<f64>,
    c: &Array2<f64>,
    tangent: bool,
) -> (f64, trade_ad::Gradients) {
    let mut t: Tape = Tape::new();
    let cv = t.condition(c.clone());
    let cond = condition(m, &mut t, Some(cv), c);
    let xv = t.constant(x.clone());
    let lp = m.flow.log_prob(&mut t, store, xv, &cond).unwrap();
    let v = if tangent {
        t.tangent(lp)
            .unwrap_or_else(|| t.constant(Array2::zeros((x.nrows(), 1))))
    } else {
        lp
    };
    let l = project(&mut t, v);
    (t.scalar(l), t.backward(l))
}
