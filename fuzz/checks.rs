//! What the fuzz targets check, shared with the regression tests
//! (`tests/fuzz_regressions.rs` includes this file), so that an input the
//! fuzzer found is checked in the test suite exactly as it was found.
//!
//! Each function panics when the input breaks a rule: a panic is the crash
//! the fuzzer reports.

#![allow(dead_code, clippy::expect_used, clippy::unwrap_used)]

use dmarc_report::ingest::{self, Ingester, InputOutcome};
use dmarc_report::limits::Limits;
use dmarc_report::parse::lenient::MAX_COUNT;
use dmarc_report::parse::{ParseOptions, ReportReader};
use dmarc_report::store::Store;
use dmarc_report::store::inspect::Counts;
use dmarc_report::unpack::{self, Document, Hints, Sink, UnpackError};

/// The input's name in locations and errors.
pub const NAME: &str = "input";

/// The streaming parser on raw bytes: open, read every record, collect the
/// warnings. Returns the number of records read (`None`: refused).
pub fn parse_xml(data: &[u8]) -> Option<u64> {
    // A name in the reporters' pattern, so the date-range fallback runs too.
    let options = ParseOptions {
        known_utf8: false,
        file_name: Some("fuzz.example!example.com!1794873600!1794959999.xml".into()),
    };
    let (mut reader, _header) = ReportReader::open(data, &options).ok()?;
    let mut records = 0;
    loop {
        match reader.next_record() {
            Ok(Some(record)) => {
                assert!(record.count <= MAX_COUNT, "count {} accepted", record.count);
                records += 1;
            }
            Ok(None) => {
                // The end is final.
                assert!(matches!(reader.next_record(), Ok(None)));
                break;
            }
            Err(e) => {
                assert!(!e.to_string().is_empty());
                return None;
            }
        }
    }
    let _ = reader.warnings();
    let _ = reader.late_extensions();
    Some(records)
}

/// Everything a reading of a document gives (or its error).
type Reading = Result<(Vec<dmarc_report::model::Record>, Vec<String>, Vec<String>), String>;

/// Reads `data` record by record, or (with `piece`) in pieces of that many
/// bytes on two worker threads.
fn read_all(data: &[u8], piece: Option<usize>) -> Option<Reading> {
    let options = ParseOptions::default();
    let (mut reader, _header) = ReportReader::open(data, &options).ok()?;
    let mut records = Vec::new();
    let read = match piece {
        None => loop {
            match reader.next_record() {
                Ok(Some(record)) => records.push(record),
                Ok(None) => break Ok(()),
                Err(e) => break Err(e),
            }
        },
        Some(piece) => reader.read_batches_in_pieces(
            2,
            piece,
            7,
            |r| r,
            |batch, _| {
                records.extend(batch);
                true
            },
        ),
    };
    Some(
        read.map_err(|e| e.to_string())
            .map(|()| (records, reader.warnings(), reader.late_extensions().to_vec())),
    )
}

/// Reading in pieces on worker threads gives exactly what reading record
/// by record gives: the same records, warnings and errors (with lines).
pub fn pieces_match(data: &[u8]) {
    let one = read_all(data, None);
    let pieces = read_all(data, Some(256));
    assert_eq!(one, pieces, "reading in pieces differs");
}

/// What `unpack` found in an input.
#[derive(Debug, Default)]
pub struct Unpacked {
    /// Documents handed over (each drained to its end).
    pub documents: usize,
    /// Bytes read from them.
    pub bytes: u64,
    /// Problems reported, and errors met while draining a document.
    pub problems: Vec<String>,
    /// Warnings.
    pub warnings: Vec<String>,
}

impl Sink for Unpacked {
    type Fatal = std::convert::Infallible;

