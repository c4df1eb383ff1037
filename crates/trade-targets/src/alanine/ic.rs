//! Internal coordinates (spec §6.8): the Z-matrix map between 66 Cartesians and 60 ICs, the 48
//! free ICs with the 12 X–H bonds held fixed, their normalisation and the log-Jacobian.
//!
//! IC layout: bonds (21) `[d(8,14), d(6,8), 19 placed bonds]`, angles (20)
//! `[∠(6,8,14), 19 placed angles]`, torsions (19), rows of [`ZMATRIX`] in order. Seeds: atom 14
//! at the origin, atom 8 on +x, atom 6 in the xy-plane (y > 0); the pose is not modelled.
//! `log J(ic) = Σ_bonds 2 ln b + Σ_angles ln sin θ` (seed factor included) is the density of
//! the ICs relative to Cartesian volume with the pose integrated out.

use super::dual::{Dual, Real};
use super::forcefield::ForceField;
use super::geometry::{angle, dihedral, distance};
use super::{DIM, N_ATOMS, Positions};

/// Number of internal coordinates, 3·22 − 6.
pub const N_IC: usize = 60;
/// Number of free internal coordinates (flow dimension): 9 bonds, 20 angles, 19 torsions.
pub const N_FREE: usize = 48;
/// Number of bond ICs.
pub const N_BONDS: usize = 21;
/// Number of angle ICs.
pub const N_ANGLES: usize = 20;
/// Number of torsion ICs.
pub const N_TORSIONS: usize = 19;

/// The 19 placed atoms as (atom, bond partner, angle partner, torsion partner), IC output order;
/// the torsion is `dihedral(atom, b, a, t)`.
pub const ZMATRIX: [[usize; 4]; 19] = [
    [0, 1, 4, 6],
    [1, 4, 6, 8],
    [2, 1, 4, 0],
    [3, 1, 4, 0],
    [4, 6, 8, 14],
    [5, 4, 6, 8],
    [7, 6, 8, 4],
    [11, 10, 8, 6],
    [12, 10, 8, 11],
    [13, 10, 8, 11],
    [15, 14, 8, 16],
    [16, 14, 8, 6],
    [17, 16, 14, 15],
    [18, 16, 14, 8],
    [19, 18, 16, 14],
    [20, 18, 16, 19],
    [21, 18, 16, 19],
    [9, 8, 6, 14],
    [10, 8, 14, 6],
];

/// Torsions (deg) used to build the reference structure, per [`ZMATRIX`] row.
///
/// Row 18 (CB) is +120°, not the −120° printed in `targets.md` §6.8: with the IUPAC dihedral
/// −120° puts CB 0.044 nm from HA and makes D-Ala; +120° gives L-Ala as in the OpenMM minimum.
pub const BUILD_TORSIONS_DEG: [f64; 19] = [
    180.0, 180.0, 120.0, -120.0, -150.0, 0.0, 180.0, 60.0, 120.0, -120.0, 180.0, 150.0, 180.0,
    180.0, 180.0, 120.0, -120.0, 120.0, 120.0,
];

/// Positions in the bond block of the 12 constrained X–H bonds.
pub const CONSTRAINED_BONDS: [usize; 12] = [2, 4, 5, 8, 9, 10, 11, 14, 16, 17, 18, 19];
/// Positions in the bond block of the 9 free (harmonic) bonds.
pub const FREE_BONDS: [usize; 9] = [0, 1, 3, 6, 7, 12, 13, 15, 20];

/// [`ZMATRIX`] rows in an order where every partner is placed before it is used.
pub(crate) const BUILD_ORDER: [usize; 19] = [
    4, 5, 1, 0, 2, 3, 6, 18, 7, 8, 9, 11, 10, 12, 13, 14, 15, 16, 17,
];

