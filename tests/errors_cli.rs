//! Failed inputs end to end, on SQLite and on PostgreSQL: each is kept
//! with its kind, `ingest --retry-failed` passes over the kinds a retry
//! cannot change unless asked, and a dismissed input leaves `errors`, is
//! never retried, and stays dismissed when the same input fails again.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::{command, run, temp_dir};

/// The malformed samples, copied into `dir` (their names are part of
/// what is checked).
fn malformed_samples(dir: &Path) -> PathBuf {
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-reports/malformed");
    let to = dir.join("inputs");
    std::fs::create_dir(&to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
    to
}

/// The databases to run on: a SQLite file in `dir`, and a fresh
/// PostgreSQL database when PostgreSQL is installed.
fn databases(test: &str, dir: &Path) -> Vec<String> {
    let mut dbs = vec![dir.join("dmarc.db").display().to_string()];
    dbs.extend(common::postgres::database(test));
    dbs
}

fn dmarc(dir: &Path, db: &str, args: &[&str]) -> common::Run {
    run(command(dir).arg("--db").arg(db).args(args))
}

/// `errors --format json` (or `--dismissed`) as file name → entry.
fn listed(dir: &Path, db: &str, dismissed: bool) -> BTreeMap<String, serde_json::Value> {
    let mut args = vec!["errors", "--format", "json"];
    if dismissed {
        args.push("--dismissed");
    }
    let out = dmarc(dir, db, &args);
    assert_eq!(out.code, Some(0), "{out:?}");
    let list = out.json();
    list.as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let name = f["name"].as_str().unwrap();
            let file = name.rsplit('/').next().unwrap().to_owned();
            (file, f.clone())
        })
        .collect()
}

fn attempts(entries: &BTreeMap<String, serde_json::Value>) -> BTreeMap<String, u64> {
    entries.iter().map(|(name, f)| (name.clone(), f["attempts"].as_u64().unwrap())).collect()
}

/// The inputs that are another kind of report or no report at all.
const NOT_REPORTS: [&str; 5] = [
    "empty.xml",
    "failure-report.eml",
    "not-a-report.eml",
    "smtp-tls-report.eml",
    "smtp-tls-report.json",
];

/// The DMARC reports that are broken (a retry may change them).
const BROKEN: [&str; 3] = ["bad-count.xml", "broken.xml", "truncated.xml.gz"];

#[test]
fn each_failed_input_is_listed_with_its_kind_and_retried_only_when_a_retry_can_change_it() {
    let dir = temp_dir();
    let inputs = malformed_samples(dir.path());
    for db in databases("failure_kinds", dir.path()) {
        let out = dmarc(dir.path(), &db, &["ingest", inputs.to_str().unwrap()]);
        assert_eq!(out.code, Some(1), "{out:?}");
        let entries = listed(dir.path(), &db, false);
        let kinds: BTreeMap<&str, &str> =
            entries.iter().map(|(n, f)| (n.as_str(), f["kind"].as_str().unwrap())).collect();
        assert_eq!(
            kinds,
            BTreeMap::from([
                ("bad-count.xml", "malformed"),
                ("broken.xml", "malformed"),
                ("empty.xml", "not-a-report"),
                ("failure-report.eml", "failure-report"),
                ("not-a-report.eml", "not-a-report"),
                ("smtp-tls-report.eml", "tls-report"),
                ("smtp-tls-report.json", "tls-report"),
                ("truncated.xml.gz", "corrupt"),
            ]),
            "{db}"
        );
        assert!(entries.values().all(|f| f["dismissed_at"].is_null()), "{db}");

        // By default only the broken reports are tried again.
        let out = dmarc(dir.path(), &db, &["ingest", "--retry-failed"]);
        assert_eq!(out.code, Some(1), "{out:?}");
        assert!(out.stderr.contains("not retried: 5 inputs recognised as another kind"), "{out:?}");
        let tries = attempts(&listed(dir.path(), &db, false));
        for name in BROKEN {
            assert_eq!(tries[name], 2, "{db} {name}");
        }
        for name in NOT_REPORTS {
            assert_eq!(tries[name], 1, "{db} {name}");
        }

        // Asked for, a kind is tried too; --all-kinds tries every one.
        let args = ["ingest", "--retry-failed", "--include-kind", "tls-report"];
        assert_eq!(dmarc(dir.path(), &db, &args).code, Some(1));
        let tries = attempts(&listed(dir.path(), &db, false));
        assert_eq!(tries["smtp-tls-report.json"], 2, "{db}");
        assert_eq!(tries["not-a-report.eml"], 1, "{db}");
        let out = dmarc(dir.path(), &db, &["ingest", "--retry-failed", "--all-kinds"]);
        assert_eq!(out.code, Some(1), "{out:?}");
        assert!(!out.stderr.contains("not retried"), "{out:?}");
        assert_eq!(attempts(&listed(dir.path(), &db, false))["not-a-report.eml"], 2, "{db}");

        // A kind that does not exist is refused, naming the kinds.
        let out = dmarc(dir.path(), &db, &["ingest", "--retry-failed", "--include-kind", "tls"]);
        assert_eq!(out.code, Some(2), "{out:?}");
        assert!(
            out.stderr.contains("\"tls\" is not a failure kind (one of not-a-report"),
            "{out:?}"
        );
    }
}

