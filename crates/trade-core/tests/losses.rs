//! Losses on a real flow and a real target: SNIS anchors, E_q[g] = 0, and short training runs
//! through `WeightedObjective` + `Trainer` that are finite and deterministic.

use ndarray::{Array1, Array2, ArrayView1, ArrayView2};
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use std::sync::Arc;
use trade_ad::{AdamConfig, MatmulPrecision, OneCycle, Schedule, Tape};
use trade_core::loss::{
    self, EnergySource, Nll, NoiseMode, Proposal, ReferencePoints, ReverseKl, TradeContinuous,
    TradeGrid, TradeGridConfig,
};
use trade_core::*;
use trade_flows::{
    BaseConfig, Condition, ConditionConfig, ConditionInput, Distribution, FlowConfig, FlowModel,
    LayerConfig, Scaling,
};
use trade_targets::{
    ConditionSpec, MultiWell, MultiWellSampler, ReferenceSampler, Target, broadcast_conditions,
};

/// E_{p_T}[∂_T U] = −⟨E⟩_T/T² by SNIS from exact samples at another T reproduces the
/// multi-well ⟨E⟩ column of experiments.md (T = 0.5: ⟨E⟩ = −18.6641).
#[test]
fn snis_reproduces_multi_well_mean_energy() {
    let target = MultiWell::new(5).unwrap();
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(0);
    let x = MultiWellSampler::new(5, 0.6)
        .unwrap()
        .sample(200_000, &mut rng);
    let n = x.nrows();
    let (c, c_prop) = (Array1::from_elem(n, 0.5), Array1::from_elem(n, 0.6));
    let log_w = &target.energy(x.view(), c_prop.view()) - &target.energy(x.view(), c.view());
    let du = target.d_energy_dc(x.view(), c.view());
    let est = snis_mean(log_w.as_slice().unwrap(), du.as_slice().unwrap(), 0.5).unwrap();
    let mean_e = -est.value * 0.25;
    assert!(
        (mean_e + 18.6641).abs() < 0.02,
        "⟨E⟩(0.5) = {mean_e}, ESS {:.1} %",
        est.ess_percent
    );
}

/// The step context of model `m` at `step` of `total`.
fn step_ctx(m: &FlowModel, step: usize, total: usize) -> loss::StepCtx<'_> {
    loss::StepCtx {
        model: &m.flow,
        store: &m.params,
        step,
        total,
    }
}

fn small_flow() -> FlowModel {
    FlowModel::new(FlowConfig::multi_well(5, 2, &[16, 16])).unwrap()
}

/// For any normalised model, E_{x~q(·|c)}[∂_c log q(x|c)] = 0 (method.md §4, test 4).
#[test]
fn model_expectation_of_g_vanishes() {
    let mut m = small_flow();
    // Move away from the identity start so the check is not trivial.
    // Trainable parameters only: the frozen permutation indices must stay integers.
    for id in m
        .params
        .ids()
        .filter(|&id| m.params.is_trainable(id))
        .collect::<Vec<_>>()
    {
        m.params
            .get_mut(id)
            .mapv_inplace(|v| v + 0.05 * (v * 7.0 + 1.3).sin());
    }
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(1);
    let c = 0.7;
    let (x, _) = loss::sample(&m.flow, &m.params, 20_000, c, &mut rng).unwrap();
    let mut t: Tape = Tape::new();
    let xv = t.constant(x);
    let cv = t.condition(Array2::from_elem((20_000, 1), c));
    let lq = m
        .flow
        .log_prob(&mut t, &m.params, xv, &Condition::c(cv))
        .unwrap();
    let g = t.value(t.tangent(lq).unwrap()).column(0).to_owned();
    let (mean, sd) = (g.mean().unwrap(), g.std(1.0));
    let se = sd / (g.len() as f64).sqrt();
    assert!(mean.abs() < 4.0 * se, "E[g] = {mean} ± {se}");
}

