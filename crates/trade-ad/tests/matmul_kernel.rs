//! The matrix-product kernel (the `gemm` crate) against a naive triple loop: every transpose
//! combination, odd and degenerate shapes (inner dimension 0, empty outputs), f64 and f32
//! tapes, and the reverse rule's transposed products through a gradient.

use ndarray::Array2;
use trade_ad::Tape;

fn filled(m: usize, n: usize, seed: f64) -> Array2<f64> {
    Array2::from_shape_fn((m, n), |(i, j)| ((i * 31 + j * 17) as f64 * seed).sin())
}

fn naive(a: &Array2<f64>, b: &Array2<f64>) -> Array2<f64> {
    let (m, k, n) = (a.nrows(), a.ncols(), b.ncols());
    Array2::from_shape_fn((m, n), |(i, j)| (0..k).map(|l| a[[i, l]] * b[[l, j]]).sum())
}

const SHAPES: [(usize, usize, usize); 7] = [
    (1, 1, 1),
    (3, 4, 5),
    (65, 33, 17),
    (256, 6, 24),
    (7, 0, 3),
    (0, 4, 2),
    (5, 3, 0),
];

#[test]
fn every_transpose_combination_matches_the_naive_product() {
    for (m, k, n) in SHAPES {
        let (a, b) = (filled(m, k, 0.37), filled(k, n, 0.91));
        let expected = naive(&a, &b);
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            let mut t: Tape = Tape::new();
            // Store the operands transposed where op() transposes them back.
            let av = t.constant(if ta { a.t().to_owned() } else { a.clone() });
            let bv = t.constant(if tb { b.t().to_owned() } else { b.clone() });
            let y = t.matmul_t(av, bv, ta, tb);
            let got = t.value(y);
            assert_eq!(got.dim(), (m, n), "shape ({m}, {k}, {n}), ta {ta}, tb {tb}");
            let err = (&got - &expected)
                .iter()
                .fold(0.0f64, |e, v| e.max(v.abs()));
            assert!(
                err < 1e-12,
                "({m}, {k}, {n}) ta {ta} tb {tb}: max error {err}"
            );
        }
    }
}

#[test]
fn an_f32_tape_matches_the_naive_product() {
    let (a, b) = (filled(40, 23, 0.5), filled(23, 9, 0.2));
    let expected = naive(&a, &b);
    let mut t: Tape<f32> = Tape::new();
    let av = t.constant(a.mapv(|v| v as f32));
    let bv = t.constant(b.mapv(|v| v as f32));
    let y = t.matmul(av, bv);
    let err = t
        .value(y)
        .iter()
        .zip(&expected)
        .fold(0.0f64, |e, (g, x)| e.max((f64::from(*g) - x).abs()));
    assert!(err < 1e-5, "max error {err}");
}

#[test]
fn reverse_rule_products_match_the_naive_gradient() {
    // L = Σ (A·B) ⊙ W  ⇒  ∂A = W·Bᵀ, ∂B = Aᵀ·W.
    let (a, b, w) = (filled(11, 7, 0.3), filled(7, 5, 0.7), filled(11, 5, 1.3));
    let mut t: Tape = Tape::new();
    let (av, bv) = (t.leaf(a.clone()), t.leaf(b.clone()));
    let wv = t.constant(w.clone());
    let y = t.matmul(av, bv);
    let p = t.mul(y, wv);
    let l = t.sum(p, None);
    let g = t.backward(l);
    let ga = g.wrt(av).expect("∂A");
    let gb = g.wrt(bv).expect("∂B");
    let ea = naive(&w, &b.t().to_owned());
    let eb = naive(&a.t().to_owned(), &w);
    let max = |x: &Array2<f64>, y: &Array2<f64>| (x - y).iter().fold(0.0f64, |e, v| e.max(v.abs()));
    assert!(max(ga, &ea) < 1e-12 && max(gb, &eb) < 1e-12);
}
