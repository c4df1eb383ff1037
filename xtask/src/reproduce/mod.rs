//! `cargo xtask reproduce [<experiment>…] [--profile quick|paper] [--methods m1,m2,…]
//! [--out DIR] [--seed N] [--threads N] [--resume]` (issue 7). With no experiment it runs
//! the default list's quick profiles (every available experiment but `phi4`, which runs by name).

mod alanine;
mod common;
pub use common::Progress;
mod double_well;
mod flows_for_flows;
mod gmm;
mod multi_well;
mod phi4;
mod smoke;
mod two_moons;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use std::path::PathBuf;

/// Experiments available now, in the order the default run takes them.
const EXPERIMENTS: &[&str] = &[
    "smoke",
    "multi-well",
    "gmm",
    "double-well",
    "two-moons",
    "flows-for-flows",
];
/// Experiments run only when named (their quick profiles take minutes each).
const BY_NAME_ONLY: &[&str] = &["phi4", "alanine-dipeptide"];

/// Run profile.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Profile {
    /// Minutes on a laptop; still meaningful numbers.
    Quick,
    /// The spec's full protocol.
    Paper,
}

/// Arguments of `cargo xtask reproduce`.
#[derive(Args, Debug)]
pub struct ReproduceArgs {
    /// Experiments to run (default: every available one).
    experiments: Vec<String>,
    /// quick (minutes) or paper (the spec's protocol).
    #[arg(long, value_enum, default_value = "quick")]
    profile: Profile,
    /// Comma-separated method names (default: all of the experiment's).
    #[arg(long, value_delimiter = ',')]
    methods: Vec<String>,
    /// Output directory.
    #[arg(long, default_value = "target/reproduce")]
    out: PathBuf,
    /// Master seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Worker threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Continue from the last checkpoints.
    #[arg(long)]
    resume: bool,
    /// Independent training runs (seeds seed, seed+1, …) per method, instead of the profile's
    /// number (quick: 1, paper: 3); with `--resume`, finished runs are not retrained.
    #[arg(long)]
    runs: Option<usize>,
    /// Precision of the training step's matrix products: f64, or f32 (faster; sampling,
    /// SNIS and evaluation stay in f64).
    #[arg(long, value_enum, default_value = "f64")]
    matmul_precision: MatmulPrecisionArg,
    /// Training epochs per run instead of the profile's (phi4 only; the schedule's epoch blocks
    /// and the TRADE start keep their fractions of training).
    #[arg(long)]
    epochs: Option<usize>,
}

/// `--matmul-precision` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum MatmulPrecisionArg {
    /// f64 products (the default).
    F64,
    /// f32 products of rounded operands (`trade_ad::MatmulPrecision::F32`).
    F32,
}

impl ReproduceArgs {
    /// `--runs` if given (≥ 1), else the profile's number of runs.
    pub fn runs(&self, profile_runs: usize) -> anyhow::Result<usize> {
        match self.runs {
            Some(0) => bail!("--runs = 0 is out of range: allowed ≥ 1"),
            Some(n) => Ok(n),
            None => Ok(profile_runs),
        }
    }

    /// The trainer's matrix-product precision.
    pub fn matmul_precision(&self) -> trade_ad::MatmulPrecision {
        match self.matmul_precision {
            MatmulPrecisionArg::F64 => trade_ad::MatmulPrecision::Native,
            MatmulPrecisionArg::F32 => trade_ad::MatmulPrecision::F32,
        }
    }
}

/// Runs the command.
pub fn run(args: ReproduceArgs) -> anyhow::Result<()> {
    if let Some(n) = args.threads {
        if n == 0 {
            bail!("--threads = 0 is out of range: allowed ≥ 1");
        }
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global()
            .context("setting --threads")?;
    }
    let experiments: Vec<String> = if args.experiments.is_empty() {
        EXPERIMENTS.iter().map(|s| s.to_string()).collect()
    } else {
        args.experiments.clone()
    };
    for e in &experiments {
        if !EXPERIMENTS.contains(&e.as_str()) && !BY_NAME_ONLY.contains(&e.as_str()) {
            let all: Vec<&str> = EXPERIMENTS.iter().chain(BY_NAME_ONLY).copied().collect();
            bail!("unknown experiment {e:?}; allowed: {}", all.join(", "));
        }
    }
    if let Some(n) = args.epochs {
        if n == 0 {
            bail!("--epochs = 0 is out of range: allowed ≥ 1");
        }
        if let Some(e) = experiments.iter().find(|e| e.as_str() != "phi4") {
            bail!("--epochs applies to phi4 only, not to {e:?}");
        }
    }
    let mut summaries = Vec::new();
    for e in &experiments {
        let summary = match e.as_str() {
            "smoke" => smoke::run(&args)?,
            "multi-well" => multi_well::run(&args)?,
            "gmm" => gmm::run(&args)?,
            "double-well" => double_well::run(&args)?,
            "two-moons" => two_moons::run(&args)?,
            "alanine-dipeptide" => alanine::run(&args)?,
            "flows-for-flows" => flows_for_flows::run(&args)?,
            "phi4" => phi4::run(&args)?,
            _ => unreachable!("validated above"),
        };
        summaries.push(summary);
    }
    println!("\n# summary ({:?} profile)\n", args.profile);
    for s in summaries {
        println!("{s}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: ReproduceArgs,
    }

    fn error_of(argv: &[&str]) -> String {
        let cli = Cli::try_parse_from(std::iter::once("reproduce").chain(argv.iter().copied()))
            .expect("parses");
        run(cli.args).unwrap_err().to_string()
    }

    #[test]
    fn epochs_is_checked_before_anything_runs() {
        assert_eq!(
            error_of(&["phi4", "--epochs", "0"]),
            "--epochs = 0 is out of range: allowed ≥ 1"
        );
        assert_eq!(
            error_of(&["phi4", "multi-well", "--epochs", "3"]),
            "--epochs applies to phi4 only, not to \"multi-well\""
        );
        // With no experiment named, every default experiment would run: refused too.
        assert!(error_of(&["--epochs", "3"]).starts_with("--epochs applies to phi4 only"));
    }
}
