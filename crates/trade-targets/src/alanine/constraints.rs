//! SHAKE (positions) and RATTLE (velocities) for the 12 X–H distance constraints.

use super::geometry::{axpy, dot, sub};
use super::params::Constraint;
use super::{N_ATOMS, Positions};
use crate::TargetError;

/// Iteration limit of both solvers.
const MAX_ITERATIONS: usize = 1000;

/// The constraint set with inverse masses.
#[derive(Debug, Clone)]
pub(crate) struct ConstraintSolver {
    constraints: Vec<Constraint>,
    inv_mass: [f64; N_ATOMS],
    /// Relative tolerance on |r|² − d² (positions) and on the relative velocity along r.
    tolerance: f64,
}

impl ConstraintSolver {
    pub(crate) fn new(constraints: &[Constraint], masses: &[f64; N_ATOMS], tolerance: f64) -> Self {
        ConstraintSolver {
            constraints: constraints.to_vec(),
            inv_mass: masses.map(|m| 1.0 / m),
            tolerance,
        }
    }

    /// SHAKE: moves `x` onto the constraints along the bond vectors of `reference` (the
    /// positions before the unconstrained move). Returns the largest |r − d| in nm.
    pub(crate) fn shake(
        &self,
        x: &mut Positions,
        reference: &Positions,
    ) -> Result<f64, TargetError> {
        for _ in 0..MAX_ITERATIONS {
            let mut converged = true;
            for c in &self.constraints {
                let s = sub(x[c.i], x[c.j]);
                let diff = dot(s, s) - c.d * c.d;
                if diff.abs() <= 2.0 * self.tolerance * c.d * c.d {
                    continue;
                }
                converged = false;
                let s0 = sub(reference[c.i], reference[c.j]);
                let (wi, wj) = (self.inv_mass[c.i], self.inv_mass[c.j]);
                let g = diff / (2.0 * dot(s, s0) * (wi + wj));
                axpy(&mut x[c.i], -g * wi, s0);
                axpy(&mut x[c.j], g * wj, s0);
            }
            if converged {
                return Ok(self.max_violation(x));
            }
        }
        Err(TargetError::Numerical {
            procedure: "SHAKE",
            reason: format!("no convergence in {MAX_ITERATIONS} iterations"),
        })
    }

    /// RATTLE: removes the velocity components along the constraints (d/dt |r|² = 0).
    pub(crate) fn rattle(&self, x: &Positions, v: &mut Positions) -> Result<(), TargetError> {
        for _ in 0..MAX_ITERATIONS {
            let mut converged = true;
            for c in &self.constraints {
                let s = sub(x[c.i], x[c.j]);
                let vij = sub(v[c.i], v[c.j]);
                let sv = dot(s, vij);
                // relative tolerance on the bond-length rate, per unit of the bond length
                if sv.abs() <= self.tolerance * c.d * c.d {
                    continue;
                }
                converged = false;
                let (wi, wj) = (self.inv_mass[c.i], self.inv_mass[c.j]);
                let k = sv / (dot(s, s) * (wi + wj));
                axpy(&mut v[c.i], -k * wi, s);
                axpy(&mut v[c.j], k * wj, s);
            }
            if converged {
                return Ok(());
            }
        }
        Err(TargetError::Numerical {
            procedure: "RATTLE",
            reason: format!("no convergence in {MAX_ITERATIONS} iterations"),
        })
    }

    /// Largest |‖x_i − x_j‖ − d| over the constraints, nm.
    pub(crate) fn max_violation(&self, x: &Positions) -> f64 {
        self.constraints
            .iter()
            .map(|c| (dot(sub(x[c.i], x[c.j]), sub(x[c.i], x[c.j])).sqrt() - c.d).abs())
            .fold(0.0, f64::max)
    }
}
