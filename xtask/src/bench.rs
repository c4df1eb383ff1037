//! `cargo xtask bench [--quick] [--compare-torch]`: runs the criterion benchmarks, collects their
//! estimates into one summary table (`target/bench/summary.{md,json}`) with GFLOP/s against the
//! gemm peak, and optionally times the multi-well training step side by side with the lean
//! PyTorch twin (`benchmarks/pytorch/bench_flow.py`), interleaved per configuration
//! (`target/bench/compare_torch.{md,json}`).

mod torch;

use anyhow::{Context, Result, bail};
use clap::Args;
use serde::Serialize;
use serde_json::Value;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

/// Options of `cargo xtask bench`.
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Criterion's quick mode, only the gemm and multi-well benches, and a short comparison.
    #[arg(long)]
    quick: bool,
    /// Also time the training step against the PyTorch twin (needs `python3` with torch).
    #[arg(long)]
    compare_torch: bool,
    /// Skip the criterion benches (only with --compare-torch).
    #[arg(long)]
    no_criterion: bool,
}

/// One criterion benchmark's result.
#[derive(Debug, Serialize)]
struct Row {
    id: String,
    median_ns: f64,
    mean_ns: f64,
    /// Throughput elements per iteration (flops for gemm and the TRADE step), if set.
    flops: Option<f64>,
    gflops: Option<f64>,
    /// Achieved GFLOP/s over (single-thread gemm peak × threads in the id): the f32 peak for
    /// rows whose products run in f32 (`_f32` in the id), else the f64 peak.
    fraction_of_peak: Option<f64>,
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace root")
        .to_path_buf()
}

/// The benches, as `cargo bench` argument lists; quick keeps the gemm and multi-well ones and
/// the quick-size training steps.
fn bench_commands(quick: bool) -> Vec<Vec<&'static str>> {
    if quick {
        return vec![
            vec!["-p", "trade-ad", "--bench", "gemm"],
            vec![
                "-p",
                "trade-flows",
                "--bench",
                "flows",
                "--",
                "multi_well/.*batch=512",
            ],
            vec!["-p", "trade-core", "--bench", "train_step", "--", "quick"],
        ];
    }
    vec![
        vec!["-p", "trade-ad", "--bench", "gemm", "--bench", "ops"],
        vec!["-p", "trade-flows", "--bench", "flows"],
        vec![
            "-p",
            "trade-targets",
            "--bench",
            "targets",
            "--bench",
            "alanine",
        ],
        vec!["-p", "trade-core", "--bench", "train_step"],
    ]
}

/// Runs `cargo bench` for every bench (criterion's `--quick` in quick mode).
fn run_criterion(quick: bool) -> Result<()> {
    for args in bench_commands(quick) {
        let mut cmd = Command::new(env!("CARGO"));
        cmd.current_dir(root()).arg("bench").args(&args);
        if quick {
            if !args.contains(&"--") {
                cmd.arg("--");
            }
            cmd.arg("--quick");
        }
        let status = cmd.status().context("running cargo bench")?;
        if !status.success() {
            bail!("cargo bench {} failed", args.join(" "));
        }
    }
    Ok(())
}

fn read_json(path: &Path) -> Option<Value> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

/// Every `new/estimates.json` under `dir` written after `since`.
fn estimate_files(dir: &Path, since: SystemTime, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            estimate_files(&p, since, out);
        } else if p.ends_with("new/estimates.json")
            && e.metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t >= since)
        {
            out.push(p);
        }
    }
}

/// Number of threads named in a benchmark id (`…threads2…`), 1 if none.
fn threads_in(id: &str) -> f64 {
    id.split("threads")
        .nth(1)
        .and_then(|rest| {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        })
        .unwrap_or(1.0)
}

