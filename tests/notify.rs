//! `notify`, `notify --digest` and `metrics` end to end: reports written
//! here in code (dated relative to today, so that "reports stopped" is
//! under control), stored with `ingest`, then told through a real SMTP
//! server (python3-aiosmtpd on loopback: plain, STARTTLS or implicit TLS,
//! with AUTH) and a webhook served by the test over HTTP or HTTPS (rustls,
//! a throwaway CA). Mail is parsed with mail-parser.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, mpsc};

use common::smtp::{self, Smtpd};
use common::{Backend, TestDb, both_backends, command, run, temp_dir, write_file};
use dmarc_report_testkit::report::{Record, Report};
use mail_parser::{MessageParser, MimeHeaders};

const DAY: i64 = 86_400;
const A: &str = "a.example";
const B: &str = "b.example";

fn today() -> i64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
        as i64;
    now - now.rem_euclid(DAY)
}

/// The domain's own servers: everything passes.
fn own(domain: &str, count: u64) -> Record {
    Record::new("192.0.2.10", count).evaluated(true, true).dkim(domain, "pass").spf(domain, "pass")
}

/// The same servers, failing (a broken DKIM key and a missing SPF entry).
fn own_failing(domain: &str, count: u64) -> Record {
    Record::new("192.0.2.10", count).dkim(domain, "fail").spf(domain, "fail")
}

/// SendGrid signing as itself: authenticated, not aligned.
fn sendgrid(count: u64) -> Record {
    Record::new("167.89.1.1", count).dkim("sendgrid.net", "pass").spf("em123.sendgrid.net", "pass")
}

/// Spoofing: nothing passes.
fn spoof(domain: &str, count: u64) -> Record {
    Record::new("198.18.0.1", count).dkim(domain, "fail").spf(domain, "fail")
}

/// A report of `org` about `domain` for the day starting at `day`.
fn report(org: &str, domain: &str, id: &str, day: i64, records: &[Record]) -> String {
    let mut report = Report::new(org, domain, id, day, day + DAY - 1);
    report.records = records.to_vec();
    report.xml()
}

/// A database and a folder for inputs and config.
struct Setup {
    dir: tempfile::TempDir,
    db: TestDb,
    config: PathBuf,
    batch: u32,
}

impl Setup {
    fn new(backend: Backend) -> Setup {
        let dir = temp_dir();
        let db = backend.db(dir.path());
        let config = dir.path().join("config.toml");
        std::fs::write(&config, "").unwrap();
        Setup { dir, db, config, batch: 0 }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Stores `reports` (name, XML) with `ingest`.
    fn ingest(&mut self, reports: &[(String, String)]) {
        self.batch += 1;
        let folder = self.path().join(format!("batch-{}", self.batch));
        std::fs::create_dir_all(&folder).unwrap();
        for (name, xml) in reports {
            write_file(&folder, name, xml);
        }
        let out = run(command(self.path()).arg("--db").arg(&self.db).arg("ingest").arg(&folder));
        assert!(out.code == Some(0) || out.code == Some(1), "{out:?}");
    }

    /// Writes the config file.
    fn config(&self, text: &str) {
        std::fs::write(&self.config, text).unwrap();
    }

    fn notify(&self, extra: &[&str]) -> common::Run {
        run(command(self.path())
            .arg("--db")
            .arg(&self.db)
            .arg("notify")
            .arg("--config")
            .arg(&self.config)
            .args(extra))
    }
}

/// 20 days of a clean domain A (own servers, a little spoofing) from two
/// large receivers, up to yesterday; and domain B, whose reports stopped
/// five days ago.
fn clean_history() -> Vec<(String, String)> {
    let t = today();
    let mut out = Vec::new();
    for back in 1..=20 {
        let day = t - back * DAY;
        for org in ["google.com", "Outlook.com"] {
            out.push((
                format!("{org}-{A}-{back}.xml"),
                report(org, A, &format!("{org}-{back}"), day, &[own(A, 300), spoof(A, 10)]),
            ));
            if back >= 5 {
                out.push((
                    format!("{org}-{B}-{back}.xml"),
                    report(org, B, &format!("{org}-b-{back}"), day, &[own(B, 50)]),
                ));
            }
        }
    }
    out
}

/// The last three days: SendGrid starts sending for A, and A's own
/// servers start failing half of their mail.
fn trouble() -> Vec<(String, String)> {
    let t = today();
    let mut out = Vec::new();
    for back in 1..=3 {
        let day = t - back * DAY;
        for org in ["google.com", "Outlook.com"] {
            out.push((
                format!("{org}-{A}-trouble-{back}.xml"),
                report(
                    org,
                    A,
                    &format!("{org}-trouble-{back}"),
                    day,
                    &[own_failing(A, 300), sendgrid(100)],
                ),
            ));
        }
    }
    out
}

fn kinds(json: &serde_json::Value) -> Vec<String> {
    json["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            format!("{} {}", e["event"].as_str().unwrap(), e["domain"].as_str().unwrap_or("-"))
        })
        .collect()
}

