//! Exact HMC for φ⁴: leapfrog with jittered step, Metropolis accept, global sign flip, parallel chains.
//!
//! `targets.md` §5.4: H = ½|p|² + S(φ), p ~ N(0, I); per trajectory the step is ε·U(1 − j, 1 + j);
//! accept with min(1, e^{−ΔH}); afterwards flip φ → −φ with probability ½ (exact because S is
//! even). Chain `k` uses the stream [`rng_for`]`(seed, k)`, so results do not depend on the
//! thread count.

use super::Phi4;
use crate::{ReferenceSampler, TargetError, rng_for};
use ndarray::Array2;
use rand::{Rng, RngCore};
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;

/// Settings of an HMC run (all chains at one κ).
#[derive(Debug, Clone, PartialEq)]
pub struct HmcConfig {
    /// Independent chains (run in parallel).
    pub n_chains: usize,
    /// Thermalisation trajectories per chain (not measured).
    pub n_therm: usize,
    /// Measured trajectories per chain.
    pub n_traj: usize,
    /// Mean leapfrog step ε.
    pub step_size: f64,
    /// Leapfrog steps per trajectory (trajectory length ≈ ε · n_leapfrog).
    pub n_leapfrog: usize,
    /// Relative jitter j of the step: ε·U(1 − j, 1 + j), j in [0, 1).
    pub jitter: f64,
    /// Store every `save_every`-th measured configuration (0: store none).
    pub save_every: usize,
    /// Master seed; chain k uses `rng_for(seed, k)`.
    pub seed: u64,
}

impl Default for HmcConfig {
    /// Spec defaults: 256 chains, 300 thermalisation and 3000 measured trajectories, length 1.
    fn default() -> Self {
        Self {
            n_chains: 256,
            n_therm: 300,
            n_traj: 3000,
            step_size: 0.25,
            n_leapfrog: 4,
            jitter: 0.2,
            save_every: 0,
            seed: 0,
        }
    }
}

impl HmcConfig {
    /// Checks every field against its allowed range.
    pub fn validate(&self) -> Result<(), TargetError> {
        let bad = |field: &'static str, value: String, allowed: &str| {
            Err(TargetError::InvalidParameter {
                field,
                value,
                allowed: allowed.into(),
            })
        };
        if self.n_chains == 0 {
            return bad("n_chains", "0".into(), ">= 1");
        }
        if self.n_traj == 0 {
            return bad("n_traj", "0".into(), ">= 1");
        }
        if !(self.step_size.is_finite() && self.step_size > 0.0 && self.step_size <= 2.0) {
            return bad("step_size", self.step_size.to_string(), "(0, 2]");
        }
        if self.n_leapfrog == 0 {
            return bad("n_leapfrog", "0".into(), ">= 1");
        }
        if !(self.jitter.is_finite() && 0.0 <= self.jitter && self.jitter < 1.0) {
            return bad("jitter", self.jitter.to_string(), "[0, 1)");
        }
        Ok(())
    }
}

/// Per-trajectory measurements of one configuration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Measurement {
    /// Magnetisation density m = (1/V) Σ_x φ_x.
    pub m: f64,
    /// Action density S/V.
    pub action_density: f64,
    /// (1/V) Σ_x φ_x².
    pub phi2_density: f64,
    /// (1/V) Σ_x φ_x⁴.
    pub phi4_density: f64,
}

/// The result of [`run_hmc`].
#[derive(Debug, Clone)]
pub struct HmcRun {
    /// The target that was sampled.
    pub phi4: Phi4,
    /// κ of the run.
    pub kappa: f64,
    /// Fraction of accepted trajectories (measured phase).
    pub acceptance: f64,
    /// Measurement series, `series[chain][trajectory]`.
    pub series: Vec<Vec<Measurement>>,
    /// Stored configurations (rows, chain-major), shape (n_stored, V).
    pub configs: Array2<f64>,
}

struct Chain<'a> {
    phi4: &'a Phi4,
    kappa: f64,
    phi: Vec<f64>,
    grad: Vec<f64>,
    action: f64,
}

