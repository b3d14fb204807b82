//! `index.html`: the askama template `templates/report.html` filled from the
//! view model. Values are formatted here; the template only places them, and
//! askama escapes every one of them. The only unescaped inserts are the
//! charts' SVG (escaped by plotters), the CSS and the script (constants).

use askama::Template;
use sha2::{Digest, Sha256};

use super::charts::{self, Chart};
use super::format::{count, plural, total, truncate};
use super::palette;
use super::view::{DomainView, ReportPage, SenderClass, SenderView};
use super::{RenderError, file_slug};
use crate::units::{percent, ratio};

/// The page's style sheet, without the colour variables (see [`css`]).
const STYLE: &str = include_str!("../../templates/report.css");
/// Sorts the tables and copies the record. The page reads fine without it.
const SCRIPT: &str = include_str!("../../templates/report.js");
/// Rows of the sender table; the rest are summed up in one line.
const MAX_TABLE_ROWS: usize = 500;
/// Source addresses listed per sender.
const MAX_SOURCES: usize = 3;

pub(crate) struct Rendered {
    pub html: String,
    /// PNG file name and bytes.
    pub pngs: Vec<(String, Vec<u8>)>,
}

#[derive(Template)]
#[template(path = "report.html")]
struct PageTemplate<'a> {
    csp: String,
    css: &'a str,
    script: &'a str,
    generated_at: &'a str,
    domains: Vec<DomainSection<'a>>,
    classes: Vec<ClassLegend>,
}

struct ClassLegend {
    slug: &'static str,
    label: &'static str,
    description: &'static str,
}

struct DomainSection<'a> {
    anchor: String,
    domain: &'a str,
    verdict_slug: &'static str,
    verdict_label: &'static str,
    sentence: &'a str,
    reasons: &'a [String],
    live: Option<LiveCheck<'a>>,
    published_policy: &'a str,
    recommended: Option<&'a str>,
    blocking: Vec<BlockingRow<'a>>,
    what_if: Vec<WhatIfRow<'a>>,
    window: String,
    stale: Option<&'a str>,
    empty: bool,
    notes: Vec<String>,
    charts: Vec<ChartFigure>,
    reporters: Vec<ReporterRow<'a>>,
    senders: Vec<SenderRow<'a>>,
    senders_left_out: Option<String>,
}

struct LiveCheck<'a> {
    checked_at: &'a str,
    findings: &'a [super::view::LiveFindingView],
}

struct BlockingRow<'a> {
    sender: &'a str,
    messages: String,
    fix: &'a str,
}

struct WhatIfRow<'a> {
    policy: &'a str,
    legitimate: String,
    forwarded: String,
    unauthorized: String,
    at_risk: Option<String>,
    total: String,
}

struct ChartFigure {
    title: String,
    summary: String,
    svg: String,
    png: String,
}

struct ReporterRow<'a> {
    org: &'a str,
    reports: String,
    messages: String,
}

struct SenderRow<'a> {
    name: &'a str,
    sources: String,
    class_slug: &'static str,
    class_label: &'static str,
    class_order: usize,
    messages: String,
    messages_sort: u64,
    dmarc: Pct,
    spf: Pct,
    dkim: Pct,
    first_seen: String,
    last_seen: String,
    explanation: &'a str,
}

/// A percentage as shown and as sorted (`-1` when there is nothing to divide).
struct Pct {
    text: String,
    sort: String,
}

fn pct(part: u64, whole: u64) -> Pct {
    Pct {
        text: percent(part, whole),
        sort: ratio(part, whole).map_or_else(|| "-1".to_owned(), |r| format!("{r:.6}")),
    }
}

pub(crate) fn render(page: &ReportPage) -> Result<Rendered, RenderError> {
    let css = css();
    let mut pngs = Vec::new();
    let mut domains = Vec::with_capacity(page.domains.len());
    for (i, d) in page.domains.iter().enumerate() {
        let (charts, notes) = charts::domain_charts(d).map_err(|e| RenderError::Chart {
            domain: d.domain.clone(),
            chart: e.slug,
            message: e.message,
        })?;
        let prefix = format!("{:02}-{}", i + 1, file_slug(&d.domain));
        let figures = charts
            .into_iter()
            .map(|c: Chart| {
                let png = format!("{prefix}-{}.png", c.slug);
                pngs.push((png.clone(), c.png));
                ChartFigure { title: c.title, summary: c.summary, svg: c.svg, png }
            })
            .collect();
        domains.push(section(i, d, figures, notes));
    }
    let template = PageTemplate {
        csp: csp(&css, SCRIPT),
        css: &css,
        script: SCRIPT,
        generated_at: &page.generated_at,
        domains,
        classes: SenderClass::ALL
            .iter()
            .map(|c| ClassLegend {
                slug: c.as_str(),
                label: c.as_str(),
                description: c.description(),
            })
            .collect(),
    };
    Ok(Rendered { html: template.render()?, pngs })
}

