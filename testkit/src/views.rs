//! View models for the render tests and benchmark: a realistic not-ready
//! domain, a ready one, an empty window, a one-day window and a hostile
//! one. Built in code, deterministic (a seeded [`Rng`]).

use dmarc_report::render::{
    BlockingView, DateRange, DayView, DomainView, ReportPage, ReporterView, SenderClass,
    SenderView, VerdictKind, WhatIfView,
};
use time::macros::date;
use time::{Date, Duration};

use crate::Rng;

/// The hostile string planted everywhere a reporter controls text.
pub const HOSTILE: &str = "<script>alert(1)</script>\"&<>'";

/// The dates from `first`, `days` long.
pub fn window(first: Date, days: i64) -> DateRange {
    DateRange { first, last: first + Duration::days(days - 1) }
}

fn sender(
    name: &str,
    class: SenderClass,
    [messages, dkim, spf, pass]: [u64; 4],
    range: DateRange,
    explanation: &str,
    sources: &[&str],
) -> SenderView {
    SenderView {
        name: name.to_owned(),
        class,
        messages,
        dmarc_pass: pass,
        spf_aligned_pass: spf,
        dkim_aligned_pass: dkim,
        first_seen: range.first,
        last_seen: range.last,
        explanation: explanation.to_owned(),
        sources: sources.iter().map(|s| (*s).to_owned()).collect(),
    }
}

/// Days of a window with `per_day` messages, split like `senders` say.
fn days(
    range: DateRange,
    per_day: u64,
    fail_auth: f64,
    fail_unauth: f64,
    fwd: f64,
    seed: u64,
    skip: Option<i64>,
) -> Vec<DayView> {
    let mut rng = Rng::seeded(seed);
    (0..range.days())
        .filter(|i| Some(*i) != skip)
        .map(|i| {
            let date = range.first + Duration::days(i);
            // Weekends are quieter.
            let weekend = matches!(date.weekday(), time::Weekday::Saturday | time::Weekday::Sunday);
            let base = if weekend { per_day / 3 } else { per_day };
            let total = base + rng.below(base / 5 + 1);
            let jitter = |x: f64, r: &mut Rng| x * (0.5 + r.below(100) as f64 / 100.0);
            let failing_authorized = (total as f64 * jitter(fail_auth, &mut rng)) as u64;
            let failing_unauthorized = (total as f64 * jitter(fail_unauth, &mut rng)) as u64;
            let forwarded = (total as f64 * jitter(fwd, &mut rng)) as u64;
            let pass = total - failing_authorized - failing_unauthorized - forwarded;
            let quarantine = failing_unauthorized / 3;
            let reject = failing_unauthorized / 5;
            // Classes in the order of `SenderClass::ALL`: authorized,
            // misconfigured, forwarder, unclassified, unauthorized.
            DayView {
                date,
                by_class: [pass + failing_authorized, 0, forwarded, 0, failing_unauthorized],
                pass,
                authorized_messages: pass + failing_authorized,
                authorized_pass: pass,
                disposition_none: total - quarantine - reject,
                disposition_quarantine: quarantine,
                disposition_reject: reject,
            }
        })
        .collect()
}

