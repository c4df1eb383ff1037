//! φ⁴ lattice field theory, 8×8 (`experiments.md` §4, Loop B): the flow of `flows.md` §7 trained
//! on exact-HMC data at κ0 ∈ {0.25, 0.29} (λ = 0.02) by NLL + Loop B grid TRADE (variant V1),
//! NLL, reverse KL, or NLL + reverse KL; evaluated on a κ grid over [0.22, 0.33] — ⟨|m|⟩, ⟨S⟩/V,
//! χ (both definitions), U_L with bootstrap errors and the relative ESS — against the project's
//! own HMC reference curve.

mod data;
mod eval;
mod losses;

use super::common::{Optim, Run, save_model, select_methods, train_in};
use super::{Profile, ReproduceArgs};
use anyhow::{Result, bail};
use data::HmcSizes;
use eval::KappaEval;
use losses::Symmetrised;
use ndarray::{Array2, Axis, concatenate};
use std::sync::Arc;
use std::time::Instant;
use trade_ad::{AdamConfig, Schedule};
use trade_core::loss::{GridLoopB, Nll, NoiseMode, ReverseKl, TradeGrid, TradeGridConfig};
use trade_core::{CausalityRule, LoopBWeighting, Loss, LossWeight, Residual, WeightedLosses};
use trade_flows::{FlowConfig, FlowModel, Phi4Arch};
use trade_targets::{Phi4, Target};

/// Methods, in table order.
const METHODS: &[&str] = &["trade-grid", "nll", "reverse-kl", "reverse-kl-nll"];
/// Boundary conditions with training data.
const KAPPA0: [f64; 2] = [0.25, 0.29];
/// TRADE / reverse-KL training range of κ (`targets.md` §5.2).
const TRAIN_RANGE: (f64, f64) = (0.22, 0.32);
/// Observable range (beyond 0.32 is extrapolation).
const EVAL_RANGE: (f64, f64) = (0.22, 0.33);

/// Sizes of one profile.
struct Setup {
    hmc: HmcSizes,
    arch: Phi4Arch,
    batch: usize,
    kl_batch: usize,
    epochs: usize,
    n_kappa: usize,
    n_eval: usize,
    n_boot: usize,
    runs: usize,
    /// Quick profile: one OneCycle with this max lr for every method (paper: the spec's table).
    quick_lr: Option<f64>,
    /// TRADE grid: log-spaced points on the training range (plus the two κ0), SNIS samples per
    /// point, steps between expectation refreshes, evaluation points per step, first TRADE epoch.
    grid_points: usize,
    n_snis: usize,
    refresh_every: usize,
    grid_batch: usize,
    trade_start_epoch: usize,
    /// The profile's epochs, when `--epochs` replaced them (the schedules' epoch blocks and the
    /// TRADE start keep their fractions of training).
    profile_epochs: Option<usize>,
}

impl Setup {
    fn of(profile: Profile) -> Self {
        match profile {
            Profile::Paper => Self {
                hmc: HmcSizes {
                    n_train: 100_000,
                    train_chains: 256,
                    // 2 τ_int(|m|): τ_int ≤ 9.6 trajectories at κ = 0.25 (trade-targets HMC test).
                    thin: 20,
                    reference: (256, 300, 3000),
                },
                arch: Phi4Arch::paper(),
                batch: 1024,
                kl_batch: 1024,
                epochs: 400,
                n_kappa: 200,
                n_eval: 10_000,
                n_boot: 250,
                runs: 3,
                quick_lr: None,
                grid_points: 148,
                n_snis: 1500,
                refresh_every: 2000,
                grid_batch: 2048,
                trade_start_epoch: 20,
                profile_epochs: None,
            },
            Profile::Quick => Self {
                hmc: HmcSizes {
                    n_train: 4096,
                    train_chains: 64,
                    thin: 20,
                    reference: (64, 200, 1000),
                },
                arch: Phi4Arch {
                    conv_blocks: 2,
                    fc_blocks: 2,
                    cnn_channels: vec![16, 16, 16],
                    fc_hidden: vec![64, 64],
                    ..Phi4Arch::paper()
                },
                batch: 128,
                kl_batch: 64,
                epochs: 4,
                n_kappa: 12,
                n_eval: 2000,
                n_boot: 250,
                runs: 1,
                quick_lr: Some(1e-3),
                grid_points: 30,
                n_snis: 256,
                refresh_every: 50,
                grid_batch: 128,
                trade_start_epoch: 1,
                profile_epochs: None,
            },
        }
    }

