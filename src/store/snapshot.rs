//! A canonical JSON image of what the database holds: every report with
//! its records and auth results, and every failed input. Row ids and
//! ingestion times are left out, so two databases that hold the same data
//! give the same image, SQLite or PostgreSQL (golden tests compare these).

use rusqlite::Connection;
use serde_json::{Map, Value, json};

use super::StoreError;

/// Runs a query and gives each row's columns as JSON values, in column
/// order: integers as numbers, text as strings, NULL as null, bytes as
/// their length, booleans as 0 or 1.
pub(super) type Rows<'a> = dyn Fn(&str) -> Result<Vec<Vec<Value>>, StoreError> + 'a;

/// [`Rows`] on a SQLite connection.
pub(super) fn sqlite_values(conn: &Connection, sql: &str) -> Result<Vec<Vec<Value>>, StoreError> {
    use rusqlite::types::ValueRef;
    let mut stmt = conn.prepare(sql)?;
    let columns = stmt.column_count();
    let mut rows = stmt.query([])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let mut values = Vec::with_capacity(columns);
        for i in 0..columns {
            values.push(match row.get_ref(i)? {
                ValueRef::Null => Value::Null,
                ValueRef::Integer(n) => json!(n),
                ValueRef::Real(f) => json!(f),
                ValueRef::Text(t) => Value::String(String::from_utf8_lossy(t).into_owned()),
                ValueRef::Blob(b) => json!(b.len()),
            });
        }
        out.push(values);
    }
    Ok(out)
}

/// Builds the image of everything the database holds.
pub(super) fn snapshot(rows: &Rows<'_>) -> Result<Value, StoreError> {
    let mut reports = Vec::new();
    for row in rows(
        "SELECT id, org_name, policy_domain, report_id, begin_ts, end_ts, schema, version, email,
             extra_contact_info, generator, errors, adkim, aspf, p, sp, np, pct, fo, testing,
             discovery_method, extensions, source, warnings, record_count, message_count
         FROM reports ORDER BY policy_domain, begin_ts, org_name, report_id, end_ts",
    )? {
        let id = id_of(&row)?;
        let mut report = columns(
            &row[1..],
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
        );
        report.insert("records".into(), Value::Array(records(rows, id)?));
        reports.push(Value::Object(report));
    }
    let mut failed = Vec::new();
    for row in rows("SELECT name, kind, error, length(data) FROM failed_inputs ORDER BY name, id")?
    {
        failed.push(Value::Object(columns(&row, &["name", "kind", "error", "size"])));
    }
    Ok(json!({ "reports": reports, "failed": failed }))
}

fn id_of(row: &[Value]) -> Result<i64, StoreError> {
    row.first()
        .and_then(Value::as_i64)
        .ok_or_else(|| StoreError::Database("snapshot: a row without its id".to_owned()))
}

fn records(rows: &Rows<'_>, report: i64) -> Result<Vec<Value>, StoreError> {
    // The reasons and auth results of the whole report, one query each,
    // dealt out to their records by record number.
    let mut parts = Vec::new();
    for (key, sql, names) in [
        ("reasons", "SELECT record, type, comment FROM reasons_v", &["type", "comment"][..]),
        (
            "auth_dkim",
            "SELECT record, domain, selector, result, human_result FROM dkim_results_v",
            &["domain", "selector", "result", "human_result"][..],
        ),
        (
            "auth_spf",
            "SELECT record, domain, scope, result, human_result FROM spf_results_v",
            &["domain", "scope", "result", "human_result"][..],
        ),
    ] {
        let mut by_record: std::collections::HashMap<i64, Vec<Value>> =
            std::collections::HashMap::new();
        for row in rows(&format!("{sql} WHERE report = {report} ORDER BY record, seq"))? {
            let record = id_of(&row)?;
            by_record.entry(record).or_default().push(Value::Object(columns(&row[1..], names)));
        }
        parts.push((key, by_record));
    }
    let mut out = Vec::new();
    for row in rows(&format!(
        "SELECT record, source_ip, count, disposition, dkim, spf, header_from, envelope_from,
             envelope_to, extensions
         FROM records_v WHERE report = {report} ORDER BY record"
    ))? {
        let id = id_of(&row)?;
        let mut record = columns(
            &row[1..],
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
        );
        for (key, by_record) in &mut parts {
            let items = by_record.remove(&id).unwrap_or_default();
            record.insert((*key).into(), Value::Array(items));
        }
        out.push(Value::Object(record));
    }
    Ok(out)
}

/// Names a row's columns in a JSON object. Columns that hold JSON text
/// (lists) are embedded as JSON.
fn columns(row: &[Value], names: &[&str]) -> Map<String, Value> {
    let mut map = Map::new();
    for (name, value) in names.iter().zip(row) {
        let value = match value {
            Value::String(text) if matches!(*name, "errors" | "extensions" | "warnings") => {
                serde_json::from_str(text).unwrap_or_else(|_| value.clone())
            }
            other => other.clone(),
        };
        map.insert((*name).to_owned(), value);
    }
    map
}
