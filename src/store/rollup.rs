//! Rollups: what the summary needs, added up per policy domain and UTC day
//! (of the report's begin) as reports are stored, so that a summary reads
//! one row per source and day instead of every record.
//!
//! - `source_days`: per domain, source address and day: the totals, the
//!   messages by disposition, the earliest begin and latest end of the
//!   reports that mention it, and the sets of passing DKIM and SPF domains,
//!   override reasons and envelope-from domains (each a sorted list joined
//!   by U+001F, a character XML cannot carry).
//!   The part of those totals whose From (`header_from`) is a subdomain of
//!   the policy domain is kept beside them (`sub_*`): `sp` governs it, not
//!   `p`.
//! - `domain_days`: per domain and day: messages by applied disposition
//!   as written, and totals per header-from domain other than the policy
//!   domain (subdomains).
//! - `stream_days`: per domain, source address and day, the mail split by
//!   the identity it authenticated with (see `streams.rs`).
//!
//! `source_days` names its domain by id in `strings` (the view
//! `source_days_v` gives it as text).
//!
//! A report's additions are gathered in memory while it is written. When
//! it is finished, its sources join those of the batch's earlier reports
//! ([`Pending`]), merged per key, and the batch writes them once per key,
//! in key order, just before it commits; a report abandoned half-way never
//! joins. Its other additions are written at once, inside its savepoint,
//! so they are undone with it. Deleting a report (`reparse`) rebuilds the
//! rollups of its domain and day from the records that remain.

use std::collections::hash_map::Entry;
use std::collections::{BTreeSet, HashMap};

use rusqlite::{Connection, OptionalExtension, params};

use super::StoreError;
use crate::units::DAY;

/// Separates the items of a set column.
pub(super) const SEP: char = '\u{1f}';

/// Entries of a report's source map before they are written out (bounds
/// the memory of a report with millions of distinct sources).
const FLUSH_AT: usize = 20_000;

/// messages, dmarc_pass, spf_aligned_pass, dkim_aligned_pass, authenticated
pub(super) type Sums = [u64; 5];

/// What one record adds.
pub(super) struct RecordKeys<'a> {
    pub ip: &'a str,
    pub count: u64,
    pub disposition: Option<&'a str>,
    pub dkim_aligned: bool,
    pub spf_aligned: bool,
    pub header_from: Option<&'a str>,
    pub envelope_from: Option<&'a str>,
    /// Passing DKIM domains, joined by [`SEP`].
    pub dkim_pass: &'a str,
    /// Passing SPF domains, joined by [`SEP`].
    pub spf_pass: &'a str,
    /// Reason labels, joined by [`SEP`].
    pub reasons: &'a str,
}

/// The label of an override reason as the summary groups them: the type in
/// lower case, plus ` arc=pass` when the comment reports a passing ARC chain
/// (Google gives `local_policy` with the comment `arc=pass` for mail it
/// accepted on the strength of an ARC chain). `None` without a type.
pub fn reason_label(kind: Option<&str>, comment: Option<&str>) -> Option<String> {
    let kind = kind.filter(|k| !k.is_empty())?;
    let mut label = kind.to_lowercase();
    if comment.is_some_and(|c| c.to_ascii_lowercase().contains("arc=pass")) {
        label.push_str(" arc=pass");
    }
    Some(label)
}

/// Whether mail From `header_from` is mail of a subdomain of `domain` (the
/// policy domain, lower case), which `sp` governs rather than `p`.
pub fn from_subdomain(header_from: &str, domain: &str) -> bool {
    let (from, domain) = (header_from.as_bytes(), domain.as_bytes());
    from.len() > domain.len() + 1
        && from[from.len() - domain.len() - 1] == b'.'
        && from[from.len() - domain.len()..].eq_ignore_ascii_case(domain)
}

