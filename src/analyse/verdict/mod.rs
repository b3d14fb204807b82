//! The readiness verdict: can this domain move to a stricter DMARC policy
//! without losing its own mail, and if not, which senders stop it and how
//! to fix them.
//!
//! Every threshold is a field of [`Criteria`], set in the `[readiness]`
//! table of the config file; the README lists them with their defaults.
//!
//! [`assess`] runs the steps in order, each in its own module:
//! [`sufficiency`] (is there enough data), [`tally`] (the senders by class),
//! [`blocking`] (who stops the step at stake, judged per sender on the
//! window and on its recent days), [`what_if`] (the step at stake applied
//! to the window) and [`recommend`] (the next record, never weaker than the
//! published one). The verdict, its sentence, the blocking list, the what-if
//! and the record are all derived from the same [`Stake`], so they agree.

mod blocking;
mod recommend;
mod sufficiency;
mod tally;
mod what_if;

pub use recommend::not_weaker;

use serde::{Deserialize, Serialize};

use super::classify::{Sender, SenderClass};
use super::policy::{Enforcement, PolicyHistory, PublishedPolicy};
use super::streams::Stream;
use super::summary::{DomainTotals, Totals};
use crate::units::DAY;

/// The thresholds of the verdict.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Criteria {
    /// Days the reports must cover before quarantine.
    pub min_days_quarantine: u32,
    /// Days the reports must cover before reject.
    pub min_days_reject: u32,
    /// Large reporting organisations that must have reported.
    pub min_large_reporters: u32,
    /// Messages the window must hold.
    pub min_messages: u64,
    /// Share of its messages every authorized sender must pass DMARC on.
    pub pass_rate: f64,
    /// For reject: share of its messages every authorized sender must pass
    /// with aligned DKIM (SPF alone breaks when mail is forwarded).
    pub dkim_rate_for_reject: f64,
    /// An unclassified sender blocks when it has at least this many
    /// messages...
    pub meaningful_messages: u64,
    /// ...and at least this share of the domain's messages.
    pub meaningful_share: f64,
    /// A sender first seen this many days before the window's end is new.
    pub new_sender_days: u32,
    /// Days at p=quarantine (pct=100, no testing) before reject.
    pub quarantine_days_before_reject: u32,
    /// Warn when the newest report ended more than this many days ago.
    pub stale_days: u32,
    /// Senders are judged on these last days of the window as well as on
    /// the whole window: a sender fixed since no longer blocks, a stream that
    /// began failing lately does.
    pub recent_days: u32,
    /// The large reporting organisations: an `org_name` containing one of
    /// these (case-insensitive) counts.
    pub large_reporters: Vec<String>,
}

impl Default for Criteria {
    fn default() -> Self {
        Criteria {
            min_days_quarantine: 14,
            min_days_reject: 30,
            min_large_reporters: 2,
            min_messages: 200,
            pass_rate: 0.98,
            dkim_rate_for_reject: 0.98,
            meaningful_messages: 20,
            meaningful_share: 0.001,
            new_sender_days: 7,
            quarantine_days_before_reject: 14,
            stale_days: 3,
            recent_days: 7,
            large_reporters: [
                "google",
                "outlook",
                "microsoft",
                "hotmail",
                "yahoo",
                "aol",
                "apple",
                "icloud",
                "comcast",
                "mimecast",
                "proofpoint",
                "cisco",
                "barracuda",
                "fastmail",
                "zoho",
                "mail.ru",
                "yandex",
                "gmx",
                "web.de",
                "t-online",
                "orange",
                "qq.com",
                "seznam",
            ]
            .map(str::to_owned)
            .to_vec(),
        }
    }
}

impl Criteria {
    /// Checks the values make sense; the message names the setting.
    pub fn validate(&self) -> Result<(), String> {
        for (name, v) in [
            ("pass_rate", self.pass_rate),
            ("dkim_rate_for_reject", self.dkim_rate_for_reject),
            ("meaningful_share", self.meaningful_share),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(format!("readiness.{name} must be between 0 and 1 (it is {v})"));
            }
        }
        Ok(())
    }
}

/// Whether a domain can move to a stricter policy, in one word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Too few days, reporters or messages to tell.
    InsufficientData,
    /// Legitimate mail would be lost.
    NotReady,
    /// p=quarantine (or the next step of its ramp) is safe.
    ReadyForQuarantine,
    /// p=reject (or the next step of its ramp) is safe.
    ReadyForReject,
    /// Already at p=reject, and no authorized mail is lost.
    Enforced,
}

