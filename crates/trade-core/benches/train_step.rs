#![allow(missing_docs)]
//! One training step per loss, at the multi-well experiment's two sizes, and the samplers the
//! losses call between steps.
//!
//! * `train_step/<size>/<method>`: one `Trainer` step (prepare: model samples, SNIS targets,
//!   evaluation points; record on the data-parallel tapes; reverse sweep; clip; Adam) of the
//!   multi-well objective of `cargo xtask reproduce multi-well` — `nll`, `trade-grid` (NLL +
//!   grid TRADE), `trade-continuous` (NLL + continuous TRADE on flow samples) and
//!   `reverse-kl-nll` — on a 2-thread rayon pool with the reproduce runs' chunk rows (half the batch). The
//!   grid's SNIS refresh is taken out of the step (it runs every 100 steps) and measured on its
//!   own.
//! * `snis_refresh/<size>/one_point`: one grid point's refresh work — `n_snis` model samples with
//!   their log q, the energy and ∂_T U (the grid refresh is this × 51 points over the rayon pool).
//! * `log_prob/<size>/10000`: log q of 10 000 exact samples (the NLL evaluation).
//!
//! Sizes: `quick` = 4 RQ blocks, MLP [64, 64], batch 256, 1000 SNIS samples; `paper` = 15 RQ
//! blocks, MLP [256, 256], batch 512, 5000 SNIS samples (`experiments.md` §1).

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use ndarray::{Array1, Array2};
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;
use trade_ad::{AdamConfig, MatmulPrecision, ParamStore, Schedule};
use trade_core::loss::{
    EnergySource, Nll, NoiseMode, Proposal, ReferencePoints, ReverseKl, TradeContinuous, TradeGrid,
    TradeGridConfig,
};
use trade_core::{
    ConditionPrior, Loss, LossWeight, Residual, Silent, TrainConfig, Trainer, WeightedObjective,
};
use trade_flows::{FlowConfig, FlowModel};
use trade_targets::{MultiWell, MultiWellSampler, ReferenceSampler, Target};

struct Size {
    name: &'static str,
    blocks: usize,
    hidden: [usize; 2],
    batch: usize,
    n_snis: usize,
}

const SIZES: [Size; 2] = [
    Size {
        name: "quick",
        blocks: 4,
        hidden: [64, 64],
        batch: 256,
        n_snis: 1000,
    },
    Size {
        name: "paper",
        blocks: 15,
        hidden: [256, 256],
        batch: 512,
        n_snis: 5000,
    },
];

const METHODS: [&str; 4] = ["nll", "trade-grid", "trade-continuous", "reverse-kl-nll"];

fn model(size: &Size) -> FlowModel {
    FlowModel::new(FlowConfig::multi_well(5, size.blocks, &size.hidden)).expect("flow config")
}

fn exact(n: usize, t: f64, seed: u64) -> Array2<f64> {
    MultiWellSampler::new(5, t)
        .expect("sampler")
        .sample(n, &mut Xoshiro256PlusPlus::seed_from_u64(seed))
}

/// The multi-well losses of `xtask::reproduce::multi_well` for `method` (ramps switched on).
fn losses(method: &str, size: &Size, train: &Arc<Array2<f64>>) -> Vec<(Box<dyn Loss>, LossWeight)> {
    let target: Arc<dyn Target> = Arc::new(MultiWell::new(5).expect("target"));
    let prior = ConditionPrior::new(0.4, 1.1).expect("prior");
    let ones = Arc::new(Array2::ones((train.nrows(), 1)));
    let nll = Nll::new(train.clone(), ones, size.batch, 0.0, 1).expect("nll");
    let w = LossWeight::constant(1.0, 1e9, 1e3);
    let mut out: Vec<(Box<dyn Loss>, LossWeight)> = vec![(Box::new(nll), w)];
    match method {
        "trade-grid" => {
            let cfg = TradeGridConfig {
                c_min: 0.4,
                c_max: 1.1,
                n_points: 50,
                c0: 1.0,
                n_snis: size.n_snis,
                // The refresh is measured on its own (`snis_refresh`).
                refresh_every: usize::MAX / 2,
                alpha_ex: 0.5,
                logits_every: 50,
                epsilon: 0.9,
                alpha_l: 0.5,
                batch: size.batch,
                causality: true,
            };
            let grid = TradeGrid::new(
                cfg,
                target,
                prior,
                Residual::SmoothL1 { delta: 5e-4 },
                NoiseMode::Gaussian(3e-4),
            )
            .expect("grid");
            out.push((Box::new(grid), w));
        }
        "trade-continuous" => out.push((
            Box::new(TradeContinuous {
                energy: EnergySource::GroundTruth(target),
                prior,
                c0: 1.0,
                batch: size.batch,
                reference: ReferencePoints::FlowSamples,
                proposal: Proposal::ReferenceEnergy,
                residual: Residual::Mse,
                noise: NoiseMode::Gaussian(3e-4),
                reweight_points: false,
            }),
            w,
        )),
        "reverse-kl-nll" => out.push((
            Box::new(ReverseKl::new(target, prior, true, size.batch).expect("kl")),
            w,
        )),
        _ => {}
    }
    out
}

