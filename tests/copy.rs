//! `copy --to`: a SQLite database moved into a real PostgreSQL (see
//! `common::postgres`) and back, through the built binary. What every read
//! command prints must not change, raw copies and failed inputs must come
//! over byte for byte, a rerun must copy nothing, and a copy killed with
//! SIGKILL must be completed by the next run.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use common::{command, run, temp_dir};
use dmarc_report::store::notify::{FactChange, NewEvent, NotifyFact};
use dmarc_report::store::{MessageOutcome, RdnsCache, RdnsEntry, RdnsStatus, Store, StoredFinding};

fn samples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-reports")
}

/// The real-world corpus beside the repository (`DMARC_REPORT_CORPUS`
/// elsewhere), when it is there.
fn corpus() -> Option<PathBuf> {
    let dir = std::env::var_os("DMARC_REPORT_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"));
    dir.join("expected.json").is_file().then_some(dir)
}

fn open(db: &str) -> Store {
    Store::open(Path::new(db)).expect("open the store")
}

fn dmarc(dir: &Path, db: &str, args: &[&str]) -> common::Run {
    run(command(dir).arg("--db").arg(db).args(args))
}

/// What the read commands print, the report page included.
fn read_outputs(dir: &Path, db: &str, page: &str) -> Vec<String> {
    let mut seen = Vec::new();
    for args in [
        &["summary", "--all"][..],
        &["summary", "--all", "--format", "json"],
        &["summary", "--all", "--format", "csv"],
        &["errors"],
        &["errors", "--format", "json"],
    ] {
        let out = dmarc(dir, db, args);
        assert_eq!(out.code, Some(0), "{args:?}: {out:?}");
        seen.push(out.stdout);
    }
    let page = dir.join(page);
    let out = run(command(dir).arg("--db").arg(db).args(["report", "--all", "--out"]).arg(&page));
    assert_eq!(out.code, Some(0), "{out:?}");
    seen.push(common::report_page_without_time(&page));
    seen
}

/// The first line where `a` and `b` differ, for a readable failure.
fn first_difference(a: &str, b: &str) -> Option<(usize, String, String)> {
    let (mut x, mut y) = (a.lines(), b.lines());
    for n in 1.. {
        match (x.next(), y.next()) {
            (None, None) => return None,
            (l, r) if l != r => {
                return Some((n, l.unwrap_or("<end>").to_owned(), r.unwrap_or("<end>").to_owned()));
            }
            _ => {}
        }
    }
    None
}

/// Every report's raw copy as stored (the compressed pieces), by the
/// report's identity.
fn raw_copies(store: &Store) -> BTreeMap<String, Vec<Vec<u8>>> {
    let mut out = BTreeMap::new();
    for id in store.report_ids().unwrap() {
        let r = store.stored_report(id).unwrap().unwrap();
        let h = &r.header;
        let key =
            format!("{}|{}|{}|{}|{}", h.org_name, h.policy.domain, h.report_id, h.begin, h.end);
        out.insert(key, store.raw_chunks(id).unwrap());
    }
    out
}

/// Every failed input with its bytes (the dismissed ones with their
/// hash), by id.
fn failed_inputs(store: &Store) -> Vec<String> {
    store
        .failures()
        .unwrap()
        .iter()
        .chain(&store.dismissed_failures().unwrap())
        .map(|f| {
            let kept = store.kept_failure(f.id).unwrap().unwrap();
            format!("{kept:?}")
        })
        .collect()
}

