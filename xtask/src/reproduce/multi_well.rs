//! Multi-well 5D (`experiments.md` §1): train at T = 1 on exact samples, transfer to T = 0.5.
//! Reports NLL and ESS at T = 0.5 and T = 1 beside the paper's numbers and the exact entropy.

use super::common::{
    MetricRow, Run, ess_at, nll_and_kl_at, nll_at, pm, save_model, select_methods, train,
    write_report,
};
use super::{Profile, ReproduceArgs};
use anyhow::{Result, bail};
use ndarray::{Array2, s};
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use std::sync::Arc;
use std::time::Instant;
use trade_core::loss::{
    EnergySource, Nll, NoiseMode, Proposal, ReferencePoints, ReverseKl, Reweighting,
    TradeContinuous, TradeGrid, TradeGridConfig,
};
use trade_core::{ConditionPrior, Loss, LossWeight, Residual};
use trade_flows::{FlowConfig, FlowModel};
use trade_targets::{MultiWell, MultiWellSampler, ReferenceSampler, Target};

/// Methods this experiment runs by default, in table order.
const METHODS: &[&str] = &[
    "trade-grid",
    "trade-grid-self",
    "trade-continuous",
    "trade-continuous-dataset",
    "trade-continuous-self",
    "trade-continuous-dataset-self",
    "trade-continuous-reweighted",
    "trade-continuous-dataset-reweighted",
    "no-causality",
    "reverse-kl-nll",
    "reweighting",
    "tsf",
    "nll",
];
/// Quick profile: the subset the README's default run trains.
const QUICK_METHODS: &[&str] = &["trade-grid", "reverse-kl-nll", "nll"];

/// Exact entropy (optimal NLL) at T = 0.5 and 1 (`experiments.md` §1 quadrature table).
const ENTROPY: [(f64, f64); 2] = [(0.5, 2.2067), (1.0, 4.3616)];

/// Sizes of one profile.
struct Setup {
    n_data: usize,
    n_reference: usize,
    n_ess: usize,
    blocks: usize,
    hidden: Vec<usize>,
    batch: usize,
    epochs: usize,
    lr: f64,
    runs: usize,
    grid_points: usize,
    n_snis: usize,
    tsf_blocks: usize,
    tsf_lr: f64,
    /// Augmentation dimensions of the TSF (flows.md §6: 5).
    tsf_augmentation: usize,
    n_curve: usize,
}

impl Setup {
    fn of(profile: Profile) -> Self {
        match profile {
            Profile::Paper => Self {
                n_data: 100_000,
                n_reference: 100_000,
                n_ess: 30_000,
                blocks: 15,
                hidden: vec![256, 256],
                batch: 512,
                epochs: 20,
                lr: 2e-4,
                runs: 3,
                grid_points: 50,
                n_snis: 5000,
                tsf_blocks: 25,
                tsf_lr: 1e-3,
                tsf_augmentation: 5,
                n_curve: 20_000,
            },
            // 100 000 samples (as the paper profile) and 6 epochs: the KL at T = 0.5 is limited
            // by the training set far more than by the steps (measured 2026-11-23: 25 000
            // samples × 12 epochs 0.020 nats, 100 000 × 6 epochs 0.0076 with twice the steps).
            Profile::Quick => Self {
                n_data: 100_000,
                n_reference: 100_000,
                n_ess: 10_000,
                blocks: 4,
                hidden: vec![64, 64],
                batch: 256,
                epochs: 6,
                lr: 2e-3,
                runs: 1,
                grid_points: 20,
                n_snis: 1000,
                tsf_blocks: 8,
                tsf_lr: 3e-3,
                tsf_augmentation: 5,
                n_curve: 4_000,
            },
        }
    }
}

struct Data {
    train: Arc<Array2<f64>>,
    val: Array2<f64>,
    reference: Array2<f64>,
}

/// Exact samples at T = 1 split 0.8/0.1/0.1 (seed 42, project default), and the T = 0.5
/// reference set.
fn data(setup: &Setup) -> Result<Data> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(42);
    let all = MultiWellSampler::new(5, 1.0)?.sample(setup.n_data, &mut rng);
    let (n_train, n_val) = (setup.n_data * 8 / 10, setup.n_data / 10);
    let reference = MultiWellSampler::new(5, 0.5)?.sample(
        setup.n_reference,
        &mut Xoshiro256PlusPlus::seed_from_u64(43),
    );
    Ok(Data {
        train: Arc::new(all.slice(s![..n_train, ..]).to_owned()),
        val: all.slice(s![n_train..n_train + n_val, ..]).to_owned(),
        reference,
    })
}

