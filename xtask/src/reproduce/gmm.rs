//! 2D Gaussian mixture (`experiments.md` §3, Appendix C, Loop B): train at β = 1 on exact
//! draws, select the checkpoint with the best mean validation NLL over the 15 evaluation
//! temperatures, and report the KLD (`method.md` §13.3) at the nine table temperatures against
//! the exact log Z of `trade_targets::gmm::reference`.

mod report;

use super::common::{Progress, Run, pm, save_model, select_methods, write_report};
use super::{Profile, ReproduceArgs};
use anyhow::{Result, bail};
use ndarray::{Array2, s};
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use rayon::prelude::*;
use std::sync::Arc;
use std::time::Instant;
use trade_ad::{Activation, AdamConfig, OneCycle, ParamStore, Schedule};
use trade_core::loss::{
    GridLoopB, Nll, NoiseMode, ReverseKl, Reweighting, TradeGrid, TradeGridConfig, TradeWindow,
    TradeWindowConfig,
};
use trade_core::{
    CausalityRule, ConditionPrior, LoopBWeighting, Loss, LossWeight, Residual, TrainConfig,
    Trainer, WeightedObjective, metrics,
};
use trade_flows::{
    BaseConfig, ConditionConfig, ConditionInput, ConditionerConfig, FlowConfig, FlowModel,
    LayerConfig, PermutationKind, Scaling,
};
use trade_targets::{Gmm, GmmSampler, ReferenceSampler, Target, gmm};

/// Methods in table order (`experiments.md` §3 rows).
const METHODS: &[&str] = &[
    "nll",
    "trade-grid",
    "trade-continuous",
    "reverse-kl",
    "reverse-kl-nll",
    "reweighting",
    "tsf",
];

/// Row labels of the paper's table.
fn label(method: &str) -> &'static str {
    match method {
        "nll" => "NLL + lat. TS",
        "trade-grid" => "TRADE (grid)",
        "trade-continuous" => "TRADE (no grid)",
        "reverse-kl" => "Reverse KLD",
        "reverse-kl-nll" => "NLL + Reverse KLD",
        "reweighting" => "Reweighting",
        _ => "Volume Preserving",
    }
}

/// `T_k = 0.1 · 100^{k/19}` (`targets.md` §3).
fn temperature(k: usize) -> f64 {
    0.1 * 100f64.powf(k as f64 / 19.0)
}

/// Training and TRADE range in β (= the range in T): [T_2, T_17].
fn beta_range() -> (f64, f64) {
    (temperature(2), temperature(17))
}

/// The nine table temperatures, in three sub-tables of three.
fn table_temperatures() -> [f64; 9] {
    [
        temperature(3),
        temperature(5),
        temperature(7),
        temperature(9),
        1.0,
        temperature(10),
        temperature(12),
        temperature(14),
        temperature(16),
    ]
}

/// The 15 validation temperatures: T_3 … T_16 and T = 1.
fn validation_temperatures() -> Vec<f64> {
    let mut t: Vec<f64> = (3..=16).map(temperature).collect();
    t.push(1.0);
    t
}

/// log Z_T and entropy of the spec's anchor table (`experiments.md` §3), for the table's T.
const SPEC_ANCHORS: [(f64, f64); 9] = [
    (-7.5026, 0.1608),
    (-4.4015, 0.9597),
    (-2.1362, 1.9571),
    (-0.3759, 2.8250),
    (0.0, 3.0044),
    (0.3527, 3.1710),
    (1.5585, 3.7456),
    (2.5016, 4.2327),
    (3.2595, 4.6746),
];

/// Sizes of one profile.
struct Setup {
    n_data: usize,
    n_val: usize,
    n_reference: usize,
    n_plot: usize,
    /// Validate on the nine table temperatures only (quick) instead of all 15.
    validate_on_table: bool,
    epochs: usize,
    val_every: usize,
    batch: usize,
    lr: f64,
    tsf_lr: f64,
    hidden: Vec<usize>,
    tsf_blocks: usize,
    grid_points: usize,
    grid_batch: usize,
    n_snis: usize,
    refresh_every: usize,
    window_conditions: usize,
    window_eval: usize,
    window_expect: usize,
    kl_batch: usize,
    /// Fraction of training before the TRADE / KL term of an NLL run switches on (paper: 0).
    term_start: f64,
    /// Global gradient-norm clip (paper: 2.0; quick: 1.0, the calmest of the settings measured
    /// over three seeds in docs/reproduce.md).
    grad_clip: f64,
    /// Seeds per method: `args.seed`, `args.seed + 1`, ….
    runs: usize,
}

