//! The storage of everything dmarc-report keeps: one SQLite file in WAL
//! mode, its schema applied as numbered migrations from
//! `schemas/migrations/`; or a PostgreSQL database shared by several
//! workers ([`pg`], migrations in `schemas/postgres/`). [`Store`]
//! opens either from the `--db` value ([`Location`]) and hands each
//! operation to the backend (`engine.rs`).
//!
//! This module is the only place that knows the schema or speaks SQL. The
//! rest of the crate sees typed rows and a small set of operations, grouped
//! as traits in [`backend`] so that another database is another
//! implementation of the same operations:
//!
//! - writing: a batch ([`Store::begin`] .. [`Store::commit`]) of reports,
//!   each written through a [`ReportWriter`] that keeps all of the report or
//!   nothing of it;
//! - reading for the summary: [`backend::SummaryReads`];
//! - the reverse DNS cache, IMAP state and failed inputs;
//! - inspection for tests and troubleshooting: [`inspect`].
//!
//! Inserts are idempotent: a report is identified by (org_name, policy
//! domain, report_id, begin, end) and a second copy stores nothing. Every
//! stored report keeps its raw XML (see [`raw`]); every input that failed is
//! kept with its bytes in `failed_inputs`. A killed process leaves the
//! database as of the last commit.

pub mod backend;
mod checks;
pub mod dismiss;
mod engine;
pub mod inspect;
mod layout;
mod migrations;
pub mod notify;
pub mod overview;
pub mod pg;
pub mod raw;
mod rdns;
mod reads;
mod rollup;
mod snapshot;
mod streams;
pub mod transfer;

pub use backend::{Backend, RdnsCache, SummaryReads};
pub use checks::{LIVE_DMARC, RecordCheck, StoredFinding};
pub use engine::{Location, NotifyLock, Replacement, ReportWriter, Store};
pub use rdns::{RdnsEntry, RdnsStatus};
pub use reads::{
    DomainDays, PolicyReport, RecordFacts, ReportRef, SourceDay, StoredReason, StreamDay,
};
pub use rollup::{from_subdomain, reason_label};

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, params};
use sha2::{Digest, Sha256};

use crate::model::{FailureKind, Record, ReportHeader};

/// A storage failure. These stop the run: the database is unusable.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database refused an operation.
    #[error("database error: {0}")]
    Database(String),
    /// The database is newer than this program.
    #[error(
        "the database has schema version {found}, newer than this dmarc-report knows ({known}); \
         upgrade dmarc-report"
    )]
    TooNew {
        /// Version in the file.
        found: i64,
        /// Latest version this build has.
        known: i64,
    },
    /// The file could not be opened or created.
    #[error("cannot open the database {path}: {reason}")]
    Open {
        /// The database path.
        path: String,
        /// Why it cannot be used (a directory, no permission, not a database).
        reason: String,
    },
    /// The default database's directory could not be created.
    #[error("cannot create the directory {path}: {reason}")]
    CreateDir {
        /// The directory the database would live in.
        path: String,
        /// What the file system said (`permission denied`).
        reason: String,
    },
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Database(describe(&e))
    }
}

/// An error of the database library in plain words; a damaged file says
/// what to do about it.
fn describe(e: &rusqlite::Error) -> String {
    let words = match e {
        rusqlite::Error::SqliteFailure(_, Some(message)) => message.clone(),
        rusqlite::Error::SqliteFailure(code, None) => code.to_string(),
        other => other.to_string(),
    };
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::NotADatabase) => format!("{words}: {NOT_A_DATABASE}"),
        Some(rusqlite::ErrorCode::DatabaseCorrupt) => format!("{words}: {DAMAGED}"),
        _ => words,
    }
}

/// What a user can do about a file that is not a database.
const NOT_A_DATABASE: &str = "it is not a dmarc-report database, or its first page is damaged; \
     if it was one, restore it from a backup (`reparse` cannot repair a damaged file: it \
     rebuilds reports from the copies kept inside it); otherwise give another --db";

/// What a user can do about a damaged database.
const DAMAGED: &str = "the database file is damaged; restore it from a backup (`reparse` \
     cannot repair it: it rebuilds reports from the copies kept inside the damaged file), or \
     move it away and ingest the reports again into a new one";

/// Why `--db` names a directory: the same words for every command.
const IS_A_DIRECTORY: &str =
    "it is a directory; give the path of a database file (for example DIR/dmarc.db)";

impl StoreError {
    /// The default database's directory `dir` could not be created.
    pub fn create_dir(dir: &Path, e: &std::io::Error) -> StoreError {
        StoreError::CreateDir { path: dir.display().to_string(), reason: io_reason(e) }
    }
}

/// A file system error in the words users look for (`permission denied`).
fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        std::io::ErrorKind::ReadOnlyFilesystem => "read-only file system".to_owned(),
        _ => e.to_string(),
    }
}

/// Why SQLite could not open `path`. SQLite only says "unable to open
/// database file"; the file system says why, so ask it the same question.
fn open_reason(path: &Path, e: &rusqlite::Error) -> String {
    use rusqlite::ErrorCode;
    match e.sqlite_error_code() {
        Some(ErrorCode::CannotOpen | ErrorCode::PermissionDenied | ErrorCode::ReadOnly) => {
            match probe_write(path) {
                Some(reason) => reason,
                None => describe(e),
            }
        }
        _ => describe(e),
    }
}

/// [`open_reason`] for an error met while setting up or migrating.
fn store_reason(path: &Path, e: StoreError) -> String {
    match e {
        StoreError::Database(words)
            if words.contains("readonly") || words.contains("unable to open") =>
        {
            probe_write(path).unwrap_or(words)
        }
        StoreError::Database(words) => words,
        other => other.to_string(),
    }
}

/// What the file system says when `path` (or, for a new database, a file
/// there; in WAL mode, the `-wal` file beside it) is opened for writing;
/// `None` when it allows it.
fn probe_write(path: &Path) -> Option<String> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if path.exists() {
        if let Err(e) = std::fs::OpenOptions::new().read(true).write(true).open(path) {
            return Some(format!("{} (the file is not writable by this user)", io_reason(&e)));
        }
        let wal = PathBuf::from(format!("{}-wal", path.display()));
        if wal.exists() {
            return std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(&wal)
                .err()
                .map(|e| format!("{} on {}", io_reason(&e), wal.display()));
        }
        return probe_create(&wal).map(|reason| {
            format!(
                "{reason}: SQLite writes {} beside the database, and {} does not let this user \
                 create files",
                wal.display(),
                dir.display()
            )
        });
    }
    probe_create(path).map(|reason| format!("{reason}: cannot create a file in {}", dir.display()))
}

