//! Data parallel equals serial, and is bit-identical for any thread count.

use ndarray::{Array2, Axis, s};
use rand::SeedableRng;
use trade_ad::{Activation, DataParallel, LastLayer, Mlp, ParamStore, Tape};

fn setup() -> (ParamStore, Mlp, Array2<f64>, Array2<f64>) {
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(9);
    let mut store = ParamStore::new();
    let mlp = Mlp::new(
        &mut store,
        "m",
        &[3, 16, 16, 1],
        Activation::Silu,
        LastLayer::Default,
        &mut rng,
    )
    .unwrap();
    let x = Array2::from_shape_fn((103, 2), |(i, j)| ((i * 3 + j * 7) as f64 * 0.37).sin());
    let c = Array2::from_shape_fn((103, 1), |(i, _)| 0.5 + (i as f64) / 100.0);
    (store, mlp, x, c)
}

/// A TRADE-shaped loss: Σ (∂_c y)² / n over the chunk, through a conditional MLP.
fn run(
    dp: &mut DataParallel,
    store: &ParamStore,
    mlp: &Mlp,
    x: &Array2<f64>,
    c: &Array2<f64>,
) -> (f64, Vec<Array2<f64>>) {
    let n = x.nrows();
    let (loss, grads, _) = dp.run(n, |t: &mut Tape, rows| {
        let xv = t.constant(x.slice(s![rows.clone(), ..]).to_owned());
        let cv = t.condition(c.slice(s![rows, ..]).to_owned());
        let h = t.concat_cols(&[xv, cv]);
        let y = mlp.forward(t, store, h);
        let g = t.tangent(y).unwrap();
        let sq = t.square(g);
        let l = t.sum(sq, None);
        (t.scale(l, 1.0 / n as f64), ())
    });
    // The last bias gets no gradient: ∂_c y does not depend on it.
    (
        loss,
        store
            .ids()
            .filter_map(|id| grads.param(id).cloned())
            .collect(),
    )
}

#[test]
fn chunked_equals_single_chunk() {
    let (store, mlp, x, c) = setup();
    let (l1, g1) = run(&mut DataParallel::new(1000), &store, &mlp, &x, &c);
    let (l2, g2) = run(&mut DataParallel::new(16), &store, &mlp, &x, &c);
    assert!((l1 - l2).abs() <= 1e-12 * l1.abs().max(1.0));
    for (a, b) in g1.iter().zip(&g2) {
        let scale = a.iter().fold(1.0f64, |m, v| m.max(v.abs()));
        assert!((a - b).iter().all(|d| d.abs() <= 1e-12 * scale));
    }
}

#[test]
fn same_bits_for_any_thread_count() {
    let (store, mlp, x, c) = setup();
    let bits = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let (l, g) = run(&mut DataParallel::new(16), &store, &mlp, &x, &c);
            let mut b = vec![l.to_bits()];
            for a in g {
                b.extend(a.iter().map(|v| v.to_bits()));
            }
            b
        })
    };
    let one = bits(1);
    assert_eq!(one, bits(2));
    assert_eq!(one, bits(3));
}

#[test]
fn chunk_ranges_cover_the_batch_in_order() {
    let r = trade_ad::chunk_ranges(10, 4);
    assert_eq!(r, vec![0..4, 4..8, 8..10]);
    assert!(trade_ad::chunk_ranges(0, 4).is_empty());
    let _ = Axis(0);
}

#[test]
fn tape_clear_keeps_capacity() {
    let mut t: Tape = Tape::new();
    for _ in 0..100 {
        t.constant(Array2::zeros((1, 1)));
    }
    let cap = t.capacity();
    t.clear();
    assert!(t.is_empty());
    assert_eq!(t.capacity(), cap);
}

/// After a data-parallel step no tape still shares a parameter, so an optimiser update
/// writes in place instead of copying every parameter array.
#[test]
fn run_releases_parameters_for_in_place_updates() {
    let (mut store, mlp, x, c) = setup();
    let mut dp = DataParallel::new(16);
    let _ = run(&mut dp, &store, &mlp, &x, &c);
    let id = store.ids().next().unwrap();
    let before = store.get(id).as_ptr();
    store.get_mut(id)[[0, 0]] += 1.0;
    assert_eq!(
        store.get(id).as_ptr(),
        before,
        "parameter was copied on write"
    );
}
