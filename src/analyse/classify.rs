//! Groups source IPs into senders and gives each sender a class, with a
//! one-line explanation tied to the numbers.
//!
//! Grouping never goes by a display name alone: a catalogue entry (or the
//! user's own `[[known_sender]]`) groups by its name; everything else groups
//! by its evidence. Sources that authenticate with a foreign domain group
//! under that domain; sources that authenticate only as the policy domain
//! group by *how* they do it (DKIM and SPF, DKIM only, SPF only), because
//! the user's own mail servers and a forwarder that keeps the DKIM
//! signature both show the policy domain but are different things. With
//! `--resolve`, the reverse DNS base domain splits groups further.
//!
//! A known service's aligned and unaligned streams are two senders: a new
//! sub-account that does not sign as the domain must not hide inside the
//! service's aligned volume.
//!
//! The classes, in the order they are decided, each by weight of evidence:
//! 1. what the user declared in the config;
//! 2. `forwarder`: receivers gave a forwarding, mailing-list or ARC
//!    (`local_policy arc=pass`) override for at least half of its failing
//!    messages, and the domain's SPF record does not cover it;
//! 3. `forwarder`: the policy domain's DKIM signature passes while SPF
//!    passes for no domain at all (a plain `.forward`), on a small share of
//!    the domain's mail with few unexplained failures (a large or often
//!    failing one is the owner's own relay, missing from SPF);
//! 4. `authorized`: at least half of its mail passes DMARC;
//! 5. `forwarder`: any forwarding override at all;
//! 6. `misconfigured`: it signs with a key of the domain's own (`d=` under
//!    the organizational domain) without aligning, or it is a known sending
//!    service that authenticates as its own domain;
//! 7. `authorized` (poorly): some of its mail passes DMARC, which only a
//!    holder of our keys or SPF record can do;
//! 8. `unauthorized`: authenticates as some domain on less than half of
//!    its mail and fails every check on the rest (spoofing that rotates
//!    tricks, not a forgotten service);
//! 9. `unclassified`: authenticates as some unrelated domain, and nothing
//!    says whose it is;
//! 10. `unauthorized`: nothing passes for any domain.

use std::cmp::Reverse;
use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap};

use serde::Serialize;

use super::senders::{DeclaredClass, aligned_with, organizational_domain};
use super::summary::{DayTotals, SourceRow, Totals};
use crate::units::{percent, plural};

/// What a sender is, for the readiness verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SenderClass {
    /// Ours: its mail passes DMARC, or the user declared it.
    Authorized,
    /// A legitimate service that authenticates, but not aligned with us.
    Misconfigured,
    /// A forwarder or mailing list: failures are explained, not blocking.
    Forwarder,
    /// Authenticates as an unrelated domain; nothing says whose it is.
    Unclassified,
    /// Nothing passes, no link to us: spoofing.
    Unauthorized,
}

impl SenderClass {
    /// Every class, in the order legends show them.
    pub const ALL: [SenderClass; 5] = [
        Self::Authorized,
        Self::Misconfigured,
        Self::Forwarder,
        Self::Unclassified,
        Self::Unauthorized,
    ];

    /// What the class means, for legends.
    pub fn description(self) -> &'static str {
        match self {
            Self::Authorized => "sends for the domain and passes DMARC",
            Self::Misconfigured => "sends for the domain but fails DMARC: fix it before enforcing",
            Self::Forwarder => "forwards mail that was authenticated elsewhere",
            Self::Unclassified => "authenticates as another domain; nothing says whose it is",
            Self::Unauthorized => "not the domain's mail (spoofing)",
        }
    }

    /// The name used in output (`authorized`, `misconfigured`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            SenderClass::Authorized => "authorized",
            SenderClass::Misconfigured => "misconfigured",
            SenderClass::Forwarder => "forwarder",
            SenderClass::Unclassified => "unclassified",
            SenderClass::Unauthorized => "unauthorized",
        }
    }

    /// Mail the domain owner wants delivered: its failures are losses.
    pub fn is_legitimate(self) -> bool {
        matches!(self, SenderClass::Authorized | SenderClass::Misconfigured)
    }
}

/// A plain forwarder carries at most this share of the domain's mail.
const FORWARDER_MAX_SHARE: f64 = 0.05;
/// ...and fails DMARC, unexplained, on at most this share of its own.
const FORWARDER_MAX_FAILING: f64 = 0.10;

