//! Layer laws (`flows.md` §2.5) for the layers of the alanine-dipeptide spline flow (§9): the
//! unit-interval and circular RQ spline couplings on index groups, the circular shift, the
//! clamp and the IC prior. Points lie in [0, 1]^d (the shift is a bijection of the circle, not
//! of R); the interval spline is also checked outside. Plus periodicity of the circular spline
//! and a quadrature check that the composed density on [0, 1] × circle integrates to 1.

mod common;

use common::*;
use ndarray::{Array2, s};
use trade_ad::testing::{gradcheck, second_order_check, tangent_check};
use trade_ad::{ParamStore, Tape, Var};
use trade_flows::config::ConditionConfig;
use trade_flows::layers::UnitSpline;
use trade_flows::{BaseConfig, ConditionInput, ConditionerConfig, Distribution, FlowConfig};
use trade_flows::{FlowModel, LayerConfig};

fn resnet() -> ConditionerConfig {
    ConditionerConfig::ResNet {
        width: 8,
        blocks: 2,
        activation: Default::default(),
        init: Default::default(),
        zero_last: true,
    }
}

fn spline(transformed: Vec<usize>, conditioning: Vec<usize>, circular: bool) -> LayerConfig {
    LayerConfig::UnitSplineCoupling {
        conditioner: resnet(),
        transformed,
        conditioning,
        bins: 4,
        circular,
        min_bin: 1e-3,
        min_derivative: 1e-3,
    }
}

fn config(dim: usize, truncated: usize, layers: Vec<LayerConfig>) -> FlowConfig {
    FlowConfig {
        dim,
        augmentation_dims: 0,
        condition: ConditionConfig {
            input: ConditionInput::LogC,
            y_dim: 0,
        },
        layers,
        base: BaseConfig::IcPrior {
            truncated,
            loc: 0.5,
            scale: 0.1,
        },
        seed: 7,
    }
}

fn shift(dims: Vec<usize>) -> LayerConfig {
    LayerConfig::CircularShift { dims }
}

/// (name, config): each new layer alone, then a small IC-like flow (2 "bonds/angles", 3
/// "torsions") with every kind.
fn cases() -> Vec<(&'static str, FlowConfig)> {
    vec![
        (
            "unit_spline_interval",
            config(4, 2, vec![spline(vec![0, 2], vec![1, 3], false)]),
        ),
        (
            "unit_spline_circular",
            config(4, 0, vec![spline(vec![3, 1], vec![0], true)]),
        ),
        ("circular_shift", config(3, 1, vec![shift(vec![0, 2])])),
        ("unit_clamp", config(3, 1, vec![LayerConfig::UnitClamp])),
        (
            "flow_ic_small",
            config(
                5,
                2,
                vec![
                    LayerConfig::UnitClamp,
                    spline(vec![0], vec![1, 2, 3, 4], false),
                    spline(vec![1], vec![2, 3, 4], false),
                    shift(vec![2, 3, 4]),
                    spline(vec![2, 4], vec![3], true),
                    shift(vec![2, 3, 4]),
                    spline(vec![3], vec![2, 4], true),
                ],
            ),
        ),
    ]
}

fn model(cfg: FlowConfig) -> FlowModel {
    perturbed(cfg, 0.25, 5)
}

/// Quasi-random points in [0.02, 0.98]^d.
fn unit_points(n: usize, d: usize) -> Array2<f64> {
    grid(n, d, 0.96).mapv(|v| v + 0.5)
}

#[test]
fn inverse_of_forward_is_identity_on_the_unit_box() {
    for (name, cfg) in cases() {
        let m = model(cfg);
        let x = unit_points(9, m.flow.dim());
        let c = test_conditions(x.nrows());
        let (z, ld) = transform(&m, &x, &c);
        let (back, ld_inv) = inverse(&m, &z, &c);
        let err = (&back - &x).mapv(f64::abs).fold(0.0f64, |a, &v| a.max(v));
        assert!(err < 1e-10, "{name}: round-trip error {err:e}");
        let ld_sum = (&ld + &ld_inv)
            .mapv(f64::abs)
            .fold(0.0f64, |a, &v| a.max(v));
        assert!(ld_sum < 1e-9, "{name}: log-dets do not cancel: {ld_sum:e}");
        assert!(
            z.iter().all(|v| (-1e-12..=1.0 + 1e-12).contains(v)),
            "{name}: latent left [0, 1]"
        );
    }
}

