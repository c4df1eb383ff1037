//! φ⁴ training loss: NLL with one random lattice symmetry per batch (`targets.md` §5.1:
//! flips, global sign, cyclic shifts). The reverse KL with κ log-uniform on the TRADE range is
//! trade-core's `ReverseKl::log_uniform`.

use ndarray::Array2;
use rand::Rng;
use rand_xoshiro::Xoshiro256PlusPlus;
use std::ops::Range;
use trade_ad::{Tape, Var};
use trade_core::loss::{LossBatch, StepCtx};
use trade_core::{CoreError, Loss};

/// One symmetry of the N×N torus with the global Z₂: `y[i, j] = sign · x[src(i, j)]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Symmetry {
    /// Lattice side N.
    pub n: usize,
    /// Horizontal flip j → N − 1 − j.
    pub flip_h: bool,
    /// Vertical flip i → N − 1 − i.
    pub flip_v: bool,
    /// Global sign flip.
    pub negate: bool,
    /// Cyclic shift (rows, columns), each drawn uniformly from [−N/2, N/2 − 1].
    pub shift: (i64, i64),
}

impl Symmetry {
    /// Draws one transform: each flip with probability ½, shifts uniform in [−N/2, N/2 − 1].
    pub fn random<R: Rng + ?Sized>(n: usize, rng: &mut R) -> Self {
        let h = (n / 2) as i64;
        Self {
            n,
            flip_h: rng.random(),
            flip_v: rng.random(),
            negate: rng.random(),
            shift: (rng.random_range(-h..h), rng.random_range(-h..h)),
        }
    }

    /// Applies the transform to every row of `x` (n_rows, N²), in place.
    pub fn apply(&self, x: &mut Array2<f64>) {
        let n = self.n;
        let ni = n as i64;
        let sign = if self.negate { -1.0 } else { 1.0 };
        let src: Vec<usize> = (0..n * n)
            .map(|p| {
                let (i, j) = ((p / n) as i64, (p % n) as i64);
                let i = (i - self.shift.0).rem_euclid(ni);
                let j = (j - self.shift.1).rem_euclid(ni);
                let i = if self.flip_v { ni - 1 - i } else { i };
                let j = if self.flip_h { ni - 1 - j } else { j };
                (i * ni + j) as usize
            })
            .collect();
        for mut row in x.rows_mut() {
            let old = row.to_vec();
            for (o, &k) in row.iter_mut().zip(&src) {
                *o = sign * old[k];
            }
        }
    }
}

/// A loss whose batches get one random lattice symmetry each (drawn from the step's RNG).
pub struct Symmetrised<L> {
    /// The wrapped loss (NLL).
    pub inner: L,
    /// Lattice side N.
    pub lattice: usize,
}

impl<L: Loss> Loss for Symmetrised<L> {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn prepare(
        &mut self,
        ctx: &StepCtx<'_>,
        rng: &mut Xoshiro256PlusPlus,
    ) -> Result<LossBatch, CoreError> {
        let mut batch = self.inner.prepare(ctx, rng)?;
        Symmetry::random(self.lattice, rng).apply(&mut batch.x);
        Ok(batch)
    }

    fn per_sample(
        &self,
        tape: &mut Tape,
        ctx: &StepCtx<'_>,
        batch: &LossBatch,
        rows: Range<usize>,
    ) -> Result<Var, CoreError> {
        self.inner.per_sample(tape, ctx, batch, rows)
    }

    fn finish(&mut self, batch: &LossBatch, per_sample: &[f64]) {
        self.inner.finish(batch, per_sample);
    }

    fn state(&self) -> serde_json::Value {
        self.inner.state()
    }

    fn restore(&mut self, state: &serde_json::Value) -> Result<(), CoreError> {
        self.inner.restore(state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use trade_targets::Phi4;

    #[test]
    fn symmetries_preserve_the_action() {
        let phi4 = Phi4::default();
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(5);
        let x = Array2::from_shape_fn((3, 64), |(r, j)| {
            ((r * 31 + j * 17) % 11) as f64 * 0.3 - 1.4
        });
        for _ in 0..20 {
            let t = Symmetry::random(8, &mut rng);
            let mut y = x.clone();
            t.apply(&mut y);
            for (a, b) in x.rows().into_iter().zip(y.rows()) {
                let (sa, sb) = (
                    phi4.action(&a.to_vec(), 0.27),
                    phi4.action(&b.to_vec(), 0.27),
                );
                assert!((sa - sb).abs() < 1e-12 * sa.abs().max(1.0), "{t:?}");
            }
        }
        // A pure shift by (1, 0) moves row i to row i + 1.
        let t = Symmetry {
            n: 8,
            flip_h: false,
            flip_v: false,
            negate: false,
            shift: (1, 0),
        };
        let mut y = x.clone();
        t.apply(&mut y);
        assert_eq!(y[[0, 8 + 3]].to_bits(), x[[0, 3]].to_bits());
    }
}
