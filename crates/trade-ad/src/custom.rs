//! Custom ops: user forward kernel + VJP (ndarray) + JVP (tape ops), for energies and fused kernels.

use crate::{Float, Tape, Var};
use ndarray::{Array2, ArrayView2};

/// A user-defined differentiable operation.
///
/// * `forward` computes the value from the input values.
/// * `vjp` returns, for each input, the vector–Jacobian product `gradᵀ ∂out/∂input` (or `None`
///   for inputs that get no gradient). It is a plain ndarray kernel: reverse mode is first order.
/// * `jvp` records the tangent of the output on the tape from the input tangents
///   (`None` = zero), using tape ops so that the tangent can be differentiated again. The tape
///   is in tangent-recording mode while it runs. The default says the op has no tangent rule
///   and panics if a tangent ever reaches it.
///
/// ```
/// use trade_ad::{CustomOp, Tape, Var};
/// use ndarray::{array, Array2, ArrayView2};
/// use std::sync::Arc;
///
/// /// y = x³ elementwise.
/// struct Cube;
/// impl CustomOp<f64> for Cube {
///     fn name(&self) -> &str { "cube" }
///     fn forward(&self, x: &[ArrayView2<f64>]) -> Array2<f64> { x[0].mapv(|v| v * v * v) }
///     fn vjp(&self, x: &[ArrayView2<f64>], _y: ArrayView2<f64>, g: ArrayView2<f64>)
///         -> Vec<Option<Array2<f64>>> {
///         vec![Some(&g * &x[0].mapv(|v| 3.0 * v * v))]
///     }
///     fn jvp(&self, t: &mut Tape<f64>, x: &[Var], _y: Var, dx: &[Option<Var>]) -> Option<Var> {
///         let d = dx[0]?;
///         let sq = t.square(x[0]);
///         let three_sq = t.scale(sq, 3.0);
///         Some(t.mul(three_sq, d))
///     }
/// }
///
/// let mut tape: Tape = Tape::new();
/// let x = tape.leaf(array![[2.0]]);
/// let y = tape.custom(Arc::new(Cube), &[x]);
/// let grads = tape.backward(y);
/// assert_eq!(grads.wrt(x).unwrap()[[0, 0]], 12.0);
/// ```
pub trait CustomOp<F: Float>: Send + Sync {
    /// Name used in assertion messages.
    fn name(&self) -> &str;
    /// Forward kernel.
    fn forward(&self, inputs: &[ArrayView2<F>]) -> Array2<F>;
    /// Reverse rule: one optional gradient per input, shaped like that input.
    fn vjp(
        &self,
        inputs: &[ArrayView2<F>],
        output: ArrayView2<F>,
        grad: ArrayView2<F>,
    ) -> Vec<Option<Array2<F>>>;
    /// Tangent rule, recorded with tape ops.
    fn jvp(
        &self,
        tape: &mut Tape<F>,
        inputs: &[Var],
        output: Var,
        tangents: &[Option<Var>],
    ) -> Option<Var> {
        let _ = (tape, inputs, output, tangents);
        panic!(
            "custom op {}: no tangent (JVP) rule, but a tangent reached it",
            self.name()
        )
    }
}
