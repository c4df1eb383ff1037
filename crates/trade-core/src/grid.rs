//! Grid mode (`method.md` §7): the condition grid, the expectation table with EMA refresh,
//! running per-point losses and causality weights (Loop A; Loop B variants V1 and V2 with
//! several boundary points and the in-between interpolation).

use crate::{CoreError, error::out_of_range};
use rand::Rng;
use serde::{Deserialize, Serialize};

/// Sorted grid of conditions with the indices of the boundary (base) points.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConditionGrid {
    /// Conditions, ascending.
    pub points: Vec<f64>,
    /// Indices of the base conditions, ascending.
    pub bases: Vec<usize>,
}

impl ConditionGrid {
    /// `n` log-spaced points on [c_min, c_max] (endpoints included) plus the bases, sorted,
    /// duplicates (relative 1e-12) removed. Multi-well: 50 points + T = 1 → 51.
    pub fn log_spaced(c_min: f64, c_max: f64, n: usize, bases: &[f64]) -> Result<Self, CoreError> {
        if !(c_min > 0.0 && c_max > c_min && c_max.is_finite()) {
            return Err(out_of_range(
                "grid.c_min/c_max",
                format!("[{c_min}, {c_max}]"),
                "0 < c_min < c_max < ∞",
            ));
        }
        if n < 2 {
            return Err(out_of_range("grid.n_points", n, "≥ 2"));
        }
        if bases.is_empty() || bases.iter().any(|&b| !(b >= c_min && b <= c_max)) {
            return Err(out_of_range(
                "grid.bases",
                format!("{bases:?}"),
                "non-empty, inside [c_min, c_max]",
            ));
        }
        let (lo, hi) = (c_min.ln(), c_max.ln());
        let mut points: Vec<f64> = (0..n)
            .map(|i| (lo + (hi - lo) * i as f64 / (n - 1) as f64).exp())
            .collect();
        let same = |a: f64, b: f64| (a - b).abs() <= 1e-12 * a.abs().max(b.abs());
        for &b in bases {
            if !points.iter().any(|&p| same(p, b)) {
                points.push(b);
            }
        }
        points.sort_by(f64::total_cmp);
        let mut base_idx: Vec<usize> = bases
            .iter()
            .map(|&b| points.iter().position(|&p| same(p, b)).expect("inserted"))
            .collect();
        base_idx.sort_unstable();
        base_idx.dedup();
        Ok(Self {
            points,
            bases: base_idx,
        })
    }

    /// Number of grid points.
    pub fn len(&self) -> usize {
        self.points.len()
    }

    /// True if the grid has no point (never, once constructed).
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// Index of the grid point nearest to c in log space ("no causality weights" ablation).
    pub fn nearest(&self, c: f64) -> usize {
        let lc = c.ln();
        (0..self.points.len())
            .min_by(|&a, &b| {
                (self.points[a].ln() - lc)
                    .abs()
                    .total_cmp(&(self.points[b].ln() - lc).abs())
            })
            .expect("non-empty grid")
    }
}

/// Per-point estimates of E_p[∂_c U], blended on refresh: `Ē ← α Ē + (1 − α) Ê`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExpectationTable {
    /// Current values (None until first computed).
    pub values: Vec<Option<f64>>,
    /// α_EX, weighting the old value.
    pub alpha: f64,
}

impl ExpectationTable {
    /// An empty table for `n` points.
    pub fn new(n: usize, alpha: f64) -> Self {
        Self {
            values: vec![None; n],
            alpha,
        }
    }

    /// Sets (first time) or blends a fresh estimate.
    pub fn update(&mut self, k: usize, estimate: f64) {
        let a = self.alpha;
        self.values[k] = Some(match self.values[k] {
            None => estimate,
            Some(old) => a * old + (1.0 - a) * estimate,
        });
    }

    /// True once every point has a value.
    pub fn is_complete(&self) -> bool {
        self.values.iter().all(Option::is_some)
    }
}

/// Which causality rule (`method.md` §7.1, §7.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CausalityRule {
    /// Loop A: EMA with α_L per hit index; plain sums.
    LoopA,
    /// Loop B V1 (φ⁴): EMA weight α_L^{n_k}; plain sums.
    LoopBV1,
    /// Loop B V2 (GMM): as V1, sums weighted by grid spacing (a Riemann sum of ∫L dc).
    LoopBV2,
}

/// Running per-point losses and the sampling logits built from them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Causality {
    /// The rule.
    pub rule: CausalityRule,
    /// α_L.
    pub alpha_l: f64,
    /// Factor on the logits of points strictly between two bases (φ⁴: 0.376).
    pub inbetween_factor: f64,
    /// L̄_k, starting at 0.
    pub running: Vec<f64>,
    /// η_k, starting at 0 (uniform first draws).
    pub logits: Vec<f64>,
}

