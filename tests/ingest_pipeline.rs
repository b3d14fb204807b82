//! The ingest pipeline: inputs parsed several at a time on worker threads
//! are stored exactly as one at a time would store them, in input order;
//! the raw copy is the compressed bytes that arrived; large reports are
//! streamed (and a duplicate one is not read to its end).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};

use common::{Backend, both_backends};
use dmarc_report::ingest::{IngestSummary, Ingester, reparse};
use dmarc_report::limits::Limits;
use dmarc_report::store::Store;
use dmarc_report::unpack::Hints;
use dmarc_report_testkit::archive;
use dmarc_report_testkit::report::{Record, Report};

fn samples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-reports")
}

/// Every file under `dir`, sorted.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// Report sources in the order the reports were stored.
fn stored_order(store: &Store) -> Vec<String> {
    store
        .report_ids()
        .unwrap()
        .into_iter()
        .filter_map(|id| store.raw_report(id).unwrap().map(|(source, _, _)| source))
        .collect()
}

/// What a run says, without the order-free parts.
fn summary_json(summary: &IngestSummary) -> String {
    serde_json::to_string(summary).unwrap()
}

both_backends!(many_inputs_at_once_are_stored_as_one_at_a_time_in_input_order);
fn many_inputs_at_once_are_stored_as_one_at_a_time_in_input_order(backend: Backend) {
    let inputs: Vec<PathBuf> = files(&samples());
    assert!(inputs.len() > 40, "{} sample inputs", inputs.len());
    // Twice over: the second copy of each report is a duplicate.
    let names: Vec<String> =
        inputs.iter().chain(&inputs).map(|p| p.display().to_string()).collect();

    let together = backend.new_store();
    let mut ingester = Ingester::new(&together, Limits::default());
    ingester.ingest_paths(&names).unwrap();
    let all_at_once = ingester.finish().unwrap();

    let alone = backend.new_store();
    let mut ingester = Ingester::new(&alone, Limits::default());
    for name in &names {
        ingester.ingest_file(Path::new(name)).unwrap();
    }
    let one_by_one = ingester.finish().unwrap();

    assert!(all_at_once.reports_new > 40 && all_at_once.reports_duplicate > 40);
    assert!(!all_at_once.failed.is_empty(), "the malformed samples fail");
    assert_eq!(summary_json(&all_at_once), summary_json(&one_by_one));
    assert_eq!(stored_order(&together), stored_order(&alone));
    let image = together.inspect().snapshot().unwrap();
    assert_eq!(image, alone.inspect().snapshot().unwrap());

    // Every raw copy (as it arrived, or compressed here) reads back.
    for id in together.report_ids().unwrap() {
        let source = together.raw_report(id).unwrap().unwrap().0;
        let copy = together.raw_chunks(id).unwrap().concat();
        let mut xml = Vec::new();
        let read = flate2::read::GzDecoder::new(&copy[..]).read_to_end(&mut xml);
        assert!(read.is_ok(), "the raw copy of {source}: {read:?}");
    }
    let again = reparse(&together, &Limits::default()).unwrap();
    assert!(again.failed.is_empty(), "{again:?}");
    assert_eq!(together.inspect().snapshot().unwrap(), image);
}

fn sample_xml() -> Vec<u8> {
    let path = files(&samples())
        .into_iter()
        .find(|p| {
            p.extension().is_some_and(|e| e == "xml") && p.to_string_lossy().contains("google")
        })
        .expect("a plain XML sample");
    std::fs::read(path).unwrap()
}

/// The stored raw copy of the only report.
fn raw_copy(store: &Store) -> Vec<u8> {
    let ids = store.report_ids().unwrap();
    assert_eq!(ids.len(), 1);
    store.raw_chunks(ids[0]).unwrap().concat()
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes).read_to_end(&mut out).unwrap();
    out
}

