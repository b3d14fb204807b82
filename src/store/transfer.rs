//! Moving what a database holds into another one (`copy`): every kind of
//! row the store keeps, read as typed values from one [`super::Store`] and
//! written through the other's own write path (a report through
//! [`super::Store::start_report`], exactly as `ingest` writes it, so that
//! the target builds its own rollups). Nothing here depends on how a
//! backend lays its rows out: each backend reads its rows into these types
//! (SQLite below, PostgreSQL in `pg/transfer.rs`).
//!
//! Every write here is safe to repeat: a row already in the target (by its
//! identity: a report's key, a failed input's bytes, an event's time, kind
//! and payload) is not written again.

use rusqlite::{OptionalExtension, params};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::checks::StoredFinding;
use super::notify::NotifyFact;
use super::{MessageOutcome, SqliteStore, StoreError, Undo};
use crate::model::{
    Alignment, Disposition, DkimAuth, DkimResult, DmarcResult, FailureKind, OverrideReason, Policy,
    PolicyPublished, Reason, Record, ReportHeader, Schema, SpfAuth, SpfResult, SpfScope,
};

/// A stored report's header and what the store knows about it besides its
/// records and raw copy.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredReport {
    /// Its id in the database it was read from.
    pub id: i64,
    /// Metadata and published policy, as parsed.
    pub header: ReportHeader,
    /// Where it was first read from.
    pub source: String,
    /// When it was first stored, Unix seconds.
    pub ingested_at: i64,
    /// What the parser tolerated.
    pub warnings: Vec<String>,
    /// How many records it holds.
    pub records: u64,
}

/// A failed input with everything kept about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptFailure {
    /// Its id (shown by `errors`).
    pub id: i64,
    /// File path or message it came from.
    pub name: String,
    /// Its bytes; `None` when it was too large to keep, or dismissed.
    pub data: Option<Vec<u8>>,
    /// The SHA-256 of its bytes, which a dismissed input keeps without
    /// them; `None` for one kept without bytes (known by its name).
    pub sha256: Option<Vec<u8>>,
    /// Every problem found in it.
    pub error: String,
    /// What kind of failure it is.
    pub kind: FailureKind,
    /// When it was dismissed (Unix seconds).
    pub dismissed_at: Option<i64>,
    /// When it first failed, Unix seconds.
    pub first_seen: i64,
    /// When it last failed, Unix seconds.
    pub last_seen: i64,
    /// How many times it was tried.
    pub attempts: i64,
}

/// What `fetch` did with one IMAP message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImapMessage {
    /// `user@host:port`.
    pub account: String,
    /// The folder.
    pub folder: String,
    /// The folder's UIDVALIDITY.
    pub uidvalidity: u32,
    /// The message's UID.
    pub uid: u32,
    /// What became of it.
    pub outcome: MessageOutcome,
    /// Flagged on the server already.
    pub done: bool,
    /// When it was first seen, Unix seconds.
    pub first_seen: i64,
}

/// A fact `notify` keeps, with the time it was last set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FactRow {
    /// The fact.
    pub fact: NotifyFact,
    /// When it was set, Unix seconds.
    pub updated_at: i64,
}

/// A notification event with everything kept about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRow {
    /// Its id (the digest remembers the last id it told).
    pub id: i64,
    /// When it was found, Unix seconds.
    pub created_at: i64,
    /// Its kind.
    pub kind: String,
    /// The domain, when it is about one.
    pub domain: Option<String>,
    /// The event as JSON.
    pub payload: String,
    /// The channels that have it, space-separated.
    pub delivered_to: String,
    /// When every channel had it; `None` while pending.
    pub delivered_at: Option<i64>,
}

/// One run of `check` for a domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckRun {
    /// The domain.
    pub domain: String,
    /// When it ran, Unix seconds.
    pub checked_at: i64,
    /// Its findings in their order; empty for a clean run.
    pub findings: Vec<StoredFinding>,
}

/// The columns of a report's row, as both backends store them (the lists
/// as JSON arrays).
pub(super) struct HeaderColumns {
    pub id: i64,
    pub org_name: String,
    pub policy_domain: String,
    pub report_id: String,
    pub begin: i64,
    pub end: i64,
    pub schema: String,
    pub version: Option<String>,
    pub email: Option<String>,
    pub extra_contact_info: Option<String>,
    pub generator: Option<String>,
    pub errors: Option<String>,
    pub adkim: Option<String>,
    pub aspf: Option<String>,
    pub p: Option<String>,
    pub sp: Option<String>,
    pub np: Option<String>,
    pub pct: Option<i64>,
    pub fo: Option<String>,
    pub testing: Option<String>,
    pub discovery_method: Option<String>,
    pub extensions: Option<String>,
    pub source: String,
    pub ingested_at: i64,
    pub warnings: Option<String>,
    pub record_count: i64,
}

