//! The one error type of trade-targets: bad input named by field and allowed range.

use thiserror::Error;

/// Everything that can go wrong when a target is asked for a value.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum TargetError {
    /// The input has the wrong number of columns.
    #[error("wrong dimension: expected {expected} columns per row, got {got}")]
    Dimension {
        /// Dimension the target expects.
        expected: usize,
        /// Dimension that was passed.
        got: usize,
    },
    /// A coordinate is NaN or infinite.
    #[error("non-finite input at row {row}, column {col}")]
    NonFinite {
        /// Row of the first offending value.
        row: usize,
        /// Column of the first offending value.
        col: usize,
    },
    /// A condition lies outside the allowed range.
    #[error("{name} = {value} is out of range: allowed {allowed}")]
    ConditionOutOfRange {
        /// Name of the condition (T, beta, kappa, ...).
        name: &'static str,
        /// Offending value.
        value: f64,
        /// Allowed range, human readable.
        allowed: String,
    },
    /// The number of conditions does not match the number of rows.
    #[error("{got} conditions given for {rows} rows (need one per row, or one for all)")]
    ConditionCount {
        /// Rows in x.
        rows: usize,
        /// Conditions given.
        got: usize,
    },
    /// A parameter of a target or sampler is invalid.
    #[error("invalid parameter {field} = {value}: allowed {allowed}")]
    InvalidParameter {
        /// Parameter name.
        field: &'static str,
        /// Offending value, formatted.
        value: String,
        /// Allowed values.
        allowed: String,
    },
    /// A numerical procedure (minimisation, constraint solving) did not succeed.
    #[error("{procedure} failed: {reason}")]
    Numerical {
        /// The procedure (for example "L-BFGS minimisation", "SHAKE").
        procedure: &'static str,
        /// What went wrong.
        reason: String,
    },
    /// Two atoms (or particles) coincide, so the energy is singular.
    #[error("singular configuration at row {row}: {what}")]
    Singular {
        /// Row of the configuration.
        row: usize,
        /// What is singular.
        what: String,
    },
}
