//! trade-ad
