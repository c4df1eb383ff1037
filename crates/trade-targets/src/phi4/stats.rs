//! φ⁴ statistics: Wolff Γ-method τ_int, jackknife over chain groups, and the §13.4 observables
//! of an HMC run ([`observables`]) or of a set of independent configurations, raw or
//! importance-weighted, with bootstrap errors ([`sample_observables`]).

use super::Phi4;
use super::hmc::{HmcRun, Measurement};
use crate::TargetError;
use ndarray::ArrayView2;
use rand::{Rng, RngCore};

/// A value with its standard error.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    /// Central value.
    pub value: f64,
    /// One-σ error.
    pub error: f64,
}

/// Integrated autocorrelation time (in trajectories) with its error and the chosen window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TauInt {
    /// τ_int (½ for uncorrelated data).
    pub tau: f64,
    /// Error estimate (Madras–Sokal: τ·√(2(2W + 1)/N)).
    pub error: f64,
    /// Summation window W chosen by Wolff's criterion (S = 1.5).
    pub window: usize,
}

/// τ_int of a scalar observable from several replicas (chains) by the Wolff Γ-method.
///
/// ```
/// // Uncorrelated data: τ_int ≈ ½.
/// let series: Vec<Vec<f64>> = (0..4).map(|r| (0..500).map(|i| ((i * 7919 + r * 104729) % 1000) as f64).collect()).collect();
/// let t = trade_targets::phi4::tau_int(&series);
/// assert!(t.tau < 1.0);
/// ```
pub fn tau_int(series: &[Vec<f64>]) -> TauInt {
    let n_total: usize = series.iter().map(Vec::len).sum();
    let max_len = series.iter().map(Vec::len).max().unwrap_or(0);
    let mean = series.iter().flatten().sum::<f64>() / n_total.max(1) as f64;
    let gamma = |t: usize| -> f64 {
        let (mut s, mut count) = (0.0, 0usize);
        for r in series {
            for i in 0..r.len().saturating_sub(t) {
                s += (r[i] - mean) * (r[i + t] - mean);
                count += 1;
            }
        }
        if count == 0 { 0.0 } else { s / count as f64 }
    };
    let g0 = gamma(0);
    let n = n_total as f64;
    if g0 <= 0.0 || max_len < 2 {
        return TauInt {
            tau: 0.5,
            error: 0.0,
            window: 0,
        };
    }
    let mut tau = 0.5;
    let mut window = 0;
    for w in 1..max_len / 2 {
        tau += gamma(w) / g0;
        window = w;
        let tau_tilde = if tau <= 0.5 {
            f64::MIN_POSITIVE
        } else {
            1.5 / ((2.0 * tau + 1.0) / (2.0 * tau - 1.0)).ln()
        };
        let g = (-(w as f64) / tau_tilde).exp() - tau_tilde / (w as f64 * n).sqrt();
        if g < 0.0 {
            break;
        }
    }
    let tau = tau.max(0.5);
    TauInt {
        tau,
        error: tau * (2.0 * (2.0 * window as f64 + 1.0) / n).sqrt(),
        window,
    }
}

/// The observables of `method.md` §13.4 from an HMC run, with jackknife errors.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Phi4Observables {
    /// ⟨|m|⟩.
    pub abs_m: Estimate,
    /// ⟨S⟩/V (action density ⟨s⟩).
    pub action_density: Estimate,
    /// χ as TRADE plots it: V(⟨m²⟩ − ⟨|m|⟩²).
    pub chi: Estimate,
    /// Textbook susceptibility V⟨m²⟩.
    pub chi_textbook: Estimate,
    /// Binder cumulant U_L = 1 − ⟨m⁴⟩/(3⟨m²⟩²).
    pub binder: Estimate,
    /// ⟨(1/V) Σ φ⁴⟩.
    pub phi4_density: Estimate,
    /// Schwinger–Dyson combination ⟨S⟩/V + λ⟨(1/V) Σ φ⁴⟩ (exactly ½).
    pub schwinger_dyson: Estimate,
    /// τ_int of |m| (trajectories).
    pub tau_abs_m: TauInt,
    /// τ_int of S (trajectories).
    pub tau_action: TauInt,
    /// HMC acceptance.
    pub acceptance: f64,
    /// Number of measured trajectories (all chains).
    pub n_measurements: usize,
}

/// Sums over a block: n, |m|, m², m⁴, s, φ⁴.
fn block_sums(ms: &[Measurement]) -> [f64; 6] {
    let mut s = [0.0; 6];
    for x in ms {
        let m2 = x.m * x.m;
        s[0] += 1.0;
        s[1] += x.m.abs();
        s[2] += m2;
        s[3] += m2 * m2;
        s[4] += x.action_density;
        s[5] += x.phi4_density;
    }
    s
}