impl Verdict {
    /// A short label for people (`Not ready`).
    pub fn label(self) -> &'static str {
        match self {
            Verdict::InsufficientData => "Insufficient data",
            Verdict::NotReady => "Not ready",
            Verdict::ReadyForQuarantine => "Ready for quarantine",
            Verdict::ReadyForReject => "Ready for reject",
            Verdict::Enforced => "Enforced",
        }
    }

    /// `insufficient-data`, `not-ready`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::InsufficientData => "insufficient-data",
            Verdict::NotReady => "not-ready",
            Verdict::ReadyForQuarantine => "ready-for-quarantine",
            Verdict::ReadyForReject => "ready-for-reject",
            Verdict::Enforced => "enforced",
        }
    }
}

/// A sender that stops the next step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Blocking {
    /// The sender's name.
    pub sender: String,
    /// Why it blocks: a legitimate sender failing, or an unexplained one.
    pub class: SenderClass,
    /// Messages the stricter policy would have quarantined or rejected.
    pub messages: u64,
    /// The policy it blocks (`quarantine` or `reject`).
    pub blocks: String,
    /// Why, with numbers.
    pub reason: String,
    /// What to do.
    pub fix: String,
}

/// Had the next policy been in force during the window.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct WhatIf {
    /// The policy imagined (`quarantine` or `reject`).
    pub policy: String,
    /// Failing messages of the legitimate senders (authorized and
    /// misconfigured) that block: lost mail. Zero whenever the verdict is
    /// ready or enforced.
    pub authorized_affected: u64,
    /// Failing messages of legitimate senders that do not block: within the
    /// pass-rate tolerance, explained by forwarding overrides, or fixed in
    /// the recent days.
    pub authorized_tolerated: u64,
    /// For reject: messages of blocking legitimate senders that pass DMARC
    /// through SPF alone, which forwarding would turn into losses.
    pub authorized_at_risk: u64,
    /// Failing messages of forwarders and mailing lists.
    pub forwarded_affected: u64,
    /// Failing messages of unclassified senders.
    pub unclassified_affected: u64,
    /// Failing messages of unauthorized sources: spoofing stopped.
    pub unauthorized_stopped: u64,
    /// Failing messages From subdomains, of any sender, that the next
    /// record leaves under the published `sp`: not affected by the step.
    pub subdomains_unaffected: u64,
    /// Messages receivers already quarantined or rejected.
    pub already_quarantined_or_rejected: u64,
}

/// The verdict with its evidence.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Readiness {
    /// The verdict in one word.
    pub verdict: Verdict,
    /// One sentence for people.
    pub sentence: String,
    /// The reasons, each tied to numbers.
    pub reasons: Vec<String>,
    /// The senders that stop the next step.
    pub blocking: Vec<Blocking>,
    /// The what-if of the next policy.
    pub what_if: WhatIf,
    /// The DMARC record to publish next (TXT value).
    pub recommended_record: String,
    /// The steps after it, up to the target policy.
    pub ramp: Vec<String>,
    /// Advice on `sp`, `np`, `rua` and the ramp.
    pub advice: Vec<String>,
    /// The domain sends no legitimate mail: only spoofing was seen.
    pub parked: bool,
}

/// The policy step the verdict is about: the next one from the published
/// policy (`quarantine` from none or a quarantine ramp, `reject` from full
/// quarantine on), or, for a ready verdict, the one it says is safe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stake {
    /// `p=quarantine`.
    Quarantine,
    /// `p=reject`.
    Reject,
}

impl Stake {
    /// `quarantine` or `reject`.
    pub fn as_str(self) -> &'static str {
        match self {
            Stake::Quarantine => "quarantine",
            Stake::Reject => "reject",
        }
    }

    fn next_from(enforcement: Enforcement) -> Stake {
        if enforcement >= Enforcement::Quarantine { Stake::Reject } else { Stake::Quarantine }
    }
}

/// What the verdict looks at.
pub struct Input<'a> {
    /// Totals of the domain in the window.
    pub totals: &'a DomainTotals,
    /// Its senders, classified, with `new` set.
    pub senders: &'a [Sender],
    /// The streams of each sender, in the same order (see
    /// [`super::streams::of_senders`]); a sender without an entry, or with
    /// an empty one, is judged as one stream.
    pub streams: &'a [Vec<Stream>],
    /// Its published policy.
    pub policy: &'a PolicyHistory,
    /// The rua URI to put in the record, when the config names one.
    pub rua: Option<&'a str>,
    /// The DMARC record published now, as the newest `check` found it:
    /// without a rua in the config, the next record keeps its rua (and,
    /// either way, its ruf), which reports do not carry.
    pub live_record: Option<&'a str>,
}

