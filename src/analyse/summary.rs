//! Per-domain and per-source totals over a window of stored reports: the
//! numbers the summary and the readiness verdict stand on.
//!
//! A report belongs to the window when its `begin` falls inside it. Sums are
//! computed in Rust with saturating arithmetic (SQLite's `sum()` fails on
//! overflow; counts are bounded at 10^12 by the parser anyway).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;

use super::classify::SenderClass;
use super::senders::{Catalogue, Evidence, KnownSender};
use crate::store::{RecordFacts, ReportRef, StoreError, SummaryReads};
use crate::units::DAY;

/// Which reports to look at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowSpec {
    /// The `days` days ending at the end of the newest report of the domain.
    LastDays(u32),
    /// From `since` (inclusive) to `until` (exclusive), Unix seconds.
    Range {
        /// First second inside the window.
        since: i64,
        /// First second after it.
        until: i64,
    },
    /// From `since` to the midnight after the newest report.
    Since(i64),
    /// The `days` days ending at `until` (exclusive).
    Until {
        /// First second after the window.
        until: i64,
        /// Length in days.
        days: u32,
    },
    /// Everything stored.
    All,
}

/// A resolved window, Unix seconds, `[begin, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Window {
    /// First second inside.
    pub begin: i64,
    /// First second after.
    pub end: i64,
}

/// Totals of a set of records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    /// Messages (sum of `count`).
    pub messages: u64,
    /// Messages passing DMARC (aligned DKIM or aligned SPF passed).
    pub dmarc_pass: u64,
    /// Messages with aligned SPF pass.
    pub spf_aligned_pass: u64,
    /// Messages with aligned DKIM pass.
    pub dkim_aligned_pass: u64,
    /// Messages for which some DKIM or SPF check passed, for any domain
    /// (aligned or not).
    pub authenticated: u64,
}

impl Totals {
    /// From messages, dmarc_pass, spf_aligned_pass, dkim_aligned_pass and
    /// authenticated, in that order.
    pub fn from_sums(s: [u64; 5]) -> Totals {
        Totals {
            messages: s[0],
            dmarc_pass: s[1],
            spf_aligned_pass: s[2],
            dkim_aligned_pass: s[3],
            authenticated: s[4],
        }
    }

    /// Adds another set of totals (saturating).
    pub fn merge(&mut self, other: &Totals) {
        self.messages = self.messages.saturating_add(other.messages);
        self.dmarc_pass = self.dmarc_pass.saturating_add(other.dmarc_pass);
        self.spf_aligned_pass = self.spf_aligned_pass.saturating_add(other.spf_aligned_pass);
        self.dkim_aligned_pass = self.dkim_aligned_pass.saturating_add(other.dkim_aligned_pass);
        self.authenticated = self.authenticated.saturating_add(other.authenticated);
    }

    fn add(&mut self, count: u64, dkim: bool, spf: bool, authenticated: bool) {
        self.messages = self.messages.saturating_add(count);
        if authenticated || dkim || spf {
            self.authenticated = self.authenticated.saturating_add(count);
        }
        if dkim || spf {
            self.dmarc_pass = self.dmarc_pass.saturating_add(count);
        }
        if spf {
            self.spf_aligned_pass = self.spf_aligned_pass.saturating_add(count);
        }
        if dkim {
            self.dkim_aligned_pass = self.dkim_aligned_pass.saturating_add(count);
        }
    }
}

/// One source IP in the window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceRow {
    /// The source address as reported.
    pub ip: String,
    /// The sender it was identified as.
    pub sender: String,
    /// What identified it (`DKIM d=sendgrid.net`).
    pub identified_by: Option<String>,
    /// Messages from this address and how many passed DMARC, SPF and DKIM.
    #[serde(flatten)]
    pub totals: Totals,
    /// Start of the first report that mentions it.
    #[serde(serialize_with = "super::rfc3339")]
    pub first_seen: i64,
    /// End of the last report that mentions it.
    #[serde(serialize_with = "super::rfc3339")]
    pub last_seen: i64,
    /// Passing DKIM `d=` domains seen for it.
    pub dkim_domains: Vec<String>,
    /// Passing SPF domains seen for it.
    pub spf_domains: Vec<String>,
    /// Override reasons the receivers gave (forwarded, mailing_list, ...;
    /// `local_policy arc=pass` when the comment reports a passing ARC chain).
    pub reasons: Vec<String>,
    /// Envelope-from domains as reported.
    #[serde(skip)]
    pub envelope_from: Vec<String>,
    /// The forward-confirmed reverse DNS name, when resolved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rdns: Option<String>,
    /// The catalogue entry that named it.
    #[serde(skip)]
    pub known: Option<KnownSender>,
    /// Its sender's class, once classified.
    pub class: SenderClass,
    /// Per UTC day (of the report's begin), in day order.
    #[serde(skip)]
    pub daily: Vec<DayTotals>,
}

