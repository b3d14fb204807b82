//! Upgrading in place: a database written by an earlier release, with real
//! data, is migrated by opening it, and nothing is lost.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use dmarc_report::analyse::senders::Catalogue;
use dmarc_report::analyse::summary::{self, WindowSpec};
use dmarc_report::ingest::Ingester;
use dmarc_report::limits::Limits;
use dmarc_report::store::inspect::{self, Inspector};
use dmarc_report::store::{Store, SummaryReads};
use dmarc_report::units::DAY;
use dmarc_report_testkit::report::{Record, Report};

/// The bundled samples (failed inputs included) in a new database, and
/// the content lines they give.
fn samples() -> (Store, Vec<String>) {
    let source = Store::open_in_memory().unwrap();
    let mut ingester = Ingester::new(&source, Limits::default());
    ingester.ingest_paths(&["sample-reports".to_owned()]).unwrap();
    ingester.finish().unwrap();
    let want = source.inspect().content().unwrap();
    let counts = source.inspect().counts().unwrap();
    assert!(counts.reports > 10 && counts.failed_inputs > 0, "{counts:?}");
    (source, want)
}

#[test]
fn a_database_of_every_released_schema_from_4_with_the_samples_upgrades_in_place_and_loses_nothing()
{
    let (source, want) = samples();
    // Schemas 1 to 3 are upgraded from hand-made rows in the unit tests of
    // the migrations (src/store/migrations.rs).
    for version in 4..=7 {
        // The same data in a database made by the released migrations 1
        // to `version`, in the record layout of that release.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(format!("release-{version}.db"));
        inspect::create_released_copy(&source, &path, version).unwrap();
        {
            let old = Inspector::open(&path).unwrap();
            assert_eq!(old.schema_version().unwrap(), version);
            let objects = old.schema_objects().unwrap();
            assert_eq!(objects.iter().any(|t| t == "source_days"), version >= 5, "{version}");
            assert!(!objects.iter().any(|t| t == "records_v"), "{version}");
            assert_eq!(old.content().unwrap(), want, "schema {version} before the upgrade");
        }

        // Opening it upgrades it; every row is still there.
        let store = Store::open(&path).unwrap();
        assert!(store.schema_version().unwrap() > version);
        assert_eq!(store.inspect().content().unwrap(), want, "schema {version} upgraded");
        assert_eq!(store.inspect().integrity_check().unwrap(), "ok");
        assert!(store.inspect().incomplete_reports().unwrap().is_empty(), "{version}");

        // And the summary, read from the rollups (built by the upgrade or
        // kept from the old database), is what the records say.
        let catalogue = Catalogue::builtin();
        for domain in store.domains().unwrap() {
            let window = summary::window(&store, &domain, WindowSpec::All).unwrap().unwrap();
            let rolled = summary::domain_totals(&store, &domain, window, &catalogue).unwrap();
            let scanned =
                summary::domain_totals_from_records(&store, &domain, window, &catalogue).unwrap();
            assert_eq!(rolled, scanned, "schema {version}, {domain}");
            assert!(rolled.totals.messages > 0, "{domain}");
        }

        // The upgraded database knows the reports: ingesting them again
        // stores nothing (the failed inputs count one more attempt).
        let mut again = Ingester::new(&store, Limits::default());
        again.ingest_paths(&["sample-reports".to_owned()]).unwrap();
        again.finish().unwrap();
        let stored = |lines: Vec<String>| -> Vec<String> {
            lines.into_iter().filter(|l| !l.starts_with("failed: ")).collect()
        };
        assert_eq!(
            stored(store.inspect().content().unwrap()),
            stored(want.clone()),
            "schema {version} ingested again"
        );
    }
}

/// A report for `example.com` whose one source sends From the domain and
/// from a subdomain.
fn report_with_subdomain_mail() -> String {
    let begin = 1_700_006_400;
    let record = |from: &str, count: u64, dkim: &str| {
        Record::new("192.0.2.77", count)
            .evaluated(dkim == "pass", false)
            .header_from(from)
            .dkim_signed(from, None, dkim)
            .spf("bounce.esp.example", "pass")
    };
    Report::new("google.com", "example.com", "sub-1", begin, begin + 86_399)
        .policy("p=none")
        .record(record("example.com", 40, "pass"))
        .record(record("news.example.com", 9, "fail"))
        .xml()
}