/// Runs every benchmark on a 2-thread global rayon pool (the machine kind of issue 9).
fn two_threads() {
    // Err only if the global pool exists already (a second call): keep it.
    let _ = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build_global();
}

/// A trainer after its first step (buffer pools filled, the grid's one SNIS refresh done).
fn set_up(
    method: &str,
    size: &Size,
    train: &Arc<Array2<f64>>,
) -> (ParamStore, WeightedObjective<'static>, Trainer) {
    let FlowModel {
        flow, mut params, ..
    } = model(size);
    let flow: &'static trade_flows::Flow = Box::leak(Box::new(flow));
    let mut objective =
        WeightedObjective::new(flow, losses(method, size, train)).expect("objective");
    let config = TrainConfig {
        steps: 1_000_000,
        adam: AdamConfig::default(),
        schedule: Schedule::Constant { lr: 1e-5 },
        grad_clip: 3.0,
        seed: 7,
        chunk_rows: (size.batch / 2).clamp(64, 256),
        max_consecutive_nonfinite: 1_000_000,
        checkpoint_every: 0,
        matmul_precision: MatmulPrecision::Native,
    };
    let mut trainer = Trainer::new(config, None).expect("trainer");
    trainer
        .run(&mut params, &mut objective, &mut Silent, Some(1))
        .expect("first step");
    (params, objective, trainer)
}

fn train_steps(c: &mut Criterion) {
    two_threads();
    for size in &SIZES {
        let mut g = c.benchmark_group(format!("train_step/{}", size.name));
        g.sample_size(10)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(if size.name == "paper" {
                12
            } else {
                4
            }));
        let train = Arc::new(exact(20_000, 1.0, 42));
        for method in METHODS {
            // Built on the first call of the routine (criterion calls it once per sample), so
            // that a filtered-out benchmark costs nothing; the flow is leaked to outlive it.
            let mut state: Option<(ParamStore, WeightedObjective<'static>, Trainer)> = None;
            g.bench_function(BenchmarkId::from_parameter(method), |b| {
                let (params, objective, trainer) =
                    state.get_or_insert_with(|| set_up(method, size, &train));
                b.iter(|| {
                    let next = trainer.step() + 1;
                    black_box(
                        trainer
                            .run(params, objective, &mut Silent, Some(next))
                            .expect("step"),
                    )
                })
            });
        }
        g.finish();
    }
}

fn samplers(c: &mut Criterion) {
    two_threads();
    let target = MultiWell::new(5).expect("target");
    for size in &SIZES {
        let m = model(size);
        let mut g = c.benchmark_group(format!("snis_refresh/{}", size.name));
        g.sample_size(10).warm_up_time(Duration::from_secs(1));
        g.bench_function("one_point", |b| {
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(3);
            b.iter(|| {
                let (x, lq) =
                    trade_core::loss::sample(&m.flow, &m.params, size.n_snis, 0.7, &mut rng)
                        .expect("sample");
                let cc = Array1::from_elem(size.n_snis, 0.7);
                let du = target.d_energy_dc(x.view(), cc.view());
                let u = target.energy(x.view(), cc.view());
                black_box((lq, du, u))
            })
        });
        g.finish();
        let mut g = c.benchmark_group(format!("log_prob/{}", size.name));
        g.sample_size(10).warm_up_time(Duration::from_secs(1));
        let x = exact(10_000, 0.5, 43);
        let cc = Array2::from_elem((x.nrows(), 1), 0.5);
        g.bench_function("10000", |b| {
            b.iter(|| {
                black_box(
                    trade_core::loss::log_prob(&m.flow, &m.params, x.view(), cc.view())
                        .expect("log_prob"),
                )
            })
        });
        g.finish();
    }
}

criterion_group!(benches, train_steps, samplers);
criterion_main!(benches);
