//! The trainer: seeded, data-parallel steps with Adam, schedules and clipping; non-finite steps
//! skipped and counted; atomic checkpoints that resume bit for bit.

use crate::checkpoint::{read, write_atomic};
use crate::{CoreError, Event, Observer, error::out_of_range};
use rand_xoshiro::Xoshiro256PlusPlus;
use serde::{Deserialize, Serialize};
use std::ops::Range;
use std::path::{Path, PathBuf};
use trade_ad::{
    Adam, AdamConfig, DataParallel, MatmulPrecision, ParamStore, Schedule, Tape, Var,
    clip_grad_norm, rng_for,
};

/// What one training step optimises. The trainer calls `prepare` once per step (serially, with
/// the step's own RNG stream), then `record` once per chunk of rows on the rayon pool, then
/// `finish` with the chunk outputs in chunk order.
pub trait Objective: Sync {
    /// Everything a step needs that is drawn or computed outside the tape (samples, conditions,
    /// SNIS targets).
    type Batch: Sync;
    /// Per-chunk by-products (per-sample losses for running statistics, term values).
    type ChunkOut: Send;

    /// Draws the step's batch. `rng` is `rng_for(seed, step)`: a resumed run sees the same draws.
    fn prepare(
        &mut self,
        store: &ParamStore,
        step: usize,
        total_steps: usize,
        rng: &mut Xoshiro256PlusPlus,
    ) -> Result<Self::Batch, CoreError>;

    /// Rows of the batch (the unit of data-parallel chunking).
    fn n_rows(&self, batch: &Self::Batch) -> usize;

    /// Records the loss contribution of `rows` (chunk losses must add up to the batch loss).
    /// An error (e.g. a non-finite evaluation point) skips the step like a non-finite loss.
    fn record(
        &self,
        tape: &mut Tape,
        store: &ParamStore,
        batch: &Self::Batch,
        rows: Range<usize>,
    ) -> Result<(Var, Self::ChunkOut), CoreError>;

    /// Consumes the chunk outputs after a successful step (running losses, EMA tables).
    fn finish(&mut self, step: usize, batch: Self::Batch, outs: Vec<Self::ChunkOut>) {
        let _ = (step, batch, outs);
    }

    /// State that must survive a checkpoint (JSON).
    fn state(&self) -> serde_json::Value {
        serde_json::Value::Null
    }

    /// Restores [`Objective::state`].
    fn restore(&mut self, state: &serde_json::Value) -> Result<(), CoreError> {
        let _ = state;
        Ok(())
    }
}

/// Training settings (`experiments.md` §0).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Optimisation steps.
    pub steps: usize,
    /// Adam hyper-parameters.
    pub adam: AdamConfig,
    /// Learning-rate schedule.
    pub schedule: Schedule,
    /// Global-norm gradient clip.
    pub grad_clip: f64,
    /// Master seed.
    pub seed: u64,
    /// Rows per data-parallel chunk (fixed, so results do not depend on the thread count).
    pub chunk_rows: usize,
    /// Stop after this many non-finite steps in a row.
    pub max_consecutive_nonfinite: usize,
    /// Write a checkpoint every this many steps (0: only at the end).
    pub checkpoint_every: usize,
    /// Element precision of the training step's matrix products (`Native`: f64; `F32`: f32
    /// products, ≈ 1.3–2× faster steps on wide conditioners, see `docs/performance.md`).
    /// Sampling and SNIS refreshes stay in f64. Absent in older checkpoints: `Native`.
    #[serde(default)]
    pub matmul_precision: MatmulPrecision,
}

impl TrainConfig {
    /// Checks every field.
    pub fn validate(&self) -> Result<(), CoreError> {
        if self.steps == 0 {
            return Err(out_of_range("train.steps", self.steps, "≥ 1"));
        }
        if self.grad_clip.is_nan() || self.grad_clip <= 0.0 {
            return Err(out_of_range("train.grad_clip", self.grad_clip, "> 0"));
        }
        if self.chunk_rows == 0 {
            return Err(out_of_range("train.chunk_rows", self.chunk_rows, "≥ 1"));
        }
        if self.max_consecutive_nonfinite == 0 {
            return Err(out_of_range(
                "train.max_consecutive_nonfinite",
                self.max_consecutive_nonfinite,
                "≥ 1",
            ));
        }
        self.adam.validate()?;
        Ok(())
    }
}

#[derive(Serialize, Deserialize)]
struct Saved {
    step: usize,
    skipped: usize,
    consecutive: usize,
    params: String,
    adam: Adam,
    objective: serde_json::Value,
}

/// Summary of a finished run.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainSummary {
    /// Steps taken (including skipped ones).
    pub steps: usize,
    /// Steps skipped because of non-finite values.
    pub skipped: usize,
    /// Loss of the last successful step.
    pub last_loss: f64,
}

/// Runs an [`Objective`] on a [`ParamStore`].
pub struct Trainer {
    config: TrainConfig,
    adam: Adam,
    step: usize,
    skipped: usize,
    consecutive: usize,
    checkpoint: Option<PathBuf>,
    dp: DataParallel,
}