/// Ingests `bytes` as one input, checks that it stored one report, and
/// that `reparse` reads its raw copy back to the same database.
fn ingest_and_reparse(backend: Backend, bytes: &[u8]) -> Store {
    let store = backend.new_store();
    let mut ingester = Ingester::new(&store, Limits::default());
    let outcome = ingester.ingest_bytes("input", bytes, &Hints::default()).unwrap();
    ingester.finish().unwrap();
    assert!(outcome.is_ok() && outcome.reports_new == 1, "{outcome:?}");
    let before = store.inspect().snapshot().unwrap();
    let again = reparse(&store, &Limits::default()).unwrap();
    assert!(again.failed.is_empty() && again.reports == 1, "{again:?}");
    assert_eq!(store.inspect().snapshot().unwrap(), before);
    store
}

both_backends!(a_gzip_report_keeps_the_gzip_that_arrived_as_its_raw_copy);
fn a_gzip_report_keeps_the_gzip_that_arrived_as_its_raw_copy(backend: Backend) {
    let xml = sample_xml();
    let gz = archive::gzip(&xml);
    let store = backend.new_store();
    let mut ingester = Ingester::new(&store, Limits::default());
    assert!(ingester.ingest_bytes("r.xml.gz", &gz, &Hints::default()).unwrap().is_ok());
    ingester.finish().unwrap();
    assert_eq!(raw_copy(&store), gz);
    ingest_and_reparse(backend, &gz);
}

both_backends!(a_zip_report_keeps_its_deflate_data_wrapped_as_gzip);
fn a_zip_report_keeps_its_deflate_data_wrapped_as_gzip(backend: Backend) {
    let xml = sample_xml();
    let bytes = archive::zip(&[("report.xml", &xml)]);
    let entry_data = {
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(&bytes[..])).unwrap();
        let entry = archive.by_index(0).unwrap();
        let start = entry.data_start().unwrap() as usize;
        bytes[start..start + entry.compressed_size() as usize].to_vec()
    };
    let store = ingest_and_reparse(backend, &bytes);
    // reparse made a copy of its own; the first one is checked here.
    let first = backend.new_store();
    let mut ingester = Ingester::new(&first, Limits::default());
    assert!(ingester.ingest_bytes("r.zip", &bytes, &Hints::default()).unwrap().is_ok());
    ingester.finish().unwrap();
    let copy = raw_copy(&first);
    assert_eq!(&copy[10..copy.len() - 8], &entry_data[..], "the entry's deflate data as it is");
    assert_eq!(gunzip(&copy), xml);
    assert_eq!(gunzip(&raw_copy(&store)), xml);
}

both_backends!(a_plain_xml_report_is_compressed_into_its_raw_copy);
fn a_plain_xml_report_is_compressed_into_its_raw_copy(backend: Backend) {
    let xml = sample_xml();
    let store = ingest_and_reparse(backend, &xml);
    assert_eq!(gunzip(&raw_copy(&store)), xml);
}

/// A report of `records` records, over a MiB of XML for a few thousand.
fn large_report(records: usize, report_id: &str) -> String {
    let mut report =
        Report::new("big.example", "example.com", report_id, 1_794_873_600, 1_794_959_999)
            .email("d@big.example")
            .policy("p=none");
    for i in 0..records {
        report = report.record(
            Record::new(format!("198.51.100.{}", i % 250), i as u64 + 1)
                .evaluated(true, false)
                .dkim_signed("example.com", Some(&format!("s{i}")), "pass")
                .spf("bounce.example.com", "fail"),
        );
    }
    report.xml()
}

