//! Analysis of stored reports. [`senders`]: who a source is, named offline
//! from what reports say about it; [`summary`]: per-domain and per-source
//! totals over a window.
//!
//! (Issue 4 builds the per-domain summary, sender classes and the readiness
//! verdict on top of this.)

pub mod rdns;
pub mod senders;
pub mod summary;
