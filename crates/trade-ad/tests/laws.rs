//! Algebraic laws as property tests.

use ndarray::Array2;
use proptest::prelude::*;
use trade_ad::Tape;

fn arr(v: &[f64], cols: usize) -> Array2<f64> {
    Array2::from_shape_vec((v.len() / cols, cols), v.to_vec()).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// ∇ Σ eˣ = eˣ and the tangent of eˣ along 1 is eˣ.
    #[test]
    fn exp_is_its_own_derivative(v in prop::collection::vec(-5.0f64..5.0, 6)) {
        let mut t: Tape = Tape::new();
        let x = t.leaf_with_tangent(arr(&v, 3), Array2::ones((2, 3)));
        let y = t.exp(x);
        let d = t.tangent(y).unwrap();
        prop_assert_eq!(t.value(d).to_owned(), t.value(y).to_owned());
        let s = t.sum(y, None);
        let g = t.backward(s);
        prop_assert_eq!(g.wrt(x).unwrap().clone(), t.value(y).to_owned());
    }

    /// Softmax rows sum to one and log-sum-exp is shift-equivariant.
    #[test]
    fn softmax_and_logsumexp(v in prop::collection::vec(-30.0f64..30.0, 8), a in -50.0f64..50.0) {
        let mut t: Tape = Tape::new();
        let x = t.constant(arr(&v, 4));
        let sm = t.softmax(x);
        for r in t.value(sm).rows() {
            prop_assert!((r.sum() - 1.0).abs() < 1e-12);
        }
        let l = t.logsumexp(x, Some(ndarray::Axis(1)));
        let xa = t.add_scalar(x, a);
        let la = t.logsumexp(xa, Some(ndarray::Axis(1)));
        for (p, q) in t.value(l).iter().zip(t.value(la).iter()) {
            prop_assert!((p + a - q).abs() < 1e-9 * (1.0 + q.abs()));
        }
    }

    /// Gathering with a permutation and then its inverse is the identity.
    #[test]
    fn permutation_round_trip(v in prop::collection::vec(-1.0f64..1.0, 10), seed in 0u64..1000) {
        let mut idx: Vec<usize> = (0..5).collect();
        let mut s = seed;
        for i in (1..5).rev() {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            idx.swap(i, (s >> 33) as usize % (i + 1));
        }
        let mut inv = vec![0; 5];
        for (j, &i) in idx.iter().enumerate() { inv[i] = j; }
        let mut t: Tape = Tape::new();
        let x = t.constant(arr(&v, 5));
        let p = t.gather_cols(x, &idx);
        let back = t.gather_cols(p, &inv);
        prop_assert_eq!(t.value(back).to_owned(), t.value(x).to_owned());
    }

    /// Softplus stays finite and equals ln(1+eˣ) where that is representable.
    #[test]
    fn softplus_stable(x in -800.0f64..800.0) {
        let mut t: Tape = Tape::new();
        let v = t.constant(Array2::from_elem((1, 1), x));
        let s = t.softplus(v);
        let y = t.scalar(s);
        prop_assert!(y.is_finite() && y >= 0.0);
        if x.abs() < 30.0 {
            prop_assert!((y - x.exp().ln_1p()).abs() < 1e-12);
        }
    }
}
