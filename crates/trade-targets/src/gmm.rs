//! Appendix-C 2D Gaussian mixture: g(x) = Σ_k (1/6) N(x; μ_k, Σ_k), U = −β log g, condition β = 1/T.
//!
//! Spec `targets.md` §3. `p_β(x) ∝ g(x)^β`, `U = −β log g`, `∇_x U = −β ∇ log g`,
//! `∂_β U = −log g`; `log Z(β = 1) = 0`. Training range β ∈ [0.16238, 6.15848] (T = 1/β on the
//! same interval), boundary β = 1. log g is a log-sum-exp over the six components, each evaluated
//! through its f64 Cholesky factor (Σ₁ is nearly singular, det ≈ 0.0092126).
//!
//! References by quadrature ([`reference`]) use the spec grid: nodes −30 + 0.02·i on [−30, 30]².
//! Samples ([`GmmSampler`]): β = 1 exact mixture draws; β < 1 exact rejection from the tempered
//! components (`(Σ a_k)^β ≤ Σ a_k^β` for β ≤ 1); β > 1 grid inverse CDF (cells of side 0.005
//! inside a box holding all but ~e^{−30} of the mass, uniform within the cell), as the spec says.

use crate::quadrature::log_sum_exp;
use crate::rows::{map_rows, map_rows_grad, row2};
use crate::{ConditionSpec, ReferenceSampler, Target, TargetError};
use ndarray::{Array1, Array2, ArrayView1, ArrayView2};
use rand::{Rng, RngCore};
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;

/// Component means μ_k (`targets.md` §3 table).
pub const MEANS: [[f64; 2]; 6] = [
    [-1.0, 2.0],
    [3.0, 7.0],
    [-4.0, 2.0],
    [-2.0, -4.0],
    [0.0, 4.0],
    [5.0, -2.0],
];

/// Component covariances Σ_k as `[Σ00, Σ01, Σ11]` (`targets.md` §3 table).
pub const COVARIANCES: [[f64; 3]; 6] = [
    [0.2778, 0.4797, 0.8615],
    [0.8958, -0.0249, 0.1001],
    [1.3074, 0.9223, 0.7744],
    [0.0305, 0.0142, 0.4409],
    [0.0463, 0.0294, 0.3441],
    [0.15, 0.0294, 1.5],
];

/// Allowed β: U is defined for every β > 0; references and samplers are validated on [0.1, 10].
pub const BETA_ALLOWED: (f64, f64) = (0.1, 10.0);

/// One Gaussian component, pre-factorised.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Component {
    mean: [f64; 2],
    /// Cholesky factor L (Σ = L Lᵀ): `[l00, l10, l11]`.
    chol: [f64; 3],
    /// log(1/6) − log(2π) − ½ log det Σ.
    log_norm: f64,
}

impl Component {
    fn new(mean: [f64; 2], cov: [f64; 3]) -> Self {
        let l00 = cov[0].sqrt();
        let l10 = cov[1] / l00;
        let l11 = (cov[2] - l10 * l10).sqrt();
        let log_det = 2.0 * (l00.ln() + l11.ln());
        let log_norm = -(6f64).ln() - (2.0 * std::f64::consts::PI).ln() - 0.5 * log_det;
        Self {
            mean,
            chol: [l00, l10, l11],
            log_norm,
        }
    }

    /// Whitened offset w = L⁻¹ (x − μ).
    fn whiten(&self, x: [f64; 2]) -> [f64; 2] {
        let [l00, l10, l11] = self.chol;
        let w0 = (x[0] - self.mean[0]) / l00;
        let w1 = (x[1] - self.mean[1] - l10 * w0) / l11;
        [w0, w1]
    }

    /// log((1/6) N(x; μ, Σ)).
    fn log_density(&self, x: [f64; 2]) -> f64 {
        let w = self.whiten(x);
        self.log_norm - 0.5 * (w[0] * w[0] + w[1] * w[1])
    }

    /// log((1/6) N(x)) and its gradient −Σ⁻¹(x − μ) = −L⁻ᵀ w.
    fn log_density_and_grad(&self, x: [f64; 2]) -> (f64, [f64; 2]) {
        let [l00, l10, l11] = self.chol;
        let w = self.whiten(x);
        let g1 = -w[1] / l11;
        let g0 = (-w[0] - l10 * g1) / l00;
        (self.log_norm - 0.5 * (w[0] * w[0] + w[1] * w[1]), [g0, g1])
    }

    /// μ + L z.
    fn transform(&self, z: [f64; 2], scale: f64) -> [f64; 2] {
        let [l00, l10, l11] = self.chol;
        [
            self.mean[0] + scale * l00 * z[0],
            self.mean[1] + scale * (l10 * z[0] + l11 * z[1]),
        ]
    }
}