/// Derived observables from block-summed moments: |m|, s, χ, χ_textbook, U_L, φ⁴, SD.
fn derived(s: &[f64; 6], v: f64, lambda: f64) -> [f64; 7] {
    let [n, a, m2, m4, act, p4] = *s;
    let (a, m2, m4, act, p4) = (a / n, m2 / n, m4 / n, act / n, p4 / n);
    [
        a,
        act,
        v * (m2 - a * a),
        v * m2,
        1.0 - m4 / (3.0 * m2 * m2),
        p4,
        act + lambda * p4,
    ]
}

/// Jackknife units: chain groups (≥ 16 chains), otherwise contiguous time blocks per chain.
fn units(series: &[Vec<Measurement>]) -> Vec<[f64; 6]> {
    const TARGET: usize = 32;
    let nc = series.len();
    if nc >= 16 {
        let groups = nc.min(TARGET);
        return (0..groups)
            .map(|g| {
                let chains = &series[g * nc / groups..(g + 1) * nc / groups];
                chains.iter().map(|c| block_sums(c)).fold([0.0; 6], add6)
            })
            .collect();
    }
    let per = TARGET.div_ceil(nc.max(1));
    series
        .iter()
        .flat_map(|c| {
            let len = c.len();
            (0..per).map(move |b| block_sums(&c[b * len / per..(b + 1) * len / per]))
        })
        .filter(|s| s[0] > 0.0)
        .collect()
}

fn add6(a: [f64; 6], b: [f64; 6]) -> [f64; 6] {
    std::array::from_fn(|i| a[i] + b[i])
}

/// Observables with jackknife errors and τ_int of |m| and S.
pub fn observables(run: &HmcRun) -> Phi4Observables {
    let v = run.phi4.volume() as f64;
    let lambda = run.phi4.lambda();
    let blocks = units(&run.series);
    let total = blocks.iter().copied().fold([0.0; 6], add6);
    let full = derived(&total, v, lambda);
    let b = blocks.len() as f64;
    let mut var = [0.0; 7];
    for blk in &blocks {
        let loo: [f64; 6] = std::array::from_fn(|i| total[i] - blk[i]);
        let d = derived(&loo, v, lambda);
        for i in 0..7 {
            var[i] += (d[i] - full[i]).powi(2);
        }
    }
    let est = |i: usize| Estimate {
        value: full[i],
        error: ((b - 1.0) / b * var[i]).sqrt(),
    };
    let abs_m: Vec<Vec<f64>> = run
        .series
        .iter()
        .map(|c| c.iter().map(|x| x.m.abs()).collect())
        .collect();
    let action: Vec<Vec<f64>> = run
        .series
        .iter()
        .map(|c| c.iter().map(|x| x.action_density).collect())
        .collect();
    Phi4Observables {
        abs_m: est(0),
        action_density: est(1),
        chi: est(2),
        chi_textbook: est(3),
        binder: est(4),
        phi4_density: est(5),
        schwinger_dyson: est(6),
        tau_abs_m: tau_int(&abs_m),
        tau_action: tau_int(&action),
        acceptance: run.acceptance,
        n_measurements: total[0] as usize,
    }
}

/// The `method.md` §13.4 observables of a set of configurations, with bootstrap errors.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SampleObservables {
    /// ⟨|m|⟩, m = (1/V) Σ_x φ_x.
    pub abs_m: Estimate,
    /// ⟨S⟩/V at the given κ.
    pub action_density: Estimate,
    /// χ as TRADE plots it: V(⟨m²⟩ − ⟨|m|⟩²).
    pub chi: Estimate,
    /// Textbook susceptibility V⟨m²⟩.
    pub chi_textbook: Estimate,
    /// Binder cumulant U_L = 1 − ⟨m⁴⟩/(3⟨m²⟩²).
    pub binder: Estimate,
    /// Number of configurations.
    pub n: usize,
}

/// Per-configuration (m, S/V).
fn m_and_s(phi4: &Phi4, configs: ArrayView2<'_, f64>, kappa: f64) -> Vec<(f64, f64)> {
    let v = phi4.volume() as f64;
    configs
        .rows()
        .into_iter()
        .map(|r| {
            let phi: Vec<f64> = r.to_vec();
            (phi.iter().sum::<f64>() / v, phi4.action(&phi, kappa) / v)
        })
        .collect()
}

