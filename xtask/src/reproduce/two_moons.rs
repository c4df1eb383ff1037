//! Two moons (`experiments.md` §2): an amortised posterior `q(θ | y, β)` trained on joint draws
//! at β = 1, with continuous TRADE (per-observation SNIS, `method.md` §6.3) to transfer to
//! β ∈ [0.4, 2.1]. Evaluated at `y_o = (0, 0)`, β ∈ {0.5, 1, 2}: KL(exact ‖ model) from exact
//! posterior samples and the exact log Z, NLL beside the exact entropy, and ESS.

use super::common::{MetricRow, Run, pm, save_model, select_methods, train, write_report};
use super::{Profile, ReproduceArgs};
use anyhow::{Result, bail};
use ndarray::{Array1, Array2, ArrayView2, s};
use rand::SeedableRng;
use rand_distr::StandardNormal;
use rand_xoshiro::Xoshiro256PlusPlus;
use std::sync::Arc;
use std::time::Instant;
use trade_core::loss::{self, LogPrior, Nll, NoiseMode, ObservedEnergy, TargetAt, TradeObserved};
use trade_core::metrics::{self, COVERAGE_LEVELS};
use trade_core::{ConditionPrior, Loss, LossWeight, Residual, effective_sample_size};
use trade_flows::{BaseConfig, FlowConfig, FlowModel, Scaling};
use trade_targets::{ReferenceSampler, Target, TwoMoons, TwoMoonsSampler, two_moons};

/// Methods, in table order: TRADE energy-free (the paper's setting), TRADE with the analytic
/// likelihood, NLL only.
const METHODS: &[&str] = &["trade-continuous-self", "trade-continuous", "nll"];
/// Quick profile: the subset the README's default run trains.
const QUICK_METHODS: &[&str] = &["trade-continuous-self", "nll"];
/// Evaluation β.
const BETAS: [f64; 3] = [0.5, 1.0, 2.0];
/// The observation of the figures.
const Y_O: [f64; 2] = [0.0, 0.0];

/// Sizes of one profile.
struct Setup {
    n_data: usize,
    n_reference: usize,
    n_ess: usize,
    blocks: usize,
    hidden: Vec<usize>,
    batch: usize,
    groups: usize,
    epochs: usize,
    lr: f64,
    runs: usize,
    /// Coverage: reference pairs per β, flow draws per pair, bootstrap resamples of the band.
    coverage_pairs: usize,
    coverage_draws: usize,
    coverage_boot: usize,
}

impl Setup {
    fn of(profile: Profile) -> Self {
        match profile {
            Profile::Paper => Self {
                n_data: 100_000,
                n_reference: 100_000,
                n_ess: 30_000,
                blocks: 15,
                hidden: vec![128, 128],
                batch: 512,
                groups: 8,
                epochs: 20,
                lr: 4e-4,
                runs: 3,
                coverage_pairs: 1000,
                coverage_draws: 300,
                coverage_boot: 1000,
            },
            Profile::Quick => Self {
                n_data: 25_000,
                n_reference: 20_000,
                n_ess: 10_000,
                blocks: 6,
                hidden: vec![64, 64],
                batch: 256,
                groups: 8,
                epochs: 10,
                lr: 2e-3,
                runs: 1,
                coverage_pairs: 300,
                coverage_draws: 300,
                coverage_boot: 200,
            },
        }
    }
}

/// `flows.md` §6: `blocks` × [RQ coupling K = 8 → random permutation] → conditional affine on
/// raw (β, y) → N(0, I); log β and y into the couplings.
fn flow_config(setup: &Setup, seed: u64) -> FlowConfig {
    let mut config = FlowConfig::multi_well(2, setup.blocks, &setup.hidden);
    config.condition.y_dim = 2;
    config.base = BaseConfig::Gaussian {
        scaling: Scaling::Standard,
    };
    config.seed = seed;
    config
}

struct Data {
    theta: Arc<Array2<f64>>,
    y: Arc<Array2<f64>>,
}

