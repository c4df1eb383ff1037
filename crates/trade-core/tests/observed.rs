//! Models with an extra condition y: `Nll::with_y`, and `TradeObserved` (per-observation SNIS,
//! `method.md` §6.3) on a small two-moons flow.

use ndarray::{Array1, Array2, Axis};
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use std::sync::Arc;
use trade_ad::{AdamConfig, MatmulPrecision, OneCycle, Schedule};
use trade_core::loss::{self, Nll, NoiseMode, ObservedEnergy, StepCtx, TradeObserved};
use trade_core::*;
use trade_flows::{FlowConfig, FlowModel};
use trade_targets::{Target, TwoMoons, two_moons};

/// A 2D flow conditioned on log β and y ∈ R², moved away from its initialisation.
fn flow() -> FlowModel {
    let mut config = FlowConfig::multi_well(2, 2, &[16]);
    config.condition.y_dim = 2;
    config.base = trade_flows::BaseConfig::Gaussian {
        scaling: trade_flows::Scaling::Standard,
    };
    let mut m = FlowModel::new(config).unwrap();
    for id in m.params.ids().collect::<Vec<_>>() {
        m.params
            .get_mut(id)
            .mapv_inplace(|v| v + 0.05 * (v * 7.0 + 1.3).sin());
    }
    m
}

fn observations() -> Arc<Array2<f64>> {
    Arc::new(Array2::from_shape_fn((5, 2), |(i, j)| {
        0.05 * (i as f64) - 0.1 * j as f64
    }))
}

fn log_prior() -> Arc<loss::LogPrior> {
    Arc::new(|x: ndarray::ArrayView2<f64>| {
        x.rows()
            .into_iter()
            .map(|r| two_moons::log_prior([r[0], r[1]]))
            .collect::<Array1<f64>>()
    })
}

fn trade(energy: ObservedEnergy) -> TradeObserved {
    TradeObserved {
        energy,
        prior: ConditionPrior::new(0.4, 2.1).unwrap(),
        c0: 1.0,
        observations: observations(),
        groups: 4,
        per_group: 32,
        residual: Residual::Mse,
        noise: NoiseMode::Raw,
    }
}

/// Self variant, raw points: each group has one y from the pool, and within each group the
/// SNIS-weighted mean of the targets t = Ê − ∂_β U is zero (one estimate per group, not pooled).
#[test]
fn self_variant_centres_each_group() {
    let m = flow();
    let mut l = trade(ObservedEnergy::SelfLikelihoodPower(log_prior()));
    let ctx = StepCtx {
        model: &m.flow,
        store: &m.params,
        step: 50,
        total: 100,
    };
    let b = l
        .prepare(&ctx, &mut Xoshiro256PlusPlus::seed_from_u64(3))
        .unwrap();
    assert_eq!(b.n, 128);
    let y = b.y.as_ref().unwrap();
    let c = b.c[[0, 0]];
    assert!(b.c.iter().all(|v| v.to_bits() == c.to_bits()));
    let t = b.target.as_ref().unwrap().column(0).to_owned();
    let pool = observations();
    for g in 0..4 {
        let rows: Vec<usize> = (g * 32..(g + 1) * 32).collect();
        let yg = y.select(Axis(0), &rows);
        let x = b.x.select(Axis(0), &rows);
        assert!(yg.rows().into_iter().all(|r| r == yg.row(0)));
        assert!(pool.rows().into_iter().any(|r| r == yg.row(0)));
        let lq = |v: f64| {
            loss::log_prob_with_y(
                &m.flow,
                &m.params,
                x.view(),
                Array2::from_elem((32, 1), v).view(),
                Some(yg.view()),
            )
            .unwrap()
        };
        let log_w = lq(c) - lq(1.0);
        let w = normalized_weights(log_w.as_slice().unwrap());
        let tg: Vec<f64> = rows.iter().map(|&i| t[i]).collect();
        let weighted: f64 = w.iter().zip(&tg).map(|(w, t)| w * t).sum::<f64>() / 32.0;
        let scale = tg.iter().map(|v| v.abs()).fold(0.0, f64::max);
        assert!(
            weighted.abs() < 1e-9 * scale.max(1.0),
            "group {g}: {weighted}"
        );
    }
}

/// Ground truth: rows outside the moon (∂_β U = +∞) are dropped; the rest are finite.
#[test]
fn ground_truth_variant_drops_rows_outside_the_support() {
    let m = flow();
    let at: Arc<loss::TargetAt> =
        Arc::new(|y: &[f64]| Ok(Arc::new(TwoMoons::new([y[0], y[1]]).unwrap()) as Arc<dyn Target>));
    let mut l = trade(ObservedEnergy::GroundTruth(at));
    // Draw many groups so that some samples of the untrained flow land inside a moon.
    l.groups = 8;
    l.per_group = 256;
    let ctx = StepCtx {
        model: &m.flow,
        store: &m.params,
        step: 0,
        total: 100,
    };
    match l.prepare(&ctx, &mut Xoshiro256PlusPlus::seed_from_u64(4)) {
        Ok(b) => {
            assert!(b.n < 8 * 256);
            assert_eq!(b.x.nrows(), b.n);
            assert_eq!(b.y.as_ref().unwrap().nrows(), b.n);
            assert!(b.target.unwrap().iter().all(|v| v.is_finite()));
        }
        Err(CoreError::NoValidWeights { .. }) => {}
        Err(e) => panic!("{e}"),
    }
}

/// NLL with y and per-observation TRADE train a few steps through the objective, finitely.
#[test]
fn nll_with_y_and_trade_observed_train() {
    let mut m = flow();
    let n = 256;
    let x = Arc::new(Array2::from_shape_fn((n, 2), |(i, j)| {
        0.2 * ((i * 7 + j * 3) as f64).sin()
    }));
    let y = Arc::new(Array2::from_shape_fn((n, 2), |(i, j)| {
        0.1 * ((i * 5 + j) as f64).cos()
    }));
    let ones = Arc::new(Array2::ones((n, 1)));
    let nll = Nll::new(x.clone(), ones.clone(), 64, 3e-4, 0).unwrap();
    assert!(
        Nll::new(x.clone(), ones.clone(), 64, 0.0, 0)
            .unwrap()
            .with_y(Arc::new(Array2::zeros((3, 2))))
            .is_err()
    );
    let mut tr = trade(ObservedEnergy::SelfLikelihoodPower(log_prior()));
    tr.observations = y.clone();
    let losses: Vec<(Box<dyn Loss>, LossWeight)> = vec![
        (
            Box::new(nll.with_y(y).unwrap()),
            LossWeight::constant(1.0, 1e9, 1e9),
        ),
        (Box::new(tr), LossWeight::constant(0.1, 1e9, 1e3)),
    ];
    let mut obj = WeightedObjective::new(&m.flow, losses).unwrap();
    let steps = 4;
    let s = Trainer::new(
        TrainConfig {
            steps,
            adam: AdamConfig::default(),
            schedule: Schedule::OneCycle(OneCycle::new(1e-3, steps)),
            grad_clip: 3.0,
            seed: 7,
            chunk_rows: 64,
            max_consecutive_nonfinite: 1,
            checkpoint_every: 0,
            matmul_precision: MatmulPrecision::Native,
        },
        None,
    )
    .unwrap()
    .run(&mut m.params, &mut obj, &mut Silent, None)
    .unwrap();
    assert!(s.last_loss.is_finite() && s.skipped == 0, "{s:?}");
}
