//! Loop B (`method.md` §7.2, §8.3, §11.2, §12): V1/V2 logits and ε decay by hand, the
//! widening window, the annealing weight in the objective, the log-uniform prior, the true-density
//! reweighting, and a Loop B grid run on N(0, 1/β) that learns the exact ∂_β log p.

use approx::assert_relative_eq;
use ndarray::{Array1, Array2, ArrayView1, ArrayView2};
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use std::sync::Arc;
use trade_ad::{AdamConfig, MatmulPrecision, OneCycle, ParamStore, Schedule, Tape};
use trade_core::loss::{
    self, GridLoopB, Nll, NoiseMode, Reweighting, TradeGrid, TradeGridConfig, TradeWindow,
    TradeWindowConfig,
};
use trade_core::*;
use trade_flows::{BaseConfig, LayerConfig, Scaling};
use trade_flows::{
    Condition, ConditionConfig, ConditionInput, Distribution, FlowConfig, FlowModel,
};
use trade_targets::{ConditionSpec, Target, broadcast_conditions};

/// N(0, 1/β) in 1-D: U = β x²/2, ∂_β U = x²/2; exact ∂_β log p = 1/(2β) − x²/2.
struct Gauss1d;

impl Target for Gauss1d {
    fn name(&self) -> &str {
        "gauss-1d"
    }
    fn dim(&self) -> usize {
        1
    }
    fn condition(&self) -> ConditionSpec {
        ConditionSpec {
            name: "beta",
            min: 0.01,
            max: 100.0,
            train_range: (0.5, 2.0),
            boundary: vec![1.0],
        }
    }
    fn energy(&self, x: ArrayView2<f64>, c: ArrayView1<f64>) -> Array1<f64> {
        let c = broadcast_conditions(c, x.nrows());
        Array1::from_shape_fn(x.nrows(), |i| 0.5 * c[i] * x[[i, 0]].powi(2))
    }
    fn grad_x(&self, x: ArrayView2<f64>, c: ArrayView1<f64>) -> Array2<f64> {
        let c = broadcast_conditions(c, x.nrows());
        Array2::from_shape_fn(x.dim(), |(i, _)| c[i] * x[[i, 0]])
    }
    fn d_energy_dc(&self, x: ArrayView2<f64>, _c: ArrayView1<f64>) -> Array1<f64> {
        x.column(0).mapv(|v| 0.5 * v * v)
    }
}

/// z = exp(s(β)) x + t(β) with (s, t) = MLP(raw β), base N(0, 1): the family is exactly
/// representable (s = ½ ln β, t = 0), but the model starts far from it away from β = 1.
fn affine_1d() -> FlowModel {
    let config = FlowConfig {
        dim: 1,
        augmentation_dims: 0,
        condition: ConditionConfig {
            input: ConditionInput::LogC,
            y_dim: 0,
        },
        layers: vec![LayerConfig::ConditionalAffine {
            conditioner: FlowConfig::loop_b_conditioner(&[16, 16]),
        }],
        base: BaseConfig::Gaussian {
            scaling: Scaling::Standard,
        },
        seed: 3,
    };
    FlowModel::new(config).unwrap()
}

fn grid_config(n_points: usize, batch: usize) -> TradeGridConfig {
    TradeGridConfig {
        c_min: 0.5,
        c_max: 2.0,
        n_points,
        c0: 1.0,
        n_snis: 400,
        refresh_every: 50,
        alpha_ex: 0.75,
        logits_every: 50,
        epsilon: 1.0,
        alpha_l: 0.9,
        batch,
        causality: true,
    }
}

fn loop_b_v2() -> GridLoopB {
    GridLoopB {
        rule: CausalityRule::LoopBV2,
        bases: vec![1.0],
        epsilon_decay: 0.8,
        trade_start: 0,
        inbetween_factor: 1.0,
    }
}

fn train_config(steps: usize, lr: f64) -> TrainConfig {
    TrainConfig {
        steps,
        adam: AdamConfig::default(),
        schedule: Schedule::OneCycle(OneCycle::new(lr, steps)),
        grad_clip: 2.0,
        seed: 11,
        chunk_rows: 64,
        max_consecutive_nonfinite: 3,
        checkpoint_every: 0,
        matmul_precision: MatmulPrecision::Native,
    }
}

