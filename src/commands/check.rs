//! `check`: the domains' DMARC, SPF, DKIM and MX records, looked up live,
//! linted, and compared with what the stored reports and the verdict say.
//! The findings are stored with their time, for `summary` and `report`.

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde::Serialize;

use crate::analyse::verdict::Verdict;
use crate::analyse::{self, DomainSummary};
use crate::cli::args::{CheckArgs, CheckFormat, WindowArgs};
use crate::cli::settings::Settings;
use crate::cli::{EXIT_OK, EXIT_PARTIAL, emit, exit, note};
use crate::dns::{self, Evidence, Finding, HickoryLookup, Severity};
use crate::render::format::plural;
use crate::store::{Store, StoredFinding};

/// `IP` or `IP:PORT` (`[v6]:PORT`); port 53 by default.
fn parse_resolver(text: &str) -> Result<SocketAddr> {
    let text = text.trim();
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    if let Ok(ip) = text.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, 53));
    }
    bail!("--resolver {text}: not an IP address or IP:PORT")
}

/// What the verdict says the evidence supports.
fn supported(d: &DomainSummary) -> Option<String> {
    let r = &d.readiness;
    Some(
        match r.verdict {
            Verdict::InsufficientData => return None,
            Verdict::ReadyForQuarantine => "quarantine",
            Verdict::ReadyForReject | Verdict::Enforced => "reject",
            // Legitimate mail fails DMARC: no enforcement is safe.
            Verdict::NotReady if r.what_if.authorized_affected > 0 => "none",
            // Otherwise the step below the one that is blocked.
            Verdict::NotReady if r.what_if.policy == "reject" => "quarantine",
            Verdict::NotReady => "none",
        }
        .to_owned(),
    )
}

fn evidence(
    store: Option<&Store>,
    summary: Option<&DomainSummary>,
    options: &analyse::Options<'_>,
    domain: &str,
) -> Result<Evidence> {
    let mut e = Evidence {
        selectors: match store {
            Some(store) => store.dkim_selectors(domain).context("reading DKIM selectors")?,
            None => Vec::new(),
        },
        ..Evidence::default()
    };
    let (Some(d), Some(store)) = (summary, store) else { return Ok(e) };
    e.verdict = Some(d.readiness.verdict.as_str().to_owned());
    e.supported = supported(d);
    e.next_record = Some(d.readiness.recommended_record.clone());
    e.legitimate_failing = d.readiness.what_if.authorized_affected > 0;
    e.blocking = d
        .readiness
        .blocking
        .iter()
        .take(3)
        .map(|b| {
            format!("{}: {}", b.sender, crate::units::plural(b.messages, "message", "messages"))
        })
        .collect();
    // Every source of the window, read again one at a time (in address
    // order); the services are listed in the order of their busiest source.
    let mut busiest: Vec<(u64, String)> = Vec::new();
    analyse::each_source(store, d, options, &mut |row| {
        if row.totals.spf_aligned_pass > 0 {
            e.spf_passing.0 += row.totals.spf_aligned_pass;
            e.spf_passing.1 += 1;
        }
        let Some(known) = &row.known else { return };
        let ours = row.envelope_from.iter().any(|f| analyse::senders::aligned_with(f, domain));
        let failing = row.totals.messages.saturating_sub(row.totals.spf_aligned_pass);
        if ours
            && failing > 0
            && let Some(include) = known.spf.first()
        {
            let rank = (row.totals.messages, row.ip.clone());
            match e.spf_failing_services.iter().position(|(n, _, _)| *n == known.name) {
                Some(i) => {
                    e.spf_failing_services[i].2 += failing;
                    if (rank.0, std::cmp::Reverse(&rank.1))
                        > (busiest[i].0, std::cmp::Reverse(&busiest[i].1))
                    {
                        busiest[i] = rank;
                    }
                }
                None => {
                    e.spf_failing_services.push((known.name.clone(), include.clone(), failing));
                    busiest.push(rank);
                }
            }
        }
    })
    .context("reading the sources")?;
    let mut ranked: Vec<_> = busiest.into_iter().zip(e.spf_failing_services).collect();
    ranked.sort_by(|(a, _), (b, _)| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    e.spf_failing_services = ranked.into_iter().map(|(_, s)| s).collect();
    Ok(e)
}

#[derive(Serialize)]
struct JsonOut<'a> {
    domains: Vec<JsonDomain<'a>>,
}

