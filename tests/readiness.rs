//! The readiness verdict on databases with known truth: each scenario
//! stores 30 days (or fewer) of reports from two large receivers, written
//! here in code, and pins the verdict, the blocking senders and the what-if
//! numbers. A property test checks that senders and the what-if always add
//! up to the domain.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use dmarc_report::analyse::classify::SenderClass;
use dmarc_report::analyse::senders::{Catalogue, parse};
use dmarc_report::analyse::summary::WindowSpec;
use dmarc_report::analyse::verdict::{Criteria, Verdict};
use dmarc_report::analyse::{self, DomainSummary, Options};
use dmarc_report::ingest::Ingester;
use dmarc_report::limits::Limits;
use dmarc_report::store::Store;
use dmarc_report::unpack::Hints;
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
            policy: Box::new(|_| "<p>none</p>"),
            sources,
        }
    }

    fn xml(&self, reporter: usize, day: i64) -> String {
        let begin = DAY0 + day * DAY;
        let mut xml = format!(
            "<?xml version=\"1.0\"?><feedback><report_metadata><org_name>{}</org_name>\
             <email>noreply@{}</email><report_id>{reporter}-{day}</report_id>\
             <date_range><begin>{begin}</begin><end>{}</end></date_range></report_metadata>\
             <policy_published><domain>{DOMAIN}</domain>{}<adkim>r</adkim><aspf>r</aspf>\
             </policy_published>",
            self.reporters[reporter],
            self.reporters[reporter],
            begin + DAY - 1,
            (self.policy)(day)
        );
        for s in self.sources.iter().filter(|s| s.days.contains(&day)) {
            let dkim_ok = s.dkim.iter().any(|(d, r)| *r == "pass" && aligned(d));
            let spf_ok = s.spf.1 == "pass" && aligned(&s.spf.0);
            let pf = |b: bool| if b { "pass" } else { "fail" };
            // The day's messages spread over the IPs, the remainder to the first.
            let n = s.ips.len() as u64;
            for (i, ip) in s.ips.iter().enumerate() {
                let count = s.per_day / n + u64::from((i as u64) < s.per_day % n);
                if count == 0 {
                    continue;
                }
                let reason = s
                    .reason
                    .map(|r| format!("<reason><type>{r}</type></reason>"))
                    .unwrap_or_default();
                let dkim: String = s
                    .dkim
                    .iter()
                    .map(|(d, r)| format!("<dkim><domain>{d}</domain><result>{r}</result></dkim>"))
                    .collect();
                xml.push_str(&format!(
                    "<record><row><source_ip>{ip}</source_ip><count>{count}</count>\
                     <policy_evaluated><disposition>none</disposition><dkim>{}</dkim>\
                     <spf>{}</spf>{reason}</policy_evaluated></row>\
                     <identifiers><header_from>{DOMAIN}</header_from></identifiers>\
                     <auth_results>{dkim}<spf><domain>{}</domain><result>{}</result></spf>\
                     </auth_results></record>",
                    pf(dkim_ok),
                    pf(spf_ok),
                    s.spf.0,
                    s.spf.1
                ));
            }
        }
        xml + "</feedback>"
    }

    fn store(&self) -> Store {
        let store = Store::open_in_memory().unwrap();
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

    fn summarise_with(&self, catalogue: Catalogue) -> DomainSummary {
        let store = self.store();
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

    fn summarise(&self) -> DomainSummary {
        self.summarise_with(Catalogue::builtin())
    }
}

fn class_of(d: &DomainSummary, name: &str) -> SenderClass {
    d.senders
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no sender {name} in {:#?}", d.senders))
        .class
}

#[test]
fn a_clean_domain_over_thirty_days_is_ready_for_quarantine_with_a_ramp() {
    let d = Scenario::new(vec![own(), forwarder(), spoofing(10)]).summarise();
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
        "v=DMARC1; p=quarantine; np=reject; adkim=r; aspf=r; pct=25; t=y; rua=mailto:dmarc@example.com"
    );
    assert_eq!(r.ramp.len(), 2);
    assert!(r.ramp[0].contains("pct=50; t=y"), "{:?}", r.ramp);
    assert!(!r.ramp[1].contains("pct=") && !r.ramp[1].contains("t=y"), "{:?}", r.ramp);
    assert!(r.sentence.contains("can move to p=quarantine"), "{}", r.sentence);
    assert!(r.reasons.iter().any(|x| x.contains("30 days covered")), "{:?}", r.reasons);
}

#[test]
fn an_esp_signing_as_itself_blocks_with_its_fix_and_the_what_if_counts_its_mail() {
    let d = Scenario::new(vec![own(), sendgrid(), spoofing(5)]).summarise();
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
    assert_eq!(
        r.recommended_record,
        "v=DMARC1; p=none; adkim=r; aspf=r; rua=mailto:dmarc@example.com"
    );
    assert!(r.sentence.contains("not ready for p=quarantine"), "{}", r.sentence);
}

#[test]
fn an_spf_only_sender_blocks_reject_but_not_quarantine() {
    let spf_only = source("198.51.100.5", 50, &[], ("bounce.example.com", "pass"));
    let mut s = Scenario::new(vec![own(), spf_only]);
    s.policy = Box::new(|_| "<p>quarantine</p><pct>100</pct>");
    let d = s.summarise();
    let r = &d.readiness;
    assert_eq!(r.verdict, Verdict::ReadyForQuarantine, "{r:#?}");
    assert_eq!(r.blocking.len(), 1);
    assert_eq!(r.blocking[0].blocks, "reject");
    assert_eq!(r.blocking[0].messages, 50 * 2 * 30);
    assert!(r.blocking[0].reason.contains("SPF alone"), "{}", r.blocking[0].reason);
    assert!(r.blocking[0].fix.contains("DKIM d=example.com"), "{}", r.blocking[0].fix);

    // Without it, 30 days at quarantine make reject the next step.
    let mut s = Scenario::new(vec![own(), spoofing(3)]);
    s.policy = Box::new(|_| "<p>quarantine</p><pct>100</pct>");
    let r = s.summarise().readiness;
    assert_eq!(r.verdict, Verdict::ReadyForReject, "{r:#?}");
    assert_eq!(r.what_if.policy, "reject");
    assert!(r.recommended_record.contains("p=reject; np=reject"), "{}", r.recommended_record);
    assert!(r.recommended_record.contains("pct=25; t=y"), "{}", r.recommended_record);
}

#[test]
fn quarantine_comes_before_reject_even_when_everything_passes() {
    let r = Scenario::new(vec![own()]).summarise().readiness;
    assert_eq!(r.verdict, Verdict::ReadyForQuarantine);
    assert!(
        r.reasons.iter().any(|x| x.contains("reject comes after 14 days at p=quarantine")),
        "{:?}",
        r.reasons
    );
    // Ten days at quarantine are not enough.
    let mut s = Scenario::new(vec![own()]);
    s.policy = Box::new(|day| if day >= 20 { "<p>quarantine</p>" } else { "<p>none</p>" });
    let d = s.summarise();
    assert_eq!(d.readiness.verdict, Verdict::ReadyForQuarantine);
    assert!(
        d.readiness.reasons.iter().any(|x| x.contains("at p=quarantine for 10 days")),
        "{:?}",
        d.readiness.reasons
    );
    let change = &d.published_policy.changes;
    assert_eq!(change.len(), 1, "{change:?}");
    assert_eq!((change[0].tag.as_str(), change[0].to.as_deref()), ("p", Some("quarantine")));
    assert_eq!(change[0].day, DAY0 + 20 * DAY);
}

#[test]
fn forwarders_and_mailing_lists_are_explained_and_do_not_block() {
    let d = Scenario::new(vec![own(), forwarder(), mailing_list()]).summarise();
    assert_eq!(d.readiness.verdict, Verdict::ReadyForQuarantine, "{:#?}", d.readiness);
    assert_eq!(class_of(&d, "lists.example.net"), SenderClass::Forwarder);
    let list = d.senders.iter().find(|s| s.name == "lists.example.net").unwrap();
    assert!(list.explanation.contains("mailing list"), "{}", list.explanation);
    assert_eq!(d.readiness.what_if.forwarded_affected, 3 * 2 * 30);
    assert_eq!(d.readiness.what_if.authorized_affected, 0);
}

#[test]
fn a_spoofing_flood_does_not_block_and_counts_as_stopped() {
    let mut flood = spoofing(2000);
    flood.days = 25..28;
    let d = Scenario::new(vec![own(), flood]).summarise();
    assert_eq!(d.readiness.verdict, Verdict::ReadyForQuarantine);
    assert_eq!(d.readiness.what_if.unauthorized_stopped, 2000 * 2 * 3);
    assert!(d.readiness.sentence.contains("12000 spoofed messages"), "{}", d.readiness.sentence);
}

#[test]
fn too_little_data_says_what_is_missing() {
    let mut s = Scenario::new(vec![own()]);
    s.days = 5;
    let r = s.summarise().readiness;
    assert_eq!(r.verdict, Verdict::InsufficientData);
    assert!(r.reasons[0].contains("5 days covered (14 needed"), "{:?}", r.reasons);
    assert!(r.recommended_record.contains("p=none"));

    // Thirty days, but from one large reporter only.
    let mut s = Scenario::new(vec![own()]);
    s.reporters = vec!["google.com", "small-isp.example"];
    let r = s.summarise().readiness;
    assert_eq!(r.verdict, Verdict::InsufficientData);
    assert!(r.reasons[0].contains("1 of them large"), "{:?}", r.reasons);
}

#[test]
fn a_new_authenticating_source_in_the_last_week_blocks_even_when_small() {
    let mut crm =
        source("192.0.2.99", 1, &[("crm-mailer.example", "pass")], ("crm-mailer.example", "pass"));
    crm.days = 25..30;
    let d = Scenario::new(vec![own(), crm.clone()]).summarise();
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
    let r = Scenario::new(vec![own(), quiet]).summarise().readiness;
    assert_eq!(r.verdict, Verdict::ReadyForQuarantine, "{r:#?}");

    // A new source that authenticates nothing is spoofing: it does not block.
    let mut fresh_spoof = spoofing(50);
    fresh_spoof.days = 27..30;
    let r = Scenario::new(vec![own(), fresh_spoof]).summarise().readiness;
    assert_eq!(r.verdict, Verdict::ReadyForQuarantine);
}

#[test]
fn already_at_reject_is_enforced_unless_authorized_mail_is_lost() {
    let mut s = Scenario::new(vec![own(), spoofing(10)]);
    s.policy = Box::new(|_| "<p>reject</p>");
    let d = s.summarise();
    assert_eq!(d.readiness.verdict, Verdict::Enforced);
    assert!(d.readiness.sentence.contains("enforced at p=reject"), "{}", d.readiness.sentence);
    assert_eq!(d.published_policy.record, "v=DMARC1; p=reject; adkim=r; aspf=r");

    let mut s = Scenario::new(vec![own(), sendgrid()]);
    s.policy = Box::new(|_| "<p>reject</p>");
    let r = s.summarise().readiness;
    assert_eq!(r.verdict, Verdict::NotReady);
    assert!(r.reasons[0].contains("being lost now"), "{:?}", r.reasons);
}

#[test]
fn declared_senders_override_the_evidence() {
    let mut crm =
        source("192.0.2.99", 30, &[("crm-mailer.example", "pass")], ("crm-mailer.example", "pass"));
    crm.days = 0..30;
    let s = Scenario::new(vec![own(), crm]);
    // Unclassified with meaningful volume: blocks.
    assert_eq!(s.summarise().readiness.verdict, Verdict::NotReady);
    // Declared not ours: spoofing that a stricter policy stops.
    let extra = parse(
        "[[known_sender]]\nname = \"Not us\"\ndkim = [\"crm-mailer.example\"]\nclass = \"unauthorized\"\n",
    )
    .unwrap();
    let d = s.summarise_with(Catalogue::builtin().with(extra));
    assert_eq!(class_of(&d, "Not us"), SenderClass::Unauthorized);
    assert_eq!(d.readiness.verdict, Verdict::ReadyForQuarantine);
    // Declared ours by address: its failures are losses, with a fix.
    let extra = parse(
        "[[known_sender]]\nname = \"Our CRM\"\nips = [\"192.0.2.96/28\"]\nclass = \"authorized\"\n",
    )
    .unwrap();
    let d = s.summarise_with(Catalogue::builtin().with(extra));
    assert_eq!(class_of(&d, "Our CRM"), SenderClass::Authorized);
    let r = &d.readiness;
    assert_eq!(r.verdict, Verdict::NotReady);
    assert_eq!(r.blocking[0].sender, "Our CRM");
    assert!(r.blocking[0].fix.contains("192.0.2.99"), "{}", r.blocking[0].fix);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Whatever the mix, senders add up to the domain, and the what-if
    /// splits exactly the failing messages.
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
        let d = s.summarise();
        let messages: u64 = d.senders.iter().map(|s| s.totals.messages).sum();
        let pass: u64 = d.senders.iter().map(|s| s.totals.dmarc_pass).sum();
        prop_assert_eq!(messages, d.totals.totals.messages);
        prop_assert_eq!(pass, d.totals.totals.dmarc_pass);
        let w = &d.readiness.what_if;
        prop_assert_eq!(
            w.authorized_affected + w.forwarded_affected + w.unclassified_affected + w.unauthorized_stopped,
            messages - pass
        );
        let by_sources: u64 = d.totals.sources.iter().map(|s| s.totals.messages).sum();
        prop_assert_eq!(by_sources, messages);
    }
}
