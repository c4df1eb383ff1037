//! Flows for Flows (`flows.md` §11.2–11.3): maximum likelihood of a dataset under a flow whose
//! base is another frozen flow, plus a movement penalty λ_t·dist(x, f(x)) with a constant or
//! cosine-annealed weight; forward, inverse or alternating directions.

use super::{LossBatch, StepCtx, rows_of};
use crate::{CoreError, Loss};
use ndarray::{Array2, Axis};
use rand::Rng;
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
        if batch == 0 || batch > data.nrows() {
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

    fn penalty(&self, tape: &mut Tape, from: Var, to: Var) -> Option<Var> {
        let d = tape.sub(to, from);
        let per_dim = match self.movement {
            Movement::None => return None,
            Movement::L1 => tape.abs(d),
            Movement::L2 => tape.square(d),
        };
        Some(tape.sum(per_dim, Some(Axis(1))))
    }

    /// λ_t at step t of N.
    pub fn lambda(&self, step: usize, total: usize) -> f64 {
        let p = step as f64 / total.max(1) as f64;
        self.lambda_min
            + 0.5 * (self.lambda0 - self.lambda_min) * (1.0 + (std::f64::consts::PI * p).cos())
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
        match self.penalty(tape, x, moved) {
            None => Ok(nll),
            Some(dist) => {
                let pen = tape.scale(dist, lambda);
                Ok(tape.add(nll, pen))
            }
        }
    }
}
