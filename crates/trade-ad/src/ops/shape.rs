//! Shape ops: reshape, broadcast, column slice/concat/gather, per-row take, masked select.

use crate::op::Op;
use crate::{Float, Tape, Var};
use ndarray::{Array2, ArrayView2, Axis, Zip, s};
use std::sync::Arc;

pub(crate) fn reshape<F: Float>(x: ArrayView2<F>, shape: (usize, usize)) -> Array2<F> {
    assert!(
        x.len() == shape.0 * shape.1,
        "reshape: cannot reshape {:?} into {shape:?}",
        x.dim()
    );
    match x.to_shape(shape) {
        Ok(v) => v.into_owned(),
        Err(e) => panic!("reshape: {:?} into {shape:?}: {e}", x.dim()),
    }
}

pub(crate) fn slice_vjp<F: Float>(
    shape: (usize, usize),
    start: usize,
    g: ArrayView2<F>,
) -> Array2<F> {
    let mut out = Array2::zeros(shape);
    out.slice_mut(s![.., start..start + g.ncols()]).assign(&g);
    out
}

pub(crate) fn concat_vjp<F: Float>(widths: &[usize], g: ArrayView2<F>) -> Vec<Array2<F>> {
    let mut start = 0;
    widths
        .iter()
        .map(|&w| {
            let part = g.slice(s![.., start..start + w]).to_owned();
            start += w;
            part
        })
        .collect()
}

pub(crate) fn gather_cols_forward<F: Float>(x: ArrayView2<F>, idx: &[usize]) -> Array2<F> {
    x.select(Axis(1), idx)
}

pub(crate) fn gather_cols_vjp<F: Float>(
    ncols: usize,
    idx: &[usize],
    g: ArrayView2<F>,
) -> Array2<F> {
    let mut out = Array2::zeros((g.nrows(), ncols));
    for (j, &src) in idx.iter().enumerate() {
        let mut col = out.column_mut(src);
        col += &g.column(j);
    }
    out
}

pub(crate) fn take_forward<F: Float>(x: ArrayView2<F>, idx: &Array2<usize>) -> Array2<F> {
    let mut out = Array2::zeros(idx.dim());
    Zip::from(out.rows_mut())
        .and(idx.rows())
        .and(x.rows())
        .for_each(|mut o, i, xr| {
            for (o, &k) in o.iter_mut().zip(i) {
                *o = xr[k];
            }
        });
    out
}

pub(crate) fn take_vjp<F: Float>(ncols: usize, idx: &Array2<usize>, g: ArrayView2<F>) -> Array2<F> {
    let mut out = Array2::zeros((g.nrows(), ncols));
    Zip::from(out.rows_mut())
        .and(idx.rows())
        .and(g.rows())
        .for_each(|mut o, i, gr| {
            for (&k, &gv) in i.iter().zip(gr) {
                o[k] += gv;
            }
        });
    out
}

pub(crate) fn where_forward<F: Float>(
    mask: &Array2<bool>,
    a: ArrayView2<F>,
    b: ArrayView2<F>,
) -> Array2<F> {
    Zip::from(mask)
        .and(&a)
        .and(&b)
        .map_collect(|&m, &a, &b| if m { a } else { b })
}

pub(crate) fn where_vjp<F: Float>(
    mask: &Array2<bool>,
    g: ArrayView2<F>,
    take_true: bool,
) -> Array2<F> {
    Zip::from(mask)
        .and(&g)
        .map_collect(|&m, &g| if m == take_true { g } else { F::zero() })
}

/// Tangent rules of the shape ops: the same op applied to the tangent.
pub(crate) fn jvp<F: Float>(tape: &mut Tape<F>, op: &Op<F>, y: Var) -> Option<Var> {
    let t = |tape: &Tape<F>, v: Var| tape.tangent(v);
    let shape = tape.shape(y);
    Some(match op {
        Op::Reshape(x) => {
            let dx = t(tape, *x)?;
            tape.reshape(dx, shape)
        }
        Op::Broadcast(x) => {
            let dx = t(tape, *x)?;
            tape.broadcast(dx, shape)
        }
        Op::SliceCols { x, start } => {
            let dx = t(tape, *x)?;
            tape.slice_cols(dx, *start, start + shape.1)
        }
        Op::ConcatCols(xs) => {
            let ts: Vec<Option<Var>> = xs.iter().map(|&x| t(tape, x)).collect();
            if ts.iter().all(Option::is_none) {
                return None;
            }
            let parts: Vec<Var> = xs
                .iter()
                .zip(ts)
                .map(|(&x, d)| tape.tangent_or_zeros(x, d))
                .collect();
            tape.concat_cols(&parts)
        }
        Op::GatherCols(x, idx) => {
            let dx = t(tape, *x)?;
            tape.gather_cols_shared(dx, idx.clone())
        }
        Op::TakeAlongRows(x, idx) => {
            let dx = t(tape, *x)?;
            tape.take_along_rows_shared(dx, idx.clone())
        }
        Op::Where(mask, a, b) => {
            let (da, db) = (t(tape, *a), t(tape, *b));
            if da.is_none() && db.is_none() {
                return None;
            }
            let da = tape.tangent_or_zeros(*a, da);
            let db = tape.tangent_or_zeros(*b, db);
            tape.where_shared(mask.clone(), da, db)
        }
        _ => unreachable!("shape::jvp called for {op:?}"),
    })
}

