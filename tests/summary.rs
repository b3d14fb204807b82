//! Per-domain and per-source totals (`analyse::summary`): over the bundled
//! samples, whose truth is known from their generator, and as a property:
//! the sources always add up to the domain.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use dmarc_report::analyse::senders::Catalogue;
use dmarc_report::analyse::summary::{self, Totals, Window, WindowSpec};
use dmarc_report::ingest::Ingester;
use dmarc_report::limits::Limits;
use dmarc_report::store::Store;
use dmarc_report::units::DAY;
use dmarc_report::unpack::Hints;
use dmarc_report_testkit::report::{Record, Report};
use proptest::prelude::*;

fn samples() -> Store {
    let store = Store::open_in_memory().unwrap();
    let mut ingester = Ingester::new(&store, Limits::default());
    ingester.ingest_paths(&["sample-reports".to_owned()]).unwrap();
    ingester.finish().unwrap();
    store
}

fn sum(rows: &[summary::SourceRow]) -> Totals {
    rows.iter().fold(Totals::default(), |mut t, r| {
        t.merge(&r.totals);
        t
    })
}

#[test]
fn the_default_window_covers_the_samples_thirty_days_and_the_sources_add_up() {
    let store = samples();
    let conn = &store;
    assert_eq!(summary::domains(conn).unwrap(), ["example.com", "example.org"]);
    let catalogue = Catalogue::builtin();
    for domain in ["example.com", "example.org"] {
        let window = summary::window(conn, domain, WindowSpec::LastDays(30)).unwrap().unwrap();
        // 2026-10-20 00:00 .. 2026-11-19 00:00 UTC
        assert_eq!(window, Window { begin: 1_792_454_400, end: 1_795_046_400 }, "{domain}");
        let d = summary::domain_totals(conn, domain, window, &catalogue).unwrap();
        assert_eq!(d.days_covered, 30, "{domain}");
        assert_eq!(sum(&d.sources), d.totals, "{domain}: sources must add up");
        let by_disposition: u64 = d.disposition.values().sum();
        assert_eq!(by_disposition, d.totals.messages);
        // Every report of the samples is inside the default window.
        let all = summary::window(conn, domain, WindowSpec::All).unwrap().unwrap();
        let everything = summary::domain_totals(conn, domain, all, &catalogue).unwrap();
        assert_eq!(everything.totals, d.totals, "{domain}");
        assert_eq!(everything.reports, d.reports);
    }
    // The story of docs/samples.md: example.org's newsletter goes through
    // SendGrid, which signs as itself, so none of it passes DMARC.
    let window = summary::window(conn, "example.org", WindowSpec::LastDays(30)).unwrap().unwrap();
    let org = summary::domain_totals(conn, "example.org", window, &catalogue).unwrap();
    let sendgrid: Vec<_> = org.sources.iter().filter(|s| s.sender == "SendGrid").collect();
    assert!(!sendgrid.is_empty());
    assert_eq!(sendgrid.iter().map(|s| s.totals.messages).sum::<u64>(), 10_806);
    assert!(sendgrid.iter().all(|s| s.totals.dmarc_pass == 0));
    assert!(org.reporters >= 5, "{}", org.reporters);
    // A narrower window: the last seven days only.
    let week = summary::window(conn, "example.org", WindowSpec::LastDays(7)).unwrap().unwrap();
    let recent = summary::domain_totals(conn, "example.org", week, &catalogue).unwrap();
    assert_eq!(recent.days_covered, 7);
    assert!(recent.totals.messages < org.totals.messages);
    // Zendesk appears only in the last days of the story.
    assert!(recent.sources.iter().any(|s| s.sender == "Zendesk"));
}

#[test]
fn the_rollups_give_what_the_records_give_and_stay_right_after_reparse() {
    let store = samples();
    let catalogue = Catalogue::builtin();
    let check = |store: &Store| {
        for domain in ["example.com", "example.org"] {
            for spec in [WindowSpec::LastDays(30), WindowSpec::LastDays(7), WindowSpec::All] {
                let window = summary::window(store, domain, spec).unwrap().unwrap();
                let rolled = summary::domain_totals(store, domain, window, &catalogue).unwrap();
                let scanned =
                    summary::domain_totals_from_records(store, domain, window, &catalogue).unwrap();
                assert_eq!(rolled, scanned, "{domain} {spec:?}");
                assert!(!rolled.sources.is_empty());
            }
        }
    };
    check(&store);
    let reparsed = dmarc_report::ingest::reparse(&store, &Limits::default()).unwrap();
    assert!(reparsed.reports > 0 && reparsed.failed.is_empty(), "{reparsed:?}");
    check(&store);
}

#[test]
fn a_domain_without_reports_has_no_window() {
    let store = samples();
    assert_eq!(summary::window(&store, "nope.example", WindowSpec::All).unwrap(), None);
}