/// The six-component mixture (Appendix C).
#[derive(Debug, Clone, PartialEq)]
pub struct Gmm {
    components: [Component; 6],
}

impl Default for Gmm {
    fn default() -> Self {
        Self::new()
    }
}

impl Gmm {
    /// The Appendix-C mixture with the constants of [`MEANS`] and [`COVARIANCES`].
    ///
    /// ```
    /// let g = trade_targets::Gmm::new();
    /// assert!(g.log_g([-1.0, 2.0]).is_finite());
    /// ```
    pub fn new() -> Self {
        Self {
            components: std::array::from_fn(|k| Component::new(MEANS[k], COVARIANCES[k])),
        }
    }

    /// log g(x), normalised (∫ g = 1).
    pub fn log_g(&self, x: [f64; 2]) -> f64 {
        let lc: [f64; 6] = std::array::from_fn(|k| self.components[k].log_density(x));
        log_sum_exp(&lc)
    }

    /// log g(x) and ∇ log g(x) = Σ_k r_k(x) ∇ log N_k(x), r_k the responsibilities.
    pub fn log_g_and_grad(&self, x: [f64; 2]) -> (f64, [f64; 2]) {
        let parts: [(f64, [f64; 2]); 6] =
            std::array::from_fn(|k| self.components[k].log_density_and_grad(x));
        let lc: [f64; 6] = std::array::from_fn(|k| parts[k].0);
        let lg = log_sum_exp(&lc);
        let mut grad = [0.0; 2];
        for (l, g) in parts {
            let r = (l - lg).exp();
            grad[0] += r * g[0];
            grad[1] += r * g[1];
        }
        (lg, grad)
    }
}

impl Target for Gmm {
    fn name(&self) -> &str {
        "gmm"
    }
    fn dim(&self) -> usize {
        2
    }
    fn condition(&self) -> ConditionSpec {
        ConditionSpec {
            name: "beta",
            min: BETA_ALLOWED.0,
            max: BETA_ALLOWED.1,
            train_range: (0.16238, 6.15848),
            boundary: vec![1.0],
        }
    }
    fn energy(&self, x: ArrayView2<f64>, c: ArrayView1<f64>) -> Array1<f64> {
        map_rows(x, c, |row, beta| -beta * self.log_g(row2(row)))
    }
    fn grad_x(&self, x: ArrayView2<f64>, c: ArrayView1<f64>) -> Array2<f64> {
        self.energy_and_grad(x, c).1
    }
    fn d_energy_dc(&self, x: ArrayView2<f64>, c: ArrayView1<f64>) -> Array1<f64> {
        map_rows(x, c, |row, _| -self.log_g(row2(row)))
    }
    fn energy_and_grad(
        &self,
        x: ArrayView2<f64>,
        c: ArrayView1<f64>,
    ) -> (Array1<f64>, Array2<f64>) {
        map_rows_grad(x, c, |row, beta, mut g| {
            let (lg, dg) = self.log_g_and_grad(row2(row));
            g[0] = -beta * dg[0];
            g[1] = -beta * dg[1];
            -beta * lg
        })
    }
}

/// Exact references of `p_β ∝ g^β` by grid quadrature.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GmmReference {
    /// log Z(β) = log ∫ g^β dx (0 at β = 1).
    pub log_z: f64,
    /// E_β[log g].
    pub mean_log_g: f64,
    /// Var_β[log g] (= d² log Z/dβ²).
    pub var_log_g: f64,
    /// Entropy H = log Z − β E_β[log g] (the optimal NLL).
    pub entropy: f64,
    /// ⟨∂_β U⟩ = −E_β[log g].
    pub mean_du_dc: f64,
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

/// Quadrature grid of `targets.md` §3: nodes −30 + 0.02·i, i = 0..=3000, per axis.
pub const QUADRATURE_GRID: (f64, f64, usize) = (-30.0, 0.02, 3001);

/// log Z, E[log g], Var[log g] and entropy of `p_β ∝ g^β` on the spec grid ([−30, 30]², step 0.02).
///
/// ```
/// let r = trade_targets::gmm::reference(1.0)?;
/// assert!(r.log_z.abs() < 1e-6);
/// # Ok::<(), trade_targets::TargetError>(())
/// ```
pub fn reference(beta: f64) -> Result<GmmReference, TargetError> {
    Ok(references(&[beta])?[0])
}

