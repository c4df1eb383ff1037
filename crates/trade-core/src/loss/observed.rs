//! Continuous TRADE for a model with an extra condition y (an observation), with the
//! per-observation SNIS of `method.md` §6.3: each batch holds G observations drawn from a pool,
//! M flow samples `x ~ q(·|y_g, c0)` per observation, and one SNIS estimate per group.

use super::trade::{add_noise, residual_on_tape};
use super::{LossBatch, StepCtx, model};
use crate::{ConditionPrior, CoreError, Loss, Residual, snis_mean};
use ndarray::{Array1, Array2, ArrayView2, Axis};
use rand::Rng;
use rand_xoshiro::Xoshiro256PlusPlus;
use std::ops::Range;
use std::sync::Arc;
use trade_ad::{Tape, Var};
use trade_targets::Target;

use super::NoiseMode;

/// The target at one observation y (the analytic, ground-truth variant).
pub type TargetAt = dyn Fn(&[f64]) -> Result<Arc<dyn Target>, CoreError> + Send + Sync;
/// log π(x) per row (the known, untempered part of a likelihood-power family).
pub type LogPrior = dyn Fn(ArrayView2<f64>) -> Array1<f64> + Send + Sync;

/// Where ∂_c U(x; c, y) comes from.
#[derive(Clone)]
pub enum ObservedEnergy {
    /// The target's ∂U/∂c at each group's observation. Rows where it is not finite (outside
    /// the target's support) are dropped from the batch.
    GroundTruth(Arc<TargetAt>),
    /// Energy-free likelihood power (`method.md` §5.1): `U = −log π(x) − β log L(y|x)` with
    /// `∂_β U ≈ −(log q_θ(x|y, β) − log π(x))/β`; SNIS weights `log q_θ(x|y, β) − log q_θ(x|y, c0)`.
    SelfLikelihoodPower(Arc<LogPrior>),
}

/// Continuous-mode TRADE (§8.2) with per-observation SNIS (§6.3, normative variant).
#[derive(Clone)]
pub struct TradeObserved {
    /// Source of ∂_c U.
    pub energy: ObservedEnergy,
    /// Parameter prior with its curriculum (one c per batch).
    pub prior: ConditionPrior,
    /// Boundary condition c0 of the reference samples.
    pub c0: f64,
    /// Observations to draw the groups from (rows, y_dim), e.g. the training y.
    pub observations: Arc<Array2<f64>>,
    /// Observations per batch G.
    pub groups: usize,
    /// Flow samples per observation M (batch = G·M).
    pub per_group: usize,
    /// ℓ.
    pub residual: Residual,
    /// Evaluation-point noise.
    pub noise: NoiseMode,
}

impl TradeObserved {
    /// ∂_c U at the rows of one group (observation `y`, condition `c`).
    fn du_dc(
        &self,
        ctx: &StepCtx<'_>,
        x: &Array2<f64>,
        y: &Array2<f64>,
        c: f64,
        target: Option<&Arc<dyn Target>>,
    ) -> Result<Array1<f64>, CoreError> {
        let cc = Array2::from_elem((x.nrows(), 1), c);
        match (&self.energy, target) {
            (ObservedEnergy::GroundTruth(_), Some(t)) => Ok(t.d_energy_dc(x.view(), cc.column(0))),
            (ObservedEnergy::SelfLikelihoodPower(log_prior), _) => {
                let lq = model::log_prob_with_y(
                    ctx.model,
                    ctx.store,
                    x.view(),
                    cc.view(),
                    Some(y.view()),
                )?;
                Ok((lq - log_prior(x.view())).mapv(|v| -v / c))
            }
            (ObservedEnergy::GroundTruth(_), None) => unreachable!("target built per group"),
        }
    }

