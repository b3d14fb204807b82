//! Shared helpers for the integration tests: temporary directories, running
//! the built binary, inspecting the database it wrote, a Dovecot server
//! ([`dovecot`]), an SMTP server ([`smtp`]) and the stored totals of a
//! report ([`totals`]). The report
//! fixtures themselves (XML, archives, mail, random data, render views) are
//! in the `dmarc-report-testkit` crate, shared with the benchmarks; the
//! ones most tests use are re-exported here.
//!
//! Every test file uses a different subset, hence the `dead_code` and
//! `unused_imports` allowances.

#![allow(dead_code, unused_imports)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use dmarc_report::store::inspect::{Counts, Inspector};

pub(crate) use backend::both_backends;
pub use backend::{Backend, TestDb};
pub use dmarc_report_testkit::Rng;
pub use dmarc_report_testkit::archive::{
    base64_lines, email_with_attachment, gzip, mbox, rua_email, zip,
};
pub use dmarc_report_testkit::report::report_xml;

/// The binary under test, built by Cargo for the integration tests.
pub const BIN: &str = env!("CARGO_BIN_EXE_dmarc-report");

/// A fresh temporary directory, removed when dropped.
pub fn temp_dir() -> tempfile::TempDir {
    tempfile::Builder::new().prefix("dmarc-report-test-").tempdir().expect("create a temp dir")
}

/// A command for the binary, isolated from the user's environment: no
/// `DMARC_REPORT_DB`, `HOME` and `XDG_DATA_HOME` inside `sandbox`, working
/// directory `sandbox`, standard input empty.
pub fn command(sandbox: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env_remove("DMARC_REPORT_DB")
        .env("HOME", sandbox.join("home"))
        .env("XDG_DATA_HOME", sandbox.join("xdg-data"))
        .current_dir(sandbox)
        .stdin(Stdio::null());
    cmd
}

/// What a finished run printed and how it ended.
#[derive(Debug)]
pub struct Run {
    /// The exit code (`None` when killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    /// Standard output parsed as one JSON value.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:?}"))
    }
}

impl From<Output> for Run {
    fn from(out: Output) -> Self {
        Run {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// Runs `cmd` to completion.
pub fn run(cmd: &mut Command) -> Run {
    cmd.output().expect("run dmarc-report").into()
}

/// Runs `cmd` with `input` on its standard input.
pub fn run_with_stdin(cmd: &mut Command, input: &[u8]) -> Run {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn dmarc-report");
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let input = input.to_vec();
    // A thread, so that a large input cannot deadlock against the output pipes.
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().expect("wait for dmarc-report");
    writer.join().expect("stdin writer");
    out.into()
}

/// Writes `data` to `dir/name` (creating parent folders) and returns the path.
pub fn write_file(dir: &Path, name: &str, data: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("create fixture folder");
    }
    std::fs::write(&path, data).expect("write fixture");
    path
}

/// Opens a database the binary wrote, for inspection: a SQLite file (read
/// only, no migration) or a PostgreSQL URL (see [`backend`]).
pub fn open_db(path: &Path) -> Inspector<'static> {
    let url = path.to_str().is_some_and(|p| p.starts_with("postgresql://"));
    assert!(url || path.is_file(), "no database at {}", path.display());
    Inspector::open(path).expect("open the database")
}

/// How many rows of each kind the database at `path` holds.
pub fn counts(path: &Path) -> Counts {
    open_db(path).counts().expect("count the rows")
}

/// The database's own consistency check (`ok` when sound).
pub fn integrity_check(db: &Inspector<'_>) -> String {
    db.integrity_check().expect("integrity check")
}

pub mod backend;
pub mod dnsmasq;
pub mod dovecot;
pub mod oauth_server;
pub mod postgres;
pub mod smtp;
pub mod totals;

/// The shape of a generated rua mailbox: one gzip report per email from
/// `reporter.example` for `example.com`, each over one of `days` days, with
/// 1 to `max_records` records from `{ip_prefix}0..{ip_prefix}{ip_count - 1}`
/// of 1 to `max_messages` messages each.
pub struct MailboxShape {
    pub seed: u64,
    pub days: i64,
    pub max_records: u64,
    pub ip_prefix: &'static str,
    pub ip_count: u64,
    pub max_messages: u64,
    pub id_prefix: &'static str,
}

impl MailboxShape {
    /// An mbox of `emails` such emails, and the totals a single clean ingest
    /// stores from it: (reports, records, messages).
    pub fn mbox(&self, emails: usize) -> (Vec<u8>, [u64; 3]) {
        let mut rng = Rng::seeded(self.seed);
        let mut messages = Vec::with_capacity(emails);
        let mut totals = [0u64; 3];
        for i in 0..emails {
            let begin = 1_792_454_400 + (i as i64 % self.days) * 86_400;
            let records: Vec<(String, u64)> = (0..1 + rng.below(self.max_records))
                .map(|_| {
                    let ip = format!("{}{}", self.ip_prefix, rng.below(self.ip_count));
                    (ip, 1 + rng.below(self.max_messages))
                })
                .collect();
            let refs: Vec<(&str, u64)> = records.iter().map(|(ip, n)| (ip.as_str(), *n)).collect();
            let id = format!("{}-{i}", self.id_prefix);
            let xml =
                report_xml("reporter.example", "example.com", &id, begin, begin + 86_399, &refs);
            totals[0] += 1;
            totals[1] += refs.len() as u64;
            totals[2] += refs.iter().map(|(_, n)| n).sum::<u64>();
            messages.push(rua_email("example.com", &id, begin, xml.as_bytes()));
        }
        (mbox(&messages), totals)
    }
}

/// A rua email carrying report `id` for example.com on day `day` after
/// 2026-10-20: two records, one passing, one failing.
pub fn rua(id: &str, day: i64) -> Vec<u8> {
    let begin = 1_792_454_400 + day * 86_400;
    let records = [("192.0.2.1", 3), ("198.51.100.7", 1)];
    let xml = report_xml("reporter.example", "example.com", id, begin, begin + 86_399, &records);
    rua_email("example.com", id, begin, xml.as_bytes())
}

/// The report page in `dir` (`index.html`) without its "Generated ..."
/// line, so that two runs that straddle a minute compare equal.
pub fn report_page_without_time(dir: &Path) -> String {
    let html = std::fs::read_to_string(dir.join("index.html")).expect("the report page");
    html.lines()
        .filter(|l| !l.starts_with("<p class=\"meta\">Generated "))
        .collect::<Vec<_>>()
        .join("\n")
}
