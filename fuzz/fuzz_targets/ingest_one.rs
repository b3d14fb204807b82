//! The whole ingest of one input into an in-memory store, then the
//! store's invariants (`checks::ingest_one`).
#![no_main]

#[path = "../checks.rs"]
mod checks;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    checks::ingest_one(data);
});
