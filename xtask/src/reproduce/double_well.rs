//! Double well 2D (`experiments.md` §7, Loop A): train at T = 1 on exact samples, transfer to
//! T ∈ [0.4, 1.1]. Reports NLL and ESS vs T like the multi-well, beside the exact entropy from
//! `double_well::reference` (the paper gives no numbers for this experiment).

use super::common::{
    MetricRow, Run, ess_at, nll_at, pm, save_model, select_methods, train, write_report,
};
use super::{Profile, ReproduceArgs};
use anyhow::{Result, bail};
use ndarray::{Array2, s};
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use std::sync::Arc;
use std::time::Instant;
use trade_core::loss::{
    EnergySource, Nll, NoiseMode, Proposal, ReferencePoints, ReverseKl, TradeContinuous, TradeGrid,
    TradeGridConfig, VarianceLoss,
};
use trade_core::{ConditionPrior, Loss, LossWeight, Residual};
use trade_flows::{
    BaseConfig, ConditionConfig, ConditionInput, ConditionerConfig, FlowConfig, FlowModel,
    LayerConfig, PermutationKind, Scaling,
};
use trade_targets::{DoubleWell, DoubleWellSampler, ReferenceSampler, Target, double_well};

/// Methods this experiment runs by default, in table order.
const METHODS: &[&str] = &[
    "trade-grid",
    "trade-continuous",
    "reverse-kl-nll",
    "variance-nll",
    "nll",
];
/// Quick profile: the subset the README's default run trains.
const QUICK_METHODS: &[&str] = &["trade-grid", "nll"];
/// Temperatures of the NLL/ESS-vs-T table (the training range; T = 1 is the boundary).
const TEMPERATURES: [f64; 8] = [0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1];
/// The two columns of the main table.
const TABLE_T: [f64; 2] = [0.5, 1.0];

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
                batch: 256,
                epochs: 50,
                lr: 1e-3,
                runs: 3,
                grid_points: 50,
                n_snis: 10_000,
            },
            Profile::Quick => Self {
                n_data: 20_000,
                n_reference: 20_000,
                n_ess: 10_000,
                blocks: 8,
                hidden: vec![64, 64],
                batch: 256,
                epochs: 8,
                lr: 2e-3,
                runs: 1,
                grid_points: 20,
                n_snis: 2000,
            },
        }
    }
}

/// The double-well flow of `flows.md` §6 without SoftFlow: `blocks` × [GLOW affine coupling
/// 0.3·tanh (MLP `hidden`, SiLU, Loop A init) → random permutation] → conditional affine (raw T)
/// → N(0, I); log T into the couplings.
fn flow_config(setup: &Setup, seed: u64) -> FlowConfig {
    let conditioner = ConditionerConfig::mlp_loop_a(&setup.hidden);
    FlowConfig {
        dim: 2,
        augmentation_dims: 0,
        condition: ConditionConfig {
            input: ConditionInput::LogC,
            y_dim: 0,
        },
        layers: vec![
            LayerConfig::Repeat {
                count: setup.blocks,
                layers: vec![
                    LayerConfig::AffineCoupling {
                        conditioner: conditioner.clone(),
                        clamp: 0.3,
                        learnable_clamp: false,
                    },
                    LayerConfig::Permutation {
                        kind: PermutationKind::Random,
                    },
                ],
            },
            LayerConfig::ConditionalAffine { conditioner },
        ],
        base: BaseConfig::Gaussian {
            scaling: Scaling::Standard,
        },
        seed,
    }
}

struct Data {
    train: Arc<Array2<f64>>,
    /// T = 1 validation split.
    val: Array2<f64>,
    /// Exact samples per entry of `TEMPERATURES` (T = 1 uses `val` instead).
    reference: Vec<Array2<f64>>,
}

