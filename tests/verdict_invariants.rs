//! The verdict's invariants, over generated domains: whatever the senders,
//! their classes, volumes, recent days and the published policy, the
//! verdict never contradicts its own blocking list, what-if, sentence and
//! next record, and the next record is never weaker than the published one.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use dmarc_report::analyse::classify::{Sender, SenderClass};
use dmarc_report::analyse::policy::{Enforcement, PolicyHistory, PublishedPolicy};
use dmarc_report::analyse::streams::Stream;
use dmarc_report::analyse::summary::{
    DayTotals, DomainTotals, Reporter, SourceRow, Totals, Window,
};
use dmarc_report::analyse::verdict::{Criteria, Input, Readiness, Verdict, assess, not_weaker};
use proptest::prelude::*;

const DAY: i64 = 86_400;
const END: i64 = 1_795_046_400;

/// One generated sender: class, window volume, pass counts, recent share.
#[derive(Debug, Clone)]
struct Gen {
    class: usize,
    older: Totals,
    recent: Totals,
    explained_share: u8,
    /// Some of its failing mail is From a subdomain, authenticated.
    subdomain: bool,
    new: bool,
    forwarded: bool,
    /// Two streams: this share (percent) of its failing mail is a stream
    /// of its own that authenticates as the service (`d=esp.example`)
    /// without aligning; the rest, with all its passing mail, the other.
    unaligned_stream: Option<u8>,
}

fn totals() -> impl Strategy<Value = Totals> {
    (0u64..3000, 0u8..=100, 0u8..=100).prop_map(|(messages, pass, dkim)| {
        let dmarc_pass = messages * u64::from(pass) / 100;
        let dkim_aligned_pass = dmarc_pass * u64::from(dkim) / 100;
        Totals {
            messages,
            dmarc_pass,
            spf_aligned_pass: dmarc_pass - dkim_aligned_pass,
            dkim_aligned_pass,
            authenticated: dmarc_pass,
        }
    })
}

fn sender() -> impl Strategy<Value = Gen> {
    (
        0usize..5,
        totals(),
        totals(),
        0u8..=100,
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        prop_oneof![Just(None), (1u8..=100).prop_map(Some)],
    )
        .prop_map(
            |(
                class,
                older,
                recent,
                explained_share,
                subdomain,
                new,
                forwarded,
                unaligned_stream,
            )| {
                Gen {
                    class,
                    older,
                    recent,
                    explained_share,
                    subdomain,
                    new,
                    forwarded,
                    unaligned_stream,
                }
            },
        )
}

fn tag(values: &'static [&'static str]) -> impl Strategy<Value = Option<String>> {
    prop_oneof![Just(None), proptest::sample::select(values).prop_map(|v| Some(v.to_owned()))]
}

fn policy() -> impl Strategy<Value = (PublishedPolicy, i64)> {
    const P: &[&str] = &["none", "quarantine", "reject"];
    (
        proptest::sample::select(P),
        tag(P),
        tag(P),
        prop_oneof![Just(None), Just(Some(25u32)), Just(Some(50)), Just(Some(100))],
        tag(&["y", "n"]),
        tag(&["r", "s"]),
        0i64..60,
    )
        .prop_map(|(p, sp, np, pct, testing, adkim, days)| {
            (
                PublishedPolicy {
                    p: Some(p.to_owned()),
                    sp,
                    np,
                    pct,
                    testing,
                    adkim,
                    ..PublishedPolicy::default()
                },
                END - days * DAY,
            )
        })
}

