//! `cargo xtask bench --compare-torch`: the multi-well training step of trade-rs
//! (`trade-flows/examples/step_timing.rs`, release build) against its lean PyTorch twin
//! (`benchmarks/pytorch/bench_flow.py`), run alternately per configuration on the same machine;
//! prints and writes `target/bench/compare_torch.{md,json}` with the ratio torch / trade-rs.
//! Precisions: "f64", f64 everywhere (both sides); "f32", PyTorch float32 against trade-rs's
//! f32 path (the flow cast to f32, `Tape<f32>`, every op in f32); and, in the quick run only,
//! "f32-matmul", PyTorch float32 against trade-rs's f64 tape with f32 matrix products
//! (`MatmulPrecision::F32`).

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
    /// "f64"; "f32" (torch float32, trade-rs `Tape<f32>`); "f32-matmul" (torch float32,
    /// trade-rs f64 tape with f32 matrix products).
    precision: String,
    batch: usize,
    threads: usize,
    /// trade-rs data-parallel chunk rows.
    chunk_rows: usize,
    rust_s: f64,
    torch_s: f64,
    /// torch / trade-rs: > 1 means trade-rs is faster.
    ratio: f64,
    load: String,
}

/// One configuration: coupling, loss, precision, batch, threads, repetitions.
type Config = (
    &'static str,
    &'static str,
    &'static str,
    usize,
    usize,
    usize,
);

/// Every configuration, in run order.
fn configurations(quick: bool) -> Vec<Config> {
    let batches: &[usize] = if quick {
        &[512]
    } else {
        &[256, 512, 1024, 4096]
    };
    let threads: &[usize] = if quick { &[2] } else { &[1, 2] };
    let precisions: &[&'static str] = if quick {
        &["f64", "f32", "f32-matmul"]
    } else {
        &["f64", "f32"]
    };
    let mut out = Vec::new();
    for &coupling in &["rq", "affine"] {
        for &loss in &["trade", "nll"] {
            for &precision in precisions {
                for &batch in batches {
                    for &th in threads {
                        let reps = if quick || batch >= 4096 { 3 } else { 5 };
                        out.push((coupling, loss, precision, batch, th, reps));
                    }
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
    for (coupling, loss, precision, batch, threads, reps) in configurations(quick) {
        let (b, t, r) = (batch.to_string(), threads.to_string(), reps.to_string());
        // Half the batch, 64 to 256 rows: both threads busy at batch 256, and small tapes.
        let chunk_rows = (batch / 2).clamp(64, 256);
        let torch_dtype = if precision == "f64" {
            "float64"
        } else {
            "float32"
        };
        let rust_s = median_of(
            Command::new(&exe).args([
                coupling,
                loss,
                &b,
                &t,
                &r,
                &chunk_rows.to_string(),
                precision,
            ]),
            "step_timing",
        )?;
        let torch_s = median_of(
            Command::new("python3")
                .arg(&script)
                .args(["--coupling", coupling, "--loss", loss])
                .args(["--batch", &b, "--threads", &t, "--reps", &r])
                .args(["--dtype", torch_dtype])
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
            precision: precision.into(),
            batch,
            threads,
            chunk_rows,
            rust_s,
            torch_s,
            ratio: torch_s / rust_s,
            load: super::load_average(),
        };
        println!(
            "{coupling:6} {loss:5} {precision} batch {batch:5} threads {threads}: trade-rs \
             {rust_s:.3} s, torch {torch_s:.3} s, ratio {:.2} (load {})",
            pair.ratio, pair.load
        );
        pairs.push(pair);
    }
    let mut md = String::from(
        "# trade-rs vs lean PyTorch: one multi-well training step (median)\n\n\
         Precision f64: both in f64. Precision f32: PyTorch float32; trade-rs's flow cast to \
         f32 on a `Tape<f32>` (every op f32). Precision f32-matmul: PyTorch float32; trade-rs's \
         f64 tape with f32 matrix products.\n\n\
         | coupling | loss | precision | batch | threads | chunk rows | trade-rs | PyTorch | \
         PyTorch / trade-rs | load |\n\
         |---|---|---|---|---|---|---|---|---|---|\n",
    );
    for p in &pairs {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {:.3} s | {:.3} s | {:.2} | {} |",
            p.coupling,
            p.loss,
            p.precision,
            p.batch,
            p.threads,
            p.chunk_rows,
            p.rust_s,
            p.torch_s,
            p.ratio,
            p.load
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
