//! Golden tests over `sample-reports/`: every input is ingested into a fresh
//! database and the database's canonical image (`Inspector::snapshot`) must
//! equal `tests/golden/<input>.json`. Failed inputs are part of the image,
//! so the error messages are pinned too.
//!
//! Each test runs on SQLite and on PostgreSQL (the same golden files). On a
//! mismatch the actual image is written next to the golden file as
//! `.failed` (`.postgresql.failed` from PostgreSQL) and the test panics
//! with its path. `UPDATE_GOLDEN=1 cargo test
//! --test golden` rewrites the golden files after an intended change.
//!
//! The same inputs are also checked against `tests/data/samples-expected.json`,
//! written by the samples generator's own independent reader.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Backend, both_backends, totals};

use std::path::{Path, PathBuf};

use dmarc_report::fetch::files;
use dmarc_report::ingest::Ingester;
use dmarc_report::limits::Limits;
use dmarc_report::store::Store;

const SAMPLES: &str = "sample-reports";
const GOLDEN: &str = "tests/golden";

/// Every input in the samples, relative to the crate root.
fn inputs() -> Vec<PathBuf> {
    let inputs: Vec<PathBuf> = files::expand(Path::new(SAMPLES), &[])
        .into_iter()
        .map(|r| r.expect("readable sample"))
        .collect();
    assert!(inputs.len() >= 50, "expected the bundled samples, found {} inputs", inputs.len());
    inputs
}

fn ingest_one(backend: Backend, input: &Path) -> Store {
    let store = backend.new_store();
    let mut ingester = Ingester::new(&store, Limits::default());
    ingester.ingest_file(input).unwrap();
    ingester.finish().unwrap();
    store
}

both_backends!(every_sample_stores_exactly_its_golden_image);
fn every_sample_stores_exactly_its_golden_image(backend: Backend) {
    // The files are written from SQLite; PostgreSQL must give the same.
    let update = std::env::var_os("UPDATE_GOLDEN").is_some() && backend == Backend::Sqlite;
    let mut checked = 0;
    let mut mismatches = Vec::new();
    for input in inputs() {
        let store = ingest_one(backend, &input);
        let image = store.inspect().snapshot().unwrap();
        let actual = serde_json::to_string_pretty(&image).unwrap() + "\n";
        let rel = input.strip_prefix(SAMPLES).unwrap();
        let golden = Path::new(GOLDEN).join(format!("{}.json", rel.display()));
        let failed = golden.with_extension(match backend {
            Backend::Sqlite => "json.failed".to_owned(),
            other => format!("json.{}.failed", other.name()),
        });
        if update {
            std::fs::create_dir_all(golden.parent().unwrap()).unwrap();
            std::fs::write(&golden, &actual).unwrap();
            let _ = std::fs::remove_file(&failed);
        } else {
            let expected = std::fs::read_to_string(&golden).unwrap_or_else(|_| {
                panic!("no golden file {} (run with UPDATE_GOLDEN=1)", golden.display())
            });
            if expected != actual {
                std::fs::write(&failed, &actual).unwrap();
                mismatches.push(format!("{} (actual in {})", golden.display(), failed.display()));
            } else {
                let _ = std::fs::remove_file(&failed);
            }
        }
        checked += 1;
    }
    assert!(checked > 0, "no golden case ran");
    assert!(
        mismatches.is_empty(),
        "{} golden mismatch(es):\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

#[test]
fn no_golden_file_is_left_without_its_sample() {
    let wanted: std::collections::BTreeSet<PathBuf> = inputs()
        .iter()
        .map(|i| {
            Path::new(GOLDEN).join(format!("{}.json", i.strip_prefix(SAMPLES).unwrap().display()))
        })
        .collect();
    let present: Vec<PathBuf> = files::expand(Path::new(GOLDEN), &[])
        .into_iter()
        .map(Result::unwrap)
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    assert!(!present.is_empty(), "no golden files found in {GOLDEN}");
    let stale: Vec<_> = present.iter().filter(|p| !wanted.contains(*p)).collect();
    assert!(stale.is_empty(), "golden files without a sample: {stale:?}");
}

// SQLite only: the same stored data is pinned on PostgreSQL, more strictly,
// by the golden images above.
#[test]
fn samples_match_the_generators_independent_reading() {
    let backend = Backend::Sqlite;
    let expected = totals::load(Path::new("tests/data/samples-expected.json"));
    let mut checked = 0;
    for input in inputs() {
        let rel = input.strip_prefix(SAMPLES).unwrap().display().to_string();
        let entry =
            expected.get(&rel).unwrap_or_else(|| panic!("{rel} is not in samples-expected.json"));
        let store = ingest_one(backend, &input);
        let want = totals::expected(entry);
        let got = totals::stored(&store);
        assert_eq!(got, want, "{rel}: stored reports differ from the independent reading");
        if want.is_empty() {
            let failures = store.failures().unwrap();
            assert_eq!(failures.len(), 1, "{rel}: holds no report, so it must be kept as failed");
            assert!(!failures[0].error.is_empty());
        }
        checked += 1;
    }
    assert!(checked >= 50, "only {checked} samples checked");
}

both_backends!(the_whole_sample_set_stores_each_report_once);
fn the_whole_sample_set_stores_each_report_once(backend: Backend) {
    let store = backend.new_store();
    let mut ingester = Ingester::new(&store, Limits::default());
    ingester.ingest_paths(&[SAMPLES.to_owned()]).unwrap();
    let summary = ingester.finish().unwrap();
    let distinct = store.inspect().counts().unwrap().reports;
    assert_eq!(summary.reports_new, distinct);
    // One report is shipped twice on purpose (docs/samples.md).
    assert_eq!(summary.reports_duplicate, 1);
    // Every malformed sample, and nothing else, fails.
    assert!(
        summary.failed.iter().all(|f| f.input.contains("/malformed/")),
        "{:#?}",
        summary.failed
    );
    let malformed = std::fs::read_dir(Path::new(SAMPLES).join("malformed")).unwrap().count();
    assert_eq!(summary.failed.len(), malformed);
}