/// Exact samples at T = 1 split 0.8/0.1/0.1 (seed 42), and exact reference sets per T.
fn data(setup: &Setup) -> Result<Data> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(42);
    let all = DoubleWellSampler::new(1.0)?.sample(setup.n_data, &mut rng);
    let (n_train, n_val) = (setup.n_data * 8 / 10, setup.n_data / 10);
    let reference = TEMPERATURES
        .iter()
        .enumerate()
        .map(|(k, &t)| {
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(43 + k as u64);
            Ok(DoubleWellSampler::new(t)?.sample(setup.n_reference, &mut rng))
        })
        .collect::<Result<_>>()?;
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
    let target: Arc<dyn Target> = Arc::new(DoubleWell);
    let prior = ConditionPrior::new(0.4, 1.1)?;
    let ones = Arc::new(Array2::ones((data.train.nrows(), 1)));
    let nll = Nll::new(data.train.clone(), ones, setup.batch, 0.0, seed)?;
    // experiments.md §7: NLL adaptive (init 1) + TRADE adaptive (init 1e-3), pct_start 0.
    let nll_weight = LossWeight {
        adaptive: true,
        adaptive_init: 1.0,
        ..LossWeight::constant(1.0, 1e9, 1e3)
    };
    let trade_weight = LossWeight {
        adaptive_init: 1e-3,
        ..nll_weight
    };
    let mut out: Vec<(Box<dyn Loss>, LossWeight)> = vec![(Box::new(nll), nll_weight)];
    match method {
        "nll" => {}
        "trade-grid" => {
            let cfg = TradeGridConfig {
                c_min: 0.4,
                c_max: 1.1,
                n_points: setup.grid_points,
                c0: 1.0,
                n_snis: setup.n_snis,
                refresh_every: 64,
                alpha_ex: 0.9,
                logits_every: 50, // project choice (the multi-well value)
                epsilon: 0.1,
                alpha_l: 0.9,
                batch: setup.batch,
                causality: true,
            };
            let grid = TradeGrid::new(cfg, target, prior, Residual::Mse, NoiseMode::Raw)?;
            out.push((Box::new(grid), trade_weight));
        }
        "trade-continuous" => out.push((
            Box::new(TradeContinuous {
                energy: EnergySource::GroundTruth(target),
                prior,
                c0: 1.0,
                batch: setup.batch,
                reference: ReferencePoints::FlowSamples,
                proposal: Proposal::ReferenceEnergy,
                residual: Residual::Mse,
                noise: NoiseMode::Raw,
                reweight_points: false,
            }),
            trade_weight,
        )),
        "reverse-kl-nll" => out.push((
            Box::new(ReverseKl::new(target, prior, true, setup.batch)?),
            LossWeight::constant(1.0, 1e9, 1e3),
        )),
        // method.md §12: the optional log-variance loss, one T per batch from the prior, with
        // the TRADE weight settings (adaptive, init 1e-3).
        "variance-nll" => out.push((
            Box::new(VarianceLoss::new(target, prior, setup.batch)?),
            trade_weight,
        )),
        other => bail!("method {other:?} is not a double-well method"),
    }
    Ok(out)
}

struct RunResult {
    /// NLL per entry of `TEMPERATURES`.
    nll: Vec<f64>,
    /// ESS (%) per entry of `TEMPERATURES`.
    ess: Vec<f64>,
    /// Model samples at each `TABLE_T`, for the scatter plots.
    samples: Vec<Vec<(f64, f64)>>,
    seconds: f64,
}

/// Points per scatter plot.
const SCATTER_POINTS: usize = 2000;

fn train_one(
    method: &str,
    setup: &Setup,
    data: &Data,
    args: &ReproduceArgs,
    run: usize,
) -> Result<RunResult> {
    let seed = args.seed + run as u64;
    let mut model = FlowModel::new(flow_config(setup, seed))?;
    let steps = setup.epochs * (data.train.nrows() / setup.batch);
    let spec = Run {
        experiment: "double-well",
        method,
        run,
        seed,
        steps,
        lr: setup.lr,
        batch: setup.batch,
    };
    let losses = losses(method, setup, data, seed)?;
    let seconds = train(args, &spec, &model.flow, &mut model.params, losses)?;
    save_model(args, &spec, &model)?;
    let mut nll = Vec::new();
    let mut ess = Vec::new();
    for (k, &t) in TEMPERATURES.iter().enumerate() {
        let x = if (t - 1.0).abs() < 1e-12 {
            &data.val
        } else {
            &data.reference[k]
        };
        nll.push(nll_at(&model, x, t)?);
        ess.push(ess_at(
            &model,
            &DoubleWell,
            setup.n_ess,
            t,
            seed + 1000 * (k as u64 + 1),
        )?);
    }
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed + 77);
    let samples = TABLE_T
        .iter()
        .map(|&t| {
            let (x, _) =
                trade_core::loss::sample(&model.flow, &model.params, SCATTER_POINTS, t, &mut rng)?;
            Ok(x.rows().into_iter().map(|r| (r[0], r[1])).collect())
        })
        .collect::<Result<_>>()?;
    Ok(RunResult {
        nll,
        ess,
        samples,
        seconds,
    })
}

