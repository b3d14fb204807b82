//! Fills the report's view model ([`super::view`]) from a summary: per-day
//! rows by class, senders, the verdict and its what-if. No database access
//! and no per-record work: it folds the per-source daily totals the
//! summary already holds.

use std::collections::BTreeMap;

use time::{Date, OffsetDateTime};

use super::view::{
    BlockingView, DateRange, DayView, DomainView, LiveCheckView, LiveFindingView, ReportPage,
    ReporterView, SenderView, WhatIfView,
};
use crate::analyse::classify::SenderClass as Class;
use crate::analyse::{DomainSummary, Summary};
use crate::units::{DAY, last_second, plural};

fn date(ts: i64) -> Date {
    OffsetDateTime::from_unix_timestamp(ts).map(|t| t.date()).unwrap_or(Date::MIN)
}

/// The page for `summary`, made at `now` (Unix seconds); `threshold` is the
/// pass rate authorized senders must reach.
pub fn from_summary(summary: &Summary, now: i64, threshold: f64) -> ReportPage {
    let generated_at = OffsetDateTime::from_unix_timestamp(now)
        .ok()
        .and_then(|t| {
            t.format(time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC"))
                .ok()
        })
        .unwrap_or_default();
    ReportPage {
        generated_at,
        domains: summary.domains.iter().map(|d| domain(d, threshold)).collect(),
    }
}

fn domain(d: &DomainSummary, threshold: f64) -> DomainView {
    let t = &d.totals;
    let r = &d.readiness;
    let first = d.window.begin.div_euclid(DAY) * DAY;
    let last = (d.window.end - 1).div_euclid(DAY) * DAY;

    // One row per day of the window, the sources folded in by class.
    let mut days: BTreeMap<i64, DayView> = BTreeMap::new();
    let mut day = first;
    while day <= last && days.len() < 3_660 {
        days.insert(day, DayView::empty(date(day)));
        day += DAY;
    }
    for s in &d.senders {
        for dt in &s.daily {
            let Some(v) = days.get_mut(&dt.day) else { continue };
            v.pass = v.pass.saturating_add(dt.totals.dmarc_pass);
            v.add(s.class, dt.totals.messages);
            // The pass rate is that of the authorized senders alone, as in
            // the summary: a misconfigured service is its own class.
            if s.class == Class::Authorized {
                v.authorized_messages = v.authorized_messages.saturating_add(dt.totals.messages);
                v.authorized_pass = v.authorized_pass.saturating_add(dt.totals.dmarc_pass);
            }
            v.disposition_none = v.disposition_none.saturating_add(dt.disposition[0]);
            v.disposition_quarantine = v.disposition_quarantine.saturating_add(dt.disposition[1]);
            v.disposition_reject = v.disposition_reject.saturating_add(dt.disposition[2]);
        }
    }

    let mut reporters: Vec<ReporterView> = t
        .reporting_orgs
        .iter()
        .map(|o| ReporterView { org: o.org_name.clone(), reports: o.reports, messages: o.messages })
        .collect();
    reporters.sort_by(|a, b| b.messages.cmp(&a.messages).then_with(|| a.org.cmp(&b.org)));

    let current = &d.policy.current.record();
    let recommended = r.recommended_record.split("; rua=").next().unwrap_or_default();
    let w = &r.what_if;
    let mut reasons = r.reasons.clone();
    reasons.extend(r.advice.iter().cloned());
    // The live records, as the newest `check` found them.
    let live_check = d.record_check.as_ref().map(|check| LiveCheckView {
        checked_at: crate::analyse::format_rfc3339(check.checked_at),
        findings: check
            .findings
            .iter()
            .map(|f| LiveFindingView {
                severity: f.severity.clone(),
                record: f.record.clone(),
                code: f.code.clone(),
                message: f.message.clone(),
                fix: f.fix.clone(),
            })
            .collect(),
    });
    if w.unclassified_affected > 0 {
        reasons.push(format!(
            "{} of unclassified senders would also fail under p={}",
            plural(w.unclassified_affected, "message", "messages"),
            w.policy
        ));
    }
    DomainView {
        domain: d.domain.clone(),
        verdict: r.verdict,
        // The page shows "domain: sentence"; the sentence names the domain
        // first, so that part is dropped here.
        // ("example.com: too little data ..."; "example.com is not ready ..."
        // reads "example.com: not ready ...").
        verdict_sentence: r
            .sentence
            .strip_prefix(d.domain.as_str())
            .map(|rest| {
                let rest = rest.trim_start_matches(':').trim_start();
                rest.strip_prefix("is ").unwrap_or(rest).to_owned()
            })
            .unwrap_or_else(|| r.sentence.clone()),
        reasons,
        live_check,
        published_policy: current.clone(),
        recommended_record: (recommended != current.as_str()).then(|| r.recommended_record.clone()),
        blocking: r
            .blocking
            .iter()
            .map(|b| BlockingView {
                sender: b.sender.clone(),
                messages: b.messages,
                fix: if b.fix.is_empty() { b.reason.clone() } else { b.fix.clone() },
            })
            .collect(),
        what_if: vec![WhatIfView {
            policy: format!("p={}", w.policy),
            legitimate_affected: w.authorized_affected,
            forwarded_affected: w.forwarded_affected,
            unauthorized_stopped: w.unauthorized_stopped,
            legitimate_at_risk: w.authorized_at_risk,
            total_messages: t.totals.messages,
        }],
        window: Some(DateRange { first: date(first), last: date(last) }),
        reports: t.reports,
        stale_warning: d.stale.clone(),
        reporters,
        days: days.into_values().collect(),
        senders: d
            .senders
            .iter()
            .map(|s| SenderView {
                name: s.name.clone(),
                class: s.class,
                messages: s.totals.messages,
                dmarc_pass: s.totals.dmarc_pass,
                spf_aligned_pass: s.totals.spf_aligned_pass,
                dkim_aligned_pass: s.totals.dkim_aligned_pass,
                first_seen: date(s.first_seen),
                last_seen: date(last_second(s.first_seen, s.last_seen)),
                explanation: s.explanation.clone(),
                sources: s.ips.clone(),
            })
            .collect(),
        threshold,
    }
}