impl Setup {
    fn of(profile: Profile) -> Self {
        match profile {
            Profile::Paper => Self {
                n_data: 100_000,
                n_val: 10_000,
                n_reference: 80_000,
                n_plot: 2000,
                validate_on_table: false,
                epochs: 600,
                val_every: 5,
                batch: 256,
                lr: 1e-4,
                tsf_lr: 1e-4,
                hidden: vec![32; 4],
                tsf_blocks: 20,
                grid_points: 249,
                grid_batch: 512,
                n_snis: 1000,
                refresh_every: 1000,
                window_conditions: 5,
                window_eval: 105,
                window_expect: 500,
                kl_batch: 512,
                term_start: 0.0,
                grad_clip: 2.0,
                runs: 1,
            },
            Profile::Quick => Self {
                n_data: 6_144,
                n_val: 500,
                n_reference: 5_000,
                n_plot: 1000,
                validate_on_table: true,
                epochs: 12,
                val_every: 2,
                batch: 256,
                lr: 3e-3,
                tsf_lr: 5e-3,
                hidden: vec![32; 4],
                tsf_blocks: 8,
                grid_points: 49,
                grid_batch: 256,
                n_snis: 300,
                refresh_every: 25,
                window_conditions: 5,
                window_eval: 50,
                window_expect: 200,
                kl_batch: 256,
                term_start: 0.5,
                grad_clip: 1.0,
                runs: 3,
            },
        }
    }

    fn steps(&self) -> usize {
        self.epochs * (self.n_data / self.batch)
    }
}

/// The Loop B GMM flow (`flows.md` §8): `4 × [ActNorm → RQ coupling (1|1), K = 10, MLP 4 × 32
/// SiLU, Xavier, last zero → random permutation]` over N(0, β⁻¹ I); log β into the conditioners,
/// or no β-input at all for "NLL + lat. TS".
fn rq_flow(conditional: bool, hidden: &[usize], seed: u64) -> FlowConfig {
    FlowConfig {
        dim: 2,
        augmentation_dims: 0,
        condition: ConditionConfig {
            input: if conditional {
                ConditionInput::LogC
            } else {
                ConditionInput::None
            },
            y_dim: 0,
        },
        layers: vec![LayerConfig::Repeat {
            count: 4,
            layers: vec![
                LayerConfig::ActNorm,
                LayerConfig::RqCoupling {
                    conditioner: FlowConfig::loop_b_conditioner(hidden),
                    bins: 10,
                    bound: 3.0,
                    min_bin: 0.1,
                },
                LayerConfig::Permutation {
                    kind: PermutationKind::Random,
                },
            ],
        }],
        base: BaseConfig::Gaussian {
            scaling: Scaling::Precision,
        },
        seed,
    }
}

/// The volume-preserving flow (`flows.md` §6, §10): `blocks × [GIN coupling (MLP hidden 32,
/// ReLU) → ActNorm (global affine) → fixed random orthogonal mixing]` over N(0, β⁻¹ I), no
/// β-input. In 2D the GIN scale is exactly zero (one dimension per half), so each coupling is
/// additive.
fn vp_flow(blocks: usize, seed: u64) -> FlowConfig {
    FlowConfig {
        dim: 2,
        augmentation_dims: 0,
        condition: ConditionConfig::default(),
        layers: vec![LayerConfig::Repeat {
            count: blocks,
            layers: vec![
                LayerConfig::GinCoupling {
                    conditioner: ConditionerConfig::Mlp {
                        hidden: vec![32],
                        activation: Activation::Relu,
                        init: trade_flows::InitScheme::Xavier,
                        zero_last: true,
                    },
                    clamp: 0.3,
                },
                LayerConfig::ActNorm,
                LayerConfig::Orthogonal,
            ],
        }],
        base: BaseConfig::Gaussian {
            scaling: Scaling::Precision,
        },
        seed,
    }
}

