//! The PostgreSQL backend: the same operations as the SQLite store, for a
//! database that several `ingest` and `fetch` workers, on several hosts,
//! write at once.
//!
//! How it stays correct with many writers:
//! - A report is inserted with `ON CONFLICT DO NOTHING` on its unique key:
//!   two workers storing the same report at once meet there, the second
//!   waits for the first to commit and then stores nothing. There is no
//!   read-then-write.
//! - The caller's batch (`begin` .. `commit`) is one transaction, as in
//!   SQLite: a killed worker leaves nothing of the batch it was writing,
//!   and the next run stores it. Inside it, a report that is abandoned
//!   (broken half-way) is deleted again, its rows with it.
//! - A worker never waits for another while it holds anything: before it
//!   stores a report it takes a transaction advisory lock on the report's
//!   key without waiting. When another worker holds that lock (it is
//!   storing the same report right now), this worker commits its batch
//!   first and only then waits for the lock, so two workers reading the
//!   same reports in different orders never deadlock.
//! - Rollup additions are gathered for the whole transaction and written
//!   just before it commits, rows in key order (see [`rollup`]), so
//!   workers take those row locks in one order and hold them only briefly.
//! - Statements are prepared once per connection, and a report is written
//!   with two of them (its row; then its records, raw copy and totals).
//! - `fetch` locks each account's folder with a session advisory lock
//!   ([`PgStore::lock_folder`]): a second worker skips the folder, and a
//!   crashed worker's lock goes with its connection.
//! - Migrations are applied once, under an advisory lock, and recorded in
//!   `dmarc_report_migrations`.

mod connect;
mod reads;
mod rollup;
mod transfer;

pub use connect::{Target, redact};

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};

use postgres::types::ToSql;
use postgres::{Client, Row, Statement};
use sha2::{Digest, Sha256};

use super::checks::{RecordCheck, StoredFinding};
use super::dismiss::kind_named;
use super::notify::{FactChange, NewEvent, NotifyFact, StoredEvent};
use super::overview::StoredByReporter;
use super::rollup::RecordKeys;
use super::{
    FailedInput, MessageOutcome, RawMeta, RecordRow, RecordedFailure, ReportTail, StoreError,
    json_list,
};
use crate::model::{FailureKind, ReportHeader};

/// The migrations, in order; migration `i` (1-based) moves the schema from
/// version `i - 1` to `i`.
const MIGRATIONS: &[&str] = &[
    include_str!("../../../schemas/postgres/0001_initial.sql"),
    include_str!("../../../schemas/postgres/0002_views.sql"),
    SUBDOMAIN_SPLIT,
    STREAMS,
    include_str!("../../../schemas/postgres/0005_failed_kinds.sql"),
];

/// The migration that adds the subdomain part of each source's day to the
/// rollups, which the program then fills by rebuilding them.
const SUBDOMAIN_SPLIT: &str =
    include_str!("../../../schemas/postgres/0003_source_days_from_split.sql");

/// The migration that adds the streams of each source's day, which the
/// program then fills by rebuilding the rollups.
const STREAMS: &str = include_str!("../../../schemas/postgres/0004_stream_days.sql");

/// The schema version this build creates.
pub const LATEST: i64 = MIGRATIONS.len() as i64;

/// The advisory lock key under which migrations run (any fixed number;
/// "dmarc-re" in ASCII).
const MIGRATION_LOCK: i64 = 0x646d_6172_632d_7265;

/// The advisory lock key of `notify` ("dmarc-no").
const NOTIFY_LOCK: i64 = 0x646d_6172_632d_6e6f;

/// A database error in plain words: the server's message when it sent one.
fn describe(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => match db.detail() {
            Some(detail) => format!("{} ({detail})", db.message()),
            None => db.message().to_owned(),
        },
        None => {
            let mut text = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(s) = source {
                let more = s.to_string();
                if !text.contains(&more) {
                    text.push_str(": ");
                    text.push_str(&more);
                }
                source = s.source();
            }
            text
        }
    }
}

impl From<postgres::Error> for StoreError {
    fn from(e: postgres::Error) -> Self {
        StoreError::Database(describe(&e))
    }
}

/// An advisory lock key for a name (the first 8 bytes of its SHA-256).
fn lock_key(parts: &[&str]) -> i64 {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    let d = h.finalize();
    i64::from_be_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]])
}

/// The advisory lock key of a report's identity.
fn report_key(h: &ReportHeader) -> i64 {
    lock_key(&[
        "report",
        &h.org_name,
        &h.policy.domain,
        &h.report_id,
        &h.begin.to_string(),
        &h.end.to_string(),
    ])
}