/// Creates `path` (which does not exist) and removes it again; the file
/// system's refusal, if it refuses.
fn probe_create(path: &Path) -> Option<String> {
    match std::fs::OpenOptions::new().write(true).create_new(true).open(path) {
        Ok(_) => {
            let _ = std::fs::remove_file(path);
            None
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => None,
        Err(e) => Some(io_reason(&e)),
    }
}

/// An input that could not be stored.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FailedInput {
    /// Row id, for `--retry-failed` and `errors`.
    pub id: i64,
    /// File path or message it came from.
    pub name: String,
    /// Every problem found in it, `location: error`, joined by `; `.
    pub error: String,
    /// When it first failed (Unix seconds).
    pub first_seen: i64,
    /// When it last failed (Unix seconds).
    pub last_seen: i64,
    /// How many times it was tried.
    pub attempts: i64,
    /// Bytes kept (0 when it was too large to keep, or dismissed).
    pub size: i64,
    /// What kind of failure it is.
    pub kind: FailureKind,
    /// When the user dismissed it (Unix seconds); `None` while it is listed
    /// and retried.
    pub dismissed_at: Option<i64>,
}

/// What [`Store::record_failure`] did with a failed input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordedFailure {
    /// Its row id (the same one when the same input failed before).
    pub id: i64,
    /// It was dismissed before: it stays dismissed (its bytes are not kept
    /// again) and is not to be reported as a new failure.
    pub dismissed: bool,
}

/// What is needed, besides its bytes, to parse a stored report again
/// exactly as the first time.
#[derive(Debug, Clone, Default)]
pub struct RawMeta {
    /// Its attachment or file name (date-range fallback).
    pub file_name: Option<String>,
    /// The bytes were already decoded to UTF-8 by the mail parser.
    pub known_utf8: bool,
}

/// A reason as stored in `records.reasons`.
#[derive(serde::Serialize)]
struct ReasonJson<'a> {
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    comment: Option<&'a str>,
}

/// The text columns of a record's row, in the order of the `INSERT`
/// (see `schemas/migrations/0008_compact_records.sql`): 0 source_ip; the
/// strings the writer turns into ids: 1 disposition, 2 dkim, 3 spf,
/// 4 header_from, 5 envelope_from, 6 envelope_to, 7 dkim_domain,
/// 8 dkim_selector, 9 dkim_result, 10 dkim2_domain, 11 dkim2_selector,
/// 12 dkim2_result, 13 spf_domain, 14 spf_scope, 15 spf_result;
/// 16 reasons and 17 more (JSON); then what the rollups need, not stored
/// in the record: 18 the passing DKIM domains, 19 the passing SPF domains,
/// 20 the reason labels (each joined by U+001F).
const TEXT_COLUMNS: usize = 21;

/// The columns holding ids of `strings`.
const INTERNED: std::ops::RangeInclusive<usize> = 1..=15;

/// A record in the form its row is written: every text column in one
/// buffer, the lists already encoded as JSON. The parsing side builds it
/// (on the worker threads, next to the record it was read into), so the
/// thread that writes only looks up string ids and binds, and frees one
/// allocation per record.
pub struct RecordRow {
    /// The text columns, one after another (see [`TEXT_COLUMNS`]).
    text: String,
    /// Where each column ends in `text`.
    ends: [u32; TEXT_COLUMNS],
    /// Bit `i` set: column `i` is NULL.
    nulls: u32,
    count: u64,
    /// The source as stored when it is an IPv4 address.
    ipv4: Option<i32>,
}

impl RecordRow {
    /// Encodes `r`.
    pub fn new(r: &Record) -> RecordRow {
        let mut row = RowBuilder {
            text: Vec::with_capacity(128),
            ends: [0; TEXT_COLUMNS],
            nulls: 0,
            column: 0,
        };
        row.text(Some(&r.source_ip));
        row.text(r.disposition.as_ref().map(|v| v.as_str()));
        row.text(r.dkim.as_ref().map(|v| v.as_str()));
        row.text(r.spf.as_ref().map(|v| v.as_str()));
        row.text(r.header_from.as_deref());
        row.text(r.envelope_from.as_deref());
        row.text(r.envelope_to.as_deref());
        let first_dkim = r.dkim_results.first();
        row.text(first_dkim.map(|a| a.domain.as_str()));
        row.text(first_dkim.and_then(|a| a.selector.as_deref()));
        row.text(first_dkim.and_then(|a| a.result.as_ref()).map(|v| v.as_str()));
        let second_dkim = r.dkim_results.get(1);
        row.text(second_dkim.map(|a| a.domain.as_str()));
        row.text(second_dkim.and_then(|a| a.selector.as_deref()));
        row.text(second_dkim.and_then(|a| a.result.as_ref()).map(|v| v.as_str()));
        let first_spf = r.spf_results.first();
        row.text(first_spf.map(|a| a.domain.as_str()));
        row.text(first_spf.and_then(|a| a.scope.as_ref()).map(|v| v.as_str()));
        row.text(first_spf.and_then(|a| a.result.as_ref()).map(|v| v.as_str()));
        if r.reasons.is_empty() {
            row.end_column(true);
        } else {
            row.json(
                &r.reasons
                    .iter()
                    .map(|x| ReasonJson {
                        kind: x.kind.as_ref().map(|k| k.as_str()),
                        comment: x.comment.as_deref(),
                    })
                    .collect::<Vec<_>>(),
            );
        }
        let more = layout::More {
            dkim_human_result: first_dkim.and_then(|a| a.human_result.as_deref()),
            dkim2_human_result: second_dkim.and_then(|a| a.human_result.as_deref()),
            spf_human_result: first_spf.and_then(|a| a.human_result.as_deref()),
            dkim: r
                .dkim_results
                .iter()
                .skip(2)
                .map(|a| layout::AuthJson {
                    domain: &a.domain,
                    selector: a.selector.as_deref(),
                    scope: None,
                    result: a.result.as_ref().map(|v| v.as_str()),
                    human_result: a.human_result.as_deref(),
                })
                .collect(),
            spf: r
                .spf_results
                .iter()
                .skip(1)
                .map(|a| layout::AuthJson {
                    domain: &a.domain,
                    selector: None,
                    scope: a.scope.as_ref().map(|v| v.as_str()),
                    result: a.result.as_ref().map(|v| v.as_str()),
                    human_result: a.human_result.as_deref(),
                })
                .collect(),
            extensions: &r.extensions,
        };
        if more.is_empty() {
            row.end_column(true);
        } else {
            row.json(&more);
        }
        let passing = |result: Option<&str>| result == Some("pass");
        row.list(
            r.dkim_results
                .iter()
                .filter(|a| passing(a.result.as_ref().map(|v| v.as_str())))
                .map(|a| a.domain.as_str()),
        );
        row.list(
            r.spf_results
                .iter()
                .filter(|a| passing(a.result.as_ref().map(|v| v.as_str())))
                .map(|a| a.domain.as_str()),
        );
        let labels: Vec<String> = r
            .reasons
            .iter()
            .filter_map(|x| {
                rollup::reason_label(x.kind.as_ref().map(|k| k.as_str()), x.comment.as_deref())
            })
            .collect();
        row.list(labels.iter().map(String::as_str));
        debug_assert_eq!(row.column, TEXT_COLUMNS);
        // Every piece came from a `str` or from serde_json, which writes
        // UTF-8, so this never fails; the check is cheap next to a row.
        let text = String::from_utf8(row.text)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
        RecordRow {
            text,
            ends: row.ends,
            nulls: row.nulls,
            count: r.count,
            ipv4: layout::ipv4_key(&r.source_ip),
        }
    }

