//! The one finite-difference oracle of the workspace: first order, tangents (∂/∂c) and the
//! mixed second order ∇_θ(∂/∂c). Test support only; never used by an implementation.

use crate::{AdError, Tape, Var};
use ndarray::Array2;
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};
use rand_xoshiro::Xoshiro256PlusPlus;

/// Central-difference step for a value x: ∛ε·max(1, |x|) (balances truncation and rounding).
pub fn fd_step(x: f64) -> f64 {
    f64::EPSILON.cbrt() * x.abs().max(1.0)
}

/// Central finite-difference gradient of a scalar function of an array.
pub fn numerical_gradient(mut f: impl FnMut(&Array2<f64>) -> f64, x: &Array2<f64>) -> Array2<f64> {
    let mut xp = x.clone();
    let mut g = Array2::zeros(x.dim());
    for (idx, gi) in g.indexed_iter_mut() {
        let x0 = x[idx];
        let h = fd_step(x0);
        xp[idx] = x0 + h;
        let fp = f(&xp);
        xp[idx] = x0 - h;
        let fm = f(&xp);
        xp[idx] = x0;
        *gi = (fp - fm) / (2.0 * h);
    }
    g
}

/// Largest error found by a check.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckReport {
    /// max |analytic − numerical| / max(1, |numerical|)
    pub max_error: f64,
    /// Where it occurred: input number and element.
    pub worst: String,
}

fn compare(
    what: &str,
    analytic: &[Array2<f64>],
    numerical: &[Array2<f64>],
    tol: f64,
) -> Result<CheckReport, AdError> {
    let mut report = CheckReport {
        max_error: 0.0,
        worst: String::new(),
    };
    for (k, (a, n)) in analytic.iter().zip(numerical).enumerate() {
        assert_eq!(
            a.dim(),
            n.dim(),
            "{what}: analytic and numerical shapes differ for input {k}"
        );
        for ((idx, &av), &nv) in a.indexed_iter().zip(n.iter()) {
            let err = (av - nv).abs() / nv.abs().max(1.0);
            if err.is_nan() || err > report.max_error {
                report.max_error = err;
                report.worst =
                    format!("input {k} element {idx:?}: analytic {av:e}, numerical {nv:e}");
            }
        }
    }
    if report.max_error <= tol {
        Ok(report)
    } else {
        Err(AdError::CheckFailed(format!(
            "{what}: error {:e} > {tol:e} at {}",
            report.max_error, report.worst
        )))
    }
}

fn projection(shape: (usize, usize), seed: u64) -> Array2<f64> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    Array2::from_shape_simple_fn(shape, || StandardNormal.sample(&mut rng))
}

/// A function under test: records an output from input handles (and, for the tangent checks,
/// a condition handle whose tangent is 1).
pub type TapeFn<'a> = dyn Fn(&mut Tape<f64>, &[Var]) -> Var + 'a;
/// Like [`TapeFn`] with the condition handle last.
pub type CondTapeFn<'a> = dyn Fn(&mut Tape<f64>, &[Var], Var) -> Var + 'a;

fn project(tape: &mut Tape<f64>, y: Var, w: &Array2<f64>) -> Var {
    let wv = tape.constant(w.clone());
    let p = tape.mul(y, wv);
    tape.sum(p, None)
}

/// Reverse-mode gradient of `Σ W ⊙ f(inputs)` (fixed random W) against central differences.
pub fn gradcheck(f: &TapeFn<'_>, inputs: &[Array2<f64>], tol: f64) -> Result<CheckReport, AdError> {
    let eval =
        |xs: &[Array2<f64>], w: Option<&Array2<f64>>| -> (f64, Vec<Array2<f64>>, (usize, usize)) {
            let mut tape = Tape::new();
            let vars: Vec<Var> = xs.iter().map(|x| tape.leaf(x.clone())).collect();
            let y = f(&mut tape, &vars);
            let shape = tape.shape(y);
            let Some(w) = w else {
                return (0.0, Vec::new(), shape);
            };
            let l = project(&mut tape, y, w);
            let g = tape.backward(l);
            let grads = vars
                .iter()
                .map(|&v| {
                    g.wrt(v)
                        .cloned()
                        .unwrap_or_else(|| Array2::zeros(tape.shape(v)))
                })
                .collect();
            (tape.scalar(l), grads, shape)
        };
    let (_, _, shape) = eval(inputs, None);
    let w = projection(shape, 17);
    let (_, analytic, _) = eval(inputs, Some(&w));
    let numerical: Vec<Array2<f64>> = (0..inputs.len())
        .map(|k| {
            let mut xs = inputs.to_vec();
            numerical_gradient(
                |xk| {
                    xs[k] = xk.clone();
                    eval(&xs, Some(&w)).0
                },
                &inputs[k],
            )
        })
        .collect();
    compare("gradcheck", &analytic, &numerical, tol)
}