both_backends!(a_large_report_is_streamed_its_duplicate_is_skipped_and_a_broken_one_leaves_nothing);
fn a_large_report_is_streamed_its_duplicate_is_skipped_and_a_broken_one_leaves_nothing(
    backend: Backend,
) {
    let big = large_report(6000, "big-1");
    assert!(big.len() > 2 << 20, "{} bytes: more than is held whole", big.len());
    // Written by hand on purpose: a last record whose count is not a number,
    // which the builder cannot write.
    let broken = large_report(6000, "big-2").replace(
        "</feedback>",
        "<record><row><source_ip>192.0.2.1</source_ip><count>abc</count></row></record></feedback>",
    );

    let store = backend.new_store();
    let mut ingester = Ingester::new(&store, Limits::default());
    let dir = tempfile::tempdir().unwrap();
    let mut names = Vec::new();
    for (i, doc) in [&big, &broken, &big].into_iter().enumerate() {
        let path = dir.path().join(format!("{i}.xml"));
        std::fs::write(&path, doc).unwrap();
        names.push(path.display().to_string());
    }
    ingester.ingest_paths(&names).unwrap();
    let summary = ingester.finish().unwrap();
    assert_eq!((summary.reports_new, summary.reports_duplicate), (1, 1), "{summary:?}");
    assert_eq!(summary.records, 6000);
    assert_eq!(summary.failed.len(), 1, "{summary:?}");
    assert!(summary.failed[0].error.contains("<count> is \"abc\""), "{summary:?}");
    assert_eq!(stored_order(&store), [names[0].clone()]);
    let image = store.inspect().snapshot().unwrap();
    let records = image["reports"][0]["records"].as_array().unwrap().len();
    assert_eq!(records, 6000);
    assert_eq!(gunzip(&raw_copy(&store)), big.as_bytes());
}

both_backends!(a_gzip_member_far_larger_than_its_report_fails_instead_of_growing_the_copy);
fn a_gzip_member_far_larger_than_its_report_fails_instead_of_growing_the_copy(backend: Backend) {
    let xml = sample_xml();
    assert!(xml.len() < 65_535);
    // A valid member: 400,000 empty stored blocks (2 MB that decompress to
    // nothing), then the report in one final stored block.
    let mut gz = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    for _ in 0..400_000 {
        gz.extend_from_slice(&[0x00, 0x00, 0x00, 0xff, 0xff]);
    }
    let len = xml.len() as u16;
    gz.push(0x01);
    gz.extend_from_slice(&len.to_le_bytes());
    gz.extend_from_slice(&(!len).to_le_bytes());
    gz.extend_from_slice(&xml);
    let mut crc = flate2::Crc::new();
    crc.update(&xml);
    gz.extend_from_slice(&crc.sum().to_le_bytes());
    gz.extend_from_slice(&(xml.len() as u32).to_le_bytes());
    assert_eq!(gunzip(&gz), xml, "the member itself is valid");

    let store = backend.new_store();
    let mut ingester = Ingester::new(&store, Limits::default());
    let outcome = ingester.ingest_bytes("padded.xml.gz", &gz, &Hints::default()).unwrap();
    ingester.finish().unwrap();
    assert_eq!(outcome.reports_new, 0, "{outcome:?}");
    assert!(
        outcome.errors.iter().any(|e| e.message.contains("gzip data is corrupt")
            && e.message.contains("compressed bytes hold only")),
        "{outcome:?}"
    );
    assert!(store.report_ids().unwrap().is_empty());
    assert_eq!(store.failures().unwrap().len(), 1, "kept as a failed input");
}

both_backends!(a_fetched_message_that_starts_with_an_mbox_from_line_is_read_as_an_email);
fn a_fetched_message_that_starts_with_an_mbox_from_line_is_read_as_an_email(backend: Backend) {
    let xml = sample_xml();
    let email = dmarc_report_testkit::archive::email_with_attachment(
        "Report domain: example.com",
        "r.xml",
        "text/xml",
        &xml,
    );
    // One message as some servers and exports keep it: its envelope line first.
    let one = dmarc_report_testkit::archive::mbox(std::slice::from_ref(&email));
    assert!(one.starts_with(b"From "));
    let store = backend.new_store();
    let mut ingester = Ingester::new(&store, Limits::default());
    let outcome = ingester.ingest_bytes("imap message 7", &one, &Hints::default()).unwrap();
    assert!(outcome.is_ok() && outcome.reports_new == 1, "{outcome:?}");

    // Two messages in mbox form inside one input are a mailbox: refused,
    // naming what to do.
    let two = dmarc_report_testkit::archive::mbox(&[email.clone(), email]);
    let outcome = ingester.ingest_bytes("imap message 8", &two, &Hints::default()).unwrap();
    assert_eq!(outcome.errors.len(), 1, "{outcome:?}");
    assert!(outcome.errors[0].message.contains("give the mbox file itself"), "{outcome:?}");
    ingester.finish().unwrap();
}
