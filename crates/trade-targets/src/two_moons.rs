//! Two moons tempered posterior: p_β(θ|y) ∝ N(θ; 0, 0.3² I) · L(y|θ)^β with the exact likelihood.
//!
//! Spec `targets.md` §4. With `z0 = (θ0 + θ1)/√2`, `z1 = (θ1 − θ0)/√2`, `u = y0 + |z0| − 0.25`,
//! `v = y1 − z1` and `ρ = √(u² + v²)`:
//!
//! `log L(y|θ) = −5000 (ρ − 0.1)² + (−ln(0.01√(2π)) − ln π) − ln ρ` for u > 0, and −∞ otherwise
//! (the 1/(πρ) Jacobian of (r, a) → (u, v) is included). `U = −log π(θ) − β log L`,
//! `∂_β U = −log L`. Where L = 0 the energy and ∂_β U are `+∞` and the gradient is NaN: callers
//! must cope. At z0 = 0 the subgradient 0 of |·| is used.
//!
//! β ≥ 2 is improper; the normative cutoff excludes ρ < ρ_cut (0.02 for β > 1, 0 otherwise) in
//! quadrature and sampling (excluded mass < e^{−32β}). The energy itself is not cut.

use crate::quadrature::{gauss_legendre, log_sum_exp};
use crate::rows::{map_rows, map_rows_grad, row2};
use crate::{ConditionSpec, ReferenceSampler, Target, TargetError};
use ndarray::{Array1, Array2, ArrayView1, ArrayView2};
use rand::{Rng, RngCore};
use rand_distr::{Distribution, StandardNormal};
use std::f64::consts::{FRAC_1_SQRT_2, FRAC_PI_2, PI};

/// Prior standard deviation per coordinate.
pub const PRIOR_SD: f64 = 0.3;
/// Mean of the simulator radius r.
pub const RADIUS_MEAN: f64 = 0.1;
/// Standard deviation of the simulator radius r.
pub const RADIUS_SD: f64 = 0.01;
/// Allowed β (likelihood power); the TRADE range is [0.4, 2.1].
pub const BETA_ALLOWED: (f64, f64) = (0.1, 3.0);

/// `−ln(0.01√(2π)) − ln π` ≈ 2.5415018, the constant of log L.
pub fn log_lik_constant() -> f64 {
    -(RADIUS_SD * (2.0 * PI).sqrt()).ln() - PI.ln()
}

/// ρ_cut of the normative convention: 0.02 for β > 1, 0 otherwise.
pub fn rho_cut(beta: f64) -> f64 {
    if beta > 1.0 { 0.02 } else { 0.0 }
}

/// log N(θ; 0, 0.3² I₂).
pub fn log_prior(theta: [f64; 2]) -> f64 {
    let s2 = PRIOR_SD * PRIOR_SD;
    -(theta[0] * theta[0] + theta[1] * theta[1]) / (2.0 * s2) - (2.0 * PI * s2).ln()
}

/// The moon radius `r(θ, y) = ‖y − (−|θ0 + θ1|/√2, (θ1 − θ0)/√2) − (0.25, 0)‖`, the statistic
/// of the coverage curves (`method.md` §13.6). Under the simulator it is the radius r ~ N(0.1,
/// 0.01²) (equal to ρ of the likelihood wherever L > 0).
///
/// ```
/// let t = 0.35 * std::f64::consts::FRAC_1_SQRT_2;
/// let r = trade_targets::two_moons::moon_radius([t, t], [0.0, 0.0]);
/// assert!((r - 0.1).abs() < 1e-12);
/// ```
pub fn moon_radius(theta: [f64; 2], y: [f64; 2]) -> f64 {
    let a = -(theta[0] + theta[1]).abs() * FRAC_1_SQRT_2;
    let b = (theta[1] - theta[0]) * FRAC_1_SQRT_2;
    (y[0] - a - 0.25).hypot(y[1] - b)
}

/// log L(y|θ) in closed form; −∞ outside the moon (u ≤ 0).
///
/// ```
/// // θ on the moon's ridge: z0 = 0.35, z1 = 0 ⇒ u = 0.1, v = 0, ρ = 0.1.
/// let t = 0.35 * std::f64::consts::FRAC_1_SQRT_2;
/// let l = trade_targets::two_moons::log_likelihood([t, t], [0.0, 0.0]);
/// assert!((l - (trade_targets::two_moons::log_lik_constant() - 0.1f64.ln())).abs() < 1e-12);
/// ```
pub fn log_likelihood(theta: [f64; 2], y: [f64; 2]) -> f64 {
    let (u, v) = moon_uv(theta, y).0;
    if u <= 0.0 {
        return f64::NEG_INFINITY;
    }
    let rho = u.hypot(v);
    -5000.0 * (rho - RADIUS_MEAN).powi(2) + log_lik_constant() - rho.ln()
}

