//! What changed since the owner was last told: the events a summary holds
//! compared with the facts told before ([`detect`]). What was told is kept
//! in the database as facts (see `store::notify`), so each event is told
//! once; `notify` delivers the events and `render::mail` draws them.
//!
//! The events:
//! - the verdict of a domain changed (the first run tells every domain's
//!   verdict once, as the baseline);
//! - a new sender with real volume appeared;
//! - an authorized sender's recent DMARC pass rate fell below the threshold;
//! - no report arrived for a domain for some days;
//! - inputs failed since the last notification.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::analyse::classify::SenderClass;
use crate::analyse::{DomainSummary, Summary, format_rfc3339};
use crate::store::FailedInput;
use crate::store::notify::{FactChange, NewEvent, NotifyFact};
use crate::units::{DAY, plural};

/// When an event is worth telling: the thresholds of the `[notify]`
/// settings.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRules {
    /// Days without a report before "reports stopped".
    pub reports_stopped_days: u32,
    /// Pass rate below which an authorized sender is degraded (0..1).
    pub degraded_below: f64,
    /// The recent days that rate is taken over.
    pub degraded_days: u32,
    /// Messages from which a new sender is told (and a rate is judged).
    pub new_sender_messages: u64,
}

/// Fact kinds kept in the database.
mod fact {
    /// Present once the baseline was told.
    pub const BASELINE: &str = "baseline";
    /// The verdict told for a domain.
    pub const VERDICT: &str = "verdict";
    /// A sender already announced (value: its class then).
    pub const SENDER: &str = "sender";
    /// A sender told to be below the pass-rate threshold.
    pub const DEGRADED: &str = "degraded";
    /// A domain told to have stopped reporting.
    pub const STOPPED: &str = "stopped";
    /// The newest failed input told (its id).
    pub const FAILED: &str = "failed";
    /// When the last digest went out.
    pub const DIGEST: &str = "digest";
}

/// Something the owner should hear about once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Event {
    /// The verdict of a domain changed, or (baseline) is told the first time.
    VerdictChanged {
        /// The policy domain it is about.
        domain: String,
        /// The verdict told before (`not-ready`, ...); none at the baseline.
        from: Option<String>,
        /// The verdict now.
        to: String,
        /// The verdict now, for people.
        label: String,
        /// The verdict's sentence.
        sentence: String,
        /// The DMARC record to publish next (TXT value), when there is one.
        record: Option<String>,
        /// The first notification for this database.
        baseline: bool,
    },
    /// A sender with real volume first seen since the last notification.
    NewSender {
        /// The policy domain it is about.
        domain: String,
        /// The sender's name.
        sender: String,
        /// Its class (`authorized`, `misconfigured`, ...).
        class: String,
        /// Its messages in the window.
        messages: u64,
        /// Share of them passing DMARC (0..1).
        dmarc_pass_rate: f64,
        /// Why it has its class.
        explanation: String,
        /// How to fix it, when it is legitimate but fails.
        fix: Option<String>,
    },
    /// An authorized sender's recent DMARC pass rate fell below the threshold.
    SenderDegraded {
        /// The policy domain it is about.
        domain: String,
        /// The sender's name.
        sender: String,
        /// Its DMARC pass rate over the recent days (0..1).
        pass_rate: f64,
        /// The threshold (0..1).
        threshold: f64,
        /// Its messages over those days.
        messages: u64,
        /// How many days.
        days: u32,
        /// How to fix it, when known.
        fix: Option<String>,
    },
    /// No report for a domain for some days.
    ReportsStopped {
        /// The policy domain it is about.
        domain: String,
        /// When the newest report ended (RFC 3339).
        newest_report_end: String,
        /// Days since then.
        days_since: f64,
        /// The configured limit in days.
        threshold_days: u32,
    },
    /// Inputs that could not be read since the last notification.
    InputsFailing {
        /// How many inputs failed.
        count: usize,
        /// The first few: name and error.
        examples: Vec<FailedExample>,
    },
}

/// One failed input, as an event names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedExample {
    /// Its id (`dmarc-report errors`).
    pub id: i64,
    /// Where it came from.
    pub name: String,
    /// Why it failed.
    pub error: String,
}

/// Failed inputs named in one event; the rest are counted.
const MAX_FAILED_EXAMPLES: usize = 5;

