//! The one error type of trade-core.

use thiserror::Error;

/// Errors of losses, training, metrics and checkpoints.
#[derive(Debug, Error)]
pub enum CoreError {
    /// A configuration value is outside its allowed range.
    #[error("{field} = {value} is out of range: allowed {allowed}")]
    OutOfRange {
        /// Field name as written in the config.
        field: &'static str,
        /// Offending value, formatted.
        value: String,
        /// Allowed range.
        allowed: &'static str,
    },
    /// Input arrays of the wrong size.
    #[error("{what}: expected {expected}, got {got}")]
    Dimension {
        /// What was being checked.
        what: &'static str,
        /// Expected size.
        expected: usize,
        /// Actual size.
        got: usize,
    },
    /// Importance weights are all zero or non-finite, so no estimate exists.
    #[error(
        "self-normalised importance sampling at c = {condition}: {n_valid} of {n} weights are usable"
    )]
    NoValidWeights {
        /// Condition of the estimate.
        condition: f64,
        /// Finite, non-zero weights.
        n_valid: usize,
        /// All weights.
        n: usize,
    },
    /// Too many non-finite steps in a row.
    #[error(
        "training diverged at step {step}: {consecutive} non-finite steps in a row (last: {what})"
    )]
    Diverged {
        /// Step of the last failure.
        step: usize,
        /// Consecutive skipped steps.
        consecutive: usize,
        /// What was non-finite.
        what: String,
    },
    /// A checkpoint cannot be written or read.
    #[error("checkpoint {path}: {reason}")]
    Checkpoint {
        /// File path.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// A part of a run config (`RunConfig`) that its own checks rejected, with its path in
    /// the document.
    #[error("{path}: {error}")]
    Config {
        /// Path of the part, e.g. `losses[1] (trade-grid)` or `train`.
        path: String,
        /// What is wrong with it (not a `source`: the message already contains it).
        error: Box<CoreError>,
    },
    /// A field of a run config outside its allowed range, named by its path.
    #[error("{path} = {value} is out of range: allowed {allowed}")]
    ConfigField {
        /// Path of the field, e.g. `train.lr`.
        path: String,
        /// Offending value, formatted.
        value: String,
        /// Allowed range.
        allowed: String,
    },
    /// A document that does not parse (syntax, unknown field, wrong type).
    #[error("{what}: {reason}")]
    Parse {
        /// Which document.
        what: &'static str,
        /// The parser's message (line, column and field).
        reason: String,
    },
    /// From trade-ad (parameters, optimiser config).
    #[error(transparent)]
    Ad(#[from] trade_ad::AdError),
    /// From trade-flows (model input, configs).
    #[error(transparent)]
    Flow(#[from] trade_flows::FlowError),
    /// From trade-targets (energy input, conditions).
    #[error(transparent)]
    Target(#[from] trade_targets::TargetError),
}

pub(crate) fn out_of_range(
    field: &'static str,
    value: impl ToString,
    allowed: &'static str,
) -> CoreError {
    CoreError::OutOfRange {
        field,
        value: value.to_string(),
        allowed,
    }
}