/// The two streams of a sender's days (see [`Gen::unaligned_stream`]):
/// they add up to its days.
fn split_streams(daily: &[DayTotals], share: u8) -> Vec<Stream> {
    let mut aligned =
        Stream { dkim: "example.com".into(), spf: "example.com".into(), daily: vec![] };
    let mut unaligned =
        Stream { dkim: "esp.example".into(), spf: "esp.example".into(), daily: vec![] };
    for d in daily {
        let n = (d.totals.messages - d.totals.dmarc_pass) * u64::from(share) / 100;
        let part = Totals { messages: n, authenticated: n, ..Totals::default() };
        // The failing mail is the subdomain's when the sender has some.
        let sub_part = Totals {
            messages: n.min(d.subdomain.messages),
            authenticated: n.min(d.subdomain.messages),
            ..Totals::default()
        };
        let rest = |a: &Totals, b: &Totals| Totals {
            messages: a.messages - b.messages,
            dmarc_pass: a.dmarc_pass - b.dmarc_pass,
            spf_aligned_pass: a.spf_aligned_pass - b.spf_aligned_pass,
            dkim_aligned_pass: a.dkim_aligned_pass - b.dkim_aligned_pass,
            authenticated: a.authenticated.saturating_sub(b.authenticated),
        };
        unaligned.daily.push(DayTotals { day: d.day, totals: part, subdomain: sub_part, ..*d });
        aligned.daily.push(DayTotals {
            day: d.day,
            totals: rest(&d.totals, &part),
            subdomain: rest(&d.subdomain, &sub_part),
            ..*d
        });
    }
    vec![aligned, unaligned]
}

fn build(gens: &[Gen], days: u64, large: usize) -> (DomainTotals, Vec<Sender>, Vec<Vec<Stream>>) {
    let mut domain_totals = Totals::default();
    let mut sources = Vec::new();
    let mut senders = Vec::new();
    let mut streams = Vec::new();
    let mut subdomains: BTreeMap<String, Totals> = BTreeMap::new();
    for (i, g) in gens.iter().enumerate() {
        let mut t = g.older;
        t.merge(&g.recent);
        domain_totals.merge(&t);
        let name = format!("sender {i}");
        let failing = t.messages - t.dmarc_pass;
        // Its failing mail From news.example.com, authenticated: a service
        // the strict alignment fails, which sp governs.
        let sub = |day: &Totals| {
            let n = if g.subdomain { day.messages - day.dmarc_pass } else { 0 };
            Totals { messages: n, authenticated: n, ..Totals::default() }
        };
        if g.subdomain {
            subdomains.entry("news.example.com".into()).or_default().merge(&Totals {
                messages: failing,
                authenticated: failing,
                ..Totals::default()
            });
        }
        let reasons = if g.forwarded { vec!["mailing_list".to_owned()] } else { vec![] };
        // A forwarded source has its failing messages explained, day by day.
        let day = |day: i64, totals: Totals| DayTotals {
            day,
            totals,
            subdomain: sub(&totals),
            disposition: [0; 3],
            explained_failing: if g.forwarded { totals.messages - totals.dmarc_pass } else { 0 },
        };
        let daily = vec![day(END - 20 * DAY, g.older), day(END - 2 * DAY, g.recent)];
        streams.push(match g.unaligned_stream {
            Some(share) => split_streams(&daily, share),
            None => vec![],
        });
        sources.push(SourceRow {
            ip: format!("192.0.2.{i}"),
            sender: name.clone(),
            identified_by: None,
            totals: t,
            first_seen: END - 30 * DAY,
            last_seen: END,
            dkim_domains: vec![],
            spf_domains: vec![],
            reasons: reasons.clone(),
            envelope_from: vec![],
            rdns: None,
            known: None,
            class: SenderClass::ALL[g.class],
            daily: daily.clone(),
        });
        senders.push(Sender {
            name,
            class: SenderClass::ALL[g.class],
            explanation: String::new(),
            identified_by: None,
            fix: None,
            declared: false,
            totals: t,
            source_count: 1,
            ips: vec![],
            busiest_ips: vec![],
            first_seen: END - 30 * DAY,
            last_seen: END,
            new: g.new,
            dkim_domains: vec![],
            spf_domains: vec![],
            reasons,
            explained_failing: if g.forwarded {
                failing * u64::from(g.explained_share) / 100
            } else {
                0
            },
            daily,
        });
    }
    let orgs = ["google.com", "Outlook.com", "Yahoo! Inc."];
    let totals = DomainTotals {
        domain: "example.com".into(),
        window: Window { begin: END - 30 * DAY, end: END },
        reports: 60,
        reporters: large as u64,
        reporting_orgs: orgs[..large]
            .iter()
            .map(|o| Reporter { org_name: (*o).to_owned(), reports: 30, messages: 0 })
            .collect(),
        newest_report_end: Some(END),
        days_covered: days,
        totals: domain_totals,
        disposition: BTreeMap::new(),
        subdomains,
        source_count: sources.len() as u64,
        sources,
    };
    (totals, senders, streams)
}

