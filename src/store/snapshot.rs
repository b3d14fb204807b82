//! A canonical JSON image of what the database holds: every report with
//! its records and auth results, and every failed input. Row ids and
//! ingestion times are left out, so two databases that hold the same data
//! give the same image (golden tests compare these).

use rusqlite::{Connection, Row};
use serde_json::{Map, Value, json};

use super::StoreError;

/// Builds the image of everything in `conn`.
pub(super) fn snapshot(conn: &Connection) -> Result<Value, StoreError> {
    let mut reports = Vec::new();
    let mut stmt = conn.prepare(
        "SELECT id, org_name, policy_domain, report_id, begin_ts, end_ts, schema, version, email,
             extra_contact_info, generator, errors, adkim, aspf, p, sp, np, pct, fo, testing,
             discovery_method, extensions, source, warnings, record_count, message_count
         FROM reports ORDER BY policy_domain, begin_ts, org_name, report_id, end_ts",
    )?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        let id: i64 = row.get(0)?;
        let mut report = columns(
            row,
            &[
                "org_name",
                "policy_domain",
                "report_id",
                "begin",
                "end",
                "schema",
                "version",
                "email",
                "extra_contact_info",
                "generator",
                "errors",
                "adkim",
                "aspf",
                "p",
                "sp",
                "np",
                "pct",
                "fo",
                "testing",
                "discovery_method",
                "extensions",
                "source",
                "warnings",
                "record_count",
                "message_count",
            ],
            1,
        )?;
        report.insert("records".into(), Value::Array(records(conn, id)?));
        reports.push(Value::Object(report));
    }
    let mut failed = Vec::new();
    let mut stmt =
        conn.prepare("SELECT name, kind, error, length(data) FROM failed_inputs ORDER BY name")?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        failed.push(Value::Object(columns(row, &["name", "kind", "error", "size"], 0)?));
    }
    Ok(json!({ "reports": reports, "failed": failed }))
}

fn records(conn: &Connection, report: i64) -> Result<Vec<Value>, StoreError> {
    let mut out = Vec::new();
    let mut stmt = conn.prepare_cached(
        "SELECT record, source_ip, count, disposition, dkim, spf, header_from, envelope_from,
             envelope_to, extensions
         FROM records_v WHERE report = ?1 ORDER BY record",
    )?;
    let mut rows = stmt.query([report])?;
    while let Some(row) = rows.next()? {
        let id: i64 = row.get(0)?;
        let mut record = columns(
            row,
            &[
                "source_ip",
                "count",
                "disposition",
                "dkim",
                "spf",
                "header_from",
                "envelope_from",
                "envelope_to",
                "extensions",
            ],
            1,
        )?;
        for (key, sql, names) in [
            (
                "reasons",
                "SELECT type, comment FROM reasons_v WHERE report = ?1 AND record = ?2 ORDER BY seq",
                &["type", "comment"][..],
            ),
            (
                "auth_dkim",
                "SELECT domain, selector, result, human_result FROM dkim_results_v
                 WHERE report = ?1 AND record = ?2 ORDER BY seq",
                &["domain", "selector", "result", "human_result"][..],
            ),
            (
                "auth_spf",
                "SELECT domain, scope, result, human_result FROM spf_results_v
                 WHERE report = ?1 AND record = ?2 ORDER BY seq",
                &["domain", "scope", "result", "human_result"][..],
            ),
        ] {
            let mut stmt = conn.prepare_cached(sql)?;
            let mut rows = stmt.query([report, id])?;
            let mut items = Vec::new();
            while let Some(row) = rows.next()? {
                items.push(Value::Object(columns(row, names, 0)?));
            }
            record.insert(key.into(), Value::Array(items));
        }
        out.push(Value::Object(record));
    }
    Ok(out)
}

/// Reads consecutive columns from `first` into a JSON object. Columns that
/// hold JSON text (lists) are embedded as JSON.
fn columns(row: &Row<'_>, names: &[&str], first: usize) -> Result<Map<String, Value>, StoreError> {
    let mut map = Map::new();
    for (i, name) in names.iter().enumerate() {
        let value = match row.get_ref(first + i)? {
            rusqlite::types::ValueRef::Null => Value::Null,
            rusqlite::types::ValueRef::Integer(n) => json!(n),
            rusqlite::types::ValueRef::Real(f) => json!(f),
            rusqlite::types::ValueRef::Text(t) => {
                let text = String::from_utf8_lossy(t).into_owned();
                if matches!(*name, "errors" | "extensions" | "warnings") {
                    serde_json::from_str(&text).unwrap_or(Value::String(text))
                } else {
                    Value::String(text)
                }
            }
            rusqlite::types::ValueRef::Blob(b) => json!(b.len()),
        };
        map.insert((*name).to_owned(), value);
    }
    Ok(map)
}