    /// `--epochs n`: trains n epochs instead of the profile's; every epoch count of the profile
    /// (TRADE start, the spec's schedule blocks) keeps its fraction of training.
    fn with_epochs(mut self, epochs: Option<usize>) -> Self {
        if let Some(n) = epochs {
            self.trade_start_epoch = self.scaled_epoch(self.trade_start_epoch, n);
            self.profile_epochs = Some(self.epochs);
            self.epochs = n;
        }
        self
    }

    /// Epoch `e` of the profile's `epochs`, moved to the same fraction of `n` epochs (≥ 1).
    fn scaled_epoch(&self, e: usize, n: usize) -> usize {
        ((e * n) as f64 / self.epochs as f64).round().max(1.0) as usize
    }

    /// Epoch `e` of the spec's 400-epoch protocol in this setup's epochs (≥ 1, < epochs).
    fn spec_epoch(&self, e: usize) -> usize {
        ((e * self.epochs) as f64 / 400.0)
            .round()
            .clamp(1.0, (self.epochs - 1).max(1) as f64) as usize
    }

    fn kappas(&self) -> Vec<f64> {
        let (lo, hi) = EVAL_RANGE;
        let k = self.n_kappa;
        (0..k)
            .map(|i| lo + (hi - lo) * i as f64 / (k - 1) as f64)
            .collect()
    }
}

/// (schedule, Adam, clip) of a method (`experiments.md` §4 table; quick: one OneCycle).
fn optimiser(method: &str, setup: &Setup, spe: usize) -> (Schedule, AdamConfig, f64) {
    let steps = setup.epochs * spe;
    let adam = |wd: f64| AdamConfig {
        weight_decay: wd,
        ..AdamConfig::default()
    };
    if let Some(lr) = setup.quick_lr {
        return (
            Schedule::OneCycle(trade_ad::OneCycle::new(lr, steps)),
            adam(0.0),
            10.0,
        );
    }
    match method {
        "reverse-kl" => (
            Schedule::OneCycle(trade_ad::OneCycle::new(5e-4, steps)),
            adam(2e-4),
            41.0,
        ),
        "reverse-kl-nll" => (
            Schedule::multi_cycle(
                1.33e-3,
                &[
                    setup.spec_epoch(73) * spe,
                    steps - setup.spec_epoch(73) * spe,
                ],
                &[0.5],
            ),
            adam(1.35e-4),
            16.0,
        ),
        _ => (
            Schedule::multi_cycle(
                7.66e-5,
                &[
                    setup.spec_epoch(20) * spe,
                    steps - setup.spec_epoch(20) * spe,
                ],
                &[3.0],
            ),
            adam(0.0),
            1000.0,
        ),
    }
}

/// The training data: both κ0 sets stacked, with their κ per row.
struct Data {
    x: Arc<Array2<f64>>,
    c: Arc<Array2<f64>>,
}

fn data(setup: &Setup, seed: u64) -> Result<Data> {
    let sets = KAPPA0
        .iter()
        .enumerate()
        .map(|(k, &kappa)| data::training_configs(&setup.hmc, kappa, seed + 42 + k as u64))
        .collect::<Result<Vec<_>>>()?;
    let x = concatenate(Axis(0), &[sets[0].view(), sets[1].view()])?;
    let c = Array2::from_shape_fn((x.nrows(), 1), |(i, _)| {
        KAPPA0[usize::from(i >= sets[0].nrows())]
    });
    Ok(Data {
        x: Arc::new(x),
        c: Arc::new(c),
    })
}

