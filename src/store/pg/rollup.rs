//! The rollups (`source_days`, `domain_days`, `stream_days`, see
//! `store/rollup.rs` and `store/streams.rs` for what they hold) as
//! PostgreSQL keeps them.
//!
//! A report's additions are gathered in memory ([`Rollup`], one domain and
//! day), then merged into the additions of the whole transaction
//! ([`Additions`], any domains and days), which are written just before it
//! commits: one statement per table, rows in primary-key order. Workers
//! adding to the same rows at once therefore take their row locks in the
//! same order, at the end of their transactions, and never deadlock on
//! them; and the rows most reports touch (a domain's day) are locked only
//! for the time of that last write and the commit, not for a whole batch.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use postgres::types::ToSql;
use postgres::{GenericClient, Statement};

use crate::store::StoreError;
use crate::store::rollup::{RecordKeys, SEP, Sums, from_subdomain};
use crate::store::streams::Streams;
use crate::units::DAY;

/// Entries of a report's source map before they should be written out
/// (bounds the memory of a report with millions of distinct sources).
const FULL_AT: usize = 20_000;

/// Prepared statements of one connection, by their text.
pub(super) type Statements = HashMap<&'static str, Statement>;

/// Runs `sql` as a statement prepared once per connection.
pub(super) fn execute(
    client: &mut impl GenericClient,
    cache: &mut Statements,
    sql: &'static str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<u64, StoreError> {
    let statement = match cache.get(sql) {
        Some(s) => s.clone(),
        None => {
            let s = client.prepare(sql)?;
            cache.insert(sql, s.clone());
            s
        }
    };
    Ok(client.execute(&statement, params)?)
}

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

impl SourceAcc {
    fn merge(&mut self, other: SourceAcc) {
        for (a, b) in self.sums.iter_mut().zip(other.sums) {
            *a = a.saturating_add(b);
        }
        for (a, b) in self.sub.iter_mut().zip(other.sub) {
            *a = a.saturating_add(b);
        }
        for (a, b) in self.disposition.iter_mut().zip(other.disposition) {
            *a = a.saturating_add(b);
        }
        self.dkim.extend(other.dkim);
        self.spf.extend(other.spf);
        self.reasons.extend(other.reasons);
        self.envelope.extend(other.envelope);
    }
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
    sources: BTreeMap<String, SourceAcc>,
    dispositions: BTreeMap<String, u64>,
    subdomains: BTreeMap<String, Sums>,
    streams: Streams,
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
            streams: Streams::default(),
        }
    }

    /// Adds a record; `true` when what was gathered has grown large enough
    /// to be written out ([`Rollup::flush`]).
    pub(super) fn add(&mut self, r: &RecordKeys<'_>) -> bool {
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
        self.sources.len() >= FULL_AT
            || self.subdomains.len() >= FULL_AT
            || self.streams.len() >= FULL_AT
    }

    /// Writes out what was gathered, now.
    pub(super) fn flush(
        &mut self,
        client: &mut impl GenericClient,
        cache: &mut Statements,
    ) -> Result<(), StoreError> {
        let mut all = Additions::default();
        all.absorb(self);
        all.flush(client, cache)
    }
}

/// A `source_days` row's additions.
struct SourceAdd {
    acc: SourceAcc,
    first_begin: i64,
    last_end: i64,
}

/// The rollup additions of several reports, of any domains and days.
#[derive(Default)]
pub(super) struct Additions {
    /// By (domain, source, day): the primary key's order (byte order of
    /// the text, the "C" collation of the columns).
    sources: BTreeMap<(String, String, i64), SourceAdd>,
    /// By (domain, day, kind, key), the primary key's order.
    days: BTreeMap<(String, i64, &'static str, String), Sums>,
    /// By (domain, source, day, subdomain, DKIM domain, SPF domain), the
    /// primary key's order.
    streams: BTreeMap<(String, String, i64, i16, String, String), Sums>,
}

impl Additions {
    /// Rows waiting to be written.
    pub(super) fn len(&self) -> usize {
        self.sources.len() + self.days.len() + self.streams.len()
    }

