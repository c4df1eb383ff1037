//! xtask: developer and reproduction tasks (`cargo xtask --help`).
fn main() {}