/// Training data at β = 1 and validation/reference sets per temperature.
struct Data {
    train: Arc<Array2<f64>>,
    ones: Arc<Array2<f64>>,
    /// (T, exact samples) at the validation temperatures.
    val: Vec<(f64, Array2<f64>)>,
    /// (T, exact samples, log Z_T, entropy) at the nine table temperatures.
    reference: Vec<(f64, Array2<f64>, f64, f64)>,
    /// Exact samples at the plot temperatures (table columns [`PLOT_COLUMNS`]).
    plot: Vec<Array2<f64>>,
    /// Wall seconds of the data phase's parts (samplers, quadrature, draws), for the report.
    phases: Vec<(&'static str, f64)>,
}

impl Data {
    /// "part 1.2 s, …" for the report and the terminal.
    fn phase_times(&self) -> String {
        let parts: Vec<String> = self
            .phases
            .iter()
            .map(|(name, s)| format!("{name} {s:.1} s"))
            .collect();
        parts.join(", ")
    }
}

/// Table columns whose temperatures get sample plots (T = 0.33598, 1, 2.97635).
const PLOT_COLUMNS: [usize; 3] = [1, 4, 7];

fn draw(sampler: &GmmSampler, n: usize, seed: u64) -> Array2<f64> {
    sampler.sample(n, &mut Xoshiro256PlusPlus::seed_from_u64(seed))
}

/// Runs `f` and returns its value with its wall seconds.
fn timed<T>(f: impl FnOnce() -> T) -> (T, f64) {
    let started = Instant::now();
    let value = f();
    (value, started.elapsed().as_secs_f64())
}

/// Exact samplers are built once per temperature (the β > 1 ones hold a fine cell table), side
/// by side with the quadrature references of the nine table temperatures (one pass over the
/// grid). Every draw has its own seed, so drawing all sets in parallel gives the same numbers as
/// drawing them one after the other.
fn data(setup: &Setup) -> Result<Data> {
    let started = Instant::now();
    let table = table_temperatures();
    let val_t = if setup.validate_on_table {
        table.to_vec()
    } else {
        validation_temperatures()
    };
    let betas: Vec<f64> = table.iter().map(|t| 1.0 / t).collect();
    let ((samplers, t_samplers), (exact, t_quadrature)) = rayon::join(
        || {
            timed(|| {
                val_t
                    .par_iter()
                    .map(|t| GmmSampler::new(1.0 / t))
                    .collect::<Result<Vec<_>, _>>()
            })
        },
        || timed(|| gmm::references(&betas)),
    );
    let (samplers, exact) = (samplers?, exact?);
    let tables_done = started.elapsed().as_secs_f64();
    let sampler_at = |t: f64| {
        let k = val_t
            .iter()
            .position(|&v| (v - t).abs() < 1e-12)
            .expect("table temperatures are validation temperatures");
        &samplers[k]
    };
    let unit = GmmSampler::new(1.0)?;
    // (sampler, draws, seed): training data, validation sets, reference sets, plot sets.
    let mut jobs: Vec<(&GmmSampler, usize, u64)> = vec![(&unit, setup.n_data, 42)];
    jobs.extend((0..val_t.len()).map(|k| (&samplers[k], setup.n_val, 100 + k as u64)));
    jobs.extend(
        (0..table.len()).map(|k| (sampler_at(table[k]), setup.n_reference, 200 + k as u64)),
    );
    jobs.extend(
        PLOT_COLUMNS
            .iter()
            .map(|&c| (sampler_at(table[c]), setup.n_plot, 300 + c as u64)),
    );
    let mut drawn = jobs
        .par_iter()
        .map(|&(s, n, seed)| draw(s, n, seed))
        .collect::<Vec<_>>()
        .into_iter();
    let mut next = || drawn.next().expect("one set per job");
    let train = next();
    let val = val_t.iter().map(|&t| (t, next())).collect();
    let reference = table
        .iter()
        .zip(&exact)
        .map(|(&t, r)| (t, next(), r.log_z, r.entropy))
        .collect();
    let plot = PLOT_COLUMNS.iter().map(|_| next()).collect();
    let phases = vec![
        ("exact samplers (cell tables)", t_samplers),
        ("quadrature references", t_quadrature),
        ("draws", started.elapsed().as_secs_f64() - tables_done),
    ];
    Ok(Data {
        ones: Arc::new(Array2::ones((train.nrows(), 1))),
        train: Arc::new(train),
        val,
        reference,
        plot,
        phases,
    })
}

/// Loop B adaptive weighting of loss 1 against the NLL (loss 0), on from `start_step`
/// (`experiments.md` §3: α 0.015, fixed_relative_weighting 1.0, on from epoch 0).
fn annealed(start_step: usize, steps: usize) -> LoopBWeighting {
    LoopBWeighting {
        boundary: 0,
        term: 1,
        start_step,
        full_step: steps,
        end_value: 1.0,
        adaptive: true,
        alpha: 0.015,
        fixed_relative: 1.0,
        every: 25,
    }
}

type Losses = Vec<(Box<dyn Loss>, LossWeight)>;

/// The losses of a method and its Loop B weighting, if any.
fn losses(
    method: &str,
    setup: &Setup,
    data: &Data,
    seed: u64,
) -> Result<(Losses, Option<LoopBWeighting>)> {
    let target: Arc<dyn Target> = Arc::new(Gmm::new());
    let (b_min, b_max) = beta_range();
    let prior = ConditionPrior::log_uniform(b_min, b_max)?;
    let one = LossWeight::constant(1.0, 1e9, 1e3);
    let nll = || -> Result<(Box<dyn Loss>, LossWeight)> {
        let l = Nll::new(
            data.train.clone(),
            data.ones.clone(),
            setup.batch,
            0.0,
            seed,
        )?;
        Ok((Box::new(l), one))
    };
    let steps = setup.steps();
    let start = (setup.term_start * steps as f64) as usize;
    let huber = Residual::Huber { delta: 0.1 };
    Ok(match method {
        "nll" | "tsf" => (vec![nll()?], None),
        "trade-grid" => {
            let config = TradeGridConfig {
                c_min: b_min,
                c_max: b_max,
                n_points: setup.grid_points,
                c0: 1.0,
                n_snis: setup.n_snis,
                refresh_every: setup.refresh_every,
                alpha_ex: 0.75,
                logits_every: 50,
                epsilon: 1.0,
                alpha_l: 0.9,
                batch: setup.grid_batch,
                causality: true,
            };
            let loop_b = GridLoopB {
                rule: CausalityRule::LoopBV2,
                bases: vec![1.0],
                epsilon_decay: 0.8,
                trade_start: start,
                inbetween_factor: 1.0,
            };
            let grid = TradeGrid::loop_b(config, loop_b, target, None, huber, NoiseMode::Raw)?;
            (
                vec![nll()?, (Box::new(grid), one)],
                Some(annealed(start, steps)),
            )
        }
        "trade-continuous" => {
            let config = TradeWindowConfig {
                c_min: b_min,
                c_max: b_max,
                c0: 1.0,
                n_conditions: setup.window_conditions,
                n_expect: setup.window_expect,
                n_eval: setup.window_eval,
                burn_steps: 0,
                full_steps: steps,
            };
            let window = TradeWindow::new(config, target, huber)?;
            (
                vec![nll()?, (Box::new(window), one)],
                Some(annealed(start, steps)),
            )
        }
        "reverse-kl" => {
            let kl = ReverseKl::new(target, prior, true, setup.kl_batch)?;
            (vec![(Box::new(kl), one)], None)
        }
        "reverse-kl-nll" => {
            let kl = ReverseKl::new(target, prior, true, setup.kl_batch)?;
            (
                vec![nll()?, (Box::new(kl), one)],
                Some(annealed(start, steps)),
            )
        }
        "reweighting" => {
            let rw = Reweighting::true_power(data.train.clone(), target, prior, setup.batch)?;
            (vec![(Box::new(rw), one)], None)
        }
        other => bail!("method {other:?} is not a gmm method"),
    })
}

/// Mean NLL over the validation temperatures (the checkpoint-selection score, `method.md` §14
/// #10).
fn validation_nll(flow: &trade_flows::Flow, params: &ParamStore, data: &Data) -> Result<f64> {
    let nll: Vec<f64> = data
        .val
        .par_iter()
        .map(|(t, x)| {
            let c = Array2::from_elem((x.nrows(), 1), 1.0 / t);
            let lq = trade_core::loss::log_prob(flow, params, x.view(), c.view())?;
            Ok(metrics::nll(lq.as_slice().expect("contiguous")))
        })
        .collect::<Result<_>>()?;
    Ok(nll.iter().sum::<f64>() / nll.len() as f64)
}

/// A trained model with its selection record.
struct Trained {
    model: FlowModel,
    best_epoch: usize,
    best_val: f64,
    seconds: f64,
    /// Set when training stopped early on non-finite steps (the best checkpoint before is kept).
    diverged: Option<String>,
}

/// Trains one method with seed `args.seed + run` (Adam, OneCycle, `grad_clip`), validating every
/// `val_every` epochs and keeping the parameters with the best mean validation NLL. A run that
/// diverges keeps its best checkpoint so far and says so in the report. Run 0 is saved in the
/// method directory, run k in its `run-<k>`.
fn train_method(
    method: &str,
    setup: &Setup,
    data: &Data,
    args: &ReproduceArgs,
    run: usize,
) -> Result<Trained> {
    let seed = args.seed + run as u64;
    let config = match method {
        "tsf" => vp_flow(setup.tsf_blocks, seed),
        "nll" => rq_flow(false, &setup.hidden, seed),
        _ => rq_flow(true, &setup.hidden, seed),
    };
    let mut model = FlowModel::new(config)?;
    // ActNorm data initialisation on the first NLL batch at β = 1 (flows.md §3), for every method.
    let first = data.train.slice(s![..setup.batch, ..]).to_owned();
    let first_c = Array2::ones((setup.batch, 1));
    model
        .flow
        .data_init(&mut model.params, &first, Some(&first_c), None)?;
    let steps = setup.steps();
    let spec = Run {
        experiment: "gmm",
        method,
        run,
        seed,
        steps,
        lr: if method == "tsf" {
            setup.tsf_lr
        } else {
            setup.lr
        },
        batch: setup.batch,
    };
    let (losses, weighting) = losses(method, setup, data, seed)?;
    let train = TrainConfig {
        steps,
        adam: AdamConfig::default(),
        schedule: Schedule::OneCycle(OneCycle::new(spec.lr, steps)),
        grad_clip: setup.grad_clip,
        seed,
        chunk_rows: super::common::chunk_rows_for(setup.batch),
        max_consecutive_nonfinite: 20,
        checkpoint_every: 200,
        matmul_precision: args.matmul_precision(),
    };
    let ckpt = spec.dir(args).join("train-state.json");
    if !args.resume && ckpt.exists() {
        std::fs::remove_file(&ckpt)?;
    }
    let started = Instant::now();
    let mut objective = WeightedObjective::new(&model.flow, losses)?;
    if let Some(w) = weighting {
        objective = objective.with_loop_b(w)?;
    }
    let mut trainer = Trainer::new(train, Some(ckpt))?;
    if args.resume {
        trainer.resume(&mut model.params, &mut objective)?;
    }
    let mut bar = Progress::new(&format!("gmm {method} #{run}"), steps);
    let per_epoch = setup.n_data / setup.batch;
    let mut best: Option<(f64, usize, ParamStore)> = None;
    let mut diverged = None;
    while trainer.step() < steps {
        let until =
            ((trainer.step() / per_epoch / setup.val_every + 1) * setup.val_every * per_epoch)
                .min(steps);
        match trainer.run(&mut model.params, &mut objective, &mut bar, Some(until)) {
            Ok(_) => {}
            Err(trade_core::CoreError::Diverged { step, what, .. }) => {
                diverged = Some(format!("diverged at step {step} ({what})"));
                break;
            }
            Err(e) => return Err(e.into()),
        }
        let val = validation_nll(&model.flow, &model.params, data)?;
        if val.is_finite() && best.as_ref().is_none_or(|(b, _, _)| val < *b) {
            best = Some((val, trainer.step() / per_epoch, model.params.clone()));
        }
    }
    drop(bar);
    drop(objective);
    let seconds = started.elapsed().as_secs_f64();
    let (best_val, best_epoch) = match best {
        Some((v, e, params)) => {
            model.params = params;
            (v, e)
        }
        None => (f64::NAN, setup.epochs),
    };
    save_model(args, &spec, &model)?;
    Ok(Trained {
        model,
        best_epoch,
        best_val,
        seconds,
        diverged,
    })
}

/// KLD per table temperature: (mean, bootstrap std over 20 resamples of the mean), and the NLL.
fn kld(model: &FlowModel, data: &Data, seed: u64) -> Result<Vec<(f64, f64, f64)>> {
    let g = Gmm::new();
    data.reference
        .par_iter()
        .enumerate()
        .map(|(k, (t, x, log_z, _))| {
            let beta = 1.0 / t;
            let c = Array2::from_elem((x.nrows(), 1), beta);
            let lq = trade_core::loss::log_prob(&model.flow, &model.params, x.view(), c.view())?;
            let diff: Vec<f64> = x
                .rows()
                .into_iter()
                .zip(&lq)
                .map(|(r, q)| beta * g.log_g([r[0], r[1]]) - log_z - q)
                .collect();
            let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed + k as u64);
            let std = metrics::bootstrap_std(&diff, 20, &mut rng, mean);
            Ok((
                mean(&diff),
                std,
                metrics::nll(lq.as_slice().expect("contiguous")),
            ))
        })
        .collect()
}

