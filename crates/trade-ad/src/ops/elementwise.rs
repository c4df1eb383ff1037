//! Elementwise unary ops: forward kernels, reverse rules (ndarray) and tangent rules (tape ops).

use crate::op::{Op, Unary};
use crate::tape::BufferPool;
use crate::{Float, Tape, Var};
use ndarray::{Array2, ArrayView2, Zip};

use crate::ops::silu::{self, sigmoid};

#[inline]
fn sign<F: Float>(x: F) -> F {
    if x > F::zero() {
        F::one()
    } else if x < F::zero() {
        -F::one()
    } else {
        F::zero()
    }
}

#[inline]
fn clamp<F: Float>(x: F, lo: F, hi: F) -> F {
    x.max(lo).min(hi)
}

/// Forward kernel of one unary op at one point.
#[inline]
fn forward_scalar<F: Float>(op: Unary, x: F) -> F {
    let half = F::c(0.5);
    match op {
        Unary::Neg => -x,
        Unary::Exp => x.exp(),
        Unary::Log => x.ln(),
        Unary::Log1p => x.ln_1p(),
        Unary::Tanh => x.tanh(),
        Unary::Sigmoid => sigmoid(x),
        Unary::Softplus => x.max(F::zero()) + (-x.abs()).exp().ln_1p(),
        Unary::Silu => silu::silu_value(x),
        Unary::Relu => x.max(F::zero()),
        Unary::Atan => x.atan(),
        Unary::Sqrt => x.sqrt(),
        Unary::Square => x * x,
        Unary::Abs => x.abs(),
        Unary::Recip => x.recip(),
        Unary::Powi(n) => x.powi(n),
        Unary::Scale(a) => x * F::c(a),
        Unary::AddScalar(a) => x + F::c(a),
        Unary::Clamp(lo, hi) => clamp(x, F::c(lo), F::c(hi)),
        Unary::Huber(d) => {
            let d = F::c(d);
            if x.abs() < d {
                half * x * x
            } else {
                d * (x.abs() - half * d)
            }
        }
        Unary::SmoothL1(d) => {
            let d = F::c(d);
            if x.abs() < d {
                half * x * x / d
            } else {
                x.abs() - half * d
            }
        }
        Unary::TanhPrime => {
            let t = x.tanh();
            F::one() - t * t
        }
        Unary::SigmoidPrime => {
            let s = sigmoid(x);
            s * (F::one() - s)
        }
        Unary::SiluSecond => silu::second(x, sigmoid(x)),
        Unary::AtanPrime => (F::one() + x * x).recip(),
        Unary::Sign => sign(x),
        Unary::Indicator(lo, hi) => {
            if F::c(lo) <= x && x <= F::c(hi) {
                F::one()
            } else {
                F::zero()
            }
        }
    }
}

/// dy/dx of one unary op, given x and y = f(x). `None` for ops with zero derivative.
#[inline]
fn derivative<F: Float>(op: Unary, x: F, y: F) -> F {
    let one = F::one();
    let two = F::c(2.0);
    match op {
        Unary::Neg => -one,
        Unary::Exp => y,
        Unary::Log => x.recip(),
        Unary::Log1p => (one + x).recip(),
        Unary::Tanh => one - y * y,
        Unary::Sigmoid => y * (one - y),
        Unary::Softplus => sigmoid(x),
        // σ(x) = y/x recovers the forward's sigmoid without another exp.
        Unary::Silu => silu::first(x, silu::sigmoid_from_silu(x, y)),
        Unary::Relu => {
            if x > F::zero() {
                one
            } else {
                F::zero()
            }
        }
        Unary::Atan => (one + x * x).recip(),
        Unary::Sqrt => F::c(0.5) / y,
        Unary::Square => two * x,
        Unary::Abs => sign(x),
        Unary::Recip => -y * y,
        Unary::Powi(n) => F::c(f64::from(n)) * x.powi(n - 1),
        Unary::Scale(a) => F::c(a),
        Unary::AddScalar(_) => one,
        Unary::Clamp(lo, hi) => {
            if F::c(lo) <= x && x <= F::c(hi) {
                one
            } else {
                F::zero()
            }
        }
        Unary::Huber(d) => clamp(x, F::c(-d), F::c(d)),
        Unary::SmoothL1(d) => clamp(x, F::c(-d), F::c(d)) / F::c(d),
        Unary::TanhPrime => {
            let t = x.tanh();
            -two * t * (one - t * t)
        }
        Unary::SigmoidPrime => {
            let s = sigmoid(x);
            s * (one - s) * (one - two * s)
        }
        Unary::SiluSecond => silu::third(x, sigmoid(x)),
        Unary::AtanPrime => {
            let q = one + x * x;
            -two * x / (q * q)
        }
        Unary::Sign | Unary::Indicator(..) => F::zero(),
    }
}