/// One source's messages on one UTC day.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DayTotals {
    /// The day, Unix seconds at 00:00 UTC.
    pub day: i64,
    /// Messages that day and how many passed DMARC, SPF and DKIM.
    pub totals: Totals,
    /// The part of `totals` From a subdomain of the domain, which `sp`
    /// governs rather than `p`.
    pub subdomain: Totals,
    /// Messages by applied disposition: none (or pass), quarantine, reject.
    pub disposition: [u64; 3],
}

/// One reporting organisation in the window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reporter {
    /// `org_name` as reported.
    pub org_name: String,
    /// Its reports in the window.
    pub reports: u64,
    /// The messages they cover.
    pub messages: u64,
}

/// One policy domain in the window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DomainTotals {
    /// The policy domain (in JSON once, as the key of the domain object).
    #[serde(skip)]
    pub domain: String,
    /// The days the totals cover.
    #[serde(skip)]
    pub window: Window,
    /// Reports in the window.
    pub reports: u64,
    /// Distinct reporting organisations.
    pub reporters: u64,
    /// The reporting organisations, most reports first.
    pub reporting_orgs: Vec<Reporter>,
    /// The end of the newest report in the window (Unix seconds).
    #[serde(serialize_with = "super::rfc3339_opt")]
    pub newest_report_end: Option<i64>,
    /// Distinct UTC days covered by the reports.
    pub days_covered: u64,
    /// Totals of all records.
    #[serde(flatten)]
    pub totals: Totals,
    /// Messages per applied disposition (`none`, `quarantine`, `reject`, `pass`).
    pub disposition: BTreeMap<String, u64>,
    /// Messages per `header_from` other than the domain itself.
    pub subdomains: BTreeMap<String, Totals>,
    /// The sources, most messages first.
    pub sources: Vec<SourceRow>,
}

/// The policy domains that have reports, sorted.
pub fn domains(store: &dyn SummaryReads) -> Result<Vec<String>, StoreError> {
    store.domains()
}

/// Resolves a window for `domain`; `None` when it has no reports.
pub fn window(
    store: &dyn SummaryReads,
    domain: &str,
    spec: WindowSpec,
) -> Result<Option<Window>, StoreError> {
    Ok(store.domain_span(domain)?.map(|(first, last)| resolve_window(spec, first, last)))
}

/// The window `spec` means for a domain whose reports begin at `first` at
/// the earliest and end at `last` at the latest.
pub fn resolve_window(spec: WindowSpec, first: i64, last: i64) -> Window {
    match spec {
        WindowSpec::LastDays(days) => {
            // Reports end at 23:59:59 or at the next midnight (Microsoft):
            // the window ends at the midnight after the newest end.
            let end = (last + DAY - 1).div_euclid(DAY) * DAY;
            Window { begin: end - i64::from(days) * DAY, end }
        }
        WindowSpec::Range { since, until } => Window { begin: since, end: until },
        WindowSpec::Since(since) => {
            Window { begin: since, end: (last + DAY - 1).div_euclid(DAY) * DAY }
        }
        WindowSpec::Until { until, days } => {
            Window { begin: until - i64::from(days) * DAY, end: until }
        }
        WindowSpec::All => Window { begin: first, end: last + 1 },
    }
}

/// Totals of `domain` over `window`, with sources named from `catalogue`.
pub fn domain_totals(
    store: &dyn SummaryReads,
    domain: &str,
    window: Window,
    catalogue: &Catalogue,
) -> Result<DomainTotals, StoreError> {
    totals_of(store, domain, window, catalogue, true)
}

/// The same as [`domain_totals`], read from every record instead of the
/// rollups: the reference the rollups are checked against.
pub fn domain_totals_from_records(
    store: &dyn SummaryReads,
    domain: &str,
    window: Window,
    catalogue: &Catalogue,
) -> Result<DomainTotals, StoreError> {
    totals_of(store, domain, window, catalogue, false)
}