/// Model samples at the plot temperatures.
fn plot_samples(model: &FlowModel, n: usize, seed: u64) -> Result<Vec<Array2<f64>>> {
    PLOT_COLUMNS
        .par_iter()
        .enumerate()
        .map(|(k, &col)| {
            let t = table_temperatures()[col];
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed + k as u64);
            Ok(trade_core::loss::sample(&model.flow, &model.params, n, 1.0 / t, &mut rng)?.0)
        })
        .collect()
}

/// One seed of one method.
struct RunResult {
    /// (KLD, bootstrap std, NLL) per table temperature.
    kld: Vec<(f64, f64, f64)>,
    best_epoch: usize,
    best_val: f64,
    seconds: f64,
    diverged: Option<String>,
}

/// Every seed of one method; plot samples come from its first run.
struct MethodResult {
    method: String,
    runs: Vec<RunResult>,
    samples: Vec<Array2<f64>>,
}

impl MethodResult {
    /// KLD of every run at table column `col`.
    fn kld_at(&self, col: usize) -> Vec<f64> {
        self.runs.iter().map(|r| r.kld[col].0).collect()
    }
}

/// Trains and evaluates every seed of one method.
fn run_method(
    method: &str,
    setup: &Setup,
    data: &Data,
    args: &ReproduceArgs,
) -> Result<MethodResult> {
    let mut runs = Vec::new();
    let mut samples = Vec::new();
    for run in 0..setup.runs {
        let seed = args.seed + run as u64;
        let trained = train_method(method, setup, data, args, run)?;
        if run == 0 {
            samples = plot_samples(&trained.model, setup.n_plot, seed + 700)?;
        }
        runs.push(RunResult {
            kld: kld(&trained.model, data, seed + 500)?,
            best_epoch: trained.best_epoch,
            best_val: trained.best_val,
            seconds: trained.seconds,
            diverged: trained.diverged,
        });
    }
    Ok(MethodResult {
        method: method.to_string(),
        runs,
        samples,
    })
}

