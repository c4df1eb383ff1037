//! Matrix product with optional transposes: y = op(A)·op(B), in the tape's element type or,
//! with [`MatmulPrecision::F32`], as an f32 product of rounded operands.

use crate::op::Op;
use crate::ops::binary::sum_opt;
use crate::tape::BufferPool;
use crate::{Float, Tape, Var};
use ndarray::{Array2, ArrayView2, Zip};
use serde::{Deserialize, Serialize};
use std::cell::RefCell;

/// Element precision of a tape's matrix products; every other op runs in the tape's type.
///
/// `F32` rounds both operands of every product (forward, tangent and reverse) to f32, multiplies
/// in f32 (about 2.3× the f64 throughput on this machine kind, `docs/performance.md`) and
/// widens the result again: the products then carry f32 rounding (relative error ≈ 1e-7·√k for
/// inner dimension k), as in a float32 PyTorch model, while sums, exponentials, the spline and
/// the optimiser stay in f64. A training speed option, not for gradient checks: the
/// finite-difference oracle needs `Native`.
///
/// ```
/// use trade_ad::{MatmulPrecision, Tape};
/// use ndarray::array;
///
/// let mut tape: Tape = Tape::new();
/// tape.set_matmul_precision(MatmulPrecision::F32);
/// let a = tape.leaf(array![[0.1, 0.2], [0.3, 0.4]]);
/// let y = tape.matmul(a, a);
/// let exact = 0.1 * 0.1 + 0.2 * 0.3; // y[0, 0] in f64
/// assert!((tape.value(y)[[0, 0]] - exact).abs() < 1e-7); // f32 rounding, not f64's 1e-17
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MatmulPrecision {
    /// The tape's own type (f64 by default).
    #[default]
    Native,
    /// f32 products of rounded operands (no effect on an f32 tape).
    F32,
}

thread_local! {
    /// Reused f32 copies of A, B and the product (one set per thread; never re-entered).
    static SCRATCH: RefCell<[Vec<f32>; 3]> = RefCell::new(Default::default());
}

/// y = a·b (any strides; `y` overwritten) with the `gemm` crate's f32/f64 kernels, single
/// threaded (the data-parallel chunks are the parallelism). On this machine kind it runs the
/// multi-well MLP's f64 products up to 1.4× faster than matrixmultiply (the reverse sweep's
/// transposed ones most), f32 about as fast (`docs/performance.md`); its summation order depends
/// only on shapes and layouts, so results do not depend on the thread count.
#[allow(unsafe_code)] // the one unsafe call of the workspace: gemm has no safe API
fn product_into<T: Float>(a: ArrayView2<T>, b: ArrayView2<T>, y: &mut Array2<T>) {
    let ((m, k), n) = (a.dim(), b.ncols());
    debug_assert_eq!((b.nrows(), y.dim()), (k, (m, n)));
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        y.fill(T::zero());
        return;
    }
    let (sa, sb) = (a.strides(), b.strides());
    let sy = [y.strides()[0], y.strides()[1]];
    // SAFETY: the pointers and strides describe live ndarray views of the checked shapes
    // (m × k, k × n, m × n); `y` is uniquely borrowed and does not alias `a` or `b` (a tape
    // output buffer); T is f32 or f64, which `gemm` supports (it panics on other types).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            y.as_mut_ptr(),
            sy[1],
            sy[0],
            false,
            a.as_ptr(),
            sa[1],
            sa[0],
            b.as_ptr(),
            sb[1],
            sb[0],
            T::zero(),
            T::one(),
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// `x` rounded to f32 in a standard-layout array built on `buf`.
fn rounded<F: Float>(x: ArrayView2<F>, mut buf: Vec<f32>) -> Array2<f32> {
    buf.clear();
    match x.as_slice() {
        // Contiguous row-major (every tape value): a loop the compiler vectorises.
        Some(v) => buf.extend(v.iter().map(|v| v.narrow())),
        None => buf.extend(x.iter().map(|v| v.narrow())),
    }
    Array2::from_shape_vec(x.dim(), buf).expect("buffer has the view's length")
}

