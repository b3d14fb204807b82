//! Names the service behind a source IP from what the reports say about it:
//! the DKIM `d=` domains that pass for it, the SPF (envelope-from) domains,
//! and, when resolved, its reverse DNS name. A built-in catalogue of sending
//! services (`known_senders.toml`) is searched first; users extend or
//! override it with entries of the same shape.
//!
//! The evidence is ranked by how hard it is to fake: a passing DKIM
//! signature, then a passing SPF check, then the envelope-from domain as
//! written, then reverse DNS.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use serde::Deserialize;

/// A sending service and the domains that give it away.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KnownSender {
    /// Display name ("SendGrid").
    pub name: String,
    /// Domains it signs with (`d=`) when not signing as the customer.
    #[serde(default)]
    pub dkim: Vec<String>,
    /// Envelope-from (bounce) domains it uses by default.
    #[serde(default)]
    pub spf: Vec<String>,
    /// Reverse DNS names of its hosts.
    #[serde(default)]
    pub rdns: Vec<String>,
    /// Source addresses or CIDR ranges (`192.0.2.0/24`, `2001:db8::/32`):
    /// for the user's own servers, which no domain names.
    #[serde(default)]
    pub ips: Vec<String>,
    /// How to align it; `{domain}` stands for the policy domain.
    #[serde(default)]
    pub fix: Option<String>,
    /// The class the user declares for it, overriding the evidence.
    #[serde(default)]
    pub class: Option<DeclaredClass>,
}

/// What the user says a sender is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeclaredClass {
    /// Ours: its failures are losses and block tightening.
    Authorized,
    /// A forwarder or mailing list: its failures are explained.
    Forwarder,
    /// Not ours: its failures are spoofing and do not block.
    Unauthorized,
}

impl KnownSender {
    /// The fix for `domain`, if the catalogue has one.
    pub fn fix_for(&self, domain: &str) -> Option<String> {
        self.fix.as_ref().map(|f| f.replace("{domain}", domain))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogueFile {
    #[serde(default)]
    known_sender: Vec<KnownSender>,
}

/// What the reports say about one source.
#[derive(Debug, Clone, Default)]
pub struct Evidence<'a> {
    /// `d=` domains whose DKIM signature passed.
    pub dkim_pass: &'a [String],
    /// Domains whose SPF check passed.
    pub spf_pass: &'a [String],
    /// Envelope-from domains as reported.
    pub envelope_from: &'a [String],
    /// The source's reverse DNS name, when resolved.
    pub reverse_dns: Option<&'a str>,
    /// The source address as reported.
    pub ip: Option<&'a str>,
}

/// Which evidence named the sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Basis {
    /// A passing DKIM signature.
    Dkim,
    /// A passing SPF check.
    Spf,
    /// The envelope-from domain.
    EnvelopeFrom,
    /// The reverse DNS name.
    ReverseDns,
    /// The source address, in a configured range.
    Address,
}

impl Basis {
    fn describe(self) -> &'static str {
        match self {
            Basis::Dkim => "DKIM d=",
            Basis::Spf => "SPF domain ",
            Basis::EnvelopeFrom => "envelope-from ",
            Basis::ReverseDns => "reverse DNS ",
            Basis::Address => "address ",
        }
    }
}

/// Who a source is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The sender's name: a catalogue name, else the most telling domain,
    /// else `unknown`.
    pub name: String,
    /// The catalogue entry, when one matched.
    pub known: Option<Arc<KnownSender>>,
    /// The domain that identified it and how, e.g. `DKIM d=sendgrid.net`.
    pub because: Option<String>,
}

/// The catalogue of known senders.
#[derive(Debug, Clone)]
pub struct Catalogue {
    senders: Vec<KnownSender>,
}

impl Catalogue {
    /// The built-in catalogue.
    pub fn builtin() -> Catalogue {
        // The file is part of the binary and checked by a test; it cannot
        // fail to parse at run time.
        let senders = parse(include_str!("known_senders.toml")).unwrap_or_default();
        Catalogue { senders }
    }

    /// Adds the user's entries; an entry with the name of a built-in one
    /// replaces it, and the user's entries are searched first.
    pub fn with(mut self, extra: Vec<KnownSender>) -> Catalogue {
        self.senders.retain(|s| !extra.iter().any(|e| e.name.eq_ignore_ascii_case(&s.name)));
        let mut senders = extra;
        senders.append(&mut self.senders);
        Catalogue { senders }
    }

    /// All entries, in search order.
    pub fn senders(&self) -> &[KnownSender] {
        &self.senders
    }

