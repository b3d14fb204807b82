//! Parsing the records of a large report on several threads.
//!
//! Records are independent of each other, so once the header is read the
//! rest of a document can be cut into pieces that each hold whole records:
//! the reading thread decodes the input, cuts it after the last `</record>`
//! of every 256 KiB, and hands the pieces to worker threads in turn; the
//! records come back in document order.
//!
//! A cut is only a guess: `</record>` may sit inside a comment or a CDATA
//! section, and a piece may hold something other than records (the end of
//! `<feedback>`, a report-level extension, an error). A worker never decides
//! such cases. It gives the piece back, and that piece and everything read
//! after it go back to the stream ([`XmlInput::unread`]), where the ordinary
//! one-thread reader parses them. So the records, warnings and errors are
//! exactly those of [`ReportReader::next_record`](super::ReportReader::next_record), and line numbers in
//! errors are the stream's.

use std::collections::VecDeque;
use std::io::{self, BufRead, Read};
use std::sync::mpsc;

use quick_xml::events::Event;

use super::core::{Core, Ev, RecordStats, Source, State, configure};
use super::element::E;
use super::error::ParseError;
use super::input::XmlInput;
use crate::model::Record;

/// Bytes of whole records a worker gets at a time (at least).
pub(super) const PIECE: usize = 256 * 1024;
/// With no `</record>` in 4 pieces' worth of bytes, the rest is read on
/// one thread (this bounds the memory of pieces in flight).
const MAX_PIECES_WITHOUT_CUT: usize = 4;
/// Pieces each worker has at a time: one it parses, one waiting.
const IN_FLIGHT_PER_WORKER: usize = 2;
/// Where a piece may end.
const RECORD_END: &[u8] = b"</record>";

/// A piece of the document for a worker: whole records.
struct Job {
    bytes: Vec<u8>,
}

/// A worker's answer: the bytes (back for reuse, or for the stream) and
/// the records as rows, or `None` when the piece needs the one-thread
/// reader.
struct Done<T> {
    bytes: Vec<u8>,
    parsed: Option<(Vec<T>, RecordStats)>,
}

/// A piece in memory as an event source.
struct Slice<'a> {
    xml: quick_xml::Reader<&'a [u8]>,
}

impl Source for Slice<'_> {
    fn read(&mut self) -> Result<Event<'_>, quick_xml::Error> {
        self.xml.read_event()
    }

    /// Workers report no errors of their own (the stream reader does, with
    /// its lines), so they need no line.
    fn line(&self) -> u64 {
        0
    }

    fn set_trim(&mut self, trim: bool) {
        self.xml.config_mut().trim_text_start = trim;
    }
}

/// Parses a piece that should hold whole records and nothing else, and
/// turns each record into a row.
fn parse_piece<T>(job: &Job, row: &impl Fn(Record) -> T) -> Option<(Vec<T>, RecordStats)> {
    // A fresh reader would drop a byte-order mark at its start, which the
    // stream counts as text.
    if job.bytes.starts_with(b"\xEF\xBB\xBF") {
        return None;
    }
    let mut xml = quick_xml::Reader::from_reader(&job.bytes[..]);
    configure(xml.config_mut());
    let mut core = Core::new(Slice { xml }, State::Feedback);
    core.stack.push(E::Feedback);
    // Closing <feedback> sends the piece back anyway; the name is not checked.
    core.names.push("feedback");
    let mut records = Vec::new();
    loop {
        match core.next_event().ok()? {
            Ev::Eof => break,
            Ev::Start(E::Record) if core.stack.len() == 1 => {
                core.stack.push(E::Record);
                records.push(row(core.record_body().ok()?));
            }
            // Text between records is ignored, as the stream reader does.
            Ev::Text => {}
            _ => return None,
        }
    }
    (core.stack.len() == 1).then_some((records, core.stats))
}