/// Joint draws θ ~ N(0, 0.3² I), y ~ simulator(θ) (β = 1), the 80 % training split (seed 42).
fn data(setup: &Setup) -> Data {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(42);
    let n = setup.n_data;
    let theta = Array2::from_shape_simple_fn((n, 2), || {
        two_moons::PRIOR_SD
            * <StandardNormal as rand_distr::Distribution<f64>>::sample(&StandardNormal, &mut rng)
    });
    let mut y = Array2::zeros((n, 2));
    for (t, mut yr) in theta.rows().into_iter().zip(y.rows_mut()) {
        let v = two_moons::simulate([t[0], t[1]], &mut rng);
        yr[0] = v[0];
        yr[1] = v[1];
    }
    let n_train = n * 8 / 10;
    Data {
        theta: Arc::new(theta.slice(s![..n_train, ..]).to_owned()),
        y: Arc::new(y.slice(s![..n_train, ..]).to_owned()),
    }
}

fn log_prior() -> Arc<LogPrior> {
    Arc::new(|x: ArrayView2<f64>| {
        x.rows()
            .into_iter()
            .map(|r| two_moons::log_prior([r[0], r[1]]))
            .collect::<Array1<f64>>()
    })
}

fn losses(
    method: &str,
    setup: &Setup,
    data: &Data,
    seed: u64,
) -> Result<Vec<(Box<dyn Loss>, LossWeight)>> {
    let ones = Arc::new(Array2::ones((data.theta.nrows(), 1)));
    let nll =
        Nll::new(data.theta.clone(), ones, setup.batch, 3e-4, seed)?.with_y(data.y.clone())?;
    let mut out: Vec<(Box<dyn Loss>, LossWeight)> =
        vec![(Box::new(nll), LossWeight::constant(1.0, 1e9, 1e9))];
    // TRADE: weight 0 → 0.1 (cosine) from 20 % of training, adaptive (init 1e-3).
    let weight = LossWeight {
        pct_start: 0.2,
        start_value: 0.0,
        end_value: 0.1,
        adaptive: true,
        adaptive_init: 1e-3,
        alpha: 0.1,
        clip: 1e9,
        log_clip: 1e3,
    };
    let trade = |energy: ObservedEnergy| -> Result<Box<dyn Loss>> {
        Ok(Box::new(TradeObserved {
            energy,
            prior: ConditionPrior::new(0.4, 2.1)?,
            c0: 1.0,
            observations: data.y.clone(),
            groups: setup.groups,
            per_group: setup.batch / setup.groups,
            residual: Residual::Mse,
            noise: NoiseMode::Gaussian(3e-4),
        }))
    };
    match method {
        "nll" => {}
        "trade-continuous-self" => out.push((
            trade(ObservedEnergy::SelfLikelihoodPower(log_prior()))?,
            weight,
        )),
        "trade-continuous" => {
            let at: Arc<TargetAt> =
                Arc::new(|y: &[f64]| Ok(Arc::new(TwoMoons::new([y[0], y[1]])?) as Arc<dyn Target>));
            out.push((trade(ObservedEnergy::GroundTruth(at))?, weight));
        }
        other => bail!("method {other:?} is not a two-moons method"),
    }
    Ok(out)
}

/// Metrics at y_o for one β, the coverage curve, and a few model samples for the scatter plot.
struct AtBeta {
    kl: f64,
    nll: f64,
    ess: f64,
    /// (coverage, lower, upper) per level of [`COVERAGE_LEVELS`].
    coverage: Vec<(f64, f64, f64)>,
    samples: Vec<(f64, f64)>,
}

/// Calibration reference pairs at one β (`targets.md` §4): y from the β = 1 prior predictive,
/// θ* ~ p_β(·|y) exactly.
struct Pairs {
    y: Vec<[f64; 2]>,
    theta: Vec<[f64; 2]>,
}

/// Points drawn for the scatter plots.
const SCATTER_POINTS: usize = 2000;