    /// Whether an entry names addresses (`ips`): then a source's address
    /// is evidence too.
    pub fn has_address_ranges(&self) -> bool {
        self.senders.iter().any(|s| !s.ips.is_empty())
    }

    /// Names the sender behind `evidence`.
    pub fn identify(&self, evidence: &Evidence<'_>) -> Identity {
        // A configured address range is the user's own word: it wins.
        if let Some(ip) = evidence.ip.and_then(|ip| ip.trim().parse::<IpAddr>().ok()) {
            let hit = self.senders.iter().find(|s| s.ips.iter().any(|r| in_range(ip, r)));
            if let Some(sender) = hit {
                return Identity {
                    name: sender.name.clone(),
                    known: Some(Arc::new(sender.clone())),
                    because: Some(format!("{}{ip}", Basis::Address.describe())),
                };
            }
        }
        let rdns: Vec<String> =
            evidence.reverse_dns.map(|r| vec![r.to_owned()]).unwrap_or_default();
        let ranked: [(Basis, &[String]); 4] = [
            (Basis::Dkim, evidence.dkim_pass),
            (Basis::Spf, evidence.spf_pass),
            (Basis::EnvelopeFrom, evidence.envelope_from),
            (Basis::ReverseDns, &rdns),
        ];
        for (basis, domains) in ranked {
            for domain in domains {
                let hit = self.senders.iter().find(|s| {
                    let patterns = match basis {
                        Basis::Dkim => &s.dkim,
                        Basis::Spf | Basis::EnvelopeFrom => &s.spf,
                        Basis::ReverseDns => &s.rdns,
                        Basis::Address => return false,
                    };
                    patterns.iter().any(|p| within(domain, p))
                });
                if let Some(sender) = hit {
                    return Identity {
                        name: sender.name.clone(),
                        known: Some(Arc::new(sender.clone())),
                        because: Some(format!("{}{domain}", basis.describe())),
                    };
                }
            }
        }
        // Not in the catalogue: the strongest domain names it.
        for (basis, domains) in ranked {
            if let Some(domain) = domains.iter().find(|d| !d.is_empty()) {
                return Identity {
                    name: domain.clone(),
                    known: None,
                    because: Some(format!("{}{domain}", basis.describe())),
                };
            }
        }
        Identity { name: "unknown".to_owned(), known: None, because: None }
    }
}

/// Parses catalogue entries (`[[known_sender]]` tables).
pub fn parse(text: &str) -> Result<Vec<KnownSender>, String> {
    let file: CatalogueFile = toml::from_str(text).map_err(|e| e.to_string().trim().to_owned())?;
    validate(&file.known_sender)?;
    Ok(file.known_sender)
}

/// Checks entries: a name, and something to recognise the sender by.
pub fn validate(senders: &[KnownSender]) -> Result<(), String> {
    for s in senders {
        if s.name.trim().is_empty() {
            return Err("a known_sender has an empty name".into());
        }
        if s.dkim.is_empty() && s.spf.is_empty() && s.rdns.is_empty() && s.ips.is_empty() {
            return Err(format!("known_sender \"{}\" has no dkim, spf, rdns or ips entry", s.name));
        }
        if let Some(bad) = s.ips.iter().find(|r| parse_range(r).is_none()) {
            return Err(format!(
                "known_sender \"{}\": \"{bad}\" is not an address or CIDR range",
                s.name
            ));
        }
    }
    Ok(())
}

/// Parses `192.0.2.0/24`, `2001:db8::/32` or a single address.
fn parse_range(range: &str) -> Option<(IpAddr, u32)> {
    let (addr, bits) = match range.trim().split_once('/') {
        Some((a, b)) => (a.parse::<IpAddr>().ok()?, Some(b.parse::<u32>().ok()?)),
        None => (range.trim().parse::<IpAddr>().ok()?, None),
    };
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let bits = bits.unwrap_or(max);
    (bits <= max).then_some((addr, bits))
}

/// `ip` is inside `range` (an address or CIDR range).
pub fn in_range(ip: IpAddr, range: &str) -> bool {
    let Some((net, bits)) = parse_range(range) else { return false };
    let (a, b, width) = match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => (u128::from(u32::from(a)), u128::from(u32::from(b)), 32),
        (IpAddr::V6(a), IpAddr::V6(b)) => (u128::from(a), u128::from(b), 128),
        _ => return false,
    };
    if bits == 0 {
        return true;
    }
    let shift = width - bits;
    (a >> shift) == (b >> shift)
}

