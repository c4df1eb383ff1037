//! Target densities for TRADE: dimensionless energies U(x; c) with hand-written x-gradients and
//! c-derivatives, exact or reference samplers, and exact references by quadrature.
//!
//! This crate does not depend on `trade-ad`: energies are plain ndarray functions.
//!
//! ```
//! use ndarray::array;
//! use rand::SeedableRng;
//! use trade_targets::{TargetOptions, by_name, sampler_by_name};
//! let target = by_name("multi-well", &TargetOptions::default())?; // 5D, condition T
//! let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(0);
//! let x = sampler_by_name("multi-well", &TargetOptions::default(), 0.5)?.sample(4, &mut rng);
//! let t = array![0.5];
//! target.check(x.view(), t.view())?;
//! let (u, grad) = target.energy_and_grad(x.view(), t.view());
//! let dudt = target.d_energy_dc(x.view(), t.view()); // ∂_T U = −E/T² = −U/T
//! assert!((dudt[0] + u[0] / 0.5).abs() < 1e-12 && grad.dim() == (4, 5));
//! let exact = trade_targets::multi_well::reference(5, 0.5)?; // entropy ≈ 2.2067
//! assert!((exact.entropy - 2.2067).abs() < 1e-4);
//! # Ok::<(), trade_targets::TargetError>(())
//! ```

pub mod alanine;
pub mod double_well;
mod error;
pub mod gmm;
pub mod multi_well;
pub mod phi4;
pub mod quadrature;
mod registry;
mod rows;
mod sampling;
mod target;
pub mod toy2d;
pub mod two_moons;

pub use double_well::{DoubleWell, DoubleWellSampler};
pub use error::TargetError;
pub use gmm::{Gmm, GmmSampler};
pub use multi_well::{MultiWell, MultiWellSampler, ThermoReference};
pub use phi4::{Phi4, Phi4Sampler};
pub use registry::{TARGET_NAMES, TargetOptions, by_name, sampler_by_name};
pub use sampling::{ReferenceSampler, rng_for};
pub use target::{ConditionSpec, Target, broadcast_conditions, check_input};
pub use two_moons::{TwoMoons, TwoMoonsSampler};
