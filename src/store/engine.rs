//! [`Store`]: the open database, SQLite or PostgreSQL, chosen by where it
//! lives ([`Location`]). Every operation of the crate goes through it and
//! is handed to the backend here, in one place; the SQL of each backend
//! stays in its own files (SQLite: the rest of `store`, PostgreSQL:
//! `store/postgres`).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use super::backend::{RdnsCache, SummaryReads};
use super::checks::{RecordCheck, StoredFinding};
use super::inspect::Inspector;
use super::notify::{FactChange, NewEvent, NotifyFact, StoredEvent};
use super::overview::StoredByReporter;
use super::pg::{PgReplacement, PgStore, PgWriter, Target};
use super::transfer::{CheckRun, EventRow, FactRow, ImapMessage, KeptFailure, StoredReport};
use super::{
    DomainDays, FailedInput, MessageOutcome, PolicyReport, RawMeta, RdnsEntry, RecordFacts,
    RecordRow, RecordedFailure, ReportRef, ReportTail, SourceDay, SqliteReplacement, SqliteStore,
    SqliteWriter, StoreError, StreamDay,
};
use crate::model::{FailureKind, Record, ReportHeader};

/// Where a database lives, from the value of `--db`, `DMARC_REPORT_DB` or
/// the config's `database`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL database: `postgresql://` or `postgres://` URL.
    Postgres(String),
}

impl Location {
    /// Reads a database value: a `postgresql://` (or `postgres://`) URL is
    /// PostgreSQL; a value that looks like a URL of any other scheme
    /// (`mysql://...`, `sqlite://...`) is refused rather than taken for a
    /// folder name; anything else is the path of a SQLite file.
    pub fn parse(value: &Path) -> Result<Location, StoreError> {
        let text = value.to_string_lossy();
        if let Some((scheme, _)) = text.split_once("://") {
            let looks_like_scheme = !scheme.is_empty()
                && scheme.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
            if looks_like_scheme {
                let lower = scheme.to_ascii_lowercase();
                if lower == "postgresql" || lower == "postgres" {
                    return Ok(Location::Postgres(text.into_owned()));
                }
                return Err(StoreError::Open {
                    path: super::pg::redact(&text),
                    reason: format!(
                        "`{scheme}://` is not a database this program can use: give a SQLite \
                         file path, or a postgresql://USER@HOST:PORT/DBNAME URL"
                    ),
                });
            }
        }
        Ok(Location::Sqlite(value.to_path_buf()))
    }
}

/// The open database: every read and write of the stored reports goes
/// through it.
pub struct Store {
    db: Db,
}

enum Db {
    Sqlite(SqliteStore),
    Postgres(Box<PgStore>),
}

/// Calls the same method on whichever backend is open.
macro_rules! on {
    ($self:expr, $s:ident => $call:expr) => {
        match &$self.db {
            Db::Sqlite($s) => $call,
            Db::Postgres($s) => $call,
        }
    };
}

impl Store {
    /// Opens (creating it if needed: a SQLite file and its directory, or the
    /// schema in an existing PostgreSQL database) the database at
    /// `location` and migrates it.
    pub fn open(location: &Path) -> Result<Store, StoreError> {
        match Location::parse(location)? {
            Location::Sqlite(path) => Ok(Store { db: Db::Sqlite(SqliteStore::open(&path)?) }),
            Location::Postgres(url) => Self::open_postgres(&url),
        }
    }

    /// Opens a database that must already exist (for the commands that only
    /// read): never creates a SQLite file.
    pub fn open_existing(location: &Path) -> Result<Store, StoreError> {
        match Location::parse(location)? {
            Location::Sqlite(path) => {
                Ok(Store { db: Db::Sqlite(SqliteStore::open_existing(&path)?) })
            }
            Location::Postgres(url) => Self::open_postgres(&url),
        }
    }

    fn open_postgres(url: &str) -> Result<Store, StoreError> {
        let target = Target::parse(url)?;
        Ok(Store { db: Db::Postgres(Box::new(PgStore::open(target)?)) })
    }

    /// An in-memory SQLite database (tests, benchmarks).
    pub fn open_in_memory() -> Result<Store, StoreError> {
        Ok(Store { db: Db::Sqlite(SqliteStore::open_in_memory()?) })
    }

