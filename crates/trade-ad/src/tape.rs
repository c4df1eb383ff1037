//! The tape: a flat arena of nodes with `Copy` handles; values, tangents and the recording mode.
//!
//! Every node holds its value and, optionally, a handle to its tangent node `∂v/∂c`. Tangents
//! are recorded with ordinary tape ops while the tape is in tangent mode (which suppresses
//! tangents of tangents), so a reverse sweep differentiates them like any other value.

use crate::op::Op;
use crate::{Float, MatmulPrecision, ParamId, ParamStore};
use ndarray::{Array2, ArrayView2};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

/// Handle to a node on a [`Tape`]. Cheap to copy; only meaningful on the tape that made it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Var(pub(crate) u32);

impl Var {
    /// Position of the node on its tape.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

pub(crate) enum Value<F> {
    Owned(Array2<F>),
    Shared(Arc<Array2<F>>),
}

impl<F> Value<F> {
    pub(crate) fn view(&self) -> ArrayView2<'_, F> {
        match self {
            Value::Owned(a) => a.view(),
            Value::Shared(a) => a.view(),
        }
    }
}

pub(crate) struct Node<F> {
    pub(crate) op: Op<F>,
    pub(crate) value: Value<F>,
    pub(crate) tangent: Option<Var>,
    pub(crate) needs_grad: bool,
}

/// A reverse-mode tape over 2-D arrays, with forward tangents recorded on the same tape.
///
/// All values are 2-D: a batch is (rows, cols), a per-sample column is (n, 1), a scalar (1, 1).
///
/// ```
/// use trade_ad::Tape;
/// use ndarray::array;
///
/// let mut tape: Tape = Tape::new();
/// // Per-sample condition c with tangent 1: the seed of ∂/∂c.
/// let c = tape.condition(array![[2.0], [3.0]]);
/// let x = tape.constant(array![[1.0], [4.0]]);
/// let w = tape.leaf(array![[0.5]]);
/// let wc = tape.mul(w, c);
/// let y = tape.mul(wc, x); // y_i = w c_i x_i
/// let g = tape.tangent(y).unwrap(); // g_i = ∂y_i/∂c_i = w x_i, a tape value
/// let loss = tape.sum(g, None); // Σ w x_i
/// let grads = tape.backward(loss);
/// assert_eq!(grads.wrt(w).unwrap()[[0, 0]], 5.0); // ∂/∂w Σ w x_i = Σ x_i
/// ```
pub struct Tape<F: Float = f64> {
    pub(crate) nodes: Vec<Node<F>>,
    pub(crate) tangent_mode: bool,
    /// Parameter nodes recorded so far, per store identity.
    pub(crate) param_vars: Vec<(u64, Vec<Option<Var>>)>,
    /// Value and adjoint buffers of the previous step, reused by the kernels of the next one
    /// (a `Mutex` only so that the `&self` reverse sweep can use it; never contended).
    pub(crate) pool: Mutex<BufferPool<F>>,
    /// Element precision of matrix products ([`Tape::set_matmul_precision`]).
    pub(crate) matmul_precision: MatmulPrecision,
}

/// Buffers freed by [`Tape::clear`] and by the reverse sweep, keyed by length. A training
/// step records the same shapes every time, so the next step takes its buffers from here
/// instead of asking the allocator (which would return large blocks to the OS and fault them
/// in again). A buffer is tagged with the generation (number of `clear`s) it was freed in;
/// one not taken within two generations is dropped, so the pool stays about one step's size.
pub(crate) struct BufferPool<F> {
    free: BTreeMap<usize, Vec<(u64, Vec<F>)>>,
    generation: u64,
}

/// Buffers shorter than this go straight to the allocator (cheap, and not worth a lookup).
const POOL_MIN_LEN: usize = 512;

impl<F: Float> BufferPool<F> {
    fn new() -> Self {
        Self {
            free: BTreeMap::new(),
            generation: 0,
        }
    }