    fn document(&mut self, doc: Document<'_>) -> Result<(), Self::Fatal> {
        assert!(doc.location.starts_with(NAME), "location {:?}", doc.location);
        self.documents += 1;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match doc.reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => self.bytes += n as u64,
                Err(e) => {
                    let error = UnpackError::from_io("input", e).to_string();
                    assert!(!error.is_empty());
                    self.problems.push(format!("{}: {error}", doc.location));
                    break;
                }
            }
        }
        Ok(())
    }

    fn problem(&mut self, location: &str, error: UnpackError) {
        assert!(location.starts_with(NAME), "location {location:?}");
        let error = error.to_string();
        assert!(!error.is_empty());
        self.problems.push(format!("{location}: {error}"));
    }

    fn warning(&mut self, location: &str, message: String) {
        assert!(location.starts_with(NAME), "location {location:?}");
        assert!(!message.is_empty());
        self.warnings.push(format!("{location}: {message}"));
    }
}

/// Sniffing and unpacking with the default limits, every document drained.
/// Every input comes out as at least one document or one problem.
pub fn unpack(data: &[u8]) -> Unpacked {
    let mut sink = Unpacked::default();
    let Ok(()) = unpack::unpack(NAME, data, &Hints::default(), &Limits::default(), &mut sink);
    assert!(
        sink.documents > 0 || !sink.problems.is_empty(),
        "the input produced neither a document nor a problem"
    );
    sink
}

fn counts(store: &Store) -> Counts {
    store.inspect().counts().expect("count the rows")
}

fn ingest_into(store: &Store, data: &[u8]) -> InputOutcome {
    let mut ingester = Ingester::new(store, Limits::default());
    let outcome =
        ingester.ingest_bytes(NAME, data, &Hints::default()).expect("storage never fails here");
    ingester.finish().expect("commit");
    outcome
}

/// The whole ingest of one input into an in-memory store, then the store's
/// invariants: the outcome matches the tables, every report is complete
/// and parses again from its raw copy, and the same bytes again store
/// nothing new. Returns the outcome of the first ingest.
pub fn ingest_one(data: &[u8]) -> InputOutcome {
    let store = Store::open_in_memory().expect("in-memory store");
    let first = ingest_into(&store, data);

    // The outcome matches the tables.
    let c = counts(&store);
    assert_eq!(c.reports, first.reports_new);
    assert_eq!(c.records, first.records);
    assert_eq!(c.reported_records, first.records);
    assert_eq!(c.failed_inputs, u64::from(!first.is_ok()));
    assert!(first.errors.iter().all(|e| e.location.starts_with(NAME)), "{:?}", first.errors);
    assert!(first.warnings.iter().all(|w| w.starts_with(NAME)), "{:?}", first.warnings);

    // Every report is complete: totals match its records, its raw copy is there.
    assert_eq!(
        store.inspect().incomplete_reports().expect("look for partial reports"),
        Vec::<[i64; 4]>::new(),
        "a report's totals or raw copy do not match its rows"
    );
    assert_eq!(store.inspect().integrity_check().expect("integrity check"), "ok");

    // The same bytes again store nothing new: every stored report is now a
    // duplicate. (A broken copy of a stored report counts as a duplicate
    // too, since a duplicate is recognised by its header, so errors may
    // only go away, never appear.)
    let second = ingest_into(&store, data);
    assert_eq!(second.reports_new, 0);
    assert_eq!(second.records, 0);
    assert!(second.reports_duplicate >= first.reports_new);
    assert!(second.is_ok() || !first.is_ok(), "{:?}", second.errors);
    assert_eq!(counts(&store).reports, first.reports_new);
    assert_eq!(counts(&store).records, first.records);

    // Each report's raw copy parses again into the same records.
    let reparsed = ingest::reparse(&store, &Limits::default()).expect("reparse");
    assert!(reparsed.failed.is_empty(), "{:?}", reparsed.failed);
    assert_eq!(reparsed.reports, first.reports_new);
    assert_eq!(reparsed.records, first.records);
    assert_eq!(counts(&store).records, first.records);
    first
}
