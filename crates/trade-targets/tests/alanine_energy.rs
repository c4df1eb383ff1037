//! Alanine dipeptide energy: gradients vs central differences (every term, including GB through
//! the Born radii), rigid-motion invariance, the reduced energy and its condition derivative,
//! and clear errors for bad input.

mod alanine_common;

use alanine_common::{config, fixture, positions, rows};
use ndarray::{Array2, array};
use trade_targets::alanine::{AlanineDipeptide, ForceField, N_ATOMS, Positions, Term};
use trade_targets::{Target, TargetError};

const CASES: [&str; 6] = [
    "openmm_minimum",
    "md_300K_0",
    "md_1000K_2",
    "noise_0.01",
    "compressed_0.65",
    "reference_build",
];

/// Five-point central differences of one term, step h = 1e-5 nm.
fn fd_grad(ff: &ForceField, term: Option<Term>, x: &Positions) -> Positions {
    let e = |x: &Positions| match term {
        Some(t) => ff.term_energy_grad(t, x, &mut [[0.0; 3]; N_ATOMS]),
        None => ff.energy(x),
    };
    let h = 1e-5;
    let at = |i: usize, k: usize, d: f64| {
        let mut p = *x;
        p[i][k] += d;
        e(&p)
    };
    std::array::from_fn(|i| {
        std::array::from_fn(|k| {
            (-at(i, k, 2.0 * h) + 8.0 * at(i, k, h) - 8.0 * at(i, k, -h) + at(i, k, -2.0 * h))
                / (12.0 * h)
        })
    })
}

#[test]
fn gradient_matches_central_differences_per_term() {
    let ff = ForceField::embedded();
    let fx = fixture();
    for name in CASES {
        let x = positions(&config(&fx, name).positions);
        for term in Term::ALL.map(Some).into_iter().chain([None]) {
            let mut g = [[0.0; 3]; N_ATOMS];
            match term {
                Some(t) => ff.term_energy_grad(t, &x, &mut g),
                None => ff.energy_grad(&x, &mut g),
            };
            let fd = fd_grad(ff, term, &x);
            let scale = g.as_flattened().iter().fold(1.0_f64, |m, v| m.max(v.abs()));
            let err = g
                .as_flattened()
                .iter()
                .zip(fd.as_flattened())
                .fold(0.0_f64, |m, (a, b)| m.max((a - b).abs()));
            // O(h⁴) truncation and ~1e-16·|E|/h rounding (|E| ≤ 1e4) stay far below 1e-7 relative.
            assert!(
                err <= 1e-7 * scale,
                "{name} {term:?}: max |g − fd| = {err:e}, scale {scale:e}"
            );
        }
    }
}

fn rotate(x: &Positions, angles: [f64; 3], shift: [f64; 3]) -> Positions {
    let (a, b, c) = (angles[0], angles[1], angles[2]);
    let rz = |t: f64| {
        [
            [t.cos(), -t.sin(), 0.0],
            [t.sin(), t.cos(), 0.0],
            [0.0, 0.0, 1.0],
        ]
    };
    let ry = |t: f64| {
        [
            [t.cos(), 0.0, t.sin()],
            [0.0, 1.0, 0.0],
            [-t.sin(), 0.0, t.cos()],
        ]
    };
    let mul = |m: [[f64; 3]; 3], v: [f64; 3]| {
        std::array::from_fn::<f64, 3, _>(|i| (0..3).map(|j| m[i][j] * v[j]).sum())
    };
    x.map(|p| {
        let q = mul(rz(a), mul(ry(b), mul(rz(c), p)));
        [q[0] + shift[0], q[1] + shift[1], q[2] + shift[2]]
    })
}

#[test]
fn energy_is_invariant_and_forces_covariant_under_rigid_motions() {
    let ff = ForceField::embedded();
    let fx = fixture();
    for name in CASES {
        let x = positions(&config(&fx, name).positions);
        let mut g = [[0.0; 3]; N_ATOMS];
        let e = ff.energy_grad(&x, &mut g);
        for (angles, shift) in [
            ([0.3, 1.1, -2.0], [1.0, -2.0, 0.5]),
            ([2.9, 0.2, 0.7], [-30.0, 4.0, 12.0]),
        ] {
            let y = rotate(&x, angles, shift);
            let mut gy = [[0.0; 3]; N_ATOMS];
            let ey = ff.energy_grad(&y, &mut gy);
            // Relative 1e-12: only rounding differs (shift 30 nm costs ~3 digits on distances).
            assert!(
                (e - ey).abs() <= 1e-11 * e.abs().max(1.0),
                "{name}: {e} vs {ey}"
            );
            let rg = rotate(&g, angles, [0.0; 3]);
            let scale = g.as_flattened().iter().fold(1.0_f64, |m, v| m.max(v.abs()));
            for (a, b) in rg.as_flattened().iter().zip(gy.as_flattened()) {
                assert!((a - b).abs() <= 1e-9 * scale, "{name}: force {a} vs {b}");
            }
        }
    }
}