fn train_config(steps: usize) -> TrainConfig {
    TrainConfig {
        steps,
        adam: AdamConfig::default(),
        schedule: Schedule::OneCycle(OneCycle::new(1e-3, steps)),
        grad_clip: 3.0,
        seed: 7,
        chunk_rows: 64,
        max_consecutive_nonfinite: 3,
        checkpoint_every: 0,
        matmul_precision: MatmulPrecision::Native,
    }
}

fn data_at_one(n: usize) -> (Arc<Array2<f64>>, Arc<Array2<f64>>) {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(2);
    let x = MultiWellSampler::new(5, 1.0).unwrap().sample(n, &mut rng);
    (Arc::new(x), Arc::new(Array2::ones((n, 1))))
}

fn weight(pct_start: f64) -> LossWeight {
    LossWeight {
        pct_start,
        start_value: 0.0,
        end_value: 1.0,
        ..LossWeight::constant(1.0, 1e9, 1e3)
    }
}

fn run(
    losses_of: impl Fn() -> Vec<(Box<dyn Loss>, LossWeight)>,
    steps: usize,
) -> (Vec<u64>, TrainSummary) {
    let mut m = small_flow();
    let mut obj = WeightedObjective::new(&m.flow, losses_of()).unwrap();
    let s = Trainer::new(train_config(steps), None)
        .unwrap()
        .run(&mut m.params, &mut obj, &mut Silent, None)
        .unwrap();
    let bits = m
        .params
        .ids()
        .flat_map(|id| {
            m.params
                .get(id)
                .iter()
                .map(|v| v.to_bits())
                .collect::<Vec<_>>()
        })
        .collect();
    (bits, s)
}

#[test]
fn nll_plus_trade_continuous_trains_deterministically() {
    let (x, c) = data_at_one(1024);
    let target: Arc<dyn Target> = Arc::new(MultiWell::new(5).unwrap());
    let losses = || -> Vec<(Box<dyn Loss>, LossWeight)> {
        vec![
            (
                Box::new(Nll::new(x.clone(), c.clone(), 128, 0.0, 3).unwrap()),
                LossWeight::constant(1.0, 1e9, 1e3),
            ),
            (
                Box::new(TradeContinuous {
                    energy: EnergySource::GroundTruth(target.clone()),
                    prior: ConditionPrior::new(0.4, 1.1).unwrap(),
                    c0: 1.0,
                    batch: 128,
                    reference: ReferencePoints::FlowSamples,
                    proposal: Proposal::ReferenceEnergy,
                    residual: Residual::Mse,
                    noise: NoiseMode::Gaussian(3e-4),
                    reweight_points: false,
                }),
                LossWeight {
                    adaptive: true,
                    adaptive_init: 1e-3,
                    ..weight(0.2)
                },
            ),
        ]
    };
    let (a, sa) = run(losses, 12);
    let (b, _) = run(losses, 12);
    assert_eq!(a, b);
    assert_eq!(sa.skipped, 0);
    assert!(sa.last_loss.is_finite());
}

#[test]
fn trade_grid_and_reverse_kl_train() {
    let (x, c) = data_at_one(512);
    let target: Arc<dyn Target> = Arc::new(MultiWell::new(5).unwrap());
    let prior = ConditionPrior::new(0.4, 1.1).unwrap();
    let grid = small_grid_config();
    let losses = || -> Vec<(Box<dyn Loss>, LossWeight)> {
        vec![
            (
                Box::new(Nll::new(x.clone(), c.clone(), 128, 0.0, 3).unwrap()),
                LossWeight::constant(1.0, 1e9, 1e3),
            ),
            (
                Box::new(
                    TradeGrid::new(
                        grid,
                        target.clone(),
                        prior,
                        Residual::SmoothL1 { delta: 5e-4 },
                        NoiseMode::Gaussian(3e-4),
                    )
                    .unwrap(),
                ),
                weight(0.0),
            ),
            (
                Box::new(ReverseKl::new(target.clone(), prior, true, 64).unwrap()),
                LossWeight::constant(1.0, 1e9, 1e3),
            ),
        ]
    };
    let (_, s) = run(losses, 8);
    assert_eq!(s.skipped, 0);
    assert!(s.last_loss.is_finite());
}

