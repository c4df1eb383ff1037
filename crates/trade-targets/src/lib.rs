//! Target densities for TRADE (see issue 4).
