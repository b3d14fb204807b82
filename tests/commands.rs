//! End-to-end tests of what a new user meets: one database for every
//! command, Maildir folders as Dovecot leaves them, failed inputs that can
//! be dismissed, a demo that keeps to itself, checked date windows, and a
//! report folder that holds one report.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};

use common::*;
use serde_json::Value;

/// 2026-10-20 00:00:00 UTC.
const BEGIN: i64 = 1_792_454_400;
const DAY: i64 = 86_400;

fn daily_report(org: &str, domain: &str, day: i64) -> String {
    let begin = BEGIN + day * DAY;
    report_xml(
        org,
        domain,
        &format!("{org}-{domain}-{day}"),
        begin,
        begin + DAY - 1,
        &[("192.0.2.1", 3), ("198.51.100.7", 1)],
    )
}

fn samples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-reports")
}

/// A database of the bundled samples at `db`.
fn ingest_samples(sandbox: &Path, db: &Path) {
    let out = run(command(sandbox).arg("--db").arg(db).arg("ingest").arg(samples()));
    // The malformed samples fail on purpose.
    assert_eq!(out.code, Some(1), "{out:?}");
}

fn assert_fatal_one_line(out: &Run, needle: &str) {
    assert_eq!(out.code, Some(2), "expected exit 2: {out:?}");
    let lines: Vec<&str> = out.stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one line on stderr: {:?}", out.stderr);
    assert!(out.stderr.contains(needle), "{needle:?} not in {:?}", out.stderr);
}

// ---------------------------------------------------------------------------
// One database for every command

// SQLite only: where a path in the config, the variable or the default
// leads (folders, the default file under XDG_DATA_HOME).
#[test]
fn every_command_uses_the_config_database_and_accepts_config() {
    let tmp = temp_dir();
    let db = tmp.path().join("data/fetch.db");
    std::fs::create_dir(tmp.path().join("data")).unwrap();
    let config = write_file(
        tmp.path(),
        "config.toml",
        format!("database = \"{}\"\n", db.display().to_string().replace('\\', "\\\\")),
    );
    let good = write_file(tmp.path(), "in/r.xml", daily_report("a.example", "example.com", 0));
    let bad = write_file(tmp.path(), "in/junk.txt", "hello");
    let default_db = tmp.path().join("xdg-data/dmarc-report/dmarc.db");

    let out =
        run(command(tmp.path()).args(["ingest", "--config"]).arg(&config).arg(&good).arg(&bad));
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(db.is_file(), "ingest did not write the config's database: {out:?}");
    assert_eq!(counts(&db).reports, 1);

    // The same through DMARC_REPORT_CONFIG, for each command that reads it.
    for args in [
        vec!["errors", "--format", "json"],
        vec!["reparse"],
        vec!["summary", "--all", "--format", "json"],
    ] {
        let out = run(command(tmp.path()).env("DMARC_REPORT_CONFIG", &config).args(&args));
        assert_eq!(out.code, Some(0), "{args:?}: {out:?}");
        if args[0] == "errors" {
            assert_eq!(out.json().as_array().unwrap().len(), 1, "{out:?}");
        }
        let out = run(command(tmp.path()).args(&args).arg("--config").arg(&config));
        assert_eq!(out.code, Some(0), "{args:?} --config: {out:?}");
    }
    let out = run(command(tmp.path())
        .args(["report", "--all", "--out"])
        .arg(tmp.path().join("report"))
        .arg("--config")
        .arg(&config));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(!default_db.exists(), "a command used the default database");

    // --db, before or after the command, and DMARC_REPORT_DB win over the config.
    let other = tmp.path().join("other.db");
    let out = run(command(tmp.path())
        .env("DMARC_REPORT_DB", &other)
        .args(["ingest", "--config"])
        .arg(&config)
        .arg(&good));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(counts(&other).reports, 1);
    let after = tmp.path().join("after.db");
    let out = run(command(tmp.path()).args(["ingest", "--db"]).arg(&after).arg(&good));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(after.is_file());
}

// ---------------------------------------------------------------------------
// Maildir