/// An override reason that says the mail was forwarded or went through a
/// list: `forwarded`, `mailing_list`, `trusted_forwarder`, or any reason
/// whose comment reports a passing ARC chain (Google: `local_policy` with
/// `arc=pass`).
pub fn is_forwarding_reason(reason: &str) -> bool {
    reason.starts_with("forwarded")
        || reason.starts_with("mailing_list")
        || reason.starts_with("trusted_forwarder")
        || reason.contains("arc=pass")
}

/// A group of sources that are one sender.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sender {
    /// Display name, unique within the domain.
    pub name: String,
    /// What it is for the verdict (authorized, misconfigured, ...).
    pub class: SenderClass,
    /// Why, in one line.
    pub explanation: String,
    /// What identified it (`DKIM d=sendgrid.net`), if anything.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identified_by: Option<String>,
    /// What to change so that it aligns, when it is legitimate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
    /// The user declared its class in the config.
    pub declared: bool,
    /// Totals over its sources.
    #[serde(flatten)]
    pub totals: Totals,
    /// Number of source IPs.
    pub source_count: usize,
    /// Its source IPs, most messages first (at most 20).
    pub ips: Vec<String>,
    /// Its busiest source IPs, most messages first (at most [`KEPT_IPS`]):
    /// what the new-sender lookup looks for in earlier reports.
    #[serde(skip)]
    pub busiest_ips: Vec<String>,
    /// Start of the first report in the window that mentions it.
    #[serde(serialize_with = "super::rfc3339")]
    pub first_seen: i64,
    /// End of the last report that mentions it.
    #[serde(serialize_with = "super::rfc3339")]
    pub last_seen: i64,
    /// Whether it first appeared within the new-sender period. `classify`
    /// sees one window only and leaves it `false`; the analysis sets it
    /// after looking at the domain's earlier history.
    pub new: bool,
    /// Passing DKIM `d=` domains.
    pub dkim_domains: Vec<String>,
    /// Passing SPF domains.
    pub spf_domains: Vec<String>,
    /// Override reasons receivers gave.
    pub reasons: Vec<String>,
    /// Failing messages of its sources for which receivers gave a
    /// forwarding, mailing-list or ARC override: explained, not lost.
    pub explained_failing: u64,
    /// Its sources' messages per UTC day (of the report's begin), in day
    /// order.
    #[serde(skip)]
    pub daily: Vec<DayTotals>,
}

impl Sender {
    /// Messages that failed DMARC.
    pub fn failing(&self) -> u64 {
        self.totals.messages.saturating_sub(self.totals.dmarc_pass)
    }

    /// Failing messages that no forwarding override explains.
    pub fn unexplained_failing(&self) -> u64 {
        self.failing().saturating_sub(self.explained_failing)
    }

    /// Whether any DKIM or SPF check passed for it, for any domain.
    pub fn authenticates(&self) -> bool {
        !self.dkim_domains.is_empty() || !self.spf_domains.is_empty()
    }
}

/// Share of `part` in `whole` (0 when `whole` is 0).
pub fn share(part: u64, whole: u64) -> f64 {
    if whole == 0 { 0.0 } else { part as f64 / whole as f64 }
}

/// Groups `rows` of `domain` into senders, classifies them, and writes each
/// row's class back. Senders come most messages first.
pub fn classify(domain: &str, rows: &mut [SourceRow]) -> Vec<Sender> {
    let mut grouper = Grouper::new(domain);
    for row in rows.iter() {
        grouper.add(row);
    }
    let (senders, index) = grouper.finish();
    for row in rows.iter_mut() {
        index.assign(row);
    }
    senders
}

/// The source addresses a sender keeps, busiest first: enough for the
/// new-sender lookup, bounded whatever the number of its sources.
pub const KEPT_IPS: usize = 1_000;
/// The addresses a sender shows.
const SHOWN_IPS: usize = 20;

/// A source's rank among others: more messages first, then the address.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Ranked {
    messages: u64,
    ip: String,
}

impl Ord for Ranked {
    /// Greater is busier.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.messages.cmp(&other.messages).then_with(|| other.ip.cmp(&self.ip))
    }
}

impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// The busiest `limit` of what it is offered, in bounded memory.
#[derive(Debug)]
pub struct Busiest<T> {
    limit: usize,
    heap: BinaryHeap<Reverse<(Ranked, Slot<T>)>>,
}

