//! The readiness verdict: can this domain move to a stricter DMARC policy
//! without losing its own mail, and if not, which senders stop it and how
//! to fix them.
//!
//! Every threshold is a field of [`Criteria`], set in the `[readiness]`
//! table of the config file; the README lists them with their defaults.

use serde::{Deserialize, Serialize};

use super::classify::{Sender, SenderClass, percent, share};
use super::policy::{Enforcement, PolicyHistory, PublishedPolicy};
use super::summary::DomainTotals;

const DAY: i64 = 86_400;

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

/// The verdict.
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

    /// The CSS class suffix, the same as [`Verdict::as_str`].
    pub fn slug(self) -> &'static str {
        self.as_str()
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
    /// Its class.
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
    /// Failing messages of legitimate senders (authorized and misconfigured):
    /// lost mail.
    pub authorized_affected: u64,
    /// Failing messages of forwarders and mailing lists.
    pub forwarded_affected: u64,
    /// Failing messages of unclassified senders.
    pub unclassified_affected: u64,
    /// Failing messages of unauthorized sources: spoofing stopped.
    pub unauthorized_stopped: u64,
    /// Messages receivers already quarantined or rejected.
    pub already_quarantined_or_rejected: u64,
}

/// The verdict with its evidence.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Readiness {
    /// The verdict.
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
}

/// What the verdict looks at.
pub struct Input<'a> {
    /// Totals of the domain in the window.
    pub totals: &'a DomainTotals,
    /// Its senders, classified, with `new` set.
    pub senders: &'a [Sender],
    /// Its published policy.
    pub policy: &'a PolicyHistory,
    /// The rua URI to put in the record, when the config names one.
    pub rua: Option<&'a str>,
}

