//! Exact references (quadrature anchors of `experiments.md`) and samplers against them.

use approx::assert_relative_eq;
use ndarray::Array2;
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use trade_targets::phi4::{HmcConfig, Phi4, free_field_two_point, observables, run_hmc};
use trade_targets::{
    DoubleWellSampler, Gmm, GmmSampler, MultiWell, MultiWellSampler, ReferenceSampler,
    TargetOptions, TwoMoonsSampler, by_name, double_well, gmm, multi_well, sampler_by_name,
    two_moons,
};

fn rng(seed: u64) -> Xoshiro256PlusPlus {
    Xoshiro256PlusPlus::seed_from_u64(seed)
}

/// Asserts |mean(v) − expected| ≤ 4 σ with σ = sd/√n (sd from the exact variance if given).
fn within_4_sigma(values: &[f64], expected: f64, exact_var: Option<f64>, what: &str) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = exact_var
        .unwrap_or_else(|| values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0));
    let sigma = (var / n).sqrt();
    assert!(
        (mean - expected).abs() <= 4.0 * sigma,
        "{what}: sample mean {mean} vs exact {expected} (σ = {sigma})"
    );
}

#[test]
fn multi_well_table() {
    // experiments.md §1: T, log Z, ⟨E⟩, Var E, entropy (4 decimals).
    let table = [
        (0.4, 48.9445, -18.9505, 0.4477, 1.5683),
        (0.5, 39.5349, -18.6641, 0.7326, 2.2067),
        (0.6, 33.3601, -18.3645, 1.1007, 2.7526),
        (0.7, 29.0225, -18.0539, 1.5425, 3.2313),
        (0.8, 25.8256, -17.7367, 2.0394, 3.6548),
        (0.9, 23.3834, -17.4183, 2.5705, 4.0298),
        (1.0, 21.4650, -17.1034, 3.1174, 4.3616),
        (1.1, 19.9238, -16.7958, 3.6660, 4.6548),
    ];
    for (t, log_z, e, var, h) in table {
        let r = multi_well::reference(5, t).unwrap();
        // Table values are rounded to 4 decimals: tolerance half a unit of the last digit + 1e-4.
        for (got, want) in [
            (r.log_z, log_z),
            (r.mean_energy, e),
            (r.var_energy, var),
            (r.entropy, h),
        ] {
            assert!((got - want).abs() <= 1.5e-4, "T = {t}: {got} vs {want}");
        }
        assert_relative_eq!(r.mean_du_dc, -r.mean_energy / (t * t), max_relative = 1e-14);
    }
}

#[test]
fn thermodynamic_identities() {
    // d log Z/dT = ⟨E⟩/T², d⟨E⟩/dT = Var E/T² (central differences, h = 1e-4: error ~1e-8).
    let h = 1e-4;
    for t in [0.5, 0.9] {
        let (lo, mid, hi) = (
            multi_well::reference(5, t - h).unwrap(),
            multi_well::reference(5, t).unwrap(),
            multi_well::reference(5, t + h).unwrap(),
        );
        assert_relative_eq!(
            (hi.log_z - lo.log_z) / (2.0 * h),
            mid.mean_energy / (t * t),
            max_relative = 1e-6
        );
        assert_relative_eq!(
            (hi.mean_energy - lo.mean_energy) / (2.0 * h),
            mid.var_energy / (t * t),
            max_relative = 1e-5
        );
        let (lo, mid, hi) = (
            double_well::reference(t - h).unwrap(),
            double_well::reference(t).unwrap(),
            double_well::reference(t + h).unwrap(),
        );
        assert_relative_eq!(
            (hi.log_z - lo.log_z) / (2.0 * h),
            mid.mean_energy / (t * t),
            max_relative = 1e-6
        );
    }
}

#[test]
fn gmm_table() {
    // experiments.md §3: T, log Z_T, entropy (4 decimals).
    let table = [
        (0.16238, -9.5608, -0.1655),
        (0.33598, -4.4015, 0.9597),
        (1.0, 0.0, 3.0044),
        (1.12884, 0.3527, 3.1710),
        (2.97635, 2.5016, 4.2327),
        (6.15848, 3.5876, 4.8838),
    ];
    for (t, log_z, h) in table {
        let r = gmm::reference(1.0 / t).unwrap();
        assert!(
            (r.log_z - log_z).abs() <= 1.5e-4,
            "T = {t}: log Z {} vs {log_z}",
            r.log_z
        );
        assert!(
            (r.entropy - h).abs() <= 1.5e-4,
            "T = {t}: entropy {} vs {h}",
            r.entropy
        );
    }
}