struct SourceAcc {
    /// The earliest begin and latest end of the reports that mention it.
    first_begin: i64,
    last_end: i64,
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
    fn new(first_begin: i64, last_end: i64) -> SourceAcc {
        SourceAcc {
            first_begin,
            last_end,
            sums: Sums::default(),
            sub: Sums::default(),
            disposition: [0; 3],
            dkim: BTreeSet::new(),
            spf: BTreeSet::new(),
            reasons: BTreeSet::new(),
            envelope: BTreeSet::new(),
        }
    }

    /// Adds `other` (the same source and day, from another report).
    fn merge(&mut self, other: SourceAcc) {
        self.first_begin = self.first_begin.min(other.first_begin);
        self.last_end = self.last_end.max(other.last_end);
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

/// The rollup additions of one report (or of the records of one domain and
/// day, when rebuilding).
pub(super) struct Rollup {
    domain: String,
    day: i64,
    begin: i64,
    end: i64,
    sources: HashMap<String, SourceAcc>,
    dispositions: HashMap<String, u64>,
    subdomains: HashMap<String, Sums>,
    streams: super::streams::Streams,
}

impl Rollup {
    pub(super) fn new(domain: &str, begin: i64, end: i64) -> Rollup {
        Rollup {
            domain: domain.to_owned(),
            day: begin.div_euclid(DAY) * DAY,
            begin,
            end,
            sources: HashMap::new(),
            dispositions: HashMap::new(),
            subdomains: HashMap::new(),
            streams: Default::default(),
        }
    }

    /// Adds a record; writes out what was gathered when it grows large.
    pub(super) fn add(&mut self, conn: &Connection, r: &RecordKeys<'_>) -> Result<(), StoreError> {
        let authenticated = !r.dkim_pass.is_empty() || !r.spf_pass.is_empty();
        let disposition = r.disposition.unwrap_or("none");
        match self.dispositions.get_mut(disposition) {
            Some(n) => *n = n.saturating_add(r.count),
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
        let (begin, end) = (self.begin, self.end);
        let acc = match self.sources.get_mut(r.ip) {
            Some(acc) => acc,
            None => {
                self.sources.entry(r.ip.to_owned()).or_insert_with(|| SourceAcc::new(begin, end))
            }
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
            self.flush(conn)?;
        }
        Ok(())
    }

    /// Finishes the report: the rest is written out now, then its sources
    /// join the batch's (`pending`), once nothing of it can fail any more.
    pub(super) fn finish(
        &mut self,
        conn: &Connection,
        pending: &mut Pending,
    ) -> Result<(), StoreError> {
        let sources = std::mem::take(&mut self.sources);
        let streams = std::mem::take(&mut self.streams);
        self.flush(conn)?;
        let day = self.day;
        if streams.len() > 0 {
            pending.entries += streams.len();
            let key = (self.domain.clone(), day);
            pending.streams.entry(key).or_default().merge(streams);
        }
        if sources.is_empty() {
            return Ok(());
        }
        let merged = match pending.domains.get_mut(self.domain.as_str()) {
            Some(m) => m,
            None => pending.domains.entry(self.domain.clone()).or_default(),
        };
        for (ip, acc) in sources {
            pending.entries += 1;
            match merged.entry((ip, day)) {
                Entry::Occupied(mut e) => e.get_mut().merge(acc),
                Entry::Vacant(e) => {
                    e.insert(acc);
                }
            }
        }
        Ok(())
    }

    /// Writes out what was gathered.
    pub(super) fn flush(&mut self, conn: &Connection) -> Result<(), StoreError> {
        let (domain, day) = (self.domain.as_str(), self.day);
        let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        if !self.sources.is_empty() {
            let domain_id = domain_id(conn, domain)?;
            let mut sources: Vec<((String, i64), SourceAcc)> =
                self.sources.drain().map(|(ip, acc)| ((ip, day), acc)).collect();
            write_sources(conn, domain_id, &mut sources)?;
        }
        let mut stmt = conn.prepare_cached(
            "INSERT INTO domain_days (domain, day, kind, key, messages, dmarc_pass,
                 spf_aligned_pass, dkim_aligned_pass, authenticated)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
             ON CONFLICT DO UPDATE SET
                 messages = messages + excluded.messages,
                 dmarc_pass = dmarc_pass + excluded.dmarc_pass,
                 spf_aligned_pass = spf_aligned_pass + excluded.spf_aligned_pass,
                 dkim_aligned_pass = dkim_aligned_pass + excluded.dkim_aligned_pass,
                 authenticated = authenticated + excluded.authenticated",
        )?;
        for (key, messages) in self.dispositions.drain() {
            stmt.execute(params![domain, day, "disposition", key, n(messages), 0, 0, 0, 0])?;
        }
        for (key, s) in self.subdomains.drain() {
            stmt.execute(params![
                domain,
                day,
                "subdomain",
                key,
                n(s[0]),
                n(s[1]),
                n(s[2]),
                n(s[3]),
                n(s[4])
            ])?;
        }
        self.streams.write_sqlite(conn, domain, day)?;
        Ok(())
    }
}

/// The sources of a batch's finished reports, merged per policy domain,
/// source and day, written at its commit (see the module's description).
#[derive(Default)]
pub(super) struct Pending {
    domains: HashMap<String, HashMap<(String, i64), SourceAcc>>,
    /// The streams, per domain and day.
    streams: HashMap<(String, i64), super::streams::Streams>,
    /// Sources added since the last write (merged or not): bounds memory.
    entries: usize,
}

impl Pending {
    /// Whether the batch should write its sources now rather than at its
    /// commit (memory stays bounded in a batch of many reports).
    pub(super) fn is_large(&self) -> bool {
        self.entries >= FLUSH_AT
    }

    /// Whether nothing waits to be written.
    pub(super) fn is_empty(&self) -> bool {
        self.domains.is_empty() && self.streams.is_empty()
    }

    /// Forgets what was gathered (the batch was rolled back).
    pub(super) fn clear(&mut self) {
        self.domains.clear();
        self.streams.clear();
        self.entries = 0;
    }

    /// Writes what was gathered, each domain's rows in key order.
    pub(super) fn flush(&mut self, conn: &Connection) -> Result<(), StoreError> {
        self.entries = 0;
        for (domain, merged) in self.domains.drain() {
            let domain_id = domain_id(conn, &domain)?;
            let mut sources: Vec<((String, i64), SourceAcc)> = merged.into_iter().collect();
            write_sources(conn, domain_id, &mut sources)?;
        }
        for ((domain, day), mut streams) in self.streams.drain() {
            streams.write_sqlite(conn, &domain, day)?;
        }
        Ok(())
    }
}

/// The id of `domain` in `strings`, adding it when new.
fn domain_id(conn: &Connection, domain: &str) -> Result<i64, StoreError> {
    let found: Option<i64> = conn
        .prepare_cached("SELECT id FROM strings WHERE value = ?1")?
        .query_row([domain], |r| r.get(0))
        .optional()?;
    Ok(match found {
        Some(id) => id,
        None => {
            conn.prepare_cached("INSERT INTO strings (value) VALUES (?1)")?.execute([domain])?;
            conn.last_insert_rowid()
        }
    })
}

/// Adds `sources` ((address, day) and what it adds) of the domain
/// `domain_id` to `source_days`, in key order (neighbouring rows share the
/// B-tree's pages).
fn write_sources(
    conn: &Connection,
    domain_id: i64,
    sources: &mut [((String, i64), SourceAcc)],
) -> Result<(), StoreError> {
    let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    sources.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let mut stmt = conn.prepare_cached(
        "INSERT INTO source_days (domain_id, source_ip, day, messages, dmarc_pass,
             spf_aligned_pass, dkim_aligned_pass, authenticated, disposition_none,
             disposition_quarantine, disposition_reject, first_begin, last_end,
             dkim_domains, spf_domains, reasons, envelope_from, sub_messages,
             sub_dmarc_pass, sub_spf_aligned_pass, sub_dkim_aligned_pass,
             sub_authenticated)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,
             ?17, ?18, ?19, ?20, ?21, ?22)
         ON CONFLICT DO UPDATE SET
             messages = messages + excluded.messages,
             dmarc_pass = dmarc_pass + excluded.dmarc_pass,
             spf_aligned_pass = spf_aligned_pass + excluded.spf_aligned_pass,
             dkim_aligned_pass = dkim_aligned_pass + excluded.dkim_aligned_pass,
             authenticated = authenticated + excluded.authenticated,
             disposition_none = disposition_none + excluded.disposition_none,
             disposition_quarantine =
                 disposition_quarantine + excluded.disposition_quarantine,
             disposition_reject = disposition_reject + excluded.disposition_reject,
             first_begin = min(first_begin, excluded.first_begin),
             last_end = max(last_end, excluded.last_end),
             dkim_domains = dmarc_report_union(dkim_domains, excluded.dkim_domains),
             spf_domains = dmarc_report_union(spf_domains, excluded.spf_domains),
             reasons = dmarc_report_union(reasons, excluded.reasons),
             envelope_from = dmarc_report_union(envelope_from, excluded.envelope_from),
             sub_messages = sub_messages + excluded.sub_messages,
             sub_dmarc_pass = sub_dmarc_pass + excluded.sub_dmarc_pass,
             sub_spf_aligned_pass = sub_spf_aligned_pass + excluded.sub_spf_aligned_pass,
             sub_dkim_aligned_pass =
                 sub_dkim_aligned_pass + excluded.sub_dkim_aligned_pass,
             sub_authenticated = sub_authenticated + excluded.sub_authenticated",
    )?;
    for ((ip, day), acc) in sources.iter() {
        let s = acc.sums;
        let d = acc.disposition;
        stmt.execute(params![
            domain_id,
            ip,
            day,
            n(s[0]),
            n(s[1]),
            n(s[2]),
            n(s[3]),
            n(s[4]),
            n(d[0]),
            n(d[1]),
            n(d[2]),
            acc.first_begin,
            acc.last_end,
            join(&acc.dkim),
            join(&acc.spf),
            join(&acc.reasons),
            join(&acc.envelope),
            n(acc.sub[0]),
            n(acc.sub[1]),
            n(acc.sub[2]),
            n(acc.sub[3]),
            n(acc.sub[4]),
        ])?;
    }
    Ok(())
}

