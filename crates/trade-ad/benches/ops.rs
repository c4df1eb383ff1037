//! Criterion benchmarks of trade-ad: the conditioner MLP [4 → 256 → 256 → 75] (the size of the
//! multi-well spline conditioner) forward+backward, and forward+tangent+backward (the TRADE
//! shape), at batch 256 / 1024 / 4096 on one thread and on the rayon pool.

#![allow(missing_docs)] // criterion_group! generates undocumented functions

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use ndarray::{Array2, s};
use rand::SeedableRng;
use std::hint::black_box;
use std::time::Duration;
use trade_ad::{Activation, DataParallel, LastLayer, Mlp, ParamStore, Tape};

struct Setup {
    store: ParamStore,
    mlp: Mlp,
    x: Array2<f64>,
    c: Array2<f64>,
}

fn setup(n: usize) -> Setup {
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(0);
    let mut store = ParamStore::new();
    let mlp = Mlp::new(
        &mut store,
        "mlp",
        &[4, 256, 256, 75],
        Activation::Silu,
        LastLayer::Default,
        &mut rng,
    )
    .unwrap();
    let x = Array2::from_shape_fn((n, 3), |(i, j)| ((i * 3 + j) as f64 * 0.1).sin());
    let c = Array2::from_shape_fn((n, 1), |(i, _)| 0.5 + (i % 100) as f64 / 100.0);
    Setup { store, mlp, x, c }
}

/// One chunk: y = MLP([x, log c]); loss Σ y² (first order) or Σ (∂_c y)² (TRADE shape).
fn chunk(t: &mut Tape, s: &Setup, rows: std::ops::Range<usize>, tangent: bool) -> trade_ad::Var {
    let xv = t.constant(s.x.slice(s![rows.clone(), ..]).to_owned());
    let c = s.c.slice(s![rows, ..]).to_owned();
    let cv = if tangent {
        t.condition(c)
    } else {
        t.constant(c)
    };
    let logc = t.log(cv);
    let h = t.concat_cols(&[xv, logc]);
    let y = s.mlp.forward(t, &s.store, h);
    let out = if tangent {
        t.tangent(y).expect("y depends on c")
    } else {
        y
    };
    let sq = t.square(out);
    t.sum(sq, None)
}

fn bench_mlp(cr: &mut Criterion) {
    let threads = [1, rayon::current_num_threads().max(2)];
    for (label, tangent) in [("fwd_bwd", false), ("fwd_tangent_bwd", true)] {
        let mut group = cr.benchmark_group(format!("mlp_4_256_256_75/{label}"));
        group
            .sample_size(10)
            .measurement_time(Duration::from_secs(3))
            .warm_up_time(Duration::from_secs(1));
        for n in [256, 1024, 4096] {
            let s = setup(n);
            for &th in &threads {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(th)
                    .build()
                    .unwrap();
                // One chunk per thread: the data-parallel helper's intended use.
                let mut dp: DataParallel = DataParallel::new(n.div_ceil(th));
                group.bench_with_input(BenchmarkId::new(format!("threads{th}"), n), &n, |b, &n| {
                    b.iter(|| {
                        pool.install(|| {
                            black_box(dp.run(n, |t, rows| (chunk(t, &s, rows, tangent), ())).0)
                        })
                    })
                });
            }
        }
        group.finish();
    }
}

criterion_group!(benches, bench_mlp);
criterion_main!(benches);