    /// The record in the wide row of the PostgreSQL schema: 0 source_ip,
    /// 1 disposition, 2 dkim, 3 spf, 4 header_from, 5 envelope_from,
    /// 6 envelope_to, 7 extensions, 8 reasons, 9 dkim_auth, 10 spf_auth
    /// (the lists as JSON arrays, NULL when empty).
    pub(super) fn wide_columns(&self) -> [Option<std::borrow::Cow<'_, str>>; 11] {
        use std::borrow::Cow;
        let c = |i| self.column(i);
        // Written by RecordRow::new just before: it parses.
        let more: serde_json::Value =
            c(17).and_then(|m| serde_json::from_str(m).ok()).unwrap_or_default();
        let human = |key: &str| more.get(key).and_then(|v| v.as_str());
        let rest =
            |key: &str| more.get(key).and_then(|v| v.as_array()).cloned().unwrap_or_default();
        let auth = |at: usize, selector: bool, human_result: Option<&str>| {
            c(at).map(|domain| {
                let mut item = serde_json::Map::new();
                item.insert("domain".into(), domain.into());
                if let Some(v) = c(at + 1) {
                    item.insert(if selector { "selector" } else { "scope" }.into(), v.into());
                }
                if let Some(v) = c(at + 2) {
                    item.insert("result".into(), v.into());
                }
                if let Some(v) = human_result {
                    item.insert("human_result".into(), v.into());
                }
                serde_json::Value::Object(item)
            })
        };
        let list = |items: Vec<serde_json::Value>| {
            (!items.is_empty()).then(|| Cow::Owned(serde_json::Value::Array(items).to_string()))
        };
        let mut dkim: Vec<serde_json::Value> = [
            auth(7, true, human("dkim_human_result")),
            auth(10, true, human("dkim2_human_result")),
        ]
        .into_iter()
        .flatten()
        .collect();
        dkim.extend(rest("dkim"));
        let mut spf: Vec<serde_json::Value> =
            auth(13, false, human("spf_human_result")).into_iter().collect();
        spf.extend(rest("spf"));
        [
            Some(Cow::Borrowed(c(0).unwrap_or(""))),
            c(1).map(Cow::Borrowed),
            c(2).map(Cow::Borrowed),
            c(3).map(Cow::Borrowed),
            c(4).map(Cow::Borrowed),
            c(5).map(Cow::Borrowed),
            c(6).map(Cow::Borrowed),
            list(rest("extensions")),
            c(16).map(Cow::Borrowed),
            list(dkim),
            list(spf),
        ]
    }

    /// What the rollups need: the passing DKIM domains, the passing SPF
    /// domains and the reason labels, each joined by U+001F.
    pub(super) fn rollup_lists(&self) -> [&str; 3] {
        [18, 19, 20].map(|i| self.column(i).unwrap_or(""))
    }

    /// `row/count`.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Column `i` of [`TEXT_COLUMNS`]; `None` when NULL.
    fn column(&self, i: usize) -> Option<&str> {
        if self.nulls & (1 << i) != 0 {
            return None;
        }
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        self.text.get(start..self.ends[i] as usize)
    }
}

/// Appends the columns of a [`RecordRow`] in order.
struct RowBuilder {
    text: Vec<u8>,
    ends: [u32; TEXT_COLUMNS],
    nulls: u32,
    column: usize,
}

impl RowBuilder {
    fn end_column(&mut self, null: bool) {
        if null {
            self.nulls |= 1 << self.column;
        }
        // A record is bounded by the parser's limits, far below 4 GiB.
        self.ends[self.column] = u32::try_from(self.text.len()).unwrap_or(u32::MAX);
        self.column += 1;
    }

    fn text(&mut self, value: Option<&str>) {
        if let Some(v) = value {
            self.text.extend_from_slice(v.as_bytes());
        }
        self.end_column(value.is_none());
    }

    /// `items` joined by [`rollup::SEP`] (empty when there are none).
    fn list<'a>(&mut self, items: impl Iterator<Item = &'a str>) {
        for (i, item) in items.enumerate() {
            if i > 0 {
                let mut buf = [0u8; 4];
                self.text.extend_from_slice(rollup::SEP.encode_utf8(&mut buf).as_bytes());
            }
            self.text.extend_from_slice(item.as_bytes());
        }
        self.end_column(false);
    }

    /// `value` as JSON.
    fn json<T: serde::Serialize + ?Sized>(&mut self, value: &T) {
        // Serialising strings and options into memory cannot fail.
        let _ = serde_json::to_writer(&mut self.text, value);
        self.end_column(false);
    }
}

/// What is known about a report only after its last record.
#[derive(Debug, Clone, Default)]
pub struct ReportTail {
    /// Parser warnings.
    pub warnings: Vec<String>,
    /// All report-level extensions, when some came after the records.
    pub extensions: Vec<String>,
}

/// An open SQLite database (see [`Store`], which holds one or a
/// PostgreSQL connection).
pub struct SqliteStore {
    conn: Connection,
    /// Ids of the strings written (see [`layout::Interner`]).
    interner: std::cell::RefCell<Box<layout::Interner>>,
    /// The rollup rows of the batch's finished reports, written at its
    /// commit (see [`rollup::Pending`]).
    pending: std::cell::RefCell<Box<rollup::Pending>>,
}

