//! The findings of `check` (`record_checks`), kept per run with its time.
//!
//! Two codes are not findings: `ok` marks a run without findings, and
//! [`LIVE_DMARC`] keeps the DMARC record the run found published (its
//! message is the record), whose `rua` and `ruf` the next record keeps.

use rusqlite::params;
use serde::Serialize;

use super::{SqliteStore, StoreError};

/// The code of the row that keeps the published DMARC record of a run.
pub const LIVE_DMARC: &str = "dmarc-live-record";

/// One finding as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredFinding {
    /// Stable code.
    pub code: String,
    /// `error`, `warning` or `info`.
    pub severity: String,
    /// `dmarc`, `spf`, `dkim` or `mx`.
    pub record: String,
    /// What is wrong.
    pub message: String,
    /// What to do.
    pub fix: String,
}

/// The newest check of a domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordCheck {
    /// When it ran, Unix seconds.
    pub checked_at: i64,
    /// Its findings, as stored (worst first).
    pub findings: Vec<StoredFinding>,
    /// The DMARC record it found published, when it found one.
    pub live_dmarc: Option<String>,
}

impl RecordCheck {
    /// Splits the rows of a run into its findings and its live record.
    pub(super) fn from_rows(checked_at: i64, rows: Vec<StoredFinding>) -> RecordCheck {
        let mut live_dmarc = None;
        let mut findings = Vec::with_capacity(rows.len());
        for row in rows {
            if row.code == LIVE_DMARC {
                live_dmarc = Some(row.message);
            } else {
                findings.push(row);
            }
        }
        RecordCheck { checked_at, findings, live_dmarc }
    }
}

impl SqliteStore {
    /// Stores one run of `check` for `domain`.
    pub fn save_check(
        &self,
        domain: &str,
        checked_at: i64,
        findings: &[StoredFinding],
    ) -> Result<(), StoreError> {
        let tx = self.conn.unchecked_transaction()?;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO record_checks (domain, checked_at, code, severity, record, message, fix)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?;
            for f in findings {
                stmt.execute(params![
                    domain, checked_at, f.code, f.severity, f.record, f.message, f.fix
                ])?;
            }
            if findings.is_empty() {
                // A clean run is remembered too: one `ok` row.
                stmt.execute(params![domain, checked_at, "ok", "info", "dmarc", "no finding", ""])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// The newest run of `check` for `domain`, if any.
    pub fn last_check(&self, domain: &str) -> Result<Option<RecordCheck>, StoreError> {
        let at: Option<i64> = self.conn.query_row(
            "SELECT max(checked_at) FROM record_checks WHERE domain = ?1",
            [domain],
            |r| r.get(0),
        )?;
        let Some(checked_at) = at else { return Ok(None) };
        let mut stmt = self.conn.prepare_cached(
            "SELECT code, severity, record, message, fix FROM record_checks
             WHERE domain = ?1 AND checked_at = ?2 AND code <> 'ok' ORDER BY rowid",
        )?;
        let findings = stmt
            .query_map(params![domain, checked_at], |r| {
                Ok(StoredFinding {
                    code: r.get(0)?,
                    severity: r.get(1)?,
                    record: r.get(2)?,
                    message: r.get(3)?,
                    fix: r.get(4)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(Some(RecordCheck::from_rows(checked_at, findings)))
    }

    /// DKIM selectors the reports show for `d=` domains under `domain`
    /// (the domain itself or its subdomains): (d, selector), sorted.
    pub fn dkim_selectors(&self, domain: &str) -> Result<Vec<(String, String)>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT DISTINCT lower(d.domain), d.selector FROM dkim_results_v d
             JOIN reports r ON r.id = d.report
             WHERE r.policy_domain = ?1 AND d.selector IS NOT NULL AND d.selector <> ''
               AND (lower(d.domain) = ?1 OR lower(d.domain) LIKE '%.' || ?1)
             ORDER BY 1, 2 LIMIT 200",
        )?;
        let rows = stmt.query_map([domain], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_run_is_returned_and_a_clean_run_is_remembered() {
        let store = crate::store::Store::open_in_memory().unwrap();
        assert_eq!(store.last_check("example.com").unwrap(), None);
        let f = StoredFinding {
            code: "spf-missing".into(),
            severity: "error".into(),
            record: "spf".into(),
            message: "m".into(),
            fix: "f".into(),
        };
        store.save_check("example.com", 100, std::slice::from_ref(&f)).unwrap();
        assert_eq!(store.last_check("example.com").unwrap().unwrap().findings, vec![f]);
        store.save_check("example.com", 200, &[]).unwrap();
        let last = store.last_check("example.com").unwrap().unwrap();
        assert_eq!((last.checked_at, last.findings.len()), (200, 0));
        assert_eq!(last.live_dmarc, None);
    }

    #[test]
    fn the_live_record_of_a_run_is_kept_apart_from_its_findings() {
        let store = crate::store::Store::open_in_memory().unwrap();
        let live = StoredFinding {
            code: LIVE_DMARC.into(),
            severity: "info".into(),
            record: "dmarc".into(),
            message: "v=DMARC1; p=none; rua=mailto:d@example.com".into(),
            fix: String::new(),
        };
        store.save_check("example.com", 100, std::slice::from_ref(&live)).unwrap();
        let last = store.last_check("example.com").unwrap().unwrap();
        assert!(last.findings.is_empty(), "{:?}", last.findings);
        assert_eq!(last.live_dmarc.as_deref(), Some("v=DMARC1; p=none; rua=mailto:d@example.com"));
    }
}
