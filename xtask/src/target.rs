//! `cargo xtask target eval|sample`: the target CLI contract (issue 4).

use clap::Subcommand;

/// Subcommands of `cargo xtask target`.
#[derive(Subcommand)]
pub enum TargetCommand {}

/// Runs a target subcommand.
pub fn run(command: TargetCommand) -> anyhow::Result<()> {
    match command {}
}
