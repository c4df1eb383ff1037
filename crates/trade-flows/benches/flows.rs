#![allow(missing_docs)]
//! Flow benchmarks: forward + log-det, inverse, log-prob with c-tangent, and the TRADE-shaped
//! step (log-prob, c-tangent, reverse sweep) for the multi-well flow (d = 5, 15 RQ blocks,
//! [256, 256]) at batch 512 and 4096 (one tape, and `DataParallel` with 64- and 256-row chunks
//! on 1 and 2 threads, f32 products, and the whole step in f32, with the step's matmul flops
//! as throughput), a φ⁴-sized flow (d = 64) and an alanine-sized affine flow
//! (d = 48). Each benchmark reuses one tape (`Tape::clear`), as the trainer does.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ndarray::{Array2, s};
use std::hint::black_box;
use std::time::Duration;
use trade_ad::{DataParallel, Float, Gradients, MatmulPrecision, Tape};
use trade_flows::config::ConditionConfig;
use trade_flows::{
    BaseConfig, Condition, ConditionInput, ConditionerConfig, Distribution, FlowConfig, FlowModel,
    LayerConfig, PermutationKind, Scaling,
};

/// φ⁴-sized stand-in (`flows.md` §7 without the conv part): embedding e(κ), 6 × [ActNorm → RQ
/// K = 10 (32|32), MLP 4 × 128 Xavier → permutation], N(0, I₆₄).
fn phi4_like() -> FlowConfig {
    FlowConfig {
        dim: 64,
        augmentation_dims: 0,
        condition: ConditionConfig {
            input: ConditionInput::Embedding {
                hidden: vec![32, 32, 32],
                standardise: None,
            },
            y_dim: 0,
        },
        layers: vec![LayerConfig::Repeat {
            count: 6,
            layers: vec![
                LayerConfig::ActNorm,
                LayerConfig::RqCoupling {
                    conditioner: FlowConfig::loop_b_conditioner(&[128, 128, 128, 128]),
                    bins: 10,
                    bound: 3.0,
                    min_bin: 0.1,
                },
                LayerConfig::Permutation {
                    kind: PermutationKind::Random,
                },
            ],
        }],
        base: BaseConfig::Gaussian {
            scaling: Scaling::Standard,
        },
        seed: 0,
    }
}

/// Alanine-sized affine flow (`flows.md` §9 without augmentation): 20 × [GLOW coupling
/// (ResNet 128, learnable clamp) → permutation → ActNorm] → conditional affine → N(0, τ·I).
fn ala2_like() -> FlowConfig {
    let resnet = ConditionerConfig::ResNet {
        width: 128,
        blocks: 1,
        activation: Default::default(),
        init: Default::default(),
        zero_last: true,
    };
    FlowConfig {
        dim: 48,
        augmentation_dims: 0,
        condition: ConditionConfig {
            input: ConditionInput::LogC,
            y_dim: 0,
        },
        layers: vec![
            LayerConfig::Repeat {
                count: 20,
                layers: vec![
                    LayerConfig::AffineCoupling {
                        conditioner: resnet.clone(),
                        clamp: 0.3,
                        learnable_clamp: true,
                    },
                    LayerConfig::Permutation {
                        kind: PermutationKind::Random,
                    },
                    LayerConfig::ActNorm,
                ],
            },
            LayerConfig::ConditionalAffine {
                conditioner: resnet,
            },
        ],
        base: BaseConfig::Gaussian {
            scaling: Scaling::Temperature,
        },
        seed: 0,
    }
}

/// Small random perturbation so that the couplings are not the identity.
fn model(config: FlowConfig) -> FlowModel {
    let mut m = FlowModel::new(config).unwrap();
    for id in m.params.ids().collect::<Vec<_>>() {
        if m.params.is_trainable(id) {
            let mut k = id.index() as f64;
            m.params.get_mut(id).mapv_inplace(|v| {
                k += 1.0;
                v + 0.02 * ((k * 0.754_877_666).fract() - 0.5)
            });
        }
    }
    m
}

fn inputs(d: usize, n: usize) -> (Array2<f64>, Array2<f64>) {
    let x = Array2::from_shape_fn((n, d), |(i, j)| {
        3.0 * (((i * 7 + j * 13 + 3) as f64 * 0.618_034).fract() - 0.5)
    });
    let c = Array2::from_shape_fn((n, 1), |(i, _)| 0.5 + (i % 10) as f64 * 0.15);
    (x, c)
}

fn bench_flow(c: &mut Criterion, name: &str, m: &FlowModel, batches: &[usize]) {
    let mut g = c.benchmark_group(name);
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    for &n in batches {
        let (x, cv) = inputs(m.flow.dim(), n);
        let id = |what: &str| BenchmarkId::new(what, format!("dim={},batch={n}", m.flow.dim()));
        g.bench_function(id("forward_log_det"), |b| {
            let mut t: Tape = Tape::new();
            b.iter(|| {
                t.clear();
                let cc = t.constant(cv.clone());
                let xv = t.constant(x.clone());
                let out = m.flow.transform(&mut t, &m.params, xv, &Condition::c(cc));
                black_box(out.unwrap());
            })
        });
        g.bench_function(id("inverse"), |b| {
            let mut t: Tape = Tape::new();
            b.iter(|| {
                t.clear();
                let cc = t.constant(cv.clone());
                let zv = t.constant(x.clone());
                let out = m
                    .flow
                    .inverse_transform(&mut t, &m.params, zv, &Condition::c(cc));
                black_box(out.unwrap());
            })
        });
        g.bench_function(id("log_prob_c_tangent"), |b| {
            let mut t: Tape = Tape::new();
            b.iter(|| {
                t.clear();
                let cc = t.condition(cv.clone());
                let xv = t.constant(x.clone());
                let lp = m.flow.log_prob(&mut t, &m.params, xv, &Condition::c(cc));
                black_box(t.tangent(lp.unwrap()));
            })
        });
        g.bench_function(id("trade_step"), |b| {
            let mut t: Tape = Tape::new();
            b.iter(|| {
                t.clear();
                let cc = t.condition(cv.clone());
                let xv = t.constant(x.clone());
                let lp = m
                    .flow
                    .log_prob(&mut t, &m.params, xv, &Condition::c(cc))
                    .unwrap();
                let g = t.tangent(lp).unwrap();
                let sq = t.square(g);
                let l = t.mean(sq, None);
                black_box(t.backward(l));
            })
        });
    }
    g.finish();
}

