//! Parameters, optimiser, schedules and clipping against hand-computed PyTorch semantics.

use approx::assert_relative_eq;
use ndarray::{Array2, array};
use rand::SeedableRng;
use trade_ad::{
    AdError, Adam, AdamConfig, Gradients, Init, OneCycle, ParamStore, Schedule, Tape,
    clip_grad_norm,
};

fn store_with(values: Array2<f64>) -> (ParamStore, trade_ad::ParamId) {
    let mut s = ParamStore::new();
    let id = s.add_value("w", values).unwrap();
    (s, id)
}

fn grads_of(store: &ParamStore, id: trade_ad::ParamId, g: Array2<f64>) -> Gradients {
    // Σ g ⊙ w has gradient g.
    let mut t: Tape = Tape::new();
    let w = t.param(store, id);
    let gv = t.constant(g);
    let p = t.mul(w, gv);
    let l = t.sum(p, None);
    t.backward(l)
}

#[test]
fn adam_first_step_is_lr_times_sign() {
    let (mut store, id) = store_with(array![[1.0, -2.0, 3.0]]);
    let g = grads_of(&store, id, array![[0.5, -4.0, 1e-3]]);
    let mut adam = Adam::new(AdamConfig::default()).unwrap();
    adam.step(&mut store, &g, 0.1, None);
    let want = [
        1.0 - 0.1 * 0.5 / (0.5 + 1e-8),
        -2.0 + 0.1 * 4.0 / (4.0 + 1e-8),
        3.0 - 0.1 * 1e-3 / (1e-3 + 1e-8),
    ];
    for (a, b) in store.get(id).iter().zip(want) {
        assert_relative_eq!(*a, b, max_relative = 1e-12);
    }
}

#[test]
fn adam_weight_decay_is_added_to_the_gradient() {
    let (mut store, id) = store_with(array![[2.0]]);
    let g = grads_of(&store, id, array![[0.0]]);
    let mut adam = Adam::new(AdamConfig {
        weight_decay: 0.1,
        ..Default::default()
    })
    .unwrap();
    adam.step(&mut store, &g, 0.01, None);
    // g_eff = 0.2 > 0, so the first step moves by −lr.
    assert_relative_eq!(
        store.get(id)[[0, 0]],
        2.0 - 0.01 * 0.2 / (0.2 + 1e-8),
        max_relative = 1e-12
    );
}

#[test]
fn adam_rejects_bad_config_naming_the_field() {
    let e = Adam::new(AdamConfig {
        beta2: 1.0,
        ..Default::default()
    })
    .unwrap_err();
    assert!(e.to_string().contains("adam.beta2"), "{e}");
    assert!(matches!(e, AdError::OutOfRange { .. }));
}

#[test]
fn one_cycle_matches_pytorch_endpoints() {
    let s = OneCycle::new(1e-3, 100);
    let (lr0, b0) = s.at(0);
    assert_relative_eq!(lr0, 1e-3 / 25.0, max_relative = 1e-12);
    assert_relative_eq!(b0, 0.95, max_relative = 1e-12);
    let (lr_peak, b_peak) = s.at(29); // end of phase 1 = 0.3·100 − 1
    assert_relative_eq!(lr_peak, 1e-3, max_relative = 1e-12);
    assert_relative_eq!(b_peak, 0.85, max_relative = 1e-12);
    let (lr_end, b_end) = s.at(99);
    assert_relative_eq!(lr_end, 1e-3 / 25.0 / 1e4, max_relative = 1e-9);
    assert_relative_eq!(b_end, 0.95, max_relative = 1e-12);
    // Inside each phase: end + (start − end)(1 + cos πp)/2.
    let init = 1e-3 / 25.0;
    let p = 10.0 / 29.0;
    let want = 1e-3 + (init - 1e-3) * (1.0 + (std::f64::consts::PI * p).cos()) / 2.0;
    assert_relative_eq!(s.at(10).0, want, max_relative = 1e-12);
    let p2 = (60.0 - 29.0) / (99.0 - 29.0);
    let want2 = init / 1e4 + (1e-3 - init / 1e4) * (1.0 + (std::f64::consts::PI * p2).cos()) / 2.0;
    assert_relative_eq!(s.at(60).0, want2, max_relative = 1e-12);
}

#[test]
fn multi_cycle_restarts_with_scaled_peak() {
    let s = Schedule::multi_cycle(1e-3, &[10, 20], &[3.0]);
    assert_relative_eq!(s.at(0).0, 1e-3 / 25.0, max_relative = 1e-12);
    assert_relative_eq!(s.at(10).0, 3e-3 / 25.0, max_relative = 1e-12);
    let peak = (10..30).map(|k| s.at(k).0).fold(0.0, f64::max);
    assert_relative_eq!(peak, 3e-3, max_relative = 1e-12);
}

#[test]
fn clip_uses_pytorch_formula() {
    let (store, id) = store_with(array![[0.0, 0.0]]);
    let mut g = grads_of(&store, id, array![[3.0, 4.0]]);
    let norm = clip_grad_norm(&mut g, 1.0);
    assert_relative_eq!(norm, 5.0);
    let c = 1.0 / (5.0 + 1e-6);
    assert_relative_eq!(g.param(id).unwrap()[[0, 1]], 4.0 * c, max_relative = 1e-15);
    let norm2 = clip_grad_norm(&mut g, 10.0); // below the threshold: untouched
    assert_relative_eq!(norm2, 5.0 * c, max_relative = 1e-12);
}

#[test]
fn save_load_round_trip_is_bit_exact() {
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(11);
    let mut store: ParamStore = ParamStore::new();
    store
        .add("a", (3, 4), Init::XavierNormal { gain: 1.0 }, &mut rng)
        .unwrap();
    store
        .add_value("tiny", array![[1e-310, -0.0, 1.0 / 3.0, f64::MAX]])
        .unwrap();
    let b = store
        .add("b", (1, 4), Init::TorchLinear { fan_in: 3 }, &mut rng)
        .unwrap();
    store.set_trainable(b, false);
    let back = ParamStore::<f64>::from_json(&store.to_json()).unwrap();
    for id in store.ids() {
        assert_eq!(back.name(id), store.name(id));
        assert_eq!(back.is_trainable(id), store.is_trainable(id));
        let bits = |s: &ParamStore, id| {
            s.get(id)
                .iter()
                .map(|v: &f64| v.to_bits())
                .collect::<Vec<_>>()
        };
        assert_eq!(bits(&back, id), bits(&store, id));
    }
}

#[test]
fn seeded_init_is_deterministic_and_names_are_unique() {
    let make = || {
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(5);
        let mut s: ParamStore = ParamStore::new();
        s.add("w", (4, 4), Init::Normal(1.0), &mut rng).unwrap();
        s
    };
    let (a, b) = (make(), make());
    let id = a.id("w").unwrap();
    assert_eq!(a.get(id), b.get(id));
    let mut s = make();
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(5);
    assert_eq!(
        s.add("w", (1, 1), Init::Zeros, &mut rng).unwrap_err(),
        AdError::DuplicateParam("w".into())
    );
}

#[test]
fn malformed_parameter_file_is_an_error() {
    assert!(matches!(
        ParamStore::<f64>::from_json("{"),
        Err(AdError::ParamFile(_))
    ));
    let bad = r#"[{"name":"w","shape":[2,2],"trainable":true,"values":[1.0]}]"#;
    let e = ParamStore::<f64>::from_json(bad).unwrap_err();
    assert!(e.to_string().contains("\"w\""), "{e}");
}
