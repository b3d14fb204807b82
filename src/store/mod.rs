//! SQLite storage: one file, WAL mode, schema applied as numbered
//! migrations from `schemas/migrations/`.
//!
//! Inserts are idempotent: a report is identified by (org_name, policy
//! domain, report_id, begin, end) and a second copy stores nothing. Every
//! stored report keeps its raw XML (see [`raw`]); every input that failed is
//! kept with its bytes in `failed_inputs`.
//!
//! Transactions are explicit: the caller opens a batch with [`Store::begin`],
//! wraps each report in a savepoint so that a report broken half-way leaves
//! nothing behind, and commits. A killed process leaves the database as of
//! the last commit.

mod migrations;
pub mod overview;
pub mod raw;
pub mod snapshot;

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};
use sha2::{Digest, Sha256};

use crate::model::{Record, ReportHeader};

/// A storage failure. These stop the run: the database is unusable.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite said no.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
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
        /// The cause, in SQLite's words.
        reason: String,
    },
    /// A directory for the database could not be created.
    #[error("cannot create the directory {path}: {source}")]
    CreateDir {
        /// The directory.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
}

/// An input that could not be stored.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FailedInput {
    /// Row id, for `--retry-failed` and `errors`.
    pub id: i64,
    /// File path or message it came from.
    pub name: String,
    /// The error.
    pub error: String,
    /// When it first failed (Unix seconds).
    pub first_seen: i64,
    /// When it last failed (Unix seconds).
    pub last_seen: i64,
    /// How many times it was tried.
    pub attempts: i64,
    /// Bytes kept (0 when it was too large to keep).
    pub size: i64,
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

/// Inserts the records of one report with a statement prepared once (the
/// hot path of ingest). A record's reasons and auth results go into its own
/// row as JSON arrays (migration 4 says why).
pub struct RecordInserter<'c> {
    record: rusqlite::CachedStatement<'c>,
}

/// A reason as stored in `records.reasons`.
#[derive(serde::Serialize)]
struct ReasonJson<'a> {
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    comment: Option<&'a str>,
}

/// A DKIM or SPF result as stored in `records.dkim_auth` / `spf_auth`.
#[derive(serde::Serialize)]
struct AuthJson<'a> {
    domain: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    selector: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    result: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    human_result: Option<&'a str>,
}

/// The text columns of a record's row, in the order of the `INSERT`:
/// 0 source_ip, 1 disposition, 2 dkim, 3 spf, 4 header_from,
/// 5 envelope_from, 6 envelope_to, 7 extensions, 8 reasons, 9 dkim_auth,
/// 10 spf_auth.
const TEXT_COLUMNS: usize = 11;

/// A record in the form its row is written: every text column in one
/// buffer, the lists already encoded as JSON. The parsing side builds it
/// (on the worker threads, next to the record it was read into), so the
/// thread that writes only binds, and frees one allocation per record.
pub struct RecordRow {
    /// The text columns, one after another (see [`TEXT_COLUMNS`]).
    text: String,
    /// Where each column ends in `text`.
    ends: [u32; TEXT_COLUMNS],
    /// Bit `i` set: column `i` is NULL.
    nulls: u16,
    count: u64,
}

