//! φ⁴ evaluation and report (`experiments.md` §4, `method.md` §13.4): per κ, model samples →
//! observables (raw and self-normalised reweighted, bootstrap errors) and relative ESS; a
//! within-2σ check against the HMC reference; `report.md`, `metrics.json` and SVG plots.

use super::RunResult;
use super::data::{RefPoint, Ve};
use crate::reproduce::Profile;
use crate::reproduce::common::{MetricRow, write_report};
use anyhow::{Context, Result};
use ndarray::Array1;
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use rayon::prelude::*;
use std::path::Path;
use trade_core::effective_sample_size;
use trade_flows::FlowModel;
use trade_targets::Target;
use trade_targets::phi4::{Phi4, SampleObservables, sample_observables};

/// A model's evaluation at one κ.
pub struct KappaEval {
    /// κ.
    pub kappa: f64,
    /// Observables of the raw model samples (what §13.4 plots).
    pub raw: SampleObservables,
    /// Observables of the samples reweighted by w = exp(−S − log q) (self-normalised).
    pub reweighted: SampleObservables,
    /// Relative Kish ESS (%).
    pub ess: f64,
}

/// Samples `n` configurations per κ (κ in parallel, seeded per κ) and evaluates them.
pub fn on_grid(
    model: &FlowModel,
    kappas: &[f64],
    n: usize,
    n_boot: usize,
    seed: u64,
) -> Result<Vec<KappaEval>> {
    let phi4 = Phi4::default();
    kappas
        .par_iter()
        .enumerate()
        .map(|(k, &kappa)| {
            let mut rng =
                Xoshiro256PlusPlus::seed_from_u64(seed.wrapping_mul(1_000_003) + k as u64);
            let (x, lq) = trade_core::loss::sample(&model.flow, &model.params, n, kappa, &mut rng)?;
            let s = phi4.energy(x.view(), Array1::from_elem(1, kappa).view());
            let lw: Vec<f64> = s.iter().zip(&lq).map(|(s, l)| -s - l).collect();
            let obs = |w: Option<&[f64]>, rng: &mut Xoshiro256PlusPlus| {
                sample_observables(&phi4, x.view(), kappa, w, n_boot, rng)
                    .with_context(|| format!("observables at κ = {kappa}"))
            };
            Ok(KappaEval {
                kappa,
                raw: obs(None, &mut rng)?,
                reweighted: obs(Some(&lw), &mut rng)?,
                ess: effective_sample_size(&lw),
            })
        })
        .collect()
}

/// Everything the report needs.
pub struct ReportInput<'a> {
    /// Profile.
    pub profile: Profile,
    /// Setup description.
    pub setup_line: String,
    /// HMC reference per κ.
    pub reference: &'a [RefPoint],
    /// Per method, its runs.
    pub results: &'a [(String, Vec<RunResult>)],
    /// Data + reference generation time (s; ~0 when cached).
    pub data_seconds: f64,
    /// Whole experiment wall time (s).
    pub wall_seconds: f64,
}

/// The four compared observables: (metric name, label, model accessor, reference accessor).
type Obs = (
    &'static str,
    &'static str,
    fn(&SampleObservables) -> trade_targets::phi4::Estimate,
    fn(&RefPoint) -> Ve,
);

const OBSERVABLES: [Obs; 5] = [
    ("abs_m", "⟨|m|⟩", |o| o.abs_m, |r| r.abs_m),
    (
        "action_density",
        "⟨S⟩/V",
        |o| o.action_density,
        |r| r.action_density,
    ),
    ("chi", "χ = V(⟨m²⟩−⟨|m|⟩²)", |o| o.chi, |r| r.chi),
    (
        "chi_textbook",
        "V⟨m²⟩",
        |o| o.chi_textbook,
        |r| r.chi_textbook,
    ),
    ("binder", "U_L", |o| o.binder, |r| r.binder),
];

/// |model − ref| ≤ 2·√(σ_model² + σ_ref²).
fn within_2sigma(m: trade_targets::phi4::Estimate, r: Ve) -> bool {
    (m.value - r.v).abs() <= 2.0 * (m.error.powi(2) + r.e.powi(2)).sqrt()
}

fn cell(m: trade_targets::phi4::Estimate, r: Ve) -> String {
    let mark = if within_2sigma(m, r) { "✓" } else { "✗" };
    format!("{:.4} ± {:.4} {mark}", m.value, m.error)
}

/// Mean and std over runs of a per-κ quantity.
fn over_runs(runs: &[RunResult], k: usize, f: impl Fn(&KappaEval) -> f64) -> (f64, f64) {
    let v: Vec<f64> = runs.iter().map(|r| f(&r.evals[k])).collect();
    trade_core::metrics::mean_std(&v)
}

