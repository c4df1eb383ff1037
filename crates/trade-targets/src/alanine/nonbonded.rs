//! Lennard-Jones `4ε[(σ/r)¹² − (σ/r)⁶]` and Coulomb `k_e q_i q_j / r` over all pairs, no cutoff;
//! exclusions dropped and 1-4 exceptions with their exported (already scaled) parameters.

use super::Positions;
use super::geometry::{axpy, dot, sub};
use super::params::Parameters;

/// One interacting pair with its final parameters.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pair {
    pub i: usize,
    pub j: usize,
    /// k_e q_i q_j in kJ mol⁻¹ nm.
    pub ke_qq: f64,
    /// σ_ij in nm.
    pub sigma: f64,
    /// 4 ε_ij in kJ/mol.
    pub eps4: f64,
}

/// All i < j pairs with Lorentz–Berthelot parameters, exceptions applied, exclusions removed.
pub(crate) fn build_pairs(p: &Parameters) -> Vec<Pair> {
    let n = p.atoms.len();
    let mut pairs = Vec::with_capacity(n * (n - 1) / 2);
    for i in 0..n {
        for j in i + 1..n {
            let (ai, aj) = (&p.atoms[i], &p.atoms[j]);
            let exception = p
                .exceptions
                .iter()
                .find(|e| (e.i.min(e.j), e.i.max(e.j)) == (i, j));
            let (qq, sigma, eps) = match exception {
                Some(e) => (e.qq, e.sigma, e.epsilon),
                None => (
                    ai.charge * aj.charge,
                    0.5 * (ai.sigma + aj.sigma),
                    (ai.epsilon * aj.epsilon).sqrt(),
                ),
            };
            if qq == 0.0 && eps == 0.0 {
                continue; // excluded 1-2 / 1-3 pair
            }
            pairs.push(Pair {
                i,
                j,
                ke_qq: p.coulomb_constant * qq,
                sigma,
                eps4: 4.0 * eps,
            });
        }
    }
    pairs
}

/// `(E_LJ, E_Coulomb)`; each term only if its flag is set; gradient added when `G`.
pub(crate) fn nonbonded<const G: bool>(
    pairs: &[Pair],
    x: &Positions,
    lj: bool,
    coulomb: bool,
    grad: &mut Positions,
) -> (f64, f64) {
    let (mut e_lj, mut e_c) = (0.0, 0.0);
    for p in pairs {
        let d = sub(x[p.j], x[p.i]);
        let r2 = dot(d, d);
        let inv_r2 = 1.0 / r2;
        // dE/dr divided by r, so that the gradient on j is de_dr_over_r · d
        let mut de_dr_over_r = 0.0;
        if lj {
            let s2 = p.sigma * p.sigma * inv_r2;
            let s6 = s2 * s2 * s2;
            e_lj += p.eps4 * (s6 * s6 - s6);
            de_dr_over_r += p.eps4 * (6.0 * s6 - 12.0 * s6 * s6) * inv_r2;
        }
        if coulomb {
            let inv_r = inv_r2.sqrt();
            let ec = p.ke_qq * inv_r;
            e_c += ec;
            de_dr_over_r -= ec * inv_r2;
        }
        if G {
            axpy(&mut grad[p.j], de_dr_over_r, d);
            axpy(&mut grad[p.i], -de_dr_over_r, d);
        }
    }
    (e_lj, e_c)
}