/// [`reference`] at several β in one pass over the quadrature grid (log g is evaluated once per
/// node and reused for every β), in the order given.
///
/// ```
/// let r = trade_targets::gmm::references(&[1.0, 2.0])?;
/// assert_eq!(r[0], trade_targets::gmm::reference(1.0)?);
/// # Ok::<(), trade_targets::TargetError>(())
/// ```
pub fn references(betas: &[f64]) -> Result<Vec<GmmReference>, TargetError> {
    for &b in betas {
        check_beta(b)?;
    }
    let gmm = Gmm::new();
    let (lo, h, n) = QUADRATURE_GRID;
    let nb = betas.len();
    // The largest β log g is below 0 for every β ≥ 0.1 (max g ≈ 0.28), so exp never overflows.
    // Per grid row and β: [Σ w, Σ w log g, Σ w (log g)²] with w = g^β.
    let rows: Vec<Vec<[f64; 3]>> = (0..n)
        .into_par_iter()
        .map(|i| {
            let x0 = lo + h * i as f64;
            let mut s = vec![[0.0; 3]; nb];
            for j in 0..n {
                let lg = gmm.log_g([x0, lo + h * j as f64]);
                for (acc, &beta) in s.iter_mut().zip(betas) {
                    let w = (beta * lg).exp();
                    acc[0] += w;
                    acc[1] += w * lg;
                    acc[2] += w * lg * lg;
                }
            }
            s
        })
        .collect();
    Ok((0..nb)
        .map(|b| {
            let s = rows.iter().fold([0.0; 3], |a, r| {
                [a[0] + r[b][0], a[1] + r[b][1], a[2] + r[b][2]]
            });
            let (beta, mean) = (betas[b], s[1] / s[0]);
            let var = (s[2] / s[0] - mean * mean).max(0.0);
            let log_z = (s[0] * h * h).ln();
            GmmReference {
                log_z,
                mean_log_g: mean,
                var_log_g: var,
                entropy: log_z - beta * mean,
                mean_du_dc: -mean,
            }
        })
        .collect())
}

/// Reference sampler of `p_β ∝ g^β` (exact for β ≤ 1, fine-grid inverse CDF for β > 1).
#[derive(Debug, Clone)]
pub struct GmmSampler {
    gmm: Gmm,
    beta: f64,
    grid: Option<CellGrid>,
}

impl GmmSampler {
    /// A sampler at inverse temperature `beta` (builds the cell table when β > 1).
    pub fn new(beta: f64) -> Result<Self, TargetError> {
        check_beta(beta)?;
        let gmm = Gmm::new();
        let grid = (beta > 1.0 + 1e-12).then(|| CellGrid::new(&gmm, beta));
        Ok(Self { gmm, beta, grid })
    }

    fn sample_one(&self, rng: &mut dyn RngCore) -> [f64; 2] {
        if let Some(grid) = &self.grid {
            return grid.sample_one(&self.gmm, rng);
        }
        if (self.beta - 1.0).abs() <= 1e-12 {
            let k = rng.random_range(0..6);
            return self.components_draw(k, 1.0, rng);
        }
        self.rejection_draw(rng)
    }

    fn components_draw(&self, k: usize, scale: f64, rng: &mut dyn RngCore) -> [f64; 2] {
        let z = [StandardNormal.sample(rng), StandardNormal.sample(rng)];
        self.gmm.components[k].transform(z, scale)
    }

    /// β < 1: propose from Σ_k c_k N(μ_k, Σ_k/β) with c_k ∝ ∫ (N_k/6)^β; accept with
    /// g^β / Σ_k (N_k/6)^β ≤ 1.
    fn rejection_draw(&self, rng: &mut dyn RngCore) -> [f64; 2] {
        let b = self.beta;
        let log_c: [f64; 6] = std::array::from_fn(|k| {
            let c = &self.gmm.components[k];
            // ∫ exp(β log_density) = exp(β log_norm) · 2π det(Σ)^{1/2} / β.
            let half_log_det = (c.chol[0] * c.chol[2]).ln();
            b * c.log_norm + (2.0 * std::f64::consts::PI).ln() + half_log_det - b.ln()
        });
        let lse = log_sum_exp(&log_c);
        let cum: Vec<f64> = log_c
            .iter()
            .scan(0.0, |acc, l| {
                *acc += (l - lse).exp();
                Some(*acc)
            })
            .collect();
        loop {
            let r: f64 = rng.random();
            let k = cum.iter().position(|&c| r < c).unwrap_or(5);
            let x = self.components_draw(k, 1.0 / b.sqrt(), rng);
            let lc: [f64; 6] = std::array::from_fn(|j| self.gmm.components[j].log_density(x));
            let tempered: [f64; 6] = std::array::from_fn(|j| b * lc[j]);
            let log_accept = b * log_sum_exp(&lc) - log_sum_exp(&tempered);
            if rng.random::<f64>().ln() < log_accept {
                return x;
            }
        }
    }
}

