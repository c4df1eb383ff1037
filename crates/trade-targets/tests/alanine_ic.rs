//! Alanine internal coordinates: round trips, log-Jacobian vs a finite-difference Jacobian with
//! the pose restored, pull-back vs finite differences, reference structure and minimisation.

mod alanine_common;

use alanine_common::{config, fixture, positions, rows};
use ndarray::Array2;
use trade_targets::alanine::ic::{
    self, BUILD_ORDER_IS_VALID, CONSTRAINED_BONDS, FREE_IC, N_IC, ZMATRIX, cartesian,
    internal_coordinates, log_jacobian,
};
use trade_targets::alanine::{
    ForceField, IcScaling, IcTransform, MinimiseConfig, N_ATOMS, OMEGA_ATOMS, Positions, chirality,
    dihedral_of, minimise, phi_psi, phi_psi_rows, reference_structure,
};

fn max_pair_distance_error(a: &Positions, b: &Positions) -> f64 {
    let mut worst = 0.0_f64;
    for i in 0..N_ATOMS {
        for j in i + 1..N_ATOMS {
            let d = |x: &Positions| {
                let v = [x[i][0] - x[j][0], x[i][1] - x[j][1], x[i][2] - x[j][2]];
                (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt()
            };
            worst = worst.max((d(a) - d(b)).abs());
        }
    }
    worst
}

#[test]
fn zmatrix_covers_every_atom_once_and_builds_in_order() {
    const { assert!(BUILD_ORDER_IS_VALID) };
    let mut seen = [false; N_ATOMS];
    for a in [14, 8, 6].into_iter().chain(ZMATRIX.iter().map(|r| r[0])) {
        assert!(!seen[a]);
        seen[a] = true;
    }
    assert!(seen.iter().all(|&s| s));
    // the constrained positions are exactly the bonds to hydrogen
    let ff = ForceField::embedded();
    let h = |a: usize| ff.parameters().atoms[a].element == "H";
    for p in 0..21 {
        let (a, b) = ic::bond_atoms(p);
        assert_eq!(
            CONSTRAINED_BONDS.contains(&p),
            h(a) || h(b),
            "bond position {p}"
        );
    }
}

#[test]
fn ics_reconstruct_the_fixture_structures() {
    let fx = fixture();
    for c in &fx.configs {
        let x = positions(&c.positions);
        let ic = internal_coordinates(&x);
        let y = cartesian(&ic);
        // same shape up to a rigid motion: all 231 distances agree
        let err = max_pair_distance_error(&x, &y);
        assert!(err < 1e-10, "{}: {err:e}", c.name);
        let back = internal_coordinates(&y);
        for (a, b) in ic.iter().zip(&back) {
            assert!((a - b).abs() < 1e-10, "{}", c.name);
        }
        // canonical pose: atom 14 at 0, atom 8 on +x, atom 6 in the xy-plane with y > 0
        assert!(
            y[14].iter().all(|v| v.abs() < 1e-15) && y[8][1].abs() < 1e-15 && y[8][2].abs() < 1e-15
        );
        assert!(y[6][2].abs() < 1e-15 && y[6][1] > 0.0);
    }
}

#[test]
fn transform_round_trips_to_1e_10() {
    let fx = fixture();
    let xs: Vec<Positions> = fx.configs.iter().map(|c| positions(&c.positions)).collect();
    let x = rows(&xs);
    for (scaling, centred) in [
        (IcScaling::AroundReference, false),
        (IcScaling::Unit, false),
        (IcScaling::AroundReference, true),
    ] {
        let mut t = IcTransform::around(&reference_structure(), scaling);
        if centred {
            t = t.with_centred_torsions();
        }
        let (z, ld) = t.to_internal(x.view());
        let (y, ld_back) = t.to_cartesian(z.view());
        let (z2, ld2) = t.to_internal(y.view());
        for ((_, m), (a, b)) in z.indexed_iter().map(|(ix, _)| ix).zip(z.iter().zip(&z2)) {
            // torsions (z columns 29..48) are periodic with period 1: ζ = ±π are the same point
            let d = if m >= 29 {
                (a - b) - (a - b).round()
            } else {
                a - b
            };
            assert!(d.abs() < 1e-10, "{scaling:?} centred {centred}: {a} vs {b}");
        }
        for i in 0..xs.len() {
            // log-dets of the two directions are negatives (X–H bonds at their fixed lengths)
            assert!((ld2[i] + ld_back[i]).abs() < 1e-10);
            assert!((ld[i] - ld2[i]).abs() < 1e-10, "{} vs {}", ld[i], ld2[i]);
        }
    }
}

/// Determinant by Gaussian elimination with partial pivoting (returns ln|det|).
fn log_abs_det(mut a: Vec<Vec<f64>>) -> f64 {
    let n = a.len();
    let mut acc = 0.0;
    for col in 0..n {
        let piv = (col..n)
            .max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))
            .unwrap_or(col);
        a.swap(col, piv);
        let p = a[col][col];
        acc += p.abs().ln();
        let (top, rest) = a.split_at_mut(col + 1);
        let pivot_row = &top[col];
        for row in rest.iter_mut() {
            let f = row[col] / p;
            for (x, y) in row[col..].iter_mut().zip(&pivot_row[col..]) {
                *x -= f * y;
            }
        }
    }
    acc
}