/// Matrix-product flops of one TRADE step (recorded products and the reverse sweep's), counted
/// on a 64-row tape and scaled to `n` rows (every product is linear in the rows).
fn trade_step_flops(m: &FlowModel, n: usize) -> u64 {
    let (x, cv) = inputs(m.flow.dim(), 64);
    let mut t: Tape = Tape::new();
    let cc = t.condition(cv);
    let xv = t.constant(x);
    let lp = m
        .flow
        .log_prob(&mut t, &m.params, xv, &Condition::c(cc))
        .unwrap();
    t.tangent(lp).unwrap();
    let (recorded, reverse) = t.matmul_flops();
    (recorded + reverse) * n as u64 / 64
}

/// One TRADE-shaped step (log q with the c-tangent, mean square of the tangent, reverse sweep)
/// over `dp`'s chunks, in the model's element type.
fn parallel_step<F: Float>(
    dp: &mut DataParallel<F>,
    m: &FlowModel<F>,
    x: &Array2<F>,
    c: &Array2<F>,
) -> (F, Gradients<F>) {
    let n = x.nrows();
    let (loss, grads, _) = dp.run(n, |t, rows| {
        let cc = t.condition(c.slice(s![rows.clone(), ..]).to_owned());
        let xv = t.constant(x.slice(s![rows, ..]).to_owned());
        let lp = m
            .flow
            .log_prob(t, &m.params, xv, &Condition::c(cc))
            .unwrap();
        let g = t.tangent(lp).unwrap();
        let sq = t.square(g);
        let l = t.sum(sq, None);
        (t.scale(l, 1.0 / n as f64), ())
    });
    (loss, grads)
}

/// The trainer's shape of the TRADE step: `DataParallel` with 64-row chunks (the multi-well
/// experiment's `chunk_rows`) and 256-row chunks on a pool of 1 and 2 threads; the same bits
/// for both thread counts. Throughput is the step's matrix-product flops, so criterion's
/// "elem/s" is the achieved matmul flop/s. `_f32` rows run the matrix products in f32
/// (`MatmulPrecision::F32`); the `_f32tape` row runs the whole step on the f32 path (the model
/// cast with `FlowModel::to_f32`, `Tape<f32>`).
fn bench_trade_parallel(c: &mut Criterion, name: &str, m: &FlowModel, batches: &[usize]) {
    let mut g = c.benchmark_group(name);
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    for &n in batches {
        let (x, cv) = inputs(m.flow.dim(), n);
        g.throughput(Throughput::Elements(trade_step_flops(m, n)));
        for (chunk, threads, precision) in [
            (64, 1, MatmulPrecision::Native),
            (64, 2, MatmulPrecision::Native),
            (256, 1, MatmulPrecision::Native),
            (256, 2, MatmulPrecision::Native),
            (256, 2, MatmulPrecision::F32),
        ] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let mut dp: DataParallel = DataParallel::new(chunk).with_matmul_precision(precision);
            let suffix = if precision == MatmulPrecision::F32 {
                "_f32"
            } else {
                ""
            };
            let id = BenchmarkId::new(
                format!("trade_step_chunks{chunk}_threads{threads}{suffix}"),
                format!("dim={},batch={n}", m.flow.dim()),
            );
            g.bench_function(id, |b| {
                b.iter(|| black_box(pool.install(|| parallel_step(&mut dp, m, &x, &cv))))
            });
        }
        let m32 = m.to_f32().unwrap();
        let (x32, c32) = (x.mapv(|v| v as f32), cv.mapv(|v| v as f32));
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        let mut dp: DataParallel<f32> = DataParallel::new(256);
        let id = BenchmarkId::new(
            "trade_step_chunks256_threads2_f32tape",
            format!("dim={},batch={n}", m.flow.dim()),
        );
        g.bench_function(id, |b| {
            b.iter(|| black_box(pool.install(|| parallel_step(&mut dp, &m32, &x32, &c32))))
        });
    }
    g.finish();
}

fn flows(c: &mut Criterion) {
    let multi_well = model(FlowConfig::multi_well(5, 15, &[256, 256]));
    bench_flow(c, "multi_well", &multi_well, &[512, 4096]);
    bench_trade_parallel(c, "multi_well", &multi_well, &[512, 4096]);
    bench_flow(c, "phi4_like", &model(phi4_like()), &[512]);
    bench_flow(c, "ala2_affine", &model(ala2_like()), &[512]);
}

criterion_group!(benches, flows);
criterion_main!(benches);
