//! The GMM report: metric rows (mean ± std over seeds, per-seed values), the three KLD
//! sub-tables, which differences between methods exceed the seed spread, and the plots.

use super::*;
use serde::Serialize;

/// One row of `metrics.json`: the common fields (`value` and `std` are the mean and std over
/// `n_runs` seeds) plus the value of every seed and, for the KLD, the mean bootstrap std of one
/// run's estimate.
#[derive(Debug, Clone, Serialize)]
pub(super) struct GmmMetricRow {
    method: String,
    condition: f64,
    metric: String,
    value: f64,
    std: f64,
    n_runs: usize,
    per_run: Vec<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bootstrap_std: Option<f64>,
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

pub(super) fn metric_rows(results: &[MethodResult], data: &Data) -> Vec<GmmMetricRow> {
    let mut rows = Vec::new();
    for r in results {
        for (c, (t, ..)) in data.reference.iter().enumerate() {
            let kld = r.kld_at(c);
            let nll: Vec<f64> = r.runs.iter().map(|run| run.kld[c].2).collect();
            let boot: Vec<f64> = r.runs.iter().map(|run| run.kld[c].1).collect();
            for (metric, per_run, bootstrap_std) in
                [("kld", kld, Some(mean(&boot))), ("nll", nll, None)]
            {
                let (value, std) = metrics::mean_std(&per_run);
                rows.push(GmmMetricRow {
                    method: r.method.clone(),
                    condition: *t,
                    metric: metric.into(),
                    value,
                    std,
                    n_runs: per_run.len(),
                    per_run,
                    bootstrap_std,
                });
            }
        }
    }
    rows
}

/// Whether `a` is lower than `b` in every pair of runs (their seed ranges do not overlap).
fn separated(a: &[f64], b: &[f64]) -> bool {
    let max_a = a.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let min_b = b.iter().copied().fold(f64::INFINITY, f64::min);
    max_a < min_b
}

/// Index of the method with the lowest mean KLD at column `col`.
fn best_at(results: &[MethodResult], col: usize) -> usize {
    (0..results.len())
        .min_by(|&a, &b| mean(&results[a].kld_at(col)).total_cmp(&mean(&results[b].kld_at(col))))
        .expect("at least one method")
}

/// The report's opening paragraph: data, evaluation, model and training settings.
fn intro(args: &ReproduceArgs, setup: &Setup, data: &Data, n_runs: usize) -> String {
    let seeds = if n_runs > 1 {
        format!(
            "{n_runs} seeds per method ({} … {}; the same data, different initialisation, batch \
             order and TRADE/KL draws). Entries are the mean ± std over the {n_runs} seeds (n − 1 \
             denominator); the bootstrap std of one run's estimate is given below the tables.",
            args.seed,
            args.seed + n_runs as u64 - 1
        )
    } else {
        format!(
            "One run, seed {}; ± is the std over 20 bootstrap resamples of the mean (the seed \
             spread is not measured in this profile).",
            args.seed
        )
    };
    format!(
        "# 2D Gaussian mixture ({:?} profile)\n\n\
         Trained at β = 1 on {} exact draws; KLD(T) = E_p_T[log p_T − log q(x|β = 1/T)] on {} exact \
         samples per T with the exact log Z_T (quadrature, `trade_targets::gmm::reference`). \
         Checkpoint: best mean validation NLL over {} ({} samples each), checked every {} epochs.\n\
         Flow: 4 × [ActNorm → RQ (K = 10, MLP {:?}) → permutation] over N(0, β⁻¹I); VP: {} GIN \
         blocks (lr {}). {} epochs of batch {} (Adam + OneCycle, lr {}, clip {}); TRADE / KL term on \
         from {:.0} % of training; TRADE grid {} + 1 points, {} evaluation points/step, {} SNIS \
         samples/point refreshed every {} steps; window P = {} × {} evaluation points, {} SNIS \
         samples. {seeds}\n\n",
        args.profile,
        data.train.nrows(),
        setup.n_reference,
        if setup.validate_on_table {
            "the 9 table temperatures (quick profile; paper: the 15 evaluation temperatures)"
        } else {
            "the 15 evaluation temperatures"
        },
        setup.n_val,
        setup.val_every,
        setup.hidden,
        setup.tsf_blocks,
        setup.tsf_lr,
        setup.epochs,
        setup.batch,
        setup.lr,
        setup.grad_clip,
        100.0 * setup.term_start,
        setup.grid_points,
        setup.grid_batch,
        setup.n_snis,
        setup.refresh_every,
        setup.window_conditions,
        setup.window_eval,
        setup.window_expect,
    )
}

/// One KLD cell: mean ± seed std (several runs) or value ± bootstrap std (one run).
fn cell(r: &MethodResult, col: usize) -> String {
    if r.runs.len() > 1 {
        pm(&r.kld_at(col), 4)
    } else {
        format!("{:.4} ± {:.4}", r.runs[0].kld[col].0, r.runs[0].kld[col].1)
    }
}

/// The three sub-tables of `experiments.md` §3 (lowest mean per column bold) and the anchors.
fn tables(results: &[MethodResult], data: &Data) -> String {
    let mut md = String::new();
    for part in 0..3 {
        let cols: Vec<usize> = (3 * part..3 * part + 3).collect();
        md.push_str("| method |");
        for &c in &cols {
            md.push_str(&format!(" KLD T = {:.5} |", data.reference[c].0));
        }
        md.push_str("\n|---|---|---|---|\n");
        for (i, r) in results.iter().enumerate() {
            md.push_str(&format!("| {} |", label(&r.method)));
            for &c in &cols {
                if best_at(results, c) == i {
                    md.push_str(&format!(" **{}** |", cell(r, c)));
                } else {
                    md.push_str(&format!(" {} |", cell(r, c)));
                }
            }
            md.push('\n');
        }
        md.push_str("| exact: log Z_T / entropy (ours) |");
        for &c in &cols {
            md.push_str(&format!(
                " {:.4} / {:.4} |",
                data.reference[c].2, data.reference[c].3
            ));
        }
        md.push_str("\n| exact: log Z_T / entropy (spec table) |");
        for &c in &cols {
            md.push_str(&format!(
                " {:.4} / {:.4} |",
                SPEC_ANCHORS[c].0, SPEC_ANCHORS[c].1
            ));
        }
        md.push_str("\n\n");
    }
    md.push_str("A perfect model has KLD = 0 (KLD = NLL − entropy).\n\n");
    md
}

/// Which differences exceed the seed spread: per T the lowest mean and the methods whose seed
/// range overlaps its range, then per method how often it is (tied for) the best, and every
/// seed's KLD.
fn spread(results: &[MethodResult], data: &Data) -> String {
    let n_runs = results[0].runs.len();
    let boot: Vec<f64> = results
        .iter()
        .flat_map(|r| r.runs.iter().flat_map(|run| run.kld.iter().map(|k| k.1)))
        .collect();
    let seed_std: Vec<f64> = results
        .iter()
        .flat_map(|r| (0..data.reference.len()).map(|c| metrics::mean_std(&r.kld_at(c)).1))
        .collect();
    let range = |v: &[f64]| {
        let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        format!("{lo:.3}–{hi:.3}")
    };
    let mut md = format!(
        "## Which differences exceed the seed spread\n\n\
         Bootstrap std of one run's KLD estimate (sampling error of the {}-sample mean): {}",
        data.reference[0].1.nrows(),
        range(&boot),
    );
    if n_runs > 1 {
        md.push_str(&format!("; std over seeds: {}", range(&seed_std)));
    }
    md.push_str(". ");
    if n_runs < 2 {
        md.push_str(
            "One run per method: no difference in the tables is tested against the seed spread \
             (the quick profile's three seeds measure it).\n\n",
        );
        return md;
    }
    md.push_str(&format!(
        "A method is *separated* from another at a temperature when its KLD is lower in every \
         one of its {n_runs} runs than the other's in every run (the seed ranges do not overlap; \
         two equally good methods do this by chance with probability 1/{}).\n\n\
         | T | lowest mean | not separated from it (within the seed spread) | separated (worse in every seed) |\n\
         |---|---|---|---|\n",
        binomial(2 * n_runs, n_runs) / 2
    ));
    let mut tied_counts = vec![(0usize, 0usize); results.len()];
    for (c, (t, ..)) in data.reference.iter().enumerate() {
        let best = best_at(results, c);
        let best_kld = results[best].kld_at(c);
        tied_counts[best].0 += 1;
        let (mut tied, mut worse) = (Vec::new(), Vec::new());
        for (i, r) in results.iter().enumerate().filter(|&(i, _)| i != best) {
            if separated(&best_kld, &r.kld_at(c)) {
                worse.push(r.method.as_str());
            } else {
                tied_counts[i].1 += 1;
                tied.push(r.method.as_str());
            }
        }
        md.push_str(&format!(
            "| {t:.5} | {} ({:.3}) | {} | {} |\n",
            results[best].method,
            mean(&best_kld),
            if tied.is_empty() {
                "—".to_string()
            } else {
                tied.join(", ")
            },
            if worse.is_empty() {
                "—".to_string()
            } else {
                worse.join(", ")
            }
        ));
    }
    let n_t = data.reference.len();
    md.push_str(
        "\n| method | lowest mean at | within the seed spread of the lowest at | clearly worse at |\n\
         |---|---|---|---|\n",
    );
    for (r, (best, tied)) in results.iter().zip(&tied_counts) {
        md.push_str(&format!(
            "| {} | {best} / {n_t} T | {tied} / {n_t} T | {} / {n_t} T |\n",
            r.method,
            n_t - best - tied
        ));
    }
    md.push_str(&against_nll(results, data));
    md.push_str("\nKLD of every seed (seed order):\n\n| method |");
    for (t, ..) in &data.reference {
        md.push_str(&format!(" T = {t:.3} |"));
    }
    md.push_str(&format!("\n|---|{}\n", "---|".repeat(n_t)));
    for r in results {
        md.push_str(&format!("| {} |", r.method));
        for c in 0..n_t {
            let v: Vec<String> = r.kld_at(c).iter().map(|k| format!("{k:.3}")).collect();
            md.push_str(&format!(" {} |", v.join(" / ")));
        }
        md.push('\n');
    }
    md.push('\n');
    md
}

/// Every method against NLL + lat. TS (the paper's question: does the TRADE term help away from
/// T = 1?): lower or higher in every pair of seeds, or within the seed spread (≈).
fn against_nll(results: &[MethodResult], data: &Data) -> String {
    let Some(nll) = results.iter().find(|r| r.method == "nll") else {
        return String::new();
    };
    let mut md = "\nAgainst `nll` (lower / higher = in every pair of seeds; ≈ = the seed ranges \
                  overlap):\n\n| method |"
        .to_string();
    for (t, ..) in &data.reference {
        md.push_str(&format!(" T = {t:.3} |"));
    }
    md.push_str(&format!("\n|---|{}\n", "---|".repeat(data.reference.len())));
    for r in results.iter().filter(|r| r.method != "nll") {
        md.push_str(&format!("| {} |", r.method));
        for c in 0..data.reference.len() {
            let (a, b) = (r.kld_at(c), nll.kld_at(c));
            let verdict = if separated(&a, &b) {
                "lower"
            } else if separated(&b, &a) {
                "higher"
            } else {
                "≈"
            };
            md.push_str(&format!(" {verdict} |"));
        }
        md.push('\n');
    }
    md
}

fn binomial(n: usize, k: usize) -> usize {
    (0..k).fold(1, |acc, i| acc * (n - i) / (i + 1))
}

/// The whole `report.md`; `wall` is (data phase, total) in seconds.
pub(super) fn markdown(
    args: &ReproduceArgs,
    setup: &Setup,
    results: &[MethodResult],
    data: &Data,
    wall: (f64, f64),
) -> String {
    let mut md = intro(args, setup, data, results[0].runs.len());
    md.push_str(&tables(results, data));
    md.push_str(&spread(results, data));
    md.push_str(
        "| method | selected epoch per seed | mean validation NLL | train time / run | note |\n\
         |---|---|---|---|---|\n",
    );
    for r in results {
        let epochs: Vec<String> = r.runs.iter().map(|x| x.best_epoch.to_string()).collect();
        let val: Vec<f64> = r.runs.iter().map(|x| x.best_val).collect();
        let secs: Vec<f64> = r.runs.iter().map(|x| x.seconds).collect();
        let notes: Vec<String> = r
            .runs
            .iter()
            .enumerate()
            .filter_map(|(k, x)| x.diverged.as_ref().map(|d| format!("seed {k}: {d}")))
            .collect();
        md.push_str(&format!(
            "| {} (`{}`) | {} | {} | {:.0} s | {} |\n",
            label(&r.method),
            r.method,
            epochs.join(", "),
            pm(&val, 4),
            mean(&secs),
            notes.join("; ")
        ));
    }
    md.push_str(&format!(
        "\nPlots: `kld_vs_T.svg` (mean over seeds), `samples_T{{0.33598,1,2.97635}}.svg` (model \
         samples of the first seed vs exact), `marginal_x0_T{{…}}.svg`.\n\n\
         Wall time {:.0} s; data phase {:.1} s ({}; samplers and quadrature run side by side).\n",
        wall.1,
        wall.0,
        data.phase_times()
    ));
    md
}

/// Mean KLD vs T for every method; sample panels and x₀ marginals of the first seed at the
/// [`PLOT_COLUMNS`] temperatures vs exact samples.
pub(super) fn write_plots(
    dir: &std::path::Path,
    results: &[MethodResult],
    data: &Data,
) -> Result<()> {
    use crate::plot::{Panel, Series, histogram_series, line_chart, scatter_panels};
    use ndarray::Array1;
    let save = |name: &str, svg: String| super::super::common::save_svg(dir, name, &svg);
    let kld_series: Vec<Series> = results
        .iter()
        .map(|r| Series {
            label: r.method.clone(),
            points: data
                .reference
                .iter()
                .enumerate()
                .map(|(c, (t, ..))| (t.log10(), mean(&r.kld_at(c)).max(1e-4).log10()))
                .collect(),
            dashed: false,
        })
        .collect();
    save(
        "kld_vs_T.svg",
        line_chart(
            "2D GMM: KLD vs T (trained at T = 1)",
            "log₁₀ T",
            "log₁₀ KLD (nats)",
            &kld_series,
        ),
    )?;
    for (k, &col) in PLOT_COLUMNS.iter().enumerate() {
        let (t, exact) = (table_temperatures()[col], &data.plot[k]);
        let t = (t * 1e5).round() / 1e5;
        let pts = |x: &Array2<f64>| -> Vec<(f64, f64)> {
            x.rows().into_iter().map(|r| (r[0], r[1])).collect()
        };
        let panel = |label: String, points: Vec<(f64, f64)>| Panel {
            label,
            points,
            segments: Vec::new(),
        };
        let mut panels = vec![panel(format!("exact T = {t}"), pts(exact))];
        panels.extend(
            results
                .iter()
                .map(|r| panel(r.method.clone(), pts(&r.samples[k]))),
        );
        save(
            &format!("samples_T{t}.svg"),
            scatter_panels(
                &format!("2D GMM: samples at T = {t}"),
                &panels,
                (-10.0, 10.0),
                4,
            ),
        )?;
        let mut hs: Vec<Series> = results
            .iter()
            .map(|r| {
                let x0: Array1<f64> = r.samples[k].column(0).to_owned();
                histogram_series(&r.method, x0.into_iter(), (-10.0, 10.0), 80, false)
            })
            .collect();
        hs.push(histogram_series(
            "exact",
            exact.column(0).to_owned().into_iter(),
            (-10.0, 10.0),
            80,
            true,
        ));
        save(
            &format!("marginal_x0_T{t}.svg"),
            line_chart(
                &format!("2D GMM: marginal of x₀ at T = {t}"),
                "x₀",
                "density",
                &hs,
            ),
        )?;
    }
    Ok(())
}
