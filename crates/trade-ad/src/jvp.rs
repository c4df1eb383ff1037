//! Tangent dispatch: records `∂y/∂c` for a freshly recorded node from its inputs' tangents.

use crate::op::Op;
use crate::ops::{binary, elementwise, linalg, reduce, shape, silu};
use crate::{Float, Tape, Var};

/// Records the tangent of node `y` (tangent mode is on). `None` is a symbolic zero.
pub(crate) fn tangent_of<F: Float>(tape: &mut Tape<F>, y: Var) -> Option<Var> {
    let op = tape.nodes[y.index()].op.clone();
    let t = |tape: &Tape<F>, v: Var| tape.tangent(v);
    match &op {
        Op::Leaf | Op::Param(_) => None,
        Op::Unary(u, x) => {
            let dx = t(tape, *x)?;
            elementwise::jvp(tape, *u, *x, y, dx)
        }
        Op::Binary(b, a1, a2) => {
            let d = (t(tape, *a1), t(tape, *a2));
            binary::jvp(tape, *b, (*a1, *a2, y), d)
        }
        Op::MatMul { a, b, ta, tb } => {
            let d = (t(tape, *a), t(tape, *b));
            linalg::jvp(tape, (*a, *b), (*ta, *tb), d)
        }
        Op::Reduce(r, axis, x) => {
            let dx = t(tape, *x)?;
            Some(reduce::jvp(tape, *r, *axis, (*x, y, dx)))
        }
        Op::Softmax(x) => {
            let dx = t(tape, *x)?;
            Some(reduce::softmax_jvp(tape, y, dx))
        }
        Op::CumSum(axis, x) => {
            let dx = t(tape, *x)?;
            Some(tape.cumsum(dx, *axis))
        }
        Op::SiluTangent { x, y, d } => {
            let ts = (t(tape, *x), t(tape, *d));
            silu::jvp(tape, (*x, *y, *d), ts)
        }
        Op::Custom(custom, inputs) => {
            let ts: Vec<Option<Var>> = inputs.iter().map(|&v| t(tape, v)).collect();
            custom.jvp(tape, inputs, y, &ts)
        }
        Op::Reshape(_)
        | Op::Broadcast(_)
        | Op::SliceCols { .. }
        | Op::ConcatCols(_)
        | Op::GatherCols(..)
        | Op::TakeAlongRows(..)
        | Op::Where(..) => shape::jvp(tape, &op, y),
    }
}
