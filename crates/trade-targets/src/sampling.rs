//! Reference samplers: the `ReferenceSampler` trait and per-stream seeding for parallel draws.
//!
//! Samplers take an explicit generator (style guide §5). Parallel samplers draw one `u64` from it
//! and give every chain or chunk its own stream [`rng_for`]`(seed, stream)`, so the same seed gives
//! the same numbers on any thread count.

use ndarray::Array2;
use rand::{RngCore, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

/// A sampler of exact (or reference-quality) draws at one fixed condition.
///
/// Object safe, so registries can hand out `Box<dyn ReferenceSampler>`.
pub trait ReferenceSampler: Send + Sync {
    /// Dimension d of a draw.
    fn dim(&self) -> usize;
    /// Draws `n` samples as an (n, d) array, consuming randomness from `rng` only.
    fn sample(&self, n: usize, rng: &mut dyn RngCore) -> Array2<f64>;
}

/// SplitMix64 finaliser: a bijective 64-bit mixer (Steele, Lea & Flood 2014).
fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The generator of stream `stream` under master seed `seed` (chains, row chunks).
///
/// ```
/// use rand::Rng;
/// let a: u64 = trade_targets::rng_for(7, 3).random();
/// let b: u64 = trade_targets::rng_for(7, 3).random();
/// assert_eq!(a, b);
/// ```
pub fn rng_for(seed: u64, stream: u64) -> Xoshiro256PlusPlus {
    Xoshiro256PlusPlus::seed_from_u64(splitmix64(seed ^ splitmix64(stream)))
}