impl SqliteStore {
    /// Opens (creating the file if needed) the database at `path` and
    /// migrates it. The directory must exist: a missing one is more
    /// likely a typo than a wish (the default location's directory is
    /// made by the command line, see `cli::settings`).
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let open_error =
            |reason: String| StoreError::Open { path: path.display().to_string(), reason };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            match std::fs::metadata(dir) {
                Ok(meta) if meta.is_dir() => {}
                Ok(_) => {
                    return Err(open_error(format!("{} is not a directory", dir.display())));
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(open_error(format!(
                        "the directory {} does not exist (create it, or give another --db)",
                        dir.display()
                    )));
                }
                Err(e) => return Err(open_error(io_reason(&e))),
            }
        }
        Self::open_file(path)
    }

    /// Opens a database that must already exist (for the commands that only
    /// read): never creates a file.
    pub fn open_existing(path: &Path) -> Result<SqliteStore, StoreError> {
        if !path.exists() {
            return Err(StoreError::Open {
                path: path.display().to_string(),
                reason: "there is no database file there".to_owned(),
            });
        }
        Self::open_file(path)
    }

    fn open_file(path: &Path) -> Result<SqliteStore, StoreError> {
        let open_error =
            |reason: String| StoreError::Open { path: path.display().to_string(), reason };
        if path.is_dir() {
            return Err(open_error(IS_A_DIRECTORY.to_owned()));
        }
        let conn = Connection::open(path).map_err(|e| open_error(open_reason(path, &e)))?;
        Self::configure(&conn).map_err(|e| open_error(store_reason(path, e)))?;
        match migrations::apply(&conn) {
            Ok(()) => Ok(SqliteStore::with(conn)),
            Err(e @ StoreError::TooNew { .. }) => Err(e),
            Err(e) => Err(open_error(store_reason(path, e))),
        }
    }

    /// An in-memory database (tests, benchmarks).
    pub fn open_in_memory() -> Result<SqliteStore, StoreError> {
        Self::setup(Connection::open_in_memory()?)
    }

    fn setup(conn: Connection) -> Result<SqliteStore, StoreError> {
        Self::configure(&conn)?;
        migrations::apply(&conn)?;
        Ok(SqliteStore::with(conn))
    }

    fn with(conn: Connection) -> SqliteStore {
        SqliteStore { conn, interner: Default::default(), pending: Default::default() }
    }

    fn configure(conn: &Connection) -> Result<(), StoreError> {
        conn.busy_timeout(std::time::Duration::from_secs(30))?;
        // WAL: readers do not block the writer; NORMAL sync is durable at
        // every checkpoint and never corrupts on power loss in WAL mode.
        Self::switch_to_wal(conn)?;
        // temp_store MEMORY: the journal of a report's savepoint (what undoes
        // a report that fails half-way) stays in memory, never a temporary
        // file per report.
        // wal_autocheckpoint: a checkpoint copies each page written since
        // the last one into the database file once, however many batches
        // rewrote it; every 8,192 pages (32 MiB of WAL) instead of SQLite's
        // 1,000, an ingest copies the pages its batches share (the rollups'
        // B-tree) a few times instead of after nearly every batch.
        conn.execute_batch(
            "PRAGMA synchronous = NORMAL;
             PRAGMA foreign_keys = ON;
             PRAGMA temp_store = MEMORY;
             PRAGMA cache_size = -8000;
             PRAGMA wal_autocheckpoint = 8192;",
        )?;
        conn.set_prepared_statement_cache_capacity(64);
        rollup::register(conn)?;
        Ok(())
    }

    /// Puts the database in WAL mode. Of two processes that open a new file
    /// at once, one may hold a read lock while the other switches the
    /// journal: SQLite reports that as busy at once rather than waiting
    /// (waiting could deadlock), so the switch is tried again for as long
    /// as the busy timeout allows.
    fn switch_to_wal(conn: &Connection) -> Result<(), StoreError> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let mut pause = std::time::Duration::from_millis(5);
        loop {
            match conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0)) {
                Ok(_) => return Ok(()),
                Err(e)
                    if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy)
                        && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(std::time::Duration::from_millis(200));
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// A second handle on the same database file, for reading on another
    /// thread; `None` for an in-memory database.
    pub fn reader(&self) -> Result<Option<SqliteStore>, StoreError> {
        let Some(path) = self.path() else { return Ok(None) };
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(30))?;
        conn.set_prepared_statement_cache_capacity(64);
        Ok(Some(SqliteStore::with(conn)))
    }

    /// Bulk loading, for generating large databases (benchmarks): no
    /// journal and no syncing to disk, a large page cache. A crash while
    /// it is on leaves a corrupt file. Off again: the usual WAL journal.
    pub fn set_bulk_load(&self, on: bool) -> Result<(), StoreError> {
        if on {
            let _: String = self.conn.query_row("PRAGMA journal_mode = OFF", [], |r| r.get(0))?;
            self.conn.execute_batch("PRAGMA synchronous = OFF; PRAGMA cache_size = -1000000;")?;
        } else {
            let _: String = self.conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
            self.conn.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA cache_size = -8000;")?;
        }
        Ok(())
    }

    /// The database file, when it is one (not in memory).
    pub fn path(&self) -> Option<&Path> {
        self.conn.path().filter(|p| !p.is_empty()).map(Path::new)
    }

    /// The schema version (number of applied migrations).
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        Ok(self.conn.query_row("PRAGMA user_version", [], |r| r.get(0))?)
    }

    /// Starts a batch (takes the write lock now, not later). Reports
    /// written until [`Store::commit`] become visible together.
    pub fn begin(&self) -> Result<(), StoreError> {
        // Whatever the last batch learnt and did not commit is gone.
        self.interner.borrow_mut().rolled_back();
        self.pending.borrow_mut().clear();
        self.conn.execute_batch("BEGIN IMMEDIATE")?;
        Ok(())
    }

    /// Commits the batch.
    pub fn commit(&self) -> Result<(), StoreError> {
        self.write_pending()?;
        self.conn.execute_batch("COMMIT")?;
        self.interner.borrow_mut().committed();
        Ok(())
    }

    /// Writes the rollup rows the batch's finished reports gathered
    /// (before the commit, and before anything on this connection reads or
    /// rebuilds the rollups). A failure half-way rolls the whole batch
    /// back: rows half-written would be counted again by no one.
    fn write_pending(&self) -> Result<(), StoreError> {
        let mut pending = self.pending.borrow_mut();
        if pending.is_empty() {
            return Ok(());
        }
        if let Err(e) = pending.flush(&self.conn) {
            pending.clear();
            self.interner.borrow_mut().rolled_back();
            let _ = self.conn.execute_batch("ROLLBACK");
            return Err(e);
        }
        Ok(())
    }

    /// Whether a batch is open.
    pub fn in_transaction(&self) -> bool {
        !self.conn.is_autocommit()
    }

    /// Starts storing a report: its header now, its records and raw copy
    /// through the writer, and all of it or (writer dropped unfinished, a
    /// failure, a panic) none of it. `None` when the report is already
    /// stored. Call inside a batch.
    pub fn start_report(
        &self,
        h: &ReportHeader,
        source: &str,
        now: i64,
    ) -> Result<Option<SqliteWriter<'_>>, StoreError> {
        let undo = Undo::start(self, "report")?;
        let Some(report) = self.insert_report(h, source, now)? else {
            undo.keep()?;
            return Ok(None);
        };
        let record = self.conn.prepare_cached(
            "INSERT INTO records (report, seq, ip, count, disposition, dkim, spf, header_from,
                 envelope_from, envelope_to, dkim_domain, dkim_selector, dkim_result,
                 dkim2_domain, dkim2_selector, dkim2_result, spf_domain, spf_scope,
                 spf_result, reasons, more)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,
                 ?17, ?18, ?19, ?20, ?21)",
        )?;
        Ok(Some(SqliteWriter {
            store: self,
            undo: Some(undo),
            record,
            rollup: rollup::Rollup::new(&h.policy.domain, h.begin, h.end),
            report,
            records: 0,
            messages: 0,
            seq: 0,
            raw_size: 0,
        }))
    }

    /// Starts replacing stored report `id` (`reparse`): it is deleted now;
    /// [`Replacement::keep`] keeps the change, dropping the guard brings
    /// the old report back.
    pub fn replace_report(&self, id: i64) -> Result<SqliteReplacement<'_>, StoreError> {
        // The rebuild below must see the batch's earlier reports.
        self.write_pending()?;
        let undo = Undo::start(self, "replace")?;
        let found: Option<(String, i64)> = self
            .conn
            .query_row("SELECT policy_domain, begin_ts FROM reports WHERE id = ?1", [id], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?;
        // The records have no foreign key (it would cost every insert a
        // lookup): they go explicitly.
        self.conn.prepare_cached("DELETE FROM records WHERE report = ?1")?.execute([id])?;
        self.conn.execute("DELETE FROM reports WHERE id = ?1", [id])?;
        if let Some((domain, begin)) = found {
            rollup::rebuild(&self.conn, &domain, begin.div_euclid(86_400) * 86_400)?;
        }
        Ok(SqliteReplacement { undo: Some(undo) })
    }

    /// Inserts a report's header; `None` when the report is already stored.
    fn insert_report(
        &self,
        h: &ReportHeader,
        source: &str,
        now: i64,
    ) -> Result<Option<i64>, StoreError> {
        let p = &h.policy;
        let mut stmt = self.conn.prepare_cached(
            "INSERT INTO reports (org_name, policy_domain, report_id, begin_ts, end_ts, schema,
                 version, email, extra_contact_info, generator, errors, adkim, aspf, p, sp, np,
                 pct, fo, testing, discovery_method, extensions, source, ingested_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,
                 ?17, ?18, ?19, ?20, ?21, ?22, ?23)
             ON CONFLICT DO NOTHING",
        )?;
        let changed = stmt.execute(params![
            h.org_name,
            p.domain,
            h.report_id,
            h.begin,
            h.end,
            h.schema.as_str(),
            h.version,
            h.email,
            h.extra_contact_info,
            h.generator,
            json_list(&h.errors),
            p.adkim.as_ref().map(|v| v.as_str()),
            p.aspf.as_ref().map(|v| v.as_str()),
            p.p.as_ref().map(|v| v.as_str()),
            p.sp.as_ref().map(|v| v.as_str()),
            p.np.as_ref().map(|v| v.as_str()),
            p.pct,
            p.fo,
            p.testing,
            p.discovery_method,
            json_list(&h.extensions),
            source,
            now,
        ])?;
        Ok((changed == 1).then(|| self.conn.last_insert_rowid()))
    }

    /// Keeps an input that failed, with its bytes (`None` when too large to
    /// keep) and its kind. The same bytes failing again (or, kept without
    /// bytes, the same name) update the existing row; one that was
    /// dismissed stays dismissed, without its bytes.
    pub fn record_failure(
        &self,
        name: &str,
        data: Option<&[u8]>,
        kind: FailureKind,
        error: &str,
        now: i64,
    ) -> Result<RecordedFailure, StoreError> {
        let sha = data.map(|d| Sha256::digest(d).to_vec());
        let existing: Option<(i64, Option<i64>)> = match &sha {
            Some(sha) => self
                .conn
                .prepare_cached("SELECT id, dismissed_at FROM failed_inputs WHERE sha256 = ?1")?
                .query_row([sha], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?,
            None => self
                .conn
                .prepare_cached(
                    "SELECT id, dismissed_at FROM failed_inputs
                     WHERE sha256 IS NULL AND name = ?1",
                )?
                .query_row([name], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?,
        };
        if let Some((id, dismissed_at)) = existing {
            self.conn.execute(
                "UPDATE failed_inputs SET error = ?2, kind = ?3, last_seen = ?4,
                     attempts = attempts + 1, name = ?5 WHERE id = ?1",
                params![id, error, kind.as_str(), now, name],
            )?;
            return Ok(RecordedFailure { id, dismissed: dismissed_at.is_some() });
        }
        self.conn.execute(
            "INSERT INTO failed_inputs (name, sha256, data, error, kind, first_seen, last_seen)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
            params![name, sha, data, error, kind.as_str(), now],
        )?;
        Ok(RecordedFailure { id: self.conn.last_insert_rowid(), dismissed: false })
    }

    /// Forgets a failed input (it was stored after all).
    pub fn delete_failure(&self, id: i64) -> Result<(), StoreError> {
        self.conn.execute("DELETE FROM failed_inputs WHERE id = ?1", [id])?;
        Ok(())
    }

    /// Forgets the failures of an input that has now been read in full.
    pub fn delete_failures_named(&self, name: &str) -> Result<(), StoreError> {
        // Once per input stored: prepared once.
        let mut stmt = self.conn.prepare_cached("DELETE FROM failed_inputs WHERE name = ?1")?;
        stmt.execute([name])?;
        Ok(())
    }

    /// The failed inputs that are listed and retried (not dismissed),
    /// oldest first.
    pub fn failures(&self) -> Result<Vec<FailedInput>, StoreError> {
        self.failures_where("dismissed_at IS NULL")
    }

    /// The dismissed failed inputs, oldest first.
    pub fn dismissed_failures(&self) -> Result<Vec<FailedInput>, StoreError> {
        self.failures_where("dismissed_at IS NOT NULL")
    }

    fn failures_where(&self, filter: &str) -> Result<Vec<FailedInput>, StoreError> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT id, name, error, first_seen, last_seen, attempts, COALESCE(length(data), 0),
                 kind, dismissed_at
             FROM failed_inputs WHERE {filter} ORDER BY id"
        ))?;
        let rows = stmt.query_map([], |r| {
            Ok(FailedInput {
                id: r.get(0)?,
                name: r.get(1)?,
                error: r.get(2)?,
                first_seen: r.get(3)?,
                last_seen: r.get(4)?,
                attempts: r.get(5)?,
                size: r.get(6)?,
                kind: dismiss::kind_named(&r.get::<_, String>(7)?),
                dismissed_at: r.get(8)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The kept bytes of a failed input (`None` if it had none).
    pub fn failure_data(&self, id: i64) -> Result<Option<(String, Vec<u8>)>, StoreError> {
        let row: Option<(String, Option<Vec<u8>>)> = self
            .conn
            .query_row("SELECT name, data FROM failed_inputs WHERE id = ?1", [id], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?;
        Ok(row.and_then(|(name, data)| data.map(|d| (name, d))))
    }

    /// Ids of all stored reports, in insertion order.
    pub fn report_ids(&self) -> Result<Vec<i64>, StoreError> {
        let mut stmt = self.conn.prepare("SELECT id FROM reports ORDER BY id")?;
        let ids = stmt.query_map([], |r| r.get(0))?;
        Ok(ids.collect::<Result<_, _>>()?)
    }

    /// A stored report's source, first ingestion time, and what is needed
    /// to parse it again.
    pub fn raw_report(&self, id: i64) -> Result<Option<(String, i64, RawMeta)>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT r.source, r.ingested_at, w.file_name, w.known_utf8
                 FROM reports r JOIN report_raw w ON w.report = r.id WHERE r.id = ?1",
                [id],
                |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        RawMeta { file_name: r.get(2)?, known_utf8: r.get(3)? },
                    ))
                },
            )
            .optional()?)
    }

    /// A stored report's raw gzip stream, its pieces in order.
    pub fn raw_chunks(&self, id: i64) -> Result<Vec<Vec<u8>>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT data FROM report_raw_chunks WHERE report = ?1 ORDER BY seq")?;
        let chunks = stmt.query_map([id], |r| r.get(0))?;
        Ok(chunks.collect::<Result<_, _>>()?)
    }
}