/// Collects the results written since `since` into rows, sorted by id.
fn collect(since: SystemTime) -> Vec<Row> {
    let mut files = Vec::new();
    estimate_files(&root().join("target/criterion"), since, &mut files);
    let mut rows: Vec<Row> = files
        .iter()
        .filter_map(|est| {
            let dir = est.parent()?;
            let bench = read_json(&dir.join("benchmark.json"))?;
            let est = read_json(est)?;
            let id = bench["full_id"].as_str()?.to_string();
            let flops = bench["throughput"]["Elements"].as_f64();
            let median_ns = est["median"]["point_estimate"].as_f64()?;
            let gflops = flops.map(|f| f / median_ns);
            Some(Row {
                id,
                median_ns,
                mean_ns: est["mean"]["point_estimate"].as_f64()?,
                flops,
                gflops,
                fraction_of_peak: None,
            })
        })
        .collect();
    rows.sort_by(|a, b| a.id.cmp(&b.id));
    let peak = |prefix: &str| {
        rows.iter()
            .filter(|r| r.id.starts_with(prefix))
            .filter_map(|r| r.gflops)
            .fold(None, |m: Option<f64>, g| Some(m.map_or(g, |m| m.max(g))))
    };
    let (p64, p32) = (peak("gemm_f64/"), peak("gemm_f32/"));
    for r in rows.iter_mut().filter(|r| !r.id.starts_with("gemm_")) {
        let p = if products_in_f32(&r.id) { p32 } else { p64 };
        r.fraction_of_peak = p.zip(r.gflops).map(|(p, g)| g / (p * threads_in(&r.id)));
    }
    rows
}

/// True for benchmark ids whose matrix products run in f32 (`…_f32` products, `…_f32tape`).
fn products_in_f32(id: &str) -> bool {
    id.split('/')
        .nth(1)
        .is_some_and(|name| name.contains("_f32"))
}

fn fmt_time(ns: f64) -> String {
    if ns >= 1e9 {
        format!("{:.3} s", ns / 1e9)
    } else if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{ns:.0} ns")
    }
}

pub(crate) fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

fn summary_markdown(rows: &[Row], load: &str) -> String {
    let mut md = String::from("# Benchmark summary\n\n");
    let _ = writeln!(
        md,
        "1-minute load average at the end of the run: {load} (wall times scale with it).\n"
    );
    md.push_str(
        "| benchmark | median | mean | GFLOP/s | of gemm peak × threads (f32 peak for `_f32` rows) |\n",
    );
    md.push_str("|---|---|---|---|---|\n");
    for r in rows {
        let g = r.gflops.map_or("".into(), |g| format!("{g:.1}"));
        let f = r
            .fraction_of_peak
            .map_or("".into(), |f| format!("{:.0} %", 100.0 * f));
        let _ = writeln!(
            md,
            "| {} | {} | {} | {g} | {f} |",
            r.id,
            fmt_time(r.median_ns),
            fmt_time(r.mean_ns)
        );
    }
    md
}

pub(crate) fn write(dir: &Path, name: &str, text: &str) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join(name);
    let tmp = dir.join(format!("{name}.tmp"));
    std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Entry point of `cargo xtask bench`.
pub fn run(args: BenchArgs) -> Result<()> {
    let out = root().join("target/bench");
    if !args.no_criterion {
        let since = SystemTime::now();
        run_criterion(args.quick)?;
        let rows = collect(since);
        let md = summary_markdown(&rows, &load_average());
        write(&out, "summary.md", &md)?;
        write(&out, "summary.json", &serde_json::to_string_pretty(&rows)?)?;
        println!("{md}");
        println!("wrote {}", out.join("summary.{md,json}").display());
    }
    if args.compare_torch {
        torch::run(args.quick, &out)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_count_is_read_from_the_id() {
        assert!((threads_in("multi_well/trade_step_chunks64_threads2/dim=5") - 2.0).abs() < 1e-12);
        assert!((threads_in("multi_well/trade_step/dim=5,batch=512") - 1.0).abs() < 1e-12);
    }

    #[test]
    fn f32_rows_are_measured_against_the_f32_peak() {
        assert!(products_in_f32(
            "multi_well/trade_step_chunks256_threads2_f32tape/dim=5,batch=512"
        ));
        assert!(products_in_f32(
            "multi_well/trade_step_chunks256_threads2_f32/dim=5,batch=512"
        ));
        assert!(!products_in_f32(
            "multi_well/trade_step_chunks256_threads2/dim=5,batch=512"
        ));
    }
}