/// x = Rz(α) Ry(β) Rz(γ) x_canon(ic) + t, the full 66-dimensional parametrisation.
fn posed(q: &[f64]) -> Vec<f64> {
    let ic: [f64; N_IC] = std::array::from_fn(|k| q[k]);
    let (a, b, g) = (q[N_IC], q[N_IC + 1], q[N_IC + 2]);
    let t = [q[N_IC + 3], q[N_IC + 4], q[N_IC + 5]];
    let rz = |th: f64| {
        [
            [th.cos(), -th.sin(), 0.0],
            [th.sin(), th.cos(), 0.0],
            [0.0, 0.0, 1.0],
        ]
    };
    let ry = |th: f64| {
        [
            [th.cos(), 0.0, th.sin()],
            [0.0, 1.0, 0.0],
            [-th.sin(), 0.0, th.cos()],
        ]
    };
    let mul = |m: [[f64; 3]; 3], v: [f64; 3]| -> [f64; 3] {
        std::array::from_fn(|i| (0..3).map(|j| m[i][j] * v[j]).sum())
    };
    cartesian(&ic)
        .iter()
        .flat_map(|p| {
            let r = mul(rz(a), mul(ry(b), mul(rz(g), *p)));
            [r[0] + t[0], r[1] + t[1], r[2] + t[2]]
        })
        .collect()
}

#[test]
fn log_jacobian_matches_finite_difference_jacobian_with_pose() {
    // |det ∂x/∂(ic, α, β, γ, t)| = J(ic) · sin β (ZYZ Euler Haar density), so
    // ln|det| − ln sin β must equal log J(ic) including the seed factor.
    let fx = fixture();
    for name in ["openmm_minimum", "md_1000K_1", "noise_0.02"] {
        let ic = internal_coordinates(&positions(&config(&fx, name).positions));
        let mut q: Vec<f64> = ic.to_vec();
        q.extend([0.4, 1.2, -0.8, 0.1, -0.3, 0.2]);
        let h = 1e-6;
        let cols: Vec<Vec<f64>> = (0..66)
            .map(|k| {
                let (mut p, mut m) = (q.clone(), q.clone());
                p[k] += h;
                m[k] -= h;
                posed(&p)
                    .iter()
                    .zip(posed(&m))
                    .map(|(a, b)| (a - b) / (2.0 * h))
                    .collect()
            })
            .collect();
        let rows_: Vec<Vec<f64>> = (0..66)
            .map(|r| cols.iter().map(|c| c[r]).collect())
            .collect();
        let numerical = log_abs_det(rows_) - 1.2_f64.sin().ln();
        let analytic = log_jacobian(&ic);
        assert!(
            (numerical - analytic).abs() < 1e-6,
            "{name}: {numerical} vs {analytic}"
        );
    }
}

