//! Shared pieces of the experiments: a progress-bar `Observer`, training a flow with a
//! `WeightedObjective`, evaluation (NLL, ESS) and report writing.

use anyhow::Result;
use indicatif::{ProgressBar, ProgressStyle};
use ndarray::{Array1, Array2};
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use serde::Serialize;
use std::path::Path;
use trade_core::{Event, Observer, effective_sample_size, metrics};
use trade_flows::FlowModel;
use trade_targets::Target;

/// A progress bar with ETA on a terminal; skipped steps are printed above it. When stderr is
/// not a terminal (a log file, `nohup`), indicatif draws nothing, so a plain line goes to stderr
/// every 5 % of the steps instead, and skipped steps are printed there too.
pub struct Progress {
    bar: ProgressBar,
    /// Plain-line mode (stderr is not a terminal).
    plain: Option<PlainProgress>,
}

/// State of the plain-line progress: label, total steps, when and at which step this process
/// started (a resumed run starts late), and the last 5 % bucket printed.
struct PlainProgress {
    label: String,
    total: usize,
    start: std::time::Instant,
    first_step: Option<usize>,
    last_bucket: usize,
}

impl Progress {
    /// A bar for `total` steps labelled `label`.
    pub fn new(label: &str, total: usize) -> Self {
        use std::io::IsTerminal;
        let bar = ProgressBar::new(total as u64);
        bar.set_style(
            ProgressStyle::with_template("{prefix:>28} [{bar:30}] {pos}/{len} ETA {eta} {msg}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar.set_prefix(label.to_string());
        let plain = (!std::io::stderr().is_terminal()).then(|| PlainProgress {
            label: label.to_string(),
            total,
            start: std::time::Instant::now(),
            first_step: None,
            last_bucket: 0,
        });
        Self { bar, plain }
    }

    fn say(&self, line: String) {
        if self.plain.is_some() {
            eprintln!("{line}");
        } else {
            self.bar.println(line);
        }
    }
}

impl Observer for Progress {
    fn on_event(&mut self, e: &Event<'_>) {
        match e {
            Event::Step { step, loss, .. } => {
                self.bar.set_position(*step as u64 + 1);
                if step % 10 == 0 {
                    self.bar.set_message(format!("loss {loss:.4}"));
                }
                if let Some(p) = &mut self.plain {
                    let first = *p.first_step.get_or_insert(*step);
                    let bucket = (step + 1) * 20 / p.total.max(1);
                    if bucket > p.last_bucket {
                        p.last_bucket = bucket;
                        let elapsed = p.start.elapsed().as_secs_f64();
                        let done = (step + 1 - first) as f64;
                        let eta = elapsed / done * p.total.saturating_sub(step + 1) as f64;
                        eprintln!(
                            "{}: step {}/{}, loss {loss:.4}, {elapsed:.0} s, ETA {eta:.0} s",
                            p.label,
                            step + 1,
                            p.total
                        );
                    }
                }
            }
            Event::Skipped {
                step,
                consecutive,
                what,
            } => {
                self.say(format!(
                    "  step {step}: skipped ({what}); {consecutive} in a row"
                ));
            }
            Event::Checkpoint { .. } => {}
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}

/// `target/cache/` of the workspace (independent of the working directory): seeded data that
/// is expensive to generate (HMC configurations, MD frames), under versioned file names.
pub fn cache_dir() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/cache")
}

/// Draws of the augmentation per row in the marginal estimate of an augmented flow's NLL.
pub const AUGMENTATION_REPEATS: usize = 32;

/// NLL of the model at c on exact samples (nats/sample). For a flow with augmentation
/// dimensions the marginal log q(x|c) is the importance estimate with
/// [`AUGMENTATION_REPEATS`] draws (slightly pessimistic: Jensen's gap).
pub fn nll_at(model: &FlowModel, x: &Array2<f64>, c: f64) -> Result<f64> {
    let lq = log_q_at(model, x, c)?;
    Ok(metrics::nll(lq.as_slice().expect("contiguous")))
}

/// NLL and KL(p ‖ q) at c from exact samples `x` of p, from one evaluation of log q: the NLL
/// (as [`nll_at`]) and the mean of log p(x) − log q(x|c) with its standard error, where
/// log p = −U(x; c) − log Z(c) with the exact `log_z`. Entropy + KL estimates the NLL with far
/// less variance than the plain mean of −log q (the log p term is a control variate whose mean
/// is known exactly), so it can tell a 0.003-nat gap from sampling noise.
pub fn nll_and_kl_at(
    model: &FlowModel,
    target: &dyn Target,
    x: &Array2<f64>,
    c: f64,
    log_z: f64,
) -> Result<(f64, (f64, f64))> {
    let lq = log_q_at(model, x, c)?;
    let u = target.energy(x.view(), Array1::from_elem(x.nrows(), c).view());
    let d: Vec<f64> = u.iter().zip(&lq).map(|(u, l)| -u - log_z - l).collect();
    let n = d.len() as f64;
    let mean = d.iter().sum::<f64>() / n;
    let var = d.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (n - 1.0).max(1.0);
    let nll = metrics::nll(lq.as_slice().expect("contiguous"));
    Ok((nll, (mean, (var / n).sqrt())))
}

/// log q(x|c) per row: exact, or the marginal importance estimate for augmented flows.
fn log_q_at(model: &FlowModel, x: &Array2<f64>, c: f64) -> Result<Array1<f64>> {
    Ok(if model.flow.augmentation_dims() > 0 {
        trade_core::loss::marginal_log_prob(
            &model.flow,
            &model.params,
            x.view(),
            c,
            AUGMENTATION_REPEATS,
            0x5eed,
        )?
    } else {
        let cc = Array2::from_elem((x.nrows(), 1), c);
        trade_core::loss::log_prob(&model.flow, &model.params, x.view(), cc.view())?
    })
}

/// Kish ESS (%) of `n` model samples at c against the target's unnormalised density. For a
/// flow with k augmentation dimensions the weights are those of the joint target
/// `p̃(x|c)·N(a; 0, c·I)` against `q(x, a|c)` (a lower bound on the marginal ESS).
pub fn ess_at(model: &FlowModel, target: &dyn Target, n: usize, c: f64, seed: u64) -> Result<f64> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let (xa, lq) = trade_core::loss::sample(&model.flow, &model.params, n, c, &mut rng)?;
    let k = model.flow.augmentation_dims();
    let d = xa.ncols() - k;
    let x = xa.slice(ndarray::s![.., ..d]);
    let u = target.energy(x, Array1::from_elem(1, c).view());
    let log_w: Vec<f64> = xa
        .rows()
        .into_iter()
        .zip(u.iter().zip(&lq))
        .map(|(row, (u, l))| {
            let a2: f64 = row.iter().skip(d).map(|v| v * v).sum();
            let log_n = if k > 0 {
                -0.5 * a2 / c - 0.5 * k as f64 * (2.0 * std::f64::consts::PI * c).ln()
            } else {
                0.0
            };
            -u + log_n - l
        })
        .collect();
    Ok(effective_sample_size(&log_w))
}

/// Writes one SVG plot `dir/name` atomically (creating `dir`).
pub fn save_svg(dir: &Path, name: &str, svg: &str) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    trade_core::checkpoint::write_atomic(&dir.join(name), svg.as_bytes())?;
    Ok(())
}

/// One machine-readable metric row of `metrics.json`.
#[derive(Debug, Clone, Serialize)]
pub struct MetricRow {
    /// Method name.
    pub method: String,
    /// Condition value.
    pub condition: f64,
    /// Metric name.
    pub metric: String,
    /// Mean over runs.
    pub value: f64,
    /// Standard deviation over runs.
    pub std: f64,
    /// Number of runs.
    pub n_runs: usize,
}

/// Writes `metrics.json` and `report.md` atomically (creating the directory) and prints the report.
/// Rows are [`MetricRow`]s, or an experiment's own row type with the same fields.
pub fn write_report<R: Serialize>(dir: &Path, rows: &[R], markdown: &str) -> Result<()> {
    trade_core::checkpoint::write_atomic(
        &dir.join("metrics.json"),
        serde_json::to_string_pretty(rows)?.as_bytes(),
    )?;
    trade_core::checkpoint::write_atomic(&dir.join("report.md"), markdown.as_bytes())?;
    println!("{markdown}");
    Ok(())
}

/// "mean ± std" with a given precision.
pub fn pm(values: &[f64], digits: usize) -> String {
    let (m, s) = metrics::mean_std(values);
    if values.len() > 1 {
        format!("{m:.digits$} ± {s:.digits$}")
    } else {
        format!("{m:.digits$}")
    }
}

/// One training run of an experiment: where it lives and how long it trains.
pub struct Run<'a> {
    /// Experiment name (also the target name of the saved model).
    pub experiment: &'a str,
    /// Method name.
    pub method: &'a str,
    /// Run index (0 is saved in the method directory itself, others in `run-<k>`).
    pub run: usize,
    /// Master seed of the run.
    pub seed: u64,
    /// Optimisation steps.
    pub steps: usize,
    /// Peak learning rate of the OneCycle schedule.
    pub lr: f64,
    /// Rows per step of the main loss (sets the data-parallel chunk size).
    pub batch: usize,
}

