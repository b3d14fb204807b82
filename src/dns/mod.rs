//! The record checker behind `check`: looks up a domain's DMARC, SPF, DKIM
//! and MX records live and lints them, each problem a [`Finding`] with a
//! stable code (listed in `docs/check.md`).
//!
//! Lookups go through the [`Lookup`] trait; [`HickoryLookup`] implements it
//! with `hickory-resolver` (the system resolver, or a given server). A
//! timeout or SERVFAIL is a finding about the record being looked up, never
//! a crash.

mod dkim;
mod dmarc;
mod spf;

use std::net::SocketAddr;
use std::time::Duration;

use serde::Serialize;

pub use dkim::check_selector;
pub use dmarc::{DmarcTags, parse_dmarc};
pub use spf::SpfTree;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing.
    Info,
    /// Likely to cause trouble.
    Warning,
    /// Broken: mail or reports are affected.
    Error,
}

impl Severity {
    /// `error`, `warning`, `info`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// The record a finding is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RecordKind {
    /// `_dmarc.<domain>`.
    Dmarc,
    /// The SPF TXT record.
    Spf,
    /// `<selector>._domainkey.<domain>`.
    Dkim,
    /// The MX records.
    Mx,
}

impl RecordKind {
    /// `dmarc`, `spf`, `dkim`, `mx`.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::Dmarc => "dmarc",
            RecordKind::Spf => "spf",
            RecordKind::Dkim => "dkim",
            RecordKind::Mx => "mx",
        }
    }
}

/// One problem (or fact) about a published record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Stable code (`spf-too-many-lookups`).
    pub code: &'static str,
    /// How bad it is.
    pub severity: Severity,
    /// The record it is about.
    pub record: RecordKind,
    /// What is wrong, quoting the record.
    pub message: String,
    /// What to do.
    pub fix: String,
}

impl Finding {
    pub(crate) fn new(
        code: &'static str,
        severity: Severity,
        record: RecordKind,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> Finding {
        Finding { code, severity, record, message: message.into(), fix: fix.into() }
    }
}

/// Why a lookup gave no answer (a name that does not exist, or has no
/// record of the type, is an empty answer, not an error).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    /// No answer in time.
    #[error("timed out")]
    Timeout,
    /// The server answered SERVFAIL.
    #[error("the server answered SERVFAIL")]
    ServFail,
    /// Anything else (refused, network error, bad name).
    #[error("{0}")]
    Other(String),
}

/// DNS as the checker needs it.
pub trait Lookup {
    /// The TXT records at `name`, each one string (its character-strings
    /// joined without separator, RFC 7208 section 3.3).
    fn txt(&self, name: &str) -> Result<Vec<String>, LookupError>;
    /// The MX records at `name`: preference and exchange (without the
    /// trailing dot; `""` for a null MX).
    fn mx(&self, name: &str) -> Result<Vec<(u16, String)>, LookupError>;
    /// How many A and AAAA records `name` has.
    fn addresses(&self, name: &str) -> Result<usize, LookupError>;
}

/// [`Lookup`] through `hickory-resolver`.
pub struct HickoryLookup {
    runtime: tokio::runtime::Runtime,
    resolver: hickory_resolver::TokioResolver,
}

/// Why the resolver could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ResolverError {
    /// The system configuration could not be read.
    #[error("cannot set up the DNS resolver: {0}")]
    Setup(String),
}

impl HickoryLookup {
    /// The system resolver (`/etc/resolv.conf`), or `server` when given.
    pub fn new(server: Option<SocketAddr>, timeout: Duration) -> Result<Self, ResolverError> {
        use hickory_resolver::config::{NameServerConfig, ResolverConfig};
        use hickory_resolver::net::runtime::TokioRuntimeProvider;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| ResolverError::Setup(e.to_string()))?;
        let mut builder = match server {
            Some(addr) => {
                let mut ns = NameServerConfig::udp_and_tcp(addr.ip());
                for c in &mut ns.connections {
                    c.port = addr.port();
                }
                hickory_resolver::Resolver::builder_with_config(
                    ResolverConfig::from_name_servers(vec![ns]),
                    TokioRuntimeProvider::default(),
                )
            }
            None => {
                let _guard = runtime.enter();
                hickory_resolver::Resolver::builder_tokio()
                    .map_err(|e| ResolverError::Setup(e.to_string()))?
            }
        };
        let opts = builder.options_mut();
        opts.timeout = timeout;
        opts.attempts = 1;
        // The checker wants what is published now, not a cached answer.
        opts.cache_size = 0;
        let resolver = {
            let _guard = runtime.enter();
            builder.build().map_err(|e| ResolverError::Setup(e.to_string()))?
        };
        Ok(HickoryLookup { runtime, resolver })
    }
}

fn net_error(e: &hickory_resolver::net::NetError) -> Option<LookupError> {
    use hickory_resolver::net::{DnsError, NetError};
    use hickory_resolver::proto::op::ResponseCode;
    if e.is_nx_domain() || e.is_no_records_found() {
        return None;
    }
    Some(match e {
        NetError::Timeout => LookupError::Timeout,
        NetError::Dns(DnsError::ResponseCode(ResponseCode::ServFail)) => LookupError::ServFail,
        other => LookupError::Other(other.to_string()),
    })
}

fn fqdn(name: &str) -> String {
    let name = name.trim_end_matches('.');
    format!("{name}.")
}

