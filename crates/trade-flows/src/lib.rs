//! `trade-flows`: conditional normalizing flows on the [`trade_ad`] tape, differentiable in
//! their parameters and carrying the c-tangent `∂/∂c` per sample (`method.md` §4).
//!
//! * Traits: [`Distribution`] (log-density, sampling with log-density) and [`Bijector`]
//!   (forward/inverse with log-det); [`Chain`] composes bijectors, [`Flow`] pushes a base
//!   through a chain.
//! * Layers ([`layers`]): affine (GLOW) coupling, RQ spline coupling with linear tails, GIN
//!   coupling, ActNorm (per dimension or channel), permutations (of dimensions or channels),
//!   orthogonal mixing, final conditional affine, and φ⁴'s conditional global scaling and
//!   space-to-depth; conditioners (MLP, ResNet, periodic CNN: [`conv`]) in [`conditioner`].
//! * Bases ([`base`]): N(0, I), N(0, c·I), N(0, c⁻¹·I), or any [`Distribution`] including a
//!   frozen flow (Flows for Flows, with Delta/Concat contexts and the c′ < c inverse rule).
//! * [`FlowConfig`] (serde JSON) builds a flow; [`FlowModel`] saves and loads config + `.npz`
//!   weights exactly; [`tsf`] holds the temperature-steerable flow and augmentation estimators.
//! * Element type: everything is generic over `F: trade_ad::Float` with **f64 the default**
//!   (`Flow`, `FlowModel`, `Bijector`, `Distribution`, … mean their f64 versions). The spec
//!   requires f64 for TRADE (`method.md` §4: "Run the whole TRADE path in f64"), and models
//!   are built, saved and loaded in f64. An f32 model ([`FlowModel::to_f32`], on a
//!   `Tape<f32>`) exists for speed-measured first-order work and for comparison with float32
//!   PyTorch.
//!
//! Log-density and its c-derivative for a batch with per-sample c:
//!
//! ```
//! use trade_ad::Tape;
//! use trade_flows::{Condition, Distribution, FlowConfig, FlowModel};
//! use ndarray::array;
//!
//! let model = FlowModel::new(FlowConfig::multi_well(5, 2, &[16, 16])).unwrap();
//! let mut tape: Tape = Tape::new();
//! let x = tape.constant(array![[0.1, -0.4, 1.2, 0.0, 0.7], [1.0, 2.0, -1.0, 0.5, 0.3]]);
//! let c = tape.condition(array![[0.8], [1.5]]); // one temperature per sample, tangent 1
//! let log_q = model.flow.log_prob(&mut tape, &model.params, x, &Condition::c(c)).unwrap();
//! let g = tape.tangent(log_q).unwrap(); // ∂ log q(x_i|c_i)/∂c_i, an ordinary tape value
//! let loss = tape.sum(g, None);
//! let grads = tape.backward(loss); // exact mixed second order ∇_θ Σ ∂_c log q
//! assert_eq!(tape.shape(g), (2, 1));
//! assert!(grads.global_norm().is_finite());
//! ```

pub mod alanine_spline;
pub mod base;
pub mod bijector;
pub mod conditioner;
pub mod config;
pub mod conv;
pub mod distribution;
mod error;
pub mod flow;
pub mod ic_prior;
pub mod io;
pub mod layers;
pub mod tsf;

pub use base::{Gaussian, Scaling};
pub use bijector::{Bijector, Chain, Context};
pub use conditioner::{Conditioner, ConditionerConfig, InitScheme};
pub use config::{
    BaseConfig, ConditionConfig, ConditionInput, FlowConfig, LayerConfig, PermutationKind,
    Phi4Arch, Standardise,
};
pub use distribution::{Condition, Distribution};
pub use error::FlowError;
pub use flow::Flow;
pub use ic_prior::IcPrior;
pub use io::FlowModel;