#[test]
fn a_dismissed_input_leaves_the_list_is_never_retried_and_stays_dismissed() {
    let dir = temp_dir();
    let inputs = malformed_samples(dir.path());
    for db in databases("dismissed", dir.path()) {
        assert_eq!(dmarc(dir.path(), &db, &["ingest", inputs.to_str().unwrap()]).code, Some(1));
        let entries = listed(dir.path(), &db, false);
        let ids: Vec<String> = NOT_REPORTS.iter().map(|n| entries[*n]["id"].to_string()).collect();

        // Dismissing an id that does not exist dismisses nothing.
        let mut args = vec!["errors", "--dismiss", "999999"];
        args.extend(ids.iter().map(String::as_str));
        let out = dmarc(dir.path(), &db, &args);
        assert_eq!(out.code, Some(2), "{out:?}");
        assert!(out.stderr.contains("no failed input with id 999999"), "{out:?}");
        assert_eq!(listed(dir.path(), &db, false).len(), 8, "{db}");

        let mut args = vec!["errors", "--dismiss"];
        args.extend(ids.iter().map(String::as_str));
        let out = dmarc(dir.path(), &db, &args);
        assert_eq!((out.code, out.stdout.as_str()), (Some(0), "dismissed 5 failed inputs\n"));
        let left = listed(dir.path(), &db, false);
        assert_eq!(left.keys().map(String::as_str).collect::<Vec<_>>(), BROKEN, "{db}");
        let dismissed = listed(dir.path(), &db, true);
        assert_eq!(dismissed.keys().map(String::as_str).collect::<Vec<_>>(), NOT_REPORTS);
        for (name, f) in &dismissed {
            assert!(f["dismissed_at"].as_str().unwrap().ends_with('Z'), "{db} {name}: {f}");
            assert_eq!(f["size"], 0, "{db} {name}: its bytes are deleted");
        }
        let out = dmarc(dir.path(), &db, &["errors", "--export", &ids[0], "--out", "-"]);
        assert_eq!(out.code, Some(2), "{out:?}");

        // Dismissing one again says so and changes nothing.
        let out = dmarc(dir.path(), &db, &["errors", "--dismiss", &ids[0]]);
        assert_eq!(out.code, Some(0), "{out:?}");
        assert_eq!(
            out.stdout,
            format!("dismissed 0 failed inputs (#{} dismissed before)\n", ids[0])
        );

        // Never retried, whatever the kinds asked for.
        let out = dmarc(dir.path(), &db, &["ingest", "--retry-failed", "--all-kinds"]);
        assert_eq!(out.code, Some(1), "{out:?}");
        assert!(out.stdout.starts_with("3 inputs: "), "{out:?}");
        assert!(attempts(&listed(dir.path(), &db, true)).values().all(|&n| n == 1), "{db}");

        // The same inputs again: they fail as before and stay dismissed,
        // without their bytes; only the broken reports count as failed.
        let out = dmarc(dir.path(), &db, &["ingest", inputs.to_str().unwrap()]);
        assert_eq!(out.code, Some(1), "{out:?}");
        assert!(out.stdout.ends_with("3 failed (5 dismissed before)\n"), "{out:?}");
        assert_eq!(listed(dir.path(), &db, false).len(), 3, "{db}");
        let dismissed = listed(dir.path(), &db, true);
        assert_eq!(dismissed.len(), 5, "{db}");
        assert!(dismissed.values().all(|f| f["size"] == 0 && f["attempts"] == 2), "{db}");
        let one = inputs.join("not-a-report.eml");
        let out = dmarc(dir.path(), &db, &["ingest", "--format", "json", one.to_str().unwrap()]);
        assert_eq!(out.code, Some(0), "a dismissed input alone is no failure: {out:?}");
        assert_eq!(out.json()["dismissed"], 1, "{out:?}");
        assert_eq!(out.json()["failed"].as_array().unwrap().len(), 0, "{out:?}");

        // --dismiss-all empties the list; nothing is left to retry.
        let out = dmarc(dir.path(), &db, &["errors", "--dismiss-all"]);
        assert_eq!((out.code, out.stdout.as_str()), (Some(0), "dismissed 3 failed inputs\n"));
        let out = dmarc(dir.path(), &db, &["errors"]);
        assert_eq!(out.stdout, "no failed inputs\n", "{out:?}");
        let out = dmarc(dir.path(), &db, &["ingest", "--retry-failed"]);
        assert_eq!(out.code, Some(0), "{out:?}");
        assert!(out.stderr.contains("no failed inputs to retry"), "{out:?}");
    }
}