fn totals_of(
    store: &dyn SummaryReads,
    domain: &str,
    window: Window,
    catalogue: &Catalogue,
    rollups: bool,
) -> Result<DomainTotals, StoreError> {
    // The window's reports: read once, and everything about reports below
    // is derived from this list.
    let report_list = store.window_reports(domain, window.begin, window.end)?;
    let reports = report_list.len() as u64;
    let newest_report_end = report_list.iter().map(|r| r.end).max();
    let mut per_org: BTreeMap<&str, u64> = BTreeMap::new();
    let mut days = BTreeSet::new();
    for ReportRef { begin, end, org_name, .. } in &report_list {
        *per_org.entry(org_name.as_str()).or_default() += 1;
        // A day counts when the report covers it; a report ending exactly
        // at midnight (Microsoft) does not cover the next day.
        let last = (end - 1).max(*begin).min(window.end - 1);
        let mut day = begin.div_euclid(DAY);
        while day * DAY <= last && days.len() < 100_000 {
            days.insert(day);
            day += 1;
        }
    }
    let reporters = per_org.len() as u64;
    let mut reporting_orgs: Vec<Reporter> = per_org
        .into_iter()
        .map(|(org, n)| Reporter { org_name: org.to_owned(), reports: n, messages: 0 })
        .collect();

    // The rollups hold whole days: they answer exactly when no report of
    // the window's first and last days falls outside the window.
    let first_day = window.begin.div_euclid(DAY) * DAY;
    let end_day = (window.end + DAY - 1).div_euclid(DAY) * DAY;
    let whole_days = rollups
        && ((first_day, end_day) == (window.begin, window.end)
            || store.window_reports(domain, first_day, end_day)?.len() == report_list.len());
    // Otherwise the records: two passes in parallel over alternate reports
    // when the store has a second reader; one pass otherwise.
    let second =
        if whole_days || report_list.len() < 2 { None } else { store.parallel_reader()? };
    let partial = match second {
        _ if whole_days => from_rollups(store, domain, first_day, end_day, &report_list)?,
        Some(second) => {
            let (a, b): (Vec<_>, Vec<_>) =
                report_list.iter().cloned().enumerate().partition(|(i, _)| i % 2 == 0);
            let a: Vec<_> = a.into_iter().map(|(_, r)| r).collect();
            let b: Vec<_> = b.into_iter().map(|(_, r)| r).collect();
            std::thread::scope(|scope| -> Result<Partial, StoreError> {
                let other = scope.spawn(move || accumulate(second.as_ref(), domain, &b));
                let mine = accumulate(store, domain, &a)?;
                let theirs =
                    other.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))?;
                Ok(mine.merge(theirs))
            })?
        }
        None => accumulate(store, domain, &report_list)?,
    };
    let Partial { totals, mut disposition, subdomains, sources, org_messages } = partial;
    for key in ["none", "quarantine", "reject"] {
        disposition.entry(key.to_owned()).or_default();
    }

    let mut rows: Vec<SourceRow> = sources
        .into_iter()
        .map(|(ip, acc)| SourceRow {
            ip,
            sender: String::new(),
            identified_by: None,
            totals: acc.totals,
            first_seen: acc.first,
            last_seen: acc.last,
            dkim_domains: acc.dkim.into_iter().collect(),
            spf_domains: acc.spf.into_iter().collect(),
            reasons: acc.reasons.into_iter().collect(),
            envelope_from: acc.envelope.into_iter().collect(),
            rdns: None,
            known: None,
            class: SenderClass::Unclassified,
            daily: acc.daily,
        })
        .collect();
    identify(&mut rows, catalogue);
    rows.sort_by(|a, b| b.totals.messages.cmp(&a.totals.messages).then_with(|| a.ip.cmp(&b.ip)));
    for org in &mut reporting_orgs {
        org.messages = org_messages.get(&org.org_name).copied().unwrap_or(0);
    }
    reporting_orgs
        .sort_by(|a, b| b.reports.cmp(&a.reports).then_with(|| a.org_name.cmp(&b.org_name)));

    Ok(DomainTotals {
        domain: domain.to_owned(),
        window,
        reports,
        reporters,
        reporting_orgs,
        newest_report_end,
        days_covered: days.len() as u64,
        totals,
        disposition,
        subdomains,
        sources: rows,
    })
}

/// Names each source from its evidence (and its reverse DNS name, when
/// resolved) with `catalogue`.
pub fn identify(rows: &mut [SourceRow], catalogue: &Catalogue) {
    for row in rows {
        let id = catalogue.identify(&Evidence {
            dkim_pass: &row.dkim_domains,
            spf_pass: &row.spf_domains,
            envelope_from: &row.envelope_from,
            reverse_dns: row.rdns.as_deref(),
            ip: Some(&row.ip),
        });
        row.sender = id.name;
        row.identified_by = id.because;
        row.known = id.known;
    }
}

