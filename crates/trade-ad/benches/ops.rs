//! Criterion benchmarks of trade-ad (filled in below).

fn main() {}
