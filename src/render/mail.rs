//! Mail bodies for `notify`: the alert (the events of one run) and the
//! digest (every domain's verdict, volume, pass rates, top senders, the
//! changes since the last digest, and the charts inline as CID images).
//! Each has a short plain-text part and an HTML part in the report page's
//! colours; askama escapes every value from a report.

use askama::Template;

use super::charts;
use super::format::{count, plural};
use super::page;
use super::{RenderError, file_slug};
use crate::analyse::Summary;
use crate::analyse::events::Event;
use crate::units::{format_date, percent};

/// A mail ready to send: subject, both parts and the inline images.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    /// The subject line.
    pub subject: String,
    /// The plain-text part.
    pub text: String,
    /// The HTML part.
    pub html: String,
    /// Images the HTML part shows as `cid:` URLs.
    pub images: Vec<InlineImage>,
}

/// An image shown inline by the HTML part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InlineImage {
    /// Its Content-ID, without angle brackets.
    pub cid: String,
    /// PNG bytes.
    pub png: Vec<u8>,
}

const CSS: &str = include_str!("../../templates/mail.css");
/// Senders listed per domain in the digest.
const TOP_SENDERS: usize = 5;
/// The charts a digest shows per domain (the rest are in the report page).
const DIGEST_CHARTS: [&str; 2] = ["daily", "pass-rate"];
/// Shown width of a chart in the mail, in CSS pixels (drawn at 1000).
const CHART_WIDTH: u32 = 640;

#[derive(Template)]
#[template(path = "mail-alert.html")]
struct AlertTemplate<'a> {
    subject: &'a str,
    css: &'a str,
    title: String,
    generated_at: String,
    database: &'a str,
    events: Vec<EventBlock<'a>>,
}

struct EventBlock<'a> {
    kind: &'static str,
    domain: &'a str,
    verdict: Option<&'a str>,
    badge: Option<&'a str>,
    headline: String,
    lines: Vec<String>,
    record: Option<&'a str>,
}

/// `2026-12-03 20:00 UTC`.
fn minute(ts: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(ts)
        .ok()
        .and_then(|t| {
            t.format(time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC"))
                .ok()
        })
        .unwrap_or_else(|| ts.to_string())
}

/// The plain text of `events`, as printed and as the mail's text part.
pub fn alert_text(events: &[Event], now: i64) -> String {
    let mut out = format!(
        "dmarc-report: {} at {}\n",
        plural(events.len() as u64, "event", "events"),
        minute(now)
    );
    for e in events {
        out.push_str(&format!("\n* {}\n", e.headline()));
        for line in e.details() {
            out.push_str(&format!("  {line}\n"));
        }
    }
    out
}

/// The alert mail for `events` (most important first), made at `now`;
/// `database` names where the reports are.
pub fn alert(events: &[Event], now: i64, database: &str) -> Result<Mail, RenderError> {
    let subject = crate::analyse::events::subject(events);
    let blocks = events
        .iter()
        .map(|e| {
            let (verdict, badge, record) = match e {
                Event::VerdictChanged { to, label, record, .. } => {
                    (Some(to.as_str()), Some(label.as_str()), record.as_deref())
                }
                _ => (None, None, None),
            };
            let lines = e.details().into_iter().filter(|l| !l.starts_with("publish: ")).collect();
            EventBlock {
                kind: e.kind(),
                domain: e.domain().unwrap_or_default(),
                verdict,
                badge,
                headline: e.headline(),
                lines,
                record,
            }
        })
        .collect();
    let template = AlertTemplate {
        subject: &subject,
        css: CSS,
        title: subject.strip_prefix("dmarc-report: ").unwrap_or(&subject).to_owned(),
        generated_at: minute(now),
        database,
        events: blocks,
    };
    Ok(Mail {
        text: alert_text(events, now),
        html: template.render()?,
        subject,
        images: Vec::new(),
    })
}

#[derive(Template)]
#[template(path = "mail-digest.html")]
struct DigestTemplate<'a> {
    subject: &'a str,
    css: &'a str,
    generated_at: String,
    period: String,
    domains: Vec<DigestDomain<'a>>,
    other_changes: Vec<String>,
}

struct DigestDomain<'a> {
    domain: &'a str,
    verdict_slug: &'static str,
    verdict_label: &'static str,
    sentence: &'a str,
    record: Option<&'a str>,
    window: String,
    messages: String,
    dmarc: String,
    spf: String,
    dkim: String,
    changes: Vec<String>,
    senders: Vec<DigestSender<'a>>,
    charts: Vec<DigestChart>,
}

struct DigestSender<'a> {
    name: &'a str,
    class: &'static str,
    messages: String,
    dmarc: String,
}

struct DigestChart {
    cid: String,
    summary: String,
    width: u32,
}

