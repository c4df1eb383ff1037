//! Gradients from one reverse sweep: per parameter (by `ParamId`) and per requested leaf.

use crate::{Float, ParamId, Var};
use ndarray::Array2;

/// The result of [`Tape::backward`](crate::Tape::backward).
#[derive(Debug, Clone, Default)]
pub struct Gradients<F: Float = f64> {
    params: Vec<Option<Array2<F>>>,
    leaves: Vec<(Var, Array2<F>)>,
}

impl<F: Float> Gradients<F> {
    /// No gradients.
    pub fn new() -> Self {
        Self {
            params: Vec::new(),
            leaves: Vec::new(),
        }
    }

    /// Gradient of a parameter, or `None` if the loss does not depend on it.
    pub fn param(&self, id: ParamId) -> Option<&Array2<F>> {
        self.params.get(id.0).and_then(Option::as_ref)
    }

    /// Mutable gradient of a parameter.
    pub fn param_mut(&mut self, id: ParamId) -> Option<&mut Array2<F>> {
        self.params.get_mut(id.0).and_then(Option::as_mut)
    }

    /// Gradient with respect to a leaf created by [`Tape::leaf`](crate::Tape::leaf).
    pub fn wrt(&self, v: Var) -> Option<&Array2<F>> {
        self.leaves.iter().find(|(l, _)| *l == v).map(|(_, g)| g)
    }

    /// Iterates over the parameters that have a gradient.
    pub fn iter_params(&self) -> impl Iterator<Item = (ParamId, &Array2<F>)> {
        self.params
            .iter()
            .enumerate()
            .filter_map(|(i, g)| g.as_ref().map(|g| (ParamId(i), g)))
    }

    /// Adds a parameter gradient (accumulating if present).
    pub fn accumulate_param(&mut self, id: ParamId, g: Array2<F>) {
        if self.params.len() <= id.0 {
            self.params.resize(id.0 + 1, None);
        }
        match &mut self.params[id.0] {
            Some(acc) => *acc += &g,
            slot @ None => *slot = Some(g),
        }
    }

    pub(crate) fn push_leaf(&mut self, v: Var, g: Array2<F>) {
        self.leaves.push((v, g));
    }

    /// Adds another set of parameter gradients (used to reduce data-parallel chunks in order).
    pub fn add_params(&mut self, other: Gradients<F>) {
        for (i, g) in other.params.into_iter().enumerate() {
            if let Some(g) = g {
                self.accumulate_param(ParamId(i), g);
            }
        }
    }

    /// Multiplies every parameter gradient by `a`.
    pub fn scale(&mut self, a: F) {
        for g in self.params.iter_mut().flatten() {
            g.mapv_inplace(|v| v * a);
        }
    }

    /// Global L2 norm over all parameter gradients.
    pub fn global_norm(&self) -> F {
        self.params
            .iter()
            .flatten()
            .map(|g| g.iter().map(|&v| v * v).sum::<F>())
            .sum::<F>()
            .sqrt()
    }

    /// True if every parameter gradient is finite.
    pub fn all_finite(&self) -> bool {
        self.params
            .iter()
            .flatten()
            .all(|g| g.iter().all(|v| v.is_finite()))
    }
}
