//! Step 3: which senders stop the step at stake.
//!
//! Each sender is judged on its recent days as well as on the window: a
//! sender with mail in the recent days is judged on those (fixed since: it
//! no longer blocks; failing lately: it does), one without on the window.
//! Failures that receivers explained with a forwarding, mailing-list or ARC
//! override are not losses.
//!
//! A legitimate sender is judged per stream too (the identity its mail
//! authenticated with, see [`crate::analyse::streams`]): a stream of it
//! that authenticates as some domain on most of its mail (the service's,
//! not a spoofer's) but fails DMARC beyond the tolerance, on at least
//! `meaningful_messages`, is its own blocking entry with its own fix, even
//! when the sender as a whole passes (on its recent days when the sender
//! has mail there: a stream that stopped does not block): a new sub-account of a service that
//! does not sign as the domain must not hide inside the service's aligned
//! volume.
//!
//! - Legitimate mail (authorized, misconfigured) failing DMARC beyond the
//!   pass-rate tolerance blocks the step; under an enforcing policy it is
//!   being lost now, which outranks every other verdict.
//! - For reject (RFC 9989 section 4.4: a domain must not rely on SPF alone
//!   at reject), legitimate mail that passes through SPF alone blocks too.
//! - A meaningful or new unclassified sender blocks: nothing says it is not
//!   the owner's.
//! - Mail From subdomains is governed by `sp`. A subdomain whose failing
//!   mail authenticates (as any domain: a service, not a spoofer) on at
//!   least `meaningful_messages` keeps `sp` where it is in the next record
//!   ([`Found::held`]); spoofed subdomain mail, which authenticates nothing,
//!   does not.

use super::{Blocking, Context, Stake, minus};
use crate::analyse::classify::{Sender, SenderClass, share};
use crate::analyse::policy::Enforcement;
use crate::analyse::senders::aligned_with;
use crate::analyse::streams::Stream;
use crate::analyse::summary::Totals;
use crate::units::{DAY, count, format_date, percent, percent_rate, plural};

/// The blocking list and what the other steps need from the judgement.
#[derive(Debug, Default)]
pub(super) struct Found {
    /// The senders that stop the step at stake.
    pub blocking: Vec<Blocking>,
    /// Legitimate mail fails under the published, enforcing policy now.
    pub losing_now: bool,
    /// Its failing messages in the recent days.
    pub losing_now_messages: u64,
    /// Subdomains whose legitimate failing mail keeps `sp` where it is.
    pub held: Vec<String>,
    /// Findings that do not block, for the reasons.
    pub notes: Vec<String>,
    /// Unexplained failing messages of blocking legitimate senders.
    pub losses: u64,
    /// SPF-only messages of legitimate senders blocking reject.
    pub at_risk: u64,
    /// The step leaves mail From subdomains where it is (under `sp`).
    pub domain_only: bool,
}

/// How one legitimate sender fares.
struct Judgement {
    /// Fails beyond the tolerance (recent days when it has mail there).
    fails: bool,
    /// Fails now under an enforcing policy.
    losing_now: bool,
    /// Its failing messages in the recent days under an enforcing policy
    /// (`p` for mail From the domain, `sp` for mail From subdomains).
    recent_failing: u64,
    /// The mail judged over the window: all of it, or only the mail From
    /// the domain itself when the step leaves subdomain mail where it is.
    window: Totals,
    /// Its unexplained failing messages among them.
    window_failing: u64,
    /// The mail judged over the recent days, and its unexplained failing
    /// messages.
    recent: Totals,
    recent_judged_failing: u64,
    /// Passes DMARC through SPF alone too often for reject.
    spf_only: u64,
    spf_alone: bool,
    /// Judged on its recent days.
    on_recent: bool,
}

/// Failing messages of `t`, less `explained` of them.
fn failing_of(t: &Totals, explained: u64) -> u64 {
    t.messages.saturating_sub(t.dmarc_pass).saturating_sub(explained)
}

