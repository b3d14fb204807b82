//! What the summary reads, as typed rows: the reports of a domain's
//! window, their records with the lists decoded, the published policies,
//! and the overview of what is stored.

use std::borrow::Cow;

use rusqlite::params;

use super::backend::SummaryReads;
use super::{SqliteStore, StoreError};

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
    /// How many records the report holds.
    pub records: u64,
    /// The messages its records count.
    pub messages: u64,
}

/// One source on one day, from the rollups (see `source_days` in
/// `schemas/migrations/0005_rollups.sql`).
#[derive(Debug, Clone, Copy)]
pub struct SourceDay<'a> {
    /// The source address as reported.
    pub ip: &'a str,
    /// The day, Unix seconds at 00:00 UTC.
    pub day: i64,
    /// messages, dmarc_pass, spf_aligned_pass, dkim_aligned_pass,
    /// authenticated.
    pub sums: [u64; 5],
    /// The part of `sums` whose From is a subdomain of the policy domain
    /// (see [`super::from_subdomain`]), in the same order.
    pub sub_sums: [u64; 5],
    /// Messages by applied disposition: none (or anything else),
    /// quarantine, reject.
    pub disposition: [u64; 3],
    /// The earliest begin of the reports that mention it that day.
    pub first_begin: i64,
    /// The latest end of the reports that mention it that day.
    pub last_end: i64,
    dkim: &'a str,
    spf: &'a str,
    reasons: &'a str,
    envelope: &'a str,
}

fn items(joined: &str) -> impl Iterator<Item = &str> {
    joined.split(super::rollup::SEP).filter(|s| !s.is_empty())
}

impl<'a> SourceDay<'a> {
    /// A row as another backend reads it: the sets (passing DKIM and SPF
    /// domains, reason labels, envelope-from domains) each joined by the
    /// rollups' separator.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn from_parts(
        ip: &'a str,
        day: i64,
        sums: [u64; 5],
        sub_sums: [u64; 5],
        disposition: [u64; 3],
        first_begin: i64,
        last_end: i64,
        sets: [&'a str; 4],
    ) -> SourceDay<'a> {
        let [dkim, spf, reasons, envelope] = sets;
        SourceDay {
            ip,
            day,
            sums,
            sub_sums,
            disposition,
            first_begin,
            last_end,
            dkim,
            spf,
            reasons,
            envelope,
        }
    }

    /// The passing DKIM domains, sorted.
    pub fn dkim_domains(&self) -> impl Iterator<Item = &'a str> {
        items(self.dkim)
    }
    /// The passing SPF domains, sorted.
    pub fn spf_domains(&self) -> impl Iterator<Item = &'a str> {
        items(self.spf)
    }
    /// The override reason labels (see [`super::reason_label`]), sorted.
    pub fn reasons(&self) -> impl Iterator<Item = &'a str> {
        items(self.reasons)
    }
    /// The envelope-from domains as reported, sorted.
    pub fn envelope_from(&self) -> impl Iterator<Item = &'a str> {
        items(self.envelope)
    }
}

/// One stream of one source on one day, from the rollups (see
/// `stream_days` in `schemas/migrations/0011_stream_days.sql`).
#[derive(Debug, Clone, Copy)]
pub struct StreamDay<'a> {
    /// The day, Unix seconds at 00:00 UTC.
    pub day: i64,
    /// The mail is From a subdomain of the policy domain.
    pub subdomain: bool,
    /// The DKIM domain of the signature that aligned, else of the first
    /// that passed; empty when none passed.
    pub dkim: &'a str,
    /// The envelope-from domain, else the first domain SPF passed for;
    /// empty when neither is known.
    pub spf: &'a str,
    /// messages, dmarc_pass, spf_aligned_pass, dkim_aligned_pass,
    /// authenticated.
    pub sums: [u64; 5],
}

/// What a domain's rollups hold besides its sources, summed over days.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DomainDays {
    /// Messages by applied disposition as written.
    pub dispositions: Vec<(String, u64)>,
    /// Per header-from domain other than the policy domain: messages,
    /// dmarc_pass, spf_aligned_pass, dkim_aligned_pass, authenticated.
    pub subdomains: Vec<(String, [u64; 5])>,
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
pub(super) fn passing_domains(list: Option<&str>, out: &mut Vec<String>) {
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
pub(super) fn reasons(list: Option<&str>, out: &mut Vec<StoredReason>) {
    out.clear();
    let Some(list) = list else { return };
    if let Ok(items) = serde_json::from_str::<Vec<JsonReason<'_>>>(list) {
        out.extend(items.into_iter().map(|r| StoredReason {
            kind: r.kind.map(Cow::into_owned),
            comment: r.comment.map(Cow::into_owned),
        }));
    }
}

