//! Flows for Flows, forward direction (`flows.md` §11.2–11.3): maximum likelihood of a dataset
//! under a flow whose base is another frozen flow, plus a movement penalty λ_t·dist(x, f(x))
//! with a constant or cosine-annealed weight.

use super::{LossBatch, StepCtx, rows_of};
use crate::{CoreError, Loss};
use ndarray::{Array2, Axis};
use rand::Rng;
use rand_xoshiro::Xoshiro256PlusPlus;
use serde::{Deserialize, Serialize};
use std::ops::Range;
use std::sync::Arc;
use trade_ad::{Tape, Var};
use trade_flows::{Condition, Flow};

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

/// `−log q_base(f(x)) − log|det J_f(x)| + λ_t dist(x, f(x))` for data rows x, where `top`'s
/// base is the frozen flow. λ_t = λ_min + ½(λ_0 − λ_min)(1 + cos(π t/N)) (constant if equal).
pub struct FlowsForFlows<'a> {
    top: &'a Flow,
    data: Arc<Array2<f64>>,
    batch: usize,
    movement: Movement,
    lambda0: f64,
    lambda_min: f64,
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
        })
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
        let idx: Vec<usize> = (0..self.batch)
            .map(|_| rng.random_range(0..self.data.nrows()))
            .collect();
        let lambda = Array2::from_elem((1, 1), self.lambda(ctx.step, ctx.total));
        Ok(LossBatch {
            n: self.batch,
            x: self.data.select(Axis(0), &idx),
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
        let (z, log_det) = self.top.transform(tape, ctx.store, x, &none)?;
        let lq = self.top.base().log_prob(tape, ctx.store, z, &none)?;
        let ll = tape.add(lq, log_det);
        let nll = tape.neg(ll);
        let lambda = b.target.as_ref().expect("λ")[[0, 0]];
        let dist = match self.movement {
            Movement::None => return Ok(nll),
            Movement::L1 => {
                let d = tape.sub(z, x);
                let a = tape.abs(d);
                tape.sum(a, Some(Axis(1)))
            }
            Movement::L2 => {
                let d = tape.sub(z, x);
                let a = tape.square(d);
                tape.sum(a, Some(Axis(1)))
            }
        };
        let pen = tape.scale(dist, lambda);
        Ok(tape.add(nll, pen))
    }
}