/// A value carried along its rank (not compared).
#[derive(Debug)]
struct Slot<T>(T);

impl<T> PartialEq for Slot<T> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl<T> Eq for Slot<T> {}
impl<T> PartialOrd for Slot<T> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl<T> Ord for Slot<T> {
    fn cmp(&self, _: &Self) -> std::cmp::Ordering {
        std::cmp::Ordering::Equal
    }
}

impl<T> Busiest<T> {
    /// Keeps at most `limit`.
    pub fn new(limit: usize) -> Busiest<T> {
        Busiest { limit, heap: BinaryHeap::new() }
    }

    /// Whether a source with `messages` at `ip` would be kept.
    pub fn wants(&self, messages: u64, ip: &str) -> bool {
        if self.heap.len() < self.limit {
            return true;
        }
        match self.heap.peek() {
            Some(Reverse((least, _))) => {
                (messages, Reverse(ip)) > (least.messages, Reverse(least.ip.as_str()))
            }
            None => false,
        }
    }

    /// Offers `value`, a source with `messages` at `ip`.
    pub fn offer(&mut self, messages: u64, ip: &str, value: T) {
        if !self.wants(messages, ip) {
            return;
        }
        if self.heap.len() == self.limit {
            self.heap.pop();
        }
        self.heap.push(Reverse((Ranked { messages, ip: ip.to_owned() }, Slot(value))));
    }

    /// What was kept, busiest first.
    pub fn into_sorted(self) -> Vec<T> {
        // Ascending order of `Reverse` is busiest first.
        self.heap.into_sorted_vec().into_iter().map(|Reverse((_, Slot(v)))| v).collect()
    }
}

/// Which sender (and class) each group of sources became.
#[derive(Debug, Clone, Default)]
pub struct SenderIndex {
    domain: String,
    by_key: HashMap<String, (String, SenderClass)>,
}

impl SenderIndex {
    /// Writes the sender's name and class into `row`, a source of the
    /// domain that was grouped.
    pub fn assign(&self, row: &mut SourceRow) {
        let (key, _, _) = group_of(&self.domain, row);
        if let Some((name, class)) = self.by_key.get(&key) {
            row.sender.clone_from(name);
            row.class = *class;
        }
    }
}

/// A group of sources, while they come.
struct Group {
    name: String,
    identified_by: Option<String>,
    fix: Option<String>,
    declared: Option<DeclaredClass>,
    known: bool,
    own_dkim_only: bool,
    /// The busiest member so far: the group takes its identification.
    leader: Ranked,
    totals: Totals,
    count: usize,
    ips: Busiest<String>,
    first: i64,
    last: i64,
    dkim: BTreeSet<String>,
    spf: BTreeSet<String>,
    reasons: BTreeSet<String>,
    explained: u64,
    daily: BTreeMap<i64, DayTotals>,
}

/// Groups sources into senders as they come, one at a time, in bounded
/// memory: per group its sums and its busiest addresses, never the list of
/// its sources. The result does not depend on the order of the sources.
pub struct Grouper {
    domain: String,
    groups: BTreeMap<String, Group>,
    domain_messages: u64,
}

impl Grouper {
    /// A grouper for the sources of `domain`.
    pub fn new(domain: &str) -> Grouper {
        Grouper { domain: domain.to_owned(), groups: BTreeMap::new(), domain_messages: 0 }
    }