/// What `fetch` did with one IMAP message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageOutcome {
    /// Its reports are stored (or were already).
    Stored,
    /// It holds no readable report; its bytes are in `failed_inputs`.
    Failed,
    /// It is over the size limit and was not downloaded.
    TooLarge,
}

impl MessageOutcome {
    fn as_str(self) -> &'static str {
        match self {
            MessageOutcome::Stored => "stored",
            MessageOutcome::Failed => "failed",
            MessageOutcome::TooLarge => "too_large",
        }
    }

    fn parse(s: &str) -> MessageOutcome {
        match s {
            "stored" => MessageOutcome::Stored,
            "too_large" => MessageOutcome::TooLarge,
            _ => MessageOutcome::Failed,
        }
    }
}

impl SqliteStore {
    /// The messages of a folder (at one UIDVALIDITY) that `fetch` has seen:
    /// uid → (outcome, done on the server).
    pub fn imap_messages(
        &self,
        account: &str,
        folder: &str,
        uidvalidity: u32,
    ) -> Result<std::collections::HashMap<u32, (MessageOutcome, bool)>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT uid, outcome, done FROM imap_messages
             WHERE account = ?1 AND folder = ?2 AND uidvalidity = ?3",
        )?;
        let rows = stmt.query_map(params![account, folder, uidvalidity], |r| {
            let outcome: String = r.get(1)?;
            Ok((r.get::<_, u32>(0)?, (MessageOutcome::parse(&outcome), r.get::<_, bool>(2)?)))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Records what happened to a message (before anything is done to it
    /// on the server).
    pub fn record_imap_message(
        &self,
        account: &str,
        folder: &str,
        uidvalidity: u32,
        uid: u32,
        outcome: MessageOutcome,
        now: i64,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO imap_messages (account, folder, uidvalidity, uid, outcome, first_seen)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT DO UPDATE SET outcome = excluded.outcome",
            params![account, folder, uidvalidity, uid, outcome.as_str(), now],
        )?;
        Ok(())
    }

    /// Marks messages as moved or flagged on the server. Moved ones are
    /// forgotten: their UIDs never come back in this folder.
    pub fn imap_messages_done(
        &self,
        account: &str,
        folder: &str,
        uidvalidity: u32,
        uids: &[u32],
        moved: bool,
    ) -> Result<(), StoreError> {
        let sql = if moved {
            "DELETE FROM imap_messages WHERE account = ?1 AND folder = ?2 AND uidvalidity = ?3
             AND uid = ?4"
        } else {
            "UPDATE imap_messages SET done = 1 WHERE account = ?1 AND folder = ?2
             AND uidvalidity = ?3 AND uid = ?4"
        };
        let mut stmt = self.conn.prepare_cached(sql)?;
        for uid in uids {
            stmt.execute(params![account, folder, uidvalidity, uid])?;
        }
        Ok(())
    }

    /// Forgets the state of a folder at other UIDVALIDITY values, and
    /// messages that are no longer in it.
    pub fn prune_imap_messages(
        &self,
        account: &str,
        folder: &str,
        uidvalidity: u32,
        present: &std::collections::HashSet<u32>,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "DELETE FROM imap_messages WHERE account = ?1 AND folder = ?2 AND uidvalidity != ?3",
            params![account, folder, uidvalidity],
        )?;
        let gone: Vec<u32> = self
            .imap_messages(account, folder, uidvalidity)?
            .into_keys()
            .filter(|uid| !present.contains(uid))
            .collect();
        self.imap_messages_done(account, folder, uidvalidity, &gone, true)
    }
}