/// (⟨|m|⟩, ⟨s⟩, χ, χ_textbook, U_L) from weighted moments over the rows `idx`.
fn weighted_observables(ms: &[(f64, f64)], w: &[f64], idx: &[usize], v: f64) -> [f64; 5] {
    let (mut sw, mut a, mut m2, mut m4, mut act) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for &i in idx {
        let (m, s) = ms[i];
        let wi = w[i];
        let mm = m * m;
        sw += wi;
        a += wi * m.abs();
        m2 += wi * mm;
        m4 += wi * mm * mm;
        act += wi * s;
    }
    let (a, m2, m4, act) = (a / sw, m2 / sw, m4 / sw, act / sw);
    [a, act, v * (m2 - a * a), v * m2, 1.0 - m4 / (3.0 * m2 * m2)]
}

/// ⟨|m|⟩, ⟨S⟩/V, χ (both definitions) and U_L of `configs` (n, V) at κ, each with the standard
/// deviation over `n_boot` bootstrap resamples of the rows (`method.md` §13.4: 250).
///
/// With `log_weights` (one per row, e.g. −S − log q for flow samples) the averages are
/// self-normalised importance-weighted and each resample carries its rows' weights; without,
/// they are plain means. The rows must be independent (model samples, or HMC configurations
/// thinned beyond τ_int).
///
/// ```
/// use ndarray::Array2;
/// use rand::SeedableRng;
/// use trade_targets::phi4::{Phi4, sample_observables};
/// // Constant fields ±1: |m| = 1 exactly, χ = 0, U_L = 2/3.
/// let x = Array2::from_shape_fn((10, 64), |(i, _)| if i % 2 == 0 { 1.0 } else { -1.0 });
/// let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(0);
/// let o = sample_observables(&Phi4::default(), x.view(), 0.27, None, 50, &mut rng)?;
/// assert!((o.abs_m.value - 1.0).abs() < 1e-12 && o.abs_m.error < 1e-12);
/// assert!((o.binder.value - 2.0 / 3.0).abs() < 1e-12);
/// # Ok::<(), trade_targets::TargetError>(())
/// ```
pub fn sample_observables(
    phi4: &Phi4,
    configs: ArrayView2<'_, f64>,
    kappa: f64,
    log_weights: Option<&[f64]>,
    n_boot: usize,
    rng: &mut dyn RngCore,
) -> Result<SampleObservables, TargetError> {
    let n = configs.nrows();
    if configs.ncols() != phi4.volume() {
        return Err(TargetError::Dimension {
            expected: phi4.volume(),
            got: configs.ncols(),
        });
    }
    if let Some(((row, col), _)) = configs.indexed_iter().find(|(_, v)| !v.is_finite()) {
        return Err(TargetError::NonFinite { row, col });
    }
    if n < 2 {
        return Err(TargetError::InvalidParameter {
            field: "configs (rows)",
            value: n.to_string(),
            allowed: ">= 2".into(),
        });
    }
    if n_boot < 2 {
        return Err(TargetError::InvalidParameter {
            field: "n_boot",
            value: n_boot.to_string(),
            allowed: ">= 2".into(),
        });
    }
    let w: Vec<f64> = match log_weights {
        None => vec![1.0; n],
        Some(lw) => {
            if lw.len() != n {
                return Err(TargetError::InvalidParameter {
                    field: "log_weights (length)",
                    value: lw.len().to_string(),
                    allowed: format!("{n} (one per configuration)"),
                });
            }
            if let Some(i) = lw.iter().position(|v| v.is_nan() || *v == f64::INFINITY) {
                return Err(TargetError::InvalidParameter {
                    field: "log_weights",
                    value: format!("{} at row {i}", lw[i]),
                    allowed: "finite or −∞".into(),
                });
            }
            let max = lw.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            lw.iter().map(|l| (l - max).exp()).collect()
        }
    };
    let v = phi4.volume() as f64;
    let ms = m_and_s(phi4, configs, kappa);
    let all: Vec<usize> = (0..n).collect();
    let full = weighted_observables(&ms, &w, &all, v);
    let mut sum = [0.0; 5];
    let mut sum2 = [0.0; 5];
    let mut idx = vec![0; n];
    for _ in 0..n_boot {
        idx.iter_mut().for_each(|i| *i = rng.random_range(0..n));
        let b = weighted_observables(&ms, &w, &idx, v);
        for k in 0..5 {
            sum[k] += b[k];
            sum2[k] += b[k] * b[k];
        }
    }
    let nb = n_boot as f64;
    let est = |k: usize| Estimate {
        value: full[k],
        error: (sum2[k] / nb - (sum[k] / nb).powi(2)).max(0.0).sqrt(),
    };
    Ok(SampleObservables {
        abs_m: est(0),
        action_density: est(1),
        chi: est(2),
        chi_textbook: est(3),
        binder: est(4),
        n,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;
    use rand::SeedableRng;
    use rand_xoshiro::Xoshiro256PlusPlus;

    fn rng() -> Xoshiro256PlusPlus {
        Xoshiro256PlusPlus::seed_from_u64(1)
    }

    /// Constant fields with magnetisations `ms`.
    fn constant_fields(ms: &[f64]) -> Array2<f64> {
        Array2::from_shape_fn((ms.len(), 4), |(i, _)| ms[i])
    }

    #[test]
    fn closed_forms_on_constant_fields() {
        // 2×2 lattice, m ∈ {1, −1, 2, −2}: ⟨|m|⟩ = 1.5, ⟨m²⟩ = 2.5, ⟨m⁴⟩ = 8.5.
        let phi4 = Phi4::new(2, 0.02).unwrap();
        let x = constant_fields(&[1.0, -1.0, 2.0, -2.0]);
        let o = sample_observables(&phi4, x.view(), 0.25, None, 100, &mut rng()).unwrap();
        let cases = [
            (o.abs_m.value, 1.5),
            (o.chi.value, 4.0 * (2.5 - 2.25)),
            (o.chi_textbook.value, 4.0 * 2.5),
            (o.binder.value, 1.0 - 8.5 / (3.0 * 6.25)),
            // s(φ) per site for a constant field: (1 − 2λ)φ² + λφ⁴ − 4κφ².
            (
                o.action_density.value,
                (0..4)
                    .map(|i| {
                        let p = [1.0f64, -1.0, 2.0, -2.0][i];
                        0.96 * p * p + 0.02 * p.powi(4) - p * p
                    })
                    .sum::<f64>()
                    / 4.0,
            ),
        ];
        for (k, (got, expect)) in cases.into_iter().enumerate() {
            assert!((got - expect).abs() < 1e-12, "case {k}: {got} vs {expect}");
        }
        assert!(o.abs_m.error > 0.0 && o.abs_m.error < 1.0);
    }

    #[test]
    fn weights_select_configurations() {
        // Weight only the |m| = 2 rows: every observable is that of m = ±2.
        let phi4 = Phi4::new(2, 0.02).unwrap();
        let x = constant_fields(&[1.0, -1.0, 2.0, -2.0]);
        let lw = [f64::NEG_INFINITY, f64::NEG_INFINITY, 3.0, 3.0];
        let o = sample_observables(&phi4, x.view(), 0.25, Some(&lw), 50, &mut rng()).unwrap();
        assert!((o.abs_m.value - 2.0).abs() < 1e-12);
        assert!(o.chi.value.abs() < 1e-12);
        assert!((o.binder.value - 2.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn bootstrap_error_matches_the_standard_error_of_the_mean() {
        // |m| of independent draws: bootstrap σ ≈ sd/√n.
        let phi4 = Phi4::new(2, 0.02).unwrap();
        let mut r = rng();
        let ms: Vec<f64> = (0..400).map(|_| r.random_range(-1.0..1.0)).collect();
        let x = constant_fields(&ms);
        let o = sample_observables(&phi4, x.view(), 0.25, None, 250, &mut rng()).unwrap();
        let a: Vec<f64> = ms.iter().map(|m| m.abs()).collect();
        let mean = a.iter().sum::<f64>() / 400.0;
        let sd = (a.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 399.0).sqrt();
        let sem = sd / 20.0;
        assert!((o.abs_m.value - mean).abs() < 1e-12);
        // 250 resamples: the bootstrap σ itself scatters by ~1/√(2·250) ≈ 4.5 %.
        assert!(
            (o.abs_m.error / sem - 1.0).abs() < 0.2,
            "{} vs {sem}",
            o.abs_m.error
        );
    }

    #[test]
    fn bad_input_names_the_field() {
        let phi4 = Phi4::new(2, 0.02).unwrap();
        let x = constant_fields(&[1.0, 2.0]);
        let err = |lw: Option<&[f64]>, n_boot: usize, x: &Array2<f64>| {
            sample_observables(&phi4, x.view(), 0.25, lw, n_boot, &mut rng())
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            err(None, 1, &x),
            "invalid parameter n_boot = 1: allowed >= 2"
        );
        assert_eq!(
            err(Some(&[0.0]), 10, &x),
            "invalid parameter log_weights (length) = 1: allowed 2 (one per configuration)"
        );
        assert_eq!(
            err(None, 10, &Array2::zeros((2, 5))),
            "wrong dimension: expected 4 columns per row, got 5"
        );
        assert_eq!(
            err(None, 10, &constant_fields(&[1.0])),
            "invalid parameter configs (rows) = 1: allowed >= 2"
        );
    }
}
