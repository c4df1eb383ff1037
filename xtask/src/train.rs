//! `cargo xtask train --config <run.json> --out <DIR> [--resume] [--threads N]`: trains one
//! model from a `trade_core::RunConfig` document (target, data, flow, trainer, weighted losses;
//! example: `docs/examples/multi-well-trade-grid.json`) and writes a model directory that
//! `cargo xtask model … --checkpoint DIR` accepts, plus `run.json` (the checked config) and
//! `train-state.json` (the atomic checkpoint that `--resume` continues from).

use crate::model_dir::{ModelMeta, save};
use crate::reproduce::Progress;
use anyhow::{Context, Result, bail};
use clap::Args;
use std::path::PathBuf;
use trade_core::RunConfig;

/// Arguments of `cargo xtask train`.
#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Run config (JSON; see docs/examples/).
    #[arg(long)]
    config: PathBuf,
    /// Output model directory.
    #[arg(long)]
    out: PathBuf,
    /// Continue from DIR/train-state.json if it exists.
    #[arg(long)]
    resume: bool,
    /// Worker threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
}

/// Runs the command.
pub fn run(args: TrainArgs) -> Result<()> {
    if let Some(n) = args.threads {
        if n == 0 {
            bail!("--threads = 0 is out of range: allowed ≥ 1");
        }
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global()
            .context("setting --threads")?;
    }
    let text = std::fs::read_to_string(&args.config)
        .with_context(|| format!("--config {}: cannot read", args.config.display()))?;
    let config = RunConfig::from_json(&text)
        .with_context(|| format!("--config {}", args.config.display()))?;
    let mut run = config
        .check()
        .with_context(|| format!("--config {}", args.config.display()))?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("--out {}: cannot create", args.out.display()))?;
    let state = args.out.join("train-state.json");
    if !args.resume && state.exists() {
        std::fs::remove_file(&state)?;
    }
    trade_core::checkpoint::write_atomic(
        &args.out.join("run.json"),
        run.config().to_json().as_bytes(),
    )?;
    let steps = run.train_config().steps;
    let mut bar = Progress::new("train", steps);
    let summary = run.train(&mut bar, Some(state), args.resume)?;
    drop(bar);
    let method = args
        .config
        .file_stem()
        .map_or("run".into(), |s| s.to_string_lossy().into_owned());
    let meta = ModelMeta {
        experiment: "train".into(),
        method,
        target: run.config().target.name.clone(),
        condition_scale: 1.0,
        seed: run.train_config().seed,
        internal_coordinates: false,
        centred_torsions: false,
    };
    save(&args.out, run.model(), &meta)?;
    println!(
        "trained {} steps ({} skipped), last loss {:.6}; model in {}",
        summary.steps,
        summary.skipped,
        summary.last_loss,
        args.out.display()
    );
    Ok(())
}
