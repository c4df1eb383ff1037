//! Energies, ∇_x U and ∂_c U of every target against central differences and independent formulas.

use approx::assert_relative_eq;
use ndarray::{Array1, Array2, array};
use proptest::prelude::*;
use trade_targets::{DoubleWell, Gmm, MultiWell, Phi4, Target, TwoMoons, gmm, two_moons};

/// Central difference of f at x along unit vector e_i, step ∛ε·max(1, |x_i|).
fn central<F: Fn(&Array1<f64>) -> f64>(f: F, x: &Array1<f64>, i: usize) -> f64 {
    let h = f64::EPSILON.cbrt() * x[i].abs().max(1.0);
    let (mut xp, mut xm) = (x.clone(), x.clone());
    xp[i] += h;
    xm[i] -= h;
    (f(&xp) - f(&xm)) / (2.0 * h)
}

/// Checks grad_x, d_energy_dc and energy_and_grad of `t` at one row `x` and condition `c` against
/// central differences. Tolerance: FD truncation + rounding ≈ 1e-9 relative to the energy scale.
fn check(t: &dyn Target, x: &Array1<f64>, c: f64) {
    let cv = array![c];
    let row = |x: &Array1<f64>| x.clone().insert_axis(ndarray::Axis(0));
    let u = |x: &Array1<f64>, c: f64| t.energy(row(x).view(), array![c].view())[0];
    let grad = t.grad_x(row(x).view(), cv.view());
    let (e2, g2) = t.energy_and_grad(row(x).view(), cv.view());
    let scale = u(x, c).abs().max(1.0);
    assert_relative_eq!(e2[0], u(x, c), max_relative = 1e-14);
    for i in 0..x.len() {
        let fd = central(|y| u(y, c), x, i);
        assert_relative_eq!(
            grad[[0, i]],
            fd,
            epsilon = 1e-6 * scale,
            max_relative = 1e-6
        );
        assert_relative_eq!(g2[[0, i]], grad[[0, i]], max_relative = 1e-14);
    }
    let dc = t.d_energy_dc(row(x).view(), cv.view())[0];
    let fd_c = central(|cc| u(x, cc[0]), &array![c], 0);
    assert_relative_eq!(dc, fd_c, epsilon = 1e-6 * scale, max_relative = 1e-6);
}

/// Independent GMM density: explicit 2×2 inverse and determinant, plain sum (no log-sum-exp).
fn naive_log_g(x: [f64; 2]) -> f64 {
    let mut g = 0.0;
    for (m, c) in gmm::MEANS.iter().zip(gmm::COVARIANCES) {
        let det = c[0] * c[2] - c[1] * c[1];
        let d = [x[0] - m[0], x[1] - m[1]];
        let q = (c[2] * d[0] * d[0] - 2.0 * c[1] * d[0] * d[1] + c[0] * d[1] * d[1]) / det;
        g += (-0.5 * q).exp() / (6.0 * 2.0 * std::f64::consts::PI * det.sqrt());
    }
    g.ln()
}

/// Independent φ⁴ action: the spec's equivalent form Σ[−2κ Σ_μ φφ_{+μ} + φ² + λ(φ² − 1)²] − λV,
/// with explicit 2D indexing.
fn naive_action(phi: &[f64], n: usize, kappa: f64, lambda: f64) -> f64 {
    let at = |i: usize, j: usize| phi[(i % n) * n + (j % n)];
    let mut s = 0.0;
    for i in 0..n {
        for j in 0..n {
            let p = at(i, j);
            s += -2.0 * kappa * p * (at(i + 1, j) + at(i, j + 1))
                + p * p
                + lambda * (p * p - 1.0).powi(2);
        }
    }
    s - lambda * (n * n) as f64
}