/// Writes report.md, metrics.json and the plots; returns the summary line.
pub fn write(dir: &Path, input: &ReportInput<'_>) -> Result<String> {
    let mut rows = Vec::new();
    let mut md = format!(
        "# φ⁴ 8×8, λ = 0.02 ({:?} profile)\n\n{}\n\n",
        input.profile, input.setup_line
    );
    md.push_str(
        "Observables are computed from the **raw model samples** (`method.md` §13.4); a cell is \
         ✓ if it lies within 2σ of the HMC reference, σ² = σ²_bootstrap + σ²_jackknife. The \
         reweighted estimates (w = e^{−S − log q}, self-normalised) are in `metrics.json` \
         (`*_reweighted`). With several runs the per-κ cells show the first run and ESS the mean \
         ± std over runs.\n\n## Summary\n\n| method | ⟨|m|⟩ within 2σ | ⟨S⟩/V | χ | V⟨m²⟩ | U_L \
         | all four (|m|, S, χ, U_L) | ESS min / mean / max (%) | κ with ESS ≥ 40 % | train time / run |\n\
         |---|---|---|---|---|---|---|---|---|---|\n",
    );
    let nk = input.reference.len();
    let mut summary = Vec::new();
    for (m, runs) in input.results {
        let first = &runs[0].evals;
        let count = |i: usize| {
            let (_, _, f, g) = OBSERVABLES[i];
            (0..nk)
                .filter(|&k| within_2sigma(f(&first[k].raw), g(&input.reference[k])))
                .count()
        };
        let all4 = (0..nk)
            .filter(|&k| {
                [0, 1, 2, 4].iter().all(|&i| {
                    let (_, _, f, g) = OBSERVABLES[i];
                    within_2sigma(f(&first[k].raw), g(&input.reference[k]))
                })
            })
            .count();
        let ess: Vec<f64> = (0..nk).map(|k| over_runs(runs, k, |e| e.ess).0).collect();
        let (lo, hi) = ess
            .iter()
            .fold((f64::INFINITY, 0.0f64), |(a, b), &e| (a.min(e), b.max(e)));
        let mean = ess.iter().sum::<f64>() / nk as f64;
        let good = ess.iter().filter(|&&e| e >= 40.0).count();
        let secs = runs.iter().map(|r| r.seconds).sum::<f64>() / runs.len() as f64;
        md.push_str(&format!(
            "| {m} | {}/{nk} | {}/{nk} | {}/{nk} | {}/{nk} | {}/{nk} | {all4}/{nk} | {lo:.1} / {mean:.1} / {hi:.1} | {good}/{nk} | {secs:.0} s |\n",
            count(0), count(1), count(2), count(3), count(4)
        ));
        summary.push(format!(
            "{m}: {all4}/{nk} κ within 2σ, ESS {lo:.0}–{hi:.0} %"
        ));
    }
    md.push_str(&reference_table(input.reference));
    for (m, runs) in input.results {
        md.push_str(&method_table(m, runs, input.reference));
        metric_rows(&mut rows, m, runs);
    }
    for r in input.reference {
        for (name, _, _, g) in OBSERVABLES {
            for (metric, v) in [(name.to_string(), g(r).v), (format!("{name}_err"), g(r).e)] {
                rows.push(MetricRow {
                    method: "mcmc".into(),
                    condition: r.kappa,
                    metric,
                    value: v,
                    std: 0.0,
                    n_runs: 1,
                });
            }
        }
    }
    plots(dir, input)?;
    md.push_str(&format!(
        "\nPlots: `abs_m_vs_kappa.svg`, `action_vs_kappa.svg`, `chi_vs_kappa.svg`, \
         `chi_textbook_vs_kappa.svg`, `binder_vs_kappa.svg`, `ess_vs_kappa.svg`.\n\n\
         Data and reference {:.0} s (cached under `target/cache/` after the first run); wall time \
         {:.0} s.\n",
        input.data_seconds, input.wall_seconds
    ));
    write_report(dir, &rows, &md)?;
    Ok(summary.join("; "))
}

fn reference_table(reference: &[RefPoint]) -> String {
    let mut s = String::from(
        "\n## HMC reference\n\n| κ | ⟨|m|⟩ | ⟨S⟩/V | χ | V⟨m²⟩ | U_L | SD − ½ | acc. | τ_int(|m|) |\n\
         |---|---|---|---|---|---|---|---|---|\n",
    );
    for r in reference {
        let f = |v: Ve| format!("{:.4} ± {:.4}", v.v, v.e);
        s.push_str(&format!(
            "| {:.4} | {} | {} | {} | {} | {} | {:+.4} ± {:.4} | {:.2} | {:.1} |\n",
            r.kappa,
            f(r.abs_m),
            f(r.action_density),
            f(r.chi),
            f(r.chi_textbook),
            f(r.binder),
            r.schwinger_dyson.v - 0.5,
            r.schwinger_dyson.e,
            r.acceptance,
            r.tau_abs_m
        ));
    }
    s
}

