//! Metrics of `method.md` §13: NLL, KLD, bootstrap errors, histogram KL.

use rand::Rng;

/// Mean of `−log q` in nats per sample (§13.1).
pub fn nll(log_q: &[f64]) -> f64 {
    -log_q.iter().sum::<f64>() / log_q.len() as f64
}

/// `mean(log p − log q)` over samples of p (§13.3).
pub fn kl_divergence(log_p: &[f64], log_q: &[f64]) -> f64 {
    log_p.iter().zip(log_q).map(|(p, q)| p - q).sum::<f64>() / log_p.len() as f64
}

/// log Z estimate `LSE(log w) − ln N` from importance weights `log q̃ − log q`.
pub fn log_z_estimate(log_w: &[f64]) -> f64 {
    crate::snis::log_sum_exp(log_w) - (log_w.len() as f64).ln()
}

/// Mean and standard deviation (n − 1 denominator) of repeated runs.
pub fn mean_std(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    if values.len() < 2 {
        return (mean, 0.0);
    }
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, var.sqrt())
}

/// Standard deviation over `n_resamples` bootstrap resamples of `statistic(sample)`.
pub fn bootstrap_std<R: Rng + ?Sized>(
    values: &[f64],
    n_resamples: usize,
    rng: &mut R,
    statistic: impl Fn(&[f64]) -> f64,
) -> f64 {
    let n = values.len();
    let mut buf = vec![0.0; n];
    let stats: Vec<f64> = (0..n_resamples)
        .map(|_| {
            for b in buf.iter_mut() {
                *b = values[rng.random_range(0..n)];
            }
            statistic(&buf)
        })
        .collect();
    mean_std(&stats).1
}

/// KL(P‖Q) between two 2-D histograms on `[lo, hi]²` with `bins²` cells, each normalised to
/// sum 1, summed over cells where both are non-zero (§13.5: 30 bins on [−π, π]²).
pub fn histogram_kl_2d(p: &[(f64, f64)], q: &[(f64, f64)], bins: usize, lo: f64, hi: f64) -> f64 {
    let hist = |pts: &[(f64, f64)]| {
        let mut h = vec![0.0f64; bins * bins];
        let cell = |v: f64| {
            (((v - lo) / (hi - lo) * bins as f64).floor() as isize).clamp(0, bins as isize - 1)
                as usize
        };
        let mut n = 0.0;
        for &(a, b) in pts {
            if a.is_finite() && b.is_finite() && (lo..=hi).contains(&a) && (lo..=hi).contains(&b) {
                h[cell(a) * bins + cell(b)] += 1.0;
                n += 1.0;
            }
        }
        h.iter_mut().for_each(|v| *v /= n);
        h
    };
    let (hp, hq) = (hist(p), hist(q));
    hp.iter()
        .zip(&hq)
        .filter(|(a, b)| **a > 0.0 && **b > 0.0)
        .map(|(a, b)| a * (a / b).ln())
        .sum()
}