#[test]
fn multi_well_and_double_well_samplers() {
    let energy = |x: &Array2<f64>, f: &dyn Fn(ndarray::ArrayView1<f64>) -> f64| {
        x.rows().into_iter().map(f).collect::<Vec<_>>()
    };
    for t in [0.5, 1.0] {
        let x = MultiWellSampler::new(5, t)
            .unwrap()
            .sample(20_000, &mut rng(1));
        let r = multi_well::reference(5, t).unwrap();
        within_4_sigma(
            &energy(&x, &MultiWell::raw_energy),
            r.mean_energy,
            Some(r.var_energy),
            "multi-well ⟨E⟩",
        );
        let x = DoubleWellSampler::new(t)
            .unwrap()
            .sample(20_000, &mut rng(2));
        let r = double_well::reference(t).unwrap();
        within_4_sigma(
            &energy(&x, &trade_targets::DoubleWell::raw_energy),
            r.mean_energy,
            Some(r.var_energy),
            "double-well ⟨E⟩",
        );
    }
}

#[test]
fn gmm_sampler_moments() {
    let g = Gmm::new();
    // β = 1 exact mixture; β < 1 exact rejection; β > 1 fine-grid inverse CDF.
    for beta in [1.0, 0.3, 2.0, 6.0] {
        let x = GmmSampler::new(beta).unwrap().sample(20_000, &mut rng(3));
        let lg: Vec<f64> = x
            .rows()
            .into_iter()
            .map(|r| g.log_g([r[0], r[1]]))
            .collect();
        let r = gmm::reference(beta).unwrap();
        within_4_sigma(
            &lg,
            r.mean_log_g,
            Some(r.var_log_g),
            &format!("gmm E[log g] at β = {beta}"),
        );
    }
}

#[test]
fn two_moons_quadrature() {
    let y = [0.0, 0.0];
    for beta in [0.5, 1.0, 2.0] {
        let a = two_moons::reference_with_nodes(y, beta, 128).unwrap();
        let b = two_moons::reference_with_nodes(y, beta, 256).unwrap();
        // Converged by doubling; symmetric at y = (0, 0): mean 0, Var θ0 = Var θ1.
        assert_relative_eq!(a.log_z, b.log_z, epsilon = 1e-9);
        assert_relative_eq!(a.mean_log_lik, b.mean_log_lik, epsilon = 1e-8);
        assert!(b.mean[0].abs() < 1e-12 && b.mean[1].abs() < 1e-12);
        assert_relative_eq!(b.cov[0][0], b.cov[1][1], max_relative = 1e-10);
        // d log Z/dβ = E[log L] (h = 1e-4).
        let h = 1e-4;
        let (lo, hi) = (
            two_moons::reference(y, beta - h).unwrap(),
            two_moons::reference(y, beta + h).unwrap(),
        );
        assert_relative_eq!(
            (hi.log_z - lo.log_z) / (2.0 * h),
            b.mean_log_lik,
            max_relative = 1e-6
        );
    }
    // Cartesian midpoint grid in the rotated frame z = ((θ0 + θ1)/√2, (θ1 − θ0)/√2) (unit
    // Jacobian), with cell edges on the support edge |z0| = 0.25 so the midpoint rule sees no cut
    // cell: Z(1) and the normalisation ∫ L dθ = 2 (two mirror branches).
    let reference = two_moons::reference(y, 1.0).unwrap();
    let h = 2.5e-4;
    let (mut z, mut norm) = (0.0, 0.0);
    for s in [-1.0, 1.0] {
        for i in 0..800 {
            let z0 = s * (0.25 + h * (i as f64 + 0.5));
            for j in 0..1600 {
                let z1 = -0.2 + h * (j as f64 + 0.5);
                let r = std::f64::consts::FRAC_1_SQRT_2;
                let th = [(z0 - z1) * r, (z0 + z1) * r];
                let l = two_moons::log_likelihood(th, y);
                norm += l.exp() * h * h;
                z += (l + two_moons::log_prior(th)).exp() * h * h;
            }
        }
    }
    assert_relative_eq!(norm, 2.0, max_relative = 1e-6);
    assert_relative_eq!(z.ln(), reference.log_z, epsilon = 1e-6);
}