#[test]
fn nll_rejects_bad_data() {
    let x = Arc::new(Array2::from_elem((10, 5), f64::NAN));
    let e = Nll::new(x, Arc::new(Array2::ones((10, 1))), 4, 0.0, 0)
        .err()
        .unwrap();
    assert!(e.to_string().contains("row 0"), "{e}");
    let (x, c) = data_at_one(10);
    let e = Nll::new(x, c, 11, 0.0, 0).err().unwrap();
    assert!(e.to_string().contains("nll.batch"), "{e}");
}

#[test]
fn reweighting_trains_and_restores_its_state() {
    let (x, c) = data_at_one(512);
    let prior = ConditionPrior::new(0.4, 1.1).unwrap();
    let losses = || -> Vec<(Box<dyn Loss>, LossWeight)> {
        vec![
            (
                Box::new(Nll::new(x.clone(), c.clone(), 128, 0.0, 3).unwrap()),
                LossWeight::constant(1.0, 1e9, 1e3),
            ),
            (
                Box::new(loss::Reweighting::new(x.clone(), prior, 128).unwrap()),
                LossWeight::constant(1.0, 1e9, 1e3),
            ),
        ]
    };
    let (_, s) = run(losses, 6);
    assert_eq!(s.skipped, 0);
    assert!(s.last_loss.is_finite());
    let mut r = loss::Reweighting::new(x.clone(), prior, 128).unwrap();
    let state = serde_json::json!({"ema": 4.5, "min": 4.4});
    r.restore(&state).unwrap();
    assert_eq!(r.state(), state);
}

/// The variance loss's value is the biased batch variance of U + log q, and its tape gradient
/// equals the finite-difference gradient of that variance at fixed samples (trade-ad oracle).
#[test]
fn variance_loss_value_and_gradient_match_the_batch_variance() {
    let mut m = small_flow();
    // Trainable parameters only: the frozen permutation indices must stay integers.
    for id in m
        .params
        .ids()
        .filter(|&id| m.params.is_trainable(id))
        .collect::<Vec<_>>()
    {
        m.params
            .get_mut(id)
            .mapv_inplace(|v| v + 0.05 * (v * 5.0 + 0.7).sin());
    }
    let target: Arc<dyn Target> = Arc::new(MultiWell::new(5).unwrap());
    let prior = ConditionPrior::new(0.4, 1.1).unwrap();
    let mut loss = loss::VarianceLoss::new(target.clone(), prior, 64).unwrap();
    let ctx = step_ctx(&m, 3, 10);
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(5);
    let b = loss.prepare(&ctx, &mut rng).unwrap();
    let c = b.c[[0, 0]];
    let (xs, lqs) = loss::sample(&m.flow, &m.params, 64, c, &mut rng).unwrap();
    let lp = loss::log_prob(&m.flow, &m.params, xs.view(), b.c.view()).unwrap();
    let worst = (&lqs - &lp).mapv(f64::abs).fold(0.0f64, |a, b| a.max(*b));
    assert!(worst < 1e-9, "sampler log q vs log_prob: {worst}");
    let variance = |store: &trade_ad::ParamStore| {
        let lq = loss::log_prob(&m.flow, store, b.x.view(), b.c.view()).unwrap();
        let u = target.energy(b.x.view(), Array1::from_elem(b.n, c).view());
        let v = &u + &lq;
        v.var(0.0)
    };
    let mut tape: Tape = Tape::new();
    let ps = loss.per_sample(&mut tape, &ctx, &b, 0..b.n).unwrap();
    let mean = tape.mean(ps, None);
    approx::assert_relative_eq!(
        tape.value(mean)[[0, 0]],
        variance(&m.params),
        max_relative = 1e-10
    );
    let grads = tape.backward(mean);
    let id = m
        .params
        .ids()
        .filter(|&id| m.params.is_trainable(id))
        .nth(2)
        .unwrap();
    let analytic = grads.param(id).unwrap().clone();
    let mut store = m.params.clone();
    let numeric = trade_ad::testing::numerical_gradient(
        |w| {
            *store.get_mut(id) = w.clone();
            variance(&store)
        },
        m.params.get(id),
    );
    let err = (&analytic - &numeric)
        .mapv(f64::abs)
        .fold(0.0f64, |a, b| a.max(*b));
    let scale = numeric.mapv(f64::abs).fold(0.0f64, |a, b| a.max(*b));
    assert!(
        err <= 1e-6 * scale.max(1.0),
        "max error {err} (scale {scale})"
    );
    assert!(loss::VarianceLoss::new(target, prior, 1).is_err());
}

