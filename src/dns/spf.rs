//! The SPF record (RFC 7208): syntax, the 10 DNS-mechanism limit counted
//! through `include` and `redirect` recursively (section 4.6.4), void
//! lookups, the `all` qualifier, and a comparison with the reports.

use std::collections::BTreeSet;

use super::{Evidence, Finding, Lookup, RecordKind, Severity, lookup_failed};
use crate::analyse::senders::within;
use crate::units::plural;

const R: RecordKind = RecordKind::Spf;
/// RFC 7208 section 4.6.4.
const MAX_LOOKUPS: usize = 10;
const MAX_VOID: usize = 2;
/// Nesting beyond this is a loop or abuse; the walk stops.
const MAX_DEPTH: usize = 12;

/// What walking a domain's SPF tree found.
#[derive(Debug, Clone, Default)]
pub struct SpfTree {
    /// DNS-querying terms (include, a, mx, ptr, exists, redirect).
    pub lookups: usize,
    /// Lookups that returned nothing.
    pub void: usize,
    /// Every domain included or redirected to, at any depth.
    pub includes: BTreeSet<String>,
}

fn is_spf(txt: &str) -> bool {
    let t = txt.trim_start();
    // `get`: any bytes can come from DNS, a multi-byte character included.
    t.get(..6).is_some_and(|v| v.eq_ignore_ascii_case("v=spf1"))
        && t[6..].chars().next().is_none_or(|c| c == ' ')
}

/// The SPF records among `txts`.
fn spf_records(txts: &[String]) -> Vec<&String> {
    txts.iter().filter(|t| is_spf(t)).collect()
}

pub(super) fn check(
    lookup: &dyn Lookup,
    domain: &str,
    evidence: &Evidence,
    out: &mut Vec<Finding>,
) {
    let txts = match lookup.txt(domain) {
        Ok(t) => t,
        Err(e) => {
            out.push(lookup_failed(R, domain, &e));
            return;
        }
    };
    let records = spf_records(&txts);
    if records.is_empty() {
        out.push(Finding::new(
            "spf-missing",
            Severity::Error,
            R,
            format!("{domain} has no SPF record (a TXT record starting with v=spf1)"),
            format!(
                "publish one listing the servers that send with an envelope-from under {domain}, e.g. \"v=spf1 mx include:... -all\"; a domain that sends nothing publishes \"v=spf1 -all\""
            ),
        ));
        return;
    }
    if records.len() > 1 {
        out.push(Finding::new(
            "spf-multiple",
            Severity::Error,
            R,
            format!(
                "{} SPF records at {domain} ({}): SPF fails with permerror for every message (RFC 7208 section 4.5)",
                records.len(),
                records.iter().map(|r| format!("\"{r}\"")).collect::<Vec<_>>().join(", ")
            ),
            "merge them into one record",
        ));
    }
    // Lint every record found, even when there are several.
    for record in &records {
        let mut tree = SpfTree::default();
        let mut visited = BTreeSet::from([domain.to_owned()]);
        walk(lookup, domain, record, 0, &mut tree, &mut visited, out);
        if tree.lookups > MAX_LOOKUPS {
            out.push(Finding::new(
                "spf-too-many-lookups",
                Severity::Error,
                R,
                format!(
                    "\"{record}\" needs {} DNS lookups through its includes and redirects (at most {MAX_LOOKUPS}): SPF fails with permerror",
                    tree.lookups
                ),
                "flatten includes into ip4:/ip6: ranges, or drop includes of services you no longer use",
            ));
        }
        if tree.void > MAX_VOID {
            out.push(Finding::new(
                "spf-void-lookups",
                Severity::Warning,
                R,
                format!(
                    "\"{record}\" makes {} lookups that find nothing (more than {MAX_VOID}): receivers may fail it with permerror (RFC 7208 section 4.6.4)",
                    tree.void
                ),
                "remove the mechanisms that point at names without records",
            ));
        }
        compare(domain, record, &tree, evidence, out);
    }
}

