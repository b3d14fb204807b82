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
pub mod summary;
pub mod verdict;

use std::collections::{BTreeMap, HashMap};

use serde::{Serialize, Serializer};

use crate::store::{Backend, RdnsCache, StoreError, SummaryReads};
use crate::units::{DAY, format_date};
use classify::Sender;
use policy::PolicyHistory;
use senders::Catalogue;
use summary::{DomainTotals, Window, WindowSpec};
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

/// The whole summary: what `summary --format json` prints.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// The span of all domains' windows.
    pub window: Option<WindowOut>,
    /// One section per domain.
    pub domains: Vec<DomainSummary>,
}

/// A window, as dates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct WindowOut {
    /// First second inside (RFC 3339).
    #[serde(serialize_with = "rfc3339")]
    pub begin: i64,
    /// First second after (RFC 3339).
    #[serde(serialize_with = "rfc3339")]
    pub end: i64,
}

impl From<Window> for WindowOut {
    fn from(w: Window) -> Self {
        WindowOut { begin: w.begin, end: w.end }
    }
}

/// One domain: totals, policy, senders, sources and the verdict.
#[derive(Debug, Clone, Serialize)]
pub struct DomainSummary {
    /// The policy domain.
    pub domain: String,
    /// The days this section covers.
    pub window: WindowOut,
    /// A warning when the newest report is old.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stale: Option<String>,
    /// Totals, reporters, dispositions, subdomains and sources.
    #[serde(flatten)]
    pub totals: DomainTotals,
    /// The published policy, as of the newest report, and its changes.
    pub published_policy: PublishedPolicyOut,
    /// The senders, most messages first.
    pub senders: Vec<Sender>,
    /// Whether the domain is ready for a stricter policy, with the
    /// reasons, blocking senders, what-if and next record.
    pub readiness: Readiness,
    /// The newest `check` of the live records, when one was run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record_check: Option<RecordCheckOut>,
}

/// The newest `check` of a domain's live records, for output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordCheckOut {
    /// When it ran.
    #[serde(serialize_with = "rfc3339")]
    pub checked_at: i64,
    /// Its findings, worst first.
    pub findings: Vec<crate::store::StoredFinding>,
}

impl From<crate::store::RecordCheck> for RecordCheckOut {
    fn from(c: crate::store::RecordCheck) -> Self {
        RecordCheckOut { checked_at: c.checked_at, findings: c.findings }
    }
}

/// The published policy for output.
#[derive(Debug, Clone, Serialize)]
pub struct PublishedPolicyOut {
    /// The policy's tags (`p`, `sp`, `adkim`, ...) as the newest report saw them.
    #[serde(flatten)]
    pub policy: policy::PublishedPolicy,
    /// The record as a TXT value (without rua/ruf, which reports omit).
    pub record: String,
    /// How strict the policy is in effect (`p` with `pct` and `t` applied).
    pub enforcement: policy::Enforcement,
    /// Since when the current enforcement level holds.
    #[serde(serialize_with = "rfc3339_opt")]
    pub since: Option<i64>,
    /// Tag changes, oldest first.
    pub changes: Vec<ChangeOut>,
}

/// One tag change for output.
#[derive(Debug, Clone, Serialize)]
pub struct ChangeOut {
    /// The day (RFC 3339 date).
    #[serde(serialize_with = "date")]
    pub day: i64,
    /// The tag that changed (`p`, `pct`, ...).
    pub tag: String,
    /// Its value before the change (`None`: not published).
    pub from: Option<String>,
    /// Its value from that day on (`None`: no longer published).
    pub to: Option<String>,
}

impl From<&PolicyHistory> for PublishedPolicyOut {
    fn from(h: &PolicyHistory) -> Self {
        PublishedPolicyOut {
            policy: h.current.clone(),
            record: h.current.record(),
            enforcement: h.current.enforcement(),
            since: h.enforcement_since,
            changes: h
                .changes
                .iter()
                .map(|c| ChangeOut {
                    day: c.day,
                    tag: c.tag.clone(),
                    from: c.from.clone(),
                    to: c.to.clone(),
                })
                .collect(),
        }
    }
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
    let mut span: Option<WindowOut> = None;
    for domain in wanted {
        let Some(window) = summary::window(store, &domain, opts.window)? else { continue };
        let section = summarise_domain(store, &domain, window, opts)?;
        span = Some(match span {
            None => section.window,
            Some(s) => WindowOut {
                begin: s.begin.min(section.window.begin),
                end: s.end.max(section.window.end),
            },
        });
        domains.push(section);
    }
    Ok(Summary { window: span, domains })
}

/// Summarises one domain over `window`, in steps: the facts from the
/// store, reverse DNS names when asked for (the only step that looks
/// anything up outside the database), then the analysis proper, which
/// only computes.
pub fn summarise_domain(
    store: &dyn Backend,
    domain: &str,
    window: Window,
    opts: &Options<'_>,
) -> Result<DomainSummary, StoreError> {
    // 1. Facts.
    let mut totals = summary::domain_totals(store, domain, window, &opts.catalogue)?;
    let history = policy::history(store, domain, window.end)?;
    // 2. Enrichment.
    if let Some(resolve) = opts.resolver {
        let ips: Vec<String> = totals.sources.iter().map(|s| s.ip.clone()).collect();
        let names = resolve(store, &ips)?;
        for row in &mut totals.sources {
            row.rdns = names.get(&row.ip).cloned();
        }
        summary::identify(&mut totals.sources, &opts.catalogue);
    }
    // 3. Analysis, with the one more fact it needs: which senders are new.
    let mut senders = classify::classify(domain, &mut totals.sources);
    mark_new(store, domain, window, &mut senders, opts.criteria.new_sender_days)?;
    Ok(assess_domain(domain, window, totals, senders, history, opts))
}

/// The verdict and the output section of a domain, from its facts.
fn assess_domain(
    domain: &str,
    window: Window,
    totals: DomainTotals,
    senders: Vec<Sender>,
    history: PolicyHistory,
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
            policy: &history,
            rua: opts.rua.get(domain).map(String::as_str),
        },
        &opts.criteria,
    );
    DomainSummary {
        domain: domain.to_owned(),
        window: window.into(),
        stale,
        published_policy: (&history).into(),
        totals,
        senders,
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
        let ips = &s.all_ips[..s.all_ips.len().min(1000)];
        s.new = !store.seen_before(domain, ips, cutoff)?;
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
    s.serialize_str(&format_rfc3339(*ts))
}

pub(crate) fn rfc3339_opt<S: Serializer>(ts: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
    match ts {
        Some(ts) => s.serialize_str(&format_rfc3339(*ts)),
        None => s.serialize_none(),
    }
}

fn date<S: Serializer>(ts: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_date(*ts))
}
