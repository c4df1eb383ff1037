//! Loss weights: the Loop A schedule and adaptive weighting, per-sample clipping (§11.1), and
//! the Loop B ramp with learning-rate-annealing weights (§11.2).

use crate::{CoreError, error::out_of_range};
use ndarray::Array2;
use serde::{Deserialize, Serialize};
use trade_ad::{Tape, Var};

/// Per-loss settings of Loop A (`method.md` §11.1).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LossWeight {
    /// Fraction of training before the ramp starts.
    pub pct_start: f64,
    /// λ before and at the start of the ramp.
    pub start_value: f64,
    /// λ at the end of training.
    pub end_value: f64,
    /// Whether the adaptive weight multiplies λ.
    pub adaptive: bool,
    /// Initial adaptive weight.
    pub adaptive_init: f64,
    /// EMA rate α of the adaptive weight (weights the new value).
    pub alpha: f64,
    /// Per-sample hard clip.
    pub clip: f64,
    /// Per-sample soft (log) clip.
    pub log_clip: f64,
}

impl LossWeight {
    /// A constant weight 1 with the given clips (NLL in most configs).
    pub fn constant(value: f64, clip: f64, log_clip: f64) -> Self {
        Self {
            pct_start: 0.0,
            start_value: value,
            end_value: value,
            adaptive: false,
            adaptive_init: 1.0,
            alpha: 0.1,
            clip,
            log_clip,
        }
    }

    /// Checks ranges.
    pub fn validate(&self, name: &'static str) -> Result<(), CoreError> {
        let _ = name;
        if !(0.0..=1.0).contains(&self.pct_start) {
            return Err(out_of_range(
                "loss_weight.pct_start",
                self.pct_start,
                "[0, 1]",
            ));
        }
        if !(self.start_value >= 0.0 && self.end_value >= 0.0) {
            return Err(out_of_range(
                "loss_weight.start_value/end_value",
                self.start_value.min(self.end_value),
                "≥ 0",
            ));
        }
        if !(self.alpha > 0.0 && self.alpha <= 1.0) {
            return Err(out_of_range("loss_weight.alpha", self.alpha, "(0, 1]"));
        }
        if !(self.clip > 0.0 && self.log_clip > 0.0) {
            return Err(out_of_range(
                "loss_weight.clip/log_clip",
                self.clip.min(self.log_clip),
                "> 0",
            ));
        }
        Ok(())
    }

    /// Scheduled λ at step `s` of `total`: constant `start_value` until `shift = ⌊pct_start·S⌋`,
    /// then a half-cosine ramp reaching `end_value` at the last step.
    pub fn scheduled(&self, step: usize, total: usize) -> f64 {
        let shift = (self.pct_start * total as f64).floor() as usize;
        if step < shift || total <= shift {
            return self.start_value;
        }
        let p = (step - shift) as f64 / (total - shift) as f64;
        let (s, e) = (self.start_value, self.end_value);
        e - (e - s) * (1.0 + (std::f64::consts::PI * p).cos()) / 2.0
    }

    /// Whether the loss is past `pct_start` (takes part in adaptive weighting).
    pub fn is_active(&self, step: usize, total: usize) -> bool {
        step >= (self.pct_start * total as f64).floor() as usize
    }
}

/// Per-sample clipping value of §11.1 at one point: NaN → clip; min(v, clip); soft log clip.
pub fn clip_value(v: f64, clip: f64, log_clip: f64) -> f64 {
    let v = if v.is_nan() { clip } else { v.min(clip) };
    if v > log_clip {
        log_clip + (v - log_clip).ln_1p()
    } else {
        v
    }
}

/// Records the per-sample clipping of §11.1 on a column of per-sample losses; returns the
/// clipped column. NaN rows and rows above `clip` become constants (zero gradient); rows in
/// (log_clip, clip] are softened to `L + ln(1 + v − L)`.
pub fn clip_per_sample(tape: &mut Tape, v: Var, clip: f64, log_clip: f64) -> Var {
    let vals = tape.value(v).to_owned();
    let shape = vals.dim();
    let hard = vals.mapv(|x| x.is_nan() || x > clip);
    let soft = vals.mapv(|x| x > log_clip && x <= clip);
    if !hard.iter().chain(soft.iter()).any(|&b| b) {
        return v;
    }
    let safe = {
        let fill = tape.constant(Array2::from_elem(shape, log_clip));
        tape.select(soft.clone(), v, fill)
    };
    let shifted = tape.add_scalar(safe, -log_clip);
    let softened = tape.log1p(shifted);
    let softened = tape.add_scalar(softened, log_clip);
    let kept = tape.select(soft, softened, v);
    let hard_value = tape.constant(Array2::from_elem(shape, clip_value(clip, clip, log_clip)));
    tape.select(hard, hard_value, kept)
}

/// Loop A adaptive weights (§11.1): every 25 steps from per-loss gradient norms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdaptiveWeights {
    /// Current multiplier per loss.
    pub weights: Vec<f64>,
}

impl AdaptiveWeights {
    /// Starts every loss at its `adaptive_init` (1 for non-adaptive ones).
    pub fn new(configs: &[LossWeight]) -> Self {
        Self {
            weights: configs
                .iter()
                .map(|c| if c.adaptive { c.adaptive_init } else { 1.0 })
                .collect(),
        }
    }

