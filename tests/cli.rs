//! End-to-end tests of the command-line contract: the built binary, real
//! SQLite files in temporary directories, fixtures made in code.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use dmarc_report::store::inspect::Inspector;
use dmarc_report_testkit::report::{Record, Report, TAIL};
use serde_json::Value;

/// 2026-10-20 00:00:00 UTC.
const BEGIN: i64 = 1_792_454_400;
const DAY: i64 = 86_400;

/// A small report for day `day` from `org` about `domain` with `records`
/// records (counts 1, 2, 3, ...).
fn daily_report(org: &str, domain: &str, day: i64, records: usize) -> String {
    let ips: Vec<String> = (0..records).map(|i| format!("192.0.2.{}", i % 250 + 1)).collect();
    let recs: Vec<(&str, u64)> =
        ips.iter().enumerate().map(|(i, ip)| (ip.as_str(), i as u64 + 1)).collect();
    let begin = BEGIN + day * DAY;
    report_xml(org, domain, &format!("{org}-{domain}-{day}"), begin, begin + DAY - 1, &recs)
}

/// `dmarc-report --db DB ingest --format json ARGS...`.
fn ingest(sandbox: &Path, db: &Path, args: &[&str]) -> Run {
    run(command(sandbox).arg("--db").arg(db).args(["ingest", "--format", "json"]).args(args))
}

/// `dmarc-report --db DB errors --format json`, parsed.
fn errors_json(sandbox: &Path, db: &Path) -> Vec<Value> {
    let out = run(command(sandbox).arg("--db").arg(db).args(["errors", "--format", "json"]));
    assert_eq!(out.code, Some(0), "errors: {out:?}");
    match out.json() {
        Value::Array(items) => items,
        other => panic!("errors --format json is not an array: {other}"),
    }
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("temp paths are UTF-8")
}

fn n(v: &Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or_else(|| panic!("{key} is not a count in {v}"))
}

fn failed(v: &Value) -> &Vec<Value> {
    v["failed"].as_array().unwrap_or_else(|| panic!("no failed list in {v}"))
}

/// Asserts a fatal exit: status 2 and exactly one non-empty line on stderr.
fn assert_fatal_one_line(out: &Run, what: &str) {
    assert_eq!(out.code, Some(2), "{what}: expected exit 2: {out:?}");
    let lines: Vec<&str> = out.stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{what}: expected one line on stderr, got {:?}", out.stderr);
    assert!(!out.stderr.contains("panicked"), "{what}: {out:?}");
}

/// What the database holds, row ids and ingestion times left out, as sorted
/// lines (see `Inspector::content`).
fn content(db: &Inspector<'_>) -> Vec<String> {
    db.content().expect("the database's content")
}

/// Every stored report with its records, as the store's snapshot gives them.
fn stored_reports(db: &Inspector<'_>) -> Vec<Value> {
    match db.snapshot().expect("snapshot")["reports"].take() {
        Value::Array(reports) => reports,
        other => panic!("reports: {other}"),
    }
}

/// Every stored report is whole: its record count matches its records and
/// its raw XML is there.
fn assert_reports_whole(db: &Inspector<'_>) {
    let partial = db.incomplete_reports().expect("look for partial reports");
    assert!(partial.is_empty(), "reports stored half-way (id, count, records, raw): {partial:?}");
}

// ---------------------------------------------------------------------------
// 1. Output shape and counts

both_backends!(json_summary_has_the_documented_shape_and_counts_a_new_report);
fn json_summary_has_the_documented_shape_and_counts_a_new_report(backend: Backend) {
    let tmp = temp_dir();
    let db = backend.db(tmp.path());
    let xml = report_xml(
        "reporter.example",
        "Example.COM",
        "r-1",
        BEGIN,
        BEGIN + DAY - 1,
        &[("192.0.2.1", 10), ("2001:db8::1", 3)],
    );
    let file = write_file(tmp.path(), "in/report.xml", &xml);

    let out = ingest(tmp.path(), &db, &[path_str(&file)]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.ends_with('\n') && out.stdout.trim().lines().count() == 1, "{out:?}");
    let v = out.json();
    let keys: BTreeSet<&str> =
        v.as_object().expect("an object").keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        BTreeSet::from([
            "inputs",
            "reports_new",
            "reports_duplicate",
            "records",
            "failed",
            "warnings"
        ]),
        "{v}"
    );
    assert_eq!(n(&v, "inputs"), 1, "{v}");
    assert_eq!(n(&v, "reports_new"), 1, "{v}");
    assert_eq!(n(&v, "reports_duplicate"), 0, "{v}");
    assert_eq!(n(&v, "records"), 2, "{v}");
    assert_eq!(v["failed"], Value::Array(vec![]), "{v}");
    assert!(v["warnings"].is_array(), "{v}");

    let conn = open_db(&db);
    let reports = stored_reports(&conn);
    let fields = |r: &Value, names: &[&str]| -> Vec<String> {
        names
            .iter()
            .map(|k| match &r[*k] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect()
    };
    assert_eq!(
        reports
            .iter()
            .map(|r| fields(
                r,
                &[
                    "org_name",
                    "policy_domain",
                    "report_id",
                    "begin",
                    "end",
                    "record_count",
                    "message_count"
                ]
            ))
            .collect::<Vec<_>>(),
        vec![vec![
            "reporter.example".to_owned(),
            "example.com".to_owned(),
            "r-1".to_owned(),
            BEGIN.to_string(),
            (BEGIN + DAY - 1).to_string(),
            "2".to_owned(),
            "13".to_owned(),
        ]]
    );
    let records = reports[0]["records"].as_array().expect("records");
    assert_eq!(
        records
            .iter()
            .map(|c| fields(c, &["source_ip", "count", "dkim", "spf"]))
            .collect::<Vec<_>>(),
        vec![vec!["192.0.2.1", "10", "pass", "pass"], vec!["2001:db8::1", "3", "fail", "fail"],]
    );
    assert_eq!(conn.counts().unwrap().failed_inputs, 0);
}

both_backends!(text_summary_is_one_line_on_stdout);
fn text_summary_is_one_line_on_stdout(backend: Backend) {
    let tmp = temp_dir();
    let db = backend.db(tmp.path());
    let file = write_file(tmp.path(), "r.xml", daily_report("a.example", "example.com", 0, 3));
    let out = run(command(tmp.path()).arg("--db").arg(&db).arg("ingest").arg(&file));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(out.stdout.lines().count(), 1, "{out:?}");
    assert!(out.stdout.contains("1 new report"), "{out:?}");
    assert!(out.stdout.contains("3 record"), "{out:?}");
}

