//! The readiness verdict on databases with known truth: each scenario
//! stores 30 days (or fewer) of reports from two large receivers, written
//! here in code, and pins the verdict, the blocking senders and the what-if
//! numbers, on SQLite and on PostgreSQL. A property test checks that
//! senders and the what-if always add up to the domain.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Backend, both_backends};

use dmarc_report::analyse::classify::SenderClass;
use dmarc_report::analyse::senders::{Catalogue, parse};
use dmarc_report::analyse::summary::{self, WindowSpec};
use dmarc_report::analyse::verdict::{Criteria, Verdict};
use dmarc_report::analyse::{self, DomainSummary, Options};
use dmarc_report::ingest::Ingester;
use dmarc_report::limits::Limits;
use dmarc_report::store::Store;
use dmarc_report::unpack::Hints;
use dmarc_report_testkit::report::{Record, Report};
use proptest::prelude::*;

const DOMAIN: &str = "example.com";
/// 2026-10-20 00:00 UTC: day 0 of every scenario.
const DAY0: i64 = 1_792_454_400;
const DAY: i64 = 86_400;

/// One kind of traffic: what a source's records look like.
#[derive(Clone)]
struct Source {
    ips: Vec<String>,
    /// Messages per day and reporter.
    per_day: u64,
    /// (d=, result)
    dkim: Vec<(String, &'static str)>,
    /// (domain, result)
    spf: (String, &'static str),
    reason: Option<&'static str>,
    /// The reason's comment (`arc=pass`).
    comment: Option<&'static str>,
    /// `header_from` when not the domain itself.
    from: Option<&'static str>,
    /// The DMARC evaluation as the receiver wrote it (DKIM, SPF), when it
    /// differs from relaxed alignment (strict `adkim=s`).
    evaluated: Option<(bool, bool)>,
    /// Days on which it sends.
    days: std::ops::Range<i64>,
}

fn source(
    ip: &str,
    per_day: u64,
    dkim: &[(&str, &'static str)],
    spf: (&str, &'static str),
) -> Source {
    Source {
        ips: vec![ip.to_owned()],
        per_day,
        dkim: dkim.iter().map(|(d, r)| ((*d).to_owned(), *r)).collect(),
        spf: (spf.0.to_owned(), spf.1),
        reason: None,
        comment: None,
        from: None,
        evaluated: None,
        days: 0..30,
    }
}

/// The domain's own servers: DKIM and SPF of the domain pass.
fn own() -> Source {
    source("192.0.2.10", 300, &[(DOMAIN, "pass")], (DOMAIN, "pass"))
}

fn sendgrid() -> Source {
    source("167.89.1.1", 20, &[("sendgrid.net", "pass")], ("em123.sendgrid.net", "pass"))
}

fn forwarder() -> Source {
    source("203.0.113.5", 4, &[(DOMAIN, "pass")], (DOMAIN, "fail"))
}

fn mailing_list() -> Source {
    let mut s = source(
        "203.0.113.6",
        3,
        &[(DOMAIN, "fail"), ("lists.example.net", "pass")],
        ("lists.example.net", "pass"),
    );
    s.reason = Some("mailing_list");
    s
}

fn spoofing(per_day: u64) -> Source {
    let mut s = source("198.18.0.1", per_day, &[], (DOMAIN, "fail"));
    s.ips = (1..=20).map(|i| format!("198.18.0.{i}")).collect();
    s
}

fn aligned(d: &str) -> bool {
    d == DOMAIN || d.ends_with(".example.com")
}

/// A scenario: the published policy per day range, and the sources.
struct Scenario {
    days: i64,
    reporters: Vec<&'static str>,
    policy: Box<dyn Fn(i64) -> &'static str>,
    sources: Vec<Source>,
}

impl Scenario {
    fn new(sources: Vec<Source>) -> Scenario {
        Scenario {
            days: 30,
            reporters: vec!["google.com", "Outlook.com"],
            policy: Box::new(|_| "p=none"),
            sources,
        }
    }

    fn xml(&self, reporter: usize, day: i64) -> String {
        let begin = DAY0 + day * DAY;
        let org = self.reporters[reporter];
        let mut report =
            Report::new(org, DOMAIN, &format!("{reporter}-{day}"), begin, begin + DAY - 1)
                .policy(&format!("{}; adkim=r; aspf=r", (self.policy)(day)));
        for s in self.sources.iter().filter(|s| s.days.contains(&day)) {
            let (dkim_ok, spf_ok) = s.evaluated.unwrap_or((
                s.dkim.iter().any(|(d, r)| *r == "pass" && aligned(d)),
                s.spf.1 == "pass" && aligned(&s.spf.0),
            ));
            // The day's messages spread over the IPs, the remainder to the first.
            let n = s.ips.len() as u64;
            for (i, ip) in s.ips.iter().enumerate() {
                let count = s.per_day / n + u64::from((i as u64) < s.per_day % n);
                if count == 0 {
                    continue;
                }
                let mut record = Record::new(ip.as_str(), count)
                    .evaluated(dkim_ok, spf_ok)
                    .header_from(s.from.unwrap_or(DOMAIN));
                if let Some(kind) = s.reason {
                    record = record.reason(kind, s.comment);
                }
                for (d, r) in &s.dkim {
                    record = record.dkim_signed(d, None, r);
                }
                report = report.record(record.spf(&s.spf.0, s.spf.1));
            }
        }
        report.xml()
    }

    fn store(&self, backend: Backend) -> Store {
        let store = backend.new_store();
        let mut ingester = Ingester::new(&store, Limits::default());
        for day in 0..self.days {
            for r in 0..self.reporters.len() {
                let xml = self.xml(r, day);
                let outcome = ingester
                    .ingest_bytes(&format!("r{r}-{day}.xml"), xml.as_bytes(), &Hints::default())
                    .unwrap();
                assert!(outcome.is_ok(), "{:?}", outcome.errors);
            }
        }
        ingester.finish().unwrap();
        store
    }

    fn summarise_with(&self, backend: Backend, catalogue: Catalogue) -> DomainSummary {
        let store = self.store(backend);
        let options = Options {
            domains: vec![DOMAIN.to_owned()],
            window: WindowSpec::LastDays(30),
            now: DAY0 + self.days * DAY + 3600,
            catalogue,
            criteria: Criteria::default(),
            rua: [(DOMAIN.to_owned(), "mailto:dmarc@example.com".to_owned())].into(),
            resolver: None,
        };
        let mut summary = analyse::summarise(&store, &options).unwrap();
        assert_eq!(summary.domains.len(), 1);
        summary.domains.remove(0)
    }

    fn summarise(&self, backend: Backend) -> DomainSummary {
        self.summarise_with(backend, Catalogue::builtin())
    }
}

fn class_of(d: &DomainSummary, name: &str) -> SenderClass {
    d.senders
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no sender {name} in {:#?}", d.senders))
        .class
}

both_backends!(a_clean_domain_over_thirty_days_is_ready_for_quarantine_with_a_ramp);
fn a_clean_domain_over_thirty_days_is_ready_for_quarantine_with_a_ramp(backend: Backend) {
    let d = Scenario::new(vec![own(), forwarder(), spoofing(10)]).summarise(backend);
    let r = &d.readiness;
    assert_eq!(r.verdict, Verdict::ReadyForQuarantine, "{r:#?}");
    assert!(r.blocking.is_empty(), "{:#?}", r.blocking);
    assert_eq!(r.what_if.policy, "quarantine");
    assert_eq!(r.what_if.authorized_affected, 0);
    // 10 spoofed messages a day, per reporter, for 30 days.
    assert_eq!(r.what_if.unauthorized_stopped, 10 * 2 * 30);
    assert_eq!(class_of(&d, "example.com (DKIM + SPF)"), SenderClass::Authorized);
    assert_eq!(class_of(&d, "example.com (DKIM only)"), SenderClass::Forwarder);
    assert_eq!(class_of(&d, "unauthenticated"), SenderClass::Unauthorized);
    assert_eq!(
        r.recommended_record,
        "v=DMARC1; p=quarantine; np=reject; pct=25; t=y; rua=mailto:dmarc@example.com"
    );
    assert_eq!(r.ramp.len(), 2);
    assert!(r.ramp[0].contains("pct=50; t=y"), "{:?}", r.ramp);
    assert!(!r.ramp[1].contains("pct=") && !r.ramp[1].contains("t=y"), "{:?}", r.ramp);
    assert!(r.sentence.contains("can move to p=quarantine"), "{}", r.sentence);
    assert!(r.reasons.iter().any(|x| x.contains("30 days covered")), "{:?}", r.reasons);
}

both_backends!(an_esp_signing_as_itself_blocks_with_its_fix_and_the_what_if_counts_its_mail);
fn an_esp_signing_as_itself_blocks_with_its_fix_and_the_what_if_counts_its_mail(backend: Backend) {
    let d = Scenario::new(vec![own(), sendgrid(), spoofing(5)]).summarise(backend);
    let r = &d.readiness;
    assert_eq!(r.verdict, Verdict::NotReady);
    assert_eq!(r.blocking.len(), 1, "{:#?}", r.blocking);
    let b = &r.blocking[0];
    assert_eq!(
        (b.sender.as_str(), b.class, b.messages),
        ("SendGrid", SenderClass::Misconfigured, 20 * 2 * 30)
    );
    assert!(b.fix.contains("d=example.com"), "{}", b.fix);
    assert_eq!(r.what_if.authorized_affected, 1200);
    assert_eq!(r.what_if.unauthorized_stopped, 300);
    // Not ready: the record stays as it is.
    assert_eq!(r.recommended_record, "v=DMARC1; p=none; rua=mailto:dmarc@example.com");
    assert!(r.sentence.contains("not ready for p=quarantine"), "{}", r.sentence);
}

both_backends!(an_spf_only_sender_blocks_reject_but_not_quarantine);
fn an_spf_only_sender_blocks_reject_but_not_quarantine(backend: Backend) {
    let spf_only = source("198.51.100.5", 50, &[], ("bounce.example.com", "pass"));
    // At p=none it does not stop quarantine; the reasons name it for later.
    let r = Scenario::new(vec![own(), spf_only.clone()]).summarise(backend).readiness;
    assert_eq!(r.verdict, Verdict::ReadyForQuarantine, "{r:#?}");
    assert!(r.blocking.is_empty(), "{:#?}", r.blocking);
    assert!(r.reasons.iter().any(|x| x.contains("before reject")), "{:?}", r.reasons);

    // At p=quarantine, reject is at stake: the verdict, the sentence, the
    // blocking list and the what-if all say so (RFC 9989: no reject on SPF
    // alone).
    let mut s = Scenario::new(vec![own(), spf_only]);
    s.policy = Box::new(|_| "p=quarantine; pct=100");
    let d = s.summarise(backend);
    let r = &d.readiness;
    assert_eq!(r.verdict, Verdict::NotReady, "{r:#?}");
    assert!(r.sentence.contains("not ready for p=reject"), "{}", r.sentence);
    // Its mail passes: the sentence says it is at risk, not that it fails,
    // as the what-if does.
    assert!(r.sentence.contains("3,000 messages pass by SPF alone"), "{}", r.sentence);
    assert!(!r.sentence.contains("would fail"), "{}", r.sentence);
    assert_eq!(r.what_if.policy, "reject");
    assert_eq!(r.what_if.authorized_at_risk, 50 * 2 * 30);
    assert_eq!(r.what_if.authorized_affected, 0);
    assert!(r.recommended_record.starts_with("v=DMARC1; p=quarantine"), "{}", r.recommended_record);
    assert_eq!(r.blocking.len(), 1);
    assert_eq!(r.blocking[0].blocks, "reject");
    assert_eq!(r.blocking[0].messages, 50 * 2 * 30);
    assert!(r.blocking[0].reason.contains("SPF alone"), "{}", r.blocking[0].reason);
    assert!(r.blocking[0].fix.contains("DKIM d=example.com"), "{}", r.blocking[0].fix);

    // Without it, 30 days at quarantine make reject the next step.
    let mut s = Scenario::new(vec![own(), spoofing(3)]);
    s.policy = Box::new(|_| "p=quarantine; pct=100");
    let r = s.summarise(backend).readiness;
    assert_eq!(r.verdict, Verdict::ReadyForReject, "{r:#?}");
    assert_eq!(r.what_if.policy, "reject");
    // np follows sp, which follows p: reject already, so neither is written.
    assert!(
        r.recommended_record.starts_with("v=DMARC1; p=reject; pct=25; t=y"),
        "{}",
        r.recommended_record
    );
}

both_backends!(quarantine_comes_before_reject_even_when_everything_passes);
fn quarantine_comes_before_reject_even_when_everything_passes(backend: Backend) {
    let r = Scenario::new(vec![own()]).summarise(backend).readiness;
    assert_eq!(r.verdict, Verdict::ReadyForQuarantine);
    assert!(
        r.reasons.iter().any(|x| x.contains("reject comes after 14 days at p=quarantine")),
        "{:?}",
        r.reasons
    );
    // Ten days at quarantine are not enough.
    let mut s = Scenario::new(vec![own()]);
    s.policy = Box::new(|day| if day >= 20 { "p=quarantine" } else { "p=none" });
    let d = s.summarise(backend);
    assert_eq!(d.readiness.verdict, Verdict::ReadyForQuarantine);
    assert!(
        d.readiness.reasons.iter().any(|x| x.contains("at p=quarantine for 10 days")),
        "{:?}",
        d.readiness.reasons
    );
    let change = &d.policy.changes;
    assert_eq!(change.len(), 1, "{change:?}");
    assert_eq!((change[0].tag.as_str(), change[0].to.as_deref()), ("p", Some("quarantine")));
    assert_eq!(change[0].day, DAY0 + 20 * DAY);
}

both_backends!(forwarders_and_mailing_lists_are_explained_and_do_not_block);
fn forwarders_and_mailing_lists_are_explained_and_do_not_block(backend: Backend) {
    let d = Scenario::new(vec![own(), forwarder(), mailing_list()]).summarise(backend);
    assert_eq!(d.readiness.verdict, Verdict::ReadyForQuarantine, "{:#?}", d.readiness);
    assert_eq!(class_of(&d, "lists.example.net"), SenderClass::Forwarder);
    let list = d.senders.iter().find(|s| s.name == "lists.example.net").unwrap();
    assert!(list.explanation.contains("mailing list"), "{}", list.explanation);
    assert_eq!(d.readiness.what_if.forwarded_affected, 3 * 2 * 30);
    assert_eq!(d.readiness.what_if.authorized_affected, 0);
}

both_backends!(a_spoofing_flood_does_not_block_and_counts_as_stopped);
fn a_spoofing_flood_does_not_block_and_counts_as_stopped(backend: Backend) {
    let mut flood = spoofing(2000);
    flood.days = 25..28;
    let d = Scenario::new(vec![own(), flood]).summarise(backend);
    assert_eq!(d.readiness.verdict, Verdict::ReadyForQuarantine);
    assert_eq!(d.readiness.what_if.unauthorized_stopped, 2000 * 2 * 3);
    assert!(d.readiness.sentence.contains("12,000 spoofed messages"), "{}", d.readiness.sentence);
}

both_backends!(too_little_data_says_what_is_missing);
fn too_little_data_says_what_is_missing(backend: Backend) {
    let mut s = Scenario::new(vec![own()]);
    s.days = 5;
    let r = s.summarise(backend).readiness;
    assert_eq!(r.verdict, Verdict::InsufficientData);
    assert!(r.reasons[0].contains("5 days covered (14 needed"), "{:?}", r.reasons);
    assert!(r.recommended_record.contains("p=none"));

    // Thirty days, but from one large reporter only.
    let mut s = Scenario::new(vec![own()]);
    s.reporters = vec!["google.com", "small-isp.example"];
    let r = s.summarise(backend).readiness;
    assert_eq!(r.verdict, Verdict::InsufficientData);
    assert!(r.reasons[0].contains("1 of them large"), "{:?}", r.reasons);
}

both_backends!(too_little_data_still_names_the_one_sender_that_blocks_in_the_singular);
fn too_little_data_still_names_the_one_sender_that_blocks_in_the_singular(backend: Backend) {
    let mut s = Scenario::new(vec![own(), sendgrid()]);
    s.days = 5;
    let r = s.summarise(backend).readiness;
    assert_eq!(r.verdict, Verdict::InsufficientData);
    assert!(r.sentence.contains("but 1 sender already blocks p=quarantine"), "{}", r.sentence);
}

both_backends!(a_new_authenticating_source_in_the_last_week_blocks_even_when_small);
fn a_new_authenticating_source_in_the_last_week_blocks_even_when_small(backend: Backend) {
    let mut crm =
        source("192.0.2.99", 1, &[("crm-mailer.example", "pass")], ("crm-mailer.example", "pass"));
    crm.days = 25..30;
    let d = Scenario::new(vec![own(), crm.clone()]).summarise(backend);
    let r = &d.readiness;
    assert_eq!(r.verdict, Verdict::NotReady, "{r:#?}");
    assert_eq!(r.blocking.len(), 1);
    assert_eq!(r.blocking[0].sender, "crm-mailer.example");
    assert!(r.blocking[0].reason.contains("new sender"), "{}", r.blocking[0].reason);
    assert!(d.senders.iter().any(|s| s.name == "crm-mailer.example" && s.new));

    // The same small sender, seen for the whole month, is below the
    // meaningful volume and not new: it does not block.
    crm.days = 0..30;
    crm.per_day = 0;
    let mut quiet = crm.clone();
    quiet.days = 0..1;
    quiet.per_day = 5;
    let r = Scenario::new(vec![own(), quiet]).summarise(backend).readiness;
    assert_eq!(r.verdict, Verdict::ReadyForQuarantine, "{r:#?}");

    // A new source that authenticates nothing is spoofing: it does not block.
    let mut fresh_spoof = spoofing(50);
    fresh_spoof.days = 27..30;
    let r = Scenario::new(vec![own(), fresh_spoof]).summarise(backend).readiness;
    assert_eq!(r.verdict, Verdict::ReadyForQuarantine);
}

both_backends!(already_at_reject_is_enforced_unless_authorized_mail_is_lost);
fn already_at_reject_is_enforced_unless_authorized_mail_is_lost(backend: Backend) {
    let mut s = Scenario::new(vec![own(), spoofing(10)]);
    s.policy = Box::new(|_| "p=reject");
    let d = s.summarise(backend);
    assert_eq!(d.readiness.verdict, Verdict::Enforced);
    assert!(d.readiness.sentence.contains("enforced at p=reject"), "{}", d.readiness.sentence);
    assert_eq!(d.policy.current.record(), "v=DMARC1; p=reject; adkim=r; aspf=r");

    let mut s = Scenario::new(vec![own(), sendgrid()]);
    s.policy = Box::new(|_| "p=reject");
    let r = s.summarise(backend).readiness;
    assert_eq!(r.verdict, Verdict::NotReady);
    assert!(r.reasons[0].contains("being lost now"), "{:?}", r.reasons);
    // At p=reject the step at stake is reject: no entry may say quarantine.
    assert!(r.blocking.iter().all(|b| b.blocks == "reject"), "{:#?}", r.blocking);
    assert!(!r.sentence.contains("not ready for p=reject"), "{}", r.sentence);
}

both_backends!(declared_senders_override_the_evidence);
fn declared_senders_override_the_evidence(backend: Backend) {
    let mut crm =
        source("192.0.2.99", 30, &[("crm-mailer.example", "pass")], ("crm-mailer.example", "pass"));
    crm.days = 0..30;
    let s = Scenario::new(vec![own(), crm]);
    // Unclassified with meaningful volume: blocks.
    assert_eq!(s.summarise(backend).readiness.verdict, Verdict::NotReady);
    // Declared not ours: spoofing that a stricter policy stops.
    let extra = parse(
        "[[known_sender]]\nname = \"Not us\"\ndkim = [\"crm-mailer.example\"]\nclass = \"unauthorized\"\n",
    )
    .unwrap();
    let d = s.summarise_with(backend, Catalogue::builtin().with(extra));
    assert_eq!(class_of(&d, "Not us"), SenderClass::Unauthorized);
    assert_eq!(d.readiness.verdict, Verdict::ReadyForQuarantine);
    // Declared ours by address: its failures are losses, with a fix.
    let extra = parse(
        "[[known_sender]]\nname = \"Our CRM\"\nips = [\"192.0.2.96/28\"]\nclass = \"authorized\"\n",
    )
    .unwrap();
    let d = s.summarise_with(backend, Catalogue::builtin().with(extra));
    assert_eq!(class_of(&d, "Our CRM"), SenderClass::Authorized);
    let r = &d.readiness;
    assert_eq!(r.verdict, Verdict::NotReady);
    assert_eq!(r.blocking[0].sender, "Our CRM");
    assert!(r.blocking[0].fix.contains("192.0.2.99"), "{}", r.blocking[0].fix);
}

fn with_policy(mut s: Scenario, policy: &'static str) -> Scenario {
    s.policy = Box::new(move |_| policy);
    s
}

both_backends!(at_reject_mail_passing_through_spf_alone_is_not_enforced_rfc9989);
fn at_reject_mail_passing_through_spf_alone_is_not_enforced_rfc9989(backend: Backend) {
    let spf_only = source("198.51.100.5", 50, &[], ("bounce.example.com", "pass"));
    let r =
        with_policy(Scenario::new(vec![own(), spf_only]), "p=reject").summarise(backend).readiness;
    assert_eq!(r.verdict, Verdict::NotReady, "{r:#?}");
    assert_eq!(r.blocking.len(), 1, "{:#?}", r.blocking);
    assert_eq!(r.blocking[0].blocks, "reject");
    assert!(r.sentence.contains("is at p=reject but"), "{}", r.sentence);
    assert!(!r.sentence.contains("no authorized mail is lost"), "{}", r.sentence);
    assert!(r.recommended_record.starts_with("v=DMARC1; p=reject"), "{}", r.recommended_record);
}

both_backends!(a_new_unaligned_stream_of_a_known_service_is_judged_on_its_own);
/// A known service's aligned stream and a new sub-account that signs as
/// the service: on other addresses, the new stream is a sender of its own.
fn a_new_unaligned_stream_of_a_known_service_is_judged_on_its_own(backend: Backend) {
    let aligned = source(
        "167.89.1.1",
        200,
        &[(DOMAIN, "pass"), ("sendgrid.net", "pass")],
        ("em123.sendgrid.net", "pass"),
    );
    let mut sub =
        source("167.89.1.2", 15, &[("sendgrid.net", "pass")], ("em456.sendgrid.net", "pass"));
    sub.days = 24..30;
    let d = Scenario::new(vec![own(), aligned.clone(), sub.clone()]).summarise(backend);
    let r = &d.readiness;
    assert_eq!(r.verdict, Verdict::NotReady, "{r:#?}");
    assert_eq!(class_of(&d, "SendGrid"), SenderClass::Authorized);
    assert_eq!(class_of(&d, "SendGrid (not aligned)"), SenderClass::Misconfigured);
    assert_eq!(r.blocking[0].sender, "SendGrid (not aligned)");
    assert_eq!(r.what_if.authorized_affected, 15 * 2 * 6);

    // On the same addresses the streams share a row: 1.5% of the window,
    // but 6% of the last week, which is what blocks.
    sub.ips = aligned.ips.clone();
    let d = Scenario::new(vec![own(), aligned, sub]).summarise(backend);
    let r = &d.readiness;
    assert_eq!(r.verdict, Verdict::NotReady, "{r:#?}");
    assert_eq!(r.blocking[0].sender, "SendGrid");
    // The reason gives the numbers it was judged on: the last week's.
    assert!(
        r.blocking[0]
            .reason
            .starts_with("passes DMARC on 94.0% of its 2,980 messages in the last 7 days"),
        "{}",
        r.blocking[0].reason
    );
    // It names the stream its failing mail comes from.
    assert!(
        r.blocking[0].reason.ends_with(
            "Most of its failing mail, 180 messages, is the stream signing d=sendgrid.net (envelope em456.sendgrid.net)."
        ),
        "{}",
        r.blocking[0].reason
    );
    assert_eq!(r.what_if.authorized_affected, 15 * 2 * 6);
}

both_backends!(a_new_unaligned_stream_on_the_services_own_addresses_blocks_on_its_own);
fn a_new_unaligned_stream_on_the_services_own_addresses_blocks_on_its_own(backend: Backend) {
    // SendGrid's aligned stream, and a sub-account on the same address
    // that signs as sendgrid.net only: 3 of 203 messages a day (1.5%),
    // every day, so the address as a whole passes on 98.5%, inside the 2%
    // tolerance, over the window and over the last week alike.
    let aligned = source(
        "167.89.1.1",
        200,
        &[(DOMAIN, "pass"), ("sendgrid.net", "pass")],
        ("em123.sendgrid.net", "pass"),
    );
    let subaccount =
        source("167.89.1.1", 3, &[("sendgrid.net", "pass")], ("em456.sendgrid.net", "pass"));
    let clean = Scenario::new(vec![own(), aligned.clone()]).summarise(backend).readiness;
    assert_eq!(clean.verdict, Verdict::ReadyForQuarantine, "{clean:#?}");

    let d = Scenario::new(vec![own(), aligned, subaccount]).summarise(backend);
    let r = &d.readiness;
    assert_eq!(class_of(&d, "SendGrid"), SenderClass::Authorized);
    assert_eq!(r.verdict, Verdict::NotReady, "{r:#?}");
    assert_eq!(r.blocking.len(), 1, "{:#?}", r.blocking);
    let b = &r.blocking[0];
    assert_eq!(b.sender, "SendGrid (stream d=sendgrid.net)");
    assert_eq!(
        (b.class, b.messages, b.blocks.as_str()),
        (SenderClass::Authorized, 180, "quarantine")
    );
    assert!(
        b.reason.starts_with(
            "the stream signing d=sendgrid.net (envelope em456.sendgrid.net) from SendGrid is not aligned with example.com: 180 of its 180 messages fail DMARC"
        ),
        "{}",
        b.reason
    );
    assert!(b.fix.contains("sign it with DKIM d=example.com"), "{}", b.fix);
    // The what-if agrees: those are legitimate messages a stricter policy
    // would lose; the sentence names the stream.
    assert_eq!(r.what_if.authorized_affected, 180);
    assert_eq!(r.what_if.authorized_tolerated, 0);
    assert!(r.sentence.contains("SendGrid (stream d=sendgrid.net)"), "{}", r.sentence);
    assert_eq!(r.recommended_record, "v=DMARC1; p=none; rua=mailto:dmarc@example.com");
}

both_backends!(mail_on_an_authorized_address_that_authenticates_as_nothing_is_not_a_stream);
fn mail_on_an_authorized_address_that_authenticates_as_nothing_is_not_a_stream(backend: Backend) {
    // 3 of 303 messages a day from the domain's own server carry no
    // passing signature nor SPF (1%): within the tolerance, and not a
    // service's stream.
    let broken = source("192.0.2.10", 3, &[(DOMAIN, "fail")], (DOMAIN, "fail"));
    let r = Scenario::new(vec![own(), broken]).summarise(backend).readiness;
    assert_eq!(r.verdict, Verdict::ReadyForQuarantine, "{r:#?}");
    assert_eq!(r.what_if.authorized_tolerated, 3 * 2 * 30);
}

both_backends!(a_sender_fixed_weeks_ago_no_longer_blocks);
fn a_sender_fixed_weeks_ago_no_longer_blocks(backend: Backend) {
    let mut before =
        source("167.89.1.1", 20, &[("sendgrid.net", "pass")], ("em123.sendgrid.net", "pass"));
    before.days = 0..10;
    let mut after = source(
        "167.89.1.1",
        20,
        &[(DOMAIN, "pass"), ("sendgrid.net", "pass")],
        ("em123.sendgrid.net", "pass"),
    );
    after.days = 10..30;
    let r = Scenario::new(vec![own(), before, after]).summarise(backend).readiness;
    assert_eq!(r.verdict, Verdict::ReadyForQuarantine, "{r:#?}");
    assert!(r.blocking.is_empty());
    assert!(r.reasons.iter().any(|x| x.contains("fixed, it no longer blocks")), "{:?}", r.reasons);
    assert_eq!(r.what_if.authorized_affected, 0);
    assert_eq!(r.what_if.authorized_tolerated, 20 * 2 * 10);
}

both_backends!(legitimate_mail_failing_under_an_enforcing_policy_now_blocks_within_the_tolerance);
fn legitimate_mail_failing_under_an_enforcing_policy_now_blocks_within_the_tolerance(
    backend: Backend,
) {
    // 4 of 304 messages a day fail (1.3%, inside the 2% tolerance), but at
    // p=quarantine they are being quarantined now.
    let broken = source("192.0.2.10", 4, &[(DOMAIN, "fail")], (DOMAIN, "fail"));
    let s = with_policy(Scenario::new(vec![own(), broken.clone()]), "p=quarantine");
    let r = s.summarise(backend).readiness;
    assert_eq!(r.verdict, Verdict::NotReady, "{r:#?}");
    assert!(r.reasons[0].contains("being lost now: 56 messages"), "{:?}", r.reasons);
    assert_eq!(r.blocking[0].messages, 4 * 2 * 30);
    assert_eq!(r.what_if.authorized_affected, 4 * 2 * 30);
    // At p=none nothing is lost yet, and 1.3% is within the tolerance.
    let r = Scenario::new(vec![own(), broken]).summarise(backend).readiness;
    assert_eq!(r.verdict, Verdict::ReadyForQuarantine, "{r:#?}");
    assert_eq!(r.what_if.authorized_affected, 0);
    assert_eq!(r.what_if.authorized_tolerated, 4 * 2 * 30);
}

both_backends!(failing_service_mail_from_a_subdomain_keeps_sp_where_it_is);
fn failing_service_mail_from_a_subdomain_keeps_sp_where_it_is(backend: Backend) {
    // The domain's own servers also send From news.example.com, where strict
    // alignment fails it: authenticated (SPF passes), yet failing DMARC.
    let mut news = source("192.0.2.10", 4, &[], (DOMAIN, "pass"));
    news.from = Some("news.example.com");
    news.evaluated = Some((false, false));
    let s = with_policy(Scenario::new(vec![own(), news]), "p=none; sp=none");
    let r = s.summarise(backend).readiness;
    assert_eq!(r.verdict, Verdict::ReadyForQuarantine, "{r:#?}");
    assert!(
        r.recommended_record.contains("p=quarantine; sp=none; np=reject"),
        "{}",
        r.recommended_record
    );
    assert!(r.advice.iter().any(|a| a.contains("news.example.com")), "{:?}", r.advice);
    assert_eq!(r.what_if.authorized_affected, 0);
}

both_backends!(subdomain_spoofing_and_echoed_sp_do_not_exempt_subdomains);
fn subdomain_spoofing_and_echoed_sp_do_not_exempt_subdomains(backend: Backend) {
    let mut phish = spoofing(30);
    phish.from = Some("login.example.com");
    // Reports echo sp=none for a record that has no sp.
    let s = with_policy(Scenario::new(vec![own(), phish]), "p=none; sp=none");
    let r = s.summarise(backend).readiness;
    assert_eq!(r.verdict, Verdict::ReadyForQuarantine, "{r:#?}");
    assert!(!r.recommended_record.contains("sp="), "{}", r.recommended_record);
    assert!(r.recommended_record.contains("np=reject"), "{}", r.recommended_record);
}

both_backends!(a_published_sp_is_never_lowered);
fn a_published_sp_is_never_lowered(backend: Backend) {
    let s = with_policy(Scenario::new(vec![own()]), "p=none; sp=reject");
    let r = s.summarise(backend).readiness;
    assert_eq!(r.verdict, Verdict::ReadyForQuarantine, "{r:#?}");
    assert!(
        r.recommended_record.starts_with("v=DMARC1; p=quarantine; sp=reject; pct=25"),
        "{}",
        r.recommended_record
    );
    // Legitimate subdomain mail failing under sp=quarantine is lost now;
    // the record keeps sp=quarantine rather than releasing it to none.
    let mut news =
        source("167.89.9.9", 40, &[("sendgrid.net", "pass")], ("em9.sendgrid.net", "pass"));
    news.from = Some("news.example.com");
    let s = with_policy(Scenario::new(vec![own(), news]), "p=none; sp=quarantine");
    let r = s.summarise(backend).readiness;
    assert_eq!(r.verdict, Verdict::NotReady, "{r:#?}");
    assert!(r.recommended_record.contains("sp=quarantine"), "{}", r.recommended_record);
    assert!(!r.recommended_record.contains("sp=none"), "{}", r.recommended_record);
}

both_backends!(a_mailing_list_whose_failures_carry_arc_overrides_is_a_forwarder);
fn a_mailing_list_whose_failures_carry_arc_overrides_is_a_forwarder(backend: Backend) {
    let pass = source(
        "203.0.113.6",
        10,
        &[(DOMAIN, "pass"), ("lists.example.net", "pass")],
        ("lists.example.net", "pass"),
    );
    let mut fail = source(
        "203.0.113.6",
        8,
        &[(DOMAIN, "fail"), ("lists.example.net", "pass")],
        ("lists.example.net", "pass"),
    );
    fail.reason = Some("local_policy");
    fail.comment = Some("arc=pass");
    let d = Scenario::new(vec![own(), pass, fail]).summarise(backend);
    assert_eq!(class_of(&d, "lists.example.net"), SenderClass::Forwarder);
    let r = &d.readiness;
    assert_eq!(r.verdict, Verdict::ReadyForQuarantine, "{r:#?}");
    assert_eq!(r.what_if.forwarded_affected, 8 * 2 * 30);
    let list = d.senders.iter().find(|s| s.name == "lists.example.net").unwrap();
    assert!(list.fix.is_none(), "{:?}", list.fix);
}

both_backends!(the_owners_relay_missing_from_spf_is_not_a_forwarder);
fn the_owners_relay_missing_from_spf_is_not_a_forwarder(backend: Backend) {
    let signed = source("192.0.2.20", 200, &[(DOMAIN, "pass")], (DOMAIN, "fail"));
    let unsigned = source("192.0.2.20", 20, &[], (DOMAIN, "fail"));
    let d = Scenario::new(vec![own(), signed, unsigned]).summarise(backend);
    assert_eq!(class_of(&d, "example.com (DKIM only)"), SenderClass::Authorized);
    let r = &d.readiness;
    assert_eq!(r.verdict, Verdict::NotReady, "{r:#?}");
    assert_eq!(r.blocking[0].sender, "example.com (DKIM only)");
    assert!(r.blocking[0].fix.contains("192.0.2.20"), "{}", r.blocking[0].fix);
}

both_backends!(a_parked_domain_with_only_spoofing_goes_to_reject_at_once);
fn a_parked_domain_with_only_spoofing_goes_to_reject_at_once(backend: Backend) {
    let r = Scenario::new(vec![spoofing(30)]).summarise(backend).readiness;
    assert_eq!(r.verdict, Verdict::ReadyForReject, "{r:#?}");
    assert!(r.parked);
    assert_eq!(
        r.recommended_record,
        "v=DMARC1; p=reject; sp=reject; np=reject; rua=mailto:dmarc@example.com"
    );
    assert!(r.ramp.is_empty(), "{:?}", r.ramp);
    assert!(r.sentence.contains("sends no legitimate mail"), "{}", r.sentence);
    assert!(r.advice.iter().any(|a| a.contains("v=spf1 -all")), "{:?}", r.advice);
    assert_eq!(r.what_if.policy, "reject");

    let s = with_policy(Scenario::new(vec![spoofing(30)]), "p=reject; sp=reject; np=reject");
    assert_eq!(s.summarise(backend).readiness.verdict, Verdict::Enforced);
}

both_backends!(a_signature_with_the_domains_own_subdomain_key_is_the_domains_mail);
fn a_signature_with_the_domains_own_subdomain_key_is_the_domains_mail(backend: Backend) {
    // Strict DKIM alignment: d=mg.example.com passes but does not align.
    let mut mg = source(
        "198.51.100.40",
        30,
        &[("mg.example.com", "pass")],
        ("bounce.esp-mailer.net", "pass"),
    );
    mg.evaluated = Some((false, false));
    let d = Scenario::new(vec![own(), mg]).summarise(backend);
    assert_eq!(class_of(&d, "bounce.esp-mailer.net"), SenderClass::Misconfigured);
    let sender = d.senders.iter().find(|s| s.name == "bounce.esp-mailer.net").unwrap();
    assert!(sender.explanation.contains("d=mg.example.com"), "{}", sender.explanation);
    assert!(!sender.explanation.contains("nothing says"), "{}", sender.explanation);
    assert_eq!(d.readiness.verdict, Verdict::NotReady);
    // The fix names the key it signs with and the alignment that fails it.
    let fix = &d.readiness.blocking[0].fix;
    assert!(fix.contains("d=mg.example.com") && fix.contains("adkim=r"), "{fix}");
}

both_backends!(at_quarantine_too_briefly_the_sentence_does_not_promise_reject);
fn at_quarantine_too_briefly_the_sentence_does_not_promise_reject(backend: Backend) {
    let s = Scenario {
        policy: Box::new(|day| if day >= 23 { "p=quarantine" } else { "p=none" }),
        ..Scenario::new(vec![own()])
    };
    let r = s.summarise(backend).readiness;
    assert_eq!(r.verdict, Verdict::ReadyForQuarantine, "{r:#?}");
    assert_eq!(r.what_if.policy, "quarantine");
    assert!(!r.sentence.contains("p=reject"), "{}", r.sentence);
    assert!(
        r.recommended_record.starts_with("v=DMARC1; p=quarantine;"),
        "{}",
        r.recommended_record
    );
    assert!(r.ramp.is_empty(), "{:?}", r.ramp);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Whatever the mix, senders add up to the domain, and the what-if
    /// splits exactly the failing messages. On SQLite only: the
    /// arithmetic of the analysis, whatever the backend (the scenarios
    /// above run on both).
    #[test]
    fn senders_and_the_what_if_add_up_to_the_domain(
        picks in proptest::collection::vec(0usize..6, 1..6),
        volumes in proptest::collection::vec(1u64..400, 6),
    ) {
        let all = [own(), sendgrid(), forwarder(), mailing_list(), spoofing(20),
                   source("192.0.2.77", 9, &[("other.example", "pass")], ("other.example", "pass"))];
        let mut sources = Vec::new();
        for p in picks {
            let mut s = all[p].clone();
            s.per_day = volumes[p];
            if !sources.iter().any(|x: &Source| x.ips == s.ips) {
                sources.push(s);
            }
        }
        let mut s = Scenario::new(sources);
        s.days = 16;
        let d = s.summarise(Backend::Sqlite);
        let messages: u64 = d.senders.iter().map(|s| s.totals.messages).sum();
        let pass: u64 = d.senders.iter().map(|s| s.totals.dmarc_pass).sum();
        prop_assert_eq!(messages, d.totals.totals.messages);
        prop_assert_eq!(pass, d.totals.totals.dmarc_pass);
        let w = &d.readiness.what_if;
        prop_assert_eq!(
            w.authorized_affected + w.authorized_tolerated + w.forwarded_affected
                + w.unclassified_affected + w.unauthorized_stopped
            + w.subdomains_unaffected,
            messages - pass
        );
        // Every source (the summary keeps the busiest whole; the others
        // are read again when listed).
        let all = summary::domain_totals(&s.store(Backend::Sqlite), DOMAIN, d.window, &Catalogue::builtin())
            .unwrap()
            .sources;
        let by_sources: u64 = all.iter().map(|s| s.totals.messages).sum();
        prop_assert_eq!(by_sources, messages);
        prop_assert_eq!(d.totals.source_count as usize, all.len());
        let busiest: Vec<&str> = d.totals.sources.iter().map(|s| s.ip.as_str()).collect();
        let first: Vec<&str> = all.iter().take(busiest.len()).map(|s| s.ip.as_str()).collect();
        prop_assert_eq!(busiest, first);
    }
}

both_backends!(failing_subdomain_mail_under_sp_none_does_not_count_against_p);
fn failing_subdomain_mail_under_sp_none_does_not_count_against_p(backend: Backend) {
    // The domain's own servers send From the domain (passing) and From
    // news.example.com, which strict alignment fails: 40 of 340 a day.
    // sp=none governs that mail; p=quarantine, published for the whole
    // window, is not losing anything.
    let mut news = source("192.0.2.10", 40, &[], (DOMAIN, "pass"));
    news.from = Some("news.example.com");
    news.evaluated = Some((false, false));
    // Spoofing From another subdomain stays under sp=none too.
    let mut phish = spoofing(25);
    phish.from = Some("login.example.com");
    let s = with_policy(Scenario::new(vec![own(), news, phish]), "p=quarantine; sp=none");
    let r = s.summarise(backend).readiness;
    assert_eq!(r.verdict, Verdict::ReadyForReject, "{r:#?}");
    // The what-if does not claim to stop what the record leaves under sp.
    assert_eq!(r.what_if.unauthorized_stopped, 0, "{:#?}", r.what_if);
    assert_eq!(r.what_if.subdomains_unaffected, (40 + 25) * 2 * 30, "{:#?}", r.what_if);
    assert!(
        r.sentence.ends_with("(3,900 failing messages From subdomains stay under sp=none)."),
        "{}",
        r.sentence
    );
    assert!(r.blocking.is_empty(), "{:#?}", r.blocking);
    assert!(!r.reasons.iter().any(|x| x.contains("lost now")), "{:?}", r.reasons);
    assert!(
        r.recommended_record.starts_with("v=DMARC1; p=reject; sp=none; np=reject; pct=25"),
        "{}",
        r.recommended_record
    );
    assert_eq!(r.what_if.authorized_affected, 0);

    // Under sp=quarantine the same mail is being quarantined now.
    let mut news = source("192.0.2.10", 40, &[], (DOMAIN, "pass"));
    news.from = Some("news.example.com");
    news.evaluated = Some((false, false));
    let s = with_policy(Scenario::new(vec![own(), news]), "p=quarantine; sp=quarantine");
    let r = s.summarise(backend).readiness;
    assert_eq!(r.verdict, Verdict::NotReady, "{r:#?}");
    assert!(r.reasons[0].contains("being lost now"), "{:?}", r.reasons);
    assert!(r.recommended_record.contains("p=quarantine"), "{}", r.recommended_record);
}

both_backends!(an_unknown_service_sending_from_a_subdomain_under_sp_none_does_not_block_reject);
fn an_unknown_service_sending_from_a_subdomain_under_sp_none_does_not_block_reject(
    backend: Backend,
) {
    // p=reject; sp=none: an unknown ESP sends From news.example.com,
    // authenticated as itself. sp=none governs that mail and stays.
    let mut news = source(
        "198.51.100.7",
        30,
        &[("mailer.esp-example.net", "pass")],
        ("mc.esp-example.net", "pass"),
    );
    news.from = Some("news.example.com");
    let s = with_policy(Scenario::new(vec![own(), news.clone()]), "p=reject; sp=none");
    let r = s.summarise(backend).readiness;
    assert_eq!(r.verdict, Verdict::Enforced, "{r:#?}");
    assert!(r.blocking.is_empty(), "{:#?}", r.blocking);
    assert!(r.recommended_record.contains("sp=none"), "{}", r.recommended_record);
    assert!(r.advice.iter().any(|a| a.contains("news.example.com")), "{:?}", r.advice);

    // From the domain itself, the same sender blocks, and the sentence
    // does not call it authorized mail.
    news.from = None;
    let s = with_policy(Scenario::new(vec![own(), news]), "p=reject; sp=none");
    let r = s.summarise(backend).readiness;
    assert_eq!(r.verdict, Verdict::NotReady, "{r:#?}");
    assert_eq!(r.blocking[0].blocks, "reject");
    assert!(r.sentence.contains("that may be yours"), "{}", r.sentence);
    assert!(!r.sentence.contains("authorized mail"), "{}", r.sentence);
}

both_backends!(mail_from_an_unrelated_domain_in_the_reports_does_not_hold_sp);
fn mail_from_an_unrelated_domain_in_the_reports_does_not_hold_sp(backend: Backend) {
    // A receiver lists mail From example.net under example.com's policy:
    // sp governs subdomains only, so it keeps no sp=none. (Too little of
    // the domain's mail to block as an unclassified sender.)
    let mut busy = own();
    busy.per_day = 30_000;
    let mut other = source("198.51.100.9", 1, &[("example.net", "pass")], ("example.net", "pass"));
    other.from = Some("example.net");
    other.evaluated = Some((false, false));
    let s = with_policy(Scenario::new(vec![busy, other]), "p=none; sp=none");
    let r = s.summarise(backend).readiness;
    assert_eq!(r.verdict, Verdict::ReadyForQuarantine, "{r:#?}");
    assert!(!r.recommended_record.contains("sp=none"), "{}", r.recommended_record);
    assert!(!r.advice.iter().any(|a| a.contains("example.net")), "{:?}", r.advice);
}