    /// One update from `G_i = ‖∇θ L_i‖₂ / P` of the active losses (`None`: inactive).
    pub fn update(&mut self, configs: &[LossWeight], grad_norms: &[Option<f64>], n_params: usize) {
        let g: Vec<Option<f64>> = grad_norms
            .iter()
            .map(|g| g.map(|g| (g / n_params.max(1) as f64).clamp(1e-5, 1e9)))
            .collect();
        let total: f64 = g.iter().flatten().sum();
        let ratios: Vec<Option<f64>> = configs
            .iter()
            .zip(&g)
            .map(|(c, g)| {
                if c.adaptive {
                    g.map(|g| total / g)
                } else {
                    None
                }
            })
            .collect();
        let norm: f64 = ratios.iter().flatten().sum();
        if norm <= 0.0 {
            return;
        }
        for ((w, r), c) in self.weights.iter_mut().zip(ratios).zip(configs) {
            if let Some(r) = r {
                let r = (r / norm).clamp(1e-4, 1e3);
                *w = c.alpha * r + (1.0 - c.alpha) * *w;
            }
        }
    }
}

/// Loop B learning-rate-annealing weights (§11.2): `λ_eff = fixed · λ_r / λ_bc`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AnnealingWeight {
    /// λ_bc (starts at 1).
    pub lambda_bc: f64,
    /// λ_r (starts at 1e-3).
    pub lambda_r: f64,
    /// α, weighting the old value.
    pub alpha: f64,
    /// `fixed_relative_weighting`.
    pub fixed_relative: f64,
}

impl AnnealingWeight {
    /// Initial state.
    pub fn new(alpha: f64, fixed_relative: f64) -> Self {
        Self {
            lambda_bc: 1.0,
            lambda_r: 1e-3,
            alpha,
            fixed_relative,
        }
    }

    /// Update from the plain L2 gradient norms of the two terms.
    pub fn update(&mut self, g_trade: f64, g_nll: f64) {
        let eps = 1e-4;
        let s = g_trade + g_nll;
        self.lambda_bc = self.alpha * self.lambda_bc + (1.0 - self.alpha) * s / (g_nll + eps);
        self.lambda_r = self.alpha * self.lambda_r + (1.0 - self.alpha) * s / (g_trade + eps);
    }

    /// The effective weight of the TRADE (or KL) term.
    pub fn effective(&self) -> f64 {
        self.fixed_relative * self.lambda_r / self.lambda_bc
    }
}

/// Loop B weighting of one term (TRADE or reverse KL) against the boundary NLL (`method.md`
/// §11.2), for [`WeightedObjective::with_loop_b`](crate::WeightedObjective::with_loop_b). The
/// term is off before `start_step`. Afterwards its weight is the linear ramp to `end_value` at
/// `full_step`, or, with `adaptive`, `λ_eff = fixed_relative · λ_r / λ_bc` of an
/// [`AnnealingWeight`] updated every `every` steps (the ramp then only gates activation). The
/// term's own [`LossWeight`] still multiplies (use a constant 1).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LoopBWeighting {
    /// Index of the boundary (NLL) loss in the objective's list.
    pub boundary: usize,
    /// Index of the weighted term (TRADE or KL).
    pub term: usize,
    /// First step of the term (`start_epoch · steps_per_epoch`).
    pub start_step: usize,
    /// Step at which the ramp reaches `end_value` (`full_epoch · steps_per_epoch`).
    pub full_step: usize,
    /// `regularization_data_free` (1 in every config).
    pub end_value: f64,
    /// Learning-rate-annealing weights instead of the ramp.
    pub adaptive: bool,
    /// α of the annealing EMA, weighting the old value (GMM: 0.015).
    pub alpha: f64,
    /// `fixed_relative_weighting` (GMM: 1.0).
    pub fixed_relative: f64,
    /// Steps between annealing updates (25).
    pub every: usize,
}

impl LoopBWeighting {
    /// Checks ranges against an objective with `n_losses` losses.
    pub fn validate(&self, n_losses: usize) -> Result<(), CoreError> {
        if self.boundary >= n_losses || self.term >= n_losses || self.boundary == self.term {
            return Err(out_of_range(
                "loop_b_weighting.boundary/term",
                format!("{}/{}", self.boundary, self.term),
                "two different loss indices of the objective",
            ));
        }
        if !(0.0..1.0).contains(&self.alpha) {
            return Err(out_of_range("loop_b_weighting.alpha", self.alpha, "[0, 1)"));
        }
        if !(self.fixed_relative > 0.0 && self.end_value >= 0.0) {
            return Err(out_of_range(
                "loop_b_weighting.fixed_relative/end_value",
                self.fixed_relative.min(self.end_value),
                "fixed_relative > 0, end_value ≥ 0",
            ));
        }
        if self.every == 0 {
            return Err(out_of_range("loop_b_weighting.every", self.every, "≥ 1"));
        }
        Ok(())
    }

    /// Whether the term is on at `step`.
    pub fn is_active(&self, step: usize) -> bool {
        step >= self.start_step
    }

    /// Whether `step` updates the annealing weights.
    pub fn updates_at(&self, step: usize) -> bool {
        self.adaptive && self.is_active(step) && (step - self.start_step) % self.every == 0
    }

    /// The term's multiplier at `step` given the current annealing state.
    pub fn factor(&self, step: usize, annealing: &AnnealingWeight) -> f64 {
        if !self.is_active(step) {
            0.0
        } else if self.adaptive {
            annealing.effective()
        } else {
            linear_ramp(
                step as f64,
                self.start_step as f64,
                self.full_step as f64,
                self.end_value,
            )
        }
    }
}

/// Loop B linear ramp: 0 before `start`, `end_value` after `full`, linear in between (epochs).
pub fn linear_ramp(epoch: f64, start: f64, full: f64, end_value: f64) -> f64 {
    if epoch < start {
        0.0
    } else if epoch >= full || full <= start {
        end_value
    } else {
        end_value * (epoch - start) / (full - start)
    }
}
