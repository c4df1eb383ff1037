//! Criterion benches: energy + ∇_x U per target at batch 4096, and φ⁴ HMC trajectories on 8×8 and 16×16.

// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ndarray::array;
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use std::hint::black_box;
use trade_targets::phi4::{HmcConfig, Phi4, run_hmc};
use trade_targets::{TargetOptions, by_name, sampler_by_name};

fn energy_and_grad(c: &mut Criterion) {
    let mut group = c.benchmark_group("target/energy_and_grad");
    let batch = 4096;
    group.throughput(Throughput::Elements(batch as u64));
    for name in ["multi-well", "double-well", "gmm", "two-moons", "phi4"] {
        let opts = TargetOptions::default();
        let target = by_name(name, &opts).expect("known target");
        let c0 = target.condition().boundary[0];
        // phi4 points from a short HMC run would be slow to set up; its cost does not depend on φ.
        let x = if name == "phi4" {
            ndarray::Array2::from_shape_fn((batch, 64), |(i, j)| {
                ((i * 31 + j * 17) % 23) as f64 / 10.0 - 1.1
            })
        } else {
            sampler_by_name(name, &opts, c0)
                .expect("sampler")
                .sample(batch, &mut Xoshiro256PlusPlus::seed_from_u64(0))
        };
        let cv = array![c0];
        group.bench_with_input(
            BenchmarkId::new(name, format!("batch={batch}")),
            &x,
            |b, x| b.iter(|| black_box(target.energy_and_grad(x.view(), cv.view()))),
        );
    }
    group.finish();
}

fn hmc(c: &mut Criterion) {
    let mut group = c.benchmark_group("phi4/hmc");
    group.sample_size(10);
    let n_traj = 200;
    group.throughput(Throughput::Elements(n_traj as u64));
    for n in [8, 16] {
        let phi4 = Phi4::new(n, 0.02).expect("valid lattice");
        // One chain, trajectories of length 1 (throughput = trajectories per second).
        let cfg = HmcConfig {
            n_chains: 1,
            n_therm: 0,
            n_traj,
            ..HmcConfig::default()
        };
        group.bench_function(
            BenchmarkId::new("trajectories", format!("{n}x{n},kappa=0.27")),
            |b| b.iter(|| black_box(run_hmc(&phi4, 0.27, &cfg).expect("valid config"))),
        );
    }
    group.finish();
}

criterion_group!(benches, energy_and_grad, hmc);
criterion_main!(benches);