fn count(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// The statement that stores a whole report (see
/// [`PgStore::store_report`]): the advisory lock of its identity
/// (`$lock`, filtered by `$filter`), its row, records, raw copy and the raw
/// copy's row; returns whether the lock was had and the new id (NULL when
/// the report is stored already).
macro_rules! whole_report {
    ($lock:literal, $filter:literal, $got:literal) => {
        concat!(
            "WITH held AS (SELECT ",
            $lock,
            "),
             new AS (
                 INSERT INTO reports (org_name, policy_domain, report_id, begin_ts, end_ts,
                     schema, version, email, extra_contact_info, generator, errors, adkim, aspf,
                     p, sp, np, pct, fo, testing, discovery_method, extensions, source,
                     ingested_at, warnings, record_count, message_count)
                 SELECT $1::text, $2::text, $3::text, $4::int8, $5::int8, $6::text, $7::text,
                     $8::text, $9::text, $10::text, $11::text, $12::text, $13::text, $14::text,
                     $15::text, $16::text, $17::int8, $18::text, $19::text, $20::text,
                     $21::text, $22::text, $23::int8, $25::text, $26::int8, $27::int8
                 FROM held ",
            $filter,
            "
                 ON CONFLICT DO NOTHING RETURNING id),
             new_records AS (
                 INSERT INTO records (report, source_ip, count, disposition, dkim, spf,
                     header_from, envelope_from, envelope_to, extensions, reasons, dkim_auth,
                     spf_auth)
                 SELECT new.id, u.ip, u.n, u.d, u.k, u.s, u.hf, u.ef, u.et, u.x, u.r::json,
                        u.da::json, u.sa::json
                 FROM new, unnest($28::text[], $29::int8[], $30::text[], $31::text[],
                                  $32::text[], $33::text[], $34::text[], $35::text[],
                                  $36::text[], $37::text[], $38::text[], $39::text[])
                      WITH ORDINALITY AS u(ip, n, d, k, s, hf, ef, et, x, r, da, sa, o)
                 ORDER BY u.o),
             new_chunks AS (
                 INSERT INTO report_raw_chunks (report, seq, data)
                 SELECT new.id, (u.o - 1)::int4, u.d
                 FROM new, unnest($40::bytea[]) WITH ORDINALITY AS u(d, o)),
             new_raw AS (
                 INSERT INTO report_raw (report, compression, file_name, known_utf8, size)
                 SELECT new.id, 'gzip', $41::text, $42::bool, $43::int8 FROM new)
             SELECT (SELECT ",
            $got,
            " FROM held), (SELECT id FROM new)"
        )
    };
}

/// Rollup rows gathered in a batch before it is committed early (bounds
/// its memory and the time its rollup locks are held).
const ADDITIONS_AT: usize = 50_000;

/// An open PostgreSQL database.
pub struct PgStore {
    client: RefCell<Client>,
    target: Target,
    /// Open transaction levels: 0 none, 1 a transaction, more savepoints.
    depth: Cell<u32>,
    /// The caller's batch is open (see the module's documentation).
    batch: Cell<bool>,
    /// Level 1 is the batch's transaction (opened by its first report).
    batch_tx: Cell<bool>,
    /// Statements prepared on this connection.
    statements: RefCell<rollup::Statements>,
    /// The batch's rollup additions, written just before it commits.
    additions: RefCell<rollup::Additions>,
    /// Inputs read in full in this batch, whose failures go at its commit.
    cleared: RefCell<Vec<String>>,
}

impl PgStore {
    /// Connects and migrates.
    pub fn open(target: Target) -> Result<PgStore, StoreError> {
        let mut client = target.connect()?;
        migrate(&mut client).map_err(|e| match e {
            StoreError::Database(reason) => {
                StoreError::Open { path: target.display.clone(), reason }
            }
            other => other,
        })?;
        Ok(PgStore::new(client, target))
    }

    fn new(client: Client, target: Target) -> PgStore {
        PgStore {
            client: RefCell::new(client),
            target,
            depth: Cell::new(0),
            batch: Cell::new(false),
            batch_tx: Cell::new(false),
            statements: RefCell::new(rollup::Statements::new()),
            additions: RefCell::new(rollup::Additions::default()),
            cleared: RefCell::new(Vec::new()),
        }
    }

    /// A second connection to the same database (already migrated).
    pub fn reader(&self) -> Result<PgStore, StoreError> {
        let client = self.target.connect()?;
        Ok(PgStore::new(client, self.target.clone()))
    }

    /// The URL of the database, without parameters.
    pub fn display(&self) -> &str {
        &self.target.display
    }

    fn c(&self) -> std::cell::RefMut<'_, Client> {
        self.client.borrow_mut()
    }

    fn exec(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64, StoreError> {
        Ok(self.c().execute(sql, params)?)
    }

    fn batch_sql(&self, sql: &str) -> Result<(), StoreError> {
        Ok(self.c().batch_execute(sql)?)
    }

    /// A statement prepared once on this connection.
    fn statement(&self, sql: &'static str) -> Result<Statement, StoreError> {
        if let Some(s) = self.statements.borrow().get(sql) {
            return Ok(s.clone());
        }
        let s = self.c().prepare(sql)?;
        self.statements.borrow_mut().insert(sql, s.clone());
        Ok(s)
    }

    /// Runs a prepared statement; the number of rows it changed.
    fn run(&self, sql: &'static str, params: &[&(dyn ToSql + Sync)]) -> Result<u64, StoreError> {
        let s = self.statement(sql)?;
        Ok(self.c().execute(&s, params)?)
    }

    /// Runs a prepared statement; the rows it returned.
    fn rows(
        &self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, StoreError> {
        let s = self.statement(sql)?;
        Ok(self.c().query(&s, params)?)
    }

    /// Whether the next report goes into the batch's transaction (opened
    /// now if needed), rather than into a transaction of its own.
    fn in_batch(&self) -> Result<bool, StoreError> {
        if !self.batch.get() {
            return Ok(false);
        }
        match self.depth.get() {
            0 => {
                self.push()?;
                self.batch_tx.set(true);
                Ok(true)
            }
            1 => Ok(self.batch_tx.get()),
            _ => Ok(false),
        }
    }

    /// Writes what the batch's transaction holds back (rollup additions,
    /// failures of inputs read in full), in it.
    fn write_pending(&self) -> Result<(), StoreError> {
        self.clear_failures()?;
        let mut additions = self.additions.borrow_mut();
        let mut statements = self.statements.borrow_mut();
        additions.flush(&mut *self.c(), &mut statements)
    }

    /// Forgets, in the open transaction, the failures of the inputs read in
    /// full so far, locking their rows in id order.
    fn clear_failures(&self) -> Result<(), StoreError> {
        let names = std::mem::take(&mut *self.cleared.borrow_mut());
        if !names.is_empty() {
            self.run(
                "DELETE FROM failed_inputs WHERE id IN (
                     SELECT id FROM failed_inputs WHERE name = ANY($1) ORDER BY id FOR UPDATE)",
                &[&names],
            )?;
        }
        Ok(())
    }

    /// Commits the batch's transaction, if open, with what it holds back;
    /// the batch goes on (its next report opens another). On failure the
    /// transaction is rolled back.
    fn commit_batch(&self) -> Result<(), StoreError> {
        if !self.batch_tx.get() {
            return Ok(());
        }
        while self.depth.get() > 1 {
            if let Err(e) = self.pop(true) {
                self.rollback_batch();
                return Err(e);
            }
        }
        if let Err(e) = self.write_pending() {
            self.rollback_batch();
            return Err(e);
        }
        self.batch_tx.set(false);
        self.pop(true)
    }

    /// Drops the batch's transaction and what it held back.
    fn rollback_batch(&self) {
        *self.additions.borrow_mut() = rollup::Additions::default();
        self.cleared.borrow_mut().clear();
        self.batch_tx.set(false);
        while self.depth.get() > 0 {
            let _ = self.pop(false);
        }
    }

    /// Opens a transaction, or a savepoint inside the open one.
    fn push(&self) -> Result<(), StoreError> {
        let depth = self.depth.get();
        if depth == 0 {
            self.batch_sql("BEGIN")?;
        } else {
            self.batch_sql(&format!("SAVEPOINT level_{depth}"))?;
        }
        self.depth.set(depth + 1);
        Ok(())
    }

    /// Closes the innermost level, keeping or undoing what it did.
    fn pop(&self, keep: bool) -> Result<(), StoreError> {
        let depth = self.depth.get();
        if depth == 0 {
            return Ok(());
        }
        self.depth.set(depth - 1);
        let level = depth - 1;
        match (level, keep) {
            (0, true) => self.batch_sql("COMMIT"),
            (0, false) => self.batch_sql("ROLLBACK"),
            (l, true) => self.batch_sql(&format!("RELEASE SAVEPOINT level_{l}")),
            (l, false) => self.batch_sql(&format!(
                "ROLLBACK TO SAVEPOINT level_{l}; RELEASE SAVEPOINT level_{l}"
            )),
        }
    }

    /// Runs `f` in a transaction (or a savepoint): all of it or nothing.
    fn atomically<T>(&self, f: impl FnOnce() -> Result<T, StoreError>) -> Result<T, StoreError> {
        self.push()?;
        match f() {
            Ok(v) => {
                self.pop(true)?;
                Ok(v)
            }
            Err(e) => {
                let _ = self.pop(false);
                Err(e)
            }
        }
    }

    /// Benchmarks: commits that do not wait for the disk (a crash of the
    /// server may lose the last commits, never corrupts).
    pub fn set_bulk_load(&self, on: bool) -> Result<(), StoreError> {
        self.batch_sql(if on {
            "SET synchronous_commit = off"
        } else {
            "SET synchronous_commit = on"
        })
    }

    /// The schema version (number of applied migrations).
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        let row = self.c().query_one(
            "SELECT COALESCE(max(version), 0)::int8 FROM dmarc_report_migrations",
            &[],
        )?;
        Ok(row.get(0))
    }

    /// Starts a batch: one transaction, opened by its first report.
    pub fn begin(&self) -> Result<(), StoreError> {
        self.batch.set(true);
        Ok(())
    }

    /// Commits the batch.
    pub fn commit(&self) -> Result<(), StoreError> {
        self.commit_batch()?;
        self.batch.set(false);
        while self.depth.get() > 0 {
            self.pop(true)?;
        }
        Ok(())
    }

    /// Whether a batch is open.
    pub fn in_transaction(&self) -> bool {
        self.batch.get() || self.depth.get() > 0
    }

    /// Starts storing a report: in the batch's transaction when a batch is
    /// open, else in a transaction (or savepoint) of its own. `None` when
    /// it is stored already (by this worker or another).
    pub fn start_report(
        &self,
        h: &ReportHeader,
        source: &str,
        now: i64,
    ) -> Result<Option<PgWriter<'_>>, StoreError> {
        let key = report_key(h);
        let in_batch = self.in_batch()?;
        let report = if in_batch {
            match self.insert_report(h, source, now, key, false)? {
                Inserted::Busy => {
                    // Another worker is storing this report now: commit
                    // ours before waiting for it, so that neither waits
                    // on the other.
                    self.commit_batch()?;
                    self.in_batch()?;
                    self.insert_report(h, source, now, key, true)?
                }
                done => done,
            }
        } else {
            self.push()?;
            match self.insert_report(h, source, now, key, true) {
                Ok(done) => done,
                Err(e) => {
                    let _ = self.pop(false);
                    return Err(e);
                }
            }
        };
        let report = match report {
            Inserted::New(id) => id,
            _ => {
                if !in_batch {
                    self.pop(true)?;
                }
                return Ok(None);
            }
        };
        Ok(Some(PgWriter {
            store: self,
            open: true,
            in_batch,
            savepoint: false,
            report,
            rollup: rollup::Rollup::new(&h.policy.domain, h.begin, h.end),
            records: 0,
            messages: 0,
            seq: 0,
            raw_size: 0,
            buffer: RecordBuffer::default(),
            chunks: Vec::new(),
            chunk_bytes: 0,
        }))
    }

    /// Stores a report read in full (see
    /// [`crate::store::Store::store_report`]); in a batch, with one
    /// statement. `None` when it is stored already.
    #[allow(clippy::too_many_arguments)]
    pub fn store_report(
        &self,
        h: &ReportHeader,
        source: &str,
        now: i64,
        rows: &[RecordRow],
        raw: &[Vec<u8>],
        meta: &RawMeta,
        tail: &ReportTail,
    ) -> Result<Option<u64>, StoreError> {
        if rows.len() > RECORDS_AT || !self.in_batch()? {
            let Some(mut writer) = self.start_report(h, source, now)? else { return Ok(None) };
            writer.rows(rows)?;
            for piece in raw {
                writer.raw_chunk(piece)?;
            }
            return writer.finish(tail, meta).map(Some);
        }
        let key = report_key(h);
        let mut buffer = RecordBuffer::default();
        let mut rollup = rollup::Rollup::new(&h.policy.domain, h.begin, h.end);
        let mut messages = 0u64;
        for row in rows {
            buffer.push(row);
            // At most RECORDS_AT records: never full.
            rollup.add(&record_keys(row));
            messages = messages.saturating_add(row.count);
        }
        let raw_size: usize = raw.iter().map(Vec::len).sum();
        let p = &h.policy;
        let text = |v: Option<&str>| v.map(str::to_owned);
        let extensions = json_list(&tail.extensions).or_else(|| json_list(&h.extensions));
        let c = &buffer.columns;
        let params: [&(dyn ToSql + Sync); 43] = [
            &h.org_name,
            &p.domain,
            &h.report_id,
            &h.begin,
            &h.end,
            &h.schema.as_str(),
            &h.version,
            &h.email,
            &h.extra_contact_info,
            &h.generator,
            &json_list(&h.errors),
            &text(p.adkim.as_ref().map(|v| v.as_str())),
            &text(p.aspf.as_ref().map(|v| v.as_str())),
            &text(p.p.as_ref().map(|v| v.as_str())),
            &text(p.sp.as_ref().map(|v| v.as_str())),
            &text(p.np.as_ref().map(|v| v.as_str())),
            &p.pct.map(i64::from),
            &p.fo,
            &p.testing,
            &p.discovery_method,
            &extensions,
            &source,
            &now,
            &key,
            &json_list(&tail.warnings),
            &count(rows.len() as u64),
            &count(messages),
            &c[0],
            &buffer.counts,
            &c[1],
            &c[2],
            &c[3],
            &c[4],
            &c[5],
            &c[6],
            &c[7],
            &c[8],
            &c[9],
            &c[10],
            &raw,
            &meta.file_name,
            &meta.known_utf8,
            &count(raw_size as u64),
        ];
        let mut rows_back = self.rows(
            whole_report!("pg_try_advisory_xact_lock($24) AS got", "WHERE got", "got"),
            &params,
        )?;
        if rows_back.first().is_some_and(|r| !r.get::<_, bool>(0)) {
            // Another worker is storing this report now: commit ours
            // before waiting for it, so that neither waits on the other.
            self.commit_batch()?;
            self.in_batch()?;
            rows_back =
                self.rows(whole_report!("pg_advisory_xact_lock($24)", "", "true"), &params)?;
        }
        let row = rows_back
            .first()
            .ok_or_else(|| StoreError::Database("storing a report returned nothing".to_owned()))?;
        if row.get::<_, Option<i64>>(1).is_none() {
            return Ok(None);
        }
        let held = {
            let mut additions = self.additions.borrow_mut();
            additions.absorb(&mut rollup);
            additions.len()
        };
        if held >= ADDITIONS_AT {
            self.commit_batch()?;
        }
        Ok(Some(rows.len() as u64))
    }

    /// Inserts a report's row under the transaction advisory lock `key`:
    /// waiting for the lock when `wait`, else [`Inserted::Busy`] when
    /// another transaction holds it.
    fn insert_report(
        &self,
        h: &ReportHeader,
        source: &str,
        now: i64,
        key: i64,
        wait: bool,
    ) -> Result<Inserted, StoreError> {
        let p = &h.policy;
        let text = |v: Option<&str>| v.map(str::to_owned);
        let params: [&(dyn ToSql + Sync); 24] = [
            &h.org_name,
            &p.domain,
            &h.report_id,
            &h.begin,
            &h.end,
            &h.schema.as_str(),
            &h.version,
            &h.email,
            &h.extra_contact_info,
            &h.generator,
            &json_list(&h.errors),
            &text(p.adkim.as_ref().map(|v| v.as_str())),
            &text(p.aspf.as_ref().map(|v| v.as_str())),
            &text(p.p.as_ref().map(|v| v.as_str())),
            &text(p.sp.as_ref().map(|v| v.as_str())),
            &text(p.np.as_ref().map(|v| v.as_str())),
            &p.pct.map(i64::from),
            &p.fo,
            &p.testing,
            &p.discovery_method,
            &json_list(&h.extensions),
            &source,
            &now,
            &key,
        ];
        let rows = if wait {
            self.rows(
                "WITH held AS (SELECT pg_advisory_xact_lock($24)),
                 new AS (
                     INSERT INTO reports (org_name, policy_domain, report_id, begin_ts, end_ts,
                         schema, version, email, extra_contact_info, generator, errors, adkim,
                         aspf, p, sp, np, pct, fo, testing, discovery_method, extensions, source,
                         ingested_at)
                     SELECT $1::text, $2::text, $3::text, $4::int8, $5::int8, $6::text, $7::text,
                         $8::text, $9::text, $10::text, $11::text, $12::text, $13::text, $14::text,
                         $15::text, $16::text, $17::int8, $18::text, $19::text, $20::text,
                         $21::text, $22::text, $23::int8 FROM held
                     ON CONFLICT DO NOTHING RETURNING id)
                 SELECT true, (SELECT id FROM new)",
                &params,
            )?
        } else {
            self.rows(
                "WITH held AS (SELECT pg_try_advisory_xact_lock($24) AS got),
                 new AS (
                     INSERT INTO reports (org_name, policy_domain, report_id, begin_ts, end_ts,
                         schema, version, email, extra_contact_info, generator, errors, adkim,
                         aspf, p, sp, np, pct, fo, testing, discovery_method, extensions, source,
                         ingested_at)
                     SELECT $1::text, $2::text, $3::text, $4::int8, $5::int8, $6::text, $7::text,
                         $8::text, $9::text, $10::text, $11::text, $12::text, $13::text, $14::text,
                         $15::text, $16::text, $17::int8, $18::text, $19::text, $20::text,
                         $21::text, $22::text, $23::int8 FROM held WHERE got
                     ON CONFLICT DO NOTHING RETURNING id)
                 SELECT (SELECT got FROM held), (SELECT id FROM new)",
                &params,
            )?
        };
        let row = rows.first().ok_or_else(|| {
            StoreError::Database("storing a report's row returned nothing".to_owned())
        })?;
        Ok(match (row.get::<_, bool>(0), row.get::<_, Option<i64>>(1)) {
            (false, _) => Inserted::Busy,
            (true, Some(id)) => Inserted::New(id),
            (true, None) => Inserted::Stored,
        })
    }

    /// Starts replacing stored report `id` (`reparse`): deleted now, in a
    /// transaction that [`PgReplacement::keep`] commits.
    pub fn replace_report(&self, id: i64) -> Result<PgReplacement<'_>, StoreError> {
        // The rollups are rebuilt from the stored records: what the batch
        // holds back must be in them first.
        self.commit_batch()?;
        self.push()?;
        let done = (|| {
            let found = self
                .c()
                .query_opt("SELECT policy_domain, begin_ts FROM reports WHERE id = $1", &[&id])?;
            self.exec("DELETE FROM reports WHERE id = $1", &[&id])?;
            if let Some(row) = found {
                let (domain, begin): (String, i64) = (row.get(0), row.get(1));
                self.rebuild_rollups(&domain, begin.div_euclid(86_400) * 86_400)?;
            }
            Ok(())
        })();
        if let Err(e) = done {
            let _ = self.pop(false);
            return Err(e);
        }
        Ok(PgReplacement { store: self, open: true })
    }

    /// Rebuilds the rollups of `domain` on `day` from its stored records.
    fn rebuild_rollups(&self, domain: &str, day: i64) -> Result<(), StoreError> {
        rebuild_rollups(&mut *self.c(), &mut self.statements.borrow_mut(), domain, day)
    }

    /// Keeps an input that failed, with its bytes and its kind; the same
    /// bytes failing again (here or in another worker), or, kept without
    /// bytes, the same name, update the existing row. One that was
    /// dismissed stays dismissed, without its bytes.
    pub fn record_failure(
        &self,
        name: &str,
        data: Option<&[u8]>,
        kind: FailureKind,
        error: &str,
        now: i64,
    ) -> Result<RecordedFailure, StoreError> {
        // Committed on its own, after the batch so far: rows of
        // failed_inputs are never held while reports are being stored.
        self.commit_batch()?;
        let sha = data.map(|d| Sha256::digest(d).to_vec());
        // A conflict updates everything but the bytes (a dismissed row has
        // none and keeps none; the others hold these same bytes).
        let conflict = if sha.is_some() { "(sha256)" } else { "(name) WHERE sha256 IS NULL" };
        let row = self.c().query_one(
            &format!(
                "INSERT INTO failed_inputs (name, sha256, data, error, kind, first_seen, last_seen)
                 VALUES ($1, $2, $3, $4, $5, $6, $6)
                 ON CONFLICT {conflict} DO UPDATE SET error = excluded.error,
                     kind = excluded.kind, last_seen = excluded.last_seen,
                     attempts = failed_inputs.attempts + 1, name = excluded.name
                 RETURNING id, dismissed_at IS NOT NULL"
            ),
            &[&name, &sha, &data, &error, &kind.as_str(), &now],
        )?;
        Ok(RecordedFailure { id: row.get(0), dismissed: row.get(1) })
    }

    /// Forgets a failed input (it was stored after all).
    pub fn delete_failure(&self, id: i64) -> Result<(), StoreError> {
        self.exec("DELETE FROM failed_inputs WHERE id = $1", &[&id])?;
        Ok(())
    }

    /// Forgets the failures of an input that has now been read in full.
    pub fn delete_failures_named(&self, name: &str) -> Result<(), StoreError> {
        if self.in_batch()? {
            // With the batch's other inputs, at its commit.
            self.cleared.borrow_mut().push(name.to_owned());
            return Ok(());
        }
        self.run("DELETE FROM failed_inputs WHERE name = $1", &[&name])?;
        Ok(())
    }

    /// The failed inputs that are listed and retried, oldest first.
    pub fn failures(&self) -> Result<Vec<FailedInput>, StoreError> {
        self.failures_where("dismissed_at IS NULL")
    }

    /// The dismissed failed inputs, oldest first.
    pub fn dismissed_failures(&self) -> Result<Vec<FailedInput>, StoreError> {
        self.failures_where("dismissed_at IS NOT NULL")
    }

    fn failures_where(&self, filter: &str) -> Result<Vec<FailedInput>, StoreError> {
        self.clear_failures()?;
        let rows = self.c().query(
            &format!(
                "SELECT id, name, error, first_seen, last_seen, attempts,
                        COALESCE(length(data), 0)::int8, kind, dismissed_at
                 FROM failed_inputs WHERE {filter} ORDER BY id"
            ),
            &[],
        )?;
        Ok(rows
            .iter()
            .map(|r| FailedInput {
                id: r.get(0),
                name: r.get(1),
                error: r.get(2),
                first_seen: r.get(3),
                last_seen: r.get(4),
                attempts: r.get(5),
                size: r.get(6),
                kind: kind_named(r.get(7)),
                dismissed_at: r.get(8),
            })
            .collect())
    }

    /// The kept bytes of a failed input (`None` if it had none).
    pub fn failure_data(&self, id: i64) -> Result<Option<(String, Vec<u8>)>, StoreError> {
        self.clear_failures()?;
        let row =
            self.c().query_opt("SELECT name, data FROM failed_inputs WHERE id = $1", &[&id])?;
        Ok(row.and_then(|r| {
            let data: Option<Vec<u8>> = r.get(1);
            data.map(|d| (r.get(0), d))
        }))
    }

    /// Dismisses the failed inputs `ids` at `now` and deletes their kept
    /// bytes; returns the ids that were not listed.
    pub fn dismiss_failures(&self, ids: &[i64], now: i64) -> Result<Vec<i64>, StoreError> {
        let mut missing = Vec::new();
        for id in ids {
            let changed = self.exec(
                "UPDATE failed_inputs SET dismissed_at = $2, data = NULL
                 WHERE id = $1 AND dismissed_at IS NULL",
                &[id, &now],
            )?;
            if changed == 0 {
                missing.push(*id);
            }
        }
        Ok(missing)
    }

    /// Dismisses every listed failed input at `now`; returns how many there
    /// were.
    pub fn dismiss_all_failures(&self, now: i64) -> Result<usize, StoreError> {
        let changed = self.exec(
            "UPDATE failed_inputs SET dismissed_at = $1, data = NULL WHERE dismissed_at IS NULL",
            &[&now],
        )?;
        Ok(usize::try_from(changed).unwrap_or(usize::MAX))
    }

    /// Ids of all stored reports, in insertion order.
    pub fn report_ids(&self) -> Result<Vec<i64>, StoreError> {
        let rows = self.c().query("SELECT id FROM reports ORDER BY id", &[])?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// A stored report's source, first ingestion time, and what is needed
    /// to parse it again.
    pub fn raw_report(&self, id: i64) -> Result<Option<(String, i64, RawMeta)>, StoreError> {
        let row = self.c().query_opt(
            "SELECT r.source, r.ingested_at, w.file_name, w.known_utf8
             FROM reports r JOIN report_raw w ON w.report = r.id WHERE r.id = $1",
            &[&id],
        )?;
        Ok(row.map(|r| (r.get(0), r.get(1), RawMeta { file_name: r.get(2), known_utf8: r.get(3) })))
    }

    /// A stored report's raw gzip stream, its pieces in order.
    pub fn raw_chunks(&self, id: i64) -> Result<Vec<Vec<u8>>, StoreError> {
        let rows = self
            .c()
            .query("SELECT data FROM report_raw_chunks WHERE report = $1 ORDER BY seq", &[&id])?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// The messages of a folder (at one UIDVALIDITY) that `fetch` has seen.
    pub fn imap_messages(
        &self,
        account: &str,
        folder: &str,
        uidvalidity: u32,
    ) -> Result<HashMap<u32, (MessageOutcome, bool)>, StoreError> {
        let rows = self.c().query(
            "SELECT uid, outcome, done FROM imap_messages
             WHERE account = $1 AND folder = $2 AND uidvalidity = $3",
            &[&account, &folder, &i64::from(uidvalidity)],
        )?;
        Ok(rows
            .iter()
            .map(|r| {
                let uid = u32::try_from(r.get::<_, i64>(0)).unwrap_or(0);
                (uid, (MessageOutcome::parse(r.get(1)), r.get(2)))
            })
            .collect())
    }

    /// Records what happened to a message.
    pub fn record_imap_message(
        &self,
        account: &str,
        folder: &str,
        uidvalidity: u32,
        uid: u32,
        outcome: MessageOutcome,
        now: i64,
    ) -> Result<(), StoreError> {
        self.exec(
            "INSERT INTO imap_messages (account, folder, uidvalidity, uid, outcome, first_seen)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (account, folder, uidvalidity, uid) DO UPDATE SET outcome = excluded.outcome",
            &[&account, &folder, &i64::from(uidvalidity), &i64::from(uid), &outcome.as_str(), &now],
        )?;
        Ok(())
    }

    /// Marks messages as moved (forgotten) or flagged on the server.
    pub fn imap_messages_done(
        &self,
        account: &str,
        folder: &str,
        uidvalidity: u32,
        uids: &[u32],
        moved: bool,
    ) -> Result<(), StoreError> {
        let uids: Vec<i64> = uids.iter().map(|&u| i64::from(u)).collect();
        let sql = if moved {
            "DELETE FROM imap_messages WHERE account = $1 AND folder = $2 AND uidvalidity = $3
             AND uid = ANY($4)"
        } else {
            "UPDATE imap_messages SET done = true WHERE account = $1 AND folder = $2
             AND uidvalidity = $3 AND uid = ANY($4)"
        };
        self.exec(sql, &[&account, &folder, &i64::from(uidvalidity), &uids])?;
        Ok(())
    }

    /// Forgets the state of a folder at other UIDVALIDITY values, and
    /// messages that are no longer in it.
    pub fn prune_imap_messages(
        &self,
        account: &str,
        folder: &str,
        uidvalidity: u32,
        present: &HashSet<u32>,
    ) -> Result<(), StoreError> {
        self.exec(
            "DELETE FROM imap_messages WHERE account = $1 AND folder = $2 AND uidvalidity <> $3",
            &[&account, &folder, &i64::from(uidvalidity)],
        )?;
        let gone: Vec<u32> = self
            .imap_messages(account, folder, uidvalidity)?
            .into_keys()
            .filter(|uid| !present.contains(uid))
            .collect();
        self.imap_messages_done(account, folder, uidvalidity, &gone, true)
    }

    /// Takes the session advisory lock of an account's folder; `false`
    /// when another session holds it.
    pub fn lock_folder(&self, account: &str, folder: &str) -> Result<bool, StoreError> {
        let key = lock_key(&["fetch", account, folder]);
        let row = self.c().query_one("SELECT pg_try_advisory_lock($1)", &[&key])?;
        Ok(row.get(0))
    }

    /// Takes the session advisory lock of `notify` (see
    /// [`crate::store::Store::lock_notify`]), after calling `waiting` when
    /// another session holds it.
    pub fn lock_notify(&self, waiting: &mut dyn FnMut()) -> Result<(), StoreError> {
        let row = self.c().query_one("SELECT pg_try_advisory_lock($1)", &[&NOTIFY_LOCK])?;
        if !row.get::<_, bool>(0) {
            waiting();
            self.c().execute("SELECT pg_advisory_lock($1)", &[&NOTIFY_LOCK])?;
        }
        Ok(())
    }

    /// Releases the lock taken by [`PgStore::lock_notify`].
    pub fn unlock_notify(&self) -> Result<(), StoreError> {
        self.c().query_one("SELECT pg_advisory_unlock($1)", &[&NOTIFY_LOCK])?;
        Ok(())
    }

    /// Releases the lock of [`PgStore::lock_folder`].
    pub fn unlock_folder(&self, account: &str, folder: &str) -> Result<(), StoreError> {
        let key = lock_key(&["fetch", account, folder]);
        self.c().query_one("SELECT pg_advisory_unlock($1)", &[&key])?;
        Ok(())
    }

    /// Stores one run of `check` for `domain`.
    pub fn save_check(
        &self,
        domain: &str,
        checked_at: i64,
        findings: &[StoredFinding],
    ) -> Result<(), StoreError> {
        self.atomically(|| {
            let sql = "INSERT INTO record_checks (domain, checked_at, code, severity, record,
                           message, fix) VALUES ($1, $2, $3, $4, $5, $6, $7)";
            for f in findings {
                self.exec(
                    sql,
                    &[&domain, &checked_at, &f.code, &f.severity, &f.record, &f.message, &f.fix],
                )?;
            }
            if findings.is_empty() {
                self.exec(
                    sql,
                    &[&domain, &checked_at, &"ok", &"info", &"dmarc", &"no finding", &""],
                )?;
            }
            Ok(())
        })
    }

    /// The newest run of `check` for `domain`, if any.
    pub fn last_check(&self, domain: &str) -> Result<Option<RecordCheck>, StoreError> {
        let at: Option<i64> = self
            .c()
            .query_one("SELECT max(checked_at) FROM record_checks WHERE domain = $1", &[&domain])?
            .get(0);
        let Some(checked_at) = at else { return Ok(None) };
        let rows = self.c().query(
            "SELECT code, severity, record, message, fix FROM record_checks
             WHERE domain = $1 AND checked_at = $2 AND code <> 'ok' ORDER BY id",
            &[&domain, &checked_at],
        )?;
        let findings = rows
            .iter()
            .map(|r| StoredFinding {
                code: r.get(0),
                severity: r.get(1),
                record: r.get(2),
                message: r.get(3),
                fix: r.get(4),
            })
            .collect();
        Ok(Some(RecordCheck::from_rows(checked_at, findings)))
    }

    /// DKIM selectors the reports show for `d=` domains under `domain`.
    pub fn dkim_selectors(&self, domain: &str) -> Result<Vec<(String, String)>, StoreError> {
        let rows = self.c().query(
            "SELECT DISTINCT lower(d.domain) COLLATE \"C\", d.selector COLLATE \"C\"
             FROM dkim_results d
             JOIN records c ON c.id = d.record JOIN reports r ON r.id = c.report
             WHERE r.policy_domain = $1 AND d.selector IS NOT NULL AND d.selector <> ''
               AND (lower(d.domain) = $1 OR lower(d.domain) LIKE '%.' || $1)
             ORDER BY 1, 2 LIMIT 200",
            &[&domain],
        )?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// One row per policy domain and reporter, in that order.
    pub fn stored_by_reporter(&self) -> Result<Vec<StoredByReporter>, StoreError> {
        let rows = self.c().query(
            "SELECT r.policy_domain, r.org_name, count(DISTINCT r.id)::int8, min(r.begin_ts),
                    max(r.end_ts), sum(r.record_count)::int8, sum(r.message_count)::int8,
                    (SELECT COALESCE(sum(c.count), 0)::int8 FROM records c
                       JOIN reports r2 ON c.report = r2.id
                      WHERE r2.policy_domain = r.policy_domain AND r2.org_name = r.org_name
                        AND (c.dkim = 'pass' OR c.spf = 'pass'))
             FROM reports r GROUP BY r.policy_domain, r.org_name
             ORDER BY r.policy_domain, r.org_name",
            &[],
        )?;
        Ok(rows
            .iter()
            .map(|r| StoredByReporter {
                domain: r.get(0),
                reporter: r.get(1),
                reports: r.get(2),
                begin: r.get(3),
                end: r.get(4),
                records: r.get(5),
                messages: r.get(6),
                dkim_or_spf_pass: r.get(7),
            })
            .collect())
    }

    /// Every fact `notify` keeps.
    pub fn notify_facts(&self) -> Result<Vec<NotifyFact>, StoreError> {
        let rows = self.c().query(
            "SELECT kind, domain, subject, value FROM notify_state ORDER BY kind, domain, subject",
            &[],
        )?;
        Ok(rows
            .iter()
            .map(|r| NotifyFact {
                kind: r.get(0),
                domain: r.get(1),
                subject: r.get(2),
                value: r.get(3),
            })
            .collect())
    }

    /// Applies `changes` to the facts and keeps `events` as pending, in one
    /// transaction.
    pub fn record_notifications(
        &self,
        changes: &[FactChange],
        events: &[NewEvent],
        now: i64,
    ) -> Result<(), StoreError> {
        self.atomically(|| {
            for change in changes {
                match change {
                    FactChange::Set(f) => {
                        self.exec(
                            "INSERT INTO notify_state (kind, domain, subject, value, updated_at)
                             VALUES ($1, $2, $3, $4, $5)
                             ON CONFLICT (kind, domain, subject)
                             DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                            &[&f.kind, &f.domain, &f.subject, &f.value, &now],
                        )?;
                    }
                    FactChange::Remove { kind, domain, subject } => {
                        self.exec(
                            "DELETE FROM notify_state WHERE kind = $1 AND domain = $2 AND subject = $3",
                            &[kind, domain, subject],
                        )?;
                    }
                }
            }
            for e in events {
                self.exec(
                    "INSERT INTO notify_events (created_at, kind, domain, payload)
                     VALUES ($1, $2, $3, $4)",
                    &[&now, &e.kind, &e.domain, &e.payload],
                )?;
            }
            Ok(())
        })
    }

    fn events(
        &self,
        condition: &str,
        args: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let sql = format!(
            "SELECT id, created_at, payload, delivered_at, delivered_to FROM notify_events
             WHERE {condition} ORDER BY id"
        );
        let rows = self.c().query(&sql, args)?;
        Ok(rows
            .iter()
            .map(|r| StoredEvent {
                id: r.get(0),
                created_at: r.get(1),
                payload: r.get(2),
                delivered_at: r.get(3),
                delivered_to: r.get::<_, String>(4).split_whitespace().map(str::to_owned).collect(),
            })
            .collect())
    }

    /// The events not delivered yet, oldest first.
    pub fn pending_notifications(&self) -> Result<Vec<StoredEvent>, StoreError> {
        self.events("delivered_at IS NULL", &[])
    }

    /// The events found at or after `since` with an id above `after_id`.
    pub fn notifications_since(
        &self,
        since: i64,
        after_id: i64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        self.events("created_at >= $1 AND id > $2", &[&since, &after_id])
    }

    /// The id of the newest event (0 when there is none).
    pub fn newest_notification_id(&self) -> Result<i64, StoreError> {
        Ok(self.c().query_one("SELECT COALESCE(max(id), 0)::int8 FROM notify_events", &[])?.get(0))
    }

    /// Notes that `channel` has delivered the events `ids`.
    pub fn mark_delivered_to(&self, ids: &[i64], channel: &str) -> Result<(), StoreError> {
        self.exec(
            "UPDATE notify_events SET delivered_to = trim(delivered_to || ' ' || $2)
             WHERE id = ANY($1) AND position(' ' || $2 || ' ' in ' ' || delivered_to || ' ') = 0",
            &[&ids, &channel],
        )?;
        Ok(())
    }

    /// Marks events as delivered (by every channel) at `now`.
    pub fn mark_notified(&self, ids: &[i64], now: i64) -> Result<(), StoreError> {
        self.exec(
            "UPDATE notify_events SET delivered_at = $2 WHERE id = ANY($1) AND delivered_at IS NULL",
            &[&ids, &now],
        )?;
        Ok(())
    }
}

impl PgStore {
    /// Every row of a query, each column as text (NULL as `NULL`, bytes as
    /// `blob:<len>`), for [`crate::store::inspect`].
    pub(crate) fn inspect_rows(&self, sql: &str) -> Result<Vec<Vec<String>>, StoreError> {
        // Each row as its columns' text, in column order (NULL kept apart).
        let wrapped = format!(
            "SELECT (SELECT array_agg(e.value ORDER BY e.n)
                     FROM json_each_text(row_to_json(q)) WITH ORDINALITY AS e(key, value, n))
             FROM ({sql}) AS q"
        );
        let rows = self.c().query(&wrapped, &[])?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let cells: Vec<Option<String>> = row.get(0);
            out.push(
                cells
                    .into_iter()
                    .map(|cell| match cell {
                        None => "NULL".to_owned(),
                        Some(s) if s == "true" => "1".to_owned(),
                        Some(s) if s == "false" => "0".to_owned(),
                        Some(s) => match s.strip_prefix("\\x") {
                            Some(hex) if hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
                                format!("blob:{}", hex.len() / 2)
                            }
                            _ => s,
                        },
                    })
                    .collect(),
            );
        }
        Ok(out)
    }

    /// Every row of a query, its columns as JSON values in column order
    /// (booleans as 0 or 1), for [`crate::store::snapshot`].
    pub(crate) fn inspect_values(
        &self,
        sql: &str,
    ) -> Result<Vec<Vec<serde_json::Value>>, StoreError> {
        let wrapped = format!(
            "SELECT (SELECT json_agg(e.value ORDER BY e.n)
                     FROM json_each(row_to_json(q)) WITH ORDINALITY AS e(key, value, n))::text
             FROM ({sql}) AS q"
        );
        let rows = self.c().query(&wrapped, &[])?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let text: String = row.get(0);
            let cells: Vec<serde_json::Value> = serde_json::from_str(&text).map_err(|e| {
                StoreError::Database(format!("inspecting: a row is not JSON ({e})"))
            })?;
            out.push(
                cells
                    .into_iter()
                    .map(|cell| match cell {
                        serde_json::Value::Bool(b) => serde_json::Value::from(i64::from(b)),
                        other => other,
                    })
                    .collect(),
            );
        }
        Ok(out)
    }

    /// The first column of the first row of a query, as a number.
    pub(crate) fn inspect_one(&self, sql: &str) -> Result<i64, StoreError> {
        let rows = self.inspect_rows(sql)?;
        let cell = rows.first().and_then(|r| r.first()).cloned().unwrap_or_default();
        cell.parse::<i64>()
            .map_err(|_| StoreError::Database(format!("inspecting: `{cell}` is not a number")))
    }

    /// Every stored raw copy, decompressed (see
    /// [`crate::store::inspect::Inspector::raw_copies`]).
    #[allow(clippy::type_complexity)]
    pub(crate) fn raw_copies(
        &self,
    ) -> Result<Vec<(String, Option<String>, bool, Vec<u8>)>, StoreError> {
        use std::io::Read;
        let rows = self.c().query(
            "SELECT r.org_name || '|' || r.policy_domain || '|' || r.report_id || '|'
                    || r.begin_ts || '|' || r.end_ts, w.file_name, w.known_utf8, w.report
             FROM report_raw w JOIN reports r ON r.id = w.report ORDER BY w.report",
            &[],
        )?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let pieces = self.raw_chunks(row.get(3))?;
            let mut xml = Vec::new();
            super::raw::open(pieces).read_to_end(&mut xml).map_err(|e| {
                StoreError::Database(format!("a raw copy does not decompress: {e}"))
            })?;
            out.push((row.get(0), row.get(1), row.get(2), xml));
        }
        Ok(out)
    }
}