/// Reads a report's records as [`RecordFacts`] (with [`each_record`]).
pub(super) const RECORD_FACTS: &str = "\
    SELECT c.ip, c.count, d.value, c.dkim = 2, c.spf = 2, h.value, e.value,
           c.dkim_result = 2, dd.value, c.spf_result = 2, sd.value, c.reasons, c.more,
           c.dkim2_result = 2, d2.value
    FROM records c
    LEFT JOIN strings d ON d.id = c.disposition
    LEFT JOIN strings h ON h.id = c.header_from
    LEFT JOIN strings e ON e.id = c.envelope_from
    LEFT JOIN strings dd ON dd.id = c.dkim_domain
    LEFT JOIN strings d2 ON d2.id = c.dkim2_domain
    LEFT JOIN strings sd ON sd.id = c.spf_domain
    WHERE c.report = ?1 ORDER BY c.seq";

/// What [`each_record`] reuses from one record to the next.
#[derive(Default)]
pub(super) struct FactBuffers {
    ip: String,
    dkim_pass: Vec<String>,
    spf_pass: Vec<String>,
    reasons: Vec<StoredReason>,
}

/// Calls `visit` with each record of `report`, in order; `stmt` is
/// [`RECORD_FACTS`] prepared (`= 2`: the id of `pass` in `strings`).
pub(super) fn each_record(
    stmt: &mut rusqlite::Statement<'_>,
    report: i64,
    b: &mut FactBuffers,
    visit: &mut dyn FnMut(&RecordFacts<'_>),
) -> Result<(), StoreError> {
    const _: () = assert!(super::layout::PASS == 2);
    let mut rows = stmt.query([report])?;
    while let Some(row) = rows.next()? {
        let text = |i: usize| row.get_ref(i).ok().and_then(|v| v.as_str_or_null().ok().flatten());
        let flag = |i: usize| -> Result<bool, rusqlite::Error> {
            Ok(row.get::<_, Option<bool>>(i)?.unwrap_or(false))
        };
        let source_ip = match row.get_ref(0)? {
            rusqlite::types::ValueRef::Integer(key) => {
                super::layout::ipv4_text(key, &mut b.ip);
                b.ip.as_str()
            }
            other => other.as_str().unwrap_or_default(),
        };
        b.dkim_pass.clear();
        b.spf_pass.clear();
        if flag(7)? {
            b.dkim_pass.push(text(8).unwrap_or_default().to_owned());
        }
        if flag(13)? {
            b.dkim_pass.push(text(14).unwrap_or_default().to_owned());
        }
        if flag(9)? {
            b.spf_pass.push(text(10).unwrap_or_default().to_owned());
        }
        super::layout::more_passing(text(12), &mut b.dkim_pass, &mut b.spf_pass);
        reasons(text(11), &mut b.reasons);
        visit(&RecordFacts {
            source_ip,
            count: u64::try_from(row.get::<_, i64>(1)?).unwrap_or(0),
            disposition: text(2),
            dkim_aligned: flag(3)?,
            spf_aligned: flag(4)?,
            header_from: text(5),
            envelope_from: text(6),
            dkim_pass: &b.dkim_pass,
            spf_pass: &b.spf_pass,
            reasons: &b.reasons,
        });
    }
    Ok(())
}

impl SummaryReads for SqliteStore {
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
            "SELECT id, begin_ts, end_ts, org_name, record_count, message_count FROM reports
             WHERE policy_domain = ?1 AND begin_ts >= ?2 AND begin_ts < ?3",
        )?;
        let rows = stmt.query_map(params![domain, begin, end], |r| {
            Ok(ReportRef {
                id: r.get(0)?,
                begin: r.get(1)?,
                end: r.get(2)?,
                org_name: r.get(3)?,
                records: u64::try_from(r.get::<_, i64>(4)?).unwrap_or(0),
                messages: u64::try_from(r.get::<_, i64>(5)?).unwrap_or(0),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn scan_records(
        &self,
        reports: &[ReportRef],
        visit: &mut dyn FnMut(&ReportRef, &RecordFacts<'_>),
    ) -> Result<(), StoreError> {
        let mut stmt = self.conn.prepare_cached(RECORD_FACTS)?;
        let mut buffers = FactBuffers::default();
        for report in reports {
            each_record(&mut stmt, report.id, &mut buffers, &mut |facts| visit(report, facts))?;
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
        self.write_pending()?;
        // A report that began before `before` is on an earlier day, or on
        // that day with an earlier begin.
        let day = before.div_euclid(86_400) * 86_400;
        let mut stmt = self.conn.prepare_cached(
            "SELECT 1 FROM source_days
             WHERE domain_id = (SELECT id FROM strings WHERE value = ?1) AND source_ip = ?2
               AND (day < ?3 OR (day = ?3 AND first_begin < ?4)) LIMIT 1",
        )?;
        for ip in ips {
            if stmt.exists(params![domain, ip, day, before])? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn scan_source_days(
        &self,
        domain: &str,
        first_day: i64,
        end_day: i64,
        visit: &mut dyn FnMut(&SourceDay<'_>),
    ) -> Result<(), StoreError> {
        self.write_pending()?;
        let mut stmt = self.conn.prepare_cached(
            "SELECT source_ip, day, messages, dmarc_pass, spf_aligned_pass, dkim_aligned_pass,
                    authenticated, disposition_none, disposition_quarantine, disposition_reject,
                    first_begin, last_end, dkim_domains, spf_domains, reasons, envelope_from,
                    sub_messages, sub_dmarc_pass, sub_spf_aligned_pass, sub_dkim_aligned_pass,
                    sub_authenticated
             FROM source_days
             WHERE domain_id = (SELECT id FROM strings WHERE value = ?1)
               AND day >= ?2 AND day < ?3
             ORDER BY domain_id, source_ip, day",
        )?;
        let mut rows = stmt.query(params![domain, first_day, end_day])?;
        while let Some(row) = rows.next()? {
            let text =
                |i: usize| row.get_ref(i).ok().and_then(|v| v.as_str_or_null().ok().flatten());
            let n = |i: usize| -> Result<u64, rusqlite::Error> {
                Ok(u64::try_from(row.get::<_, i64>(i)?).unwrap_or(0))
            };
            visit(&SourceDay {
                ip: text(0).unwrap_or_default(),
                day: row.get(1)?,
                sums: [n(2)?, n(3)?, n(4)?, n(5)?, n(6)?],
                sub_sums: [n(16)?, n(17)?, n(18)?, n(19)?, n(20)?],
                disposition: [n(7)?, n(8)?, n(9)?],
                first_begin: row.get(10)?,
                last_end: row.get(11)?,
                dkim: text(12).unwrap_or_default(),
                spf: text(13).unwrap_or_default(),
                reasons: text(14).unwrap_or_default(),
                envelope: text(15).unwrap_or_default(),
            });
        }
        Ok(())
    }

    fn scan_streams(
        &self,
        domain: &str,
        ips: &[String],
        first_day: i64,
        end_day: i64,
        visit: &mut dyn FnMut(&StreamDay<'_>),
    ) -> Result<(), StoreError> {
        self.write_pending()?;
        let mut stmt = self.conn.prepare_cached(
            "SELECT day, subdomain, dkim_domain, spf_domain, messages, dmarc_pass,
                    spf_aligned_pass, dkim_aligned_pass, authenticated
             FROM stream_days WHERE domain = ?1 AND source_ip = ?2 AND day >= ?3 AND day < ?4",
        )?;
        for ip in ips {
            let mut rows = stmt.query(params![domain, ip, first_day, end_day])?;
            while let Some(row) = rows.next()? {
                let text =
                    |i: usize| row.get_ref(i).ok().and_then(|v| v.as_str().ok()).unwrap_or("");
                let n = |i: usize| -> Result<u64, rusqlite::Error> {
                    Ok(u64::try_from(row.get::<_, i64>(i)?).unwrap_or(0))
                };
                visit(&StreamDay {
                    day: row.get(0)?,
                    subdomain: row.get::<_, i64>(1)? != 0,
                    dkim: text(2),
                    spf: text(3),
                    sums: [n(4)?, n(5)?, n(6)?, n(7)?, n(8)?],
                });
            }
        }
        Ok(())
    }

    fn live_dmarc(&self, domain: &str) -> Result<Option<String>, StoreError> {
        Ok(self.last_check(domain)?.and_then(|c| c.live_dmarc))
    }

    fn domain_days(
        &self,
        domain: &str,
        first_day: i64,
        end_day: i64,
    ) -> Result<DomainDays, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT kind, key, sum(messages), sum(dmarc_pass), sum(spf_aligned_pass),
                    sum(dkim_aligned_pass), sum(authenticated)
             FROM domain_days WHERE domain = ?1 AND day >= ?2 AND day < ?3
             GROUP BY kind, key ORDER BY kind, key",
        )?;
        let mut out = DomainDays::default();
        let mut rows = stmt.query(params![domain, first_day, end_day])?;
        while let Some(row) = rows.next()? {
            let n = |i: usize| -> Result<u64, rusqlite::Error> {
                Ok(u64::try_from(row.get::<_, i64>(i)?).unwrap_or(0))
            };
            let kind: String = row.get(0)?;
            let key: String = row.get(1)?;
            if kind == "disposition" {
                out.dispositions.push((key, n(2)?));
            } else {
                out.subdomains.push((key, [n(2)?, n(3)?, n(4)?, n(5)?, n(6)?]));
            }
        }
        Ok(out)
    }
}
