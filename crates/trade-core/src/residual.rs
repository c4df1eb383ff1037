//! Residual losses ℓ(r) of `method.md` §10.

use crate::{CoreError, error::out_of_range};
use serde::{Deserialize, Serialize};
use trade_ad::{Tape, Var};

/// ℓ applied elementwise to the residual g − t.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Residual {
    /// r²
    Mse,
    /// Loop A "Huber" = Huber/δ: ½r²/δ if |r| < δ, else |r| − ½δ.
    SmoothL1 {
        /// δ
        delta: f64,
    },
    /// Loop B Huber: ½r² if |r| < δ, else δ(|r| − ½δ).
    Huber {
        /// δ
        delta: f64,
    },
    /// |r|
    Mae,
}

impl Residual {
    /// Checks δ > 0.
    pub fn validate(&self) -> Result<(), CoreError> {
        match *self {
            Residual::SmoothL1 { delta } | Residual::Huber { delta }
                if !(delta > 0.0 && delta.is_finite()) =>
            {
                Err(out_of_range("residual.delta", delta, "finite, > 0"))
            }
            _ => Ok(()),
        }
    }

    /// Records ℓ(r) elementwise.
    pub fn apply(&self, tape: &mut Tape, r: Var) -> Var {
        match *self {
            Residual::Mse => tape.square(r),
            Residual::SmoothL1 { delta } => tape.smooth_l1(r, delta),
            Residual::Huber { delta } => tape.huber(r, delta),
            Residual::Mae => tape.abs(r),
        }
    }
}
