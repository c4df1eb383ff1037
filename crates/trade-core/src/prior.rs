//! The parameter prior with its boundary-outward curriculum (`method.md` §8.1).

use crate::{CoreError, error::out_of_range};
use rand::Rng;
use serde::{Deserialize, Serialize};

/// Distribution of relative conditions c on [c_min, c_max] around c0 = 1, skewed towards 1 early
/// in training and towards the edges late.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ConditionPrior {
    /// Lower end (< 1).
    pub c_min: f64,
    /// Upper end (> 1).
    pub c_max: f64,
    /// Skew exponent at step 0 (0.01 in every config).
    pub s_min: f64,
    /// Skew exponent at the last step (1.5 in every config).
    pub s_max: f64,
}

impl ConditionPrior {
    /// The configs' curriculum on [c_min, c_max]: s_min = 0.01, s_max = 1.5.
    pub fn new(c_min: f64, c_max: f64) -> Result<Self, CoreError> {
        let p = Self {
            c_min,
            c_max,
            s_min: 0.01,
            s_max: 1.5,
        };
        p.validate()?;
        Ok(p)
    }

    /// Log-uniform on [c_min, c_max] with no curriculum (skew exponent 1 throughout): the Loop B
    /// per-sample prior of reverse KL and reweighting (`method.md` §12).
    pub fn log_uniform(c_min: f64, c_max: f64) -> Result<Self, CoreError> {
        let p = Self {
            c_min,
            c_max,
            s_min: 1.0,
            s_max: 1.0,
        };
        p.validate()?;
        Ok(p)
    }

    /// Checks `0 < c_min < 1 < c_max` and positive skews.
    pub fn validate(&self) -> Result<(), CoreError> {
        if !(self.c_min > 0.0 && self.c_min < 1.0) {
            return Err(out_of_range(
                "prior.c_min",
                self.c_min,
                "0 < c_min < 1 (conditions are relative to c0 = 1)",
            ));
        }
        if !(self.c_max > 1.0 && self.c_max.is_finite()) {
            return Err(out_of_range("prior.c_max", self.c_max, "finite, > 1"));
        }
        for (field, v) in [("prior.s_min", self.s_min), ("prior.s_max", self.s_max)] {
            if !(v > 0.0 && v.is_finite()) {
                return Err(out_of_range(field, v, "finite, > 0"));
            }
        }
        Ok(())
    }

    /// Skew exponent `e(s) = s_min^(1 − s/S) · s_max^(s/S)`.
    pub fn exponent(&self, step: usize, total_steps: usize) -> f64 {
        let f = (step as f64 / total_steps.max(1) as f64).clamp(0.0, 1.0);
        self.s_min.powf(1.0 - f) * self.s_max.powf(f)
    }

    /// One draw at training step `step` of `total_steps`.
    pub fn sample<R: Rng + ?Sized>(&self, step: usize, total_steps: usize, rng: &mut R) -> f64 {
        let (lo, hi) = (self.c_min.ln(), self.c_max.ln());
        let above = rng.random::<f64>() < hi / (hi - lo);
        let e = self.exponent(step, total_steps);
        let u: f64 = rng.random();
        let side = if above { hi } else { lo };
        (side * (1.0 - u.powf(e))).exp()
    }
}