    /// Starts a new generation, dropping buffers untouched for two.
    fn next_generation(&mut self) {
        self.generation += 1;
        let keep_from = self.generation.saturating_sub(1);
        for list in self.free.values_mut() {
            list.retain(|(g, _)| *g >= keep_from);
        }
        self.free.retain(|_, list| !list.is_empty());
    }

    /// Gives a buffer back for reuse.
    pub(crate) fn put(&mut self, a: Array2<F>) {
        let len = a.len();
        if len < POOL_MIN_LEN {
            return;
        }
        let (v, offset) = a.into_raw_vec_and_offset();
        if offset == Some(0) && v.len() == len {
            self.free.entry(len).or_default().push((self.generation, v));
        }
    }

    /// An array of `shape` with unspecified (finite or not) contents: the caller overwrites
    /// every element.
    pub(crate) fn take(&mut self, shape: (usize, usize)) -> Array2<F> {
        let len = shape.0 * shape.1;
        let pooled = if len >= POOL_MIN_LEN {
            self.free.get_mut(&len).and_then(Vec::pop).map(|(_, v)| v)
        } else {
            None
        };
        match pooled {
            Some(v) => {
                Array2::from_shape_vec(shape, v).expect("pooled buffer has the shape's length")
            }
            None => Array2::zeros(shape),
        }
    }
}

impl<F: Float> Default for Tape<F> {
    fn default() -> Self {
        Self::new()
    }
}

impl<F: Float> Tape<F> {
    /// An empty tape.
    pub fn new() -> Self {
        Self {
            nodes: Vec::new(),
            tangent_mode: false,
            param_vars: Vec::new(),
            pool: Mutex::new(BufferPool::new()),
            matmul_precision: MatmulPrecision::Native,
        }
    }

    /// An empty tape with room for `n` nodes.
    pub fn with_capacity(n: usize) -> Self {
        Self {
            nodes: Vec::with_capacity(n),
            tangent_mode: false,
            param_vars: Vec::new(),
            pool: Mutex::new(BufferPool::new()),
            matmul_precision: MatmulPrecision::Native,
        }
    }

    /// Removes all nodes, keeping the allocated capacity (node slots and value buffers) for
    /// the next step.
    pub fn clear(&mut self) {
        let pool = self.pool.get_mut().unwrap_or_else(PoisonError::into_inner);
        pool.next_generation();
        for node in self.nodes.drain(..) {
            if let Value::Owned(a) = node.value {
                pool.put(a);
            }
        }
        self.param_vars.clear();
        self.tangent_mode = false;
    }

    /// Number of nodes recorded.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Number of nodes the tape can hold without reallocating.
    pub fn capacity(&self) -> usize {
        self.nodes.capacity()
    }