    /// Adds a source (identified, see [`super::summary::Identifier`]).
    pub fn add(&mut self, row: &SourceRow) {
        let domain = self.domain.as_str();
        self.domain_messages = self.domain_messages.saturating_add(row.totals.messages);
        let (key, name, own_dkim_only) = group_of(domain, row);
        let messages = row.totals.messages;
        let rank = || Ranked { messages, ip: row.ip.clone() };
        let lead = |g: &mut Group| {
            g.identified_by.clone_from(&row.identified_by);
            g.fix = row.known.as_ref().and_then(|k| k.fix_for(domain));
            g.declared = row.known.as_ref().and_then(|k| k.class);
            g.known = row.known.is_some();
            g.own_dkim_only = own_dkim_only;
        };
        let g = match self.groups.entry(key) {
            Entry::Occupied(o) => {
                let g = o.into_mut();
                let busier = (messages, Reverse(row.ip.as_str()))
                    > (g.leader.messages, Reverse(g.leader.ip.as_str()));
                if busier {
                    lead(g);
                    g.name = name;
                    g.leader = rank();
                }
                g
            }
            Entry::Vacant(v) => {
                let mut g = Group {
                    name,
                    identified_by: None,
                    fix: None,
                    declared: None,
                    known: false,
                    own_dkim_only,
                    leader: rank(),
                    totals: Totals::default(),
                    count: 0,
                    ips: Busiest::new(KEPT_IPS),
                    first: row.first_seen,
                    last: row.last_seen,
                    dkim: BTreeSet::new(),
                    spf: BTreeSet::new(),
                    reasons: BTreeSet::new(),
                    explained: 0,
                    daily: BTreeMap::new(),
                };
                lead(&mut g);
                v.insert(g)
            }
        };
        g.totals.merge(&row.totals);
        g.count += 1;
        if g.ips.wants(messages, &row.ip) {
            g.ips.offer(messages, &row.ip, row.ip.clone());
        }
        g.first = g.first.min(row.first_seen);
        g.last = g.last.max(row.last_seen);
        for (set, items) in [
            (&mut g.dkim, &row.dkim_domains),
            (&mut g.spf, &row.spf_domains),
            (&mut g.reasons, &row.reasons),
        ] {
            for item in items {
                if !set.contains(item) {
                    set.insert(item.clone());
                }
            }
        }
        if row.reasons.iter().any(|r| is_forwarding_reason(r)) {
            let failing = row.totals.messages.saturating_sub(row.totals.dmarc_pass);
            g.explained = g.explained.saturating_add(failing);
        }
        for d in &row.daily {
            let slot =
                g.daily.entry(d.day).or_insert(DayTotals { day: d.day, ..DayTotals::default() });
            slot.totals.merge(&d.totals);
            slot.subdomain.merge(&d.subdomain);
            for k in 0..3 {
                slot.disposition[k] = slot.disposition[k].saturating_add(d.disposition[k]);
            }
            slot.explained_failing = slot.explained_failing.saturating_add(d.explained_failing);
        }
    }

    /// The senders, classified, most messages first, and which group became
    /// which sender.
    pub fn finish(self) -> (Vec<Sender>, SenderIndex) {
        let Grouper { domain, mut groups, domain_messages } = self;
        let domain = domain.as_str();
        // A known service's unaligned stream is named apart when the
        // service also has an aligned one.
        let unaligned: Vec<String> =
            groups.keys().filter(|k| k.ends_with(UNALIGNED)).cloned().collect();
        for key in unaligned {
            if groups.contains_key(&key[..key.len() - UNALIGNED.len()])
                && let Some(g) = groups.get_mut(&key)
            {
                g.name = format!("{} (not aligned)", g.name);
            }
        }

        let mut index = SenderIndex { domain: domain.to_owned(), by_key: HashMap::new() };
        let mut senders: Vec<Sender> = Vec::with_capacity(groups.len());
        for (key, g) in groups {
            let busiest = g.ips.into_sorted();
            let mut sender = Sender {
                name: g.name,
                class: SenderClass::Unclassified,
                explanation: String::new(),
                identified_by: g.identified_by,
                fix: g.fix,
                declared: g.declared.is_some(),
                totals: g.totals,
                source_count: g.count,
                ips: busiest.iter().take(SHOWN_IPS).cloned().collect(),
                busiest_ips: busiest,
                first_seen: g.first,
                last_seen: g.last,
                new: false,
                dkim_domains: g.dkim.into_iter().collect(),
                spf_domains: g.spf.into_iter().collect(),
                reasons: g.reasons.into_iter().collect(),
                explained_failing: g.explained,
                daily: g.daily.into_values().collect(),
            };
            let (class, explanation) =
                decide(domain, &sender, g.declared, g.known, g.own_dkim_only, domain_messages);
            sender.class = class;
            sender.explanation = explanation;
            if sender.fix.is_none() && class.is_legitimate() && sender.failing() > 0 {
                sender.fix = Some(generic_fix(domain, &sender));
            }
            index.by_key.insert(key, (sender.name.clone(), class));
            senders.push(sender);
        }
        senders.sort_by(|a, b| {
            b.totals.messages.cmp(&a.totals.messages).then_with(|| a.name.cmp(&b.name))
        });
        (senders, index)
    }
}

/// The suffix of the group key of a known service's unaligned stream.
const UNALIGNED: &str = "\0unaligned";