/// One sender's recent days and subdomain mail.
#[derive(Debug, Default)]
pub(crate) struct Recent {
    /// Its totals over the recent days.
    pub totals: Totals,
    /// The failing messages among them that forwarding overrides explain.
    pub explained: u64,
    /// The part of `totals` From subdomains.
    pub sub: Totals,
    /// Its mail From subdomains over the whole window.
    pub window_sub: Totals,
}

/// `a` without `b` (a part of it).
pub(crate) fn minus(a: &Totals, b: &Totals) -> Totals {
    Totals {
        messages: a.messages.saturating_sub(b.messages),
        dmarc_pass: a.dmarc_pass.saturating_sub(b.dmarc_pass),
        spf_aligned_pass: a.spf_aligned_pass.saturating_sub(b.spf_aligned_pass),
        dkim_aligned_pass: a.dkim_aligned_pass.saturating_sub(b.dkim_aligned_pass),
        authenticated: a.authenticated.saturating_sub(b.authenticated),
    }
}

/// Everything the steps share about one domain.
pub(crate) struct Context<'a> {
    pub domain: &'a str,
    pub d: &'a DomainTotals,
    pub senders: &'a [Sender],
    pub current: &'a PublishedPolicy,
    /// Enforcement of mail From the domain itself.
    pub enforcement: Enforcement,
    /// Enforcement of mail From its subdomains (`sp`, else `p`).
    pub sub_enforcement: Enforcement,
    /// The next step from the published policy.
    pub stake: Stake,
    /// Days at the current enforcement level.
    pub enforced_days: u64,
    /// Only spoofing was seen.
    pub parked: bool,
    /// Per sender (same order): its recent days, and its mail From
    /// subdomains.
    pub recent: Vec<Recent>,
    /// Per sender (same order, possibly shorter): its streams.
    pub streams: &'a [Vec<Stream>],
    pub rua: Option<&'a str>,
    pub live_record: Option<&'a str>,
    pub c: &'a Criteria,
}

impl<'a> Context<'a> {
    fn new(input: &Input<'a>, c: &'a Criteria) -> Context<'a> {
        let d = input.totals;
        let current = &input.policy.current;
        let enforcement = current.enforcement();
        let sub = PublishedPolicy {
            p: current.sp.clone().or_else(|| current.p.clone()),
            ..current.clone()
        };
        let enforced_days = input
            .policy
            .enforcement_since
            .map(|since| ((d.window.end - since) / DAY).max(0) as u64)
            .unwrap_or(0);
        let parked = d.totals.messages > 0
            && d.totals.dmarc_pass == 0
            && input.senders.iter().all(|s| s.class == SenderClass::Unauthorized);
        let recent_since = d.window.end - i64::from(c.recent_days) * DAY;
        let recent = input
            .senders
            .iter()
            .map(|s| {
                let mut r = Recent::default();
                for day in &s.daily {
                    r.window_sub.merge(&day.subdomain);
                    if day.day < recent_since {
                        continue;
                    }
                    r.totals.merge(&day.totals);
                    r.sub.merge(&day.subdomain);
                    r.explained = r.explained.saturating_add(day.explained_failing);
                }
                r
            })
            .collect();
        Context {
            domain: d.domain.as_str(),
            d,
            senders: input.senders,
            current,
            enforcement,
            sub_enforcement: sub.enforcement(),
            stake: Stake::next_from(enforcement),
            enforced_days,
            parked,
            recent,
            streams: input.streams,
            rua: input.rua,
            live_record: input.live_record,
            c,
        }
    }
}