/// Independent of the closed form: simulate (θ, y) from the prior and the simulator and count
/// y in a small box around y_o; p(y_o) ≈ hits/(n·area) must match Z(1) (binomial 4σ + box bias).
#[test]
fn two_moons_simulation_matches_evidence() {
    let mut r = rng(5);
    let (n, half) = (2_000_000usize, 0.01);
    let mut hits = 0usize;
    for _ in 0..n {
        let th: [f64; 2] = std::array::from_fn(|_| {
            0.3 * rand_distr::Distribution::<f64>::sample(&rand_distr::StandardNormal, &mut r)
        });
        let y = two_moons::simulate(th, &mut r);
        hits += usize::from(y[0].abs() < half && y[1].abs() < half);
    }
    let area = 4.0 * half * half;
    let p = hits as f64 / (n as f64 * area);
    let sigma = (hits as f64).sqrt() / (n as f64 * area);
    let exact = two_moons::reference([0.0, 0.0], 1.0).unwrap().log_z.exp();
    assert!(
        (p - exact).abs() < 4.0 * sigma + 0.01 * exact,
        "simulated p(y_o) = {p} ± {sigma}, quadrature {exact}"
    );
}

#[test]
fn two_moons_sampler_moments() {
    for (y, beta) in [
        ([0.0, 0.0], 0.5),
        ([0.0, 0.0], 1.0),
        ([0.0, 0.0], 2.0),
        ([0.1, -0.05], 1.0),
    ] {
        let x = TwoMoonsSampler::new(y, beta)
            .unwrap()
            .sample(20_000, &mut rng(7));
        let r = two_moons::reference(y, beta).unwrap();
        let ll: Vec<f64> = x
            .rows()
            .into_iter()
            .map(|t| two_moons::log_likelihood([t[0], t[1]], y))
            .collect();
        within_4_sigma(
            &ll,
            r.mean_log_lik,
            Some(r.var_log_lik),
            &format!("two moons E[log L] β = {beta}"),
        );
        for k in 0..2 {
            let col: Vec<f64> = x.column(k).to_vec();
            within_4_sigma(
                &col,
                r.mean[k],
                Some(r.cov[k][k]),
                &format!("two moons mean θ{k} β = {beta}"),
            );
        }
    }
}

#[test]
fn phi4_schwinger_dyson_and_acceptance() {
    let cfg = HmcConfig {
        n_chains: 32,
        n_therm: 200,
        n_traj: 800,
        seed: 11,
        ..HmcConfig::default()
    };
    for kappa in [0.25, 0.29] {
        let run = run_hmc(&Phi4::default(), kappa, &cfg).unwrap();
        let o = observables(&run);
        let sd = o.schwinger_dyson;
        assert!(
            (sd.value - 0.5).abs() < 4.0 * sd.error,
            "κ = {kappa}: ⟨s⟩ + λ⟨φ⁴⟩ = {} ± {}",
            sd.value,
            sd.error
        );
        assert!(
            (0.7..0.98).contains(&o.acceptance),
            "acceptance {}",
            o.acceptance
        );
        assert!(o.tau_abs_m.tau.is_finite() && o.tau_abs_m.tau >= 0.5);
    }
}

#[test]
fn phi4_free_field() {
    // λ = 0, κ = 0.2: ⟨φ²⟩ = (1/V) Σ_k 1/K(k) and V⟨m²⟩ = 1/K(0) = 1/(2(1 − 4κ)).
    let (n, kappa) = (8, 0.2);
    let cfg = HmcConfig {
        n_chains: 32,
        n_therm: 100,
        n_traj: 600,
        seed: 12,
        ..HmcConfig::default()
    };
    let run = run_hmc(&Phi4::new(n, 0.0).unwrap(), kappa, &cfg).unwrap();
    let (phi2, _) = free_field_two_point(n, kappa).unwrap();
    let chain_means: Vec<f64> = run
        .series
        .iter()
        .map(|c| c.iter().map(|m| m.phi2_density).sum::<f64>() / c.len() as f64)
        .collect();
    within_4_sigma(&chain_means, phi2, None, "free-field ⟨φ²⟩");
    let o = observables(&run);
    let exact = 1.0 / (2.0 * (1.0 - 4.0 * kappa));
    assert!(
        (o.chi_textbook.value - exact).abs() < 4.0 * o.chi_textbook.error,
        "V⟨m²⟩ {:?} vs {exact}",
        o.chi_textbook
    );
}