/// Every source's streams (`stream_days`) add up to the source's totals,
/// over all of each domain's days.
fn streams_add_up_to_their_sources(store: &Store) {
    let catalogue = Catalogue::builtin();
    let mut checked = 0;
    for domain in store.domains().unwrap() {
        let window = summary::window(store, &domain, WindowSpec::All).unwrap().unwrap();
        let totals = summary::domain_totals(store, &domain, window, &catalogue).unwrap();
        let first = window.begin.div_euclid(DAY) * DAY;
        let end = (window.end + DAY - 1).div_euclid(DAY) * DAY;
        for row in &totals.sources {
            let mut sums = [0u64; 5];
            let mut streams = 0;
            store
                .scan_streams(&domain, std::slice::from_ref(&row.ip), first, end, &mut |s| {
                    streams += 1;
                    for (sum, v) in sums.iter_mut().zip(s.sums) {
                        *sum += v;
                    }
                })
                .unwrap();
            assert!(streams > 0, "{domain} {}", row.ip);
            assert_eq!(summary::Totals::from_sums(sums), row.totals, "{domain} {}", row.ip);
            checked += 1;
        }
    }
    assert!(checked >= 10, "{checked}");
}

#[test]
fn a_database_from_before_the_streams_gains_them_from_its_records() {
    let (source, want) = samples();
    streams_add_up_to_their_sources(&source);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("before-streams.db");
    // Schema 9 (the subdomain split) is the last one without the streams.
    let version = 9;
    inspect::create_released_copy(&source, &path, version).unwrap();
    assert_eq!(Inspector::open(&path).unwrap().schema_version().unwrap(), version);
    let store = Store::open(&path).unwrap();
    assert_eq!(store.inspect().content().unwrap(), want);
    streams_add_up_to_their_sources(&store);
}

#[test]
fn a_schema_7_database_gains_the_subdomain_part_of_each_source_from_its_records() {
    let source = Store::open_in_memory().unwrap();
    let mut ingester = Ingester::new(&source, Limits::default());
    ingester.ingest_paths(&["sample-reports".to_owned()]).unwrap();
    let xml = report_with_subdomain_mail();
    let outcome = ingester
        .ingest_bytes("sub.xml", xml.as_bytes(), &dmarc_report::unpack::Hints::default())
        .unwrap();
    assert!(outcome.is_ok(), "{:?}", outcome.errors);
    ingester.finish().unwrap();
    let want = source.inspect().content().unwrap();

    // The data in a database made by the released migrations 1 to 7, whose
    // rollups do not tell subdomain mail apart.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("release-7.db");
    inspect::create_released_copy(&source, &path, 7).unwrap();
    assert_eq!(Inspector::open(&path).unwrap().schema_version().unwrap(), 7);

    let store = Store::open(&path).unwrap();
    assert!(store.schema_version().unwrap() > 7);
    assert_eq!(store.inspect().content().unwrap(), want);

    // The rollups the upgrade rebuilt say what the records say, the
    // subdomain part of each source's day included.
    let catalogue = Catalogue::builtin();
    for domain in store.domains().unwrap() {
        let window = summary::window(&store, &domain, WindowSpec::All).unwrap().unwrap();
        let rolled = summary::domain_totals(&store, &domain, window, &catalogue).unwrap();
        let scanned =
            summary::domain_totals_from_records(&store, &domain, window, &catalogue).unwrap();
        assert_eq!(rolled, scanned, "{domain}");
    }
    let window = summary::window(&store, "example.com", WindowSpec::All).unwrap().unwrap();
    let totals = summary::domain_totals(&store, "example.com", window, &catalogue).unwrap();
    let row = totals.sources.iter().find(|r| r.ip == "192.0.2.77").unwrap();
    let sub: Vec<(u64, u64)> =
        row.daily.iter().map(|d| (d.subdomain.messages, d.totals.messages)).collect();
    assert_eq!(sub, [(9, 49)]);
    streams_add_up_to_their_sources(&store);
}