#[test]
fn a_copied_database_prints_the_same_and_keeps_raw_copies_and_failed_inputs_byte_for_byte() {
    let dir = temp_dir();
    let Some(url) = common::postgres::database("copy_corpus") else { return };
    let sqlite = dir.path().join("dmarc.db").display().to_string();
    let mut ingest = command(dir.path());
    ingest.arg("--db").arg(&sqlite).arg("ingest").arg(samples());
    if let Some(corpus) = corpus() {
        ingest.arg(corpus);
    }
    let out = run(&mut ingest);
    // Some inputs fail on purpose: exit 1.
    assert_eq!(out.code, Some(1), "{out:?}");
    // A dismissed input leaves a gap in the ids: `errors` must still show
    // the same numbers after the copy.
    assert_eq!(dmarc(dir.path(), &sqlite, &["errors", "--dismiss", "1"]).code, Some(0));

    let copied = dmarc(dir.path(), &sqlite, &["copy", "--to", &url, "-v"]);
    assert_eq!(copied.code, Some(0), "{copied:?}");
    let source = open(&sqlite);
    let (reports, failures) = (source.report_ids().unwrap().len(), source.failures().unwrap());
    let dismissed = source.dismissed_failures().unwrap().len();
    assert_eq!(dismissed, 1);
    let records = source.inspect().counts().unwrap().records;
    assert!(reports > 20 && failures.len() > 5, "too little to copy: {reports} {failures:?}");
    assert_eq!(
        copied.stdout,
        format!(
            "copied {reports} reports ({} records), 0 already present, {} failed inputs, \
             0 IMAP message states, 0 rDNS answers, 0 notify facts, 0 notify events, \
             0 check runs\n",
            dmarc_report::render::format::count(records),
            failures.len() + dismissed
        )
    );
    assert!(copied.stderr.contains(&format!("report {reports}/{reports} ")), "{}", copied.stderr);

    let target = open(&url);
    assert_eq!(source.inspect().counts().unwrap(), target.inspect().counts().unwrap());
    assert_eq!(source.inspect().content().unwrap(), target.inspect().content().unwrap());
    assert!(target.inspect().incomplete_reports().unwrap().is_empty());
    let raw = raw_copies(&source);
    assert_eq!(raw.len(), reports);
    assert!(raw.values().all(|pieces| !pieces.is_empty()));
    assert_eq!(raw, raw_copies(&target), "a raw copy changed in the copy");
    assert_eq!(failed_inputs(&source), failed_inputs(&target));

    let before = read_outputs(dir.path(), &sqlite, "report-sqlite");
    let after = read_outputs(dir.path(), &url, "report-postgres");
    for (i, (a, b)) in before.iter().zip(&after).enumerate() {
        assert_eq!(first_difference(a, b), None, "output {i} differs after the copy");
    }

    let again = dmarc(dir.path(), &sqlite, &["copy", "--to", &url]);
    assert_eq!(again.code, Some(0), "{again:?}");
    assert_eq!(
        again.stdout,
        format!(
            "copied 0 reports (0 records), {reports} already present, 0 failed inputs, \
             0 IMAP message states, 0 rDNS answers, 0 notify facts, 0 notify events, \
             0 check runs\n"
        )
    );
    assert_eq!(source.inspect().counts().unwrap(), target.inspect().counts().unwrap());
}

/// An mbox of `emails` rua emails, one gzip report each.
fn mailbox(emails: usize) -> Vec<u8> {
    common::MailboxShape {
        seed: 29,
        days: 20,
        max_records: 8,
        ip_prefix: "198.51.100.",
        ip_count: 250,
        max_messages: 90,
        id_prefix: "copy",
    }
    .mbox(emails)
    .0
}

