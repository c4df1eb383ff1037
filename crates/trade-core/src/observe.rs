//! Progress and metrics leave the trainer through an `Observer`; the library never prints.

/// What happened during training.
#[derive(Debug, Clone, PartialEq)]
pub enum Event<'a> {
    /// A completed optimisation step.
    Step {
        /// Step index (0-based).
        step: usize,
        /// Total steps of the run.
        total: usize,
        /// Weighted total loss.
        loss: f64,
        /// Each loss term's unweighted value, by name.
        terms: &'a [(&'static str, f64)],
        /// Learning rate used.
        lr: f64,
    },
    /// A step skipped because the loss or a gradient was not finite.
    Skipped {
        /// Step index.
        step: usize,
        /// Consecutive skips so far.
        consecutive: usize,
        /// What was non-finite.
        what: &'a str,
    },
    /// A checkpoint was written.
    Checkpoint {
        /// Step after which it was written.
        step: usize,
    },
}

/// Receives training events (xtask attaches a progress bar; tests record them).
pub trait Observer {
    /// Called for every event, in order.
    fn on_event(&mut self, event: &Event<'_>);
}

/// Ignores everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct Silent;

impl Observer for Silent {
    fn on_event(&mut self, _: &Event<'_>) {}
}
