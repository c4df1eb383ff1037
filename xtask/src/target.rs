//! `cargo xtask target eval|sample`: the target CLI contract (issue 4).
//!
//! * `target eval <name> --condition <c> --input <x.npy> --out <dir>` reads an (N, d) float64 .npy
//!   and writes `<dir>/energy.npy` (N,) = U(x; c), `<dir>/grad.npy` (N, d) = ∇_x U and
//!   `<dir>/dudc.npy` (N,) = ∂_c U.
//! * `target sample <name> --condition <c> --n <N> --seed <s> --out <x.npy>` writes (N, d)
//!   reference samples.
//!
//! Names and options come from `trade_targets::by_name`; bad input is one line naming the field and
//! the allowed values (exit code 1), never a panic.

use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, Subcommand};
use ndarray::{Array, Array2, Dimension, array};
use ndarray_npy::{WritableElement, read_npy, write_npy};
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use std::path::{Path, PathBuf};
use trade_targets::{TargetOptions, by_name, sampler_by_name};

/// Subcommands of `cargo xtask target`.
#[derive(Subcommand)]
pub enum TargetCommand {
    /// Evaluate U, ∇_x U and ∂_c U at the rows of an (N, d) float64 .npy.
    Eval {
        /// Target name: multi-well, double-well, gmm, two-moons, phi4.
        name: String,
        /// Condition c (T, β or κ, depending on the target).
        #[arg(long)]
        condition: String,
        /// Input (N, d) float64 .npy.
        #[arg(long)]
        input: PathBuf,
        /// Output directory for energy.npy, grad.npy, dudc.npy.
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        options: OptionArgs,
    },
    /// Draw N reference samples at one condition.
    Sample {
        /// Target name: multi-well, double-well, gmm, two-moons, phi4.
        name: String,
        /// Condition c (T, β or κ, depending on the target).
        #[arg(long)]
        condition: String,
        /// Number of samples N.
        #[arg(long)]
        n: String,
        /// Seed of the generator (u64).
        #[arg(long)]
        seed: String,
        /// Output (N, d) float64 .npy.
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        options: OptionArgs,
    },
}

/// Target options shared by both subcommands (strings, parsed with one-line errors).
#[derive(Args)]
pub struct OptionArgs {
    /// Two-moons observation `y0,y1` (default 0,0).
    #[arg(long, allow_hyphen_values = true)]
    observation: Option<String>,
    /// φ⁴ quartic coupling λ (default 0.02).
    #[arg(long)]
    lambda: Option<String>,
    /// φ⁴ lattice side N (default 8; d = N²).
    #[arg(long)]
    lattice: Option<String>,
    /// Multi-well dimension (default 5).
    #[arg(long)]
    dim: Option<String>,
}

/// Largest N accepted by `sample`.
const MAX_SAMPLES: usize = 100_000_000;

/// Runs a target subcommand.
pub fn run(command: TargetCommand) -> Result<()> {
    match command {
        TargetCommand::Eval {
            name,
            condition,
            input,
            out,
            options,
        } => eval(&name, &condition, &input, &out, &options),
        TargetCommand::Sample {
            name,
            condition,
            n,
            seed,
            out,
            options,
        } => sample(&name, &condition, &n, &seed, &out, &options),
    }
}

fn eval(name: &str, condition: &str, input: &Path, out: &Path, options: &OptionArgs) -> Result<()> {
    let target = by_name(name, &options.parse()?).map_err(|e| anyhow!("{e}"))?;
    let c = parse_f64("--condition", condition, "a finite number")?;
    let x: Array2<f64> = read_npy(input).map_err(|e| {
        anyhow!(
            "--input {}: cannot read an (N, {}) float64 .npy: {e}",
            input.display(),
            target.dim()
        )
    })?;
    let cv = array![c];
    target
        .check(x.view(), cv.view())
        .map_err(|e| anyhow!("--input {} / --condition: {e}", input.display()))?;
    let (energy, grad) = target.energy_and_grad(x.view(), cv.view());
    let dudc = target.d_energy_dc(x.view(), cv.view());
    std::fs::create_dir_all(out)
        .with_context(|| format!("--out {}: cannot create the directory", out.display()))?;
    write_atomic(&out.join("energy.npy"), &energy)?;
    write_atomic(&out.join("grad.npy"), &grad)?;
    write_atomic(&out.join("dudc.npy"), &dudc)
}