both_backends!(each_event_is_told_once_across_runs_starting_with_the_baseline);
fn each_event_is_told_once_across_runs_starting_with_the_baseline(backend: Backend) {
    let mut s = Setup::new(backend);
    s.ingest(&clean_history());

    // A dry run shows the baseline and records nothing.
    let dry = s.notify(&["--dry-run", "--format", "json"]);
    assert_eq!(dry.code, Some(0), "{dry:?}");
    let baseline = kinds(&dry.json());
    assert_eq!(baseline.len(), 3, "{baseline:?}");

    // The first run tells the verdict of each domain once, and B's stop.
    let first = s.notify(&["--format", "json"]);
    assert_eq!(first.code, Some(0), "{first:?}");
    let json = first.json();
    assert_eq!(json["baseline"], true);
    assert_eq!(kinds(&json), baseline);
    let events = json["events"].as_array().unwrap();
    let verdict_a =
        events.iter().find(|e| e["domain"] == A && e["event"] == "verdict-changed").unwrap();
    assert_eq!(verdict_a["to"], "ready-for-quarantine", "{verdict_a}");
    assert!(verdict_a["record"].as_str().unwrap().contains("p=quarantine"), "{verdict_a}");
    assert!(events.iter().any(|e| e["event"] == "reports-stopped" && e["domain"] == B));

    // Nothing changed: nothing is told, and text output is empty (cron
    // mails only when there is something to say).
    let second = s.notify(&[]);
    assert_eq!((second.code, second.stdout.as_str()), (Some(0), ""), "{second:?}");

    // SendGrid appears and the own servers fail: three events.
    s.ingest(&trouble());
    let third = s.notify(&["--format", "json"]);
    let json = third.json();
    assert_eq!(json["baseline"], false);
    let told = kinds(&json);
    assert_eq!(
        told,
        [format!("verdict-changed {A}"), format!("sender-degraded {A}"), format!("new-sender {A}"),],
        "{json:#}"
    );
    let events = json["events"].as_array().unwrap();
    assert_eq!(events[0]["from"], "ready-for-quarantine");
    assert_eq!(events[0]["to"], "not-ready");
    assert_eq!(events[2]["sender"], "SendGrid");
    assert_eq!(events[2]["class"], "misconfigured");
    assert!(events[2]["fix"].as_str().is_some_and(|f| !f.is_empty()), "{}", events[2]);

    // A failed input is told once, then nothing again.
    // Cut short on purpose.
    write_file(s.path(), "broken.xml", "<feedback><report_metadata>");
    let out = run(command(s.path())
        .arg("--db")
        .arg(&s.db)
        .arg("ingest")
        .arg(s.path().join("broken.xml")));
    assert_eq!(out.code, Some(1), "{out:?}");
    let fourth = s.notify(&[]);
    assert_eq!(fourth.code, Some(0), "{fourth:?}");
    assert!(fourth.stdout.contains("1 new input could not be read"), "{}", fourth.stdout);
    assert!(fourth.stdout.contains("broken.xml"), "{}", fourth.stdout);
    assert_eq!(s.notify(&[]).stdout, "");
    assert_eq!(kinds(&s.notify(&["--dry-run", "--format", "json"]).json()), Vec::<String>::new());
}