/// An augmented TSF at its identity start is N(0, c·I) on (x, a), so the marginal estimate is
/// exact for any number of draws; the augmented NLL batch carries a ~ N(0, c·I) columns.
#[test]
fn augmented_flow_marginal_and_nll_batch() {
    let mut m = FlowModel::new(FlowConfig::temperature_steerable(3, 2, 2, &[8])).unwrap();
    // All trainable parameters zero: every layer is the identity or a rotation/permutation,
    // which leave N(0, c·I) invariant.
    for id in m
        .params
        .ids()
        .filter(|&id| m.params.is_trainable(id))
        .collect::<Vec<_>>()
    {
        m.params.get_mut(id).fill(0.0);
    }
    let (c, n) = (0.7, 50);
    let x = Array2::from_shape_fn((n, 3), |(i, j)| ((i * 3 + j) as f64 * 0.37).sin());
    let lq = loss::marginal_log_prob(&m.flow, &m.params, x.view(), c, 4, 1).unwrap();
    for (row, l) in x.rows().into_iter().zip(&lq) {
        let r2: f64 = row.iter().map(|v| v * v).sum();
        let exact = -0.5 * r2 / c - 1.5 * (2.0 * std::f64::consts::PI * c).ln();
        assert!((l - exact).abs() < 1e-10, "{l} vs {exact}");
    }
    let data = Arc::new(Array2::from_elem((4000, 3), 0.1));
    let cs = Arc::new(Array2::from_elem((4000, 1), c));
    let mut nll = Nll::new(data, cs, 4000, 0.0, 0)
        .unwrap()
        .with_augmentation(2);
    let ctx = step_ctx(&m, 0, 1);
    let b = nll
        .prepare(&ctx, &mut Xoshiro256PlusPlus::seed_from_u64(9))
        .unwrap();
    assert_eq!(b.x.ncols(), 5);
    let var = b.x.column(4).var(0.0);
    assert!((var - c).abs() < 0.05, "augmentation variance {var}");
}

/// The data-free boundary: reverse KL with every sample at c0 (method.md §3) trains with
/// continuous TRADE and no data at all; a c0 outside the target's range is an error.
#[test]
fn data_free_boundary_reverse_kl_with_trade_trains() {
    let target: Arc<dyn Target> = Arc::new(MultiWell::new(5).unwrap());
    let prior = ConditionPrior::new(0.4, 1.1).unwrap();
    let mut boundary = ReverseKl::at_boundary(target.clone(), 1.0, 64).unwrap();
    let m = small_flow();
    let ctx = step_ctx(&m, 0, 1);
    let b = boundary
        .prepare(&ctx, &mut Xoshiro256PlusPlus::seed_from_u64(1))
        .unwrap();
    assert!(b.c.iter().all(|&c| c.to_bits() == 1.0f64.to_bits()) && b.n == 64);
    let losses = || -> Vec<(Box<dyn Loss>, LossWeight)> {
        vec![
            (
                Box::new(ReverseKl::at_boundary(target.clone(), 1.0, 64).unwrap()),
                LossWeight::constant(1.0, 1e9, 1e3),
            ),
            (
                Box::new(TradeContinuous {
                    energy: EnergySource::GroundTruth(target.clone()),
                    prior,
                    c0: 1.0,
                    batch: 64,
                    reference: ReferencePoints::FlowSamples,
                    proposal: Proposal::ModelDensity,
                    residual: Residual::Mse,
                    noise: NoiseMode::Raw,
                    reweight_points: false,
                }),
                weight(0.0),
            ),
        ]
    };
    let (a, s) = run(losses, 6);
    let (b, _) = run(losses, 6);
    assert_eq!(a, b);
    assert_eq!(s.skipped, 0);
    assert!(ReverseKl::at_boundary(target, -1.0, 64).is_err());
}