fn annealed(start_step: usize) -> LoopBWeighting {
    LoopBWeighting {
        boundary: 0,
        term: 1,
        start_step,
        full_step: start_step + 100,
        end_value: 1.0,
        adaptive: true,
        alpha: 0.015,
        fixed_relative: 1.0,
        every: 25,
    }
}

fn gauss_data(n: usize) -> (Arc<Array2<f64>>, Arc<Array2<f64>>) {
    use rand_distr::{Distribution as _, StandardNormal};
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(5);
    let x = Array2::from_shape_simple_fn((n, 1), || StandardNormal.sample(&mut rng));
    (Arc::new(x), Arc::new(Array2::ones((n, 1))))
}

/// g = ∂_β log q(x|β) of the model at each (x, β) row.
fn model_g(m: &FlowModel, x: &Array2<f64>, c: &Array2<f64>) -> Array1<f64> {
    let mut t: Tape = Tape::new();
    let xv = t.constant(x.clone());
    let cv = t.condition(c.clone());
    let lq = m
        .flow
        .log_prob(&mut t, &m.params, xv, &Condition::c(cv))
        .unwrap();
    t.value(t.tangent(lq).unwrap()).column(0).to_owned()
}

fn rms_error_of_g(m: &FlowModel) -> f64 {
    let (mut se, mut n) = (0.0, 0.0);
    for beta in [0.5, 0.7, 1.4, 2.0] {
        let x = Array2::from_shape_fn((21, 1), |(i, _)| -2.0 + 0.2 * i as f64);
        let g = model_g(m, &x, &Array2::from_elem((21, 1), beta));
        for (i, gi) in g.iter().enumerate() {
            let exact = 0.5 / beta - 0.5 * x[[i, 0]].powi(2);
            se += (gi - exact).powi(2);
            n += 1.0;
        }
    }
    (se / n).sqrt()
}

#[test]
fn loop_b_v2_logits_are_riemann_sums_by_hand() {
    let grid = ConditionGrid {
        points: vec![0.5, 0.7, 1.0, 1.2, 1.4],
        bases: vec![2],
    };
    let mut c = Causality::new(CausalityRule::LoopBV2, 5, 0.9, 1.0);
    c.running = vec![1.0, 2.0, 4.0, 8.0, 16.0];
    c.refresh_logits(&grid, 0.1);
    // Below: k = 0 sums L̄1·(0.7 − 0.5) + L̄2·(1.0 − 0.7) = 0.4 + 1.2; k = 1 sums L̄2·0.3 = 1.2.
    // Above: k = 3 sums L̄2·(1.2 − 1.0) = 0.8; k = 4 adds L̄3·(1.4 − 1.2) = 1.6 → 2.4.
    let want = [-0.16, -0.12, 0.0, -0.08, -0.24];
    for (l, w) in c.logits.iter().zip(want) {
        // Spacings carry float round-off of the subtractions only.
        assert_relative_eq!(*l, w, epsilon = 1e-15, max_relative = 1e-12);
    }
}

#[test]
fn loop_b_running_loss_uses_alpha_to_the_hits() {
    let mut c = Causality::new(CausalityRule::LoopBV1, 3, 0.9, 1.0);
    c.running = vec![1.0, 1.0, 1.0];
    c.update_running(&[1, 1, 1, 2], &[1.0, 2.0, 3.0, 5.0]);
    // k = 1: three hits, a = 0.9³ = 0.729, mean 2; k = 2: one hit, a = 0.9; k = 0 untouched.
    assert_relative_eq!(c.running[1], 0.729 + 0.271 * 2.0, max_relative = 1e-12);
    assert_relative_eq!(c.running[2], 0.9 + 0.1 * 5.0, max_relative = 1e-12);
    assert_relative_eq!(c.running[0], 1.0);
}

