//! The `summary` command's output: a table for people (fits 100 columns,
//! coloured when asked), JSON for programs, CSV of the per-source rows.

use std::io::{self, Write};

use std::collections::BTreeMap;

use anstyle::{AnsiColor, Style};
use serde::Serialize;

use crate::analyse::classify::{Sender, SenderClass};
use crate::analyse::policy::{Enforcement, PolicyHistory, PublishedPolicy};
use crate::analyse::summary::{Reporter, SourceRow, Totals, Window};
use crate::analyse::verdict::{Readiness, Verdict};
use crate::analyse::{DomainSummary, Summary, format_rfc3339};
use crate::store::StoredFinding;
use crate::units::{DAY, count, format_date, last_second, percent};

/// Width of the table output.
pub const WIDTH: usize = 100;

/// Reads every source of a domain again, in address order, to `visit`
/// (which answers `false` to stop): the JSON and CSV output list every
/// source without holding them all.
pub type SourceFeed<'a> =
    dyn Fn(&DomainSummary, &mut dyn FnMut(&SourceRow) -> bool) -> io::Result<()> + 'a;

/// Writes the summary as one pretty JSON object, each domain's sources as
/// `feed` reads them.
pub fn write_json(summary: &Summary, feed: &SourceFeed<'_>, out: &mut dyn Write) -> io::Result<()> {
    let shape = SummaryOut {
        window: summary.window.map(WindowOut::from),
        domains: summary.domains.iter().map(|d| DomainOut::new(d, feed)).collect(),
    };
    serde_json::to_writer_pretty(&mut *out, &shape)?;
    out.write_all(b"\n")
}

/// The whole summary as `summary --format json` prints it.
#[derive(Serialize)]
struct SummaryOut<'a> {
    /// The span of all domains' windows.
    window: Option<WindowOut>,
    /// One section per domain.
    domains: Vec<DomainOut<'a>>,
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

/// One domain as the JSON output shows it.
#[derive(Serialize)]
struct DomainOut<'a> {
    domain: &'a str,
    window: WindowOut,
    #[serde(skip_serializing_if = "Option::is_none")]
    stale: &'a Option<String>,
    reports: u64,
    reporters: u64,
    reporting_orgs: &'a [Reporter],
    #[serde(serialize_with = "rfc3339_opt")]
    newest_report_end: Option<i64>,
    days_covered: u64,
    #[serde(flatten)]
    totals: &'a Totals,
    disposition: &'a BTreeMap<String, u64>,
    subdomains: &'a BTreeMap<String, Totals>,
    /// Every source, in address order.
    sources: SourcesOut<'a>,
    published_policy: PublishedPolicyOut,
    senders: &'a [Sender],
    readiness: &'a Readiness,
    #[serde(skip_serializing_if = "Option::is_none")]
    record_check: Option<RecordCheckOut<'a>>,
}

impl<'a> DomainOut<'a> {
    fn new(d: &'a DomainSummary, feed: &'a SourceFeed<'a>) -> DomainOut<'a> {
        let t = &d.totals;
        DomainOut {
            domain: &d.domain,
            window: d.window.into(),
            stale: &d.stale,
            reports: t.reports,
            reporters: t.reporters,
            reporting_orgs: &t.reporting_orgs,
            newest_report_end: t.newest_report_end,
            days_covered: t.days_covered,
            totals: &t.totals,
            disposition: &t.disposition,
            subdomains: &t.subdomains,
            sources: SourcesOut { domain: d, feed },
            published_policy: (&d.policy).into(),
            senders: &d.senders,
            readiness: &d.readiness,
            record_check: d
                .record_check
                .as_ref()
                .map(|c| RecordCheckOut { checked_at: c.checked_at, findings: &c.findings }),
        }
    }
}

/// A domain's sources, serialised as they are read.
struct SourcesOut<'a> {
    domain: &'a DomainSummary,
    feed: &'a SourceFeed<'a>,
}

impl Serialize for SourcesOut<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{Error, SerializeSeq};
        let mut seq = s.serialize_seq(None)?;
        let mut failed = None;
        let read = (self.feed)(self.domain, &mut |row| match seq.serialize_element(row) {
            Ok(()) => true,
            Err(e) => {
                failed = Some(e);
                false
            }
        });
        if let Some(e) = failed {
            return Err(e);
        }
        read.map_err(S::Error::custom)?;
        seq.end()
    }
}

/// The newest `check` of a domain's live records, for output.
#[derive(Serialize)]
struct RecordCheckOut<'a> {
    /// When it ran.
    #[serde(serialize_with = "rfc3339")]
    checked_at: i64,
    /// Its findings, worst first.
    findings: &'a [StoredFinding],
}