/// (u, v) and the sign used for ∂|z0|/∂z0.
fn moon_uv(theta: [f64; 2], y: [f64; 2]) -> ((f64, f64), f64) {
    let z0 = (theta[0] + theta[1]) * FRAC_1_SQRT_2;
    let z1 = (theta[1] - theta[0]) * FRAC_1_SQRT_2;
    let sign = if z0 > 0.0 {
        1.0
    } else if z0 < 0.0 {
        -1.0
    } else {
        0.0
    };
    ((y[0] + z0.abs() - 0.25, y[1] - z1), sign)
}

/// log L(y|θ) and ∇_θ log L (NaN gradient where L = 0).
pub fn log_likelihood_and_grad(theta: [f64; 2], y: [f64; 2]) -> (f64, [f64; 2]) {
    let ((u, v), sign) = moon_uv(theta, y);
    if u <= 0.0 {
        return (f64::NEG_INFINITY, [f64::NAN; 2]);
    }
    let rho = u.hypot(v);
    let dl_drho = -10000.0 * (rho - RADIUS_MEAN) - 1.0 / rho;
    let (dl_du, dl_dv) = (dl_drho * u / rho, dl_drho * v / rho);
    // ∂u/∂θ = sign·(1, 1)/√2, ∂v/∂θ = (1, −1)/√2.
    let g0 = FRAC_1_SQRT_2 * (sign * dl_du + dl_dv);
    let g1 = FRAC_1_SQRT_2 * (sign * dl_du - dl_dv);
    let l = -5000.0 * (rho - RADIUS_MEAN).powi(2) + log_lik_constant() - rho.ln();
    (l, [g0, g1])
}

/// One simulator draw y ~ p(y|θ) (`targets.md` §4.1).
pub fn simulate(theta: [f64; 2], rng: &mut dyn RngCore) -> [f64; 2] {
    let a = PI * (rng.random::<f64>() - 0.5);
    let n: f64 = StandardNormal.sample(rng);
    let r = RADIUS_MEAN + RADIUS_SD * n;
    let p = [r * a.cos() + 0.25, r * a.sin()];
    let z0 = (theta[0] + theta[1]) * FRAC_1_SQRT_2;
    let z1 = (theta[1] - theta[0]) * FRAC_1_SQRT_2;
    [p[0] - z0.abs(), p[1] + z1]
}

/// The tempered two-moons posterior at a fixed observation y (default (0, 0)).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TwoMoons {
    y: [f64; 2],
}

impl Default for TwoMoons {
    fn default() -> Self {
        Self { y: [0.0, 0.0] }
    }
}

impl TwoMoons {
    /// The posterior at observation `y` (finite).
    pub fn new(y: [f64; 2]) -> Result<Self, TargetError> {
        check_observation(y)?;
        Ok(Self { y })
    }

    /// The observation y.
    pub fn observation(&self) -> [f64; 2] {
        self.y
    }
}

fn check_observation(y: [f64; 2]) -> Result<(), TargetError> {
    if y.iter().all(|v| v.is_finite()) {
        return Ok(());
    }
    Err(TargetError::InvalidParameter {
        field: "observation",
        value: format!("{},{}", y[0], y[1]),
        allowed: "two finite numbers y0,y1".into(),
    })
}

fn check_beta(beta: f64) -> Result<(), TargetError> {
    if beta.is_finite() && BETA_ALLOWED.0 <= beta && beta <= BETA_ALLOWED.1 {
        return Ok(());
    }
    Err(TargetError::ConditionOutOfRange {
        name: "beta",
        value: beta,
        allowed: format!("[{}, {}]", BETA_ALLOWED.0, BETA_ALLOWED.1),
    })
}