#[derive(Serialize)]
struct JsonDomain<'a> {
    domain: &'a str,
    findings: &'a [Finding],
}

/// Runs `check`.
pub fn run(settings: &Settings, args: &CheckArgs) -> Result<ExitCode> {
    let server = args.resolver.as_deref().map(parse_resolver).transpose()?;
    let lookup = HickoryLookup::new(server, Duration::from_secs(args.timeout))?;
    // Without a database the records are still checked, only not compared
    // with reports nor stored; `check` never creates one.
    let store = if !super::stored_anything(&settings.db) {
        note(&format!(
            "no database at {}: the records are checked without comparing them with reports, and the findings are not stored",
            settings.db.display()
        ));
        None
    } else {
        Some(Store::open_existing(&settings.db)?)
    };
    let domains: Vec<String> = args
        .domains
        .iter()
        .map(|d| d.trim().trim_end_matches('.').to_ascii_lowercase())
        .filter(|d| !d.is_empty())
        .collect();
    // The verdict of each domain that has reports (30 days to the newest).
    let window =
        WindowArgs { domains: Vec::new(), since: None, until: None, days: None, all: false };
    let mut options = settings.analysis(&window)?;
    let summary = match &store {
        Some(store) => {
            let stored = analyse::summary::domains(store).context("listing the stored domains")?;
            options.domains = domains.iter().filter(|d| stored.contains(d)).cloned().collect();
            if options.domains.is_empty() {
                None
            } else {
                Some(analyse::summarise(store, &options).context("summarising")?)
            }
        }
        None => None,
    };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut results = Vec::new();
    for domain in &domains {
        let section = summary.as_ref().and_then(|s| s.domains.iter().find(|d| &d.domain == domain));
        let evidence = evidence(store.as_ref(), section, &options, domain)?;
        let (findings, live) = dns::check_domain_live(&lookup, domain, &args.selectors, &evidence);
        let mut stored: Vec<StoredFinding> = findings
            .iter()
            .map(|f| StoredFinding {
                code: f.code.to_owned(),
                severity: f.severity.as_str().to_owned(),
                record: f.record.as_str().to_owned(),
                message: f.message.clone(),
                fix: f.fix.clone(),
            })
            .collect();
        // The published record, kept for the summary's next record (its
        // rua and ruf, which reports do not carry).
        if let Some(record) = live {
            stored.push(StoredFinding {
                code: crate::store::LIVE_DMARC.to_owned(),
                severity: "info".to_owned(),
                record: "dmarc".to_owned(),
                message: record,
                fix: String::new(),
            });
        }
        if let Some(store) = &store
            && let Err(e) = store.save_check(domain, now, &stored)
        {
            note(&format!("{domain}: the findings could not be stored: {e:#}"));
        }
        results.push((domain.clone(), section.map(|s| s.readiness.verdict), findings));
    }
    let errors =
        results.iter().flat_map(|(_, _, f)| f).filter(|f| f.severity == Severity::Error).count();
    match args.format {
        CheckFormat::Json => {
            let out = JsonOut {
                domains: results
                    .iter()
                    .map(|(domain, _, findings)| JsonDomain { domain, findings })
                    .collect(),
            };
            emit(&(serde_json::to_string_pretty(&out)? + "\n"))?;
        }
        CheckFormat::Text => {
            let mut text = String::new();
            for (domain, verdict, findings) in &results {
                let n = |s: Severity| findings.iter().filter(|f| f.severity == s).count();
                text.push_str(&format!(
                    "{domain}: {}, {}, {}; verdict from the reports: {}\n",
                    plural(n(Severity::Error) as u64, "error", "errors"),
                    plural(n(Severity::Warning) as u64, "warning", "warnings"),
                    plural(n(Severity::Info) as u64, "note", "notes"),
                    verdict.map_or("none (no reports stored)", |v| v.as_str())
                ));
                for f in findings {
                    text.push_str(&format!(
                        "  {:<7} {:<5} {}: {}\n          fix: {}\n",
                        f.severity.as_str(),
                        f.record.as_str(),
                        f.code,
                        f.message,
                        f.fix
                    ));
                }
            }
            emit(&text)?;
        }
    }
    Ok(exit(if errors > 0 { EXIT_PARTIAL } else { EXIT_OK }))
}
