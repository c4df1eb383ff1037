//! Gradient-free helpers around a model: draw samples with their log-density, evaluate
//! log-densities, and put a `Target`'s energy on the tape (for reverse KL).

use crate::CoreError;
use ndarray::{Array1, Array2, ArrayView1, ArrayView2};
use rand::RngCore;
use std::sync::Arc;
use trade_ad::{CustomOp, ParamStore, Tape, Var};
use trade_flows::{Condition, Distribution};
use trade_targets::Target;

/// Rows per scratch tape when evaluating large sample sets.
const CHUNK: usize = 1024;

thread_local! {
    /// A tape per thread for the no-gradient evaluations below: cleared and reused, so chunk
    /// after chunk takes its buffers from the tape's pool instead of the allocator (fresh
    /// 1024-row buffers cost page faults and zeroing on every chunk).
    static EVAL_TAPE: std::cell::RefCell<Tape> = std::cell::RefCell::new(Tape::new());
}

/// Runs `f` on this thread's cleared evaluation tape (a fresh tape if it is already in use,
/// e.g. by a model whose `log_prob` evaluates another model through these functions).
fn with_eval_tape<R>(f: impl FnOnce(&mut Tape) -> R) -> R {
    EVAL_TAPE.with(|cell| match cell.try_borrow_mut() {
        Ok(mut t) => {
            t.clear();
            let out = f(&mut t);
            t.clear(); // releases the shared parameter values
            out
        }
        Err(_) => f(&mut Tape::new()),
    })
}

/// `n` samples of `model(·|c)` (c constant, or per sample) and their log-densities, no gradient.
pub fn sample(
    model: &dyn Distribution,
    store: &ParamStore,
    n: usize,
    c: f64,
    rng: &mut dyn RngCore,
) -> Result<(Array2<f64>, Array1<f64>), CoreError> {
    sample_inner(model, store, Array1::from_elem(n, c).view(), None, rng)
}

/// One sample of `model(·|c_i)` per entry of `c` (a condition per row, e.g. Loop B grid points)
/// and its log-density, no gradient.
pub fn sample_per_row(
    model: &dyn Distribution,
    store: &ParamStore,
    c: ArrayView1<f64>,
    rng: &mut dyn RngCore,
) -> Result<(Array2<f64>, Array1<f64>), CoreError> {
    sample_inner(model, store, c, None, rng)
}

/// One sample of `model(·|c, y_i)` per row of `y` (n, y_dim) and its log-density, no gradient.
pub fn sample_with_y(
    model: &dyn Distribution,
    store: &ParamStore,
    c: f64,
    y: ArrayView2<f64>,
    rng: &mut dyn RngCore,
) -> Result<(Array2<f64>, Array1<f64>), CoreError> {
    sample_inner(
        model,
        store,
        Array1::from_elem(y.nrows(), c).view(),
        Some(y),
        rng,
    )
}

fn sample_inner(
    model: &dyn Distribution,
    store: &ParamStore,
    c: ArrayView1<f64>,
    y: Option<ArrayView2<f64>>,
    rng: &mut dyn RngCore,
) -> Result<(Array2<f64>, Array1<f64>), CoreError> {
    let n = c.len();
    let mut xs = Array2::zeros((n, model.dim()));
    let mut lq = Array1::zeros(n);
    let mut start = 0;
    while start < n {
        let m = CHUNK.min(n - start);
        with_eval_tape(|t| -> Result<(), CoreError> {
            let cm = c.slice(ndarray::s![start..start + m]).to_owned();
            let cv = t.constant(cm.insert_axis(ndarray::Axis(1)));
            let mut cond = Condition::c(cv);
            if let Some(y) = y {
                cond =
                    cond.with_y(t.constant(y.slice(ndarray::s![start..start + m, ..]).to_owned()));
            }
            let (x, l) = model.sample_with_log_prob(t, store, m, &cond, rng)?;
            xs.slice_mut(ndarray::s![start..start + m, ..])
                .assign(&t.value(x));
            lq.slice_mut(ndarray::s![start..start + m])
                .assign(&t.value(l).column(0));
            Ok(())
        })?;
        start += m;
    }
    Ok((xs, lq))
}

/// `log model(x_i | c_i)` for every row, no gradient; `c` is (n, 1).
pub fn log_prob(
    model: &dyn Distribution,
    store: &ParamStore,
    x: ArrayView2<f64>,
    c: ArrayView2<f64>,
) -> Result<Array1<f64>, CoreError> {
    log_prob_with_y(model, store, x, c, None)
}

