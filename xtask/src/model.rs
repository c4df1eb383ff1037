//! `cargo xtask model sample|log-prob`: the model CLI contract (issue 6).
//!
//! * `model sample --checkpoint <dir> --condition <c> --n <N> --seed <s> --out <x.npy>
//!   [--log-prob <lq.npy>]` writes (N, d) samples and optionally their (N,) log-densities.
//! * `model log-prob --checkpoint <dir> --condition <c> --input <x.npy> --out <lq.npy>` writes
//!   the (N,) log-density of the model at c.
//! * Both take `--target-condition <c′>` for a conditional Flows-for-Flows model (Delta or
//!   Concat context), whose density at c is defined through its base at c′; it is required
//!   for such a model and refused for any other.

use crate::model_dir;
use crate::target::{parse_f64, parse_usize, write_atomic};
use anyhow::{Result, anyhow, bail};
use clap::Subcommand;
use ndarray::{Array2, Ix2};
use ndarray_npy::read_npy;
use rand::RngCore;
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use trade_ad::{ParamStore, Tape, Var};
use trade_flows::{Condition, Distribution, FlowError, FlowModel};

/// Subcommands of `cargo xtask model`.
#[derive(Subcommand)]
pub enum ModelCommand {
    /// Draw samples (and their log-density) from a trained model at a condition.
    Sample {
        /// Model directory written by `cargo xtask reproduce`.
        #[arg(long)]
        checkpoint: PathBuf,
        /// Condition in the target's units (kelvin for alanine dipeptide).
        #[arg(long, allow_hyphen_values = true)]
        condition: String,
        /// Number of samples.
        #[arg(long)]
        n: String,
        /// RNG seed.
        #[arg(long)]
        seed: String,
        /// Output (N, d) float64 .npy.
        #[arg(long)]
        out: PathBuf,
        /// Optional output (N,) float64 .npy of log q(x|c).
        #[arg(long)]
        log_prob: Option<PathBuf>,
        /// Target condition c′ of a conditional Flows-for-Flows model (same units as c).
        #[arg(long, allow_hyphen_values = true)]
        target_condition: Option<String>,
    },
    /// Evaluate log q(x|c) at the rows of an (N, d) float64 .npy.
    LogProb {
        /// Model directory written by `cargo xtask reproduce`.
        #[arg(long)]
        checkpoint: PathBuf,
        /// Condition in the target's units.
        #[arg(long, allow_hyphen_values = true)]
        condition: String,
        /// Input (N, d) float64 .npy.
        #[arg(long)]
        input: PathBuf,
        /// Output (N,) float64 .npy.
        #[arg(long)]
        out: PathBuf,
        /// Target condition c′ of a conditional Flows-for-Flows model (same units as c).
        #[arg(long, allow_hyphen_values = true)]
        target_condition: Option<String>,
    },
}

fn condition(field: &str, s: &str, scale: f64) -> Result<f64> {
    let c = parse_f64(field, s, "a finite number > 0")?;
    if c <= 0.0 {
        bail!("{field} = {s:?}: allowed a finite number > 0");
    }
    Ok(c / scale)
}

/// A conditional Flows-for-Flows model seen at one target condition c′ (`--target-condition`):
/// every evaluation and draw passes c′ as the condition of the frozen base.
#[derive(Debug)]
struct AtTargetCondition {
    inner: Box<dyn Distribution>,
    c_target: f64,
}

impl AtTargetCondition {
    fn with_target(&self, tape: &mut Tape, n: usize, cond: &Condition) -> Condition {
        let ct = tape.constant(Array2::from_elem((n, 1), self.c_target));
        cond.with_target(ct)
    }
}

impl Distribution for AtTargetCondition {
    fn dim(&self) -> usize {
        self.inner.dim()
    }

    fn log_prob(
        &self,
        tape: &mut Tape,
        store: &ParamStore,
        x: Var,
        cond: &Condition,
    ) -> Result<Var, FlowError> {
        let n = tape.value(x).nrows();
        let cond = self.with_target(tape, n, cond);
        self.inner.log_prob(tape, store, x, &cond)
    }

    fn sample_with_log_prob(
        &self,
        tape: &mut Tape,
        store: &ParamStore,
        n_samples: usize,
        cond: &Condition,
        rng: &mut dyn RngCore,
    ) -> Result<(Var, Var), FlowError> {
        let cond = self.with_target(tape, n_samples, cond);
        self.inner
            .sample_with_log_prob(tape, store, n_samples, &cond, rng)
    }
}

