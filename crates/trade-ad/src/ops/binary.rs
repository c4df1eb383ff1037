//! Elementwise binary ops with 2-D broadcasting (a dimension of 1 stretches to the other's).

use crate::op::{Binary, Op};
use crate::tape::BufferPool;
use crate::{Float, Tape, Var};
use ndarray::{Array2, ArrayView2, Axis, Zip};

/// Broadcast shape of two operands, or a panic naming the op and both shapes.
pub(crate) fn broadcast_shape(op: &str, a: (usize, usize), b: (usize, usize)) -> (usize, usize) {
    let dim = |x: usize, y: usize| {
        if x == y || y == 1 {
            Some(x)
        } else if x == 1 {
            Some(y)
        } else {
            None
        }
    };
    match (dim(a.0, b.0), dim(a.1, b.1)) {
        (Some(r), Some(c)) => (r, c),
        _ => panic!("{op}: shapes {a:?} and {b:?} cannot be broadcast together"),
    }
}

/// Sums a broadcast gradient back down to `shape`.
pub(crate) fn reduce_to<F: Float>(g: Array2<F>, shape: (usize, usize)) -> Array2<F> {
    let mut g = g;
    if shape.0 == 1 && g.nrows() != 1 {
        g = g.sum_axis(Axis(0)).insert_axis(Axis(0));
    }
    if shape.1 == 1 && g.ncols() != 1 {
        g = g.sum_axis(Axis(1)).insert_axis(Axis(1));
    }
    g
}

fn name(op: Binary) -> &'static str {
    match op {
        Binary::Add => "add",
        Binary::Sub => "sub",
        Binary::Mul => "mul",
        Binary::Div => "div",
    }
}

/// Writes `a op b` into `out`, whose shape is the broadcast shape (old contents ignored).
pub(crate) fn forward_into<F: Float>(
    op: Binary,
    a: ArrayView2<F>,
    b: ArrayView2<F>,
    out: &mut Array2<F>,
) {
    let shape = out.dim();
    let (a, b) = (
        a.broadcast(shape).expect("checked"),
        b.broadcast(shape).expect("checked"),
    );
    let z = Zip::from(out).and(a).and(b);
    match op {
        Binary::Add => z.for_each(|o, &a, &b| *o = a + b),
        Binary::Sub => z.for_each(|o, &a, &b| *o = a - b),
        Binary::Mul => z.for_each(|o, &a, &b| *o = a * b),
        Binary::Div => z.for_each(|o, &a, &b| *o = a / b),
    }
}

/// Sums a broadcast gradient down to `shape` without copying it first.
pub(crate) fn reduce_view<F: Float>(g: ArrayView2<F>, shape: (usize, usize)) -> Array2<F> {
    match (
        shape.0 == 1 && g.nrows() != 1,
        shape.1 == 1 && g.ncols() != 1,
    ) {
        (false, false) => g.to_owned(),
        (true, false) => g.sum_axis(Axis(0)).insert_axis(Axis(0)),
        (false, true) => g.sum_axis(Axis(1)).insert_axis(Axis(1)),
        (true, true) => reduce_to(g.sum_axis(Axis(0)).insert_axis(Axis(0)), shape),
    }
}

/// The gradient of an operand of shape `target`: `fill` writes the full (broadcast-shape)
/// gradient into a pooled buffer, which is summed down if the operand was broadcast.
fn operand_grad<F: Float>(
    target: (usize, usize),
    shape: (usize, usize),
    pool: &mut BufferPool<F>,
    fill: impl FnOnce(&mut Array2<F>),
) -> Array2<F> {
    let mut full = pool.take(shape);
    fill(&mut full);
    if target == shape {
        full
    } else {
        let r = reduce_view(full.view(), target);
        pool.put(full);
        r
    }
}