/// Decides the verdict for one domain.
pub fn assess(input: &Input<'_>, c: &Criteria) -> Readiness {
    let d = input.totals;
    let domain = d.domain.as_str();
    let current = &input.policy.current;
    let enforcement = current.enforcement();
    let mut reasons = Vec::new();

    // Enough data?
    let large: Vec<&str> = d
        .reporting_orgs
        .iter()
        .map(|r| r.org_name.as_str())
        .filter(|o| {
            let o = o.to_lowercase();
            c.large_reporters.iter().any(|l| o.contains(&l.to_lowercase()))
        })
        .collect();
    let mut missing = Vec::new();
    if d.days_covered < u64::from(c.min_days_quarantine) {
        missing.push(format!(
            "{} days covered ({} needed for quarantine, {} for reject)",
            d.days_covered, c.min_days_quarantine, c.min_days_reject
        ));
    } else {
        reasons.push(format!(
            "{} days covered ({} needed for quarantine, {} for reject)",
            d.days_covered, c.min_days_quarantine, c.min_days_reject
        ));
    }
    let large_text = format!(
        "reports from {} organisations, {} of them large{} ({} needed)",
        d.reporting_orgs.len(),
        large.len(),
        if large.is_empty() { String::new() } else { format!(": {}", large.join(", ")) },
        c.min_large_reporters
    );
    if (large.len() as u64) < u64::from(c.min_large_reporters) {
        missing.push(large_text);
    } else {
        reasons.push(large_text);
    }
    let volume = format!("{} messages (at least {} needed)", d.totals.messages, c.min_messages);
    if d.totals.messages < c.min_messages {
        missing.push(volume);
    } else {
        reasons.push(volume);
    }

    // Senders.
    let by_class =
        |class: SenderClass| -> (u64, u64, u64) {
            input.senders.iter().filter(|s| s.class == class).fold((0, 0, 0), |acc, s| {
                (acc.0 + 1, acc.1 + s.totals.messages, acc.2 + s.failing())
            })
        };
    let (n_auth, auth_msgs, auth_fail) = by_class(SenderClass::Authorized);
    let (n_mis, mis_msgs, mis_fail) = by_class(SenderClass::Misconfigured);
    let (n_fwd, fwd_msgs, fwd_fail) = by_class(SenderClass::Forwarder);
    let (n_unc, unc_msgs, unc_fail) = by_class(SenderClass::Unclassified);
    let (n_bad, bad_msgs, bad_fail) = by_class(SenderClass::Unauthorized);
    if n_auth > 0 {
        reasons.push(format!(
            "{n_auth} authorized sender(s): {auth_msgs} messages, {} pass DMARC ({} needed per sender)",
            percent(auth_msgs - auth_fail, auth_msgs),
            pct(c.pass_rate)
        ));
    }
    if n_mis > 0 {
        reasons.push(format!(
            "{n_mis} legitimate service(s) not aligned with {domain}: {mis_msgs} messages, {mis_fail} failing DMARC"
        ));
    }
    if n_fwd > 0 {
        reasons.push(format!(
            "{n_fwd} forwarder(s) and mailing list(s): {fwd_msgs} messages, {fwd_fail} failing; explained, they do not block"
        ));
    }
    if n_unc > 0 {
        reasons.push(format!(
            "{n_unc} unclassified sender(s) that authenticate as another domain: {unc_msgs} messages, {unc_fail} failing"
        ));
    }
    if n_bad > 0 {
        reasons.push(format!(
            "{n_bad} unauthorized source group(s): {bad_msgs} messages, {bad_fail} failing; spoofing, which a stricter policy stops"
        ));
    }

    let mut blocking = Vec::new();
    let next_step = if enforcement >= Enforcement::Quarantine { "reject" } else { "quarantine" };
    for s in input.senders {
        let failing = s.failing();
        let rate = share(s.totals.dmarc_pass, s.totals.messages);
        let new_note = if s.new {
            format!(" A new sender, first seen {}.", super::format_date(s.first_seen))
        } else {
            String::new()
        };
        let fix = s.fix.clone().unwrap_or_default();
        match s.class {
            SenderClass::Authorized if failing > 0 && rate < c.pass_rate => blocking.push(Blocking {
                sender: s.name.clone(),
                class: s.class,
                messages: failing,
                blocks: "quarantine".into(),
                reason: format!(
                    "passes DMARC on {} of {} messages ({} needed): {failing} would be quarantined",
                    percent(s.totals.dmarc_pass, s.totals.messages),
                    s.totals.messages,
                    pct(c.pass_rate)
                ),
                fix,
            }),
            SenderClass::Misconfigured if failing > 0 => blocking.push(Blocking {
                sender: s.name.clone(),
                class: s.class,
                messages: failing,
                blocks: "quarantine".into(),
                reason: format!(
                    "legitimate service whose mail fails DMARC: {failing} of {} messages.{new_note}",
                    s.totals.messages
                ),
                fix,
            }),
            SenderClass::Unclassified => {
                let meaningful = s.totals.messages >= c.meaningful_messages
                    && share(s.totals.messages, d.totals.messages) >= c.meaningful_share;
                if meaningful || s.new {
                    let why = if meaningful {
                        format!(
                            "authenticates but is not aligned, with {} messages ({} of the domain); nothing says whether it is yours.{new_note}",
                            s.totals.messages,
                            percent(s.totals.messages, d.totals.messages)
                        )
                    } else {
                        format!(
                            "new sender ({} messages) that authenticates without being authorized: it may be a service just switched on",
                            s.totals.messages
                        )
                    };
                    blocking.push(Blocking {
                        sender: s.name.clone(),
                        class: s.class,
                        messages: failing,
                        blocks: "quarantine".into(),
                        reason: why,
                        fix: format!(
                            "if {} sends for you, have it sign with DKIM d={domain} (or use a return path under {domain}) and declare it with class = \"authorized\"; if not, declare it with class = \"unauthorized\" ([[known_sender]] in the config)",
                            s.name
                        ),
                    });
                }
            }
            _ => {}
        }
    }
    // For reject: authorized mail must pass by DKIM, not SPF alone.
    let mut reject_blocking = Vec::new();
    for s in input.senders.iter().filter(|s| s.class == SenderClass::Authorized) {
        let spf_only = s.totals.dmarc_pass.saturating_sub(s.totals.dkim_aligned_pass);
        if spf_only > 0
            && share(s.totals.dkim_aligned_pass, s.totals.messages) < c.dkim_rate_for_reject
        {
            reject_blocking.push(Blocking {
                sender: s.name.clone(),
                class: s.class,
                messages: spf_only,
                blocks: "reject".into(),
                reason: format!(
                    "{spf_only} of {} messages pass DMARC through SPF alone (aligned DKIM {}, {} needed for reject): forwarding breaks SPF, so p=reject would lose them",
                    s.totals.messages,
                    percent(s.totals.dkim_aligned_pass, s.totals.messages),
                    pct(c.dkim_rate_for_reject)
                ),
                fix: s.fix.clone().unwrap_or_else(|| format!("sign its mail with DKIM d={domain}")),
            });
        }
    }

    // Time at quarantine.
    let window_end = d.window.end;
    let enforced_days = input
        .policy
        .enforcement_since
        .map(|since| ((window_end - since) / DAY).max(0) as u64)
        .unwrap_or(0);
    reasons.push(match enforcement {
        Enforcement::None => format!("published {}", current.record()),
        _ => format!("published {} for {enforced_days} days", current.record()),
    });

    let insufficient = !missing.is_empty();
    let at_quarantine_long_enough = enforcement >= Enforcement::Quarantine
        && enforced_days >= u64::from(c.quarantine_days_before_reject);
    let verdict = if insufficient {
        Verdict::InsufficientData
    } else if enforcement == Enforcement::Reject {
        if blocking.is_empty() { Verdict::Enforced } else { Verdict::NotReady }
    } else if !blocking.is_empty() {
        Verdict::NotReady
    } else if enforcement >= Enforcement::Quarantine
        && at_quarantine_long_enough
        && reject_blocking.is_empty()
        && d.days_covered >= u64::from(c.min_days_reject)
    {
        Verdict::ReadyForReject
    } else {
        Verdict::ReadyForQuarantine
    };
    // Why not reject yet, when quarantine is the answer.
    if verdict == Verdict::ReadyForQuarantine {
        if enforcement < Enforcement::Quarantine {
            reasons.push(format!(
                "reject comes after {} days at p=quarantine without authorized losses",
                c.quarantine_days_before_reject
            ));
        } else if !at_quarantine_long_enough {
            reasons.push(format!(
                "at p=quarantine for {enforced_days} days; reject needs {}",
                c.quarantine_days_before_reject
            ));
        }
        if d.days_covered < u64::from(c.min_days_reject) {
            reasons.push(format!("reject needs {} days of reports", c.min_days_reject));
        }
    }
    let mut reasons = if insufficient {
        let mut m = missing;
        m.extend(reasons);
        m
    } else {
        reasons
    };
    if matches!(verdict, Verdict::ReadyForQuarantine | Verdict::NotReady)
        && enforcement >= Enforcement::Quarantine
        || verdict == Verdict::ReadyForReject
    {
        blocking.extend(reject_blocking);
    }
    blocking.sort_by(|a, b| b.messages.cmp(&a.messages).then_with(|| a.sender.cmp(&b.sender)));

    // What if the next policy had been in force.
    let target = match verdict {
        Verdict::ReadyForReject | Verdict::Enforced => "reject",
        _ => next_step,
    };
    let already: u64 =
        ["quarantine", "reject"].iter().map(|k| d.disposition.get(*k).copied().unwrap_or(0)).sum();
    let what_if = WhatIf {
        policy: target.to_owned(),
        authorized_affected: auth_fail + mis_fail,
        forwarded_affected: fwd_fail,
        unclassified_affected: unc_fail,
        unauthorized_stopped: bad_fail,
        already_quarantined_or_rejected: already,
    };

    let (recommended, ramp, mut advice) = recommend(input, verdict, c);
    if insufficient {
        advice.insert(0, "keep the current record and let reports accumulate".to_owned());
    }
    let sentence = sentence(domain, verdict, &blocking, d, current, &what_if);
    if verdict == Verdict::NotReady && enforcement >= Enforcement::Quarantine {
        reasons.insert(0, format!(
            "authorized mail is being lost now: {} messages of legitimate senders fail DMARC at p={}",
            auth_fail + mis_fail,
            current.p()
        ));
    }
    Readiness {
        verdict,
        sentence,
        reasons,
        blocking,
        what_if,
        recommended_record: recommended,
        ramp,
        advice,
    }
}

