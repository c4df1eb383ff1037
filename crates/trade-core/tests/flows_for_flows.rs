//! Flows for Flows: mapping a 2-D Gaussian N(μ, I) onto N(0, I) with an L2 movement penalty
//! learns a translation. With weight λ the exact optimum among all affine maps is
//! f(x) = x − μ/(1 + 2λ) (A = I solves a − 1/a + 2λ(a − 1) = 0; b minimises ½|μ + b|² + λ|b|²),
//! so the learned displacement is the shift, shrunk by the penalty. The inverse direction (N(0, I)
//! data through f⁻¹ onto q_X = N(μ, I)) has the same optimum, and so does alternating.

use ndarray::{Array2, Axis};
use rand::SeedableRng;
use rand_distr::{Distribution as _, StandardNormal};
use rand_xoshiro::Xoshiro256PlusPlus;
use std::sync::Arc;
use trade_ad::{AdamConfig, MatmulPrecision, OneCycle, Schedule, Tape};
use trade_core::loss::{Direction, FlowsForFlows, Movement};
use trade_core::{Loss, LossWeight, Silent, TrainConfig, Trainer, WeightedObjective};
use trade_flows::{Condition, FlowConfig, FlowModel};

fn top_config() -> FlowConfig {
    // Four reverse permutations compose to the identity, so the zero-last couplings start the
    // top flow at f = id. Base: a frozen flow whose density is N(0, I) (one ActNorm at its identity start).
    let base = r#"{ "dim": 2, "layers": [ { "type": "act_norm" } ], "base": { "kind": "gaussian", "scaling": "standard" } }"#;
    let top = format!(
        r#"{{ "dim": 2, "layers": [ {{ "type": "repeat", "count": 4, "layers": [
              {{ "type": "affine_coupling", "conditioner": {{ "kind": "mlp", "hidden": [16], "zero_last": true }} }},
              {{ "type": "permutation", "kind": "reverse" }} ] }} ],
            "base": {{ "kind": "flow", "flow": {base} }} }}"#
    );
    FlowConfig::from_json(&top).unwrap()
}

fn learned_displacement(
    lambda: f64,
    direction: Direction,
) -> (ndarray::Array1<f64>, ndarray::Array1<f64>) {
    let shift = [2.0, -1.0];
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(0);
    let x = Array2::from_shape_fn((4000, 2), |(_, j)| {
        let z: f64 = StandardNormal.sample(&mut rng);
        z + shift[j]
    });
    let data = Arc::new(x);
    let mut model = FlowModel::new(top_config()).unwrap();
    let steps = 800;
    // Right data y ~ N(0, I) and the left base q_X = N(μ, I) (an ActNorm flow shifted by −μ).
    let mut rng_y = Xoshiro256PlusPlus::seed_from_u64(5);
    let y = Arc::new(Array2::from_shape_simple_fn((4000, 2), || {
        StandardNormal.sample(&mut rng_y)
    }));
    let left_json = r#"{ "dim": 2, "layers": [ { "type": "act_norm" } ], "base": { "kind": "gaussian", "scaling": "standard" } }"#;
    let mut left = FlowModel::new(FlowConfig::from_json(left_json).unwrap()).unwrap();
    let shift_id = left
        .params
        .ids()
        .find(|&id| left.params.name(id).ends_with("shift"))
        .unwrap();
    *left.params.get_mut(shift_id) = ndarray::array![[-shift[0], -shift[1]]];
    let mut f4f = FlowsForFlows::new(
        &model.flow,
        data.clone(),
        256,
        Movement::L2,
        (lambda, lambda),
    )
    .unwrap();
    if direction != Direction::Forward {
        f4f = f4f
            .with_inverse(direction, y, &left.flow, &left.params)
            .unwrap();
    }
    let losses: Vec<(Box<dyn Loss>, LossWeight)> =
        vec![(Box::new(f4f), LossWeight::constant(1.0, 1e9, 1e3))];
    let mut obj = WeightedObjective::new(&model.flow, losses).unwrap();
    let config = TrainConfig {
        steps,
        adam: AdamConfig::default(),
        schedule: Schedule::OneCycle(OneCycle::new(1e-2, steps)),
        grad_clip: 10.0,
        seed: 1,
        chunk_rows: 128,
        max_consecutive_nonfinite: 3,
        checkpoint_every: 0,
        matmul_precision: MatmulPrecision::Native,
    };
    Trainer::new(config, None)
        .unwrap()
        .run(&mut model.params, &mut obj, &mut Silent, None)
        .unwrap();
    drop(obj);
    let mut t: Tape = Tape::new();
    let xv = t.constant(data.slice(ndarray::s![..1000, ..]).to_owned());
    let (z, _) = model
        .flow
        .transform(&mut t, &model.params, xv, &Condition::none())
        .unwrap();
    let moved = &t.value(z) - &t.value(xv);
    (
        moved.mean_axis(Axis(0)).unwrap(),
        moved.std_axis(Axis(0), 1.0),
    )
}

#[test]
fn l2_penalty_learns_the_shrunk_shift() {
    for (lambda, direction) in [
        (1.0, Direction::Forward),
        (0.05, Direction::Forward),
        (1.0, Direction::Inverse),
        (1.0, Direction::Alternate),
    ] {
        let (mean, spread) = learned_displacement(lambda, direction);
        let want = [-2.0 / (1.0 + 2.0 * lambda), 1.0 / (1.0 + 2.0 * lambda)];
        // Tolerance: Monte Carlo error of the 4000-point data mean (≈ 0.016) plus optimisation.
        assert!(
            (mean[0] - want[0]).abs() < 0.06 && (mean[1] - want[1]).abs() < 0.06,
            "λ = {lambda}, {direction:?}: displacement {mean}, want {want:?}"
        );
        assert!(
            spread.iter().all(|s| *s < 0.1),
            "λ = {lambda}: spread {spread}"
        );
    }
}