/// The 60 ICs of a configuration (nm, rad; torsions in (−π, π]).
pub fn internal_coordinates(x: &Positions) -> [f64; N_IC] {
    let mut ic = [0.0; N_IC];
    ic[0] = distance(x[8], x[14]);
    ic[1] = distance(x[6], x[8]);
    ic[N_BONDS] = angle(x[6], x[8], x[14]);
    for (row, &[atom, b, a, t]) in ZMATRIX.iter().enumerate() {
        ic[2 + row] = distance(x[atom], x[b]);
        ic[N_BONDS + 1 + row] = angle(x[atom], x[b], x[a]);
        ic[N_BONDS + N_ANGLES + row] = dihedral(x[atom], x[b], x[a], x[t]);
    }
    ic
}

/// Positions from the 60 ICs in the canonical pose (atom 14 at 0, atom 8 on +x, 6 in xy).
pub fn cartesian(ic: &[f64; N_IC]) -> Positions {
    cartesian_generic(ic)
}

/// Positions and the Jacobian ∂x/∂ic (66 × 60, row-major: `jac[3·atom + axis][ic]`).
pub fn cartesian_jacobian(ic: &[f64; N_IC]) -> (Positions, Vec<[f64; N_IC]>) {
    let duals: [Dual<N_IC>; N_IC] = std::array::from_fn(|k| Dual::variable(ic[k], k));
    let xd = cartesian_generic(&duals);
    let x = xd.map(|p| p.map(|c| c.v));
    let jac = xd.as_flattened().iter().map(|c| c.d).collect();
    (x, jac)
}

/// `log J(ic) = Σ 2 ln b + Σ ln sin θ` over all 21 bonds and 20 angles.
pub fn log_jacobian(ic: &[f64; N_IC]) -> f64 {
    let bonds: f64 = ic[..N_BONDS].iter().map(|b| 2.0 * b.ln()).sum();
    let angles: f64 = ic[N_BONDS..N_BONDS + N_ANGLES]
        .iter()
        .map(|t| t.sin().ln())
        .sum();
    bonds + angles
}

pub(crate) fn cartesian_generic<S: Real>(ic: &[S; N_IC]) -> [[S; 3]; N_ATOMS] {
    let zero = S::constant(0.0);
    let mut x = [[zero; 3]; N_ATOMS];
    let (d0, d1, a0) = (ic[0], ic[1], ic[N_BONDS]);
    x[8] = [d0, zero, zero];
    x[6] = [d0 - d1 * a0.cos(), d1 * a0.sin(), zero];
    for row in BUILD_ORDER {
        let [atom, b, a, t] = ZMATRIX[row];
        let (r, theta, zeta) = (
            ic[2 + row],
            ic[N_BONDS + 1 + row],
            ic[N_BONDS + N_ANGLES + row],
        );
        x[atom] = place(x[b], x[a], x[t], r, theta, zeta);
    }
    x
}

/// NeRF: the point at distance r from B, angle θ at B with A, and `dihedral(x, B, A, T) = ζ`.
fn place<S: Real>(b: [S; 3], a: [S; 3], t: [S; 3], r: S, theta: S, zeta: S) -> [S; 3] {
    let e = unit(sub(b, a));
    let n = unit(cross(sub(a, t), e));
    let m = cross(n, e);
    let (st, ct) = (theta.sin(), theta.cos());
    let (cz, sz) = (st * zeta.cos(), st * zeta.sin());
    std::array::from_fn(|k| b[k] + r * (-(ct * e[k]) + cz * m[k] + sz * n[k]))
}