#[test]
fn loop_b_v1_outside_two_bases_sums_from_the_adjacent_one() {
    // Bases at indices 1 and 3 of five points; k = 0 sums j = 1; k = 4 sums j = 3 (plain sums).
    let grid = ConditionGrid {
        points: vec![0.2, 0.25, 0.27, 0.29, 0.31],
        bases: vec![1, 3],
    };
    let mut c = Causality::new(CausalityRule::LoopBV1, 5, 0.9, 0.376);
    c.running = vec![1.0, 2.0, 3.0, 4.0, 5.0];
    c.refresh_logits(&grid, 0.5);
    assert_relative_eq!(c.logits[0], -1.0, max_relative = 1e-12);
    assert_relative_eq!(c.logits[4], -2.0, max_relative = 1e-12);
    // k = 2 is the only point between the bases (index distance 2): a = 1, near = base 1 (tie
    // goes to the lower base), so log w = −ε L̄1 = −1, times the in-between factor.
    assert_relative_eq!(c.logits[2], -0.376, max_relative = 1e-12);
}

#[test]
fn epsilon_decays_exponentially_to_the_decay_factor() {
    // γ = −ln 0.8 / 100; ε_s = ε exp(−γ (s − s0)).
    assert_relative_eq!(decayed_epsilon(1.0, 0.8, 0, 0, 100), 1.0);
    assert_relative_eq!(
        decayed_epsilon(1.0, 0.8, 50, 0, 100),
        0.8f64.sqrt(),
        max_relative = 1e-12
    );
    assert_relative_eq!(
        decayed_epsilon(2.0, 0.8, 100, 0, 100),
        1.6,
        max_relative = 1e-12
    );
    // Starting at s0 = 20 over the remaining 80 steps.
    let g = TradeGrid::loop_b(
        grid_config(10, 8),
        GridLoopB {
            trade_start: 20,
            ..loop_b_v2()
        },
        Arc::new(Gauss1d),
        None,
        Residual::Huber { delta: 0.1 },
        NoiseMode::Raw,
    )
    .unwrap();
    assert_relative_eq!(g.epsilon_at(10, 100), 1.0);
    assert_relative_eq!(g.epsilon_at(60, 100), 0.8f64.sqrt(), max_relative = 1e-12);
    assert_relative_eq!(g.epsilon_at(100, 100), 0.8, max_relative = 1e-12);
}

#[test]
fn loop_b_config_errors_name_the_field() {
    let bad = |lb: GridLoopB| {
        TradeGrid::loop_b(
            grid_config(10, 8),
            lb,
            Arc::new(Gauss1d),
            None,
            Residual::Huber { delta: 0.1 },
            NoiseMode::Raw,
        )
        .err()
        .expect("rejected")
        .to_string()
    };
    let e = bad(GridLoopB {
        epsilon_decay: 1.5,
        ..loop_b_v2()
    });
    assert_eq!(
        e,
        "trade_grid.loop_b.epsilon_decay = 1.5 is out of range: allowed (0, 1]"
    );
    let e = bad(GridLoopB {
        rule: CausalityRule::LoopA,
        ..loop_b_v2()
    });
    assert!(e.starts_with("trade_grid.loop_b.rule"), "{e}");
    let w = TradeWindowConfig {
        c_min: 0.5,
        c_max: 2.0,
        c0: 1.0,
        n_conditions: 0,
        n_expect: 10,
        n_eval: 10,
        burn_steps: 0,
        full_steps: 10,
    };
    assert_eq!(
        w.validate().unwrap_err().to_string(),
        "trade_window.n_conditions = 0 is out of range: allowed ≥ 1"
    );
}

#[test]
fn window_opens_linearly_between_burn_and_full() {
    let w = TradeWindowConfig {
        c_min: 0.25,
        c_max: 4.0,
        c0: 1.0,
        n_conditions: 5,
        n_expect: 10,
        n_eval: 10,
        burn_steps: 10,
        full_steps: 110,
    };
    let check = |step: usize, lo: f64, hi: f64| {
        let (a, b) = w.window(step);
        assert_relative_eq!(a, lo, max_relative = 1e-12);
        assert_relative_eq!(b, hi, max_relative = 1e-12);
    };
    check(0, 1.0, 1.0);
    check(10, 1.0, 1.0);
    check(60, 0.5, 2.0); // l = ½: half-way in log space
    check(110, 0.25, 4.0);
    check(500, 0.25, 4.0);
}

