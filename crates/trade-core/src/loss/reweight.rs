//! Reweighting baseline (temperature-weighted NLL, `method.md` §12): data at c0, target
//! conditions from the prior per sample, loss `w(x, c)·(−log q(x|c))` with a detached, not
//! self-normalised weight. Loop A (temperature T): `log w = (log q(x|1) + m + 2)·(1/T − 1)`;
//! Loop B (power β of a true density): `log w = (log g(x) + 2)·(β − 1)`.

use super::{LossBatch, StepCtx, model, rows_of};
use crate::{ConditionPrior, CoreError, Loss};
use ndarray::Array2;
use rand::Rng;
use rand_xoshiro::Xoshiro256PlusPlus;
use serde::{Deserialize, Serialize};
use std::ops::Range;
use std::sync::Arc;
use trade_ad::{Tape, Var};
use trade_flows::Condition;
use trade_targets::Target;

/// Where the weight's log-density comes from.
enum Weighting {
    /// Loop A: the flow's own log q(x|1) plus the running NLL minimum m; c is T.
    SelfTemperature,
    /// Loop B: the true log g(x) = −U(x; 1) of a power family `U(x; β) = −β log g(x)`; c is β.
    TruePower(Arc<dyn Target>),
}

/// Self-supervised temperature reweighting: the flow's own density at T = 1 stands in for
/// p(x|1). `m` tracks the training NLL: an EMA (0.99) of the batch NLL at T = 1, kept as a
/// running minimum (the reference refreshes it per epoch from 12 batches; this is the same
/// quantity updated every step).
pub struct Reweighting {
    data: Arc<Array2<f64>>,
    prior: ConditionPrior,
    batch: usize,
    weighting: Weighting,
    state: State,
}

#[derive(Clone, Serialize, Deserialize)]
struct State {
    ema: Option<f64>,
    min: Option<f64>,
}

impl Reweighting {
    /// Data at c0 = 1, `batch` rows per step.
    pub fn new(
        data: Arc<Array2<f64>>,
        prior: ConditionPrior,
        batch: usize,
    ) -> Result<Self, CoreError> {
        prior.validate()?;
        if batch == 0 || batch > data.nrows() {
            return Err(crate::error::out_of_range(
                "reweighting.batch",
                batch,
                "1 ..= number of data rows",
            ));
        }
        Ok(Self {
            data,
            prior,
            batch,
            weighting: Weighting::SelfTemperature,
            state: State {
                ema: None,
                min: None,
            },
        })
    }
}

impl Reweighting {
    /// Loop B (2D GMM): `log w = (log g(x) + 2)·(β − 1)` with the true log-density
    /// `log g(x) = −U(x; 1)` of `target` (a power family `U(x; β) = −β log g(x)`), data at β = 1,
    /// β per sample from `prior` (log-uniform on the range: [`ConditionPrior::log_uniform`]).
    pub fn true_power(
        data: Arc<Array2<f64>>,
        target: Arc<dyn Target>,
        prior: ConditionPrior,
        batch: usize,
    ) -> Result<Self, CoreError> {
        let mut r = Self::new(data, prior, batch)?;
        r.weighting = Weighting::TruePower(target);
        Ok(r)
    }

    /// Loop A log-weights `(log q(x|1) + m + 2)·(1/T − 1)`, updating the running minimum m.
    fn self_temperature_log_w(
        &mut self,
        ctx: &StepCtx<'_>,
        x: &Array2<f64>,
        c: &Array2<f64>,
    ) -> Result<Vec<f64>, CoreError> {
        let ones = Array2::ones((x.nrows(), 1));
        let lq1 = model::log_prob(ctx.model, ctx.store, x.view(), ones.view())?;
        let batch_nll = -lq1.mean().unwrap_or(f64::NAN);
        let ema = self
            .state
            .ema
            .map_or(batch_nll, |e| 0.99 * e + 0.01 * batch_nll);
        let m = self.state.min.map_or(ema, |m| m.min(ema));
        self.state = State {
            ema: Some(ema),
            min: Some(m),
        };
        Ok((0..x.nrows())
            .map(|i| (lq1[i] + m + 2.0) * (1.0 / c[[i, 0]] - 1.0))
            .collect())
    }
}

impl Loss for Reweighting {
    fn name(&self) -> &'static str {
        "reweighting"
    }

    fn prepare(
        &mut self,
        ctx: &StepCtx<'_>,
        rng: &mut Xoshiro256PlusPlus,
    ) -> Result<LossBatch, CoreError> {
        let idx: Vec<usize> = (0..self.batch)
            .map(|_| rng.random_range(0..self.data.nrows()))
            .collect();
        let x = self.data.select(ndarray::Axis(0), &idx);
        let c = Array2::from_shape_simple_fn((self.batch, 1), || {
            self.prior.sample(ctx.step, ctx.total, rng)
        });
        let log_w = match &self.weighting {
            Weighting::SelfTemperature => self.self_temperature_log_w(ctx, &x, &c)?,
            Weighting::TruePower(target) => {
                let ones = ndarray::Array1::ones(self.batch);
                let log_g = -target.energy(x.view(), ones.view());
                (0..self.batch)
                    .map(|i| (log_g[i] + 2.0) * (c[[i, 0]] - 1.0))
                    .collect()
            }
        };
        let w = Array2::from_shape_fn((self.batch, 1), |(i, _)| log_w[i].exp());
        Ok(LossBatch {
            n: self.batch,
            x,
            c,
            target: Some(w),
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
        let w = tape.constant(rows_of(b.target.as_ref().expect("weights"), &rows));
        let lq = ctx.model.log_prob(tape, ctx.store, x, &Condition::c(c))?;
        let wl = tape.mul(w, lq);
        Ok(tape.neg(wl))
    }

    fn state(&self) -> serde_json::Value {
        serde_json::to_value(&self.state).expect("serialises")
    }

    fn restore(&mut self, state: &serde_json::Value) -> Result<(), CoreError> {
        self.state = serde_json::from_value(state.clone()).map_err(|e| CoreError::Checkpoint {
            path: "reweighting state".into(),
            reason: e.to_string(),
        })?;
        Ok(())
    }
}