both_backends!(a_dovecot_maildir_is_read_from_cur_and_new_only_and_verbose_says_what_was_skipped);
fn a_dovecot_maildir_is_read_from_cur_and_new_only_and_verbose_says_what_was_skipped(
    backend: Backend,
) {
    let tmp = temp_dir();
    let db = backend.db(tmp.path());
    let md = tmp.path().join("Maildir/.DMARC");
    let mail = email_with_attachment(
        "Report domain: example.com",
        "report.xml.gz",
        "application/gzip",
        &gzip(daily_report("a.example", "example.com", 0).as_bytes()),
    );
    write_file(&md.join("cur"), "1.host:2,S", &mail);
    std::fs::create_dir_all(md.join("new")).unwrap();
    std::fs::create_dir_all(md.join("tmp")).unwrap();
    for name in ["dovecot-uidlist", "dovecot.index.log", "dovecot.index.cache", "maildirfolder"] {
        write_file(&md, name, b"\x01\x02 dovecot binary state");
    }
    for _ in 0..2 {
        let out = run(command(tmp.path()).arg("--db").arg(&db).args(["ingest", "-v"]).arg(&md));
        assert_eq!(out.code, Some(0), "{out:?}");
        assert!(
            out.stderr.contains("dovecot-uidlist") && out.stderr.contains("cur/ and new/"),
            "{out:?}"
        );
        assert!(out.stdout.starts_with("1 input:"), "{out:?}");
    }
    let out = run(command(tmp.path()).arg("--db").arg(&db).arg("errors"));
    assert_eq!(out.stdout, "no failed inputs\n", "{out:?}");
}

// ---------------------------------------------------------------------------
// Dismissing failed inputs

both_backends!(dismissed_failures_leave_the_list_and_retry_passes_over_non_reports);
fn dismissed_failures_leave_the_list_and_retry_passes_over_non_reports(backend: Backend) {
    let tmp = temp_dir();
    let db = backend.db(tmp.path());
    let dir = tmp.path().join("in");
    write_file(&dir, "invoice.txt", "Invoice 2026-117: 3 widgets");
    write_file(&dir, "tls.json", r#"{"organization-name":"x","policies":[]}"#);
    write_file(&dir, "page.html", "<html><body>hi</body></html>");
    let out = run(command(tmp.path()).arg("--db").arg(&db).arg("ingest").arg(&dir));
    assert_eq!(out.code, Some(1), "{out:?}");

    let errors = || -> Vec<Value> {
        let out =
            run(command(tmp.path()).arg("--db").arg(&db).args(["errors", "--format", "json"]));
        assert_eq!(out.code, Some(0), "{out:?}");
        assert_eq!(out.stdout.lines().count(), 1, "errors JSON is one line: {out:?}");
        out.json().as_array().unwrap().clone()
    };
    let listed = errors();
    assert_eq!(listed.len(), 3, "{listed:?}");
    assert!(listed[0]["last_seen"].as_str().unwrap().ends_with('Z'), "{listed:?}");

    // Not reports: --retry-failed passes them over, exits 0 and says so.
    let out = run(command(tmp.path()).arg("--db").arg(&db).args(["ingest", "--retry-failed"]));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stderr.contains("not retried: 3 inputs"), "{out:?}");
    let out = run(command(tmp.path()).arg("--db").arg(&db).args([
        "ingest",
        "--retry-failed",
        "--all-kinds",
    ]));
    assert_eq!(out.code, Some(1), "{out:?}");

    // Dismiss one, then an unknown id (refused, nothing dismissed), then all.
    let first = listed[0]["id"].as_i64().unwrap().to_string();
    let out = run(command(tmp.path()).arg("--db").arg(&db).args(["errors", "--dismiss", &first]));
    assert_eq!((out.code, out.stdout.as_str()), (Some(0), "dismissed 1 failed input\n"), "{out:?}");
    assert_eq!(errors().len(), 2);
    let out = run(command(tmp.path()).arg("--db").arg(&db).args(["errors", "--dismiss", "99"]));
    assert_fatal_one_line(&out, "no failed input with id");
    assert_eq!(errors().len(), 2);
    let out = run(command(tmp.path()).arg("--db").arg(&db).args(["errors", "--dismiss-all"]));
    assert_eq!(out.stdout, "dismissed 2 failed inputs\n", "{out:?}");
    assert!(errors().is_empty());
    let out = run(command(tmp.path()).arg("--db").arg(&db).args([
        "ingest",
        "--retry-failed",
        "--all-kinds",
    ]));
    assert_eq!(out.code, Some(0), "dismissed inputs were retried: {out:?}");
}

