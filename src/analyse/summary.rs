//! Per-domain and per-source totals over a window of stored reports: the
//! numbers the summary and the readiness verdict stand on.
//!
//! A report belongs to the window when its `begin` falls inside it. Sums are
//! computed in Rust with saturating arithmetic (SQLite's `sum()` fails on
//! overflow; counts are bounded at 10^12 by the parser anyway).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use serde::Serialize;

use super::classify::SenderClass;
use super::senders::{Catalogue, Evidence, KnownSender};
use crate::store::{RecordFacts, ReportRef, SourceDay, StoreError, SummaryReads};
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
    pub known: Option<Arc<KnownSender>>,
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
    /// Failing messages that a forwarding, mailing-list or ARC override
    /// explains (for a source: all its failing messages when receivers
    /// gave such a reason for it in the window).
    pub explained_failing: u64,
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
    /// The sources, most messages first: every one from
    /// [`domain_totals`]; the busiest [`BUSIEST_SOURCES`] in a summary
    /// (which streams the others to its JSON and CSV output).
    pub sources: Vec<SourceRow>,
    /// How many distinct sources the window has.
    pub source_count: u64,
}

/// The busiest sources a summary keeps whole, for its table.
pub const BUSIEST_SOURCES: usize = 10;

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
        WindowSpec::All => {
            // Whole days, like the other windows: from the midnight before
            // the oldest begin to the midnight after the newest end (at
            // least one day). A report belongs to a window by its begin,
            // which comes before its end: every report is inside.
            let begin = first.div_euclid(DAY) * DAY;
            let end = (last + DAY - 1).div_euclid(DAY) * DAY;
            Window { begin, end: end.max(begin + DAY) }
        }
    }
}

/// Totals of `domain` over `window`, with sources named from `catalogue`.
/// Totals of `domain` over `window`, with every source named from
/// `catalogue`, most messages first. Its memory grows with the number of
/// distinct sources: the summary itself goes through [`scan`] and keeps
/// only the busiest.
pub fn domain_totals(
    store: &dyn SummaryReads,
    domain: &str,
    window: Window,
    catalogue: &Catalogue,
) -> Result<DomainTotals, StoreError> {
    collect(store, domain, window, catalogue, true)
}

/// The same as [`domain_totals`], read from every record instead of the
/// rollups: the reference the rollups are checked against.
pub fn domain_totals_from_records(
    store: &dyn SummaryReads,
    domain: &str,
    window: Window,
    catalogue: &Catalogue,
) -> Result<DomainTotals, StoreError> {
    collect(store, domain, window, catalogue, false)
}

fn collect(
    store: &dyn SummaryReads,
    domain: &str,
    window: Window,
    catalogue: &Catalogue,
    rollups: bool,
) -> Result<DomainTotals, StoreError> {
    let mut rows = Vec::new();
    let mut identifier = Identifier::new(catalogue);
    let mut totals = scan_from(store, domain, window, rollups, &mut |mut row| {
        identifier.identify(&mut row);
        rows.push(row);
    })?;
    sort_busiest_first(&mut rows);
    totals.sources = rows;
    Ok(totals)
}

/// Sorts sources most messages first, then by address.
pub fn sort_busiest_first(rows: &mut [SourceRow]) {
    rows.sort_by(|a, b| b.totals.messages.cmp(&a.totals.messages).then_with(|| a.ip.cmp(&b.ip)));
}

/// Reads `domain` over `window` source by source: calls `visit` with each
/// source, whole (all its days) and not yet identified, in byte order of
/// the address text, and returns the domain's totals, reporters,
/// dispositions and subdomains (with no `sources`; `source_count` says how
/// many were visited).
///
/// Whole days are read from the rollups, in address order straight from
/// the store, so memory does not grow with the number of sources. A day
/// that the window cuts (a report of it begins outside the window) is read
/// from the records of the window's reports that begin that day; their
/// sources are held until they merge into the stream.
pub fn scan(
    store: &dyn SummaryReads,
    domain: &str,
    window: Window,
    visit: &mut dyn FnMut(SourceRow),
) -> Result<DomainTotals, StoreError> {
    scan_from(store, domain, window, true, visit)
}