/// Conditional c → c′ F4F (`flows.md` §11.4) on the radially scaled family x | T ~ N(0, T·I),
/// T ∈ [0.5, 2], with the exact frozen base q(x|T) (no layers, N(0, T·I)). With an L2 penalty
/// λ the optimal map T → T′ among scalings x ↦ a·x solves
/// a²(T/T′ + 2λT) − 2λT·a − 1 = 0 (a = √(T′/T) at λ = 0): a radial scaling by ≈ s′/s,
/// s = √T. The inverse rule makes f(·; T′→T) the inverse of f(·; T→T′).
#[test]
fn conditional_f4f_learns_the_radial_scaling_and_is_its_own_inverse() {
    use trade_core::loss::ConditionalFlowsForFlows;
    let lambda = 0.05;
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(11);
    let n = 8000;
    let t = Array2::from_shape_fn((n, 1), |_| 0.5 + 1.5 * rand::Rng::random::<f64>(&mut rng));
    let x = Array2::from_shape_fn((n, 2), |(i, _)| {
        let z: f64 = StandardNormal.sample(&mut rng);
        z * t[[i, 0]].sqrt()
    });
    let base = r#"{ "dim": 2, "condition": { "input": "log_c" }, "layers": [],
                    "base": { "kind": "gaussian", "scaling": "temperature" } }"#;
    let top = format!(
        r#"{{ "dim": 2, "condition": {{ "input": "concat" }}, "layers": [ {{ "type": "repeat", "count": 4, "layers": [
              {{ "type": "affine_coupling", "clamp": 1.0, "conditioner": {{ "kind": "mlp", "hidden": [32] }} }},
              {{ "type": "permutation", "kind": "reverse" }} ] }} ],
            "base": {{ "kind": "flow", "flow": {base} }} }}"#
    );
    let mut model = FlowModel::new(FlowConfig::from_json(&top).unwrap()).unwrap();
    let steps = 800;
    let loss = ConditionalFlowsForFlows::new(
        &model.flow,
        (Arc::new(x), Arc::new(t)),
        256,
        Movement::L2,
        (lambda, lambda),
    )
    .unwrap();
    let losses: Vec<(Box<dyn Loss>, LossWeight)> =
        vec![(Box::new(loss), LossWeight::constant(1.0, 1e9, 1e3))];
    let mut obj = WeightedObjective::new(&model.flow, losses).unwrap();
    let config = TrainConfig {
        steps,
        adam: AdamConfig::default(),
        schedule: Schedule::OneCycle(OneCycle::new(1e-2, steps)),
        grad_clip: 10.0,
        seed: 2,
        chunk_rows: 128,
        max_consecutive_nonfinite: 3,
        checkpoint_every: 0,
        matmul_precision: MatmulPrecision::Native,
    };
    Trainer::new(config, None)
        .unwrap()
        .run(&mut model.params, &mut obj, &mut Silent, None)
        .unwrap();
    drop(obj);
    let transport = |x: &Array2<f64>, from: f64, to: f64| {
        let mut tape: Tape = Tape::new();
        let m = x.nrows();
        let cond = Condition {
            c: Some(tape.constant(Array2::from_elem((m, 1), from))),
            c_target: Some(tape.constant(Array2::from_elem((m, 1), to))),
            y: None,
        };
        let xv = tape.constant(x.clone());
        let (z, _) = model
            .flow
            .transform(&mut tape, &model.params, xv, &cond)
            .unwrap();
        tape.value(z).to_owned()
    };
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(12);
    for (from, to) in [(0.6, 1.8), (1.6, 0.7), (1.0, 1.3), (1.9, 0.55)] {
        let x = Array2::from_shape_simple_fn((2000, 2), || {
            let z: f64 = StandardNormal.sample(&mut rng);
            z * f64::sqrt(from)
        });
        let z = transport(&x, from, to);
        // Least-squares scale a = Σ z·x / Σ x·x and what a scaling leaves unexplained.
        let a = (&z * &x).sum() / (&x * &x).sum();
        let resid = ((&z - &(&x * a)).mapv(|v| v * v).sum() / (&x * &x).sum()).sqrt();
        let (p, q) = (from / to + 2.0 * lambda * from, 2.0 * lambda * from);
        let want = (q + (q * q + 4.0 * p).sqrt()) / (2.0 * p);
        // Tolerance: optimisation and the conditioner's interpolation in (T, T′); the spread of
        // a finite-sample NLL optimum is ≈ 1 % here.
        assert!(
            (a - want).abs() < 0.05 * want && resid < 0.08,
            "T {from} → {to}: scale {a}, want {want} (√(T′/T) = {}), residual {resid}",
            (to / from).sqrt()
        );
        let back = transport(&z, to, from);
        let err = (&back - &x).mapv(f64::abs).fold(0.0f64, |m, &v| m.max(v));
        assert!(
            err < 1e-9,
            "T {from} → {to} → {from}: round trip error {err:e}"
        );
    }
}

#[test]
fn conditional_f4f_rejects_a_top_flow_without_transport_context() {
    use trade_core::loss::ConditionalFlowsForFlows;
    let model = FlowModel::new(top_config()).unwrap();
    let data = (
        Arc::new(Array2::zeros((10, 2))),
        Arc::new(Array2::ones((10, 1))),
    );
    let err = ConditionalFlowsForFlows::new(&model.flow, data, 4, Movement::L1, (1.0, 1.0))
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("f4f.top.condition.input") && err.contains("delta or concat"),
        "{err}"
    );
}
