//! Maximum likelihood on data (forward KL at the boundary, `method.md` §3).

use super::{LossBatch, StepCtx, rows_of};
use crate::{CoreError, Loss};
use ndarray::Array2;
use rand::seq::SliceRandom;
use rand_distr::{Distribution as _, StandardNormal};
use rand_xoshiro::Xoshiro256PlusPlus;
use std::ops::Range;
use std::sync::Arc;
use trade_ad::{Tape, Var, rng_for};
use trade_flows::Condition;

/// −log q(x|c) on mini-batches of a dataset; each row carries its own condition (several
/// boundary values are allowed). Batches follow a per-epoch shuffle seeded by `data_seed`, so a
/// resumed run sees the same batches.
pub struct Nll {
    data: Arc<Array2<f64>>,
    conditions: Arc<Array2<f64>>,
    y: Option<Arc<Array2<f64>>>,
    batch: usize,
    noise: f64,
    data_seed: u64,
    epoch: Option<(usize, Vec<usize>)>,
    augmentation: usize,
}

impl Nll {
    /// Dataset `x` (N, d) with per-row conditions `c` (N, 1); `noise` is the dequantisation σ
    /// added to each batch (0 for none).
    pub fn new(
        x: Arc<Array2<f64>>,
        c: Arc<Array2<f64>>,
        batch: usize,
        noise: f64,
        data_seed: u64,
    ) -> Result<Self, CoreError> {
        if c.dim() != (x.nrows(), 1) {
            return Err(CoreError::Dimension {
                what: "nll conditions (rows of the data)",
                expected: x.nrows(),
                got: c.nrows(),
            });
        }
        if batch == 0 || batch > x.nrows() {
            return Err(crate::error::out_of_range(
                "nll.batch",
                batch,
                "1 ..= number of data rows",
            ));
        }
        if let Some(row) = x
            .rows()
            .into_iter()
            .position(|r| r.iter().any(|v| !v.is_finite()))
        {
            return Err(CoreError::Flow(trade_flows::FlowError::NonFinite {
                what: "nll data",
                row,
            }));
        }
        Ok(Self {
            data: x,
            conditions: c,
            y: None,
            batch,
            noise,
            data_seed,
            epoch: None,
            augmentation: 0,
        })
    }

    /// Adds an extra condition y per data row (N, y_dim), passed to the model with c.
    pub fn with_y(mut self, y: Arc<Array2<f64>>) -> Result<Self, CoreError> {
        if y.nrows() != self.data.nrows() {
            return Err(CoreError::Dimension {
                what: "nll extra condition y (rows of the data)",
                expected: self.data.nrows(),
                got: y.nrows(),
            });
        }
        self.y = Some(y);
        Ok(self)
    }

    /// For a flow with `k` augmentation dimensions (`flows.md` §5): each batch row gets `k`
    /// fresh draws `a ~ N(0, c·I)` (c its condition) appended, and the loss is the joint
    /// `−log q(x, a|c)`, whose expectation bounds the marginal NLL from above up to the
    /// constant entropy of the augmentation.
    pub fn with_augmentation(mut self, k: usize) -> Self {
        self.augmentation = k;
        self
    }

    /// Steps per epoch: ⌊N / batch⌋ (`experiments.md` §0).
    pub fn steps_per_epoch(&self) -> usize {
        self.data.nrows() / self.batch
    }

    fn rows_for(&mut self, step: usize) -> Vec<usize> {
        let spe = self.steps_per_epoch();
        let epoch = step / spe;
        if self.epoch.as_ref().is_none_or(|(e, _)| *e != epoch) {
            let mut perm: Vec<usize> = (0..self.data.nrows()).collect();
            perm.shuffle(&mut rng_for(self.data_seed, epoch as u64));
            self.epoch = Some((epoch, perm));
        }
        let perm = &self.epoch.as_ref().expect("set above").1;
        let k = step % spe;
        perm[k * self.batch..(k + 1) * self.batch].to_vec()
    }
}

impl Loss for Nll {
    fn name(&self) -> &'static str {
        "nll"
    }

    fn prepare(
        &mut self,
        ctx: &StepCtx<'_>,
        rng: &mut Xoshiro256PlusPlus,
    ) -> Result<LossBatch, CoreError> {
        let idx = self.rows_for(ctx.step);
        let mut x = self.data.select(ndarray::Axis(0), &idx);
        if self.noise > 0.0 {
            x.mapv_inplace(|v| {
                let z: f64 = StandardNormal.sample(rng);
                v + self.noise * z
            });
        }
        let c = self.conditions.select(ndarray::Axis(0), &idx);
        if self.augmentation > 0 {
            let a = Array2::from_shape_fn((idx.len(), self.augmentation), |(i, _)| {
                let z: f64 = StandardNormal.sample(rng);
                z * c[[i, 0]].sqrt()
            });
            x = ndarray::concatenate![ndarray::Axis(1), x, a];
        }
        let y = self.y.as_ref().map(|y| y.select(ndarray::Axis(0), &idx));
        Ok(LossBatch {
            n: idx.len(),
            x,
            c,
            y,
            ..LossBatch::default()
        })
    }

    fn per_sample(
        &self,
        tape: &mut Tape,
        ctx: &StepCtx<'_>,
        b: &LossBatch,
        rows: Range<usize>,
    ) -> Result<Var, CoreError> {
        let x = tape.constant(rows_of(&b.x, &rows));
        let c = tape.constant(rows_of(&b.c, &rows));
        let mut cond = Condition::c(c);
        if let Some(y) = &b.y {
            cond = cond.with_y(tape.constant(rows_of(y, &rows)));
        }
        let lq = ctx.model.log_prob(tape, ctx.store, x, &cond)?;
        Ok(tape.neg(lq))
    }
}