#[test]
fn the_errors_listing_shows_each_kind_and_what_dismissing_does() {
    let dir = temp_dir();
    let inputs = malformed_samples(dir.path());
    let db = dir.path().join("dmarc.db").display().to_string();
    let bad = inputs.join("bad-count.xml");
    let tls = inputs.join("smtp-tls-report.json");
    let out = dmarc(dir.path(), &db, &["ingest", bad.to_str().unwrap(), tls.to_str().unwrap()]);
    assert_eq!(out.code, Some(1), "{out:?}");
    let out = dmarc(dir.path(), &db, &["errors"]);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 5, "{out:?}");
    assert!(
        lines[0].starts_with("#1  ")
            && lines[0].contains("bad-count.xml  malformed, tried 1 time, last ")
    );
    assert!(lines[2].contains("smtp-tls-report.json  tls-report, tried 1 time"), "{out:?}");
    assert!(
        lines[4].starts_with("2 failed inputs; retry with `dmarc-report ingest --retry-failed`")
    );
    assert_eq!(dmarc(dir.path(), &db, &["errors", "--dismiss", "2"]).code, Some(0));
    let out = dmarc(dir.path(), &db, &["errors", "--dismissed"]);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(lines[0].contains("smtp-tls-report.json  tls-report, tried 1 time, last "), "{out:?}");
    assert!(lines[0].contains("(dismissed 20"), "{out:?}");
    assert!(
        lines[2].starts_with("1 failed input dismissed: never retried, bytes deleted"),
        "{out:?}"
    );
    // --dismissed lists; it does not combine with what changes the list.
    let out = dmarc(dir.path(), &db, &["errors", "--dismissed", "--dismiss-all"]);
    assert_eq!(out.code, Some(2), "{out:?}");
}
