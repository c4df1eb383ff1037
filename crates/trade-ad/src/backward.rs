//! The reverse sweep: one first-order pass over primal and tangent nodes alike.

use crate::op::Op;
use crate::ops::{binary, elementwise, linalg, reduce, shape, silu};
use crate::tape::BufferPool;
use crate::{Float, Gradients, Tape, Var};
use ndarray::{Array2, ArrayView2};
use std::sync::PoisonError;

fn accumulate<F: Float>(
    adj: &mut [Option<Array2<F>>],
    v: Var,
    g: Array2<F>,
    pool: &mut BufferPool<F>,
) {
    match &mut adj[v.index()] {
        Some(acc) => {
            if acc.dim() == g.dim() {
                *acc += &g;
                pool.put(g);
            } else {
                panic!(
                    "backward: gradient shape {:?} does not match {:?}",
                    g.dim(),
                    acc.dim()
                );
            }
        }
        slot @ None => *slot = Some(g),
    }
}

/// Where gradients go: the adjoint slots, with the pool that recycles added-in buffers.
struct Sink<'a, F> {
    adj: &'a mut [Option<Array2<F>>],
    pool: &'a mut BufferPool<F>,
}

impl<F: Float> Sink<'_, F> {
    fn send(&mut self, v: Var, gv: Option<Array2<F>>) {
        if let Some(gv) = gv {
            accumulate(self.adj, v, gv, self.pool);
        }
    }
}

impl<F: Float> Tape<F> {
    /// Reverse sweep from a (1, 1) loss: gradients for parameters and gradient leaves.
    ///
    /// Tangent nodes are ordinary nodes, so a loss built on `∂/∂c` values gets its exact
    /// mixed second derivative here.
    pub fn backward(&self, loss: Var) -> Gradients<F> {
        assert!(
            self.shape(loss) == (1, 1),
            "backward: loss must have shape (1, 1), got {:?}",
            self.shape(loss)
        );
        self.assert_single_trainable_store();
        let mut adj: Vec<Option<Array2<F>>> = Vec::new();
        adj.resize_with(loss.index() + 1, || None);
        adj[loss.index()] = Some(Array2::ones((1, 1)));
        let mut grads = Gradients::new();
        let mut pool = self.pool.lock().unwrap_or_else(PoisonError::into_inner);
        for i in (0..=loss.index()).rev() {
            let node = &self.nodes[i];
            if !node.needs_grad {
                continue;
            }
            let Some(g) = adj[i].take() else { continue };
            match &node.op {
                Op::Leaf => grads.push_leaf(Var(i as u32), g),
                Op::Param(id) => grads.accumulate_param(*id, g),
                op => {
                    let y = node.value.view();
                    self.propagate(op, y, g.view(), (&mut adj, &mut pool));
                    pool.put(g);
                }
            }
        }
        grads
    }

    fn needs(&self, v: Var) -> bool {
        self.nodes[v.index()].needs_grad
    }