fn method_table(m: &str, runs: &[RunResult], reference: &[RefPoint]) -> String {
    let mut s = format!(
        "\n## {m}\n\n| κ | ⟨|m|⟩ | ⟨S⟩/V | χ | V⟨m²⟩ | U_L | ESS % |\n|---|---|---|---|---|---|---|\n"
    );
    for (k, r) in reference.iter().enumerate() {
        let e = &runs[0].evals[k];
        let cells: Vec<String> = OBSERVABLES
            .iter()
            .map(|(_, _, f, g)| cell(f(&e.raw), g(r)))
            .collect();
        let (ess, ess_sd) = over_runs(runs, k, |e| e.ess);
        let ess = if runs.len() > 1 {
            format!("{ess:.1} ± {ess_sd:.1}")
        } else {
            format!("{ess:.1}")
        };
        s.push_str(&format!(
            "| {:.4} | {} | {ess} |\n",
            r.kappa,
            cells.join(" | ")
        ));
    }
    s
}

fn metric_rows(rows: &mut Vec<MetricRow>, m: &str, runs: &[RunResult]) {
    let nk = runs[0].evals.len();
    for k in 0..nk {
        let kappa = runs[0].evals[k].kappa;
        let mut push = |metric: String, f: &dyn Fn(&KappaEval) -> f64| {
            let (value, std) = over_runs(runs, k, f);
            rows.push(MetricRow {
                method: m.to_string(),
                condition: kappa,
                metric,
                value,
                std,
                n_runs: runs.len(),
            });
        };
        for (name, _, f, _) in OBSERVABLES {
            push(name.into(), &|e| f(&e.raw).value);
            push(format!("{name}_err"), &|e| f(&e.raw).error);
            push(format!("{name}_reweighted"), &|e| f(&e.reweighted).value);
            push(format!("{name}_reweighted_err"), &|e| {
                f(&e.reweighted).error
            });
        }
        push("ess".into(), &|e| e.ess);
    }
}

fn plots(dir: &Path, input: &ReportInput<'_>) -> Result<()> {
    use crate::plot::{Series, line_chart};
    let save = |name: &str, svg: String| crate::reproduce::common::save_svg(dir, name, &svg);
    let files = [
        "abs_m_vs_kappa.svg",
        "action_vs_kappa.svg",
        "chi_vs_kappa.svg",
        "chi_textbook_vs_kappa.svg",
        "binder_vs_kappa.svg",
    ];
    for ((name, label, f, g), file) in OBSERVABLES.into_iter().zip(files) {
        let _ = name;
        let mut series: Vec<Series> = input
            .results
            .iter()
            .map(|(m, runs)| Series {
                label: m.clone(),
                points: runs[0]
                    .evals
                    .iter()
                    .map(|e| (e.kappa, f(&e.raw).value))
                    .collect(),
                dashed: false,
            })
            .collect();
        series.push(Series {
            label: "HMC reference".into(),
            points: input.reference.iter().map(|r| (r.kappa, g(r).v)).collect(),
            dashed: true,
        });
        let title = format!("φ⁴ 8×8: {label} vs κ (model samples)");
        save(file, line_chart(&title, "κ", label, &series))?;
    }
    let mut ess = Vec::new();
    for (m, runs) in input.results {
        let nk = runs[0].evals.len();
        let stats: Vec<(f64, f64, f64)> = (0..nk)
            .map(|k| {
                let (mean, sd) = over_runs(runs, k, |e| e.ess);
                (runs[0].evals[k].kappa, mean, sd)
            })
            .collect();
        ess.push(Series {
            label: m.clone(),
            points: stats.iter().map(|p| (p.0, p.1)).collect(),
            dashed: false,
        });
        if runs.len() > 1 {
            for (sign, tag) in [(-1.0, "− std"), (1.0, "+ std")] {
                ess.push(Series {
                    label: format!("{m} {tag}"),
                    points: stats.iter().map(|p| (p.0, p.1 + sign * p.2)).collect(),
                    dashed: true,
                });
            }
        }
    }
    save(
        "ess_vs_kappa.svg",
        line_chart("φ⁴ 8×8: relative ESS vs κ", "κ", "ESS (%)", &ess),
    )?;
    Ok(())
}
