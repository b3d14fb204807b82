//! Upgrading in place: a database written by an earlier release, with real
//! data, is migrated by opening it, and nothing is lost.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use dmarc_report::analyse::senders::Catalogue;
use dmarc_report::analyse::summary::{self, WindowSpec};
use dmarc_report::ingest::Ingester;
use dmarc_report::limits::Limits;
use dmarc_report::store::inspect::{self, Inspector};
use dmarc_report::store::{Store, SummaryReads};

#[test]
fn a_schema_4_database_with_the_samples_upgrades_in_place_and_loses_nothing() {
    // Real data: the bundled samples, failed inputs included.
    let source = Store::open_in_memory().unwrap();
    let mut ingester = Ingester::new(&source, Limits::default());
    ingester.ingest_paths(&["sample-reports".to_owned()]).unwrap();
    ingester.finish().unwrap();
    let want = source.inspect().content().unwrap();
    let counts = source.inspect().counts().unwrap();
    assert!(counts.reports > 10 && counts.failed_inputs > 0, "{counts:?}");

    // The same data in a database made by the released migrations 1 to 4.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("release-4.db");
    inspect::create_released_copy(&source, &path, 4).unwrap();
    {
        let old = Inspector::open(&path).unwrap();
        assert_eq!(old.schema_version().unwrap(), 4);
        assert!(!old.schema_objects().unwrap().iter().any(|t| t == "source_days"));
        assert_eq!(old.content().unwrap(), want);
    }

    // Opening it upgrades it; every row is still there.
    let store = Store::open(&path).unwrap();
    assert!(store.schema_version().unwrap() > 4);
    assert_eq!(store.inspect().content().unwrap(), want);
    assert_eq!(store.inspect().integrity_check().unwrap(), "ok");

    // And the summary, read from the rollups the upgrade built, is what
    // the records say.
    let catalogue = Catalogue::builtin();
    for domain in store.domains().unwrap() {
        let window = summary::window(&store, &domain, WindowSpec::All).unwrap().unwrap();
        let rolled = summary::domain_totals(&store, &domain, window, &catalogue).unwrap();
        let scanned =
            summary::domain_totals_from_records(&store, &domain, window, &catalogue).unwrap();
        assert_eq!(rolled, scanned, "{domain}");
        assert!(rolled.totals.messages > 0, "{domain}");
    }
}