/// Rebuilds the rollups of `domain` on `day` from its stored records.
fn rebuild_rollups(
    c: &mut impl postgres::GenericClient,
    statements: &mut rollup::Statements,
    domain: &str,
    day: i64,
) -> Result<(), StoreError> {
    c.execute("DELETE FROM source_days WHERE domain = $1 AND day = $2", &[&domain, &day])?;
    c.execute("DELETE FROM domain_days WHERE domain = $1 AND day = $2", &[&domain, &day])?;
    c.execute("DELETE FROM stream_days WHERE domain = $1 AND day = $2", &[&domain, &day])?;
    let reports = c.query(
        "SELECT id, begin_ts, end_ts FROM reports
         WHERE policy_domain = $1 AND begin_ts >= $2 AND begin_ts < $3 ORDER BY id",
        &[&domain, &day, &(day + 86_400)],
    )?;
    let sep = super::rollup::SEP.to_string();
    let (mut dkim, mut spf, mut why) = (Vec::new(), Vec::new(), Vec::new());
    for report in reports {
        let (id, begin, end): (i64, i64, i64) = (report.get(0), report.get(1), report.get(2));
        let mut rollup = rollup::Rollup::new(domain, begin, end);
        let rows = c.query(
            "SELECT source_ip, count, disposition, dkim = 'pass', spf = 'pass', header_from,
                    envelope_from, dkim_auth::text, spf_auth::text, reasons::text
             FROM records WHERE report = $1 ORDER BY id",
            &[&id],
        )?;
        for row in rows {
            super::reads::passing_domains(row.get(7), &mut dkim);
            super::reads::passing_domains(row.get(8), &mut spf);
            super::reads::reasons(row.get(9), &mut why);
            let labels: Vec<String> = why
                .iter()
                .filter_map(|r| super::reason_label(r.kind.as_deref(), r.comment.as_deref()))
                .collect();
            let full = rollup.add(&RecordKeys {
                ip: row.get(0),
                count: u64::try_from(row.get::<_, i64>(1)).unwrap_or(0),
                disposition: row.get(2),
                dkim_aligned: row.get::<_, Option<bool>>(3).unwrap_or(false),
                spf_aligned: row.get::<_, Option<bool>>(4).unwrap_or(false),
                header_from: row.get(5),
                envelope_from: row.get(6),
                dkim_pass: &dkim.join(&sep),
                spf_pass: &spf.join(&sep),
                reasons: &labels.join(&sep),
            });
            if full {
                rollup.flush(c, statements)?;
            }
        }
        rollup.flush(c, statements)?;
    }
    Ok(())
}

