//! Alanine dipeptide as a density on the 48 normalised free internal coordinates z
//! (`targets.md` §6.8): `p(z|τ) ∝ exp(−U(x(z); τ)) |∂x/∂z|`, so
//!
//! `U_z(z; τ) = U(x(z); τ) − log|∂x/∂z|(z)`, `∇_z U_z = (∂x/∂z)ᵀ ∇_x U − ∇_z log|∂x/∂z|`,
//! `∂_τ U_z = ∂_τ U(x(z); τ)` (the Jacobian does not depend on τ).
//!
//! A flow on z trained against this target is, through [`IcTransform`], a density on Cartesian
//! x with `log p(x) = log p(z(x)) + log|∂z/∂x|`. Condition: τ = T / 600 K.

use super::{AlanineDipeptide, IcTransform};
use crate::{ConditionSpec, Target};
use ndarray::{Array1, Array2, ArrayView1, ArrayView2};
use std::sync::Arc;

/// The alanine-dipeptide target in internal coordinates (dimension 48, condition τ).
#[derive(Debug, Clone)]
pub struct AlanineInternal {
    cartesian: AlanineDipeptide,
    ic: Arc<IcTransform>,
}

impl Default for AlanineInternal {
    fn default() -> Self {
        Self::new(Arc::new(IcTransform::new()))
    }
}

impl AlanineInternal {
    /// The target through `ic` (usually `IcTransform::new()`, around the reference structure).
    pub fn new(ic: Arc<IcTransform>) -> Self {
        Self {
            cartesian: AlanineDipeptide::new(),
            ic,
        }
    }

    /// The IC transform.
    pub fn transform(&self) -> &Arc<IcTransform> {
        &self.ic
    }

    /// The Cartesian target (condition τ).
    pub fn cartesian(&self) -> &AlanineDipeptide {
        &self.cartesian
    }
}

impl Target for AlanineInternal {
    fn name(&self) -> &str {
        "alanine-dipeptide-ic"
    }

    fn dim(&self) -> usize {
        super::ic::N_FREE
    }

    fn condition(&self) -> ConditionSpec {
        self.cartesian.condition()
    }

    fn energy(&self, z: ArrayView2<f64>, c: ArrayView1<f64>) -> Array1<f64> {
        let (x, log_det) = self.ic.to_cartesian(z);
        self.cartesian.energy(x.view(), c) - log_det
    }

    fn grad_x(&self, z: ArrayView2<f64>, c: ArrayView1<f64>) -> Array2<f64> {
        self.energy_and_grad(z, c).1
    }

    fn d_energy_dc(&self, z: ArrayView2<f64>, c: ArrayView1<f64>) -> Array1<f64> {
        let (x, _) = self.ic.to_cartesian(z);
        self.cartesian.d_energy_dc(x.view(), c)
    }

    fn energy_and_grad(
        &self,
        z: ArrayView2<f64>,
        c: ArrayView1<f64>,
    ) -> (Array1<f64>, Array2<f64>) {
        let (x, log_det) = self.ic.to_cartesian(z);
        let (u, gx) = self.cartesian.energy_and_grad(x.view(), c);
        let gz = self.ic.pullback(z, gx.view()) - self.ic.log_det_grad(z);
        (u - log_det, gz)
    }
}
