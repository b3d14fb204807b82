//! The PostgreSQL backend end to end: the built binary against a real
//! PostgreSQL (see `common::postgres`) and against SQLite, with the same
//! inputs and the same commands: what is stored and what every read
//! command prints must agree. Also: which `--db` values select which
//! backend, and what is refused.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};

use common::{command, run, temp_dir};
use dmarc_report::store::Store;

/// A database for one test, on either backend.
enum Db {
    Sqlite(PathBuf),
    Postgres(String),
}

impl Db {
    fn arg(&self) -> std::ffi::OsString {
        match self {
            Db::Sqlite(p) => p.clone().into_os_string(),
            Db::Postgres(url) => url.into(),
        }
    }

    fn open(&self) -> Store {
        Store::open(Path::new(&self.arg())).expect("open the store")
    }
}

/// Both backends for `test`: a SQLite file in `dir` and a fresh PostgreSQL
/// database; `None` (the test is skipped) without PostgreSQL.
fn both(test: &str, dir: &Path) -> Option<[Db; 2]> {
    let url = common::postgres::database(test)?;
    Some([Db::Sqlite(dir.join("dmarc.db")), Db::Postgres(url)])
}

fn samples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-reports")
}

fn dmarc(dir: &Path, db: &Db, args: &[&str]) -> common::Run {
    run(command(dir).arg("--db").arg(db.arg()).args(args))
}

/// The output with the times of the failed inputs (when each backend
/// first saw them) left out.
fn without_times(text: String) -> String {
    let Ok(mut json) = serde_json::from_str::<serde_json::Value>(&text) else {
        // The table: `last 2026-12-04 08:53`.
        let mut out = String::new();
        let mut rest = text.as_str();
        while let Some(at) = rest.find("last ") {
            out.push_str(&rest[..at + 5]);
            rest = &rest[at + 5..];
            let stamp = rest.get(..16).unwrap_or_default();
            if stamp.bytes().filter(u8::is_ascii_digit).count() == 12 {
                out.push_str("TIME");
                rest = &rest[16..];
            }
        }
        out.push_str(rest);
        return out;
    };
    if let Some(items) = json.as_array_mut() {
        for item in items {
            if let Some(o) = item.as_object_mut() {
                o.remove("first_seen");
                o.remove("last_seen");
            }
        }
    }
    json.to_string()
}

#[test]
fn ingest_then_every_read_command_prints_the_same_on_both_backends() {
    let dir = temp_dir();
    let Some(dbs) = both("read_commands", dir.path()) else { return };
    let samples = samples();
    let mut outputs = Vec::new();
    for db in &dbs {
        let first = run(command(dir.path()).arg("--db").arg(db.arg()).arg("ingest").arg(&samples));
        // The malformed samples fail on purpose: exit 1.
        assert_eq!(first.code, Some(1), "{first:?}");
        let again = run(command(dir.path()).arg("--db").arg(db.arg()).arg("ingest").arg(&samples));
        assert!(again.stdout.contains(" 0 new reports"), "a second ingest stored again: {again:?}");
        let mut seen = vec![first.stdout, again.stdout];
        for args in [
            &["summary", "--all"][..],
            &["summary", "--all", "--format", "json"],
            &["summary", "--all", "--format", "csv"],
            &["summary", "--all", "--domain", "example.com", "--format", "json"],
            &["errors"],
            &["errors", "--format", "json"],
        ] {
            let out = dmarc(dir.path(), db, args);
            assert_eq!(out.code, Some(0), "{args:?}: {out:?}");
            seen.push(without_times(out.stdout));
        }
        let page = dir.path().join(match db {
            Db::Sqlite(_) => "report-sqlite",
            Db::Postgres(_) => "report-postgres",
        });
        let out = run(command(dir.path())
            .arg("--db")
            .arg(db.arg())
            .args(["report", "--all", "--out"])
            .arg(&page));
        assert_eq!(out.code, Some(0), "{out:?}");
        seen.push(std::fs::read_to_string(page.join("index.html")).expect("the report page"));
        outputs.push(seen);
    }
    let json: serde_json::Value = serde_json::from_str(&outputs[1][3]).unwrap();
    assert!(!json["domains"].as_array().unwrap().is_empty(), "the samples have domains");
    for (i, (sqlite, postgres)) in outputs[0].iter().zip(&outputs[1]).enumerate() {
        assert_eq!(sqlite, postgres, "output {i} differs between SQLite and PostgreSQL");
    }
}

#[test]
fn both_backends_store_the_same_content_raw_copies_and_failed_inputs_included() {
    let dir = temp_dir();
    let Some(dbs) = both("content", dir.path()) else { return };
    let mut contents = Vec::new();
    for db in &dbs {
        let out = run(command(dir.path()).arg("--db").arg(db.arg()).arg("ingest").arg(samples()));
        assert_eq!(out.code, Some(1), "{out:?}");
        let store = db.open();
        let inspect = store.inspect();
        assert!(inspect.incomplete_reports().unwrap().is_empty());
        let counts = inspect.counts().unwrap();
        assert!(counts.reports > 0 && counts.failed_with_data > 0, "{counts:?}");
        contents.push((counts, inspect.content().unwrap()));
    }
    assert_eq!(contents[0].0, contents[1].0);
    for (a, b) in contents[0].1.iter().zip(&contents[1].1) {
        assert_eq!(a, b);
    }
    assert_eq!(contents[0].1.len(), contents[1].1.len());
}

#[test]
fn a_url_of_another_scheme_is_refused_and_creates_no_folder() {
    let dir = temp_dir();
    for db in ["mysql://dmarc@db.example/dmarc", "sqlite:///tmp/x.db"] {
        let out = run(command(dir.path()).args(["--db", db, "ingest"]).arg(samples()));
        assert_eq!(out.code, Some(2), "{out:?}");
        assert!(out.stderr.contains("is not a database this program can use"), "{out:?}");
        let out = run(command(dir.path()).args(["--db", db, "errors"]));
        assert_ne!(out.code, Some(0), "{out:?}");
    }
    let left: Vec<_> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(
        left.iter().all(|n| !n.to_string_lossy().contains(':')),
        "a folder was created from a URL: {left:?}"
    );
}

#[test]
fn a_password_in_the_database_url_is_refused_and_never_printed() {
    let dir = temp_dir();
    let out = run(command(dir.path()).args([
        "--db",
        "postgresql://dmarc:hunter2@127.0.0.1:1/dmarc",
        "summary",
    ]));
    assert_ne!(out.code, Some(0), "{out:?}");
    assert!(out.stderr.contains("password_file"), "{out:?}");
    assert!(!out.stderr.contains("hunter2") && !out.stdout.contains("hunter2"), "{out:?}");
}

#[test]
fn a_password_file_gives_the_password_and_a_wrong_one_fails_clearly() {
    let Some(url) = common::postgres::database("password") else { return };
    let dir = temp_dir();
    // The cluster trusts loopback: a password is accepted whatever it is,
    // so this pins that the file is read and that a missing one is named.
    let file = common::write_file(dir.path(), "pw", "s3cret\n");
    let with = format!("{url}&password_file={}", file.display());
    let out = run(command(dir.path()).args(["--db", &with, "errors"]));
    assert_eq!(out.code, Some(0), "{out:?}");
    let missing = format!("{url}&password_file={}", dir.path().join("absent").display());
    let out = run(command(dir.path()).args(["--db", &missing, "errors"]));
    assert_ne!(out.code, Some(0), "{out:?}");
    assert!(out.stderr.contains("cannot read password_file"), "{out:?}");
    assert!(!out.stderr.contains("s3cret"), "{out:?}");
}