/// Reads back a `v=DMARC1; p=...` record.
fn parse_record(record: &str) -> PublishedPolicy {
    let mut p = PublishedPolicy::default();
    for part in record.split(';').map(str::trim) {
        let Some((k, v)) = part.split_once('=') else { continue };
        let v = Some(v.to_owned());
        match k {
            "p" => p.p = v,
            "sp" => p.sp = v,
            "np" => p.np = v,
            "pct" => p.pct = v.and_then(|v| v.parse().ok()),
            "t" => p.testing = v,
            _ => {}
        }
    }
    p
}

/// The verdict agrees with its blocking list, its what-if and its
/// sentence.
fn agrees_with_its_blocking_list(
    r: &Readiness,
    current: &PublishedPolicy,
) -> Result<(), TestCaseError> {
    let w = &r.what_if;
    if is_ready(r) {
        prop_assert!(r.blocking.is_empty(), "{r:#?}");
    }
    if r.verdict == Verdict::NotReady {
        prop_assert!(!r.blocking.is_empty(), "{r:#?}");
    }
    // The what-if is about the policy the verdict is about, and so is every
    // blocking entry and the sentence.
    let expected = match r.verdict {
        Verdict::ReadyForQuarantine => Some("quarantine"),
        Verdict::ReadyForReject | Verdict::Enforced => Some("reject"),
        _ => None,
    };
    if let Some(p) = expected {
        prop_assert_eq!(w.policy.as_str(), p);
    }
    for b in &r.blocking {
        prop_assert_eq!(&b.blocks, &w.policy, "{:#?}", r);
        prop_assert!(r.sentence.contains(&r.blocking[0].sender), "{}", r.sentence);
    }
    // At reject already, nothing speaks of quarantine as the next step.
    if current.enforcement() == Enforcement::Reject {
        prop_assert_eq!(w.policy.as_str(), "reject", "{:#?}", r);
    }
    for other in ["quarantine", "reject"].iter().filter(|p| **p != w.policy) {
        prop_assert!(!r.sentence.contains(&format!("move to p={other}")), "{}", r.sentence);
        prop_assert!(!r.sentence.contains(&format!("ready for p={other}")), "{}", r.sentence);
    }
    if matches!(r.verdict, Verdict::ReadyForQuarantine | Verdict::ReadyForReject) {
        prop_assert!(r.sentence.contains(&format!("p={}", w.policy)), "{}", r.sentence);
    }
    if r.verdict == Verdict::Enforced {
        prop_assert_eq!(current.enforcement(), Enforcement::Reject);
        prop_assert!(!r.sentence.contains("not"), "{}", r.sentence);
    }
    Ok(())
}

fn is_ready(r: &Readiness) -> bool {
    matches!(r.verdict, Verdict::ReadyForQuarantine | Verdict::ReadyForReject | Verdict::Enforced)
}

/// A ready verdict loses no legitimate mail in its what-if, and the what-if
/// splits exactly the failing messages.
fn ready_loses_nothing(r: &Readiness, failing: u64) -> Result<(), TestCaseError> {
    let w = &r.what_if;
    if is_ready(r) {
        prop_assert_eq!(w.authorized_affected, 0, "{:#?}", r);
        prop_assert_eq!(w.authorized_at_risk, 0, "{:#?}", r);
    }
    prop_assert_eq!(
        w.authorized_affected
            + w.authorized_tolerated
            + w.forwarded_affected
            + w.unclassified_affected
            + w.unauthorized_stopped
            + w.subdomains_unaffected,
        failing
    );
    Ok(())
}