/// Reverse KL with c log-uniform on an absolute range (Loop B, φ⁴-style κ): every c lies in
/// the range, ln c is spread uniformly (mean of ln c within 4 standard errors of the
/// midpoint), and ranges that are empty, non-positive or outside the target's condition range
/// are errors naming `reverse_kl.range`.
#[test]
fn reverse_kl_log_uniform_draws_inside_the_range() {
    let target: Arc<dyn Target> = Arc::new(MultiWell::new(5).unwrap());
    let (lo, hi) = (0.5, 1.0);
    let mut kl = ReverseKl::log_uniform(target.clone(), (lo, hi), 4000).unwrap();
    let m = small_flow();
    let ctx = step_ctx(&m, 0, 1);
    let b = kl
        .prepare(&ctx, &mut Xoshiro256PlusPlus::seed_from_u64(3))
        .unwrap();
    assert_eq!(b.n, 4000);
    assert!(b.c.iter().all(|&c| (lo..hi).contains(&c)));
    let (a, z) = (lo.ln(), hi.ln());
    let mean_ln = b.c.mapv(f64::ln).mean().unwrap();
    let se = (z - a) / (12.0f64 * 4000.0).sqrt();
    assert!(
        (mean_ln - 0.5 * (a + z)).abs() < 4.0 * se,
        "mean ln c {mean_ln}"
    );
    for bad in [
        (1.0, 0.5),
        (0.0, 1.0),
        (f64::NAN, 1.0),
        (0.05, 1.0),
        (0.5, 20.0),
    ] {
        let err = ReverseKl::log_uniform(target.clone(), bad, 8)
            .err()
            .unwrap_or_else(|| panic!("{bad:?} accepted"));
        assert!(err.to_string().contains("reverse_kl.range"), "{err}");
    }
    assert!(ReverseKl::log_uniform(target, (lo, hi), 0).is_err());
}

/// E(x) = |x|²/2 with U = E/T in 5-D: p(x|T) = N(0, T·I), which [`gauss_flow`] equals exactly.
struct GaussT;

/// A conditional affine flow (zero-initialised last layer: the identity at start) over
/// N(0, T·I): exactly the [`GaussT`] family until trained.
fn gauss_flow() -> FlowModel {
    FlowModel::new(FlowConfig {
        dim: 5,
        augmentation_dims: 0,
        condition: ConditionConfig {
            input: ConditionInput::LogC,
            y_dim: 0,
        },
        layers: vec![LayerConfig::ConditionalAffine {
            conditioner: FlowConfig::loop_b_conditioner(&[16, 16]),
        }],
        base: BaseConfig::Gaussian {
            scaling: Scaling::Temperature,
        },
        seed: 3,
    })
    .unwrap()
}