/// Brings the database up to [`LATEST`], once: under an advisory lock of
/// the transaction, so that of several workers starting at once one
/// migrates and the others then find nothing to do.
fn migrate(client: &mut Client) -> Result<(), StoreError> {
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS dmarc_report_migrations (
             version     integer PRIMARY KEY,
             applied_at  bigint NOT NULL
         )",
    )?;
    let current: i64 = tx
        .query_one("SELECT COALESCE(max(version), 0)::int8 FROM dmarc_report_migrations", &[])?
        .get(0);
    if current > LATEST {
        return Err(StoreError::TooNew { found: current, known: LATEST });
    }
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut rebuild = false;
    for v in current + 1..=LATEST {
        let Some(sql) = usize::try_from(v - 1).ok().and_then(|i| MIGRATIONS.get(i)) else { break };
        tx.batch_execute(sql)?;
        rebuild |= *sql == SUBDOMAIN_SPLIT || *sql == STREAMS;
        tx.execute(
            "INSERT INTO dmarc_report_migrations (version, applied_at) VALUES ($1, $2)",
            &[&i32::try_from(v).unwrap_or(i32::MAX), &now],
        )?;
    }
    // The rollups, rebuilt from the records under the same lock.
    if rebuild {
        let mut statements = rollup::Statements::new();
        let days = tx.query(
            "SELECT DISTINCT policy_domain, begin_ts - ((begin_ts % 86400) + 86400) % 86400
             FROM reports ORDER BY 1, 2",
            &[],
        )?;
        for row in days {
            rebuild_rollups(&mut tx, &mut statements, row.get(0), row.get(1))?;
        }
    }
    tx.commit()?;
    Ok(())
}