/// The columns both backends read for a report, in [`HeaderColumns`] order.
pub(super) const HEADER_COLUMNS: &str = "id, org_name, policy_domain, report_id, begin_ts, end_ts, \
     schema, version, email, extra_contact_info, generator, errors, adkim, aspf, p, sp, np, pct, \
     fo, testing, discovery_method, extensions, source, ingested_at, warnings, record_count";

impl HeaderColumns {
    pub(super) fn decode(self) -> Result<StoredReport, StoreError> {
        let id = self.id;
        let bad = |what: &str, e: String| {
            StoreError::Database(format!("stored report #{id}: its {what} cannot be read: {e}"))
        };
        let schema = match self.schema.as_str() {
            "rfc7489" => Schema::Rfc7489,
            "rfc9990" => Schema::Rfc9990,
            other => return Err(bad("schema", format!("unknown schema `{other}`"))),
        };
        let pct = match self.pct {
            None => None,
            Some(n) => Some(u32::try_from(n).map_err(|_| bad("pct", format!("{n}")))?),
        };
        let list = |what: &str, text: Option<String>| -> Result<Vec<String>, StoreError> {
            match text {
                None => Ok(Vec::new()),
                Some(t) => serde_json::from_str(&t).map_err(|e| bad(what, e.to_string())),
            }
        };
        let header = ReportHeader {
            schema,
            version: self.version,
            org_name: self.org_name,
            email: self.email,
            extra_contact_info: self.extra_contact_info,
            report_id: self.report_id,
            begin: self.begin,
            end: self.end,
            errors: list("errors", self.errors)?,
            generator: self.generator,
            policy: PolicyPublished {
                domain: self.policy_domain,
                adkim: self.adkim.as_deref().map(Alignment::from_canonical),
                aspf: self.aspf.as_deref().map(Alignment::from_canonical),
                p: self.p.as_deref().map(Policy::from_canonical),
                sp: self.sp.as_deref().map(Policy::from_canonical),
                np: self.np.as_deref().map(Policy::from_canonical),
                pct,
                fo: self.fo,
                testing: self.testing,
                discovery_method: self.discovery_method,
            },
            extensions: list("extensions", self.extensions)?,
        };
        Ok(StoredReport {
            id,
            header,
            source: self.source,
            ingested_at: self.ingested_at,
            warnings: list("warnings", self.warnings)?,
            records: u64::try_from(self.record_count).unwrap_or(0),
        })
    }
}

/// The columns of a record's row, as both backends store them.
pub(super) struct RecordColumns<'a> {
    pub report: i64,
    pub source_ip: &'a str,
    pub count: i64,
    pub disposition: Option<&'a str>,
    pub dkim: Option<&'a str>,
    pub spf: Option<&'a str>,
    pub header_from: Option<&'a str>,
    pub envelope_from: Option<&'a str>,
    pub envelope_to: Option<&'a str>,
    pub extensions: Option<&'a str>,
    pub reasons: Option<&'a str>,
    pub dkim_auth: Option<&'a str>,
    pub spf_auth: Option<&'a str>,
}

#[derive(Deserialize)]
struct JsonReason {
    #[serde(rename = "type")]
    kind: Option<String>,
    comment: Option<String>,
}

#[derive(Deserialize)]
struct JsonAuth {
    domain: String,
    selector: Option<String>,
    scope: Option<String>,
    result: Option<String>,
    human_result: Option<String>,
}

