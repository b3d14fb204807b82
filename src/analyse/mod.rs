//! Analysis of stored reports: per-domain and per-source totals over a
//! window ([`summary`]), who each source is ([`senders`]), senders and their
//! classes ([`classify`]), the published policy and its history
//! ([`policy`]), and the readiness verdict ([`verdict`]). [`summarise`]
//! puts them together for the `summary` and `report` commands.

pub mod classify;
pub mod events;
pub mod policy;
pub mod rdns;
pub mod senders;
pub mod streams;
pub mod summary;
pub mod verdict;

use std::collections::{BTreeMap, HashMap};

use serde::Serializer;

use crate::store::{Backend, RdnsCache, StoreError, SummaryReads};
use crate::units::DAY;
use classify::{Sender, SenderIndex};
use policy::PolicyHistory;
use senders::Catalogue;
use summary::{DomainTotals, SourceRow, Window, WindowSpec};
use verdict::{Criteria, Readiness};

/// Looks up reverse DNS names for source IPs (`--resolve`), with the
/// store's cache: IP to name.
pub type Resolver<'a> =
    dyn Fn(&dyn RdnsCache, &[String]) -> Result<HashMap<String, String>, StoreError> + 'a;

/// What to summarise and how to judge it.
pub struct Options<'a> {
    /// Only these domains (all when empty).
    pub domains: Vec<String>,
    /// Which days to summarise (by default the 30 days ending at each
    /// domain's newest report).
    pub window: WindowSpec,
    /// "Now", Unix seconds (for the stale-data warning).
    pub now: i64,
    /// Known senders, built-in plus the user's.
    pub catalogue: Catalogue,
    /// The verdict's thresholds.
    pub criteria: Criteria,
    /// rua URIs per domain, for the recommended record.
    pub rua: BTreeMap<String, String>,
    /// Reverse DNS, when asked for.
    pub resolver: Option<&'a Resolver<'a>>,
}

/// The whole summary, for `summary` and `report`.
#[derive(Debug, Clone)]
pub struct Summary {
    /// The span of all domains' windows.
    pub window: Option<Window>,
    /// One section per domain.
    pub domains: Vec<DomainSummary>,
}

/// One domain: totals, policy, senders, the busiest sources and the
/// verdict.
#[derive(Debug, Clone)]
pub struct DomainSummary {
    /// The policy domain.
    pub domain: String,
    /// The days this section covers.
    pub window: Window,
    /// A warning when the newest report is old.
    pub stale: Option<String>,
    /// Totals, reporters, dispositions, subdomains and the busiest sources
    /// ([`each_source`] reads them all again).
    pub totals: DomainTotals,
    /// The published policy, as of the newest report, and its changes.
    pub policy: PolicyHistory,
    /// The senders, most messages first.
    pub senders: Vec<Sender>,
    /// Which sender each source belongs to.
    pub sender_index: SenderIndex,
    /// Whether the domain is ready for a stricter policy, with the
    /// reasons, blocking senders, what-if and next record.
    pub readiness: Readiness,
    /// The newest `check` of the live records, when one was run.
    pub record_check: Option<crate::store::RecordCheck>,
}

/// Summarises every selected domain.
pub fn summarise(store: &dyn Backend, opts: &Options<'_>) -> Result<Summary, StoreError> {
    let all = summary::domains(store)?;
    let wanted: Vec<String> = if opts.domains.is_empty() {
        all
    } else {
        opts.domains.iter().map(|d| d.trim().trim_end_matches('.').to_ascii_lowercase()).collect()
    };
    let mut domains = Vec::new();
    let mut span: Option<Window> = None;
    for domain in wanted {
        let Some(window) = summary::window(store, &domain, opts.window)? else { continue };
        let section = summarise_domain(store, &domain, window, opts)?;
        span = Some(match span {
            None => section.window,
            Some(s) => Window {
                begin: s.begin.min(section.window.begin),
                end: s.end.max(section.window.end),
            },
        });
        domains.push(section);
    }
    Ok(Summary { window: span, domains })
}

/// Summarises one domain over `window`, in steps: the facts from the
/// store, source by source, with reverse DNS names when asked for (the
/// only step that looks anything up outside the database), grouped into
/// senders as they come; then the analysis proper, which only computes.
/// Its memory does not grow with the number of sources: it keeps the
/// senders and the busiest sources, not every source.
pub fn summarise_domain(
    store: &dyn Backend,
    domain: &str,
    window: Window,
    opts: &Options<'_>,
) -> Result<DomainSummary, StoreError> {
    // 1. Facts, grouped as they come.
    let mut grouper = classify::Grouper::new(domain);
    let mut busiest = classify::Busiest::new(summary::BUSIEST_SOURCES);
    let mut totals = sources(store, domain, window, opts, &mut |row| {
        grouper.add(&row);
        if busiest.wants(row.totals.messages, &row.ip) {
            let (messages, ip) = (row.totals.messages, row.ip.clone());
            busiest.offer(messages, &ip, row);
        }
    })?;
    let history = policy::history(store, domain, window.end)?;
    // 2. Analysis, with the one more fact it needs: which senders are new.
    let (mut senders, sender_index) = grouper.finish();
    totals.sources = busiest.into_sorted();
    for row in &mut totals.sources {
        sender_index.assign(row);
    }
    mark_new(store, domain, window, &mut senders, opts.criteria.new_sender_days)?;
    let streams = streams::of_senders(store, domain, window, &senders)?;
    let live = store.live_dmarc(domain)?;
    Ok(assess_domain(
        domain,
        window,
        totals,
        (senders, &streams),
        sender_index,
        history,
        live.as_deref(),
        opts,
    ))
}

