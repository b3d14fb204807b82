//! The PostgreSQL backend end to end: the built binary against a real
//! PostgreSQL (see `common::postgres`) and against SQLite, with the same
//! inputs and the same commands: what is stored and what every read
//! command prints must agree. Also: which `--db` values select which
//! backend, and what is refused.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};

use common::dovecot::Dovecot;
use common::{command, rua, run, temp_dir};
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
        seen.push(common::report_page_without_time(&page));
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
        let mut content = inspect.content().unwrap();
        // The documented views agree too (content reads the records' ones).
        content.extend(inspect.reports_view().unwrap());
        contents.push((counts, content));
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

/// An mbox of `emails` rua emails, one gzip report each (1 to 6 records,
/// over 10 days), and the totals a single clean ingest stores from it:
/// (reports, records, messages).
fn mailbox(emails: usize) -> (Vec<u8>, [u64; 3]) {
    common::MailboxShape {
        seed: 17,
        days: 10,
        max_records: 6,
        ip_prefix: "192.0.2.",
        ip_count: 200,
        max_messages: 50,
        id_prefix: "concurrent",
    }
    .mbox(emails)
}

/// The stored totals and their check: every report whole and once.
fn assert_clean(db: &Db, want: [u64; 3]) {
    let store = db.open();
    let inspect = store.inspect();
    let c = inspect.counts().unwrap();
    assert_eq!([c.reports, c.records, c.messages], want, "{c:?}");
    assert_eq!(c.distinct_reports, c.reports, "a report is stored twice: {c:?}");
    assert_eq!(c.raw_copies, c.reports, "{c:?}");
    assert!(inspect.incomplete_reports().unwrap().is_empty());
}

fn spawn_ingest(dir: &Path, db: &Db, input: &Path) -> std::process::Child {
    command(dir)
        .arg("--db")
        .arg(db.arg())
        .arg("ingest")
        .arg(input)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn ingest")
}