/// Reverse rule; computes only the gradients asked for.
pub(crate) fn vjp<F: Float>(
    op: Binary,
    (a, b, y): (ArrayView2<F>, ArrayView2<F>, ArrayView2<F>),
    g: ArrayView2<F>,
    need: (bool, bool),
    pool: &mut BufferPool<F>,
) -> (Option<Array2<F>>, Option<Array2<F>>) {
    let shape = g.dim();
    let ab = a.broadcast(shape).expect("recorded shape");
    let bb = b.broadcast(shape).expect("recorded shape");
    let ga = need.0.then(|| match op {
        Binary::Add | Binary::Sub if a.dim() != shape => reduce_view(g, a.dim()),
        Binary::Add | Binary::Sub => operand_grad(a.dim(), shape, pool, |o| o.assign(&g)),
        Binary::Mul => operand_grad(a.dim(), shape, pool, |o| {
            Zip::from(o)
                .and(&g)
                .and(&bb)
                .for_each(|o, &g, &b| *o = g * b)
        }),
        Binary::Div => operand_grad(a.dim(), shape, pool, |o| {
            Zip::from(o)
                .and(&g)
                .and(&bb)
                .for_each(|o, &g, &b| *o = g / b)
        }),
    });
    let gb = need.1.then(|| match op {
        Binary::Add if b.dim() != shape => reduce_view(g, b.dim()),
        Binary::Add => operand_grad(b.dim(), shape, pool, |o| o.assign(&g)),
        Binary::Sub => operand_grad(b.dim(), shape, pool, |o| {
            Zip::from(o).and(&g).for_each(|o, &g| *o = -g)
        }),
        Binary::Mul => operand_grad(b.dim(), shape, pool, |o| {
            Zip::from(o)
                .and(&g)
                .and(&ab)
                .for_each(|o, &g, &a| *o = g * a)
        }),
        Binary::Div => operand_grad(b.dim(), shape, pool, |o| {
            Zip::from(o)
                .and(&g)
                .and(&y)
                .and(&bb)
                .for_each(|o, &g, &y, &b| *o = -g * y / b)
        }),
    });
    (ga, gb)
}

/// Tangent rule, recorded with tape ops. The result always has the output's shape.
pub(crate) fn jvp<F: Float>(
    tape: &mut Tape<F>,
    op: Binary,
    (a, b, y): (Var, Var, Var),
    (da, db): (Option<Var>, Option<Var>),
) -> Option<Var> {
    let t = match (op, da, db) {
        (_, None, None) => return None,
        (Binary::Add, Some(da), Some(db)) => tape.add(da, db),
        (Binary::Add, Some(d), None) | (Binary::Add, None, Some(d)) => d,
        (Binary::Sub, Some(da), Some(db)) => tape.sub(da, db),
        (Binary::Sub, Some(da), None) => da,
        (Binary::Sub, None, Some(db)) => tape.neg(db),
        (Binary::Mul, da, db) => {
            let ta = da.map(|da| tape.mul(da, b));
            let tb = db.map(|db| tape.mul(a, db));
            sum_opt(tape, ta, tb)
        }
        (Binary::Div, da, db) => {
            let ta = da.map(|da| tape.div(da, b));
            let tb = db.map(|db| {
                let ydb = tape.mul(y, db);
                let q = tape.div(ydb, b);
                tape.neg(q)
            });
            sum_opt(tape, ta, tb)
        }
    };
    let shape = tape.shape(y);
    Some(if tape.shape(t) == shape {
        t
    } else {
        tape.broadcast(t, shape)
    })
}

pub(crate) fn sum_opt<F: Float>(tape: &mut Tape<F>, a: Option<Var>, b: Option<Var>) -> Var {
    match (a, b) {
        (Some(a), Some(b)) => tape.add(a, b),
        (Some(a), None) => a,
        (None, Some(b)) => b,
        (None, None) => unreachable!("sum_opt of two zero tangents"),
    }
}

impl<F: Float> Tape<F> {
    fn binary(&mut self, op: Binary, a: Var, b: Var) -> Var {
        let shape = broadcast_shape(name(op), self.shape(a), self.shape(b));
        let mut value = self.take_buffer(shape);
        forward_into(op, self.value(a), self.value(b), &mut value);
        self.record(Op::Binary(op, a, b), value)
    }

    /// a + b (broadcasting).
    pub fn add(&mut self, a: Var, b: Var) -> Var {
        self.binary(Binary::Add, a, b)
    }

    /// a − b (broadcasting).
    pub fn sub(&mut self, a: Var, b: Var) -> Var {
        self.binary(Binary::Sub, a, b)
    }

    /// a ⊙ b (broadcasting).
    pub fn mul(&mut self, a: Var, b: Var) -> Var {
        self.binary(Binary::Mul, a, b)
    }

    /// a ⊘ b (broadcasting).
    pub fn div(&mut self, a: Var, b: Var) -> Var {
        self.binary(Binary::Div, a, b)
    }
}