both_backends!(reingesting_the_same_report_counts_a_duplicate_and_stores_nothing);
fn reingesting_the_same_report_counts_a_duplicate_and_stores_nothing(backend: Backend) {
    let tmp = temp_dir();
    let db = backend.db(tmp.path());
    let file = write_file(tmp.path(), "r.xml", daily_report("a.example", "example.com", 0, 4));

    let first = ingest(tmp.path(), &db, &[path_str(&file)]);
    assert_eq!(first.code, Some(0), "{first:?}");
    let before = content(&open_db(&db));

    let second = ingest(tmp.path(), &db, &[path_str(&file)]);
    assert_eq!(second.code, Some(0), "{second:?}");
    let v = second.json();
    assert_eq!((n(&v, "inputs"), n(&v, "reports_new"), n(&v, "reports_duplicate")), (1, 0, 1));
    assert_eq!(n(&v, "records"), 0, "{v}");

    let conn = open_db(&db);
    assert_eq!(content(&conn), before);
    assert_eq!(conn.counts().unwrap().reports, 1);
    assert_eq!(conn.counts().unwrap().records, 4);
}

// ---------------------------------------------------------------------------
// 2. Partial failure

both_backends!(a_bad_input_among_good_ones_exits_one_commits_the_good_and_keeps_the_bad_bytes);
fn a_bad_input_among_good_ones_exits_one_commits_the_good_and_keeps_the_bad_bytes(
    backend: Backend,
) {
    let tmp = temp_dir();
    let db = backend.db(tmp.path());
    let good =
        write_file(tmp.path(), "in/good.xml", daily_report("a.example", "example.com", 0, 2));
    let bad_bytes =
        daily_report("b.example", "example.com", 1, 2).replace("</count>", "</cuont>").into_bytes();
    let bad = write_file(tmp.path(), "in/bad.xml", &bad_bytes);

    let out = ingest(tmp.path(), &db, &[path_str(&good), path_str(&bad)]);
    assert_eq!(out.code, Some(1), "{out:?}");
    let v = out.json();
    assert_eq!(n(&v, "inputs"), 2, "{v}");
    assert_eq!(n(&v, "reports_new"), 1, "{v}");
    assert_eq!(n(&v, "records"), 2, "{v}");
    let failures = failed(&v);
    assert_eq!(failures.len(), 1, "{v}");
    assert_eq!(failures[0]["input"], path_str(&bad), "{v}");
    let error = failures[0]["error"].as_str().expect("error text");
    assert!(error.contains("bad.xml") && error.contains("cuont"), "{error}");

    // The good report is committed, the bad one left nothing behind.
    let conn = open_db(&db);
    let orgs: Vec<Value> = stored_reports(&conn).iter().map(|r| r["org_name"].clone()).collect();
    assert_eq!(orgs, vec![Value::from("a.example")]);
    assert_eq!(conn.counts().unwrap().records, 2);
    drop(conn);

    let errors = errors_json(tmp.path(), &db);
    assert_eq!(errors.len(), 1, "{errors:?}");
    let entry = &errors[0];
    assert_eq!(entry["name"], path_str(&bad), "{entry}");
    assert!(entry["error"].as_str().is_some_and(|e| e.contains("cuont")), "{entry}");
    assert_eq!(n(entry, "size"), bad_bytes.len() as u64, "{entry}");

    // The text listing names it too.
    let text = run(command(tmp.path()).arg("--db").arg(&db).arg("errors"));
    assert_eq!(text.code, Some(0), "{text:?}");
    assert!(text.stdout.contains("bad.xml"), "{text:?}");

    let id = entry["id"].as_i64().expect("an id").to_string();
    let exported = tmp.path().join("exported.bin");
    let out = run(command(tmp.path())
        .arg("--db")
        .arg(&db)
        .args(["errors", "--export", &id, "--out"])
        .arg(&exported));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(std::fs::read(&exported).expect("exported file"), bad_bytes);

    // An id that does not exist is a clear fatal error, and writes nothing.
    let nowhere = tmp.path().join("nowhere.bin");
    let out = run(command(tmp.path())
        .arg("--db")
        .arg(&db)
        .args(["errors", "--export", "9999", "--out"])
        .arg(&nowhere));
    assert_fatal_one_line(&out, "--export of an unknown id");
    assert!(out.stderr.contains("9999"), "{out:?}");
    assert!(!nowhere.exists());
}

both_backends!(a_missing_input_path_is_a_failed_input_not_a_fatal_error);
fn a_missing_input_path_is_a_failed_input_not_a_fatal_error(backend: Backend) {
    let tmp = temp_dir();
    let db = backend.db(tmp.path());
    let good = write_file(tmp.path(), "good.xml", daily_report("a.example", "example.com", 0, 1));
    let missing = tmp.path().join("no-such-file.xml");
    let out = ingest(tmp.path(), &db, &[path_str(&missing), path_str(&good)]);
    assert_eq!(out.code, Some(1), "{out:?}");
    let v = out.json();
    assert_eq!(n(&v, "reports_new"), 1, "{v}");
    assert_eq!(failed(&v).len(), 1, "{v}");
    assert_eq!(failed(&v)[0]["input"], path_str(&missing), "{v}");
    assert_eq!(counts(&db).reports, 1);
}

both_backends!(the_failed_entry_names_the_input_even_when_the_file_name_has_a_colon);
fn the_failed_entry_names_the_input_even_when_the_file_name_has_a_colon(backend: Backend) {
    let tmp = temp_dir();
    let db = backend.db(tmp.path());
    // Malformed on purpose (an unknown element in place of the metadata).
    let bad = write_file(tmp.path(), "report: broken.xml", "<feedback><oops></feedback>");
    let out = ingest(tmp.path(), &db, &[path_str(&bad)]);
    assert_eq!(out.code, Some(1), "{out:?}");
    let v = out.json();
    assert_eq!(failed(&v).len(), 1, "{v}");
    assert_eq!(failed(&v)[0]["input"], path_str(&bad), "{v}");
}

both_backends!(an_input_that_fails_again_is_kept_once_with_its_attempts_counted);
fn an_input_that_fails_again_is_kept_once_with_its_attempts_counted(backend: Backend) {
    let tmp = temp_dir();
    let db = backend.db(tmp.path());
    // Cut short on purpose.
    let bad = write_file(tmp.path(), "bad.xml", "<feedback><report_metadata>");
    for _ in 0..2 {
        let out = ingest(tmp.path(), &db, &[path_str(&bad)]);
        assert_eq!(out.code, Some(1), "{out:?}");
    }
    let errors = errors_json(tmp.path(), &db);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(n(&errors[0], "attempts"), 2, "{errors:?}");
}

// ---------------------------------------------------------------------------
// 3. Fatal errors