#[test]
fn four_concurrent_ingests_of_one_mailbox_store_each_report_once() {
    let dir = temp_dir();
    let Some([sqlite, postgres]) = both("four_ingests", dir.path()) else { return };
    let (mbox, want) = mailbox(400);
    let input = common::write_file(dir.path(), "box.mbox", mbox);
    let workers: Vec<_> = (0..4).map(|_| spawn_ingest(dir.path(), &postgres, &input)).collect();
    for worker in workers {
        let out = worker.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    assert_clean(&postgres, want);
    // The same summary as one ingest into SQLite.
    let out = run(command(dir.path()).arg("--db").arg(sqlite.arg()).arg("ingest").arg(&input));
    assert_eq!(out.code, Some(0), "{out:?}");
    let args = ["summary", "--all", "--format", "json"];
    assert_eq!(
        dmarc(dir.path(), &postgres, &args).stdout,
        dmarc(dir.path(), &sqlite, &args).stdout
    );
}

#[test]
fn kill_9_during_concurrent_ingests_then_a_rerun_gives_the_clean_totals() {
    let dir = temp_dir();
    let Some([sqlite, postgres]) = both("kill_ingest", dir.path()) else { return };
    let (mbox, want) = mailbox(600);
    let input = common::write_file(dir.path(), "box.mbox", mbox);
    let mut workers: Vec<_> = (0..4).map(|_| spawn_ingest(dir.path(), &postgres, &input)).collect();
    // Kill every worker once some reports are in (not all: the wait ends
    // when the first are committed, long before 600).
    let store = postgres.open();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while store.inspect().counts().unwrap().reports < 20 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    for worker in &mut workers {
        let _ = worker.kill();
    }
    let killed = workers
        .iter_mut()
        .map(|w| w.wait().is_ok_and(|status| status.code().is_none()))
        .filter(|&by_signal| by_signal)
        .count();
    assert!(killed > 0, "every worker had finished before the kill: the test proves nothing");
    let partial = store.inspect().counts().unwrap();
    assert!(partial.reports >= 20, "no report was stored before the kill: {partial:?}");
    assert!(
        store.inspect().incomplete_reports().unwrap().is_empty(),
        "a killed worker left half a report"
    );
    assert_eq!(partial.distinct_reports, partial.reports);
    let out = run(command(dir.path()).arg("--db").arg(postgres.arg()).arg("ingest").arg(&input));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_clean(&postgres, want);
    // The rollups too: the same summary as one clean ingest into SQLite.
    let out = run(command(dir.path()).arg("--db").arg(sqlite.arg()).arg("ingest").arg(&input));
    assert_eq!(out.code, Some(0), "{out:?}");
    let args = ["summary", "--all", "--format", "json"];
    assert_eq!(
        dmarc(dir.path(), &postgres, &args).stdout,
        dmarc(dir.path(), &sqlite, &args).stdout
    );
}

/// `fetch` of the test server's INBOX into `db`, archiving to `Done`.
fn fetch(server: &Dovecot, dir: &Path, db: &Db) -> std::process::Command {
    let mut cmd = command(dir);
    cmd.env("XDG_CONFIG_HOME", dir.join("xdg-config"))
        .arg("--db")
        .arg(db.arg())
        .args(["fetch", "--host", server.host(), "--user", server.user()])
        .arg("--port")
        .arg(server.imaps_port().to_string())
        .arg("--password-file")
        .arg(server.password_file())
        .arg("--ca-file")
        .arg(server.ca_file())
        .args(["--archive-folder", "Done", "--batch-size", "5"]);
    cmd
}

#[test]
fn two_concurrent_fetches_of_one_mailbox_store_every_report_once_and_empty_the_inbox() {
    let Some(url) = common::postgres::database("two_fetches") else { return };
    let db = Db::Postgres(url);
    let server = Dovecot::start().unwrap();
    let originals: Vec<Vec<u8>> = (0..40).map(|i| rua(&format!("fetch-{i}"), i % 7)).collect();
    for m in &originals {
        server.append("INBOX", m).unwrap();
    }
    let dir = temp_dir();
    let workers: Vec<_> = (0..2)
        .map(|_| {
            fetch(&server, dir.path(), &db)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for worker in workers {
        let out = worker.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    assert_clean(&db, [40, 80, 160]);
    assert!(server.list_uids("INBOX").unwrap().is_empty());
    server.assert_holds_each_once("Done", &originals);
}

#[test]
fn a_fetch_killed_with_its_folder_locked_leaves_it_to_the_next_run() {
    let Some(url) = common::postgres::database("killed_fetch") else { return };
    let db = Db::Postgres(url);
    let server = Dovecot::start().unwrap();
    let originals: Vec<Vec<u8>> = (0..60).map(|i| rua(&format!("crash-{i}"), i % 5)).collect();
    for m in &originals {
        server.append("INBOX", m).unwrap();
    }
    let dir = temp_dir();
    let mut worker = fetch(&server, dir.path(), &db)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Killed once it has stored some reports (its folder lock held).
    let store = db.open();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while store.inspect().counts().unwrap().reports < 5 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    worker.kill().unwrap();
    let status = worker.wait().unwrap();
    assert!(status.code().is_none(), "the fetch had finished before the kill: {status:?}");
    // The server released the dead worker's lock: the next run takes the
    // folder and finishes it.
    let out = run(fetch(&server, dir.path(), &db).args(["--format", "json"]));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_clean(&db, [60, 120, 240]);
    assert!(server.list_uids("INBOX").unwrap().is_empty());
    server.assert_holds_each_once("Done", &originals);
}

/// The same operations through the store's interface on both backends:
/// what each returns, as text.
fn store_operations(db: &Db) -> Vec<String> {
    use dmarc_report::store::notify::{FactChange, NewEvent, NotifyFact};
    use dmarc_report::store::{MessageOutcome, RdnsCache, RdnsEntry, RdnsStatus, StoredFinding};
    let store = db.open();
    let mut out = Vec::new();
    // Failed inputs: the same bytes twice are one row, and so is the same
    // name kept without bytes; dismissing keeps them dismissed.
    use dmarc_report::ingest::FailureKind;
    let a = store.record_failure("a.xml", Some(b"<bad"), FailureKind::Malformed, "broken", 100);
    let a = a.unwrap().id;
    let again = store
        .record_failure("a2.xml", Some(b"<bad"), FailureKind::Corrupt, "still broken", 200)
        .unwrap();
    store.record_failure("huge.xml", None, FailureKind::Limit, "too large", 300).unwrap();
    store.record_failure("huge.xml", None, FailureKind::Limit, "too large", 310).unwrap();
    store.record_failure("tls.json", Some(b"{}"), FailureKind::TlsReport, "TLS", 320).unwrap();
    out.push(format!("{:?}", (a == again.id, again.dismissed)));
    let listed = |store: &Store| {
        let failures = store.failures().unwrap();
        let dismissed = store.dismissed_failures().unwrap();
        format!(
            "{:?}",
            failures
                .iter()
                .chain(&dismissed)
                .map(|f| (&f.name, &f.error, f.kind, f.attempts, f.size, f.dismissed_at))
                .collect::<Vec<_>>()
        )
    };
    out.push(listed(&store));
    out.push(format!("{:?}", store.failure_data(a).unwrap()));
    out.push(format!("{:?}", store.dismiss_failures(&[a, 99_999], 400).unwrap().len()));
    out.push(format!("{:?}", store.dismiss_failures(&[a], 401).unwrap()));
    out.push(format!("{:?}", store.failure_data(a).unwrap()));
    // The same bytes failing again: the row stays dismissed, without bytes.
    let back = store.record_failure("a3.xml", Some(b"<bad"), FailureKind::Malformed, "b", 500);
    out.push(format!("{:?}", back.unwrap().dismissed));
    out.push(format!("{:?}", store.dismiss_all_failures(600).unwrap()));
    out.push(listed(&store));
    // IMAP state.
    store.record_imap_message("u@h:993", "INBOX", 7, 1, MessageOutcome::Stored, 10).unwrap();
    store.record_imap_message("u@h:993", "INBOX", 7, 2, MessageOutcome::Failed, 10).unwrap();
    store.record_imap_message("u@h:993", "INBOX", 7, 3, MessageOutcome::TooLarge, 10).unwrap();
    store.imap_messages_done("u@h:993", "INBOX", 7, &[2], false).unwrap();
    store.imap_messages_done("u@h:993", "INBOX", 7, &[1], true).unwrap();
    let mut known: Vec<_> =
        store.imap_messages("u@h:993", "INBOX", 7).unwrap().into_iter().collect();
    known.sort_by_key(|(uid, _)| *uid);
    out.push(format!("{known:?}"));
    store.prune_imap_messages("u@h:993", "INBOX", 7, &[3].into_iter().collect()).unwrap();
    out.push(format!("{:?}", store.imap_messages("u@h:993", "INBOX", 7).unwrap()));
    // The rDNS cache.
    let entry = |ip: &str, name: Option<&str>, status| RdnsEntry {
        ip: ip.into(),
        name: name.map(Into::into),
        resolved_at: 5,
        status,
    };
    store
        .rdns_put(&[
            entry("192.0.2.2", None, RdnsStatus::None),
            entry("192.0.2.1", Some("mx.example"), RdnsStatus::Ok),
        ])
        .unwrap();
    store.rdns_put(&[entry("192.0.2.2", None, RdnsStatus::Timeout)]).unwrap();
    out.push(format!(
        "{:?} {:?}",
        store.rdns_get("192.0.2.2").unwrap(),
        store.rdns_entries().unwrap()
    ));
    // Checks.
    let finding = StoredFinding {
        code: "spf-missing".into(),
        severity: "error".into(),
        record: "spf".into(),
        message: "m".into(),
        fix: "f".into(),
    };
    store.save_check("example.com", 100, &[finding.clone(), finding]).unwrap();
    out.push(format!("{:?}", store.last_check("example.com").unwrap()));
    store.save_check("example.com", 200, &[]).unwrap();
    out.push(format!(
        "{:?} {:?}",
        store.last_check("example.com").unwrap(),
        store.last_check("x.example").unwrap()
    ));
    // Notifications.
    let fact = NotifyFact {
        kind: "verdict".into(),
        domain: "example.com".into(),
        subject: String::new(),
        value: "v".into(),
    };
    let event =
        NewEvent { kind: "k".into(), domain: Some("example.com".into()), payload: "{}".into() };
    store.record_notifications(&[FactChange::Set(fact)], &[event.clone(), event], 100).unwrap();
    let pending = store.pending_notifications().unwrap();
    store.mark_delivered_to(&[pending[0].id], "smtp").unwrap();
    store.mark_delivered_to(&[pending[0].id], "smtp").unwrap();
    store.mark_delivered_to(&[pending[0].id], "webhook").unwrap();
    store.mark_notified(&[pending[1].id], 300).unwrap();
    let strip = |events: Vec<dmarc_report::store::notify::StoredEvent>| {
        events
            .into_iter()
            .map(|e| (e.created_at, e.payload, e.delivered_at, e.delivered_to))
            .collect::<Vec<_>>()
    };
    out.push(format!("{:?}", strip(store.notifications_since(0, 0).unwrap())));
    out.push(format!("{:?}", strip(store.pending_notifications().unwrap())));
    out.push(format!("{:?}", store.notify_facts().unwrap()));
    out.push(format!("{:?}", store.newest_notification_id().unwrap() == pending[1].id));
    out
}

#[test]
fn the_store_operations_give_the_same_answers_on_both_backends() {
    let dir = temp_dir();
    let Some([sqlite, postgres]) = both("store_operations", dir.path()) else { return };
    let a = store_operations(&sqlite);
    let b = store_operations(&postgres);
    assert_eq!(a.len(), b.len());
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        assert_eq!(x, y, "operation {i} differs");
    }
}

#[test]
fn reparse_and_the_overview_agree_on_both_backends() {
    let dir = temp_dir();
    let Some(dbs) = both("reparse", dir.path()) else { return };
    let mut seen = Vec::new();
    for db in &dbs {
        let out = run(command(dir.path()).arg("--db").arg(db.arg()).arg("ingest").arg(samples()));
        assert_eq!(out.code, Some(1), "{out:?}");
        let out = dmarc(dir.path(), db, &["reparse", "--format", "json"]);
        assert_eq!(out.code, Some(0), "{out:?}");
        let args = ["summary", "--all", "--format", "json"];
        let store = db.open();
        seen.push((
            out.stdout,
            dmarc(dir.path(), db, &args).stdout,
            format!("{:?}", store.stored_by_reporter().unwrap()),
            format!("{:?}", store.dkim_selectors("example.com").unwrap()),
            store.inspect().content().unwrap(),
        ));
    }
    assert_eq!(seen[0], seen[1]);
}

/// An mbox of varied reports: 4 policy domains, 5 reporters, 45 days,
/// sources from a pool of 400 addresses (some IPv6) that pass, fail, are
/// forwarded (DKIM only) or sign as another domain.
fn varied_mailbox() -> Vec<u8> {
    use dmarc_report_testkit::report::{Record, Report};
    let mut rng = common::Rng::seeded(41);
    let domains = ["example.com", "example.org", "shop.example", "parked.example"];
    let orgs = ["google.com", "Yahoo", "Enterprise Outlook", "GMX", "Mail.Ru"];
    let mut messages = Vec::new();
    for day in 0..45i64 {
        let begin = 1_792_454_400 + day * 86_400;
        for (d, domain) in domains.iter().enumerate() {
            for (o, org) in orgs.iter().enumerate() {
                if rng.below(4) == 0 {
                    continue;
                }
                let id = format!("{org}-{domain}-{day}");
                let mut report = Report::new(org, domain, &id, begin, begin + 86_399)
                    .policy(if d == 3 { "p=reject" } else { "p=none" });
                for _ in 0..1 + rng.below(12) {
                    let n = rng.below(400);
                    let ip = if n.is_multiple_of(7) {
                        format!("2001:db8::{n:x}")
                    } else {
                        format!("203.0.113.{}", n % 250)
                    };
                    let count = 1 + rng.below(300);
                    let record = match n % 5 {
                        0 | 1 => Record::new(ip, count)
                            .evaluated(true, true)
                            .dkim(domain, "pass")
                            .spf(domain, "pass"),
                        2 => Record::new(ip, count).evaluated(true, false).dkim(domain, "pass"),
                        3 => Record::new(ip, count)
                            .evaluated(false, false)
                            .dkim("esp.example", "pass")
                            .spf("esp.example", "pass"),
                        _ => Record::new(ip, count).spf(domain, "fail"),
                    };
                    report = report.record(record);
                }
                messages.push(common::email_with_attachment(
                    &format!("Report Domain: {domain} Report-ID: {id}"),
                    &format!("{o}!{domain}!{begin}!{}.xml.gz", begin + 86_399),
                    "application/gzip",
                    &common::gzip(report.xml().as_bytes()),
                ));
            }
        }
    }
    common::mbox(&messages)
}

#[test]
fn summaries_of_varied_reports_agree_on_both_backends_for_every_window() {
    let dir = temp_dir();
    let Some(dbs) = both("differential", dir.path()) else { return };
    let input = common::write_file(dir.path(), "varied.mbox", varied_mailbox());
    let windows: [&[&str]; 8] = [
        &["summary", "--all", "--format", "json"],
        &["summary", "--all"],
        &["summary", "--format", "json"],
        &["summary", "--days", "7", "--format", "json"],
        &["summary", "--since", "2026-10-20", "--until", "2026-11-02", "--format", "csv"],
        &["summary", "--domain", "shop.example", "--days", "14", "--format", "json"],
        &["summary", "--domain", "parked.example", "--all"],
        &["errors", "--format", "json"],
    ];
    let mut seen = Vec::new();
    for db in &dbs {
        let out = run(command(dir.path()).arg("--db").arg(db.arg()).arg("ingest").arg(&input));
        assert_eq!(out.code, Some(0), "{out:?}");
        let mut outputs = Vec::new();
        for args in windows {
            let out = dmarc(dir.path(), db, args);
            assert_eq!(out.code, Some(0), "{args:?}: {out:?}");
            outputs.push(out.stdout);
        }
        let prom = dir.path().join("metrics.prom");
        let out = dmarc(dir.path(), db, &["metrics", "--out", prom.to_str().unwrap()]);
        assert_eq!(out.code, Some(0), "{out:?}");
        // The age of the newest report moves with the clock.
        outputs.push(
            std::fs::read_to_string(&prom)
                .unwrap()
                .lines()
                .filter(|l| !l.starts_with("dmarc_report_newest_report_age_seconds"))
                .collect::<Vec<_>>()
                .join("\n"),
        );
        seen.push(outputs);
    }
    let all: serde_json::Value = serde_json::from_str(&seen[0][0]).unwrap();
    assert_eq!(all["domains"].as_array().unwrap().len(), 4, "{all}");
    for (i, (sqlite, postgres)) in seen[0].iter().zip(&seen[1]).enumerate() {
        assert_eq!(sqlite, postgres, "{:?} differs between SQLite and PostgreSQL", windows.get(i));
    }
}
