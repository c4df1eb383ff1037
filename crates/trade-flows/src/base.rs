//! Base (latent) distributions (`flows.md` §5): N(0, I), the temperature-scaled N(0, c·I) and
//! N(0, β⁻¹·I), all driven by the **raw** per-sample c. Any other [`Distribution`] (including a
//! frozen flow: Flows for Flows) can serve as a flow's base as well.

use crate::FlowError;
use crate::distribution::{Condition, Distribution, check_condition, check_input};
use ndarray::{Array2, Axis};
use rand::RngCore;
use rand_distr::{Distribution as _, StandardNormal};
use serde::{Deserialize, Serialize};
use std::f64::consts::PI;
use trade_ad::{Float, ParamStore, Tape, Var};

/// How the variance of an isotropic Gaussian base depends on c.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scaling {
    /// N(0, I): c is not used.
    Standard,
    /// N(0, c·I) (temperature-scaled latent; c = T or τ).
    Temperature,
    /// N(0, c⁻¹·I) (c = β, an inverse temperature).
    Precision,
}

/// An isotropic Gaussian base `N(0, v(c)·I)` on R^d.
///
/// ```
/// use trade_ad::{ParamStore, Tape};
/// use trade_flows::{Condition, Distribution, Gaussian, Scaling};
/// use ndarray::array;
///
/// let base = Gaussian::new(2, Scaling::Temperature);
/// let mut tape: Tape = Tape::new();
/// let c = tape.condition(array![[2.0]]);
/// let z = tape.constant(array![[1.0, -1.0]]);
/// let lp = base.log_prob(&mut tape, &ParamStore::new(), z, &Condition::c(c)).unwrap();
/// // ∂/∂T [−|z|²/(2T) − ln(2πT)] = |z|²/(2T²) − 1/T = 0.25 − 0.5
/// let g = tape.value(tape.tangent(lp).unwrap())[[0, 0]];
/// assert!((g + 0.25).abs() < 1e-12);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gaussian {
    dim: usize,
    scaling: Scaling,
}

impl Gaussian {
    /// `N(0, v(c)·I)` on R^dim.
    pub fn new(dim: usize, scaling: Scaling) -> Self {
        Self { dim, scaling }
    }

    /// The standard normal N(0, I).
    pub fn standard(dim: usize) -> Self {
        Self::new(dim, Scaling::Standard)
    }

    /// How the variance depends on c.
    pub fn scaling(&self) -> Scaling {
        self.scaling
    }

    /// The per-sample variance v(c) as an (n, 1) tape value (None: v = 1).
    fn variance<F: Float>(
        &self,
        tape: &mut Tape<F>,
        cond: &Condition,
    ) -> Result<Option<Var>, FlowError> {
        match self.scaling {
            Scaling::Standard => Ok(None),
            Scaling::Temperature => cond
                .c
                .map(Some)
                .ok_or(FlowError::MissingCondition("c for the N(0, c·I) base")),
            Scaling::Precision => {
                let c = cond
                    .c
                    .ok_or(FlowError::MissingCondition("c for the N(0, c⁻¹·I) base"))?;
                Ok(Some(tape.recip(c)))
            }
        }
    }

    fn check_c<F: Float>(
        &self,
        tape: &Tape<F>,
        cond: &Condition,
        n: usize,
    ) -> Result<(), FlowError> {
        match (self.scaling, cond.c) {
            (Scaling::Standard, _) | (_, None) => Ok(()),
            (_, Some(c)) => check_condition(tape, "c", c, (n, 1), true),
        }
    }

    /// −|z|²/(2v) − (d/2) ln(2πv), on the tape.
    fn log_density<F: Float>(&self, tape: &mut Tape<F>, z: Var, var: Option<Var>) -> Var {
        let d = self.dim as f64;
        let sq = tape.square(z);
        let r2 = tape.sum(sq, Some(Axis(1)));
        match var {
            None => {
                let q = tape.scale(r2, -0.5);
                tape.add_scalar(q, -0.5 * d * (2.0 * PI).ln())
            }
            Some(v) => {
                let q = tape.div(r2, v);
                let q = tape.scale(q, -0.5);
                let lv = tape.log(v);
                let lv = tape.scale(lv, -0.5 * d);
                let lp = tape.add(q, lv);
                tape.add_scalar(lp, -0.5 * d * (2.0 * PI).ln())
            }
        }
    }
}

impl<F: Float> Distribution<F> for Gaussian {
    fn dim(&self) -> usize {
        self.dim
    }

    fn log_prob(
        &self,
        tape: &mut Tape<F>,
        _: &ParamStore<F>,
        x: Var,
        cond: &Condition,
    ) -> Result<Var, FlowError> {
        let n = check_input(tape, "x", x, self.dim)?;
        self.check_c(tape, cond, n)?;
        let var = self.variance(tape, cond)?;
        Ok(self.log_density(tape, x, var))
    }

    fn sample_with_log_prob(
        &self,
        tape: &mut Tape<F>,
        _: &ParamStore<F>,
        n_samples: usize,
        cond: &Condition,
        rng: &mut dyn RngCore,
    ) -> Result<(Var, Var), FlowError> {
        self.check_c(tape, cond, n_samples)?;
        // Drawn in f64 (the same stream for every F), then converted.
        let eps: Array2<F> = Array2::from_shape_simple_fn((n_samples, self.dim), || {
            F::c(StandardNormal.sample(rng))
        });
        let eps = tape.constant(eps);
        let var = self.variance(tape, cond)?;
        let z = match var {
            None => eps,
            Some(v) => {
                let sd = tape.sqrt(v);
                tape.mul(eps, sd)
            }
        };
        Ok((z, self.log_density(tape, z, var)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    fn log_prob(scaling: Scaling, z: Array2<f64>, c: f64) -> f64 {
        let base = Gaussian::new(z.ncols(), scaling);
        let mut tape: Tape = Tape::new();
        let cv = tape.constant(array![[c]]);
        let zv = tape.constant(z);
        let lp = base
            .log_prob(&mut tape, &ParamStore::new(), zv, &Condition::c(cv))
            .unwrap();
        tape.value(lp)[[0, 0]]
    }

    #[test]
    fn closed_forms() {
        let z = array![[0.3, -1.2, 2.0]];
        let r2: f64 = z.iter().map(|v| v * v).sum();
        let l2pi = (2.0 * PI).ln();
        let cases = [
            (Scaling::Standard, 1.7, -r2 / 2.0 - 1.5 * l2pi),
            (
                Scaling::Temperature,
                1.7,
                -r2 / 3.4 - 1.5 * (2.0 * PI * 1.7).ln(),
            ),
            // (d/2) ln(β/2π) − β|z|²/2
            (
                Scaling::Precision,
                1.7,
                1.5 * (1.7 / (2.0 * PI)).ln() - 1.7 * r2 / 2.0,
            ),
        ];
        for (s, c, expect) in cases {
            let got = log_prob(s, z.clone(), c);
            assert!((got - expect).abs() < 1e-12, "{s:?}: {got} vs {expect}");
        }
    }
}
