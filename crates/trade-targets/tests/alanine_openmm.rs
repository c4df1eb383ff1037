//! Alanine dipeptide: Rust energies, per-term energies and forces against the committed OpenMM
//! Reference-platform fixture (`data/alanine/fixture.json`, from `tools/export_alanine.py`).

mod alanine_common;

use alanine_common::{fixture, positions};
use trade_targets::alanine::{ForceField, N_ATOMS, Positions, Term};

/// Largest |a − b| / max(1, scale) over the fixture, with its config name.
struct Worst {
    err: f64,
    name: String,
}

impl Worst {
    fn new() -> Self {
        Worst {
            err: 0.0,
            name: String::new(),
        }
    }
    fn see(&mut self, err: f64, name: &str) {
        if err > self.err || err.is_nan() {
            self.err = err;
            self.name = name.to_string();
        }
    }
}

fn force_error(grad: &Positions, forces: &[f64]) -> f64 {
    let scale = forces.iter().fold(1.0_f64, |m, f| m.max(f.abs()));
    let diff = grad
        .as_flattened()
        .iter()
        .zip(forces)
        .fold(0.0_f64, |m, (g, f)| m.max((-g - f).abs()));
    diff / scale
}

#[test]
fn energies_and_forces_match_openmm_reference_per_term_and_total() {
    let ff = ForceField::embedded();
    let fx = fixture();
    assert!(fx.configs.len() >= 20);
    let mut report = Vec::new();
    for term in Term::ALL.map(Some).into_iter().chain([None]) {
        let key = term.map_or("total", Term::name);
        let (mut worst_e, mut worst_f) = (Worst::new(), Worst::new());
        for c in &fx.configs {
            let x = positions(&c.positions);
            let mut grad = [[0.0; 3]; N_ATOMS];
            let e = match term {
                Some(t) => ff.term_energy_grad(t, &x, &mut grad),
                None => ff.energy_grad(&x, &mut grad),
            };
            let reference = c.energy[key];
            worst_e.see((e - reference).abs() / reference.abs().max(1.0), &c.name);
            worst_f.see(force_error(&grad, &c.forces[key]), &c.name);
            if term.is_none() {
                // energy-only path agrees with the energy+gradient path
                assert!((ff.energy(&x) - e).abs() <= 1e-12 * e.abs().max(1.0));
            }
        }
        report.push(format!(
            "{key}: energy {:.2e} ({}), forces {:.2e} ({})",
            worst_e.err, worst_e.name, worst_f.err, worst_f.name
        ));
        // Spec §6.10 asks 1e-10 relative to max(1, |E|) (issue 5: energies 1e-8, forces 1e-6);
        // measured (OpenMM 8.6.1): energies ≤ 3.2e-14, forces ≤ 6.9e-14, per term and total.
        assert!(worst_e.err <= 1e-12, "{}", report.join("\n"));
        assert!(worst_f.err <= 1e-11, "{}", report.join("\n"));
    }
}