    /// SNIS log-weights of one group's reference samples for condition c.
    fn log_weights(
        &self,
        ctx: &StepCtx<'_>,
        x: &Array2<f64>,
        y: &Array2<f64>,
        c: f64,
        target: Option<&Arc<dyn Target>>,
    ) -> Result<Array1<f64>, CoreError> {
        let n = x.nrows();
        match (&self.energy, target) {
            (ObservedEnergy::GroundTruth(_), Some(t)) => {
                let u0 = t.energy(x.view(), Array1::from_elem(n, self.c0).view());
                let u = t.energy(x.view(), Array1::from_elem(n, c).view());
                // Reference proposal −U(x; c0) (§6.2); outside the support the weight is 0.
                Ok(ndarray::Zip::from(&u0).and(&u).map_collect(|&a, &b| {
                    if a.is_finite() && b.is_finite() {
                        a - b
                    } else {
                        f64::NEG_INFINITY
                    }
                }))
            }
            (ObservedEnergy::SelfLikelihoodPower(_), _) => {
                let at = |v: f64| {
                    let cc = Array2::from_elem((n, 1), v);
                    model::log_prob_with_y(
                        ctx.model,
                        ctx.store,
                        x.view(),
                        cc.view(),
                        Some(y.view()),
                    )
                };
                Ok(at(c)? - at(self.c0)?)
            }
            (ObservedEnergy::GroundTruth(_), None) => unreachable!("target built per group"),
        }
    }
}

impl Loss for TradeObserved {
    fn name(&self) -> &'static str {
        "trade"
    }

    fn prepare(
        &mut self,
        ctx: &StepCtx<'_>,
        rng: &mut Xoshiro256PlusPlus,
    ) -> Result<LossBatch, CoreError> {
        if self.groups == 0 || self.per_group == 0 || self.observations.nrows() == 0 {
            return Err(crate::error::out_of_range(
                "trade_observed.groups/per_group/observations",
                0,
                "≥ 1",
            ));
        }
        let c = self.prior.sample(ctx.step, ctx.total, rng);
        let (mut xs, mut ys, mut targets) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..self.groups {
            let k = rng.random_range(0..self.observations.nrows());
            let y_row = self.observations.row(k);
            let y = y_row
                .insert_axis(Axis(0))
                .broadcast((self.per_group, y_row.len()))
                .expect("broadcast one row")
                .to_owned();
            let target = match &self.energy {
                ObservedEnergy::GroundTruth(at) => {
                    Some(at(y_row.as_slice().expect("contiguous row"))?)
                }
                ObservedEnergy::SelfLikelihoodPower(_) => None,
            };
            let (mut x, _) = model::sample_with_y(ctx.model, ctx.store, self.c0, y.view(), rng)?;
            let du = self.du_dc(ctx, &x, &y, c, target.as_ref())?;
            let log_w = self.log_weights(ctx, &x, &y, c, target.as_ref())?;
            let e = snis_mean(
                log_w.as_slice().expect("contiguous"),
                du.as_slice().expect("contiguous"),
                c,
            )?
            .value;
            add_noise(&mut x, self.noise, rng);
            let du = self.du_dc(ctx, &x, &y, c, target.as_ref())?;
            for i in 0..x.nrows() {
                if du[i].is_finite() {
                    xs.push(x.row(i).to_owned());
                    ys.push(y.row(i).to_owned());
                    targets.push(e - du[i]);
                }
            }
        }
        let stack = |rows: &[Array1<f64>]| -> Array2<f64> {
            let views: Vec<_> = rows.iter().map(|r| r.view()).collect();
            ndarray::stack(Axis(0), &views).expect("equal widths")
        };
        let n = targets.len();
        if n == 0 {
            return Err(CoreError::NoValidWeights {
                condition: c,
                n_valid: 0,
                n: self.groups * self.per_group,
            });
        }
        Ok(LossBatch {
            n,
            x: stack(&xs),
            c: Array2::from_elem((n, 1), c),
            y: Some(stack(&ys)),
            target: Some(Array2::from_shape_vec((n, 1), targets).expect("n rows")),
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
        residual_on_tape(self.residual, tape, ctx, b, rows)
    }
}