/// The published policy for output.
#[derive(Debug, Clone, Serialize)]
pub struct PublishedPolicyOut {
    /// The policy's tags (`p`, `sp`, `adkim`, ...) as the newest report saw them.
    #[serde(flatten)]
    pub policy: PublishedPolicy,
    /// The record as a TXT value (without rua/ruf, which reports omit).
    pub record: String,
    /// How strict the policy is in effect (`p` with `pct` and `t` applied).
    pub enforcement: Enforcement,
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

fn rfc3339<S: serde::Serializer>(ts: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_rfc3339(*ts))
}

fn rfc3339_opt<S: serde::Serializer>(ts: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
    match ts {
        Some(ts) => s.serialize_str(&format_rfc3339(*ts)),
        None => s.serialize_none(),
    }
}

fn date<S: serde::Serializer>(ts: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_date(*ts))
}

#[derive(Serialize)]
struct CsvRow<'a> {
    domain: &'a str,
    ip: &'a str,
    reverse_dns: &'a str,
    sender: &'a str,
    class: &'a str,
    messages: u64,
    dmarc_pass: u64,
    spf_aligned_pass: u64,
    dkim_aligned_pass: u64,
    first_seen: String,
    last_seen: String,
    dkim_domains: String,
    spf_domains: String,
    reasons: String,
    identified_by: &'a str,
}

/// Writes one CSV row per source and domain (in address order, as `feed`
/// reads them), with a header.
pub fn write_csv(summary: &Summary, feed: &SourceFeed<'_>, out: &mut dyn Write) -> io::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    let mut wrote = false;
    for d in &summary.domains {
        let mut failed = None;
        feed(d, &mut |s| {
            let row = CsvRow {
                domain: &d.domain,
                ip: &s.ip,
                reverse_dns: s.rdns.as_deref().unwrap_or_default(),
                sender: &s.sender,
                class: s.class.as_str(),
                messages: s.totals.messages,
                dmarc_pass: s.totals.dmarc_pass,
                spf_aligned_pass: s.totals.spf_aligned_pass,
                dkim_aligned_pass: s.totals.dkim_aligned_pass,
                first_seen: format_date(s.first_seen),
                last_seen: format_date(last_second(s.first_seen, s.last_seen)),
                dkim_domains: s.dkim_domains.join(" "),
                spf_domains: s.spf_domains.join(" "),
                reasons: s.reasons.join(" "),
                identified_by: s.identified_by.as_deref().unwrap_or_default(),
            };
            match w.serialize(row) {
                Ok(()) => {
                    wrote = true;
                    true
                }
                Err(e) => {
                    failed = Some(e);
                    false
                }
            }
        })?;
        if let Some(e) = failed {
            return Err(io::Error::other(e));
        }
    }
    if !wrote {
        // The header alone, so that an empty result is still valid CSV.
        w.write_record([
            "domain",
            "ip",
            "reverse_dns",
            "sender",
            "class",
            "messages",
            "dmarc_pass",
            "spf_aligned_pass",
            "dkim_aligned_pass",
            "first_seen",
            "last_seen",
            "dkim_domains",
            "spf_domains",
            "reasons",
            "identified_by",
        ])
        .map_err(io::Error::other)?;
    }
    w.flush()
}

/// The styles of the table; all plain when colour is off.
struct Styles {
    on: bool,
}

impl Styles {
    fn paint(&self, style: Style, text: &str) -> String {
        if self.on { format!("{style}{text}{style:#}") } else { text.to_owned() }
    }
    fn bold(&self, text: &str) -> String {
        self.paint(Style::new().bold(), text)
    }
    fn dim(&self, text: &str) -> String {
        self.paint(Style::new().dimmed(), text)
    }
    fn verdict(&self, v: Verdict) -> String {
        let colour = match v {
            Verdict::InsufficientData => AnsiColor::Yellow,
            Verdict::NotReady => AnsiColor::Red,
            Verdict::ReadyForQuarantine | Verdict::ReadyForReject | Verdict::Enforced => {
                AnsiColor::Green
            }
        };
        self.paint(Style::new().bold().fg_color(Some(colour.into())), &v.as_str().to_uppercase())
    }
    fn class(&self, c: SenderClass, width: usize) -> String {
        let colour = match c {
            SenderClass::Authorized => AnsiColor::Green,
            SenderClass::Misconfigured => AnsiColor::Red,
            SenderClass::Forwarder => AnsiColor::Blue,
            SenderClass::Unclassified => AnsiColor::Yellow,
            SenderClass::Unauthorized => AnsiColor::Magenta,
        };
        self.paint(Style::new().fg_color(Some(colour.into())), &format!("{:<width$}", c.as_str()))
    }
}

