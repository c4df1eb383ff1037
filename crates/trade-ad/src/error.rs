//! The one error type of trade-ad (shape mismatches inside the tape are assertions instead).

use thiserror::Error;

/// Errors at the door of trade-ad: parameter files, names and checks.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum AdError {
    /// A parameter name was registered twice.
    #[error("duplicate parameter name {0:?}")]
    DuplicateParam(String),
    /// A parameter name is not in the store.
    #[error("unknown parameter {0:?}")]
    UnknownParam(String),
    /// A parameter file does not parse or does not match the store.
    #[error("parameter file: {0}")]
    ParamFile(String),
    /// A value is outside its allowed range.
    #[error("{field} = {value} is out of range: allowed {allowed}")]
    OutOfRange {
        /// Field name.
        field: &'static str,
        /// Offending value, formatted.
        value: String,
        /// Allowed range.
        allowed: &'static str,
    },
    /// A finite-difference check failed (see `testing`).
    #[error("{0}")]
    CheckFailed(String),
}
