//! The rollups (`source_days`, `domain_days`, `stream_days`, see `store/rollup.rs` for
//! what they hold) as PostgreSQL keeps them: a report's additions are
//! gathered in memory and written with one statement per table, in key
//! order, so that workers adding to the same rows at once take their row
//! locks in the same order and never deadlock.

use std::collections::{BTreeMap, BTreeSet};

use postgres::GenericClient;

use crate::store::StoreError;
use crate::store::rollup::{RecordKeys, SEP, Sums, from_subdomain};
use crate::units::DAY;

/// Entries of a report's source map before they are written out (bounds
/// the memory of a report with millions of distinct sources).
const FLUSH_AT: usize = 20_000;

#[derive(Default)]
struct SourceAcc {
    sums: Sums,
    /// The part of `sums` From a subdomain.
    sub: Sums,
    disposition: [u64; 3],
    dkim: BTreeSet<String>,
    spf: BTreeSet<String>,
    reasons: BTreeSet<String>,
    envelope: BTreeSet<String>,
}

fn add(sums: &mut Sums, count: u64, dkim: bool, spf: bool, authenticated: bool) {
    let flags = [true, dkim || spf, spf, dkim, authenticated || dkim || spf];
    for (slot, on) in sums.iter_mut().zip(flags) {
        if on {
            *slot = slot.saturating_add(count);
        }
    }
}

fn insert_all(set: &mut BTreeSet<String>, joined: &str) {
    for item in joined.split(SEP).filter(|s| !s.is_empty()) {
        if !set.contains(item) {
            set.insert(item.to_owned());
        }
    }
}

fn join(set: &BTreeSet<String>) -> Option<String> {
    (!set.is_empty()).then(|| {
        let mut out = String::new();
        for (i, item) in set.iter().enumerate() {
            if i > 0 {
                out.push(SEP);
            }
            out.push_str(item);
        }
        out
    })
}