impl Event {
    /// The event's kind, as in JSON (`verdict-changed`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            Event::VerdictChanged { .. } => "verdict-changed",
            Event::NewSender { .. } => "new-sender",
            Event::SenderDegraded { .. } => "sender-degraded",
            Event::ReportsStopped { .. } => "reports-stopped",
            Event::InputsFailing { .. } => "inputs-failing",
        }
    }

    /// The domain it is about, if one.
    pub fn domain(&self) -> Option<&str> {
        match self {
            Event::VerdictChanged { domain, .. }
            | Event::NewSender { domain, .. }
            | Event::SenderDegraded { domain, .. }
            | Event::ReportsStopped { domain, .. } => Some(domain),
            Event::InputsFailing { .. } => None,
        }
    }

    /// How much it matters: lower first. Mail lost at a domain comes first,
    /// then a domain that may tighten now, the verdicts of the first run,
    /// data that stopped, a sender that got worse, new senders
    /// (misconfigured ones first), and inputs that failed.
    pub fn importance(&self) -> u8 {
        match self {
            Event::VerdictChanged { from: Some(from), to, baseline: false, .. }
                if verdict_rank(to) < verdict_rank(from) =>
            {
                0
            }
            Event::VerdictChanged { baseline: false, .. } => 1,
            Event::VerdictChanged { .. } => 2,
            Event::ReportsStopped { .. } => 3,
            Event::SenderDegraded { .. } => 4,
            Event::NewSender { class, .. } if class == SenderClass::Misconfigured.as_str() => 5,
            Event::NewSender { .. } => 6,
            Event::InputsFailing { .. } => 7,
        }
    }

    /// One line for people: what happened.
    pub fn headline(&self) -> String {
        match self {
            Event::VerdictChanged { domain, from, to, label, baseline, .. } => {
                let hint = match (from.as_deref(), to.as_str()) {
                    (_, "ready-for-quarantine" | "ready-for-reject") if !baseline => {
                        ": safe to move now"
                    }
                    (Some(f), t) if verdict_rank(t) < verdict_rank(f) && f == "enforced" => {
                        ": legitimate mail is being lost"
                    }
                    _ => "",
                };
                match from {
                    Some(f) if !baseline => {
                        format!("{domain}: {} -> {}{hint}", slug_label(f), label.to_lowercase())
                    }
                    _ => format!("{domain}: {}", label.to_lowercase()),
                }
            }
            Event::NewSender { domain, sender, class, messages, dmarc_pass_rate, .. } => format!(
                "{domain}: new sender {sender} ({class}, {}, {:.1}% pass DMARC)",
                plural(*messages, "message", "messages"),
                100.0 * dmarc_pass_rate
            ),
            Event::SenderDegraded { domain, sender, pass_rate, threshold, days, .. } => format!(
                "{domain}: {sender} passes DMARC on {:.1}% of its mail over {} (below {:.1}%)",
                100.0 * pass_rate,
                plural(u64::from(*days), "day", "days"),
                100.0 * threshold
            ),
            Event::ReportsStopped { domain, days_since, .. } => {
                format!("{domain}: no DMARC report for {days_since:.1} days")
            }
            Event::InputsFailing { count, .. } => {
                format!("{} could not be read", plural(*count as u64, "new input", "new inputs"))
            }
        }
    }

    /// Further lines for people: the sentence, the record, the fix.
    pub fn details(&self) -> Vec<String> {
        match self {
            Event::VerdictChanged { sentence, record, .. } => {
                let mut lines = vec![sentence.clone()];
                if let Some(r) = record {
                    lines.push(format!("publish: {r}"));
                }
                lines
            }
            Event::NewSender { explanation, fix, .. } => {
                let mut lines = vec![explanation.clone()];
                if let Some(f) = fix {
                    lines.push(format!("fix: {f}"));
                }
                lines
            }
            Event::SenderDegraded { messages, fix, .. } => {
                let mut lines =
                    vec![format!("{} over those days", plural(*messages, "message", "messages"))];
                if let Some(f) = fix {
                    lines.push(format!("fix: {f}"));
                }
                lines
            }
            Event::ReportsStopped { newest_report_end, threshold_days, .. } => vec![format!(
                "the newest report ended {newest_report_end} (the limit is {}): is `fetch` still running?",
                plural(u64::from(*threshold_days), "day", "days")
            )],
            Event::InputsFailing { count, examples } => {
                let mut lines: Vec<String> =
                    examples.iter().map(|e| format!("#{} {}: {}", e.id, e.name, e.error)).collect();
                if *count > examples.len() {
                    lines.push(format!("... and {} more", count - examples.len()));
                }
                lines.push("see `dmarc-report errors`".to_owned());
                lines
            }
        }
    }
}

/// The events in order of importance (stable within one importance).
pub fn by_importance(events: &mut [Event]) {
    events.sort_by_key(Event::importance);
}

