//! Shared helpers for the integration tests: temporary directories, running
//! the built binary, making report fixtures (XML, gzip, zip, email, mbox) in
//! code, and reading the SQLite file the binary wrote.
//!
//! Every test file uses a different subset, hence the `dead_code` allowance.

#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use flate2::Compression;
use flate2::write::GzEncoder;
use rusqlite::Connection;
use rusqlite::types::ValueRef;

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

/// A minimal RFC 7489 aggregate report: `records` are `(source_ip, count)`,
/// the first of each pair passing DMARC, the second failing, and so on.
pub fn report_xml(
    org: &str,
    domain: &str,
    report_id: &str,
    begin: i64,
    end: i64,
    records: &[(&str, u64)],
) -> String {
    let mut xml = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<feedback>
  <version>1.0</version>
  <report_metadata>
    <org_name>{org}</org_name>
    <email>noreply-dmarc@{org}</email>
    <report_id>{report_id}</report_id>
    <date_range>
      <begin>{begin}</begin>
      <end>{end}</end>
    </date_range>
  </report_metadata>
  <policy_published>
    <domain>{domain}</domain>
    <adkim>r</adkim>
    <aspf>r</aspf>
    <p>none</p>
    <sp>none</sp>
    <pct>100</pct>
  </policy_published>
"#
    );
    for (i, (ip, count)) in records.iter().enumerate() {
        let result = if i % 2 == 0 { "pass" } else { "fail" };
        xml.push_str(&format!(
            r#"  <record>
    <row>
      <source_ip>{ip}</source_ip>
      <count>{count}</count>
      <policy_evaluated>
        <disposition>none</disposition>
        <dkim>{result}</dkim>
        <spf>{result}</spf>
      </policy_evaluated>
    </row>
    <identifiers>
      <header_from>{domain}</header_from>
    </identifiers>
    <auth_results>
      <dkim>
        <domain>{domain}</domain>
        <selector>s1</selector>
        <result>{result}</result>
      </dkim>
      <spf>
        <domain>{domain}</domain>
        <result>{result}</result>
      </spf>
    </auth_results>
  </record>
"#
        ));
    }
    xml.push_str("</feedback>\n");
    xml
}

/// `data` gzip-compressed.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::default());
    enc.write_all(data).expect("gzip in memory");
    enc.finish().expect("gzip in memory")
}

/// A zip archive (deflated) holding `entries` as `(name, bytes)`.
pub fn zip(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, data) in entries {
        writer.start_file(*name, options).expect("zip entry");
        writer.write_all(data).expect("zip entry data");
    }
    writer.finish().expect("zip in memory").into_inner()
}

/// Standard base64 with 76-character lines (CRLF-free, LF ends), for MIME.
pub fn base64_lines(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut encoded = String::with_capacity(data.len() * 4 / 3 + 4);
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                encoded.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                encoded.push('=');
            }
        }
    }
    let mut out = String::with_capacity(encoded.len() + encoded.len() / 76 + 1);
    for line in encoded.as_bytes().chunks(76) {
        out.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        out.push('\n');
    }
    out
}

/// An RFC 5322 multipart/mixed message with a short text part and one
/// base64 attachment.
pub fn email_with_attachment(
    subject: &str,
    file_name: &str,
    content_type: &str,
    data: &[u8],
) -> Vec<u8> {
    format!(
        "From: DMARC Reporter <noreply-dmarc@reporter.example>\n\
         To: dmarc@example.com\n\
         Subject: {subject}\n\
         Date: Tue, 20 Oct 2026 23:59:59 +0000\n\
         Message-ID: <{}@reporter.example>\n\
         MIME-Version: 1.0\n\
         Content-Type: multipart/mixed; boundary=\"=-boundary-=\"\n\
         \n\
         --=-boundary-=\n\
         Content-Type: text/plain; charset=utf-8\n\
         \n\
         This is a DMARC aggregate report.\n\
         --=-boundary-=\n\
         Content-Type: {content_type}; name=\"{file_name}\"\n\
         Content-Disposition: attachment; filename=\"{file_name}\"\n\
         Content-Transfer-Encoding: base64\n\
         \n\
         {}\
         --=-boundary-=--\n",
        subject.len() ^ data.len(),
        base64_lines(data)
    )
    .into_bytes()
}

/// An mbox file (mboxo `From ` separator lines) holding `messages`.
pub fn mbox(messages: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for message in messages {
        out.extend_from_slice(b"From noreply-dmarc@reporter.example Tue Oct 20 23:59:59 2026\n");
        out.extend_from_slice(message);
        if !message.ends_with(b"\n") {
            out.push(b'\n');
        }
        out.push(b'\n');
    }
    out
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

/// Opens a database file the binary wrote.
pub fn open_db(path: &Path) -> Connection {
    assert!(path.is_file(), "no database at {}", path.display());
    Connection::open(path).expect("open the database")
}

/// One integer from a query.
pub fn query_i64(conn: &Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |r| r.get(0)).unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// Every row of a query, each column rendered as text (NULL as `NULL`,
/// blobs as `blob:<len>`), in the order the query gives.
pub fn query_rows(conn: &Connection, sql: &str) -> Vec<Vec<String>> {
    let mut stmt = conn.prepare(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    let columns = stmt.column_count();
    let mut rows = stmt.query([]).unwrap_or_else(|e| panic!("{sql}: {e}"));
    let mut out = Vec::new();
    while let Some(row) = rows.next().unwrap_or_else(|e| panic!("{sql}: {e}")) {
        let mut values = Vec::with_capacity(columns);
        for i in 0..columns {
            values.push(match row.get_ref(i).expect("column") {
                ValueRef::Null => "NULL".to_owned(),
                ValueRef::Integer(n) => n.to_string(),
                ValueRef::Real(f) => f.to_string(),
                ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
                ValueRef::Blob(b) => format!("blob:{}", b.len()),
            });
        }
        out.push(values);
    }
    out
}

/// `PRAGMA integrity_check` of a database file.
/// A stored report's raw XML: its gzip pieces joined in order, decompressed.
pub fn raw_xml(conn: &Connection, report: i64) -> Vec<u8> {
    use std::io::Read;
    let mut stmt = conn
        .prepare("SELECT data FROM report_raw_chunks WHERE report = ?1 ORDER BY seq")
        .expect("raw chunks query");
    let gzip: Vec<u8> = stmt
        .query_map([report], |r| r.get::<_, Vec<u8>>(0))
        .expect("raw chunks")
        .flat_map(|chunk| chunk.expect("raw chunk"))
        .collect();
    let mut xml = Vec::new();
    flate2::read::GzDecoder::new(&gzip[..]).read_to_end(&mut xml).expect("raw is gzip");
    xml
}

pub fn integrity_check(conn: &Connection) -> String {
    query_rows(conn, "PRAGMA integrity_check")
        .into_iter()
        .map(|row| row.join(" "))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A small pseudo-random generator (xorshift64*), seeded from the clock
/// unless `DMARC_TEST_SEED` is set; the seed is printed so a failure can be
/// replayed.
pub struct Rng(u64);

impl Rng {
    /// A generator with a fresh (printed) seed.
    pub fn new() -> Self {
        let seed = std::env::var("DMARC_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                let nanos = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(0);
                nanos ^ u64::from(std::process::id()).rotate_left(32)
            });
        eprintln!("random seed: DMARC_TEST_SEED={seed}");
        Rng(seed | 1)
    }

    /// The next value.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A value in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

impl Default for Rng {
    fn default() -> Self {
        Self::new()
    }
}
pub mod dovecot;