fn judge(ctx: &Context<'_>, i: usize, s: &Sender, domain_only: bool) -> Judgement {
    let c = ctx.c;
    let r = &ctx.recent[i];
    let (window, recent) = if domain_only {
        (minus(&s.totals, &r.window_sub), minus(&r.totals, &r.sub))
    } else {
        (s.totals, r.totals)
    };
    let window_failing = failing_of(&window, s.explained_failing);
    let recent_failing = failing_of(&recent, r.explained);
    let on_recent = recent.messages > 0;
    let rate = |failing: u64, messages: u64| share(messages.saturating_sub(failing), messages);
    let fails = if on_recent {
        recent_failing > 0 && rate(recent_failing, recent.messages) < c.pass_rate
    } else {
        window_failing > 0 && rate(window_failing, window.messages) < c.pass_rate
    };
    // Mail lost now: From the domain under p, From subdomains under sp.
    let own = minus(&r.totals, &r.sub);
    let mut enforced = Totals::default();
    if ctx.enforcement > Enforcement::None {
        enforced.merge(&own);
    }
    if ctx.sub_enforcement > Enforcement::None {
        enforced.merge(&r.sub);
    }
    let now_failing = failing_of(&enforced, r.explained);
    let losing_now = now_failing > 0
        && (rate(now_failing, enforced.messages) < c.pass_rate
            || now_failing >= c.meaningful_messages);
    let (dkim, messages, passing) = if on_recent {
        (recent.dkim_aligned_pass, recent.messages, recent.dmarc_pass)
    } else {
        (window.dkim_aligned_pass, window.messages, window.dmarc_pass)
    };
    let spf_only = window.dmarc_pass.saturating_sub(window.dkim_aligned_pass);
    let spf_alone =
        passing.saturating_sub(dkim) > 0 && share(dkim, messages) < c.dkim_rate_for_reject;
    Judgement {
        fails,
        losing_now,
        recent_failing: now_failing,
        window,
        window_failing,
        recent,
        recent_judged_failing: recent_failing,
        spf_only,
        spf_alone,
        on_recent,
    }
}

/// Subdomains whose failing mail is a service's, not a spoofer's: the next
/// record keeps `sp` where it is for them.
fn held_subdomains(ctx: &Context<'_>, f: &mut Found) {
    let c = ctx.c;
    if ctx.sub_enforcement != Enforcement::None {
        return;
    }
    // Only subdomains: `sp` governs nothing else (a report may list mail
    // From an unrelated domain under the policy domain).
    for (name, t) in
        ctx.d.subdomains.iter().filter(|(name, _)| crate::store::from_subdomain(name, ctx.domain))
    {
        let failing_authenticated = t.authenticated.saturating_sub(t.dmarc_pass);
        if failing_authenticated >= c.meaningful_messages
            && share(t.dmarc_pass, t.messages) < c.pass_rate
        {
            f.held.push(name.clone());
            f.notes.push(format!(
                "mail From {name} fails DMARC on {} of {}, {} of them authenticated as some domain (a service, not spoofing): the next record keeps sp where it is",
                count(t.messages - t.dmarc_pass),
                plural(t.messages, "message", "messages"),
                count(failing_authenticated)
            ));
        }
    }
    f.held.sort();
    f.held.dedup();
}

