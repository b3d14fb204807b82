//! The view model: plain owned data the report is drawn from.
//!
//! Nothing here depends on how the numbers were found. The analysis maps its
//! results to these types; the renderer never reads the database. Every
//! string may come from a reporter (domains, organisation names, sender
//! names, IP addresses) and is escaped where it is written.

use time::Date;

/// Everything one run of `report` shows.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportPage {
    /// When the report was made, as shown (`2026-11-22 20:15 UTC`).
    pub generated_at: String,
    /// The domains, in the order they are shown.
    pub domains: Vec<DomainView>,
}

/// A range of whole UTC days, both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateRange {
    /// The first day.
    pub first: Date,
    /// The last day.
    pub last: Date,
}

impl DateRange {
    /// Days in the range (at least 1, even when `last` is before `first`).
    pub fn days(&self) -> i64 {
        ((self.last - self.first).whole_days() + 1).max(1)
    }
}

// The verdict and the sender classes are the analysis's own types: one
// definition, so the page cannot drift from what `summary` says.
pub use crate::analyse::classify::SenderClass;
pub use crate::analyse::verdict::Verdict as VerdictKind;

/// A sender that blocks the next policy step, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockingView {
    /// The sender (`Mailchimp`, or an IP address).
    pub sender: String,
    /// Its messages that would be lost in the window.
    pub messages: u64,
    /// The fix, one sentence.
    pub fix: String,
}

/// What one stricter policy would have done to the window's mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WhatIfView {
    /// The policy (`p=quarantine`).
    pub policy: String,
    /// Messages from authorized senders that would have been quarantined or rejected.
    pub legitimate_affected: u64,
    /// Forwarded messages that would have been affected.
    pub forwarded_affected: u64,
    /// Messages from unauthorized sources that would have been stopped.
    pub unauthorized_stopped: u64,
    /// For reject: messages of blocking legitimate senders that pass by SPF
    /// alone, which forwarding would turn into losses.
    pub legitimate_at_risk: u64,
    /// All messages in the window.
    pub total_messages: u64,
}

/// The newest `dmarc-report check` of a domain's live records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveCheckView {
    /// When it ran (RFC 3339, UTC).
    pub checked_at: String,
    /// Its findings, as found.
    pub findings: Vec<LiveFindingView>,
}

/// One finding of `check`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveFindingView {
    /// `error`, `warning` or `info`.
    pub severity: String,
    /// `dmarc`, `spf`, `dkim` or `mx`.
    pub record: String,
    /// The stable code (`spf-permissive-all`).
    pub code: String,
    /// What was found.
    pub message: String,
    /// What to do.
    pub fix: String,
}

/// One reporting organisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReporterView {
    /// `org_name` as the reporter sent it.
    pub org: String,
    /// Reports in the window.
    pub reports: u64,
    /// Messages those reports cover.
    pub messages: u64,
}

/// One UTC day of one domain: its messages by sender class (the classes of
/// `summary` and of the page's tables), how many passed DMARC, and what
/// receivers did with them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayView {
    /// The UTC day.
    pub date: Date,
    /// Messages per sender class, in the order of [`SenderClass::ALL`].
    pub by_class: [u64; 5],
    /// Messages passing DMARC (all classes).
    pub pass: u64,
    /// Messages from authorized senders (the pass rate's denominator).
    pub authorized_messages: u64,
    /// Of those, messages passing DMARC.
    pub authorized_pass: u64,
    /// Messages receivers delivered normally (disposition `none`).
    pub disposition_none: u64,
    /// Messages receivers quarantined.
    pub disposition_quarantine: u64,
    /// Messages receivers rejected.
    pub disposition_reject: u64,
}

impl DayView {
    /// A day with no messages.
    pub fn empty(date: Date) -> Self {
        Self {
            date,
            by_class: [0; 5],
            pass: 0,
            authorized_messages: 0,
            authorized_pass: 0,
            disposition_none: 0,
            disposition_quarantine: 0,
            disposition_reject: 0,
        }
    }

    /// All messages of the day (every class).
    pub fn messages(&self) -> u64 {
        self.by_class.iter().fold(0u64, |sum, n| sum.saturating_add(*n))
    }

    /// Adds `n` messages of `class`.
    pub fn add(&mut self, class: SenderClass, n: u64) {
        let i = SenderClass::ALL.iter().position(|c| *c == class).unwrap_or(0);
        self.by_class[i] = self.by_class[i].saturating_add(n);
    }
}

/// One sender (a service, or a source address nobody could name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SenderView {
    /// Its name (`Google Workspace`, `203.0.113.9`).
    pub name: String,
    /// What it is to the domain.
    pub class: SenderClass,
    /// Messages in the window.
    pub messages: u64,
    /// Messages passing DMARC.
    pub dmarc_pass: u64,
    /// Messages with aligned SPF pass.
    pub spf_aligned_pass: u64,
    /// Messages with aligned DKIM pass.
    pub dkim_aligned_pass: u64,
    /// First day it was seen.
    pub first_seen: Date,
    /// Last day it was seen.
    pub last_seen: Date,
    /// Why it is in its class, one sentence.
    pub explanation: String,
    /// Its source addresses, most messages first (the page shows a few).
    pub sources: Vec<String>,
}

/// One policy domain.
#[derive(Debug, Clone, PartialEq)]
pub struct DomainView {
    /// The policy domain.
    pub domain: String,
    /// The verdict, which picks the page's colour and wording.
    pub verdict: VerdictKind,
    /// The verdict in one sentence.
    pub verdict_sentence: String,
    /// The reasons behind it, one sentence each.
    pub reasons: Vec<String>,
    /// The newest `dmarc-report check` of the live records: when, and
    /// its findings.
    pub live_check: Option<LiveCheckView>,
    /// The DMARC policy published now, as reported (`p=none; pct=100`).
    pub published_policy: String,
    /// The next DMARC record to publish, ready to copy; `None` when there is
    /// nothing to change.
    pub recommended_record: Option<String>,
    /// Senders that block the next step.
    pub blocking: Vec<BlockingView>,
    /// What stricter policies would have done.
    pub what_if: Vec<WhatIfView>,
    /// The data window; `None` when there are no reports at all.
    pub window: Option<DateRange>,
    /// Reports in the window.
    pub reports: u64,
    /// A warning that the newest data is old, when it is.
    pub stale_warning: Option<String>,
    /// The reporting organisations, most messages first.
    pub reporters: Vec<ReporterView>,
    /// One entry per day of the window (days without reports may be left out).
    pub days: Vec<DayView>,
    /// The senders, most messages first.
    pub senders: Vec<SenderView>,
    /// The pass rate authorized senders must reach, from 0 to 1 (`0.98`).
    pub threshold: f64,
}

impl DomainView {
    /// All messages in the window, from the senders.
    pub fn messages(&self) -> u64 {
        self.senders.iter().fold(0u64, |sum, s| sum.saturating_add(s.messages))
    }
}