fn sample(
    name: &str,
    condition: &str,
    n: &str,
    seed: &str,
    out: &Path,
    options: &OptionArgs,
) -> Result<()> {
    let options = options.parse()?;
    by_name(name, &options).map_err(|e| anyhow!("{e}"))?;
    let c = parse_f64("--condition", condition, "a finite number")?;
    let n: usize = n
        .parse()
        .map_err(|_| anyhow!("--n = {n:?}: allowed an integer in [1, {MAX_SAMPLES}]"))?;
    if !(1..=MAX_SAMPLES).contains(&n) {
        bail!("--n = {n}: allowed an integer in [1, {MAX_SAMPLES}]");
    }
    let seed: u64 = seed
        .parse()
        .map_err(|_| anyhow!("--seed = {seed:?}: allowed an unsigned 64-bit integer"))?;
    let sampler = sampler_by_name(name, &options, c).map_err(|e| anyhow!("--condition: {e}"))?;
    let x = sampler.sample(n, &mut Xoshiro256PlusPlus::seed_from_u64(seed));
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("--out {}: cannot create the directory", parent.display()))?;
    }
    write_atomic(out, &x)
}

impl OptionArgs {
    fn parse(&self) -> Result<TargetOptions> {
        let observation = match &self.observation {
            None => None,
            Some(s) => {
                let parts: Vec<&str> = s.split(',').collect();
                let allowed = "two finite numbers y0,y1";
                if parts.len() != 2 {
                    bail!("--observation = {s:?}: allowed {allowed}");
                }
                Some([
                    parse_f64("--observation", parts[0], allowed)?,
                    parse_f64("--observation", parts[1], allowed)?,
                ])
            }
        };
        let lambda = self
            .lambda
            .as_deref()
            .map(|s| parse_f64("--lambda", s, "a finite number in [0, 1]"))
            .transpose()?;
        let lattice = self
            .lattice
            .as_deref()
            .map(|s| parse_usize("--lattice", s, "an integer in [2, 128]"))
            .transpose()?;
        let dim = self
            .dim
            .as_deref()
            .map(|s| parse_usize("--dim", s, "an integer >= 1"))
            .transpose()?;
        Ok(TargetOptions {
            dim,
            observation,
            lambda,
            lattice,
        })
    }
}

pub(crate) fn parse_f64(field: &str, s: &str, allowed: &str) -> Result<f64> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        _ => bail!("{field} = {s:?}: allowed {allowed}"),
    }
}

pub(crate) fn parse_usize(field: &str, s: &str, allowed: &str) -> Result<usize> {
    s.trim()
        .parse::<usize>()
        .map_err(|_| anyhow!("{field} = {s:?}: allowed {allowed}"))
}

/// Writes `path.tmp`, fsyncs it, then renames it onto `path`.
pub(crate) fn write_atomic<D: Dimension>(path: &Path, a: &Array<f64, D>) -> Result<()>
where
    f64: WritableElement,
{
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    write_npy(&tmp, a).map_err(|e| anyhow!("--out {}: cannot write: {e}", path.display()))?;
    std::fs::File::open(&tmp)
        .and_then(|f| f.sync_all())
        .with_context(|| format!("--out {}: fsync failed", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| {
        format!(
            "--out {}: cannot rename from {}",
            path.display(),
            tmp.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use trade_targets::TARGET_NAMES;

    #[test]
    fn names_match_registry() {
        assert!(TARGET_NAMES.contains(&"phi4") && TARGET_NAMES.contains(&"two-moons"));
    }

    #[test]
    fn parse_errors_name_the_field() {
        assert_eq!(
            parse_f64("--condition", "abc", "a finite number")
                .unwrap_err()
                .to_string(),
            "--condition = \"abc\": allowed a finite number"
        );
        let o = OptionArgs {
            observation: Some("1".into()),
            lambda: None,
            lattice: None,
            dim: None,
        };
        assert_eq!(
            o.parse().unwrap_err().to_string(),
            "--observation = \"1\": allowed two finite numbers y0,y1"
        );
    }
}
