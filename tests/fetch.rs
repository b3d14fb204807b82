//! `dmarc-report fetch` against a real Dovecot on loopback (one per test,
//! started by `tests/common/dovecot.rs`): real TLS with a throwaway CA,
//! real folders, real SQLite files.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::dovecot::Dovecot;
use common::{Backend, both_backends, command, counts, open_db, rua, run, temp_dir};

/// `fetch` against the test server, implicit TLS with its CA.
fn fetch(server: &Dovecot, sandbox: &Path, db: &Path, extra: &[&str]) -> Command {
    fetch_on_port(server, server.imaps_port(), sandbox, db, extra)
}

/// `fetch` of `user` at `host:port` with a password file and no CA.
fn fetch_base(sandbox: &Path, db: &Path, host: &str, port: u16, user: &str, pw: &Path) -> Command {
    let mut cmd = command(sandbox);
    cmd.env("XDG_CONFIG_HOME", sandbox.join("xdg-config"))
        .arg("--db")
        .arg(db)
        .args(["fetch", "--host", host, "--user", user])
        .arg("--port")
        .arg(port.to_string())
        .arg("--password-file")
        .arg(pw);
    cmd
}

fn fetch_on_port(
    server: &Dovecot,
    port: u16,
    sandbox: &Path,
    db: &Path,
    extra: &[&str],
) -> Command {
    let (host, user) = (server.host(), server.user());
    let mut cmd = fetch_base(sandbox, db, host, port, user, server.password_file());
    cmd.arg("--ca-file").arg(server.ca_file()).args(extra);
    cmd
}

fn reports(db: &Path) -> i64 {
    i64::try_from(counts(db).reports).unwrap()
}

fn distinct_reports(db: &Path) -> i64 {
    i64::try_from(counts(db).distinct_reports).unwrap()
}

both_backends!(
    a_mailbox_of_rua_emails_is_stored_once_archived_and_the_bad_one_goes_to_the_error_folder
);
fn a_mailbox_of_rua_emails_is_stored_once_archived_and_the_bad_one_goes_to_the_error_folder(
    backend: Backend,
) {
    let server = Dovecot::start().unwrap();
    let inbox = [
        // gzip, zip, plain XML, forwarded, two reports in one message, not a report
        "example.org/enterprise.protection.outlook.com",
        "example.com/google.com",
        "example.com/example.net",
        "mixed/Fwd - Report domain example.org Submitter google.com.eml",
        "mixed/example.net-two-reports.eml",
        "malformed/not-a-report.eml",
    ];
    for rel in inbox {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-reports").join(rel);
        let file = if path.is_dir() {
            // the first email of that reporter
            let mut emails: Vec<PathBuf> = std::fs::read_dir(&path)
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|x| x == "eml"))
                .collect();
            emails.sort();
            emails.remove(0)
        } else {
            path
        };
        server.append("INBOX", &std::fs::read(&file).unwrap()).unwrap();
    }
    let sandbox = temp_dir();
    let db = backend.db(sandbox.path());
    let out = run(&mut fetch(
        &server,
        sandbox.path(),
        &db,
        &[
            "--archive-folder",
            "DMARC/Processed",
            "--error-folder",
            "DMARC/Failed",
            "--format",
            "json",
        ],
    ));
    assert_eq!(out.code, Some(1), "one message holds no report: {out:?}");
    let json = out.json();
    assert_eq!(json["messages_new"], 6, "{json}");
    assert_eq!(json["messages_fetched"], 6);
    assert_eq!(json["reports_new"], 6, "5 messages hold 6 reports: {json}");
    assert_eq!(json["messages_archived"], 5);
    assert_eq!(json["messages_to_error_folder"], 1);
    assert_eq!(json["failed"].as_array().unwrap().len(), 1);
    assert!(json["failed"][0]["error"].as_str().unwrap().contains("no DMARC aggregate report"));
    assert_eq!(reports(&db), 6);
    assert!(server.list_uids("INBOX").unwrap().is_empty());
    assert_eq!(server.list_uids("DMARC/Processed").unwrap().len(), 5);
    assert_eq!(server.list_uids("DMARC/Failed").unwrap().len(), 1);
    // The bad message's bytes are in the database too.
    let kept = counts(&db).failed_with_data;
    assert_eq!(kept, 1);

    // A second run: nothing new, nothing duplicated, all quiet.
    let again = run(&mut fetch(
        &server,
        sandbox.path(),
        &db,
        &["--archive-folder", "DMARC/Processed", "--error-folder", "DMARC/Failed"],
    ));
    assert_eq!(again.code, Some(0), "{again:?}");
    assert_eq!(again.stdout, "", "quiet when all went well");
    assert_eq!(reports(&db), 6);
}

