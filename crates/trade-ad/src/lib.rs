//! `trade-ad`: a reverse-mode autodiff tape over 2-D `ndarray` values with **exact second
//! order** for TRADE (`method.md` §4).
//!
//! * [`Tape`] is an arena of nodes addressed by `Copy` handles [`Var`]; every op stores its
//!   value and has a forward kernel, a reverse rule (plain ndarray) and a tangent rule written
//!   with tape ops.
//! * A condition leaf ([`Tape::condition`]) carries the tangent 1, and every op recorded from it
//!   records its tangent ∂v/∂c on the same tape. [`Tape::tangent`] returns that derivative as
//!   an ordinary tape value, so a loss built from it is differentiated by one ordinary reverse
//!   sweep ([`Tape::backward`]): reverse over forward, exact.
//! * [`ParamStore`] holds named parameters with seeded init and exact save/load;
//!   [`Adam`], [`Schedule`] and [`clip_grad_norm`] follow `experiments.md` §0;
//!   [`DataParallel`] runs chunks on rayon and reduces in chunk order;
//!   [`MatmulPrecision::F32`] runs the matrix products in f32 for speed;
//!   [`testing`] is the one finite-difference oracle of the workspace.
//!
//! ```
//! use trade_ad::Tape;
//! use ndarray::array;
//!
//! let mut tape: Tape = Tape::new();
//! let theta = tape.leaf(array![[0.7]]);
//! let c = tape.condition(array![[1.5], [2.0]]); // per-sample conditions
//! let tc = tape.mul(theta, c);
//! let sq = tape.square(tc);
//! let logp = tape.scale(sq, -0.5); // log p = −(θc)²/2
//! let g = tape.tangent(logp).unwrap(); // ∂ log p/∂c = −θ²c, a tape value
//! let loss = tape.sum(g, None);
//! let grads = tape.backward(loss); // ∂/∂θ Σ −θ²c = −2θ Σ c
//! assert!((grads.wrt(theta).unwrap()[[0, 0]] + 2.0 * 0.7 * 3.5).abs() < 1e-12);
//! ```

mod backward;
mod custom;
mod error;
mod float;
mod grads;
mod jvp;
mod nn;
mod op;
mod ops;
mod optim;
mod parallel;
mod params;
mod tape;
pub mod testing;

pub use custom::CustomOp;
pub use error::AdError;
pub use float::Float;
pub use grads::Gradients;
pub use nn::{Activation, LastLayer, Linear, Mlp};
pub use op::OpKind;
pub use ops::linalg::MatmulPrecision;
pub use optim::{Adam, AdamConfig, OneCycle, Schedule, clip_grad_norm};
pub use parallel::{DataParallel, chunk_ranges, rng_for};
pub use params::{Init, ParamId, ParamStore};
pub use tape::{Tape, Var};