/// What [`PgStore::insert_report`] found.
enum Inserted {
    /// The report is new: its id.
    New(i64),
    /// The report is stored already.
    Stored,
    /// Another transaction is storing the same report now.
    Busy,
}

/// Records kept back to be written with the next statement, as the
/// columns of the records table.
#[derive(Default)]
struct RecordBuffer {
    counts: Vec<i64>,
    /// source_ip, disposition, dkim, spf, header_from, envelope_from,
    /// envelope_to, extensions, reasons, dkim_auth, spf_auth.
    columns: [Vec<Option<String>>; 11],
}

impl RecordBuffer {
    fn push(&mut self, row: &RecordRow) {
        self.counts.push(count(row.count));
        for (col, value) in self.columns.iter_mut().zip(row.wide_columns()) {
            col.push(value.map(|v| v.into_owned()));
        }
    }

    fn len(&self) -> usize {
        self.counts.len()
    }

    fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }
}

/// What a record adds to the rollups.
fn record_keys(row: &RecordRow) -> RecordKeys<'_> {
    let col = |i| row.column(i);
    let [dkim_pass, spf_pass, reasons] = row.rollup_lists();
    RecordKeys {
        ip: col(0).unwrap_or(""),
        count: row.count,
        disposition: col(1),
        dkim_aligned: col(2) == Some("pass"),
        spf_aligned: col(3) == Some("pass"),
        header_from: col(4),
        envelope_from: col(5),
        dkim_pass,
        spf_pass,
        reasons,
    }
}