/// What one pass over some reports adds up.
#[derive(Default)]
struct Partial {
    totals: Totals,
    disposition: BTreeMap<String, u64>,
    subdomains: BTreeMap<String, Totals>,
    sources: HashMap<String, Acc>,
    org_messages: BTreeMap<String, u64>,
}

/// One source, while adding up.
struct Acc {
    totals: Totals,
    first: i64,
    last: i64,
    dkim: BTreeSet<String>,
    spf: BTreeSet<String>,
    envelope: BTreeSet<String>,
    reasons: BTreeSet<String>,
    daily: Vec<DayTotals>,
}

impl Partial {
    /// Adds another pass's sums (over other reports) to this one.
    fn merge(mut self, other: Partial) -> Partial {
        self.totals.merge(&other.totals);
        for (k, v) in other.disposition {
            let slot = self.disposition.entry(k).or_default();
            *slot = slot.saturating_add(v);
        }
        for (k, v) in other.subdomains {
            self.subdomains.entry(k).or_default().merge(&v);
        }
        for (k, v) in other.org_messages {
            let slot = self.org_messages.entry(k).or_default();
            *slot = slot.saturating_add(v);
        }
        for (ip, b) in other.sources {
            match self.sources.get_mut(&ip) {
                None => {
                    self.sources.insert(ip, b);
                }
                Some(a) => {
                    a.totals.merge(&b.totals);
                    a.first = a.first.min(b.first);
                    a.last = a.last.max(b.last);
                    a.dkim.extend(b.dkim);
                    a.spf.extend(b.spf);
                    a.envelope.extend(b.envelope);
                    a.reasons.extend(b.reasons);
                    for d in b.daily {
                        match a.daily.binary_search_by_key(&d.day, |x| x.day) {
                            Ok(i) => {
                                let x = &mut a.daily[i];
                                x.totals.merge(&d.totals);
                                x.subdomain.merge(&d.subdomain);
                                for k in 0..3 {
                                    x.disposition[k] =
                                        x.disposition[k].saturating_add(d.disposition[k]);
                                }
                            }
                            Err(i) => a.daily.insert(i, d),
                        }
                    }
                }
            }
        }
        self
    }
}

/// The reasons of a record as the classification reads them (see
/// [`crate::store::reason_label`]).
fn reason_kinds(list: &[crate::store::StoredReason], out: &mut Vec<String>) {
    out.clear();
    out.extend(
        list.iter()
            .filter_map(|r| crate::store::reason_label(r.kind.as_deref(), r.comment.as_deref())),
    );
}

/// Adds up `domain`'s rollups over the days `[first_day, end_day)`.
fn from_rollups(
    store: &dyn SummaryReads,
    domain: &str,
    first_day: i64,
    end_day: i64,
    report_list: &[ReportRef],
) -> Result<Partial, StoreError> {
    let mut p = Partial::default();
    for r in report_list {
        let slot = p.org_messages.entry(r.org_name.clone()).or_default();
        *slot = slot.saturating_add(r.messages);
    }
    let days = store.domain_days(domain, first_day, end_day)?;
    p.disposition = days.dispositions.into_iter().collect();
    p.subdomains =
        days.subdomains.into_iter().map(|(key, s)| (key, Totals::from_sums(s))).collect();
    let Partial { totals, sources, .. } = &mut p;
    let mut current: Option<(String, Acc)> = None;
    store.scan_source_days(domain, first_day, end_day, &mut |d| {
        if current.as_ref().is_none_or(|(ip, _)| ip != d.ip) {
            if let Some((ip, acc)) = current.take() {
                sources.insert(ip, acc);
            }
            current = Some((
                d.ip.to_owned(),
                Acc {
                    totals: Totals::default(),
                    first: d.first_begin,
                    last: d.last_end,
                    dkim: BTreeSet::new(),
                    spf: BTreeSet::new(),
                    envelope: BTreeSet::new(),
                    reasons: BTreeSet::new(),
                    daily: Vec::new(),
                },
            ));
        }
        let Some((_, acc)) = current.as_mut() else { return };
        let day = Totals::from_sums(d.sums);
        totals.merge(&day);
        acc.totals.merge(&day);
        acc.first = acc.first.min(d.first_begin);
        acc.last = acc.last.max(d.last_end);
        for (set, items) in [
            (&mut acc.dkim, d.dkim_domains().collect::<Vec<_>>()),
            (&mut acc.spf, d.spf_domains().collect()),
            (&mut acc.reasons, d.reasons().collect()),
            (&mut acc.envelope, d.envelope_from().collect()),
        ] {
            for item in items {
                if !set.contains(item) {
                    set.insert(item.to_owned());
                }
            }
        }
        acc.daily.push(DayTotals {
            day: d.day,
            totals: day,
            subdomain: Totals::from_sums(d.sub_sums),
            disposition: d.disposition,
        });
    })?;
    if let Some((ip, acc)) = current {
        sources.insert(ip, acc);
    }
    Ok(p)
}

