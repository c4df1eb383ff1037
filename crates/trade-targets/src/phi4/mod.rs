//! φ⁴ scalar field on an N×N periodic lattice: S(φ; κ, λ), condition κ, with an exact HMC sampler.
//!
//! Spec `targets.md` §5. Rows are the lattice in row-major order (site (i, j) at column `i·N + j`,
//! d = N²):
//!
//! `S = Σ_x [(1 − 2λ) φ_x² + λ φ_x⁴ − 2κ φ_x (φ_{x+ê1} + φ_{x+ê2})]`, periodic, each bond once.
//!
//! `∂S/∂φ_x = 2(1 − 2λ)φ_x + 4λφ_x³ − 2κ Σ_μ (φ_{x+μ} + φ_{x−μ})`,
//! `∂_κ S = A(φ) = −2 Σ_x φ_x (φ_{x+ê1} + φ_{x+ê2})`. Defaults: N = 8, λ = 0.02; boundary
//! κ0 ∈ {0.25, 0.29}, TRADE range [0.22, 0.32] (observables to 0.33).
//!
//! [`hmc`] holds the exact sampler (HMC with Metropolis correction and global sign flips),
//! [`stats`] the Γ-method τ_int, jackknife errors and the observables of `method.md` §13.4 (of an
//! HMC run, or of independent configurations with bootstrap errors, optionally reweighted).

pub mod hmc;
pub mod stats;

pub use hmc::{HmcConfig, HmcRun, Measurement, Phi4Sampler, run_hmc};
pub use stats::{
    Estimate, Phi4Observables, SampleObservables, TauInt, observables, sample_observables, tau_int,
};

use crate::rows::{map_rows, map_rows_grad};
use crate::{ConditionSpec, Target, TargetError};
use ndarray::{Array1, Array2, ArrayView1, ArrayView2, ArrayViewMut1};

/// Default lattice side N.
pub const DEFAULT_LATTICE: usize = 8;
/// Default quartic coupling λ.
pub const DEFAULT_LAMBDA: f64 = 0.02;
/// Allowed lattice sides.
pub const LATTICE_ALLOWED: (usize, usize) = (2, 128);
/// Allowed λ.
pub const LAMBDA_ALLOWED: (f64, f64) = (0.0, 1.0);
/// Allowed κ (the action is defined for all κ; samplers need a bounded-below action).
pub const KAPPA_ALLOWED: (f64, f64) = (0.0, 0.5);

/// The φ⁴ action on an N×N periodic lattice at fixed λ; the condition is κ.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Phi4 {
    n: usize,
    lambda: f64,
}

impl Default for Phi4 {
    fn default() -> Self {
        Self {
            n: DEFAULT_LATTICE,
            lambda: DEFAULT_LAMBDA,
        }
    }
}

impl Phi4 {
    /// An N×N lattice with quartic coupling λ.
    ///
    /// ```
    /// use ndarray::Array2;
    /// use trade_targets::{Phi4, Target};
    /// let t = Phi4::new(8, 0.02)?;
    /// let x = Array2::from_elem((1, 64), 1.0); // constant field: S = V(1 − 2λ + λ − 4κ)
    /// let s = t.energy(x.view(), ndarray::array![0.25].view());
    /// assert!((s[0] - 64.0 * (1.0 - 0.02 - 1.0)).abs() < 1e-12);
    /// # Ok::<(), trade_targets::TargetError>(())
    /// ```
    pub fn new(n: usize, lambda: f64) -> Result<Self, TargetError> {
        if !(LATTICE_ALLOWED.0 <= n && n <= LATTICE_ALLOWED.1) {
            return Err(TargetError::InvalidParameter {
                field: "lattice",
                value: n.to_string(),
                allowed: format!(
                    "an integer in [{}, {}]",
                    LATTICE_ALLOWED.0, LATTICE_ALLOWED.1
                ),
            });
        }
        if !(lambda.is_finite() && LAMBDA_ALLOWED.0 <= lambda && lambda <= LAMBDA_ALLOWED.1) {
            return Err(TargetError::InvalidParameter {
                field: "lambda",
                value: lambda.to_string(),
                allowed: format!("[{}, {}]", LAMBDA_ALLOWED.0, LAMBDA_ALLOWED.1),
            });
        }
        Ok(Self { n, lambda })
    }

    /// Lattice side N.
    pub fn lattice(&self) -> usize {
        self.n
    }

    /// Quartic coupling λ.
    pub fn lambda(&self) -> f64 {
        self.lambda
    }

    /// Number of sites V = N².
    pub fn volume(&self) -> usize {
        self.n * self.n
    }

    /// Σ_x φ_x (φ_{x+ê1} + φ_{x+ê2}) of one configuration (so A = −2 × this).
    pub fn bond_sum(&self, phi: &[f64]) -> f64 {
        let n = self.n;
        let mut s = 0.0;
        for i in 0..n {
            let down = if i + 1 == n { 0 } else { i + 1 };
            for j in 0..n {
                let right = if j + 1 == n { 0 } else { j + 1 };
                s += phi[i * n + j] * (phi[down * n + j] + phi[i * n + right]);
            }
        }
        s
    }

