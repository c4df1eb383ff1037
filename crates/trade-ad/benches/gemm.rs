//! Criterion gemm microbenchmark: the tape's matrix product (`Tape::matmul`, the `gemm` crate;
//! id `matmul`) and, for comparison, ndarray's `general_mat_mul` (matrixmultiply; id
//! `matrixmultiply`) in f64 and f32 on one thread, square n = 256 / 512 / 1024 (the machine's practical peak) and the conditioner's
//! shapes (m × 256 · 256 × 256, m = 64 / 512; m = 256 is the first square case). Throughput is in flops (2·m·k·n), so
//! criterion's "elem/s" is flop/s; `cargo xtask bench` turns it into GFLOP/s.

#![allow(missing_docs)] // criterion_group! generates undocumented functions

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ndarray::Array2;
use ndarray::linalg::general_mat_mul;
use std::hint::black_box;
use std::time::Duration;
use trade_ad::Tape;

fn shapes() -> Vec<(usize, usize, usize)> {
    vec![
        (256, 256, 256),
        (512, 512, 512),
        (1024, 1024, 1024),
        (64, 256, 256),
        (512, 256, 256),
    ]
}

fn bench_type<T>(c: &mut Criterion, name: &str, from: fn(f64) -> T)
where
    T: ndarray::LinalgScalar + trade_ad::Float + Send + Sync,
{
    let mut g = c.benchmark_group(name);
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for (m, k, n) in shapes() {
        let a = Array2::from_shape_fn((m, k), |(i, j)| from(((i * 7 + j * 3) % 11) as f64 * 0.1));
        let b = Array2::from_shape_fn((k, n), |(i, j)| from(((i * 5 + j) % 13) as f64 * 0.1));
        let mut out = Array2::from_elem((m, n), from(0.0));
        g.throughput(Throughput::Elements((2 * m * k * n) as u64));
        let shape = format!("m={m},k={k},n={n}");
        let mut tape: Tape<T> = Tape::new();
        g.bench_function(BenchmarkId::new("matmul", &shape), |bch| {
            bch.iter(|| {
                // Copying the operands onto the tape is O(mk + kn) against the product's O(mkn).
                tape.clear();
                let (av, bv) = (tape.constant(a.clone()), tape.constant(b.clone()));
                let y = tape.matmul(av, bv);
                black_box(tape.value(y)[[0, 0]]);
            })
        });
        g.bench_function(BenchmarkId::new("matrixmultiply", &shape), |bch| {
            bch.iter(|| {
                general_mat_mul(from(1.0), &a, &b, from(0.0), &mut out);
                black_box(&out);
            })
        });
    }
    g.finish();
}

fn gemm(c: &mut Criterion) {
    bench_type::<f64>(c, "gemm_f64", |v| v);
    bench_type::<f32>(c, "gemm_f32", |v| v as f32);
}

criterion_group!(benches, gemm);
criterion_main!(benches);