both_backends!(without_an_archive_folder_messages_are_flagged_seen_and_not_downloaded_again);
fn without_an_archive_folder_messages_are_flagged_seen_and_not_downloaded_again(backend: Backend) {
    let server = Dovecot::start().unwrap();
    for i in 0..4 {
        server.append("INBOX", &rua(&format!("flag-{i}"), i)).unwrap();
    }
    let sandbox = temp_dir();
    let db = backend.db(sandbox.path());
    let out = run(&mut fetch(&server, sandbox.path(), &db, &["--format", "json"]));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(out.json()["messages_flagged"], 4);
    for (_, flags) in server.flags("INBOX").unwrap() {
        assert!(flags.iter().any(|f| f == "\\Seen"), "{flags:?}");
    }
    let again = run(&mut fetch(&server, sandbox.path(), &db, &["--format", "json"]));
    assert_eq!(again.json()["messages_fetched"], 0, "{again:?}");
    assert_eq!(again.json()["reports_duplicate"], 0);
    assert_eq!(reports(&db), 4);
}

both_backends!(starttls_works_and_an_untrusted_certificate_is_refused_unless_its_ca_is_configured);
fn starttls_works_and_an_untrusted_certificate_is_refused_unless_its_ca_is_configured(
    backend: Backend,
) {
    let server = Dovecot::start().unwrap();
    server.append("INBOX", &rua("tls-1", 0)).unwrap();
    let sandbox = temp_dir();
    let db = backend.db(sandbox.path());

    // No CA given: the system roots do not know the test CA.
    let (host, user, pw) = (server.host(), server.user(), server.password_file());
    let mut cmd = fetch_base(sandbox.path(), &db, host, server.imaps_port(), user, pw);
    let out = run(&mut cmd);
    assert_eq!(out.code, Some(2), "{out:?}");
    assert_eq!(out.stderr.lines().count(), 1, "one line: {out:?}");
    assert!(out.stderr.contains(server.host()) && out.stderr.contains("certificate"), "{out:?}");

    // The wrong CA: refused as well.
    let out = run(cmd.arg("--ca-file").arg(server.other_ca_file()));
    assert_eq!(out.code, Some(2), "{out:?}");

    // STARTTLS on the plain port, with the right CA.
    let port = server.imap_port();
    let args = ["--tls", "starttls", "--format", "json"];
    let out = run(&mut fetch_on_port(&server, port, sandbox.path(), &db, &args));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(out.json()["reports_new"], 1);
}

#[test]
fn a_wrong_password_exits_two_with_one_line_that_does_not_contain_it() {
    let server = Dovecot::start().unwrap();
    let sandbox = temp_dir();
    let db = sandbox.path().join("dmarc.db");
    let secret = "not-the-Password-42";
    let mut cmd = fetch(&server, sandbox.path(), &db, &[]);
    // The environment variable wins over the file.
    cmd.env("DMARC_REPORT_PASSWORD", secret);
    let out = run(&mut cmd);
    assert_eq!(out.code, Some(2), "{out:?}");
    assert_eq!(out.stderr.lines().count(), 1, "{out:?}");
    assert!(out.stderr.contains("login refused") && out.stderr.contains(server.host()), "{out:?}");
    assert!(!out.stderr.contains(secret) && !out.stdout.contains(secret));
    assert!(!out.stderr.contains(server.password()));
}