/// 2×2 lattice (d = 4) at λ = 0.02, κ = 0.2: HMC ⟨m²⟩, ⟨|m|⟩ against a 4D trapezoidal quadrature.
#[test]
fn phi4_small_lattice_vs_quadrature() {
    let phi4 = Phi4::new(2, 0.02).unwrap();
    let kappa = 0.2;
    let (lo, h, n) = (-7.0, 0.2, 71);
    let (mut z, mut m2, mut am) = (0.0, 0.0, 0.0);
    let mut phi = [0.0; 4];
    for idx in 0..n * n * n * n {
        let mut k = idx;
        for p in phi.iter_mut() {
            *p = lo + h * (k % n) as f64;
            k /= n;
        }
        let w = (-phi4.action(&phi, kappa)).exp();
        let m = phi.iter().sum::<f64>() / 4.0;
        z += w;
        m2 += w * m * m;
        am += w * m.abs();
    }
    let (m2, am) = (m2 / z, am / z);
    let cfg = HmcConfig {
        n_chains: 32,
        n_therm: 100,
        n_traj: 1000,
        seed: 13,
        ..HmcConfig::default()
    };
    let o = observables(&run_hmc(&phi4, kappa, &cfg).unwrap());
    assert!(
        (o.abs_m.value - am).abs() < 4.0 * o.abs_m.error,
        "⟨|m|⟩ {:?} vs {am}",
        o.abs_m
    );
    assert!(
        (o.chi_textbook.value / 4.0 - m2).abs() < 4.0 * o.chi_textbook.error / 4.0,
        "⟨m²⟩ {:?} vs {m2}",
        o.chi_textbook
    );
}

#[test]
fn registry_and_errors() {
    let opts = TargetOptions::default();
    for (name, dim) in [
        ("multi-well", 5),
        ("double-well", 2),
        ("gmm", 2),
        ("two-moons", 2),
        ("phi4", 64),
    ] {
        let t = by_name(name, &opts).unwrap();
        assert_eq!((t.name(), t.dim()), (name, dim));
        let c = t.condition().boundary[0];
        let x = sampler_by_name(name, &opts, c)
            .unwrap()
            .sample(3, &mut rng(1));
        assert_eq!(x.dim(), (3, dim));
        t.check(x.view(), ndarray::array![c].view()).unwrap();
    }
    let msg = |e: trade_targets::TargetError| e.to_string();
    assert_eq!(
        msg(by_name("nope", &opts).err().unwrap()),
        "invalid parameter target = nope: allowed multi-well, double-well, gmm, two-moons, phi4, alanine-dipeptide"
    );
    assert_eq!(
        msg(sampler_by_name("multi-well", &opts, 20.0).err().unwrap()),
        "T = 20 is out of range: allowed [0.1, 10]"
    );
    let bad = TargetOptions {
        lattice: Some(3),
        ..TargetOptions::default()
    };
    assert_eq!(
        msg(by_name("gmm", &bad).err().unwrap()),
        "invalid parameter option = lattice: allowed options of gmm: none"
    );
    let t = by_name("phi4", &opts).unwrap();
    assert_eq!(
        msg(t
            .check(Array2::zeros((2, 63)).view(), ndarray::array![0.25].view())
            .unwrap_err()),
        "wrong dimension: expected 64 columns per row, got 63"
    );
}

#[test]
fn samplers_are_deterministic() {
    for name in ["multi-well", "gmm", "two-moons", "phi4"] {
        let s = sampler_by_name(
            name,
            &TargetOptions::default(),
            1.0f64.min(if name == "phi4" { 0.27 } else { 1.0 }),
        )
        .unwrap();
        assert_eq!(s.sample(5, &mut rng(9)), s.sample(5, &mut rng(9)));
    }
}

#[test]
fn moon_radius_recovers_the_simulator_radius_and_the_likelihood_rho() {
    let mut r = rng(21);
    let mut radii = Vec::new();
    for k in 0..4000 {
        let th = [
            0.3 * ((k as f64) * 0.7).sin(),
            0.3 * ((k as f64) * 1.3).cos(),
        ];
        let y = two_moons::simulate(th, &mut r);
        let rad = two_moons::moon_radius(th, y);
        // Where L > 0, log L = const − 5000 (ρ − 0.1)² − ln ρ with ρ = r.
        let l = two_moons::log_likelihood(th, y);
        if l.is_finite() {
            let expect = two_moons::log_lik_constant() - 5000.0 * (rad - 0.1).powi(2) - rad.ln();
            assert_relative_eq!(l, expect, max_relative = 1e-10);
        }
        radii.push(rad);
    }
    within_4_sigma(&radii, two_moons::RADIUS_MEAN, Some(1e-4), "moon radius");
}