impl Target for GaussT {
    fn name(&self) -> &str {
        "gauss-t"
    }
    fn dim(&self) -> usize {
        5
    }
    fn condition(&self) -> ConditionSpec {
        ConditionSpec {
            name: "T",
            min: 0.01,
            max: 100.0,
            train_range: (0.4, 1.1),
            boundary: vec![1.0],
        }
    }
    fn energy(&self, x: ArrayView2<f64>, c: ArrayView1<f64>) -> Array1<f64> {
        let c = broadcast_conditions(c, x.nrows());
        Array1::from_shape_fn(x.nrows(), |i| 0.5 * x.row(i).dot(&x.row(i)) / c[i])
    }
    fn grad_x(&self, x: ArrayView2<f64>, c: ArrayView1<f64>) -> Array2<f64> {
        let c = broadcast_conditions(c, x.nrows());
        Array2::from_shape_fn(x.dim(), |(i, j)| x[[i, j]] / c[i])
    }
    fn d_energy_dc(&self, x: ArrayView2<f64>, c: ArrayView1<f64>) -> Array1<f64> {
        let c = broadcast_conditions(c, x.nrows());
        Array1::from_shape_fn(x.nrows(), |i| {
            -0.5 * x.row(i).dot(&x.row(i)) / (c[i] * c[i])
        })
    }
}

fn small_grid_config() -> TradeGridConfig {
    TradeGridConfig {
        c_min: 0.4,
        c_max: 1.1,
        n_points: 6,
        c0: 1.0,
        n_snis: 200,
        refresh_every: 4,
        alpha_ex: 0.5,
        logits_every: 2,
        epsilon: 0.9,
        alpha_l: 0.5,
        batch: 128,
        causality: true,
    }
}

/// "TRADE grid, flow energy" (method.md §5.1, §6.2 "grid, self") pinned against the ground
/// truth on a model equal to the target family (the identity-start affine flow [`gauss_flow`] is N(0, T·I), the
/// target is E = |x|²/2, U = E/T): log q(x|T)/T = −E/T² − (d/2) ln(2πT)/T, so each self
/// table entry is the ground-truth one minus (d/2) ln(2π c_k)/c_k (same samples, uniform vs
/// constant weights), and the per-point targets t_i = Ē_k − ∂_c U(x_i; c_k) agree exactly (the
/// constant cancels). A sign error in either self term breaks the second check.
#[test]
fn grid_self_energy_matches_the_ground_truth_for_an_exact_model() {
    let m = gauss_flow();
    let target: Arc<dyn Target> = Arc::new(GaussT);
    let d = 5.0;
    // The premise: the model is the target family exactly.
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(5);
    for c in [0.4, 0.7, 1.0] {
        let (x, lq) = loss::sample(&m.flow, &m.params, 64, c, &mut rng).unwrap();
        let cc = Array1::from_elem(64, c);
        let exact =
            -target.energy(x.view(), cc.view()) - 0.5 * d * (2.0 * std::f64::consts::PI * c).ln();
        for (a, b) in lq.iter().zip(&exact) {
            assert!((a - b).abs() < 1e-9, "log q {a} vs exact {b} at T = {c}");
        }
    }
    let grid = || {
        TradeGrid::new(
            small_grid_config(),
            target.clone(),
            ConditionPrior::new(0.4, 1.1).unwrap(),
            Residual::SmoothL1 { delta: 5e-4 },
            NoiseMode::Gaussian(3e-4),
        )
        .unwrap()
    };
    let mut gt = grid();
    let mut own = grid().with_energy(EnergySource::SelfTemperature).unwrap();
    let ctx = step_ctx(&m, 0, 10);
    let bg = gt
        .prepare(&ctx, &mut Xoshiro256PlusPlus::seed_from_u64(9))
        .unwrap();
    let bs = own
        .prepare(&ctx, &mut Xoshiro256PlusPlus::seed_from_u64(9))
        .unwrap();
    // Same random numbers: same points and grid indices.
    assert_eq!(bg.x, bs.x);
    assert_eq!(bg.grid_index, bs.grid_index);
    for (k, &c) in gt.grid().points.iter().enumerate() {
        let (eg, es) = (
            gt.expectations().values[k].unwrap(),
            own.expectations().values[k].unwrap(),
        );
        let offset = 0.5 * d * (2.0 * std::f64::consts::PI * c).ln() / c;
        assert!(
            (eg - es - offset).abs() < 1e-9 * (1.0 + eg.abs()),
            "c = {c}: ground truth {eg}, self {es}, expected offset {offset}"
        );
    }
    let (tg, ts) = (bg.target.unwrap(), bs.target.unwrap());
    let spread = tg.std(0.0);
    assert!(spread > 0.1, "targets must vary: sd {spread}");
    for (a, b) in tg.iter().zip(&ts) {
        assert!(
            (a - b).abs() < 1e-9 * (1.0 + a.abs()),
            "target {a} vs self {b}"
        );
    }
}

