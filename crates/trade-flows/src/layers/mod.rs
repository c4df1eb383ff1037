//! Flow layers, one per file; each implements [`Bijector`](crate::Bijector) with tape ops only.

pub mod actnorm;
pub mod affine_coupling;
pub mod circular_shift;
pub mod conditional_affine;
pub mod coupling;
pub mod gin;
pub mod global_scaling;
pub mod masked_coupling;
pub mod permutation;
pub mod space_to_depth;
pub mod spline;
pub mod unit_clamp;
pub mod unit_spline;

pub use actnorm::ActNorm;
pub use affine_coupling::{Affine, AffineCoupling, Clamp};
pub use circular_shift::CircularShift;
pub use conditional_affine::ConditionalAffine;
pub use coupling::{Coupling, CouplingTransform, split_len};
pub use gin::{Gin, GinCoupling};
pub use global_scaling::GlobalScaling;
pub use masked_coupling::{Groups, MaskedCoupling};
pub use permutation::{Orthogonal, Permutation};
pub use space_to_depth::SpaceToDepth;
pub use spline::{RqCoupling, RqSpline};
pub use unit_clamp::UnitClamp;
pub use unit_spline::UnitSpline;