fn losses(
    method: &str,
    setup: &Setup,
    data: &Data,
    seed: u64,
) -> Result<Vec<(Box<dyn Loss>, LossWeight)>> {
    let target: Arc<dyn Target> = Arc::new(MultiWell::new(5)?);
    let prior = ConditionPrior::new(0.4, 1.1)?;
    let ones = Arc::new(Array2::ones((data.train.nrows(), 1)));
    let mut nll = Nll::new(data.train.clone(), ones, setup.batch, 0.0, seed)?;
    if method == "tsf" {
        nll = nll.with_augmentation(setup.tsf_augmentation);
    }
    let mut out: Vec<(Box<dyn Loss>, LossWeight)> =
        vec![(Box::new(nll), LossWeight::constant(1.0, 1e9, 1e3))];
    let ramp = LossWeight {
        pct_start: 0.2,
        start_value: 0.0,
        end_value: 1.0,
        ..LossWeight::constant(1.0, 1e9, 1e3)
    };
    // `reweight_points`: the "reweighted samples" rows (method.md §9).
    let continuous = |reference: ReferencePoints, energy: EnergySource| -> TradeContinuous {
        TradeContinuous {
            energy,
            prior,
            c0: 1.0,
            batch: setup.batch,
            reference,
            proposal: Proposal::ReferenceEnergy,
            residual: Residual::Mse,
            noise: NoiseMode::Gaussian(3e-4),
            reweight_points: false,
        }
    };
    let reweighted = |reference: ReferencePoints| -> Box<dyn Loss> {
        Box::new(TradeContinuous {
            reweight_points: true,
            ..continuous(reference, EnergySource::GroundTruth(target.clone()))
        })
    };
    let adaptive = LossWeight {
        adaptive: true,
        adaptive_init: 1e-3,
        alpha: 0.1,
        ..ramp
    };
    let gt = EnergySource::GroundTruth(target.clone());
    let dataset = ReferencePoints::Dataset(data.train.clone());
    match method {
        "nll" | "tsf" => {}
        "reweighting" => out.push((
            Box::new(Reweighting::new(data.train.clone(), prior, setup.batch)?),
            LossWeight::constant(1.0, 1e9, 1e3),
        )),
        "trade-grid" | "no-causality" | "trade-grid-self" => {
            let cfg = TradeGridConfig {
                c_min: 0.4,
                c_max: 1.1,
                n_points: setup.grid_points,
                c0: 1.0,
                n_snis: setup.n_snis,
                refresh_every: 100,
                alpha_ex: 0.5,
                logits_every: 50,
                epsilon: 0.9,
                alpha_l: 0.5,
                batch: setup.batch,
                causality: method != "no-causality",
            };
            let grid = TradeGrid::new(
                cfg,
                target,
                prior,
                Residual::SmoothL1 { delta: 5e-4 },
                NoiseMode::Gaussian(3e-4),
            )?;
            // "TRADE grid, flow energy": ∂_T U from the flow itself (method.md §5.1).
            let grid = if method == "trade-grid-self" {
                grid.with_energy(EnergySource::SelfTemperature)?
            } else {
                grid
            };
            out.push((Box::new(grid), ramp));
        }
        "trade-continuous" => out.push((
            Box::new(continuous(ReferencePoints::FlowSamples, gt)),
            adaptive,
        )),
        "trade-continuous-dataset" => out.push((Box::new(continuous(dataset, gt)), adaptive)),
        "trade-continuous-self" => out.push((
            Box::new(continuous(
                ReferencePoints::FlowSamples,
                EnergySource::SelfTemperature,
            )),
            adaptive,
        )),
        "trade-continuous-dataset-self" => out.push((
            Box::new(continuous(dataset, EnergySource::SelfTemperature)),
            adaptive,
        )),
        "trade-continuous-reweighted" => {
            out.push((reweighted(ReferencePoints::FlowSamples), adaptive))
        }
        "trade-continuous-dataset-reweighted" => out.push((reweighted(dataset), adaptive)),
        "reverse-kl-nll" => out.push((
            Box::new(ReverseKl::new(target, prior, true, setup.batch)?),
            LossWeight::constant(1.0, 1e9, 1e3),
        )),
        other => bail!("method {other:?} is not a multi-well method"),
    }
    Ok(out)
}