impl Trainer {
    /// A fresh trainer; `checkpoint` is the file to write (and resume from).
    pub fn new(config: TrainConfig, checkpoint: Option<PathBuf>) -> Result<Self, CoreError> {
        config.validate()?;
        Ok(Self {
            adam: Adam::new(config.adam)?,
            dp: DataParallel::new(config.chunk_rows).with_matmul_precision(config.matmul_precision),
            config,
            step: 0,
            skipped: 0,
            consecutive: 0,
            checkpoint,
        })
    }

    /// Steps completed so far.
    pub fn step(&self) -> usize {
        self.step
    }

    /// Loads the checkpoint file if it exists (parameters, optimiser, step, objective state).
    /// Returns whether a checkpoint was found.
    pub fn resume<O: Objective>(
        &mut self,
        store: &mut ParamStore,
        objective: &mut O,
    ) -> Result<bool, CoreError> {
        let Some(path) = &self.checkpoint else {
            return Ok(false);
        };
        if !path.exists() {
            return Ok(false);
        }
        let bytes = read(path)?;
        let bad = |e: &dyn std::fmt::Display| CoreError::Checkpoint {
            path: path.display().to_string(),
            reason: e.to_string(),
        };
        let saved: Saved = serde_json::from_slice(&bytes).map_err(|e| bad(&e))?;
        let params = ParamStore::from_json(&saved.params)?;
        store.load_values_from(&params)?;
        self.adam = saved.adam;
        self.step = saved.step;
        self.skipped = saved.skipped;
        self.consecutive = saved.consecutive;
        objective.restore(&saved.objective)?;
        Ok(true)
    }

    fn save<O: Objective>(
        &self,
        path: &Path,
        store: &ParamStore,
        objective: &O,
    ) -> Result<(), CoreError> {
        let saved = Saved {
            step: self.step,
            skipped: self.skipped,
            consecutive: self.consecutive,
            params: store.to_json(),
            adam: self.adam.clone(),
            objective: objective.state(),
        };
        let bytes = serde_json::to_vec(&saved).map_err(|e| CoreError::Checkpoint {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        write_atomic(path, &bytes)
    }

    /// Trains until `config.steps` (or `until`, if smaller: lets tests interrupt a run).
    pub fn run<O: Objective>(
        &mut self,
        store: &mut ParamStore,
        objective: &mut O,
        observer: &mut dyn Observer,
        until: Option<usize>,
    ) -> Result<TrainSummary, CoreError> {
        let total = self.config.steps;
        let end = until.map_or(total, |u| u.min(total));
        let mut last_loss = f64::NAN;
        while self.step < end {
            let step = self.step;
            let mut rng = rng_for(self.config.seed, step as u64);
            let batch = objective.prepare(store, step, total, &mut rng)?;
            let n = objective.n_rows(&batch);
            let (loss, mut grads, outs) = {
                let (obj, st, b) = (&*objective, &*store, &batch);
                self.dp
                    .run(n, |tape, rows| match obj.record(tape, st, b, rows) {
                        Ok((v, out)) => (v, Ok(out)),
                        Err(e) => (
                            tape.constant(ndarray::Array2::from_elem((1, 1), f64::NAN)),
                            Err(e),
                        ),
                    })
            };
            self.step += 1;
            let (outs, failed): (Vec<_>, Vec<_>) = outs.into_iter().partition(Result::is_ok);
            let what = if let Some(Err(e)) = failed.into_iter().next() {
                Some(e.to_string())
            } else if !loss.is_finite() {
                Some(format!("loss = {loss}"))
            } else if !grads.all_finite() {
                Some("gradient".to_string())
            } else {
                None
            };
            if let Some(what) = what {
                self.skipped += 1;
                self.consecutive += 1;
                observer.on_event(&Event::Skipped {
                    step,
                    consecutive: self.consecutive,
                    what: &what,
                });
                if self.consecutive >= self.config.max_consecutive_nonfinite {
                    return Err(CoreError::Diverged {
                        step,
                        consecutive: self.consecutive,
                        what,
                    });
                }
            } else {
                self.consecutive = 0;
                clip_grad_norm(&mut grads, self.config.grad_clip);
                let (lr, beta1) = self.config.schedule.at(step);
                self.adam.step(store, &grads, lr, beta1);
                objective.finish(step, batch, outs.into_iter().flatten().collect());
                last_loss = loss;
                observer.on_event(&Event::Step {
                    step,
                    total,
                    loss,
                    terms: &[],
                    lr,
                });
            }
            let every = self.config.checkpoint_every;
            if let Some(path) = &self.checkpoint
                && ((every > 0 && self.step % every == 0) || self.step == total)
            {
                self.save(path, store, objective)?;
                observer.on_event(&Event::Checkpoint { step: self.step });
            }
        }
        Ok(TrainSummary {
            steps: self.step,
            skipped: self.skipped,
            last_loss,
        })
    }
}
