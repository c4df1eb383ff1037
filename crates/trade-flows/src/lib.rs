//! Conditional normalizing flows on the trade-ad tape (see issue 3; not yet implemented).
