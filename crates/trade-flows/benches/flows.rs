#![allow(missing_docs)]
//! Flow benchmarks (filled in by the flows issue).
fn main() {}