    /// Whether this is a PostgreSQL database (shared by several workers).
    pub fn is_postgres(&self) -> bool {
        matches!(self.db, Db::Postgres(_))
    }

    /// The SQLite database, when it is one.
    pub(super) fn sqlite(&self) -> Option<&SqliteStore> {
        match &self.db {
            Db::Sqlite(s) => Some(s),
            Db::Postgres(_) => None,
        }
    }

    /// A second handle on the same database, for reading on another
    /// thread; `None` for an in-memory database.
    pub fn reader(&self) -> Result<Option<Store>, StoreError> {
        Ok(match &self.db {
            Db::Sqlite(s) => s.reader()?.map(|s| Store { db: Db::Sqlite(s) }),
            Db::Postgres(p) => Some(Store { db: Db::Postgres(Box::new(p.reader()?)) }),
        })
    }

    /// Bulk loading, for generating large databases (benchmarks). SQLite:
    /// no journal and no syncing (a crash leaves a corrupt file);
    /// PostgreSQL: commits without waiting for the disk.
    pub fn set_bulk_load(&self, on: bool) -> Result<(), StoreError> {
        on!(self, s => s.set_bulk_load(on))
    }

    /// The database file, when it is one (not in memory, not PostgreSQL).
    pub fn path(&self) -> Option<&Path> {
        match &self.db {
            Db::Sqlite(s) => s.path(),
            Db::Postgres(_) => None,
        }
    }

