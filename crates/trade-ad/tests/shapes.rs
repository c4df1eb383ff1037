//! Bad shapes stop with a message naming the op and both shapes.

use ndarray::Array2;
use trade_ad::Tape;

fn two(a: (usize, usize), b: (usize, usize)) -> (Tape, trade_ad::Var, trade_ad::Var) {
    let mut t: Tape = Tape::new();
    let x = t.leaf(Array2::zeros(a));
    let y = t.leaf(Array2::zeros(b));
    (t, x, y)
}

#[test]
#[should_panic(expected = "add: shapes (2, 3) and (4, 3) cannot be broadcast together")]
fn add_mismatch() {
    let (mut t, a, b) = two((2, 3), (4, 3));
    t.add(a, b);
}

#[test]
#[should_panic(expected = "div: shapes (2, 3) and (2, 2) cannot be broadcast together")]
fn div_mismatch() {
    let (mut t, a, b) = two((2, 3), (2, 2));
    t.div(a, b);
}

#[test]
#[should_panic(expected = "matmul: shapes (2, 3) and (2, 3) are incompatible")]
fn matmul_mismatch() {
    let (mut t, a, b) = two((2, 3), (2, 3));
    t.matmul(a, b);
}

#[test]
#[should_panic(expected = "concat_cols: shapes (2, 3) and (4, 1) have different row counts")]
fn concat_mismatch() {
    let (mut t, a, b) = two((2, 3), (4, 1));
    t.concat_cols(&[a, b]);
}

#[test]
#[should_panic(expected = "select: mask (2, 3), a (2, 3) and b (3, 2) must have one shape")]
fn select_mismatch() {
    let (mut t, a, b) = two((2, 3), (3, 2));
    t.select(Array2::from_elem((2, 3), true), a, b);
}

#[test]
#[should_panic(expected = "backward: loss must have shape (1, 1), got (2, 3)")]
fn backward_needs_scalar() {
    let (t, a, _) = two((2, 3), (1, 1));
    t.backward(a);
}

#[test]
#[should_panic(expected = "slice_cols: range 2..5 out of bounds for shape (2, 3)")]
fn slice_out_of_bounds() {
    let (mut t, a, _) = two((2, 3), (1, 1));
    t.slice_cols(a, 2, 5);
}

#[test]
#[should_panic(expected = "backward: trainable parameters of 2 stores on one tape")]
fn two_trainable_stores_on_one_tape() {
    let mut a: trade_ad::ParamStore = trade_ad::ParamStore::new();
    let mut b: trade_ad::ParamStore = trade_ad::ParamStore::new();
    let ia = a.add_value("w", Array2::ones((1, 1))).unwrap();
    let ib = b.add_value("w", Array2::ones((1, 1))).unwrap();
    let mut t: Tape = Tape::new();
    let va = t.param(&a, ia);
    let vb = t.param(&b, ib);
    let s = t.add(va, vb);
    t.backward(s);
}

/// A frozen second store is fine (the Flows-for-Flows left base).
#[test]
fn a_frozen_second_store_is_allowed() {
    let mut a: trade_ad::ParamStore = trade_ad::ParamStore::new();
    let mut b: trade_ad::ParamStore = trade_ad::ParamStore::new();
    let ia = a.add_value("w", Array2::ones((1, 1))).unwrap();
    let ib = b.add_value("w", Array2::ones((1, 1))).unwrap();
    b.set_trainable(ib, false);
    let mut t: Tape = Tape::new();
    let va = t.param(&a, ia);
    let vb = t.param(&b, ib);
    let s = t.mul(va, vb);
    assert!(t.backward(s).param(ia).is_some());
}