#[test]
fn window_batch_has_the_base_and_conditions_inside_the_window() {
    let m = affine_1d();
    let cfg = TradeWindowConfig {
        c_min: 0.5,
        c_max: 2.0,
        c0: 1.0,
        n_conditions: 4,
        n_expect: 50,
        n_eval: 7,
        burn_steps: 0,
        full_steps: 100,
    };
    let mut w = TradeWindow::new(cfg, Arc::new(Gauss1d), Residual::Huber { delta: 0.1 }).unwrap();
    let ctx = StepCtx {
        model: &m.flow,
        store: &m.params,
        step: 50,
        total: 100,
    };
    let b = w
        .prepare(&ctx, &mut Xoshiro256PlusPlus::seed_from_u64(1))
        .unwrap();
    assert_eq!(b.n, 28);
    assert_relative_eq!(b.c[[0, 0]], 1.0);
    assert_relative_eq!(b.c[[6, 0]], 1.0);
    let (lo, hi) = cfg.window(50);
    assert!(b.c.iter().all(|&c| c >= lo && c <= hi));
    // At β = 1 the start model is exact: t = E[x²/2] − x²/2 with Ê from 50 samples.
    let t = b.target.as_ref().unwrap();
    assert!(t.iter().all(|v| v.is_finite()));
}

#[test]
fn annealing_weight_gates_and_updates_in_the_objective() {
    let m0 = affine_1d();
    let (x, c) = gauss_data(512);
    let build = |m: &FlowModel| -> Vec<(Box<dyn Loss>, LossWeight)> {
        let nll = Nll::new(x.clone(), c.clone(), 64, 0.0, 1).unwrap();
        let grid = TradeGrid::loop_b(
            grid_config(12, 64),
            loop_b_v2(),
            Arc::new(Gauss1d),
            None,
            Residual::Huber { delta: 0.1 },
            NoiseMode::Raw,
        )
        .unwrap();
        let _ = m;
        vec![
            (Box::new(nll), LossWeight::constant(1.0, 1e9, 1e3)),
            (Box::new(grid), LossWeight::constant(1.0, 1e9, 1e3)),
        ]
    };
    let mut params: ParamStore = m0.params.clone();
    let mut obj = WeightedObjective::new(&m0.flow, build(&m0))
        .unwrap()
        .with_loop_b(annealed(5))
        .unwrap();
    let mut trainer = Trainer::new(train_config(40, 1e-3), None).unwrap();
    trainer
        .run(&mut params, &mut obj, &mut Silent, Some(5))
        .unwrap();
    // Off before step 5: never updated.
    assert_eq!(*obj.annealing().unwrap(), AnnealingWeight::new(0.015, 1.0));
    trainer
        .run(&mut params, &mut obj, &mut Silent, Some(6))
        .unwrap();
    let a = *obj.annealing().unwrap();
    // One update with α = 0.015 weighting the old value: λ_bc = 0.015 + 0.985 (G_t + G_n)/(G_n + ε)
    // ≥ 0.015 + 0.985 · G_n/(G_n + ε), and λ_r moved away from 1e-3.
    assert!(a.lambda_bc > 0.9 && a.lambda_r > 1e-3, "{a:?}");
    let state = obj.state();
    let mut again = WeightedObjective::new(&m0.flow, build(&m0))
        .unwrap()
        .with_loop_b(annealed(5))
        .unwrap();
    again.restore(&state).unwrap();
    assert_eq!(*again.annealing().unwrap(), a);
    assert!(
        WeightedObjective::new(&m0.flow, build(&m0))
            .unwrap()
            .with_loop_b(LoopBWeighting {
                term: 0,
                ..annealed(0)
            })
            .is_err()
    );
}

#[test]
fn log_uniform_prior_is_uniform_in_log_c() {
    let p = ConditionPrior::log_uniform(0.16238, 6.15848).unwrap();
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(2);
    let (lo, hi) = (0.16238f64.ln(), 6.15848f64.ln());
    let n = 40_000;
    let mut counts = [0usize; 4];
    for s in [0, 500, 1000] {
        for _ in 0..n / 3 {
            let c = p.sample(s, 1000, &mut rng);
            assert!((0.16238..=6.15848).contains(&c));
            let u = (c.ln() - lo) / (hi - lo);
            counts[((u * 4.0) as usize).min(3)] += 1;
        }
    }
    let total: usize = counts.iter().sum();
    for k in counts {
        // Four equal bins in log c; binomial sd ≈ 0.0022 per bin.
        assert!((k as f64 / total as f64 - 0.25).abs() < 0.012, "{counts:?}");
    }
}

