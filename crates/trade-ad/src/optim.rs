//! Adam (classic L2 weight decay), learning-rate/momentum schedules and gradient clipping,
//! all as in `experiments.md` §0 (PyTorch semantics).

use crate::{AdError, Float, Gradients, ParamStore};
use ndarray::{Array2, Zip};
use serde::{Deserialize, Serialize};

/// Adam hyper-parameters. Defaults: β = (0.9, 0.999), ε = 1e-8, no weight decay
/// (`experiments.md` §0; β1 is overridden by a cycling schedule).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AdamConfig {
    /// First-moment decay β1 (used when the schedule does not set it).
    pub beta1: f64,
    /// Second-moment decay β2.
    pub beta2: f64,
    /// Denominator offset ε.
    pub eps: f64,
    /// Classic L2 weight decay: `g ← g + wd·θ` before the moments (not AdamW).
    pub weight_decay: f64,
}

impl Default for AdamConfig {
    fn default() -> Self {
        Self {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
        }
    }
}

impl AdamConfig {
    /// Checks every field's range.
    pub fn validate(&self) -> Result<(), AdError> {
        let open01 = |field, v: f64| {
            if (0.0..1.0).contains(&v) {
                Ok(())
            } else {
                Err(AdError::OutOfRange {
                    field,
                    value: v.to_string(),
                    allowed: "[0, 1)",
                })
            }
        };
        open01("adam.beta1", self.beta1)?;
        open01("adam.beta2", self.beta2)?;
        if !(self.eps > 0.0 && self.eps.is_finite()) {
            return Err(AdError::OutOfRange {
                field: "adam.eps",
                value: self.eps.to_string(),
                allowed: "finite, > 0",
            });
        }
        if !(self.weight_decay >= 0.0 && self.weight_decay.is_finite()) {
            return Err(AdError::OutOfRange {
                field: "adam.weight_decay",
                value: self.weight_decay.to_string(),
                allowed: "finite, ≥ 0",
            });
        }
        Ok(())
    }
}

/// Per-parameter Adam moments.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Moments {
    step: u64,
    m: Array2<f64>,
    v: Array2<f64>,
}

/// Adam with PyTorch's update: bias corrections use the current β1 and a per-parameter step
/// count; parameters without a gradient are left untouched. Moments are kept in f64.
///
/// The state serialises (serde) so that a resumed run continues bit for bit.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Adam {
    config: AdamConfig,
    state: Vec<Option<Moments>>,
}

impl Adam {
    /// A fresh optimiser.
    pub fn new(config: AdamConfig) -> Result<Self, AdError> {
        config.validate()?;
        Ok(Self {
            config,
            state: Vec::new(),
        })
    }

    /// The hyper-parameters.
    pub fn config(&self) -> &AdamConfig {
        &self.config
    }

    /// One update of every trainable parameter that has a gradient, at learning rate `lr` and
    /// first-moment decay `beta1` (`None`: the configured β1).
    pub fn step<F: Float>(
        &mut self,
        store: &mut ParamStore<F>,
        grads: &Gradients<F>,
        lr: f64,
        beta1: Option<f64>,
    ) {
        let b1 = beta1.unwrap_or(self.config.beta1);
        let AdamConfig {
            beta2: b2,
            eps,
            weight_decay: wd,
            ..
        } = self.config;
        for (id, g) in grads.iter_params() {
            if !store.is_trainable(id) {
                continue;
            }
            if self.state.len() <= id.index() {
                self.state.resize(id.index() + 1, None);
            }
            let shape = g.dim();
            let st = self.state[id.index()].get_or_insert_with(|| Moments {
                step: 0,
                m: Array2::zeros(shape),
                v: Array2::zeros(shape),
            });
            st.step += 1;
            let t = st.step as i32;
            let bc1 = 1.0 - b1.powi(t);
            let bc2_sqrt = (1.0 - b2.powi(t)).sqrt();
            let step_size = lr / bc1;
            let p = store.get_mut(id);
            Zip::from(p)
                .and(g)
                .and(&mut st.m)
                .and(&mut st.v)
                .for_each(|p, &g, m, v| {
                    let g = g.f64() + wd * p.f64();
                    *m = b1 * *m + (1.0 - b1) * g;
                    *v = b2 * *v + (1.0 - b2) * g * g;
                    let denom = v.sqrt() / bc2_sqrt + eps;
                    *p = F::c(p.f64() - step_size * *m / denom);
                });
        }
    }
}

