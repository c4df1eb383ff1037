//! Layer laws (`flows.md` §2.5) for every layer and whole flows: inverse(forward(x)) = x
//! (including far outside the spline domain), log-det against a numerical Jacobian, and
//! gradients, c-tangents and mixed second derivatives against the trade-ad oracle.

mod common;

use common::*;
use ndarray::{Array2, array, s};
use trade_ad::testing::{gradcheck, second_order_check, tangent_check};
use trade_ad::{Tape, Var};
use trade_flows::config::ConditionConfig;
use trade_flows::conv::ConvSpec;
use trade_flows::{
    BaseConfig, ConditionInput, ConditionerConfig, Distribution, FlowConfig, FlowModel,
    LayerConfig, PermutationKind, Phi4Arch, Scaling,
};

fn mlp() -> ConditionerConfig {
    ConditionerConfig::mlp(&[8])
}

fn rq() -> LayerConfig {
    LayerConfig::RqCoupling {
        conditioner: mlp(),
        bins: 4,
        bound: 3.0,
        min_bin: 0.1,
    }
}

fn affine(learnable_clamp: bool) -> LayerConfig {
    LayerConfig::AffineCoupling {
        conditioner: mlp(),
        clamp: 0.3,
        learnable_clamp,
    }
}

fn config(dim: usize, input: ConditionInput, y_dim: usize, layers: Vec<LayerConfig>) -> FlowConfig {
    FlowConfig {
        dim,
        augmentation_dims: 0,
        condition: ConditionConfig { input, y_dim },
        layers,
        base: BaseConfig::Gaussian {
            scaling: Scaling::Temperature,
        },
        seed: 11,
    }
}

/// A small CNN on a 2×2 image (3×3 wraps onto itself there: every tap is exercised).
fn cnn() -> ConditionerConfig {
    ConditionerConfig::Cnn {
        height: 2,
        width: 2,
        hidden: vec![
            ConvSpec {
                channels: 3,
                kernel: 3,
            },
            ConvSpec {
                channels: 3,
                kernel: 1,
            },
        ],
        activation: Default::default(),
        init: trade_flows::InitScheme::Xavier,
        zero_last: true,
    }
}

/// The φ⁴ model of `flows.md` §7 on a 4×4 lattice with one block of each kind and tiny widths.
fn phi4_small() -> FlowConfig {
    let mut c = FlowConfig::phi4(&Phi4Arch {
        lattice: 4,
        conv_blocks: 1,
        fc_blocks: 1,
        cnn_channels: vec![3, 3, 2],
        fc_hidden: vec![6],
        scaling_hidden: vec![4],
        embedding_hidden: vec![4],
        bins: 4,
        // Standardised over a range wider than the test conditions' (0.5 + 0.17 i): the nested
        // finite differences of the mixed second-order check need the points away from the
        // splines' knots and tail bounds, where second derivatives jump.
        embedding_range: Some((0.3, 3.0)),
    });
    c.seed = 11;
    c
}

/// The φ⁴ layers (`flows.md` §3, §7) on their own and as a small φ⁴ flow.
fn phi4_cases() -> Vec<(&'static str, FlowConfig)> {
    use ConditionInput::*;
    let emb = || Embedding {
        hidden: vec![4],
        standardise: Option::None,
    };
    vec![
        (
            "global_scaling",
            config(
                3,
                emb(),
                0,
                vec![LayerConfig::GlobalScaling {
                    conditioner: FlowConfig::loop_b_conditioner(&[6, 6]),
                }],
            ),
        ),
        (
            "global_scaling_log_c_y",
            config(
                3,
                LogC,
                1,
                vec![LayerConfig::GlobalScaling { conditioner: mlp() }],
            ),
        ),
        (
            "space_to_depth",
            config(
                16,
                LogC,
                0,
                vec![LayerConfig::SpaceToDepth {
                    channels: 1,
                    height: 4,
                    width: 4,
                }],
            ),
        ),
        (
            "channel_actnorm",
            config(
                16,
                LogC,
                0,
                vec![LayerConfig::ChannelActNorm { channels: 4 }],
            ),
        ),
        (
            "channel_permutation",
            config(
                16,
                LogC,
                0,
                vec![LayerConfig::ChannelPermutation { channels: 4 }],
            ),
        ),
        (
            "rq_coupling_cnn_embedding",
            config(
                16,
                emb(),
                0,
                vec![LayerConfig::RqCoupling {
                    conditioner: cnn(),
                    bins: 4,
                    bound: 3.0,
                    min_bin: 0.1,
                }],
            ),
        ),
        ("flow_phi4_small", phi4_small()),
    ]
}