/// Records kept back before they are written on their own (a large
/// report); a small report's go with its totals, in one statement.
const RECORDS_AT: usize = 5_000;
/// Bytes of raw copy kept back before they are written on their own.
const RAW_AT: usize = 4 << 20;

/// Writes one report (see [`PgStore::start_report`]); dropped before
/// [`PgWriter::finish`], it leaves nothing of the report.
pub struct PgWriter<'s> {
    store: &'s PgStore,
    open: bool,
    /// In the batch's transaction (else in a level of its own).
    in_batch: bool,
    /// A savepoint was taken before rollup rows were written for this
    /// report (a report too large to hold them back).
    savepoint: bool,
    report: i64,
    rollup: rollup::Rollup,
    records: u64,
    messages: u64,
    seq: i32,
    raw_size: u64,
    buffer: RecordBuffer,
    chunks: Vec<Vec<u8>>,
    chunk_bytes: usize,
}

/// The records insert, for the records of [`RecordBuffer`] ($1 the report).
macro_rules! insert_records {
    () => {
        "INSERT INTO records (report, source_ip, count, disposition, dkim, spf, header_from,
             envelope_from, envelope_to, extensions, reasons, dkim_auth, spf_auth)
         SELECT $1, u.ip, u.n, u.d, u.k, u.s, u.hf, u.ef, u.et, u.x, u.r::json, u.da::json,
                u.sa::json
         FROM unnest($2::text[], $3::int8[], $4::text[], $5::text[], $6::text[], $7::text[],
                     $8::text[], $9::text[], $10::text[], $11::text[], $12::text[],
                     $13::text[])
              WITH ORDINALITY AS u(ip, n, d, k, s, hf, ef, et, x, r, da, sa, o)
         ORDER BY u.o"
    };
}

