//! Flows for Flows (`flows.md` §11.2–11.3): maximum likelihood of a dataset under a flow whose
//! base is another frozen flow, plus a movement penalty λ_t·dist(x, f(x)) with a constant or
//! cosine-annealed weight; forward, inverse or alternating directions. [`ConditionalFlowsForFlows`]
//! is the one-base variant of §11.4: a frozen conditional base q(x|c) and a transport top flow
//! f(x; h(c, c′)) trained on targets c′ shuffled within the mini-batch.

use super::{LossBatch, StepCtx, rows_of};
use crate::{CoreError, Loss};
use ndarray::{Array2, Axis};
use rand::Rng;
use rand::seq::SliceRandom;
use rand_xoshiro::Xoshiro256PlusPlus;
use serde::{Deserialize, Serialize};
use std::ops::Range;
use std::sync::Arc;
use trade_ad::{ParamStore, Tape, Var};
use trade_flows::{Condition, Distribution, Flow};

/// Per-sample distance between a point and its image, summed over dimensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Movement {
    /// No penalty.
    None,
    /// Σ_j |x_j − f(x)_j|.
    L1,
    /// Σ_j (x_j − f(x)_j)² (squared; approximates the quadratic-cost OT map).
    L2,
}

/// Which side a step trains (`flows.md` §11.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Left data x through f onto the right base q_Y.
    Forward,
    /// Right data y through f⁻¹ onto the left base q_X.
    Inverse,
    /// Forward on even steps, inverse on odd steps (the bidirectional method proper).
    Alternate,
}

/// The left base q_X for the inverse direction, with a frozen copy of its parameters.
struct LeftBase<'a> {
    flow: &'a dyn Distribution,
    store: ParamStore,
    data: Arc<Array2<f64>>,
}

/// Forward: `−log q_Y(f(x)) − log|det J_f(x)| + λ_t dist(x, f(x))` for left data x, where
/// `top`'s base is the frozen q_Y. Inverse: `−log q_X(f⁻¹(y)) − log|det J_{f⁻¹}(y)| +
/// λ_t dist(y, f⁻¹(y))` for right data y. λ_t = λ_min + ½(λ_0 − λ_min)(1 + cos(π t/N)).
pub struct FlowsForFlows<'a> {
    top: &'a Flow,
    data: Arc<Array2<f64>>,
    batch: usize,
    movement: Movement,
    lambda0: f64,
    lambda_min: f64,
    direction: Direction,
    left: Option<LeftBase<'a>>,
    current: Direction,
}

impl<'a> FlowsForFlows<'a> {
    /// A forward-direction loss on `data` (n, d).
    pub fn new(
        top: &'a Flow,
        data: Arc<Array2<f64>>,
        batch: usize,
        movement: Movement,
        (lambda0, lambda_min): (f64, f64),
    ) -> Result<Self, CoreError> {
        check_settings(batch, data.nrows(), (lambda0, lambda_min))?;
        Ok(Self {
            top,
            data,
            batch,
            movement,
            lambda0,
            lambda_min,
            direction: Direction::Forward,
            left: None,
            current: Direction::Forward,
        })
    }

    /// Adds the inverse direction: right data `y` and the left base q_X with its parameters
    /// (copied and frozen: the loss never trains them). `direction` is `Inverse` or `Alternate`.
    pub fn with_inverse(
        mut self,
        direction: Direction,
        right_data: Arc<Array2<f64>>,
        left_base: &'a dyn Distribution,
        left_params: &ParamStore,
    ) -> Result<Self, CoreError> {
        if right_data.nrows() < self.batch || right_data.ncols() != self.data.ncols() {
            return Err(crate::error::out_of_range(
                "f4f.right_data",
                right_data.nrows(),
                "≥ batch rows, same columns as the left data",
            ));
        }
        let mut store = left_params.clone();
        for id in store.ids().collect::<Vec<_>>() {
            store.set_trainable(id, false);
        }
        self.direction = direction;
        self.left = Some(LeftBase {
            flow: left_base,
            store,
            data: right_data,
        });
        Ok(self)
    }

    /// λ_t at step t of N.
    pub fn lambda(&self, step: usize, total: usize) -> f64 {
        cosine_lambda((self.lambda0, self.lambda_min), step, total)
    }
}