#[test]
fn a_refused_login_is_a_login_failure_in_json_without_the_password() {
    let server = Dovecot::start().unwrap();
    let sandbox = temp_dir();
    let db = sandbox.path().join("dmarc.db");
    let secret = "not-the-Password-42";
    let mut cmd = fetch(&server, sandbox.path(), &db, &["--format", "json"]);
    cmd.env("DMARC_REPORT_PASSWORD", secret);
    let out = run(&mut cmd);
    assert_eq!(out.code, Some(2), "{out:?}");
    let v = out.json();
    let failure = &v["errors"][0];
    assert_eq!(failure["kind"], "login", "{v}");
    assert!(failure["message"].as_str().unwrap().contains("login refused"), "{v}");
    assert!(!failure["account"].as_str().unwrap().is_empty(), "{v}");
    assert!(!out.stdout.contains(secret) && !out.stderr.contains(secret));
}

#[test]
fn an_unreachable_server_exits_two_naming_the_host_and_the_cause() {
    let sandbox = temp_dir();
    let pw = sandbox.path().join("pw");
    std::fs::write(&pw, "x").unwrap();
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let db = sandbox.path().join("d.db");
    let mut cmd = fetch_base(sandbox.path(), &db, "127.0.0.1", port, "u", &pw);
    let out = run(&mut cmd);
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(out.stderr.contains(&format!("127.0.0.1:{port}: cannot connect")), "{out:?}");
}

both_backends!(accounts_come_from_the_config_file);
fn accounts_come_from_the_config_file(backend: Backend) {
    let server = Dovecot::start().unwrap();
    server.append("Reports", &rua("cfg-1", 0)).unwrap();
    let sandbox = temp_dir();
    let config_dir = sandbox.path().join("xdg-config/dmarc-report");
    std::fs::create_dir_all(&config_dir).unwrap();
    let db = backend.db(sandbox.path());
    std::fs::write(
        config_dir.join("config.toml"),
        format!(
            "database = {:?}\n[[account]]\nname = \"test\"\nhost = \"{}\"\nport = {}\n\
             user = \"{}\"\npassword_file = {:?}\nca_file = {:?}\nfolders = [\"Reports\"]\n\
             archive_folder = \"Done\"\n",
            db.as_os_str(),
            server.host(),
            server.imaps_port(),
            server.user(),
            server.password_file(),
            server.ca_file()
        ),
    )
    .unwrap();
    let mut cmd = command(sandbox.path());
    cmd.env("XDG_CONFIG_HOME", sandbox.path().join("xdg-config")).args(["fetch", "-v"]);
    let out = run(&mut cmd);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains("1 new report"), "{out:?}");
    assert_eq!(reports(&db), 1);
    assert_eq!(server.list_uids("Done").unwrap().len(), 1);
}

