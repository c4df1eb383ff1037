//! Volume-preserving GIN coupling (`flows.md` §2.3): the affine coupling with s ← s − mean(s)
//! per sample, so log|det| = 0 exactly; used by temperature-steerable flows.

use super::affine_coupling::{Affine, Clamp};
use super::coupling::Coupling;

/// The GIN element transform: an [`Affine`] with `volume_preserving = true`.
pub type Gin = Affine;

/// A two-sided GIN coupling block.
pub type GinCoupling = Coupling<Gin>;

impl Affine {
    /// The GIN transform with soft clamp `clamp` (Loop A: 0.3).
    pub fn gin(clamp: Clamp) -> Self {
        Affine {
            clamp,
            volume_preserving: true,
        }
    }

    /// The GLOW transform with soft clamp `clamp`.
    pub fn glow(clamp: Clamp) -> Self {
        Affine {
            clamp,
            volume_preserving: false,
        }
    }
}