/// (name, config): one case per layer kind and conditioning route, plus whole flows.
fn cases() -> Vec<(&'static str, FlowConfig)> {
    let mut all = base_cases();
    all.extend(phi4_cases());
    all
}

fn base_cases() -> Vec<(&'static str, FlowConfig)> {
    use ConditionInput::*;
    let cond_affine = LayerConfig::ConditionalAffine { conditioner: mlp() };
    let perm = LayerConfig::Permutation {
        kind: PermutationKind::Random,
    };
    let resnet = ConditionerConfig::ResNet {
        width: 8,
        blocks: 1,
        activation: Default::default(),
        init: Default::default(),
        zero_last: true,
    };
    vec![
        ("affine_coupling", config(3, LogC, 0, vec![affine(false)])),
        (
            "affine_learnable_clamp",
            config(3, LogC, 0, vec![affine(true), affine(true)]),
        ),
        (
            "affine_resnet",
            config(
                3,
                LogC,
                0,
                vec![LayerConfig::AffineCoupling {
                    conditioner: resnet,
                    clamp: 0.3,
                    learnable_clamp: false,
                }],
            ),
        ),
        (
            "gin_coupling",
            config(
                3,
                LogC,
                0,
                vec![LayerConfig::GinCoupling {
                    conditioner: mlp(),
                    clamp: 0.3,
                }],
            ),
        ),
        ("rq_coupling", config(3, LogC, 0, vec![rq()])),
        ("rq_coupling_d2_y", config(2, LogC, 2, vec![rq()])),
        (
            "rq_coupling_embedding",
            config(
                3,
                Embedding {
                    hidden: vec![4],
                    standardise: Option::None,
                },
                0,
                vec![rq()],
            ),
        ),
        (
            "rq_coupling_embedding_standardised",
            config(
                3,
                Embedding {
                    hidden: vec![4],
                    standardise: Some(trade_flows::Standardise::log_range(0.5, 2.0)),
                },
                0,
                vec![rq()],
            ),
        ),
        (
            "rq_coupling_xavier",
            config(
                3,
                LogC,
                0,
                vec![LayerConfig::RqCoupling {
                    conditioner: FlowConfig::loop_b_conditioner(&[8, 8]),
                    bins: 10,
                    bound: 3.0,
                    min_bin: 0.1,
                }],
            ),
        ),
        ("actnorm", config(3, LogC, 0, vec![LayerConfig::ActNorm])),
        ("permutation", config(3, LogC, 0, vec![perm.clone()])),
        (
            "orthogonal",
            config(3, LogC, 0, vec![LayerConfig::Orthogonal]),
        ),
        (
            "conditional_affine",
            config(3, LogC, 0, vec![cond_affine.clone()]),
        ),
        (
            "flow_rq_multi_well",
            config(
                5,
                LogC,
                0,
                vec![rq(), perm.clone(), rq(), perm.clone(), cond_affine.clone()],
            ),
        ),
        (
            "flow_glow_actnorm",
            config(
                4,
                LogC,
                1,
                vec![
                    affine(true),
                    perm.clone(),
                    LayerConfig::ActNorm,
                    affine(true),
                    cond_affine.clone(),
                ],
            ),
        ),
        ("flow_tsf", {
            let mut c = FlowConfig::temperature_steerable(3, 0, 2, &[8]);
            c.layers.push(LayerConfig::Orthogonal);
            c
        }),
        ("flow_precision_base", {
            let mut c = config(2, LogC, 0, vec![rq(), perm.clone(), rq()]);
            c.base = BaseConfig::Gaussian {
                scaling: Scaling::Precision,
            };
            c
        }),
    ]
}

/// Whole φ⁴ flows are tested on fields in the physical range: every site in [−4, 4] (HMC
/// configurations at κ ≤ 0.33 stay within about ±3.5). Far outside it (all 16 sites at 25–60,
/// or 10³–10⁴) the global scaling feeds the CNN conditioners saturated inputs and the composed
/// map becomes ill-conditioned (measured: log-det 5e-4 relative vs the numerical Jacobian at
/// row 7 of `test_points`, round trip 3e-6), although every φ⁴ layer on its own passes those
/// rows (the other cases).
fn is_phi4_flow(name: &str) -> bool {
    name.starts_with("flow_phi4")
}