both_backends!(errors_out_needs_export_and_dash_writes_to_standard_output);
fn errors_out_needs_export_and_dash_writes_to_standard_output(backend: Backend) {
    let tmp = temp_dir();
    let db = backend.db(tmp.path());
    let junk = write_file(tmp.path(), "junk.txt", "not a report at all");
    run(command(tmp.path()).arg("--db").arg(&db).arg("ingest").arg(&junk));
    let out = run(command(tmp.path()).arg("--db").arg(&db).args(["errors", "--out", "x"]));
    assert_fatal_one_line(&out, "--export");
    let id = run(command(tmp.path()).arg("--db").arg(&db).args(["errors", "--format", "json"]))
        .json()[0]["id"]
        .to_string();
    let out = run(command(tmp.path())
        .arg("--db")
        .arg(&db)
        .args(["errors", "--export", &id, "--out", "-"]));
    assert_eq!((out.code, out.stdout.as_str()), (Some(0), "not a report at all"), "{out:?}");
}

// ---------------------------------------------------------------------------
// Demo

// SQLite only: it compares the user's database file byte for byte.
#[test]
fn demo_never_touches_the_configured_database() {
    let tmp = temp_dir();
    let prod = tmp.path().join("prod/dmarc.db");
    std::fs::create_dir(tmp.path().join("prod")).unwrap();
    let report = write_file(tmp.path(), "r.xml", daily_report("a.example", "example.com", 0));
    let out = run(command(tmp.path()).arg("--db").arg(&prod).arg("ingest").arg(&report));
    assert_eq!(out.code, Some(0), "{out:?}");
    let before = std::fs::read(&prod).unwrap();

    let out = run(command(tmp.path())
        .env("DMARC_REPORT_DB", &prod)
        .args(["demo", "--out"])
        .arg(tmp.path().join("demo")));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(std::fs::read(&prod).unwrap(), before, "demo wrote into the user's database");
    assert!(!tmp.path().join("prod/report").exists(), "demo wrote a report beside it");
    assert!(
        tmp.path().join("demo/dmarc.db").is_file()
            && tmp.path().join("demo/report/index.html").is_file()
    );

    let out = run(command(tmp.path()).arg("--db").arg(&prod).arg("demo"));
    assert_fatal_one_line(&out, "fresh database of its own");
    assert_eq!(std::fs::read(&prod).unwrap(), before);
}

// ---------------------------------------------------------------------------
// Date windows

