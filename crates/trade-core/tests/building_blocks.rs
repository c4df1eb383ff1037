//! The model-independent building blocks against hand-computed values.

use approx::assert_relative_eq;
use ndarray::array;
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};
use rand_xoshiro::Xoshiro256PlusPlus;
use trade_ad::Tape;
use trade_core::*;

#[test]
fn snis_recovers_a_shifted_gaussian_mean() {
    // Proposal N(0,1), target N(0.5,1): log w = x·0.5 − 0.125; E_p[x] = 0.5.
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(1);
    let x: Vec<f64> = (0..200_000)
        .map(|_| StandardNormal.sample(&mut rng))
        .collect();
    let log_w: Vec<f64> = x.iter().map(|x| 0.5 * x).collect();
    let est = snis_mean(&log_w, &x, 0.5).unwrap();
    assert!((est.value - 0.5).abs() < 0.01, "{}", est.value);
    // Kish ESS of this weight family is exp(−0.25) = 77.9 %.
    assert!(
        (est.ess_percent - 100.0 * (-0.25f64).exp()).abs() < 1.0,
        "{}",
        est.ess_percent
    );
}

#[test]
fn snis_ignores_infinite_energies_and_errors_when_nothing_is_left() {
    let est = snis_mean(&[0.0, f64::NEG_INFINITY, 0.0], &[1.0, 100.0, 3.0], 1.0).unwrap();
    assert_relative_eq!(est.value, 2.0, max_relative = 1e-12);
    let e = snis_mean(&[f64::NEG_INFINITY, f64::NAN], &[1.0, 2.0], 0.7).unwrap_err();
    assert!(e.to_string().contains("c = 0.7"), "{e}");
}

#[test]
fn ess_of_equal_and_degenerate_weights() {
    assert_relative_eq!(
        effective_sample_size(&[3.0; 10]),
        100.0,
        max_relative = 1e-12
    );
    let mut one = vec![f64::NEG_INFINITY; 10];
    one[3] = 0.0;
    assert_relative_eq!(effective_sample_size(&one), 10.0, max_relative = 1e-12);
}

#[test]
fn prior_side_probability_and_log_uniform_limit() {
    let p = ConditionPrior::new(0.4, 1.1).unwrap();
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(2);
    // At the last step e = s_max = 1.5; at e = 1 the prior is log-uniform. Check the side
    // probability l_hi/(l_hi − l_lo) = 0.0942 (method.md §8.1) and the range.
    let n = 200_000;
    let draws: Vec<f64> = (0..n).map(|_| p.sample(1000, 1000, &mut rng)).collect();
    let above = draws.iter().filter(|&&c| c > 1.0).count() as f64 / n as f64;
    assert!((above - 0.0942).abs() < 0.003, "{above}");
    assert!(draws.iter().all(|&c| (0.4..=1.1).contains(&c)));
    // Early in training the draws concentrate at 1.
    let early: f64 = (0..1000)
        .map(|_| (p.sample(0, 1000, &mut rng).ln()).abs())
        .sum::<f64>()
        / 1000.0;
    assert!(early < 0.02, "{early}");
}

#[test]
fn prior_rejects_ranges_without_the_boundary() {
    let e = ConditionPrior::new(1.2, 2.0).unwrap_err();
    assert!(e.to_string().contains("prior.c_min"), "{e}");
    let e = ConditionPrior::new(0.5, 0.9).unwrap_err();
    assert!(e.to_string().contains("prior.c_max"), "{e}");
}

#[test]
fn loss_weight_schedule_is_flat_then_half_cosine() {
    let w = LossWeight {
        pct_start: 0.2,
        start_value: 0.0,
        end_value: 1.0,
        ..LossWeight::constant(1.0, 1e9, 1e3)
    };
    assert_relative_eq!(w.scheduled(0, 100), 0.0);
    assert_relative_eq!(w.scheduled(19, 100), 0.0);
    assert_relative_eq!(w.scheduled(20, 100), 0.0);
    assert_relative_eq!(w.scheduled(60, 100), 0.5, max_relative = 1e-12);
    assert_relative_eq!(w.scheduled(100, 100), 1.0, max_relative = 1e-12);
}

#[test]
fn per_sample_clip_values_and_tape_version() {
    let (clip, log_clip) = (1e3, 10.0);
    assert_relative_eq!(clip_value(5.0, clip, log_clip), 5.0);
    assert_relative_eq!(clip_value(20.0, clip, log_clip), 10.0 + 11.0f64.ln());
    assert_relative_eq!(clip_value(f64::NAN, clip, log_clip), 10.0 + 991.0f64.ln());
    let mut t: Tape = Tape::new();
    let v = t.leaf(array![[5.0], [20.0], [f64::NAN], [5e3]]);
    let c = clip_per_sample(&mut t, v, clip, log_clip);
    let got = t.value(c).to_owned();
    for (g, x) in got.iter().zip([5.0, 20.0, f64::NAN, 5e3]) {
        assert_relative_eq!(*g, clip_value(x, clip, log_clip), max_relative = 1e-14);
    }
    let s = t.sum(c, None);
    let grads = t.backward(s);
    let g = grads.wrt(v).unwrap();
    assert_relative_eq!(g[[0, 0]], 1.0);
    assert_relative_eq!(g[[1, 0]], 1.0 / 11.0, max_relative = 1e-14); // d/dv ln(1 + v − L)
    assert_relative_eq!(g[[3, 0]], 0.0);
}