fn smtp_config(port: u16, extra: &str) -> String {
    format!(
        "[notify]\nsmtp_host = \"127.0.0.1\"\nsmtp_port = {port}\nsmtp_tls = \"plain\"\n\
         from = \"dmarc-report@example.com\"\nto = [\"postmaster@example.com\", \"ops@example.com\"]\n{extra}"
    )
}

/// A parsed mail's subject, text part and HTML part (both must exist as
/// parts of their own).
fn parts(raw: &[u8]) -> (String, String, String, Vec<(String, Vec<u8>)>) {
    let message = MessageParser::default().parse(raw).expect("a parsable mail");
    let mut text = None;
    let mut html = None;
    let mut images = Vec::new();
    for part in &message.parts {
        let Some(ct) = part.content_type() else { continue };
        match (ct.ctype(), ct.subtype()) {
            ("text", Some("plain")) => text = part.text_contents().map(str::to_owned),
            ("text", Some("html")) => html = part.text_contents().map(str::to_owned),
            ("image", Some("png")) => images.push((
                part.content_id().expect("an inline image has a Content-ID").to_owned(),
                part.contents().to_vec(),
            )),
            _ => {}
        }
    }
    (
        message.subject().expect("a subject").to_owned(),
        text.expect("a text/plain part"),
        html.expect("a text/html part"),
        images,
    )
}