impl RecordColumns<'_> {
    pub(super) fn decode(&self) -> Result<Record, StoreError> {
        fn list<T: serde::de::DeserializeOwned>(
            report: i64,
            what: &str,
            text: Option<&str>,
        ) -> Result<Vec<T>, StoreError> {
            match text {
                None => Ok(Vec::new()),
                Some(t) => serde_json::from_str(t).map_err(|e| {
                    StoreError::Database(format!(
                        "stored report #{report}: a record's {what} cannot be read: {e}"
                    ))
                }),
            }
        }
        let r = self.report;
        let owned = |s: Option<&str>| s.map(str::to_owned);
        Ok(Record {
            source_ip: self.source_ip.to_owned(),
            count: u64::try_from(self.count).unwrap_or(0),
            disposition: self.disposition.map(Disposition::from_canonical),
            dkim: self.dkim.map(DmarcResult::from_canonical),
            spf: self.spf.map(DmarcResult::from_canonical),
            reasons: list::<JsonReason>(r, "reasons", self.reasons)?
                .into_iter()
                .map(|x| Reason {
                    kind: x.kind.as_deref().map(OverrideReason::from_canonical),
                    comment: x.comment,
                })
                .collect(),
            header_from: owned(self.header_from),
            envelope_from: owned(self.envelope_from),
            envelope_to: owned(self.envelope_to),
            dkim_results: list::<JsonAuth>(r, "DKIM results", self.dkim_auth)?
                .into_iter()
                .map(|a| DkimAuth {
                    domain: a.domain,
                    selector: a.selector,
                    result: a.result.as_deref().map(DkimResult::from_canonical),
                    human_result: a.human_result,
                })
                .collect(),
            spf_results: list::<JsonAuth>(r, "SPF results", self.spf_auth)?
                .into_iter()
                .map(|a| SpfAuth {
                    domain: a.domain,
                    scope: a.scope.as_deref().map(SpfScope::from_canonical),
                    result: a.result.as_deref().map(SpfResult::from_canonical),
                    human_result: a.human_result,
                })
                .collect(),
            extensions: list(r, "extensions", self.extensions)?,
        })
    }
}

/// Groups check rows `(domain, checked_at, finding)` in their order into
/// runs; the `ok` row of a clean run becomes no finding.
pub(super) fn check_runs(rows: Vec<(String, i64, StoredFinding)>) -> Vec<CheckRun> {
    let mut runs: Vec<CheckRun> = Vec::new();
    let mut index = std::collections::HashMap::new();
    for (domain, checked_at, finding) in rows {
        let at = *index.entry((domain.clone(), checked_at)).or_insert_with(|| {
            runs.push(CheckRun { domain, checked_at, findings: Vec::new() });
            runs.len() - 1
        });
        if finding.code != "ok" {
            runs[at].findings.push(finding);
        }
    }
    runs
}