/// Adds up `reports` of `domain`: report by report, its records with
/// their passing DKIM and SPF domains and their reasons.
fn accumulate(
    store: &dyn SummaryReads,
    domain: &str,
    report_list: &[ReportRef],
) -> Result<Partial, StoreError> {
    let mut p = Partial::default();
    let Partial { totals, disposition, subdomains, sources, org_messages } = &mut p;
    let (mut dkim_pass, mut spf_pass, mut reasons) = (Vec::new(), Vec::new(), Vec::new());
    store.scan_records(report_list, &mut |report: &ReportRef, r: &RecordFacts<'_>| {
        let (begin, end) = (report.begin, report.end);
        let day = begin.div_euclid(DAY) * DAY;
        let count = r.count;
        let (dkim, spf) = (r.dkim_aligned, r.spf_aligned);
        dkim_pass.clear();
        dkim_pass.extend_from_slice(r.dkim_pass);
        spf_pass.clear();
        spf_pass.extend_from_slice(r.spf_pass);
        reason_kinds(r.reasons, &mut reasons);
        let authenticated = !dkim_pass.is_empty() || !spf_pass.is_empty();

        match org_messages.get_mut(report.org_name.as_str()) {
            Some(m) => *m = u64::saturating_add(*m, count),
            None => {
                org_messages.insert(report.org_name.clone(), count);
            }
        }
        totals.add(count, dkim, spf, authenticated);
        let disp = r.disposition.unwrap_or("none");
        let which = match disp {
            "quarantine" => 1,
            "reject" => 2,
            _ => 0,
        };
        match disposition.get_mut(disp) {
            Some(slot) => *slot = u64::saturating_add(*slot, count),
            None => {
                disposition.insert(disp.to_owned(), count);
            }
        }
        if let Some(from) = r.header_from
            && from != domain
        {
            subdomains.entry(from.to_owned()).or_default().add(count, dkim, spf, authenticated);
        }
        let ip = r.source_ip;
        if !sources.contains_key(ip) {
            sources.insert(
                ip.to_owned(),
                Acc {
                    totals: Totals::default(),
                    first: begin,
                    last: end,
                    dkim: BTreeSet::new(),
                    spf: BTreeSet::new(),
                    envelope: BTreeSet::new(),
                    reasons: BTreeSet::new(),
                    daily: Vec::new(),
                },
            );
        }
        let Some(acc) = sources.get_mut(ip) else { return };
        acc.totals.add(count, dkim, spf, authenticated);
        // Reports come in date order, so the day is nearly always the
        // last one; otherwise it is found or inserted in order.
        let at = match acc.daily.last() {
            Some(last) if last.day == day => acc.daily.len() - 1,
            _ => match acc.daily.binary_search_by_key(&day, |d| d.day) {
                Ok(i) => i,
                Err(i) => {
                    acc.daily.insert(i, DayTotals { day, ..DayTotals::default() });
                    i
                }
            },
        };
        let slot = &mut acc.daily[at];
        slot.totals.add(count, dkim, spf, authenticated);
        if r.header_from.is_some_and(|from| crate::store::from_subdomain(from, domain)) {
            slot.subdomain.add(count, dkim, spf, authenticated);
        }
        slot.disposition[which] = slot.disposition[which].saturating_add(count);
        acc.first = acc.first.min(begin);
        acc.last = acc.last.max(end);
        if let Some(env) = r.envelope_from
            && !acc.envelope.contains(env)
        {
            acc.envelope.insert(env.to_owned());
        }
        for (set, list) in [
            (&mut acc.dkim, &mut dkim_pass),
            (&mut acc.spf, &mut spf_pass),
            (&mut acc.reasons, &mut reasons),
        ] {
            for value in list.drain(..) {
                if !set.contains(&value) {
                    set.insert(value);
                }
            }
        }
    })?;
    Ok(p)
}