fn scan_from(
    store: &dyn SummaryReads,
    domain: &str,
    window: Window,
    rollups: bool,
    visit: &mut dyn FnMut(SourceRow),
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

    // The rollups hold whole days (of the reports' begin): they answer for
    // the days `[lo, hi)`. A first or last day that the window cuts, with
    // a report of it outside the window, is read from the records.
    let first_day = window.begin.div_euclid(DAY) * DAY;
    let end_day = (window.end + DAY - 1).div_euclid(DAY) * DAY;
    let (mut lo, mut hi) = (first_day, end_day);
    if !rollups {
        hi = lo;
    } else {
        if window.begin > first_day
            && !store.window_reports(domain, first_day, window.begin)?.is_empty()
        {
            lo = first_day + DAY;
        }
        if window.end < end_day && !store.window_reports(domain, window.end, end_day)?.is_empty() {
            hi = end_day - DAY;
        }
        hi = hi.max(lo);
    }
    let (rolled, edge): (Vec<ReportRef>, Vec<ReportRef>) =
        report_list.iter().cloned().partition(|r| r.begin >= lo && r.begin < hi);

    // The records of the cut days: two passes in parallel over alternate
    // reports when the store has a second reader; one pass otherwise.
    let second = if edge.len() < 2 { None } else { store.parallel_reader()? };
    let mut partial = match second {
        Some(second) => {
            let (a, b): (Vec<_>, Vec<_>) =
                edge.into_iter().enumerate().partition(|(i, _)| i % 2 == 0);
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
        None => accumulate(store, domain, &edge)?,
    };
    for r in &rolled {
        let slot = partial.org_messages.entry(r.org_name.clone()).or_default();
        *slot = slot.saturating_add(r.messages);
    }
    if lo < hi {
        let days = store.domain_days(domain, lo, hi)?;
        for (key, n) in days.dispositions {
            let slot = partial.disposition.entry(key).or_default();
            *slot = slot.saturating_add(n);
        }
        for (key, s) in days.subdomains {
            partial.subdomains.entry(key).or_default().merge(&Totals::from_sums(s));
        }
    }
    let Partial { mut disposition, subdomains, sources, org_messages } = partial;
    for key in ["none", "quarantine", "reject"] {
        disposition.entry(key.to_owned()).or_default();
    }
    for org in &mut reporting_orgs {
        org.messages = org_messages.get(&org.org_name).copied().unwrap_or(0);
    }
    reporting_orgs
        .sort_by(|a, b| b.reports.cmp(&a.reports).then_with(|| a.org_name.cmp(&b.org_name)));

    // The sources: the rollups' stream, with the cut days' sources merged
    // in address order.
    let mut edge: Vec<(String, Acc)> = sources.into_iter().collect();
    edge.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let mut edge = edge.into_iter().peekable();
    let mut totals = Totals::default();
    let mut source_count = 0u64;
    let mut emit = |ip: String, acc: Acc| {
        totals.merge(&acc.totals);
        source_count += 1;
        visit(acc.into_row(ip));
    };
    if lo < hi {
        let mut current: Option<(String, Acc)> = None;
        store.scan_source_days(domain, lo, hi, &mut |d| {
            if current.as_ref().is_none_or(|(ip, _)| ip != d.ip) {
                if let Some((ip, mut acc)) = current.take() {
                    // Earlier addresses from the cut days go first.
                    while let Some((e, a)) = edge.next_if(|(e, _)| e.as_str() < ip.as_str()) {
                        emit(e, a);
                    }
                    if let Some((_, other)) = edge.next_if(|(e, _)| *e == ip) {
                        acc.merge(other);
                    }
                    emit(ip, acc);
                }
                current = Some((d.ip.to_owned(), Acc::new(d.first_begin, d.last_end)));
            }
            let Some((_, acc)) = current.as_mut() else { return };
            acc.add_day(d);
        })?;
        if let Some((ip, mut acc)) = current {
            while let Some((e, a)) = edge.next_if(|(e, _)| e.as_str() < ip.as_str()) {
                emit(e, a);
            }
            if let Some((_, other)) = edge.next_if(|(e, _)| *e == ip) {
                acc.merge(other);
            }
            emit(ip, acc);
        }
    }
    for (ip, acc) in edge {
        emit(ip, acc);
    }

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
        sources: Vec::new(),
        source_count,
    })
}

