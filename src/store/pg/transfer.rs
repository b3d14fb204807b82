//! The rows `copy` moves (see `store/transfer.rs`), read from and written
//! to PostgreSQL.

use postgres::fallible_iterator::FallibleIterator;
use postgres::types::ToSql;
use sha2::{Digest, Sha256};

use super::PgStore;
use crate::model::Record;
use crate::store::checks::StoredFinding;
use crate::store::notify::NotifyFact;
use crate::store::transfer::{
    CheckRun, EventRow, FactRow, HEADER_COLUMNS, HeaderColumns, ImapMessage, KeptFailure,
    RecordColumns, StoredReport, check_runs,
};
use crate::store::{MessageOutcome, StoreError};

impl PgStore {
    /// A stored report's header and facts; `None` when there is no such
    /// report.
    pub fn stored_report(&self, id: i64) -> Result<Option<StoredReport>, StoreError> {
        let row = self
            .c()
            .query_opt(&format!("SELECT {HEADER_COLUMNS} FROM reports WHERE id = $1"), &[&id])?;
        let Some(r) = row else { return Ok(None) };
        HeaderColumns {
            id: r.get(0),
            org_name: r.get(1),
            policy_domain: r.get(2),
            report_id: r.get(3),
            begin: r.get(4),
            end: r.get(5),
            schema: r.get(6),
            version: r.get(7),
            email: r.get(8),
            extra_contact_info: r.get(9),
            generator: r.get(10),
            errors: r.get(11),
            adkim: r.get(12),
            aspf: r.get(13),
            p: r.get(14),
            sp: r.get(15),
            np: r.get(16),
            pct: r.get(17),
            fo: r.get(18),
            testing: r.get(19),
            discovery_method: r.get(20),
            extensions: r.get(21),
            source: r.get(22),
            ingested_at: r.get(23),
            warnings: r.get(24),
            record_count: r.get(25),
        }
        .decode()
        .map(Some)
    }

    /// Calls `visit` with every record of report `id`, in stored order,
    /// streaming them from the server.
    pub fn report_records(
        &self,
        id: i64,
        visit: &mut dyn FnMut(Record) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut c = self.c();
        let params: [&(dyn ToSql + Sync); 1] = [&id];
        let mut rows = c.query_raw(
            "SELECT source_ip, count, disposition, dkim, spf, header_from, envelope_from,
                 envelope_to, extensions, reasons::text, dkim_auth::text, spf_auth::text
             FROM records WHERE report = $1 ORDER BY id",
            params,
        )?;
        while let Some(r) = rows.next()? {
            let record = RecordColumns {
                report: id,
                source_ip: r.get(0),
                count: r.get(1),
                disposition: r.get(2),
                dkim: r.get(3),
                spf: r.get(4),
                header_from: r.get(5),
                envelope_from: r.get(6),
                envelope_to: r.get(7),
                extensions: r.get(8),
                reasons: r.get(9),
                dkim_auth: r.get(10),
                spf_auth: r.get(11),
            }
            .decode()?;
            visit(record)?;
        }
        Ok(())
    }

    /// A failed input with its bytes; `None` when there is no such row.
    pub fn kept_failure(&self, id: i64) -> Result<Option<KeptFailure>, StoreError> {
        let row = self.c().query_opt(
            "SELECT id, name, data, error, first_seen, last_seen, attempts, sha256, kind,
                 dismissed_at
             FROM failed_inputs WHERE id = $1",
            &[&id],
        )?;
        Ok(row.map(|r| KeptFailure {
            id: r.get(0),
            name: r.get(1),
            data: r.get(2),
            error: r.get(3),
            first_seen: r.get(4),
            last_seen: r.get(5),
            attempts: r.get(6),
            sha256: r.get(7),
            kind: crate::store::dismiss::kind_named(r.get(8)),
            dismissed_at: r.get(9),
        }))
    }