#[test]
fn trade_grid_self_trains_deterministically() {
    let (x, c) = data_at_one(512);
    let target: Arc<dyn Target> = Arc::new(MultiWell::new(5).unwrap());
    let prior = ConditionPrior::new(0.4, 1.1).unwrap();
    let losses = |energy: EnergySource| {
        let (x, c, target) = (x.clone(), c.clone(), target.clone());
        move || -> Vec<(Box<dyn Loss>, LossWeight)> {
            vec![
                (
                    Box::new(Nll::new(x.clone(), c.clone(), 128, 0.0, 3).unwrap()),
                    LossWeight::constant(1.0, 1e9, 1e3),
                ),
                (
                    Box::new(
                        TradeGrid::new(
                            small_grid_config(),
                            target.clone(),
                            prior,
                            Residual::SmoothL1 { delta: 5e-4 },
                            NoiseMode::Gaussian(3e-4),
                        )
                        .unwrap()
                        .with_energy(energy.clone())
                        .unwrap(),
                    ),
                    weight(0.0),
                ),
            ]
        }
    };
    let (a, s) = run(losses(EnergySource::SelfTemperature), 8);
    let (b, _) = run(losses(EnergySource::SelfTemperature), 8);
    assert_eq!(a, b);
    assert_eq!(s.skipped, 0);
    assert!(s.last_loss.is_finite());
    // `with_energy(GroundTruth)` is `new` unchanged; the self run differs from it.
    let (g, _) = run(losses(EnergySource::GroundTruth(target.clone())), 8);
    assert_ne!(a, g);
}

fn reweighted_trade(
    target: &Arc<dyn Target>,
    prior: ConditionPrior,
    reference: ReferencePoints,
    noise: NoiseMode,
    reweight_points: bool,
) -> TradeContinuous {
    TradeContinuous {
        energy: EnergySource::GroundTruth(target.clone()),
        prior,
        c0: 1.0,
        batch: 128,
        reference,
        proposal: Proposal::ReferenceEnergy,
        residual: Residual::Mse,
        noise,
        reweight_points,
    }
}