// SQLite only: a SQLite path that is a folder.
#[test]
fn a_directory_as_database_gives_the_same_one_line_for_every_command() {
    let tmp = temp_dir();
    let file = write_file(tmp.path(), "r.xml", daily_report("a.example", "example.com", 0, 1));
    let dir_db = tmp.path().join("a-directory");
    std::fs::create_dir(&dir_db).expect("mkdir");
    let out = ingest(tmp.path(), &dir_db, &[path_str(&file)]);
    assert_fatal_one_line(&out, "--db DIR");
    assert!(out.stderr.contains("a-directory"), "{out:?}");
    assert!(out.stdout.is_empty(), "{out:?}");
    let message = out.stderr.clone();
    assert!(message.contains("it is a directory"), "{message}");
    for args in [
        vec!["errors"],
        vec!["reparse"],
        vec!["summary"],
        vec!["report", "--out", "page"],
        vec!["metrics", "--out", "metrics.prom"],
    ] {
        let out = run(command(tmp.path()).arg("--db").arg(&dir_db).args(&args));
        assert_fatal_one_line(&out, &format!("{args:?} with --db DIR"));
        assert_eq!(out.stderr, message, "{args:?}");
    }
}

// SQLite only: a file that is not a SQLite database.
#[test]
fn a_file_that_is_not_sqlite_as_database_exits_two_and_is_left_untouched() {
    let tmp = temp_dir();
    let file = write_file(tmp.path(), "r.xml", daily_report("a.example", "example.com", 0, 1));
    let junk: Vec<u8> = "this is not a database, it is someone's notes\n".repeat(200).into_bytes();
    let not_db = write_file(tmp.path(), "notes.txt", &junk);
    for args in [vec!["ingest", path_str(&file)], vec!["errors"], vec!["reparse"]] {
        let out = run(command(tmp.path()).arg("--db").arg(&not_db).args(&args));
        assert_fatal_one_line(&out, &format!("{args:?} on a non-SQLite file"));
        assert!(out.stderr.contains("notes.txt"), "{out:?}");
    }
    assert_eq!(std::fs::read(&not_db).expect("still there"), junk);
}

// SQLite only: a SQLite path under a regular file.
#[test]
fn a_database_under_a_regular_file_exits_two_with_one_line_on_stderr() {
    let tmp = temp_dir();
    let file = write_file(tmp.path(), "r.xml", daily_report("a.example", "example.com", 0, 1));
    let plain = write_file(tmp.path(), "plain", "x");
    let out = ingest(tmp.path(), &plain.join("dmarc.db"), &[path_str(&file)]);
    assert_fatal_one_line(&out, "--db under a file");
}

// SQLite only: it checks that no database file is created.
#[test]
fn bad_arguments_exit_two_with_one_line_on_stderr() {
    let tmp = temp_dir();
    let db = tmp.path().join("dmarc.db");
    let file = write_file(tmp.path(), "r.xml", daily_report("a.example", "example.com", 0, 1));
    // (what, arguments, what the one line must name)
    let cases: Vec<(&str, Vec<&str>, &str)> = vec![
        ("unknown flag", vec!["ingest", "--no-such-flag", path_str(&file)], "--no-such-flag"),
        ("unknown command", vec!["frobnicate"], "frobnicate"),
        ("bad size", vec!["ingest", "--max-report-size", "lots", path_str(&file)], "lots"),
        ("bad format", vec!["ingest", "--format", "yaml", path_str(&file)], "yaml"),
        ("bad zip entry count", vec!["ingest", "--max-zip-entries", "-3", path_str(&file)], "-3"),
        ("no paths", vec!["ingest"], "PATH"),
    ];
    for (what, args, named) in cases {
        let out = run(command(tmp.path()).arg("--db").arg(&db).args(&args));
        assert_fatal_one_line(&out, what);
        assert!(out.stderr.contains(named), "{what}: the error does not name {named}: {out:?}");
        assert!(out.stdout.is_empty(), "{what}: {out:?}");
    }
    assert!(!db.exists(), "bad arguments must not create the database");
}

// ---------------------------------------------------------------------------
// 4. One report, four wrappings