#[test]
fn normalisation_log_det_matches_finite_differences() {
    let t = IcTransform::new();
    let ic = internal_coordinates(&reference_structure());
    let h = 1e-6;
    let mut acc = 0.0;
    for &k in &FREE_IC {
        let (mut p, mut m) = (ic, ic);
        p[k] += h;
        m[k] -= h;
        let (zp, zm) = (t.encode(&p), t.encode(&m));
        let slot = FREE_IC.iter().position(|&f| f == k).unwrap_or(0);
        acc += ((zp[slot] - zm[slot]) / (2.0 * h)).abs().ln();
    }
    assert!((acc - t.log_abs_det_z_ic()).abs() < 1e-6);
    // spec constants: 9 ln 20 + 20 ln(0.1/0.15) − 19 ln 2π
    let spec =
        9.0 * 20.0_f64.ln() + 20.0 * (0.1_f64 / 0.15).ln() - 19.0 * std::f64::consts::TAU.ln();
    assert!((t.log_abs_det_z_ic() - spec).abs() < 1e-12);
}

#[test]
fn pullback_and_log_det_grad_match_finite_differences() {
    let fx = fixture();
    let t = IcTransform::new();
    let ff = ForceField::embedded();
    let x = rows(&[positions(&config(&fx, "md_600K_1").positions)]);
    let (z, _) = t.to_internal(x.view());
    let (xc, _) = t.to_cartesian(z.view());
    let xp = positions(xc.row(0).as_slice().unwrap_or(&[]));
    let mut g = [[0.0; 3]; N_ATOMS];
    ff.energy_grad(&xp, &mut g);
    let gx = Array2::from_shape_vec((1, 66), g.as_flattened().to_vec()).unwrap();
    let gz = t.pullback(z.view(), gx.view());
    let gl = t.log_det_grad(z.view());
    let h = 1e-6;
    for m in 0..48 {
        let f = |d: f64| {
            let mut zz = z.clone();
            zz[[0, m]] += d;
            let (xx, ld) = t.to_cartesian(zz.view());
            (
                ff.energy(&positions(xx.row(0).as_slice().unwrap_or(&[]))),
                ld[0],
            )
        };
        let ((ep, lp), (em, lm)) = (f(h), f(-h));
        let (fd_e, fd_l) = ((ep - em) / (2.0 * h), (lp - lm) / (2.0 * h));
        assert!(
            (fd_e - gz[[0, m]]).abs() < 1e-5 * gz[[0, m]].abs().max(1.0),
            "z{m}: {fd_e} vs {}",
            gz[[0, m]]
        );
        assert!(
            (fd_l - gl[[0, m]]).abs() < 1e-5 * gl[[0, m]].abs().max(1.0),
            "z{m}: {fd_l} vs {}",
            gl[[0, m]]
        );
    }
}

#[test]
fn reference_structure_is_the_c5_beta_minimum() {
    let x = reference_structure();
    let (phi, psi) = phi_psi(&x);
    let pp = phi_psi_rows(rows(&[x, x]).view());
    assert!(
        pp.dim() == (2, 2) && (pp[[1, 0]] - phi).abs() < 1e-15 && (pp[[1, 1]] - psi).abs() < 1e-15
    );
    assert!(
        (phi.to_degrees() + 144.6).abs() < 0.5 && (psi.to_degrees() - 159.2).abs() < 0.5,
        "{phi} {psi}"
    );
    assert!(chirality(&x) > 0.0);
    for w in OMEGA_ATOMS {
        assert!(dihedral_of(&x, w).abs() > 2.8, "trans peptide");
    }
    let ff = ForceField::embedded();
    for c in ff.constraints() {
        let d = ((0..3).map(|k| (x[c.i][k] - x[c.j][k]).powi(2)).sum::<f64>()).sqrt();
        assert!((d - c.d).abs() < 1e-12);
    }
    // OpenMM's LocalEnergyMinimizer from the same build reaches the same basin.
    let fx = fixture();
    let e_openmm = config(&fx, "openmm_minimum").energy["total"];
    let e = ff.energy(&x);
    assert!(
        e <= e_openmm + 1e-3 && (e - e_openmm).abs() < 0.05,
        "{e} vs OpenMM {e_openmm}"
    );
}

#[test]
fn minimise_lowers_the_energy_of_a_noisy_structure() {
    let fx = fixture();
    let ff = ForceField::embedded();
    let x0 = positions(&config(&fx, "md_600K_2").positions);
    let m = minimise(ff, &x0, &MinimiseConfig::default()).expect("minimises");
    assert!(
        m.energy < ff.energy(&x0) - 10.0 && m.grad_norm < 1e-4,
        "{m:?}"
    );
}

