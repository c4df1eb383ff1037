//! The alanine-dipeptide spline flow of `flows.md` §9 as a [`FlowConfig`] preset, on the 48
//! normalised free internal coordinates z = [9 bonds, 20 angles, 19 torsions], all in [0, 1]
//! (`trade_targets::alanine::IcTransform`: bonds `0.5 + 0.1 Δb/0.005 nm`, angles
//! `0.5 + 0.1 Δθ/0.15 rad`, torsions as a fraction of the period; `targets.md` §6.8). That
//! scaling is affine per coordinate, so its log-Jacobian is the constant
//! `log|∂z/∂ic| = −(9 ln 0.05 nm + 20 ln 1.5 rad + 19 ln 2π) ≈ −16.07`
//! (`IcTransform::log_abs_det_z_ic`), included in the transform's `log|∂z/∂x|`.

use crate::conditioner::ConditionerConfig;
use crate::config::{BaseConfig, ConditionConfig, ConditionInput, FlowConfig, LayerConfig};
use trade_ad::Activation;

/// Free bonds: z[0..9].
pub const BONDS: std::ops::Range<usize> = 0..9;
/// Angles: z[9..29].
pub const ANGLES: std::ops::Range<usize> = 9..29;
/// Torsions: z[29..48].
pub const TORSIONS: std::ops::Range<usize> = 29..48;

impl FlowConfig {
    /// `flows.md` §9 spline variant, data → latent: clamp to [0, 1] (sampling side) →
    /// `layers_per_group` × [bonds | angles, torsions] → `layers_per_group` × [angles | torsions]
    /// → `layers_per_group` × [torsion shift → torsion half A | half B, alternating] → IC prior
    /// (bonds and angles truncated N(0.5, 0.1²) on [0, 1], torsions U[0, 1]). Couplings are
    /// unit-interval RQ splines with `bins` bins (circular on torsions); every conditioner is a
    /// ResNet of `width` with `res_blocks` residual blocks, SiLU, zero last layer (identity
    /// start); log τ is the context. Torsion halves: even and odd torsion positions.
    ///
    /// The spec's model is `FlowConfig::alanine_spline(3, 8, 128, 2)`.
    pub fn alanine_spline(
        layers_per_group: usize,
        bins: usize,
        width: usize,
        res_blocks: usize,
    ) -> Self {
        let conditioner = ConditionerConfig::ResNet {
            width,
            blocks: res_blocks,
            activation: Activation::Silu,
            init: Default::default(),
            zero_last: true,
        };
        let coupling = |transformed: Vec<usize>, conditioning: Vec<usize>, circular| {
            LayerConfig::UnitSplineCoupling {
                conditioner: conditioner.clone(),
                transformed,
                conditioning,
                bins,
                circular,
                min_bin: 1e-3,
                min_derivative: 1e-3,
            }
        };
        let torsions: Vec<usize> = TORSIONS.collect();
        let (even, odd): (Vec<usize>, Vec<usize>) = torsions.iter().partition(|&&i| i % 2 == 1);
        let mut layers = vec![LayerConfig::UnitClamp];
        let angles_torsions: Vec<usize> = ANGLES.chain(TORSIONS).collect();
        for _ in 0..layers_per_group {
            layers.push(coupling(BONDS.collect(), angles_torsions.clone(), false));
        }
        for _ in 0..layers_per_group {
            layers.push(coupling(ANGLES.collect(), torsions.clone(), false));
        }
        for k in 0..layers_per_group {
            layers.push(LayerConfig::CircularShift {
                dims: torsions.clone(),
            });
            let (a, b) = if k % 2 == 0 {
                (even.clone(), odd.clone())
            } else {
                (odd.clone(), even.clone())
            };
            layers.push(coupling(a, b, true));
        }
        Self {
            dim: 48,
            augmentation_dims: 0,
            condition: ConditionConfig {
                input: ConditionInput::LogC,
                y_dim: 0,
            },
            layers,
            base: BaseConfig::IcPrior {
                truncated: ANGLES.end,
                loc: 0.5,
                scale: 0.1,
            },
            seed: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_preset_validates_round_trips_and_has_nine_couplings() {
        let c = FlowConfig::alanine_spline(3, 8, 128, 2);
        c.validate().unwrap();
        assert_eq!(FlowConfig::from_json(&c.to_json()).unwrap(), c);
        let couplings = c
            .layers
            .iter()
            .filter(|l| matches!(l, LayerConfig::UnitSplineCoupling { .. }))
            .count();
        assert_eq!(couplings, 9);
    }
}