/// The losses of `method` with their weights, and the Loop B weighting of `trade-grid`
/// (`experiments.md` §4: boundary NLL + Loop B V1 grid TRADE on log points over [0.22, 0.32]
/// plus both κ0, causality weights with the in-between factor 0.376, ε 1.57e-6 decaying to
/// 0.228ε, α_EX 0.1, α_L 2.5e-5 (as α^n), Huber δ 6.87, evaluation noise σ 0.38, adaptive
/// weighting α 0.1 with fixed_relative_weighting 0.355 from the TRADE start epoch).
fn losses_for(
    method: &str,
    setup: &Setup,
    data: &Data,
    seed: u64,
) -> Result<(WeightedLosses, Option<LoopBWeighting>)> {
    let spe = data.x.nrows() / setup.batch;
    let target: Arc<dyn Target> = Arc::new(Phi4::default());
    let nll = || -> Result<Box<dyn Loss>> {
        let inner = Nll::new(data.x.clone(), data.c.clone(), setup.batch, 0.0, seed)?;
        Ok(Box::new(Symmetrised { inner, lattice: 8 }))
    };
    let kl = || -> Result<Box<dyn Loss>> {
        Ok(Box::new(ReverseKl::log_uniform(
            target.clone(),
            TRAIN_RANGE,
            setup.kl_batch,
        )?))
    };
    let one = LossWeight::constant(1.0, 1e9, 1e3);
    let weighting = (method == "trade-grid").then(|| LoopBWeighting {
        boundary: 0,
        term: 1,
        start_step: setup.trade_start_epoch * spe,
        full_step: setup.epochs * spe,
        end_value: 1.0,
        adaptive: true,
        alpha: 0.1,
        fixed_relative: 0.355,
        every: 25,
    });
    let losses = match method {
        "nll" => vec![(nll()?, one)],
        "reverse-kl" => vec![(kl()?, one)],
        // Spec: KL on from epoch 73 of 400 with Loop B adaptive weighting; here the KL weight
        // ramps from 0 at 18 % of training to 1 at the end (project simplification).
        "reverse-kl-nll" => vec![
            (nll()?, one),
            (
                kl()?,
                LossWeight {
                    pct_start: 73.0 / 400.0,
                    start_value: 0.0,
                    ..one
                },
            ),
        ],
        "trade-grid" => {
            let config = TradeGridConfig {
                c_min: TRAIN_RANGE.0,
                c_max: TRAIN_RANGE.1,
                n_points: setup.grid_points,
                c0: KAPPA0[0],
                n_snis: setup.n_snis,
                refresh_every: setup.refresh_every,
                alpha_ex: 0.1,
                logits_every: 50,
                epsilon: 1.57e-6,
                alpha_l: 2.5e-5,
                batch: setup.grid_batch,
                causality: true,
            };
            let loop_b = GridLoopB {
                rule: CausalityRule::LoopBV1,
                bases: KAPPA0.to_vec(),
                epsilon_decay: 0.228,
                trade_start: setup.trade_start_epoch * spe,
                inbetween_factor: 0.376,
            };
            let grid = TradeGrid::loop_b(
                config,
                loop_b,
                target.clone(),
                None,
                Residual::Huber { delta: 6.87 },
                NoiseMode::Gaussian(0.38),
            )?;
            vec![(nll()?, one), (Box::new(grid), one)]
        }
        other => bail!("method {other:?} is not a phi4 method"),
    };
    Ok((losses, weighting))
}

/// One trained run: its evaluation on the κ grid and its training time.
pub struct RunResult {
    /// Per-κ evaluation.
    pub evals: Vec<KappaEval>,
    /// Training wall time (s).
    pub seconds: f64,
}