/// The group key, display name, and whether the source shows only our
/// DKIM signature with no SPF pass at all.
fn group_of(domain: &str, row: &SourceRow) -> (String, String, bool) {
    let via = row.rdns.as_deref().map(base_domain);
    let suffix = |name: String| match &via {
        Some(v) => format!("{name} via {v}"),
        None => name,
    };
    if let Some(known) = &row.known {
        // Its aligned and its unaligned streams are two senders.
        let aligned = row.totals.dmarc_pass.saturating_mul(2) >= row.totals.messages;
        let stream = if aligned { "" } else { UNALIGNED };
        return (format!("known:{}{stream}", known.name.to_lowercase()), known.name.clone(), false);
    }
    let foreign = |list: &[String]| -> Option<String> {
        list.iter().find(|d| !aligned_with(d, domain)).map(|d| d.to_ascii_lowercase())
    };
    if let Some(d) = foreign(&row.dkim_domains).or_else(|| foreign(&row.spf_domains)) {
        let name = suffix(d);
        return (format!("domain:{name}"), name, false);
    }
    let own_dkim = !row.dkim_domains.is_empty();
    let own_spf = !row.spf_domains.is_empty();
    let how = match (own_dkim, own_spf) {
        (true, true) => format!("{domain} (DKIM + SPF)"),
        (true, false) => format!("{domain} (DKIM only)"),
        (false, true) => format!("{domain} (SPF only)"),
        (false, false) => "unauthenticated".to_owned(),
    };
    let name = suffix(how);
    (format!("own:{name}"), name, own_dkim && !own_spf && row.totals.spf_aligned_pass == 0)
}

/// The organizational domain of a host name, from the Public Suffix List
/// (`mail.example.co.uk` -> `example.co.uk`).
pub fn base_domain(host: &str) -> String {
    organizational_domain(host)
}