/// The raw copy's pieces insert ($1 the report, $14 the first piece's
/// number, $15 the pieces).
macro_rules! insert_chunks {
    () => {
        "INSERT INTO report_raw_chunks (report, seq, data)
         SELECT $1, $14::int4 + (u.o - 1)::int4, u.d
         FROM unnest($15::bytea[]) WITH ORDINALITY AS u(d, o)"
    };
}

impl PgWriter<'_> {
    /// Stores records already encoded as rows, in order.
    pub fn rows(&mut self, rows: &[RecordRow]) -> Result<(), StoreError> {
        for row in rows {
            self.buffer.push(row);
            if self.rollup.add(&record_keys(row)) {
                self.flush_rollup()?;
            }
            self.records += 1;
            self.messages = self.messages.saturating_add(row.count);
        }
        if self.buffer.len() >= RECORDS_AT {
            self.write_records()?;
        }
        Ok(())
    }

    /// Stores one record already encoded as a row.
    pub fn row(&mut self, row: &RecordRow) -> Result<(), StoreError> {
        self.rows(std::slice::from_ref(row))
    }

    /// Writes this report's rollup additions now (a report with more
    /// sources than can be held), under a savepoint in a batch so that
    /// abandoning the report takes them back.
    fn flush_rollup(&mut self) -> Result<(), StoreError> {
        if self.in_batch && !self.savepoint {
            self.store.batch_sql("SAVEPOINT report_rollup")?;
            self.savepoint = true;
        }
        let store = self.store;
        self.rollup.flush(&mut *store.c(), &mut store.statements.borrow_mut())
    }

    /// Writes the records kept back.
    fn write_records(&mut self) -> Result<(), StoreError> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let b = std::mem::take(&mut self.buffer);
        let c = &b.columns;
        self.store.run(
            insert_records!(),
            &[
                &self.report,
                &c[0],
                &b.counts,
                &c[1],
                &c[2],
                &c[3],
                &c[4],
                &c[5],
                &c[6],
                &c[7],
                &c[8],
                &c[9],
                &c[10],
            ],
        )?;
        Ok(())
    }

    /// Stores the next piece of the report's raw gzip stream.
    pub fn raw_chunk(&mut self, data: &[u8]) -> Result<(), StoreError> {
        if self.chunk_bytes + data.len() > RAW_AT {
            self.write_chunks()?;
        }
        self.chunks.push(data.to_vec());
        self.chunk_bytes += data.len();
        self.raw_size += data.len() as u64;
        Ok(())
    }

    /// Writes the raw copy's pieces kept back.
    fn write_chunks(&mut self) -> Result<(), StoreError> {
        if self.chunks.is_empty() {
            return Ok(());
        }
        let chunks = std::mem::take(&mut self.chunks);
        self.chunk_bytes = 0;
        self.store.run(
            "INSERT INTO report_raw_chunks (report, seq, data)
             SELECT $1, $2::int4 + (u.o - 1)::int4, u.d
             FROM unnest($3::bytea[]) WITH ORDINALITY AS u(d, o)",
            &[&self.report, &self.seq, &chunks],
        )?;
        self.seq += i32::try_from(chunks.len()).unwrap_or(i32::MAX);
        Ok(())
    }

    /// Records stored so far.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Completes the report: what was kept back and its totals in one
    /// statement; commits it unless it is part of a batch. Returns the
    /// number of records.
    pub fn finish(mut self, done: &ReportTail, raw: &RawMeta) -> Result<u64, StoreError> {
        let b = std::mem::take(&mut self.buffer);
        let chunks = std::mem::take(&mut self.chunks);
        let c = &b.columns;
        self.store.run(
            concat!(
                "WITH new_records AS (",
                insert_records!(),
                "), new_chunks AS (",
                insert_chunks!(),
                "), new_raw AS (
                     INSERT INTO report_raw (report, compression, file_name, known_utf8, size)
                     VALUES ($1, 'gzip', $16, $17, $18))
                 UPDATE reports SET record_count = $19, message_count = $20, warnings = $21,
                     extensions = COALESCE($22, extensions) WHERE id = $1"
            ),
            &[
                &self.report,
                &c[0],
                &b.counts,
                &c[1],
                &c[2],
                &c[3],
                &c[4],
                &c[5],
                &c[6],
                &c[7],
                &c[8],
                &c[9],
                &c[10],
                &self.seq,
                &chunks,
                &raw.file_name,
                &raw.known_utf8,
                &count(self.raw_size),
                &count(self.records),
                &count(self.messages),
                &json_list(&done.warnings),
                &json_list(&done.extensions),
            ],
        )?;
        self.open = false;
        let store = self.store;
        if !self.in_batch {
            self.rollup.flush(&mut *store.c(), &mut store.statements.borrow_mut())?;
            store.pop(true)?;
            return Ok(self.records);
        }
        if self.savepoint {
            store.batch_sql("RELEASE SAVEPOINT report_rollup")?;
        }
        let held = {
            let mut additions = store.additions.borrow_mut();
            additions.absorb(&mut self.rollup);
            additions.len()
        };
        if held >= ADDITIONS_AT {
            store.commit_batch()?;
        }
        Ok(self.records)
    }

    /// Leaves nothing of the report.
    pub fn abandon(mut self) -> Result<(), StoreError> {
        self.open = false;
        self.undo()
    }

    fn undo(&mut self) -> Result<(), StoreError> {
        if !self.in_batch {
            return self.store.pop(false);
        }
        if self.savepoint {
            self.store.batch_sql(
                "ROLLBACK TO SAVEPOINT report_rollup; RELEASE SAVEPOINT report_rollup",
            )?;
        }
        // The report's rows go with it (ON DELETE CASCADE).
        self.store.run("DELETE FROM reports WHERE id = $1", &[&self.report])?;
        Ok(())
    }
}

impl Drop for PgWriter<'_> {
    fn drop(&mut self) {
        if std::mem::replace(&mut self.open, false) {
            // Nothing to report to: a failure here leaves the transaction
            // unusable, and the batch's commit then fails and rolls back.
            let _ = self.undo();
        }
    }
}

/// A stored report being replaced (see [`PgStore::replace_report`]).
pub struct PgReplacement<'s> {
    store: &'s PgStore,
    open: bool,
}

impl PgReplacement<'_> {
    /// Keeps the replacement.
    pub fn keep(mut self) -> Result<(), StoreError> {
        self.open = false;
        self.store.pop(true)
    }
}

impl Drop for PgReplacement<'_> {
    fn drop(&mut self) {
        if std::mem::replace(&mut self.open, false) {
            let _ = self.store.pop(false);
        }
    }
}