fn points_for(name: &str, d: usize) -> Array2<f64> {
    if is_phi4_flow(name) {
        grid(10, d, 8.0)
    } else {
        test_points(d)
    }
}

fn gradient_points_for(name: &str, d: usize) -> Array2<f64> {
    if is_phi4_flow(name) {
        grid(7, d, 8.0)
    } else {
        gradient_points(d)
    }
}

fn model(cfg: FlowConfig) -> FlowModel {
    perturbed(cfg, 0.25, 5)
}

#[test]
fn inverse_of_forward_is_identity_everywhere() {
    for (name, cfg) in cases() {
        let m = model(cfg);
        let d = m.flow.dim();
        let x = points_for(name, d);
        let c = test_conditions(x.nrows());
        let (z, ld) = transform(&m, &x, &c);
        let (back, ld_inv) = inverse(&m, &z, &c);
        let err = (&back - &x).mapv(f64::abs);
        for (i, row) in err.rows().into_iter().enumerate() {
            let scale = x.row(i).iter().fold(1.0f64, |a, v| a.max(v.abs()));
            let e = row.iter().fold(0.0f64, |a, &v| a.max(v)) / scale;
            // 1e-10 relative to the size of the point (absolute inside the domain).
            assert!(e < 1e-10, "{name}: row {i} round-trip error {e:e}");
        }
        let ld_sum = (&ld + &ld_inv)
            .mapv(f64::abs)
            .fold(0.0f64, |a, &v| a.max(v));
        assert!(ld_sum < 1e-9, "{name}: log-dets do not cancel: {ld_sum:e}");
        assert!(z.iter().all(|v| v.is_finite()), "{name}: non-finite latent");
        // And the other way round: forward(inverse(z)) = z.
        let (xi, _) = inverse(&m, &x, &c);
        let (zz, _) = transform(&m, &xi, &c);
        let e2 = (&zz - &x)
            .mapv(f64::abs)
            .iter()
            .zip(x.iter())
            .map(|(e, v)| e / v.abs().max(1.0))
            .fold(0.0, f64::max);
        assert!(e2 < 1e-10, "{name}: forward(inverse(z)) error {e2:e}");
    }
}

#[test]
fn log_det_matches_numerical_jacobian() {
    for (name, cfg) in cases() {
        let m = model(cfg);
        let d = m.flow.dim();
        let x = points_for(name, d);
        let c = test_conditions(x.nrows());
        let (_, ld) = transform(&m, &x, &c);
        for i in 0..x.nrows() {
            let xi = x.slice(s![i..=i, ..]).to_owned();
            let ci = c.slice(s![i..=i, ..]).to_owned();
            let num = numerical_log_det(|xp| transform(&m, xp, &ci).0, &xi);
            // Central differences with step ∛ε·max(1, |x|): ~1e-9 relative on smooth maps.
            let err = (num - ld[[i, 0]]).abs() / ld[[i, 0]].abs().max(1.0);
            assert!(
                err < 1e-6,
                "{name}: row {i}: log-det {} vs numerical {num} ({err:e})",
                ld[[i, 0]]
            );
        }
    }
}

/// log q(x|c) recorded from leaves x and condition c (the oracle's calling convention).
fn log_prob_fn(m: &FlowModel) -> impl Fn(&mut Tape<f64>, &[Var], Var) -> Var + '_ {
    move |t, xs, c| {
        let cvals = t.value(c).to_owned();
        let cond = condition(m, t, Some(c), &cvals);
        m.flow.log_prob(t, &m.params, xs[0], &cond).unwrap()
    }
}