    fn propagate(
        &self,
        op: &Op<F>,
        y: ArrayView2<F>,
        g: ArrayView2<F>,
        (adj, pool): (&mut [Option<Array2<F>>], &mut BufferPool<F>),
    ) {
        let val = |v: Var| self.value(v);
        let mut sink = Sink { adj, pool };
        match op {
            Op::Leaf | Op::Param(_) => unreachable!("leaves handled by backward"),
            Op::Unary(u, x) => {
                let gx = elementwise::vjp(*u, (val(*x), y), g, sink.pool);
                sink.send(*x, gx);
            }
            Op::Binary(b, x1, x2) => {
                let (g1, g2) = binary::vjp(
                    *b,
                    (val(*x1), val(*x2), y),
                    g,
                    (self.needs(*x1), self.needs(*x2)),
                    sink.pool,
                );
                sink.send(*x1, g1);
                sink.send(*x2, g2);
            }
            Op::MatMul { a, b, ta, tb } => {
                let (ga, gb) = linalg::vjp(
                    (val(*a), val(*b)),
                    (*ta, *tb),
                    g,
                    (self.needs(*a), self.needs(*b)),
                    sink.pool,
                    self.matmul_precision,
                );
                sink.send(*a, ga);
                sink.send(*b, gb);
            }
            Op::Reduce(r, _, x) => sink.send(*x, Some(reduce::vjp(*r, val(*x), y, g))),
            Op::Softmax(x) => sink.send(*x, Some(reduce::softmax_vjp(y, g))),
            Op::CumSum(axis, x) => sink.send(*x, Some(reduce::cumsum_forward(g, *axis, true))),
            Op::Reshape(x) => sink.send(*x, Some(shape::reshape(g, self.shape(*x)))),
            Op::Broadcast(x) => sink.send(*x, Some(binary::reduce_view(g, self.shape(*x)))),
            Op::SliceCols { x, start } => {
                sink.send(*x, Some(shape::slice_vjp(self.shape(*x), *start, g)))
            }
            Op::ConcatCols(xs) => {
                let widths: Vec<usize> = xs.iter().map(|&x| self.shape(x).1).collect();
                for (&x, gx) in xs.iter().zip(shape::concat_vjp(&widths, g)) {
                    if self.needs(x) {
                        sink.send(x, Some(gx));
                    }
                }
            }
            Op::GatherCols(x, idx) => {
                sink.send(*x, Some(shape::gather_cols_vjp(self.shape(*x).1, idx, g)))
            }
            Op::TakeAlongRows(x, idx) => {
                sink.send(*x, Some(shape::take_vjp(self.shape(*x).1, idx, g)))
            }
            Op::Where(mask, a, b) => {
                if self.needs(*a) {
                    sink.send(*a, Some(shape::where_vjp(mask, g, true)));
                }
                if self.needs(*b) {
                    sink.send(*b, Some(shape::where_vjp(mask, g, false)));
                }
            }
            Op::SiluTangent { x, y, d } => {
                let (gx, gd) = silu::vjp(
                    (val(*x), y.map(val), val(*d)),
                    g,
                    (self.needs(*x), self.needs(*d)),
                    sink.pool,
                );
                sink.send(*x, gx);
                sink.send(*d, gd);
            }
            Op::Custom(custom, inputs) => {
                let views: Vec<ArrayView2<F>> = inputs.iter().map(|&v| val(v)).collect();
                let gs = custom.vjp(&views, y, g);
                assert_eq!(
                    gs.len(),
                    inputs.len(),
                    "custom op {}: vjp returned {} gradients for {} inputs",
                    custom.name(),
                    gs.len(),
                    inputs.len()
                );
                for (&x, gx) in inputs.iter().zip(gs) {
                    if let Some(gx) = &gx {
                        assert_eq!(
                            gx.dim(),
                            self.shape(x),
                            "custom op {}: gradient shape {:?} vs input shape {:?}",
                            custom.name(),
                            gx.dim(),
                            self.shape(x)
                        );
                    }
                    if self.needs(x) {
                        sink.send(x, gx);
                    }
                }
            }
        }
    }

    /// `Gradients` are keyed by `ParamId`, which is only unique within one store: a gradient
    /// may reach parameters of one store only (other stores on the tape must be frozen).
    fn assert_single_trainable_store(&self) {
        let stores: Vec<u64> = self
            .param_vars
            .iter()
            .filter(|(_, vars)| {
                vars.iter()
                    .flatten()
                    .any(|&p| self.nodes[p.index()].needs_grad)
            })
            .map(|(uid, _)| *uid)
            .collect();
        assert!(
            stores.len() <= 1,
            "backward: trainable parameters of {} stores on one tape; freeze all but one store",
            stores.len()
        );
    }

    /// Records a custom op (see [`CustomOp`](crate::CustomOp)).
    pub fn custom(&mut self, op: std::sync::Arc<dyn crate::CustomOp<F>>, inputs: &[Var]) -> Var {
        let views: Vec<ArrayView2<F>> = inputs.iter().map(|&v| self.value(v)).collect();
        let value = op.forward(&views);
        self.record(Op::Custom(op, inputs.to_vec()), value)
    }
}
