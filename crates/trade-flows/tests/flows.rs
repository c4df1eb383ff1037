//! Whole-flow properties: densities integrate to 1, sampling agrees with log_prob, Flows for
//! Flows (identity top flow, inverse rule, frozen base), temperature-steerable closed form,
//! augmentation, save/load round trip and door errors.

mod common;

use common::*;
use ndarray::{Array2, array};
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use std::io::Cursor;
use trade_ad::Tape;
use trade_flows::config::ConditionConfig;
use trade_flows::tsf::{augmented_log_prob, augmented_sample_with_log_prob};
use trade_flows::{
    BaseConfig, Condition, ConditionInput, ConditionerConfig, Distribution, FlowConfig, FlowModel,
    LayerConfig, PermutationKind, Phi4Arch, Scaling,
};

fn rq(bins: usize, bound: f64) -> LayerConfig {
    LayerConfig::RqCoupling {
        conditioner: ConditionerConfig::mlp(&[16]),
        bins,
        bound,
        min_bin: 0.1,
    }
}

fn perm() -> LayerConfig {
    LayerConfig::Permutation {
        kind: PermutationKind::Random,
    }
}

fn two_d(input: ConditionInput, base: BaseConfig) -> FlowConfig {
    FlowConfig {
        dim: 2,
        augmentation_dims: 0,
        condition: ConditionConfig { input, y_dim: 0 },
        layers: vec![
            rq(8, 3.0),
            perm(),
            rq(8, 3.0),
            perm(),
            LayerConfig::ActNorm,
            LayerConfig::ConditionalAffine {
                conditioner: ConditionerConfig::mlp(&[16]),
            },
        ],
        base,
        seed: 3,
    }
}

/// ∫ q(x|c) dx on [−L, L]² with the midpoint rule, in row chunks (new tape per chunk).
fn integrate_2d(m: &FlowModel, c: f64, half_width: f64, n: usize) -> f64 {
    let h = 2.0 * half_width / n as f64;
    let mut total = 0.0;
    for i in 0..n {
        let x = Array2::from_shape_fn((n, 2), |(j, k)| {
            let idx = if k == 0 { i } else { j };
            -half_width + (idx as f64 + 0.5) * h
        });
        let cc = Array2::from_elem((n, 1), c);
        total += log_prob(m, &x, &cc).mapv(f64::exp).sum() * h * h;
    }
    total
}

#[test]
fn conditional_densities_integrate_to_one() {
    let m = perturbed(
        two_d(
            ConditionInput::LogC,
            BaseConfig::Gaussian {
                scaling: Scaling::Temperature,
            },
        ),
        0.2,
        9,
    );
    for c in [0.5, 1.0, 2.0] {
        let mass = integrate_2d(&m, c, 20.0, 700);
        // Midpoint rule, h ≈ 0.057 on [−20, 20]²: the density is only C⁰ at spline knots, so the
        // error is O(h²); measured |mass − 1| ≈ 4e-4 at c = 2.
        assert!((mass - 1.0).abs() < 1e-3, "c = {c}: mass {mass}");
    }
}

#[test]
fn one_dimensional_conditional_flow_integrates_to_one() {
    let cfg = FlowConfig {
        dim: 1,
        augmentation_dims: 0,
        condition: ConditionConfig {
            input: ConditionInput::LogC,
            y_dim: 0,
        },
        layers: vec![
            LayerConfig::ActNorm,
            LayerConfig::ConditionalAffine {
                conditioner: ConditionerConfig::mlp(&[8]),
            },
        ],
        base: BaseConfig::Gaussian {
            scaling: Scaling::Precision,
        },
        seed: 1,
    };
    let m = perturbed(cfg, 0.3, 2);
    for c in [0.3, 1.0, 4.0] {
        let n = 20_000;
        let h = 40.0 / n as f64;
        let x = Array2::from_shape_fn((n, 1), |(i, _)| -20.0 + (i as f64 + 0.5) * h);
        let mass = log_prob(&m, &x, &Array2::from_elem((n, 1), c))
            .mapv(f64::exp)
            .sum()
            * h;
        assert!((mass - 1.0).abs() < 1e-3, "c = {c}: mass {mass}");
    }
}