impl<'a> Chain<'a> {
    fn new(phi4: &'a Phi4, kappa: f64, rng: &mut dyn RngCore) -> Self {
        let phi: Vec<f64> = (0..phi4.volume())
            .map(|_| StandardNormal.sample(rng))
            .collect();
        let mut grad = vec![0.0; phi.len()];
        let action = phi4.action_and_grad(&phi, kappa, &mut grad);
        Self {
            phi4,
            kappa,
            phi,
            grad,
            action,
        }
    }

    /// One trajectory plus the sign flip; returns whether it was accepted.
    fn trajectory(&mut self, cfg: &HmcConfig, rng: &mut dyn RngCore) -> bool {
        let v = self.phi.len();
        let mut p: Vec<f64> = (0..v).map(|_| StandardNormal.sample(rng)).collect();
        let h0 = 0.5 * p.iter().map(|x| x * x).sum::<f64>() + self.action;
        let eps = cfg.step_size * (1.0 + cfg.jitter * (2.0 * rng.random::<f64>() - 1.0));
        let mut phi = self.phi.clone();
        let mut grad = self.grad.clone();
        let mut action = self.action;
        for (pi, gi) in p.iter_mut().zip(&grad) {
            *pi -= 0.5 * eps * gi;
        }
        for step in 0..cfg.n_leapfrog {
            for (f, pi) in phi.iter_mut().zip(&p) {
                *f += eps * pi;
            }
            action = self.phi4.action_and_grad(&phi, self.kappa, &mut grad);
            let kick = if step + 1 == cfg.n_leapfrog {
                0.5 * eps
            } else {
                eps
            };
            for (pi, gi) in p.iter_mut().zip(&grad) {
                *pi -= kick * gi;
            }
        }
        let h1 = 0.5 * p.iter().map(|x| x * x).sum::<f64>() + action;
        let accepted = h1.is_finite() && rng.random::<f64>().ln() < h0 - h1;
        if accepted {
            self.phi = phi;
            self.grad = grad;
            self.action = action;
        }
        if rng.random::<bool>() {
            self.phi.iter_mut().for_each(|f| *f = -*f);
            self.grad.iter_mut().for_each(|g| *g = -*g);
        }
        accepted
    }

    fn measure(&self) -> Measurement {
        let v = self.phi.len() as f64;
        Measurement {
            m: self.phi.iter().sum::<f64>() / v,
            action_density: self.action / v,
            phi2_density: self.phi.iter().map(|f| f * f).sum::<f64>() / v,
            phi4_density: self.phi.iter().map(|f| f.powi(4)).sum::<f64>() / v,
        }
    }
}

struct ChainResult {
    accepted: usize,
    series: Vec<Measurement>,
    configs: Vec<f64>,
}

fn run_chain(phi4: &Phi4, kappa: f64, cfg: &HmcConfig, k: usize) -> ChainResult {
    let mut rng = rng_for(cfg.seed, k as u64);
    let mut chain = Chain::new(phi4, kappa, &mut rng);
    for _ in 0..cfg.n_therm {
        chain.trajectory(cfg, &mut rng);
    }
    let mut out = ChainResult {
        accepted: 0,
        series: Vec::with_capacity(cfg.n_traj),
        configs: Vec::new(),
    };
    for t in 0..cfg.n_traj {
        out.accepted += usize::from(chain.trajectory(cfg, &mut rng));
        out.series.push(chain.measure());
        if cfg.save_every > 0 && (t + 1) % cfg.save_every == 0 {
            out.configs.extend_from_slice(&chain.phi);
        }
    }
    out
}

fn check_kappa(phi4: &Phi4, kappa: f64) -> Result<(), TargetError> {
    let (lo, hi) = super::KAPPA_ALLOWED;
    if !(kappa.is_finite() && lo <= kappa && kappa <= hi) {
        return Err(TargetError::ConditionOutOfRange {
            name: "kappa",
            value: kappa,
            allowed: format!("[{lo}, {hi}]"),
        });
    }
    if phi4.lambda() <= 0.0 && kappa >= 0.25 {
        return Err(TargetError::ConditionOutOfRange {
            name: "kappa",
            value: kappa,
            allowed: "[0, 0.25) when lambda = 0 (free field)".into(),
        });
    }
    Ok(())
}