fn reference_pairs(n: usize, beta: f64, seed: u64) -> Result<Pairs> {
    use rayon::prelude::*;
    let pairs: Vec<([f64; 2], [f64; 2])> = (0..n)
        .into_par_iter()
        .map(|i| {
            let mut rng = trade_ad::rng_for(seed, i as u64);
            loop {
                let th = [
                    two_moons::PRIOR_SD
                        * rand_distr::Distribution::<f64>::sample(&StandardNormal, &mut rng),
                    two_moons::PRIOR_SD
                        * rand_distr::Distribution::<f64>::sample(&StandardNormal, &mut rng),
                ];
                let y = two_moons::simulate(th, &mut rng);
                // An observation without posterior mass at this β (numerically) is redrawn.
                if let Ok(sampler) = TwoMoonsSampler::new(y, beta) {
                    let t = sampler.sample(1, &mut rng);
                    return (y, [t[[0, 0]], t[[0, 1]]]);
                }
            }
        })
        .collect();
    Ok(Pairs {
        y: pairs.iter().map(|p| p.0).collect(),
        theta: pairs.iter().map(|p| p.1).collect(),
    })
}

/// Coverage of the moon radius (`method.md` §13.6) of `model` at β over `pairs`.
fn coverage(
    model: &FlowModel,
    setup: &Setup,
    pairs: &Pairs,
    beta: f64,
    seed: u64,
) -> Result<Vec<(f64, f64, f64)>> {
    let m = setup.coverage_draws;
    let n = pairs.y.len();
    let ym = Array2::from_shape_fn((n * m, 2), |(i, j)| pairs.y[i / m][j]);
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let (th, _) = loss::sample_with_y(&model.flow, &model.params, beta, ym.view(), &mut rng)?;
    let draws: Vec<Vec<f64>> = (0..n)
        .map(|i| {
            (0..m)
                .map(|k| {
                    let r = th.row(i * m + k);
                    two_moons::moon_radius([r[0], r[1]], pairs.y[i])
                })
                .collect()
        })
        .collect();
    let truth: Vec<f64> = (0..n)
        .map(|i| two_moons::moon_radius(pairs.theta[i], pairs.y[i]))
        .collect();
    let hits = metrics::coverage_hits(&truth, &draws, &COVERAGE_LEVELS)?;
    Ok(metrics::coverage_curve(
        &hits,
        setup.coverage_boot,
        &mut rng,
    ))
}

struct RunResult {
    at: Vec<AtBeta>,
    seconds: f64,
}

/// KL(exact ‖ model), NLL and ESS at (y_o, β).
fn evaluate(model: &FlowModel, setup: &Setup, beta: f64, seed: u64) -> Result<AtBeta> {
    let target = TwoMoons::new(Y_O)?;
    let reference = two_moons::reference(Y_O, beta)?;
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let x = TwoMoonsSampler::new(Y_O, beta)?.sample(setup.n_reference, &mut rng);
    let n = x.nrows();
    let bb = Array2::from_elem((n, 1), beta);
    let yy = Array2::from_shape_fn((n, 2), |(_, j)| Y_O[j]);
    let lq = loss::log_prob_with_y(
        &model.flow,
        &model.params,
        x.view(),
        bb.view(),
        Some(yy.view()),
    )?;
    let u = target.energy(x.view(), bb.column(0));
    let nll = -lq.mean().expect("non-empty");
    let kl = (-&u - reference.log_z - &lq).mean().expect("non-empty");
    let m = setup.n_ess;
    let ym = Array2::from_shape_fn((m, 2), |(_, j)| Y_O[j]);
    let (xs, lqs) = loss::sample_with_y(&model.flow, &model.params, beta, ym.view(), &mut rng)?;
    let us = target.energy(xs.view(), Array1::from_elem(m, beta).view());
    let log_w: Vec<f64> = us.iter().zip(&lqs).map(|(u, l)| -u - l).collect();
    let samples = xs
        .rows()
        .into_iter()
        .take(SCATTER_POINTS)
        .map(|r| (r[0], r[1]))
        .collect();
    Ok(AtBeta {
        kl,
        nll,
        ess: effective_sample_size(&log_w),
        coverage: Vec::new(),
        samples,
    })
}

