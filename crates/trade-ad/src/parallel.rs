//! Data parallelism with fixed chunks: one tape per chunk on the rayon pool, gradients reduced
//! in chunk order, so the result does not depend on the number of threads.

use crate::{Float, Gradients, MatmulPrecision, Tape, Var};
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use rayon::prelude::*;
use std::ops::Range;

/// Splits `0..n` into consecutive ranges of at most `chunk_rows` rows (the last may be shorter).
pub fn chunk_ranges(n: usize, chunk_rows: usize) -> Vec<Range<usize>> {
    let chunk_rows = chunk_rows.max(1);
    (0..n.div_ceil(chunk_rows))
        .map(|k| k * chunk_rows..((k + 1) * chunk_rows).min(n))
        .collect()
}

/// A seeded RNG for an independent stream (chunk, epoch, evaluation point …) of a run:
/// `(seed, stream)` pairs give decorrelated states via SplitMix64 seeding.
pub fn rng_for(seed: u64, stream: u64) -> Xoshiro256PlusPlus {
    Xoshiro256PlusPlus::seed_from_u64(
        seed ^ stream.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15),
    )
}

/// One reusable tape per chunk.
///
/// The closure records the loss of one chunk of rows and returns its (1, 1) node plus any
/// per-chunk output; the chunk losses must add up to the batch loss (divide means by the full
/// batch size). The chunk boundaries depend only on `chunk_rows`, and the gradients and losses
/// are summed in chunk order, so the same inputs give the same bits for any thread count.
///
/// ```
/// use trade_ad::{DataParallel, ParamStore, Init, Tape};
/// use ndarray::{Array2, s};
/// use rand::SeedableRng;
///
/// let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(1);
/// let mut store: ParamStore = ParamStore::new();
/// let w = store.add("w", (3, 1), Init::Normal(1.0), &mut rng).unwrap();
/// let x = Array2::from_shape_fn((10, 3), |(i, j)| (i + j) as f64);
/// let mut dp = DataParallel::new(4);
/// let (loss, grads, _) = dp.run(10, |tape: &mut Tape, rows| {
///     let xv = tape.constant(x.slice(s![rows, ..]).to_owned());
///     let wv = tape.param(&store, w);
///     let y = tape.matmul(xv, wv);
///     let sq = tape.square(y);
///     let l = tape.sum(sq, None);
///     (tape.scale(l, 1.0 / 10.0), ())
/// });
/// assert!(loss > 0.0 && grads.param(w).is_some());
/// ```
pub struct DataParallel<F: Float = f64> {
    chunk_rows: usize,
    tapes: Vec<Tape<F>>,
    precision: MatmulPrecision,
}

impl<F: Float> DataParallel<F> {
    /// Chunks of `chunk_rows` rows (≥ 1).
    pub fn new(chunk_rows: usize) -> Self {
        Self {
            chunk_rows: chunk_rows.max(1),
            tapes: Vec::new(),
            precision: MatmulPrecision::Native,
        }
    }

    /// The same with the given matrix-product precision on every chunk's tape.
    pub fn with_matmul_precision(mut self, precision: MatmulPrecision) -> Self {
        self.precision = precision;
        self
    }

    /// Rows per chunk.
    pub fn chunk_rows(&self) -> usize {
        self.chunk_rows
    }

    /// Records and differentiates every chunk in parallel; returns the summed loss, the summed
    /// parameter gradients and the per-chunk outputs, all in chunk order.
    pub fn run<T, Fun>(&mut self, n_rows: usize, f: Fun) -> (F, Gradients<F>, Vec<T>)
    where
        T: Send,
        Fun: Fn(&mut Tape<F>, Range<usize>) -> (Var, T) + Sync,
    {
        let ranges = chunk_ranges(n_rows, self.chunk_rows);
        if self.tapes.len() < ranges.len() {
            self.tapes.resize_with(ranges.len(), Tape::new);
        }
        let results: Vec<(F, Gradients<F>, T)> = self
            .tapes
            .par_iter_mut()
            .zip(ranges.into_par_iter())
            .map(|(tape, rows)| {
                tape.clear();
                tape.set_matmul_precision(self.precision);
                let (loss, out) = f(tape, rows);
                let grads = tape.backward(loss);
                let value = tape.scalar(loss);
                // Release the tape's shared parameter values now (buffers stay pooled), so the
                // optimiser's update after this call does not copy every parameter on write.
                tape.clear();
                (value, grads, out)
            })
            .collect();
        let mut total = F::zero();
        let mut grads = Gradients::new();
        let mut outs = Vec::with_capacity(results.len());
        for (l, g, o) in results {
            total += l;
            grads.add_params(g);
            outs.push(o);
        }
        (total, grads, outs)
    }
}
