//! `IcTransform`: the flow's first layer, Cartesian x ∈ R⁶⁶ ↔ normalised free ICs z ∈ R⁴⁸, with
//! log-determinants in the pose-marginal convention of spec §6.8 and the energy pull-back.
//!
//! z layout: [9 free bonds, 20 angles, 19 torsions]. Scaled (default, spline variant):
//! `z_b = 0.5 + 0.1 (b − b_ref)/0.005 nm`, `z_θ = 0.5 + 0.1 (θ − θ_ref)/0.15 rad`,
//! `z_ζ = (ζ + π)/(2π)`. Unscaled: bonds in nm, `θ/π`, `(ζ + π)/(2π)`.
//! `to_internal` returns `log|∂z/∂ic| − log J(ic)`, so `log p(x|τ) = log p_flow(z|τ) + log_det`;
//! `to_cartesian` returns its negative. The condition does not enter: the c-tangent is zero.

use std::f64::consts::PI;

use ndarray::{Array1, Array2, ArrayView2, Zip};

use super::forcefield::ForceField;
use super::ic::{
    FREE_BONDS, FREE_IC, N_ANGLES, N_BONDS, N_FREE, N_IC, N_TORSIONS, apply_constraints, cartesian,
    cartesian_jacobian, constrained_bond_lengths, internal_coordinates, log_jacobian,
};
use super::{DIM, Positions, positions_from_row, reference_structure};

/// Bond width (nm) that maps to one prior standard deviation 0.1.
pub const BOND_WIDTH: f64 = 0.005;
/// Angle width (rad) that maps to one prior standard deviation 0.1.
pub const ANGLE_WIDTH: f64 = 0.15;

/// How the free ICs are normalised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IcScaling {
    /// Bonds and angles scaled around the reference structure (spec default).
    AroundReference,
    /// Bonds in nm, angles θ/π, torsions (ζ + π)/(2π).
    Unit,
}

/// The Cartesian ↔ normalised-IC bijector.
#[derive(Debug, Clone)]
pub struct IcTransform {
    scaling: IcScaling,
    reference: [f64; N_IC],
    constrained: [f64; 12],
    centred_torsions: bool,
}

impl Default for IcTransform {
    fn default() -> Self {
        Self::new()
    }
}

impl IcTransform {
    /// Scaled around [`reference_structure`] (the spec default).
    pub fn new() -> Self {
        Self::around(&reference_structure(), IcScaling::AroundReference)
    }

    /// With the given reference structure (only used by the scaled variant) and scaling.
    pub fn around(reference: &Positions, scaling: IcScaling) -> Self {
        let ff = ForceField::embedded();
        IcTransform {
            scaling,
            reference: internal_coordinates(reference),
            constrained: constrained_bond_lengths(ff),
            centred_torsions: false,
        }
    }

    /// Torsions centred on the reference structure: `z_ζ = 0.5 + wrap(ζ − ζ_ref)/(2π)` with
    /// `wrap` into [−π, π), instead of `(ζ + π)/(2π)`. Same Jacobian; a rotation of each torsion
    /// circle that puts the reference conformation (and the ω ≈ ±π peptide torsions) at the middle
    /// of [0, 1) rather than on its seam, for flows that treat z as unbounded (the affine
    /// variant; project choice, not in the spec).
    pub fn with_centred_torsions(mut self) -> Self {
        self.centred_torsions = true;
        self
    }

    /// True if torsions are centred on the reference structure.
    pub fn centred_torsions(&self) -> bool {
        self.centred_torsions
    }

    /// The scaling variant.
    pub fn scaling(&self) -> IcScaling {
        self.scaling
    }

    /// dic/dz per free coordinate: (bond, angle, torsion).
    fn slopes(&self) -> (f64, f64, f64) {
        match self.scaling {
            IcScaling::AroundReference => (BOND_WIDTH / 0.1, ANGLE_WIDTH / 0.1, 2.0 * PI),
            IcScaling::Unit => (1.0, PI, 2.0 * PI),
        }
    }

    /// `log|∂z/∂ic|` over the 48 free coordinates (a constant).
    pub fn log_abs_det_z_ic(&self) -> f64 {
        let (b, a, t) = self.slopes();
        -(FREE_BONDS.len() as f64 * b.ln() + N_ANGLES as f64 * a.ln() + N_TORSIONS as f64 * t.ln())
    }

    /// ic value at IC index `k` → z, and its inverse.
    fn encode1(&self, k: usize, v: f64) -> f64 {
        let (b, a, t) = self.slopes();
        match (self.scaling, k) {
            (_, k) if k >= N_BONDS + N_ANGLES && self.centred_torsions => {
                let d = v - self.reference[k];
                0.5 + (d - 2.0 * PI * ((d + PI) / (2.0 * PI)).floor()) / t
            }
            (_, k) if k >= N_BONDS + N_ANGLES => (v + PI) / t,
            (IcScaling::AroundReference, k) if k >= N_BONDS => 0.5 + (v - self.reference[k]) / a,
            (IcScaling::AroundReference, k) => 0.5 + (v - self.reference[k]) / b,
            (IcScaling::Unit, k) if k >= N_BONDS => v / a,
            (IcScaling::Unit, _) => v / b,
        }
    }