both_backends!(the_same_report_as_xml_gzip_zip_and_email_is_stored_once_with_three_duplicates);
fn the_same_report_as_xml_gzip_zip_and_email_is_stored_once_with_three_duplicates(
    backend: Backend,
) {
    let tmp = temp_dir();
    let db = backend.db(tmp.path());
    let xml = daily_report("reporter.example", "example.com", 3, 5);
    let name = "reporter.example!example.com!1792713600!1792799999";
    let dir = tmp.path().join("in");
    write_file(&dir, &format!("{name}.xml"), &xml);
    write_file(&dir, &format!("{name}.xml.gz"), gzip(xml.as_bytes()));
    write_file(&dir, &format!("{name}.zip"), zip(&[(&format!("{name}.xml"), xml.as_bytes())]));
    write_file(
        &dir,
        &format!("{name}.eml"),
        email_with_attachment(
            "Report domain: example.com Submitter: reporter.example",
            &format!("{name}.xml.gz"),
            "application/gzip",
            &gzip(xml.as_bytes()),
        ),
    );

    let out = ingest(tmp.path(), &db, &[path_str(&dir)]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let v = out.json();
    assert_eq!(n(&v, "inputs"), 4, "{v}");
    assert_eq!(n(&v, "reports_new"), 1, "{v}");
    assert_eq!(n(&v, "reports_duplicate"), 3, "{v}");
    assert_eq!(n(&v, "records"), 5, "{v}");
    assert!(failed(&v).is_empty(), "{v}");

    let conn = open_db(&db);
    assert_eq!(conn.counts().unwrap().reports, 1);
    assert_eq!(conn.counts().unwrap().records, 5);
    assert_eq!(conn.counts().unwrap().raw_copies, 1);
    // The raw XML kept is the report itself, whichever wrapping came first.
    let raw = conn.raw_copies().expect("raw copies");
    assert_eq!(raw[0].3, xml.as_bytes());
}

both_backends!(mbox_files_and_maildir_folders_are_read_message_by_message);
fn mbox_files_and_maildir_folders_are_read_message_by_message(backend: Backend) {
    let tmp = temp_dir();
    let db = backend.db(tmp.path());
    let message = |day: i64| {
        let xml = daily_report("mail.example", "example.org", day, 2);
        email_with_attachment(
            &format!("Report domain: example.org day {day}"),
            &format!("mail.example!example.org!{day}.xml.gz"),
            "application/gzip",
            &gzip(xml.as_bytes()),
        )
    };
    let mbox_file =
        write_file(tmp.path(), "archive.mbox", mbox(&[message(0), message(1), message(2)]));
    let maildir = tmp.path().join("Maildir");
    write_file(&maildir, "cur/1792540800.1.host:2,S", message(3));
    write_file(&maildir, "new/1792627200.2.host", message(4));
    // A delivery still being written: must be skipped.
    write_file(&maildir, "tmp/1792627300.3.host", &message(5)[..100]);

    let out = ingest(tmp.path(), &db, &[path_str(&mbox_file), path_str(&maildir)]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let v = out.json();
    assert_eq!(n(&v, "inputs"), 5, "{v}");
    assert_eq!(n(&v, "reports_new"), 5, "{v}");
    assert_eq!(n(&v, "records"), 10, "{v}");
    assert_eq!(counts(&db).distinct_report_ids, 5);
}

// ---------------------------------------------------------------------------
// 5. Where the input and the database come from

both_backends!(standard_input_is_ingested_and_a_bad_one_is_kept_for_retry);
fn standard_input_is_ingested_and_a_bad_one_is_kept_for_retry(backend: Backend) {
    let tmp = temp_dir();
    let db = backend.db(tmp.path());
    let xml = daily_report("stdin.example", "example.com", 0, 3);
    let out = run_with_stdin(
        command(tmp.path()).arg("--db").arg(&db).args(["ingest", "--format", "json", "-"]),
        &gzip(xml.as_bytes()),
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    let v = out.json();
    assert_eq!((n(&v, "inputs"), n(&v, "reports_new"), n(&v, "records")), (1, 1, 3), "{v}");
    assert_eq!(counts(&db).reports, 1);

    // A report cut short on purpose.
    let junk = b"<feedback><report_metadata><org_name>x</org_name>".to_vec();
    let out = run_with_stdin(
        command(tmp.path()).arg("--db").arg(&db).args(["ingest", "--format", "json", "-"]),
        &junk,
    );
    assert_eq!(out.code, Some(1), "{out:?}");
    let errors = errors_json(tmp.path(), &db);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(n(&errors[0], "size"), junk.len() as u64, "{errors:?}");
}

// SQLite only: which SQLite file the variable and --db lead to.
#[test]
fn the_dmarc_report_db_variable_is_used_when_db_is_not_given() {
    let tmp = temp_dir();
    let file = write_file(tmp.path(), "r.xml", daily_report("a.example", "example.com", 0, 1));
    let env_db = tmp.path().join("from-env/dmarc.db");
    std::fs::create_dir(tmp.path().join("from-env")).unwrap();
    let out = run(command(tmp.path())
        .env("DMARC_REPORT_DB", &env_db)
        .args(["ingest", "--format", "json"])
        .arg(&file));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(counts(&env_db).reports, 1);
    assert!(!tmp.path().join("xdg-data").exists(), "the XDG default was used instead");

    // --db wins over the variable.
    let flag_db = tmp.path().join("from-flag.db");
    let out = run(command(tmp.path())
        .env("DMARC_REPORT_DB", &env_db)
        .arg("--db")
        .arg(&flag_db)
        .args(["ingest", "--format", "json"])
        .arg(&file));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(n(&out.json(), "reports_new"), 1, "{out:?}");
    assert_eq!(counts(&flag_db).reports, 1);
}

// SQLite only: the default is a SQLite file.
#[test]
fn the_database_defaults_to_the_xdg_data_directory() {
    let tmp = temp_dir();
    let file = write_file(tmp.path(), "r.xml", daily_report("a.example", "example.com", 0, 2));
    let out = run(command(tmp.path()).args(["ingest", "--format", "json"]).arg(&file));
    assert_eq!(out.code, Some(0), "{out:?}");
    let db = tmp.path().join("xdg-data/dmarc-report/dmarc.db");
    assert_eq!(counts(&db).records, 2);

    // And the other commands find it there too.
    let out = run(command(tmp.path()).args(["errors", "--format", "json"]));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(out.json(), Value::Array(vec![]));
    let out = run(command(tmp.path()).args(["ingest", "--format", "json"]).arg(&file));
    assert_eq!(n(&out.json(), "reports_duplicate"), 1, "{out:?}");
}

// SQLite only: folders of a SQLite path.
#[test]
fn a_database_in_a_missing_directory_is_an_error_for_every_command_and_nothing_is_created() {
    let tmp = temp_dir();
    let file = write_file(tmp.path(), "r.xml", daily_report("a.example", "example.com", 0, 1));
    let db = tmp.path().join("typo/dmarc.db");
    for args in [vec!["ingest", path_str(&file)], vec!["reparse"], vec!["summary"]] {
        let out = run(command(tmp.path()).arg("--db").arg(&db).args(&args));
        assert_fatal_one_line(&out, &format!("{args:?} into a missing directory"));
        assert!(out.stderr.contains("typo"), "{args:?}: {out:?}");
    }
    let out = run(command(tmp.path()).arg("--db").arg(&db).arg("ingest").arg(&file));
    assert!(
        out.stderr.contains("the directory") && out.stderr.contains("does not exist"),
        "{out:?}"
    );
    assert!(!tmp.path().join("typo").exists(), "a directory the user named was created");
}

/// A command for the binary run as a user without root's way around file
/// permissions: `nobody` through `setpriv` when the tests run as root.
#[cfg(unix)]
fn as_unprivileged(sandbox: &Path) -> Command {
    let uid = Command::new("id").arg("-u").output().expect("id -u");
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return command(sandbox);
    }
    let mut cmd = Command::new("setpriv");
    cmd.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"])
        .arg(BIN)
        .env_remove("DMARC_REPORT_DB")
        .env("HOME", sandbox.join("home"))
        .env("XDG_DATA_HOME", sandbox.join("xdg-data"))
        .current_dir(sandbox)
        .stdin(Stdio::null());
    cmd
}

#[cfg(unix)]
// SQLite only: file permissions.
#[test]
fn an_unwritable_location_says_permission_denied() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = temp_dir();
    let mode =
        |p: &Path, m: u32| std::fs::set_permissions(p, PermissionsExt::from_mode(m)).unwrap();
    mode(tmp.path(), 0o755);
    let file = write_file(tmp.path(), "r.xml", daily_report("a.example", "example.com", 0, 1));
    mode(&file, 0o644);
    // A folder the user cannot write to: a new database cannot be made there.
    let locked = tmp.path().join("locked");
    std::fs::create_dir(&locked).unwrap();
    mode(&locked, 0o555);
    let out = run(as_unprivileged(tmp.path())
        .arg("--db")
        .arg(locked.join("dmarc.db"))
        .arg("ingest")
        .arg(&file));
    assert_fatal_one_line(&out, "a database in a read-only folder");
    assert!(out.stderr.contains("permission denied"), "{out:?}");
    assert!(out.stderr.contains("locked/dmarc.db"), "{out:?}");

    // An existing database the user may read but not write.
    let db = tmp.path().join("theirs.db");
    assert_eq!(ingest(tmp.path(), &db, &[path_str(&file)]).code, Some(0));
    mode(&db, 0o444);
    let out = run(as_unprivileged(tmp.path()).arg("--db").arg(&db).arg("ingest").arg(&file));
    assert_fatal_one_line(&out, "a read-only database");
    assert!(out.stderr.contains("permission denied"), "{out:?}");
}

// SQLite only: it checks that no database file is created.
#[test]
fn read_only_commands_never_create_a_database() {
    let tmp = temp_dir();
    let db = tmp.path().join("dmarc.db");
    let out = run(command(tmp.path()).arg("--db").arg(&db).args(["errors"]));
    assert_eq!((out.code, out.stdout.as_str()), (Some(0), "no failed inputs\n"), "{out:?}");
    for args in [vec!["reparse"], vec!["summary"], vec!["report", "--out", "page"]] {
        let out = run(command(tmp.path()).arg("--db").arg(&db).args(&args));
        assert_fatal_one_line(&out, &format!("{args:?} without a database"));
        assert!(out.stderr.contains("no database at"), "{args:?}: {out:?}");
    }
    assert!(!db.exists(), "a read-only command created the database");
}

// SQLite only: a damaged SQLite file.
#[test]
fn a_damaged_database_says_to_restore_it_and_that_reparse_cannot_repair_it() {
    let tmp = temp_dir();
    let db = tmp.path().join("dmarc.db");
    let dir = tmp.path().join("in");
    for day in 0..40 {
        write_file(&dir, &format!("{day}.xml"), daily_report("a.example", "example.com", day, 40));
    }
    assert_eq!(ingest(tmp.path(), &db, &[path_str(&dir)]).code, Some(0));
    // Overwrite pages in the middle of the file (past the header).
    let mut bytes = std::fs::read(&db).unwrap();
    assert!(bytes.len() > 64 * 1024, "{} bytes", bytes.len());
    for (i, b) in bytes[16 * 1024..].iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(151).wrapping_add(7);
    }
    std::fs::write(&db, &bytes).unwrap();
    for args in [vec!["summary", "--all"], vec!["reparse"]] {
        let out = run(command(tmp.path()).arg("--db").arg(&db).args(&args));
        assert_fatal_one_line(&out, &format!("{args:?} on a damaged file"));
        assert!(out.stderr.contains("restore it from a backup"), "{args:?}: {out:?}");
        assert!(out.stderr.contains("`reparse` cannot repair it"), "{args:?}: {out:?}");
    }
}