impl Causality {
    /// Zero running losses and uniform logits for `n` points.
    pub fn new(rule: CausalityRule, n: usize, alpha_l: f64, inbetween_factor: f64) -> Self {
        Self {
            rule,
            alpha_l,
            inbetween_factor,
            running: vec![0.0; n],
            logits: vec![0.0; n],
        }
    }

    /// Folds one batch's per-sample losses (with their grid indices) into L̄.
    pub fn update_running(&mut self, indices: &[usize], losses: &[f64]) {
        let n = self.running.len();
        let (mut sum, mut count) = (vec![0.0; n], vec![0usize; n]);
        for (&k, &l) in indices.iter().zip(losses) {
            sum[k] += l;
            count[k] += 1;
        }
        for k in 0..n {
            if count[k] == 0 {
                continue;
            }
            let mean = sum[k] / count[k] as f64;
            let a = match self.rule {
                CausalityRule::LoopA => self.alpha_l,
                _ => self.alpha_l.powi(count[k] as i32),
            };
            self.running[k] = a * self.running[k] + (1.0 - a) * mean;
        }
    }

    /// `−ε Σ_{j ∈ J(k)} L̄_j` from base `b` (base included, k excluded).
    fn eta_from(&self, grid: &ConditionGrid, b: usize, k: usize, epsilon: f64) -> f64 {
        let p = &grid.points;
        let weight = |j: usize, up: bool| match self.rule {
            CausalityRule::LoopBV2 if up => (p[j + 1] - p[j]).abs(),
            CausalityRule::LoopBV2 => (p[j] - p[j - 1]).abs(),
            _ => 1.0,
        };
        let s: f64 = if k > b {
            (b..k).map(|j| self.running[j] * weight(j, true)).sum()
        } else {
            (k + 1..=b)
                .map(|j| self.running[j] * weight(j, false))
                .sum()
        };
        -epsilon * s
    }

    /// Recomputes the logits with the current ε (every 50 steps in the configs).
    pub fn refresh_logits(&mut self, grid: &ConditionGrid, epsilon: f64) {
        let bases = &grid.bases;
        let (first, last) = (bases[0], bases[bases.len() - 1]);
        self.logits = (0..grid.len())
            .map(|k| {
                if bases.contains(&k) {
                    return 0.0;
                }
                if k < first {
                    return self.eta_from(grid, first, k, epsilon);
                }
                if k > last {
                    return self.eta_from(grid, last, k, epsilon);
                }
                // Strictly between two consecutive bases b1 < k < b2.
                let b2 = *bases.iter().find(|&&b| b > k).expect("k < last base");
                let b1 = *bases
                    .iter()
                    .rev()
                    .find(|&&b| b < k)
                    .expect("k > first base");
                let (near, far) = if k - b1 <= b2 - k { (b1, b2) } else { (b2, b1) };
                let w_near = self.eta_from(grid, near, k, epsilon).exp();
                let w_far = self.eta_from(grid, far, k, epsilon).exp();
                let between = (b2 - b1) as f64;
                let a = if between > 2.0 {
                    (k.abs_diff(far) as f64 - 1.0) / (between - 2.0)
                } else {
                    1.0
                };
                (a * w_near + (1.0 - a) * w_far).ln() * self.inbetween_factor
            })
            .collect();
    }

    /// Draws `n` grid indices from Categorical(softmax(η)).
    pub fn sample<R: Rng + ?Sized>(&self, n: usize, rng: &mut R) -> Vec<usize> {
        let m = self
            .logits
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max);
        let w: Vec<f64> = self.logits.iter().map(|l| (l - m).exp()).collect();
        let mut cdf = Vec::with_capacity(w.len());
        let mut acc = 0.0;
        for x in &w {
            acc += x;
            cdf.push(acc);
        }
        (0..n)
            .map(|_| {
                let u = rng.random::<f64>() * acc;
                cdf.iter().position(|&c| u < c).unwrap_or(w.len() - 1)
            })
            .collect()
    }
}

/// ε after exponential decay over the TRADE phase (Loop B): ends at `ε · decay_factor`.
pub fn decayed_epsilon(
    epsilon: f64,
    decay_factor: f64,
    step: usize,
    start: usize,
    trade_steps: usize,
) -> f64 {
    if step <= start || trade_steps == 0 {
        return epsilon;
    }
    let gamma = -decay_factor.ln() / trade_steps as f64;
    epsilon * (-gamma * (step - start) as f64).exp()
}