impl SqliteStore {
    /// A stored report's header and facts; `None` when there is no such
    /// report.
    pub fn stored_report(&self, id: i64) -> Result<Option<StoredReport>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!("SELECT {HEADER_COLUMNS} FROM reports WHERE id = ?1"))?;
        let columns = stmt
            .query_row([id], |r| {
                Ok(HeaderColumns {
                    id: r.get(0)?,
                    org_name: r.get(1)?,
                    policy_domain: r.get(2)?,
                    report_id: r.get(3)?,
                    begin: r.get(4)?,
                    end: r.get(5)?,
                    schema: r.get(6)?,
                    version: r.get(7)?,
                    email: r.get(8)?,
                    extra_contact_info: r.get(9)?,
                    generator: r.get(10)?,
                    errors: r.get(11)?,
                    adkim: r.get(12)?,
                    aspf: r.get(13)?,
                    p: r.get(14)?,
                    sp: r.get(15)?,
                    np: r.get(16)?,
                    pct: r.get(17)?,
                    fo: r.get(18)?,
                    testing: r.get(19)?,
                    discovery_method: r.get(20)?,
                    extensions: r.get(21)?,
                    source: r.get(22)?,
                    ingested_at: r.get(23)?,
                    warnings: r.get(24)?,
                    record_count: r.get(25)?,
                })
            })
            .optional()?;
        columns.map(HeaderColumns::decode).transpose()
    }

    /// Calls `visit` with every record of report `id`, in stored order.
    pub fn report_records(
        &self,
        id: i64,
        visit: &mut dyn FnMut(Record) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut stmt = self.conn.prepare_cached(super::layout::RECORDS)?;
        let mut rows = stmt.query([id])?;
        let mut ip = String::new();
        while let Some(r) = rows.next()? {
            visit(super::layout::decode_record(id, r, &mut ip)?)?;
        }
        Ok(())
    }

    /// A failed input with its bytes; `None` when there is no such row.
    pub fn kept_failure(&self, id: i64) -> Result<Option<KeptFailure>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT id, name, data, error, first_seen, last_seen, attempts, sha256, kind,
                     dismissed_at
                 FROM failed_inputs WHERE id = ?1",
                [id],
                |r| {
                    Ok(KeptFailure {
                        id: r.get(0)?,
                        name: r.get(1)?,
                        data: r.get(2)?,
                        error: r.get(3)?,
                        first_seen: r.get(4)?,
                        last_seen: r.get(5)?,
                        attempts: r.get(6)?,
                        sha256: r.get(7)?,
                        kind: super::dismiss::kind_named(&r.get::<_, String>(8)?),
                        dismissed_at: r.get(9)?,
                    })
                },
            )
            .optional()?)
    }

    /// Keeps a failed input read from another database, under its id when
    /// that id is free here; `false` when the same input is here already
    /// (the same bytes, or for one kept without bytes the same name).
    pub fn import_failure(&self, f: &KeptFailure) -> Result<bool, StoreError> {
        let undo = Undo::start(self, "import_failure")?;
        let sha =
            f.sha256.clone().or_else(|| f.data.as_deref().map(|d| Sha256::digest(d).to_vec()));
        let present: Option<i64> = match &sha {
            Some(sha) => self
                .conn
                .query_row("SELECT id FROM failed_inputs WHERE sha256 = ?1", [sha], |r| r.get(0))
                .optional()?,
            None => self
                .conn
                .query_row(
                    "SELECT id FROM failed_inputs WHERE sha256 IS NULL AND name = ?1",
                    [&f.name],
                    |r| r.get(0),
                )
                .optional()?,
        };
        if present.is_some() {
            undo.keep()?;
            return Ok(false);
        }
        let taken: bool = self.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM failed_inputs WHERE id = ?1)",
            [f.id],
            |r| r.get(0),
        )?;
        self.conn.execute(
            "INSERT INTO failed_inputs (id, name, sha256, data, error, first_seen, last_seen,
                 attempts, kind, dismissed_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![
                (!taken).then_some(f.id),
                f.name,
                sha,
                f.data,
                f.error,
                f.first_seen,
                f.last_seen,
                f.attempts,
                f.kind.as_str(),
                f.dismissed_at
            ],
        )?;
        undo.keep()?;
        Ok(true)
    }

    /// Everything `fetch` remembers about IMAP messages.
    pub fn imap_state(&self) -> Result<Vec<ImapMessage>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT account, folder, uidvalidity, uid, outcome, done, first_seen
             FROM imap_messages ORDER BY account, folder, uidvalidity, uid",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(ImapMessage {
                account: r.get(0)?,
                folder: r.get(1)?,
                uidvalidity: r.get(2)?,
                uid: r.get(3)?,
                outcome: MessageOutcome::parse(&r.get::<_, String>(4)?),
                done: r.get(5)?,
                first_seen: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Every fact `notify` keeps, with its time.
    pub fn notify_fact_rows(&self) -> Result<Vec<FactRow>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT kind, domain, subject, value, updated_at FROM notify_state
             ORDER BY kind, domain, subject",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(FactRow {
                fact: NotifyFact {
                    kind: r.get(0)?,
                    domain: r.get(1)?,
                    subject: r.get(2)?,
                    value: r.get(3)?,
                },
                updated_at: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Every notification event, oldest first.
    pub fn event_rows(&self) -> Result<Vec<EventRow>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT id, created_at, kind, domain, payload, delivered_to, delivered_at
             FROM notify_events ORDER BY id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(EventRow {
                id: r.get(0)?,
                created_at: r.get(1)?,
                kind: r.get(2)?,
                domain: r.get(3)?,
                payload: r.get(4)?,
                delivered_to: r.get(5)?,
                delivered_at: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Keeps a notification event read from another database, under its
    /// id when that id is free here; `false` when an event of the same
    /// time, kind and payload is here already.
    pub fn import_event(&self, e: &EventRow) -> Result<bool, StoreError> {
        let undo = Undo::start(self, "import_event")?;
        let present: bool = self.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM notify_events
                 WHERE created_at = ?1 AND kind = ?2 AND payload = ?3)",
            params![e.created_at, e.kind, e.payload],
            |r| r.get(0),
        )?;
        if present {
            undo.keep()?;
            return Ok(false);
        }
        let taken: bool = self.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM notify_events WHERE id = ?1)",
            [e.id],
            |r| r.get(0),
        )?;
        self.conn.execute(
            "INSERT INTO notify_events (id, created_at, kind, domain, payload, delivered_to,
                 delivered_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                (!taken).then_some(e.id),
                e.created_at,
                e.kind,
                e.domain,
                e.payload,
                e.delivered_to,
                e.delivered_at
            ],
        )?;
        undo.keep()?;
        Ok(true)
    }

    /// Every run of `check`, in the order they were stored.
    pub fn check_runs(&self) -> Result<Vec<CheckRun>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT domain, checked_at, code, severity, record, message, fix
             FROM record_checks ORDER BY rowid",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                StoredFinding {
                    code: r.get(2)?,
                    severity: r.get(3)?,
                    record: r.get(4)?,
                    message: r.get(5)?,
                    fix: r.get(6)?,
                },
            ))
        })?;
        Ok(check_runs(rows.collect::<Result<_, _>>()?))
    }
}
