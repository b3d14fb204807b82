//! What the summary reads, as typed rows: the reports of a domain's
//! window, their records with the lists decoded, the published policies,
//! and the overview of what is stored.

use std::borrow::Cow;

use rusqlite::params;

use super::backend::SummaryReads;
use super::{Store, StoreError};

/// A stored report, as the summary sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportRef {
    /// Its id in this database.
    pub id: i64,
    /// `date_range/begin`, Unix seconds.
    pub begin: i64,
    /// `date_range/end`, Unix seconds.
    pub end: i64,
    /// The reporting organisation.
    pub org_name: String,
    /// Its records.
    pub records: u64,
}

/// An override reason of a record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredReason {
    /// `type` as reported (may be empty).
    pub kind: Option<String>,
    /// `comment` as reported.
    pub comment: Option<String>,
}

/// One record, as the summary reads it.
#[derive(Debug, Clone, Copy)]
pub struct RecordFacts<'a> {
    /// `row/source_ip` as reported (may be empty).
    pub source_ip: &'a str,
    /// `row/count`.
    pub count: u64,
    /// The applied disposition as written (`none`, `quarantine`, ...).
    pub disposition: Option<&'a str>,
    /// Aligned DKIM passed (`policy_evaluated/dkim`).
    pub dkim_aligned: bool,
    /// Aligned SPF passed (`policy_evaluated/spf`).
    pub spf_aligned: bool,
    /// `identifiers/header_from`.
    pub header_from: Option<&'a str>,
    /// `identifiers/envelope_from`.
    pub envelope_from: Option<&'a str>,
    /// The domains of the DKIM results that passed, in order.
    pub dkim_pass: &'a [String],
    /// The domains of the SPF results that passed, in order.
    pub spf_pass: &'a [String],
    /// The override reasons, in order.
    pub reasons: &'a [StoredReason],
}

/// What one report says about the policy it found published.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyReport {
    /// The report's begin, Unix seconds.
    pub begin: i64,
    /// `p`, `sp`, `np`, `pct`, `testing`, `adkim`, `aspf`, `fo` as written.
    pub tags: [Option<String>; 8],
}

/// A DKIM or SPF result as `records.dkim_auth` / `spf_auth` hold it.
#[derive(serde::Deserialize)]
struct JsonAuth<'a> {
    #[serde(borrow, default)]
    domain: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    result: Option<Cow<'a, str>>,
}

/// An override reason as `records.reasons` holds it.
#[derive(serde::Deserialize)]
struct JsonReason<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    comment: Option<Cow<'a, str>>,
}

/// The domains of the passing results in a stored JSON list, into `out`.
fn passing_domains(list: Option<&str>, out: &mut Vec<String>) {
    out.clear();
    // Most lists of failing mail have no pass at all: skip the parse.
    let Some(list) = list.filter(|l| memchr::memmem::find(l.as_bytes(), b"\"pass\"").is_some())
    else {
        return;
    };
    // The column is written by this program; a list that does not parse
    // (edited by hand) counts as no result.
    if let Ok(items) = serde_json::from_str::<Vec<JsonAuth<'_>>>(list) {
        out.extend(
            items
                .into_iter()
                .filter(|a| a.result.as_deref() == Some("pass"))
                .filter_map(|a| a.domain.map(Cow::into_owned)),
        );
    }
}

/// The reasons of a stored JSON list, into `out`.
fn reasons(list: Option<&str>, out: &mut Vec<StoredReason>) {
    out.clear();
    let Some(list) = list else { return };
    if let Ok(items) = serde_json::from_str::<Vec<JsonReason<'_>>>(list) {
        out.extend(items.into_iter().map(|r| StoredReason {
            kind: r.kind.map(Cow::into_owned),
            comment: r.comment.map(Cow::into_owned),
        }));
    }
}

impl SummaryReads for Store {
    fn domains(&self) -> Result<Vec<String>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT DISTINCT policy_domain FROM reports ORDER BY policy_domain")?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn domain_span(&self, domain: &str) -> Result<Option<(i64, i64)>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT min(begin_ts), max(end_ts) FROM reports WHERE policy_domain = ?1",
        )?;
        let (first, last): (Option<i64>, Option<i64>) =
            stmt.query_row([domain], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(first.zip(last))
    }

    fn window_reports(
        &self,
        domain: &str,
        begin: i64,
        end: i64,
    ) -> Result<Vec<ReportRef>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, begin_ts, end_ts, org_name, record_count FROM reports
             WHERE policy_domain = ?1 AND begin_ts >= ?2 AND begin_ts < ?3",
        )?;
        let rows = stmt.query_map(params![domain, begin, end], |r| {
            Ok(ReportRef {
                id: r.get(0)?,
                begin: r.get(1)?,
                end: r.get(2)?,
                org_name: r.get(3)?,
                records: u64::try_from(r.get::<_, i64>(4)?).unwrap_or(0),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn scan_records(
        &self,
        reports: &[ReportRef],
        visit: &mut dyn FnMut(&ReportRef, &RecordFacts<'_>),
    ) -> Result<(), StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT source_ip, count, disposition, dkim = 'pass', spf = 'pass', header_from,
                    envelope_from, dkim_auth, spf_auth, reasons
             FROM records WHERE report = ?1",
        )?;
        let (mut dkim_pass, mut spf_pass, mut why) = (Vec::new(), Vec::new(), Vec::new());
        for report in reports {
            let mut rows = stmt.query([report.id])?;
            while let Some(row) = rows.next()? {
                let text =
                    |i: usize| row.get_ref(i).ok().and_then(|v| v.as_str_or_null().ok().flatten());
                passing_domains(text(7), &mut dkim_pass);
                passing_domains(text(8), &mut spf_pass);
                reasons(text(9), &mut why);
                let facts = RecordFacts {
                    source_ip: text(0).unwrap_or_default(),
                    count: u64::try_from(row.get::<_, i64>(1)?).unwrap_or(0),
                    disposition: text(2),
                    dkim_aligned: row.get::<_, Option<bool>>(3)?.unwrap_or(false),
                    spf_aligned: row.get::<_, Option<bool>>(4)?.unwrap_or(false),
                    header_from: text(5),
                    envelope_from: text(6),
                    dkim_pass: &dkim_pass,
                    spf_pass: &spf_pass,
                    reasons: &why,
                };
                visit(report, &facts);
            }
        }
        Ok(())
    }

    fn parallel_reader(&self) -> Result<Option<Box<dyn SummaryReads + Send>>, StoreError> {
        Ok(self.reader()?.map(|s| Box::new(s) as Box<dyn SummaryReads + Send>))
    }

    fn policy_reports(&self, domain: &str, until: i64) -> Result<Vec<PolicyReport>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT begin_ts, p, sp, np, CAST(pct AS TEXT), testing, adkim, aspf, fo FROM reports
             WHERE policy_domain = ?1 AND begin_ts < ?2",
        )?;
        let rows = stmt.query_map(params![domain, until], |r| {
            let mut tags: [Option<String>; 8] = Default::default();
            for (i, tag) in tags.iter_mut().enumerate() {
                *tag = r.get(i + 1)?;
            }
            Ok(PolicyReport { begin: r.get(0)?, tags })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn seen_before(&self, domain: &str, ips: &[String], before: i64) -> Result<bool, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT 1 FROM records c JOIN reports r ON r.id = c.report
             WHERE c.source_ip = ?1 AND r.policy_domain = ?2 AND r.begin_ts < ?3 LIMIT 1",
        )?;
        for ip in ips {
            if stmt.exists(params![ip, domain, before])? {
                return Ok(true);
            }
        }
        Ok(false)
    }
}