impl Target for TwoMoons {
    fn name(&self) -> &str {
        "two-moons"
    }
    fn dim(&self) -> usize {
        2
    }
    fn condition(&self) -> ConditionSpec {
        ConditionSpec {
            name: "beta",
            min: BETA_ALLOWED.0,
            max: BETA_ALLOWED.1,
            train_range: (0.4, 2.1),
            boundary: vec![1.0],
        }
    }
    fn energy(&self, x: ArrayView2<f64>, c: ArrayView1<f64>) -> Array1<f64> {
        map_rows(x, c, |row, beta| {
            let th = row2(row);
            -log_prior(th) - beta * log_likelihood(th, self.y)
        })
    }
    fn grad_x(&self, x: ArrayView2<f64>, c: ArrayView1<f64>) -> Array2<f64> {
        self.energy_and_grad(x, c).1
    }
    fn d_energy_dc(&self, x: ArrayView2<f64>, c: ArrayView1<f64>) -> Array1<f64> {
        map_rows(x, c, |row, _| -log_likelihood(row2(row), self.y))
    }
    fn energy_and_grad(
        &self,
        x: ArrayView2<f64>,
        c: ArrayView1<f64>,
    ) -> (Array1<f64>, Array2<f64>) {
        let s2 = PRIOR_SD * PRIOR_SD;
        map_rows_grad(x, c, |row, beta, mut g| {
            let th = row2(row);
            let (l, dl) = log_likelihood_and_grad(th, self.y);
            g[0] = th[0] / s2 - beta * dl[0];
            g[1] = th[1] / s2 - beta * dl[1];
            -log_prior(th) - beta * l
        })
    }
}

/// Exact references of the tempered posterior at one (y, β), by moon-polar quadrature.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TwoMoonsReference {
    /// log Z(β) = log ∫ π(θ) L(y|θ)^β dθ (with the ρ_cut convention).
    pub log_z: f64,
    /// E_β[log L] = d log Z/dβ.
    pub mean_log_lik: f64,
    /// Var_β[log L] = d² log Z/dβ².
    pub var_log_lik: f64,
    /// ⟨∂_β U⟩ = −E_β[log L].
    pub mean_du_dc: f64,
    /// Entropy H = log Z + E_β[U] (the optimal NLL).
    pub entropy: f64,
    /// Posterior mean of θ.
    pub mean: [f64; 2],
    /// Posterior covariance of θ.
    pub cov: [[f64; 2]; 2],
}

/// θ from moon-polar coordinates; `None` where |z0| < 0.
fn theta_of(s: f64, rho: f64, alpha: f64, y: [f64; 2]) -> Option<[f64; 2]> {
    let (u, v) = (rho * alpha.cos(), rho * alpha.sin());
    let abs_z0 = u - y[0] + 0.25;
    if abs_z0 < 0.0 {
        return None;
    }
    let (z0, z1) = (s * abs_z0, y[1] - v);
    Some([(z0 - z1) * FRAC_1_SQRT_2, (z0 + z1) * FRAC_1_SQRT_2])
}

/// The ρ interval of quadrature and sampling: ρ_cut and ±12 σ of the tempered radius.
fn rho_range(beta: f64) -> (f64, f64) {
    let w = 12.0 * RADIUS_SD / beta.sqrt();
    (rho_cut(beta).max(RADIUS_MEAN - w), RADIUS_MEAN + w)
}

/// Moon-polar Gauss–Legendre quadrature with `n_nodes` per axis (`targets.md` §4.4).
///
/// ```
/// let r = trade_targets::two_moons::reference_with_nodes([0.0, 0.0], 1.0, 200)?;
/// assert!(r.mean[0].abs() < 1e-10 && (r.cov[0][0] - r.cov[1][1]).abs() < 1e-10);
/// # Ok::<(), trade_targets::TargetError>(())
/// ```
pub fn reference_with_nodes(
    y: [f64; 2],
    beta: f64,
    n_nodes: usize,
) -> Result<TwoMoonsReference, TargetError> {
    check_observation(y)?;
    check_beta(beta)?;
    if n_nodes < 2 {
        return Err(TargetError::InvalidParameter {
            field: "n_nodes",
            value: n_nodes.to_string(),
            allowed: ">= 2".into(),
        });
    }
    let (r_lo, r_hi) = rho_range(beta);
    let (rho, w_rho) = gauss_legendre(n_nodes, r_lo, r_hi);
    let (alpha, w_alpha) = gauss_legendre(n_nodes, -FRAC_PI_2, FRAC_PI_2);
    let c = log_lik_constant();
    // Terms: (log weight, log L, log π, θ).
    let mut terms = Vec::with_capacity(2 * n_nodes * n_nodes);
    for s in [-1.0, 1.0] {
        for (&r, &wr) in rho.iter().zip(&w_rho) {
            let log_l = -5000.0 * (r - RADIUS_MEAN).powi(2) + c - r.ln();
            for (&a, &wa) in alpha.iter().zip(&w_alpha) {
                if let Some(th) = theta_of(s, r, a, y) {
                    let lp = log_prior(th);
                    // π L^β dθ = π L^β ρ dρ dα.
                    terms.push(((wr * wa * r).ln() + lp + beta * log_l, log_l, lp, th));
                }
            }
        }
    }
    let logw: Vec<f64> = terms.iter().map(|t| t.0).collect();
    let log_z = log_sum_exp(&logw);
    let mut m = [0.0; 6]; // E log L, E log² L, E log π, E θ0, E θ1, —
    let mut second = [[0.0; 2]; 2];
    for &(lw, ll, lp, th) in &terms {
        let p = (lw - log_z).exp();
        m[0] += p * ll;
        m[1] += p * ll * ll;
        m[2] += p * lp;
        m[3] += p * th[0];
        m[4] += p * th[1];
        for i in 0..2 {
            for j in 0..2 {
                second[i][j] += p * th[i] * th[j];
            }
        }
    }
    let mean = [m[3], m[4]];
    let cov = std::array::from_fn(|i| std::array::from_fn(|j| second[i][j] - mean[i] * mean[j]));
    Ok(TwoMoonsReference {
        log_z,
        mean_log_lik: m[0],
        var_log_lik: (m[1] - m[0] * m[0]).max(0.0),
        mean_du_dc: -m[0],
        entropy: log_z - m[2] - beta * m[0],
        mean,
        cov,
    })
}