pub(super) fn find(ctx: &Context<'_>) -> Found {
    let (c, domain) = (ctx.c, ctx.domain);
    let stake = ctx.stake;
    let mut f = Found::default();
    held_subdomains(ctx, &mut f);
    // Mail From subdomains is at stake only when the next record raises
    // sp to the step: not while legitimate subdomain mail holds sp where it
    // is, nor when sp is already at the step or beyond.
    let stake_level =
        if stake == Stake::Reject { Enforcement::Reject } else { Enforcement::Quarantine };
    let domain_only = (ctx.sub_enforcement == Enforcement::None && !f.held.is_empty())
        || ctx.sub_enforcement >= stake_level;
    f.domain_only = domain_only;
    let recent_text = format!("the last {} days", c.recent_days);
    for (i, s) in ctx.senders.iter().enumerate() {
        let new_note = if s.new {
            format!(" A new sender, first seen {}.", format_date(s.first_seen))
        } else {
            String::new()
        };
        match s.class {
            SenderClass::Authorized | SenderClass::Misconfigured => {
                let j = judge(ctx, i, s, domain_only);
                let failing = j.window_failing;
                let messages = j.window.messages;
                let fix = s.fix.clone().unwrap_or_default();
                if j.losing_now {
                    f.losing_now = true;
                    f.losing_now_messages = f.losing_now_messages.saturating_add(j.recent_failing);
                }
                let blocks_by_failing = j.losing_now || j.fails;
                let blocks_by_spf = stake == Stake::Reject && j.spf_alone;
                if blocks_by_failing {
                    f.losses = f.losses.saturating_add(failing);
                    let reason = if j.losing_now {
                        format!(
                            "{} of its messages failed DMARC in {recent_text} under the published {}: they are being {} now ({} failing in the window).{new_note}",
                            count(j.recent_failing),
                            enforced_text(ctx),
                            if ctx.current.p() == "reject" { "rejected" } else { "quarantined" },
                            count(failing)
                        )
                    } else if s.class == SenderClass::Misconfigured {
                        format!(
                            "legitimate service whose mail fails DMARC: {} of {}{}.{new_note}",
                            count(failing),
                            plural(messages, "message", "messages"),
                            if j.on_recent {
                                format!(", still failing in {recent_text}")
                            } else {
                                String::new()
                            }
                        )
                    } else if j.on_recent {
                        format!(
                            "passes DMARC on {} of its {} in {recent_text} ({} needed; {} of {} over the window): {} would be {}",
                            percent(
                                j.recent.messages.saturating_sub(j.recent_judged_failing),
                                j.recent.messages
                            ),
                            plural(j.recent.messages, "message", "messages"),
                            percent_rate(c.pass_rate),
                            percent(messages.saturating_sub(failing), messages),
                            count(messages),
                            count(failing),
                            if stake == Stake::Reject { "rejected" } else { "quarantined" }
                        )
                    } else {
                        format!(
                            "passes DMARC on {} of {} ({} needed): {} would be {}",
                            percent(messages.saturating_sub(failing), messages),
                            plural(messages, "message", "messages"),
                            percent_rate(c.pass_rate),
                            count(failing),
                            if stake == Stake::Reject { "rejected" } else { "quarantined" }
                        )
                    };
                    let reason = match failing_stream_of(ctx, i, domain_only, failing) {
                        Some(text) => format!("{reason} {text}"),
                        None => reason,
                    };
                    f.blocking.push(Blocking {
                        sender: s.name.clone(),
                        class: s.class,
                        messages: failing,
                        blocks: stake.as_str().to_owned(),
                        reason,
                        fix: fix.clone(),
                    });
                } else if blocks_by_spf {
                    f.at_risk = f.at_risk.saturating_add(j.spf_only);
                    f.blocking.push(Blocking {
                        sender: s.name.clone(),
                        class: s.class,
                        messages: j.spf_only,
                        blocks: "reject".into(),
                        reason: format!(
                            "{} of {} pass DMARC through SPF alone (aligned DKIM {}, {} needed for reject): forwarding breaks SPF, so p=reject would lose them",
                            count(j.spf_only),
                            plural(messages, "message", "messages"),
                            percent(j.window.dkim_aligned_pass, messages),
                            percent_rate(c.dkim_rate_for_reject)
                        ),
                        fix: if fix.is_empty() { format!("sign its mail with DKIM d={domain}") } else { fix },
                    });
                } else {
                    if failing > 0 && share(failing, messages) > 1.0 - c.pass_rate && j.on_recent {
                        f.notes.push(format!(
                            "{} failed DMARC on {} of {} over the window but passes in {recent_text}: fixed, it no longer blocks",
                            s.name,
                            count(failing),
                            plural(messages, "message", "messages")
                        ));
                    }
                    if stake == Stake::Quarantine && j.spf_alone {
                        f.notes.push(format!(
                            "before reject: {} passes through SPF alone on {}; sign its mail with DKIM d={domain} (RFC 9989 does not allow reject on SPF alone)",
                            s.name,
                            plural(j.spf_only, "message", "messages")
                        ));
                    }
                }
                if !blocks_by_failing {
                    failing_streams(ctx, i, s, domain_only, &mut f);
                }
            }
            SenderClass::Unclassified => {
                // Its mail From subdomains is not at stake while sp stays.
                let t = if domain_only {
                    minus(&s.totals, &ctx.recent[i].window_sub)
                } else {
                    s.totals
                };
                let meaningful = t.messages >= c.meaningful_messages
                    && share(t.messages, ctx.d.totals.messages) >= c.meaningful_share;
                if t.messages == 0 || !(meaningful || s.new) {
                    continue;
                }
                let why = if meaningful {
                    format!(
                        "authenticates but is not aligned, with {} ({} of the domain); nothing says whether it is yours.{new_note}",
                        plural(t.messages, "message", "messages"),
                        percent(t.messages, ctx.d.totals.messages)
                    )
                } else {
                    format!(
                        "new sender ({}) that authenticates without being authorized: it may be a service just switched on",
                        plural(t.messages, "message", "messages")
                    )
                };
                f.blocking.push(Blocking {
                    sender: s.name.clone(),
                    class: s.class,
                    messages: t.messages.saturating_sub(t.dmarc_pass),
                    blocks: stake.as_str().to_owned(),
                    reason: why,
                    fix: format!(
                        "if {} sends for you, have it sign with DKIM d={domain} (or use a return path under {domain}) and declare it with class = \"authorized\"; if not, declare it with class = \"unauthorized\" ([[known_sender]] in the config)",
                        s.name
                    ),
                });
            }
            _ => {}
        }
    }
    f.blocking.sort_by(|a, b| b.messages.cmp(&a.messages).then_with(|| a.sender.cmp(&b.sender)));
    f
}