/// Reweighted evaluation points (method.md §9): each point's ℓ is multiplied by its reference
/// sample's SNIS weight ω_j ∝ exp(U(x_j; 1) − U(x_j; c)) with mean 1; the batch and its random
/// numbers are those of the unweighted loss.
#[test]
fn reweighted_points_multiply_each_loss_by_its_snis_weight() {
    let (data, _) = data_at_one(512);
    let target: Arc<dyn Target> = Arc::new(MultiWell::new(5).unwrap());
    let prior = ConditionPrior::log_uniform(0.4, 1.1).unwrap();
    let m = small_flow();
    let ctx = step_ctx(&m, 3, 10);
    let mut plain = reweighted_trade(
        &target,
        prior,
        ReferencePoints::Dataset(data.clone()),
        NoiseMode::Raw,
        false,
    );
    let mut weighted = reweighted_trade(
        &target,
        prior,
        ReferencePoints::Dataset(data.clone()),
        NoiseMode::Raw,
        true,
    );
    let bp = plain
        .prepare(&ctx, &mut Xoshiro256PlusPlus::seed_from_u64(4))
        .unwrap();
    let bw = weighted
        .prepare(&ctx, &mut Xoshiro256PlusPlus::seed_from_u64(4))
        .unwrap();
    assert!(bp.weight.is_none());
    assert_eq!((&bp.x, &bp.c, &bp.target), (&bw.x, &bw.c, &bw.target));
    let c = bw.c[[0, 0]];
    assert!((c - 1.0).abs() > 1e-3, "c = {c}");
    // ω by hand from the energies (noise-free, so the points are the reference samples).
    let e1 = target.energy(bw.x.view(), Array1::from_elem(128, 1.0).view());
    let ec = target.energy(bw.x.view(), Array1::from_elem(128, c).view());
    let log_w = &e1 - &ec;
    let max = log_w.fold(f64::NEG_INFINITY, |a, &b| a.max(b));
    let w = log_w.mapv(|l| (l - max).exp());
    let omega = &w * (128.0 / w.sum());
    let got = bw.weight.as_ref().unwrap().column(0).to_owned();
    for (a, b) in got.iter().zip(&omega) {
        assert!((a - b).abs() < 1e-10 * (1.0 + b), "ω {a} vs {b}");
    }
    assert!((got.mean().unwrap() - 1.0).abs() < 1e-12);
    assert!(got.std(0.0) > 0.01, "weights must vary at c = {c}");
    let per_sample = |l: &TradeContinuous, b: &loss::LossBatch| {
        let mut t: Tape = Tape::new();
        let v = l.per_sample(&mut t, &ctx, b, 0..128).unwrap();
        t.value(v).column(0).to_owned()
    };
    let (lp, lw) = (per_sample(&plain, &bp), per_sample(&weighted, &bw));
    for ((p, w), o) in lp.iter().zip(&lw).zip(&got) {
        assert!(
            (w - o * p).abs() <= 1e-12 * (1.0 + w.abs()),
            "{w} vs {o}·{p}"
        );
    }
}

/// The reweighted continuous loss trains deterministically, and with every batch at c = c0
/// (a prior whose skew exponent is ~0 draws exactly 1, where the SNIS weights are exactly 1)
/// it is bit-identical to the unweighted loss, for flow and dataset reference samples.
#[test]
fn reweighted_points_train_and_equal_the_unweighted_loss_at_c0() {
    let (x, c) = data_at_one(1024);
    let target: Arc<dyn Target> = Arc::new(MultiWell::new(5).unwrap());
    let losses = |prior: ConditionPrior, reference: ReferencePoints, reweight: bool| {
        let (x, c, target) = (x.clone(), c.clone(), target.clone());
        move || -> Vec<(Box<dyn Loss>, LossWeight)> {
            vec![
                (
                    Box::new(Nll::new(x.clone(), c.clone(), 128, 0.0, 3).unwrap()),
                    LossWeight::constant(1.0, 1e9, 1e3),
                ),
                (
                    Box::new(reweighted_trade(
                        &target,
                        prior,
                        reference.clone(),
                        NoiseMode::Gaussian(3e-4),
                        reweight,
                    )),
                    LossWeight {
                        adaptive: true,
                        adaptive_init: 1e-3,
                        ..weight(0.0)
                    },
                ),
            ]
        }
    };
    let prior = ConditionPrior::new(0.4, 1.1).unwrap();
    let flow = ReferencePoints::FlowSamples;
    let (a, s) = run(losses(prior, flow.clone(), true), 8);
    let (b, _) = run(losses(prior, flow.clone(), true), 8);
    assert_eq!(a, b);
    assert_eq!(s.skipped, 0);
    assert!(s.last_loss.is_finite());
    let (u, _) = run(losses(prior, flow.clone(), false), 8);
    assert_ne!(a, u, "the weights change the run away from c0");
    let at_c0 = ConditionPrior {
        s_min: 1e-300,
        s_max: 1e-300,
        ..prior
    };
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(0);
    assert!((0..100).all(|_| at_c0.sample(5, 8, &mut rng).to_bits() == 1.0f64.to_bits()));
    for reference in [flow, ReferencePoints::Dataset(x.clone())] {
        let (w, sw) = run(losses(at_c0, reference.clone(), true), 8);
        let (u, su) = run(losses(at_c0, reference, false), 8);
        assert_eq!(w, u);
        assert_eq!(sw.last_loss.to_bits(), su.last_loss.to_bits());
    }
}