both_backends!(impossible_windows_exit_two_and_empty_windows_give_no_verdict);
fn impossible_windows_exit_two_and_empty_windows_give_no_verdict(backend: Backend) {
    let tmp = temp_dir();
    let db = backend.db(tmp.path());
    ingest_samples(tmp.path(), &db);
    let summary =
        |args: &[&str]| run(command(tmp.path()).arg("--db").arg(&db).arg("summary").args(args));

    let out = summary(&["--since", "2026-11-10", "--until", "2026-11-05"]);
    assert_fatal_one_line(&out, "--since 2026-11-10 is after --until 2026-11-05");
    let out = summary(&["--since", "2999-01-01"]);
    assert_fatal_one_line(&out, "in the future");
    let out = summary(&["--until", "2999-01-01", "--days", "3"]);
    assert_fatal_one_line(&out, "in the future");

    // Before the first report: no data, no verdict, exit 0.
    let out = summary(&["--since", "2020-01-01", "--until", "2020-01-31"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(out.stdout, "no data in this window\n", "{out:?}");
    assert!(
        out.stderr.contains("example.com: no data in this window (2020-01-01 .. 2020-01-31)"),
        "{out:?}"
    );
    let out = summary(&["--since", "2020-01-01", "--until", "2020-01-31", "--format", "json"]);
    assert_eq!(out.json()["domains"], Value::Array(vec![]), "{out:?}");
    // After the newest report (a --since with no end): the same.
    let out = summary(&["--since", "2026-12-01"]);
    assert_eq!(out.stdout, "no data in this window\n", "{out:?}");
    assert!(out.stderr.contains("(since 2026-12-01, after the newest report)"), "{out:?}");

    // --until with --days, like --since with --days.
    let out = summary(&["--until", "2026-11-18", "--days", "7", "--format", "json"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(out.json()["window"]["begin"], "2026-11-12T00:00:00Z", "{out:?}");
}

both_backends!(a_past_window_is_not_stale_because_reports_came_after_it);
fn a_past_window_is_not_stale_because_reports_came_after_it(backend: Backend) {
    let tmp = temp_dir();
    let db = backend.db(tmp.path());
    let dir = tmp.path().join("in");
    for day in (0..10).chain(30..40) {
        write_file(&dir, &format!("{day}.xml"), daily_report("a.example", "example.com", day));
    }
    run(command(tmp.path()).arg("--db").arg(&db).arg("ingest").arg(&dir));
    // A window of the first 10 days: its newest report ends at its end.
    let out = run(command(tmp.path()).arg("--db").arg(&db).args([
        "summary",
        "--since",
        "2026-10-20",
        "--days",
        "10",
        "--format",
        "json",
    ]));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.json()["domains"][0].get("stale").is_none(), "{}", out.stdout);
    // A past window with a 12-day gap before its end warns about the gap.
    let out = run(command(tmp.path()).arg("--db").arg(&db).args([
        "summary",
        "--since",
        "2026-10-20",
        "--until",
        "2026-11-09",
        "--format",
        "json",
    ]));
    let stale = out.json()["domains"][0]["stale"].as_str().unwrap_or_default().to_owned();
    assert!(stale.contains("before the window's end"), "{out:?}");
}

// ---------------------------------------------------------------------------
// JSON and the report folder

both_backends!(summary_json_has_each_key_once);
fn summary_json_has_each_key_once(backend: Backend) {
    let tmp = temp_dir();
    let db = backend.db(tmp.path());
    ingest_samples(tmp.path(), &db);
    let out = run(command(tmp.path()).arg("--db").arg(&db).args(["summary", "--format", "json"]));
    assert_eq!(out.code, Some(0), "{out:?}");
    let text = &out.stdout;
    // Each domain object: `"domain"` once (serde_json keeps the last of two).
    let domains = out.json()["domains"].as_array().unwrap().len();
    assert_eq!(text.matches("\"domain\":").count(), domains, "{text}");
}

both_backends!(report_into_the_same_folder_leaves_exactly_one_report_and_foreign_files_alone);
fn report_into_the_same_folder_leaves_exactly_one_report_and_foreign_files_alone(backend: Backend) {
    let tmp = temp_dir();
    let db = backend.db(tmp.path());
    ingest_samples(tmp.path(), &db);
    let out_dir = tmp.path().join("report");
    let report = |args: &[&str]| {
        let out = run(command(tmp.path())
            .arg("--db")
            .arg(&db)
            .arg("report")
            .arg("--out")
            .arg(&out_dir)
            .args(args));
        assert_eq!(out.code, Some(0), "{out:?}");
    };
    let listing = || -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&out_dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with('.'))
            .collect();
        names.sort();
        names
    };
    report(&[]);
    let both = listing();
    write_file(&out_dir, "notes.txt", "mine");
    write_file(&out_dir, "my-chart.png", "mine too");
    report(&["--domain", "example.org"]);
    let one = listing();
    assert!(one.len() < both.len(), "{both:?} -> {one:?}");
    assert!(one.iter().all(|n| !n.contains("example.com")), "{one:?}");
    assert!(
        one.contains(&"notes.txt".to_owned()) && one.contains(&"my-chart.png".to_owned()),
        "{one:?}"
    );
    report(&[]);
    let mut again = both.clone();
    again.extend(["my-chart.png".to_owned(), "notes.txt".to_owned()]);
    again.sort();
    assert_eq!(listing(), again);
}

// ---------------------------------------------------------------------------
// Charts agree with the text

both_backends!(charts_use_the_summary_classes_and_the_pass_rate_of_authorized_senders_only);
fn charts_use_the_summary_classes_and_the_pass_rate_of_authorized_senders_only(backend: Backend) {
    let tmp = temp_dir();
    let db = backend.db(tmp.path());
    ingest_samples(tmp.path(), &db);
    // example.org: one authorized sender passing 100 %, and a misconfigured
    // service that fails DMARC.
    let out = run(command(tmp.path()).arg("--db").arg(&db).args([
        "summary",
        "--domain",
        "example.org",
        "--format",
        "json",
    ]));
    let json = out.json();
    let classes: Vec<&str> = json["domains"][0]["senders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["class"].as_str().unwrap())
        .collect();
    assert!(classes.contains(&"misconfigured") && classes.contains(&"authorized"), "{classes:?}");

    let dir = tmp.path().join("report");
    let out = run(command(tmp.path())
        .arg("--db")
        .arg(&db)
        .args(["report", "--domain", "example.org", "--out"])
        .arg(&dir));
    assert_eq!(out.code, Some(0), "{out:?}");
    let page = std::fs::read_to_string(dir.join("index.html")).unwrap();
    assert!(page.contains("0 of 30 days with authorized mail were below"), "pass-rate chart");
    assert!(page.contains("Messages per day, by sender class"), "daily chart title");
    for gone in ["failing, authorized senders", "failing, unauthorized sources"] {
        assert!(!page.contains(gone), "{gone:?} is not a class of the summary");
    }
    // The daily chart's legend names the classes the summary names.
    let daily = &page[page.find("Messages per day, by sender class").unwrap()..];
    let daily = &daily[..daily.find("</svg>").unwrap()];
    for class in classes {
        let label = format!(">{class}<");
        let squeezed: String = daily.split_whitespace().collect();
        assert!(squeezed.contains(&label), "{class} missing from the daily legend");
    }
}

// ---------------------------------------------------------------------------
// Help, config errors and empty inputs

#[test]
fn a_mistyped_command_gets_a_did_you_mean_and_help_shows_examples_and_the_workflow() {
    let tmp = temp_dir();
    let out = run(command(tmp.path()).arg("sumary"));
    assert_fatal_one_line(&out, "'summary'");
    assert!(
        out.stderr.contains("'sumary'; a similar subcommand exists: 'summary'"),
        "{}",
        out.stderr
    );
    let out = run(command(tmp.path()).arg("--help"));
    assert!(out.stdout.contains("Workflow:") && out.stdout.contains("dmarc-report report --out"));
    for cmd in ["fetch", "ingest", "errors", "summary", "report", "reparse", "demo"] {
        let out = run(command(tmp.path()).args([cmd, "--help"]));
        assert!(out.stdout.contains("Example"), "{cmd} --help has no example: {out:?}");
    }
    // Options that do not apply are not offered.
    let out = run(command(tmp.path()).args(["reparse", "--help"]));
    assert!(!out.stdout.contains("--max-zip-entries"), "{}", out.stdout);
    let out = run(command(tmp.path()).args(["demo", "--help"]));
    assert!(!out.stdout.contains("--db") && !out.stdout.contains("--config"), "{}", out.stdout);
}

#[test]
fn config_errors_name_the_account_and_the_file_and_a_missing_ca_file_is_one() {
    let tmp = temp_dir();
    let config = write_file(tmp.path(), "config.toml", "[[account]]\nuser = \"u\"\n");
    let out = run(command(tmp.path()).args(["fetch", "--config"]).arg(&config));
    assert_fatal_one_line(&out, &format!("account 1 in {}: no IMAP host", config.display()));

    let config = write_file(
        tmp.path(),
        "ca.toml",
        "[[account]]\nname = \"rua\"\nhost = \"127.0.0.1\"\nuser = \"u\"\n\
         password_env = \"PW\"\nca_file = \"/nonexistent/ca.pem\"\n",
    );
    let out = run(command(tmp.path()).args(["fetch", "--config"]).arg(&config));
    assert_fatal_one_line(&out, "the CA file /nonexistent/ca.pem does not exist");
    assert!(out.stderr.contains("rua in "), "{out:?}");
}

both_backends!(ingesting_an_empty_folder_warns_that_there_was_no_input);
fn ingesting_an_empty_folder_warns_that_there_was_no_input(backend: Backend) {
    let tmp = temp_dir();
    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let out =
        run(command(tmp.path()).arg("--db").arg(backend.db(tmp.path())).arg("ingest").arg(&empty));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stderr.contains("warning: no inputs found in"), "{out:?}");
    assert_eq!(out.stdout, "0 inputs: 0 new reports with 0 records, 0 duplicates, 0 failed\n");
}