/// Reads every source of a summarised domain again, in byte order of the
/// address text, each named and with its sender and class: what the JSON
/// and CSV output list, without holding them all.
pub fn each_source(
    store: &dyn Backend,
    d: &DomainSummary,
    opts: &Options<'_>,
    visit: &mut dyn FnMut(&SourceRow),
) -> Result<(), StoreError> {
    sources(store, &d.domain, d.window, opts, &mut |mut row| {
        d.sender_index.assign(&mut row);
        visit(&row);
    })?;
    Ok(())
}

/// Reverse DNS names are looked up for this many sources at a time.
const RESOLVE_BATCH: usize = 256;

/// The sources of `domain` over `window`, named (with reverse DNS names
/// when asked for), to `visit`; returns the domain's totals.
fn sources(
    store: &dyn Backend,
    domain: &str,
    window: Window,
    opts: &Options<'_>,
    visit: &mut dyn FnMut(SourceRow),
) -> Result<DomainTotals, StoreError> {
    let mut identifier = summary::Identifier::new(&opts.catalogue);
    let Some(resolve) = opts.resolver else {
        return summary::scan(store, domain, window, &mut |mut row| {
            identifier.identify(&mut row);
            visit(row);
        });
    };
    let mut batch: Vec<SourceRow> = Vec::with_capacity(RESOLVE_BATCH);
    let mut failed: Option<StoreError> = None;
    let flush = |batch: &mut Vec<SourceRow>,
                 identifier: &mut summary::Identifier<'_>,
                 visit: &mut dyn FnMut(SourceRow)|
     -> Result<(), StoreError> {
        let ips: Vec<String> = batch.iter().map(|s| s.ip.clone()).collect();
        let names = resolve(store, &ips)?;
        for mut row in batch.drain(..) {
            row.rdns = names.get(&row.ip).cloned();
            identifier.identify(&mut row);
            visit(row);
        }
        Ok(())
    };
    let totals = summary::scan(store, domain, window, &mut |row| {
        if failed.is_some() {
            return;
        }
        batch.push(row);
        if batch.len() >= RESOLVE_BATCH
            && let Err(e) = flush(&mut batch, &mut identifier, visit)
        {
            failed = Some(e);
        }
    })?;
    if let Some(e) = failed {
        return Err(e);
    }
    flush(&mut batch, &mut identifier, visit)?;
    Ok(totals)
}

/// The verdict and the output section of a domain, from its facts.
#[allow(clippy::too_many_arguments)]
fn assess_domain(
    domain: &str,
    window: Window,
    totals: DomainTotals,
    (senders, streams): (Vec<Sender>, &[Vec<streams::Stream>]),
    sender_index: SenderIndex,
    history: PolicyHistory,
    live_record: Option<&str>,
    opts: &Options<'_>,
) -> DomainSummary {
    // Measured from the window's end: a window in the past is not stale
    // because its reports are old.
    let stale = totals.newest_report_end.and_then(|end| {
        let reference = window.end.min(opts.now);
        let age = reference - end;
        (age > i64::from(opts.criteria.stale_days) * DAY).then(|| {
            let days = age as f64 / DAY as f64;
            let limit = opts.criteria.stale_days;
            let ended = format_rfc3339(end);
            if reference < opts.now {
                format!(
                    "the newest report for {domain} in this window ended {ended}, {days:.1} days \
                     before the window's end (more than {limit}): reports are missing"
                )
            } else {
                format!(
                    "the newest report for {domain} ended {ended}, {days:.1} days ago \
                     (more than {limit}): is `fetch` still running?"
                )
            }
        })
    });
    let readiness = verdict::assess(
        &verdict::Input {
            totals: &totals,
            senders: &senders,
            streams,
            policy: &history,
            rua: opts.rua.get(domain).map(String::as_str),
            live_record,
        },
        &opts.criteria,
    );
    DomainSummary {
        domain: domain.to_owned(),
        window,
        stale,
        policy: history,
        totals,
        senders,
        sender_index,
        readiness,
        record_check: None,
    }
}

/// Marks senders whose first report (in the whole history, not only the
/// window) began within the last `days` days of the window. Only senders
/// that authenticate are looked up: for the others, being new changes
/// nothing.
fn mark_new(
    store: &dyn SummaryReads,
    domain: &str,
    window: Window,
    senders: &mut [Sender],
    days: u32,
) -> Result<(), StoreError> {
    let cutoff = window.end - i64::from(days) * DAY;
    for s in senders.iter_mut().filter(|s| s.first_seen >= cutoff && s.authenticates()) {
        s.new = !store.seen_before(domain, &s.busiest_ips, cutoff)?;
    }
    Ok(())
}

/// `2026-11-18T00:00:00Z` for a Unix time.
pub fn format_rfc3339(ts: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(ts)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| ts.to_string())
}

pub(crate) fn rfc3339<S: Serializer>(ts: &i64, s: S) -> Result<S::Ok, S::Error> {
    // A listing of many sources repeats a few report begins and ends:
    // the last two texts are kept.
    thread_local! {
        static LAST: std::cell::RefCell<[(i64, String); 2]> =
            const { std::cell::RefCell::new([(i64::MIN, String::new()), (i64::MIN, String::new())]) };
    }
    LAST.with(|last| {
        let mut last = last.borrow_mut();
        if let Some((_, text)) = last.iter().find(|(at, _)| at == ts) {
            return s.serialize_str(text);
        }
        last.swap(0, 1);
        last[0] = (*ts, format_rfc3339(*ts));
        s.serialize_str(&last[0].1)
    })
}

pub(crate) fn rfc3339_opt<S: Serializer>(ts: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
    match ts {
        Some(ts) => s.serialize_str(&format_rfc3339(*ts)),
        None => s.serialize_none(),
    }
}