fn n(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// The rollup additions of one report.
pub(super) struct Rollup {
    domain: String,
    day: i64,
    begin: i64,
    end: i64,
    /// Sorted by address bytes (`String`'s order), the order of the writes.
    sources: BTreeMap<String, SourceAcc>,
    dispositions: BTreeMap<String, u64>,
    subdomains: BTreeMap<String, Sums>,
    streams: crate::store::streams::Streams,
}

impl Rollup {
    pub(super) fn new(domain: &str, begin: i64, end: i64) -> Rollup {
        Rollup {
            domain: domain.to_owned(),
            day: begin.div_euclid(DAY) * DAY,
            begin,
            end,
            sources: BTreeMap::new(),
            dispositions: BTreeMap::new(),
            subdomains: BTreeMap::new(),
            streams: Default::default(),
        }
    }

    /// Adds a record; writes out what was gathered when it grows large.
    pub(super) fn add(
        &mut self,
        client: &mut impl GenericClient,
        r: &RecordKeys<'_>,
    ) -> Result<(), StoreError> {
        let authenticated = !r.dkim_pass.is_empty() || !r.spf_pass.is_empty();
        let disposition = r.disposition.unwrap_or("none");
        match self.dispositions.get_mut(disposition) {
            Some(x) => *x = x.saturating_add(r.count),
            None => {
                self.dispositions.insert(disposition.to_owned(), r.count);
            }
        }
        if let Some(from) = r.header_from
            && from != self.domain
        {
            let sums = match self.subdomains.get_mut(from) {
                Some(sums) => sums,
                None => self.subdomains.entry(from.to_owned()).or_default(),
            };
            add(sums, r.count, r.dkim_aligned, r.spf_aligned, authenticated);
        }
        let acc = match self.sources.get_mut(r.ip) {
            Some(acc) => acc,
            None => self.sources.entry(r.ip.to_owned()).or_default(),
        };
        add(&mut acc.sums, r.count, r.dkim_aligned, r.spf_aligned, authenticated);
        if r.header_from.is_some_and(|from| from_subdomain(from, &self.domain)) {
            add(&mut acc.sub, r.count, r.dkim_aligned, r.spf_aligned, authenticated);
        }
        let which = match disposition {
            "quarantine" => 1,
            "reject" => 2,
            _ => 0,
        };
        acc.disposition[which] = acc.disposition[which].saturating_add(r.count);
        insert_all(&mut acc.dkim, r.dkim_pass);
        insert_all(&mut acc.spf, r.spf_pass);
        insert_all(&mut acc.reasons, r.reasons);
        if let Some(env) = r.envelope_from
            && !acc.envelope.contains(env)
        {
            acc.envelope.insert(env.to_owned());
        }
        self.streams.add(&self.domain, r);
        if self.sources.len() >= FLUSH_AT
            || self.subdomains.len() >= FLUSH_AT
            || self.streams.len() >= FLUSH_AT
        {
            self.flush(client)?;
        }
        Ok(())
    }

    /// Writes out what was gathered.
    pub(super) fn flush(&mut self, client: &mut impl GenericClient) -> Result<(), StoreError> {
        if !self.sources.is_empty() {
            let sources = std::mem::take(&mut self.sources);
            let mut ips = Vec::with_capacity(sources.len());
            let mut cols: [Vec<i64>; 13] = Default::default();
            let mut sets: [Vec<Option<String>>; 4] = Default::default();
            for (ip, acc) in sources {
                ips.push(ip);
                let values = acc.sums.iter().chain(acc.disposition.iter()).chain(acc.sub.iter());
                for (col, v) in cols.iter_mut().zip(values) {
                    col.push(n(*v));
                }
                for (col, set) in
                    sets.iter_mut().zip([&acc.dkim, &acc.spf, &acc.reasons, &acc.envelope])
                {
                    col.push(join(set));
                }
            }
            client.execute(
                "INSERT INTO source_days AS t (domain, source_ip, day, messages, dmarc_pass,
                     spf_aligned_pass, dkim_aligned_pass, authenticated, disposition_none,
                     disposition_quarantine, disposition_reject, first_begin, last_end,
                     dkim_domains, spf_domains, reasons, envelope_from, sub_messages,
                     sub_dmarc_pass, sub_spf_aligned_pass, sub_dkim_aligned_pass,
                     sub_authenticated)
                 SELECT $1, u.ip, $2, u.m, u.dp, u.sp, u.kp, u.au, u.dn, u.dq, u.dr, $3, $4,
                        u.dk, u.sf, u.re, u.ev, u.sm, u.sdp, u.ssp, u.skp, u.sau
                 FROM unnest($5::text[], $6::int8[], $7::int8[], $8::int8[], $9::int8[],
                             $10::int8[], $11::int8[], $12::int8[], $13::int8[], $14::text[],
                             $15::text[], $16::text[], $17::text[], $18::int8[], $19::int8[],
                             $20::int8[], $21::int8[], $22::int8[])
                      WITH ORDINALITY AS u(ip, m, dp, sp, kp, au, dn, dq, dr, dk, sf, re, ev,
                                           sm, sdp, ssp, skp, sau, o)
                 ORDER BY u.o
                 ON CONFLICT (domain, source_ip, day) DO UPDATE SET
                     messages = t.messages + excluded.messages,
                     dmarc_pass = t.dmarc_pass + excluded.dmarc_pass,
                     spf_aligned_pass = t.spf_aligned_pass + excluded.spf_aligned_pass,
                     dkim_aligned_pass = t.dkim_aligned_pass + excluded.dkim_aligned_pass,
                     authenticated = t.authenticated + excluded.authenticated,
                     disposition_none = t.disposition_none + excluded.disposition_none,
                     disposition_quarantine =
                         t.disposition_quarantine + excluded.disposition_quarantine,
                     disposition_reject = t.disposition_reject + excluded.disposition_reject,
                     first_begin = least(t.first_begin, excluded.first_begin),
                     last_end = greatest(t.last_end, excluded.last_end),
                     dkim_domains = dmarc_report_union(t.dkim_domains, excluded.dkim_domains),
                     spf_domains = dmarc_report_union(t.spf_domains, excluded.spf_domains),
                     reasons = dmarc_report_union(t.reasons, excluded.reasons),
                     envelope_from = dmarc_report_union(t.envelope_from, excluded.envelope_from),
                     sub_messages = t.sub_messages + excluded.sub_messages,
                     sub_dmarc_pass = t.sub_dmarc_pass + excluded.sub_dmarc_pass,
                     sub_spf_aligned_pass = t.sub_spf_aligned_pass + excluded.sub_spf_aligned_pass,
                     sub_dkim_aligned_pass =
                         t.sub_dkim_aligned_pass + excluded.sub_dkim_aligned_pass,
                     sub_authenticated = t.sub_authenticated + excluded.sub_authenticated",
                &[
                    &self.domain,
                    &self.day,
                    &self.begin,
                    &self.end,
                    &ips,
                    &cols[0],
                    &cols[1],
                    &cols[2],
                    &cols[3],
                    &cols[4],
                    &cols[5],
                    &cols[6],
                    &cols[7],
                    &sets[0],
                    &sets[1],
                    &sets[2],
                    &sets[3],
                    &cols[8],
                    &cols[9],
                    &cols[10],
                    &cols[11],
                    &cols[12],
                ],
            )?;
        }
        let mut kinds = Vec::new();
        let mut keys = Vec::new();
        let mut cols: [Vec<i64>; 5] = Default::default();
        // "disposition" sorts before "subdomain": the key order of the table.
        for (key, messages) in std::mem::take(&mut self.dispositions) {
            kinds.push("disposition");
            keys.push(key);
            for (i, col) in cols.iter_mut().enumerate() {
                col.push(if i == 0 { n(messages) } else { 0 });
            }
        }
        for (key, s) in std::mem::take(&mut self.subdomains) {
            kinds.push("subdomain");
            keys.push(key);
            for (col, v) in cols.iter_mut().zip(s) {
                col.push(n(v));
            }
        }
        if !keys.is_empty() {
            client.execute(
                "INSERT INTO domain_days AS t (domain, day, kind, key, messages, dmarc_pass,
                     spf_aligned_pass, dkim_aligned_pass, authenticated)
                 SELECT $1, $2, u.kind, u.key, u.m, u.dp, u.sp, u.kp, u.au
                 FROM unnest($3::text[], $4::text[], $5::int8[], $6::int8[], $7::int8[],
                             $8::int8[], $9::int8[])
                      WITH ORDINALITY AS u(kind, key, m, dp, sp, kp, au, o)
                 ORDER BY u.o
                 ON CONFLICT (domain, day, kind, key) DO UPDATE SET
                     messages = t.messages + excluded.messages,
                     dmarc_pass = t.dmarc_pass + excluded.dmarc_pass,
                     spf_aligned_pass = t.spf_aligned_pass + excluded.spf_aligned_pass,
                     dkim_aligned_pass = t.dkim_aligned_pass + excluded.dkim_aligned_pass,
                     authenticated = t.authenticated + excluded.authenticated",
                &[
                    &self.domain,
                    &self.day,
                    &kinds,
                    &keys,
                    &cols[0],
                    &cols[1],
                    &cols[2],
                    &cols[3],
                    &cols[4],
                ],
            )?;
        }
        // After source_days and domain_days: the same table order in every
        // worker.
        self.streams.write_pg(client, &self.domain, self.day)?;
        Ok(())
    }
}