/// The union of two sets as stored (sorted, joined by [`SEP`]; NULL when
/// empty).
fn union(a: Option<&str>, b: Option<&str>) -> Option<String> {
    match (a.filter(|s| !s.is_empty()), b.filter(|s| !s.is_empty())) {
        (None, None) => None,
        (Some(x), None) | (None, Some(x)) => Some(x.to_owned()),
        (Some(a), Some(b)) if a == b => Some(a.to_owned()),
        (Some(a), Some(b)) => {
            let mut set: BTreeSet<&str> = a.split(SEP).collect();
            set.extend(b.split(SEP));
            let mut out = String::with_capacity(a.len() + b.len() + 1);
            for (i, item) in set.iter().filter(|s| !s.is_empty()).enumerate() {
                if i > 0 {
                    out.push(SEP);
                }
                out.push_str(item);
            }
            Some(out)
        }
    }
}

/// Registers the SQL functions the rollups use on `conn`.
pub(super) fn register(conn: &Connection) -> Result<(), StoreError> {
    use rusqlite::functions::FunctionFlags;
    conn.create_scalar_function(
        "dmarc_report_union",
        2,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| {
            let a: Option<String> = ctx.get(0)?;
            let b: Option<String> = ctx.get(1)?;
            Ok(union(a.as_deref(), b.as_deref()))
        },
    )?;
    Ok(())
}