/// `log model(x_i | c_i, y_i)` for every row, no gradient; `c` is (n, 1), `y` (n, y_dim).
pub fn log_prob_with_y(
    model: &dyn Distribution,
    store: &ParamStore,
    x: ArrayView2<f64>,
    c: ArrayView2<f64>,
    y: Option<ArrayView2<f64>>,
) -> Result<Array1<f64>, CoreError> {
    use rayon::prelude::*;
    // Chunks are independent (no randomness), so they run on the rayon pool; the result does
    // not depend on the thread count.
    let parts: Vec<Array1<f64>> = trade_ad::chunk_ranges(x.nrows(), CHUNK)
        .into_par_iter()
        .map(|r| {
            let rows = ndarray::s![r, ..];
            with_eval_tape(|t| {
                let xv = t.constant(x.slice(rows).to_owned());
                let cv = t.constant(c.slice(rows).to_owned());
                let mut cond = Condition::c(cv);
                if let Some(y) = y {
                    cond = cond.with_y(t.constant(y.slice(rows).to_owned()));
                }
                let l = model.log_prob(t, store, xv, &cond)?;
                Ok(t.value(l).column(0).to_owned())
            })
        })
        .collect::<Result<_, CoreError>>()?;
    let views: Vec<_> = parts.iter().map(|p| p.view()).collect();
    Ok(ndarray::concatenate(ndarray::Axis(0), &views).unwrap_or_else(|_| Array1::zeros(0)))
}

/// U(x; c) of a `Target` as a tape op (n, d) → (n, 1) with its hand-written gradient; c is a
/// constant per row. No tangent rule: the reverse-KL loss never differentiates it in c.
#[derive(Clone)]
pub struct EnergyOp {
    /// The target.
    pub target: Arc<dyn Target>,
    /// Condition per row.
    pub c: Arc<Array1<f64>>,
}

impl CustomOp<f64> for EnergyOp {
    fn name(&self) -> &str {
        "target energy"
    }
    fn forward(&self, x: &[ArrayView2<f64>]) -> Array2<f64> {
        self.target
            .energy(x[0], self.c.view())
            .insert_axis(ndarray::Axis(1))
    }
    fn vjp(
        &self,
        x: &[ArrayView2<f64>],
        _y: ArrayView2<f64>,
        g: ArrayView2<f64>,
    ) -> Vec<Option<Array2<f64>>> {
        let gx = self.target.grad_x(x[0], self.c.view());
        // Rows with a zero upstream gradient (clipped, e.g. +∞ energy) stay 0, not 0·NaN.
        let out = ndarray::Zip::from(&gx)
            .and_broadcast(&g)
            .map_collect(|&gx, &g| if g.abs() > 0.0 { gx * g } else { 0.0 });
        vec![Some(out)]
    }
}

/// Records U(x; c) on the tape.
pub fn energy_on_tape(tape: &mut Tape, target: &Arc<dyn Target>, x: Var, c: &Array1<f64>) -> Var {
    let op = EnergyOp {
        target: Arc::clone(target),
        c: Arc::new(c.clone()),
    };
    tape.custom(Arc::new(op), &[x])
}

/// The marginal `log q(x_i | c)` of a flow with augmentation dimensions (`flows.md` §5), by
/// the importance estimate of `trade_flows::tsf::augmented_log_prob` with `repeats` draws
/// `a ~ N(0, c·I)` per row; no gradient. The estimate is biased low by Jensen's gap, which
/// shrinks as `repeats` grows. Chunks run in parallel with their own RNG stream
/// (`rng_for(seed, chunk)`), so the result does not depend on the thread count. Without
/// augmentation this is the exact [`log_prob`].
pub fn marginal_log_prob(
    flow: &trade_flows::Flow,
    store: &ParamStore,
    x: ArrayView2<f64>,
    c: f64,
    repeats: usize,
    seed: u64,
) -> Result<Array1<f64>, CoreError> {
    use rayon::prelude::*;
    let n = x.nrows();
    let chunk = (CHUNK / repeats.max(1)).max(16);
    let parts: Vec<Array1<f64>> = trade_ad::chunk_ranges(n, chunk)
        .into_par_iter()
        .enumerate()
        .map(|(k, r)| {
            let mut rng = trade_ad::rng_for(seed, k as u64);
            with_eval_tape(|t| {
                let xv = t.constant(x.slice(ndarray::s![r.clone(), ..]).to_owned());
                let cv = t.constant(Array2::from_elem((r.len(), 1), c));
                let l = trade_flows::tsf::augmented_log_prob(
                    flow,
                    t,
                    store,
                    xv,
                    &Condition::c(cv),
                    repeats,
                    &mut rng,
                )?;
                Ok(t.value(l).column(0).to_owned())
            })
        })
        .collect::<Result<_, CoreError>>()?;
    let views: Vec<_> = parts.iter().map(|p| p.view()).collect();
    Ok(ndarray::concatenate(ndarray::Axis(0), &views).expect("1-D parts"))
}