impl Lookup for HickoryLookup {
    fn txt(&self, name: &str) -> Result<Vec<String>, LookupError> {
        use hickory_resolver::proto::rr::RData;
        match self.runtime.block_on(self.resolver.txt_lookup(fqdn(name))) {
            Ok(lookup) => Ok(lookup
                .answers()
                .iter()
                .filter_map(|r| match &r.data {
                    RData::TXT(txt) => Some(
                        txt.txt_data.iter().map(|s| String::from_utf8_lossy(s)).collect::<String>(),
                    ),
                    _ => None,
                })
                .collect()),
            Err(e) => net_error(&e).map_or(Ok(Vec::new()), Err),
        }
    }

    fn mx(&self, name: &str) -> Result<Vec<(u16, String)>, LookupError> {
        use hickory_resolver::proto::rr::RData;
        match self.runtime.block_on(self.resolver.mx_lookup(fqdn(name))) {
            Ok(lookup) => Ok(lookup
                .answers()
                .iter()
                .filter_map(|r| match &r.data {
                    RData::MX(mx) => Some((
                        mx.preference,
                        mx.exchange.to_ascii().trim_end_matches('.').to_owned(),
                    )),
                    _ => None,
                })
                .collect()),
            Err(e) => net_error(&e).map_or(Ok(Vec::new()), Err),
        }
    }

    fn addresses(&self, name: &str) -> Result<usize, LookupError> {
        match self.runtime.block_on(self.resolver.lookup_ip(fqdn(name))) {
            Ok(lookup) => Ok(lookup.iter().count()),
            Err(e) => net_error(&e).map_or(Ok(0), Err),
        }
    }
}

/// A lookup that failed, as a finding about `record`.
pub(crate) fn lookup_failed(record: RecordKind, name: &str, e: &LookupError) -> Finding {
    let code = match e {
        LookupError::Timeout => "dns-timeout",
        LookupError::ServFail => "dns-servfail",
        LookupError::Other(_) => "dns-error",
    };
    Finding::new(
        code,
        Severity::Error,
        record,
        format!("the lookup of {name} failed: {e}"),
        "check that the domain's name servers answer (and that --resolver points at a working resolver); receivers that fail the same way treat the record as absent or temporarily failed",
    )
}

/// What the reports and the verdict say, to compare the live records with.
#[derive(Debug, Clone, Default)]
pub struct Evidence {
    /// DKIM selectors seen in the reports for `d=` under the domain: (d, selector).
    pub selectors: Vec<(String, String)>,
    /// The verdict's name (`not-ready`, ...) when there are reports.
    pub verdict: Option<String>,
    /// The policy the verdict says the evidence supports (`none`,
    /// `quarantine`, `reject`), when it says one.
    pub supported: Option<String>,
    /// The next record the verdict recommends.
    pub next_record: Option<String>,
    /// The verdict's blocking senders, with their messages (`SendGrid: 1200
    /// messages`), for the policy comparison.
    pub blocking: Vec<String>,
    /// Legitimate mail fails DMARC (the what-if counts it as affected).
    pub legitimate_failing: bool,
    /// Sources whose mail passed SPF aligned with the domain: messages and
    /// source count.
    pub spf_passing: (u64, usize),
    /// Known services whose mail, with an envelope-from under the domain,
    /// failed SPF: (name, the include domain their catalogue entry gives,
    /// failing messages).
    pub spf_failing_services: Vec<(String, String, u64)>,
}

/// The findings for one domain, worst first.
pub fn check_domain(
    lookup: &dyn Lookup,
    domain: &str,
    extra_selectors: &[String],
    evidence: &Evidence,
) -> Vec<Finding> {
    check_domain_live(lookup, domain, extra_selectors, evidence).0
}

/// The findings for one domain, worst first, and the DMARC record found
/// published (its tags as `k=v; ...`), when one was.
pub fn check_domain_live(
    lookup: &dyn Lookup,
    domain: &str,
    extra_selectors: &[String],
    evidence: &Evidence,
) -> (Vec<Finding>, Option<String>) {
    let domain = domain.trim().trim_end_matches('.').to_ascii_lowercase();
    let mut out = Vec::new();
    let live = dmarc::check(lookup, &domain, &mut out);
    let live_text = live.as_ref().map(|tags| {
        tags.0
            .iter()
            .filter(|(k, _)| !k.is_empty())
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    });
    dmarc::compare(&domain, live.as_ref(), evidence, &mut out);
    spf::check(lookup, &domain, evidence, &mut out);
    let mut selectors: Vec<(String, String)> =
        extra_selectors.iter().map(|s| (domain.clone(), s.trim().to_owned())).collect();
    selectors.extend(evidence.selectors.iter().cloned());
    selectors.sort();
    selectors.dedup();
    for (d, s) in &selectors {
        if !s.is_empty() {
            dkim::check_selector(lookup, d, s, &mut out);
        }
    }
    match lookup.mx(&domain) {
        Ok(mx) if mx.is_empty() => out.push(Finding::new(
            "mx-missing",
            Severity::Info,
            RecordKind::Mx,
            format!("{domain} has no MX record: it receives no mail"),
            format!(
                "fine for a domain that only sends (bounces then go to the envelope-from domain); if {domain} sends nothing either, publish a null MX (\"0 .\", RFC 7505)"
            ),
        )),
        Ok(_) => {}
        Err(e) => out.push(lookup_failed(RecordKind::Mx, &domain, &e)),
    }
    out.sort_by_key(|f| std::cmp::Reverse(f.severity));
    (out, live_text)
}