#[test]
fn adaptive_single_loss_relaxes_to_one() {
    let cfg = [
        LossWeight::constant(1.0, 1e9, 1e3),
        LossWeight {
            adaptive: true,
            adaptive_init: 1e-3,
            alpha: 0.1,
            ..LossWeight::constant(1.0, 1e9, 1e3)
        },
    ];
    let mut a = AdaptiveWeights::new(&cfg);
    a.update(&cfg, &[Some(2.0), Some(0.5)], 10);
    assert_relative_eq!(a.weights[1], 0.1 + 0.9 * 1e-3, max_relative = 1e-12);
    assert_relative_eq!(a.weights[0], 1.0);
}

#[test]
fn annealing_weight_loop_b() {
    let mut w = AnnealingWeight::new(0.1, 0.355);
    w.update(1.0, 3.0);
    let bc = 0.1 + 0.9 * 4.0 / (3.0 + 1e-4);
    let r = 0.1 * 1e-3 + 0.9 * 4.0 / (1.0 + 1e-4);
    assert_relative_eq!(w.effective(), 0.355 * r / bc, max_relative = 1e-12);
}

#[test]
fn multi_well_grid_has_51_points_with_base_one() {
    let g = ConditionGrid::log_spaced(0.4, 1.1, 50, &[1.0]).unwrap();
    assert_eq!(g.len(), 51);
    assert_relative_eq!(g.points[g.bases[0]], 1.0);
    assert!(g.points.windows(2).all(|w| w[0] < w[1]));
    let phi4 = ConditionGrid::log_spaced(0.22, 0.32, 148, &[0.25, 0.29]).unwrap();
    assert_eq!(phi4.len(), 150);
    assert!(ConditionGrid::log_spaced(0.4, 1.1, 50, &[2.0]).is_err());
}

#[test]
fn causality_logits_loop_a_by_hand() {
    let grid = ConditionGrid {
        points: vec![0.5, 0.7, 1.0, 1.2, 1.4],
        bases: vec![2],
    };
    let mut c = Causality::new(CausalityRule::LoopA, 5, 0.5, 1.0);
    c.running = vec![1.0, 2.0, 4.0, 8.0, 16.0];
    c.refresh_logits(&grid, 0.1);
    // Below the base: k = 0 sums j = 1, 2 → 6; k = 1 sums j = 2 → 4. Above: k = 3 → 4; k = 4 → 12.
    let want = [-0.6, -0.4, 0.0, -0.4, -1.2];
    for (l, w) in c.logits.iter().zip(want) {
        assert_relative_eq!(*l, w, max_relative = 1e-12);
    }
    c.update_running(&[0, 0, 4], &[3.0, 5.0, 0.0]);
    assert_relative_eq!(c.running[0], 0.5 * 1.0 + 0.5 * 4.0);
    assert_relative_eq!(c.running[4], 8.0);
}

#[test]
fn causality_between_two_bases_interpolates() {
    // Bases at 0 and 5; k = 1 is next to base 0: a = (dist to far − 1)/(between − 2) = 3/3 = 1.
    let grid = ConditionGrid {
        points: (0..6).map(|i| 1.0 + i as f64).collect(),
        bases: vec![0, 5],
    };
    let mut c = Causality::new(CausalityRule::LoopBV1, 6, 0.5, 0.5);
    c.running = vec![1.0; 6];
    c.refresh_logits(&grid, 1.0);
    assert_relative_eq!(
        c.logits[1],
        (-1.0f64).exp().ln() * 0.5,
        max_relative = 1e-12
    );
    // k = 2: near base 0 (sum 2), far base 5 (sum j = 3..5 → 3); a = (3 − 1)/3.
    let a = 2.0 / 3.0;
    let want = (a * (-2.0f64).exp() + (1.0 - a) * (-3.0f64).exp()).ln() * 0.5;
    assert_relative_eq!(c.logits[2], want, max_relative = 1e-12);
    assert_relative_eq!(c.logits[0], 0.0);
    assert_relative_eq!(c.logits[5], 0.0);
}