struct RunResult {
    nll: [f64; 2],
    /// KL(p ‖ q) at T = 0.5 and 1 on the same samples as `nll`: (mean, standard error).
    kl: [(f64, f64); 2],
    ess: [f64; 2],
    seconds: f64,
    /// (T, NLL, ESS %) on the plotting grid (first run only).
    curve: Vec<(f64, f64, f64)>,
    /// Model samples of x₀ at T = 0.5 and T = 1 (first run only).
    marginals: [Vec<f64>; 2],
}

/// Temperatures of the NLL/ESS-vs-T plots.
const CURVE_T: [f64; 8] = [0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1];

/// NLL and ESS against T on `n` exact / model samples per temperature, and x₀ marginals.
/// (T, NLL, ESS) points and the x₀ marginal samples at T = 0.5 and 1.
type Curves = (Vec<(f64, f64, f64)>, [Vec<f64>; 2]);

fn curves(model: &FlowModel, n: usize, seed: u64) -> Result<Curves> {
    let target = MultiWell::new(5)?;
    let mut curve = Vec::new();
    for (k, &t) in CURVE_T.iter().enumerate() {
        let exact = MultiWellSampler::new(5, t)?
            .sample(n, &mut Xoshiro256PlusPlus::seed_from_u64(900 + k as u64));
        curve.push((
            t,
            nll_at(model, &exact, t)?,
            ess_at(model, &target, n, t, seed + 3000 + k as u64)?,
        ));
    }
    let marginal = |t: f64, s: u64| -> Result<Vec<f64>> {
        let (x, _) = trade_core::loss::sample(
            &model.flow,
            &model.params,
            n,
            t,
            &mut Xoshiro256PlusPlus::seed_from_u64(s),
        )?;
        Ok(x.column(0).to_vec())
    };
    Ok((
        curve,
        [marginal(0.5, seed + 4000)?, marginal(1.0, seed + 4001)?],
    ))
}

fn train_one(
    method: &str,
    setup: &Setup,
    data: &Data,
    args: &ReproduceArgs,
    run: usize,
) -> Result<RunResult> {
    let seed = args.seed + run as u64;
    // TSF: a volume-preserving GIN flow with no c-input over N(0, T·I), trained by NLL at T = 1
    // (flows.md §10), with a ~ N(0, T·I) augmentation dimensions (flows.md §6).
    let mut config = if method == "tsf" {
        FlowConfig::temperature_steerable(
            5,
            setup.tsf_augmentation,
            setup.tsf_blocks,
            &setup.hidden,
        )
    } else {
        FlowConfig::multi_well(5, setup.blocks, &setup.hidden)
    };
    config.seed = seed;
    let lr = if method == "tsf" {
        setup.tsf_lr
    } else {
        setup.lr
    };
    let mut model = FlowModel::new(config)?;
    let spec = Run {
        experiment: "multi-well",
        method,
        run,
        seed,
        steps: setup.epochs * (data.train.nrows() / setup.batch),
        lr,
        batch: setup.batch,
    };
    let losses = losses(method, setup, data, seed)?;
    let seconds = train(args, &spec, &model.flow, &mut model.params, losses)?;
    save_model(args, &spec, &model)?;
    let target = MultiWell::new(5)?;
    let log_z = |t: f64| trade_targets::multi_well::reference(5, t).map(|r| r.log_z);
    let (curve, marginals) = if run == 0 {
        curves(&model, setup.n_curve, seed)?
    } else {
        Default::default()
    };
    let (nll05, kl05) = nll_and_kl_at(&model, &target, &data.reference, 0.5, log_z(0.5)?)?;
    let (nll10, kl10) = nll_and_kl_at(&model, &target, &data.val, 1.0, log_z(1.0)?)?;
    Ok(RunResult {
        curve,
        marginals,
        nll: [nll05, nll10],
        kl: [kl05, kl10],
        ess: [
            ess_at(&model, &target, setup.n_ess, 0.5, seed + 1000)?,
            ess_at(&model, &target, setup.n_ess, 1.0, seed + 2000)?,
        ],
        seconds,
    })
}

/// Paper's published numbers for a method: (NLL T=0.5, ESS T=0.5 %).
fn paper(method: &str) -> Option<(f64, f64)> {
    match method {
        "trade-grid" => Some((2.22, 95.6)),
        "reverse-kl-nll" => Some((2.29, 84.1)),
        "tsf" => Some((2.45, 69.5)), // paper: 25 GIN blocks + 5 augmentation dims
        _ => None,
    }
}