fn train_one(
    method: &str,
    setup: &Setup,
    data: &Data,
    pairs: &[Pairs],
    args: &ReproduceArgs,
    run: usize,
) -> Result<RunResult> {
    let seed = args.seed + run as u64;
    let mut model = FlowModel::new(flow_config(setup, seed))?;
    let spec = Run {
        experiment: "two-moons",
        method,
        run,
        seed,
        steps: setup.epochs * (data.theta.nrows() / setup.batch),
        lr: setup.lr,
        batch: setup.batch,
    };
    let losses = losses(method, setup, data, seed)?;
    let seconds = train(args, &spec, &model.flow, &mut model.params, losses)?;
    save_model(args, &spec, &model)?;
    let at = BETAS
        .iter()
        .enumerate()
        .map(|(k, &b)| {
            let mut at = evaluate(&model, setup, b, 100 + k as u64)?;
            at.coverage = coverage(&model, setup, &pairs[k], b, 200 + k as u64)?;
            Ok(at)
        })
        .collect::<Result<_>>()?;
    Ok(RunResult { at, seconds })
}

/// Runs the experiment; returns the summary line.
pub fn run(args: &ReproduceArgs) -> Result<String> {
    let methods = select_methods(args, "two-moons", METHODS, QUICK_METHODS)?;
    let mut setup = Setup::of(args.profile);
    setup.runs = args.runs(setup.runs)?;
    let started = Instant::now();
    let data = data(&setup);
    let pairs: Vec<Pairs> = BETAS
        .iter()
        .enumerate()
        .map(|(k, &b)| reference_pairs(setup.coverage_pairs, b, 300 + k as u64))
        .collect::<Result<_>>()?;
    let mut first_runs: Vec<(String, RunResult)> = Vec::new();
    let mut coverage_table = String::new();
    let refs: Vec<two_moons::TwoMoonsReference> = BETAS
        .iter()
        .map(|&b| Ok(two_moons::reference(Y_O, b)?))
        .collect::<Result<_>>()?;
    let mut rows = Vec::new();
    let mut table = String::new();
    let mut summary = Vec::new();
    for m in &methods {
        let results: Vec<RunResult> = (0..setup.runs)
            .map(|r| train_one(m, &setup, &data, &pairs, args, r))
            .collect::<Result<_>>()?;
        let col = |k: usize, f: &dyn Fn(&AtBeta) -> f64| -> Vec<f64> {
            results.iter().map(|r| f(&r.at[k])).collect()
        };
        let mut cells = Vec::new();
        for (k, &b) in BETAS.iter().enumerate() {
            for (metric, v) in [
                ("kl", col(k, &|a| a.kl)),
                ("nll", col(k, &|a| a.nll)),
                ("ess", col(k, &|a| a.ess)),
            ] {
                let (value, std) = trade_core::metrics::mean_std(&v);
                rows.push(MetricRow {
                    method: m.clone(),
                    condition: b,
                    metric: metric.into(),
                    value,
                    std,
                    n_runs: v.len(),
                });
            }
            cells.push(format!(
                "{} | {} | {} %",
                pm(&col(k, &|a| a.kl), 3),
                pm(&col(k, &|a| a.nll), 3),
                pm(&col(k, &|a| a.ess), 1)
            ));
        }
        for (k, &b) in BETAS.iter().enumerate() {
            let mut cells = Vec::new();
            let mut abs_err = Vec::new();
            for (l, &level) in COVERAGE_LEVELS.iter().enumerate() {
                let v: Vec<f64> = results.iter().map(|r| r.at[k].coverage[l].0).collect();
                let (value, _) = trade_core::metrics::mean_std(&v);
                let (lo, hi) = (
                    results[0].at[k].coverage[l].1,
                    results[0].at[k].coverage[l].2,
                );
                rows.push(MetricRow {
                    method: m.clone(),
                    condition: b,
                    metric: format!("coverage@{level:.2}"),
                    value,
                    // Half-width of the 95 % bootstrap band of the first run, as a std.
                    std: (hi - lo) / (2.0 * 1.96),
                    n_runs: v.len(),
                });
                cells.push(format!("{value:.2}"));
                abs_err.push((value - level).abs());
            }
            let mace = abs_err.iter().sum::<f64>() / abs_err.len() as f64;
            rows.push(MetricRow {
                method: m.clone(),
                condition: b,
                metric: "coverage_mean_abs_error".into(),
                value: mace,
                std: 0.0,
                n_runs: results.len(),
            });
            coverage_table.push_str(&format!(
                "| {m} | {b} | {} | {mace:.3} |\n",
                cells.join(" | ")
            ));
        }
        let secs = results.iter().map(|r| r.seconds).sum::<f64>() / results.len() as f64;
        table.push_str(&format!("| {m} | {} | {secs:.0} s |\n", cells.join(" | ")));
        summary.push(format!(
            "{m}: KL(β=0.5) {} KL(β=2) {}",
            pm(&col(0, &|a| a.kl), 3),
            pm(&col(2, &|a| a.kl), 3)
        ));
        first_runs.push((m.clone(), results.into_iter().next().expect("runs ≥ 1")));
    }
    let dir = args.out.join("two-moons");
    plots(&dir, &first_runs, &setup)?;
    let exact_cells: Vec<String> = refs
        .iter()
        .map(|r| format!("0 | {:.4} | 100 %", r.entropy))
        .collect();
    let anchors: String = BETAS
        .iter()
        .zip(&refs)
        .map(|(b, r)| {
            format!(
                "| {b} | {:.4} | {:.4} | {:.4} | ({:.1e}, {:.1e}) | {:.5} / {:.5} |\n",
                r.log_z, r.mean_log_lik, r.entropy, r.mean[0], r.mean[1], r.cov[0][0], r.cov[1][1]
            )
        })
        .collect();
    let md = format!(
        "# two moons, tempered amortised posterior ({:?} profile)\n\n\
         Amortised posterior q(θ | y, β) trained on {} joint draws (θ ~ N(0, 0.3² I), y ~ simulator) at\n\
         β = 1; evaluated at y_o = (0, 0) for β ∈ {{0.5, 1, 2}}: KL(exact ‖ model) = mean over {} exact\n\
         posterior samples of log p_β(θ|y_o) − log q(θ|y_o, β) with the exact log Z; NLL of the same samples\n\
         (optimum = exact entropy); ESS (Kish, %) of {} model samples.\n\
         Flow: {} RQ blocks (K = 8), MLP {:?}, log β and y into the couplings, conditional affine on raw\n\
         (β, y), N(0, I); batch {}, {} epochs, lr {}, dequantisation 3e-4; {} run(s) per method.\n\
         TRADE: continuous, β ~ prior on [0.4, 2.1], flow samples at β = 1, {} observations × {} samples per\n\
         batch with one SNIS estimate per observation (method.md §6.3), weight 0 → 0.1, adaptive.\n\
         `trade-continuous-self` is energy-free (the paper's setting); `trade-continuous` uses the analytic\n\
         likelihood (ground truth). The paper shows only figures here (it reports that TRADE generalises\n\
         across β without loss at β = 1), so the anchors are our exact quadrature references.\n\n\
         | method | KL β=0.5 | NLL β=0.5 | ESS β=0.5 | KL β=1 | NLL β=1 | ESS β=1 | KL β=2 | NLL β=2 | ESS β=2 | train time / run |\n\
         |---|---|---|---|---|---|---|---|---|---|---|\n{table}\
         | exact | {} | |\n\n\
         ## Exact references at y_o (moon-polar quadrature)\n\n\
         | β | log Z | E[log L] | entropy | mean | Var θ0 / Var θ1 |\n|---|---|---|---|---|---|\n{anchors}\n\
         ## Coverage of the moon radius (method.md §13.6)\n\n\
         Empirical coverage of central credible intervals of r(θ, y) = ‖y − (−|θ0 + θ1|/√2, (θ1 − θ0)/√2) − (0.25, 0)‖\n\
         at 10 nominal levels, over {} reference pairs per β (y from the β = 1 prior predictive, θ* ~ p_β(·|y)\n\
         exactly) with {} flow draws per pair; a calibrated model has coverage = level. `mean |err|` is the\n\
         mean absolute deviation from the diagonal; the 95 % bootstrap bands ({} resamples of the pairs) are\n\
         in metrics.json (std = half-width / 1.96) and in `coverage_beta*.svg`.\n\n\
         | method | β | 0.05 | 0.15 | 0.25 | 0.35 | 0.45 | 0.55 | 0.65 | 0.75 | 0.85 | 0.95 | mean \\|err\\| |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|---|\n{coverage_table}\n\
         Plots: `kl_vs_beta.svg`, `ess_vs_beta.svg`, `coverage_beta{{0.5,1,2}}.svg`, and\n\
         `scatter_<method>_beta<β>.svg` (model samples at y_o against exact posterior samples; first run).\n\n\
         Wall time {:.0} s.\n",
        args.profile,
        data.theta.nrows(),
        setup.n_reference,
        setup.n_ess,
        setup.blocks,
        setup.hidden,
        setup.batch,
        setup.epochs,
        setup.lr,
        setup.runs,
        setup.groups,
        setup.batch / setup.groups,
        exact_cells.join(" | "),
        setup.coverage_pairs,
        setup.coverage_draws,
        setup.coverage_boot,
        started.elapsed().as_secs_f64()
    );
    write_report(&dir, &rows, &md)?;
    Ok(format!("two-moons: {}", summary.join("; ")))
}