/// A stream's mail, judged as [`judge`] judges a sender's: over the window
/// and over the recent days, without the mail From subdomains when the
/// step leaves it where it is.
struct StreamMail {
    window: Totals,
    recent: Totals,
    /// Its recent mail under an enforcing policy (`p` for mail From the
    /// domain, `sp` for mail From subdomains).
    enforced: Totals,
}

fn stream_mail(ctx: &Context<'_>, st: &Stream, domain_only: bool) -> StreamMail {
    let recent_since = ctx.d.window.end - i64::from(ctx.c.recent_days) * DAY;
    let (mut window, mut window_sub) = (Totals::default(), Totals::default());
    let (mut recent, mut recent_sub) = (Totals::default(), Totals::default());
    for day in &st.daily {
        window.merge(&day.totals);
        window_sub.merge(&day.subdomain);
        if day.day >= recent_since {
            recent.merge(&day.totals);
            recent_sub.merge(&day.subdomain);
        }
    }
    let mut enforced = Totals::default();
    if ctx.enforcement > Enforcement::None {
        enforced.merge(&minus(&recent, &recent_sub));
    }
    if ctx.sub_enforcement > Enforcement::None {
        enforced.merge(&recent_sub);
    }
    if domain_only {
        window = minus(&window, &window_sub);
        recent = minus(&recent, &recent_sub);
    }
    StreamMail { window, recent, enforced }
}

/// For a legitimate sender `i` that blocks as a whole with `failing`
/// messages: the stream most of them come from, when one of its streams
/// holds more than half of them.
fn failing_stream_of(
    ctx: &Context<'_>,
    i: usize,
    domain_only: bool,
    failing: u64,
) -> Option<String> {
    let streams = ctx.streams.get(i).filter(|s| s.len() >= 2)?;
    let (st, worst) = streams
        .iter()
        .map(|st| {
            let w = stream_mail(ctx, st, domain_only).window;
            (st, w.messages.saturating_sub(w.dmarc_pass))
        })
        .max_by_key(|(_, n)| *n)?;
    (worst.saturating_mul(2) > failing).then(|| {
        format!("Most of its failing mail, {worst} messages, is the stream {}.", st.describe())
    })
}