impl RecordRow {
    /// Encodes `r`.
    pub fn new(r: &Record) -> RecordRow {
        let mut row = RowBuilder {
            text: Vec::with_capacity(256),
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
        row.json(r.extensions.iter());
        row.json(r.reasons.iter().map(|x| ReasonJson {
            kind: x.kind.as_ref().map(|k| k.as_str()),
            comment: x.comment.as_deref(),
        }));
        row.json(r.dkim_results.iter().map(|a| AuthJson {
            domain: &a.domain,
            selector: a.selector.as_deref(),
            scope: None,
            result: a.result.as_ref().map(|v| v.as_str()),
            human_result: a.human_result.as_deref(),
        }));
        row.json(r.spf_results.iter().map(|a| AuthJson {
            domain: &a.domain,
            selector: None,
            scope: a.scope.as_ref().map(|v| v.as_str()),
            result: a.result.as_ref().map(|v| v.as_str()),
            human_result: a.human_result.as_deref(),
        }));
        debug_assert_eq!(row.column, TEXT_COLUMNS);
        // Every piece came from a `str` or from serde_json, which writes
        // UTF-8, so this never fails; the check is cheap next to a row.
        let text = String::from_utf8(row.text)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
        RecordRow { text, ends: row.ends, nulls: row.nulls, count: r.count }
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
    nulls: u16,
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

    /// `items` as a JSON array; NULL when there are none.
    fn json<T: serde::Serialize>(&mut self, items: impl ExactSizeIterator<Item = T>) {
        let empty = items.len() == 0;
        if !empty {
            let mut ser = serde_json::Serializer::new(&mut self.text);
            // Serialising strings and options into memory cannot fail.
            let _ = serde::Serializer::collect_seq(&mut ser, items);
        }
        self.end_column(empty);
    }
}

impl RecordInserter<'_> {
    /// Inserts one record of report `report` with its reasons and auth results.
    pub fn insert(&mut self, report: i64, r: &Record) -> Result<(), StoreError> {
        self.insert_row(report, &RecordRow::new(r))
    }

    /// Inserts one record already encoded as a row.
    pub fn insert_row(&mut self, report: i64, row: &RecordRow) -> Result<(), StoreError> {
        let c = |i| row.column(i);
        self.record.execute(params![
            report,
            c(0).unwrap_or(""),
            // The parser bounds counts (10^12), so this never clamps.
            i64::try_from(row.count).unwrap_or(i64::MAX),
            c(1),
            c(2),
            c(3),
            c(4),
            c(5),
            c(6),
            c(7),
            c(8),
            c(9),
            c(10),
        ])?;
        Ok(())
    }
}

/// What is known about a report only after its last record.
#[derive(Debug, Clone, Default)]
pub struct ReportTail {
    /// Number of records.
    pub records: u64,
    /// Sum of their counts.
    pub messages: u64,
    /// Parser warnings.
    pub warnings: Vec<String>,
    /// All report-level extensions, when some came after the records.
    pub extensions: Vec<String>,
}

/// The database.
pub struct Store {
    conn: Connection,
}

impl Store {
    /// Opens (creating if needed) the database at `path` and migrates it.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
                path: dir.display().to_string(),
                source,
            })?;
        }
        let open_error = |e: rusqlite::Error| StoreError::Open {
            path: path.display().to_string(),
            reason: match &e {
                _ if path.is_dir() => "it is a directory".to_owned(),
                rusqlite::Error::SqliteFailure(_, Some(message)) => message.clone(),
                rusqlite::Error::SqliteFailure(code, None) => code.to_string(),
                other => other.to_string(),
            },
        };
        let conn = Connection::open(path).map_err(open_error)?;
        Self::setup(conn).map_err(|e| match e {
            StoreError::Sqlite(source) => open_error(source),
            other => other,
        })
    }

    /// An in-memory database (tests, benchmarks).
    pub fn open_in_memory() -> Result<Store, StoreError> {
        Self::setup(Connection::open_in_memory()?)
    }

    fn setup(conn: Connection) -> Result<Store, StoreError> {
        conn.busy_timeout(std::time::Duration::from_secs(30))?;
        // WAL: readers do not block the writer; NORMAL sync is durable at
        // every checkpoint and never corrupts on power loss in WAL mode.
        let _mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        conn.execute_batch(
            "PRAGMA synchronous = NORMAL;
             PRAGMA foreign_keys = ON;
             PRAGMA cache_size = -8000;",
        )?;
        conn.set_prepared_statement_cache_capacity(32);
        migrations::apply(&conn)?;
        Ok(Store { conn })
    }

    /// The underlying connection, for queries.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// The database file, when it is one (not in memory).
    pub fn path(&self) -> Option<&Path> {
        self.conn.path().filter(|p| !p.is_empty()).map(Path::new)
    }

    /// The schema version (number of applied migrations).
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        Ok(self.conn.query_row("PRAGMA user_version", [], |r| r.get(0))?)
    }

    /// Starts a batch transaction (takes the write lock now, not later).
    pub fn begin(&self) -> Result<(), StoreError> {
        self.conn.execute_batch("BEGIN IMMEDIATE")?;
        Ok(())
    }

    /// Commits the batch.
    pub fn commit(&self) -> Result<(), StoreError> {
        self.conn.execute_batch("COMMIT")?;
        Ok(())
    }

    /// Whether a transaction is open.
    pub fn in_transaction(&self) -> bool {
        !self.conn.is_autocommit()
    }

    /// Marks the start of one report's rows.
    pub fn savepoint(&self) -> Result<(), StoreError> {
        self.conn.execute_batch("SAVEPOINT report")?;
        Ok(())
    }

    /// Keeps the rows since the savepoint.
    pub fn release(&self) -> Result<(), StoreError> {
        self.conn.execute_batch("RELEASE report")?;
        Ok(())
    }

    /// Discards the rows since the savepoint.
    pub fn rollback_savepoint(&self) -> Result<(), StoreError> {
        self.conn.execute_batch("ROLLBACK TO report; RELEASE report")?;
        Ok(())
    }

    /// Inserts a report's header; `None` when the report is already stored.
    pub fn insert_report(
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

    /// Completes a report once its records and raw pieces are in: totals,
    /// warnings, report-level extensions found after the records, and what
    /// is needed to parse its raw copy again.
    pub fn finish_report(
        &self,
        report: i64,
        done: &ReportTail,
        raw: &RawMeta,
        raw_size: u64,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE reports SET record_count = ?2, message_count = ?3, warnings = ?4,
                 extensions = COALESCE(?5, extensions) WHERE id = ?1",
            params![
                report,
                i64::try_from(done.records).unwrap_or(i64::MAX),
                i64::try_from(done.messages).unwrap_or(i64::MAX),
                json_list(&done.warnings),
                json_list(&done.extensions),
            ],
        )?;
        self.conn.execute(
            "INSERT INTO report_raw (report, compression, file_name, known_utf8, size)
             VALUES (?1, 'gzip', ?2, ?3, ?4)",
            params![
                report,
                raw.file_name,
                raw.known_utf8,
                i64::try_from(raw_size).unwrap_or(i64::MAX)
            ],
        )?;
        Ok(())
    }

    /// Stores the next piece of a report's raw gzip stream.
    pub fn insert_raw_chunk(&self, report: i64, seq: i64, data: &[u8]) -> Result<(), StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "INSERT INTO report_raw_chunks (report, seq, data) VALUES (?1, ?2, ?3)",
        )?;
        stmt.execute(params![report, seq, data])?;
        Ok(())
    }

    /// Prepares the statement that inserts records, once per report.
    pub fn record_inserter(&self) -> Result<RecordInserter<'_>, StoreError> {
        Ok(RecordInserter {
            record: self.conn.prepare_cached(
                "INSERT INTO records (report, source_ip, count, disposition, dkim, spf,
                     header_from, envelope_from, envelope_to, extensions, reasons, dkim_auth,
                     spf_auth)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            )?,
        })
    }

    /// Keeps an input that failed, with its bytes (`None` when too large to
    /// keep). The same bytes failing again update the existing row.
    pub fn record_failure(
        &self,
        name: &str,
        data: Option<&[u8]>,
        error: &str,
        now: i64,
    ) -> Result<i64, StoreError> {
        let sha = data.map(|d| Sha256::digest(d).to_vec());
        if let Some(sha) = &sha {
            let existing: Option<i64> = self
                .conn
                .query_row("SELECT id FROM failed_inputs WHERE sha256 = ?1", [sha], |r| r.get(0))
                .optional()?;
            if let Some(id) = existing {
                self.conn.execute(
                    "UPDATE failed_inputs SET error = ?2, last_seen = ?3, attempts = attempts + 1,
                         name = ?4 WHERE id = ?1",
                    params![id, error, now, name],
                )?;
                return Ok(id);
            }
        }
        self.conn.execute(
            "INSERT INTO failed_inputs (name, sha256, data, error, first_seen, last_seen)
             VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
            params![name, sha, data, error, now],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Forgets a failed input (it was stored after all).
    pub fn delete_failure(&self, id: i64) -> Result<(), StoreError> {
        self.conn.execute("DELETE FROM failed_inputs WHERE id = ?1", [id])?;
        Ok(())
    }

    /// Forgets the failures of an input that has now been read in full.
    pub fn delete_failures_named(&self, name: &str) -> Result<(), StoreError> {
        self.conn.execute("DELETE FROM failed_inputs WHERE name = ?1", [name])?;
        Ok(())
    }

    /// Every failed input, oldest first.
    pub fn failures(&self) -> Result<Vec<FailedInput>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT id, name, error, first_seen, last_seen, attempts, COALESCE(length(data), 0)
             FROM failed_inputs ORDER BY id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(FailedInput {
                id: r.get(0)?,
                name: r.get(1)?,
                error: r.get(2)?,
                first_seen: r.get(3)?,
                last_seen: r.get(4)?,
                attempts: r.get(5)?,
                size: r.get(6)?,
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

    /// Deletes a report and everything that belongs to it.
    pub fn delete_report(&self, id: i64) -> Result<(), StoreError> {
        self.conn.execute("DELETE FROM reports WHERE id = ?1", [id])?;
        Ok(())
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

impl Store {
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

/// A list as a JSON array, or NULL when empty.
fn json_list(items: &[String]) -> Option<String> {
    (!items.is_empty()).then(|| serde_json::to_string(items).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{DkimAuth, DmarcResult};

    #[test]
    fn a_record_row_keeps_empty_text_apart_from_null_and_every_column_in_its_place() {
        let record = Record {
            source_ip: String::new(),
            count: 7,
            dkim: Some(DmarcResult::Fail),
            header_from: Some("example.com".into()),
            envelope_from: Some(String::new()),
            dkim_results: vec![DkimAuth {
                domain: "esp.example".into(),
                selector: Some("s\"1".into()),
                result: None,
                human_result: None,
            }],
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
                None,
                None,
                Some(r#"[{"domain":"esp.example","selector":"s\"1"}]"#),
                None,
            ]
        );
        assert_eq!(row.count(), 7);
    }
}