    /// S(φ; κ) of one configuration.
    pub fn action(&self, phi: &[f64], kappa: f64) -> f64 {
        let l = self.lambda;
        let local: f64 = phi
            .iter()
            .map(|&p| p * p * ((1.0 - 2.0 * l) + l * p * p))
            .sum();
        local - 2.0 * kappa * self.bond_sum(phi)
    }

    /// Writes ∂S/∂φ into `grad` and returns S.
    pub fn action_and_grad(&self, phi: &[f64], kappa: f64, grad: &mut [f64]) -> f64 {
        let (n, l) = (self.n, self.lambda);
        let mut local = 0.0;
        for i in 0..n {
            let (down, up) = ((i + 1) % n, (i + n - 1) % n);
            for j in 0..n {
                let (right, left) = ((j + 1) % n, (j + n - 1) % n);
                let p = phi[i * n + j];
                local += p * p * ((1.0 - 2.0 * l) + l * p * p);
                let nb =
                    phi[down * n + j] + phi[up * n + j] + phi[i * n + right] + phi[i * n + left];
                grad[i * n + j] =
                    2.0 * (1.0 - 2.0 * l) * p + 4.0 * l * p * p * p - 2.0 * kappa * nb;
            }
        }
        local - 2.0 * kappa * self.bond_sum(phi)
    }

    fn row_slice<'a>(row: &'a ArrayView1<'a, f64>, buf: &'a mut Vec<f64>) -> &'a [f64] {
        match row.as_slice() {
            Some(s) => s,
            None => {
                buf.clear();
                buf.extend(row.iter());
                buf
            }
        }
    }
}

impl Target for Phi4 {
    fn name(&self) -> &str {
        "phi4"
    }
    fn dim(&self) -> usize {
        self.volume()
    }
    fn condition(&self) -> ConditionSpec {
        ConditionSpec {
            name: "kappa",
            min: KAPPA_ALLOWED.0,
            max: KAPPA_ALLOWED.1,
            train_range: (0.22, 0.32),
            boundary: vec![0.25, 0.29],
        }
    }
    fn energy(&self, x: ArrayView2<f64>, c: ArrayView1<f64>) -> Array1<f64> {
        map_rows(x, c, |row, kappa| {
            let mut buf = Vec::new();
            self.action(Self::row_slice(&row, &mut buf), kappa)
        })
    }
    fn grad_x(&self, x: ArrayView2<f64>, c: ArrayView1<f64>) -> Array2<f64> {
        self.energy_and_grad(x, c).1
    }
    fn d_energy_dc(&self, x: ArrayView2<f64>, c: ArrayView1<f64>) -> Array1<f64> {
        map_rows(x, c, |row, _| {
            let mut buf = Vec::new();
            -2.0 * self.bond_sum(Self::row_slice(&row, &mut buf))
        })
    }
    fn energy_and_grad(
        &self,
        x: ArrayView2<f64>,
        c: ArrayView1<f64>,
    ) -> (Array1<f64>, Array2<f64>) {
        map_rows_grad(x, c, |row, kappa, mut g: ArrayViewMut1<f64>| {
            let mut buf = Vec::new();
            let phi = Self::row_slice(&row, &mut buf);
            match g.as_slice_mut() {
                Some(gs) => self.action_and_grad(phi, kappa, gs),
                None => {
                    let mut tmp = vec![0.0; phi.len()];
                    let s = self.action_and_grad(phi, kappa, &mut tmp);
                    g.iter_mut().zip(tmp).for_each(|(o, v)| *o = v);
                    s
                }
            }
        })
    }
}

/// Exact free-field (λ = 0, κ < ¼) site variance ⟨φ_x²⟩ = (1/V) Σ_k 1/(2(1 − 2κ(cos k1 + cos k2)))
/// and nearest-neighbour correlator ⟨φ_x φ_{x+ê1}⟩ on an N×N lattice.
///
/// ```
/// let (s, _) = trade_targets::phi4::free_field_two_point(8, 0.0)?;
/// assert!((s - 0.5).abs() < 1e-12);
/// # Ok::<(), trade_targets::TargetError>(())
/// ```
pub fn free_field_two_point(n: usize, kappa: f64) -> Result<(f64, f64), TargetError> {
    if !(kappa.is_finite() && (0.0..0.25).contains(&kappa)) {
        return Err(TargetError::ConditionOutOfRange {
            name: "kappa",
            value: kappa,
            allowed: "[0, 0.25) for the free field".into(),
        });
    }
    let (mut s0, mut s1) = (0.0, 0.0);
    for a in 0..n {
        for b in 0..n {
            let k1 = 2.0 * std::f64::consts::PI * a as f64 / n as f64;
            let k2 = 2.0 * std::f64::consts::PI * b as f64 / n as f64;
            let inv = 1.0 / (2.0 * (1.0 - 2.0 * kappa * (k1.cos() + k2.cos())));
            s0 += inv;
            s1 += inv * k1.cos();
        }
    }
    let v = (n * n) as f64;
    Ok((s0 / v, s1 / v))
}
