//! Timing driver for `cargo xtask bench --compare-torch`: one full training step of the
//! multi-well flow (15 RQ-spline or affine blocks, MLP [256, 256] SiLU, condition log T,
//! N(0, T·I) base) — TRADE (∂_T log q on the tape, SmoothL1 residual, reverse sweep, Adam) or
//! NLL (−mean log q, reverse sweep, Adam) — with `DataParallel` on a rayon pool. The same
//! computation as `benchmarks/pytorch/bench_flow.py`.
//!
//! `step_timing <rq|affine> <trade|nll> <batch> <threads> <reps> [chunk_rows] [f64|f32-matmul|f32]`
//! prints one JSON line with the per-step wall times in seconds. `f32-matmul` runs the matrix
//! products in f32 (`MatmulPrecision::F32`), everything else in f64; `f32` runs the whole step
//! in f32 (`Tape<f32>`, `DataParallel<f32>`, the model cast by `FlowModel::to_f32`, Adam on
//! f32 parameters), like a float32 PyTorch model. TRADE itself is specified in f64
//! (`method.md` §4); the f32 variants are speed measurements.

use ndarray::{Array2, s};
use std::time::Instant;
use trade_ad::{Adam, AdamConfig, DataParallel, Float, MatmulPrecision};
use trade_flows::{Condition, Distribution, FlowConfig, FlowModel};

/// The multi-well flow with RQ splines, or the same with affine couplings (clamp 1).
fn config(coupling: &str) -> FlowConfig {
    if coupling == "affine" {
        FlowConfig::multi_well_affine(5, 15, &[256, 256])
    } else {
        FlowConfig::multi_well(5, 15, &[256, 256])
    }
}

fn arg<T: std::str::FromStr>(args: &[String], i: usize, default: T) -> T {
    args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default)
}

/// One timed run: `reps + 1` training steps (the first is discarded by the caller).
struct Run<'a> {
    trade: bool,
    batch: usize,
    chunk_rows: usize,
    reps: usize,
    precision: MatmulPrecision,
    pool: &'a rayon::ThreadPool,
}

impl Run<'_> {
    /// The wall time of each step on a model of element type `F` (inputs converted once).
    fn steps<F: Float>(
        &self,
        m: &mut FlowModel<F>,
        x: &Array2<f64>,
        c: &Array2<f64>,
        target: &Array2<f64>,
    ) -> Vec<f64> {
        let (x, c, target) = (x.mapv(F::c), c.mapv(F::c), target.mapv(F::c));
        let (trade, batch) = (self.trade, self.batch);
        let mut dp: DataParallel<F> =
            DataParallel::new(self.chunk_rows).with_matmul_precision(self.precision);
        let mut adam = Adam::new(AdamConfig::default()).expect("adam");
        let scale = 1.0 / batch as f64;
        let mut times = Vec::with_capacity(self.reps + 1);
        for _ in 0..self.reps + 1 {
            let start = Instant::now();
            let (_, grads, _) = self.pool.install(|| {
                dp.run(batch, |t, rows| {
                    let cv = c.slice(s![rows.clone(), ..]).to_owned();
                    let cc = if trade {
                        t.condition(cv)
                    } else {
                        t.constant(cv)
                    };
                    let xv = t.constant(x.slice(s![rows.clone(), ..]).to_owned());
                    let lp = m
                        .flow
                        .log_prob(t, &m.params, xv, &Condition::c(cc))
                        .expect("log_prob");
                    let per_row = if trade {
                        let g = t.tangent(lp).expect("∂_T log q");
                        let tv = t.constant(target.slice(s![rows, ..]).to_owned());
                        let r = t.sub(g, tv);
                        t.smooth_l1(r, 1.0)
                    } else {
                        t.neg(lp)
                    };
                    let total = t.sum(per_row, None);
                    (t.scale(total, scale), ())
                })
            });
            adam.step(&mut m.params, &grads, 1e-6, None);
            times.push(start.elapsed().as_secs_f64());
        }
        times
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let coupling: String = arg(&args, 0, "rq".to_string());
    let loss: String = arg(&args, 1, "trade".to_string());
    let batch: usize = arg(&args, 2, 512);
    let threads: usize = arg(&args, 3, 2);
    let reps: usize = arg(&args, 4, 5);
    let chunk_rows: usize = arg(&args, 5, 256);
    let precision_name: String = arg(&args, 6, "f64".to_string());
    let precision = match precision_name.as_str() {
        "f64" | "f32" => MatmulPrecision::Native,
        "f32-matmul" => MatmulPrecision::F32,
        other => panic!("precision {other:?}: allowed f64 | f32-matmul | f32"),
    };
    let m = FlowModel::new(config(&coupling)).expect("flow config");
    let x = Array2::from_shape_fn((batch, 5), |(i, j)| {
        3.0 * (((i * 7 + j * 13 + 3) as f64 * 0.618_034).fract() - 0.5)
    });
    let c = Array2::from_shape_fn((batch, 1), |(i, _)| 0.5 + (i % 10) as f64 * 0.15);
    let target = Array2::from_shape_fn((batch, 1), |(i, _)| ((i as f64) * 0.37).sin());
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("thread pool");
    let run = Run {
        trade: loss == "trade",
        batch,
        chunk_rows,
        reps,
        precision,
        pool: &pool,
    };
    let mut times = if precision_name == "f32" {
        let mut m32 = m.to_f32().expect("f32 model");
        run.steps(&mut m32, &x, &c, &target)
    } else {
        let mut m = m;
        run.steps(&mut m, &x, &c, &target)
    };
    times.remove(0); // the first step fills the buffer pools
    let mut sorted = times.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN);
    let list: Vec<String> = times.iter().map(|t| format!("{t:.6}")).collect();
    #[allow(clippy::print_stdout)]
    {
        println!(
            "{{\"impl\":\"trade-rs\",\"coupling\":\"{coupling}\",\"loss\":\"{loss}\",\"batch\":{batch},\"threads\":{threads},\"chunk_rows\":{chunk_rows},\"precision\":\"{precision_name}\",\"median_s\":{median:.6},\"times_s\":[{}]}}",
            list.join(",")
        );
    }
}
