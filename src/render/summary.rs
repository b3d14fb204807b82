//! The `summary` command's output: a table for people (fits 100 columns,
//! coloured when asked), JSON for programs, CSV of the per-source rows.

use std::io::{self, Write};

use anstyle::{AnsiColor, Style};
use serde::Serialize;

use crate::analyse::classify::SenderClass;
use crate::analyse::verdict::Verdict;
use crate::analyse::{DomainSummary, Summary};
use crate::units::{DAY, format_date, percent};

/// Width of the table output.
pub const WIDTH: usize = 100;

/// Writes the summary as one pretty JSON object.
pub fn write_json(summary: &Summary, out: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, summary)?;
    out.write_all(b"\n")
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

/// Writes one CSV row per source and domain, with a header.
pub fn write_csv(summary: &Summary, out: &mut dyn Write) -> io::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    let mut wrote = false;
    for d in &summary.domains {
        for s in &d.totals.sources {
            w.serialize(CsvRow {
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
                last_seen: format_date(s.last_seen),
                dkim_domains: s.dkim_domains.join(" "),
                spf_domains: s.spf_domains.join(" "),
                reasons: s.reasons.join(" "),
                identified_by: s.identified_by.as_deref().unwrap_or_default(),
            })
            .map_err(io::Error::other)?;
            wrote = true;
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

/// `12,345`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
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
        format_date(d.window.end - 1)
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
    let policy = &d.published_policy;
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
                thousands(t.reports),
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
                thousands(t.totals.messages),
                percent(t.totals.dmarc_pass, t.totals.messages),
                percent(t.totals.spf_aligned_pass, t.totals.messages),
                percent(t.totals.dkim_aligned_pass, t.totals.messages)
            )
        )
    )?;
    let applied = t
        .disposition
        .iter()
        .map(|(k, v)| format!("{k} {}", thousands(*v)))
        .collect::<Vec<_>>()
        .join(", ");
    writeln!(out, "{}", kv("applied", applied))?;
    if !t.subdomains.is_empty() {
        let subs = t
            .subdomains
            .iter()
            .map(|(name, s)| {
                format!(
                    "{name} {} ({} pass)",
                    thousands(s.messages),
                    percent(s.dmarc_pass, s.messages)
                )
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
            thousands(s.totals.messages),
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
                thousands(b.messages),
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
                "{} legitimate messages affected, {} forwarded, {} unclassified, {} spoofed stopped \
                 (receivers already quarantined or rejected {}).",
                thousands(w.authorized_affected),
                thousands(w.forwarded_affected),
                thousands(w.unclassified_affected),
                thousands(w.unauthorized_stopped),
                thousands(w.already_quarantined_or_rejected)
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
            thousands(s.totals.messages),
            percent(s.totals.dmarc_pass, s.totals.messages),
            percent(s.totals.spf_aligned_pass, s.totals.messages),
            percent(s.totals.dkim_aligned_pass, s.totals.messages)
        )?;
    }
    if t.sources.len() > TABLE_SOURCES {
        writeln!(
            out,
            "  {}",
            st.dim(&format!(
                "... and {} more sources (all of them with --format csv)",
                t.sources.len() - TABLE_SOURCES
            ))
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_are_separated() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

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