fn decide(
    domain: &str,
    s: &Sender,
    declared: Option<DeclaredClass>,
    known: bool,
    own_dkim_only: bool,
    domain_messages: u64,
) -> (SenderClass, String) {
    let t = &s.totals;
    let passing = format!(
        "{} of {} pass DMARC (aligned DKIM {}, aligned SPF {})",
        percent(t.dmarc_pass, t.messages),
        plural(t.messages, "message", "messages"),
        percent(t.dkim_aligned_pass, t.messages),
        percent(t.spf_aligned_pass, t.messages)
    );
    if let Some(class) = declared {
        let class = match class {
            DeclaredClass::Authorized => SenderClass::Authorized,
            DeclaredClass::Forwarder => SenderClass::Forwarder,
            DeclaredClass::Unauthorized => SenderClass::Unauthorized,
        };
        return (class, format!("declared {} in the config; {passing}", class.as_str()));
    }
    let forwarding: Vec<&str> =
        s.reasons.iter().map(String::as_str).filter(|r| is_forwarding_reason(r)).collect();
    let forwarding_text =
        || forwarding.iter().map(|r| r.replace('_', " ")).collect::<Vec<_>>().join(", ");
    let failing = s.failing();
    // The domain's own SPF record covers it: one of the owner's servers,
    // whatever the receivers said about some of its messages.
    let covered_by_spf = t.spf_aligned_pass.saturating_mul(2) >= t.messages && t.messages > 0;
    if failing > 0 && s.explained_failing.saturating_mul(2) >= failing && !covered_by_spf {
        return (
            SenderClass::Forwarder,
            format!(
                "receivers report {} for {} of its {failing} failing messages: forwarded or \
                 list copies, delivered on that evidence; {passing}",
                forwarding_text(),
                s.explained_failing
            ),
        );
    }
    if own_dkim_only && !known {
        let volume_share = share(t.messages, domain_messages);
        let failing_share = share(s.unexplained_failing(), t.messages);
        if volume_share < FORWARDER_MAX_SHARE && failing_share <= FORWARDER_MAX_FAILING {
            return (
                SenderClass::Forwarder,
                format!(
                    "the DKIM signature of {domain} passes but SPF passes for no domain: \
                     mail forwarded by a server that is not yours ({} of the domain's mail); {passing}",
                    percent(t.messages, domain_messages)
                ),
            );
        }
        if share(t.dmarc_pass, t.messages) >= 0.5 {
            return (
                SenderClass::Authorized,
                format!(
                    "the DKIM signature of {domain} passes but SPF passes for no domain, on {} \
                     of the domain's mail with {} failing: your own relay, missing from the SPF \
                     record, rather than a forwarder; {passing}",
                    percent(t.messages, domain_messages),
                    percent(s.unexplained_failing(), t.messages)
                ),
            );
        }
    }
    if share(t.dmarc_pass, t.messages) >= 0.5 {
        return (SenderClass::Authorized, passing);
    }
    if !forwarding.is_empty() {
        return (
            SenderClass::Forwarder,
            format!("receivers report it as {}; {passing}", forwarding_text()),
        );
    }
    // A passing signature with a key published under the domain itself
    // (`d=mg.example.com`) is the owner's: nobody else holds that key.
    if let Some(own) = s.dkim_domains.iter().find(|d| aligned_with(d, domain)) {
        return (
            SenderClass::Misconfigured,
            format!(
                "signs with a key of {domain}'s own (DKIM d={own}) but does not align with the \
                 From domain (strict adkim=s, or a different subdomain); {passing}"
            ),
        );
    }
    let list = |domains: &[String]| {
        let mut text = domains.iter().take(2).cloned().collect::<Vec<_>>().join(",");
        if domains.len() > 2 {
            text.push_str(&format!(" (+{} more)", domains.len() - 2));
        }
        text
    };
    let authenticated_as = || {
        let mut parts = Vec::new();
        if !s.dkim_domains.is_empty() {
            parts.push(format!("DKIM d={}", list(&s.dkim_domains)));
        }
        if !s.spf_domains.is_empty() {
            parts.push(format!("SPF {}", list(&s.spf_domains)));
        }
        parts.join(" and ")
    };
    if known && s.authenticates() {
        return (
            SenderClass::Misconfigured,
            format!(
                "a known sending service that authenticates as {} but not aligned with \
                 {domain}; {passing}",
                authenticated_as()
            ),
        );
    }
    if t.dmarc_pass > 0 {
        return (
            SenderClass::Authorized,
            format!(
                "part of its mail aligns with {domain}, which only your keys or SPF allow; {passing}"
            ),
        );
    }
    // A service authenticates all its mail as itself. A source that does
    // so for a minority of its messages and fails every check on the rest
    // is rotating tricks: spoofing, not a forgotten service.
    if s.authenticates() && share(t.authenticated, t.messages) < 0.5 {
        return (
            SenderClass::Unauthorized,
            format!(
                "authenticates as {} on only {} of its {} and fails every check on \
                 the rest: the pattern of spoofing, not of a sending service",
                authenticated_as(),
                percent(t.authenticated, t.messages),
                plural(t.messages, "message", "messages")
            ),
        );
    }
    if s.authenticates() {
        return (
            SenderClass::Unclassified,
            format!(
                "authenticates as {} but not aligned with {domain}, and is not a known \
                 service: declare it in the config if it sends for you",
                authenticated_as()
            ),
        );
    }
    (
        SenderClass::Unauthorized,
        format!(
            "no DKIM or SPF check passes for any domain ({}): spoofing, or a server \
             of yours that is not set up",
            plural(t.messages, "message", "messages")
        ),
    )
}

fn generic_fix(domain: &str, s: &Sender) -> String {
    let hosts = s.ips.iter().take(3).cloned().collect::<Vec<_>>().join(", ");
    let more = if s.source_count > 3 {
        format!(" and {} more", s.source_count - 3)
    } else {
        String::new()
    };
    if let Some(own) = s.dkim_domains.iter().find(|d| aligned_with(d, domain) && *d != domain) {
        format!(
            "it signs with d={own}, a key of {domain}'s own that does not align under strict \
             DKIM alignment (adkim=s): publish adkim=r (relaxed, the default) or have it sign \
             with d={domain}"
        )
    } else if s.totals.dkim_aligned_pass < s.totals.messages {
        format!(
            "sign all mail from {hosts}{more} with DKIM d={domain}, or make its return path a \
             subdomain of {domain} covered by your SPF record"
        )
    } else {
        format!("check SPF for {hosts}{more}: add it to the SPF record of {domain}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_domains_keep_country_second_levels() {
        assert_eq!(base_domain("mail-yw1-f171.google.com."), "google.com");
        assert_eq!(base_domain("mx.example.co.uk"), "example.co.uk");
        assert_eq!(base_domain("localhost"), "localhost");
    }
}