/// Checks the batch size against the data and the penalty weights (λ_0, λ_min).
fn check_settings(
    batch: usize,
    rows: usize,
    (lambda0, lambda_min): (f64, f64),
) -> Result<(), CoreError> {
    if batch == 0 || batch > rows {
        return Err(crate::error::out_of_range(
            "f4f.batch",
            batch,
            "1 ..= number of data rows",
        ));
    }
    if !(lambda0 >= 0.0 && lambda_min >= 0.0 && lambda0.is_finite() && lambda_min.is_finite()) {
        return Err(crate::error::out_of_range(
            "f4f.lambda",
            format!("({lambda0}, {lambda_min})"),
            "finite, ≥ 0",
        ));
    }
    Ok(())
}

/// λ_t = λ_min + ½(λ_0 − λ_min)(1 + cos(π t/N)).
fn cosine_lambda((lambda0, lambda_min): (f64, f64), step: usize, total: usize) -> f64 {
    let p = step as f64 / total.max(1) as f64;
    lambda_min + 0.5 * (lambda0 - lambda_min) * (1.0 + (std::f64::consts::PI * p).cos())
}

/// Per-sample dist(from, to) (n, 1), or `None` without a penalty.
fn movement_penalty(movement: Movement, tape: &mut Tape, from: Var, to: Var) -> Option<Var> {
    let d = tape.sub(to, from);
    let per_dim = match movement {
        Movement::None => return None,
        Movement::L1 => tape.abs(d),
        Movement::L2 => tape.square(d),
    };
    Some(tape.sum(per_dim, Some(Axis(1))))
}

/// `nll + λ·dist(from, to)` per sample.
fn penalised(
    movement: Movement,
    tape: &mut Tape,
    nll: Var,
    (from, to): (Var, Var),
    lambda: f64,
) -> Var {
    match movement_penalty(movement, tape, from, to) {
        None => nll,
        Some(dist) => {
            let pen = tape.scale(dist, lambda);
            tape.add(nll, pen)
        }
    }
}

impl Loss for FlowsForFlows<'_> {
    fn name(&self) -> &'static str {
        "flows-for-flows"
    }

    fn prepare(
        &mut self,
        ctx: &StepCtx<'_>,
        rng: &mut Xoshiro256PlusPlus,
    ) -> Result<LossBatch, CoreError> {
        self.current = match self.direction {
            Direction::Alternate if ctx.step % 2 == 1 => Direction::Inverse,
            Direction::Alternate => Direction::Forward,
            d => d,
        };
        let data = match (&self.current, &self.left) {
            (Direction::Inverse, Some(left)) => &left.data,
            _ => &self.data,
        };
        let idx: Vec<usize> = (0..self.batch)
            .map(|_| rng.random_range(0..data.nrows()))
            .collect();
        let lambda = Array2::from_elem((1, 1), self.lambda(ctx.step, ctx.total));
        Ok(LossBatch {
            n: self.batch,
            x: data.select(Axis(0), &idx),
            target: Some(lambda),
            ..LossBatch::default()
        })
    }

    fn per_sample(
        &self,
        tape: &mut Tape,
        ctx: &StepCtx<'_>,
        b: &LossBatch,
        rows: Range<usize>,
    ) -> Result<Var, CoreError> {
        let x = tape.constant(rows_of(&b.x, &rows));
        let none = Condition::none();
        let lambda = b.target.as_ref().expect("λ")[[0, 0]];
        let (moved, ll) = match (&self.current, &self.left) {
            (Direction::Inverse, Some(left)) => {
                let (u, log_det) = self.top.inverse_transform(tape, ctx.store, x, &none)?;
                let lq = left.flow.log_prob(tape, &left.store, u, &none)?;
                (u, tape.add(lq, log_det))
            }
            _ => {
                let (z, log_det) = self.top.transform(tape, ctx.store, x, &none)?;
                let lq = self.top.base().log_prob(tape, ctx.store, z, &none)?;
                (z, tape.add(lq, log_det))
            }
        };
        let nll = tape.neg(ll);
        Ok(penalised(self.movement, tape, nll, (x, moved), lambda))
    }
}

