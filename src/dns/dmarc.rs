//! The DMARC record (RFC 7489 section 6.3, RFC 9989): `_dmarc.<domain>`.

use super::{Evidence, Finding, Lookup, RecordKind, Severity, lookup_failed};
use crate::analyse::senders::organizational_domain;

const R: RecordKind = RecordKind::Dmarc;

/// A DMARC record's tags, in order, names in lower case.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DmarcTags(pub Vec<(String, String)>);

impl DmarcTags {
    /// The value of `tag`, if present.
    pub fn get(&self, tag: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == tag).map(|(_, v)| v.as_str())
    }
}

/// Splits a record into tags (`k=v; ...`); a part without `=` is kept with
/// an empty name so that the syntax check can name it.
pub fn parse_dmarc(record: &str) -> DmarcTags {
    DmarcTags(
        record
            .split(';')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| match p.split_once('=') {
                Some((k, v)) => (k.trim().to_ascii_lowercase(), v.trim().to_owned()),
                None => (String::new(), p.to_owned()),
            })
            .collect(),
    )
}

fn is_dmarc(txt: &str) -> bool {
    let t = txt.trim_start();
    // `get` keeps a record with a multi-byte character near its start
    // (any bytes can come from DNS) from panicking.
    t.get(..8).is_some_and(|v| v.eq_ignore_ascii_case("v=DMARC1")) && {
        let rest = t[8..].trim_start();
        rest.is_empty() || rest.starts_with(';')
    }
}

/// Looks up and lints the record; returns its tags when exactly one is
/// published.
pub(super) fn check(
    lookup: &dyn Lookup,
    domain: &str,
    out: &mut Vec<Finding>,
) -> Option<DmarcTags> {
    let name = format!("_dmarc.{domain}");
    let txts = match lookup.txt(&name) {
        Ok(t) => t,
        Err(e) => {
            out.push(lookup_failed(R, &name, &e));
            return None;
        }
    };
    let records: Vec<&String> = txts.iter().filter(|t| is_dmarc(t)).collect();
    match records.len() {
        0 => {
            out.push(Finding::new(
                "dmarc-missing",
                Severity::Error,
                R,
                format!("no DMARC record at {name}: receivers apply no policy and send no reports"),
                format!(
                    "publish a TXT record at {name}, starting with \"v=DMARC1; p=none; rua=mailto:...\""
                ),
            ));
            return None;
        }
        1 => {}
        n => out.push(Finding::new(
            "dmarc-multiple",
            Severity::Error,
            R,
            format!(
                "{n} DMARC records at {name} ({}): receivers ignore them all (RFC 7489 section 6.6.3)",
                records.iter().map(|r| format!("\"{r}\"")).collect::<Vec<_>>().join(", ")
            ),
            "keep exactly one TXT record starting with v=DMARC1",
        )),
    }
    for record in &records {
        lint(lookup, domain, record, out);
    }
    (records.len() == 1).then(|| parse_dmarc(records[0]))
}

fn syntax(out: &mut Vec<Finding>, record: &str, what: String, fix: &str) {
    out.push(Finding::new(
        "dmarc-syntax",
        Severity::Error,
        R,
        format!("\"{record}\": {what}"),
        fix,
    ));
}

fn lint(lookup: &dyn Lookup, domain: &str, record: &str, out: &mut Vec<Finding>) {
    let tags = parse_dmarc(record);
    if tags.0.first().map(|(k, v)| (k.as_str(), v.as_str())) != Some(("v", "DMARC1")) {
        syntax(
            out,
            record,
            "the first tag must be v=DMARC1".into(),
            "start the record with \"v=DMARC1;\"",
        );
    }
    let mut seen = std::collections::BTreeSet::new();
    for (k, v) in &tags.0 {
        if !k.is_empty() && !seen.insert(k.as_str()) {
            syntax(out, record, format!("the tag {k} appears twice"), "keep one of them");
        }
        let policy =
            |v: &str| matches!(v.to_ascii_lowercase().as_str(), "none" | "quarantine" | "reject");
        match k.as_str() {
            "v" => {}
            "" => syntax(
                out,
                record,
                format!("\"{v}\" is not a tag=value pair"),
                "write tags as name=value, separated by ;",
            ),
            "p" | "sp" | "np" if !policy(v) => syntax(
                out,
                record,
                format!("{k}={v} is not a policy"),
                &format!("{k} takes none, quarantine or reject"),
            ),
            "p" | "sp" | "np" => {}
            "adkim" | "aspf" if !matches!(v.as_str(), "r" | "s") => syntax(
                out,
                record,
                format!("{k}={v} is not an alignment mode"),
                &format!("{k} takes r (relaxed) or s (strict)"),
            ),
            "adkim" | "aspf" => {}
            "pct" => {
                if !v.parse::<u8>().is_ok_and(|p| p <= 100) {
                    syntax(
                        out,
                        record,
                        format!("pct={v} is not a whole number from 0 to 100"),
                        "drop pct (see dmarc-pct-historic)",
                    );
                }
                out.push(Finding::new(
                    "dmarc-pct-historic",
                    Severity::Info,
                    R,
                    format!("\"{record}\": pct={v} is historic; RFC 9989 receivers ignore it"),
                    "for a partial rollout use t=y (RFC 9989: apply the next weaker policy) alongside pct for older receivers; drop both at 100%",
                ));
            }
            "t" | "psd" if !matches!(v.as_str(), "y" | "n" | "u") || (k == "t" && v == "u") => {
                syntax(
                    out,
                    record,
                    format!("{k}={v} is not a valid value"),
                    if k == "t" { "t takes y or n" } else { "psd takes y, n or u" },
                )
            }
            "t" | "psd" => {}
            "fo" if !v.split(':').all(|o| matches!(o.trim(), "0" | "1" | "d" | "s")) => syntax(
                out,
                record,
                format!("fo={v} is not a list of 0, 1, d and s"),
                "use fo=0, 1, d or s, separated by :",
            ),
            "fo" => {}
            "rf" | "ri" => {}
            "rua" | "ruf" => uris(lookup, domain, record, k, v, out),
            other => out.push(Finding::new(
                "dmarc-syntax",
                Severity::Warning,
                R,
                format!("\"{record}\": unknown tag {other}; receivers ignore it"),
                "remove it (or fix its spelling)",
            )),
        }
    }
    if tags.get("p").is_none() {
        syntax(
            out,
            record,
            "there is no p= tag".into(),
            "add p=none (to monitor), quarantine or reject right after v=DMARC1",
        );
    }
}