/// Decides the verdict for one domain: sufficiency, tallies, blocking,
/// the verdict, the what-if of its policy, and the next record.
pub fn assess(input: &Input<'_>, c: &Criteria) -> Readiness {
    let ctx = Context::new(input, c);
    let enough = sufficiency::check(&ctx);
    let sufficient = enough.is_sufficient();
    let tallies = tally::by_class(ctx.senders);
    let found = blocking::find(&ctx);
    let verdict = decide(&ctx, sufficient, &found);
    let policy = match verdict {
        Verdict::ReadyForQuarantine => Stake::Quarantine,
        Verdict::ReadyForReject | Verdict::Enforced => Stake::Reject,
        Verdict::NotReady | Verdict::InsufficientData => ctx.stake,
    };
    let what_if = what_if::compute(&ctx, policy, &tallies, &found);
    let next = recommend::next_record(&ctx, verdict, &found);

    let mut reasons = enough.missing.clone();
    if found.losing_now {
        reasons.push(format!(
            "authorized mail is being lost now: {} of legitimate senders fail DMARC at {}",
            crate::units::plural(found.losing_now_messages, "message", "messages"),
            blocking::enforced_text(&ctx)
        ));
    }
    reasons.extend(enough.met);
    reasons.extend(tally::reasons(&ctx, &tallies));
    reasons.extend(found.notes.iter().cloned());
    if what_if.subdomains_unaffected > 0 {
        reasons.push(format!(
            "{} failing messages From subdomains (spoofing of them included) stay under the published sp={}, which the next record keeps: p={} does not stop them",
            what_if.subdomains_unaffected,
            ctx.current.sp.as_deref().unwrap_or(ctx.current.p()),
            what_if.policy
        ));
    }
    reasons.push(match ctx.enforcement {
        Enforcement::None => format!("published {}", ctx.current.record()),
        _ => format!("published {} for {} days", ctx.current.record(), ctx.enforced_days),
    });
    if verdict == Verdict::ReadyForQuarantine {
        reasons.extend(why_not_reject_yet(&ctx));
    }
    let mut advice = next.advice;
    if !sufficient && !found.losing_now {
        advice.insert(0, "keep the current record and let reports accumulate".to_owned());
    }
    let sentence = sentence(&ctx, verdict, &found.blocking, &what_if);
    Readiness {
        verdict,
        sentence,
        reasons,
        blocking: found.blocking,
        what_if,
        recommended_record: next.record,
        ramp: next.ramp,
        advice,
        parked: ctx.parked,
    }
}

/// The verdict from the evidence. Legitimate mail lost under the published
/// policy now outranks everything; then missing data; then a parked domain;
/// then the blocking list of the step at stake.
fn decide(ctx: &Context<'_>, sufficient: bool, found: &blocking::Found) -> Verdict {
    let c = ctx.c;
    if found.losing_now {
        return Verdict::NotReady;
    }
    if !sufficient {
        return Verdict::InsufficientData;
    }
    if ctx.parked {
        let strict = |v: Option<&str>| v.unwrap_or("reject") == "reject";
        let sp = ctx.current.sp.as_deref().or(ctx.current.p.as_deref());
        let np = ctx.current.np.as_deref().or(sp);
        return if ctx.enforcement == Enforcement::Reject && strict(sp) && strict(np) {
            Verdict::Enforced
        } else {
            Verdict::ReadyForReject
        };
    }
    if !found.blocking.is_empty() {
        return Verdict::NotReady;
    }
    match (ctx.stake, ctx.enforcement) {
        (Stake::Quarantine, _) => Verdict::ReadyForQuarantine,
        (Stake::Reject, Enforcement::Reject) => Verdict::Enforced,
        (Stake::Reject, Enforcement::RejectRamp) => Verdict::ReadyForReject,
        (Stake::Reject, _) => {
            if ctx.enforced_days >= u64::from(c.quarantine_days_before_reject)
                && ctx.d.days_covered >= u64::from(c.min_days_reject)
            {
                Verdict::ReadyForReject
            } else {
                Verdict::ReadyForQuarantine
            }
        }
    }
}

/// Why quarantine, and not reject yet.
fn why_not_reject_yet(ctx: &Context<'_>) -> Vec<String> {
    let c = ctx.c;
    let mut out = Vec::new();
    if ctx.enforcement < Enforcement::Quarantine {
        out.push(format!(
            "reject comes after {} days at p=quarantine without authorized losses",
            c.quarantine_days_before_reject
        ));
    } else if ctx.enforced_days < u64::from(c.quarantine_days_before_reject) {
        out.push(format!(
            "at p=quarantine for {} days; reject needs {}",
            ctx.enforced_days, c.quarantine_days_before_reject
        ));
    }
    if ctx.d.days_covered < u64::from(c.min_days_reject) {
        out.push(format!(
            "reject needs {} days of reports ({} so far)",
            c.min_days_reject, ctx.d.days_covered
        ));
    }
    out
}

