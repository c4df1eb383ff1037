//! The one error type of trade-flows: bad configs, wrong dimensions, non-finite input, files.

use thiserror::Error;
use trade_ad::AdError;

/// Errors at the door of trade-flows. Shape mismatches inside the tape are assertions instead.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum FlowError {
    /// A config field is outside its allowed range.
    #[error("config field {field} = {value} is out of range: allowed {allowed}")]
    OutOfRange {
        /// Field path, e.g. `layers[2].bins`.
        field: String,
        /// Offending value, formatted.
        value: String,
        /// Allowed range.
        allowed: &'static str,
    },
    /// An input has the wrong number of columns (or rows).
    #[error("{what}: expected {expected}, got {got}")]
    Dimension {
        /// Which input.
        what: &'static str,
        /// Expected size.
        expected: usize,
        /// Actual size.
        got: usize,
    },
    /// An input row holds NaN or ±∞.
    #[error("{what}: non-finite value in row {row}")]
    NonFinite {
        /// Which input.
        what: &'static str,
        /// First offending row.
        row: usize,
    },
    /// A condition value is outside the range the flow can use (e.g. c ≤ 0 where log c enters).
    #[error("condition {what} = {value} in row {row}: allowed {allowed}")]
    Condition {
        /// Which condition.
        what: &'static str,
        /// First offending row.
        row: usize,
        /// The value.
        value: f64,
        /// Allowed range.
        allowed: &'static str,
    },
    /// The flow needs a condition the caller did not give.
    #[error("missing condition: {0}")]
    MissingCondition(&'static str),
    /// A parameter-store error (names, shapes, files).
    #[error(transparent)]
    Param(#[from] AdError),
    /// A config or parameter file does not parse or does not match the model.
    #[error("file: {0}")]
    File(String),
}

impl FlowError {
    /// Shorthand for [`FlowError::OutOfRange`].
    pub fn out_of_range(
        field: impl Into<String>,
        value: impl std::fmt::Display,
        allowed: &'static str,
    ) -> Self {
        FlowError::OutOfRange {
            field: field.into(),
            value: value.to_string(),
            allowed,
        }
    }
}