/// Wraps `text` to `width` columns, each line after the first indented by
/// `indent` spaces.
fn wrap(text: &str, first: usize, indent: usize, width: usize) -> String {
    let mut out = String::new();
    let mut col = first;
    let mut line_start = true;
    for word in text.split_whitespace() {
        let len = word.chars().count();
        if !line_start && col + 1 + len > width {
            out.push('\n');
            out.push_str(&" ".repeat(indent));
            col = indent;
            line_start = true;
        }
        if !line_start {
            out.push(' ');
            col += 1;
        }
        out.push_str(word);
        col += len;
        line_start = false;
    }
    out
}

/// Cuts `text` to `width` characters, with an ellipsis when cut.
fn fit(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        format!("{text:<width$}")
    } else {
        let cut: String = text.chars().take(width.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}

/// How many source rows the table shows per domain.
const TABLE_SOURCES: usize = 10;

/// Writes the table for people.
pub fn write_table(summary: &Summary, out: &mut dyn Write, colour: bool) -> io::Result<()> {
    let st = Styles { on: colour };
    if summary.domains.is_empty() {
        writeln!(out, "no reports stored for the selected domains and window")?;
        return Ok(());
    }
    for (i, d) in summary.domains.iter().enumerate() {
        if i > 0 {
            writeln!(out)?;
        }
        write_domain(d, out, &st)?;
    }
    Ok(())
}

fn write_domain(d: &DomainSummary, out: &mut dyn Write, st: &Styles) -> io::Result<()> {
    let t = &d.totals;
    let days = (d.window.end - d.window.begin) / DAY;
    writeln!(
        out,
        "{}  {} .. {} ({days} days)",
        st.bold(&d.domain),
        format_date(d.window.begin),
        format_date(last_second(d.window.begin, d.window.end))
    )?;
    if let Some(stale) = &d.stale {
        writeln!(
            out,
            "  {} {}",
            st.paint(Style::new().fg_color(Some(AnsiColor::Yellow.into())), "warning:"),
            wrap(stale, 11, 2, WIDTH)
        )?;
    }
    let r = &d.readiness;
    let label = st.verdict(r.verdict);
    let label_len = r.verdict.as_str().len();
    writeln!(out, "  {label}  {}", wrap(&r.sentence, 4 + label_len, 4, WIDTH))?;
    writeln!(out)?;
    let kv = |k: &str, v: String| format!("  {:<11}{}", k, wrap(&v, 13, 13, WIDTH));
    let policy = PublishedPolicyOut::from(&d.policy);
    let since = policy.since.map(|s| format!(" (since {})", format_date(s))).unwrap_or_default();
    writeln!(out, "{}", kv("published", format!("{}{since}", policy.record)))?;
    for c in &policy.changes {
        writeln!(
            out,
            "{}",
            kv(
                "",
                format!(
                    "{}: {} {} -> {}",
                    format_date(c.day),
                    c.tag,
                    c.from.as_deref().unwrap_or("-"),
                    c.to.as_deref().unwrap_or("-")
                )
            )
        )?;
    }
    writeln!(
        out,
        "{}",
        kv(
            "data",
            format!(
                "{} reports from {} organisations ({}), {} days covered",
                count(t.reports),
                t.reporters,
                t.reporting_orgs.iter().map(|o| o.org_name.as_str()).collect::<Vec<_>>().join(", "),
                t.days_covered
            )
        )
    )?;
    writeln!(
        out,
        "{}",
        kv(
            "messages",
            format!(
                "{}, DMARC pass {}, SPF aligned {}, DKIM aligned {}",
                count(t.totals.messages),
                percent(t.totals.dmarc_pass, t.totals.messages),
                percent(t.totals.spf_aligned_pass, t.totals.messages),
                percent(t.totals.dkim_aligned_pass, t.totals.messages)
            )
        )
    )?;
    let applied = t
        .disposition
        .iter()
        .map(|(k, v)| format!("{k} {}", count(*v)))
        .collect::<Vec<_>>()
        .join(", ");
    writeln!(out, "{}", kv("applied", applied))?;
    if !t.subdomains.is_empty() {
        let subs = t
            .subdomains
            .iter()
            .map(|(name, s)| {
                format!("{name} {} ({} pass)", count(s.messages), percent(s.dmarc_pass, s.messages))
            })
            .collect::<Vec<_>>()
            .join("; ");
        writeln!(out, "{}", kv("subdomains", subs))?;
    }

    // Senders.
    writeln!(out)?;
    writeln!(
        out,
        "  {}",
        st.bold(&format!(
            "{:<32} {:<14} {:>10} {:>7} {:>7} {:>7}  {:<10}",
            "sender", "class", "messages", "DMARC", "SPF", "DKIM", "first seen"
        ))
    )?;
    for s in &d.senders {
        let new = if s.new { " new" } else { "" };
        writeln!(
            out,
            "  {} {} {:>10} {:>7} {:>7} {:>7}  {}{}",
            fit(&s.name, 32),
            st.class(s.class, 14),
            count(s.totals.messages),
            percent(s.totals.dmarc_pass, s.totals.messages),
            percent(s.totals.spf_aligned_pass, s.totals.messages),
            percent(s.totals.dkim_aligned_pass, s.totals.messages),
            format_date(s.first_seen),
            new
        )?;
        writeln!(out, "    {}", st.dim(&wrap(&s.explanation, 4, 4, WIDTH)))?;
    }

    // The verdict's evidence.
    if !r.blocking.is_empty() {
        writeln!(out)?;
        writeln!(out, "  {}", st.bold("Blocking"))?;
        for b in &r.blocking {
            let head = format!(
                "{} ({}, blocks {}): {} messages; {}",
                b.sender,
                b.class.as_str(),
                b.blocks,
                count(b.messages),
                b.reason
            );
            writeln!(out, "  - {}", wrap(&head, 4, 4, WIDTH))?;
            if !b.fix.is_empty() {
                writeln!(out, "    fix: {}", wrap(&b.fix, 9, 9, WIDTH))?;
            }
        }
    }
    let w = &r.what_if;
    writeln!(out)?;
    writeln!(
        out,
        "  {} {}",
        st.bold(&format!("What if p={}:", w.policy)),
        wrap(
            &format!(
                "{} legitimate messages affected{}, {} forwarded, {} unclassified, {} spoofed \
                 stopped (receivers already quarantined or rejected {}).",
                count(w.authorized_affected),
                if w.authorized_at_risk > 0 {
                    format!(", {} at risk (SPF alone)", count(w.authorized_at_risk))
                } else {
                    String::new()
                },
                count(w.forwarded_affected),
                count(w.unclassified_affected),
                count(w.unauthorized_stopped),
                count(w.already_quarantined_or_rejected)
            ),
            4 + 10 + w.policy.len(),
            4,
            WIDTH
        )
    )?;
    writeln!(out, "  {}", st.bold("Reasons"))?;
    for reason in &r.reasons {
        writeln!(out, "  - {}", wrap(reason, 4, 4, WIDTH))?;
    }
    writeln!(out, "  {}", st.bold("Next record"))?;
    writeln!(out, "    {}", r.recommended_record)?;
    for step in &r.ramp {
        writeln!(out, "    {} {}", st.dim("then"), step)?;
    }
    for a in &r.advice {
        writeln!(out, "  - {}", st.dim(&wrap(a, 4, 4, WIDTH)))?;
    }
    if let Some(check) = &d.record_check {
        writeln!(
            out,
            "  {} {}",
            st.bold("Live records"),
            st.dim(&format!(
                "(dmarc-report check, {}): {}",
                crate::analyse::format_rfc3339(check.checked_at),
                if check.findings.is_empty() { "no finding" } else { "" }
            ))
        )?;
        for f in &check.findings {
            let line = format!("{} {} {}: {}", f.severity, f.record, f.code, f.message);
            writeln!(out, "  - {}", wrap(&line, 4, 4, WIDTH))?;
        }
    }

    // The busiest sources.
    writeln!(out)?;
    writeln!(
        out,
        "  {}",
        st.bold(&format!(
            "{:<38} {:<24} {:>10} {:>7} {:>7} {:>7}",
            "source", "sender", "messages", "DMARC", "SPF", "DKIM"
        ))
    )?;
    for s in t.sources.iter().take(TABLE_SOURCES) {
        let ip = match &s.rdns {
            Some(name) => format!("{} ({name})", s.ip),
            None => s.ip.clone(),
        };
        writeln!(
            out,
            "  {} {} {:>10} {:>7} {:>7} {:>7}",
            fit(&ip, 38),
            fit(&s.sender, 24),
            count(s.totals.messages),
            percent(s.totals.dmarc_pass, s.totals.messages),
            percent(s.totals.spf_aligned_pass, s.totals.messages),
            percent(s.totals.dkim_aligned_pass, s.totals.messages)
        )?;
    }
    let shown = t.sources.len().min(TABLE_SOURCES) as u64;
    if t.source_count > shown {
        writeln!(
            out,
            "  {}",
            st.dim(&format!(
                "... and {} more sources (all of them with --format csv)",
                t.source_count - shown
            ))
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapping_keeps_lines_within_the_width() {
        let text = "word ".repeat(60);
        let wrapped = wrap(&text, 10, 4, 40);
        for (i, line) in wrapped.lines().enumerate() {
            let len = line.chars().count() + if i == 0 { 10 } else { 0 };
            assert!(len <= 40, "{line:?}");
        }
        assert_eq!(wrapped.split_whitespace().count(), 60);
    }
}