fn has_zero_derivative(op: Unary) -> bool {
    matches!(op, Unary::Sign | Unary::Indicator(..))
}

/// Writes f(x) into `out` (same shape; its old contents are ignored).
pub(crate) fn forward_into<F: Float>(op: Unary, x: ArrayView2<F>, out: &mut Array2<F>) {
    match op {
        // The conditioners' activation: a loop of its own (no per-element dispatch, no branch).
        Unary::Silu => Zip::from(out)
            .and(&x)
            .for_each(|o, &v| *o = silu::silu_value(v)),
        _ => Zip::from(out)
            .and(&x)
            .for_each(|o, &v| *o = forward_scalar(op, v)),
    }
}

/// Reverse rule: `g ⊙ f'(x)`.
pub(crate) fn vjp<F: Float>(
    op: Unary,
    (x, y): (ArrayView2<F>, ArrayView2<F>),
    g: ArrayView2<F>,
    pool: &mut BufferPool<F>,
) -> Option<Array2<F>> {
    if has_zero_derivative(op) {
        return None;
    }
    let mut out = pool.take(g.dim());
    Zip::from(&mut out)
        .and(&g)
        .and(&x)
        .and(&y)
        .for_each(|o, &g, &x, &y| *o = g * derivative(op, x, y));
    Some(out)
}

/// Tangent rule `ẏ = f'(x) ⊙ ẋ`, recorded with tape ops (tangent mode is on).
pub(crate) fn jvp<F: Float>(tape: &mut Tape<F>, op: Unary, x: Var, y: Var, dx: Var) -> Option<Var> {
    let t = match op {
        Unary::Neg => tape.neg(dx),
        Unary::Scale(a) => tape.scale(dx, a),
        Unary::AddScalar(_) => dx,
        Unary::Exp => tape.mul(y, dx),
        Unary::Log => tape.div(dx, x),
        Unary::Log1p => {
            let xp1 = tape.add_scalar(x, 1.0);
            tape.div(dx, xp1)
        }
        Unary::Sqrt => {
            let half = tape.scale(dx, 0.5);
            tape.div(half, y)
        }
        Unary::Square => {
            let two_x = tape.scale(x, 2.0);
            tape.mul(two_x, dx)
        }
        Unary::Recip => {
            let y2 = tape.square(y);
            let m = tape.mul(y2, dx);
            tape.neg(m)
        }
        Unary::Powi(0) => return None,
        Unary::Powi(n) => {
            let p = tape.powi(x, n - 1);
            let d = tape.scale(p, f64::from(n));
            tape.mul(d, dx)
        }
        Unary::Huber(d) => {
            let c = tape.clamp(x, -d, d);
            tape.mul(c, dx)
        }
        Unary::SmoothL1(d) => {
            let c = tape.clamp(x, -d, d);
            let c = tape.scale(c, 1.0 / d);
            tape.mul(c, dx)
        }
        Unary::Tanh => prime_times(tape, Unary::TanhPrime, x, dx),
        Unary::Sigmoid => prime_times(tape, Unary::SigmoidPrime, x, dx),
        Unary::Softplus => prime_times(tape, Unary::Sigmoid, x, dx),
        Unary::Silu => tape.silu_tangent_with(x, Some(y), dx),
        Unary::Atan => prime_times(tape, Unary::AtanPrime, x, dx),
        Unary::Abs => prime_times(tape, Unary::Sign, x, dx),
        Unary::Relu => prime_times(
            tape,
            Unary::Indicator(f64::MIN_POSITIVE, f64::INFINITY),
            x,
            dx,
        ),
        Unary::Clamp(lo, hi) => prime_times(tape, Unary::Indicator(lo, hi), x, dx),
        Unary::TanhPrime
        | Unary::SigmoidPrime
        | Unary::SiluSecond
        | Unary::AtanPrime
        | Unary::Sign
        | Unary::Indicator(..) => {
            unreachable!("internal derivative op {op:?} never carries a tangent")
        }
    };
    Some(t)
}