fn pct(rate: f64) -> String {
    format!("{}%", (rate * 1000.0).round() / 10.0)
}

fn sentence(
    domain: &str,
    verdict: Verdict,
    blocking: &[Blocking],
    d: &DomainTotals,
    current: &PublishedPolicy,
    what_if: &WhatIf,
) -> String {
    let lost: u64 = blocking.iter().map(|b| b.messages).sum();
    match verdict {
        Verdict::InsufficientData => format!(
            "{domain}: too little data to judge yet ({} days, {} messages, {} reporters).",
            d.days_covered, d.totals.messages, d.reporters
        ),
        Verdict::NotReady => format!(
            "{domain} is not ready for p={}: {} sender(s) block it, with {lost} messages that would fail ({}).",
            what_if.policy,
            blocking.len(),
            blocking.iter().take(3).map(|b| b.sender.as_str()).collect::<Vec<_>>().join(", ")
        ),
        Verdict::ReadyForQuarantine | Verdict::ReadyForReject => format!(
            "{domain} can move to p={}: authorized mail passes DMARC, and {} spoofed messages would have been stopped.",
            what_if.policy, what_if.unauthorized_stopped
        ),
        Verdict::Enforced => format!(
            "{domain} is enforced at p={} and no authorized mail is lost; {} spoofed messages were stopped.",
            current.p(),
            what_if.unauthorized_stopped
        ),
    }
}