/// [`reference_with_nodes`] with 256 nodes per axis (converged to ~1e-10 at y = 0).
pub fn reference(y: [f64; 2], beta: f64) -> Result<TwoMoonsReference, TargetError> {
    reference_with_nodes(y, beta, 256)
}

/// Exact i.i.d. sampler: rejection in moon-polar coordinates (`targets.md` §4.4).
#[derive(Debug, Clone)]
pub struct TwoMoonsSampler {
    y: [f64; 2],
    beta: f64,
    rho_range: (f64, f64),
    /// log of the numerical bound of ρ^{1−β} π(θ), with a safety margin.
    log_bound: f64,
}

impl TwoMoonsSampler {
    /// Safety factor on the numerically found maximum of the acceptance ratio.
    const MARGIN: f64 = 1.5;

    /// A sampler at observation `y` and likelihood power `beta`.
    pub fn new(y: [f64; 2], beta: f64) -> Result<Self, TargetError> {
        check_observation(y)?;
        check_beta(beta)?;
        let rho_range = rho_range(beta);
        let mut s = Self {
            y,
            beta,
            rho_range,
            log_bound: f64::NEG_INFINITY,
        };
        let n = 400;
        let mut best = f64::NEG_INFINITY;
        for sign in [-1.0, 1.0] {
            for i in 0..=n {
                let r =
                    (rho_range.0 + (rho_range.1 - rho_range.0) * i as f64 / n as f64).max(1e-300);
                for j in 0..=n {
                    let a = -FRAC_PI_2 + PI * j as f64 / n as f64;
                    best = best.max(s.log_ratio(sign, r, a));
                }
            }
        }
        if !best.is_finite() {
            return Err(TargetError::InvalidParameter {
                field: "observation",
                value: format!("{},{}", y[0], y[1]),
                allowed: "an observation with posterior mass (y0 ≤ 0.35 + ...)".into(),
            });
        }
        s.log_bound = best + Self::MARGIN.ln();
        Ok(s)
    }

    /// log(ρ^{1−β} π(θ)) or −∞ outside the support.
    fn log_ratio(&self, sign: f64, rho: f64, alpha: f64) -> f64 {
        match theta_of(sign, rho, alpha, self.y) {
            Some(th) => (1.0 - self.beta) * rho.ln() + log_prior(th),
            None => f64::NEG_INFINITY,
        }
    }

    fn sample_one(&self, rng: &mut dyn RngCore) -> [f64; 2] {
        let sd = RADIUS_SD / self.beta.sqrt();
        loop {
            let sign = if rng.random::<bool>() { 1.0 } else { -1.0 };
            let n: f64 = StandardNormal.sample(rng);
            let rho = RADIUS_MEAN + sd * n;
            if !(self.rho_range.0 < rho && rho < self.rho_range.1) {
                continue;
            }
            let alpha = PI * (rng.random::<f64>() - 0.5);
            let log_accept = self.log_ratio(sign, rho, alpha) - self.log_bound;
            debug_assert!(
                log_accept <= 0.0,
                "two-moons rejection bound violated: {log_accept}"
            );
            if rng.random::<f64>().ln() < log_accept {
                if let Some(th) = theta_of(sign, rho, alpha, self.y) {
                    return th;
                }
            }
        }
    }
}

impl ReferenceSampler for TwoMoonsSampler {
    fn dim(&self) -> usize {
        2
    }
    fn sample(&self, n: usize, rng: &mut dyn RngCore) -> Array2<f64> {
        let mut out = Array2::zeros((n, 2));
        for mut row in out.rows_mut() {
            let th = self.sample_one(rng);
            row[0] = th[0];
            row[1] = th[1];
        }
        out
    }
}