#[test]
fn sample_with_log_prob_equals_log_prob_of_the_samples() {
    let cases = [
        perturbed(
            FlowConfig::multi_well(5, 3, &[16]).with_zero_last(true),
            0.25,
            1,
        ),
        perturbed(
            two_d(
                ConditionInput::LogC,
                BaseConfig::Gaussian {
                    scaling: Scaling::Precision,
                },
            ),
            0.25,
            2,
        ),
        perturbed(
            FlowConfig::temperature_steerable(3, 0, 3, &[16]).with_zero_last(true),
            0.25,
            3,
        ),
    ];
    for m in &cases {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(4);
        let n = 64;
        let c = Array2::from_shape_fn((n, 1), |(i, _)| 0.4 + 0.05 * i as f64);
        let mut tape: Tape = Tape::new();
        let cv = tape.constant(c.clone());
        let (x, lp) = m
            .flow
            .sample_with_log_prob(&mut tape, &m.params, n, &Condition::c(cv), &mut rng)
            .unwrap();
        let again = log_prob(m, &tape.value(x).to_owned(), &c);
        let err = (&again - &tape.value(lp))
            .mapv(f64::abs)
            .fold(0.0f64, |a, &v| a.max(v));
        assert!(err < 1e-10, "{err:e}");
    }
}

/// A Flows-for-Flows model: top flow (RQ couplings, context Delta or Concat) over a frozen
/// conditional base flow evaluated at c′.
fn f4f(input: ConditionInput) -> FlowModel {
    let mut base = two_d(
        ConditionInput::LogC,
        BaseConfig::Gaussian {
            scaling: Scaling::Temperature,
        },
    );
    base.seed = 17;
    let top = FlowConfig {
        dim: 2,
        augmentation_dims: 0,
        condition: ConditionConfig { input, y_dim: 0 },
        layers: vec![rq(8, 4.0), perm(), rq(8, 4.0)],
        base: BaseConfig::Flow {
            flow: Box::new(base),
        },
        seed: 5,
    };
    let mut m = FlowModel::new(top).unwrap();
    // A "trained" base: perturb only the (frozen) base parameters.
    perturb(&mut m.params, 0.25, 8, |name, _| name.starts_with("base."));
    m
}

#[test]
fn f4f_with_identity_top_flow_reproduces_the_base_density() {
    for input in [ConditionInput::Delta, ConditionInput::Concat] {
        let m = f4f(input.clone());
        let x = test_points(2);
        let c = test_conditions(x.nrows());
        let lp = log_prob(&m, &x, &c); // base at c′ = 2.6 − c (helper), top = identity
        let ct = c.mapv(|v| 2.6 - v);
        let mut tape: Tape = Tape::new();
        let xv = tape.constant(x.clone());
        let cv = tape.constant(ct);
        let base_lp = m
            .flow
            .base()
            .log_prob(&mut tape, &m.params, xv, &Condition::c(cv))
            .unwrap();
        let err = (&lp - &tape.value(base_lp))
            .mapv(f64::abs)
            .fold(0.0f64, |a, &v| a.max(v));
        assert!(err < 1e-12, "{input:?}: {err:e}");
    }
}

#[test]
fn f4f_inverse_rule_makes_the_family_consistent() {
    for input in [ConditionInput::Delta, ConditionInput::Concat] {
        let mut m = f4f(input.clone());
        perturb(&mut m.params, 0.25, 9, |name, trainable| {
            trainable && !name.starts_with("base.")
        });
        let x = test_points(2);
        let n = x.nrows();
        let c = Array2::from_shape_fn((n, 1), |(i, _)| 0.3 + 0.1 * i as f64);
        // Both signs of c′ − c, never equal: at c′ = c the forward map with h(c, c) is used in both
        // directions, and it is not an involution, so the rule says nothing there.
        let ct = Array2::from_shape_fn((n, 1), |(i, _)| 0.93 - 0.05 * i as f64);
        let run = |x: &Array2<f64>, from: &Array2<f64>, to: &Array2<f64>| {
            let mut tape: Tape = Tape::new();
            let cond = Condition {
                c: Some(tape.constant(from.clone())),
                c_target: Some(tape.constant(to.clone())),
                y: None,
            };
            let xv = tape.constant(x.clone());
            let (y, ld) = m.flow.transform(&mut tape, &m.params, xv, &cond).unwrap();
            (tape.value(y).to_owned(), tape.value(ld).to_owned())
        };
        let (y, ld) = run(&x, &c, &ct);
        let (back, ld_back) = run(&y, &ct, &c); // f(·; c′→c) = f(·; c→c′)⁻¹
        let err = (&back - &x).mapv(f64::abs).fold(0.0f64, |a, &v| a.max(v));
        let ld_err = (&ld + &ld_back)
            .mapv(f64::abs)
            .fold(0.0f64, |a, &v| a.max(v));
        assert!(
            err < 1e-10 * 40.0 && ld_err < 1e-9,
            "{input:?}: {err:e} {ld_err:e}"
        );
        assert!(
            (&y - &x).mapv(f64::abs).sum() > 1e-3,
            "top flow should move points"
        );
    }
}

