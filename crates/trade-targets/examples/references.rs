//! Prints the exact quadrature references and φ⁴ HMC observables (`cargo run --release --example references`).
#![allow(clippy::print_stdout)]

use trade_targets::phi4::{HmcConfig, Phi4, observables, run_hmc};
use trade_targets::{TargetError, double_well, gmm, multi_well, two_moons};

fn main() -> Result<(), TargetError> {
    println!("multi-well 5D: T, log Z, <E>, Var E, entropy");
    for t in [0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1] {
        let r = multi_well::reference(5, t)?;
        println!(
            "  {t:.1} {:.4} {:.4} {:.4} {:.4}",
            r.log_z, r.mean_energy, r.var_energy, r.entropy
        );
    }
    println!("double well: T, log Z, <E>, entropy");
    for t in [0.5, 1.0] {
        let r = double_well::reference(t)?;
        println!(
            "  {t:.1} {:.6} {:.6} {:.6}",
            r.log_z, r.mean_energy, r.entropy
        );
    }
    println!("gmm: T, beta, log Z, entropy, E[log g]");
    for t in [
        0.16238, 0.20691, 0.33598, 0.54556, 0.88587, 1.0, 1.12884, 1.83298, 2.97635, 4.83293,
        6.15848,
    ] {
        let r = gmm::reference(1.0 / t)?;
        println!(
            "  {t:.5} {:.5} {:.4} {:.4} {:.6}",
            1.0 / t,
            r.log_z,
            r.entropy,
            r.mean_log_g
        );
    }
    println!("two moons y = (0, 0): beta, log Z, E[log L], entropy, mean, cov");
    for b in [0.4, 0.5, 1.0, 2.0, 2.1] {
        let r = two_moons::reference([0.0, 0.0], b)?;
        println!(
            "  {b:.1} {:.6} {:.6} {:.6} {:?} {:?}",
            r.log_z, r.mean_log_lik, r.entropy, r.mean, r.cov
        );
    }
    let phi4 = Phi4::default();
    println!(
        "phi4 8x8 HMC (256 chains x 3000): kappa, <|m|>, <s>, chi, V<m^2>, U_L, SD, tau|m|, tauS, acc"
    );
    for kappa in [0.25, 0.27, 0.29] {
        let run = run_hmc(
            &phi4,
            kappa,
            &HmcConfig {
                seed: 1,
                ..HmcConfig::default()
            },
        )?;
        let o = observables(&run);
        let f = |e: trade_targets::phi4::Estimate| format!("{:.5}±{:.5}", e.value, e.error);
        println!(
            "  {kappa} {} {} {} {} {} {} {:.2}±{:.2} {:.2}±{:.2} {:.3}",
            f(o.abs_m),
            f(o.action_density),
            f(o.chi),
            f(o.chi_textbook),
            f(o.binder),
            f(o.schwinger_dyson),
            o.tau_abs_m.tau,
            o.tau_abs_m.error,
            o.tau_action.tau,
            o.tau_action.error,
            o.acceptance
        );
    }
    Ok(())
}