#[test]
fn interval_spline_is_invertible_outside_the_unit_interval_and_circular_lift_too() {
    let x = Array2::from_shape_fn((6, 4), |(i, j)| {
        [-3.0, -0.4, 1.3, 2.7, 11.0, -25.0][i] + 0.1 * j as f64
    });
    for k in [0, 1] {
        let (name, cfg) = cases().swap_remove(k);
        let m = model(cfg);
        let c = test_conditions(x.nrows());
        let (z, _) = transform(&m, &x, &c);
        let (back, _) = inverse(&m, &z, &c);
        let err = (&back - &x).mapv(f64::abs).fold(0.0f64, |a, &v| a.max(v));
        assert!(err < 1e-9, "{name}: round-trip error {err:e}");
    }
}

#[test]
fn log_det_matches_numerical_jacobian() {
    for (name, cfg) in cases() {
        let m = model(cfg);
        let x = unit_points(6, m.flow.dim());
        let c = test_conditions(x.nrows());
        let (_, ld) = transform(&m, &x, &c);
        for i in 0..x.nrows() {
            let xi = x.slice(s![i..=i, ..]).to_owned();
            let ci = c.slice(s![i..=i, ..]).to_owned();
            let num = numerical_log_det(|xp| transform(&m, xp, &ci).0, &xi);
            let err = (num - ld[[i, 0]]).abs() / ld[[i, 0]].abs().max(1.0);
            assert!(err < 1e-6, "{name}: row {i}: {} vs {num}", ld[[i, 0]]);
        }
    }
}