/// A small report: `records` are (ip index, count, dkim pass, spf pass).
fn report(id: usize, day: i64, records: &[(u8, u64, bool, bool)]) -> String {
    let begin = 1_792_454_400 + day * DAY;
    report_at(&format!("r{}", id % 3), id, begin, records)
}

/// The same from `org`, over the day that starts at `begin`.
fn report_at(org: &str, id: usize, begin: i64, records: &[(u8, u64, bool, bool)]) -> String {
    let mut report =
        Report::new(org, "example.com", &id.to_string(), begin, begin + DAY - 1).policy("p=none");
    for (ip, count, dkim, spf) in records {
        let result = if *spf { "pass" } else { "fail" };
        report = report.record(
            Record::new(format!("192.0.2.{ip}"), *count)
                .evaluated(*dkim, *spf)
                .spf("example.com", result),
        );
    }
    report.xml()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn per_source_rows_add_up_to_the_domain_totals(
        reports in proptest::collection::vec(
            (0i64..40, proptest::collection::vec((0u8..8, 0u64..1_000_000, any::<bool>(), any::<bool>()), 0..12)),
            1..12,
        )
    ) {
        let store = Store::open_in_memory().unwrap();
        let mut want = Totals::default();
        {
            let mut ingester = Ingester::new(&store, Limits::default());
            for (i, (day, records)) in reports.iter().enumerate() {
                let xml = report(i, *day, records);
                let outcome = ingester.ingest_bytes("r", xml.as_bytes(), &Hints::default()).unwrap();
                prop_assert!(outcome.is_ok(), "{:?}", outcome.errors);
                for (_, count, dkim, spf) in records {
                    want.messages += count;
                    // The records carry an SPF result only, passing when
                    // aligned SPF passes; an aligned pass counts as
                    // authenticated whatever the auth results say.
                    if *dkim || *spf { want.dmarc_pass += count; want.authenticated += count; }
                    if *spf { want.spf_aligned_pass += count; }
                    if *dkim { want.dkim_aligned_pass += count; }
                }
            }
            ingester.finish().unwrap();
        }
        let conn = &store;
        let window = summary::window(conn, "example.com", WindowSpec::All).unwrap().unwrap();
        let d = summary::domain_totals(conn, "example.com", window, &Catalogue::builtin()).unwrap();
        prop_assert_eq!(d.totals, want);
        prop_assert_eq!(sum(&d.sources), d.totals);
        prop_assert_eq!(d.reports as usize, reports.len());
        let ips: std::collections::BTreeSet<u8> =
            reports.iter().flat_map(|(_, r)| r.iter().map(|x| x.0)).collect();
        prop_assert_eq!(d.sources.len(), ips.len());
        let scanned =
            summary::domain_totals_from_records(conn, "example.com", window, &Catalogue::builtin())
                .unwrap();
        prop_assert_eq!(&d, &scanned);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// A window whose ends fall inside a day reads the cut days' reports
    /// from their records and the whole days from the rollups: the sum of
    /// both, merged source by source, is what the records alone give, and
    /// the sources come in address order.
    #[test]
    fn a_window_that_cuts_days_gives_what_the_records_give(
        reports in proptest::collection::vec(
            (
                0i64..6,
                0i64..4,
                proptest::collection::vec((0u8..12, 1u64..1_000, any::<bool>(), any::<bool>()), 1..8),
            ),
            1..14,
        ),
        since in 0i64..(6 * 24),
        hours in 1i64..(6 * 24),
    ) {
        let base = 1_792_454_400;
        let store = Store::open_in_memory().unwrap();
        {
            let mut ingester = Ingester::new(&store, Limits::default());
            for (i, (day, quarter, records)) in reports.iter().enumerate() {
                // Reports that begin at 00:00, 06:00, 12:00 or 18:00.
                let begin = base + day * DAY + quarter * DAY / 4;
                let xml = report_at("r", i, begin, records);
                let outcome = ingester.ingest_bytes("r", xml.as_bytes(), &Hints::default()).unwrap();
                prop_assert!(outcome.is_ok(), "{:?}", outcome.errors);
            }
            ingester.finish().unwrap();
        }
        let begin = base + since * 3_600;
        let window = Window { begin, end: begin + hours * 3_600 };
        let catalogue = Catalogue::builtin();
        let rolled = summary::domain_totals(&store, "example.com", window, &catalogue).unwrap();
        let scanned =
            summary::domain_totals_from_records(&store, "example.com", window, &catalogue).unwrap();
        prop_assert_eq!(&rolled, &scanned);
        let mut streamed = Vec::new();
        let totals = summary::scan(&store, "example.com", window, &mut |row| {
            streamed.push(row.ip)
        })
        .unwrap();
        prop_assert_eq!(totals.totals, rolled.totals);
        prop_assert_eq!(totals.source_count as usize, rolled.sources.len());
        let mut sorted = streamed.clone();
        sorted.sort();
        sorted.dedup();
        prop_assert_eq!(streamed, sorted);
    }
}
