//! Bonded terms: harmonic bonds `½k(r − r0)²`, harmonic angles `½k_θ(θ − θ0)²` and periodic
//! torsions `k(1 + cos(nφ − φ0))` on the IUPAC dihedral in the exported atom order.

use super::Positions;
use super::geometry::{angle_grad, axpy, dihedral, dihedral_grad, norm, sub};
use super::params::{Angle, Bond, Torsion};

/// Σ ½ k (r − r0)²; adds the gradient to `grad` when `G`.
pub(crate) fn bonds<const G: bool>(bonds: &[Bond], x: &Positions, grad: &mut Positions) -> f64 {
    let mut e = 0.0;
    for b in bonds {
        let d = sub(x[b.j], x[b.i]);
        let r = norm(d);
        let dr = r - b.r0;
        e += 0.5 * b.k * dr * dr;
        if G {
            let f = b.k * dr / r;
            axpy(&mut grad[b.j], f, d);
            axpy(&mut grad[b.i], -f, d);
        }
    }
    e
}

/// Σ ½ k_θ (θ − θ0)²; adds the gradient to `grad` when `G`.
pub(crate) fn angles<const G: bool>(angles: &[Angle], x: &Positions, grad: &mut Positions) -> f64 {
    let mut e = 0.0;
    for a in angles {
        let (theta, g) = angle_grad(x[a.i], x[a.j], x[a.k]);
        let dt = theta - a.theta0;
        e += 0.5 * a.k_theta * dt * dt;
        if G {
            let f = a.k_theta * dt;
            axpy(&mut grad[a.i], f, g[0]);
            axpy(&mut grad[a.j], f, g[1]);
            axpy(&mut grad[a.k], f, g[2]);
        }
    }
    e
}

/// Σ k (1 + cos(nφ − φ0)); adds the gradient to `grad` when `G`.
pub(crate) fn torsions<const G: bool>(
    torsions: &[Torsion],
    x: &Positions,
    grad: &mut Positions,
) -> f64 {
    let mut e = 0.0;
    for t in torsions {
        let n = f64::from(t.periodicity);
        if G {
            let (phi, g) = dihedral_grad(x[t.i], x[t.j], x[t.k], x[t.l]);
            let arg = n * phi - t.phase;
            e += t.k_torsion * (1.0 + arg.cos());
            let f = -t.k_torsion * n * arg.sin();
            for (atom, gi) in [t.i, t.j, t.k, t.l].into_iter().zip(g) {
                axpy(&mut grad[atom], f, gi);
            }
        } else {
            let phi = dihedral(x[t.i], x[t.j], x[t.k], x[t.l]);
            e += t.k_torsion * (1.0 + (n * phi - t.phase).cos());
        }
    }
    e
}