fn run_cond(f: &CondTapeFn<'_>, xs: &[Array2<f64>], c: &Array2<f64>) -> (Tape<f64>, Vec<Var>, Var) {
    let mut tape = Tape::new();
    let vars: Vec<Var> = xs.iter().map(|x| tape.leaf(x.clone())).collect();
    let cv = tape.condition(c.clone());
    let y = f(&mut tape, &vars, cv);
    (tape, vars, y)
}

/// The recorded tangent ∂f/∂c (direction: every c moves together) against central
/// differences in c.
pub fn tangent_check(
    f: &CondTapeFn<'_>,
    inputs: &[Array2<f64>],
    c: &Array2<f64>,
    tol: f64,
) -> Result<CheckReport, AdError> {
    let (tape, _, y) = run_cond(f, inputs, c);
    let analytic = match tape.tangent(y) {
        Some(t) => tape.value(t).to_owned(),
        None => Array2::zeros(tape.shape(y)),
    };
    let h = fd_step(c.iter().fold(0.0f64, |m, v| m.max(v.abs())));
    let at = |d: f64| {
        let (tape, _, y) = run_cond(f, inputs, &c.mapv(|v| v + d));
        tape.value(y).to_owned()
    };
    let numerical = (at(h) - at(-h)) / (2.0 * h);
    compare("tangent_check", &[analytic], &[numerical], tol)
}

/// The exact mixed second order: ∇_inputs of `Σ W ⊙ ∂f/∂c` from one reverse sweep over the
/// recorded tangent, checked (a) against central differences in the inputs of the recorded
/// tangent (`tol`), and (b) against nested central differences in c and in the inputs, which
/// uses no derivative code at all (`tol_nested`, looser: the nested step is larger).
pub fn second_order_check(
    f: &CondTapeFn<'_>,
    inputs: &[Array2<f64>],
    c: &Array2<f64>,
    tol: f64,
    tol_nested: f64,
) -> Result<CheckReport, AdError> {
    let shape = {
        let (tape, _, y) = run_cond(f, inputs, c);
        tape.shape(y)
    };
    let w = projection(shape, 23);
    let tangent_loss = |xs: &[Array2<f64>]| -> (f64, Vec<Array2<f64>>) {
        let (mut tape, vars, y) = run_cond(f, xs, c);
        let Some(t) = tape.tangent(y) else {
            return (
                0.0,
                vars.iter().map(|&v| Array2::zeros(tape.shape(v))).collect(),
            );
        };
        let l = project(&mut tape, t, &w);
        let g = tape.backward(l);
        let grads = vars
            .iter()
            .map(|&v| {
                g.wrt(v)
                    .cloned()
                    .unwrap_or_else(|| Array2::zeros(tape.shape(v)))
            })
            .collect();
        (tape.scalar(l), grads)
    };
    let (_, analytic) = tangent_loss(inputs);
    let hc = 1e-4 * c.iter().fold(1.0f64, |m, v| m.max(v.abs()));
    let nested_loss = |xs: &[Array2<f64>]| -> f64 {
        let at = |d: f64| {
            let (tape, _, y) = run_cond(f, xs, &c.mapv(|v| v + d));
            tape.value(y).to_owned()
        };
        ((at(hc) - at(-hc)) / (2.0 * hc) * &w).sum()
    };
    let fd_over = |loss: &dyn Fn(&[Array2<f64>]) -> f64, step: f64| -> Vec<Array2<f64>> {
        (0..inputs.len())
            .map(|k| {
                let mut xs = inputs.to_vec();
                let mut g = Array2::zeros(inputs[k].dim());
                for (idx, gi) in g.indexed_iter_mut() {
                    let x0 = inputs[k][idx];
                    let h = step * x0.abs().max(1.0);
                    xs[k][idx] = x0 + h;
                    let fp = loss(&xs);
                    xs[k][idx] = x0 - h;
                    let fm = loss(&xs);
                    xs[k][idx] = x0;
                    *gi = (fp - fm) / (2.0 * h);
                }
                g
            })
            .collect()
    };
    let numerical = fd_over(&|xs| tangent_loss(xs).0, f64::EPSILON.cbrt());
    let report = compare(
        "second_order_check (FD in θ of the tangent)",
        &analytic,
        &numerical,
        tol,
    )?;
    let nested = fd_over(&nested_loss, 1e-4);
    compare(
        "second_order_check (nested FD in c and θ)",
        &analytic,
        &nested,
        tol_nested,
    )?;
    Ok(report)
}