#[test]
fn f4f_base_is_frozen_and_top_gets_gradients_with_c_tangent() {
    let mut m = f4f(ConditionInput::Delta);
    perturb(&mut m.params, 0.25, 9, |name, trainable| {
        trainable && !name.starts_with("base.")
    });
    let x = test_points(2);
    let c = test_conditions(x.nrows());
    let mut tape: Tape = Tape::new();
    let cv = tape.condition(c.clone());
    let cond = condition(&m, &mut tape, Some(cv), &c);
    let xv = tape.constant(x);
    let lp = m.flow.log_prob(&mut tape, &m.params, xv, &cond).unwrap();
    let g = tape.tangent(lp).unwrap();
    let l1 = tape.sum(lp, None);
    let l2 = tape.sum(g, None);
    let l = tape.add(l1, l2);
    let grads = tape.backward(l);
    let mut top = 0;
    for (id, _) in grads.iter_params() {
        assert!(
            !m.params.name(id).starts_with("base."),
            "frozen {} got a gradient",
            m.params.name(id)
        );
        top += 1;
    }
    assert!(top > 0);
}

#[test]
fn temperature_steerable_flow_has_the_closed_form_c_derivative() {
    let m = perturbed(FlowConfig::temperature_steerable(4, 0, 3, &[16]), 0.3, 6);
    assert!(m.flow.is_temperature_steerable());
    assert!(
        !FlowModel::new(FlowConfig::multi_well(4, 1, &[4]))
            .unwrap()
            .flow
            .is_temperature_steerable()
    );
    let x = test_points(4);
    let c = test_conditions(x.nrows());
    let mut tape: Tape = Tape::new();
    let cv = tape.condition(c.clone());
    let xv = tape.constant(x.clone());
    let lp = m
        .flow
        .log_prob(&mut tape, &m.params, xv, &Condition::c(cv))
        .unwrap();
    let g = tape.value(tape.tangent(lp).unwrap()).to_owned();
    let (z, _) = transform(&m, &x, &c);
    for i in 0..x.nrows() {
        let t = c[[i, 0]];
        let r2: f64 = z.row(i).iter().map(|v| v * v).sum();
        let expect = r2 / (2.0 * t * t) - 4.0 / (2.0 * t); // flows.md §10
        assert!(
            (g[[i, 0]] - expect).abs() < 1e-10 * expect.abs().max(1.0),
            "row {i}"
        );
    }
    // Tempering: log p(·|T) − log p(·|1)/T is constant in x.
    let one = Array2::ones(c.dim());
    let t = Array2::from_elem(c.dim(), 0.7);
    let (l1, lt) = (log_prob(&m, &x, &one), log_prob(&m, &x, &t));
    let k = &lt - &(&l1 / 0.7);
    assert!(k.iter().all(|v| (v - k[[0, 0]]).abs() < 1e-8));
}

#[test]
fn augmentation_estimators() {
    // Identity flow (zero-init GIN + ActNorm at 0): log p(x, a|c) = log N(x) + log N(a), so the
    // estimate is exactly log N(x; 0, c·I) for any draw and any R.
    let m = FlowModel::new(FlowConfig::temperature_steerable(3, 2, 2, &[8]).with_zero_last(true))
        .unwrap();
    assert_eq!(m.flow.dim(), 5);
    let x = grid(6, 3, 3.0);
    let c = test_conditions(6);
    for repeats in [1, 4] {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(1);
        let mut tape: Tape = Tape::new();
        let cv = tape.condition(c.clone());
        let xv = tape.constant(x.clone());
        let lp = augmented_log_prob(
            &m.flow,
            &mut tape,
            &m.params,
            xv,
            &Condition::c(cv),
            repeats,
            &mut rng,
        )
        .unwrap();
        for i in 0..6 {
            let t = c[[i, 0]];
            let r2: f64 = x.row(i).iter().map(|v| v * v).sum();
            let expect = -r2 / (2.0 * t) - 1.5 * (2.0 * std::f64::consts::PI * t).ln();
            assert!(
                (tape.value(lp)[[i, 0]] - expect).abs() < 1e-10,
                "R = {repeats}, row {i}"
            );
        }
        assert!(tape.tangent(lp).is_some());
    }
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(2);
    let mut tape: Tape = Tape::new();
    let cv = tape.constant(c);
    let (xs, lp) = augmented_sample_with_log_prob(
        &m.flow,
        &mut tape,
        &m.params,
        6,
        &Condition::c(cv),
        &mut rng,
    )
    .unwrap();
    assert_eq!(tape.shape(xs), (6, 3));
    assert!(tape.value(lp).iter().all(|v| v.is_finite()));
}