#[test]
fn a_copy_killed_mid_way_is_completed_by_the_next_run() {
    let dir = temp_dir();
    let Some(url) = common::postgres::database("copy_killed") else { return };
    let sqlite = dir.path().join("dmarc.db").display().to_string();
    let input = common::write_file(dir.path(), "box.mbox", mailbox(1_500));
    assert_eq!(
        run(command(dir.path()).arg("--db").arg(&sqlite).arg("ingest").arg(&input)).code,
        Some(0)
    );
    let mut copy = command(dir.path())
        .arg("--db")
        .arg(&sqlite)
        .args(["copy", "--to", &url, "-v"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn copy");
    // Kill it once its first batch (500 reports) is committed, long
    // before all 1,500.
    let stderr = BufReader::new(copy.stderr.take().unwrap());
    for line in stderr.lines() {
        if line.unwrap().starts_with("report 560/") {
            break;
        }
    }
    copy.kill().unwrap();
    let status = copy.wait().unwrap();
    assert_eq!(status.code(), None, "the copy had finished before the kill: {status:?}");

    let target = open(&url);
    let partial = target.inspect().counts().unwrap();
    assert!((500..1_500).contains(&partial.reports), "the kill did not land mid-way: {partial:?}");
    assert!(target.inspect().incomplete_reports().unwrap().is_empty(), "half a report was left");
    assert_eq!(partial.distinct_reports, partial.reports);

    let rerun = dmarc(dir.path(), &sqlite, &["copy", "--to", &url]);
    assert_eq!(rerun.code, Some(0), "{rerun:?}");
    assert!(
        rerun.stdout.starts_with(&format!(
            "copied {} reports (",
            dmarc_report::render::format::count(1_500 - partial.reports)
        )) && rerun.stdout.contains(&format!(", {} already present,", partial.reports)),
        "{}",
        rerun.stdout
    );
    let source = open(&sqlite);
    assert_eq!(source.inspect().counts().unwrap(), target.inspect().counts().unwrap());
    assert_eq!(source.inspect().content().unwrap(), target.inspect().content().unwrap());
    // The rollups the target built while the copy was killed and resumed
    // give the summary of the source.
    let args = ["summary", "--all", "--format", "json"];
    assert_eq!(dmarc(dir.path(), &url, &args).stdout, dmarc(dir.path(), &sqlite, &args).stdout);
}

/// Everything besides reports that a store keeps, as its typed reads show it.
fn state(store: &Store) -> Vec<String> {
    vec![
        format!("{:?}", store.imap_state().unwrap()),
        format!("{:?}", store.rdns_entries().unwrap()),
        format!("{:?}", store.notify_fact_rows().unwrap()),
        format!("{:?}", store.event_rows().unwrap()),
        format!("{:?}", store.check_runs().unwrap()),
        format!("{:?}", failed_inputs(store)),
    ]
}

#[test]
fn imap_state_rdns_cache_notify_state_and_check_runs_survive_a_copy_to_postgres_and_back() {
    let dir = temp_dir();
    let Some(url) = common::postgres::database("copy_state") else { return };
    let first = dir.path().join("first.db").display().to_string();
    let back = dir.path().join("back.db").display().to_string();
    assert_eq!(dmarc(dir.path(), &first, &["ingest", samples().to_str().unwrap()]).code, Some(1));
    {
        let s = open(&first);
        let acct = "dmarc@imap.example:993";
        s.record_imap_message(acct, "INBOX", 7, 1, MessageOutcome::Stored, 1_000).unwrap();
        s.record_imap_message(acct, "INBOX", 7, 2, MessageOutcome::Failed, 1_001).unwrap();
        s.record_imap_message(acct, "INBOX", 7, 3, MessageOutcome::TooLarge, 1_002).unwrap();
        s.imap_messages_done(acct, "INBOX", 7, &[1], false).unwrap();
        s.rdns_put(&[
            RdnsEntry {
                ip: "192.0.2.1".into(),
                name: Some("mail.example.net".into()),
                resolved_at: 2_000,
                status: RdnsStatus::Ok,
            },
            RdnsEntry {
                ip: "2001:db8::1".into(),
                name: None,
                resolved_at: 2_001,
                status: RdnsStatus::Timeout,
            },
        ])
        .unwrap();
        let fact = |kind: &str, value: &str| {
            FactChange::Set(NotifyFact {
                kind: kind.into(),
                domain: "example.com".into(),
                subject: String::new(),
                value: value.into(),
            })
        };
        let event = |n: u32| NewEvent {
            kind: "verdict-changed".into(),
            domain: Some("example.com".into()),
            payload: format!("{{\"n\":{n}}}"),
        };
        s.record_notifications(&[fact("verdict", "ready")], &[event(1), event(2)], 3_000).unwrap();
        s.record_notifications(&[fact("digest", "3000:2")], &[event(3)], 3_100).unwrap();
        s.mark_delivered_to(&[1, 2], "smtp").unwrap();
        s.mark_notified(&[1], 3_050).unwrap();
        let finding = StoredFinding {
            code: "spf-missing".into(),
            severity: "error".into(),
            record: "spf".into(),
            message: "no SPF record".into(),
            fix: "publish one".into(),
        };
        s.save_check("example.com", 4_000, std::slice::from_ref(&finding)).unwrap();
        s.save_check("example.com", 4_100, &[]).unwrap();
        s.save_check("example.org", 4_000, &[finding.clone(), finding]).unwrap();
    }
    let out = dmarc(dir.path(), &first, &["copy", "--to", &url]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(
        out.stdout.contains(
            ", 3 IMAP message states, 2 rDNS answers, 2 notify facts, 3 notify events, \
             3 check runs\n"
        ),
        "{}",
        out.stdout
    );
    let out = dmarc(dir.path(), &url, &["copy", "--to", &back]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let want = state(&open(&first));
    assert_eq!(state(&open(&url)), want, "SQLite -> PostgreSQL");
    assert_eq!(state(&open(&back)), want, "PostgreSQL -> SQLite");
    assert_eq!(open(&back).inspect().content().unwrap(), open(&first).inspect().content().unwrap());
    // Both reruns copy nothing.
    for (from, to) in [(&first, &url), (&url, &back)] {
        let again = dmarc(dir.path(), from, &["copy", "--to", to]);
        assert!(
            again.stdout.contains(
                " 0 failed inputs, 0 IMAP message states, 0 rDNS answers, 0 notify facts, \
                 0 notify events, 0 check runs\n"
            ) && again.stdout.starts_with("copied 0 reports (0 records), "),
            "{again:?}"
        );
    }
    // New events after the copy do not reuse a copied event's id.
    let target = open(&url);
    target
        .record_notifications(
            &[],
            &[NewEvent { kind: "x".into(), domain: None, payload: "{}".into() }],
            5_000,
        )
        .unwrap();
    assert_eq!(target.newest_notification_id().unwrap(), 4);
}

#[test]
fn copying_a_database_onto_itself_is_refused() {
    let dir = temp_dir();
    let db = dir.path().join("dmarc.db").display().to_string();
    assert_eq!(dmarc(dir.path(), &db, &["ingest", samples().to_str().unwrap()]).code, Some(1));
    let out = dmarc(dir.path(), &db, &["copy", "--to", &db]);
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(out.stderr.contains("--to names the database being copied"), "{}", out.stderr);
}