/// The streams of legitimate sender `i` (which does not block as a whole)
/// that block on their own: each its own entry, its failing messages
/// losses.
fn failing_streams(ctx: &Context<'_>, i: usize, s: &Sender, domain_only: bool, f: &mut Found) {
    let (c, domain) = (ctx.c, ctx.domain);
    let Some(streams) = ctx.streams.get(i) else { return };
    if streams.len() < 2 {
        return;
    }
    let mut left = s.unexplained_failing();
    for st in streams {
        let m = stream_mail(ctx, st, domain_only);
        let w = &m.window;
        // A service's stream authenticates as some domain on most of its
        // mail; mail that authenticates as nothing is not a stream of it.
        if w.messages == 0 || w.authenticated.saturating_mul(2) < w.messages {
            continue;
        }
        let failing = w.messages.saturating_sub(w.dmarc_pass).min(left);
        // Judged on the recent days when the sender has mail there: a
        // stream that stopped since (fixed, or moved to an aligned one)
        // does not block.
        let sender_recent = ctx.recent.get(i).is_some_and(|r| r.totals.messages > 0);
        let judged = if sender_recent { &m.recent } else { w };
        let judged_failing = judged.messages.saturating_sub(judged.dmarc_pass);
        let fails = failing >= c.meaningful_messages.max(1)
            && judged_failing > 0
            && share(judged.dmarc_pass, judged.messages) < c.pass_rate;
        if !fails {
            continue;
        }
        left -= failing;
        let now_failing = m.enforced.messages.saturating_sub(m.enforced.dmarc_pass);
        if now_failing > 0 {
            f.losing_now = true;
            f.losing_now_messages = f.losing_now_messages.saturating_add(now_failing);
        }
        f.losses = f.losses.saturating_add(failing);
        let label = if st.dkim.is_empty() {
            format!("envelope {}", st.spf)
        } else {
            format!("d={}", st.dkim)
        };
        let now = if now_failing > 0 {
            format!(
                " {now_failing} of them failed in the last {} days under the published {}: they are being {} now.",
                c.recent_days,
                enforced_text(ctx),
                if ctx.current.p() == "reject" { "rejected" } else { "quarantined" }
            )
        } else {
            String::new()
        };
        let reason = format!(
            "the stream {} from {} is not aligned with {domain}: {} of its {} fail DMARC ({} pass, {} needed). It is {} of {}'s mail, which passes on {} as a whole: merged, the stream would hide under the tolerance.{now}",
            st.describe(),
            s.name,
            count(failing),
            plural(w.messages, "message", "messages"),
            percent(judged.dmarc_pass, judged.messages),
            percent_rate(c.pass_rate),
            percent(w.messages, s.totals.messages),
            s.name,
            percent(s.totals.dmarc_pass, s.totals.messages),
        );
        let mut fix = if st.dkim.is_empty() {
            format!(
                "sign the mail {} sends as {} with DKIM d={domain}, or make its return path a subdomain of {domain} covered by your SPF record",
                s.name, st.spf
            )
        } else if aligned_with(&st.dkim, domain) {
            format!(
                "the stream signs with d={}, a key of {domain}'s own that does not align with its From domain: publish adkim=r or have it sign with d={domain}",
                st.dkim
            )
        } else {
            format!(
                "the stream signs as d={}, not as {domain}: set up {} to sign it with DKIM d={domain} (a new sub-account or sending domain of the service that was not authenticated), or stop it if it is not yours",
                st.dkim, s.name
            )
        };
        if let Some(known) = s.fix.as_deref().filter(|x| !x.is_empty()) {
            fix.push_str(&format!("; {known}"));
        }
        f.blocking.push(Blocking {
            sender: format!("{} (stream {label})", s.name),
            class: s.class,
            messages: failing,
            blocks: ctx.stake.as_str().to_owned(),
            reason,
            fix,
        });
    }
}

/// The published policy that loses mail now: `p=...`, `sp=...` or both.
pub(super) fn enforced_text(ctx: &Context<'_>) -> String {
    let p = ctx.current.p();
    let sp = ctx.current.sp.as_deref().unwrap_or(p);
    match (ctx.enforcement > Enforcement::None, ctx.sub_enforcement > Enforcement::None) {
        (true, true) if sp != p => format!("p={p} (sp={sp} for subdomains)"),
        (false, true) => format!("sp={sp} (mail From subdomains)"),
        _ => format!("p={p}"),
    }
}