/// Runs `cfg.n_chains` independent HMC chains at κ (in parallel, deterministic per seed).
///
/// ```
/// use trade_targets::phi4::{HmcConfig, Phi4, run_hmc};
/// let cfg = HmcConfig { n_chains: 2, n_therm: 10, n_traj: 20, ..HmcConfig::default() };
/// let run = run_hmc(&Phi4::default(), 0.25, &cfg)?;
/// assert!(run.acceptance > 0.5 && run.series[1].len() == 20);
/// # Ok::<(), trade_targets::TargetError>(())
/// ```
pub fn run_hmc(phi4: &Phi4, kappa: f64, cfg: &HmcConfig) -> Result<HmcRun, TargetError> {
    cfg.validate()?;
    check_kappa(phi4, kappa)?;
    let chains: Vec<ChainResult> = (0..cfg.n_chains)
        .into_par_iter()
        .map(|k| run_chain(phi4, kappa, cfg, k))
        .collect();
    let accepted: usize = chains.iter().map(|c| c.accepted).sum();
    let v = phi4.volume();
    let flat: Vec<f64> = chains
        .iter()
        .flat_map(|c| c.configs.iter().copied())
        .collect();
    let configs = Array2::from_shape_vec((flat.len() / v, v), flat)
        .expect("stored configurations are whole lattices");
    Ok(HmcRun {
        phi4: *phi4,
        kappa,
        acceptance: accepted as f64 / (cfg.n_chains * cfg.n_traj) as f64,
        series: chains.into_iter().map(|c| c.series).collect(),
        configs,
    })
}

/// Reference sampler for the CLI and data files: HMC chains, thermalised, thinned.
///
/// `sample(n)` runs `min(n, n_chains)` chains from a seed drawn from the generator and keeps every
/// `save_every`-th configuration of each (default 10 trajectories, several τ_int at 8×8).
#[derive(Debug, Clone)]
pub struct Phi4Sampler {
    phi4: Phi4,
    kappa: f64,
    config: HmcConfig,
}

impl Phi4Sampler {
    /// Default thinning (trajectories between stored configurations).
    pub const DEFAULT_THIN: usize = 10;

    /// A sampler at κ with 64 chains, 300 thermalisation trajectories and thinning 10.
    pub fn new(phi4: Phi4, kappa: f64) -> Result<Self, TargetError> {
        let config = HmcConfig {
            n_chains: 64,
            save_every: Self::DEFAULT_THIN,
            ..HmcConfig::default()
        };
        Self::with_config(phi4, kappa, config)
    }

    /// A sampler with explicit HMC settings (`save_every` is the thinning, ≥ 1).
    pub fn with_config(phi4: Phi4, kappa: f64, config: HmcConfig) -> Result<Self, TargetError> {
        config.validate()?;
        check_kappa(&phi4, kappa)?;
        if config.save_every == 0 {
            return Err(TargetError::InvalidParameter {
                field: "save_every",
                value: "0".into(),
                allowed: ">= 1".into(),
            });
        }
        Ok(Self {
            phi4,
            kappa,
            config,
        })
    }
}

impl ReferenceSampler for Phi4Sampler {
    fn dim(&self) -> usize {
        self.phi4.volume()
    }
    fn sample(&self, n: usize, rng: &mut dyn RngCore) -> Array2<f64> {
        if n == 0 {
            return Array2::zeros((0, self.dim()));
        }
        let n_chains = self.config.n_chains.min(n);
        let per_chain = n.div_ceil(n_chains);
        let cfg = HmcConfig {
            n_chains,
            n_traj: per_chain * self.config.save_every,
            seed: rng.next_u64(),
            ..self.config.clone()
        };
        let run = run_hmc(&self.phi4, self.kappa, &cfg)
            .expect("configuration validated in the constructor");
        run.configs.slice_move(ndarray::s![..n, ..])
    }
}
