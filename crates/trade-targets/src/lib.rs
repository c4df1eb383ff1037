//! Target densities for TRADE: dimensionless energies U(x; c) with hand-written x-gradients and
//! c-derivatives, exact or reference samplers, and exact references by quadrature.
//!
//! This crate does not depend on `trade-ad`: energies are plain ndarray functions.

mod error;
mod target;

pub use error::TargetError;
pub use target::{ConditionSpec, Target, broadcast_conditions, check_input};
