//! The whole ingest of one input (`Ingester::ingest_bytes`) into an
//! in-memory store, then the store's invariants: what the outcome says
//! matches what was stored, every report is complete and can be parsed
//! again from its raw copy, and a second ingest of the same bytes stores
//! nothing new.
#![no_main]

use dmarc_report::ingest::{self, Ingester, InputOutcome};
use dmarc_report::limits::Limits;
use dmarc_report::store::Store;
use dmarc_report::unpack::Hints;
use libfuzzer_sys::fuzz_target;

fn count(store: &Store, sql: &str) -> i64 {
    store.connection().query_row(sql, [], |r| r.get(0)).expect("count query")
}

fn ingest(store: &Store, data: &[u8]) -> InputOutcome {
    let mut ingester = Ingester::new(store, Limits::default());
    let outcome =
        ingester.ingest_bytes("input", data, &Hints::default()).expect("storage never fails here");
    ingester.finish().expect("commit");
    outcome
}

fuzz_target!(|data: &[u8]| {
    let store = Store::open_in_memory().expect("in-memory store");
    let first = ingest(&store, data);

    // The outcome matches the tables.
    assert_eq!(count(&store, "SELECT count(*) FROM reports") as u64, first.reports_new);
    assert_eq!(count(&store, "SELECT count(*) FROM records") as u64, first.records);
    assert_eq!(
        count(&store, "SELECT coalesce(sum(record_count), 0) FROM reports") as u64,
        first.records
    );
    assert_eq!(count(&store, "SELECT count(*) FROM failed_inputs"), i64::from(!first.is_ok()));
    assert!(first.errors.iter().all(|e| e.starts_with("input")), "{:?}", first.errors);
    assert!(first.warnings.iter().all(|w| w.starts_with("input")), "{:?}", first.warnings);

    // Every report is complete: totals match its records, its raw copy is there.
    assert_eq!(
        count(
            &store,
            "SELECT count(*) FROM reports r WHERE record_count !=
                 (SELECT count(*) FROM records WHERE report = r.id)
              OR message_count != (SELECT coalesce(sum(count), 0) FROM records WHERE report = r.id)
              OR NOT EXISTS (SELECT 1 FROM report_raw WHERE report = r.id)
              OR NOT EXISTS (SELECT 1 FROM report_raw_chunks WHERE report = r.id)"
        ),
        0,
        "a report's totals or raw copy do not match its rows"
    );
    let integrity: String = store
        .connection()
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("integrity_check");
    assert_eq!(integrity, "ok");
    assert_eq!(count(&store, "SELECT count(*) FROM pragma_foreign_key_check"), 0);

    // The same bytes again store nothing new: every stored report is now a
    // duplicate. (A broken copy of a stored report counts as a duplicate
    // too, since a duplicate is recognised by its header, so errors may
    // only go away, never appear.)
    let second = ingest(&store, data);
    assert_eq!(second.reports_new, 0);
    assert_eq!(second.records, 0);
    assert!(second.reports_duplicate >= first.reports_new);
    assert!(second.is_ok() || !first.is_ok(), "{:?}", second.errors);
    assert_eq!(count(&store, "SELECT count(*) FROM reports") as u64, first.reports_new);
    assert_eq!(count(&store, "SELECT count(*) FROM records") as u64, first.records);

    // Each report's raw copy parses again into the same records.
    let reparsed = ingest::reparse(&store, &Limits::default()).expect("reparse");
    assert!(reparsed.failed.is_empty(), "{:?}", reparsed.failed);
    assert_eq!(reparsed.reports, first.reports_new);
    assert_eq!(reparsed.records, first.records);
    assert_eq!(count(&store, "SELECT count(*) FROM records") as u64, first.records);
});