/// Conditional c → c′ Flows for Flows with one frozen conditional base (`flows.md` §11.4):
/// `−log q(f(x; c, c′) | c′) − log|det J_f| + λ_t dist(x, f(x; c, c′))` for data (x, c), where
/// `top` is a transport flow (Delta or Concat context, per-row direction/inverse rule) whose
/// base is the frozen q(x|c). Each step draws a batch of (x, c) pairs and takes c′ as a
/// seeded shuffle of the batch's conditions.
pub struct ConditionalFlowsForFlows<'a> {
    top: &'a Flow,
    data: Arc<Array2<f64>>,
    conditions: Arc<Array2<f64>>,
    batch: usize,
    movement: Movement,
    lambda: (f64, f64),
}

impl<'a> ConditionalFlowsForFlows<'a> {
    /// The loss on data `data` (n, d) with conditions `conditions` (n, 1); `top` must use a
    /// transport context (Delta or Concat). The penalty weight is cosine-annealed from
    /// λ_0 to λ_min (pass equal values for a constant weight).
    pub fn new(
        top: &'a Flow,
        (data, conditions): (Arc<Array2<f64>>, Arc<Array2<f64>>),
        batch: usize,
        movement: Movement,
        (lambda0, lambda_min): (f64, f64),
    ) -> Result<Self, CoreError> {
        if !top.condition_config().input.is_transport() {
            return Err(crate::error::out_of_range(
                "f4f.top.condition.input",
                format!("{:?}", top.condition_config().input),
                "delta or concat (a transport context)",
            ));
        }
        if conditions.dim() != (data.nrows(), 1) || conditions.iter().any(|c| !c.is_finite()) {
            return Err(crate::error::out_of_range(
                "f4f.conditions",
                format!("{:?}", conditions.dim()),
                "(rows of the data, 1), finite",
            ));
        }
        check_settings(batch, data.nrows(), (lambda0, lambda_min))?;
        Ok(Self {
            top,
            data,
            conditions,
            batch,
            movement,
            lambda: (lambda0, lambda_min),
        })
    }

    /// λ_t at step t of N.
    pub fn lambda(&self, step: usize, total: usize) -> f64 {
        cosine_lambda(self.lambda, step, total)
    }
}

impl Loss for ConditionalFlowsForFlows<'_> {
    fn name(&self) -> &'static str {
        "conditional-flows-for-flows"
    }

    /// `x` and `c` of the drawn rows; `target` holds c′, the batch's conditions shuffled.
    fn prepare(
        &mut self,
        _ctx: &StepCtx<'_>,
        rng: &mut Xoshiro256PlusPlus,
    ) -> Result<LossBatch, CoreError> {
        let idx: Vec<usize> = (0..self.batch)
            .map(|_| rng.random_range(0..self.data.nrows()))
            .collect();
        let c = self.conditions.select(Axis(0), &idx);
        let mut shuffled: Vec<f64> = c.iter().copied().collect();
        shuffled.shuffle(rng);
        let c_target = Array2::from_shape_vec((self.batch, 1), shuffled).expect("n rows");
        Ok(LossBatch {
            n: self.batch,
            x: self.data.select(Axis(0), &idx),
            c,
            target: Some(c_target),
            ..LossBatch::default()
        })
    }

    fn per_sample(
        &self,
        tape: &mut Tape,
        ctx: &StepCtx<'_>,
        b: &LossBatch,
        rows: Range<usize>,
    ) -> Result<Var, CoreError> {
        let x = tape.constant(rows_of(&b.x, &rows));
        let c = tape.constant(rows_of(&b.c, &rows));
        let c_target = tape.constant(rows_of(b.target.as_ref().expect("c′"), &rows));
        let cond = Condition {
            c: Some(c),
            c_target: Some(c_target),
            y: None,
        };
        let (z, log_det) = self.top.transform(tape, ctx.store, x, &cond)?;
        let lq = self
            .top
            .base()
            .log_prob(tape, ctx.store, z, &Condition::c(c_target))?;
        let ll = tape.add(lq, log_det);
        let nll = tape.neg(ll);
        let lambda = self.lambda(ctx.step, ctx.total);
        Ok(penalised(self.movement, tape, nll, (x, z), lambda))
    }
}