both_backends!(notify_runs_at_once_tell_each_event_once);
/// Four `notify` runs started at the same moment against one database with
/// a history: the baseline's events are recorded once and mailed once, in
/// one mail, whichever run tells them; the others find nothing to tell.
fn notify_runs_at_once_tell_each_event_once(backend: Backend) {
    let mut s = Setup::new(backend);
    s.ingest(&clean_history());
    let server = Smtpd::plain(s.path(), 0);
    s.config(&smtp_config(server.port(), ""));
    let mut baseline = kinds(&s.notify(&["--dry-run", "--format", "json"]).json());
    baseline.sort();
    assert_eq!(baseline.len(), 3, "{baseline:?}");
    let runs: Vec<std::process::Child> = (0..4)
        .map(|_| {
            command(s.path())
                .arg("--db")
                .arg(&s.db)
                .args(["notify", "--format", "json", "--config"])
                .arg(&s.config)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut told = Vec::new();
    for run in runs {
        let out = run.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        told.extend(kinds(&json));
    }
    told.sort();
    assert_eq!(told, baseline, "each event told by exactly one run");
    assert_eq!(server.messages().len(), 1, "one mail in all");
    // Nothing is left to tell.
    assert_eq!(s.notify(&[]).stdout, "");
    assert_eq!(server.messages().len(), 1);
}

both_backends!(
    one_mail_per_run_with_a_text_and_an_html_part_and_the_most_important_event_in_the_subject
);
fn one_mail_per_run_with_a_text_and_an_html_part_and_the_most_important_event_in_the_subject(
    backend: Backend,
) {
    let mut s = Setup::new(backend);
    s.ingest(&clean_history());
    let server = Smtpd::plain(s.path(), 0);
    s.config(&smtp_config(server.port(), ""));
    let first = s.notify(&[]);
    assert_eq!((first.code, first.stdout.as_str()), (Some(0), ""), "{first:?}");
    assert_eq!(server.messages().len(), 1);

    s.ingest(&trouble());
    let second = s.notify(&[]);
    assert_eq!(second.code, Some(0), "{second:?}");
    let mails = server.messages();
    assert_eq!(mails.len(), 2, "one mail per run");

    let (subject, text, html, _) = parts(&mails[1]);
    assert!(
        subject.contains(&format!("{A}: ready for quarantine -> not ready")),
        "the subject names the worst event: {subject}"
    );
    assert!(subject.ends_with("(+2 more)"), "{subject}");
    for needle in ["new sender SendGrid", "passes DMARC on", "fix:"] {
        assert!(text.contains(needle), "text part lacks {needle:?}:\n{text}");
    }
    for needle in ["new sender SendGrid", "verdict-not-ready", "event-sender-degraded"] {
        assert!(html.contains(needle), "HTML part lacks {needle:?}:\n{html}");
    }
    let message = MessageParser::default().parse(&mails[1]).unwrap();
    let to: Vec<String> =
        message.to().unwrap().iter().filter_map(|a| a.address().map(str::to_owned)).collect();
    assert_eq!(to, ["postmaster@example.com", "ops@example.com"]);

    // The baseline mail named A's verdict and the record to publish.
    let (subject, text, html, _) = parts(&mails[0]);
    assert!(subject.starts_with("dmarc-report: "), "{subject}");
    assert!(text.contains("publish: v=DMARC1; p=quarantine"), "{text}");
    assert!(html.contains("_dmarc.a.example"), "{html}");
}

both_backends!(a_server_that_is_down_leaves_the_events_pending_and_they_are_delivered_once_later);
fn a_server_that_is_down_leaves_the_events_pending_and_they_are_delivered_once_later(
    backend: Backend,
) {
    let mut s = Setup::new(backend);
    s.ingest(&clean_history());
    let port = smtp::free_port();
    s.config(&smtp_config(port, ""));

    let down = s.notify(&[]);
    assert_eq!(down.code, Some(1), "{down:?}");
    let lines: Vec<&str> = down.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line: {}", down.stderr);
    assert!(lines[0].contains(&format!("127.0.0.1:{port}")), "names the server: {}", lines[0]);
    assert!(lines[0].contains("pending"), "{}", lines[0]);

    // Still down: still pending, still exit 1.
    assert_eq!(s.notify(&[]).code, Some(1));

    let server = Smtpd::plain(s.path(), port);
    let up = s.notify(&[]);
    assert_eq!(up.code, Some(0), "{up:?}");
    let mails = server.messages();
    assert_eq!(mails.len(), 1);
    let (_, text, _, _) = parts(&mails[0]);
    assert_eq!(text.matches(&format!("* {A}: ready for quarantine")).count(), 1, "{text}");
    assert!(text.contains(&format!("* {B}: no DMARC report for")), "{text}");

    // Told: nothing goes out again.
    assert_eq!(s.notify(&[]).code, Some(0));
    assert_eq!(server.messages().len(), 1);
}

both_backends!(starttls_with_auth_and_a_private_ca_delivers_and_an_unknown_ca_is_refused);
fn starttls_with_auth_and_a_private_ca_delivers_and_an_unknown_ca_is_refused(backend: Backend) {
    let mut s = Setup::new(backend);
    s.ingest(&clean_history());
    let server = Smtpd::starttls(s.path());
    let password = write_file(s.path(), "smtp-password", format!("{}\n", smtp::PASSWORD));
    let config = |ca: &Path| {
        format!(
            "[notify]\nsmtp_host = \"127.0.0.1\"\nsmtp_port = {}\nsmtp_tls = \"starttls\"\n\
             smtp_user = \"{}\"\nsmtp_password_file = \"{}\"\nca_file = \"{}\"\n\
             from = \"dmarc-report@example.com\"\nto = [\"postmaster@example.com\"]\n",
            server.port(),
            smtp::USER,
            password.display(),
            ca.display()
        )
    };
    // A CA that did not sign the server's certificate: refused, pending.
    let other = s.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    let other_server = Smtpd::starttls(&other);
    let other_ca = other_server.ca_file().to_owned();
    other_server.stop();
    s.config(&config(&other_ca));
    let refused = s.notify(&[]);
    assert_eq!(refused.code, Some(1), "{refused:?}");
    assert!(refused.stderr.contains(&format!("127.0.0.1:{}", server.port())), "{}", refused.stderr);
    assert!(!refused.stderr.contains(smtp::PASSWORD), "the password never shows");
    assert!(server.messages().is_empty());

    s.config(&config(server.ca_file()));
    let sent = s.notify(&[]);
    assert_eq!(sent.code, Some(0), "{sent:?}");
    let mails = server.messages();
    assert_eq!(mails.len(), 1);
    let (subject, _, _, _) = parts(&mails[0]);
    assert!(subject.contains(A), "{subject}");
}

both_backends!(implicit_tls_with_auth_delivers_and_a_refused_login_keeps_the_events_pending);
fn implicit_tls_with_auth_delivers_and_a_refused_login_keeps_the_events_pending(backend: Backend) {
    let mut s = Setup::new(backend);
    s.ingest(&clean_history());
    let server = Smtpd::implicit_tls(s.path());
    let config = |password: &str| {
        let file = write_file(s.path(), "smtp-password", format!("{password}\n"));
        format!(
            "[notify]\nsmtp_host = \"127.0.0.1\"\nsmtp_port = {}\nsmtp_tls = \"implicit\"\n\
             smtp_user = \"{}\"\nsmtp_password_file = \"{}\"\nca_file = \"{}\"\n\
             from = \"dmarc-report@example.com\"\nto = [\"postmaster@example.com\"]\n",
            server.port(),
            smtp::USER,
            file.display(),
            server.ca_file().display()
        )
    };
    let wrong = "not-the-password";
    let c = config(wrong);
    s.config(&c);
    let refused = s.notify(&[]);
    assert_eq!(refused.code, Some(1), "{refused:?}");
    assert!(refused.stderr.contains(&format!("127.0.0.1:{}", server.port())), "{}", refused.stderr);
    assert!(refused.stderr.contains("535"), "the server's refusal: {}", refused.stderr);
    assert!(!refused.stderr.contains(wrong), "the password never shows: {}", refused.stderr);
    assert!(server.messages().is_empty());

    let c = config(smtp::PASSWORD);
    s.config(&c);
    let sent = s.notify(&[]);
    assert_eq!(sent.code, Some(0), "{sent:?}");
    let mails = server.messages();
    assert_eq!(mails.len(), 1, "the pending events go out once");
    let (subject, text, _, _) = parts(&mails[0]);
    assert!(subject.contains(A), "{subject}");
    assert!(text.contains("publish: v=DMARC1; p=quarantine"), "{text}");
}

both_backends!(plain_smtp_to_another_machine_warns);
fn plain_smtp_to_another_machine_warns(backend: Backend) {
    let mut s = Setup::new(backend);
    s.ingest(&clean_history());
    s.config(
        "[notify]\nsmtp_host = \"192.0.2.1\"\nsmtp_port = 25\nsmtp_tls = \"plain\"\n\
         from = \"a@example.com\"\nto = [\"b@example.com\"]\n",
    );
    let out = s.notify(&["--dry-run"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stderr.contains("warning: smtp_tls = \"plain\""), "{}", out.stderr);
    assert!(out.stdout.contains("through 192.0.2.1:25"), "{}", out.stdout);
}

/// Serves `answers.len()` HTTP requests on loopback, answering each with
/// the next status; sends each request's body to the channel.
fn webhook_server(answers: Vec<u16>) -> (u16, mpsc::Receiver<(String, Vec<u8>)>) {
    serve_webhook(answers, None)
}

/// The same over HTTPS, with a certificate for 127.0.0.1 from a throwaway
/// CA made in `dir`; returns the CA's file too. A client that refuses the
/// certificate uses up one answer.
fn https_webhook_server(
    dir: &Path,
    answers: Vec<u16>,
) -> (u16, mpsc::Receiver<(String, Vec<u8>)>, PathBuf) {
    let certs = dir.join("webhook-certs");
    std::fs::create_dir_all(&certs).unwrap();
    smtp::make_certificates(&certs);
    let config = smtp::tls_server_config(&certs.join("server.pem"), &certs.join("server.key"));
    let (port, rx) = serve_webhook(answers, Some(config));
    (port, rx, certs.join("ca.pem"))
}

trait Stream: Read + Write + Send {}
impl<T: Read + Write + Send> Stream for T {}

fn serve_webhook(
    answers: Vec<u16>,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> (u16, mpsc::Receiver<(String, Vec<u8>)>) {
    let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for status in answers {
            let Ok((tcp, _)) = listener.accept() else { return };
            let stream: Box<dyn Stream> = match &tls {
                Some(config) => Box::new(rustls::StreamOwned::new(
                    rustls::ServerConnection::new(config.clone()).unwrap(),
                    tcp,
                )),
                None => Box::new(tcp),
            };
            let mut reader = BufReader::new(stream);
            let mut request_line = String::new();
            if reader.read_line(&mut request_line).is_err() {
                // A client that refused the certificate.
                let _ = tx.send((String::new(), Vec::new()));
                continue;
            }
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if line.trim().is_empty() {
                    break;
                }
                if let Some((k, v)) = line.split_once(':')
                    && k.eq_ignore_ascii_case("content-length")
                {
                    length = v.trim().parse().unwrap();
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            let mut stream = reader.into_inner();
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            let _ = stream.flush();
            let _ = tx.send((request_line, body));
        }
    });
    (port, rx)
}

both_backends!(the_webhook_gets_one_json_post_per_run_and_a_refusal_leaves_the_events_pending);
fn the_webhook_gets_one_json_post_per_run_and_a_refusal_leaves_the_events_pending(
    backend: Backend,
) {
    let mut s = Setup::new(backend);
    s.ingest(&clean_history());
    let (port, requests) = webhook_server(vec![503, 200]);
    s.config(&format!("[notify]\nwebhook_url = \"http://127.0.0.1:{port}/hooks/dmarc?t=1\"\n"));

    let refused = s.notify(&[]);
    assert_eq!(refused.code, Some(1), "{refused:?}");
    assert!(refused.stderr.contains("503"), "{}", refused.stderr);
    let (line, _) = requests.recv().unwrap();
    assert_eq!(line.trim_end(), "POST /hooks/dmarc?t=1 HTTP/1.1");

    let ok = s.notify(&[]);
    assert_eq!(ok.code, Some(0), "{ok:?}");
    let (_, body) = requests.recv().unwrap();
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(json["kind"], "events");
    let events = json["events"].as_array().unwrap();
    assert_eq!(events.len(), 3, "{json:#}");
    assert!(
        events.iter().filter(|e| e["event"] == "verdict-changed").all(|e| e["baseline"] == true)
    );
    assert!(json["subject"].as_str().unwrap().contains(A), "{json:#}");

    // Told once: the next run posts nothing (the server would not answer).
    assert_eq!(s.notify(&[]).code, Some(0));
}

both_backends!(
    an_https_webhook_with_a_private_ca_gets_the_post_and_an_unknown_ca_is_refused_with_events_pending
);
fn an_https_webhook_with_a_private_ca_gets_the_post_and_an_unknown_ca_is_refused_with_events_pending(
    backend: Backend,
) {
    let mut s = Setup::new(backend);
    s.ingest(&clean_history());
    let (port, requests, ca) = https_webhook_server(s.path(), vec![200, 200]);
    let url = format!("https://127.0.0.1:{port}/hooks/dmarc");

    // Without ca_file the throwaway CA is unknown: refused, nothing sent.
    s.config(&format!("[notify]\nwebhook_url = \"{url}\"\n"));
    let refused = s.notify(&[]);
    assert_eq!(refused.code, Some(1), "{refused:?}");
    assert!(refused.stderr.contains(&url), "names the webhook: {}", refused.stderr);
    assert!(refused.stderr.contains("ca_file"), "says how to fix it: {}", refused.stderr);
    let (line, body) = requests.recv().unwrap();
    assert!(line.is_empty() && body.is_empty(), "no request got through: {line}");

    s.config(&format!("[notify]\nwebhook_url = \"{url}\"\nca_file = \"{}\"\n", ca.display()));
    let ok = s.notify(&[]);
    assert_eq!(ok.code, Some(0), "{ok:?}");
    let (line, body) = requests.recv().unwrap();
    assert_eq!(line.trim_end(), "POST /hooks/dmarc HTTP/1.1");
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(json["events"].as_array().unwrap().len(), 3, "the pending events, once: {json:#}");
    assert_eq!(s.notify(&[]).code, Some(0));
}

both_backends!(the_digest_mail_shows_every_domain_with_its_charts_inline);
fn the_digest_mail_shows_every_domain_with_its_charts_inline(backend: Backend) {
    let mut s = Setup::new(backend);
    s.ingest(&clean_history());
    let server = Smtpd::plain(s.path(), 0);
    s.config(&smtp_config(server.port(), ""));
    assert_eq!(s.notify(&[]).code, Some(0));
    s.ingest(&trouble());
    assert_eq!(s.notify(&[]).code, Some(0));

    let digest = s.notify(&["--digest"]);
    assert_eq!(digest.code, Some(0), "{digest:?}");
    let mails = server.messages();
    assert_eq!(mails.len(), 3);
    let (subject, text, html, images) = parts(&mails[2]);
    assert!(subject.starts_with("DMARC digest: "), "{subject}");
    assert!(subject.contains(&format!("{A} not ready")), "{subject}");
    for d in [A, B] {
        assert!(text.contains(&format!("\n{d}: ")), "text lacks {d}:\n{text}");
        assert!(html.contains(&format!("<h2>{d}</h2>")), "HTML lacks {d}");
    }
    assert!(text.contains("top senders:"), "{text}");
    assert!(text.contains("SendGrid (misconfigured)"), "{text}");
    assert!(text.contains("since the last digest:"), "{text}");
    assert!(text.contains("new sender SendGrid"), "{text}");
    assert!(!images.is_empty(), "the charts are inline images");
    for (cid, png) in &images {
        let cid = cid.trim_start_matches('<').trim_end_matches('>');
        assert!(html.contains(&format!("src=\"cid:{cid}\"")), "the HTML shows {cid}");
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "{cid} is a PNG");
    }

    // The next digest lists only what changed since this one.
    let again = s.notify(&["--digest", "--dry-run"]);
    assert!(!again.stdout.contains("since the last digest:"), "{}", again.stdout);
    assert_eq!(server.messages().len(), 3, "a dry run sends nothing");
}

both_backends!(metrics_are_a_prometheus_text_file_written_atomically);
fn metrics_are_a_prometheus_text_file_written_atomically(backend: Backend) {
    let mut s = Setup::new(backend);
    s.ingest(&clean_history());
    s.ingest(&trouble());
    let out_file = s.path().join("textfile").join("dmarc.prom");
    std::fs::create_dir_all(out_file.parent().unwrap()).unwrap();
    let out = run(command(s.path())
        .arg("--db")
        .arg(&s.db)
        .arg("metrics")
        .arg("--config")
        .arg(&s.config)
        .arg("--out")
        .arg(&out_file));
    assert_eq!(out.code, Some(0), "{out:?}");
    let names: Vec<String> = std::fs::read_dir(out_file.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["dmarc.prom"], "no temporary file is left behind");

    let text = std::fs::read_to_string(&out_file).unwrap();
    let mut samples = std::collections::BTreeMap::new();
    for line in text.lines() {
        if line.starts_with('#') {
            assert!(
                line.starts_with("# HELP dmarc_report_")
                    || line.starts_with("# TYPE dmarc_report_"),
                "{line}"
            );
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("a sample line");
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("a number: {line}"));
        samples.insert(series.to_owned(), value);
    }
    let get =
        |series: &str| *samples.get(series).unwrap_or_else(|| panic!("no {series} in\n{text}"));
    // A: 20 days x 2 receivers x 310, plus 3 days x 2 x 400.
    assert_eq!(
        get(&format!("dmarc_report_messages{{domain=\"{A}\"}}")),
        (20.0 * 2.0 * 310.0) + 2400.0
    );
    assert_eq!(
        get(&format!("dmarc_report_dmarc_pass_messages{{domain=\"{A}\"}}")),
        20.0 * 2.0 * 300.0
    );
    assert_eq!(get(&format!("dmarc_report_spf_aligned_pass_messages{{domain=\"{A}\"}}")), 12_000.0);
    assert_eq!(
        get(&format!("dmarc_report_dkim_aligned_pass_messages{{domain=\"{A}\"}}")),
        12_000.0
    );
    assert_eq!(get(&format!("dmarc_report_verdict{{domain=\"{A}\",verdict=\"not-ready\"}}")), 1.0);
    assert_eq!(
        get(&format!("dmarc_report_verdict{{domain=\"{A}\",verdict=\"ready-for-quarantine\"}}")),
        0.0
    );
    assert_eq!(
        get(&format!(
            "dmarc_report_sender_class_messages{{domain=\"{A}\",class=\"misconfigured\"}}"
        )),
        600.0
    );
    let age_b = get(&format!("dmarc_report_newest_report_age_seconds{{domain=\"{B}\"}}"));
    assert!(
        (4.0 * DAY as f64..=5.0 * DAY as f64).contains(&age_b),
        "B's newest report ended 4 days ago and some: {age_b}"
    );
    assert_eq!(get("dmarc_report_failed_inputs"), 0.0);
}

/// A Dovecot whose `Reports` folder holds A's clean history, one email per
/// report, and a setup whose config points `fetch` at it.
fn dovecot_with_a_history_of_a(backend: Backend) -> (common::dovecot::Dovecot, Setup) {
    let server = common::dovecot::Dovecot::start().unwrap();
    for (name, xml) in clean_history().into_iter().filter(|(n, _)| n.contains(A)) {
        let mail = common::email_with_attachment(
            &format!("Report domain: {A}"),
            &name,
            "text/xml",
            xml.as_bytes(),
        );
        server.append("Reports", &mail).unwrap();
    }
    let s = Setup::new(backend);
    s.config(&format!(
        "[[account]]\nhost = \"{}\"\nport = {}\nuser = \"{}\"\npassword_file = {:?}\n\
         ca_file = {:?}\nfolders = [\"Reports\"]\n",
        server.host(),
        server.imaps_port(),
        server.user(),
        server.password_file(),
        server.ca_file()
    ));
    (server, s)
}

both_backends!(fetch_with_notify_tells_what_the_fetched_reports_changed_once);
fn fetch_with_notify_tells_what_the_fetched_reports_changed_once(backend: Backend) {
    let (_server, s) = dovecot_with_a_history_of_a(backend);
    let fetch = |s: &Setup| {
        run(command(s.path())
            .arg("--db")
            .arg(&s.db)
            .args(["fetch", "--notify", "--config"])
            .arg(&s.config))
    };
    let first = fetch(&s);
    assert_eq!(first.code, Some(0), "{first:?}");
    assert!(
        first.stdout.contains(&format!("* {A}: ready for quarantine")),
        "the fetched reports give the baseline: {}",
        first.stdout
    );
    let second = fetch(&s);
    assert_eq!((second.code, second.stdout.as_str()), (Some(0), ""), "{second:?}");
}

both_backends!(fetch_with_notify_as_json_prints_one_document_with_the_notification_inside);
fn fetch_with_notify_as_json_prints_one_document_with_the_notification_inside(backend: Backend) {
    let (_server, s) = dovecot_with_a_history_of_a(backend);
    let fetch = |s: &Setup| {
        run(command(s.path())
            .arg("--db")
            .arg(&s.db)
            .args(["fetch", "--notify", "--format", "json", "--config"])
            .arg(&s.config))
    };
    let first = fetch(&s);
    assert_eq!(first.code, Some(0), "{first:?}");
    // `json()` reads the whole of stdout: two documents would not parse.
    let doc = first.json();
    assert!(doc["reports_new"].as_u64().unwrap_or(0) > 0, "the fetch's own counts: {doc}");
    assert_eq!(doc["notify"]["baseline"], true, "{doc}");
    let told = kinds(&doc["notify"]);
    assert!(told.contains(&format!("verdict-changed {A}")), "{told:?}");

    let second = fetch(&s);
    assert_eq!(second.code, Some(0), "{second:?}");
    let doc = second.json();
    assert_eq!(doc["reports_new"], 0, "{doc}");
    assert_eq!(doc["notify"]["events"], serde_json::json!([]), "{doc}");
}