/// The next record is never weaker than the published one, is at the
/// policy the verdict names, and each ramp step is no weaker than the one
/// before.
fn next_record_never_weaker(r: &Readiness, current: &PublishedPolicy) -> Result<(), TestCaseError> {
    let w = &r.what_if;
    let next = parse_record(&r.recommended_record);
    prop_assert!(not_weaker(&next, current), "{} after {}", r.recommended_record, current.record());
    match r.verdict {
        Verdict::ReadyForQuarantine | Verdict::ReadyForReject => {
            prop_assert_eq!(next.p(), w.policy.as_str(), "{}", r.recommended_record);
        }
        _ => prop_assert_eq!(next.p(), current.p(), "{}", r.recommended_record),
    }
    let mut before = next;
    for step in &r.ramp {
        let step = parse_record(step);
        prop_assert!(not_weaker(&step, &before), "{:?}", r.ramp);
        before = step;
    }
    Ok(())
}

/// The verdict of a generated domain, and its failing messages.
fn verdict_of(
    gens: &[Gen],
    current: &PublishedPolicy,
    since: i64,
    days: u64,
    large: usize,
) -> (Readiness, u64) {
    let (totals, senders, streams) = build(gens, days, large);
    let history =
        PolicyHistory { current: current.clone(), changes: vec![], enforcement_since: Some(since) };
    let r = assess(
        &Input {
            totals: &totals,
            senders: &senders,
            streams: &streams,
            policy: &history,
            rua: None,
            live_record: None,
        },
        &Criteria::default(),
    );
    let failing: u64 = senders.iter().map(|s| s.failing()).sum();
    (r, failing)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(600))]

    #[test]
    fn the_verdict_never_contradicts_its_own_blocking_list(
        gens in proptest::collection::vec(sender(), 0..7),
        (current, since) in policy(),
        days in 0u64..45,
        large in 0usize..=3,
    ) {
        let (r, _) = verdict_of(&gens, &current, since, days, large);
        agrees_with_its_blocking_list(&r, &current)?;
    }

    #[test]
    fn the_next_record_is_never_weaker_than_the_published_one(
        gens in proptest::collection::vec(sender(), 0..7),
        (current, since) in policy(),
        days in 0u64..45,
        large in 0usize..=3,
    ) {
        let (r, _) = verdict_of(&gens, &current, since, days, large);
        next_record_never_weaker(&r, &current)?;
    }

    #[test]
    fn a_failing_stream_of_a_legitimate_sender_is_never_ready_even_when_the_sender_passes(
        gens in proptest::collection::vec(sender(), 0..7),
        (current, since) in policy(),
        days in 0u64..45,
        large in 0usize..=3,
    ) {
        let (r, failing) = verdict_of(&gens, &current, since, days, large);
        // A legitimate sender whose unaligned stream (mail From the domain
        // itself, no forwarding overrides) has at least 20 failing
        // messages: nothing lets that mail through a stricter policy.
        let criteria = Criteria::default();
        let blocked_stream = gens.iter().any(|g| {
            let failing = g.older.messages - g.older.dmarc_pass + g.recent.messages
                - g.recent.dmarc_pass;
            SenderClass::ALL[g.class].is_legitimate()
                && !g.subdomain
                && !g.forwarded
                && g.unaligned_stream.is_some_and(|share| {
                    let part = |t: &Totals| (t.messages - t.dmarc_pass) * u64::from(share) / 100;
                    // Judged on the recent days when the sender has mail
                    // there: the stream must still send then.
                    let judged = if g.recent.messages > 0 { &g.recent } else { &g.older };
                    failing > 0
                        && part(judged) > 0
                        && part(&g.older) + part(&g.recent) >= criteria.meaningful_messages
                })
        });
        if blocked_stream {
            prop_assert!(!is_ready(&r), "{r:#?}");
            prop_assert!(r.what_if.authorized_affected > 0 || r.verdict == Verdict::InsufficientData, "{r:#?}");
        }
        ready_loses_nothing(&r, failing)?;
        agrees_with_its_blocking_list(&r, &current)?;
    }

    #[test]
    fn a_ready_verdict_never_has_legitimate_losses_in_its_what_if(
        gens in proptest::collection::vec(sender(), 0..7),
        (current, since) in policy(),
        days in 0u64..45,
        large in 0usize..=3,
    ) {
        let (r, failing) = verdict_of(&gens, &current, since, days, large);
        ready_loses_nothing(&r, failing)?;
    }
}