    /// True when no node has been recorded.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The value of a node.
    pub fn value(&self, v: Var) -> ArrayView2<'_, F> {
        self.nodes[v.index()].value.view()
    }

    /// The value of a (1, 1) node as a scalar.
    pub fn scalar(&self, v: Var) -> F {
        let a = self.value(v);
        assert!(
            a.dim() == (1, 1),
            "scalar: expected shape (1, 1), got {:?}",
            a.dim()
        );
        a[[0, 0]]
    }

    /// Shape (rows, cols) of a node.
    pub fn shape(&self, v: Var) -> (usize, usize) {
        self.value(v).dim()
    }

    /// The tangent node `∂v/∂c`, or `None` if `v` does not depend on a seeded leaf.
    pub fn tangent(&self, v: Var) -> Option<Var> {
        self.nodes[v.index()].tangent
    }

    /// A constant: no gradient, no tangent.
    pub fn constant(&mut self, value: Array2<F>) -> Var {
        self.push_node(Op::Leaf, Value::Owned(value), false)
    }

    /// A leaf whose gradient [`Gradients::wrt`](crate::Gradients::wrt) reports.
    pub fn leaf(&mut self, value: Array2<F>) -> Var {
        self.push_node(Op::Leaf, Value::Owned(value), true)
    }

    /// A leaf with a seeded tangent: the direction of the forward derivative.
    pub fn leaf_with_tangent(&mut self, value: Array2<F>, tangent: Array2<F>) -> Var {
        assert_eq!(
            value.dim(),
            tangent.dim(),
            "leaf_with_tangent: value shape {:?} and tangent shape {:?} differ",
            value.dim(),
            tangent.dim()
        );
        let t = self.constant(tangent);
        let v = self.push_node(Op::Leaf, Value::Owned(value), true);
        self.nodes[v.index()].tangent = Some(t);
        v
    }

    /// A per-sample condition column (n, 1) with tangent 1: the tangent of any value computed
    /// from it is its derivative with respect to its own row's c (`method.md` §4).
    pub fn condition(&mut self, c: Array2<F>) -> Var {
        let ones = Array2::from_elem(c.dim(), F::one());
        self.leaf_with_tangent(c, ones)
    }

    /// A parameter from the store, shared without copying. Recorded once per tape: asking
    /// again returns the same handle. Frozen parameters get no gradient.
    pub fn param(&mut self, store: &ParamStore<F>, id: ParamId) -> Var {
        let uid = store.uid();
        let slot = match self.param_vars.iter().position(|(u, _)| *u == uid) {
            Some(k) => k,
            None => {
                self.param_vars.push((uid, Vec::new()));
                self.param_vars.len() - 1
            }
        };
        if let Some(Some(v)) = self.param_vars[slot].1.get(id.0) {
            return *v;
        }
        let v = self.push_node(
            Op::Param(id),
            Value::Shared(store.shared(id)),
            store.is_trainable(id),
        );
        let cache = &mut self.param_vars[slot].1;
        if cache.len() <= id.0 {
            cache.resize(id.0 + 1, None);
        }
        cache[id.0] = Some(v);
        v
    }

    /// A buffer of `shape` from the pool (contents unspecified: overwrite every element).
    pub(crate) fn take_buffer(&mut self, shape: (usize, usize)) -> Array2<F> {
        self.pool
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take(shape)
    }

    fn push_node(&mut self, op: Op<F>, value: Value<F>, needs_grad: bool) -> Var {
        let idx = u32::try_from(self.nodes.len()).expect("tape: more than 2^32 nodes");
        self.nodes.push(Node {
            op,
            value,
            tangent: None,
            needs_grad,
        });
        Var(idx)
    }

    /// Records an op with its computed value, then its tangent if any input has one.
    pub(crate) fn record(&mut self, op: Op<F>, value: Array2<F>) -> Var {
        let mut needs_grad = false;
        let mut has_tangent = false;
        op.for_each_input(|v| {
            let n = &self.nodes[v.index()];
            needs_grad |= n.needs_grad;
            has_tangent |= n.tangent.is_some();
        });
        let y = self.push_node(op, Value::Owned(value), needs_grad);
        if has_tangent && !self.tangent_mode {
            self.tangent_mode = true;
            let t = crate::jvp::tangent_of(self, y);
            self.tangent_mode = false;
            if let Some(t) = t {
                debug_assert_eq!(
                    self.shape(t),
                    self.shape(y),
                    "tangent shape of {:?}",
                    self.nodes[y.index()].op
                );
            }
            self.nodes[y.index()].tangent = t;
        }
        y
    }

    /// Runs `f` in tangent-recording mode (no tangents of tangents); for custom JVP helpers.
    pub fn without_tangents<R>(&mut self, f: impl FnOnce(&mut Self) -> R) -> R {
        let old = self.tangent_mode;
        self.tangent_mode = true;
        let r = f(self);
        self.tangent_mode = old;
        r
    }

    pub(crate) fn tangent_or_zeros(&mut self, x: Var, t: Option<Var>) -> Var {
        match t {
            Some(t) => t,
            None => {
                let z = Array2::zeros(self.shape(x));
                self.constant(z)
            }
        }
    }
}
