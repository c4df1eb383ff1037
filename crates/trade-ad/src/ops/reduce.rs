//! Reductions (sum, mean, log-sum-exp; keep-dims), softmax along rows, cumulative sum.

use crate::op::{Op, Reduce};
use crate::{Float, Tape, Var};
use ndarray::{Array2, ArrayView2, Axis, Zip};

fn reduced_shape(shape: (usize, usize), axis: Option<Axis>) -> (usize, usize) {
    match axis {
        None => (1, 1),
        Some(Axis(0)) => (1, shape.1),
        Some(Axis(1)) => (shape.0, 1),
        Some(a) => panic!("reduce: axis {a:?} out of range for 2-D values"),
    }
}

fn sum_keep<F: Float>(x: ArrayView2<F>, axis: Option<Axis>) -> Array2<F> {
    match axis {
        None => Array2::from_elem((1, 1), x.sum()),
        Some(ax) => x.sum_axis(ax).insert_axis(ax),
    }
}

fn log_sum_exp<F: Float>(x: ArrayView2<F>, axis: Option<Axis>) -> Array2<F> {
    let lse = |v: ndarray::ArrayView1<F>| -> F {
        let m = v.fold(F::neg_infinity(), |m, &x| m.max(x));
        if m == F::neg_infinity() || m == F::infinity() {
            return m;
        }
        m + v.fold(F::zero(), |s, &x| s + (x - m).exp()).ln()
    };
    match axis {
        None => {
            let flat = x.iter().copied().collect::<ndarray::Array1<F>>();
            Array2::from_elem((1, 1), lse(flat.view()))
        }
        Some(ax) => x.map_axis(ax, lse).insert_axis(ax),
    }
}

pub(crate) fn forward<F: Float>(op: Reduce, axis: Option<Axis>, x: ArrayView2<F>) -> Array2<F> {
    match op {
        Reduce::Sum => sum_keep(x, axis),
        Reduce::Mean => {
            let (r, c) = x.dim();
            let n = match axis {
                None => r * c,
                Some(Axis(0)) => r,
                _ => c,
            };
            let mut s = sum_keep(x, axis);
            s.mapv_inplace(|v| v / F::c(n as f64));
            s
        }
        Reduce::LogSumExp => log_sum_exp(x, axis),
    }
}

/// Reverse rule: broadcast back (sum), divided by n (mean), times softmax (log-sum-exp).
pub(crate) fn vjp<F: Float>(
    op: Reduce,
    x: ArrayView2<F>,
    y: ArrayView2<F>,
    g: ArrayView2<F>,
) -> Array2<F> {
    let shape = x.dim();
    let gb = g.broadcast(shape).expect("reduced shape broadcasts");
    match op {
        Reduce::Sum => gb.to_owned(),
        Reduce::Mean => {
            let n = (shape.0 * shape.1) / (g.len());
            gb.mapv(|v| v / F::c(n as f64))
        }
        Reduce::LogSumExp => {
            let yb = y.broadcast(shape).expect("reduced shape broadcasts");
            Zip::from(gb).and(x).and(yb).map_collect(|&g, &x, &y| {
                if y == F::neg_infinity() {
                    F::zero()
                } else {
                    g * (x - y).exp()
                }
            })
        }
    }
}

pub(crate) fn jvp<F: Float>(
    tape: &mut Tape<F>,
    op: Reduce,
    axis: Option<Axis>,
    (x, y, dx): (Var, Var, Var),
) -> Var {
    match op {
        Reduce::Sum | Reduce::Mean => tape.reduce(op, axis, dx),
        Reduce::LogSumExp => {
            let shifted = tape.sub(x, y);
            let w = tape.exp(shifted);
            let wdx = tape.mul(w, dx);
            tape.reduce(Reduce::Sum, axis, wdx)
        }
    }
}

pub(crate) fn softmax_forward<F: Float>(x: ArrayView2<F>) -> Array2<F> {
    let mut y = x.to_owned();
    for mut row in y.rows_mut() {
        let m = row.fold(F::neg_infinity(), |m, &v| m.max(v));
        row.mapv_inplace(|v| (v - m).exp());
        let s = row.sum();
        row.mapv_inplace(|v| v / s);
    }
    y
}

/// Reverse rule of row softmax: `y ⊙ (g − Σ_j g_j y_j)`.
pub(crate) fn softmax_vjp<F: Float>(y: ArrayView2<F>, g: ArrayView2<F>) -> Array2<F> {
    let dot = (&g * &y).sum_axis(Axis(1)).insert_axis(Axis(1));
    Zip::from(&g)
        .and(&y)
        .and_broadcast(&dot)
        .map_collect(|&g, &y, &d| y * (g - d))
}

pub(crate) fn softmax_jvp<F: Float>(tape: &mut Tape<F>, y: Var, dx: Var) -> Var {
    let ydx = tape.mul(y, dx);
    let s = tape.sum(ydx, Some(Axis(1)));
    let centred = tape.sub(dx, s);
    tape.mul(y, centred)
}

pub(crate) fn cumsum_forward<F: Float>(x: ArrayView2<F>, axis: Axis, reverse: bool) -> Array2<F> {
    let mut y = x.to_owned();
    for mut lane in y.lanes_mut(axis) {
        let mut acc = F::zero();
        let n = lane.len();
        for k in 0..n {
            let i = if reverse { n - 1 - k } else { k };
            acc += lane[i];
            lane[i] = acc;
        }
    }
    y
}

impl<F: Float> Tape<F> {
    pub(crate) fn reduce(&mut self, op: Reduce, axis: Option<Axis>, x: Var) -> Var {
        let _ = reduced_shape(self.shape(x), axis);
        let value = forward(op, axis, self.value(x));
        self.record(Op::Reduce(op, axis, x), value)
    }

    /// Σ over `axis` (`None`: all), keeping dimensions.
    pub fn sum(&mut self, x: Var, axis: Option<Axis>) -> Var {
        self.reduce(Reduce::Sum, axis, x)
    }

    /// Mean over `axis` (`None`: all), keeping dimensions.
    pub fn mean(&mut self, x: Var, axis: Option<Axis>) -> Var {
        self.reduce(Reduce::Mean, axis, x)
    }

    /// log Σ exp over `axis` (`None`: all), stable; keeps dimensions.
    pub fn logsumexp(&mut self, x: Var, axis: Option<Axis>) -> Var {
        self.reduce(Reduce::LogSumExp, axis, x)
    }

    /// Softmax along each row.
    pub fn softmax(&mut self, x: Var) -> Var {
        let value = softmax_forward(self.value(x));
        self.record(Op::Softmax(x), value)
    }

    /// Inclusive cumulative sum along `axis`.
    pub fn cumsum(&mut self, x: Var, axis: Axis) -> Var {
        assert!(
            axis.index() < 2,
            "cumsum: axis {axis:?} out of range for 2-D values"
        );
        let value = cumsum_forward(self.value(x), axis, false);
        self.record(Op::CumSum(axis, x), value)
    }
}