fn prime_times<F: Float>(tape: &mut Tape<F>, prime: Unary, x: Var, dx: Var) -> Var {
    let d = tape.unary(prime, x);
    tape.mul(d, dx)
}

macro_rules! unary_methods {
    ($($(#[$doc:meta])* $name:ident => $op:expr;)*) => {
        impl<F: Float> Tape<F> {
            $($(#[$doc])* pub fn $name(&mut self, x: Var) -> Var { self.unary($op, x) })*
        }
    };
}

unary_methods! {
    /// −x
    neg => Unary::Neg;
    /// eˣ
    exp => Unary::Exp;
    /// ln x
    log => Unary::Log;
    /// ln(1 + x)
    log1p => Unary::Log1p;
    /// tanh x
    tanh => Unary::Tanh;
    /// Logistic sigmoid.
    sigmoid => Unary::Sigmoid;
    /// ln(1 + eˣ), stable for large |x|.
    softplus => Unary::Softplus;
    /// SiLU x·σ(x).
    silu => Unary::Silu;
    /// max(x, 0)
    relu => Unary::Relu;
    /// atan x
    atan => Unary::Atan;
    /// √x
    sqrt => Unary::Sqrt;
    /// x²
    square => Unary::Square;
    /// |x|
    abs => Unary::Abs;
    /// 1/x
    recip => Unary::Recip;
}

impl<F: Float> Tape<F> {
    /// Records a unary op.
    pub(crate) fn unary(&mut self, op: Unary, x: Var) -> Var {
        let mut value = self.take_buffer(self.shape(x));
        forward_into(op, self.value(x), &mut value);
        self.record(Op::Unary(op, x), value)
    }

    /// xⁿ for an integer n.
    pub fn powi(&mut self, x: Var, n: i32) -> Var {
        self.unary(Unary::Powi(n), x)
    }

    /// a·x for a constant a.
    pub fn scale(&mut self, x: Var, a: f64) -> Var {
        self.unary(Unary::Scale(a), x)
    }

    /// x + a for a constant a.
    pub fn add_scalar(&mut self, x: Var, a: f64) -> Var {
        self.unary(Unary::AddScalar(a), x)
    }

    /// min(max(x, lo), hi); derivative 1 on [lo, hi], 0 outside.
    pub fn clamp(&mut self, x: Var, lo: f64, hi: f64) -> Var {
        assert!(lo <= hi, "clamp: lo {lo} > hi {hi}");
        self.unary(Unary::Clamp(lo, hi), x)
    }

    /// Huber loss (Loop B): ½x² for |x| < δ, else δ(|x| − ½δ).
    pub fn huber(&mut self, x: Var, delta: f64) -> Var {
        assert!(delta > 0.0, "huber: delta must be > 0, got {delta}");
        self.unary(Unary::Huber(delta), x)
    }

    /// SmoothL1 (Loop A "Huber" = Huber/δ): ½x²/δ for |x| < δ, else |x| − ½δ.
    pub fn smooth_l1(&mut self, x: Var, delta: f64) -> Var {
        assert!(delta > 0.0, "smooth_l1: delta must be > 0, got {delta}");
        self.unary(Unary::SmoothL1(delta), x)
    }
}