/// Reads the next piece from `input` into `carry` and cuts it off;
/// `None` at the end of the input (or when no cut is found), with what
/// was read left in `carry`.
fn read_piece<R: Read>(
    input: &mut XmlInput<R>,
    piece: usize,
    carry: &mut Vec<u8>,
    spare: &mut Vec<Vec<u8>>,
) -> io::Result<Option<Vec<u8>>> {
    loop {
        if carry.len() >= piece {
            if let Some(at) = memchr::memmem::rfind(carry, RECORD_END) {
                let end = at + RECORD_END.len();
                let mut rest = spare.pop().unwrap_or_default();
                rest.clear();
                rest.extend_from_slice(&carry[end..]);
                carry.truncate(end);
                return Ok(Some(std::mem::replace(carry, rest)));
            }
            if carry.len() >= MAX_PIECES_WITHOUT_CUT.saturating_mul(piece) {
                return Ok(None);
            }
        }
        let buf = input.fill_buf()?;
        if buf.is_empty() {
            return Ok(None);
        }
        let n = buf.len().min(piece);
        carry.extend_from_slice(&buf[..n]);
        input.consume(n);
    }
}

/// Reads the records that follow in `input` (which must stand between
/// records inside `<feedback>`) with `workers` threads, handing them to
/// `sink` in order and adding what they had to `stats`, as long as the
/// document is cut into pieces of at least `piece` bytes; then leaves the
/// rest, given back to `input`, to the stream reader. `Ok(false)`: `sink`
/// asked to stop.
pub(super) fn run<R: Read, T: Send>(
    input: &mut XmlInput<R>,
    stats: &mut RecordStats,
    workers: usize,
    piece: usize,
    row: &(impl Fn(Record) -> T + Sync),
    sink: &mut impl FnMut(Vec<T>, &mut R) -> bool,
) -> Result<bool, ParseError> {
    let mut carry = Vec::new();
    let mut spare: Vec<Vec<u8>> = Vec::new();
    let first = match read_piece(input, piece, &mut carry, &mut spare) {
        Ok(Some(bytes)) => bytes,
        // A small document: all of it goes back to the stream.
        Ok(None) => {
            input.unread(carry);
            return Ok(true);
        }
        // What was read before the error is parsed first, as it would be
        // without reading ahead.
        Err(e) => {
            input.unread(carry);
            input.fail_after_unread(e);
            return Ok(true);
        }
    };

    std::thread::scope(|scope| {
        let mut to_workers = Vec::with_capacity(workers);
        let mut from_workers = Vec::with_capacity(workers);
        for _ in 0..workers {
            // Room for every piece a worker can have in flight, both ways:
            // neither side ever blocks the other for good.
            let (job_tx, job_rx) = mpsc::sync_channel::<Job>(IN_FLIGHT_PER_WORKER);
            let (done_tx, done_rx) = mpsc::sync_channel::<Done<T>>(IN_FLIGHT_PER_WORKER);
            scope.spawn(move || {
                for job in job_rx {
                    let parsed = parse_piece(&job, row);
                    if done_tx.send(Done { bytes: job.bytes, parsed }).is_err() {
                        break;
                    }
                }
            });
            to_workers.push(job_tx);
            from_workers.push(done_rx);
        }
        // Dropping both ends lets every worker finish (the scope joins them).
        let outcome = pipeline(
            input,
            stats,
            Job { bytes: first },
            piece,
            carry,
            spare,
            &to_workers,
            &from_workers,
            sink,
        );
        drop(to_workers);
        drop(from_workers);
        outcome
    })
}

