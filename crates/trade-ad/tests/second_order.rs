//! The mixed derivative ∂²/∂θ∂c of a 3-layer conditional MLP, the shape of TRADE's gradient.

use ndarray::{Array2, Axis, array};
use rand::SeedableRng;
use trade_ad::testing::second_order_check;
use trade_ad::{Activation, LastLayer, Mlp, ParamStore, Tape, Var};

fn grid(r: usize, c: usize, scale: f64) -> Array2<f64> {
    Array2::from_shape_fn((r, c), |(i, j)| {
        scale * (((i * 5 + j * 11 + 1) as f64 * 0.754_877_666).fract() - 0.5)
    })
}

/// log p(x|c) = MLP([x, log c]) for a per-sample column c; parameters as leaves.
fn conditional_mlp(t: &mut Tape<f64>, p: &[Var], c: Var, x: &Array2<f64>) -> Var {
    let xv = t.constant(x.clone());
    let logc = t.log(c);
    let mut h = t.concat_cols(&[xv, logc]);
    for k in 0..3 {
        let w = t.matmul(h, p[2 * k]);
        h = t.add(w, p[2 * k + 1]);
        if k < 2 {
            h = t.silu(h);
        }
    }
    h
}

#[test]
fn three_layer_conditional_mlp_mixed_derivative() {
    let x = grid(6, 2, 2.0);
    let params = vec![
        grid(3, 8, 1.2),
        grid(1, 8, 0.4),
        grid(8, 8, 0.8),
        grid(1, 8, 0.4),
        grid(8, 1, 0.8),
        grid(1, 1, 0.4),
    ];
    let c = array![[0.6], [0.8], [1.0], [1.3], [1.7], [2.2]];
    let f = |t: &mut Tape<f64>, p: &[Var], c: Var| conditional_mlp(t, p, c, &x);
    let report = second_order_check(&f, &params, &c, 1e-6, 1e-5).unwrap();
    assert!(report.max_error < 1e-6);
}

/// The same model through `ParamStore`/`Mlp`: per-parameter gradients of Σ ∂_c log p agree with
/// the leaf version (the tape treats shared parameters and leaves alike).
#[test]
fn store_parameters_get_the_same_mixed_gradient() {
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(3);
    let mut store: ParamStore = ParamStore::new();
    let mlp = Mlp::new(
        &mut store,
        "mlp",
        &[3, 8, 8, 1],
        Activation::Silu,
        LastLayer::Default,
        &mut rng,
    )
    .unwrap();
    let x = grid(6, 2, 2.0);
    let c = array![[0.6], [0.8], [1.0], [1.3], [1.7], [2.2]];

    let mut t: Tape = Tape::new();
    let cv = t.condition(c.clone());
    let xv = t.constant(x.clone());
    let logc = t.log(cv);
    let h = t.concat_cols(&[xv, logc]);
    let y = mlp.forward(&mut t, &store, h);
    let g = t.tangent(y).unwrap();
    let l = t.sum(g, None);
    let from_store = t.backward(l);

    let leaves: Vec<Array2<f64>> = store.ids().map(|id| store.get(id).clone()).collect();
    let mut t2: Tape = Tape::new();
    let p: Vec<Var> = leaves.iter().map(|a| t2.leaf(a.clone())).collect();
    let cv = t2.condition(c);
    let y = conditional_mlp(&mut t2, &p, cv, &x);
    let g = t2.tangent(y).unwrap();
    let l = t2.sum(g, None);
    let from_leaves = t2.backward(l);
    for (k, id) in store.ids().enumerate() {
        match (from_store.param(id), from_leaves.wrt(p[k])) {
            (Some(a), Some(b)) => assert!(
                (a - b).iter().all(|d| d.abs() < 1e-14),
                "{}",
                store.name(id)
            ),
            // The last bias does not enter ∂_c y: neither path reports a gradient for it.
            (None, None) => assert_eq!(store.name(id), "mlp.2.bias"),
            (a, b) => panic!("{}: store {a:?} vs leaves {b:?}", store.name(id)),
        }
    }
}

/// Rows do not mix: with per-sample c the tangent of row i is ∂y_i/∂c_i alone.
#[test]
fn per_sample_tangent_is_per_row_derivative() {
    let mut t: Tape = Tape::new();
    let c = t.condition(array![[1.0], [2.0], [3.0]]);
    let c2 = t.square(c);
    let s = t.sum(c2, Some(Axis(1)));
    let g = t.tangent(s).unwrap();
    assert_eq!(t.value(g).to_owned(), array![[2.0], [4.0], [6.0]]);
}

/// The element seam: the same ops on an f32 tape (first and second order).
#[test]
fn f32_tape_runs_the_same_ops() {
    let mut t: Tape<f32> = Tape::new();
    let w = t.leaf(array![[0.5f32]]);
    let c = t.condition(array![[2.0f32], [3.0]]);
    let wc = t.mul(w, c);
    let y = t.tanh(wc);
    let g = t.tangent(y).unwrap(); // w (1 − tanh²(wc))
    let l = t.sum(g, None);
    let grads = t.backward(l);
    let d = |c: f32| {
        let th = (0.5 * c).tanh();
        (1.0 - th * th) - 2.0 * 0.5 * c * th * (1.0 - th * th) // ∂/∂w [w (1 − tanh²(wc))]
    };
    let want = d(2.0) + d(3.0);
    assert!((grads.wrt(w).unwrap()[[0, 0]] - want).abs() < 1e-5);
}

/// Two stores on one tape keep their own parameters (the tape caches per store).
#[test]
fn two_stores_on_one_tape_do_not_alias() {
    let mut a: ParamStore = ParamStore::new();
    let mut b: ParamStore = ParamStore::new();
    let ia = a.add_value("w", array![[1.0]]).unwrap();
    let ib = b.add_value("w", array![[2.0]]).unwrap();
    assert_eq!(ia.index(), ib.index());
    let mut t: Tape = Tape::new();
    let va = t.param(&a, ia);
    let vb = t.param(&b, ib);
    assert_ne!(va, vb);
    assert_eq!(t.scalar(vb).to_bits(), 2.0f64.to_bits());
    let c = b.clone();
    let vc = t.param(&c, ib);
    assert_ne!(vc, vb);
    assert_eq!(t.param(&a, ia), va);
}
