//! Quadrature: Gauss–Legendre nodes (Newton on Legendre polynomials) and 1D grid integrals/inverse CDF.
//!
//! [`gauss_legendre`] gives the n-point rule on an interval. [`Grid1d`] tabulates a 1D reduced
//! energy u(x) on a uniform grid and provides trapezoidal log Z, moments of an observable and
//! inverse-CDF sampling (linear interpolation of the inverse of the trapezoidal CDF), as
//! `targets.md` §1 prescribes.

use crate::TargetError;
use rand::Rng;

/// Nodes and weights of the n-point Gauss–Legendre rule on `[a, b]` (exact for polynomials of
/// degree ≤ 2n − 1).
///
/// Nodes are found by Newton's method on P_n from the Tricomi initial guess
/// `cos(π(i − ¼)/(n + ½))`, using the three-term recurrence for P_n and P_n'.
///
/// ```
/// let (x, w) = trade_targets::quadrature::gauss_legendre(5, 0.0, 2.0);
/// let int: f64 = x.iter().zip(&w).map(|(x, w)| w * x.powi(4)).sum();
/// assert!((int - 32.0 / 5.0).abs() < 1e-12);
/// ```
pub fn gauss_legendre(n: usize, a: f64, b: f64) -> (Vec<f64>, Vec<f64>) {
    let mut nodes = vec![0.0; n];
    let mut weights = vec![0.0; n];
    let half = 0.5 * (b - a);
    let mid = 0.5 * (b + a);
    for i in 0..n.div_ceil(2) {
        let mut t = (std::f64::consts::PI * (i as f64 + 0.75) / (n as f64 + 0.5)).cos();
        let mut dp = 1.0;
        for _ in 0..100 {
            let (p, d) = legendre_and_derivative(n, t);
            dp = d;
            let step = p / d;
            t -= step;
            if step.abs() < 1e-16 {
                break;
            }
        }
        let (_, d) = legendre_and_derivative(n, t);
        dp = if d.is_finite() { d } else { dp };
        let w = 2.0 / ((1.0 - t * t) * dp * dp);
        nodes[i] = mid - half * t;
        nodes[n - 1 - i] = mid + half * t;
        weights[i] = half * w;
        weights[n - 1 - i] = half * w;
    }
    (nodes, weights)
}

/// P_n(t) and P_n'(t) by the Bonnet recurrence.
fn legendre_and_derivative(n: usize, t: f64) -> (f64, f64) {
    let mut p0 = 1.0;
    let mut p1 = t;
    if n == 0 {
        return (1.0, 0.0);
    }
    for k in 2..=n {
        let k = k as f64;
        let p2 = ((2.0 * k - 1.0) * t * p1 - (k - 1.0) * p0) / k;
        p0 = p1;
        p1 = p2;
    }
    let n = n as f64;
    (p1, n * (t * p1 - p0) / (t * t - 1.0))
}

/// `log Σ_i exp(a_i)`, stable; `−∞` for an empty or all-`−∞` input.
pub fn log_sum_exp(a: &[f64]) -> f64 {
    let max = a.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if max == f64::NEG_INFINITY {
        return max;
    }
    max + a.iter().map(|&v| (v - max).exp()).sum::<f64>().ln()
}

/// A 1D density `exp(−u(x))` tabulated on a uniform grid, with trapezoidal integrals and an
/// inverse-CDF sampler.
#[derive(Debug, Clone)]
pub struct Grid1d {
    lo: f64,
    step: f64,
    u: Vec<f64>,
    u_min: f64,
    /// Cumulative trapezoidal mass of `exp(−(u − u_min))`, `cdf[0] = 0`.
    cdf: Vec<f64>,
}

impl Grid1d {
    /// Tabulates `u` at `n_points` equally spaced points of `[lo, hi]` (endpoints included).
    ///
    /// ```
    /// use trade_targets::quadrature::Grid1d;
    /// let g = Grid1d::new(|x| 0.5 * x * x, -12.0, 12.0, 20_001)?;
    /// assert!((g.log_z() - (2.0 * std::f64::consts::PI).sqrt().ln()).abs() < 1e-10);
    /// # Ok::<(), trade_targets::TargetError>(())
    /// ```
    pub fn new(
        u: impl Fn(f64) -> f64,
        lo: f64,
        hi: f64,
        n_points: usize,
    ) -> Result<Self, TargetError> {
        if !(n_points >= 2 && lo.is_finite() && hi.is_finite() && lo < hi) {
            return Err(TargetError::InvalidParameter {
                field: "grid",
                value: format!("[{lo}, {hi}] with {n_points} points"),
                allowed: "finite lo < hi and at least 2 points".into(),
            });
        }
        let step = (hi - lo) / (n_points - 1) as f64;
        let u: Vec<f64> = (0..n_points).map(|i| u(lo + step * i as f64)).collect();
        let u_min = u.iter().copied().fold(f64::INFINITY, f64::min);
        let mut cdf = Vec::with_capacity(n_points);
        cdf.push(0.0);
        for i in 1..n_points {
            let cell = 0.5 * step * ((u_min - u[i - 1]).exp() + (u_min - u[i]).exp());
            cdf.push(cdf[i - 1] + cell);
        }
        Ok(Self {
            lo,
            step,
            u,
            u_min,
            cdf,
        })
    }

    /// log ∫ exp(−u) dx by the trapezoidal rule.
    pub fn log_z(&self) -> f64 {
        self.cdf[self.cdf.len() - 1].ln() - self.u_min
    }

    /// `(⟨f⟩, Var f)` under the normalised density, by the trapezoidal rule.
    pub fn mean_and_var(&self, f: impl Fn(f64) -> f64) -> (f64, f64) {
        let (mut z, mut s1, mut s2) = (0.0, 0.0, 0.0);
        let n = self.u.len();
        for (i, &ui) in self.u.iter().enumerate() {
            let w = if i == 0 || i == n - 1 { 0.5 } else { 1.0 } * (self.u_min - ui).exp();
            let v = f(self.lo + self.step * i as f64);
            z += w;
            s1 += w * v;
            s2 += w * v * v;
        }
        let mean = s1 / z;
        (mean, (s2 / z - mean * mean).max(0.0))
    }

    /// One draw by inverse CDF: the cell is found by bisection, the point by linear interpolation.
    pub fn sample_one<R: Rng + ?Sized>(&self, rng: &mut R) -> f64 {
        let total = self.cdf[self.cdf.len() - 1];
        let r = rng.random::<f64>() * total;
        let i = self
            .cdf
            .partition_point(|&v| v <= r)
            .clamp(1, self.cdf.len() - 1);
        let (a, b) = (self.cdf[i - 1], self.cdf[i]);
        let frac = if b > a {
            ((r - a) / (b - a)).clamp(0.0, 1.0)
        } else {
            0.5
        };
        self.lo + self.step * ((i - 1) as f64 + frac)
    }
}