/// example.org: 30 days, an ESP that signs with its own domain, not ready.
pub fn not_ready() -> DomainView {
    let range = window(date!(2026 - 10 - 20), 30);
    let mut senders = vec![
        sender(
            "Google Workspace",
            SenderClass::Authorized,
            [41_230, 41_100, 40_950, 41_180],
            range,
            "Aligned DKIM (d=example.org) and SPF pass from Google's ranges.",
            &["209.85.220.41", "209.85.220.69", "209.85.128.10", "209.85.128.11"],
        ),
        sender(
            "Mailchimp",
            SenderClass::Misconfigured,
            [12_480, 0, 0, 0],
            range,
            "Sends as example.org but signs with d=mcsv.net and uses its own envelope-from: neither aligns.",
            &["198.2.128.4", "198.2.177.12"],
        ),
        sender(
            "Salesforce",
            SenderClass::Authorized,
            [6_020, 0, 5_980, 5_980],
            range,
            "SPF aligned through include:_spf.salesforce.com; no DKIM for example.org yet.",
            &["13.110.208.5"],
        ),
        sender(
            "lists.debian.org",
            SenderClass::Forwarder,
            [2_140, 310, 0, 310],
            range,
            "A mailing list: the receivers reported mailing_list; original DKIM broken by footers.",
            &["82.195.75.100"],
        ),
        sender(
            "Zendesk",
            SenderClass::Authorized,
            [1_960, 1_955, 0, 1_955],
            range,
            "Aligned DKIM with d=example.org (zendesk1._domainkey).",
            &["192.161.151.1"],
        ),
        sender(
            "203.0.113.77",
            SenderClass::Unauthorized,
            [1_210, 0, 0, 0],
            range,
            "No passing DKIM or SPF for example.org, not a known service, no forwarding reason.",
            &["203.0.113.77"],
        ),
        sender(
            "SendGrid",
            SenderClass::Misconfigured,
            [820, 0, 810, 0],
            range,
            "SPF passes for sendgrid.net, which is not aligned with example.org.",
            &["167.89.0.1"],
        ),
        sender(
            "Microsoft 365 (forwarding)",
            SenderClass::Forwarder,
            [540, 120, 0, 120],
            range,
            "Forwarded by Exchange Online tenants (reason forwarded).",
            &["40.107.0.1"],
        ),
        sender(
            "198.51.100.23",
            SenderClass::Unclassified,
            [210, 0, 0, 0],
            range,
            "Too few messages to tell.",
            &["198.51.100.23"],
        ),
    ];
    for i in 0..14u64 {
        let ip = format!("192.0.2.{}", 10 + i);
        senders.push(sender(
            &ip,
            SenderClass::Unauthorized,
            [40 - 2 * i, 0, 0, 0],
            range,
            "No passing DKIM or SPF for example.org.",
            &[&ip],
        ));
    }
    DomainView {
        domain: "example.org".to_owned(),
        verdict: VerdictKind::NotReady,
        verdict_sentence: "not ready for p=quarantine: 13,300 legitimate messages (19.6%) from Mailchimp and SendGrid would be lost.".to_owned(),
        reasons: vec![
            "Authorized senders passed DMARC on 0 of 30 days at the 98% threshold.".to_owned(),
            "Mailchimp and SendGrid send as example.org without aligned DKIM.".to_owned(),
        ],
        live_check: None,
        published_policy: "v=DMARC1; p=none; rua=mailto:dmarc@example.org".to_owned(),
        recommended_record: Some("v=DMARC1; p=none; rua=mailto:dmarc@example.org; fo=1".to_owned()),
        blocking: vec![
            BlockingView { sender: "Mailchimp".to_owned(), messages: 12_480, fix: "Set up a custom DKIM domain in Mailchimp (Domains > Authenticate) so it signs with d=example.org.".to_owned() },
            BlockingView { sender: "SendGrid".to_owned(), messages: 820, fix: "Authenticate example.org in SendGrid (Sender Authentication > Domain) to get aligned DKIM.".to_owned() },
        ],
        what_if: vec![
            WhatIfView { policy: "p=quarantine".to_owned(), legitimate_affected: 13_300, forwarded_affected: 2_250, unauthorized_stopped: 1_874, legitimate_at_risk: 0, total_messages: 67_070 },
            WhatIfView { policy: "p=reject".to_owned(), legitimate_affected: 13_300, forwarded_affected: 2_250, unauthorized_stopped: 1_874, legitimate_at_risk: 0, total_messages: 67_070 },
        ],
        window: Some(range),
        reports: 116,
        stale_warning: None,
        reporters: vec![
            ReporterView { org: "google.com".to_owned(), reports: 30, messages: 28_044 },
            ReporterView { org: "Enterprise Outlook".to_owned(), reports: 30, messages: 19_695 },
            ReporterView { org: "Yahoo".to_owned(), reports: 15, messages: 2_997 },
            ReporterView { org: "Fastmail Pty Ltd".to_owned(), reports: 15, messages: 751 },
            ReporterView { org: "Example Receiver".to_owned(), reports: 5, messages: 504 },
            ReporterView { org: "kddi.com".to_owned(), reports: 1, messages: 54 },
            ReporterView { org: "retail-partner.example".to_owned(), reports: 1, messages: 35 },
        ],
        days: days(range, 2600, 0.19, 0.03, 0.035, 7, Some(17)),
        senders,
        threshold: 0.98,
    }
}

