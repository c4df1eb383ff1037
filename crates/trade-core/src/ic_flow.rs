//! The alanine-dipeptide internal-coordinate transform as the first layer of a flow: a flow on
//! the 48 free internal coordinates z seen as a density on Cartesian x (N, 66) in nm,
//! `log p(x|c) = log p_flow(z(x)|c) + log|∂z/∂x|` (`targets.md` §6.8). The transform does not
//! depend on c, so its c-tangent is zero.

use ndarray::{Array2, ArrayView2, Axis};
use rand::RngCore;
use std::sync::Arc;
use trade_ad::{CustomOp, ParamStore, Tape, Var};
use trade_flows::{Condition, Distribution, FlowError};
use trade_targets::alanine::IcTransform;

/// z → x (N, 48) → (N, 66); reverse rule by the transform's pull-back.
pub struct ToCartesian(pub Arc<IcTransform>);

impl CustomOp<f64> for ToCartesian {
    fn name(&self) -> &str {
        "ic to cartesian"
    }
    fn forward(&self, z: &[ArrayView2<f64>]) -> Array2<f64> {
        self.0.to_cartesian(z[0]).0
    }
    fn vjp(
        &self,
        z: &[ArrayView2<f64>],
        _y: ArrayView2<f64>,
        g: ArrayView2<f64>,
    ) -> Vec<Option<Array2<f64>>> {
        vec![Some(self.0.pullback(z[0], g))]
    }
}

/// z → log|∂x/∂z| per row (N, 1); reverse rule from the transform's log-det gradient.
pub struct CartesianLogDet(pub Arc<IcTransform>);

impl CustomOp<f64> for CartesianLogDet {
    fn name(&self) -> &str {
        "ic log-det"
    }
    fn forward(&self, z: &[ArrayView2<f64>]) -> Array2<f64> {
        self.0.to_cartesian(z[0]).1.insert_axis(Axis(1))
    }
    fn vjp(
        &self,
        z: &[ArrayView2<f64>],
        _y: ArrayView2<f64>,
        g: ArrayView2<f64>,
    ) -> Vec<Option<Array2<f64>>> {
        vec![Some(&self.0.log_det_grad(z[0]) * &g)]
    }
}

/// A 48-dimensional (conditional) density pushed to Cartesian coordinates by the IC transform.
///
/// `log_prob` treats x as data (no gradient with respect to x, which TRADE and NLL never need);
/// `sample_with_log_prob` is reparameterised through z (reverse KL works).
#[derive(Debug)]
pub struct IcFlow<D> {
    /// The density on z (a flow of dimension 48).
    pub inner: D,
    /// The transform.
    pub ic: Arc<IcTransform>,
}

impl<D: Distribution> Distribution for IcFlow<D> {
    fn dim(&self) -> usize {
        66
    }

    fn log_prob(
        &self,
        tape: &mut Tape,
        store: &ParamStore,
        x: Var,
        cond: &Condition,
    ) -> Result<Var, FlowError> {
        let xv = tape.value(x).to_owned();
        if xv.ncols() != 66 {
            return Err(FlowError::Dimension {
                what: "alanine x (nm, atom-major)",
                expected: 66,
                got: xv.ncols(),
            });
        }
        if let Some(row) = xv
            .rows()
            .into_iter()
            .position(|r| r.iter().any(|v| !v.is_finite()))
        {
            return Err(FlowError::NonFinite {
                what: "alanine x",
                row,
            });
        }
        let (z, log_det) = self.ic.to_internal(xv.view());
        let zv = tape.constant(z);
        let lz = self.inner.log_prob(tape, store, zv, cond)?;
        let ld = tape.constant(log_det.insert_axis(Axis(1)));
        Ok(tape.add(lz, ld))
    }

    fn sample_with_log_prob(
        &self,
        tape: &mut Tape,
        store: &ParamStore,
        n_samples: usize,
        cond: &Condition,
        rng: &mut dyn RngCore,
    ) -> Result<(Var, Var), FlowError> {
        let (z, lz) = self
            .inner
            .sample_with_log_prob(tape, store, n_samples, cond, rng)?;
        let x = tape.custom(Arc::new(ToCartesian(self.ic.clone())), &[z]);
        let ld = tape.custom(Arc::new(CartesianLogDet(self.ic.clone())), &[z]);
        Ok((x, tape.sub(lz, ld)))
    }
}
