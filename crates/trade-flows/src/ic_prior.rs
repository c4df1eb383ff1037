//! The internal-coordinate prior of the alanine-dipeptide spline flow (`flows.md` §5, §9): on
//! [0, 1]^d, the first `truncated` coordinates (bonds, then angles) are independent truncated
//! normals N(loc, scale²) restricted to [0, 1] (spec: N(0.5, 0.1²)), the remaining ones
//! (torsions) uniform U[0, 1]. It does not depend on the condition.
//!
//! Support: [`Distribution::log_prob`] evaluates the truncated-normal formula
//! `−(z − loc)²/(2 scale²) − ln(scale √(2π)) − ln Z` (Z the normal mass of [0, 1]) for every
//! real z rather than −∞ outside [0, 1], and the uniform part as 0 for every real z (a torsion
//! is a point of the circle R/Z). So a data point a hair outside [0, 1] (an MD bond 5 prior
//! standard deviations off) keeps a finite density; the mass this adds outside [0, 1] is
//! 1 − Z = 5.7e-7 per bond or angle coordinate at the spec values. Samples lie in [0, 1].

use crate::FlowError;
use crate::distribution::{Condition, Distribution, check_input};
use ndarray::{Array2, Axis};
use rand::{Rng, RngCore};
use rand_distr::{Distribution as _, StandardNormal};
use std::f64::consts::PI;
use trade_ad::{Float, ParamStore, Tape, Var};

/// Truncated normals on the first `truncated` coordinates, uniform on the rest, all on [0, 1].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IcPrior {
    dim: usize,
    truncated: usize,
    loc: f64,
    scale: f64,
    /// ln(scale √(2π)) + ln Z: the per-coordinate normaliser of the truncated normal.
    log_norm: f64,
}

/// Normal mass of [0, 1] under N(loc, scale²): composite Simpson with 4096 intervals (the
/// integrand is smooth; error below 1e-12 for scale ≥ 0.01).
fn mass_in_unit_interval(loc: f64, scale: f64) -> f64 {
    let n = 4096;
    let h = 1.0 / n as f64;
    let f = |z: f64| (-0.5 * ((z - loc) / scale).powi(2)).exp() / (scale * (2.0 * PI).sqrt());
    let inner: f64 = (1..n)
        .map(|k| f(k as f64 * h) * if k % 2 == 1 { 4.0 } else { 2.0 })
        .sum();
    (f(0.0) + f(1.0) + inner) * h / 3.0
}

impl IcPrior {
    /// `truncated` ≤ `dim` truncated-normal coordinates with loc ∈ [0, 1] and scale ∈
    /// [0.01, 1] (errors name the field), the rest uniform.
    pub fn new(dim: usize, truncated: usize, loc: f64, scale: f64) -> Result<Self, FlowError> {
        if truncated > dim {
            return Err(FlowError::out_of_range(
                "base.truncated",
                truncated,
                "≤ the flow dimension",
            ));
        }
        if !(0.0..=1.0).contains(&loc) {
            return Err(FlowError::out_of_range("base.loc", loc, "[0, 1]"));
        }
        if !(0.01..=1.0).contains(&scale) {
            return Err(FlowError::out_of_range("base.scale", scale, "[0.01, 1]"));
        }
        let log_norm = (scale * (2.0 * PI).sqrt()).ln() + mass_in_unit_interval(loc, scale).ln();
        Ok(Self {
            dim,
            truncated,
            loc,
            scale,
            log_norm,
        })
    }

    /// The spec prior of the 48 alanine-dipeptide ICs: 29 bonds and angles ~ truncated
    /// N(0.5, 0.1²), 19 torsions ~ U[0, 1].
    pub fn alanine() -> Self {
        Self::new(48, 29, 0.5, 0.1).expect("spec values are valid")
    }

    /// Number of truncated-normal coordinates (the first ones).
    pub fn truncated(&self) -> usize {
        self.truncated
    }

