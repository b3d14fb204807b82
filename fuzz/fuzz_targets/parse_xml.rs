//! The streaming XML parser on raw bytes: open the report, read every
//! record, collect the warnings. It must never panic, hang or grow without
//! bound, and what it accepts must respect the parser's own rules.
#![no_main]

use dmarc_report::parse::lenient::MAX_COUNT;
use dmarc_report::parse::{ParseOptions, ReportReader};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // A name in the reporters' pattern, so the date-range fallback runs too.
    let options = ParseOptions {
        known_utf8: false,
        file_name: Some("fuzz.example!example.com!1794873600!1794959999.xml".into()),
    };
    let Ok((mut reader, _header)) = ReportReader::open(data, &options) else { return };
    loop {
        match reader.next_record() {
            Ok(Some(record)) => {
                assert!(record.count <= MAX_COUNT, "count {} accepted", record.count)
            }
            Ok(None) => {
                // The end is final.
                assert!(matches!(reader.next_record(), Ok(None)));
                break;
            }
            Err(e) => {
                assert!(!e.to_string().is_empty());
                break;
            }
        }
    }
    let _ = reader.warnings();
    let _ = reader.late_extensions();
});
