//! The streaming XML parser on raw bytes: open the report, read every
//! record, collect the warnings (`checks::parse_xml`); then read it again
//! in small pieces on worker threads, which must give the same
//! (`checks::pieces_match`).
#![no_main]

#[path = "../checks.rs"]
mod checks;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    checks::parse_xml(data);
    checks::pieces_match(data);
});