#[test]
fn x_gradient_c_tangent_and_mixed_second_order_match_the_oracle() {
    for (name, cfg) in cases() {
        let m = model(cfg);
        let d = m.flow.dim();
        let x = gradient_points_for(name, d);
        let c = test_conditions(x.nrows());
        let f = log_prob_fn(&m);
        let cvals = c.clone();
        let f_x = |t: &mut Tape<f64>, xs: &[Var]| {
            let cv = t.constant(cvals.clone());
            let cond = condition(&m, t, Some(cv), &cvals);
            m.flow.log_prob(t, &m.params, xs[0], &cond).unwrap()
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
        let d = m.flow.dim();
        let x = gradient_points_for(name, d);
        let c = test_conditions(x.nrows());
        for tangent in [false, true] {
            let errors = parameter_gradient_errors(&m, |st| param_loss(&m, st, &x, &c, tangent));
            for (param, err) in errors {
                // Central differences of a smooth loss: ~1e-9; the tangent loss is one
                // derivative deeper, so allow 1e-6. The composed φ⁴ flow moves every point
                // through 4 spline stages, so some perturbation crosses a knot inside the step,
                // where log|dy/dx| has a kink: measured at 5.actnorm.log_scale[1], FD − analytic
                // = 2.3e-6 with step 6e-6 but 8e-8 with step 6e-7 (O(h) kink error, not a rule
                // error). Allow 1e-5 there.
                let tol = if is_phi4_flow(name) { 1e-5 } else { 1e-6 };
                assert!(
                    err < tol,
                    "{name}: param {param} (tangent loss: {tangent}) error {err:e}"
                );
            }
        }
    }
}

#[test]
fn identity_at_init_gives_the_base_density() {
    // Zero last layers: every coupling and the conditional affine start as the identity.
    let m = FlowModel::new(FlowConfig::multi_well(5, 3, &[16]).with_zero_last(true)).unwrap();
    let x = test_points(5);
    let c = test_conditions(x.nrows());
    let lp = log_prob(&m, &x, &c);
    for i in 0..x.nrows() {
        let r2: f64 = x.row(i).iter().map(|v| v * v).sum();
        let t = c[[i, 0]];
        let expect = -r2 / (2.0 * t) - 2.5 * (2.0 * std::f64::consts::PI * t).ln();
        assert!(
            (lp[[i, 0]] - expect).abs() < 1e-9 * expect.abs().max(1.0),
            "row {i}"
        );
    }
}

#[test]
fn per_sample_tangents_do_not_mix_rows() {
    let m = model(config(
        3,
        ConditionInput::LogC,
        0,
        vec![rq(), LayerConfig::ConditionalAffine { conditioner: mlp() }],
    ));
    let x = test_points(3);
    let g_at = |c: &Array2<f64>| {
        let mut t: Tape = Tape::new();
        let cv = t.condition(c.clone());
        let xv = t.constant(x.clone());
        let lp = m
            .flow
            .log_prob(&mut t, &m.params, xv, &trade_flows::Condition::c(cv))
            .unwrap();
        t.value(t.tangent(lp).unwrap()).to_owned()
    };
    let c = test_conditions(x.nrows());
    let mut c2 = c.clone();
    c2[[3, 0]] *= 1.7;
    let (g1, g2) = (g_at(&c), g_at(&c2));
    for i in (0..x.nrows()).filter(|&i| i != 3) {
        assert_eq!(g1[[i, 0]].to_bits(), g2[[i, 0]].to_bits(), "row {i} moved");
    }
    assert!((g1[[3, 0]] - g2[[3, 0]]).abs() > 1e-6);
}

#[test]
fn actnorm_data_init_standardises_the_first_batch() {
    let mut m = FlowModel::new(config(
        3,
        ConditionInput::None,
        0,
        vec![LayerConfig::ActNorm],
    ))
    .unwrap();
    let x = grid(50, 3, 4.0).mapv(|v| 3.0 * v + 1.5);
    m.flow.data_init(&mut m.params, &x, None, None).unwrap();
    let c = Array2::ones((50, 1));
    let (z, _) = transform(&m, &x, &c);
    for j in 0..3 {
        let col = z.column(j);
        let mean = col.mean().unwrap();
        let var = col.mapv(|v| (v - mean).powi(2)).mean().unwrap();
        assert!(
            mean.abs() < 1e-12 && (var - 1.0).abs() < 1e-12,
            "dim {j}: {mean} {var}"
        );
    }
}

#[test]
fn zero_raw_spline_is_identity_with_unit_tails_after_init() {
    let m = FlowModel::new(config(2, ConditionInput::LogC, 0, vec![rq()])).unwrap();
    let x = array![[-100.0, 2.9], [0.3, -3.5], [3.0, -3.0]];
    let c = array![[1.0], [2.0], [0.5]];
    let (z, ld) = transform(&m, &x, &c);
    assert!((&z - &x).iter().all(|v| v.abs() < 1e-12));
    assert!(ld.iter().all(|v| v.abs() < 1e-12));
}

/// Rows 300–3000× outside the domain: the couplings' conditioners then see huge inputs and
/// produce extreme splines (softplus saturates, inner derivatives underflow towards 0), so the
/// round trip is limited by conditioning, not by the tails (measured worst ≈ 6e-6 relative);
/// it must stay finite and accurate to 1e-4 relative. Each spline on its own is exact there (see `spline_tails_far_outside`).
#[test]
fn extreme_points_stay_finite_and_invertible() {
    let mut worst = 0.0f64;
    for (name, cfg) in cases().into_iter().filter(|(n, _)| !is_phi4_flow(n)) {
        let m = model(cfg);
        let d = m.flow.dim();
        let x = Array2::from_shape_fn((4, d), |(i, j)| {
            [-1e3, 1e3, -1e4, 1e4][i] * (1.0 + 0.1 * j as f64)
        });
        let c = test_conditions(4);
        let (z, ld) = transform(&m, &x, &c);
        assert!(z.iter().chain(ld.iter()).all(|v| v.is_finite()), "{name}");
        let (back, _) = inverse(&m, &z, &c);
        for i in 0..4 {
            let scale = x.row(i).iter().fold(1.0f64, |a, v| a.max(v.abs()));
            let e = (&back.row(i) - &x.row(i))
                .iter()
                .fold(0.0f64, |a, v| a.max(v.abs()))
                / scale;
            worst = worst.max(e);
            assert!(e < 1e-4, "{name}: row {i}: relative round-trip error {e:e}");
        }
    }
    assert!(worst < 1e-4, "worst {worst:e}");
}

#[test]
fn spline_tails_far_outside_are_exact_and_linear() {
    use trade_flows::layers::RqSpline;
    let spline = RqSpline::new(8);
    let x = array![[-1e6], [-1e3], [-3.2], [0.4], [2.5], [7.0], [1e3], [1e6]];
    let raw = grid(1, 25, 3.0)
        .broadcast((x.nrows(), 25))
        .unwrap()
        .to_owned();
    let mut t: Tape = Tape::new();
    let r = t.constant(raw);
    let xv = t.constant(x.clone());
    let (y, ld) = spline.forward_flat(&mut t, r, xv);
    let (back, ld_inv) = spline.inverse_flat(&mut t, r, y);
    for i in 0..x.nrows() {
        let e = (t.value(back)[[i, 0]] - x[[i, 0]]).abs() / x[[i, 0]].abs().max(1.0);
        assert!(e < 1e-12, "row {i}: {e:e}");
        assert!((t.value(ld)[[i, 0]] + t.value(ld_inv)[[i, 0]]).abs() < 1e-12);
    }
    // Both tails lie on one line: equal slopes and log-dets at −1e6 and 1e6.
    let yv = t.value(y);
    let slope = (yv[[7, 0]] - yv[[0, 0]]) / 2e6;
    assert!((t.value(ld)[[0, 0]] - slope.ln()).abs() < 1e-9);
    assert!((t.value(ld)[[7, 0]] - slope.ln()).abs() < 1e-9);
}

/// Sampling and reverse KL differentiate through the inverse: its z-gradient (of Σ W ⊙ x plus
/// the log-det) must match the oracle inside the spline domain and in both tails (a tail row
/// once made every gradient NaN through the clamped discriminant's √).
#[test]
fn inverse_gradient_matches_the_oracle_including_tails() {
    for (name, cfg) in cases() {
        let m = model(cfg);
        let d = m.flow.dim();
        let z = gradient_points_for(name, d);
        let c = test_conditions(z.nrows());
        let f = |t: &mut Tape<f64>, zs: &[Var]| {
            let cv = t.constant(c.clone());
            let cond = condition(&m, t, Some(cv), &c);
            let (x, ld) = m
                .flow
                .inverse_transform(t, &m.params, zs[0], &cond)
                .unwrap();
            let p = project(t, x);
            let l = t.sum(ld, None);
            t.add(p, l)
        };
        gradcheck(&f, std::slice::from_ref(&z), 1e-6).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}