/// Checks report URIs, and the authorization of external destinations
/// (RFC 7489 section 7.1).
fn uris(
    lookup: &dyn Lookup,
    domain: &str,
    record: &str,
    tag: &str,
    value: &str,
    out: &mut Vec<Finding>,
) {
    for uri in value.split(',').map(str::trim) {
        // A size limit may follow: mailto:a@b!10m.
        let uri = uri.split('!').next().unwrap_or_default();
        let Some(address) = uri.strip_prefix("mailto:").or_else(|| uri.strip_prefix("MAILTO:"))
        else {
            syntax(
                out,
                record,
                format!("{tag} URI \"{uri}\" is not a mailto: URI"),
                "give report addresses as mailto:address@example.com, separated by commas",
            );
            continue;
        };
        let Some((_, host)) =
            address.rsplit_once('@').filter(|(l, h)| !l.is_empty() && h.contains('.'))
        else {
            syntax(
                out,
                record,
                format!("{tag} URI \"{uri}\" has no valid address"),
                "write mailto:local@domain",
            );
            continue;
        };
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        if organizational_domain(&host) == organizational_domain(domain) {
            continue;
        }
        let name = format!("{domain}._report._dmarc.{host}");
        match lookup.txt(&name) {
            Ok(txts) if txts.iter().any(|t| is_dmarc(t)) => {}
            Ok(_) => out.push(Finding::new(
                "dmarc-rua-unauthorized",
                Severity::Warning,
                R,
                format!(
                    "\"{record}\": {tag} sends reports to {host}, outside {domain}, and {name} has no v=DMARC1 record: receivers drop those reports (RFC 7489 section 7.1)"
                ),
                format!("ask the operator of {host} to publish \"v=DMARC1\" at {name}"),
            )),
            Err(e) => out.push(lookup_failed(R, &name, &e)),
        }
    }
}

fn level(p: &str) -> u8 {
    match p.to_ascii_lowercase().as_str() {
        "reject" => 2,
        "quarantine" => 1,
        _ => 0,
    }
}

/// The live policy against what the reports support, and the next record
/// against the live one.
pub(super) fn compare(
    domain: &str,
    live: Option<&DmarcTags>,
    evidence: &Evidence,
    out: &mut Vec<Finding>,
) {
    let Some(live) = live else { return };
    let live_p = live.get("p").unwrap_or("none").to_ascii_lowercase();
    let verdict = evidence.verdict.as_deref().unwrap_or("no verdict");
    if let Some(supported) = &evidence.supported {
        if level(&live_p) > level(supported) {
            out.push(Finding::new(
                "dmarc-policy-stricter-than-evidence",
                Severity::Warning,
                R,
                format!(
                    "_dmarc.{domain} publishes p={live_p}, but the reports support p={supported} (verdict {verdict}): {}{}",
                    if evidence.legitimate_failing {
                        "legitimate mail is being lost"
                    } else {
                        "mail that may be yours is being stopped"
                    },
                    if evidence.blocking.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", evidence.blocking.join(", "))
                    }
                ),
                "fix the blocking senders `summary` lists, or step the policy back until they pass",
            ));
        } else if level(&live_p) < level(supported) {
            out.push(Finding::new(
                "dmarc-policy-weaker-than-evidence",
                Severity::Info,
                R,
                format!(
                    "_dmarc.{domain} publishes p={live_p}; the reports support p={supported} (verdict {verdict})"
                ),
                "publish the next record `summary` recommends",
            ));
        }
    }
    if let Some(next) = &evidence.next_record {
        let live_text =
            live.0.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ");
        let next_tags = parse_dmarc(next);
        let differs = ["p", "sp", "np", "pct", "t"].iter().any(|t| {
            next_tags.get(t).map(str::to_ascii_lowercase)
                != live.get(t).map(str::to_ascii_lowercase)
        });
        if differs {
            // Reports do not carry rua and ruf: the live ones go on.
            let mut next = next.clone();
            for tag in ["rua", "ruf"] {
                if next_tags.get(tag).is_none()
                    && let Some(value) = live.get(tag)
                {
                    next.push_str(&format!("; {tag}={value}"));
                }
            }
            out.push(Finding::new(
                "dmarc-next-record",
                Severity::Info,
                R,
                format!("live: \"{live_text}\"; next, from the reports: \"{next}\""),
                format!("publish the next record at _dmarc.{domain} when you are ready"),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_with_multibyte_characters_at_its_start_is_not_dmarc() {
        assert!(!is_dmarc("v=DMARC\u{e9}; p=none"));
        assert!(!is_dmarc("\u{e9}\u{e9}\u{e9}\u{e9}"));
        assert!(is_dmarc("V=DMARC1;p=none"));
        assert!(!is_dmarc("v=DMARC10; p=none"));
    }
}