/// One sentence for people, derived from the verdict and the same blocking
/// list and what-if the output shows. Counts have separators and nouns
/// their number (`1 sender`, `1,200 messages`).
fn sentence(ctx: &Context<'_>, verdict: Verdict, blocking: &[Blocking], w: &WhatIf) -> String {
    use crate::units::{count, plural};
    let domain = ctx.domain;
    let d = ctx.d;
    let lost: u64 = blocking.iter().map(|b| b.messages).sum();
    // Messages that pass by SPF alone are at risk, not failing.
    let at_risk = w.authorized_at_risk.min(lost);
    let failing = lost - at_risk;
    let what_fails = || match (failing, at_risk) {
        (f, 0) => format!("{} would fail", plural(f, "message", "messages")),
        (0, r) => format!("{} by SPF alone, which forwarding breaks", passes(r)),
        (f, r) => format!(
            "{} would fail, and {} pass by SPF alone, which forwarding breaks",
            plural(f, "message", "messages"),
            count(r)
        ),
    };
    let senders = || plural(blocking.len() as u64, "sender", "senders");
    let names =
        || blocking.iter().take(3).map(|b| b.sender.as_str()).collect::<Vec<_>>().join(", ");
    let spoofed = |n: u64| plural(n, "spoofed message", "spoofed messages");
    match verdict {
        Verdict::InsufficientData if !blocking.is_empty() => format!(
            "{domain}: too little data to judge yet ({}, {}, {}), but {} already {} p={}, with {} that would fail ({}).",
            plural(d.days_covered, "day", "days"),
            plural(d.totals.messages, "message", "messages"),
            plural(d.reporters, "reporter", "reporters"),
            senders(),
            if blocking.len() == 1 { "blocks" } else { "block" },
            w.policy,
            plural(lost, "message", "messages"),
            names()
        ),
        Verdict::InsufficientData => format!(
            "{domain}: too little data to judge yet ({}, {}, {}).",
            plural(d.days_covered, "day", "days"),
            plural(d.totals.messages, "message", "messages"),
            plural(d.reporters, "reporter", "reporters")
        ),
        Verdict::NotReady
            if ctx.enforcement >= Enforcement::RejectRamp
                && blocking.iter().all(|b| b.class == SenderClass::Unclassified) =>
        {
            format!(
                "{domain} is at p={}, but {} that may be yours {} DMARC ({}): {}.",
                ctx.current.p(),
                senders(),
                if blocking.len() == 1 { "fails" } else { "fail" },
                names(),
                what_fails()
            )
        }
        Verdict::NotReady if ctx.enforcement >= Enforcement::RejectRamp => format!(
            "{domain} is at p={} but its authorized mail is not safe ({}: {}): {}.",
            ctx.current.p(),
            senders(),
            names(),
            what_fails()
        ),
        Verdict::NotReady => format!(
            "{domain} is not ready for p={}: {} {} it ({}): {}.",
            w.policy,
            senders(),
            if blocking.len() == 1 { "blocks" } else { "block" },
            names(),
            what_fails()
        ),
        Verdict::ReadyForQuarantine if ctx.enforcement >= Enforcement::Quarantine => format!(
            "{domain} stays at p=quarantine for now: authorized mail passes DMARC, {} {} stopped, and the time for reject has not come yet.",
            spoofed(w.unauthorized_stopped),
            if w.unauthorized_stopped == 1 { "was" } else { "were" }
        ),
        Verdict::ReadyForReject | Verdict::Enforced if ctx.parked => format!(
            "{domain} sends no legitimate mail, only {}: {} p=reject with sp=reject and np=reject.",
            spoofed(w.unauthorized_stopped),
            if verdict == Verdict::Enforced { "it is enforced at" } else { "publish at once" }
        ),
        Verdict::ReadyForQuarantine | Verdict::ReadyForReject => format!(
            "{domain} can move to p={}: authorized mail passes DMARC, and {} would have been stopped{}.",
            w.policy,
            spoofed(w.unauthorized_stopped),
            if w.subdomains_unaffected > 0 {
                format!(
                    " ({} From subdomains stay under sp={})",
                    plural(w.subdomains_unaffected, "failing message", "failing messages"),
                    ctx.current.sp.as_deref().unwrap_or(ctx.current.p())
                )
            } else {
                String::new()
            }
        ),
        Verdict::Enforced => format!(
            "{domain} is enforced at p={} and no authorized mail is lost; {} {} stopped.",
            ctx.current.p(),
            spoofed(w.unauthorized_stopped),
            if w.unauthorized_stopped == 1 { "was" } else { "were" }
        ),
    }
}

/// `1 message passes` / `3,000 messages pass`.
fn passes(n: u64) -> String {
    if n == 1 {
        "1 message passes".to_owned()
    } else {
        format!("{} messages pass", crate::units::count(n))
    }
}