    /// Takes over what `r` gathered (leaving it empty).
    pub(super) fn absorb(&mut self, r: &mut Rollup) {
        for (ip, acc) in std::mem::take(&mut r.sources) {
            match self.sources.entry((r.domain.clone(), ip, r.day)) {
                std::collections::btree_map::Entry::Vacant(v) => {
                    v.insert(SourceAdd { acc, first_begin: r.begin, last_end: r.end });
                }
                std::collections::btree_map::Entry::Occupied(mut o) => {
                    let row = o.get_mut();
                    row.acc.merge(acc);
                    row.first_begin = row.first_begin.min(r.begin);
                    row.last_end = row.last_end.max(r.end);
                }
            }
        }
        for (key, messages) in std::mem::take(&mut r.dispositions) {
            let sums = self.days.entry((r.domain.clone(), r.day, "disposition", key)).or_default();
            sums[0] = sums[0].saturating_add(messages);
        }
        for (key, s) in std::mem::take(&mut r.subdomains) {
            let sums = self.days.entry((r.domain.clone(), r.day, "subdomain", key)).or_default();
            for (a, b) in sums.iter_mut().zip(s) {
                *a = a.saturating_add(b);
            }
        }
        for (ip, sub, dkim, spf, s) in r.streams.drain() {
            let sums =
                self.streams.entry((r.domain.clone(), ip, r.day, sub, dkim, spf)).or_default();
            for (a, b) in sums.iter_mut().zip(s) {
                *a = a.saturating_add(b);
            }
        }
    }