impl<F: Float> Tape<F> {
    /// Reshapes in row-major order (e.g. (B, D·K) ↔ (B·D, K)).
    pub fn reshape(&mut self, x: Var, shape: (usize, usize)) -> Var {
        let value = reshape(self.value(x), shape);
        self.record(Op::Reshape(x), value)
    }

    /// Materialises a broadcast of `x` to `shape`.
    pub fn broadcast(&mut self, x: Var, shape: (usize, usize)) -> Var {
        let xs = self.shape(x);
        let value = match self.value(x).broadcast(shape) {
            Some(v) => v.to_owned(),
            None => panic!("broadcast: cannot broadcast {xs:?} to {shape:?}"),
        };
        self.record(Op::Broadcast(x), value)
    }

    /// Columns `start..end` of `x`.
    pub fn slice_cols(&mut self, x: Var, start: usize, end: usize) -> Var {
        let xs = self.shape(x);
        assert!(
            start <= end && end <= xs.1,
            "slice_cols: range {start}..{end} out of bounds for shape {xs:?}"
        );
        let value = self.value(x).slice(s![.., start..end]).to_owned();
        self.record(Op::SliceCols { x, start }, value)
    }

    /// Concatenates along columns; all parts need the same number of rows.
    pub fn concat_cols(&mut self, xs: &[Var]) -> Var {
        assert!(!xs.is_empty(), "concat_cols: no inputs");
        let rows = self.shape(xs[0]).0;
        for &x in xs {
            let sh = self.shape(x);
            assert!(
                sh.0 == rows,
                "concat_cols: shapes {:?} and {sh:?} have different row counts",
                self.shape(xs[0])
            );
        }
        let views: Vec<ArrayView2<F>> = xs.iter().map(|&x| self.value(x)).collect();
        let value = ndarray::concatenate(Axis(1), &views).expect("checked row counts");
        self.record(Op::ConcatCols(xs.to_vec()), value)
    }

    /// Selects columns: `out[:, j] = x[:, idx[j]]` (permutations, splits, repeats).
    pub fn gather_cols(&mut self, x: Var, idx: &[usize]) -> Var {
        self.gather_cols_shared(x, Arc::new(idx.to_vec()))
    }

    /// [`Tape::gather_cols`] with a shared index list (no copy).
    pub fn gather_cols_shared(&mut self, x: Var, idx: Arc<Vec<usize>>) -> Var {
        let n = self.shape(x).1;
        if let Some(&bad) = idx.iter().find(|&&i| i >= n) {
            panic!(
                "gather_cols: index {bad} out of bounds for shape {:?}",
                self.shape(x)
            );
        }
        let value = gather_cols_forward(self.value(x), &idx);
        self.record(Op::GatherCols(x, idx), value)
    }

    /// Per-row take: `out[i, j] = x[i, idx[i, j]]` (spline bins). The index is piecewise
    /// constant: it gets no derivative.
    pub fn take_along_rows(&mut self, x: Var, idx: Array2<usize>) -> Var {
        self.take_along_rows_shared(x, Arc::new(idx))
    }

    /// [`Tape::take_along_rows`] with a shared index array.
    pub fn take_along_rows_shared(&mut self, x: Var, idx: Arc<Array2<usize>>) -> Var {
        let xs = self.shape(x);
        assert!(
            idx.nrows() == xs.0,
            "take_along_rows: index shape {:?} and value shape {xs:?} differ in rows",
            idx.dim()
        );
        if let Some(&bad) = idx.iter().find(|&&i| i >= xs.1) {
            panic!("take_along_rows: index {bad} out of bounds for shape {xs:?}");
        }
        let value = take_forward(self.value(x), &idx);
        self.record(Op::TakeAlongRows(x, idx), value)
    }

    /// Elementwise select: `mask ? a : b`; all three of one shape.
    pub fn select(&mut self, mask: Array2<bool>, a: Var, b: Var) -> Var {
        self.where_shared(Arc::new(mask), a, b)
    }

    /// [`Tape::select`] with a shared mask.
    pub fn where_shared(&mut self, mask: Arc<Array2<bool>>, a: Var, b: Var) -> Var {
        let (sa, sb) = (self.shape(a), self.shape(b));
        assert!(
            sa == sb && mask.dim() == sa,
            "select: mask {:?}, a {sa:?} and b {sb:?} must have one shape",
            mask.dim()
        );
        let value = where_forward(&mask, self.value(a), self.value(b));
        self.record(Op::Where(mask, a, b), value)
    }
}
