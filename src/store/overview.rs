//! What the database holds per policy domain and reporter (the table that
//! `demo` prints after storing the samples).

use super::{SqliteStore, StoreError};

/// The stored reports of one policy domain from one reporter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredByReporter {
    /// The policy domain.
    pub domain: String,
    /// The reporting organisation.
    pub reporter: String,
    /// Reports stored.
    pub reports: i64,
    /// Start of the earliest report (Unix time).
    pub begin: i64,
    /// End of the latest report (Unix time).
    pub end: i64,
    /// Records in those reports.
    pub records: i64,
    /// Messages those records count.
    pub messages: i64,
    /// Messages with DKIM or SPF pass (aligned or not, as reported).
    pub dkim_or_spf_pass: i64,
}

impl SqliteStore {
    /// One row per policy domain and reporter, in that order.
    pub fn stored_by_reporter(&self) -> Result<Vec<StoredByReporter>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT r.policy_domain, r.org_name, count(DISTINCT r.id), min(r.begin_ts), max(r.end_ts),
                    sum(r.record_count), sum(r.message_count),
                    (SELECT COALESCE(sum(c.count), 0) FROM records c JOIN reports r2 ON c.report = r2.id
                      WHERE r2.policy_domain = r.policy_domain AND r2.org_name = r.org_name
                        AND (c.dkim = 2 OR c.spf = 2)) -- 2: 'pass' in strings
             FROM reports r GROUP BY r.policy_domain, r.org_name ORDER BY r.policy_domain, r.org_name",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(StoredByReporter {
                domain: r.get(0)?,
                reporter: r.get(1)?,
                reports: r.get(2)?,
                begin: r.get(3)?,
                end: r.get(4)?,
                records: r.get(5)?,
                messages: r.get(6)?,
                dkim_or_spf_pass: r.get(7)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
