//! The element seam: every kernel is written for `F: Float`, implemented for f64 (and f32).

use std::fmt::{Debug, Display};
use std::iter::Sum;
use std::ops::{AddAssign, DivAssign, MulAssign, SubAssign};

/// Scalar element type of tape values. f64 is the default everywhere (TRADE runs in f64;
/// `method.md` §4); f32 exists so that a faster first-order path can be added without
/// rewriting ops.
pub trait Float:
    num_traits::Float
    + num_traits::FromPrimitive
    + ndarray::LinalgScalar
    + ndarray::ScalarOperand
    + Sum
    + AddAssign
    + SubAssign
    + MulAssign
    + DivAssign
    + Send
    + Sync
    + Debug
    + Display
    + Default
    + 'static
{
    /// Converts an f64 constant (op parameters are stored as f64).
    fn c(x: f64) -> Self;
    /// Converts to f64 (exact for f64 and f32).
    fn f64(self) -> f64;
    /// True when the type is wider than f32, so that an f32 matrix product
    /// ([`MatmulPrecision::F32`](crate::MatmulPrecision)) is a real change of precision.
    const WIDER_THAN_F32: bool;
    /// Rounds to f32 (to nearest).
    fn narrow(self) -> f32;
    /// Converts from f32 (exact).
    fn widen(x: f32) -> Self;
}

impl Float for f64 {
    #[inline]
    fn c(x: f64) -> Self {
        x
    }
    #[inline]
    fn f64(self) -> f64 {
        self
    }
    const WIDER_THAN_F32: bool = true;
    #[inline]
    fn narrow(self) -> f32 {
        self as f32
    }
    #[inline]
    fn widen(x: f32) -> Self {
        f64::from(x)
    }
}

impl Float for f32 {
    #[inline]
    fn c(x: f64) -> Self {
        x as f32
    }
    #[inline]
    fn f64(self) -> f64 {
        f64::from(self)
    }
    const WIDER_THAN_F32: bool = false;
    #[inline]
    fn narrow(self) -> f32 {
        self
    }
    #[inline]
    fn widen(x: f32) -> Self {
        x
    }
}