    fn log_density<F: Float>(&self, tape: &mut Tape<F>, z: Var) -> Var {
        let n = tape.shape(z).0;
        if self.truncated == 0 {
            return tape.constant(Array2::zeros((n, 1)));
        }
        let b = tape.slice_cols(z, 0, self.truncated);
        let b = tape.add_scalar(b, -self.loc);
        let sq = tape.square(b);
        let r2 = tape.sum(sq, Some(Axis(1)));
        let q = tape.scale(r2, -0.5 / (self.scale * self.scale));
        tape.add_scalar(q, -(self.truncated as f64) * self.log_norm)
    }
}

impl<F: Float> Distribution<F> for IcPrior {
    fn dim(&self) -> usize {
        self.dim
    }

    fn log_prob(
        &self,
        tape: &mut Tape<F>,
        _: &ParamStore<F>,
        x: Var,
        _: &Condition,
    ) -> Result<Var, FlowError> {
        check_input(tape, "x", x, self.dim)?;
        Ok(self.log_density(tape, x))
    }

    fn sample_with_log_prob(
        &self,
        tape: &mut Tape<F>,
        _: &ParamStore<F>,
        n_samples: usize,
        _: &Condition,
        rng: &mut dyn RngCore,
    ) -> Result<(Var, Var), FlowError> {
        // Drawn in f64 row by row (the same stream for every F): rejection from N(loc, scale²)
        // (acceptance ≥ 0.34 for the allowed loc and scale), uniform by `random`.
        let mut z = Array2::zeros((n_samples, self.dim));
        for mut row in z.rows_mut() {
            for (j, v) in row.iter_mut().enumerate() {
                let x: f64 = if j < self.truncated {
                    loop {
                        let e: f64 = StandardNormal.sample(rng);
                        let x = self.loc + self.scale * e;
                        if (0.0..=1.0).contains(&x) {
                            break x;
                        }
                    }
                } else {
                    rng.random()
                };
                *v = F::c(x);
            }
        }
        let z = tape.constant(z);
        Ok((z, self.log_density(tape, z)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_mass_matches_the_normal_cdf() {
        // 1 − 2Φ(−5) = 1 − 5.733031e-7 (Abramowitz & Stegun table 26.1).
        let z = mass_in_unit_interval(0.5, 0.1);
        assert!((1.0 - z - 5.733_031e-7).abs() < 1e-12, "{}", 1.0 - z);
        // Φ(1) − Φ(0) = 0.3413447 for loc 0, scale 1.
        assert!((mass_in_unit_interval(0.0, 1.0) - 0.341_344_746).abs() < 1e-9);
    }

    #[test]
    fn one_dimensional_density_integrates_to_one_on_the_unit_interval() {
        let p = IcPrior::new(2, 1, 0.5, 0.1).unwrap();
        let n = 2000;
        let z = Array2::from_shape_fn((n, 2), |(i, j)| (i as f64 + 0.5) / n as f64 + j as f64);
        let mut tape: Tape = Tape::new();
        let zv = tape.constant(z);
        let lp = p
            .log_prob(&mut tape, &ParamStore::new(), zv, &Condition::none())
            .unwrap();
        let total: f64 = tape.value(lp).iter().map(|l| l.exp()).sum::<f64>() / n as f64;
        assert!((total - 1.0).abs() < 1e-6, "{total}");
    }

    #[test]
    fn samples_lie_in_the_unit_box_and_bad_fields_are_named() {
        use rand::SeedableRng;
        let p = IcPrior::alanine();
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(3);
        let mut tape: Tape = Tape::new();
        let (z, _) = p
            .sample_with_log_prob(
                &mut tape,
                &ParamStore::new(),
                500,
                &Condition::none(),
                &mut rng,
            )
            .unwrap();
        assert!(tape.value(z).iter().all(|v| (0.0..=1.0).contains(v)));
        let e = IcPrior::new(4, 5, 0.5, 0.1).unwrap_err().to_string();
        assert_eq!(
            e,
            "config field base.truncated = 5 is out of range: allowed ≤ the flow dimension"
        );
        assert!(IcPrior::new(4, 2, 0.5, 0.0).is_err());
    }
}