/// Runs the experiment; returns the summary line.
pub fn run(args: &ReproduceArgs) -> Result<String> {
    let methods = select_methods(args, "multi-well", METHODS, QUICK_METHODS)?;
    let mut setup = Setup::of(args.profile);
    setup.runs = args.runs(setup.runs)?;
    let started = Instant::now();
    let data = data(&setup)?;
    let mut rows = Vec::new();
    let mut table = String::new();
    let mut summary = Vec::new();
    let mut plotted: Vec<(String, RunResult)> = Vec::new();
    for m in &methods {
        let mut results: Vec<RunResult> = (0..setup.runs)
            .map(|r| train_one(m, &setup, &data, args, r))
            .collect::<Result<_>>()?;
        let col = |f: &dyn Fn(&RunResult) -> f64| results.iter().map(f).collect::<Vec<f64>>();
        let (n05, n10, e05, e10) = (
            col(&|r| r.nll[0]),
            col(&|r| r.nll[1]),
            col(&|r| r.ess[0]),
            col(&|r| r.ess[1]),
        );
        let (k05, k10) = (col(&|r| r.kl[0].0), col(&|r| r.kl[1].0));
        let se = |k: usize| col(&|r| r.kl[k].1).iter().cloned().fold(0.0, f64::max);
        for (t, metric, v) in [
            (0.5, "nll", &n05),
            (1.0, "nll", &n10),
            (0.5, "ess", &e05),
            (1.0, "ess", &e10),
            (0.5, "kl", &k05),
            (1.0, "kl", &k10),
        ] {
            let (value, std) = trade_core::metrics::mean_std(v);
            rows.push(MetricRow {
                method: m.clone(),
                condition: t,
                metric: metric.into(),
                value,
                std,
                n_runs: v.len(),
            });
        }
        let p = paper(m).map_or("—".to_string(), |(n, e)| format!("{n} / {e} %"));
        let secs = col(&|r| r.seconds).iter().sum::<f64>() / results.len() as f64;
        table.push_str(&format!(
            "| {m} | {} | {} | {} % | {} % | {} (se {:.4}) | {} (se {:.4}) | {p} | {secs:.0} s |\n",
            pm(&n05, 3),
            pm(&n10, 3),
            pm(&e05, 1),
            pm(&e10, 1),
            pm(&k05, 4),
            se(0),
            pm(&k10, 4),
            se(1),
        ));
        summary.push(format!(
            "{m}: NLL(0.5) {} ESS(0.5) {} %",
            pm(&n05, 3),
            pm(&e05, 1)
        ));
        plotted.push((m.clone(), results.swap_remove(0)));
    }
    let grid_goal = rows
        .iter()
        .filter(|r| r.method == "trade-grid" && (r.condition - 0.5).abs() < 1e-12)
        .map(|r| (r.metric.clone(), r.value))
        .collect::<Vec<_>>();
    let goal = goal_line(args.profile, &grid_goal);
    let md = format!(
        "# multi-well 5D ({:?} profile)\n\nTrained at T = 1 on exact samples; evaluated at T = 0.5 (transfer) and T = 1.\n\
         Flow: {} RQ blocks, MLP {:?}, batch {}, {} epochs, lr {}; {} run(s) per method; {} training samples.\n\
         `tsf`: {} GIN blocks (no c-input, x-independent log-det) over N(0, T·I) with {} augmentation dimensions\n\
         a ~ N(0, T·I), lr {}; its NLL is the marginal importance estimate with {} draws of a per point (biased high\n\
         by Jensen's gap), its ESS uses the joint weights p̃(x)N(a)/q(x, a) (a lower bound on the marginal ESS).\n\
         KL = mean of log p − log q on the same exact samples as the NLL (exact log Z); NLL = entropy + KL, so entropy + KL\n\
         estimates the NLL without the sampling noise of −log p (se: the largest per-run standard error).\n\
         Rows of experiments.md §1: `trade-grid-self` = \"TRADE grid, flow energy\" (∂_T U ≈ log q(x|T)/T from the flow, method.md §5.1;\n\
         uniform SNIS weights in the table); `trade-continuous[-dataset]-reweighted` = \"TRADE continuous, reweighted samples\" (each\n\
         evaluation point's loss times its normalised SNIS weight towards the batch's T, method.md §9; inert in the reference code).\n\n\
         | method | NLL T=0.5 | NLL T=1.0 | ESS T=0.5 | ESS T=1.0 | KL T=0.5 | KL T=1.0 | paper NLL / ESS (T=0.5) | train time / run |\n\
         |---|---|---|---|---|---|---|---|---|\n{table}\
         | exact (entropy) | {:.4} | {:.4} | 100 % | 100 % | 0 | 0 | | |\n\n{goal}\n\nWall time {:.0} s.\n",
        args.profile,
        setup.blocks,
        setup.hidden,
        setup.batch,
        setup.epochs,
        setup.lr,
        setup.runs,
        data.train.nrows(),
        setup.tsf_blocks,
        setup.tsf_augmentation,
        setup.tsf_lr,
        super::common::AUGMENTATION_REPEATS,
        ENTROPY[0].1,
        ENTROPY[1].1,
        started.elapsed().as_secs_f64()
    );
    let dir = args.out.join("multi-well");
    write_plots(&dir, &plotted, setup.n_curve)?;
    let md = format!(
        "{md}\nPlots: `nll_vs_T.svg`, `ess_vs_T.svg`, `marginal_x0_T0.5.svg`, `marginal_x0_T1.svg` (first run of each method).\n"
    );
    write_report(&dir, &rows, &md)?;
    Ok(format!("multi-well: {}", summary.join("; ")))
}