/// φ⁴-like fields: 64 sites in [−3, 3].
fn fields(n: usize) -> Array2<f64> {
    grid(n, 64, 6.0)
}

#[test]
fn phi4_flow_starts_as_a_fixed_permutation_with_the_base_density() {
    // flows.md §7: every conditioner's last layer is zero and the ActNorms start at zero, so
    // the flow is the identity up to its fixed permutations (space-to-depth, channel and FC
    // permutations): z is a permutation of x and log q(x|κ) = log N(x; 0, I₆₄) for every κ.
    let m = FlowModel::new(FlowConfig::phi4(&Phi4Arch::paper())).unwrap();
    let x = fields(5);
    let c = array![[0.22], [0.25], [0.27], [0.29], [0.33]];
    let (z, ld) = transform(&m, &x, &c);
    let sorted = |r: ndarray::ArrayView1<f64>| {
        let mut v = r.to_vec();
        v.sort_by(f64::total_cmp);
        v
    };
    for i in 0..5 {
        let (a, b) = (sorted(z.row(i)), sorted(x.row(i)));
        assert!(
            a.iter().zip(&b).all(|(p, q)| (p - q).abs() < 1e-12),
            "row {i}"
        );
        assert!(
            (&z.row(i) - &x.row(i)).iter().any(|v| v.abs() > 1e-3),
            "not permuted"
        );
    }
    assert!(ld.iter().all(|v| v.abs() < 1e-12));
    let lp = log_prob(&m, &x, &c);
    for i in 0..5 {
        let r2: f64 = x.row(i).iter().map(|v| v * v).sum();
        let expect = -r2 / 2.0 - 32.0 * (2.0 * std::f64::consts::PI).ln();
        assert!((lp[[i, 0]] - expect).abs() < 1e-9, "row {i}");
    }
}

#[test]
fn phi4_preset_round_trips_through_flow_model_save_load() {
    let arch = Phi4Arch {
        cnn_channels: vec![8, 8, 4, 4],
        fc_hidden: vec![16; 2],
        ..Phi4Arch::paper()
    };
    let mut cfg = FlowConfig::phi4(&arch);
    cfg.seed = 7;
    let json = cfg.to_json();
    assert_eq!(FlowConfig::from_json(&json).unwrap(), cfg);
    let m = perturbed(cfg, 0.05, 2);
    let mut npz = Cursor::new(Vec::new());
    m.write_params(&mut npz).unwrap();
    npz.set_position(0);
    let back = FlowModel::load(&json, npz).unwrap();
    let x = fields(6);
    let c = Array2::from_shape_fn((6, 1), |(i, _)| 0.22 + 0.02 * i as f64);
    let (a, b) = (log_prob(&m, &x, &c), log_prob(&back, &x, &c));
    assert!(
        a.iter()
            .zip(b.iter())
            .all(|(p, q)| p.to_bits() == q.to_bits())
    );
    // Sampling agrees with the density of the samples.
    let mut tape: Tape = Tape::new();
    let cv = tape.constant(c.clone());
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(3);
    let (xs, lq) = back
        .flow
        .sample_with_log_prob(&mut tape, &back.params, 6, &Condition::c(cv), &mut rng)
        .unwrap();
    let lq2 = log_prob(&back, &tape.value(xs).to_owned(), &c);
    for (p, q) in tape.value(lq).iter().zip(lq2.iter()) {
        assert!((p - q).abs() < 1e-9 * p.abs().max(1.0), "{p} vs {q}");
    }
}