/// Names sources from a catalogue, remembering the answers for the
/// evidence it saw last (sources of one sender repeat the same evidence).
pub struct Identifier<'a> {
    catalogue: &'a Catalogue,
    by_address: bool,
    seen: HashMap<String, super::senders::Identity>,
    key: String,
}

/// Answers remembered at most; then the memory starts over.
const IDENTITIES_KEPT: usize = 4_096;

impl<'a> Identifier<'a> {
    /// An identifier over `catalogue`.
    pub fn new(catalogue: &'a Catalogue) -> Identifier<'a> {
        Identifier {
            catalogue,
            by_address: catalogue.has_address_ranges(),
            seen: HashMap::new(),
            key: String::new(),
        }
    }

    /// Names `row` from its evidence (and its reverse DNS name, when
    /// resolved).
    pub fn identify(&mut self, row: &mut SourceRow) {
        // A configured address range makes the address itself evidence:
        // nothing to share between sources then.
        let evidence = Evidence {
            dkim_pass: &row.dkim_domains,
            spf_pass: &row.spf_domains,
            envelope_from: &row.envelope_from,
            reverse_dns: row.rdns.as_deref(),
            ip: Some(&row.ip),
        };
        let id = if self.by_address {
            self.catalogue.identify(&evidence)
        } else {
            self.key.clear();
            for list in [&row.dkim_domains, &row.spf_domains, &row.envelope_from] {
                for item in list {
                    self.key.push_str(item);
                    self.key.push('\u{1f}');
                }
                self.key.push('\u{1e}');
            }
            self.key.push_str(row.rdns.as_deref().unwrap_or("\u{1d}"));
            match self.seen.get(&self.key) {
                Some(id) => id.clone(),
                None => {
                    let id = self.catalogue.identify(&evidence);
                    if self.seen.len() >= IDENTITIES_KEPT {
                        self.seen.clear();
                    }
                    self.seen.insert(self.key.clone(), id.clone());
                    id
                }
            }
        };
        row.sender = id.name;
        row.identified_by = id.because;
        row.known = id.known;
    }
}

/// Names each source from its evidence (and its reverse DNS name, when
/// resolved) with `catalogue`.
pub fn identify(rows: &mut [SourceRow], catalogue: &Catalogue) {
    let mut identifier = Identifier::new(catalogue);
    for row in rows {
        identifier.identify(row);
    }
}

/// Inserts `item` into `set` (sorted, without repeats) unless it is there.
fn insert_sorted(set: &mut Vec<String>, item: &str) {
    if let Err(at) = set.binary_search_by(|x| x.as_str().cmp(item)) {
        set.insert(at, item.to_owned());
    }
}

/// What one pass over some reports' records adds up.
#[derive(Default)]
struct Partial {
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
    /// Sets, each sorted without repeats (see [`insert_sorted`]).
    dkim: Vec<String>,
    spf: Vec<String>,
    envelope: Vec<String>,
    reasons: Vec<String>,
    daily: Vec<DayTotals>,
}

impl Acc {
    fn new(first: i64, last: i64) -> Acc {
        Acc {
            totals: Totals::default(),
            first,
            last,
            dkim: Vec::new(),
            spf: Vec::new(),
            envelope: Vec::new(),
            reasons: Vec::new(),
            daily: Vec::new(),
        }
    }

    /// Adds a day of the rollups (days come in order).
    fn add_day(&mut self, d: &SourceDay<'_>) {
        let day = Totals::from_sums(d.sums);
        self.totals.merge(&day);
        self.first = self.first.min(d.first_begin);
        self.last = self.last.max(d.last_end);
        for item in d.dkim_domains() {
            insert_sorted(&mut self.dkim, item);
        }
        for item in d.spf_domains() {
            insert_sorted(&mut self.spf, item);
        }
        for item in d.reasons() {
            insert_sorted(&mut self.reasons, item);
        }
        for item in d.envelope_from() {
            insert_sorted(&mut self.envelope, item);
        }
        self.daily.push(DayTotals {
            day: d.day,
            totals: day,
            subdomain: Totals::from_sums(d.sub_sums),
            disposition: d.disposition,
            explained_failing: 0,
        });
    }

