//! `MatmulPrecision::F32`: f32 products of rounded operands, close to f64, deterministic.

use ndarray::{Array2, s};
use rand::SeedableRng;
use trade_ad::{Activation, DataParallel, LastLayer, MatmulPrecision, Mlp, ParamStore, Tape};

fn matrix(rows: usize, cols: usize, phase: f64) -> Array2<f64> {
    Array2::from_shape_fn((rows, cols), |(i, j)| {
        ((i * 31 + j * 17) as f64 * 0.1234 + phase).sin()
    })
}

fn product(precision: MatmulPrecision, ta: bool, tb: bool) -> Array2<f64> {
    let mut t: Tape = Tape::new();
    t.set_matmul_precision(precision);
    let a = t.leaf(if ta {
        matrix(40, 30, 0.1)
    } else {
        matrix(30, 40, 0.1)
    });
    let b = t.leaf(if tb {
        matrix(20, 40, 0.7)
    } else {
        matrix(40, 20, 0.7)
    });
    let y = t.matmul_t(a, b, ta, tb);
    t.value(y).to_owned()
}

/// Every transpose combination: within f32 rounding of the f64 product, and equal to the f64
/// product of the f32-rounded operands to f32 accumulation accuracy — so it is an f32 product.
#[test]
fn f32_products_are_f32_accurate() {
    for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
        let exact = product(MatmulPrecision::Native, ta, tb);
        let mixed = product(MatmulPrecision::F32, ta, tb);
        assert_eq!(exact.dim(), (30, 20));
        let err = (&exact - &mixed).iter().fold(0.0f64, |m, v| m.max(v.abs()));
        assert!(err < 1e-5, "ta={ta} tb={tb}: max error {err:e}");
        assert!(
            err > 1e-10,
            "ta={ta} tb={tb}: no f32 rounding visible ({err:e})"
        );
    }
}

/// An f32 tape ignores the setting: the same bits either way.
#[test]
fn f32_tape_is_unchanged() {
    let run = |precision| {
        let mut t: Tape<f32> = Tape::new();
        t.set_matmul_precision(precision);
        let a = t.leaf(matrix(8, 5, 0.3).mapv(|v| v as f32));
        let b = t.leaf(matrix(5, 3, 0.9).mapv(|v| v as f32));
        let y = t.matmul(a, b);
        t.value(y).to_owned()
    };
    assert_eq!(run(MatmulPrecision::Native), run(MatmulPrecision::F32));
}

fn setup() -> (ParamStore, Mlp, Array2<f64>, Array2<f64>) {
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(4);
    let mut store = ParamStore::new();
    let mlp = Mlp::new(
        &mut store,
        "m",
        &[4, 64, 64, 2],
        Activation::Silu,
        LastLayer::Default,
        &mut rng,
    )
    .unwrap();
    (
        store,
        mlp,
        matrix(97, 3, 0.2),
        matrix(97, 1, 1.3).mapv(|v| 1.0 + 0.5 * v),
    )
}

/// A TRADE-shaped loss (square of ∂_c of the output) and its parameter gradients.
fn trade_gradients(
    precision: MatmulPrecision,
    chunk: usize,
    threads: usize,
) -> (f64, Vec<Array2<f64>>) {
    let (store, mlp, x, c) = setup();
    let n = x.nrows();
    let mut dp = DataParallel::new(chunk).with_matmul_precision(precision);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    let (loss, grads, _) = pool.install(|| {
        dp.run(n, |t: &mut Tape, rows| {
            let xv = t.constant(x.slice(s![rows.clone(), ..]).to_owned());
            let cv = t.condition(c.slice(s![rows, ..]).to_owned());
            let h = t.concat_cols(&[xv, cv]);
            let y = mlp.forward(t, &store, h);
            let g = t.tangent(y).unwrap();
            let sq = t.square(g);
            let l = t.sum(sq, None);
            (t.scale(l, 1.0 / n as f64), ())
        })
    });
    let g = store
        .ids()
        .filter_map(|id| grads.param(id).cloned())
        .collect();
    (loss, g)
}

/// Second order through f32 products (forward, tangent and reverse sweep) stays within f32
/// accuracy of the f64 gradient, and is bit-identical for any thread count.
#[test]
fn second_order_gradients_close_to_f64_and_deterministic() {
    let (l64, g64) = trade_gradients(MatmulPrecision::Native, 32, 1);
    let (l32, g32) = trade_gradients(MatmulPrecision::F32, 32, 1);
    assert!((l64 - l32).abs() <= 1e-5 * l64.abs(), "loss {l64} vs {l32}");
    for (a, b) in g64.iter().zip(&g32) {
        let scale = a.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let err = (a - b).iter().fold(0.0f64, |m, v| m.max(v.abs()));
        assert!(
            err <= 1e-4 * scale,
            "gradient error {err:e} at scale {scale:e}"
        );
    }
    let (l2, g2) = trade_gradients(MatmulPrecision::F32, 32, 2);
    assert_eq!(l32.to_bits(), l2.to_bits());
    assert_eq!(g32, g2);
}
