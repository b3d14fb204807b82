//! Looking at a database as it is, without changing it: for tests (crash
//! tests open what a killed process left behind), benchmarks and
//! troubleshooting. [`Inspector::open`] never creates or migrates a file.

use std::io::Read;
use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use super::pg::PgStore;
use super::{SqliteStore, StoreError};

/// How many rows of each kind a database holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Stored reports.
    pub reports: u64,
    /// Distinct (org_name, policy domain, report_id, begin, end): equal to
    /// `reports` unless a report is stored twice.
    pub distinct_reports: u64,
    /// Distinct report ids.
    pub distinct_report_ids: u64,
    /// Stored records.
    pub records: u64,
    /// Sum of the records' counts.
    pub messages: u64,
    /// Sum of the reports' record counts (equal to `records` when every
    /// report is whole).
    pub reported_records: u64,
    /// Raw copies of reports.
    pub raw_copies: u64,
    /// Failed inputs.
    pub failed_inputs: u64,
    /// Failed inputs kept with their bytes.
    pub failed_with_data: u64,
}

/// A read-only view of a database.
pub struct Inspector<'a> {
    conn: Conn<'a>,
}

enum Conn<'a> {
    Owned(Connection),
    Borrowed(&'a Connection),
    Postgres(&'a PgStore),
    PostgresOwned(Box<PgStore>),
}

impl<'a> Inspector<'a> {
    /// A PostgreSQL database, for inspection.
    pub(super) fn postgres(store: &'a PgStore) -> Inspector<'a> {
        Inspector { conn: Conn::Postgres(store) }
    }
}

impl Inspector<'_> {
    /// The SQLite connection; the operations that only SQLite has say so
    /// on PostgreSQL.
    fn sqlite(&self) -> Result<&Connection, StoreError> {
        match &self.conn {
            Conn::Owned(c) => Ok(c),
            Conn::Borrowed(c) => Ok(c),
            Conn::Postgres(_) | Conn::PostgresOwned(_) => Err(StoreError::Database(
                "this inspection is available on SQLite databases only".to_owned(),
            )),
        }
    }

    /// The PostgreSQL database, when it is one.
    fn pg(&self) -> Option<&PgStore> {
        match &self.conn {
            Conn::Postgres(pg) => Some(pg),
            Conn::PostgresOwned(pg) => Some(pg),
            Conn::Owned(_) | Conn::Borrowed(_) => None,
        }
    }
}

impl SqliteStore {
    /// This database, for inspection.
    pub fn inspect(&self) -> Inspector<'_> {
        Inspector { conn: Conn::Borrowed(&self.conn) }
    }
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

impl Inspector<'static> {
    /// Opens the database at `path` as it is: a SQLite file (never created,
    /// never migrated), or a `postgresql://` URL (opened as the program
    /// opens it: an empty database gets the schema).
    pub fn open(path: &Path) -> Result<Inspector<'static>, StoreError> {
        if let super::engine::Location::Postgres(url) = super::engine::Location::parse(path)? {
            let store = PgStore::open(super::pg::Target::parse(&url)?)?;
            return Ok(Inspector { conn: Conn::PostgresOwned(Box::new(store)) });
        }
        if !path.is_file() {
            return Err(StoreError::Open {
                path: path.display().to_string(),
                reason: "there is no database file there".to_owned(),
            });
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(std::time::Duration::from_secs(30))?;
        Ok(Inspector { conn: Conn::Owned(conn) })
    }
}

