//! φ⁴ data (`targets.md` §5.4): exact-HMC training configurations at each κ0 and the MCMC
//! reference curve of the §13.4 observables, both seeded and cached under `target/cache/` so
//! that reruns skip the sampling.

use crate::reproduce::common::cache_dir;
use anyhow::{Context, Result};
use ndarray::Array2;
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use serde::{Deserialize, Serialize};
use trade_targets::ReferenceSampler;
use trade_targets::phi4::{HmcConfig, Phi4, Phi4Sampler, observables, run_hmc};

/// HMC settings of one profile.
#[derive(Debug, Clone)]
pub struct HmcSizes {
    /// Training configurations per κ0.
    pub n_train: usize,
    /// Chains for the training data.
    pub train_chains: usize,
    /// Trajectories between stored training configurations.
    pub thin: usize,
    /// Reference-curve runs: chains, thermalisation and measured trajectories per κ.
    pub reference: (usize, usize, usize),
}

/// Version of the cached data's generating code, part of every cache file name: bump it when
/// the sampler or its settings change, so that stale caches are never read.
const CACHE_VERSION: &str = "v2";

/// Exact-HMC configurations at `kappa` (n_train, 64), read from the cache if present.
pub fn training_configs(sizes: &HmcSizes, kappa: f64, seed: u64) -> Result<Array2<f64>> {
    let path = cache_dir().join(format!(
        "phi4-{CACHE_VERSION}-train-k{kappa}-n{}-c{}-thin{}-s{seed}.npy",
        sizes.n_train, sizes.train_chains, sizes.thin
    ));
    if let Ok(a) = ndarray_npy::read_npy::<_, Array2<f64>>(&path) {
        return Ok(a);
    }
    let config = HmcConfig {
        n_chains: sizes.train_chains,
        n_therm: 300,
        save_every: sizes.thin,
        ..HmcConfig::default()
    };
    let sampler = Phi4Sampler::with_config(Phi4::default(), kappa, config)?;
    let x = sampler.sample(sizes.n_train, &mut Xoshiro256PlusPlus::seed_from_u64(seed));
    std::fs::create_dir_all(cache_dir())?;
    let tmp = path.with_extension("npy.tmp");
    ndarray_npy::write_npy(&tmp, &x).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &path)?;
    Ok(x)
}

/// A value with its one-σ error.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Ve {
    /// Value.
    pub v: f64,
    /// Error.
    pub e: f64,
}

/// The MCMC reference at one κ (jackknife errors over chain groups).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RefPoint {
    /// κ.
    pub kappa: f64,
    /// ⟨|m|⟩.
    pub abs_m: Ve,
    /// ⟨S⟩/V.
    pub action_density: Ve,
    /// χ = V(⟨m²⟩ − ⟨|m|⟩²).
    pub chi: Ve,
    /// V⟨m²⟩.
    pub chi_textbook: Ve,
    /// U_L.
    pub binder: Ve,
    /// Schwinger–Dyson combination (½ exactly).
    pub schwinger_dyson: Ve,
    /// HMC acceptance.
    pub acceptance: f64,
    /// τ_int of |m| (trajectories).
    pub tau_abs_m: f64,
}

/// The MCMC reference curve on `kappas`, cached as JSON.
pub fn reference_curve(sizes: &HmcSizes, kappas: &[f64], seed: u64) -> Result<Vec<RefPoint>> {
    let (chains, therm, traj) = sizes.reference;
    let path = cache_dir().join(format!(
        "phi4-{CACHE_VERSION}-mcmc-{}k{:.4}-{:.4}-c{chains}-th{therm}-t{traj}-s{seed}.json",
        kappas.len(),
        kappas[0],
        kappas[kappas.len() - 1]
    ));
    if let Ok(text) = std::fs::read_to_string(&path) {
        if let Ok(points) = serde_json::from_str::<Vec<RefPoint>>(&text) {
            if points.len() == kappas.len() {
                return Ok(points);
            }
        }
    }
    let phi4 = Phi4::default();
    let mut points = Vec::with_capacity(kappas.len());
    for (k, &kappa) in kappas.iter().enumerate() {
        let cfg = HmcConfig {
            n_chains: chains,
            n_therm: therm,
            n_traj: traj,
            seed: seed.wrapping_add(1000 + k as u64),
            ..HmcConfig::default()
        };
        let o = observables(&run_hmc(&phi4, kappa, &cfg)?);
        let ve = |e: trade_targets::phi4::Estimate| Ve {
            v: e.value,
            e: e.error,
        };
        points.push(RefPoint {
            kappa,
            abs_m: ve(o.abs_m),
            action_density: ve(o.action_density),
            chi: ve(o.chi),
            chi_textbook: ve(o.chi_textbook),
            binder: ve(o.binder),
            schwinger_dyson: ve(o.schwinger_dyson),
            acceptance: o.acceptance,
            tau_abs_m: o.tau_abs_m.tau,
        });
    }
    trade_core::checkpoint::write_atomic(&path, serde_json::to_string(&points)?.as_bytes())?;
    Ok(points)
}
