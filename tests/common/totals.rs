//! Per-report totals in the shape of the corpus's `expected.json`
//! (org_name, report_id, policy_domain, records, messages, dmarc_pass,
//! spf_aligned_pass, dkim_aligned_pass), read back from a database, and the
//! comparison of those with an expectation file.

use std::collections::BTreeMap;

use dmarc_report::store::Store;
use serde_json::Value;

/// One report's totals.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Totals {
    pub report_id: String,
    pub org_name: String,
    pub policy_domain: String,
    pub records: i64,
    pub messages: i64,
    pub dmarc_pass: i64,
    pub spf_aligned_pass: i64,
    pub dkim_aligned_pass: i64,
}

/// Every stored report's totals, sorted.
pub fn stored(store: &Store) -> Vec<Totals> {
    let mut stmt = store
        .connection()
        .prepare(
            "SELECT r.report_id, r.org_name, r.policy_domain,
                    (SELECT count(*) FROM records c WHERE c.report = r.id),
                    (SELECT COALESCE(sum(count), 0) FROM records c WHERE c.report = r.id),
                    (SELECT COALESCE(sum(count), 0) FROM records c WHERE c.report = r.id
                        AND (c.dkim = 'pass' OR c.spf = 'pass')),
                    (SELECT COALESCE(sum(count), 0) FROM records c WHERE c.report = r.id
                        AND c.spf = 'pass'),
                    (SELECT COALESCE(sum(count), 0) FROM records c WHERE c.report = r.id
                        AND c.dkim = 'pass')
             FROM reports r",
        )
        .expect("the totals query prepares");
    let mut out: Vec<Totals> = stmt
        .query_map([], |r| {
            Ok(Totals {
                report_id: r.get(0)?,
                org_name: r.get(1)?,
                policy_domain: r.get(2)?,
                records: r.get(3)?,
                messages: r.get(4)?,
                dmarc_pass: r.get(5)?,
                spf_aligned_pass: r.get(6)?,
                dkim_aligned_pass: r.get(7)?,
            })
        })
        .expect("the totals query runs")
        .map(|row| row.expect("a totals row reads"))
        .collect();
    out.sort();
    out
}

/// The expectation for one file: its `aggregate_reports`, sorted.
pub fn expected(entry: &Value) -> Vec<Totals> {
    let mut out: Vec<Totals> = entry["aggregate_reports"]
        .as_array()
        .expect("aggregate_reports is a list")
        .iter()
        .map(|r| Totals {
            report_id: r["report_id"].as_str().unwrap_or_default().to_owned(),
            // An empty org_name is written as null by the independent reader.
            org_name: r["org_name"].as_str().unwrap_or_default().to_owned(),
            policy_domain: r["policy_domain"].as_str().unwrap_or_default().to_owned(),
            records: r["records"].as_i64().unwrap_or(-1),
            messages: r["messages"].as_i64().unwrap_or(-1),
            dmarc_pass: r["dmarc_pass"].as_i64().unwrap_or(-1),
            spf_aligned_pass: r["spf_aligned_pass"].as_i64().unwrap_or(-1),
            dkim_aligned_pass: r["dkim_aligned_pass"].as_i64().unwrap_or(-1),
        })
        .collect();
    // The same report found twice in one file is stored once.
    out.sort();
    out.dedup();
    out
}

/// Loads an expectation file: path → entry.
pub fn load(path: &std::path::Path) -> BTreeMap<String, Value> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}