#[test]
fn true_power_reweighting_uses_log_g_plus_two_times_beta_minus_one() {
    let m = affine_1d();
    let (x, _) = gauss_data(64);
    let prior = ConditionPrior::log_uniform(0.5, 2.0).unwrap();
    let mut r = Reweighting::true_power(x.clone(), Arc::new(Gauss1d), prior, 16).unwrap();
    let ctx = StepCtx {
        model: &m.flow,
        store: &m.params,
        step: 0,
        total: 10,
    };
    let b = r
        .prepare(&ctx, &mut Xoshiro256PlusPlus::seed_from_u64(9))
        .unwrap();
    let w = b.target.as_ref().unwrap();
    for i in 0..16 {
        // log g(x) = −U(x; 1) = −x²/2 (the energy's normaliser is dropped, as in the spec).
        let log_g = -0.5 * b.x[[i, 0]].powi(2);
        let want = ((log_g + 2.0) * (b.c[[i, 0]] - 1.0)).exp();
        assert_relative_eq!(w[[i, 0]], want, max_relative = 1e-12);
    }
}

/// NLL at β = 1 plus Loop B grid TRADE (V2, Huber, decaying ε, annealing weights) on N(0, 1/β)
/// brings g = ∂_β log q to the exact 1/(2β) − x²/2 on [0.5, 2].
#[test]
fn loop_b_grid_learns_the_exact_beta_derivative_of_a_gaussian_family() {
    let mut m = affine_1d();
    let before = rms_error_of_g(&m);
    let (x, c) = gauss_data(4096);
    let losses: Vec<(Box<dyn Loss>, LossWeight)> = vec![
        (
            Box::new(Nll::new(x, c, 128, 0.0, 1).unwrap()),
            LossWeight::constant(1.0, 1e9, 1e3),
        ),
        (
            Box::new(
                TradeGrid::loop_b(
                    grid_config(16, 128),
                    loop_b_v2(),
                    Arc::new(Gauss1d),
                    None,
                    Residual::Huber { delta: 0.1 },
                    NoiseMode::Raw,
                )
                .unwrap(),
            ),
            LossWeight::constant(1.0, 1e9, 1e3),
        ),
    ];
    let mut obj = WeightedObjective::new(&m.flow, losses)
        .unwrap()
        .with_loop_b(annealed(0))
        .unwrap();
    Trainer::new(train_config(600, 1e-2), None)
        .unwrap()
        .run(&mut m.params, &mut obj, &mut Silent, None)
        .unwrap();
    let after = rms_error_of_g(&m);
    assert!(
        after < 0.05 && after < 0.2 * before,
        "rms(g − exact) before {before:.4}, after {after:.4}"
    );
    // The model samples at β = 2 have variance 1/2.
    let (xs, _) = loss::sample(
        &m.flow,
        &m.params,
        20_000,
        2.0,
        &mut Xoshiro256PlusPlus::seed_from_u64(4),
    )
    .unwrap();
    let var = xs.column(0).mapv(|v| v * v).mean().unwrap();
    assert!((var - 0.5).abs() < 0.03, "Var at β = 2: {var}");
}

/// The energy-free grid ("TRADE grid, flow energy") is Loop A only: a Loop B grid refuses
/// `EnergySource::SelfTemperature` with an error naming the field, and keeps a ground truth.
#[test]
fn loop_b_grid_refuses_the_self_energy() {
    let g = || {
        TradeGrid::loop_b(
            grid_config(10, 8),
            loop_b_v2(),
            Arc::new(Gauss1d),
            None,
            Residual::Huber { delta: 0.1 },
            NoiseMode::Raw,
        )
        .unwrap()
    };
    let e = g()
        .with_energy(loss::EnergySource::SelfTemperature)
        .err()
        .expect("rejected")
        .to_string();
    assert!(e.contains("trade_grid.energy"), "{e}");
    assert!(
        g().with_energy(loss::EnergySource::GroundTruth(Arc::new(Gauss1d)))
            .is_ok()
    );
}
