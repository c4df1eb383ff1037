//! TRADE losses, baselines, trainer, metrics and checkpoints (see issue 6; not yet implemented).