    /// Adds the same source's sums over other reports.
    fn merge(&mut self, b: Acc) {
        self.totals.merge(&b.totals);
        self.first = self.first.min(b.first);
        self.last = self.last.max(b.last);
        for (set, items) in [
            (&mut self.dkim, b.dkim),
            (&mut self.spf, b.spf),
            (&mut self.envelope, b.envelope),
            (&mut self.reasons, b.reasons),
        ] {
            for item in items {
                insert_sorted(set, &item);
            }
        }
        for d in b.daily {
            match self.daily.binary_search_by_key(&d.day, |x| x.day) {
                Ok(i) => {
                    let x = &mut self.daily[i];
                    x.totals.merge(&d.totals);
                    x.subdomain.merge(&d.subdomain);
                    for k in 0..3 {
                        x.disposition[k] = x.disposition[k].saturating_add(d.disposition[k]);
                    }
                }
                Err(i) => self.daily.insert(i, d),
            }
        }
    }

    fn into_row(self, ip: String) -> SourceRow {
        let mut daily = self.daily;
        // A source that receivers report as forwarded has all its failing
        // messages explained, day by day.
        if self.reasons.iter().any(|r| super::classify::is_forwarding_reason(r)) {
            for d in &mut daily {
                d.explained_failing = d.totals.messages.saturating_sub(d.totals.dmarc_pass);
            }
        }
        SourceRow {
            ip,
            sender: String::new(),
            identified_by: None,
            totals: self.totals,
            first_seen: self.first,
            last_seen: self.last,
            dkim_domains: self.dkim,
            spf_domains: self.spf,
            reasons: self.reasons,
            envelope_from: self.envelope,
            rdns: None,
            known: None,
            class: SenderClass::Unclassified,
            daily,
        }
    }
}

impl Partial {
    /// Adds another pass's sums (over other reports) to this one.
    fn merge(mut self, other: Partial) -> Partial {
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
                Some(a) => a.merge(b),
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

/// Adds up `reports` of `domain`: report by report, its records with
/// their passing DKIM and SPF domains and their reasons.
fn accumulate(
    store: &dyn SummaryReads,
    domain: &str,
    report_list: &[ReportRef],
) -> Result<Partial, StoreError> {
    let mut p = Partial::default();
    let Partial { disposition, subdomains, sources, org_messages } = &mut p;
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
            sources.insert(ip.to_owned(), Acc::new(begin, end));
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
        if let Some(env) = r.envelope_from {
            insert_sorted(&mut acc.envelope, env);
        }
        for (set, list) in [
            (&mut acc.dkim, &mut dkim_pass),
            (&mut acc.spf, &mut spf_pass),
            (&mut acc.reasons, &mut reasons),
        ] {
            for value in list.iter() {
                insert_sorted(set, value);
            }
        }
    })?;
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-10-20 00:00:00 UTC.
    const OCT_20: i64 = 1_792_454_400;

    #[test]
    fn the_whole_history_is_whole_days_like_the_last_days() {
        let nov_19 = OCT_20 + 30 * DAY;
        // The oldest report begins at 06:00; the newest ends at 23:59:59
        // (most reporters) or at the next midnight (Microsoft).
        for last in [nov_19 - 1, nov_19] {
            let all = resolve_window(WindowSpec::All, OCT_20 + 6 * 3600, last);
            assert_eq!(all, Window { begin: OCT_20, end: nov_19 }, "last {last}");
            assert_eq!(all, resolve_window(WindowSpec::LastDays(30), OCT_20, last));
        }
        // One report of one second still makes a day.
        let one = resolve_window(WindowSpec::All, OCT_20, OCT_20);
        assert_eq!(one, Window { begin: OCT_20, end: OCT_20 + DAY });
    }
}