both_backends!(a_message_over_the_size_limit_is_skipped_reported_and_left_alone);
fn a_message_over_the_size_limit_is_skipped_reported_and_left_alone(backend: Backend) {
    let server = Dovecot::start().unwrap();
    server.append("INBOX", &rua("small", 0)).unwrap();
    let mut big = rua("big", 1);
    big.extend(std::iter::repeat_n(b'x', 20_000));
    server.append("INBOX", &big).unwrap();
    let sandbox = temp_dir();
    let db = backend.db(sandbox.path());
    let out = run(&mut fetch(
        &server,
        sandbox.path(),
        &db,
        &["--max-message-size", "10K", "--archive-folder", "Done", "--format", "json"],
    ));
    assert_eq!(out.code, Some(1), "{out:?}");
    let json = out.json();
    assert_eq!(json["messages_too_large"], 1, "{json}");
    assert!(json["failed"][0]["error"].as_str().unwrap().contains("--max-message-size"));
    assert_eq!(reports(&db), 1);
    assert_eq!(server.list_uids("INBOX").unwrap().len(), 1, "the big one stays");
    // Reported once, not on every run; with a raised limit it is read.
    let again = run(&mut fetch(&server, sandbox.path(), &db, &["--max-message-size", "10K"]));
    assert_eq!(again.code, Some(0), "{again:?}");
    let raised = run(&mut fetch(&server, sandbox.path(), &db, &["--archive-folder", "Done"]));
    assert_eq!(raised.code, Some(0), "{raised:?}");
    assert_eq!(reports(&db), 2);
    assert!(server.list_uids("INBOX").unwrap().is_empty());
}

both_backends!(a_new_uidvalidity_falls_back_to_report_deduplication);
fn a_new_uidvalidity_falls_back_to_report_deduplication(backend: Backend) {
    let server = Dovecot::start().unwrap();
    let messages: Vec<Vec<u8>> = (0..3).map(|i| rua(&format!("uv-{i}"), i)).collect();
    for m in &messages {
        server.append("Reports", m).unwrap();
    }
    let sandbox = temp_dir();
    let db = backend.db(sandbox.path());
    let first = run(&mut fetch(&server, sandbox.path(), &db, &["--folder", "Reports"]));
    assert_eq!(first.code, Some(0), "{first:?}");
    // Recreating the folder gives it a new UIDVALIDITY.
    let mut session = server.session().unwrap();
    session.delete("Reports").unwrap();
    session.logout().unwrap();
    for m in &messages {
        server.append("Reports", m).unwrap();
    }
    let out =
        run(&mut fetch(&server, sandbox.path(), &db, &["--folder", "Reports", "--format", "json"]));
    assert_eq!(out.code, Some(0), "{out:?}");
    let json = out.json();
    assert_eq!(json["messages_fetched"], 3, "{json}");
    assert_eq!(json["reports_duplicate"], 3);
    assert_eq!(json["reports_new"], 0);
    assert_eq!(reports(&db), 3);
}

both_backends!(servers_without_move_get_copy_deleted_and_expunge_and_other_mail_stays);
fn servers_without_move_get_copy_deleted_and_expunge_and_other_mail_stays(backend: Backend) {
    // With UIDPLUS the expunge is limited to our UIDs (UID EXPUNGE); without
    // it a plain EXPUNGE runs, which removes only messages marked \Deleted.
    for capabilities in ["IMAP4rev1 LITERAL+ IDLE UIDPLUS", "IMAP4rev1 LITERAL+ IDLE"] {
        let server = Dovecot::start_with(&format!("imap_capability = {capabilities}")).unwrap();
        let mut session = server.session().unwrap();
        let caps = session.capabilities().unwrap();
        assert!(!caps.has_str("MOVE"), "MOVE is still advertised after login");
        assert_eq!(caps.has_str("UIDPLUS"), capabilities.contains("UIDPLUS"));
        drop(caps);
        session.logout().unwrap();
        for i in 0..3 {
            server.append("INBOX", &rua(&format!("nomove-{i}"), i)).unwrap();
        }
        let other = b"From: a@example.net\r\nSubject: hello\r\n\r\nNot a report.\r\n";
        server.append("INBOX", other).unwrap();
        let sandbox = temp_dir();
        let db = backend.db(sandbox.path());
        let out = run(&mut fetch(
            &server,
            sandbox.path(),
            &db,
            &["--archive-folder", "Done", "--format", "json"],
        ));
        assert_eq!(out.code, Some(1), "{capabilities}: the plain mail fails: {out:?}");
        assert_eq!(out.json()["messages_archived"], 3, "{capabilities}: {out:?}");
        assert_eq!(server.list_uids("Done").unwrap().len(), 3, "{capabilities}");
        let left = server.flags("INBOX").unwrap();
        assert_eq!(left.len(), 1, "{capabilities}: only the plain mail stays: {left:?}");
        assert!(left[0].1.iter().any(|f| f == "\\Flagged"), "{left:?}");
        assert_eq!(reports(&db), 3);
    }
}