/// Undoes what was written since it started unless kept: a savepoint
/// inside the batch, rolled back when dropped (also while unwinding from
/// a panic). Its journal stays in memory (`temp_store`).
struct Undo<'c> {
    store: &'c SqliteStore,
    name: &'static str,
    open: bool,
}

impl<'c> Undo<'c> {
    fn start(store: &'c SqliteStore, name: &'static str) -> Result<Undo<'c>, StoreError> {
        let mut stmt = store.conn.prepare_cached(&format!("SAVEPOINT {name}"))?;
        stmt.execute([])?;
        Ok(Undo { store, name, open: true })
    }

    fn keep(mut self) -> Result<(), StoreError> {
        self.open = false;
        let mut stmt = self.store.conn.prepare_cached(&format!("RELEASE {}", self.name))?;
        stmt.execute([])?;
        Ok(())
    }

    fn undo(&mut self) -> Result<(), StoreError> {
        if std::mem::replace(&mut self.open, false) {
            // Strings added since may be gone with the rest.
            self.store.interner.borrow_mut().rolled_back();
            self.store.conn.execute_batch(&format!("ROLLBACK TO {0}; RELEASE {0}", self.name))?;
        }
        Ok(())
    }
}

impl Drop for Undo<'_> {
    fn drop(&mut self) {
        // Nothing to report to: a failed rollback leaves the batch to be
        // rolled back by its own end (the connection closing).
        let _ = self.undo();
    }
}