fn t_index(t: f64) -> usize {
    TEMPERATURES
        .iter()
        .position(|&v| (v - t).abs() < 1e-12)
        .expect("a table temperature")
}

/// Runs the experiment; returns the summary line.
pub fn run(args: &ReproduceArgs) -> Result<String> {
    let methods = select_methods(args, "double-well", METHODS, QUICK_METHODS)?;
    let mut setup = Setup::of(args.profile);
    setup.runs = args.runs(setup.runs)?;
    let started = Instant::now();
    let data = data(&setup)?;
    let entropy: Vec<f64> = TEMPERATURES
        .iter()
        .map(|&t| Ok(double_well::reference(t)?.entropy))
        .collect::<Result<_>>()?;
    let mut rows = Vec::new();
    let mut table = String::new();
    let mut vs_t = String::new();
    let mut summary = Vec::new();
    let mut curves: Vec<Curve> = Vec::new();
    for m in &methods {
        let results: Vec<RunResult> = (0..setup.runs)
            .map(|r| train_one(m, &setup, &data, args, r))
            .collect::<Result<_>>()?;
        let nll_k = |k: usize| results.iter().map(|r| r.nll[k]).collect::<Vec<f64>>();
        let ess_k = |k: usize| results.iter().map(|r| r.ess[k]).collect::<Vec<f64>>();
        for (k, &t) in TEMPERATURES.iter().enumerate() {
            for (metric, v) in [("nll", nll_k(k)), ("ess", ess_k(k))] {
                let (value, std) = trade_core::metrics::mean_std(&v);
                rows.push(MetricRow {
                    method: m.clone(),
                    condition: t,
                    metric: metric.into(),
                    value,
                    std,
                    n_runs: v.len(),
                });
            }
        }
        let mean_of = |v: Vec<f64>| trade_core::metrics::mean_std(&v).0;
        curves.push(Curve {
            method: m.clone(),
            nll_gap: (0..TEMPERATURES.len())
                .map(|k| mean_of(nll_k(k)) - entropy[k])
                .collect(),
            ess: (0..TEMPERATURES.len()).map(|k| mean_of(ess_k(k))).collect(),
            samples: results[0].samples.clone(),
        });
        let (a, b) = (t_index(TABLE_T[0]), t_index(TABLE_T[1]));
        let secs = results.iter().map(|r| r.seconds).sum::<f64>() / results.len() as f64;
        table.push_str(&format!(
            "| {m} | {} | {} | {} % | {} % | {secs:.0} s |\n",
            pm(&nll_k(a), 3),
            pm(&nll_k(b), 3),
            pm(&ess_k(a), 1),
            pm(&ess_k(b), 1)
        ));
        let cells = |f: &dyn Fn(usize) -> String| {
            (0..TEMPERATURES.len())
                .map(f)
                .collect::<Vec<_>>()
                .join(" | ")
        };
        vs_t.push_str(&format!(
            "| {m} NLL − entropy | {} |\n| {m} ESS % | {} |\n",
            cells(&|k| {
                let gap: Vec<f64> = nll_k(k).iter().map(|v| v - entropy[k]).collect();
                pm(&gap, 3)
            }),
            cells(&|k| pm(&ess_k(k), 1)),
        ));
        summary.push(format!(
            "{m}: NLL(0.5) {} ESS(0.5) {} %",
            pm(&nll_k(a), 3),
            pm(&ess_k(a), 1)
        ));
    }
    let header: Vec<String> = TEMPERATURES.iter().map(|t| format!("T={t}")).collect();
    let exact: Vec<String> = entropy.iter().map(|h| format!("{h:.4}")).collect();
    let md = format!(
        "# double well 2D ({:?} profile)\n\n\
         Trained at T = 1 on exact samples; evaluated at T ∈ [0.4, 1.1] (T = 1 on the validation split,\n\
         other T on {} exact samples each). ESS with {} model samples.\n\
         Flow: {} GLOW affine blocks (0.3·tanh), MLP {:?}, N(0, I), batch {}, {} epochs, lr {}; {} run(s)\n\
         per method; {} training samples.\n\n\
         Deviations from `experiments.md` §7: no SoftFlow (the flow sees no log σ condition and the\n\
         data get no noise). `variance-nll` is NLL + the optional log-variance loss (method.md §12). The paper reports no\n\
         numbers for this experiment, so the anchors are the exact entropies (optimal NLL) from\n\
         quadrature (`double_well::reference`).\n\n\
         | method | NLL T=0.5 | NLL T=1.0 | ESS T=0.5 | ESS T=1.0 | train time / run |\n\
         |---|---|---|---|---|---|\n{table}\
         | exact (entropy) | {:.4} | {:.4} | 100 % | 100 % | |\n\n\
         ## NLL and ESS vs T\n\n| | {} |\n|---|{}\n{vs_t}| exact entropy | {} |\n\n\
         Plots: `nll_gap_vs_T.svg`, `ess_vs_T.svg` (means over runs), `scatter_<method>_T<T>.svg` (first run's\n\
         samples against exact samples).\n\n\
         Wall time {:.0} s.\n",
        args.profile,
        setup.n_reference,
        setup.n_ess,
        setup.blocks,
        setup.hidden,
        setup.batch,
        setup.epochs,
        setup.lr,
        setup.runs,
        data.train.nrows(),
        entropy[t_index(0.5)],
        entropy[t_index(1.0)],
        header.join(" | "),
        "---|".repeat(TEMPERATURES.len()),
        exact.join(" | "),
        started.elapsed().as_secs_f64()
    );
    let dir = args.out.join("double-well");
    plots(&dir, &curves, &data)?;
    write_report(&dir, &rows, &md)?;
    Ok(format!("double-well: {}", summary.join("; ")))
}