fn sub<S: Real>(a: [S; 3], b: [S; 3]) -> [S; 3] {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

fn cross<S: Real>(a: [S; 3], b: [S; 3]) -> [S; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

fn unit<S: Real>(a: [S; 3]) -> [S; 3] {
    let inv = S::constant(1.0) / (a[0] * a[0] + a[1] * a[1] + a[2] * a[2]).sqrt();
    [a[0] * inv, a[1] * inv, a[2] * inv]
}

/// Checks that the Cartesian dimension and IC count agree (3N − 6).
const _: () = assert!(DIM - 6 == N_IC && N_FREE == N_IC - CONSTRAINED_BONDS.len());

/// IC indices of the 48 free coordinates: the 9 free bonds, then all angles and torsions.
pub const FREE_IC: [usize; N_FREE] = {
    let mut idx = [0; N_FREE];
    let mut k = 0;
    while k < FREE_BONDS.len() {
        idx[k] = FREE_BONDS[k];
        k += 1;
    }
    while k < N_FREE {
        idx[k] = k - FREE_BONDS.len() + N_BONDS;
        k += 1;
    }
    idx
};

/// The atom pair of bond IC `position` (0 and 1 are the seed bonds).
pub fn bond_atoms(position: usize) -> (usize, usize) {
    match position {
        0 => (8, 14),
        1 => (6, 8),
        p => (ZMATRIX[p - 2][0], ZMATRIX[p - 2][1]),
    }
}

/// Lengths (nm) of the constrained bonds at [`CONSTRAINED_BONDS`], from the force field.
///
/// # Panics
/// If a constrained position has no constraint in `ff` (a mismatch between spec and export).
pub fn constrained_bond_lengths(ff: &ForceField) -> [f64; 12] {
    CONSTRAINED_BONDS.map(|p| {
        let (a, b) = bond_atoms(p);
        ff.constraints()
            .iter()
            .find(|c| (c.i, c.j) == (a, b) || (c.j, c.i) == (a, b))
            .map(|c| c.d)
            .expect("every constrained IC bond is an exported constraint")
    })
}

/// Overwrites the constrained bond ICs with the constraint lengths.
pub fn apply_constraints(ic: &mut [f64; N_IC], lengths: &[f64; 12]) {
    for (&p, &d) in CONSTRAINED_BONDS.iter().zip(lengths) {
        ic[p] = d;
    }
}

/// ICs of the unminimised reference build (§6.7 steps 1–3): exported r0 (heavy bonds),
/// constraint lengths (X–H), θ0 (angles) and [`BUILD_TORSIONS_DEG`].
///
/// # Panics
/// If the force field lacks a bond or angle of the Z-matrix (a spec/export mismatch).
pub fn reference_build_ic(ff: &ForceField) -> [f64; N_IC] {
    let mut ic = [0.0; N_IC];
    for p in FREE_BONDS {
        let (a, b) = bond_atoms(p);
        let bond = ff
            .bonds()
            .iter()
            .find(|x| (x.i, x.j) == (a, b) || (x.j, x.i) == (a, b));
        ic[p] = bond.expect("free IC bond is a harmonic bond").r0;
    }
    apply_constraints(&mut ic, &constrained_bond_lengths(ff));
    let theta0 = |i: usize, j: usize, k: usize| {
        let found = ff
            .angles()
            .iter()
            .find(|a| a.j == j && ((a.i, a.k) == (i, k) || (a.k, a.i) == (i, k)));
        found.expect("IC angle is a harmonic angle").theta0
    };
    ic[N_BONDS] = theta0(6, 8, 14);
    for (row, &[atom, b, a, _]) in ZMATRIX.iter().enumerate() {
        ic[N_BONDS + 1 + row] = theta0(atom, b, a);
        ic[N_BONDS + N_ANGLES + row] = BUILD_TORSIONS_DEG[row].to_radians();
    }
    ic
}

/// True if every [`BUILD_ORDER`] row uses only seeds or atoms placed before it, and each row once.
pub const BUILD_ORDER_IS_VALID: bool = {
    let mut placed = [false; N_ATOMS];
    placed[14] = true;
    placed[8] = true;
    placed[6] = true;
    let mut used = [false; 19];
    let mut ok = true;
    let mut s = 0;
    while s < BUILD_ORDER.len() {
        let row = BUILD_ORDER[s];
        let [atom, b, a, t] = ZMATRIX[row];
        ok = ok && !used[row] && placed[b] && placed[a] && placed[t] && !placed[atom];
        used[row] = true;
        placed[atom] = true;
        s += 1;
    }
    ok
};