/// The organizational domain of `name` (RFC 7489 section 3.2): the public
/// suffix plus one label, from the Public Suffix List compiled into the
/// `psl` crate (updated by upgrading that crate). Lower case, without a
/// trailing dot. A name that is itself a public suffix, or that has a
/// single label, is its own organizational domain.
pub fn organizational_domain(name: &str) -> String {
    let name = name.trim().trim_end_matches('.').to_ascii_lowercase();
    match psl::domain_str(&name) {
        Some(org) => org.to_owned(),
        None => name,
    }
}

/// `d` and `domain` are aligned in relaxed mode (RFC 7489 section 3.1):
/// they share an organizational domain. A bare public suffix aligns with
/// nothing.
pub fn aligned_with(d: &str, domain: &str) -> bool {
    // Each answer costs two Public Suffix List lookups, and a summary asks
    // about the same few domains for every source: answers are kept (per
    // thread, a few thousand at most).
    thread_local! {
        static SEEN: RefCell<HashMap<String, HashMap<String, bool>>> = RefCell::new(HashMap::new());
    }
    SEEN.with(|seen| {
        if let Some(&known) = seen.borrow().get(domain).and_then(|m| m.get(d)) {
            return known;
        }
        let answer = aligned_uncached(d, domain);
        let mut seen = seen.borrow_mut();
        if seen.values().map(HashMap::len).sum::<usize>() >= 4_096 {
            seen.clear();
        }
        seen.entry(domain.to_owned()).or_default().insert(d.to_owned(), answer);
        answer
    })
}

fn aligned_uncached(d: &str, domain: &str) -> bool {
    let d = d.trim().trim_end_matches('.').to_ascii_lowercase();
    if d.is_empty() || psl::domain_str(&d).is_none() {
        return false;
    }
    organizational_domain(&d) == organizational_domain(domain)
}