/// The digest of `summary` made at `now`: `changes` are the events found
/// since the last digest (at `since`, if there was one); `threshold` is the
/// pass rate authorized senders must reach (drawn in the rate chart).
pub fn digest(
    summary: &Summary,
    changes: &[Event],
    since: Option<i64>,
    now: i64,
    threshold: f64,
) -> Result<Mail, RenderError> {
    let view = page::from_summary(summary, now, threshold);
    let mut images = Vec::new();
    let mut text = format!("dmarc-report digest, {}\n", minute(now));
    let period = match since {
        Some(s) => format!("changes since the last digest on {}", minute(s)),
        None => "the first digest".to_owned(),
    };
    text.push_str(&format!("({period})\n"));
    let mut domains = Vec::new();
    for (i, d) in summary.domains.iter().enumerate() {
        let t = &d.totals.totals;
        let r = &d.readiness;
        let record = Some(r.recommended_record.as_str()).filter(|s| !s.trim().is_empty());
        let window = format!(
            "{} to {} (UTC): {} from {}",
            format_date(d.window.begin),
            format_date(d.window.end - 1),
            plural(d.totals.reports, "report", "reports"),
            plural(d.totals.reporters, "organisation", "organisations"),
        );
        let domain_changes: Vec<String> =
            changes.iter().filter(|e| e.domain() == Some(&d.domain)).map(Event::headline).collect();
        let senders: Vec<DigestSender<'_>> = d
            .senders
            .iter()
            .take(TOP_SENDERS)
            .map(|s| DigestSender {
                name: &s.name,
                class: s.class.as_str(),
                messages: count(s.totals.messages),
                dmarc: percent(s.totals.dmarc_pass, s.totals.messages),
            })
            .collect();

        text.push_str(&format!(
            "\n{}: {}\n  {}\n  {}\n  {} messages, DMARC pass {}, SPF aligned {}, DKIM aligned {}\n",
            d.domain,
            r.verdict.label(),
            r.sentence,
            window,
            count(t.messages),
            percent(t.dmarc_pass, t.messages),
            percent(t.spf_aligned_pass, t.messages),
            percent(t.dkim_aligned_pass, t.messages),
        ));
        if let Some(rec) = record {
            text.push_str(&format!("  publish next: {rec}\n"));
        }
        if !domain_changes.is_empty() {
            text.push_str("  since the last digest:\n");
            for c in &domain_changes {
                text.push_str(&format!("    - {c}\n"));
            }
        }
        if !senders.is_empty() {
            text.push_str("  top senders:\n");
            for s in &senders {
                text.push_str(&format!(
                    "    {} ({}): {} messages, {} pass DMARC\n",
                    s.name, s.class, s.messages, s.dmarc
                ));
            }
        }

        let mut figures = Vec::new();
        if let Some(dv) = view.domains.get(i) {
            let (drawn, _notes) = charts::domain_charts(dv).map_err(|e| RenderError::Chart {
                domain: d.domain.clone(),
                chart: e.slug,
                message: e.message,
            })?;
            for c in drawn.into_iter().filter(|c| DIGEST_CHARTS.contains(&c.slug)) {
                let cid = format!("{:02}-{}-{}@dmarc-report", i + 1, file_slug(&d.domain), c.slug);
                images.push(InlineImage { cid: cid.clone(), png: c.png });
                figures.push(DigestChart { cid, summary: c.summary, width: CHART_WIDTH });
            }
        }
        domains.push(DigestDomain {
            domain: &d.domain,
            verdict_slug: r.verdict.as_str(),
            verdict_label: r.verdict.label(),
            sentence: &r.sentence,
            record,
            window,
            messages: count(t.messages),
            dmarc: percent(t.dmarc_pass, t.messages),
            spf: percent(t.spf_aligned_pass, t.messages),
            dkim: percent(t.dkim_aligned_pass, t.messages),
            changes: domain_changes,
            senders,
            charts: figures,
        });
    }
    let other_changes: Vec<String> = changes
        .iter()
        .filter(|e| e.domain().is_none_or(|d| !summary.domains.iter().any(|s| s.domain == d)))
        .map(Event::headline)
        .collect();
    if !other_changes.is_empty() {
        text.push_str("\nOther changes since the last digest:\n");
        for c in &other_changes {
            text.push_str(&format!("  - {c}\n"));
        }
    }
    let subject = digest_subject(summary);
    let template = DigestTemplate {
        subject: &subject,
        css: CSS,
        generated_at: minute(now),
        period,
        domains,
        other_changes,
    };
    Ok(Mail { html: template.render()?, text, subject, images })
}

/// `DMARC digest: example.com ready for quarantine, example.org not ready`.
fn digest_subject(summary: &Summary) -> String {
    let parts: Vec<String> = summary
        .domains
        .iter()
        .take(3)
        .map(|d| format!("{} {}", d.domain, d.readiness.verdict.label().to_lowercase()))
        .collect();
    let more = summary.domains.len().saturating_sub(parts.len());
    match (parts.is_empty(), more) {
        (true, _) => "DMARC digest: no reports yet".to_owned(),
        (false, 0) => format!("DMARC digest: {}", parts.join(", ")),
        (false, n) => format!("DMARC digest: {} (+{n} more)", parts.join(", ")),
    }
}
