//! Inputs the coverage-guided fuzzers (`fuzz/`, `scripts/fuzz`) found
//! crashing, kept in `tests/data/fuzz-regressions/`. Each is pinned by a
//! test named after the behaviour, and every file there goes through the
//! checks of all three fuzz targets (`fuzz/checks.rs`, shared with them).

#[path = "../fuzz/checks.rs"]
mod checks;

use std::path::{Path, PathBuf};

use dmarc_report::ingest::{FailureKind, Problem};

fn folder() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/fuzz-regressions")
}

fn input(name: &str) -> Vec<u8> {
    let path = folder().join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Found by `unpack` (12 minutes in, 105,667 runs): a multipart message
/// whose boundary is `-`, so its delimiter `---` is also the start of its
/// own closing `-----`, holding `message/rfc822` parts that are empty.
/// mail-parser 0.11.9 hits a `debug_assert!` there ("Invalid part ID, could
/// not find multipart"), which took down a whole debug-build ingest; a
/// release build recovers. Cargo.toml now turns that crate's debug
/// assertions off in every profile, so tests and debug builds run what
/// ships.
#[test]
fn a_multipart_with_a_dash_boundary_and_empty_forwarded_parts_is_refused_without_a_panic() {
    let bytes = input("unpack-nested-rfc822-in-a-dash-boundary.eml");
    let unpacked = checks::unpack(&bytes);
    assert_eq!(unpacked.documents, 0);
    let outcome = checks::ingest_one(&bytes);
    assert!(!outcome.is_ok());
    assert_eq!(
        outcome.errors,
        [Problem::new(
            "input",
            FailureKind::NotAReport,
            "no DMARC aggregate report in this message"
        )]
    );
}

#[test]
fn every_fuzz_regression_input_passes_the_checks_of_every_target() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(folder())
        .expect("tests/data/fuzz-regressions")
        .map(|entry| entry.expect("a directory entry").path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no fuzz regression inputs in {}", folder().display());
    for file in &files {
        let bytes = std::fs::read(file).expect("read a regression input");
        let name = file.display();
        // A panic names the file: run each check separately.
        for (target, check) in [
            ("parse_xml", (|b| _ = checks::parse_xml(b)) as fn(&[u8])),
            ("parse_xml (pieces)", checks::pieces_match),
            ("unpack", |b| _ = checks::unpack(b)),
            ("ingest_one", |b| _ = checks::ingest_one(b)),
        ] {
            if std::panic::catch_unwind(|| check(&bytes)).is_err() {
                panic!("{name}: the {target} check failed (see the panic above)");
            }
        }
    }
}