/// example.com: 30 days, clean, ready for reject, with a stale warning.
pub fn ready() -> DomainView {
    let range = window(date!(2026 - 10 - 20), 30);
    DomainView {
        domain: "example.com".to_owned(),
        verdict: VerdictKind::ReadyForReject,
        verdict_sentence: "ready for p=reject: every authorized sender passed DMARC on 30 of 30 days.".to_owned(),
        reasons: vec!["All 4 authorized senders pass with aligned DKIM.".to_owned()],
        live_check: None,
        published_policy: "v=DMARC1; p=quarantine; rua=mailto:dmarc@example.com".to_owned(),
        recommended_record: Some("v=DMARC1; p=reject; rua=mailto:dmarc@example.com".to_owned()),
        blocking: Vec::new(),
        what_if: vec![WhatIfView { policy: "p=reject".to_owned(), legitimate_affected: 0, forwarded_affected: 310, unauthorized_stopped: 2_904, legitimate_at_risk: 0, total_messages: 70_500 }],
        window: Some(range),
        reports: 107,
        stale_warning: Some("the newest report ends on 2026-11-19, 3 days before this report was made; check that reports still arrive.".to_owned()),
        reporters: vec![
            ReporterView { org: "google.com".to_owned(), reports: 30, messages: 38_120 },
            ReporterView { org: "Outlook.com".to_owned(), reports: 30, messages: 22_010 },
            ReporterView { org: "Yahoo".to_owned(), reports: 30, messages: 8_717 },
        ],
        days: days(range, 2400, 0.0, 0.04, 0.004, 11, None),
        senders: vec![
            sender("Google Workspace", SenderClass::Authorized, [60_000, 59_990, 59_000, 59_990], range, "Aligned DKIM and SPF.", &["209.85.220.41"]),
            sender("Amazon SES", SenderClass::Authorized, [7_200, 7_200, 7_100, 7_200], range, "Aligned DKIM with d=example.com.", &["54.240.0.1"]),
            sender("Forwarders", SenderClass::Forwarder, [310, 120, 0, 120], range, "Reason forwarded.", &[]),
            sender("203.0.113.5", SenderClass::Unauthorized, [2_904, 0, 0, 0], range, "Spoofing.", &["203.0.113.5"]),
        ],
        threshold: 0.98,
    }
}

/// A domain with no messages in its window.
pub fn empty() -> DomainView {
    DomainView {
        domain: "quiet.example".to_owned(),
        verdict: VerdictKind::InsufficientData,
        verdict_sentence: "no reports in the window: nothing to judge yet.".to_owned(),
        reasons: Vec::new(),
        live_check: None,
        published_policy: "unknown".to_owned(),
        recommended_record: None,
        blocking: Vec::new(),
        what_if: Vec::new(),
        window: Some(window(date!(2026 - 10 - 20), 30)),
        reports: 0,
        stale_warning: None,
        reporters: Vec::new(),
        days: Vec::new(),
        senders: Vec::new(),
        threshold: 0.98,
    }
}

/// A domain with a single day of reports.
pub fn one_day() -> DomainView {
    let range = window(date!(2026 - 11 - 18), 1);
    DomainView {
        domain: "new.example".to_owned(),
        verdict: VerdictKind::InsufficientData,
        verdict_sentence: "one day of reports is too little: wait for at least 14 days.".to_owned(),
        reasons: Vec::new(),
        live_check: None,
        published_policy: "v=DMARC1; p=none".to_owned(),
        recommended_record: None,
        blocking: Vec::new(),
        what_if: Vec::new(),
        window: Some(range),
        reports: 2,
        stale_warning: None,
        reporters: vec![ReporterView { org: "google.com".to_owned(), reports: 1, messages: 120 }],
        days: days(range, 120, 0.0, 0.05, 0.0, 3, None),
        senders: vec![sender(
            "Google Workspace",
            SenderClass::Authorized,
            [120, 114, 114, 114],
            range,
            "Aligned DKIM.",
            &["209.85.220.41"],
        )],
        threshold: 0.98,
    }
}

/// Every reporter-controlled string is [`HOSTILE`].
pub fn hostile() -> DomainView {
    let mut d = not_ready();
    let evil = |s: &str| format!("{s}{HOSTILE}");
    d.domain = evil("evil.example");
    d.verdict_sentence = evil("not ready because of ");
    d.reasons = vec![evil("reason ")];
    d.published_policy = evil("v=DMARC1; p=none; rua=mailto:");
    d.recommended_record = Some(evil("v=DMARC1; p=quarantine; rua=mailto:"));
    d.stale_warning = Some(evil("stale "));
    for b in &mut d.blocking {
        b.sender = evil(&b.sender);
        b.fix = evil(&b.fix);
    }
    for w in &mut d.what_if {
        w.policy = evil(&w.policy);
    }
    for r in &mut d.reporters {
        r.org = evil(&r.org);
    }
    for s in &mut d.senders {
        s.name = evil(&s.name);
        s.explanation = evil(&s.explanation);
        s.sources = s.sources.iter().map(|ip| evil(ip)).collect();
    }
    d
}

/// A page of the given domains.
pub fn page(domains: Vec<DomainView>) -> ReportPage {
    ReportPage { generated_at: "2026-11-22 20:15 UTC".to_owned(), domains }
}