/// The reading loop of [`run`], with the workers started.
#[allow(clippy::too_many_arguments)]
fn pipeline<R: Read, T>(
    input: &mut XmlInput<R>,
    stats: &mut RecordStats,
    first: Job,
    piece: usize,
    mut carry: Vec<u8>,
    mut spare: Vec<Vec<u8>>,
    to_workers: &[mpsc::SyncSender<Job>],
    from_workers: &[mpsc::Receiver<Done<T>>],
    sink: &mut impl FnMut(Vec<T>, &mut R) -> bool,
) -> Result<bool, ParseError> {
    let workers = to_workers.len();
    let mut next_job = Some(first);
    let mut in_flight: VecDeque<usize> = VecDeque::new();
    let mut turn = 0usize;
    let mut reading = true;
    let mut read_error: Option<io::Error> = None;
    let lost = || ParseError::Io(io::Error::other("a parser thread stopped unexpectedly"));
    loop {
        while in_flight.len() < IN_FLIGHT_PER_WORKER * workers {
            if next_job.is_none() && reading {
                match read_piece(input, piece, &mut carry, &mut spare) {
                    Ok(Some(bytes)) => next_job = Some(Job { bytes }),
                    Ok(None) => reading = false,
                    Err(e) => {
                        reading = false;
                        read_error = Some(e);
                    }
                }
            }
            let Some(job) = next_job.take() else { break };
            let w = turn % workers;
            turn += 1;
            to_workers[w].send(job).map_err(|_| lost())?;
            in_flight.push_back(w);
        }
        let Some(w) = in_flight.pop_front() else { break };
        let done = from_workers[w].recv().map_err(|_| lost())?;
        match done.parsed {
            Some((records, more)) => {
                stats.merge(more);
                spare.push(done.bytes);
                if !records.is_empty() && !sink(records, input.get_mut()) {
                    return Ok(false);
                }
            }
            None => {
                // This piece and all that was read after it go back to the
                // stream, in order, followed by the read error if any.
                let mut back = done.bytes;
                for w in in_flight.drain(..) {
                    back.extend_from_slice(&from_workers[w].recv().map_err(|_| lost())?.bytes);
                }
                if let Some(job) = next_job.take() {
                    back.extend_from_slice(&job.bytes);
                }
                back.extend_from_slice(&carry);
                input.unread(back);
                if let Some(e) = read_error {
                    input.fail_after_unread(e);
                }
                return Ok(true);
            }
        }
    }
    // The end of the document (after the last record) is the stream's, and
    // so is a read error met while reading ahead: it comes after that end.
    input.unread(carry);
    if let Some(e) = read_error {
        input.fail_after_unread(e);
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::super::{ParseOptions, ReportReader};
    use crate::model::Record;

    /// Everything a reading gives: records, warnings, late extensions, or
    /// the error (with its line).
    type Outcome = Result<(Vec<Record>, Vec<String>, Vec<String>), String>;

    fn sequential(doc: &str) -> Outcome {
        let options = ParseOptions::default();
        let (mut reader, _) =
            ReportReader::open(doc.as_bytes(), &options).map_err(|e| e.to_string())?;
        let mut records = Vec::new();
        while let Some(r) = reader.next_record().map_err(|e| e.to_string())? {
            records.push(r);
        }
        Ok((records, reader.warnings(), reader.late_extensions().to_vec()))
    }

    /// Reads with `workers` threads in pieces of `piece` bytes.
    fn parallel(doc: &str, workers: usize, piece: usize) -> Outcome {
        parallel_counting(doc, workers, piece).0
    }

    /// The same, with the number of records the workers gave.
    fn parallel_counting(doc: &str, workers: usize, piece: usize) -> (Outcome, usize) {
        let mut batches = 0;
        let outcome = read_in_pieces(doc, workers, piece, &mut batches);
        (outcome, batches)
    }

    fn read_in_pieces(doc: &str, workers: usize, piece: usize, batches: &mut usize) -> Outcome {
        let options = ParseOptions::default();
        let (mut reader, _) =
            ReportReader::open(doc.as_bytes(), &options).map_err(|e| e.to_string())?;
        let mut records = Vec::new();
        let mut sink = |batch: Vec<Record>, _: &mut &[u8]| {
            *batches += batch.len();
            records.extend(batch);
            true
        };
        if reader.read_in_pieces(workers, piece, &|r| r, &mut sink).map_err(|e| e.to_string())? {
            while let Some(r) = reader.next_record().map_err(|e| e.to_string())? {
                records.push(r);
            }
        }
        Ok((records, reader.warnings(), reader.late_extensions().to_vec()))
    }

    /// Written by hand, not with the testkit crate's builder (which
    /// depends on this crate): the pieces' cuts and hazards need to know
    /// the exact text.
    fn record(i: usize) -> String {
        let ip = match i % 7 {
            0 => String::new(),
            1 => "not-an-ip".to_owned(),
            2 => format!("2001:db8::{i:x}"),
            _ => format!("192.0.2.{}", i % 250),
        };
        format!(
            "<record>\n  <row>\n    <source_ip>{ip}</source_ip>\n    <count>{}</count>\n    \
             <policy_evaluated><disposition>none</disposition><dkim>pass</dkim><spf>fail</spf>\
             <reason><type>forwarded</type><comment>A &amp; B</comment></reason>\
             </policy_evaluated>\n  </row>\n  <identifiers><header_from>example.com</header_from>\
             </identifiers>\n  <auth_results><dkim><domain>d{i}.example</domain><selector>s</selector>\
             <result>pass</result></dkim><spf><domain>example.com</domain><result>softfail</result>\
             </spf></auth_results>\n</record>\n",
            i + 1
        )
    }

    /// Things a cut may land in or next to.
    fn hazard(kind: u8, i: usize) -> String {
        match kind {
            0 => "<!-- a comment with </record> inside -->\n".to_owned(),
            1 => record(i)
                .replace("<selector>s</selector>", "<selector><![CDATA[x</record>y]]></selector>"),
            2 => "<extension><late xmlns=\"urn:x\">v</late></extension>\n".to_owned(),
            3 => record(i).replace(&format!("<count>{}</count>", i + 1), "<count>abc</count>"),
            4 => record(i).replace("</auth_results>", "</auth_result>"),
            5 => "<?pi </record> ?>\n".to_owned(),
            6 => "</feedback>\n".to_owned(),
            _ => record(i).replace("<row>", "<row><!DOCTYPE x>"),
        }
    }

    fn document(records: usize, hazards: &[(usize, u8)], cut: Option<usize>) -> String {
        let mut doc = String::from(
            "<?xml version=\"1.0\"?>\n<feedback>\n<report_metadata><org_name>o</org_name>\
             <report_id>r</report_id><date_range><begin>0</begin><end>86400</end></date_range>\
             </report_metadata>\n<policy_published><domain>example.com</domain><p>none</p>\
             </policy_published>\n",
        );
        for i in 0..records {
            for (at, kind) in hazards {
                if *at == i {
                    doc.push_str(&hazard(*kind, i));
                }
            }
            doc.push_str(&record(i));
        }
        doc.push_str("</feedback>\n");
        if let Some(cut) = cut {
            let mut at = cut % doc.len();
            while !doc.is_char_boundary(at) {
                at -= 1;
            }
            doc.truncate(at);
        }
        doc
    }

    #[test]
    fn a_large_clean_report_reads_the_same_in_pieces_and_uses_the_workers() {
        let doc = document(3000, &[], None);
        let expected = sequential(&doc);
        assert_eq!(expected.as_ref().map(|o| o.0.len()), Ok(3000));
        for (workers, piece) in [(2, 4096), (3, 1000), (2, super::PIECE)] {
            let (outcome, from_workers) = parallel_counting(&doc, workers, piece);
            assert_eq!(outcome, expected, "{workers} workers, {piece} B");
            // All but the records of the last piece came from the workers.
            assert!(from_workers > 2000, "{from_workers} records from the workers");
        }
    }

    #[test]
    fn every_hazard_reads_the_same_in_pieces() {
        for kind in 0..8 {
            let doc = document(400, &[(150, kind)], None);
            assert_eq!(parallel(&doc, 2, 2048), sequential(&doc), "hazard {kind}");
        }
    }

    #[test]
    fn an_error_in_a_piece_names_the_line_of_the_document() {
        let doc = document(400, &[(300, 3)], None);
        let err = parallel(&doc, 2, 2048).unwrap_err();
        assert_eq!(Err(err.clone()), sequential(&doc));
        assert!(err.starts_with("line "), "{err}");
    }

    #[test]
    fn empty_first_record_reads_the_same_in_pieces() {
        // `<record/>`: quick-xml still owes the stream the expanded </record>,
        // but the workers start on the bytes after the tag as if inside it.
        let doc = document(400, &[], None).replacen(
            "<record>",
            "<record/><row><source_ip>192.0.2.9</source_ip><count>1</count></row></record>\n<record>",
            1,
        );
        assert_eq!(parallel(&doc, 2, 2048), sequential(&doc));
    }

    #[test]
    fn a_bom_after_a_cut_reads_the_same_in_pieces() {
        // A worker's fresh quick-xml reader drops a U+FEFF at the start of
        // its piece; the stream counts its 3 bytes against MAX_TEXT.
        let mut doc = document(400, &[], None);
        let at = doc.match_indices("</record>").nth(150).unwrap().0 + "</record>".len();
        doc.insert_str(at, &format!("\u{feff}{}", "x".repeat(65_535)));
        assert!(sequential(&doc).unwrap_err().contains("longer than 64 KiB"));
        // The pieces must hold the 64 KiB without a cut.
        assert_eq!(parallel(&doc, 2, 32 * 1024), sequential(&doc));
    }

    #[test]
    fn a_read_error_ahead_does_not_skip_what_was_read_before_it() {
        // The 1 MiB markup gap (an io::Error from XmlInput) met while reading
        // ahead: the unparsed tail (`carry`) holding a bad count is dropped.
        let gap = super::super::input::MAX_MARKUP_GAP + 200_000;
        let mut doc = document(1000, &[], None);
        let at = doc.rfind("</feedback>").unwrap();
        let tail = format!(
            "<record><row><count>abc</count><source_ip>{}</source_ip></row></record>\n",
            "x".repeat(gap)
        );
        doc.insert_str(at, &tail);
        assert!(sequential(&doc).unwrap_err().contains("<count> is \"abc\""));
        assert_eq!(parallel(&doc, 2, super::PIECE), sequential(&doc), "error at the end");
        assert_eq!(parallel(&doc, 2, 4 << 20), sequential(&doc), "error in the first read");
    }

    #[test]
    fn trailing_bytes_after_feedback_are_not_read() {
        let gap = super::super::input::MAX_MARKUP_GAP + 200_000;
        let doc = document(1000, &[], None) + &" ".repeat(gap);
        assert!(sequential(&doc).is_ok());
        assert_eq!(parallel(&doc, 2, super::PIECE), sequential(&doc));
    }

    #[test]
    fn invalid_bytes_after_feedback_do_not_warn() {
        let doc = document(1000, &[], None).replacen(
            "<?xml version=\"1.0\"?>",
            "<?xml version=\"1.0\" encoding=\"iso-2022-jp\"?>",
            1,
        ) + &" ".repeat(200_000)
            + "\u{e9}";
        assert!(!sequential(&doc).unwrap().1.iter().any(|w| w.contains("U+FFFD")));
        assert_eq!(parallel(&doc, 2, super::PIECE), sequential(&doc));
    }

    #[test]
    fn crlf_error_lines() {
        let doc = document(400, &[(300, 3)], None).replace('\n', "\r\n");
        assert_eq!(parallel(&doc, 3, 1500), sequential(&doc));
        let doc = document(400, &[(300, 0), (310, 4)], None).replace('\n', "\r\n");
        assert_eq!(parallel(&doc, 2, 1000), sequential(&doc));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        #[test]
        fn pieces_never_change_what_is_read(
            records in 1usize..300,
            hazards in proptest::collection::vec((0usize..300, 0u8..8), 0..4),
            cut in proptest::option::of(0usize..200_000),
            workers in 2usize..4,
            piece in 200usize..6000,
        ) {
            let doc = document(records, &hazards, cut);
            prop_assert_eq!(parallel(&doc, workers, piece), sequential(&doc));
        }
    }
}