    fn decode1(&self, k: usize, z: f64) -> f64 {
        let (b, a, t) = self.slopes();
        match (self.scaling, k) {
            (_, k) if k >= N_BONDS + N_ANGLES && self.centred_torsions => {
                self.reference[k] + (z - 0.5) * t
            }
            (_, k) if k >= N_BONDS + N_ANGLES => z * t - PI,
            (IcScaling::AroundReference, k) if k >= N_BONDS => self.reference[k] + (z - 0.5) * a,
            (IcScaling::AroundReference, k) => self.reference[k] + (z - 0.5) * b,
            (IcScaling::Unit, k) if k >= N_BONDS => z * a,
            (IcScaling::Unit, _) => z * b,
        }
    }

    /// The 48 normalised free coordinates of 60 ICs.
    pub fn encode(&self, ic: &[f64; N_IC]) -> [f64; N_FREE] {
        std::array::from_fn(|m| self.encode1(FREE_IC[m], ic[FREE_IC[m]]))
    }

    /// The 60 ICs of 48 normalised free coordinates, constrained bonds at their lengths.
    pub fn decode(&self, z: &[f64; N_FREE]) -> [f64; N_IC] {
        let mut ic = [0.0; N_IC];
        for (m, &k) in FREE_IC.iter().enumerate() {
            ic[k] = self.decode1(k, z[m]);
        }
        apply_constraints(&mut ic, &self.constrained);
        ic
    }

    /// x (N, 66) → z (N, 48) and `log|∂z/∂ic| − log J(ic)` per row (pose and X–H bonds dropped).
    pub fn to_internal(&self, x: ArrayView2<f64>) -> (Array2<f64>, Array1<f64>) {
        let n = x.nrows();
        let mut z = Array2::zeros((n, N_FREE));
        let mut log_det = Array1::zeros(n);
        let c = self.log_abs_det_z_ic();
        Zip::from(z.rows_mut())
            .and(&mut log_det)
            .and(x.rows())
            .par_for_each(|mut z, ld, x| {
                let mut ic = internal_coordinates(&positions_from_row(x));
                apply_constraints(&mut ic, &self.constrained); // log J at the fixed X–H lengths
                z.assign(&Array1::from(self.encode(&ic).to_vec()));
                *ld = c - log_jacobian(&ic);
            });
        (z, log_det)
    }

    /// z (N, 48) → x (N, 66) in the canonical pose and `log J(ic) − log|∂z/∂ic|` per row.
    pub fn to_cartesian(&self, z: ArrayView2<f64>) -> (Array2<f64>, Array1<f64>) {
        let n = z.nrows();
        let mut x = Array2::zeros((n, DIM));
        let mut log_det = Array1::zeros(n);
        let c = self.log_abs_det_z_ic();
        Zip::from(x.rows_mut())
            .and(&mut log_det)
            .and(z.rows())
            .par_for_each(|mut x, ld, z| {
                let ic = self.decode(&row48(z));
                x.assign(&Array1::from(cartesian(&ic).as_flattened().to_vec()));
                *ld = log_jacobian(&ic) - c;
            });
        (x, log_det)
    }

    /// Pull-back of a Cartesian gradient: `∂L/∂z = (∂x/∂z)ᵀ ∂L/∂x` per row, with x = x(z) as in
    /// [`IcTransform::to_cartesian`]. Use it to get ∇_z U from ∇_x U (projected on the constraints).
    pub fn pullback(&self, z: ArrayView2<f64>, grad_x: ArrayView2<f64>) -> Array2<f64> {
        let mut out = Array2::zeros((z.nrows(), N_FREE));
        let (b, a, t) = self.slopes();
        Zip::from(out.rows_mut())
            .and(z.rows())
            .and(grad_x.rows())
            .par_for_each(|mut o, z, g| {
                let (_, jac) = cartesian_jacobian(&self.decode(&row48(z)));
                for (m, &k) in FREE_IC.iter().enumerate() {
                    let slope = if k < N_BONDS {
                        b
                    } else if k < N_BONDS + N_ANGLES {
                        a
                    } else {
                        t
                    };
                    o[m] = slope * jac.iter().zip(g).map(|(row, gx)| row[k] * gx).sum::<f64>();
                }
            });
        out
    }

    /// ∂/∂z of the `to_cartesian` log-determinant `log J(ic(z))` per row.
    pub fn log_det_grad(&self, z: ArrayView2<f64>) -> Array2<f64> {
        let mut out = Array2::zeros((z.nrows(), N_FREE));
        let (b, a, _) = self.slopes();
        Zip::from(out.rows_mut())
            .and(z.rows())
            .par_for_each(|mut o, z| {
                let ic = self.decode(&row48(z));
                for (m, &k) in FREE_IC.iter().enumerate() {
                    o[m] = if k < N_BONDS {
                        2.0 / ic[k] * b
                    } else if k < N_BONDS + N_ANGLES {
                        a / ic[k].tan()
                    } else {
                        0.0
                    };
                }
            });
        out
    }
}

fn row48(z: ndarray::ArrayView1<f64>) -> [f64; N_FREE] {
    assert_eq!(z.len(), N_FREE, "IC rows must have {N_FREE} coordinates");
    std::array::from_fn(|m| z[m])
}