/// A point on the moon for y = `y`: moon-polar (s, ρ, α) → θ.
fn moon_point(y: [f64; 2], s: f64, rho: f64, alpha: f64) -> [f64; 2] {
    let (u, v) = (rho * alpha.cos(), rho * alpha.sin());
    let (z0, z1) = (s * (u - y[0] + 0.25), y[1] - v);
    let r = std::f64::consts::FRAC_1_SQRT_2;
    [(z0 - z1) * r, (z0 + z1) * r]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn multi_well_fd(x in prop::collection::vec(-2.5f64..2.5, 5), t in 0.4f64..1.1) {
        let x = Array1::from(x);
        check(&MultiWell::default(), &x, t);
        let e: f64 = x.iter().map(|v| v.powi(4) - 4.0 * v * v).sum();
        let u = MultiWell::default().energy(x.clone().insert_axis(ndarray::Axis(0)).view(), array![t].view());
        assert_relative_eq!(u[0], e / t, epsilon = 1e-12, max_relative = 1e-12);
    }

    #[test]
    fn double_well_fd(x0 in -2.5f64..2.5, x1 in -3.0f64..3.0, t in 0.4f64..1.1) {
        check(&DoubleWell, &array![x0, x1], t);
    }

    #[test]
    fn gmm_fd_and_naive(x0 in -6.0f64..7.0, x1 in -6.0f64..9.0, beta in 0.16238f64..6.15848) {
        check(&Gmm::new(), &array![x0, x1], beta);
        let lg = Gmm::new().log_g([x0, x1]);
        // The naive sum underflows far from every mode; compare where it is representable.
        let naive = naive_log_g([x0, x1]);
        if naive > -600.0 {
            assert_relative_eq!(lg, naive, epsilon = 1e-10, max_relative = 1e-10);
        }
    }

    #[test]
    fn two_moons_fd_and_closed_form(
        y0 in -0.2f64..0.2, y1 in -0.2f64..0.2, s in prop::bool::ANY,
        rho in 0.07f64..0.13, alpha in -1.4f64..1.4, beta in 0.4f64..2.1,
    ) {
        let y = [y0, y1];
        let th = moon_point(y, if s { 1.0 } else { -1.0 }, rho, alpha);
        prop_assume!((th[0] + th[1]).abs() > 1e-3); // away from the |z0| kink
        check(&TwoMoons::new(y).unwrap(), &array![th[0], th[1]], beta);
        // L = N(ρ; 0.1, 0.01²)/(πρ), written from the simulator's density directly.
        let gauss = (-(rho - 0.1f64).powi(2) / (2.0 * 1e-4)).exp() / (0.01 * (2.0 * std::f64::consts::PI).sqrt());
        let lik = gauss / (std::f64::consts::PI * rho);
        assert_relative_eq!(two_moons::log_likelihood(th, y), lik.ln(), epsilon = 1e-9);
    }

    #[test]
    fn phi4_fd_and_naive(phi in prop::collection::vec(-2.0f64..2.0, 16), kappa in 0.22f64..0.33, lambda in 0.0f64..0.5) {
        let t = Phi4::new(4, lambda).unwrap();
        let x = Array1::from(phi.clone());
        check(&t, &x, kappa);
        assert_relative_eq!(t.action(&phi, kappa), naive_action(&phi, 4, kappa, lambda), epsilon = 1e-10, max_relative = 1e-12);
    }
}

#[test]
fn phi4_default_lattice_fd() {
    let phi: Vec<f64> = (0..64)
        .map(|i| ((i * 37 % 17) as f64 - 8.0) / 4.0)
        .collect();
    check(&Phi4::default(), &Array1::from(phi), 0.27);
}

#[test]
fn two_moons_constant_and_support() {
    assert_relative_eq!(two_moons::log_lik_constant(), 2.5415018, epsilon = 1e-7);
    // Outside the moon (u ≤ 0): U = +∞, ∂_β U = +∞, NaN gradient.
    let t = TwoMoons::default();
    let x = array![[0.0, 0.0]];
    let c = array![1.0];
    assert!(t.energy(x.view(), c.view())[0].is_infinite());
    assert!(t.d_energy_dc(x.view(), c.view())[0].is_infinite());
    assert!(t.grad_x(x.view(), c.view())[[0, 0]].is_nan());
}

/// Batched, per-row conditions and the parallel path (N·d ≥ 8192) give the same rows as one-by-one.
#[test]
fn batch_matches_rows() {
    let n = 5000;
    let x = Array2::from_shape_fn((n, 2), |(i, j)| {
        ((i * 7 + j * 13) % 101) as f64 / 20.0 - 2.5
    });
    let c = Array1::from_shape_fn(n, |i| 0.4 + 0.7 * (i % 11) as f64 / 10.0);
    for t in [
        &Gmm::new() as &dyn Target,
        &DoubleWell,
        &MultiWell::new(2).unwrap(),
    ] {
        let (e, g) = t.energy_and_grad(x.view(), c.view());
        for i in (0..n).step_by(997) {
            let (ei, gi) = t.energy_and_grad(
                x.slice(ndarray::s![i..i + 1, ..]),
                c.slice(ndarray::s![i..i + 1]),
            );
            assert_relative_eq!(e[i], ei[0], max_relative = 1e-15);
            assert_relative_eq!(g[[i, 1]], gi[[0, 1]], max_relative = 1e-15);
        }
    }
}
