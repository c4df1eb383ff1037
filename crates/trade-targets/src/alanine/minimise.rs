//! Energy minimisation with argmin's L-BFGS over the 48 free internal coordinates (the 12 X–H
//! bonds held at their constraint lengths, so the minimum is the constrained one), and the
//! reference structure of spec §6.7 built from the Z-matrix and minimised.

use std::sync::OnceLock;

use argmin::core::{CostFunction, Error as ArgminError, Executor, Gradient, State};
use argmin::solver::linesearch::MoreThuenteLineSearch;
use argmin::solver::quasinewton::LBFGS;

use super::forcefield::ForceField;
use super::ic::{
    FREE_IC, N_ANGLES, N_BONDS, N_FREE, N_IC, apply_constraints, cartesian, cartesian_jacobian,
    constrained_bond_lengths, internal_coordinates, reference_build_ic,
};
use super::{N_ATOMS, Positions};
use crate::TargetError;

const PROCEDURE: &str = "L-BFGS minimisation";

/// Settings of [`minimise`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MinimiseConfig {
    /// Iteration limit of L-BFGS.
    pub max_iters: u64,
    /// Stop when the gradient norm over the scaled free ICs (bonds in 0.01 nm, angles in 0.1 rad,
    /// torsions in rad) falls below this, kJ/mol.
    pub tol_grad: f64,
    /// Stop when the relative energy change of an iteration falls below this.
    pub tol_cost: f64,
    /// L-BFGS history length.
    pub memory: usize,
}

impl Default for MinimiseConfig {
    fn default() -> Self {
        MinimiseConfig {
            max_iters: 5000,
            tol_grad: 1e-6,
            tol_cost: 1e-15,
            memory: 10,
        }
    }
}

/// Result of a minimisation.
#[derive(Debug, Clone, PartialEq)]
pub struct Minimum {
    /// Minimised positions (nm) in the canonical IC pose, X–H bonds exactly at constraint length.
    pub positions: Positions,
    /// Energy in kJ/mol.
    pub energy: f64,
    /// Gradient norm over the scaled free ICs at the minimum, kJ/mol.
    pub grad_norm: f64,
    /// L-BFGS iterations used.
    pub iterations: u64,
}

/// Variable scale per IC (nm for bonds, rad for angles and torsions) that conditions L-BFGS.
fn ic_scale(k: usize) -> f64 {
    if k < N_BONDS {
        0.01
    } else if k < N_BONDS + N_ANGLES {
        0.1
    } else {
        1.0
    }
}

/// E as a function of the scaled free ICs q_m = ic_k / s_k (constrained bonds fixed).
struct FreeIcEnergy<'a> {
    ff: &'a ForceField,
    template: [f64; N_IC],
}

impl FreeIcEnergy<'_> {
    fn ic(&self, q: &[f64]) -> [f64; N_IC] {
        let mut ic = self.template;
        for (&k, &v) in FREE_IC.iter().zip(q) {
            ic[k] = v * ic_scale(k);
        }
        ic
    }

    fn energy_grad(&self, q: &[f64]) -> (f64, Vec<f64>) {
        let (x, jac) = cartesian_jacobian(&self.ic(q));
        let mut g = [[0.0; 3]; N_ATOMS];
        let e = self.ff.energy_grad(&x, &mut g);
        let mut gq = vec![0.0; N_FREE];
        for (row, gx) in jac.iter().zip(g.as_flattened()) {
            for (out, &k) in gq.iter_mut().zip(&FREE_IC) {
                *out += row[k] * gx * ic_scale(k);
            }
        }
        (e, gq)
    }
}

impl CostFunction for FreeIcEnergy<'_> {
    type Param = Vec<f64>;
    type Output = f64;
    fn cost(&self, q: &Vec<f64>) -> Result<f64, ArgminError> {
        Ok(self.ff.energy(&cartesian(&self.ic(q))))
    }
}

impl Gradient for FreeIcEnergy<'_> {
    type Param = Vec<f64>;
    type Gradient = Vec<f64>;
    fn gradient(&self, q: &Vec<f64>) -> Result<Vec<f64>, ArgminError> {
        Ok(self.energy_grad(q).1)
    }
}

/// Minimises E from `x0` with the X–H bonds set to their constraint lengths.
///
/// # Errors
/// [`TargetError::Numerical`] if L-BFGS fails (for example a non-finite energy at `x0`).
pub fn minimise(
    ff: &ForceField,
    x0: &Positions,
    config: &MinimiseConfig,
) -> Result<Minimum, TargetError> {
    let mut template = internal_coordinates(x0);
    apply_constraints(&mut template, &constrained_bond_lengths(ff));
    minimise_ic(ff, template, config)
}

fn minimise_ic(
    ff: &ForceField,
    template: [f64; N_IC],
    config: &MinimiseConfig,
) -> Result<Minimum, TargetError> {
    let fail = |e: ArgminError| TargetError::Numerical {
        procedure: PROCEDURE,
        reason: e.to_string(),
    };
    let problem = FreeIcEnergy { ff, template };
    let q0: Vec<f64> = FREE_IC.iter().map(|&k| template[k] / ic_scale(k)).collect();
    let solver = LBFGS::new(MoreThuenteLineSearch::new(), config.memory)
        .with_tolerance_grad(config.tol_grad)
        .map_err(fail)?
        .with_tolerance_cost(config.tol_cost)
        .map_err(fail)?;
    let result = Executor::new(problem, solver)
        .configure(|s| s.param(q0).max_iters(config.max_iters))
        .run()
        .map_err(fail)?;
    let state = result.state();
    let q = state
        .get_best_param()
        .ok_or_else(|| TargetError::Numerical {
            procedure: PROCEDURE,
            reason: "no parameter returned".into(),
        })?;
    let problem = FreeIcEnergy { ff, template };
    let (energy, g) = problem.energy_grad(q);
    if !energy.is_finite() {
        return Err(TargetError::Numerical {
            procedure: PROCEDURE,
            reason: format!("non-finite energy {energy}"),
        });
    }
    Ok(Minimum {
        positions: cartesian(&problem.ic(q)),
        energy,
        grad_norm: g.iter().map(|v| v * v).sum::<f64>().sqrt(),
        iterations: state.get_iter(),
    })
}

/// The reference structure (§6.7): Z-matrix build, constrained L-BFGS minimisation; the C5/β
/// minimum near (φ, ψ) = (−144.6°, 159.2°), L-chirality, both peptide bonds trans. Canonical
/// pose; computed once.
///
/// # Panics
/// Never in practice: the build is deterministic and tested.
pub fn reference_structure() -> Positions {
    static X: OnceLock<Positions> = OnceLock::new();
    *X.get_or_init(|| {
        let ff = ForceField::embedded();
        minimise_ic(ff, reference_build_ic(ff), &MinimiseConfig::default())
            .expect("reference build minimises")
            .positions
    })
}