/// Wraps a Flows-for-Flows transport model at its `--target-condition`; the flag is required
/// for such a model and refused for any other.
pub(crate) fn at_target_condition(
    density: Box<dyn Distribution>,
    transport: bool,
    target_condition: Option<&str>,
    scale: f64,
) -> Result<Box<dyn Distribution>> {
    match (transport, target_condition) {
        (false, None) => Ok(density),
        (true, Some(s)) => Ok(Box::new(AtTargetCondition {
            inner: density,
            c_target: condition("--target-condition", s, scale)?,
        })),
        (true, None) => bail!(
            "--target-condition: required for this conditional Flows-for-Flows model (its \
             base is evaluated at c′); allowed a finite number > 0"
        ),
        (false, Some(_)) => bail!(
            "--target-condition: this model has no target condition (only conditional \
             Flows-for-Flows models take one)"
        ),
    }
}

/// The density the command line sees: the flow itself, or for an internal-coordinate model
/// (alanine dipeptide) the flow pushed to Cartesian x (N, 66) nm by `trade_core::IcFlow`.
fn density(model: FlowModel, meta: &model_dir::ModelMeta) -> (Box<dyn Distribution>, ParamStore) {
    let FlowModel { flow, params, .. } = model;
    if meta.internal_coordinates {
        let mut ic = trade_targets::alanine::IcTransform::new();
        if meta.centred_torsions {
            ic = ic.with_centred_torsions();
        }
        let ic = Arc::new(ic);
        (Box::new(trade_core::IcFlow { inner: flow, ic }), params)
    } else {
        (Box::new(flow), params)
    }
}

/// Loads a model directory and resolves the command line's conditions: the density the command
/// line sees ([`density`], at `--target-condition` for a conditional Flows-for-Flows model), its
/// parameters, and c in model units.
fn open(
    checkpoint: &Path,
    c: &str,
    target_condition: Option<&str>,
) -> Result<(Box<dyn Distribution>, ParamStore, f64)> {
    let (model, meta) = model_dir::load(checkpoint)?;
    let c = condition("--condition", c, meta.condition_scale)?;
    let transport = model.config.condition.input.is_transport();
    let (density, params) = density(model, &meta);
    let density = at_target_condition(density, transport, target_condition, meta.condition_scale)?;
    Ok((density, params, c))
}

/// Runs a model subcommand.
pub fn run(command: ModelCommand) -> Result<()> {
    match command {
        ModelCommand::Sample {
            checkpoint,
            condition: c,
            n,
            seed,
            out,
            log_prob,
            target_condition,
        } => {
            let (density, params, c) = open(&checkpoint, &c, target_condition.as_deref())?;
            let n = parse_usize("--n", &n, "an integer ≥ 1")?;
            if n == 0 {
                bail!("--n = 0: allowed an integer ≥ 1");
            }
            let seed = parse_usize("--seed", &seed, "a non-negative integer")? as u64;
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
            let (x, lq) = trade_core::loss::sample(&*density, &params, n, c, &mut rng)?;
            write_atomic(&out, &x)?;
            if let Some(path) = log_prob {
                write_atomic(&path, &lq)?;
            }
            Ok(())
        }
        ModelCommand::LogProb {
            checkpoint,
            condition: c,
            input,
            out,
            target_condition,
        } => {
            let (density, params, c) = open(&checkpoint, &c, target_condition.as_deref())?;
            let x: Array2<f64> = read_npy::<_, ndarray::Array<f64, Ix2>>(&input).map_err(|e| {
                anyhow!(
                    "--input {}: cannot read an (N, d) float64 .npy: {e}",
                    input.display()
                )
            })?;
            let d = density.dim();
            if x.ncols() != d {
                bail!(
                    "--input {}: has {} columns, the model expects d = {d}",
                    input.display(),
                    x.ncols()
                );
            }
            if let Some(row) = x
                .rows()
                .into_iter()
                .position(|r| r.iter().any(|v| !v.is_finite()))
            {
                bail!(
                    "--input {}: row {row} is not finite (allowed: finite values)",
                    input.display()
                );
            }
            let cc = Array2::from_elem((x.nrows(), 1), c);
            let lq = trade_core::loss::log_prob(&*density, &params, x.view(), cc.view())?;
            write_atomic(&out, &lq)
        }
    }
}