/// The subject line of a mail telling `events`: the most important one,
/// and how many more.
pub fn subject(events: &[Event]) -> String {
    let Some(first) = events.iter().min_by_key(|e| e.importance()) else {
        return "dmarc-report: nothing new".to_owned();
    };
    match events.len() {
        1 => format!("dmarc-report: {}", first.headline()),
        n => format!("dmarc-report: {} (+{} more)", first.headline(), n - 1),
    }
}

/// Order of verdicts from worst to best; unknown verdicts rank lowest.
fn verdict_rank(slug: &str) -> u8 {
    match slug {
        "not-ready" => 1,
        "ready-for-quarantine" => 2,
        "ready-for-reject" => 3,
        "enforced" => 4,
        _ => 0,
    }
}

/// `not-ready` -> `not ready`.
fn slug_label(slug: &str) -> String {
    slug.replace('-', " ")
}

/// What [`detect`] found: the events to tell and how the facts change.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Detection {
    /// The events, most important first.
    pub events: Vec<Event>,
    /// The changes to the kept facts, to store with the events.
    pub changes: Vec<FactChange>,
    /// This is the first run (the baseline).
    pub baseline: bool,
}

impl Detection {
    /// The events as rows for the outbox.
    pub fn rows(&self) -> Result<Vec<NewEvent>, serde_json::Error> {
        self.events
            .iter()
            .map(|e| {
                Ok(NewEvent {
                    kind: e.kind().to_owned(),
                    domain: e.domain().map(str::to_owned),
                    payload: serde_json::to_string(e)?,
                })
            })
            .collect()
    }
}

/// The facts as [`detect`] reads them.
#[derive(Debug, Default)]
struct Facts {
    baseline: bool,
    verdicts: BTreeMap<String, String>,
    senders: BTreeMap<(String, String), String>,
    degraded: BTreeSet<(String, String)>,
    stopped: BTreeSet<String>,
    failed: i64,
}

impl Facts {
    fn read(rows: &[NotifyFact]) -> Facts {
        let mut f = Facts::default();
        for r in rows {
            let key = || (r.domain.clone(), r.subject.clone());
            match r.kind.as_str() {
                fact::BASELINE => f.baseline = true,
                fact::VERDICT => {
                    f.verdicts.insert(r.domain.clone(), r.value.clone());
                }
                fact::SENDER => {
                    f.senders.insert(key(), r.value.clone());
                }
                fact::DEGRADED => {
                    f.degraded.insert(key());
                }
                fact::STOPPED => {
                    f.stopped.insert(r.domain.clone());
                }
                fact::FAILED => f.failed = r.value.parse().unwrap_or(0),
                _ => {}
            }
        }
        f
    }
}

fn set(kind: &str, domain: &str, subject: &str, value: impl Into<String>) -> FactChange {
    FactChange::Set(NotifyFact {
        kind: kind.to_owned(),
        domain: domain.to_owned(),
        subject: subject.to_owned(),
        value: value.into(),
    })
}

fn remove(kind: &str, domain: &str, subject: &str) -> FactChange {
    FactChange::Remove {
        kind: kind.to_owned(),
        domain: domain.to_owned(),
        subject: subject.to_owned(),
    }
}

/// Compares `summary` and the failed inputs with what was told before
/// (`facts`) at `now` (Unix seconds). Pure: nothing is read or written.
pub fn detect(
    summary: &Summary,
    failures: &[FailedInput],
    facts: &[NotifyFact],
    rules: &EventRules,
    now: i64,
) -> Detection {
    let known = Facts::read(facts);
    let baseline = !known.baseline;
    let mut events = Vec::new();
    let mut changes = Vec::new();
    if baseline {
        changes.push(set(fact::BASELINE, "", "", format_rfc3339(now)));
    }

    for d in &summary.domains {
        domain_events(d, &known, baseline, rules, now, &mut events, &mut changes);
    }

    // Inputs that failed since the last notification (by row id: a retried
    // input that fails again keeps its id and is not told again).
    let newest = failures.iter().map(|f| f.id).max().unwrap_or(0);
    if newest > known.failed {
        let new: Vec<&FailedInput> = failures.iter().filter(|f| f.id > known.failed).collect();
        if !baseline {
            events.push(Event::InputsFailing {
                count: new.len(),
                examples: new
                    .iter()
                    .take(MAX_FAILED_EXAMPLES)
                    .map(|f| FailedExample {
                        id: f.id,
                        name: f.name.clone(),
                        error: f.error.clone(),
                    })
                    .collect(),
            });
        }
        changes.push(set(fact::FAILED, "", "", newest.to_string()));
    }

    by_importance(&mut events);
    Detection { events, changes, baseline }
}