#[allow(clippy::too_many_arguments)]
fn walk(
    lookup: &dyn Lookup,
    domain: &str,
    record: &str,
    depth: usize,
    tree: &mut SpfTree,
    visited: &mut BTreeSet<String>,
    out: &mut Vec<Finding>,
) {
    let top = depth == 0;
    for term in record.split_whitespace().skip(1) {
        let (qualifier, body) = match term.chars().next() {
            Some(c @ ('+' | '-' | '~' | '?')) => (c, &term[1..]),
            _ => ('+', term),
        };
        let lower = body.to_ascii_lowercase();
        let (name, arg) = match lower.find([':', '=', '/']) {
            Some(i) => (&lower[..i], Some(&body[i..])),
            None => (lower.as_str(), None),
        };
        let target = |arg: Option<&str>| -> Option<String> {
            let a = arg?;
            let a = a.strip_prefix(':').or_else(|| a.strip_prefix('='))?;
            let host = a.split('/').next().unwrap_or_default();
            (!host.is_empty()).then(|| host.trim_end_matches('.').to_ascii_lowercase())
        };
        let bad = |out: &mut Vec<Finding>, why: &str| {
            if top {
                out.push(Finding::new(
                    "spf-syntax",
                    Severity::Error,
                    R,
                    format!("\"{record}\": {why} (\"{term}\")"),
                    "correct the term; an SPF record with a syntax error fails with permerror",
                ));
            }
        };
        match name {
            "all" => {
                if arg.is_some() {
                    bad(out, "all takes no argument");
                } else if top && matches!(qualifier, '+' | '?') {
                    out.push(Finding::new(
                        "spf-permissive-all",
                        if qualifier == '+' { Severity::Error } else { Severity::Warning },
                        R,
                        format!(
                            "\"{record}\" ends with {}all: {}",
                            if qualifier == '+' { "+" } else { "?" },
                            if qualifier == '+' {
                                "every server on the internet passes SPF for this domain"
                            } else {
                                "servers not listed get a neutral result, as if there were no record"
                            }
                        ),
                        "end the record with -all (or ~all while you check the reports)",
                    ));
                } else if top && qualifier == '~' {
                    out.push(Finding::new(
                        "spf-softfail-all",
                        Severity::Info,
                        R,
                        format!("\"{record}\" ends with ~all: unlisted servers soft-fail"),
                        "once the reports show every sender passing, -all states it firmly (DMARC decides delivery either way)",
                    ));
                }
            }
            "include" | "redirect" => {
                tree.lookups += 1;
                let Some(t) = target(arg) else {
                    bad(out, &format!("{name} needs a domain"));
                    continue;
                };
                tree.includes.insert(t.clone());
                if depth >= MAX_DEPTH || !visited.insert(t.clone()) {
                    continue;
                }
                match lookup.txt(&t) {
                    Ok(txts) => {
                        let recs = spf_records(&txts);
                        match recs.first() {
                            Some(r) => walk(lookup, &t, r, depth + 1, tree, visited, out),
                            None => {
                                tree.void += 1;
                                out.push(Finding::new(
                                    "spf-include-missing",
                                    Severity::Error,
                                    R,
                                    format!(
                                        "{name}:{t} in the SPF tree of {domain} has no SPF record: SPF fails with permerror where it is reached"
                                    ),
                                    format!("remove {name}:{t}, or correct the domain"),
                                ));
                            }
                        }
                    }
                    Err(e) => out.push(lookup_failed(R, &t, &e)),
                }
            }
            "a" | "mx" | "exists" | "ptr" => {
                tree.lookups += 1;
                if name == "ptr" {
                    out.push(Finding::new(
                        "spf-ptr",
                        Severity::Warning,
                        R,
                        format!("\"{record}\" (at {domain}) uses ptr, which RFC 7208 section 5.5 says not to use: slow, unreliable, and many receivers skip it"),
                        "list the servers with ip4:/ip6: or a instead",
                    ));
                }
                if name == "exists" && target(arg).is_none() {
                    bad(out, "exists needs a domain");
                    continue;
                }
                let host = target(arg).unwrap_or_else(|| domain.to_owned());
                if host.contains('%') {
                    continue; // a macro: expanded per message
                }
                let found = match name {
                    "mx" => lookup.mx(&host).map(|m| m.len()),
                    "a" | "exists" => lookup.addresses(&host),
                    _ => Ok(1),
                };
                if matches!(found, Ok(0)) {
                    tree.void += 1;
                }
            }
            "ip4" | "ip6" => {
                let ok = target(arg).is_some_and(|_| {
                    let a = &body[name.len() + 1..];
                    let (ip, bits) = match a.split_once('/') {
                        Some((ip, b)) => (ip, Some(b)),
                        None => (a, None),
                    };
                    let max = if name == "ip4" { 32 } else { 128 };
                    let ip_ok = if name == "ip4" {
                        ip.parse::<std::net::Ipv4Addr>().is_ok()
                    } else {
                        ip.parse::<std::net::Ipv6Addr>().is_ok()
                    };
                    ip_ok && bits.is_none_or(|b| b.parse::<u32>().is_ok_and(|b| b <= max))
                });
                if !ok {
                    bad(out, &format!("not a valid {name} address or range"));
                }
            }
            "exp" => {}
            _ if body.contains('=') => {} // unknown modifiers are allowed
            _ => bad(out, &format!("unknown mechanism {name}")),
        }
    }
}

/// The record against the reports.
fn compare(
    domain: &str,
    record: &str,
    tree: &SpfTree,
    evidence: &Evidence,
    out: &mut Vec<Finding>,
) {
    let (messages, sources) = evidence.spf_passing;
    if sources > 0 {
        out.push(Finding::new(
            "spf-report-passes",
            Severity::Info,
            R,
            format!(
                "the reports show {} passing SPF aligned with {domain}, with {}",
                plural(sources as u64, "source", "sources"),
                plural(messages, "message", "messages")
            ),
            "compare them with what the record lists; a source you do not know is worth a look",
        ));
    }
    for (service, include, failing) in &evidence.spf_failing_services {
        let covered = tree.includes.iter().any(|i| within(i, include) || within(include, i));
        if !covered {
            out.push(Finding::new(
                "spf-include-forgotten",
                Severity::Warning,
                R,
                format!(
                    "{service} sends mail with an envelope-from under {domain} that fails SPF ({failing} messages in the reports), and \"{record}\" does not include {include}"
                ),
                format!("add include:{include} to the SPF record (mind the 10-lookup limit)"),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_with_multibyte_characters_at_its_start_is_not_spf() {
        assert!(!is_spf("v=spf\u{e9} -all"));
        assert!(!is_spf("\u{e9}\u{e9}\u{e9}"));
        assert!(is_spf("v=spf1 -all"));
        assert!(!is_spf("v=spf10 -all"));
    }
}
