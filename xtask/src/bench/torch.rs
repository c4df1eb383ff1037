//! `cargo xtask bench --compare-torch`: the multi-well training step of trade-rs
//! (`trade-flows/examples/step_timing.rs`, release build) against its lean PyTorch twin
//! (`benchmarks/pytorch/bench_flow.py`), run alternately per configuration on the same machine;
//! prints and writes `target/bench/compare_torch.{md,json}` with the ratio torch / trade-rs.

use anyhow::{Context, Result, bail};
use serde::Serialize;
use serde_json::Value;
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

/// One configuration's medians.
#[derive(Debug, Serialize)]
struct Pair {
    coupling: String,
    loss: String,
    batch: usize,
    threads: usize,
    rust_s: f64,
    torch_s: f64,
    /// torch / trade-rs: > 1 means trade-rs is faster.
    ratio: f64,
    load: String,
}

/// (coupling, loss, batch, threads, reps) of every configuration, in run order.
fn configurations(quick: bool) -> Vec<(&'static str, &'static str, usize, usize, usize)> {
    let batches: &[usize] = if quick {
        &[512]
    } else {
        &[256, 512, 1024, 4096]
    };
    let threads: &[usize] = if quick { &[2] } else { &[1, 2] };
    let mut out = Vec::new();
    for &coupling in &["rq", "affine"] {
        for &loss in &["trade", "nll"] {
            for &batch in batches {
                for &th in threads {
                    let reps = if quick || batch >= 4096 { 3 } else { 5 };
                    out.push((coupling, loss, batch, th, reps));
                }
            }
        }
    }
    out
}

/// The last line of stdout parsed as JSON, with its `median_s`.
fn median_of(cmd: &mut Command, what: &str) -> Result<f64> {
    let out = cmd.output().with_context(|| format!("running {what}"))?;
    if !out.status.success() {
        bail!(
            "{what} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().last().unwrap_or_default();
    let v: Value =
        serde_json::from_str(line).with_context(|| format!("{what}: not JSON: {line}"))?;
    v["median_s"]
        .as_f64()
        .with_context(|| format!("{what}: no median_s in {line}"))
}

fn torch_available() -> bool {
    Command::new("python3")
        .args(["-c", "import torch, numpy"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs every configuration, trade-rs first then PyTorch, and writes the table.
pub fn run(quick: bool, out: &Path) -> Result<()> {
    if !torch_available() {
        println!(
            "--compare-torch: python3 cannot import torch and numpy; install them with \
             `pip install torch numpy` (CPU wheels: --index-url https://download.pytorch.org/whl/cpu)"
        );
        return Ok(());
    }
    let root = out
        .parent()
        .and_then(Path::parent)
        .context("target/bench has a workspace root")?;
    let status = Command::new(env!("CARGO"))
        .current_dir(root)
        .args([
            "build",
            "--release",
            "-p",
            "trade-flows",
            "--example",
            "step_timing",
        ])
        .status()
        .context("building the step_timing example")?;
    if !status.success() {
        bail!("building the step_timing example failed");
    }
    let exe = root.join("target/release/examples/step_timing");
    let script = root.join("benchmarks/pytorch/bench_flow.py");
    let mut pairs = Vec::new();
    for (coupling, loss, batch, threads, reps) in configurations(quick) {
        let (b, t, r) = (batch.to_string(), threads.to_string(), reps.to_string());
        let rust_s = median_of(
            Command::new(&exe).args([coupling, loss, &b, &t, &r]),
            "step_timing",
        )?;
        let torch_s = median_of(
            Command::new("python3")
                .arg(&script)
                .args(["--coupling", coupling, "--loss", loss])
                .args(["--batch", &b, "--threads", &t, "--reps", &r])
                // A shared machine: OpenMP's spin-waiting threads lose their time slices.
                .env(
                    "OMP_WAIT_POLICY",
                    std::env::var("OMP_WAIT_POLICY").unwrap_or_else(|_| "PASSIVE".into()),
                ),
            "bench_flow.py",
        )?;
        let pair = Pair {
            coupling: coupling.into(),
            loss: loss.into(),
            batch,
            threads,
            rust_s,
            torch_s,
            ratio: torch_s / rust_s,
            load: super::load_average(),
        };
        println!(
            "{coupling:6} {loss:5} batch {batch:5} threads {threads}: trade-rs {rust_s:.3} s, \
             torch {torch_s:.3} s, ratio {:.2} (load {})",
            pair.ratio, pair.load
        );
        pairs.push(pair);
    }
    let mut md = String::from(
        "# trade-rs vs lean PyTorch: one multi-well training step (f64, median)\n\n\
         | coupling | loss | batch | threads | trade-rs | PyTorch | PyTorch / trade-rs | load |\n\
         |---|---|---|---|---|---|---|---|\n",
    );
    for p in &pairs {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {:.3} s | {:.3} s | {:.2} | {} |",
            p.coupling, p.loss, p.batch, p.threads, p.rust_s, p.torch_s, p.ratio, p.load
        );
    }
    super::write(out, "compare_torch.md", &md)?;
    super::write(
        out,
        "compare_torch.json",
        &serde_json::to_string_pretty(&pairs)?,
    )?;
    println!("{md}");
    Ok(())
}