fn op_view<F>(a: ArrayView2<'_, F>, t: bool) -> ArrayView2<'_, F> {
    if t { a.reversed_axes() } else { a }
}

fn out_shape<F>(a: ArrayView2<F>, b: ArrayView2<F>, ta: bool, tb: bool) -> (usize, usize) {
    let (a, b) = (op_view(a, ta), op_view(b, tb));
    assert!(
        a.ncols() == b.nrows(),
        "matmul: shapes {:?} and {:?} are incompatible (after transposes ta={ta}, tb={tb})",
        a.dim(),
        b.dim()
    );
    (a.nrows(), b.ncols())
}

/// Writes op(A)·op(B) into `y` (shape checked by [`out_shape`]; old contents ignored: β = 0).
fn forward_into<F: Float>(
    a: ArrayView2<F>,
    b: ArrayView2<F>,
    (ta, tb): (bool, bool),
    y: &mut Array2<F>,
    precision: MatmulPrecision,
) {
    if precision == MatmulPrecision::Native || !F::WIDER_THAN_F32 {
        product_into(op_view(a, ta), op_view(b, tb), y);
        return;
    }
    SCRATCH.with(|scratch| {
        let [sa, sb, sy] = &mut *scratch.borrow_mut();
        let a32 = rounded(a, std::mem::take(sa));
        let b32 = rounded(b, std::mem::take(sb));
        let mut buf = std::mem::take(sy);
        buf.resize(y.len(), 0.0);
        let mut y32 = Array2::from_shape_vec(y.dim(), buf).expect("buffer has y's length");
        product_into(op_view(a32.view(), ta), op_view(b32.view(), tb), &mut y32);
        match (y.as_slice_mut(), y32.as_slice()) {
            (Some(d), Some(s)) => d.iter_mut().zip(s).for_each(|(d, &s)| *d = F::widen(s)),
            _ => Zip::from(y).and(&y32).for_each(|d, &s| *d = F::widen(s)),
        }
        *sa = a32.into_raw_vec_and_offset().0;
        *sb = b32.into_raw_vec_and_offset().0;
        *sy = y32.into_raw_vec_and_offset().0;
    });
}

/// Reverse rule: `∂op(A) = G op(B)ᵀ`, `∂op(B) = op(A)ᵀ G`, transposed back as needed.
pub(crate) fn vjp<F: Float>(
    (a, b): (ArrayView2<F>, ArrayView2<F>),
    (ta, tb): (bool, bool),
    g: ArrayView2<F>,
    need: (bool, bool),
    pool: &mut BufferPool<F>,
    precision: MatmulPrecision,
) -> (Option<Array2<F>>, Option<Array2<F>>) {
    let mut product = |x: ArrayView2<F>, y: ArrayView2<F>, tx: bool, ty: bool| {
        let mut out = pool.take(out_shape(x, y, tx, ty));
        forward_into(x, y, (tx, ty), &mut out, precision);
        out
    };
    let ga = need.0.then(|| {
        // d op(A) = G · op(B)ᵀ; if ta, dA = (G op(B)ᵀ)ᵀ = op(B) Gᵀ.
        if ta {
            product(b, g, tb, true)
        } else {
            product(g, b, false, !tb)
        }
    });
    let gb = need.1.then(|| {
        // d op(B) = op(A)ᵀ G; if tb, dB = Gᵀ op(A).
        if tb {
            product(g, a, true, ta)
        } else {
            product(a, g, !ta, false)
        }
    });
    (ga, gb)
}

pub(crate) fn jvp<F: Float>(
    tape: &mut Tape<F>,
    (a, b): (Var, Var),
    (ta, tb): (bool, bool),
    (da, db): (Option<Var>, Option<Var>),
) -> Option<Var> {
    if da.is_none() && db.is_none() {
        return None;
    }
    let x = da.map(|da| tape.matmul_t(da, b, ta, tb));
    let y = db.map(|db| tape.matmul_t(a, db, ta, tb));
    Some(sum_opt(tape, x, y))
}

impl<F: Float> Tape<F> {
    /// A·B.
    pub fn matmul(&mut self, a: Var, b: Var) -> Var {
        self.matmul_t(a, b, false, false)
    }

    /// op(A)·op(B), where op transposes when the flag is set.
    pub fn matmul_t(&mut self, a: Var, b: Var, ta: bool, tb: bool) -> Var {
        let shape = out_shape(self.value(a), self.value(b), ta, tb);
        let mut value = self.take_buffer(shape);
        let precision = self.matmul_precision;
        forward_into(
            self.value(a),
            self.value(b),
            (ta, tb),
            &mut value,
            precision,
        );
        self.record(Op::MatMul { a, b, ta, tb }, value)
    }

    /// Sets the element precision of the matrix products recorded and differentiated from
    /// now on (kept across [`Tape::clear`]); see [`MatmulPrecision`].
    pub fn set_matmul_precision(&mut self, precision: MatmulPrecision) {
        self.matmul_precision = precision;
    }

    /// The element precision of this tape's matrix products.
    pub fn matmul_precision(&self) -> MatmulPrecision {
        self.matmul_precision
    }
}

impl<F: Float> Tape<F> {
    /// Floating-point operations (2·m·k·n per product) of the matrix products recorded so far:
    /// `(recorded, reverse)`, where `reverse` counts the products a reverse sweep computes for
    /// them (one per input that needs a gradient). For reporting achieved GFLOP/s.
    pub fn matmul_flops(&self) -> (u64, u64) {
        let mut recorded = 0u64;
        let mut reverse = 0u64;
        for node in &self.nodes {
            if let Op::MatMul { a, b, ta, .. } = node.op {
                let (m, n) = node.value.view().dim();
                let inner = if ta { self.shape(a).0 } else { self.shape(a).1 };
                let flops = 2 * (m * inner * n) as u64;
                recorded += flops;
                if node.needs_grad {
                    let grads = [a, b]
                        .iter()
                        .filter(|v| self.nodes[v.index()].needs_grad)
                        .count();
                    reverse += flops * grads as u64;
                }
            }
        }
        (recorded, reverse)
    }
}