#[test]
fn a_schema_11_database_keeps_every_rollup_row_with_its_domain_named_by_id() {
    let (source, want) = samples();
    let want_rollups = source.inspect().rollups().unwrap();
    assert!(want_rollups.iter().any(|l| l.starts_with("source | ")), "{want_rollups:?}");

    // Schema 11: source_days names its policy domain as text in every row.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("release-11.db");
    inspect::create_released_copy(&source, &path, 11).unwrap();
    {
        let old = Inspector::open(&path).unwrap();
        assert_eq!(old.schema_version().unwrap(), 11);
        assert!(!old.schema_objects().unwrap().iter().any(|t| t == "source_days_v"));
        assert_eq!(old.rollups().unwrap(), want_rollups);
    }

    // Opening it upgrades it: the same rows, read through the view, and
    // the same summary as the records give.
    let store = Store::open(&path).unwrap();
    assert!(store.schema_version().unwrap() > 11);
    assert!(store.inspect().schema_objects().unwrap().iter().any(|t| t == "source_days_v"));
    assert_eq!(store.inspect().rollups().unwrap(), want_rollups);
    assert_eq!(store.inspect().content().unwrap(), want);
    assert_eq!(store.inspect().integrity_check().unwrap(), "ok");
    let catalogue = Catalogue::builtin();
    for domain in store.domains().unwrap() {
        let window = summary::window(&store, &domain, WindowSpec::All).unwrap().unwrap();
        let rolled = summary::domain_totals(&store, &domain, window, &catalogue).unwrap();
        let scanned =
            summary::domain_totals_from_records(&store, &domain, window, &catalogue).unwrap();
        assert_eq!(rolled, scanned, "{domain}");
    }

    // A report stored after the upgrade adds to the rows the upgrade kept,
    // as it adds to those of a database that never had the old shape.
    let xml = report_with_subdomain_mail();
    for db in [&source, &store] {
        let mut ingester = Ingester::new(db, Limits::default());
        let outcome = ingester
            .ingest_bytes("sub.xml", xml.as_bytes(), &dmarc_report::unpack::Hints::default())
            .unwrap();
        assert!(outcome.is_ok(), "{:?}", outcome.errors);
        ingester.finish().unwrap();
    }
    let after = source.inspect().rollups().unwrap();
    assert_ne!(after, want_rollups);
    assert_eq!(store.inspect().rollups().unwrap(), after);
}

#[test]
fn a_postgresql_database_before_the_subdomain_split_is_upgraded_and_its_rollups_rebuilt() {
    let Some(url) = common::postgres::database("split_upgrade") else { return };
    let path = std::path::Path::new(&url);
    {
        let store = Store::open(path).unwrap();
        let mut ingester = Ingester::new(&store, Limits::default());
        ingester.ingest_paths(&["sample-reports".to_owned()]).unwrap();
        let xml = report_with_subdomain_mail();
        let outcome = ingester
            .ingest_bytes("sub.xml", xml.as_bytes(), &dmarc_report::unpack::Hints::default())
            .unwrap();
        assert!(outcome.is_ok(), "{:?}", outcome.errors);
        ingester.finish().unwrap();
    }
    {
        let store = Store::open(path).unwrap();
        streams_add_up_to_their_sources(&store);
    }
    // The database as the release before the split made it: rollups
    // without the subdomain columns nor the streams, and neither that
    // migration (3) nor the later ones applied (each undone here: the
    // streams are 4, the failure kinds 5).
    let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    client
        .batch_execute(
            "ALTER TABLE source_days DROP COLUMN sub_messages, DROP COLUMN sub_dmarc_pass,
                 DROP COLUMN sub_spf_aligned_pass, DROP COLUMN sub_dkim_aligned_pass,
                 DROP COLUMN sub_authenticated;
             DROP TABLE stream_days;
             DROP INDEX failed_inputs_unkept_name;
             ALTER TABLE failed_inputs DROP COLUMN kind, DROP COLUMN dismissed_at;
             DELETE FROM dmarc_report_migrations WHERE version >= 3",
        )
        .unwrap();
    drop(client);

    // Opening it upgrades it; the rollups say what the records say.
    let store = Store::open(path).unwrap();
    let catalogue = Catalogue::builtin();
    for domain in store.domains().unwrap() {
        let window = summary::window(&store, &domain, WindowSpec::All).unwrap().unwrap();
        let rolled = summary::domain_totals(&store, &domain, window, &catalogue).unwrap();
        let scanned =
            summary::domain_totals_from_records(&store, &domain, window, &catalogue).unwrap();
        assert_eq!(rolled, scanned, "{domain}");
    }
    let window = summary::window(&store, "example.com", WindowSpec::All).unwrap().unwrap();
    let totals = summary::domain_totals(&store, "example.com", window, &catalogue).unwrap();
    let row = totals.sources.iter().find(|r| r.ip == "192.0.2.77").unwrap();
    let sub: Vec<(u64, u64)> =
        row.daily.iter().map(|d| (d.subdomain.messages, d.totals.messages)).collect();
    assert_eq!(sub, [(9, 49)]);
    streams_add_up_to_their_sources(&store);
}

