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

/// Every stored report's totals, sorted, from the store's snapshot.
pub fn stored(store: &Store) -> Vec<Totals> {
    let image = store.inspect().snapshot().expect("the store's snapshot");
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let mut out: Vec<Totals> = image["reports"]
        .as_array()
        .expect("a list of reports")
        .iter()
        .map(|r| {
            let records = r["records"].as_array().expect("a report's records");
            let sum = |keep: &dyn Fn(&Value) -> bool| -> i64 {
                records.iter().filter(|c| keep(c)).map(|c| c["count"].as_i64().unwrap_or(0)).sum()
            };
            Totals {
                report_id: text(&r["report_id"]),
                org_name: text(&r["org_name"]),
                policy_domain: text(&r["policy_domain"]),
                records: records.len() as i64,
                messages: sum(&|_| true),
                dmarc_pass: sum(&|c| c["dkim"] == "pass" || c["spf"] == "pass"),
                spf_aligned_pass: sum(&|c| c["spf"] == "pass"),
                dkim_aligned_pass: sum(&|c| c["dkim"] == "pass"),
            }
        })
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