    /// Writes out what was gathered (leaving it empty): one statement per
    /// table, rows in key order.
    pub(super) fn flush(
        &mut self,
        client: &mut impl GenericClient,
        cache: &mut Statements,
    ) -> Result<(), StoreError> {
        if !self.sources.is_empty() {
            let sources = std::mem::take(&mut self.sources);
            let mut domains = Vec::with_capacity(sources.len());
            let mut ips = Vec::with_capacity(sources.len());
            let mut cols: [Vec<i64>; 16] = Default::default();
            let mut sets: [Vec<Option<String>>; 4] = Default::default();
            for ((domain, ip, day), row) in sources {
                domains.push(domain);
                ips.push(ip);
                let acc = &row.acc;
                let values = [day, row.first_begin, row.last_end].into_iter().chain(
                    acc.sums
                        .iter()
                        .chain(acc.disposition.iter())
                        .chain(acc.sub.iter())
                        .map(|v| n(*v)),
                );
                for (col, v) in cols.iter_mut().zip(values) {
                    col.push(v);
                }
                for (col, set) in
                    sets.iter_mut().zip([&acc.dkim, &acc.spf, &acc.reasons, &acc.envelope])
                {
                    col.push(join(set));
                }
            }
            execute(
                client,
                cache,
                "INSERT INTO source_days AS t (domain, source_ip, day, messages, dmarc_pass,
                     spf_aligned_pass, dkim_aligned_pass, authenticated, disposition_none,
                     disposition_quarantine, disposition_reject, first_begin, last_end,
                     dkim_domains, spf_domains, reasons, envelope_from, sub_messages,
                     sub_dmarc_pass, sub_spf_aligned_pass, sub_dkim_aligned_pass,
                     sub_authenticated)
                 SELECT u.dom, u.ip, u.day, u.m, u.dp, u.sp, u.kp, u.au, u.dn, u.dq, u.dr, u.fb,
                        u.le, u.dk, u.sf, u.re, u.ev, u.sm, u.sdp, u.ssp, u.skp, u.sau
                 FROM unnest($1::text[], $2::text[], $3::int8[], $4::int8[], $5::int8[],
                             $6::int8[], $7::int8[], $8::int8[], $9::int8[], $10::int8[],
                             $11::int8[], $12::int8[], $13::int8[], $14::text[], $15::text[],
                             $16::text[], $17::text[], $18::int8[], $19::int8[], $20::int8[],
                             $21::int8[], $22::int8[])
                      WITH ORDINALITY AS u(dom, ip, day, fb, le, m, dp, sp, kp, au, dn, dq, dr,
                                           dk, sf, re, ev, sm, sdp, ssp, skp, sau, o)
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
                    &domains, &ips, &cols[0], &cols[1], &cols[2], &cols[3], &cols[4], &cols[5],
                    &cols[6], &cols[7], &cols[8], &cols[9], &cols[10], &sets[0], &sets[1],
                    &sets[2], &sets[3], &cols[11], &cols[12], &cols[13], &cols[14], &cols[15],
                ],
            )?;
        }
        if !self.days.is_empty() {
            let days = std::mem::take(&mut self.days);
            let mut domains = Vec::with_capacity(days.len());
            let mut kinds = Vec::with_capacity(days.len());
            let mut keys = Vec::with_capacity(days.len());
            let mut cols: [Vec<i64>; 6] = Default::default();
            for ((domain, day, kind, key), sums) in days {
                domains.push(domain);
                kinds.push(kind);
                keys.push(key);
                let values = std::iter::once(day).chain(sums.iter().map(|v| n(*v)));
                for (col, v) in cols.iter_mut().zip(values) {
                    col.push(v);
                }
            }
            execute(
                client,
                cache,
                "INSERT INTO domain_days AS t (domain, day, kind, key, messages, dmarc_pass,
                     spf_aligned_pass, dkim_aligned_pass, authenticated)
                 SELECT u.dom, u.day, u.kind, u.key, u.m, u.dp, u.sp, u.kp, u.au
                 FROM unnest($1::text[], $2::int8[], $3::text[], $4::text[], $5::int8[],
                             $6::int8[], $7::int8[], $8::int8[], $9::int8[])
                      WITH ORDINALITY AS u(dom, day, kind, key, m, dp, sp, kp, au, o)
                 ORDER BY u.o
                 ON CONFLICT (domain, day, kind, key) DO UPDATE SET
                     messages = t.messages + excluded.messages,
                     dmarc_pass = t.dmarc_pass + excluded.dmarc_pass,
                     spf_aligned_pass = t.spf_aligned_pass + excluded.spf_aligned_pass,
                     dkim_aligned_pass = t.dkim_aligned_pass + excluded.dkim_aligned_pass,
                     authenticated = t.authenticated + excluded.authenticated",
                &[
                    &domains, &cols[0], &kinds, &keys, &cols[1], &cols[2], &cols[3], &cols[4],
                    &cols[5],
                ],
            )?;
        }
        // After source_days and domain_days: the same table order in every
        // worker.
        if !self.streams.is_empty() {
            let streams = std::mem::take(&mut self.streams);
            let mut domains = Vec::with_capacity(streams.len());
            let mut ips = Vec::with_capacity(streams.len());
            let mut subs = Vec::with_capacity(streams.len());
            let mut dkims = Vec::with_capacity(streams.len());
            let mut spfs = Vec::with_capacity(streams.len());
            let mut cols: [Vec<i64>; 6] = Default::default();
            for ((domain, ip, day, sub, dkim, spf), sums) in streams {
                domains.push(domain);
                ips.push(ip);
                subs.push(sub);
                dkims.push(dkim);
                spfs.push(spf);
                let values = std::iter::once(day).chain(sums.iter().map(|v| n(*v)));
                for (col, v) in cols.iter_mut().zip(values) {
                    col.push(v);
                }
            }
            execute(
                client,
                cache,
                "INSERT INTO stream_days AS t (domain, source_ip, day, subdomain, dkim_domain,
                     spf_domain, messages, dmarc_pass, spf_aligned_pass, dkim_aligned_pass,
                     authenticated)
                 SELECT u.dom, u.ip, u.day, u.sub, u.dk, u.sf, u.m, u.dp, u.sp, u.kp, u.au
                 FROM unnest($1::text[], $2::text[], $3::int8[], $4::int2[], $5::text[],
                             $6::text[], $7::int8[], $8::int8[], $9::int8[], $10::int8[],
                             $11::int8[])
                      WITH ORDINALITY AS u(dom, ip, day, sub, dk, sf, m, dp, sp, kp, au, o)
                 ORDER BY u.o
                 ON CONFLICT (domain, source_ip, day, subdomain, dkim_domain, spf_domain)
                 DO UPDATE SET
                     messages = t.messages + excluded.messages,
                     dmarc_pass = t.dmarc_pass + excluded.dmarc_pass,
                     spf_aligned_pass = t.spf_aligned_pass + excluded.spf_aligned_pass,
                     dkim_aligned_pass = t.dkim_aligned_pass + excluded.dkim_aligned_pass,
                     authenticated = t.authenticated + excluded.authenticated",
                &[
                    &domains, &ips, &cols[0], &subs, &dkims, &spfs, &cols[1], &cols[2], &cols[3],
                    &cols[4], &cols[5],
                ],
            )?;
        }
        Ok(())
    }
}