/// The failed inputs the samples give, as kept by this build: name, kind
/// (given when each failed), listed, size.
fn sample_failure_kinds(source: &Store) -> Vec<String> {
    let kinds = source.inspect().failure_kinds().unwrap();
    for kind in ["malformed", "not-a-report", "tls-report", "failure-report", "corrupt"] {
        assert!(kinds.iter().any(|l| l.contains(&format!(" | {kind} | "))), "{kind}: {kinds:?}");
    }
    kinds
}

/// One input too large to keep a copy of, as an older release kept it:
/// a new row on each of three runs.
const TOO_LARGE: &str = "big.xml: the decompressed report is larger than the limit of 1 GiB \
     (raise it with --max-report-size) (the input is too large to keep a copy; it stays where it is)";

/// The too-large input's row once the rows of each run are one.
const TOO_LARGE_KIND: &str = "big.xml | limit | listed | 0";

#[test]
fn failed_inputs_kept_before_failure_kinds_get_the_kind_this_build_gives_them() {
    let (source, _) = samples();
    let mut want = sample_failure_kinds(&source);
    want.push(TOO_LARGE_KIND.to_owned());
    want.sort();

    // Schema 7 predates the kinds; its failed inputs carry only their text.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("release-7.db");
    inspect::create_released_copy(&source, &path, 7).unwrap();
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        for at in [10, 20, 30] {
            conn.execute(
                "INSERT INTO failed_inputs (name, error, first_seen, last_seen)
                 VALUES ('big.xml', ?1, ?2, ?2)",
                rusqlite::params![TOO_LARGE, at],
            )
            .unwrap();
        }
    }
    let store = Store::open(&path).unwrap();
    assert_eq!(store.inspect().failure_kinds().unwrap(), want);
    let big = store.failures().unwrap().into_iter().find(|f| f.name == "big.xml").unwrap();
    assert_eq!((big.attempts, big.first_seen, big.last_seen), (3, 10, 30));
    assert!(store.dismissed_failures().unwrap().is_empty());
}

#[test]
fn a_postgresql_database_before_failure_kinds_gets_the_kind_this_build_gives_them() {
    let Some(url) = common::postgres::database("failed_kinds_upgrade") else { return };
    let (source, _) = samples();
    let mut want = sample_failure_kinds(&source);
    want.push(TOO_LARGE_KIND.to_owned());
    want.sort();

    // The schema as the migrations before the kinds made it, from the
    // repository's own files, with the failed inputs in it.
    let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/postgres");
    let mut files: Vec<_> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    let kinds_at = files.iter().position(|f| f.ends_with("_failed_kinds.sql")).unwrap();
    let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    client
        .batch_execute(
            "CREATE TABLE dmarc_report_migrations (
                 version integer PRIMARY KEY, applied_at bigint NOT NULL)",
        )
        .unwrap();
    for (i, file) in files[..kinds_at].iter().enumerate() {
        client.batch_execute(&std::fs::read_to_string(folder.join(file)).unwrap()).unwrap();
        let version = i32::try_from(i + 1).unwrap();
        client.execute("INSERT INTO dmarc_report_migrations VALUES ($1, 0)", &[&version]).unwrap();
    }
    let failures = source.failures().unwrap();
    for f in &failures {
        let data = source.failure_data(f.id).unwrap().map(|(_, data)| data);
        client
            .execute(
                "INSERT INTO failed_inputs (name, sha256, data, error, first_seen, last_seen)
                 VALUES ($1, sha256($2), $2, $3, $4, $4)",
                &[&f.name, &data, &f.error, &f.first_seen],
            )
            .unwrap();
    }
    for at in [10_i64, 20, 30] {
        client
            .execute(
                "INSERT INTO failed_inputs (name, error, first_seen, last_seen)
                 VALUES ('big.xml', $1, $2, $2)",
                &[&TOO_LARGE, &at],
            )
            .unwrap();
    }
    drop(client);

    let store = Store::open(std::path::Path::new(&url)).unwrap();
    assert_eq!(store.inspect().failure_kinds().unwrap(), want);
    let big = store.failures().unwrap().into_iter().find(|f| f.name == "big.xml").unwrap();
    assert_eq!((big.attempts, big.first_seen, big.last_seen), (3, 10, 30));
}