fn section<'a>(
    i: usize,
    d: &'a DomainView,
    charts: Vec<ChartFigure>,
    notes: Vec<String>,
) -> DomainSection<'a> {
    let messages = d.messages().max(total(d.days.iter().map(|day| day.messages())));
    let window = match d.window {
        Some(w) => format!(
            "{} to {} (UTC, {}), {}, {}",
            w.first,
            w.last,
            plural(w.days().unsigned_abs(), "day", "days"),
            plural(d.reports, "report", "reports"),
            plural(messages, "message", "messages")
        ),
        None => "no reports".to_owned(),
    };
    let mut senders: Vec<&SenderView> = d.senders.iter().collect();
    senders.sort_by_key(|s| std::cmp::Reverse(s.messages));
    let left_out = senders.len().saturating_sub(MAX_TABLE_ROWS);
    let senders_left_out = (left_out > 0).then(|| {
        let rest = total(senders[MAX_TABLE_ROWS..].iter().map(|s| s.messages));
        format!(
            "The table lists the {MAX_TABLE_ROWS} senders with the most messages; {} more {} ({}) {} not listed.",
            count(left_out as u64),
            if left_out == 1 { "sender" } else { "senders" },
            plural(rest, "message", "messages"),
            if left_out == 1 { "is" } else { "are" }
        )
    });
    DomainSection {
        anchor: format!("domain-{}", i + 1),
        domain: &d.domain,
        verdict_slug: verdict_class(d.verdict),
        verdict_label: d.verdict.label(),
        sentence: &d.verdict_sentence,
        reasons: &d.reasons,
        live: d
            .live_check
            .as_ref()
            .map(|c| LiveCheck { checked_at: &c.checked_at, findings: &c.findings }),
        published_policy: &d.published_policy,
        recommended: d.recommended_record.as_deref(),
        blocking: d
            .blocking
            .iter()
            .map(|b| BlockingRow { sender: &b.sender, messages: count(b.messages), fix: &b.fix })
            .collect(),
        what_if: d
            .what_if
            .iter()
            .map(|w| WhatIfRow {
                policy: &w.policy,
                legitimate: count(w.legitimate_affected),
                forwarded: count(w.forwarded_affected),
                unauthorized: count(w.unauthorized_stopped),
                at_risk: (w.legitimate_at_risk > 0).then(|| count(w.legitimate_at_risk)),
                total: count(w.total_messages),
            })
            .collect(),
        window,
        stale: d.stale_warning.as_deref(),
        empty: messages == 0,
        notes,
        charts,
        reporters: d
            .reporters
            .iter()
            .map(|r| ReporterRow {
                org: &r.org,
                reports: count(r.reports),
                messages: count(r.messages),
            })
            .collect(),
        senders: senders.into_iter().take(MAX_TABLE_ROWS).map(sender_row).collect(),
        senders_left_out,
    }
}

fn sender_row(s: &SenderView) -> SenderRow<'_> {
    // A sender named by its only address needs no address line.
    let only_itself = s.sources.len() == 1 && s.sources[0] == s.name;
    let listed = if only_itself { 0 } else { MAX_SOURCES };
    let mut sources: Vec<String> =
        s.sources.iter().take(listed).map(|ip| truncate(ip, 60)).collect();
    if !only_itself && s.sources.len() > MAX_SOURCES {
        sources.push(format!("and {} more", s.sources.len() - MAX_SOURCES));
    }
    SenderRow {
        name: &s.name,
        sources: sources.join(", "),
        class_slug: s.class.as_str(),
        class_label: s.class.as_str(),
        class_order: SenderClass::ALL.iter().position(|c| *c == s.class).unwrap_or(0),
        messages: count(s.messages),
        messages_sort: s.messages,
        dmarc: pct(s.dmarc_pass, s.messages),
        spf: pct(s.spf_aligned_pass, s.messages),
        dkim: pct(s.dkim_aligned_pass, s.messages),
        first_seen: s.first_seen.to_string(),
        last_seen: s.last_seen.to_string(),
        explanation: &s.explanation,
    }
}

/// The style sheet: the palette as CSS variables, then `report.css`.
fn css() -> String {
    let mut vars = String::from(":root{");
    for class in SenderClass::ALL {
        vars.push_str(&format!("--class-{}:{};", class.as_str(), palette::class(class).hex()));
    }
    for (name, colour) in [
        ("pass", palette::PASS),
        ("forwarded", palette::FORWARDED),
        ("failing-authorized", palette::FAILING_AUTHORIZED),
        ("failing-unauthorized", palette::FAILING_UNAUTHORIZED),
        ("blue", palette::BLUE),
        ("ink", palette::INK),
    ] {
        vars.push_str(&format!("--{name}:{};", colour.hex()));
    }
    vars.push_str("}\n");
    vars + STYLE
}

/// The Content-Security-Policy: nothing may load, and only this style
/// sheet and this script may run (pinned by SHA-256).
fn csp(css: &str, script: &str) -> String {
    format!(
        "default-src 'none'; style-src 'sha256-{}'; script-src 'sha256-{}'; \
         base-uri 'none'; form-action 'none'",
        base64(&Sha256::digest(css.as_bytes())),
        base64(&Sha256::digest(script.as_bytes()))
    )
}

/// Standard base64 with padding (RFC 4648 section 4), as CSP hashes use.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The CSS class suffix of a verdict (`verdict-not-ready`): the verdict's
/// stable name, which the stylesheet knows.
fn verdict_class(v: crate::analyse::verdict::Verdict) -> &'static str {
    v.as_str()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes()), encoded, "{plain:?}");
        }
    }

    #[test]
    fn csp_forbids_everything_but_the_pinned_inline_code() {
        let policy = csp("a", "b");
        assert!(policy.starts_with("default-src 'none'"));
        // SHA-256("a") in base64.
        assert!(policy.contains("'sha256-ypeBEsobvcr6wjGzmiPcTaeG7/gUfE5yuYB3ha/uSLs='"));
        assert!(!policy.contains("unsafe"));
    }
}
