//! Self-normalised importance sampling (`method.md` §6.1) and the Kish effective sample size.

use crate::CoreError;

/// log Σ exp over finite entries; −∞ if none.
pub fn log_sum_exp(v: &[f64]) -> f64 {
    let m = v
        .iter()
        .copied()
        .filter(|x| !x.is_nan())
        .fold(f64::NEG_INFINITY, f64::max);
    if !m.is_finite() {
        return m;
    }
    m + v
        .iter()
        .filter(|x| !x.is_nan())
        .map(|x| (x - m).exp())
        .sum::<f64>()
        .ln()
}

/// Relative Kish ESS in percent: `exp(2·LSE(log w) − LSE(2 log w)) / N · 100` (`method.md`
/// §13.2). NaN log-weights count as zero weights; N counts every sample.
pub fn effective_sample_size(log_w: &[f64]) -> f64 {
    if log_w.is_empty() {
        return 0.0;
    }
    let twice: Vec<f64> = log_w.iter().map(|w| 2.0 * w).collect();
    let (a, b) = (log_sum_exp(log_w), log_sum_exp(&twice));
    if a == f64::NEG_INFINITY || !b.is_finite() {
        return 0.0;
    }
    100.0 * (2.0 * a - b).exp() / log_w.len() as f64
}

/// An SNIS estimate with the diagnostics a caller should look at.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SnisEstimate {
    /// `(1/M) Σ ω_j v_j` with weights normalised to mean 1.
    pub value: f64,
    /// Kish ESS of the weights, percent.
    pub ess_percent: f64,
}

/// Weights normalised to mean 1: `ω_j = exp(log w_j − LSE(log w) + log M)`; NaN → 0.
pub fn normalized_weights(log_w: &[f64]) -> Vec<f64> {
    let lse = log_sum_exp(log_w);
    let log_m = (log_w.len() as f64).ln();
    log_w
        .iter()
        .map(|&l| {
            if l.is_nan() {
                0.0
            } else {
                (l - lse + log_m).exp()
            }
        })
        .collect()
}

/// The log-weights [`snis_mean`] uses: NaN (zero weight) where the value is non-finite or the
/// log-weight is +∞.
fn usable_log_weights(log_w: &[f64], values: &[f64]) -> Vec<f64> {
    log_w
        .iter()
        .zip(values)
        .map(|(&l, v)| {
            if v.is_finite() && l < f64::INFINITY {
                l
            } else {
                f64::NAN
            }
        })
        .collect()
}

/// The normalised weights ω_j (mean 1) that [`snis_mean`] gives each sample for the same
/// `log_w` and `values`: samples with a non-finite value or a +∞ log-weight get 0.
pub fn snis_weights(log_w: &[f64], values: &[f64]) -> Vec<f64> {
    normalized_weights(&usable_log_weights(log_w, values))
}

/// `E_p[v]` by SNIS from log-weights `log q̃ − log ρ` (unknown normalisers may be dropped).
/// Samples whose value is non-finite get zero weight. Errors if no usable weight remains.
pub fn snis_mean(log_w: &[f64], values: &[f64], condition: f64) -> Result<SnisEstimate, CoreError> {
    if log_w.len() != values.len() {
        return Err(CoreError::Dimension {
            what: "snis values",
            expected: log_w.len(),
            got: values.len(),
        });
    }
    let cleaned = usable_log_weights(log_w, values);
    let n_valid = cleaned.iter().filter(|l| l.is_finite()).count();
    if n_valid == 0 {
        return Err(CoreError::NoValidWeights {
            condition,
            n_valid,
            n: log_w.len(),
        });
    }
    let w = normalized_weights(&cleaned);
    let value = w
        .iter()
        .zip(values)
        .filter(|(w, _)| **w > 0.0)
        .map(|(w, v)| w * v)
        .sum::<f64>()
        / w.len() as f64;
    Ok(SnisEstimate {
        value,
        ess_percent: effective_sample_size(&cleaned),
    })
}

/// Plain mean (proposal = target: §6.1 "skip the weights").
pub fn plain_mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}
