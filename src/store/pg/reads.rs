//! What the summary reads, from PostgreSQL (see `store/reads.rs` for the
//! meaning of each operation).

use postgres::fallible_iterator::FallibleIterator;
use postgres::types::ToSql;

use super::PgStore;
use crate::store::backend::{RdnsCache, SummaryReads};
use crate::store::reads::{passing_domains, reasons};
use crate::store::{
    DomainDays, PolicyReport, RdnsEntry, RdnsStatus, RecordFacts, ReportRef, SourceDay, StoreError,
    StreamDay,
};

fn unsigned(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

impl SummaryReads for PgStore {
    fn domains(&self) -> Result<Vec<String>, StoreError> {
        let rows = self
            .c()
            .query("SELECT DISTINCT policy_domain FROM reports ORDER BY policy_domain", &[])?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    fn domain_span(&self, domain: &str) -> Result<Option<(i64, i64)>, StoreError> {
        let row = self.c().query_one(
            "SELECT min(begin_ts), max(end_ts) FROM reports WHERE policy_domain = $1",
            &[&domain],
        )?;
        let (first, last): (Option<i64>, Option<i64>) = (row.get(0), row.get(1));
        Ok(first.zip(last))
    }

    fn window_reports(
        &self,
        domain: &str,
        begin: i64,
        end: i64,
    ) -> Result<Vec<ReportRef>, StoreError> {
        let rows = self.c().query(
            "SELECT id, begin_ts, end_ts, org_name, record_count, message_count FROM reports
             WHERE policy_domain = $1 AND begin_ts >= $2 AND begin_ts < $3 ORDER BY id",
            &[&domain, &begin, &end],
        )?;
        Ok(rows
            .iter()
            .map(|r| ReportRef {
                id: r.get(0),
                begin: r.get(1),
                end: r.get(2),
                org_name: r.get(3),
                records: unsigned(r.get(4)),
                messages: unsigned(r.get(5)),
            })
            .collect())
    }

    fn scan_records(
        &self,
        reports: &[ReportRef],
        visit: &mut dyn FnMut(&ReportRef, &RecordFacts<'_>),
    ) -> Result<(), StoreError> {
        let mut c = self.c();
        let stmt = c.prepare(
            "SELECT source_ip, count, disposition, dkim = 'pass', spf = 'pass', header_from,
                    envelope_from, dkim_auth::text, spf_auth::text, reasons::text
             FROM records WHERE report = $1 ORDER BY id",
        )?;
        let (mut dkim_pass, mut spf_pass, mut why) = (Vec::new(), Vec::new(), Vec::new());
        for report in reports {
            let params: [&(dyn ToSql + Sync); 1] = [&report.id];
            let mut rows = c.query_raw(&stmt, params)?;
            while let Some(row) = rows.next()? {
                passing_domains(row.get(7), &mut dkim_pass);
                passing_domains(row.get(8), &mut spf_pass);
                reasons(row.get(9), &mut why);
                let facts = RecordFacts {
                    source_ip: row.get(0),
                    count: unsigned(row.get(1)),
                    disposition: row.get(2),
                    dkim_aligned: row.get::<_, Option<bool>>(3).unwrap_or(false),
                    spf_aligned: row.get::<_, Option<bool>>(4).unwrap_or(false),
                    header_from: row.get(5),
                    envelope_from: row.get(6),
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
        Ok(Some(Box::new(self.reader()?)))
    }

    fn policy_reports(&self, domain: &str, until: i64) -> Result<Vec<PolicyReport>, StoreError> {
        let rows = self.c().query(
            "SELECT begin_ts, p, sp, np, pct::text, testing, adkim, aspf, fo FROM reports
             WHERE policy_domain = $1 AND begin_ts < $2 ORDER BY id",
            &[&domain, &until],
        )?;
        Ok(rows
            .iter()
            .map(|r| {
                let mut tags: [Option<String>; 8] = Default::default();
                for (i, tag) in tags.iter_mut().enumerate() {
                    *tag = r.get(i + 1);
                }
                PolicyReport { begin: r.get(0), tags }
            })
            .collect())
    }

    fn seen_before(&self, domain: &str, ips: &[String], before: i64) -> Result<bool, StoreError> {
        if ips.is_empty() {
            return Ok(false);
        }
        let day = before.div_euclid(86_400) * 86_400;
        let row = self.c().query_one(
            "SELECT EXISTS (SELECT 1 FROM source_days WHERE domain = $1 AND source_ip = ANY($2)
               AND (day < $3 OR (day = $3 AND first_begin < $4)))",
            &[&domain, &ips, &day, &before],
        )?;
        Ok(row.get(0))
    }

    fn scan_source_days(
        &self,
        domain: &str,
        first_day: i64,
        end_day: i64,
        visit: &mut dyn FnMut(&SourceDay<'_>),
    ) -> Result<(), StoreError> {
        let mut c = self.c();
        let stmt = c.prepare(
            "SELECT source_ip, day, messages, dmarc_pass, spf_aligned_pass, dkim_aligned_pass,
                    authenticated, disposition_none, disposition_quarantine, disposition_reject,
                    first_begin, last_end, dkim_domains, spf_domains, reasons, envelope_from,
                    sub_messages, sub_dmarc_pass, sub_spf_aligned_pass, sub_dkim_aligned_pass,
                    sub_authenticated
             FROM source_days WHERE domain = $1 AND day >= $2 AND day < $3
             ORDER BY domain, source_ip, day",
        )?;
        let params: [&(dyn ToSql + Sync); 3] = [&domain, &first_day, &end_day];
        let mut rows = c.query_raw(&stmt, params)?;
        while let Some(row) = rows.next()? {
            let n = |i: usize| unsigned(row.get(i));
            let text = |i: usize| row.get::<_, Option<&str>>(i).unwrap_or_default();
            visit(&SourceDay::from_parts(
                row.get(0),
                row.get(1),
                [n(2), n(3), n(4), n(5), n(6)],
                [n(16), n(17), n(18), n(19), n(20)],
                [n(7), n(8), n(9)],
                row.get(10),
                row.get(11),
                [text(12), text(13), text(14), text(15)],
            ));
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
        if ips.is_empty() {
            return Ok(());
        }
        let rows = self.c().query(
            "SELECT day, subdomain, dkim_domain, spf_domain, messages, dmarc_pass,
                    spf_aligned_pass, dkim_aligned_pass, authenticated
             FROM stream_days
             WHERE domain = $1 AND source_ip = ANY($2) AND day >= $3 AND day < $4",
            &[&domain, &ips, &first_day, &end_day],
        )?;
        for row in &rows {
            let n = |i: usize| unsigned(row.get(i));
            visit(&StreamDay {
                day: row.get(0),
                subdomain: row.get::<_, i16>(1) != 0,
                dkim: row.get(2),
                spf: row.get(3),
                sums: [n(4), n(5), n(6), n(7), n(8)],
            });
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
        let rows = self.c().query(
            "SELECT kind, key, sum(messages)::int8, sum(dmarc_pass)::int8,
                    sum(spf_aligned_pass)::int8, sum(dkim_aligned_pass)::int8,
                    sum(authenticated)::int8
             FROM domain_days WHERE domain = $1 AND day >= $2 AND day < $3
             GROUP BY kind, key ORDER BY kind, key",
            &[&domain, &first_day, &end_day],
        )?;
        let mut out = DomainDays::default();
        for row in rows {
            let n = |i: usize| unsigned(row.get(i));
            let kind: &str = row.get(0);
            let key: String = row.get(1);
            if kind == "disposition" {
                out.dispositions.push((key, n(2)));
            } else {
                out.subdomains.push((key, [n(2), n(3), n(4), n(5), n(6)]));
            }
        }
        Ok(out)
    }
}

impl RdnsCache for PgStore {
    fn rdns_get(&self, ip: &str) -> Result<Option<RdnsEntry>, StoreError> {
        let row = self
            .c()
            .query_opt("SELECT name, resolved_at, status FROM rdns_cache WHERE ip = $1", &[&ip])?;
        Ok(row.map(|r| RdnsEntry {
            ip: ip.to_owned(),
            name: r.get(0),
            resolved_at: r.get(1),
            status: RdnsStatus::parse(r.get(2)),
        }))
    }

    fn rdns_put(&self, entries: &[RdnsEntry]) -> Result<(), StoreError> {
        self.atomically(|| {
            for e in entries {
                self.exec(
                    "INSERT INTO rdns_cache (ip, name, resolved_at, status) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (ip) DO UPDATE SET name = excluded.name,
                         resolved_at = excluded.resolved_at, status = excluded.status",
                    &[&e.ip, &e.name, &e.resolved_at, &e.status.as_str()],
                )?;
            }
            Ok(())
        })
    }

    fn rdns_entries(&self) -> Result<Vec<RdnsEntry>, StoreError> {
        let rows = self
            .c()
            .query("SELECT ip, name, resolved_at, status FROM rdns_cache ORDER BY ip", &[])?;
        Ok(rows
            .iter()
            .map(|r| RdnsEntry {
                ip: r.get(0),
                name: r.get(1),
                resolved_at: r.get(2),
                status: RdnsStatus::parse(r.get(3)),
            })
            .collect())
    }
}