/// Rows per data-parallel chunk for a step of `batch` rows: half the batch, at least 64, so two
/// cores get two chunks and large batches pay less per-chunk overhead (multi-well TRADE step,
/// batch 512, 2 threads, quiet machine: 0.578 s with 64-row chunks, 0.463 s with 256;
/// docs/performance.md). It depends on the batch only, never on the thread count, so results
/// stay bit-identical on any number of threads.
pub fn chunk_rows_for(batch: usize) -> usize {
    (batch / 2).max(64)
}

impl Run<'_> {
    /// The model directory of this run.
    pub fn dir(&self, args: &super::ReproduceArgs) -> std::path::PathBuf {
        let dir = args.out.join(self.experiment).join(self.method);
        if self.run == 0 {
            dir
        } else {
            dir.join(format!("run-{}", self.run))
        }
    }
}

/// Trains `flow`'s parameters on `losses` (Adam + OneCycle, clip 3, [`chunk_rows_for`] the batch, atomic
/// checkpoints every 200 steps, `--resume` aware) with a progress bar. Returns the training wall
/// time in seconds.
pub fn train(
    args: &super::ReproduceArgs,
    run: &Run<'_>,
    flow: &trade_flows::Flow,
    params: &mut trade_ad::ParamStore,
    losses: Vec<(Box<dyn trade_core::Loss + '_>, trade_core::LossWeight)>,
) -> Result<f64> {
    let optim = Optim {
        schedule: trade_ad::Schedule::OneCycle(trade_ad::OneCycle::new(run.lr, run.steps)),
        grad_clip: 3.0,
        chunk_rows: chunk_rows_for(run.batch),
        ..Optim::default()
    };
    let label = format!("{} {} #{}", run.experiment, run.method, run.run);
    train_in(
        args,
        (&label, &run.dir(args)),
        (run.seed, run.steps, optim),
        flow,
        params,
        losses,
    )
}

/// The optimiser settings of a training run.
pub struct Optim {
    /// Learning-rate schedule over the run.
    pub schedule: trade_ad::Schedule,
    /// Global gradient-norm clip.
    pub grad_clip: f64,
    /// Adam hyper-parameters (weight decay included).
    pub adam: trade_ad::AdamConfig,
    /// Loop B weighting of the objective (`method.md` §11.2), if any.
    pub loop_b: Option<trade_core::LoopBWeighting>,
    /// Rows per data-parallel chunk ([`chunk_rows_for`] the batch).
    pub chunk_rows: usize,
}

impl Default for Optim {
    /// Constant lr 1e-3 placeholder schedule, clip 3, default Adam, Loop A weighting.
    fn default() -> Self {
        Self {
            schedule: trade_ad::Schedule::Constant { lr: 1e-3 },
            grad_clip: 3.0,
            adam: trade_ad::AdamConfig::default(),
            loop_b: None,
            chunk_rows: 64,
        }
    }
}

/// [`train`] with an explicit progress label, checkpoint directory `dir`, (seed, steps) and
/// optimiser settings.
pub fn train_in(
    args: &super::ReproduceArgs,
    (label, dir): (&str, &Path),
    (seed, steps, optim): (u64, usize, Optim),
    flow: &trade_flows::Flow,
    params: &mut trade_ad::ParamStore,
    losses: Vec<(Box<dyn trade_core::Loss + '_>, trade_core::LossWeight)>,
) -> Result<f64> {
    use trade_core::{TrainConfig, Trainer, WeightedObjective};
    let train = TrainConfig {
        steps,
        adam: optim.adam,
        schedule: optim.schedule,
        grad_clip: optim.grad_clip,
        seed,
        chunk_rows: optim.chunk_rows,
        max_consecutive_nonfinite: 20,
        checkpoint_every: 200,
        matmul_precision: args.matmul_precision(),
    };
    let ckpt = dir.join("train-state.json");
    if !args.resume && ckpt.exists() {
        std::fs::remove_file(&ckpt)?;
    }
    let started = std::time::Instant::now();
    let mut objective = WeightedObjective::new(flow, losses)?;
    if let Some(w) = optim.loop_b {
        objective = objective.with_loop_b(w)?;
    }
    let mut trainer = Trainer::new(train, Some(ckpt))?;
    if args.resume {
        trainer.resume(params, &mut objective)?;
    }
    let mut bar = Progress::new(label, steps);
    trainer.run(params, &mut objective, &mut bar, None)?;
    Ok(started.elapsed().as_secs_f64())
}

/// Saves the trained model as this run's model directory (what `cargo xtask model` loads).
pub fn save_model(args: &super::ReproduceArgs, run: &Run<'_>, model: &FlowModel) -> Result<()> {
    let meta = crate::model_dir::ModelMeta {
        experiment: run.experiment.into(),
        method: run.method.into(),
        target: run.experiment.into(),
        condition_scale: 1.0,
        seed: run.seed,
        internal_coordinates: false,
        centred_torsions: false,
    };
    crate::model_dir::save(&run.dir(args), model, &meta)
}

/// The methods to run: `--methods` if given (each must be one of `all`), else the profile's
/// default (`quick` for the quick profile, `all` for paper).
pub fn select_methods(
    args: &super::ReproduceArgs,
    experiment: &str,
    all: &[&str],
    quick: &[&str],
) -> Result<Vec<String>> {
    if args.methods.is_empty() {
        let default = if args.profile == super::Profile::Quick {
            quick
        } else {
            all
        };
        return Ok(default.iter().map(|m| m.to_string()).collect());
    }
    if let Some(m) = args.methods.iter().find(|m| !all.contains(&m.as_str())) {
        anyhow::bail!(
            "--methods: unknown method {m:?} for {experiment}; allowed: {}",
            all.join(", ")
        );
    }
    Ok(args.methods.clone())
}
