//! xtask: developer and reproduction tasks for trade-rs (`cargo xtask --help`).
//!
//! Contracts other tools rely on (issue texts): `target eval|sample`, `model sample|log-prob`,
//! `reproduce [<experiment>…] [--profile quick|paper] …`; and `train --config run.json`.

mod bench;
mod model;
mod model_dir;
mod plot;
mod reproduce;
mod target;
mod train;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "xtask",
    about = "trade-rs tasks: reproduce experiments, evaluate targets, benchmarks"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Reproduce the paper's experiments (default: every quick profile).
    Reproduce(reproduce::ReproduceArgs),
    /// Run the criterion benchmarks into target/bench/summary.{md,json} [--quick] [--compare-torch].
    Bench(bench::BenchArgs),
    /// Sample from or evaluate a trained model (.npy in, .npy out).
    Model {
        #[command(subcommand)]
        command: model::ModelCommand,
    },
    /// Train one model from a run config (JSON) into a model directory.
    Train(train::TrainArgs),
    /// Evaluate targets or draw reference samples (.npy in, .npy out).
    Target {
        #[command(subcommand)]
        command: target::TargetCommand,
    },
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Reproduce(args) => reproduce::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Model { command } => model::run(command),
        Command::Target { command } => target::run(command),
        Command::Train(args) => train::run(args),
    };
    if let Err(err) = result {
        eprintln!("error: {err:#}");
        std::process::exit(1);
    }
}
