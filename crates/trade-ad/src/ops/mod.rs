//! Op families: each file holds forward kernels, reverse rules and tangent rules of its ops.

pub(crate) mod binary;
pub(crate) mod elementwise;
pub(crate) mod linalg;
pub(crate) mod reduce;
pub(crate) mod shape;
pub(crate) mod silu;