    /// Keeps a failed input read from another database, under its id when
    /// that id is free here; `false` when the same input is here already
    /// (the same bytes, or for one kept without bytes the same name).
    pub fn import_failure(&self, f: &KeptFailure) -> Result<bool, StoreError> {
        let sha =
            f.sha256.clone().or_else(|| f.data.as_deref().map(|d| Sha256::digest(d).to_vec()));
        self.atomically(|| {
            let present = match &sha {
                Some(sha) => {
                    self.c().query_opt("SELECT 1 FROM failed_inputs WHERE sha256 = $1", &[sha])?
                }
                None => self.c().query_opt(
                    "SELECT 1 FROM failed_inputs WHERE sha256 IS NULL AND name = $1",
                    &[&f.name],
                )?,
            };
            if present.is_some() {
                return Ok(false);
            }
            let free = self
                .c()
                .query_opt("SELECT 1 FROM failed_inputs WHERE id = $1", &[&f.id])?
                .is_none();
            let kind = f.kind.as_str();
            let args: [&(dyn ToSql + Sync); 9] = [
                &f.name,
                &sha,
                &f.data,
                &f.error,
                &f.first_seen,
                &f.last_seen,
                &f.attempts,
                &kind,
                &f.dismissed_at,
            ];
            if free {
                self.exec(
                    "INSERT INTO failed_inputs (id, name, sha256, data, error, first_seen,
                         last_seen, attempts, kind, dismissed_at) OVERRIDING SYSTEM VALUE
                     VALUES ($10, $1, $2, $3, $4, $5, $6, $7, $8, $9)",
                    &[&args[..], &[&f.id]].concat(),
                )?;
                self.follow_identity("failed_inputs")?;
            } else {
                self.exec(
                    "INSERT INTO failed_inputs (name, sha256, data, error, first_seen,
                         last_seen, attempts, kind, dismissed_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                    &args,
                )?;
            }
            Ok(true)
        })
    }

    /// Moves the id generator of `table` past the ids given explicitly, so
    /// that rows added later never collide with them.
    fn follow_identity(&self, table: &str) -> Result<(), StoreError> {
        self.c().query_one(
            &format!(
                "SELECT setval(pg_get_serial_sequence('{table}', 'id'),
                     GREATEST((SELECT max(id) FROM {table}),
                              (SELECT last_value FROM {table}_id_seq)))"
            ),
            &[],
        )?;
        Ok(())
    }

    /// Everything `fetch` remembers about IMAP messages.
    pub fn imap_state(&self) -> Result<Vec<ImapMessage>, StoreError> {
        let rows = self.c().query(
            "SELECT account, folder, uidvalidity, uid, outcome, done, first_seen
             FROM imap_messages ORDER BY account, folder, uidvalidity, uid",
            &[],
        )?;
        Ok(rows
            .iter()
            .map(|r| ImapMessage {
                account: r.get(0),
                folder: r.get(1),
                uidvalidity: u32::try_from(r.get::<_, i64>(2)).unwrap_or(0),
                uid: u32::try_from(r.get::<_, i64>(3)).unwrap_or(0),
                outcome: MessageOutcome::parse(r.get(4)),
                done: r.get(5),
                first_seen: r.get(6),
            })
            .collect())
    }

    /// Every fact `notify` keeps, with its time.
    pub fn notify_fact_rows(&self) -> Result<Vec<FactRow>, StoreError> {
        let rows = self.c().query(
            "SELECT kind, domain, subject, value, updated_at FROM notify_state
             ORDER BY kind, domain, subject",
            &[],
        )?;
        Ok(rows
            .iter()
            .map(|r| FactRow {
                fact: NotifyFact {
                    kind: r.get(0),
                    domain: r.get(1),
                    subject: r.get(2),
                    value: r.get(3),
                },
                updated_at: r.get(4),
            })
            .collect())
    }

    /// Every notification event, oldest first.
    pub fn event_rows(&self) -> Result<Vec<EventRow>, StoreError> {
        let rows = self.c().query(
            "SELECT id, created_at, kind, domain, payload, delivered_to, delivered_at
             FROM notify_events ORDER BY id",
            &[],
        )?;
        Ok(rows
            .iter()
            .map(|r| EventRow {
                id: r.get(0),
                created_at: r.get(1),
                kind: r.get(2),
                domain: r.get(3),
                payload: r.get(4),
                delivered_to: r.get(5),
                delivered_at: r.get(6),
            })
            .collect())
    }

    /// Keeps a notification event read from another database, under its
    /// id when that id is free here; `false` when an event of the same
    /// time, kind and payload is here already.
    pub fn import_event(&self, e: &EventRow) -> Result<bool, StoreError> {
        self.atomically(|| {
            let present = self.c().query_opt(
                "SELECT 1 FROM notify_events WHERE created_at = $1 AND kind = $2 AND payload = $3",
                &[&e.created_at, &e.kind, &e.payload],
            )?;
            if present.is_some() {
                return Ok(false);
            }
            let free = self
                .c()
                .query_opt("SELECT 1 FROM notify_events WHERE id = $1", &[&e.id])?
                .is_none();
            let args: [&(dyn ToSql + Sync); 6] =
                [&e.created_at, &e.kind, &e.domain, &e.payload, &e.delivered_to, &e.delivered_at];
            if free {
                self.exec(
                    "INSERT INTO notify_events (id, created_at, kind, domain, payload,
                         delivered_to, delivered_at) OVERRIDING SYSTEM VALUE
                     VALUES ($7, $1, $2, $3, $4, $5, $6)",
                    &[&args[..], &[&e.id]].concat(),
                )?;
                self.follow_identity("notify_events")?;
            } else {
                self.exec(
                    "INSERT INTO notify_events (created_at, kind, domain, payload, delivered_to,
                         delivered_at)
                     VALUES ($1, $2, $3, $4, $5, $6)",
                    &args,
                )?;
            }
            Ok(true)
        })
    }

    /// Every run of `check`, in the order they were stored.
    pub fn check_runs(&self) -> Result<Vec<CheckRun>, StoreError> {
        let rows = self.c().query(
            "SELECT domain, checked_at, code, severity, record, message, fix
             FROM record_checks ORDER BY id",
            &[],
        )?;
        Ok(check_runs(
            rows.iter()
                .map(|r| {
                    (
                        r.get(0),
                        r.get(1),
                        StoredFinding {
                            code: r.get(2),
                            severity: r.get(3),
                            record: r.get(4),
                            message: r.get(5),
                            fix: r.get(6),
                        },
                    )
                })
                .collect(),
        ))
    }
}
