//! φ⁴ statistics: Wolff Γ-method τ_int, jackknife over chain groups, and the §13.4 observables.

use super::hmc::{HmcRun, Measurement};

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