#[test]
fn reduced_energy_gradient_and_condition_derivative_follow_the_spec() {
    let fx = fixture();
    let xs: Vec<Positions> = CASES
        .iter()
        .map(|n| positions(&config(&fx, n).positions))
        .collect();
    let x = rows(&xs);
    let tau = AlanineDipeptide::new();
    let kelvin = AlanineDipeptide::kelvin();
    let e = tau.potential_energy(x.view());
    let kt600 = 4.988677570891944; // k_B · 600 K in kJ/mol (spec §6.4)
    for (t, c_tau, c_k) in [
        (600.0, 1.0, 600.0),
        (300.0, 0.5, 300.0),
        (450.0, 0.75, 450.0),
    ] {
        let u = tau.energy(x.view(), array![c_tau].view());
        let uk = kelvin.energy(x.view(), array![c_k].view());
        let (u2, g) = tau.energy_and_grad(x.view(), array![c_tau].view());
        let dudtau = tau.d_energy_dc(x.view(), array![c_tau].view());
        let dudt = kelvin.d_energy_dc(x.view(), array![c_k].view());
        for i in 0..xs.len() {
            let expect = e[i] / (kt600 * t / 600.0);
            assert!((u[i] - expect).abs() <= 1e-12 * expect.abs().max(1.0));
            assert!((uk[i] - u[i]).abs() <= 1e-12 * u[i].abs().max(1.0));
            assert!((u2[i] - u[i]).abs() <= 1e-12 * u[i].abs().max(1.0));
            // ∂_τ U = −u_600/τ²; ∂_T U = (∂_τ U)/600 K
            let u600 = e[i] / kt600;
            assert!((dudtau[i] + u600 / (c_tau * c_tau)).abs() <= 1e-12 * u600.abs().max(1.0));
            assert!((dudt[i] * 600.0 - dudtau[i]).abs() <= 1e-12 * dudtau[i].abs().max(1.0));
            // ∇_x U = ∇E / k_B T
            let mut ge = [[0.0; 3]; N_ATOMS];
            ForceField::embedded().energy_grad(&xs[i], &mut ge);
            for (a, b) in g.row(i).iter().zip(ge.as_flattened()) {
                assert!((a - b / (kt600 * t / 600.0)).abs() <= 1e-12 * b.abs().max(1.0));
            }
        }
    }
    // per-row conditions
    let c = ndarray::Array1::linspace(0.4, 1.1, xs.len());
    let u = tau.energy(x.view(), c.view());
    for i in 0..xs.len() {
        assert!((u[i] - e[i] / (kt600 * c[i])).abs() <= 1e-12 * u[i].abs().max(1.0));
    }
    let terms = tau.energy_terms(x.view());
    for (t, ei) in terms.iter().zip(&e) {
        assert!((t.total() - ei).abs() <= 1e-12 * ei.abs().max(1.0));
    }
}

#[test]
fn condition_specs_are_tau_and_kelvin() {
    let t = AlanineDipeptide::new().condition();
    assert_eq!(
        (t.name, t.train_range, t.boundary.clone()),
        ("tau", (0.4, 1.1), vec![1.0])
    );
    let k = AlanineDipeptide::kelvin().condition();
    assert_eq!(k.name, "T");
    assert!((k.train_range.0 - 240.0).abs() < 1e-9 && (k.train_range.1 - 660.0).abs() < 1e-9);
    assert_eq!(AlanineDipeptide::new().dim(), 66);
    assert_eq!(AlanineDipeptide::new().name(), "alanine-dipeptide");
}

#[test]
fn bad_input_gives_clear_errors() {
    let fx = fixture();
    let target = AlanineDipeptide::kelvin();
    let c = array![600.0];
    let wrong = Array2::<f64>::zeros((3, 67));
    assert!(matches!(
        target.check(wrong.view(), c.view()),
        Err(TargetError::Dimension {
            expected: 66,
            got: 67
        })
    ));
    let mut x = rows(&[positions(&fx.configs[1].positions)]);
    assert!(target.check(x.view(), c.view()).is_ok());
    assert!(matches!(
        target.check(x.view(), array![-5.0].view()),
        Err(TargetError::ConditionOutOfRange { name: "T", .. })
    ));
    let mut overlap = x.clone();
    for k in 0..3 {
        overlap[[0, 3 * 5 + k]] = overlap[[0, 3 * 4 + k]];
    }
    let err = target.check(overlap.view(), c.view()).unwrap_err();
    assert!(matches!(err, TargetError::Singular { row: 0, .. }), "{err}");
    assert!(err.to_string().contains("atoms 4 and 5"), "{err}");
    x[[0, 7]] = f64::NAN;
    assert!(matches!(
        target.check(x.view(), c.view()),
        Err(TargetError::NonFinite { row: 0, col: 7 })
    ));
}

#[test]
fn registry_offers_the_kelvin_target_and_the_md_sampler() {
    let opts = trade_targets::TargetOptions::default();
    let t = trade_targets::by_name("alanine-dipeptide", &opts).expect("registered");
    assert_eq!((t.dim(), t.condition().name), (66, "T"));
    let s = trade_targets::sampler_by_name("alanine-dipeptide", &opts, 600.0).expect("MD sampler");
    assert_eq!(s.dim(), 66);
    assert!(trade_targets::sampler_by_name("alanine-dipeptide", &opts, -1.0).is_err());
}
