//! Masked coupling on index groups (`flows.md` §9, alanine-dipeptide spline flow): the
//! coordinates `transformed` are mapped by an element transform whose parameters come from one
//! conditioner of `[x_conditioning, context]`; every other coordinate passes through unchanged.
//! E.g. "angles conditioned on torsions": transformed = angle indices, conditioning = torsion
//! indices, bonds untouched. log|det| is the transform's (the Jacobian is block triangular).

use crate::FlowError;
use crate::bijector::{Bijector, Context};
use crate::conditioner::{Conditioner, ConditionerConfig};
use crate::layers::CouplingTransform;
use rand::Rng;
use std::sync::Arc;
use trade_ad::{Float, ParamStore, Tape, Var};

/// Which coordinates a [`MaskedCoupling`] transforms and which it conditions on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Groups {
    /// Indices mapped by the transform (non-empty, distinct, < dim).
    pub transformed: Vec<usize>,
    /// Indices fed to the conditioner (non-empty, distinct, < dim, disjoint from
    /// `transformed`).
    pub conditioning: Vec<usize>,
}

impl Groups {
    /// Checks the index sets against `dim`; errors name `{field}.transformed` /
    /// `{field}.conditioning`.
    pub fn validate(&self, field: &str, dim: usize) -> Result<(), FlowError> {
        let check = |name: &str, v: &[usize], other: &[usize]| {
            let mut seen = vec![false; dim];
            let bad = v.is_empty()
                || v.iter().any(|&i| {
                    i >= dim || std::mem::replace(&mut seen[i], true) || other.contains(&i)
                });
            if bad {
                Err(FlowError::out_of_range(
                    format!("{field}.{name}"),
                    format!("{v:?}"),
                    "non-empty, distinct indices < dim, the two sets disjoint",
                ))
            } else {
                Ok(())
            }
        };
        check("transformed", &self.transformed, &[])?;
        check("conditioning", &self.conditioning, &self.transformed)
    }
}

/// A one-sided coupling on index groups with element transform `T`.
#[derive(Debug)]
pub struct MaskedCoupling<T> {
    dim: usize,
    transformed: Arc<Vec<usize>>,
    conditioning: Arc<Vec<usize>>,
    /// Indices neither transformed (passed through), in increasing order.
    rest: Arc<Vec<usize>>,
    /// Column j of the output is column `order[j]` of `[y_transformed, x_rest]`.
    order: Arc<Vec<usize>>,
    nn: Conditioner,
    transform: T,
    conditional: bool,
}

impl<T> MaskedCoupling<T> {
    /// Registers the conditioner `{name}.nn` (`(conditioning + ctx_dim) → transformed · P`).
    pub fn new<F: Float, R: Rng + ?Sized>(
        transform: T,
        store: &mut ParamStore<F>,
        name: &str,
        (dim, ctx_dim): (usize, usize),
        groups: &Groups,
        conditioner: &ConditionerConfig,
        rng: &mut R,
    ) -> Result<Self, FlowError>
    where
        T: CouplingTransform<F>,
    {
        groups.validate(name, dim)?;
        let (a, c) = (&groups.transformed, &groups.conditioning);
        let nn = Conditioner::build_split(
            conditioner,
            store,
            &format!("{name}.nn"),
            (c.len(), ctx_dim),
            (a.len(), transform.params_per_dim()),
            rng,
        )?;
        let rest: Vec<usize> = (0..dim).filter(|i| !a.contains(i)).collect();
        let mut order = vec![0; dim];
        for (j, &i) in a.iter().chain(&rest).enumerate() {
            order[i] = j;
        }
        Ok(Self {
            dim,
            transformed: Arc::new(a.clone()),
            conditioning: Arc::new(c.clone()),
            rest: Arc::new(rest),
            order: Arc::new(order),
            nn,
            transform,
            conditional: ctx_dim > 0,
        })
    }

    /// The element transform.
    pub fn transform(&self) -> &T {
        &self.transform
    }

    fn params<F: Float>(
        &self,
        tape: &mut Tape<F>,
        store: &ParamStore<F>,
        v: Var,
        ctx: &Context,
    ) -> Var {
        let other = tape.gather_cols_shared(v, self.conditioning.clone());
        let input = match (self.conditional, ctx.coupling) {
            (true, Some(c)) => tape.concat_cols(&[other, c]),
            (true, None) => panic!("masked coupling: built with a context, called without one"),
            (false, _) => other,
        };
        self.nn.forward(tape, store, input)
    }

    /// Applies `f` (the transform's forward or inverse) to the transformed columns of `v`.
    fn apply<F: Float>(
        &self,
        tape: &mut Tape<F>,
        store: &ParamStore<F>,
        v: Var,
        ctx: &Context,
        f: impl FnOnce(&mut Tape<F>, Var, Var) -> (Var, Var),
    ) -> (Var, Var) {
        let p = self.params(tape, store, v, ctx);
        let va = tape.gather_cols_shared(v, self.transformed.clone());
        let (out, ld) = f(tape, p, va);
        let parts = if self.rest.is_empty() {
            out
        } else {
            let kept = tape.gather_cols_shared(v, self.rest.clone());
            tape.concat_cols(&[out, kept])
        };
        (tape.gather_cols_shared(parts, self.order.clone()), ld)
    }
}

impl<F: Float, T: CouplingTransform<F>> Bijector<F> for MaskedCoupling<T> {
    fn dim(&self) -> usize {
        self.dim
    }

    fn forward(
        &self,
        tape: &mut Tape<F>,
        store: &ParamStore<F>,
        x: Var,
        ctx: &Context,
    ) -> (Var, Var) {
        self.apply(tape, store, x, ctx, |tape, p, xa| {
            self.transform.forward(tape, store, p, xa)
        })
    }

    fn inverse(
        &self,
        tape: &mut Tape<F>,
        store: &ParamStore<F>,
        z: Var,
        ctx: &Context,
    ) -> (Var, Var) {
        self.apply(tape, store, z, ctx, |tape, p, za| {
            self.transform.inverse(tape, store, p, za)
        })
    }

    fn ignores_context(&self) -> bool {
        !self.conditional
    }

    fn constant_log_det(&self) -> bool {
        self.transform.constant_log_det()
    }
}