/// Rebuilds the rollups of `domain` on `day` (Unix seconds at 00:00 UTC)
/// from the records stored for it.
pub(super) fn rebuild(conn: &Connection, domain: &str, day: i64) -> Result<(), StoreError> {
    conn.prepare_cached(
        "DELETE FROM source_days
         WHERE domain_id = (SELECT id FROM strings WHERE value = ?1) AND day = ?2",
    )?
    .execute(params![domain, day])?;
    conn.prepare_cached("DELETE FROM domain_days WHERE domain = ?1 AND day = ?2")?
        .execute(params![domain, day])?;
    conn.prepare_cached("DELETE FROM stream_days WHERE domain = ?1 AND day = ?2")?
        .execute(params![domain, day])?;
    let reports: Vec<(i64, i64, i64)> = conn
        .prepare_cached(
            "SELECT id, begin_ts, end_ts FROM reports
             WHERE policy_domain = ?1 AND begin_ts >= ?2 AND begin_ts < ?3",
        )?
        .query_map(params![domain, day, day + DAY], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    let mut records = conn.prepare_cached(super::reads::RECORD_FACTS)?;
    let mut buffers = super::reads::FactBuffers::default();
    let sep = SEP.to_string();
    for (id, begin, end) in reports {
        let mut rollup = Rollup::new(domain, begin, end);
        let mut failed = None;
        super::reads::each_record(&mut records, id, &mut buffers, &mut |r| {
            if failed.is_some() {
                return;
            }
            let labels: Vec<String> = r
                .reasons
                .iter()
                .filter_map(|x| reason_label(x.kind.as_deref(), x.comment.as_deref()))
                .collect();
            let added = rollup.add(
                conn,
                &RecordKeys {
                    ip: r.source_ip,
                    count: r.count,
                    disposition: r.disposition,
                    dkim_aligned: r.dkim_aligned,
                    spf_aligned: r.spf_aligned,
                    header_from: r.header_from,
                    envelope_from: r.envelope_from,
                    dkim_pass: &r.dkim_pass.join(&sep),
                    spf_pass: &r.spf_pass.join(&sep),
                    reasons: &labels.join(&sep),
                },
            );
            if let Err(e) = added {
                failed = Some(e);
            }
        })?;
        if let Some(e) = failed {
            return Err(e);
        }
        rollup.flush(conn)?;
    }
    Ok(())
}

/// Rebuilds every rollup (after the migration that adds them).
pub(super) fn rebuild_all(conn: &Connection) -> Result<(), StoreError> {
    let days: Vec<(String, i64)> = conn
        .prepare(
            "SELECT DISTINCT policy_domain, (begin_ts - ((begin_ts % 86400) + 86400) % 86400)
             FROM reports",
        )?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    for (domain, day) in days {
        rebuild(conn, &domain, day)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_unite_sorted_without_repeats_and_empty_is_null() {
        let s = |x: &str| x.replace('|', &SEP.to_string());
        assert_eq!(union(None, None), None);
        assert_eq!(union(Some(""), None), None);
        assert_eq!(union(Some(&s("b|d")), Some(&s("a|b|c"))), Some(s("a|b|c|d")));
        assert_eq!(union(None, Some("x")), Some("x".to_owned()));
    }

    #[test]
    fn only_mail_from_a_subdomain_is_subdomain_mail() {
        assert!(from_subdomain("news.example.com", "example.com"));
        assert!(from_subdomain("A.Example.COM", "example.com"));
        assert!(!from_subdomain("example.com", "example.com"));
        assert!(!from_subdomain("badexample.com", "example.com"));
        assert!(!from_subdomain("example.org", "example.com"));
        assert!(!from_subdomain(".example.com", "example.com"));
    }

    #[test]
    fn a_reason_label_is_the_lower_case_type_and_arc_pass_when_said() {
        assert_eq!(reason_label(Some("Forwarded"), None).as_deref(), Some("forwarded"));
        assert_eq!(
            reason_label(Some("local_policy"), Some("ARC=pass")).as_deref(),
            Some("local_policy arc=pass")
        );
        assert_eq!(reason_label(Some(""), Some("arc=pass")), None);
        assert_eq!(reason_label(None, None), None);
    }
}