/// Writes one report's records and raw copy (see [`Store::start_report`]).
/// Dropped before [`ReportWriter::finish`], it leaves nothing of the report.
pub struct SqliteWriter<'s> {
    store: &'s SqliteStore,
    undo: Option<Undo<'s>>,
    record: rusqlite::CachedStatement<'s>,
    rollup: rollup::Rollup,
    report: i64,
    records: u64,
    messages: u64,
    seq: i64,
    raw_size: u64,
}

impl SqliteWriter<'_> {
    /// Stores one record.
    pub fn record(&mut self, r: &Record) -> Result<(), StoreError> {
        self.row(&RecordRow::new(r))
    }

    /// Stores records already encoded as rows, in order.
    pub fn rows(&mut self, rows: &[RecordRow]) -> Result<(), StoreError> {
        rows.iter().try_for_each(|row| self.row(row))
    }

    /// Stores one record already encoded as a row.
    pub fn row(&mut self, row: &RecordRow) -> Result<(), StoreError> {
        let seq = i64::try_from(self.records).unwrap_or(i64::MAX);
        insert_record(
            &self.store.conn,
            &mut self.record,
            &mut self.store.interner.borrow_mut(),
            self.report,
            seq,
            row,
        )?;
        let c = |i| row.column(i);
        self.rollup.add(
            &self.store.conn,
            &rollup::RecordKeys {
                ip: c(0).unwrap_or(""),
                count: row.count,
                disposition: c(1),
                dkim_aligned: c(2) == Some("pass"),
                spf_aligned: c(3) == Some("pass"),
                header_from: c(4),
                envelope_from: c(5),
                dkim_pass: c(18).unwrap_or(""),
                spf_pass: c(19).unwrap_or(""),
                reasons: c(20).unwrap_or(""),
            },
        )?;
        self.records += 1;
        self.messages = self.messages.saturating_add(row.count);
        Ok(())
    }

    /// Stores the next piece of the report's raw gzip stream.
    pub fn raw_chunk(&mut self, data: &[u8]) -> Result<(), StoreError> {
        let mut stmt = self.store.conn.prepare_cached(
            "INSERT INTO report_raw_chunks (report, seq, data) VALUES (?1, ?2, ?3)",
        )?;
        stmt.execute(params![self.report, self.seq, data])?;
        self.seq += 1;
        self.raw_size += data.len() as u64;
        Ok(())
    }

    /// Records stored so far.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Completes the report once its records and raw pieces are in: totals,
    /// warnings, report-level extensions found after the records, and what
    /// is needed to parse its raw copy again. Returns the number of records.
    pub fn finish(mut self, done: &ReportTail, raw: &RawMeta) -> Result<u64, StoreError> {
        let conn = &self.store.conn;
        let mut stmt = conn.prepare_cached(
            "UPDATE reports SET record_count = ?2, message_count = ?3, warnings = ?4,
                 extensions = COALESCE(?5, extensions) WHERE id = ?1",
        )?;
        stmt.execute(params![
            self.report,
            i64::try_from(self.records).unwrap_or(i64::MAX),
            i64::try_from(self.messages).unwrap_or(i64::MAX),
            json_list(&done.warnings),
            json_list(&done.extensions),
        ])?;
        let mut stmt = conn.prepare_cached(
            "INSERT INTO report_raw (report, compression, file_name, known_utf8, size)
             VALUES (?1, 'gzip', ?2, ?3, ?4)",
        )?;
        stmt.execute(params![
            self.report,
            raw.file_name,
            raw.known_utf8,
            i64::try_from(self.raw_size).unwrap_or(i64::MAX)
        ])?;
        // Last: its sources join the batch's only once the rest is in.
        self.rollup.finish(conn, &mut self.store.pending.borrow_mut())?;
        if let Some(undo) = self.undo.take() {
            undo.keep()?;
        }
        if self.store.pending.borrow().is_large() {
            self.store.write_pending()?;
        }
        Ok(self.records)
    }

    /// Leaves nothing of the report (the same as dropping the writer, with
    /// the error of the rollback, if any).
    pub fn abandon(mut self) -> Result<(), StoreError> {
        match self.undo.take() {
            Some(mut undo) => undo.undo(),
            None => Ok(()),
        }
    }
}

/// A stored report being replaced (see [`Store::replace_report`]).
pub struct SqliteReplacement<'s> {
    undo: Option<Undo<'s>>,
}

impl SqliteReplacement<'_> {
    /// Keeps the replacement.
    pub fn keep(mut self) -> Result<(), StoreError> {
        match self.undo.take() {
            Some(undo) => undo.keep(),
            None => Ok(()),
        }
    }
}

/// Inserts `row` as record `seq` of `report` with `stmt` (the `INSERT` of
/// [`SqliteStore::start_report`]), its strings as ids.
fn insert_record(
    conn: &Connection,
    stmt: &mut rusqlite::Statement<'_>,
    interner: &mut layout::Interner,
    report: i64,
    seq: i64,
    row: &RecordRow,
) -> Result<(), StoreError> {
    let c = |i| row.column(i);
    let mut ids = [None::<i64>; TEXT_COLUMNS];
    for i in INTERNED {
        if let Some(text) = c(i) {
            ids[i] = Some(interner.id(conn, text)?);
        }
    }
    let (key, text) = (row.ipv4.map(i64::from), c(0).unwrap_or(""));
    let ip: &dyn rusqlite::ToSql = match &key {
        Some(key) => key,
        None => &text,
    };
    stmt.execute(params![
        report,
        seq,
        ip,
        // The parser bounds counts (10^12), so this never clamps.
        i64::try_from(row.count).unwrap_or(i64::MAX),
        ids[1],
        ids[2],
        ids[3],
        ids[4],
        ids[5],
        ids[6],
        ids[7],
        ids[8],
        ids[9],
        ids[10],
        ids[11],
        ids[12],
        ids[13],
        ids[14],
        ids[15],
        c(16),
        c(17),
    ])?;
    Ok(())
}

