//! Sniffing and unpacking (gzip, zip, MIME, plain XML) with the default
//! limits, every document drained to its end (`checks::unpack`).
#![no_main]

#[path = "../checks.rs"]
mod checks;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    checks::unpack(data);
});