#[test]
fn save_load_round_trip_is_exact() {
    let mut cfg = FlowConfig::multi_well(3, 2, &[8]);
    cfg.layers.insert(0, LayerConfig::ActNorm);
    cfg.layers.insert(1, LayerConfig::Orthogonal);
    cfg.layers.insert(
        2,
        LayerConfig::AffineCoupling {
            conditioner: ConditionerConfig::mlp(&[8]),
            clamp: 0.3,
            learnable_clamp: true,
        },
    );
    cfg.condition.input = ConditionInput::Embedding {
        hidden: vec![4],
        standardise: None,
    };
    cfg.seed = 42;
    let mut m = perturbed(cfg, 0.3, 1);
    // Overwrite the permutations too: load must restore them from the file, not the seed.
    for id in m.params.ids().collect::<Vec<_>>() {
        if m.params.name(id).ends_with("perm.indices") {
            *m.params.get_mut(id) = array![[2.0, 0.0, 1.0]];
        }
    }
    let json = m.config.to_json();
    let mut npz = Cursor::new(Vec::new());
    m.write_params(&mut npz).unwrap();
    npz.set_position(0);
    let back = FlowModel::load(&json, npz).unwrap();
    assert_eq!(back.config, m.config);
    assert_eq!(back.params.len(), m.params.len());
    for id in m.params.ids() {
        assert_eq!(back.params.name(id), m.params.name(id));
        assert_eq!(back.params.is_trainable(id), m.params.is_trainable(id));
        let same = back
            .params
            .get(id)
            .iter()
            .zip(m.params.get(id).iter())
            .all(|(a, b)| a.to_bits() == b.to_bits());
        assert!(same, "{}", m.params.name(id));
    }
    let x = test_points(3);
    let c = test_conditions(x.nrows());
    let (a, b) = (log_prob(&m, &x, &c), log_prob(&back, &x, &c));
    assert!(
        a.iter()
            .zip(b.iter())
            .all(|(p, q)| p.to_bits() == q.to_bits())
    );

    // A different architecture does not load.
    let mut other = Cursor::new(Vec::new());
    m.write_params(&mut other).unwrap();
    other.set_position(0);
    let err = FlowModel::load(&FlowConfig::multi_well(3, 3, &[8]).to_json(), other).unwrap_err();
    assert!(
        err.to_string().starts_with("file: parameter count"),
        "{err}"
    );
}

#[test]
fn errors_at_the_door_name_the_problem() {
    let m = FlowModel::new(FlowConfig::multi_well(3, 1, &[4])).unwrap();
    let run = |x: Array2<f64>, c: Option<Array2<f64>>| {
        let mut tape: Tape = Tape::new();
        let cond = Condition {
            c: c.map(|c| tape.constant(c)),
            ..Condition::none()
        };
        let xv = tape.constant(x);
        m.flow
            .log_prob(&mut tape, &m.params, xv, &cond)
            .unwrap_err()
            .to_string()
    };
    type Case = (Array2<f64>, Option<Array2<f64>>, &'static str);
    let cases: [Case; 5] = [
        (
            Array2::zeros((2, 4)),
            Some(Array2::ones((2, 1))),
            "x: expected 3, got 4",
        ),
        (
            array![[0.0, 1.0, 2.0], [f64::NAN, 0.0, 0.0]],
            Some(Array2::ones((2, 1))),
            "x: non-finite value in row 1",
        ),
        (Array2::zeros((2, 3)), None, "missing condition: c"),
        (
            Array2::zeros((2, 3)),
            Some(array![[1.0], [-0.5]]),
            "condition c = -0.5 in row 1: allowed > 0 (it enters as log c or as a variance)",
        ),
        (
            Array2::zeros((2, 3)),
            Some(Array2::ones((3, 1))),
            "condition rows (must equal the batch size): expected 2, got 3",
        ),
    ];
    for (x, c, expect) in cases {
        assert_eq!(run(x, c), expect);
    }
}

#[test]
fn embedding_standardisation_is_validated_and_maps_the_range_to_unit() {
    let s = trade_flows::Standardise::log_range(0.22, 0.32);
    let u = |k: f64| (k.ln() - s.centre) / s.scale;
    assert!((u(0.22) + 1.0).abs() < 1e-14 && (u(0.32) - 1.0).abs() < 1e-14);
    for (centre, scale, field) in [
        (
            f64::NAN,
            1.0,
            "condition.input.embedding.standardise.centre",
        ),
        (0.0, 0.0, "condition.input.embedding.standardise.scale"),
        (
            0.0,
            f64::INFINITY,
            "condition.input.embedding.standardise.scale",
        ),
    ] {
        let mut cfg = FlowConfig::phi4(&Phi4Arch::paper());
        cfg.condition.input = ConditionInput::Embedding {
            hidden: vec![4],
            standardise: Some(trade_flows::Standardise { centre, scale }),
        };
        let err = cfg.validate().unwrap_err().to_string();
        assert!(err.contains(field), "{err}");
    }
    // Without standardisation the config JSON is unchanged (older model files load).
    let mut cfg = FlowConfig::phi4(&Phi4Arch {
        embedding_range: None,
        ..Phi4Arch::paper()
    });
    cfg.seed = 1;
    assert!(!cfg.to_json().contains("standardise"));
}