/// Copies the records of schema 7 (`records_v7`, as migration 8 left it)
/// into the compact layout, encoded by the code that encodes an ingest's
/// records, then drops the old table.
pub(super) fn copy_v7_records(conn: &Connection) -> Result<(), StoreError> {
    let mut interner = layout::Interner::default();
    let mut read = conn.prepare(
        "SELECT report, source_ip, count, disposition, dkim, spf, header_from, envelope_from,
             envelope_to, extensions, reasons, dkim_auth, spf_auth
         FROM records_v7 ORDER BY report, id",
    )?;
    let mut insert = conn.prepare(
        "INSERT INTO records (report, seq, ip, count, disposition, dkim, spf, header_from,
             envelope_from, envelope_to, dkim_domain, dkim_selector, dkim_result,
             dkim2_domain, dkim2_selector, dkim2_result, spf_domain, spf_scope, spf_result,
             reasons, more)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,
             ?17, ?18, ?19, ?20, ?21)",
    )?;
    let mut rows = read.query([])?;
    let (mut last_report, mut seq) = (None, 0i64);
    while let Some(row) = rows.next()? {
        let report: i64 = row.get(0)?;
        seq = if last_report == Some(report) { seq + 1 } else { 0 };
        last_report = Some(report);
        let text = |i: usize| -> Result<Option<&str>, StoreError> {
            row.get_ref(i)?.as_str_or_null().map_err(|e| {
                StoreError::Database(format!("stored report #{report}: a record: {e}"))
            })
        };
        // Schema 7's row is the wide row PostgreSQL keeps: the same decoding.
        let record = transfer::RecordColumns {
            report,
            source_ip: text(1)?.unwrap_or(""),
            count: row.get(2)?,
            disposition: text(3)?,
            dkim: text(4)?,
            spf: text(5)?,
            header_from: text(6)?,
            envelope_from: text(7)?,
            envelope_to: text(8)?,
            extensions: text(9)?,
            reasons: text(10)?,
            dkim_auth: text(11)?,
            spf_auth: text(12)?,
        }
        .decode()?;
        insert_record(conn, &mut insert, &mut interner, report, seq, &RecordRow::new(&record))?;
    }
    drop(rows);
    drop(read);
    drop(insert);
    conn.execute_batch("DROP TABLE records_v7")?;
    Ok(())
}

/// A list as a JSON array, or NULL when empty.
fn json_list(items: &[String]) -> Option<String> {
    (!items.is_empty()).then(|| serde_json::to_string(items).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{DkimAuth, DkimResult, DmarcResult};

    #[test]
    fn a_record_row_keeps_empty_text_apart_from_null_and_every_column_in_its_place() {
        let record = Record {
            source_ip: String::new(),
            count: 7,
            dkim: Some(DmarcResult::Fail),
            header_from: Some("example.com".into()),
            envelope_from: Some(String::new()),
            dkim_results: vec![
                DkimAuth {
                    domain: "esp.example".into(),
                    selector: Some("s\"1".into()),
                    result: None,
                    human_result: Some("ok".into()),
                },
                DkimAuth {
                    domain: "example.com".into(),
                    selector: None,
                    result: Some(DkimResult::Pass),
                    human_result: None,
                },
            ],
            ..Record::default()
        };
        let row = RecordRow::new(&record);
        let columns: Vec<Option<&str>> = (0..TEXT_COLUMNS).map(|i| row.column(i)).collect();
        assert_eq!(
            columns,
            [
                Some(""),
                None,
                Some("fail"),
                None,
                Some("example.com"),
                Some(""),
                None,
                Some("esp.example"),
                Some("s\"1"),
                None,
                Some("example.com"),
                None,
                Some("pass"),
                None,
                None,
                None,
                None,
                Some(r#"{"dkim_human_result":"ok"}"#),
                Some("example.com"),
                Some(""),
                Some(""),
            ]
        );
        assert_eq!(row.ipv4, None);
        assert_eq!(
            RecordRow::new(&Record { source_ip: "192.0.2.1".into(), ..Record::default() }).ipv4,
            Some(-1_073_741_311)
        );
        assert_eq!(row.count(), 7);
    }

    #[test]
    fn the_wide_row_of_postgresql_keeps_every_auth_result_in_order_with_its_human_result() {
        use crate::model::{SpfAuth, SpfResult, SpfScope};
        let dkim = |d: &str, human: Option<&str>| DkimAuth {
            domain: d.into(),
            selector: Some("s".into()),
            result: Some(DkimResult::Pass),
            human_result: human.map(Into::into),
        };
        let record = Record {
            source_ip: "2001:db8::1".into(),
            count: 2,
            dkim_results: vec![
                dkim("a.example", None),
                dkim("b.example", Some("h2")),
                dkim("c.example", Some("h3")),
            ],
            spf_results: vec![
                SpfAuth {
                    domain: "a.example".into(),
                    scope: Some(SpfScope::MailFrom),
                    result: Some(SpfResult::Fail),
                    human_result: Some("h".into()),
                },
                SpfAuth {
                    domain: "b.example".into(),
                    scope: None,
                    result: None,
                    human_result: None,
                },
            ],
            extensions: vec!["<x:e>1</x:e>".into()],
            ..Record::default()
        };
        let row = RecordRow::new(&record);
        let wide = row.wide_columns();
        let json = |i: usize| -> serde_json::Value {
            serde_json::from_str(wide[i].as_deref().unwrap()).unwrap()
        };
        assert_eq!(wide[0].as_deref(), Some("2001:db8::1"));
        assert_eq!(json(7), serde_json::json!(["<x:e>1</x:e>"]));
        assert_eq!(wide[8], None);
        assert_eq!(
            json(9),
            serde_json::json!([
                {"domain": "a.example", "selector": "s", "result": "pass"},
                {"domain": "b.example", "selector": "s", "result": "pass", "human_result": "h2"},
                {"domain": "c.example", "selector": "s", "result": "pass", "human_result": "h3"},
            ])
        );
        assert_eq!(
            json(10),
            serde_json::json!([
                {"domain": "a.example", "scope": "mfrom", "result": "fail", "human_result": "h"},
                {"domain": "b.example"},
            ])
        );
        assert_eq!(row.rollup_lists(), ["a.example\u{1f}b.example\u{1f}c.example", "", ""]);
    }
}