/// `domain` is `suffix` or a subdomain of it (case-insensitive, at a label
/// boundary).
pub fn within(domain: &str, suffix: &str) -> bool {
    let (domain, suffix) = (domain.trim_end_matches('.'), suffix.trim_end_matches('.'));
    if suffix.is_empty() || domain.len() < suffix.len() {
        return false;
    }
    let (head, tail) = domain.split_at(domain.len() - suffix.len());
    tail.eq_ignore_ascii_case(suffix) && (head.is_empty() || head.ends_with('.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn the_builtin_catalogue_parses_and_names_are_unique() {
        let senders = parse(include_str!("known_senders.toml")).unwrap();
        assert!(senders.len() >= 15);
        let mut names: Vec<_> = senders.iter().map(|s| s.name.to_lowercase()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), senders.len(), "duplicate names");
        assert!(senders.iter().all(|s| s.fix.as_deref().is_some_and(|f| f.contains("{domain}"))));
        assert_eq!(Catalogue::builtin().senders().len(), senders.len());
    }

    #[test]
    fn an_esp_signing_with_its_own_domain_is_named_with_its_fix() {
        let dkim = strings(&["sendgrid.net"]);
        let spf = strings(&["em1234.sendgrid.net"]);
        let id = Catalogue::builtin().identify(&Evidence {
            dkim_pass: &dkim,
            spf_pass: &spf,
            ..Evidence::default()
        });
        assert_eq!(id.name, "SendGrid");
        assert_eq!(id.because.as_deref(), Some("DKIM d=sendgrid.net"));
        let fix = id.known.unwrap().fix_for("example.org").unwrap();
        assert!(fix.contains("d=example.org"), "{fix}");
    }

    #[test]
    fn stronger_evidence_wins_and_unknown_domains_name_the_sender() {
        let cat = Catalogue::builtin();
        // DKIM of the customer's own domain, bounces at SES: SES by SPF.
        let dkim = strings(&["example.com"]);
        let spf = strings(&["amazonses.com"]);
        let id =
            cat.identify(&Evidence { dkim_pass: &dkim, spf_pass: &spf, ..Evidence::default() });
        assert_eq!(id.name, "Amazon SES");
        assert_eq!(id.because.as_deref(), Some("SPF domain amazonses.com"));
        // Nothing known: the passing DKIM domain names it.
        let id = cat.identify(&Evidence { dkim_pass: &dkim, ..Evidence::default() });
        assert_eq!((id.name.as_str(), id.known.is_none()), ("example.com", true));
        // Only an envelope-from.
        let env = strings(&["bulk.deals-today.test"]);
        let id = cat.identify(&Evidence { envelope_from: &env, ..Evidence::default() });
        assert_eq!(id.because.as_deref(), Some("envelope-from bulk.deals-today.test"));
        // Reverse DNS alone.
        let id = cat.identify(&Evidence {
            reverse_dns: Some("o1.ptr1234.sendgrid.net"),
            ..Evidence::default()
        });
        assert_eq!(id.name, "SendGrid");
        assert_eq!(cat.identify(&Evidence::default()).name, "unknown");
    }

    #[test]
    fn configured_ranges_name_the_users_own_servers_first() {
        let extra = parse(
            "[[known_sender]]\nname = \"Office\"\nips = [\"198.51.100.0/28\", \"2001:db8::1\"]\nclass = \"authorized\"\n",
        )
        .unwrap();
        assert_eq!(extra[0].class, Some(DeclaredClass::Authorized));
        let cat = Catalogue::builtin().with(extra);
        let dkim = strings(&["sendgrid.net"]);
        let id = cat.identify(&Evidence {
            dkim_pass: &dkim,
            ip: Some("198.51.100.7"),
            ..Evidence::default()
        });
        assert_eq!(
            (id.name.as_str(), id.because.as_deref()),
            ("Office", Some("address 198.51.100.7"))
        );
        let id = cat.identify(&Evidence { ip: Some("198.51.100.16"), ..Evidence::default() });
        assert_eq!(id.name, "unknown");
        assert!(in_range("2001:db8::1".parse().unwrap(), "2001:db8::1"));
        assert!(!in_range("2001:db8::2".parse().unwrap(), "2001:db8::1"));
        assert!(in_range("10.1.2.3".parse().unwrap(), "0.0.0.0/0"));
        assert!(!in_range("10.1.2.3".parse().unwrap(), "2001:db8::/32"));
    }

    #[test]
    fn relaxed_alignment_accepts_parents_and_children_but_not_bare_tlds() {
        assert!(aligned_with("mail.example.com", "example.com"));
        assert!(aligned_with("example.com", "news.example.com"));
        assert!(aligned_with("mg.example.com", "news.example.com"));
        assert!(!aligned_with("com", "example.com"));
        assert!(!aligned_with("example.net", "example.com"));
    }

    #[test]
    fn organizational_domains_come_from_the_public_suffix_list() {
        assert_eq!(organizational_domain("mail.example.co.uk"), "example.co.uk");
        // Private suffixes of the list: each customer is its own organization.
        assert_eq!(organizational_domain("alice.github.io"), "alice.github.io");
        assert!(!aligned_with("alice.github.io", "bob.github.io"));
        assert_eq!(organizational_domain("a.b.example.com.au."), "example.com.au");
        assert_eq!(organizational_domain("Example.COM"), "example.com");
        assert_eq!(organizational_domain("localhost"), "localhost");
        assert!(!aligned_with("co.uk", "example.co.uk"));
    }

    #[test]
    fn suffixes_match_only_at_label_boundaries() {
        assert!(within("sendgrid.net", "sendgrid.net"));
        assert!(within("EM1.SendGrid.net.", "sendgrid.net"));
        assert!(!within("notsendgrid.net", "sendgrid.net"));
        assert!(!within("net", "sendgrid.net"));
        assert!(!within("anything", ""));
    }

    #[test]
    fn user_entries_come_first_and_replace_builtin_ones_by_name() {
        let extra = parse(
            r#"
            [[known_sender]]
            name = "sendgrid"
            dkim = ["sendgrid.net"]
            fix = "Ask marketing."
            [[known_sender]]
            name = "Our CRM"
            spf = ["crm.example.net"]
            "#,
        )
        .unwrap();
        let cat = Catalogue::builtin().with(extra);
        assert_eq!(cat.senders()[0].name, "sendgrid");
        assert_eq!(
            cat.senders().iter().filter(|s| s.name.eq_ignore_ascii_case("sendgrid")).count(),
            1
        );
        let spf = strings(&["bounce.crm.example.net"]);
        assert_eq!(
            cat.identify(&Evidence { spf_pass: &spf, ..Evidence::default() }).name,
            "Our CRM"
        );
        assert!(parse("[[known_sender]]\nname = \"x\"\n").unwrap_err().contains("no dkim"));
        assert!(parse("[[known_sender]]\nname = \"x\"\nips = [\"10.0.0.0/33\"]\n").is_err());
        assert!(parse("[[known_sender]]\nname = \"x\"\nspf = [\"a\"]\ncolour = 1\n").is_err());
    }
}