/// Runs the experiment; returns the summary line.
pub fn run(args: &ReproduceArgs) -> Result<String> {
    let methods = select_methods(args, "gmm", METHODS, METHODS)?;
    let mut setup = Setup::of(args.profile);
    setup.runs = args.runs(setup.runs)?;
    let started = Instant::now();
    let data = data(&setup)?;
    let data_seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "gmm: data phase {data_seconds:.1} s ({})",
        data.phase_times()
    );
    let results = methods
        .iter()
        .map(|m| run_method(m, &setup, &data, args))
        .collect::<Result<Vec<_>>>()?;
    let dir = args.out.join("gmm");
    let rows = report::metric_rows(&results, &data);
    report::write_plots(&dir, &results, &data)?;
    let wall = (data_seconds, started.elapsed().as_secs_f64());
    let md = report::markdown(args, &setup, &results, &data, wall);
    write_report(&dir, &rows, &md)?;
    let summary: Vec<String> = results
        .iter()
        .map(|r| {
            let at = |c: usize| pm(&r.kld_at(c), 3);
            format!(
                "{}: KLD(T=0.207 / 1 / 4.83) {} / {} / {}",
                r.method,
                at(0),
                at(4),
                at(8)
            )
        })
        .collect();
    Ok(format!(
        "gmm ({} seed(s)): {}",
        setup.runs,
        summary.join("; ")
    ))
}
