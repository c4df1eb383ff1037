//! The one op table: every node of the tape records one `Op`; `OpKind` lists them for tests.

use crate::Var;
use crate::custom::CustomOp;
use ndarray::{Array2, Axis};
use std::fmt;
use std::sync::Arc;

/// Elementwise unary ops. Scalars are stored as f64 and converted to the element type.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Unary {
    /// −x
    Neg,
    /// eˣ
    Exp,
    /// ln x
    Log,
    /// ln(1 + x)
    Log1p,
    /// tanh x
    Tanh,
    /// 1/(1 + e⁻ˣ)
    Sigmoid,
    /// ln(1 + eˣ), computed stably
    Softplus,
    /// x·σ(x)
    Silu,
    /// max(x, 0)
    Relu,
    /// atan x
    Atan,
    /// √x
    Sqrt,
    /// x²
    Square,
    /// |x| (derivative sign(x), 0 at 0)
    Abs,
    /// 1/x
    Recip,
    /// xⁿ for integer n
    Powi(i32),
    /// a·x
    Scale(f64),
    /// x + a
    AddScalar(f64),
    /// min(max(x, lo), hi)
    Clamp(f64, f64),
    /// Huber: ½x² if |x| < δ, else δ(|x| − ½δ)
    Huber(f64),
    /// SmoothL1 = Huber/δ: ½x²/δ if |x| < δ, else |x| − ½δ
    SmoothL1(f64),
    // Internal derivative ops, recorded only by tangent rules.
    /// 1 − tanh² x (internal)
    TanhPrime,
    /// σ(x)(1 − σ(x)) (internal)
    SigmoidPrime,
    /// d²/dx² SiLU (internal; the fused SiLU tangent's own tangent rule)
    SiluSecond,
    /// 1/(1 + x²) (internal)
    AtanPrime,
    /// sign(x), zero derivative (internal)
    Sign,
    /// 1[lo < x < hi], zero derivative (internal)
    Indicator(f64, f64),
}

/// Elementwise binary ops with 2-D broadcasting (a dimension of 1 stretches).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binary {
    /// a + b
    Add,
    /// a − b
    Sub,
    /// a ⊙ b
    Mul,
    /// a ⊘ b
    Div,
}

/// Reductions; the result keeps both dimensions (axis reduced to 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reduce {
    /// Σ
    Sum,
    /// mean
    Mean,
    /// log Σ exp, computed stably
    LogSumExp,
}

/// A recorded operation with its input handles.
#[derive(Clone)]
pub(crate) enum Op<F> {
    Leaf,
    Param(crate::ParamId),
    Unary(Unary, Var),
    Binary(Binary, Var, Var),
    MatMul {
        a: Var,
        b: Var,
        ta: bool,
        tb: bool,
    },
    Reduce(Reduce, Option<Axis>, Var),
    Softmax(Var),
    CumSum(Axis, Var),
    Reshape(Var),
    Broadcast(Var),
    SliceCols {
        x: Var,
        start: usize,
    },
    ConcatCols(Vec<Var>),
    GatherCols(Var, Arc<Vec<usize>>),
    TakeAlongRows(Var, Arc<Array2<usize>>),
    Where(Arc<Array2<bool>>, Var, Var),
    /// silu'(x) ⊙ d; `y` = silu(x) only supplies σ(x) (not an input: no gradient flows to it).
    SiluTangent {
        x: Var,
        y: Option<Var>,
        d: Var,
    },
    Custom(Arc<dyn CustomOp<F>>, Vec<Var>),
}

impl<F> Op<F> {
    /// Calls `f` on every input handle, in order.
    pub(crate) fn for_each_input(&self, mut f: impl FnMut(Var)) {
        match self {
            Op::Leaf | Op::Param(_) => {}
            Op::Unary(_, x)
            | Op::Reduce(_, _, x)
            | Op::Softmax(x)
            | Op::CumSum(_, x)
            | Op::Reshape(x)
            | Op::Broadcast(x)
            | Op::SliceCols { x, .. }
            | Op::GatherCols(x, _)
            | Op::TakeAlongRows(x, _) => f(*x),
            Op::Binary(_, a, b)
            | Op::MatMul { a, b, .. }
            | Op::Where(_, a, b)
            | Op::SiluTangent { x: a, d: b, .. } => {
                f(*a);
                f(*b);
            }
            Op::ConcatCols(xs) | Op::Custom(_, xs) => xs.iter().copied().for_each(f),
        }
    }

    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Op::Leaf => "leaf",
            Op::Param(_) => "param",
            Op::Unary(..) => "unary",
            Op::Binary(..) => "binary",
            Op::MatMul { .. } => "matmul",
            Op::Reduce(..) => "reduce",
            Op::Softmax(_) => "softmax",
            Op::CumSum(..) => "cumsum",
            Op::Reshape(_) => "reshape",
            Op::Broadcast(_) => "broadcast",
            Op::SliceCols { .. } => "slice_cols",
            Op::ConcatCols(_) => "concat_cols",
            Op::GatherCols(..) => "gather_cols",
            Op::TakeAlongRows(..) => "take_along_rows",
            Op::Where(..) => "where",
            Op::SiluTangent { .. } => "silu_tangent",
            Op::Custom(..) => "custom",
        }
    }
}

impl<F> fmt::Debug for Op<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind())
    }
}

/// Every public op of the tape, one entry per differentiable primitive. The gradient-check
/// table in `tests/gradcheck.rs` matches on it exhaustively, so a new op cannot go untested.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum OpKind {
    Neg,
    Exp,
    Log,
    Log1p,
    Tanh,
    Sigmoid,
    Softplus,
    Silu,
    SiluTangent,
    Relu,
    Atan,
    Sqrt,
    Square,
    Abs,
    Recip,
    Powi,
    Scale,
    AddScalar,
    Clamp,
    Huber,
    SmoothL1,
    Add,
    Sub,
    Mul,
    Div,
    MatMul,
    Sum,
    Mean,
    LogSumExp,
    Softmax,
    CumSum,
    Reshape,
    Broadcast,
    SliceCols,
    ConcatCols,
    GatherCols,
    TakeAlongRows,
    Where,
    Custom,
}

impl OpKind {
    /// All op kinds, in table order.
    pub const ALL: [OpKind; 39] = [
        OpKind::Neg,
        OpKind::Exp,
        OpKind::Log,
        OpKind::Log1p,
        OpKind::Tanh,
        OpKind::Sigmoid,
        OpKind::Softplus,
        OpKind::Silu,
        OpKind::SiluTangent,
        OpKind::Relu,
        OpKind::Atan,
        OpKind::Sqrt,
        OpKind::Square,
        OpKind::Abs,
        OpKind::Recip,
        OpKind::Powi,
        OpKind::Scale,
        OpKind::AddScalar,
        OpKind::Clamp,
        OpKind::Huber,
        OpKind::SmoothL1,
        OpKind::Add,
        OpKind::Sub,
        OpKind::Mul,
        OpKind::Div,
        OpKind::MatMul,
        OpKind::Sum,
        OpKind::Mean,
        OpKind::LogSumExp,
        OpKind::Softmax,
        OpKind::CumSum,
        OpKind::Reshape,
        OpKind::Broadcast,
        OpKind::SliceCols,
        OpKind::ConcatCols,
        OpKind::GatherCols,
        OpKind::TakeAlongRows,
        OpKind::Where,
        OpKind::Custom,
    ];
}