/// Whether the trade-grid run meets the goal for this profile.
fn goal_line(profile: Profile, grid: &[(String, f64)]) -> String {
    let get = |m: &str| grid.iter().find(|(k, _)| k == m).map(|(_, v)| *v);
    let (Some(nll), Some(ess), Some(kl)) = (get("nll"), get("ess"), get("kl")) else {
        return "Goal: trade-grid was not run.".into();
    };
    let (max_nll, min_ess) = match profile {
        Profile::Quick => (2.30, 80.0),
        Profile::Paper => (2.212, 98.0),
    };
    let entropy = trade_targets::multi_well::reference(5, 0.5).map_or(ENTROPY[0].1, |r| r.entropy);
    let nll_cv = entropy + kl;
    let met = nll <= max_nll && ess >= min_ess;
    let met_cv = nll_cv <= max_nll && ess >= min_ess;
    let word = |m: bool| if m { "met" } else { "not met" };
    format!(
        "Goal ({profile:?}): trade-grid NLL(T=0.5) ≤ {max_nll} and ESS(T=0.5) ≥ {min_ess} %: **{}** by the plain \
         NLL ({nll:.4}), **{}** by entropy + KL ({nll_cv:.4}); ESS {ess:.1} %.",
        word(met),
        word(met_cv)
    )
}

/// NLL and ESS against T for every method (exact entropy dashed) and x₀ marginals vs exact.
fn write_plots(dir: &std::path::Path, runs: &[(String, RunResult)], n: usize) -> Result<()> {
    use crate::plot::{Series, histogram_series, line_chart};
    let series = |f: &dyn Fn(&(f64, f64, f64)) -> f64| -> Vec<Series> {
        runs.iter()
            .map(|(m, r)| Series {
                label: m.clone(),
                points: r.curve.iter().map(|p| (p.0, f(p))).collect(),
                dashed: false,
            })
            .collect()
    };
    let mut nll = series(&|p| p.1);
    let exact: Vec<(f64, f64)> = CURVE_T
        .iter()
        .map(|&t| {
            (
                t,
                trade_targets::multi_well::reference(5, t).map_or(f64::NAN, |r| r.entropy),
            )
        })
        .collect();
    nll.push(Series {
        label: "exact entropy".into(),
        points: exact,
        dashed: true,
    });
    let save = |name: &str, svg: String| super::common::save_svg(dir, name, &svg);
    save(
        "nll_vs_T.svg",
        line_chart(
            "multi-well 5D: NLL vs T (trained at T = 1)",
            "T",
            "NLL (nats)",
            &nll,
        ),
    )?;
    save(
        "ess_vs_T.svg",
        line_chart("multi-well 5D: ESS vs T", "T", "ESS (%)", &series(&|p| p.2)),
    )?;
    for (k, (t, name)) in [(0.5, "marginal_x0_T0.5.svg"), (1.0, "marginal_x0_T1.svg")]
        .into_iter()
        .enumerate()
    {
        let mut hs: Vec<Series> = runs
            .iter()
            .map(|(m, r)| {
                histogram_series(m, r.marginals[k].iter().copied(), (-3.0, 3.0), 60, false)
            })
            .collect();
        let exact = MultiWellSampler::new(5, t)?
            .sample(n, &mut Xoshiro256PlusPlus::seed_from_u64(950 + k as u64));
        hs.push(histogram_series(
            "exact",
            exact.column(0).iter().copied(),
            (-3.0, 3.0),
            60,
            true,
        ));
        save(
            name,
            line_chart(
                &format!("multi-well 5D: marginal of x₀ at T = {t}"),
                "x₀",
                "density",
                &hs,
            ),
        )?;
    }
    Ok(())
}