fn domain_events(
    d: &DomainSummary,
    known: &Facts,
    baseline: bool,
    rules: &EventRules,
    now: i64,
    events: &mut Vec<Event>,
    changes: &mut Vec<FactChange>,
) {
    let domain = d.domain.as_str();
    let r = &d.readiness;
    let verdict = r.verdict.as_str();

    // The verdict.
    let told = known.verdicts.get(domain);
    if told.map(String::as_str) != Some(verdict) {
        let record = Some(r.recommended_record.clone()).filter(|s| !s.trim().is_empty());
        events.push(Event::VerdictChanged {
            domain: domain.to_owned(),
            from: if baseline { None } else { told.cloned() },
            to: verdict.to_owned(),
            label: r.verdict.label().to_owned(),
            sentence: r.sentence.clone(),
            record,
            baseline: baseline || told.is_none(),
        });
        changes.push(set(fact::VERDICT, domain, "", verdict));
    }

    // Reports stopped (and started again: forget it, so a later stop is
    // told again).
    if let Some(end) = d.totals.newest_report_end {
        let age = now - end;
        let stopped = age > i64::from(rules.reports_stopped_days) * DAY;
        let told = known.stopped.contains(domain);
        if stopped && !told {
            events.push(Event::ReportsStopped {
                domain: domain.to_owned(),
                newest_report_end: format_rfc3339(end),
                days_since: (age as f64 / DAY as f64 * 10.0).floor() / 10.0,
                threshold_days: rules.reports_stopped_days,
            });
            changes.push(set(fact::STOPPED, domain, "", format_rfc3339(end)));
        } else if !stopped && told {
            changes.push(remove(fact::STOPPED, domain, ""));
        }
    }

    // Recent totals per sender, from its daily rows.
    let recent_from = d.window.end - i64::from(rules.degraded_days) * DAY;
    let mut recent: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for s in &d.senders {
        let slot = recent.entry(s.name.as_str()).or_default();
        for day in s.daily.iter().filter(|day| day.day >= recent_from) {
            slot.0 = slot.0.saturating_add(day.totals.messages);
            slot.1 = slot.1.saturating_add(day.totals.dmarc_pass);
        }
    }

    for s in &d.senders {
        let key = (domain.to_owned(), s.name.clone());
        let announced = known.senders.get(&key);
        // New senders with real volume. Small ones are not remembered, so
        // they are told when they grow.
        if announced.is_none() && s.totals.messages >= rules.new_sender_messages {
            if !baseline {
                events.push(Event::NewSender {
                    domain: domain.to_owned(),
                    sender: s.name.clone(),
                    class: s.class.as_str().to_owned(),
                    messages: s.totals.messages,
                    dmarc_pass_rate: rate(s.totals.dmarc_pass, s.totals.messages),
                    explanation: s.explanation.clone(),
                    fix: s.fix.clone(),
                });
            }
            changes.push(set(fact::SENDER, domain, &s.name, s.class.as_str()));
        }

        // Degraded: an authorized sender (now, or when it was announced)
        // whose recent pass rate is below the threshold, on enough mail.
        let authorized = s.class == SenderClass::Authorized
            || announced.is_some_and(|c| c == SenderClass::Authorized.as_str());
        let (messages, pass) = recent.get(s.name.as_str()).copied().unwrap_or((0, 0));
        let told = known.degraded.contains(&key);
        if authorized && messages >= rules.new_sender_messages {
            let pass_rate = rate(pass, messages);
            if pass_rate < rules.degraded_below && !told {
                if !baseline {
                    events.push(Event::SenderDegraded {
                        domain: domain.to_owned(),
                        sender: s.name.clone(),
                        pass_rate,
                        threshold: rules.degraded_below,
                        messages,
                        days: rules.degraded_days,
                        fix: s.fix.clone(),
                    });
                }
                changes.push(set(fact::DEGRADED, domain, &s.name, format!("{pass_rate:.4}")));
            } else if pass_rate >= rules.degraded_below && told {
                changes.push(remove(fact::DEGRADED, domain, &s.name));
            }
        }
    }
}

fn rate(part: u64, whole: u64) -> f64 {
    if whole == 0 { 0.0 } else { part as f64 / whole as f64 }
}

/// When the last digest went out (Unix seconds) and the newest event it
/// covered, from the facts.
pub fn last_digest(facts: &[NotifyFact]) -> Option<(i64, i64)> {
    let f = facts.iter().find(|f| f.kind == fact::DIGEST)?;
    let (at, id) = f.value.split_once(' ')?;
    Some((at.parse().ok()?, id.parse().ok()?))
}

/// The fact change that records a digest sent at `now` that covered the
/// events up to `newest_event`.
pub fn digest_sent(now: i64, newest_event: i64) -> FactChange {
    set(fact::DIGEST, "", "", format!("{now} {newest_event}"))
}
