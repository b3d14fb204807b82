//! The Prometheus text format of `metrics`, for node_exporter's textfile
//! collector: per domain the window's messages and pass counts, the verdict
//! as a labelled gauge, the age of the newest report; per sender class the
//! messages; the failed inputs kept.

use std::fmt::Write as _;

use crate::analyse::Summary;
use crate::analyse::classify::SenderClass;

/// The verdicts the labelled gauge lists (one series each, 1 for the
/// current one).
const VERDICTS: [&str; 5] =
    ["insufficient-data", "not-ready", "ready-for-quarantine", "ready-for-reject", "enforced"];

/// Escapes a label value (backslash, double quote, newline).
fn label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// The metrics of `summary` at `now` (Unix seconds), with `failed_inputs`
/// inputs kept as failed.
pub fn prometheus(summary: &Summary, failed_inputs: usize, now: i64) -> String {
    let mut out = String::new();
    let mut family = |name: &str, help: &str, rows: &mut dyn Iterator<Item = (String, String)>| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} gauge");
        for (labels, value) in rows {
            if labels.is_empty() {
                let _ = writeln!(out, "{name} {value}");
            } else {
                let _ = writeln!(out, "{name}{{{labels}}} {value}");
            }
        }
    };
    let dom = |d: &str| format!("domain=\"{}\"", label(d));
    let per_domain = |f: fn(&crate::analyse::DomainSummary) -> u64| {
        summary.domains.iter().map(move |d| (dom(&d.domain), f(d).to_string()))
    };
    family(
        "dmarc_report_messages",
        "Messages reported for the domain in the window.",
        &mut per_domain(|d| d.totals.totals.messages),
    );
    family(
        "dmarc_report_dmarc_pass_messages",
        "Messages that passed DMARC in the window.",
        &mut per_domain(|d| d.totals.totals.dmarc_pass),
    );
    family(
        "dmarc_report_spf_aligned_pass_messages",
        "Messages with aligned SPF pass in the window.",
        &mut per_domain(|d| d.totals.totals.spf_aligned_pass),
    );
    family(
        "dmarc_report_dkim_aligned_pass_messages",
        "Messages with aligned DKIM pass in the window.",
        &mut per_domain(|d| d.totals.totals.dkim_aligned_pass),
    );
    family(
        "dmarc_report_reports",
        "Aggregate reports in the window.",
        &mut per_domain(|d| d.totals.reports),
    );
    family(
        "dmarc_report_window_days",
        "Days covered by reports in the window.",
        &mut per_domain(|d| d.totals.days_covered),
    );
    family(
        "dmarc_report_verdict",
        "The readiness verdict: 1 for the current one.",
        &mut summary.domains.iter().flat_map(|d| {
            let now = d.readiness.verdict.as_str();
            let mut names: Vec<&str> = VERDICTS.to_vec();
            if !names.contains(&now) {
                names.push(now);
            }
            names
                .into_iter()
                .map(move |v| {
                    (
                        format!("{},verdict=\"{}\"", dom(&d.domain), label(v)),
                        u8::from(v == now).to_string(),
                    )
                })
                .collect::<Vec<_>>()
        }),
    );
    family(
        "dmarc_report_newest_report_age_seconds",
        "Seconds since the end of the newest report for the domain.",
        &mut summary.domains.iter().filter_map(|d| {
            d.totals.newest_report_end.map(|end| (dom(&d.domain), (now - end).max(0).to_string()))
        }),
    );
    family(
        "dmarc_report_sender_class_messages",
        "Messages in the window by sender class.",
        &mut summary.domains.iter().flat_map(|d| {
            SenderClass::ALL
                .iter()
                .map(|class| {
                    let n: u64 = d
                        .senders
                        .iter()
                        .filter(|s| s.class == *class)
                        .map(|s| s.totals.messages)
                        .fold(0, u64::saturating_add);
                    (format!("{},class=\"{}\"", dom(&d.domain), class.as_str()), n.to_string())
                })
                .collect::<Vec<_>>()
        }),
    );
    family(
        "dmarc_report_failed_inputs",
        "Inputs that could not be read, kept in the database (dmarc-report errors).",
        &mut std::iter::once((String::new(), failed_inputs.to_string())),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn an_empty_summary_still_gives_the_failed_inputs() {
        let text = prometheus(&Summary { window: None, domains: Vec::new() }, 2, 0);
        assert!(text.contains("\ndmarc_report_failed_inputs 2\n"), "{text}");
        assert!(text.contains("# TYPE dmarc_report_messages gauge\n"));
    }
}