mod laws {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// z → x → z is the identity on the flow domain (bonds/angles within ±3σ of the
        /// reference, any torsions); torsions compared modulo 1.
        #[test]
        fn inverse_of_forward_is_identity(
            core in proptest::collection::vec(0.2f64..0.8, 29),
            torsions in proptest::collection::vec(0.001f64..0.999, 19),
        ) {
            let t = IcTransform::new();
            let z = Array2::from_shape_vec((1, 48), [core, torsions].concat()).unwrap();
            let (x, ld) = t.to_cartesian(z.view());
            let (z2, ld2) = t.to_internal(x.view());
            for (m, (a, b)) in z.iter().zip(&z2).enumerate() {
                let d = if m >= 29 { (a - b) - (a - b).round() } else { a - b };
                prop_assert!(d.abs() < 1e-10, "z{}: {} vs {}", m, a, b);
            }
            prop_assert!((ld[0] + ld2[0]).abs() < 1e-10);
        }
    }
}

/// The target on z: U_z(z(x)) = U(x) + log|∂z/∂x|(x), ∇_z U_z against the trade-ad
/// finite-difference oracle, and ∂_τ U_z = ∂_τ U.
#[test]
fn alanine_internal_target_energy_gradient_and_tau_derivative() {
    use trade_targets::Target;
    use trade_targets::alanine::{AlanineDipeptide, AlanineInternal};
    let t = AlanineInternal::default();
    let cart = AlanineDipeptide::new();
    let x0 = reference_structure();
    let x = Array2::from_shape_vec((1, 66), x0.as_flattened().to_vec()).unwrap();
    let (z, log_dz_dx) = t.transform().to_internal(x.view());
    let tau = ndarray::array![0.8];
    let uz = t.energy(z.view(), tau.view())[0];
    let ux = cart.energy(x.view(), tau.view())[0];
    assert!(
        (uz - (ux + log_dz_dx[0])).abs() < 1e-8,
        "{uz} vs {ux} + {}",
        log_dz_dx[0]
    );
    // Move off the minimum so the gradient is not ~0.
    let z =
        z.mapv(|v| v + 0.01) + Array2::from_shape_fn((1, 48), |(_, j)| 0.003 * (j as f64).sin());
    let (_, g) = t.energy_and_grad(z.view(), tau.view());
    let numeric =
        trade_ad::testing::numerical_gradient(|zz| t.energy(zz.view(), tau.view())[0], &z);
    let err = (&g - &numeric)
        .mapv(f64::abs)
        .fold(0.0f64, |a, b| a.max(*b));
    let scale = numeric.mapv(f64::abs).fold(0.0f64, |a, b| a.max(*b));
    assert!(
        err < 1e-6 * scale.max(1.0),
        "gradient error {err} (scale {scale})"
    );
    let (xz, _) = t.transform().to_cartesian(z.view());
    let dz = t.d_energy_dc(z.view(), tau.view())[0];
    assert!((dz - cart.d_energy_dc(xz.view(), tau.view())[0]).abs() < 1e-12);
    assert_eq!(t.dim(), 48);
}

/// Centred torsions: the reference structure sits at z = 0.5 on every torsion, values stay in
/// [0, 1), and the log-determinant is the uncentred one (a rotation of each circle).
#[test]
fn centred_torsions_put_the_reference_at_one_half() {
    let plain = IcTransform::new();
    let centred = IcTransform::new().with_centred_torsions();
    let x0 = reference_structure();
    let x = rows(&[x0]);
    let (z, ld) = centred.to_internal(x.view());
    let (_, ld_plain) = plain.to_internal(x.view());
    for m in 29..48 {
        assert!(
            (z[[0, m]] - 0.5).abs() < 1e-12,
            "torsion {m}: {}",
            z[[0, m]]
        );
    }
    assert!((ld[0] - ld_plain[0]).abs() < 1e-12);
    let fx = fixture();
    let xs: Vec<Positions> = fx.configs.iter().map(|c| positions(&c.positions)).collect();
    let (z, _) = centred.to_internal(rows(&xs).view());
    assert!(
        z.slice(ndarray::s![.., 29..])
            .iter()
            .all(|v| (0.0..1.0).contains(v))
    );
}