#[test]
fn causality_sampling_is_uniform_at_start_and_seeded() {
    let c = Causality::new(CausalityRule::LoopA, 4, 0.5, 1.0);
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(3);
    let draws = c.sample(40_000, &mut rng);
    for k in 0..4 {
        let f = draws.iter().filter(|&&d| d == k).count() as f64 / 40_000.0;
        assert!((f - 0.25).abs() < 0.01);
    }
    let again = c.sample(10, &mut Xoshiro256PlusPlus::seed_from_u64(3));
    assert_eq!(again, draws[..10]);
}

#[test]
fn expectation_table_blends() {
    let mut t = ExpectationTable::new(2, 0.5);
    t.update(0, 4.0);
    t.update(0, 2.0);
    assert_relative_eq!(t.values[0].unwrap(), 3.0);
    assert!(!t.is_complete());
}

#[test]
fn residuals_match_their_formulas() {
    let mut t: Tape = Tape::new();
    let r = t.constant(array![[0.1], [3.0]]);
    let cases = [
        (Residual::Mse, [0.01, 9.0]),
        (Residual::SmoothL1 { delta: 1.0 }, [0.005, 2.5]),
        (Residual::Huber { delta: 2.0 }, [0.005, 4.0]),
        (Residual::Mae, [0.1, 3.0]),
    ];
    for (res, want) in cases {
        let y = res.apply(&mut t, r);
        for (g, w) in t.value(y).iter().zip(want) {
            assert_relative_eq!(*g, w, max_relative = 1e-12);
        }
    }
    assert!(Residual::Huber { delta: 0.0 }.validate().is_err());
}

#[test]
fn atomic_write_replaces_and_leaves_no_temp() {
    let dir = std::env::temp_dir().join(format!("trade-core-ckpt-{}", std::process::id()));
    let path = dir.join("state.json");
    checkpoint::write_atomic(&path, b"one").unwrap();
    checkpoint::write_atomic(&path, b"two").unwrap();
    assert_eq!(checkpoint::read(&path).unwrap(), b"two");
    assert!(!dir.join("state.json.tmp").exists());
    let e = checkpoint::read(&dir.join("missing.json")).unwrap_err();
    assert!(e.to_string().contains("missing.json"));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn histogram_kl_is_zero_for_identical_sets_and_positive_otherwise() {
    let p: Vec<(f64, f64)> = (0..1000)
        .map(|i| ((i as f64 * 0.37).sin() * 3.0, (i as f64 * 0.11).cos() * 3.0))
        .collect();
    assert_relative_eq!(metrics::histogram_kl_2d(&p, &p, 30, -3.2, 3.2), 0.0);
    // Two cells: P = (½, ½), Q = (¾, ¼): KL = ½ ln(2/3) + ½ ln 2 = ½ ln(4/3).
    let p2 = [(-1.0, -1.0), (1.0, 1.0)];
    let q2 = [(-1.0, -1.0), (-1.0, -1.0), (-1.0, -1.0), (1.0, 1.0)];
    assert_relative_eq!(
        metrics::histogram_kl_2d(&p2, &q2, 2, -2.0, 2.0),
        0.5 * (4.0f64 / 3.0).ln(),
        max_relative = 1e-12
    );
}

#[test]
fn coverage_of_a_calibrated_posterior_is_nominal_and_of_a_narrow_one_is_low() {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(3);
    let mut normal = || -> f64 { StandardNormal.sample(&mut rng) };
    let n_pairs = 2000;
    let truth: Vec<f64> = (0..n_pairs).map(|_| normal()).collect();
    let draws: Vec<Vec<f64>> = (0..n_pairs)
        .map(|_| (0..200).map(|_| normal()).collect())
        .collect();
    let narrow: Vec<Vec<f64>> = draws
        .iter()
        .map(|d| d.iter().map(|v| 0.3 * v).collect())
        .collect();
    let levels = metrics::COVERAGE_LEVELS;
    let hits = metrics::coverage_hits(&truth, &draws, &levels).unwrap();
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(4);
    let curve = metrics::coverage_curve(&hits, 200, &mut rng);
    for (&l, &(c, lo, hi)) in levels.iter().zip(&curve) {
        assert!((c - l).abs() < 0.04, "level {l}: coverage {c}");
        assert!(lo <= c && c <= hi && hi - lo < 0.06, "band ({lo}, {hi})");
    }
    let hits = metrics::coverage_hits(&truth, &narrow, &levels).unwrap();
    let curve = metrics::coverage_curve(&hits, 0, &mut rng);
    assert!(curve[9].0 < 0.6, "an over-confident posterior under-covers");
    // Interpolated quantile, errors.
    assert_relative_eq!(metrics::quantile(&[0.0, 1.0, 2.0], 0.75), 1.5);
    assert!(metrics::coverage_hits(&[0.0], &[], &levels).is_err());
    assert!(metrics::coverage_hits(&[0.0], &[vec![1.0]], &[1.0]).is_err());
    assert_eq!(
        metrics::coverage_hits(&[0.0], &[vec![f64::NAN, 0.0]], &[0.5]).unwrap(),
        vec![vec![false]]
    );
}