// ---------------------------------------------------------------------------
// 6. Broken pipe

both_backends!(a_closed_stdout_is_not_an_error);
fn a_closed_stdout_is_not_an_error(backend: Backend) {
    let tmp = temp_dir();
    let db = backend.db(tmp.path());
    let dir = tmp.path().join("in");
    for day in 0..20 {
        write_file(&dir, &format!("{day}.xml"), daily_report("a.example", "example.com", day, 2));
    }
    let cases: Vec<Vec<String>> = vec![
        vec!["ingest".into(), path_str(&dir).into()],
        vec!["ingest".into(), "--format".into(), "json".into(), path_str(&dir).into()],
        vec!["errors".into()],
        vec!["errors".into(), "--format".into(), "json".into()],
        vec!["reparse".into()],
        vec!["demo".into(), "--out".into(), path_str(&tmp.path().join("demo")).into()],
    ];
    for args in cases {
        let mut cmd = command(tmp.path());
        if args[0] != "demo" {
            cmd.arg("--db").arg(&db);
        }
        let mut child =
            cmd.args(&args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn");
        // Close the read end before the child gets to write anything.
        drop(child.stdout.take());
        let out: Run = child.wait_with_output().expect("wait").into();
        assert!(!out.stderr.contains("panicked"), "{args:?}: {out:?}");
        assert_eq!(out.code, Some(0), "{args:?}: {out:?}");
    }
    assert_eq!(counts(&db).reports, 20);
}

// ---------------------------------------------------------------------------
// 7. Retrying failed inputs

both_backends!(retry_failed_stores_an_input_that_failed_on_a_limit_and_removes_it_from_errors);
fn retry_failed_stores_an_input_that_failed_on_a_limit_and_removes_it_from_errors(
    backend: Backend,
) {
    let tmp = temp_dir();
    let db = backend.db(tmp.path());
    let xml = daily_report("big.example", "example.com", 0, 30);
    assert!(xml.len() > 4096, "the fixture must exceed the small limit");
    let file = write_file(tmp.path(), "in/big.xml.gz", gzip(xml.as_bytes()));
    let file_bytes = std::fs::read(&file).expect("fixture");

    let out = ingest(tmp.path(), &db, &["--max-report-size", "4K", path_str(&file)]);
    assert_eq!(out.code, Some(1), "{out:?}");
    let v = out.json();
    assert_eq!(n(&v, "reports_new"), 0, "{v}");
    assert!(
        failed(&v)[0]["error"].as_str().is_some_and(|e| e.contains("--max-report-size")),
        "{v}"
    );
    let errors = errors_json(tmp.path(), &db);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(n(&errors[0], "size"), file_bytes.len() as u64, "{errors:?}");
    assert_eq!(counts(&db).reports, 0);

    // Retrying with the same limit fails again and keeps it.
    let out = ingest(tmp.path(), &db, &["--retry-failed", "--max-report-size", "4K"]);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert_eq!(errors_json(tmp.path(), &db).len(), 1);

    // With a larger limit it is stored and forgotten.
    let out = ingest(tmp.path(), &db, &["--retry-failed", "--max-report-size", "1M"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let v = out.json();
    assert_eq!(n(&v, "reports_new"), 1, "{v}");
    assert_eq!(n(&v, "records"), 30, "{v}");
    assert!(failed(&v).is_empty(), "{v}");
    assert!(errors_json(tmp.path(), &db).is_empty());
    let conn = open_db(&db);
    assert_eq!(conn.counts().unwrap().reports, 1);
    assert_eq!(conn.counts().unwrap().records, 30);
    assert_eq!(conn.counts().unwrap().failed_inputs, 0);

    // Nothing left to retry: a no-op.
    let out = ingest(tmp.path(), &db, &["--retry-failed"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(n(&out.json(), "inputs"), 0, "{out:?}");
}

// ---------------------------------------------------------------------------
// 8. Limits

/// A report of about `size` bytes of XML (many identical records).
fn huge_report_xml(size: usize) -> Vec<u8> {
    let report = Report::new("bomb.example", "example.com", "bomb-0", BEGIN, BEGIN + DAY - 1);
    let mut record = String::new();
    Record::new("192.0.2.1", 1)
        .evaluated(true, true)
        .spf("example.com", "pass")
        .write(&mut record, &report.domain);
    let mut xml = report.head();
    xml.reserve(size + record.len() * 2);
    while xml.len() < size {
        xml.push_str(&record);
    }
    xml.push_str(TAIL);
    xml.into_bytes()
}

both_backends!(a_gzip_or_zip_bomb_fails_at_the_report_size_limit_and_stores_nothing);
fn a_gzip_or_zip_bomb_fails_at_the_report_size_limit_and_stores_nothing(backend: Backend) {
    let tmp = temp_dir();
    let db = backend.db(tmp.path());
    let xml = huge_report_xml(24 << 20);
    let bomb = gzip(&xml);
    assert!(bomb.len() < 1 << 20, "the bomb compresses well ({} bytes)", bomb.len());
    let gz = write_file(tmp.path(), "in/bomb.xml.gz", &bomb);
    let zipped = write_file(tmp.path(), "in/bomb.zip", zip(&[("bomb.xml", &xml)]));
    drop(xml);

    for file in [&gz, &zipped] {
        let out = ingest(tmp.path(), &db, &["--max-report-size", "1M", path_str(file)]);
        assert_eq!(out.code, Some(1), "{out:?}");
        let v = out.json();
        assert_eq!(failed(&v).len(), 1, "{v}");
        let error = failed(&v)[0]["error"].as_str().expect("error text");
        assert!(error.contains("--max-report-size"), "{error}");
        assert_eq!(n(&v, "reports_new"), 0, "{v}");
        assert_eq!(n(&v, "records"), 0, "{v}");
    }
    let conn = open_db(&db);
    assert_eq!(conn.counts().unwrap().reports, 0);
    assert_eq!(conn.counts().unwrap().records, 0);
    assert_eq!(conn.counts().unwrap().failed_inputs, 2);
}

both_backends!(a_zip_with_more_entries_than_the_limit_fails_naming_max_zip_entries);
fn a_zip_with_more_entries_than_the_limit_fails_naming_max_zip_entries(backend: Backend) {
    let tmp = temp_dir();
    let db = backend.db(tmp.path());
    let reports: Vec<(String, String)> = (0..5)
        .map(|day| (format!("r{day}.xml"), daily_report("zip.example", "example.com", day, 1)))
        .collect();
    let entries: Vec<(&str, &[u8])> =
        reports.iter().map(|(name, xml)| (name.as_str(), xml.as_bytes())).collect();
    let file = write_file(tmp.path(), "many.zip", zip(&entries));

    let out = ingest(tmp.path(), &db, &["--max-zip-entries", "3", path_str(&file)]);
    assert_eq!(out.code, Some(1), "{out:?}");
    let v = out.json();
    let error = failed(&v)[0]["error"].as_str().expect("error text");
    assert!(error.contains("--max-zip-entries"), "{error}");
    assert_eq!(counts(&db).reports, 0);

    let out = ingest(tmp.path(), &db, &["--max-zip-entries", "5", path_str(&file)]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(n(&out.json(), "reports_new"), 5, "{out:?}");
}

both_backends!(a_message_larger_than_the_limit_fails_naming_max_message_size);
fn a_message_larger_than_the_limit_fails_naming_max_message_size(backend: Backend) {
    let tmp = temp_dir();
    let db = backend.db(tmp.path());
    let xml = daily_report("mail.example", "example.com", 0, 60);
    let big = email_with_attachment("Report", "r.xml", "text/xml", xml.as_bytes());
    assert!(big.len() > 16 << 10, "the fixture must exceed the limit");
    let small_xml = daily_report("mail.example", "example.com", 1, 1);
    let small = email_with_attachment(
        "Report",
        "s.xml.gz",
        "application/gzip",
        &gzip(small_xml.as_bytes()),
    );
    let eml = write_file(tmp.path(), "big.eml", &big);

    let out = ingest(tmp.path(), &db, &["--max-message-size", "16K", path_str(&eml)]);
    assert_eq!(out.code, Some(1), "{out:?}");
    let v = out.json();
    let error = failed(&v)[0]["error"].as_str().expect("error text");
    assert!(error.contains("--max-message-size"), "{error}");

    // In an mbox, only the large message fails.
    let mbox_file = write_file(tmp.path(), "mail.mbox", mbox(&[small, big]));
    let out = ingest(tmp.path(), &db, &["--max-message-size", "16K", path_str(&mbox_file)]);
    assert_eq!(out.code, Some(1), "{out:?}");
    let v = out.json();
    assert_eq!(n(&v, "reports_new"), 1, "{v}");
    assert_eq!(failed(&v).len(), 1, "{v}");
    let error = failed(&v)[0]["error"].as_str().expect("error text");
    assert!(error.contains("--max-message-size"), "{error}");
    assert_eq!(counts(&db).reports, 1);
}

// ---------------------------------------------------------------------------
// 9. reparse

fn samples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-reports")
}

both_backends!(reparse_rebuilds_the_same_data_from_the_raw_xml);
fn reparse_rebuilds_the_same_data_from_the_raw_xml(backend: Backend) {
    let tmp = temp_dir();
    let db = backend.db(tmp.path());
    let mine = tmp.path().join("mine");
    write_file(&mine, "a.xml", daily_report("a.example", "example.com", 0, 3));
    write_file(&mine, "b.xml.gz", gzip(daily_report("b.example", "example.net", 1, 2).as_bytes()));
    let out = ingest(tmp.path(), &db, &[path_str(&samples_dir()), path_str(&mine)]);
    // Some samples are malformed on purpose.
    assert!(matches!(out.code, Some(0 | 1)), "{out:?}");
    let v = out.json();
    assert!(n(&v, "reports_new") > 100, "{v}");

    let before = content(&open_db(&db));
    let stored = counts(&db).reports;
    let records = counts(&db).records;

    let out = run(command(tmp.path()).arg("--db").arg(&db).args(["reparse", "--format", "json"]));
    assert_eq!(out.code, Some(0), "{out:?}");
    let v = out.json();
    assert_eq!(n(&v, "reports"), stored, "{v}");
    assert_eq!(n(&v, "records"), records, "{v}");
    assert_eq!(n(&v, "merged"), 0, "{v}");
    assert!(failed(&v).is_empty(), "{v}");

    let conn = open_db(&db);
    let after = content(&conn);
    let diff: Vec<_> = before.iter().filter(|l| !after.contains(l)).take(5).collect();
    assert!(before == after, "reparse changed the data; first lost lines: {diff:?}");
    // SQLite's own check of the file; PostgreSQL enforces its references as
    // it writes.
    if !db.is_postgresql() {
        assert_eq!(integrity_check(&conn), "ok");
    }
}

// ---------------------------------------------------------------------------
// 10. Crash safety

// SQLite only: it copies the SQLite file (and its WAL) as each kill left
// it; tests/postgres.rs kills workers on PostgreSQL.
#[test]
fn ingest_killed_at_random_moments_never_corrupts_or_duplicates() {
    // More reports than one commit batch (500), so runs commit mid-way.
    const REPORTS: i64 = 600;
    // Each cycle kills a few runs into one database, continuing where the
    // previous one left off, then lets a run finish: 5 x 4 = 20 kills.
    const CYCLES: usize = 5;
    const KILLS_PER_CYCLE: usize = 4;
    let tmp = temp_dir();
    let dir = tmp.path().join("in");
    for day in 0..REPORTS {
        let org = ["a.example", "b.example", "c.example"][(day % 3) as usize];
        let xml = daily_report(org, "example.com", day, (day % 3 + 1) as usize);
        write_file(&dir, &format!("{:02}/{day:05}.xml", day % 7), xml);
    }

    // A clean run into a fresh database, timed to choose the kill delays.
    let clean_db = tmp.path().join("clean.db");
    let started = Instant::now();
    let out = ingest(tmp.path(), &clean_db, &[path_str(&dir)]);
    let clean_time = started.elapsed();
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(n(&out.json(), "reports_new"), REPORTS as u64, "{out:?}");
    let expected = content(&open_db(&clean_db));

    let mut rng = Rng::from_test_seed();
    // Up to a little past the end of a clean run (capped, for a loaded machine).
    let span = (clean_time.as_micros() as u64 * 11 / 10).clamp(1_000, 2_500_000);
    let mut stored_after_kills = Vec::new();
    for cycle in 0..CYCLES {
        let db = tmp.path().join(format!("crash-{cycle}.db"));
        for kill in 0..KILLS_PER_CYCLE {
            // Some very early kills (opening, migrating), the rest anywhere.
            let delay =
                if kill == 0 && cycle % 2 == 0 { rng.below(5_000) } else { rng.below(span) };
            let mut child = command(tmp.path())
                .arg("--db")
                .arg(&db)
                .args(["ingest", "--format", "json"])
                .arg(&dir)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn");
            std::thread::sleep(Duration::from_micros(delay));
            // SIGKILL on Unix; an error here only means it had finished.
            let _ = child.kill();
            child.wait().expect("reap");
            let what = format!("cycle {cycle}, kill {kill} after {delay} µs");
            stored_after_kills.push(check_crashed_copy(&db, &tmp.path().join("check.db"), &what));
        }

        // Run to completion: the database holds exactly what a clean run stores.
        let out = ingest(tmp.path(), &db, &[path_str(&dir)]);
        assert_eq!(out.code, Some(0), "cycle {cycle}: {out:?}");
        let v = out.json();
        assert_eq!(n(&v, "reports_new") + n(&v, "reports_duplicate"), REPORTS as u64, "{v}");
        let conn = open_db(&db);
        assert_eq!(integrity_check(&conn), "ok", "cycle {cycle}");
        assert_reports_whole(&conn);
        assert_eq!(conn.counts().unwrap().reports, REPORTS as u64);
        assert_eq!(conn.counts().unwrap().distinct_reports, REPORTS as u64);
        assert!(content(&conn) == expected, "cycle {cycle}: the database differs from a clean run");
    }
    eprintln!(
        "reports stored after each kill (-1: no database yet): {stored_after_kills:?} \
         (clean run {clean_time:?})"
    );
}

/// Checks a copy of a database a killed run left behind (so the next run
/// meets the crashed files as they are): it is intact and every report in
/// it is whole. Returns how many reports it holds (-1: no database yet).
fn check_crashed_copy(db: &Path, check: &Path, what: &str) -> i64 {
    if !db.exists() {
        return -1;
    }
    for suffix in ["", "-wal", "-shm"] {
        let from = PathBuf::from(format!("{}{suffix}", db.display()));
        let to = PathBuf::from(format!("{}{suffix}", check.display()));
        let _ = std::fs::remove_file(&to);
        // The shared-memory index is rebuilt from the WAL on open.
        if suffix != "-shm" && from.exists() {
            std::fs::copy(&from, &to).expect("copy the database");
        }
    }
    let conn = open_db(check);
    assert_eq!(integrity_check(&conn), "ok", "{what}");
    if conn.schema_version().unwrap() == 0 {
        // Killed before the schema was created: it is all or nothing.
        let tables = conn.schema_objects().unwrap();
        assert!(tables.is_empty(), "{what}: half-created schema: {tables:?}");
        return 0;
    }
    assert_reports_whole(&conn);
    assert_eq!(
        conn.counts().unwrap().failed_inputs,
        0,
        "{what}: a kill must not make an input fail"
    );
    i64::try_from(conn.counts().unwrap().reports).unwrap()
}

// ---------------------------------------------------------------------------
// 11. The demo

// SQLite only: the demo makes a SQLite database of its own.
#[test]
fn demo_ingests_the_bundled_samples_and_shows_both_domains() {
    let tmp = temp_dir();
    let out_dir = tmp.path().join("demo-out");
    // Run from a folder without ./sample-reports: the bundled ones are used.
    let out = run(command(tmp.path()).arg("demo").arg("--out").arg(&out_dir));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains("example.com"), "{out:?}");
    assert!(out.stdout.contains("example.org"), "{out:?}");
    assert!(!out.stderr.contains("panicked"), "{out:?}");
    let conn = open_db(&out_dir.join("dmarc.db"));
    for domain in ["example.com", "example.org"] {
        let reports = stored_reports(&conn).iter().filter(|r| r["policy_domain"] == domain).count();
        assert!(reports > 0, "no {domain} reports stored");
    }
    drop(conn);

    // Running it again starts from a fresh database: same output.
    let again = run(command(tmp.path()).arg("demo").arg("--out").arg(&out_dir));
    assert_eq!(again.code, Some(0), "{again:?}");
    assert_eq!(again.stdout, out.stdout);
}

both_backends!(attachment_and_entry_names_are_labels_never_paths);
fn attachment_and_entry_names_are_labels_never_paths(backend: Backend) {
    let tmp = temp_dir();
    let db = backend.db(tmp.path());
    let first = daily_report("reporter.example", "example.com", 3, 2);
    let second = daily_report("reporter.example", "example.com", 4, 2);
    let dir = tmp.path().join("in");
    write_file(&dir, "entry.zip", zip(&[("../../etc/passwd", first.as_bytes())]));
    write_file(
        &dir,
        "mail.eml",
        email_with_attachment(
            "Report domain: example.com",
            "../../../tmp/dmarc-report-evil.xml.gz",
            "application/gzip",
            &gzip(second.as_bytes()),
        ),
    );
    let before: Vec<_> =
        std::fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().path()).collect();

    let out = ingest(tmp.path(), &db, &[path_str(&dir)]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(n(&out.json(), "reports_new"), 2, "{out:?}");
    // The names are kept as where the reports came from, and nothing was
    // written under them.
    let mut sources: Vec<String> = stored_reports(&open_db(&db))
        .iter()
        .map(|r| r["source"].as_str().unwrap_or_default().to_owned())
        .collect();
    sources.sort();
    assert!(sources[0].ends_with("entry.zip > ../../etc/passwd"), "{sources:?}");
    assert!(
        sources[1].ends_with("mail.eml > ../../../tmp/dmarc-report-evil.xml.gz"),
        "{sources:?}"
    );
    assert!(!Path::new("/tmp/dmarc-report-evil.xml.gz").exists());
    assert!(!Path::new("/tmp/dmarc-report-evil.xml").exists());
    let after: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().path()).collect();
    let new: Vec<_> = after.iter().filter(|p| !before.contains(p)).collect();
    assert!(
        new.iter().all(|p| p.to_string_lossy().contains("dmarc.db")),
        "only the database may appear: {new:?}"
    );
}

// SQLite only: the SQLite file, its WAL and SHM inside the input folder.
#[test]
fn a_database_inside_the_folder_being_ingested_is_not_an_input() {
    let tmp = temp_dir();
    let dir = tmp.path().join("reports");
    write_file(&dir, "r.xml", daily_report("reporter.example", "example.com", 3, 2));
    let db = dir.join("dmarc.db");
    for _ in 0..2 {
        let out = ingest(tmp.path(), &db, &[path_str(&dir)]);
        assert_eq!(out.code, Some(0), "{out:?}");
        assert_eq!(
            n(&out.json(), "inputs"),
            1,
            "the database, its WAL and SHM are skipped: {out:?}"
        );
    }
    assert_eq!(counts(&db).failed_inputs, 0);
}

// ---------------------------------------------------------------------------
// 11. Concurrency and interruption

// SQLite only: creating a missing SQLite file.
#[test]
fn three_first_ingests_started_together_on_a_missing_database_all_succeed() {
    // Each round starts three processes at once on a database that does
    // not exist yet: all of them create or migrate it. Several rounds, since
    // which one wins the race differs from run to run.
    const ROUNDS: usize = 6;
    let tmp = temp_dir();
    let inputs: Vec<PathBuf> = (0..3)
        .map(|i| {
            let org = ["a.example", "b.example", "c.example"][i];
            write_file(tmp.path(), &format!("in-{i}.xml"), daily_report(org, "example.com", 0, 3))
        })
        .collect();
    for round in 0..ROUNDS {
        let db = tmp.path().join(format!("round-{round}/dmarc.db"));
        std::fs::create_dir_all(db.parent().unwrap()).unwrap();
        let children: Vec<_> = inputs
            .iter()
            .map(|input| {
                command(tmp.path())
                    .arg("--db")
                    .arg(&db)
                    .args(["ingest", "--format", "json"])
                    .arg(input)
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .expect("spawn")
            })
            .collect();
        for child in children {
            let out: Run = child.wait_with_output().expect("wait").into();
            assert_eq!(out.code, Some(0), "round {round}: {out:?}");
            assert_eq!(n(&out.json(), "reports_new"), 1, "round {round}: {out:?}");
        }
        let conn = open_db(&db);
        assert_eq!(conn.counts().unwrap().reports, 3, "round {round}");
        assert_eq!(integrity_check(&conn), "ok", "round {round}");
    }
}

#[cfg(unix)]
both_backends!(ctrl_c_during_ingest_commits_what_was_read_says_so_and_a_rerun_reads_the_rest);
#[cfg(unix)]
fn ctrl_c_during_ingest_commits_what_was_read_says_so_and_a_rerun_reads_the_rest(backend: Backend) {
    let tmp = temp_dir();
    let db = backend.db(tmp.path());
    // a, b, then a named pipe, then d, e: the run is held at the pipe
    // (opening it waits for a writer) while Ctrl-C is pressed.
    let mut args: Vec<PathBuf> = Vec::new();
    for (i, name) in ["a", "b"].iter().enumerate() {
        let xml = daily_report(&format!("{name}.example"), "example.com", i as i64, 2);
        args.push(write_file(tmp.path(), &format!("{name}.xml"), xml));
    }
    let fifo = tmp.path().join("c.xml");
    let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(made.success());
    args.push(fifo.clone());
    for (i, name) in ["d", "e"].iter().enumerate() {
        let xml = daily_report(&format!("{name}.example"), "example.com", 3 + i as i64, 2);
        args.push(write_file(tmp.path(), &format!("{name}.xml"), xml));
    }
    let child = command(tmp.path())
        .arg("--db")
        .arg(&db)
        .arg("ingest")
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    // Opening the pipe for writing waits until the run opens it to read.
    let mut pipe = std::fs::OpenOptions::new().write(true).open(&fifo).expect("open the pipe");
    let sent = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(sent.success());
    // Let the signal land before the run can go past the pipe.
    std::thread::sleep(Duration::from_millis(300));
    std::io::Write::write_all(&mut pipe, daily_report("c.example", "example.com", 2, 2).as_bytes())
        .unwrap();
    drop(pipe);
    let out: Run = child.wait_with_output().expect("wait").into();

    assert_eq!(out.code, Some(130), "{out:?}");
    assert_eq!(out.stdout, "3 inputs: 3 new reports with 6 records, 0 duplicates, 0 failed\n");
    assert!(
        out.stderr
            .contains("interrupted: what is counted above is stored and committed (3 new reports)"),
        "{out:?}"
    );
    assert!(out.stderr.contains("Run the same command again"), "{out:?}");
    assert_eq!(counts(&db).reports, 3, "what the message says is what is stored");

    // The same command again (the pipe replaced by a file) reads the rest.
    std::fs::remove_file(&fifo).unwrap();
    write_file(tmp.path(), "c.xml", daily_report("c.example", "example.com", 2, 2));
    let arg_strs: Vec<&str> = args.iter().map(|p| path_str(p)).collect();
    let again = ingest(tmp.path(), &db, &arg_strs);
    assert_eq!(again.code, Some(0), "{again:?}");
    assert_eq!((n(&again.json(), "reports_new"), n(&again.json(), "reports_duplicate")), (2, 3));
    assert_eq!(counts(&db).reports, 5);
}
