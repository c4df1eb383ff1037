//! Fixed mixing layers with zero log-det (`flows.md` §3): a random permutation of the
//! dimensions (or of the channels of a channel-major image), and a fixed random orthogonal matrix (VP flows). Both are drawn from the seeded
//! RNG and stored in the parameter store as frozen parameters, so checkpoints carry them.

use crate::FlowError;
use crate::bijector::{Bijector, Context, zero_log_det};
use ndarray::Array2;
use rand::Rng;
use rand::seq::SliceRandom;
use rand_distr::{Distribution as _, StandardNormal};
use std::sync::Arc;
use trade_ad::{Float, ParamId, ParamStore, Tape, Var};

/// `y[:, j] = x[:, perm[j]]`. The indices live in a frozen (1, d) parameter `{name}.indices`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Permutation {
    dim: usize,
    indices: ParamId,
}

impl Permutation {
    /// A uniformly random permutation drawn from `rng`.
    pub fn random<F: Float, R: Rng + ?Sized>(
        store: &mut ParamStore<F>,
        name: &str,
        dim: usize,
        rng: &mut R,
    ) -> Result<Self, FlowError> {
        let mut perm: Vec<usize> = (0..dim).collect();
        perm.shuffle(rng);
        Self::from_indices(store, name, &perm)
    }

    /// A uniformly random permutation of the channels of a channel-major image with
    /// `channels` channels (positions within a channel keep their order).
    pub fn random_channels<F: Float, R: Rng + ?Sized>(
        store: &mut ParamStore<F>,
        name: &str,
        dim: usize,
        channels: usize,
        rng: &mut R,
    ) -> Result<Self, FlowError> {
        if channels == 0 || dim % channels != 0 {
            return Err(FlowError::out_of_range(
                format!("{name}.channels"),
                channels,
                "≥ 1 and a divisor of the dimension",
            ));
        }
        let mut order: Vec<usize> = (0..channels).collect();
        order.shuffle(rng);
        let pos = dim / channels;
        let perm: Vec<usize> = order
            .iter()
            .flat_map(|&c| (c * pos)..(c + 1) * pos)
            .collect();
        Self::from_indices(store, name, &perm)
    }

    /// The reversal d−1, …, 0.
    pub fn reverse<F: Float>(
        store: &mut ParamStore<F>,
        name: &str,
        dim: usize,
    ) -> Result<Self, FlowError> {
        let perm: Vec<usize> = (0..dim).rev().collect();
        Self::from_indices(store, name, &perm)
    }

    /// A given permutation (checked).
    pub fn from_indices<F: Float>(
        store: &mut ParamStore<F>,
        name: &str,
        perm: &[usize],
    ) -> Result<Self, FlowError> {
        let mut seen = vec![false; perm.len()];
        for &i in perm {
            if i >= perm.len() || std::mem::replace(&mut seen[i], true) {
                return Err(FlowError::out_of_range(
                    format!("{name}.indices"),
                    format!("{perm:?}"),
                    "a permutation of 0..d",
                ));
            }
        }
        let value = Array2::from_shape_fn((1, perm.len()), |(_, j)| F::c(perm[j] as f64));
        let indices = store.add_value(&format!("{name}.indices"), value)?;
        store.set_trainable(indices, false);
        Ok(Self {
            dim: perm.len(),
            indices,
        })
    }

    /// The permutation as stored.
    pub fn indices<F: Float>(&self, store: &ParamStore<F>) -> Vec<usize> {
        store
            .get(self.indices)
            .iter()
            .map(|&v| v.f64() as usize)
            .collect()
    }
}

impl<F: Float> Bijector<F> for Permutation {
    fn dim(&self) -> usize {
        self.dim
    }

    fn forward(
        &self,
        tape: &mut Tape<F>,
        store: &ParamStore<F>,
        x: Var,
        _: &Context,
    ) -> (Var, Var) {
        let y = tape.gather_cols_shared(x, Arc::new(self.indices(store)));
        (y, zero_log_det(tape, x))
    }

    fn inverse(
        &self,
        tape: &mut Tape<F>,
        store: &ParamStore<F>,
        z: Var,
        _: &Context,
    ) -> (Var, Var) {
        let perm = self.indices(store);
        let mut inv = vec![0; perm.len()];
        for (j, &p) in perm.iter().enumerate() {
            inv[p] = j;
        }
        let x = tape.gather_cols_shared(z, Arc::new(inv));
        (x, zero_log_det(tape, z))
    }

    fn ignores_context(&self) -> bool {
        true
    }

    fn constant_log_det(&self) -> bool {
        true
    }
}

/// y = x·Q with a fixed random orthogonal Q (Gram–Schmidt of a Gaussian matrix), stored as the
/// frozen (d, d) parameter `{name}.matrix`; |det Q| = 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Orthogonal {
    dim: usize,
    matrix: ParamId,
}

impl Orthogonal {
    /// Draws Q from `rng`.
    pub fn random<F: Float, R: Rng + ?Sized>(
        store: &mut ParamStore<F>,
        name: &str,
        dim: usize,
        rng: &mut R,
    ) -> Result<Self, FlowError> {
        let mut q: Array2<f64> =
            Array2::from_shape_simple_fn((dim, dim), || StandardNormal.sample(rng));
        for j in 0..dim {
            for k in 0..j {
                let proj = q.column(j).dot(&q.column(k));
                let ck = q.column(k).to_owned();
                q.column_mut(j).scaled_add(-proj, &ck);
            }
            let norm = q.column(j).dot(&q.column(j)).sqrt();
            q.column_mut(j).mapv_inplace(|v| v / norm);
        }
        let matrix = store.add_value(&format!("{name}.matrix"), q.mapv(F::c))?;
        store.set_trainable(matrix, false);
        Ok(Self { dim, matrix })
    }
}

impl<F: Float> Bijector<F> for Orthogonal {
    fn dim(&self) -> usize {
        self.dim
    }

    fn forward(
        &self,
        tape: &mut Tape<F>,
        store: &ParamStore<F>,
        x: Var,
        _: &Context,
    ) -> (Var, Var) {
        let q = tape.param(store, self.matrix);
        let y = tape.matmul(x, q);
        (y, zero_log_det(tape, x))
    }

    fn inverse(
        &self,
        tape: &mut Tape<F>,
        store: &ParamStore<F>,
        z: Var,
        _: &Context,
    ) -> (Var, Var) {
        let q = tape.param(store, self.matrix);
        let x = tape.matmul_t(z, q, false, true);
        (x, zero_log_det(tape, z))
    }

    fn ignores_context(&self) -> bool {
        true
    }

    fn constant_log_det(&self) -> bool {
        true
    }
}