fn train_one(
    method: &str,
    setup: &Setup,
    data: &Data,
    args: &ReproduceArgs,
    run: usize,
) -> Result<RunResult> {
    let seed = args.seed + run as u64;
    let mut config = FlowConfig::phi4(&setup.arch);
    config.seed = seed;
    let mut model = FlowModel::new(config)?;
    if method != "reverse-kl" {
        // ActNorm data init on the first NLL-sized batch of κ0 data (flows.md §3).
        let n = setup.batch.min(data.x.nrows());
        let step = data.x.nrows() / n;
        let rows: Vec<usize> = (0..n).map(|i| i * step).collect();
        let (x, c) = (data.x.select(Axis(0), &rows), data.c.select(Axis(0), &rows));
        model
            .flow
            .data_init(&mut model.params, &x, Some(&c), None)?;
    }
    let spe = data.x.nrows() / setup.batch;
    let spec = Run {
        experiment: "phi4",
        method,
        run,
        seed,
        steps: setup.epochs * spe,
        lr: setup.quick_lr.unwrap_or(f64::NAN),
        batch: setup.batch,
    };
    let (losses, loop_b) = losses_for(method, setup, data, seed)?;
    let (schedule, adam, grad_clip) = optimiser(method, setup, spe);
    let optim = Optim {
        schedule,
        grad_clip,
        adam,
        loop_b,
        chunk_rows: super::common::chunk_rows_for(setup.batch),
    };
    let label = format!("phi4 {method} #{run}");
    let seconds = train_in(
        args,
        (&label, &spec.dir(args)),
        (seed, spec.steps, optim),
        &model.flow,
        &mut model.params,
        losses,
    )?;
    save_model(args, &spec, &model)?;
    let evals = eval::on_grid(&model, &setup.kappas(), setup.n_eval, setup.n_boot, seed)?;
    Ok(RunResult { evals, seconds })
}

/// Runs the experiment; returns the summary line.
pub fn run(args: &ReproduceArgs) -> Result<String> {
    let methods = select_methods(args, "phi4", METHODS, METHODS)?;
    let mut setup = Setup::of(args.profile).with_epochs(args.epochs);
    setup.runs = args.runs(setup.runs)?;
    let started = Instant::now();
    let data = data(&setup, args.seed)?;
    let reference = data::reference_curve(&setup.hmc, &setup.kappas(), args.seed)?;
    let data_seconds = started.elapsed().as_secs_f64();
    let mut results: Vec<(String, Vec<RunResult>)> = Vec::new();
    for m in &methods {
        let runs = (0..setup.runs)
            .map(|r| train_one(m, &setup, &data, args, r))
            .collect::<Result<Vec<_>>>()?;
        results.push((m.clone(), runs));
    }
    let dir = args.out.join("phi4");
    let summary = eval::write(
        &dir,
        &eval::ReportInput {
            profile: args.profile,
            setup_line: setup_line(&setup, data.x.nrows()),
            reference: &reference,
            results: &results,
            data_seconds,
            wall_seconds: started.elapsed().as_secs_f64(),
        },
    )?;
    Ok(format!("phi4: {summary}"))
}

fn setup_line(s: &Setup, n_train: usize) -> String {
    let a = &s.arch;
    format!(
        "Flow (flows.md §7): global scaling → space-to-depth → {} conv RQ blocks (CNN {:?}, K = {}) → \
         {} FC RQ blocks (MLP {:?}); e(κ) MLP {:?}{}. Training: {} HMC configurations ({} per κ0 ∈ \
         {{0.25, 0.29}}, thinned every {} trajectories), NLL batch {} with one random lattice \
         symmetry per batch, KL batch {} (κ log-uniform on [0.22, 0.32]), {} epochs, {} run(s) per \
         method{}{}. Evaluation: {} κ values on [0.22, 0.33], {} model samples per κ, {} bootstrap \
         resamples; MCMC reference: HMC with {} chains × {} trajectories per κ ({} thermalisation), \
         jackknife errors.",
        a.conv_blocks,
        a.cnn_channels,
        a.bins,
        a.fc_blocks,
        a.fc_hidden,
        a.embedding_hidden,
        a.embedding_range.map_or(String::new(), |(lo, hi)| format!(
            " on log κ standardised to [−1, 1] over [{lo}, {hi}] (project choice: with the \
             spec's raw log κ the NLL-trained flows barely tell κ0 = 0.25 from 0.29)"
        )),
        n_train,
        n_train / 2,
        s.hmc.thin,
        s.batch,
        s.kl_batch,
        s.epochs,
        s.runs,
        s.quick_lr.map_or(String::new(), |lr| format!(
            " (quick: one OneCycle, max lr {lr}, clip 10, no weight decay)"
        )),
        s.profile_epochs.map_or(String::new(), |e| format!(
            "; **--epochs {} instead of the profile's {e}** (TRADE from epoch {})",
            s.epochs, s.trade_start_epoch
        )),
        s.n_kappa,
        s.n_eval,
        s.n_boot,
        s.hmc.reference.0,
        s.hmc.reference.2,
        s.hmc.reference.1,
    )
}
