//! `cargo xtask model sample|log-prob`: the model CLI contract (issue 6).
//!
//! * `model sample --checkpoint <dir> --condition <c> --n <N> --seed <s> --out <x.npy>
//!   [--log-prob <lq.npy>]` writes (N, d) samples and optionally their (N,) log-densities.
//! * `model log-prob --checkpoint <dir> --condition <c> --input <x.npy> --out <lq.npy>` writes
//!   the (N,) log-density of the model at c.

use crate::model_dir;
use crate::target::{parse_f64, parse_usize, write_atomic};
use anyhow::{Result, anyhow, bail};
use clap::Subcommand;
use ndarray::{Array2, Ix2};
use ndarray_npy::read_npy;
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use std::path::PathBuf;
use std::sync::Arc;
use trade_ad::ParamStore;
use trade_flows::{Distribution, FlowModel};

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
    },
}

fn condition(s: &str, scale: f64) -> Result<f64> {
    let c = parse_f64("--condition", s, "a finite number > 0")?;
    if c <= 0.0 {
        bail!("--condition = {s:?}: allowed a finite number > 0");
    }
    Ok(c / scale)
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
        } => {
            let (model, meta) = model_dir::load(&checkpoint)?;
            let c = condition(&c, meta.condition_scale)?;
            let n = parse_usize("--n", &n, "an integer ≥ 1")?;
            if n == 0 {
                bail!("--n = 0: allowed an integer ≥ 1");
            }
            let seed = parse_usize("--seed", &seed, "a non-negative integer")? as u64;
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
            let (density, params) = density(model, &meta);
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
        } => {
            let (model, meta) = model_dir::load(&checkpoint)?;
            let c = condition(&c, meta.condition_scale)?;
            let x: Array2<f64> = read_npy::<_, ndarray::Array<f64, Ix2>>(&input).map_err(|e| {
                anyhow!(
                    "--input {}: cannot read an (N, d) float64 .npy: {e}",
                    input.display()
                )
            })?;
            let (density, params) = density(model, &meta);
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