/// KL and ESS against β, coverage curves per β, and scatter plots at y_o (first run of each
/// method).
fn plots(dir: &std::path::Path, runs: &[(String, RunResult)], setup: &Setup) -> Result<()> {
    use crate::plot::{Series, line_chart, scatter_chart};
    std::fs::create_dir_all(dir)?;
    let save = |name: &str, svg: String| super::common::save_svg(dir, name, &svg);
    let per_beta = |f: &dyn Fn(&AtBeta) -> f64| -> Vec<Series> {
        runs.iter()
            .map(|(m, r)| Series {
                label: m.clone(),
                points: BETAS.iter().zip(&r.at).map(|(&b, a)| (b, f(a))).collect(),
                dashed: false,
            })
            .collect()
    };
    save(
        "kl_vs_beta.svg",
        line_chart(
            "two moons: KL(exact ‖ model) at y_o",
            "β",
            "KL (nats)",
            &per_beta(&|a| a.kl),
        ),
    )?;
    save(
        "ess_vs_beta.svg",
        line_chart(
            "two moons: ESS at y_o",
            "β",
            "ESS (%)",
            &per_beta(&|a| a.ess),
        ),
    )?;
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(7);
    for (k, &b) in BETAS.iter().enumerate() {
        let mut series = vec![Series {
            label: "calibrated".into(),
            points: vec![(0.0, 0.0), (1.0, 1.0)],
            dashed: true,
        }];
        for (m, r) in runs {
            series.push(Series {
                label: m.clone(),
                points: COVERAGE_LEVELS
                    .iter()
                    .zip(&r.at[k].coverage)
                    .map(|(&l, c)| (l, c.0))
                    .collect(),
                dashed: false,
            });
        }
        save(
            &format!("coverage_beta{b}.svg"),
            line_chart(
                &format!("coverage of the moon radius, β = {b}"),
                "nominal level",
                "empirical coverage",
                &series,
            ),
        )?;
        let exact: Vec<(f64, f64)> = TwoMoonsSampler::new(Y_O, b)?
            .sample(SCATTER_POINTS.min(setup.n_reference), &mut rng)
            .rows()
            .into_iter()
            .map(|x| (x[0], x[1]))
            .collect();
        for (m, r) in runs {
            save(
                &format!("scatter_{m}_beta{b}.svg"),
                scatter_chart(
                    &format!("two moons at y_o = (0, 0), β = {b}"),
                    "θ0",
                    "θ1",
                    &[
                        Series::solid("exact", exact.clone()),
                        Series::solid(m, r.at[k].samples.clone()),
                    ],
                ),
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_method_builds_its_losses_and_flow() {
        let setup = Setup {
            n_data: 400,
            blocks: 2,
            hidden: vec![8],
            batch: 32,
            groups: 4,
            ..Setup::of(Profile::Quick)
        };
        let data = data(&setup);
        assert_eq!(data.theta.nrows(), 320);
        assert_eq!(data.y.nrows(), 320);
        FlowModel::new(flow_config(&setup, 0)).unwrap();
        for m in METHODS {
            let n = losses(m, &setup, &data, 0).unwrap().len();
            assert_eq!(n, if *m == "nll" { 1 } else { 2 });
        }
        assert!(losses("trade-grid", &setup, &data, 0).is_err());
    }
}