/// One method's curves for the plots.
struct Curve {
    method: String,
    /// Mean NLL − exact entropy per entry of `TEMPERATURES`.
    nll_gap: Vec<f64>,
    /// Mean ESS (%) per entry of `TEMPERATURES`.
    ess: Vec<f64>,
    /// First run's samples per entry of `TABLE_T`.
    samples: Vec<Vec<(f64, f64)>>,
}

/// NLL − entropy and ESS against T (means over runs), and scatter plots of the first run's
/// samples at each `TABLE_T` against exact samples.
fn plots(dir: &std::path::Path, curves: &[Curve], data: &Data) -> Result<()> {
    use crate::plot::{Series, line_chart, scatter_chart};
    std::fs::create_dir_all(dir)?;
    let save = |name: &str, svg: String| super::common::save_svg(dir, name, &svg);
    let series = |f: &dyn Fn(&Curve) -> &Vec<f64>| {
        curves
            .iter()
            .map(|c| Series {
                label: c.method.clone(),
                points: TEMPERATURES
                    .iter()
                    .copied()
                    .zip(f(c).iter().copied())
                    .collect(),
                dashed: false,
            })
            .collect::<Vec<_>>()
    };
    save(
        "nll_gap_vs_T.svg",
        line_chart(
            "double well 2D: NLL − exact entropy vs T (trained at T = 1)",
            "T",
            "NLL − entropy (nats)",
            &series(&|c| &c.nll_gap),
        ),
    )?;
    save(
        "ess_vs_T.svg",
        line_chart(
            "double well 2D: ESS vs T",
            "T",
            "ESS (%)",
            &series(&|c| &c.ess),
        ),
    )?;
    for (j, &t) in TABLE_T.iter().enumerate() {
        let exact = if (t - 1.0).abs() < 1e-12 {
            &data.val
        } else {
            &data.reference[t_index(t)]
        };
        let exact: Vec<(f64, f64)> = exact
            .rows()
            .into_iter()
            .take(SCATTER_POINTS)
            .map(|r| (r[0], r[1]))
            .collect();
        for c in curves {
            save(
                &format!("scatter_{}_T{t}.svg", c.method),
                scatter_chart(
                    &format!("double well 2D at T = {t}"),
                    "x₀",
                    "x₁",
                    &[
                        Series::solid("exact", exact.clone()),
                        Series::solid(&c.method, c.samples[j].clone()),
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
            n_reference: 10,
            blocks: 2,
            hidden: vec![8],
            batch: 32,
            grid_points: 4,
            n_snis: 16,
            ..Setup::of(Profile::Quick)
        };
        let data = data(&setup).unwrap();
        assert_eq!(data.train.nrows(), 320);
        assert_eq!(data.reference.len(), TEMPERATURES.len());
        FlowModel::new(flow_config(&setup, 0)).unwrap();
        for m in METHODS {
            assert!(losses(m, &setup, &data, 0).unwrap().len() >= 2 || *m == "nll");
        }
        assert!(losses("tsf", &setup, &data, 0).is_err());
    }
}