#[test]
fn x_gradient_c_tangent_and_mixed_second_order_match_the_oracle() {
    for (name, cfg) in cases() {
        let m = model(cfg);
        let x = unit_points(5, m.flow.dim());
        let c = test_conditions(x.nrows());
        let f = |t: &mut Tape<f64>, xs: &[Var], cv: Var| {
            let cvals = t.value(cv).to_owned();
            let cond = condition(&m, t, Some(cv), &cvals);
            m.flow.log_prob(t, &m.params, xs[0], &cond).unwrap()
        };
        let f_x = |t: &mut Tape<f64>, xs: &[Var]| {
            let cv = t.constant(c.clone());
            f(t, xs, cv)
        };
        gradcheck(&f_x, std::slice::from_ref(&x), 1e-6).unwrap_or_else(|e| panic!("{name}: {e}"));
        tangent_check(&f, std::slice::from_ref(&x), &c, 1e-6)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        second_order_check(&f, &[x], &c, 1e-5, 1e-4).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn parameter_gradients_first_and_mixed_second_order_match_finite_differences() {
    for (name, cfg) in cases() {
        let m = model(cfg);
        let x = unit_points(5, m.flow.dim());
        let c = test_conditions(x.nrows());
        for tangent in [false, true] {
            let errors = parameter_gradient_errors(&m, |st| param_loss(&m, st, &x, &c, tangent));
            for (param, err) in errors {
                assert!(
                    err < 1e-6,
                    "{name}: param {param} (tangent loss: {tangent}) error {err:e}"
                );
            }
        }
    }
}

/// Sampling differentiates through the inverse: its z-gradient must match the oracle.
#[test]
fn inverse_gradient_matches_the_oracle() {
    for (name, cfg) in cases() {
        let m = model(cfg);
        let z = unit_points(5, m.flow.dim());
        let c = test_conditions(z.nrows());
        let f = |t: &mut Tape<f64>, zs: &[Var]| {
            let cv = t.constant(c.clone());
            let cond = condition(&m, t, Some(cv), &c);
            let (x, ld) = m
                .flow
                .inverse_transform(t, &m.params, zs[0], &cond)
                .unwrap();
            let w = t.constant(grid(t.shape(x).0, t.shape(x).1, 2.0));
            let p = t.mul(x, w);
            let p = t.sum(p, None);
            let l = t.sum(ld, None);
            t.add(p, l)
        };
        gradcheck(&f, std::slice::from_ref(&z), 1e-6).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

/// y and dy/dx of one circular spline with raw parameters `raw` (1, 3K) at the points `x`.
fn spline_at(s: &UnitSpline, raw: &Array2<f64>, x: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let mut t: Tape = Tape::new();
    let r = t.constant(raw.broadcast((x.len(), raw.ncols())).unwrap().to_owned());
    let xv = t.constant(Array2::from_shape_vec((x.len(), 1), x.to_vec()).unwrap());
    let (y, ld) = s.forward_flat(&mut t, r, xv);
    (
        t.value(y).iter().copied().collect(),
        t.value(ld).iter().map(|l| l.exp()).collect(),
    )
}

#[test]
fn circular_spline_is_periodic_with_equal_end_derivatives() {
    let s = UnitSpline::new(8, true);
    for seed in 0..4 {
        let raw = grid(1, s.params(), 4.0).mapv(|v| v + 0.3 * seed as f64);
        let (y, dy) = spline_at(&s, &raw, &[0.0, 1e-9, 1.0 - 1e-9, 1.0, 0.37, 1.37, -0.63]);
        assert!(
            y[0].abs() < 1e-15 && (y[3] - 1.0).abs() < 1e-15,
            "f(0), f(1): {y:?}"
        );
        // f'(0⁺) = f'(1⁻) = δ_0, and the lift f(x + 1) = f(x) + 1.
        assert!(
            (dy[1] - dy[2]).abs() < 1e-6 * dy[1],
            "end slopes {} {}",
            dy[1],
            dy[2]
        );
        assert!(
            (dy[1] - 1.0).abs() > 1e-3,
            "seed {seed}: δ_0 was not learned away from 1"
        );
        assert!((y[5] - y[4] - 1.0).abs() < 1e-14 && (y[4] - y[6] - 1.0).abs() < 1e-14);
        assert!((dy[4] - dy[5]).abs() < 1e-12 && (dy[4] - dy[6]).abs() < 1e-12);
    }
    // The interval spline keeps unit slopes at both ends (identity tails, C¹).
    let s = UnitSpline::new(8, false);
    let raw = grid(1, s.params(), 4.0);
    let (y, dy) = spline_at(&s, &raw, &[0.0, 1e-9, 1.0 - 1e-9, 1.0, -2.0, 3.5]);
    assert!(y[0].abs() < 1e-15 && (y[3] - 1.0).abs() < 1e-15);
    assert!((dy[1] - 1.0).abs() < 1e-6 && (dy[2] - 1.0).abs() < 1e-6);
    assert!((y[4] + 2.0).abs() < 1e-15 && (y[5] - 3.5).abs() < 1e-15);
}

/// Midpoint quadrature of q(x|c) on [0, 1] × circle (coordinate 0: interval spline over a
/// truncated normal, coordinate 1: circular spline and shift over U[0, 1]).
#[test]
fn composed_density_integrates_to_one_on_the_unit_square() {
    let cfg = config(
        2,
        1,
        vec![
            LayerConfig::UnitClamp,
            spline(vec![0], vec![1], false),
            shift(vec![1]),
            spline(vec![1], vec![0], true),
            shift(vec![1]),
            spline(vec![0], vec![1], false),
        ],
    );
    let m = model(cfg);
    let n = 400;
    for c in [0.6, 1.0] {
        let x = Array2::from_shape_fn((n * n, 2), |(k, j)| {
            let i = if j == 0 { k / n } else { k % n };
            (i as f64 + 0.5) / n as f64
        });
        let cc = Array2::from_elem((n * n, 1), c);
        let lp = log_prob(&m, &x, &cc);
        let total: f64 = lp.iter().map(|l| l.exp()).sum::<f64>() / (n * n) as f64;
        assert!((total - 1.0).abs() < 1e-4, "c = {c}: ∫ q = {total}");
    }
}

#[test]
fn bad_groups_and_fields_are_named() {
    let err = |layers: Vec<LayerConfig>, truncated: usize| {
        config(4, truncated, layers)
            .validate()
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        err(vec![spline(vec![0, 1], vec![1, 2], false)], 0),
        "config field layers[0].conditioning = [1, 2] is out of range: allowed non-empty, \
         distinct indices < dim, the two sets disjoint"
    );
    assert_eq!(
        err(vec![LayerConfig::UnitClamp, shift(vec![4])], 0),
        "config field layers[1].dims = [4] is out of range: allowed non-empty, distinct indices < dim"
    );
    assert_eq!(
        err(vec![LayerConfig::UnitClamp], 5),
        "config field base.truncated = 5 is out of range: allowed ≤ the flow dimension"
    );
    let mut bins = spline(vec![0], vec![1], true);
    if let LayerConfig::UnitSplineCoupling { min_bin, .. } = &mut bins {
        *min_bin = 0.3;
    }
    assert_eq!(
        err(vec![bins], 0),
        "config field layers[0].min_bin = 0.3 is out of range: allowed in (0, 1/bins)"
    );
}

/// A small `FlowConfig::alanine_spline` (one coupling per group, K = 4, width 8): identity at
/// initialisation (log q is the IC prior), and its f32 cast agrees with f64 on log q and on
/// the c-tangent.
#[test]
fn alanine_spline_preset_starts_at_the_prior_and_casts_to_f32() {
    use trade_flows::{Condition, IcPrior};
    let fresh = FlowModel::new(FlowConfig::alanine_spline(1, 4, 8, 1)).unwrap();
    let x = unit_points(6, 48);
    let c = test_conditions(x.nrows());
    let mut t: Tape = Tape::new();
    let xv = t.constant(x.clone());
    let prior = IcPrior::alanine()
        .log_prob(&mut t, &ParamStore::new(), xv, &Condition::none())
        .unwrap();
    let prior = t.value(prior).to_owned();
    let lp = log_prob(&fresh, &x, &c);
    assert!((&lp - &prior).iter().all(|d| d.abs() < 1e-10));

    let m = perturbed(FlowConfig::alanine_spline(1, 4, 8, 1), 0.1, 3);
    let m32 = m.to_f32().unwrap();
    let eval = |f32_path: bool| -> (Vec<f64>, Vec<f64>) {
        if f32_path {
            let mut t: Tape<f32> = Tape::new();
            let cv = t.condition(c.mapv(|v| v as f32));
            let xv = t.constant(x.mapv(|v| v as f32));
            let lp = m32
                .flow
                .log_prob(&mut t, &m32.params, xv, &Condition::c(cv));
            let lp = lp.unwrap();
            let g = t.tangent(lp).unwrap();
            let v = |a: Var| t.value(a).iter().map(|&x| x as f64).collect();
            (v(lp), v(g))
        } else {
            let mut t: Tape = Tape::new();
            let cv = t.condition(c.clone());
            let xv = t.constant(x.clone());
            let lp = m.flow.log_prob(&mut t, &m.params, xv, &Condition::c(cv));
            let lp = lp.unwrap();
            let g = t.tangent(lp).unwrap();
            let v = |a: Var| t.value(a).iter().copied().collect();
            (v(lp), v(g))
        }
    };
    let ((lp64, g64), (lp32, g32)) = (eval(false), eval(true));
    assert!(g64.iter().any(|g| g.abs() > 1e-4), "the c-path is active");
    for (a, b) in lp64.iter().zip(&lp32).chain(g64.iter().zip(&g32)) {
        assert!(
            (a - b).abs() < 1e-3 * a.abs().max(1.0),
            "f64 {a} vs f32 {b}"
        );
    }
}
