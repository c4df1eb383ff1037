//! Row-parallel batch kernels: map a per-row energy/gradient over an (N, d) batch (deterministic).
//!
//! Every row is computed independently, so results are bit-identical on any thread count. Small
//! batches run sequentially; larger ones split rows over rayon.

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, ArrayViewMut1, Zip};

/// Below this many scalar entries (N·d) a batch runs on the calling thread.
const PARALLEL_MIN_ENTRIES: usize = 8192;

/// The condition of row `i`: `c[i]`, or `c[0]` when one condition serves all rows.
pub(crate) fn condition_of(c: ArrayView1<f64>, i: usize) -> f64 {
    if c.len() == 1 { c[0] } else { c[i] }
}

fn parallel(x: &ArrayView2<f64>) -> bool {
    x.len() >= PARALLEL_MIN_ENTRIES
}

/// `out[i] = f(x_i, c_i)`.
pub(crate) fn map_rows<F>(x: ArrayView2<f64>, c: ArrayView1<f64>, f: F) -> Array1<f64>
where
    F: Fn(ArrayView1<f64>, f64) -> f64 + Sync,
{
    let mut out = Array1::zeros(x.nrows());
    let zip = Zip::indexed(&mut out).and(x.rows());
    let body = |i: usize, o: &mut f64, row: ArrayView1<f64>| *o = f(row, condition_of(c, i));
    if parallel(&x) {
        zip.par_for_each(body)
    } else {
        zip.for_each(body)
    }
    out
}

/// `g_i = ∇U(x_i, c_i)` written by `f(x_i, c_i, g_i)`, which returns U(x_i, c_i).
pub(crate) fn map_rows_grad<F>(
    x: ArrayView2<f64>,
    c: ArrayView1<f64>,
    f: F,
) -> (Array1<f64>, Array2<f64>)
where
    F: Fn(ArrayView1<f64>, f64, ArrayViewMut1<f64>) -> f64 + Sync,
{
    let mut energy = Array1::zeros(x.nrows());
    let mut grad = Array2::zeros(x.raw_dim());
    let zip = Zip::indexed(&mut energy).and(x.rows()).and(grad.rows_mut());
    let body = |i: usize, e: &mut f64, row: ArrayView1<f64>, g: ArrayViewMut1<f64>| {
        *e = f(row, condition_of(c, i), g);
    };
    if parallel(&x) {
        zip.par_for_each(body)
    } else {
        zip.for_each(body)
    }
    (energy, grad)
}

/// The first two coordinates of a row (the 2-D targets).
pub(crate) fn row2(x: ArrayView1<f64>) -> [f64; 2] {
    [x[0], x[1]]
}