/// The next record, the ramp after it, and advice.
fn recommend(
    input: &Input<'_>,
    verdict: Verdict,
    c: &Criteria,
) -> (String, Vec<String>, Vec<String>) {
    let d = input.totals;
    let domain = d.domain.as_str();
    let current = &input.policy.current;
    let mut advice = Vec::new();
    // The ramp: 25%, 50%, then everything. `pct` is read by RFC 7489
    // receivers; RFC 9989 receivers ignore it and read `t=y` as "apply the
    // next weaker policy", so the partial steps carry both.
    const STEPS: [u32; 3] = [25, 50, 100];
    let step = |p: &str, pct: u32| -> PublishedPolicy {
        let mut next = current.clone();
        next.p = Some(p.to_owned());
        if pct < 100 {
            next.pct = Some(pct);
            next.testing = Some("y".into());
        } else {
            next.pct = None;
            next.testing = None;
        }
        next
    };
    let target = match verdict {
        Verdict::ReadyForQuarantine => Some("quarantine"),
        Verdict::ReadyForReject => Some("reject"),
        _ => None,
    };
    let mut chain: Vec<PublishedPolicy> = Vec::new();
    match target {
        Some(p) => {
            // Where on the ramp the domain already is.
            let now = if current.p() == p {
                if current.testing() && current.pct() >= 100 { 99 } else { current.pct() }
            } else {
                0
            };
            for pct in STEPS.into_iter().filter(|s| *s > now) {
                chain.push(step(p, pct));
            }
            if chain.is_empty() {
                chain.push(step(p, 100));
            }
            advice.push(
                "move one step at a time; re-run the summary after a week at each step before the next"
                    .to_owned(),
            );
        }
        None => chain.push(current.clone()),
    }
    // sp: subdomains with failing mail keep sp=none until fixed.
    let failing_subs: Vec<&String> = d
        .subdomains
        .iter()
        .filter(|(_, t)| {
            t.messages >= c.meaningful_messages && share(t.dmarc_pass, t.messages) < c.pass_rate
        })
        .map(|(name, _)| name)
        .collect();
    let enforcing = chain.first().is_some_and(|p| p.p() != "none");
    if enforcing && !failing_subs.is_empty() {
        for p in &mut chain {
            p.sp = Some("none".into());
        }
        advice.push(format!(
            "sp=none keeps subdomain mail as it is: {} send(s) mail that fails DMARC; raise sp once it passes",
            failing_subs.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
        ));
    } else if current.sp.as_deref() == Some("none") && enforcing {
        advice.push(format!(
            "sp=none leaves subdomains of {domain} unprotected; no subdomain mail fails, so sp can follow p (drop it)"
        ));
    }
    // np (RFC 9989): non-existent subdomains send no legitimate mail.
    if enforcing && matches!(current.np.as_deref(), None | Some("none")) {
        for p in &mut chain {
            p.np = Some("reject".into());
        }
        advice.push(
            "np=reject: non-existent subdomains send no legitimate mail (RFC 9989); RFC 7489 receivers ignore it"
                .to_owned(),
        );
    }
    let with_rua = |p: &PublishedPolicy| match input.rua {
        Some(rua) => format!("{}; rua={rua}", p.record()),
        None => p.record(),
    };
    if input.rua.is_none() {
        advice.push(format!(
            "reports do not say where they are sent: add your rua= tag to the record (or set rua for {domain} in the config)"
        ));
    }
    let record = chain.first().map(with_rua).unwrap_or_default();
    let ramp = chain.iter().skip(1).map(with_rua).collect();
    (record, ramp, advice)
}