    /// The schema version (number of applied migrations).
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        on!(self, s => s.schema_version())
    }

    /// Starts a batch. SQLite: reports written until [`Store::commit`]
    /// become visible together. PostgreSQL: each report is committed on
    /// its own as it is finished (see `store/postgres`), so that workers
    /// writing at once never wait on each other's batches.
    pub fn begin(&self) -> Result<(), StoreError> {
        on!(self, s => s.begin())
    }

    /// Commits the batch.
    pub fn commit(&self) -> Result<(), StoreError> {
        on!(self, s => s.commit())
    }

    /// Whether a batch is open.
    pub fn in_transaction(&self) -> bool {
        on!(self, s => s.in_transaction())
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
    ) -> Result<Option<ReportWriter<'_>>, StoreError> {
        Ok(match &self.db {
            Db::Sqlite(s) => s.start_report(h, source, now)?.map(ReportWriter::Sqlite),
            Db::Postgres(p) => p.start_report(h, source, now)?.map(ReportWriter::Postgres),
        })
    }

    /// Stores a report read in full: its header, records (`rows`), raw
    /// copy (`raw`, its pieces) and tail, all or nothing, as
    /// [`Store::start_report`], [`ReportWriter::rows`],
    /// [`ReportWriter::raw_chunk`] and [`ReportWriter::finish`] would (on
    /// PostgreSQL in one statement). Returns the number of records; `None`
    /// when the report is already stored. Call inside a batch.
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
        if let Db::Postgres(p) = &self.db {
            return p.store_report(h, source, now, rows, raw, meta, tail);
        }
        let Some(mut writer) = self.start_report(h, source, now)? else { return Ok(None) };
        writer.rows(rows)?;
        for piece in raw {
            writer.raw_chunk(piece)?;
        }
        writer.finish(tail, meta).map(Some)
    }

    /// Starts replacing stored report `id` (`reparse`): it is deleted now;
    /// [`Replacement::keep`] keeps the change, dropping the guard brings
    /// the old report back.
    pub fn replace_report(&self, id: i64) -> Result<Replacement<'_>, StoreError> {
        Ok(match &self.db {
            Db::Sqlite(s) => Replacement::Sqlite(s.replace_report(id)?),
            Db::Postgres(p) => Replacement::Postgres(p.replace_report(id)?),
        })
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
        on!(self, s => s.record_failure(name, data, kind, error, now))
    }

    /// Forgets a failed input (it was stored after all).
    pub fn delete_failure(&self, id: i64) -> Result<(), StoreError> {
        on!(self, s => s.delete_failure(id))
    }

    /// Forgets the failures of an input that has now been read in full.
    pub fn delete_failures_named(&self, name: &str) -> Result<(), StoreError> {
        on!(self, s => s.delete_failures_named(name))
    }

    /// The failed inputs that are listed and retried (not dismissed),
    /// oldest first.
    pub fn failures(&self) -> Result<Vec<FailedInput>, StoreError> {
        on!(self, s => s.failures())
    }

    /// The dismissed failed inputs, oldest first.
    pub fn dismissed_failures(&self) -> Result<Vec<FailedInput>, StoreError> {
        on!(self, s => s.dismissed_failures())
    }

    /// The kept bytes of a failed input (`None` if it had none).
    pub fn failure_data(&self, id: i64) -> Result<Option<(String, Vec<u8>)>, StoreError> {
        on!(self, s => s.failure_data(id))
    }

    /// Dismisses the failed inputs `ids` at `now` (Unix seconds): they leave
    /// the list, are never retried, and their kept bytes are deleted; the
    /// same input failing again stays dismissed. Returns the ids that were
    /// not listed (unknown, or dismissed already).
    pub fn dismiss_failures(&self, ids: &[i64], now: i64) -> Result<Vec<i64>, StoreError> {
        on!(self, s => s.dismiss_failures(ids, now))
    }

    /// Dismisses every listed failed input at `now`; returns how many there
    /// were.
    pub fn dismiss_all_failures(&self, now: i64) -> Result<usize, StoreError> {
        on!(self, s => s.dismiss_all_failures(now))
    }

    /// Ids of all stored reports, in insertion order.
    pub fn report_ids(&self) -> Result<Vec<i64>, StoreError> {
        on!(self, s => s.report_ids())
    }

    /// A stored report's source, first ingestion time, and what is needed
    /// to parse it again.
    pub fn raw_report(&self, id: i64) -> Result<Option<(String, i64, RawMeta)>, StoreError> {
        on!(self, s => s.raw_report(id))
    }

    /// A stored report's raw gzip stream, its pieces in order.
    pub fn raw_chunks(&self, id: i64) -> Result<Vec<Vec<u8>>, StoreError> {
        on!(self, s => s.raw_chunks(id))
    }

    /// The messages of a folder (at one UIDVALIDITY) that `fetch` has seen:
    /// uid → (outcome, done on the server).
    pub fn imap_messages(
        &self,
        account: &str,
        folder: &str,
        uidvalidity: u32,
    ) -> Result<HashMap<u32, (MessageOutcome, bool)>, StoreError> {
        on!(self, s => s.imap_messages(account, folder, uidvalidity))
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
        on!(self, s => s.record_imap_message(account, folder, uidvalidity, uid, outcome, now))
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
        on!(self, s => s.imap_messages_done(account, folder, uidvalidity, uids, moved))
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
        on!(self, s => s.prune_imap_messages(account, folder, uidvalidity, present))
    }

    /// Takes the fetch lock of one account's folder for as long as this
    /// store is open (or until [`Store::unlock_folder`]); `false` when
    /// another worker holds it. PostgreSQL: an advisory lock of the
    /// session, released by the server when a crashed worker's connection
    /// goes away. SQLite: always `true` (`fetch` holds the database's lock
    /// file for the whole run instead).
    pub fn lock_folder(&self, account: &str, folder: &str) -> Result<bool, StoreError> {
        match &self.db {
            Db::Sqlite(_) => Ok(true),
            Db::Postgres(p) => p.lock_folder(account, folder),
        }
    }

    /// Releases a lock taken by [`Store::lock_folder`].
    pub fn unlock_folder(&self, account: &str, folder: &str) -> Result<(), StoreError> {
        match &self.db {
            Db::Sqlite(_) => Ok(()),
            Db::Postgres(p) => p.unlock_folder(account, folder),
        }
    }

    /// Takes the lock that one `notify` run holds from reading what to
    /// tell until it has recorded what it told, so that runs at the same
    /// moment (cron on two hosts, `fetch --notify` beside `notify`) never
    /// tell an event twice. When another run holds it, calls `waiting`
    /// and waits for it. SQLite: a lock file beside the database
    /// (`DB.notify.lock`, none for an in-memory database); PostgreSQL: an
    /// advisory lock of the session, which the server releases when a
    /// crashed run's connection goes away. Released when the guard is
    /// dropped.
    pub fn lock_notify(&self, waiting: &mut dyn FnMut()) -> Result<NotifyLock<'_>, StoreError> {
        match &self.db {
            Db::Sqlite(s) => {
                let Some(path) = s.path() else { return Ok(NotifyLock { file: None, pg: None }) };
                let lock_path = PathBuf::from(format!("{}.notify.lock", path.display()));
                let failed = |e: std::io::Error| StoreError::Open {
                    path: lock_path.display().to_string(),
                    reason: format!("cannot take the notify lock: {e}"),
                };
                let file = std::fs::File::create(&lock_path).map_err(failed)?;
                match file.try_lock() {
                    Ok(()) => {}
                    Err(std::fs::TryLockError::WouldBlock) => {
                        waiting();
                        file.lock().map_err(failed)?;
                    }
                    Err(std::fs::TryLockError::Error(e)) => return Err(failed(e)),
                }
                Ok(NotifyLock { file: Some(file), pg: None })
            }
            Db::Postgres(p) => {
                p.lock_notify(waiting)?;
                Ok(NotifyLock { file: None, pg: Some(p) })
            }
        }
    }

    /// Stores one run of `check` for `domain`.
    pub fn save_check(
        &self,
        domain: &str,
        checked_at: i64,
        findings: &[StoredFinding],
    ) -> Result<(), StoreError> {
        on!(self, s => s.save_check(domain, checked_at, findings))
    }

    /// The newest run of `check` for `domain`, if any.
    pub fn last_check(&self, domain: &str) -> Result<Option<RecordCheck>, StoreError> {
        on!(self, s => s.last_check(domain))
    }

    /// DKIM selectors the reports show for `d=` domains under `domain`
    /// (the domain itself or its subdomains): (d, selector), sorted.
    pub fn dkim_selectors(&self, domain: &str) -> Result<Vec<(String, String)>, StoreError> {
        on!(self, s => s.dkim_selectors(domain))
    }

    /// One row per policy domain and reporter, in that order.
    pub fn stored_by_reporter(&self) -> Result<Vec<StoredByReporter>, StoreError> {
        on!(self, s => s.stored_by_reporter())
    }

    /// Every fact `notify` keeps.
    pub fn notify_facts(&self) -> Result<Vec<NotifyFact>, StoreError> {
        on!(self, s => s.notify_facts())
    }

    /// Applies `changes` to the facts and keeps `events` as pending, in one
    /// transaction: either both happen or neither.
    pub fn record_notifications(
        &self,
        changes: &[FactChange],
        events: &[NewEvent],
        now: i64,
    ) -> Result<(), StoreError> {
        on!(self, s => s.record_notifications(changes, events, now))
    }

    /// The events not delivered yet, oldest first.
    pub fn pending_notifications(&self) -> Result<Vec<StoredEvent>, StoreError> {
        on!(self, s => s.pending_notifications())
    }

    /// The events found at or after `since` (Unix seconds) with an id above
    /// `after_id`, delivered or not, oldest first.
    pub fn notifications_since(
        &self,
        since: i64,
        after_id: i64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        on!(self, s => s.notifications_since(since, after_id))
    }

    /// The id of the newest event (0 when there is none).
    pub fn newest_notification_id(&self) -> Result<i64, StoreError> {
        on!(self, s => s.newest_notification_id())
    }

    /// Notes that `channel` has delivered the events `ids`.
    pub fn mark_delivered_to(&self, ids: &[i64], channel: &str) -> Result<(), StoreError> {
        on!(self, s => s.mark_delivered_to(ids, channel))
    }

    /// Marks events as delivered (by every channel) at `now`.
    pub fn mark_notified(&self, ids: &[i64], now: i64) -> Result<(), StoreError> {
        on!(self, s => s.mark_notified(ids, now))
    }

    /// A stored report's header and facts, for copying it elsewhere;
    /// `None` when there is no such report.
    pub fn stored_report(&self, id: i64) -> Result<Option<StoredReport>, StoreError> {
        on!(self, s => s.stored_report(id))
    }

    /// Calls `visit` with every record of report `id`, in stored order
    /// (streamed: memory does not grow with the report).
    pub fn report_records(
        &self,
        id: i64,
        visit: &mut dyn FnMut(Record) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        on!(self, s => s.report_records(id, visit))
    }

    /// A failed input with its bytes and history; `None` when there is no
    /// such row.
    pub fn kept_failure(&self, id: i64) -> Result<Option<KeptFailure>, StoreError> {
        on!(self, s => s.kept_failure(id))
    }

    /// Keeps a failed input read from another database (its id kept when
    /// free); `false` when the same input is here already.
    pub fn import_failure(&self, failure: &KeptFailure) -> Result<bool, StoreError> {
        on!(self, s => s.import_failure(failure))
    }

    /// Everything `fetch` remembers about IMAP messages.
    pub fn imap_state(&self) -> Result<Vec<ImapMessage>, StoreError> {
        on!(self, s => s.imap_state())
    }

    /// Every fact `notify` keeps, with the time it was set.
    pub fn notify_fact_rows(&self) -> Result<Vec<FactRow>, StoreError> {
        on!(self, s => s.notify_fact_rows())
    }

    /// Every notification event, delivered or not, oldest first.
    pub fn event_rows(&self) -> Result<Vec<EventRow>, StoreError> {
        on!(self, s => s.event_rows())
    }

    /// Keeps a notification event read from another database (its id kept
    /// when free); `false` when the same event is here already.
    pub fn import_event(&self, event: &EventRow) -> Result<bool, StoreError> {
        on!(self, s => s.import_event(event))
    }

    /// Every run of `check`, in the order they were stored.
    pub fn check_runs(&self) -> Result<Vec<CheckRun>, StoreError> {
        on!(self, s => s.check_runs())
    }

    /// This database, for inspection.
    pub fn inspect(&self) -> Inspector<'_> {
        match &self.db {
            Db::Sqlite(s) => s.inspect(),
            Db::Postgres(p) => Inspector::postgres(p),
        }
    }
}