// SQLite only: the lock file beside the database (PostgreSQL locks the
// folder in the database: tests/postgres.rs).
#[test]
fn a_fetch_finds_the_lock_held_and_leaves_without_touching_anything() {
    let server = Dovecot::start().unwrap();
    server.append("INBOX", &rua("locked", 0)).unwrap();
    let sandbox = temp_dir();
    let db = sandbox.path().join("dmarc.db");
    let lock = std::fs::File::create(sandbox.path().join("dmarc.db.lock")).unwrap();
    lock.lock().unwrap();
    let out = run(&mut fetch(&server, sandbox.path(), &db, &["--archive-folder", "Done"]));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stderr.contains("another dmarc-report fetch is running"), "{out:?}");
    assert_eq!(server.list_uids("INBOX").unwrap().len(), 1);
    drop(lock);
    let out = run(&mut fetch(&server, sandbox.path(), &db, &["--archive-folder", "Done"]));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(reports(&db), 1);
}

both_backends!(two_fetches_started_at_once_store_everything_exactly_once);
fn two_fetches_started_at_once_store_everything_exactly_once(backend: Backend) {
    let server = Dovecot::start().unwrap();
    for i in 0..40 {
        server.append("INBOX", &rua(&format!("twin-{i}"), i % 30)).unwrap();
    }
    let sandbox = temp_dir();
    let db = backend.db(sandbox.path());
    let spawn = || {
        fetch(&server, sandbox.path(), &db, &["--archive-folder", "Done", "--batch-size", "5"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert_eq!(a.status.code(), Some(0), "{a:?}");
    assert_eq!(b.status.code(), Some(0), "{b:?}");
    // Whichever ran second (or waited) found nothing left to do.
    let out = run(&mut fetch(&server, sandbox.path(), &db, &["--archive-folder", "Done"]));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(reports(&db), 40);
    assert_eq!(distinct_reports(&db), 40);
    assert!(server.list_uids("INBOX").unwrap().is_empty());
    assert_eq!(server.list_uids("Done").unwrap().len(), 40);
}

both_backends!(the_server_dying_mid_batch_loses_and_doubles_nothing);
fn the_server_dying_mid_batch_loses_and_doubles_nothing(backend: Backend) {
    let server = Dovecot::start().unwrap();
    let total: i64 = 60;
    let mut originals = Vec::new();
    for i in 0..total {
        let m = rua(&format!("crash-{i}"), i % 30);
        server.append("INBOX", &m).unwrap();
        originals.push(m);
    }
    let sandbox = temp_dir();
    let db = backend.db(sandbox.path());
    let args = ["--archive-folder", "Done", "--batch-size", "4"];
    let mut interrupted = 0;
    for delay_ms in [60u64, 120, 200, 300] {
        let child = fetch(&server, sandbox.path(), &db, &args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        server.kill().unwrap();
        let out = child.wait_with_output().unwrap();
        if out.status.code() == Some(2) {
            interrupted += 1;
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(stderr.contains(server.host()), "{stderr}");
        }
        server.restart().unwrap();
        if server.list_uids("INBOX").unwrap().is_empty() {
            break;
        }
    }
    // Complete the work.
    let out = run(&mut fetch(&server, sandbox.path(), &db, &args));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(interrupted > 0, "no run was interrupted; the test proves nothing");
    assert_eq!(reports(&db), total);
    assert_eq!(distinct_reports(&db), total);
    assert!(server.list_uids("INBOX").unwrap().is_empty());
    server.assert_holds_each_once("Done", &originals);
}

both_backends!(watch_stores_reports_as_they_arrive_and_reconnects_after_the_server_dies);
fn watch_stores_reports_as_they_arrive_and_reconnects_after_the_server_dies(backend: Backend) {
    let server = Dovecot::start().unwrap();
    let sandbox = temp_dir();
    let db = backend.db(sandbox.path());
    let mut child = fetch(&server, sandbox.path(), &db, &["--watch", "--archive-folder", "Done"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let wait_for = |n: i64| {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if db.exists() && reports(&db) == n {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    };
    // The first pass creates the database; then a message arrives.
    let deadline = Instant::now() + Duration::from_secs(15);
    while !db.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    server.append("INBOX", &rua("watched-1", 0)).unwrap();
    let first = wait_for(1);
    // The server dies and comes back; the watcher reconnects by itself.
    server.kill().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    server.restart().unwrap();
    server.append("INBOX", &rua("watched-2", 1)).unwrap();
    let second = wait_for(2);
    // The report is committed before its message is moved: give the move
    // its moment before stopping the watcher.
    let deadline = Instant::now() + Duration::from_secs(20);
    while second && !server.list_uids("INBOX").unwrap().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(first, "the first report was not stored: {stderr}");
    assert!(second, "no reconnect: the second report was not stored: {stderr}");
    assert!(stderr.contains("reconnecting in"), "{stderr}");
    assert!(server.list_uids("INBOX").unwrap().is_empty(), "not archived: {stderr}");
}

// SQLite only: it checks the SQLite file after each kill (PostgreSQL:
// tests/postgres.rs kills fetches and ingests).
#[test]
fn fetch_killed_at_random_moments_loses_and_doubles_nothing() {
    let server = Dovecot::start().unwrap();
    let mut originals: Vec<Vec<u8>> = Vec::new();
    // Keeps work in the mailbox, so that every kill can land mid-run.
    let top_up = |originals: &mut Vec<Vec<u8>>| {
        for _ in 0..60 {
            let i = originals.len() as i64;
            let m = rua(&format!("sigkill-{i}"), i % 30);
            server.append("INBOX", &m).unwrap();
            originals.push(m);
        }
    };
    top_up(&mut originals);
    let sandbox = temp_dir();
    let db = sandbox.path().join("dmarc.db");
    let args = ["--archive-folder", "Done", "--batch-size", "2"];
    let mut rng = common::Rng::from_test_seed();
    let mut killed_while_working = 0;
    for _ in 0..100 {
        if killed_while_working == 20 {
            break;
        }
        if server.list_uids("INBOX").unwrap().len() < 30 {
            top_up(&mut originals);
        }
        let mut child = fetch(&server, sandbox.path(), &db, &args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(20 + rng.below(150)));
        if child.try_wait().unwrap().is_none() {
            killed_while_working += 1;
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        // After every kill: the database is sound, no report is doubled,
        // and no message has left the server or been copied twice.
        let conn = open_db(&db);
        assert_eq!(common::integrity_check(&conn), "ok");
        // A kill before the first migration committed leaves no tables yet.
        if conn.schema_objects().unwrap().iter().any(|name| name == "reports") {
            assert_eq!(conn.counts().unwrap().reports, conn.counts().unwrap().distinct_report_ids);
        }
        drop(conn);
        let on_server = server.list_uids("INBOX").unwrap().len()
            + server.list_uids("Done").map(|u| u.len()).unwrap_or(0);
        assert_eq!(on_server, originals.len(), "a message was lost or doubled on the server");
    }
    assert_eq!(killed_while_working, 20, "the kills did not hit running fetches");

    let out = run(&mut fetch(&server, sandbox.path(), &db, &args));
    assert_eq!(out.code, Some(0), "{out:?}");
    let total = originals.len() as i64;
    assert_eq!(reports(&db), total);
    assert_eq!(distinct_reports(&db), total);
    assert!(server.list_uids("INBOX").unwrap().is_empty());
    server.assert_holds_each_once("Done", &originals);
}

#[test]
fn starttls_against_the_implicit_tls_port_fails_in_seconds_and_says_to_try_implicit() {
    let server = Dovecot::start().unwrap();
    let sandbox = temp_dir();
    let db = sandbox.path().join("dmarc.db");
    let started = Instant::now();
    let port = server.imaps_port();
    let out = run(&mut fetch_on_port(&server, port, sandbox.path(), &db, &["--tls", "starttls"]));
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(started.elapsed() < Duration::from_secs(30), "took {:?}", started.elapsed());
    assert_eq!(out.stderr.lines().count(), 1, "one line: {out:?}");
    assert!(out.stderr.contains("no IMAP greeting"), "{out:?}");
    assert!(out.stderr.contains(&format!("port {port}")), "{out:?}");
    assert!(out.stderr.contains("--tls implicit"), "{out:?}");
}

#[test]
fn implicit_tls_against_the_plain_port_fails_at_once_and_says_to_try_starttls() {
    let server = Dovecot::start().unwrap();
    let sandbox = temp_dir();
    let db = sandbox.path().join("dmarc.db");
    let started = Instant::now();
    let port = server.imap_port();
    let out = run(&mut fetch_on_port(&server, port, sandbox.path(), &db, &["--tls", "implicit"]));
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(started.elapsed() < Duration::from_secs(30), "took {:?}", started.elapsed());
    assert_eq!(out.stderr.lines().count(), 1, "one line: {out:?}");
    assert!(out.stderr.contains("plain text, not TLS"), "{out:?}");
    assert!(out.stderr.contains("--tls starttls"), "{out:?}");
}

both_backends!(a_missing_folder_is_reported_and_the_other_folders_are_still_processed);
fn a_missing_folder_is_reported_and_the_other_folders_are_still_processed(backend: Backend) {
    let server = Dovecot::start().unwrap();
    server.append("INBOX", &rua("beside-missing-1", 0)).unwrap();
    let sandbox = temp_dir();
    let db = backend.db(sandbox.path());
    let args = ["--folder", "Nope", "--folder", "INBOX", "--archive-folder", "Done"];
    let out = run(&mut fetch(&server, sandbox.path(), &db, &args));
    assert_eq!(out.code, Some(1), "{out:?}");
    assert_eq!(out.stderr.lines().count(), 1, "one line: {out:?}");
    assert!(out.stderr.contains("\"Nope\" does not exist"), "{out:?}");
    assert_eq!(reports(&db), 1);
    assert!(server.list_uids("INBOX").unwrap().is_empty());
    assert_eq!(server.list_uids("Done").unwrap().len(), 1);

    // In JSON the folder is named apart from the words.
    let out =
        run(&mut fetch(&server, sandbox.path(), &db, &[&args[..], &["--format", "json"]].concat()));
    assert_eq!(out.code, Some(1), "{out:?}");
    let v = out.json();
    let failure = &v["folder_errors"][0];
    assert_eq!(failure["folder"], "Nope", "{v}");
    assert!(failure["message"].as_str().unwrap().contains("does not exist"), "{v}");
    assert_eq!(v["errors"].as_array().map(Vec::len), Some(0), "{v}");
}

#[test]
fn watch_with_several_folders_is_refused_naming_them_and_what_to_do() {
    let server = Dovecot::start().unwrap();
    let sandbox = temp_dir();
    let db = sandbox.path().join("dmarc.db");
    let args = ["--watch", "--folder", "INBOX", "--folder", "Reports"];
    let out = run(&mut fetch(&server, sandbox.path(), &db, &args));
    assert_eq!(out.code, Some(2), "{out:?}");
    assert_eq!(out.stderr.lines().count(), 1, "one line: {out:?}");
    assert!(out.stderr.contains("INBOX, Reports") && out.stderr.contains("--folder"), "{out:?}");
}
