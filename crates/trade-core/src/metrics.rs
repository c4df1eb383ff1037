//! Metrics of `method.md` §13: NLL, KLD, bootstrap errors, histogram KL, coverage curves.

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

/// Nominal levels of the coverage curves (`method.md` §13.6, project choice): 0.05, 0.15, …, 0.95.
pub const COVERAGE_LEVELS: [f64; 10] = [0.05, 0.15, 0.25, 0.35, 0.45, 0.55, 0.65, 0.75, 0.85, 0.95];

/// Per pair and level: does `truth[i]` fall inside the central credible interval of `draws[i]`
/// at that level (empirical quantiles `(1 − ℓ)/2` and `(1 + ℓ)/2`, linear interpolation)?
/// Pairs whose draws contain a non-finite value count as misses. Errors on mismatched lengths,
/// empty draws or a level outside (0, 1).
pub fn coverage_hits(
    truth: &[f64],
    draws: &[Vec<f64>],
    levels: &[f64],
) -> Result<Vec<Vec<bool>>, crate::CoreError> {
    if truth.len() != draws.len() {
        return Err(crate::CoreError::Dimension {
            what: "coverage: sets of draws (one per true value)",
            expected: truth.len(),
            got: draws.len(),
        });
    }
    if let Some(l) = levels.iter().find(|l| !(**l > 0.0 && **l < 1.0)) {
        return Err(crate::error::out_of_range("coverage level", l, "(0, 1)"));
    }
    truth
        .iter()
        .zip(draws)
        .map(|(&t, d)| {
            if d.is_empty() {
                return Err(crate::CoreError::Dimension {
                    what: "coverage: draws of a pair (at least)",
                    expected: 1,
                    got: 0,
                });
            }
            let mut s = d.clone();
            if s.iter().any(|v| !v.is_finite()) {
                return Ok(vec![false; levels.len()]);
            }
            s.sort_by(f64::total_cmp);
            Ok(levels
                .iter()
                .map(|&l| quantile(&s, (1.0 - l) / 2.0) <= t && t <= quantile(&s, (1.0 + l) / 2.0))
                .collect())
        })
        .collect()
}

/// Empirical quantile of sorted values, linear interpolation between order statistics.
pub fn quantile(sorted: &[f64], p: f64) -> f64 {
    let h = p.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let (lo, hi) = (h.floor() as usize, h.ceil() as usize);
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

/// Empirical coverage per level (fraction of pairs whose truth lies inside the interval), with
/// a 95 % band from `n_boot` bootstrap resamples of the pairs (2.5 and 97.5 percentiles):
/// `(coverage, lower, upper)` per level.
pub fn coverage_curve<R: Rng + ?Sized>(
    hits: &[Vec<bool>],
    n_boot: usize,
    rng: &mut R,
) -> Vec<(f64, f64, f64)> {
    let n = hits.len();
    let levels = hits.first().map_or(0, Vec::len);
    let frac = |idx: &mut dyn Iterator<Item = usize>, l: usize| {
        let (mut k, mut m) = (0usize, 0usize);
        for i in idx {
            k += hits[i][l] as usize;
            m += 1;
        }
        k as f64 / m.max(1) as f64
    };
    let mut boot = vec![Vec::with_capacity(n_boot); levels];
    for _ in 0..n_boot {
        let idx: Vec<usize> = (0..n).map(|_| rng.random_range(0..n)).collect();
        for (l, b) in boot.iter_mut().enumerate() {
            b.push(frac(&mut idx.iter().copied(), l));
        }
    }
    (0..levels)
        .map(|l| {
            let c = frac(&mut (0..n), l);
            let b = &mut boot[l];
            b.sort_by(f64::total_cmp);
            if b.is_empty() {
                (c, c, c)
            } else {
                (c, quantile(b, 0.025), quantile(b, 0.975))
            }
        })
        .collect()
}