impl SummaryReads for Store {
    fn domains(&self) -> Result<Vec<String>, StoreError> {
        on!(self, s => s.domains())
    }

    fn domain_span(&self, domain: &str) -> Result<Option<(i64, i64)>, StoreError> {
        on!(self, s => s.domain_span(domain))
    }

    fn window_reports(
        &self,
        domain: &str,
        begin: i64,
        end: i64,
    ) -> Result<Vec<ReportRef>, StoreError> {
        on!(self, s => s.window_reports(domain, begin, end))
    }

    fn scan_records(
        &self,
        reports: &[ReportRef],
        visit: &mut dyn FnMut(&ReportRef, &RecordFacts<'_>),
    ) -> Result<(), StoreError> {
        on!(self, s => s.scan_records(reports, visit))
    }

    fn parallel_reader(&self) -> Result<Option<Box<dyn SummaryReads + Send>>, StoreError> {
        on!(self, s => s.parallel_reader())
    }

    fn policy_reports(&self, domain: &str, until: i64) -> Result<Vec<PolicyReport>, StoreError> {
        on!(self, s => s.policy_reports(domain, until))
    }

    fn seen_before(&self, domain: &str, ips: &[String], before: i64) -> Result<bool, StoreError> {
        on!(self, s => s.seen_before(domain, ips, before))
    }

    fn scan_source_days(
        &self,
        domain: &str,
        first_day: i64,
        end_day: i64,
        visit: &mut dyn FnMut(&SourceDay<'_>),
    ) -> Result<(), StoreError> {
        on!(self, s => s.scan_source_days(domain, first_day, end_day, visit))
    }

    fn scan_streams(
        &self,
        domain: &str,
        ips: &[String],
        first_day: i64,
        end_day: i64,
        visit: &mut dyn FnMut(&StreamDay<'_>),
    ) -> Result<(), StoreError> {
        on!(self, s => s.scan_streams(domain, ips, first_day, end_day, visit))
    }

    fn live_dmarc(&self, domain: &str) -> Result<Option<String>, StoreError> {
        on!(self, s => s.live_dmarc(domain))
    }

    fn domain_days(
        &self,
        domain: &str,
        first_day: i64,
        end_day: i64,
    ) -> Result<DomainDays, StoreError> {
        on!(self, s => s.domain_days(domain, first_day, end_day))
    }
}

impl RdnsCache for Store {
    fn rdns_get(&self, ip: &str) -> Result<Option<RdnsEntry>, StoreError> {
        on!(self, s => s.rdns_get(ip))
    }

    fn rdns_put(&self, entries: &[RdnsEntry]) -> Result<(), StoreError> {
        on!(self, s => s.rdns_put(entries))
    }

    fn rdns_entries(&self) -> Result<Vec<RdnsEntry>, StoreError> {
        on!(self, s => s.rdns_entries())
    }
}

/// The lock of one `notify` run (see [`Store::lock_notify`]).
pub struct NotifyLock<'s> {
    file: Option<std::fs::File>,
    pg: Option<&'s PgStore>,
}

impl Drop for NotifyLock<'_> {
    fn drop(&mut self) {
        if let Some(p) = self.pg {
            // A failure leaves it to the end of the session.
            let _ = p.unlock_notify();
        }
        drop(self.file.take());
    }
}

/// Writes one report's records and raw copy (see [`Store::start_report`]).
/// Dropped before [`ReportWriter::finish`], it leaves nothing of the report.
pub enum ReportWriter<'s> {
    /// Into SQLite.
    Sqlite(SqliteWriter<'s>),
    /// Into PostgreSQL.
    Postgres(PgWriter<'s>),
}

macro_rules! writer {
    ($self:expr, $w:ident => $call:expr) => {
        match $self {
            ReportWriter::Sqlite($w) => $call,
            ReportWriter::Postgres($w) => $call,
        }
    };
}

impl ReportWriter<'_> {
    /// Stores one record.
    pub fn record(&mut self, r: &Record) -> Result<(), StoreError> {
        self.row(&RecordRow::new(r))
    }

    /// Stores records already encoded as rows, in order.
    pub fn rows(&mut self, rows: &[RecordRow]) -> Result<(), StoreError> {
        writer!(self, w => w.rows(rows))
    }

    /// Stores one record already encoded as a row.
    pub fn row(&mut self, row: &RecordRow) -> Result<(), StoreError> {
        writer!(self, w => w.row(row))
    }

    /// Stores the next piece of the report's raw gzip stream.
    pub fn raw_chunk(&mut self, data: &[u8]) -> Result<(), StoreError> {
        writer!(self, w => w.raw_chunk(data))
    }

    /// Records stored so far.
    pub fn records(&self) -> u64 {
        writer!(self, w => w.records())
    }

    /// Completes the report once its records and raw pieces are in (see
    /// the backends). Returns the number of records.
    pub fn finish(self, done: &ReportTail, raw: &RawMeta) -> Result<u64, StoreError> {
        writer!(self, w => w.finish(done, raw))
    }

    /// Leaves nothing of the report (the same as dropping the writer, with
    /// the error of the rollback, if any).
    pub fn abandon(self) -> Result<(), StoreError> {
        writer!(self, w => w.abandon())
    }
}

/// A stored report being replaced (see [`Store::replace_report`]).
pub enum Replacement<'s> {
    /// In SQLite.
    Sqlite(SqliteReplacement<'s>),
    /// In PostgreSQL.
    Postgres(PgReplacement<'s>),
}

impl Replacement<'_> {
    /// Keeps the replacement.
    pub fn keep(self) -> Result<(), StoreError> {
        match self {
            Replacement::Sqlite(r) => r.keep(),
            Replacement::Postgres(r) => r.keep(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_postgres_url_selects_postgres_and_a_path_is_a_sqlite_file() {
        for url in ["postgresql://dmarc@db.example:5432/dmarc", "postgres://dmarc@db/dmarc"] {
            assert_eq!(Location::parse(Path::new(url)).unwrap(), Location::Postgres(url.into()));
        }
        for path in ["dmarc.db", "/var/lib/dmarc-report/dmarc.db", "./a:b/c.db", "C:\\x.db"] {
            assert_eq!(
                Location::parse(Path::new(path)).unwrap(),
                Location::Sqlite(PathBuf::from(path))
            );
        }
    }

    #[test]
    fn a_url_of_another_scheme_is_refused_not_taken_for_a_folder() {
        for url in ["mysql://u@h/db", "sqlite:///tmp/x.db", "http://example.com/db"] {
            let e = Location::parse(Path::new(url)).unwrap_err().to_string();
            assert!(e.contains("is not a database this program can use"), "{e}");
            assert!(e.contains("postgresql://"), "{e}");
        }
    }
}
