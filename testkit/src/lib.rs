//! Fixtures shared by the tests (`tests/`) and the benchmarks (`benches/`)
//! of `dmarc-report`, so that both build reports, archives and random data
//! the same way:
//!
//! - [`report`]: aggregate report XML;
//! - [`archive`]: gzip, zip, MIME mail and mbox around it;
//! - [`rng`]: one seeded pseudo-random generator;
//! - [`views`]: render view models (a not-ready domain, a ready one, ...).
//!
//! It is a development-only crate, never published.

pub mod archive;
pub mod report;
pub mod rng;
pub mod views;

pub use rng::Rng;