impl Inspector<'_> {
    fn one(&self, sql: &str) -> Result<i64, StoreError> {
        if let Some(pg) = self.pg() {
            return pg.inspect_one(sql);
        }
        Ok(self.sqlite()?.query_row(sql, [], |r| r.get(0))?)
    }

    /// The schema version (0: no schema yet).
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        if let Some(pg) = self.pg() {
            return pg.schema_version();
        }
        self.one("PRAGMA user_version")
    }

    /// The names of every table, index and view.
    pub fn schema_objects(&self) -> Result<Vec<String>, StoreError> {
        let mut stmt = self.sqlite()?.prepare("SELECT name FROM sqlite_master ORDER BY name")?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The database's own consistency check, references between tables
    /// included: `ok`, or what is wrong.
    pub fn integrity_check(&self) -> Result<String, StoreError> {
        let mut stmt = self.sqlite()?.prepare("PRAGMA integrity_check")?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        let mut report = rows.collect::<Result<Vec<_>, _>>()?.join("\n");
        let dangling = self.one("SELECT count(*) FROM pragma_foreign_key_check")?;
        if dangling > 0 {
            if report == "ok" {
                report.clear();
            } else {
                report.push('\n');
            }
            report.push_str(&format!("{dangling} row(s) refer to rows that do not exist"));
        }
        Ok(report)
    }

    /// How many rows of each kind it holds (all zero without a schema).
    pub fn counts(&self) -> Result<Counts, StoreError> {
        if self.pg().is_none()
            && self.one("SELECT count(*) FROM sqlite_master WHERE name = 'reports'")? == 0
        {
            return Ok(Counts::default());
        }
        Ok(Counts {
            reports: count(self.one("SELECT count(*) FROM reports")?),
            distinct_reports: count(self.one(
                "SELECT count(*) FROM (SELECT DISTINCT org_name, policy_domain, report_id,
                     begin_ts, end_ts FROM reports) AS d",
            )?),
            distinct_report_ids: count(self.one("SELECT count(DISTINCT report_id) FROM reports")?),
            records: count(self.one("SELECT count(*) FROM records")?),
            messages: count(self.one("SELECT COALESCE(sum(count), 0) FROM records")?),
            reported_records: count(
                self.one("SELECT COALESCE(sum(record_count), 0) FROM reports")?,
            ),
            raw_copies: count(self.one("SELECT count(*) FROM report_raw")?),
            failed_inputs: count(self.one("SELECT count(*) FROM failed_inputs")?),
            failed_with_data: count(
                self.one("SELECT count(*) FROM failed_inputs WHERE length(data) > 0")?,
            ),
        })
    }

    /// Reports stored half-way: (id, record_count, records present, raw
    /// copies present) of every report whose totals do not match its
    /// records or that has no raw copy. Empty when all are whole.
    pub fn incomplete_reports(&self) -> Result<Vec<[i64; 4]>, StoreError> {
        let sql =
            "SELECT r.id, r.record_count, (SELECT count(*) FROM records c WHERE c.report = r.id),
                 (SELECT count(*) FROM report_raw w WHERE w.report = r.id)
             FROM reports r
             WHERE r.record_count != (SELECT count(*) FROM records c WHERE c.report = r.id)
                OR r.message_count !=
                   (SELECT COALESCE(sum(count), 0) FROM records c WHERE c.report = r.id)
                OR NOT EXISTS (SELECT 1 FROM report_raw w WHERE w.report = r.id)
                OR NOT EXISTS (SELECT 1 FROM report_raw_chunks k WHERE k.report = r.id)";
        let parse = |v: &String| v.parse::<i64>().unwrap_or(-1);
        Ok(self
            .rows(sql)?
            .iter()
            .map(|r| [parse(&r[0]), parse(&r[1]), parse(&r[2]), parse(&r[3])])
            .collect())
    }

    /// The canonical image of the data (see [`super::snapshot`]).
    pub fn snapshot(&self) -> Result<serde_json::Value, StoreError> {
        match self.pg() {
            Some(pg) => super::snapshot::snapshot(&|sql| pg.inspect_values(sql)),
            None => {
                let conn = self.sqlite()?;
                super::snapshot::snapshot(&|sql| super::snapshot::sqlite_values(conn, sql))
            }
        }
    }

    /// Every stored raw copy, decompressed: (the report's
    /// `org|domain|report_id|begin|end`, file name, known UTF-8, the XML).
    #[allow(clippy::type_complexity)]
    pub fn raw_copies(&self) -> Result<Vec<(String, Option<String>, bool, Vec<u8>)>, StoreError> {
        if let Some(pg) = self.pg() {
            return pg.raw_copies();
        }
        let mut stmt = self.sqlite()?.prepare(
            "SELECT r.org_name || '|' || r.policy_domain || '|' || r.report_id || '|'
                    || r.begin_ts || '|' || r.end_ts, w.file_name, w.known_utf8, w.report
             FROM report_raw w JOIN reports r ON r.id = w.report ORDER BY w.report",
        )?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get::<_, i64>(3)?)))?
            .collect::<Result<Vec<(String, Option<String>, bool, i64)>, _>>()?;
        let mut out = Vec::with_capacity(rows.len());
        for (key, file_name, known_utf8, report) in rows {
            let mut chunks = self.sqlite()?.prepare_cached(
                "SELECT data FROM report_raw_chunks WHERE report = ?1 ORDER BY seq",
            )?;
            let pieces =
                chunks.query_map([report], |r| r.get(0))?.collect::<Result<Vec<Vec<u8>>, _>>()?;
            let mut xml = Vec::new();
            super::raw::open(pieces).read_to_end(&mut xml).map_err(|e| {
                StoreError::Database(format!("a raw copy does not decompress: {e}"))
            })?;
            out.push((key, file_name, known_utf8, xml));
        }
        Ok(out)
    }

    /// What it holds, row ids and ingestion times left out, as sorted
    /// lines: reports, records (numbered within their report), reasons and
    /// auth results (numbered within their record), the raw XML (length
    /// and hash) and the failed inputs (with their hash and attempts). Two
    /// databases with the same data give the same lines.
    pub fn content(&self) -> Result<Vec<String>, StoreError> {
        const KEY: &str = "r.org_name || '|' || r.policy_domain || '|' || r.report_id \
             || '|' || r.begin_ts || '|' || r.end_ts";
        let mut lines = Vec::new();
        for row in self.rows(
            "SELECT org_name, policy_domain, report_id, begin_ts, end_ts, schema, version, email,
                 extra_contact_info, generator, errors, adkim, aspf, p, sp, np, pct, fo, testing,
                 discovery_method, extensions, source, warnings, record_count, message_count
             FROM reports",
        )? {
            lines.push(format!("report: {}", row.join(" | ")));
        }
        // Records numbered within their report, in insertion order. Schema 8
        // and PostgreSQL read the documented views; earlier SQLite schemas
        // (tests of upgrades read databases of earlier releases) their
        // tables.
        let views = self.pg().is_some()
            || self.one("SELECT count(*) FROM sqlite_master WHERE name = 'records_v'")? > 0;
        let (records, per_record) = if views {
            (
                format!(
                    "SELECT c.report || '/' || c.record, {KEY}, c.source_ip, c.count,
                         c.disposition, c.dkim, c.spf, c.header_from, c.envelope_from,
                         c.envelope_to, c.extensions
                     FROM records_v c JOIN reports r ON r.id = c.report
                     ORDER BY c.report, c.record"
                ),
                [
                    (
                        "reason",
                        "SELECT report || '/' || record, type, comment FROM reasons_v
                         ORDER BY report, record, seq",
                    ),
                    (
                        "dkim",
                        "SELECT report || '/' || record, domain, selector, result, human_result
                         FROM dkim_results_v ORDER BY report, record, seq",
                    ),
                    (
                        "spf",
                        "SELECT report || '/' || record, domain, scope, result, human_result
                         FROM spf_results_v ORDER BY report, record, seq",
                    ),
                ],
            )
        } else {
            (
                format!(
                    "SELECT c.id, {KEY}, c.source_ip, c.count, c.disposition, c.dkim, c.spf,
                         c.header_from, c.envelope_from, c.envelope_to, c.extensions
                     FROM records c JOIN reports r ON r.id = c.report ORDER BY c.report, c.id"
                ),
                [
                    (
                        "reason",
                        "SELECT record, type, comment FROM record_reasons ORDER BY record, seq",
                    ),
                    (
                        "dkim",
                        "SELECT record, domain, selector, result, human_result FROM dkim_results
                         ORDER BY record, seq",
                    ),
                    (
                        "spf",
                        "SELECT record, domain, scope, result, human_result FROM spf_results
                         ORDER BY record, seq",
                    ),
                ],
            )
        };
        let mut record_names = std::collections::HashMap::new();
        let mut last_report = String::new();
        let mut ordinal = 0;
        for row in self.rows(&records)? {
            ordinal = if row[1] == last_report { ordinal + 1 } else { 1 };
            last_report = row[1].clone();
            let name = format!("{} #{ordinal}", row[1]);
            lines.push(format!("record: {name} | {}", row[2..].join(" | ")));
            record_names.insert(row[0].clone(), name);
        }
        // Reasons and auth results numbered within their record.
        for (table, sql) in per_record {
            let mut last_record = String::new();
            let mut ordinal = 0;
            for row in self.rows(sql)? {
                ordinal = if row[0] == last_record { ordinal + 1 } else { 1 };
                last_record = row[0].clone();
                let record = record_names.get(&row[0]).map_or("orphan", String::as_str);
                lines.push(format!("{table}: {record} #{ordinal} | {}", row[1..].join(" | ")));
            }
        }
        for row in self.rows(if self.pg().is_some() {
            "SELECT name, error, upper(encode(sha256, 'hex')), length(data), attempts
                 FROM failed_inputs"
        } else {
            "SELECT name, error, hex(sha256), length(data), attempts FROM failed_inputs"
        })? {
            lines.push(format!("failed: {}", row.join(" | ")));
        }
        for (key, file_name, known_utf8, xml) in self.raw_copies()? {
            let hash = xml.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
                (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
            });
            lines.push(format!(
                "raw: {key} | {file_name:?} | {} | {} | {hash:x}",
                i64::from(known_utf8),
                xml.len()
            ));
        }
        lines.sort();
        Ok(lines)
    }

    /// Every row of the daily rollups (`source_days` with its policy domain
    /// as text, then `domain_days`), each as one line, sorted. SQLite only.
    pub fn rollups(&self) -> Result<Vec<String>, StoreError> {
        let by_id =
            self.one("SELECT count(*) FROM sqlite_master WHERE name = 'source_days_v'")? > 0;
        let columns = "source_ip, day, messages, dmarc_pass, spf_aligned_pass,
             dkim_aligned_pass, authenticated, disposition_none, disposition_quarantine,
             disposition_reject, first_begin, last_end, dkim_domains, spf_domains, reasons,
             envelope_from, sub_messages, sub_dmarc_pass, sub_spf_aligned_pass,
             sub_dkim_aligned_pass, sub_authenticated";
        let table = if by_id { "source_days_v" } else { "source_days" };
        let mut lines: Vec<String> = self
            .rows(&format!("SELECT 'source', domain, {columns} FROM {table}"))?
            .into_iter()
            .chain(self.rows(
                "SELECT 'domain', domain, day, kind, key, messages, dmarc_pass,
                     spf_aligned_pass, dkim_aligned_pass, authenticated
                 FROM domain_days",
            )?)
            .map(|row| row.join(" | "))
            .collect();
        lines.sort();
        Ok(lines)
    }

    /// Every row of the documented view `reports_v` but its ids and
    /// ingestion times, each as one line, sorted: the same data gives the
    /// same lines in SQLite and PostgreSQL.
    pub fn reports_view(&self) -> Result<Vec<String>, StoreError> {
        let mut lines: Vec<String> = self
            .rows(
                "SELECT org_name, policy_domain, report_id, begin_ts, end_ts, begin_utc, end_utc,
                     schema, version, email, extra_contact_info, generator, errors, adkim, aspf,
                     p, sp, np, pct, fo, testing, discovery_method, extensions, source, warnings,
                     record_count, message_count
                 FROM reports_v",
            )?
            .into_iter()
            .map(|row| row.join(" | "))
            .collect();
        lines.sort();
        Ok(lines)
    }

    /// Each failed input's name, kind, whether it is dismissed and the size
    /// of its kept bytes, `name | kind | dismissed | size`, sorted by name
    /// (a database before failure kinds has none to give: an error).
    pub fn failure_kinds(&self) -> Result<Vec<String>, StoreError> {
        let rows = self.rows(
            "SELECT name, kind, CASE WHEN dismissed_at IS NULL THEN 'listed' ELSE 'dismissed' END,
                 COALESCE(length(data), 0)
             FROM failed_inputs",
        )?;
        let mut lines: Vec<String> = rows.into_iter().map(|row| row.join(" | ")).collect();
        lines.sort();
        Ok(lines)
    }

    /// Every row of a query, each column as text (NULL as `NULL`, blobs as
    /// `blob:<len>`).
    fn rows(&self, sql: &str) -> Result<Vec<Vec<String>>, StoreError> {
        use rusqlite::types::ValueRef;
        if let Some(pg) = self.pg() {
            return pg.inspect_rows(sql);
        }
        let mut stmt = self.sqlite()?.prepare(sql)?;
        let columns = stmt.column_count();
        let mut rows = stmt.query([])?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let mut values = Vec::with_capacity(columns);
            for i in 0..columns {
                values.push(match row.get_ref(i)? {
                    ValueRef::Null => "NULL".to_owned(),
                    ValueRef::Integer(n) => n.to_string(),
                    ValueRef::Real(f) => f.to_string(),
                    ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
                    ValueRef::Blob(b) => format!("blob:{}", b.len()),
                });
            }
            out.push(values);
        }
        Ok(out)
    }
}

