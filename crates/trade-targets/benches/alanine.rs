//! Criterion benches for alanine dipeptide: energy + ∇_x U at batch 1 and 1024 (rayon), the
//! single-configuration kernel, the IC transform, and one BAOAB + SHAKE/RATTLE MD step.

// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ndarray::{Array2, array};
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use std::hint::black_box;
use trade_targets::Target;
use trade_targets::alanine::{
    AlanineDipeptide, ForceField, IcTransform, LangevinIntegrator, MdConfig, N_ATOMS,
    reference_structure,
};

/// `batch` copies of the reference structure with small deterministic displacements.
fn configurations(batch: usize) -> Array2<f64> {
    let x = reference_structure();
    Array2::from_shape_fn((batch, 66), |(i, j)| {
        x.as_flattened()[j] + 1e-3 * (((i * 37 + j * 11) % 17) as f64 / 8.0 - 1.0)
    })
}

fn energy_and_grad(c: &mut Criterion) {
    let mut group = c.benchmark_group("alanine/energy_and_grad");
    let target = AlanineDipeptide::new();
    let tau = array![1.0];
    for batch in [1, 1024] {
        let x = configurations(batch);
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_with_input(
            BenchmarkId::new("target", format!("batch={batch}")),
            &x,
            |b, x| b.iter(|| black_box(target.energy_and_grad(x.view(), tau.view()))),
        );
    }
    group.throughput(Throughput::Elements(1));
    let ff = ForceField::embedded();
    let x = reference_structure();
    group.bench_function("kernel/one configuration, no rayon", |b| {
        let mut g = [[0.0; 3]; N_ATOMS];
        b.iter(|| black_box(ff.energy_grad(black_box(&x), &mut g)))
    });
    group.bench_function("kernel/energy only", |b| {
        b.iter(|| black_box(ff.energy(black_box(&x))))
    });
    group.finish();
}

fn ic_transform(c: &mut Criterion) {
    let mut group = c.benchmark_group("alanine/ic");
    let t = IcTransform::new();
    let x = configurations(1024);
    let (z, _) = t.to_internal(x.view());
    group.throughput(Throughput::Elements(1024));
    group.bench_function("to_internal/batch=1024", |b| {
        b.iter(|| black_box(t.to_internal(x.view())))
    });
    group.bench_function("to_cartesian/batch=1024", |b| {
        b.iter(|| black_box(t.to_cartesian(z.view())))
    });
    group.finish();
}

fn md_step(c: &mut Criterion) {
    let mut group = c.benchmark_group("alanine/md");
    let it = LangevinIntegrator::new(MdConfig::at(600.0)).expect("valid config");
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(1);
    let mut s = it
        .init_state(&reference_structure(), &mut rng)
        .expect("init");
    it.run(&mut s, 2000, &mut rng).expect("equilibrates");
    group.throughput(Throughput::Elements(1));
    group.bench_function("baoab_rattle_step/600K", |b| {
        b.iter(|| it.step(&mut s, &mut rng).expect("stable"))
    });
    group.finish();
}

criterion_group!(benches, energy_and_grad, ic_transform, md_step);
criterion_main!(benches);