impl ReferenceSampler for GmmSampler {
    fn dim(&self) -> usize {
        2
    }
    fn sample(&self, n: usize, rng: &mut dyn RngCore) -> Array2<f64> {
        let mut out = Array2::zeros((n, 2));
        for mut row in out.rows_mut() {
            let x = self.sample_one(rng);
            row[0] = x[0];
            row[1] = x[1];
        }
        out
    }
}

/// Fine cells of side [`CellGrid::FINE`] grouped in coarse blocks of `SUB × SUB`; only the coarse
/// masses are stored, the fine ones are recomputed for the chosen block.
#[derive(Debug, Clone)]
struct CellGrid {
    beta: f64,
    origin: [f64; 2],
    n_coarse: [usize; 2],
    shift: f64,
    cdf: Vec<f64>,
}

impl CellGrid {
    const FINE: f64 = 0.005;
    const SUB: usize = 8;

    fn new(gmm: &Gmm, beta: f64) -> Self {
        // Box: every component's tempered ellipse to Mahalanobis radius √(2·34) (mass e^{−34} left).
        let r = (2.0 * 34.0f64).sqrt() / beta.sqrt();
        let mut lo = [f64::INFINITY; 2];
        let mut hi = [f64::NEG_INFINITY; 2];
        for (m, c) in MEANS.iter().zip(COVARIANCES) {
            let sd = [c[0].sqrt(), c[2].sqrt()];
            for a in 0..2 {
                lo[a] = lo[a].min(m[a] - r * sd[a]);
                hi[a] = hi[a].max(m[a] + r * sd[a]);
            }
        }
        let side = Self::FINE * Self::SUB as f64;
        let n_coarse = [
            ((hi[0] - lo[0]) / side).ceil() as usize,
            ((hi[1] - lo[1]) / side).ceil() as usize,
        ];
        let shift = MEANS
            .iter()
            .map(|&m| beta * gmm.log_g(m))
            .fold(f64::NEG_INFINITY, f64::max);
        let mut grid = Self {
            beta,
            origin: lo,
            n_coarse,
            shift,
            cdf: Vec::new(),
        };
        let masses: Vec<f64> = (0..n_coarse[0] * n_coarse[1])
            .into_par_iter()
            .map(|cell| grid.fine_masses(gmm, cell).iter().sum())
            .collect();
        let mut acc = 0.0;
        grid.cdf = masses
            .iter()
            .map(|m| {
                acc += m;
                acc
            })
            .collect();
        grid
    }

    /// Unnormalised masses exp(β log g(centre) − shift) of the fine cells of coarse cell `cell`.
    fn fine_masses(&self, gmm: &Gmm, cell: usize) -> [f64; 64] {
        std::array::from_fn(|f| {
            let x = self.fine_corner(cell, f);
            (self.beta * gmm.log_g([x[0] + 0.5 * Self::FINE, x[1] + 0.5 * Self::FINE]) - self.shift)
                .exp()
        })
    }

    /// Lower-left corner of fine cell `f` (0..64) of coarse cell `cell`.
    fn fine_corner(&self, cell: usize, f: usize) -> [f64; 2] {
        let (ci, cj) = (cell / self.n_coarse[1], cell % self.n_coarse[1]);
        let (fi, fj) = (f / Self::SUB, f % Self::SUB);
        [
            self.origin[0] + Self::FINE * (ci * Self::SUB + fi) as f64,
            self.origin[1] + Self::FINE * (cj * Self::SUB + fj) as f64,
        ]
    }

    fn sample_one(&self, gmm: &Gmm, rng: &mut dyn RngCore) -> [f64; 2] {
        let total = self.cdf[self.cdf.len() - 1];
        let r = rng.random::<f64>() * total;
        let cell = self
            .cdf
            .partition_point(|&v| v <= r)
            .min(self.cdf.len() - 1);
        let fine = self.fine_masses(gmm, cell);
        let fine_total: f64 = fine.iter().sum();
        let mut s = rng.random::<f64>() * fine_total;
        let mut f = fine.len() - 1;
        for (i, m) in fine.iter().enumerate() {
            if s < *m {
                f = i;
                break;
            }
            s -= m;
        }
        let corner = self.fine_corner(cell, f);
        [
            corner[0] + Self::FINE * rng.random::<f64>(),
            corner[1] + Self::FINE * rng.random::<f64>(),
        ]
    }
}