/// Creates a database file at `path` with the schema exactly as release
/// `version` of the schema made it (migrations 1 to `version`), for tests of
/// upgrades in place. Fails when `path` exists.
pub fn create_released(path: &Path, version: i64) -> Result<(), StoreError> {
    if path.exists() {
        return Err(StoreError::Open {
            path: path.display().to_string(),
            reason: "the file exists already".to_owned(),
        });
    }
    let conn = Connection::open(path)?;
    super::migrations::apply_up_to(&conn, version)
}

/// Creates at `path` a database with the schema exactly as release
/// `version` made it, holding the data of `from`: its reports, records, raw
/// copies, failed inputs, IMAP state, reverse DNS cache and (schema 5 and
/// later) rollups. For tests of upgrades in place with real data. Versions
/// 4 to 7 share the shape of those tables (schema 8 made the records
/// compact); earlier ones are refused.
pub fn create_released_copy(
    from: &super::Store,
    path: &Path,
    version: i64,
) -> Result<(), StoreError> {
    if !(4..=super::migrations::LATEST).contains(&version) {
        return Err(StoreError::Database(format!(
            "a copy can be made in schema versions 4 to {} only, not {version}",
            super::migrations::LATEST
        )));
    }
    let Some(from) = from.sqlite() else {
        return Err(StoreError::Database("a released copy is made from a SQLite database".into()));
    };
    create_released(path, version)?;
    let conn = &from.conn;
    conn.execute("ATTACH DATABASE ?1 AS released", [path.display().to_string()])?;
    let records = if version >= 8 {
        "INSERT OR IGNORE INTO released.strings SELECT * FROM main.strings;
         INSERT INTO released.records SELECT * FROM main.records;"
    } else {
        // Schemas 4 to 7: one row per record, its lists as JSON.
        "INSERT INTO released.records (id, report, source_ip, count, disposition, dkim, spf,
             header_from, envelope_from, envelope_to, extensions, reasons, dkim_auth, spf_auth)
         WITH reasons AS MATERIALIZED (
             SELECT report, record,
                 json_group_array(json_object('type', type, 'comment', comment)) AS list
             FROM (SELECT * FROM main.reasons_v ORDER BY report, record, seq)
             GROUP BY report, record),
         dkim AS MATERIALIZED (
             SELECT report, record,
                 json_group_array(json_object('domain', domain, 'selector', selector,
                     'result', result, 'human_result', human_result)) AS list
             FROM (SELECT * FROM main.dkim_results_v ORDER BY report, record, seq)
             GROUP BY report, record),
         spf AS MATERIALIZED (
             SELECT report, record,
                 json_group_array(json_object('domain', domain, 'scope', scope,
                     'result', result, 'human_result', human_result)) AS list
             FROM (SELECT * FROM main.spf_results_v ORDER BY report, record, seq)
             GROUP BY report, record)
         SELECT row_number() OVER (ORDER BY c.report, c.record), c.report, c.source_ip,
             c.count, c.disposition, c.dkim, c.spf, c.header_from, c.envelope_from,
             c.envelope_to, c.extensions, x.list, d.list, s.list
         FROM main.records_v c
         LEFT JOIN reasons x ON x.report = c.report AND x.record = c.record
         LEFT JOIN dkim d ON d.report = c.report AND d.record = c.record
         LEFT JOIN spf s ON s.report = c.report AND s.record = c.record;"
    };
    // The rollups in the columns that release had (later ones added some).
    let mut rollups = String::new();
    if version >= 5 {
        for table in ["source_days", "domain_days", "stream_days"] {
            let columns: Vec<String> = conn
                .prepare(&format!("SELECT name FROM pragma_table_info('{table}', 'released')"))?
                .query_map([], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            if columns.is_empty() {
                // Not in that release yet.
                continue;
            }
            // Until source_days named its domain by id, it named it as
            // text: its view gives the rows in that shape.
            let from = if table == "source_days" && !columns.iter().any(|c| c == "domain_id") {
                "source_days_v"
            } else {
                table
            };
            let columns = columns.join(", ");
            rollups.push_str(&format!(
                "INSERT INTO released.{table} ({columns}) SELECT {columns} FROM main.{from};\n"
            ));
        }
    }
    // Failed inputs in the columns that release had (later ones added some).
    let failed_columns: Vec<String> = conn
        .prepare("SELECT name FROM pragma_table_info('failed_inputs', 'released')")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let failed_columns = failed_columns.join(", ");
    let copied = conn.execute_batch(&format!(
        "BEGIN;
         INSERT INTO released.reports SELECT * FROM main.reports;
         INSERT INTO released.report_raw SELECT * FROM main.report_raw;
         INSERT INTO released.report_raw_chunks SELECT * FROM main.report_raw_chunks;
         {records}
         {rollups}
         INSERT INTO released.failed_inputs ({failed_columns})
             SELECT {failed_columns} FROM main.failed_inputs;
         INSERT INTO released.imap_messages SELECT * FROM main.imap_messages;
         INSERT INTO released.rdns_cache SELECT * FROM main.rdns_cache;
         COMMIT;"
    ));
    if copied.is_err() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    let detached = conn.execute_batch("DETACH DATABASE released");
    copied?;
    Ok(detached?)
}