/// One OneCycle schedule (PyTorch `OneCycleLR` defaults, cosine annealing, β1 cycling).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct OneCycle {
    /// Peak learning rate.
    pub max_lr: f64,
    /// Total steps S.
    pub total_steps: usize,
    /// Warm-up fraction (0.3 by default).
    pub pct_start: f64,
    /// Initial lr = max_lr / div_factor (25).
    pub div_factor: f64,
    /// Final lr = initial lr / final_div_factor (1e4).
    pub final_div_factor: f64,
    /// β1 at the start and end (0.95).
    pub max_momentum: f64,
    /// β1 at the peak lr (0.85).
    pub base_momentum: f64,
}

impl OneCycle {
    /// PyTorch defaults for `max_lr` over `total_steps`.
    pub fn new(max_lr: f64, total_steps: usize) -> Self {
        Self {
            max_lr,
            total_steps,
            pct_start: 0.3,
            div_factor: 25.0,
            final_div_factor: 1e4,
            max_momentum: 0.95,
            base_momentum: 0.85,
        }
    }

    /// (lr, β1) at `step` (0-based). Phase 1 spans [0, pct·S − 1], phase 2 [pct·S − 1, S − 1].
    pub fn at(&self, step: usize) -> (f64, f64) {
        let cos = |start: f64, end: f64, p: f64| {
            end + (start - end) * (1.0 + (std::f64::consts::PI * p).cos()) / 2.0
        };
        let initial = self.max_lr / self.div_factor;
        let last = initial / self.final_div_factor;
        let end1 = self.pct_start * self.total_steps as f64 - 1.0;
        let end2 = self.total_steps as f64 - 1.0;
        let s = step as f64;
        if s <= end1 {
            let p = if end1 > 0.0 { s / end1 } else { 1.0 };
            (
                cos(initial, self.max_lr, p),
                cos(self.max_momentum, self.base_momentum, p),
            )
        } else {
            let p = ((s - end1) / (end2 - end1)).min(1.0);
            (
                cos(self.max_lr, last, p),
                cos(self.base_momentum, self.max_momentum, p),
            )
        }
    }
}

/// A learning-rate (and β1) schedule over optimisation steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Schedule {
    /// Fixed lr, configured β1.
    Constant {
        /// Learning rate.
        lr: f64,
    },
    /// One OneCycle over the whole run.
    OneCycle(OneCycle),
    /// Consecutive OneCycles (φ⁴ multi-cycle): block k runs for `blocks[k].total_steps`.
    MultiCycle {
        /// The cycles in order.
        blocks: Vec<OneCycle>,
    },
    /// Cosine decay from `max_lr` to `min_lr` over `total_steps`.
    Cosine {
        /// Start lr.
        max_lr: f64,
        /// End lr.
        min_lr: f64,
        /// Steps.
        total_steps: usize,
    },
}

impl Schedule {
    /// Consecutive OneCycles over `steps[k]` steps, the max lr multiplied by `factors[k]` at
    /// every block after the first (`experiments.md` §0).
    pub fn multi_cycle(max_lr: f64, steps: &[usize], factors: &[f64]) -> Self {
        let mut lr = max_lr;
        let blocks = steps
            .iter()
            .enumerate()
            .map(|(k, &s)| {
                if k > 0 {
                    lr *= factors.get(k - 1).copied().unwrap_or(1.0);
                }
                OneCycle::new(lr, s)
            })
            .collect();
        Schedule::MultiCycle { blocks }
    }

    /// (lr, β1 if the schedule sets it) at `step`.
    pub fn at(&self, step: usize) -> (f64, Option<f64>) {
        match self {
            Schedule::Constant { lr } => (*lr, None),
            Schedule::OneCycle(c) => {
                let (lr, b1) = c.at(step);
                (lr, Some(b1))
            }
            Schedule::MultiCycle { blocks } => {
                let mut s = step;
                for (k, b) in blocks.iter().enumerate() {
                    if s < b.total_steps || k + 1 == blocks.len() {
                        let (lr, b1) = b.at(s);
                        return (lr, Some(b1));
                    }
                    s -= b.total_steps;
                }
                (0.0, None)
            }
            Schedule::Cosine {
                max_lr,
                min_lr,
                total_steps,
            } => {
                let p = (step as f64 / (*total_steps).max(1) as f64).min(1.0);
                (
                    min_lr + (max_lr - min_lr) * (1.0 + (std::f64::consts::PI * p).cos()) / 2.0,
                    None,
                )
            }
        }
    }
}

/// Scales all parameter gradients so that their global L2 norm is at most `max_norm`
/// (PyTorch `clip_grad_norm_`: factor `max_norm/(norm + 1e-6)` when below 1). Returns the norm
/// before clipping.
pub fn clip_grad_norm<F: Float>(grads: &mut Gradients<F>, max_norm: f64) -> f64 {
    let norm = grads.global_norm().f64();
    let coef = max_norm / (norm + 1e-6);
    if coef < 1.0 {
        grads.scale(F::c(coef));
    }
    norm
}
