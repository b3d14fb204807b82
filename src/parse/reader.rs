//! The stream reader: one document read from its byte stream, header
//! first, then record by record (or on several threads through the piece
//! reader, [`chunks`](super::chunks)), both on the one core event loop.

use std::io::Read;

use quick_xml::events::Event;

use super::chunks;
use super::core::{Core, Ev, Source, State, configure};
use super::element::E;
use super::error::{ParseError, shorten, truncated};
use super::header::{HeaderDraft, Step};
use super::input::XmlInput;
use crate::model::{Record, ReportHeader};

/// Options for one document.
#[derive(Debug, Clone, Default)]
pub struct ParseOptions {
    /// The text is already UTF-8 (ignore a declared encoding).
    pub known_utf8: bool,
    /// The document's file or attachment name, used for the date-range fallback.
    pub file_name: Option<String>,
}

/// The document, read through [`XmlInput`].
struct Stream<R> {
    xml: quick_xml::Reader<XmlInput<R>>,
    buf: Vec<u8>,
}

impl<R: Read> Source for Stream<R> {
    fn read(&mut self) -> Result<Event<'_>, quick_xml::Error> {
        self.buf.clear();
        self.xml.read_event_into(&mut self.buf)
    }

    fn line(&self) -> u64 {
        self.xml.get_ref().line()
    }

    fn set_trim(&mut self, trim: bool) {
        self.xml.config_mut().trim_text_start = trim;
    }
}

/// A streaming reader of one aggregate report.
pub struct ReportReader<R: Read> {
    core: Core<Stream<R>>,
    /// Elements open around `<feedback>` (junk such as `<xs:schema>`).
    outer_depth: usize,
    /// A `<record>` start was read and its body not parsed yet.
    pending_record: bool,
    warnings: Vec<String>,
    ignored_after_records: bool,
    /// Report-level extensions found after the records.
    late_extensions: Vec<String>,
}

impl<R: Read> ReportReader<R> {
    /// Reads the document up to its first record and returns the header.
    pub fn open(input: R, options: &ParseOptions) -> Result<(Self, ReportHeader), ParseError> {
        let input = XmlInput::new(input, options.known_utf8)?;
        let mut xml = quick_xml::Reader::from_reader(input);
        configure(xml.config_mut());
        let src = Stream { xml, buf: Vec::with_capacity(1024) };
        let mut reader = ReportReader {
            core: Core::new(src, State::Prolog),
            outer_depth: 0,
            pending_record: false,
            warnings: Vec::new(),
            ignored_after_records: false,
            late_extensions: Vec::new(),
        };
        let mut draft = HeaderDraft::default();
        let mut saw_anything = false;
        let mut first_root: Option<String> = None;
        loop {
            let event = reader.core.next_event()?;
            let core = &mut reader.core;
            match &event {
                Ev::Eof if core.state == State::Feedback => return Err(truncated(core.line())),
                Ev::Eof => break,
                Ev::Start(local) if core.state == State::Prolog => {
                    saw_anything = true;
                    if *local == E::Feedback {
                        draft.schema = Some(core.schema_of_feedback());
                        core.state = State::Feedback;
                        core.stack.push(E::Feedback);
                    } else {
                        if first_root.is_none() {
                            first_root = Some(shorten(&core.current_name));
                        }
                        reader.outer_depth += 1;
                    }
                    continue;
                }
                Ev::End if core.state == State::Prolog => {
                    reader.outer_depth = reader.outer_depth.saturating_sub(1);
                    continue;
                }
                Ev::Text if core.state == State::Prolog => {
                    if !core.text.trim().is_empty() {
                        saw_anything = true;
                    }
                    core.text.clear();
                    continue;
                }
                _ => {}
            }
            match draft.step(&mut reader.core, event)? {
                Step::RecordStart => {
                    reader.pending_record = true;
                    break;
                }
                Step::FeedbackEnd => {
                    reader.core.state = State::Done;
                    break;
                }
                Step::Continue => {}
            }
        }
        if reader.core.state == State::Prolog {
            return Err(match first_root {
                Some(root) => ParseError::NotAggregate(format!(
                    "the root element is <{root}>, not <feedback>: not a DMARC aggregate report"
                )),
                None if saw_anything => ParseError::NotAggregate(
                    "no <feedback> element: not a DMARC aggregate report".into(),
                ),
                None => ParseError::Empty,
            });
        }
        let line = reader.line();
        let header = draft.finish(line, options.file_name.as_deref(), &mut reader.warnings)?;
        Ok((reader, header))
    }

    /// The next record, or `None` after the last one.
    pub fn next_record(&mut self) -> Result<Option<Record>, ParseError> {
        if self.core.state == State::Done {
            return Ok(None);
        }
        if !self.pending_record {
            let core = &mut self.core;
            loop {
                match core.next_event()? {
                    // Records may be missing: a report cut short is
                    // refused, not stored as if it were complete.
                    Ev::Eof => return Err(truncated(core.line())),
                    Ev::Start(E::Record) if core.stack.len() == 1 => {
                        core.stack.push(E::Record);
                        break;
                    }
                    Ev::Start(e) => {
                        let top_level = core.stack.len() == 1;
                        core.push(e)?;
                        if top_level && e == E::Extension {
                            let ext = core.capture_subtree()?;
                            self.late_extensions.push(ext);
                        } else if top_level {
                            self.ignored_after_records = true;
                        }
                    }
                    Ev::End => {
                        if core.stack.pop() == Some(E::Feedback) {
                            core.state = State::Done;
                            return Ok(None);
                        }
                    }
                    Ev::Text => {}
                }
            }
        }
        self.pending_record = false;
        self.core.record_body().map(Some)
    }

    /// Reads the remaining records and hands them to `sink` in document
    /// order, in batches, each record turned into a `T` by `row`, together
    /// with the underlying reader (to collect what it captured); `sink`
    /// returns `false` to stop. A large document is cut into pieces of whole
    /// records that `workers` threads parse (and run `row` on) while this
    /// one reads on (see [`chunks`](super::chunks)); the records, warnings and errors are
    /// the same as [`next_record`](Self::next_record) gives.
    pub fn read_batches<T: Send>(
        &mut self,
        workers: usize,
        batch: usize,
        row: impl Fn(Record) -> T + Sync,
        sink: impl FnMut(Vec<T>, &mut R) -> bool,
    ) -> Result<(), ParseError> {
        self.read_batches_in_pieces(workers, chunks::PIECE, batch, row, sink)
    }

    /// [`read_batches`](Self::read_batches) with pieces of at least `piece`
    /// bytes (tests and the fuzz targets cut small pieces to meet many
    /// cuts).
    #[doc(hidden)]
    pub fn read_batches_in_pieces<T: Send>(
        &mut self,
        workers: usize,
        piece: usize,
        batch: usize,
        row: impl Fn(Record) -> T + Sync,
        mut sink: impl FnMut(Vec<T>, &mut R) -> bool,
    ) -> Result<(), ParseError> {
        if workers > 1 && !self.read_in_pieces(workers, piece.max(1), &row, &mut sink)? {
            return Ok(());
        }
        let mut rows = Vec::with_capacity(batch);
        while let Some(record) = self.next_record()? {
            rows.push(row(record));
            if rows.len() == batch {
                let full = std::mem::replace(&mut rows, Vec::with_capacity(batch));
                if !sink(full, self.get_mut()) {
                    return Ok(());
                }
            }
        }
        if !rows.is_empty() {
            sink(rows, self.get_mut());
        }
        Ok(())
    }

    /// Reads records on `workers` threads from where the reader stands, in
    /// pieces of at least `piece` bytes, handing them to `sink` in order
    /// (see [`chunks`](super::chunks)); what the pieces cannot take is left
    /// to [`next_record`](Self::next_record). `Ok(false)`: `sink` asked to
    /// stop.
    pub(super) fn read_in_pieces<T: Send>(
        &mut self,
        workers: usize,
        piece: usize,
        row: &(impl Fn(Record) -> T + Sync),
        sink: &mut impl FnMut(Vec<T>, &mut R) -> bool,
    ) -> Result<bool, ParseError> {
        // A record whose start tag the header reading ended on is read here
        // (its start may even have been `<record/>`), so that the pieces
        // start between records.
        if self.pending_record {
            let Some(first) = self.next_record()? else { return Ok(true) };
            if !sink(vec![row(first)], self.get_mut()) {
                return Ok(false);
            }
        }
        let core = &mut self.core;
        if core.state != State::Feedback || core.stack.len() != 1 {
            return Ok(true);
        }
        chunks::run(core.src.xml.get_mut(), &mut core.stats, workers, piece, row, sink)
    }

    /// Warnings about the document so far (complete once `next_record`
    /// returned `None`).
    pub fn warnings(&self) -> Vec<String> {
        let mut out = self.warnings.clone();
        let input = self.core.src.xml.get_ref();
        if input.had_replacements() {
            out.push(format!(
                "bytes that are not valid {} were replaced by U+FFFD",
                input.encoding().name()
            ));
        }
        let stats = &self.core.stats;
        if stats.empty_source_ip > 0 {
            out.push(format!("{} record(s) have an empty <source_ip>", stats.empty_source_ip));
        }
        if stats.bad_source_ip > 0 {
            out.push(format!(
                "{} record(s) have a <source_ip> that is not an IP address (first: \"{}\")",
                stats.bad_source_ip,
                stats.first_bad_source_ip.as_deref().unwrap_or_default()
            ));
        }
        if self.ignored_after_records {
            out.push("report-level elements after the first <record> were ignored".into());
        }
        out
    }

    /// The reader the document is read from (to collect what it captured).
    pub fn get_mut(&mut self) -> &mut R {
        self.core.src.xml.get_mut().get_mut()
    }

    /// Report-level `<extension>` blocks that came after the records
    /// (complete once `next_record` returned `None`).
    pub fn late_extensions(&self) -> &[String] {
        &self.late_extensions
    }

    /// The current 1-based line.
    pub fn line(&self) -> u64 {
        self.core.line()
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read as _;

    use super::super::core::MAX_TEXT;
    use super::*;
    use crate::model::{
        Disposition, DkimResult, DmarcResult, OverrideReason, Policy, Schema, SpfResult,
    };

    fn parse(xml: &str) -> Result<(ReportHeader, Vec<Record>, Vec<String>), ParseError> {
        parse_named(xml, None)
    }

    fn parse_named(
        xml: &str,
        name: Option<&str>,
    ) -> Result<(ReportHeader, Vec<Record>, Vec<String>), ParseError> {
        let options = ParseOptions { known_utf8: false, file_name: name.map(str::to_owned) };
        let (mut reader, header) = ReportReader::open(xml.as_bytes(), &options)?;
        let mut records = Vec::new();
        while let Some(r) = reader.next_record()? {
            records.push(r);
        }
        Ok((header, records, reader.warnings()))
    }

    // The reader's own tests write their XML by hand: each document is
    // shaped for the case it pins (no date range, extra metadata, odd
    // casing), and the shared builder (the testkit crate) depends on this
    // crate, so unit tests here cannot use it.
    const RECORD: &str = "<record><row><source_ip>192.0.2.1</source_ip><count>3</count>
        <policy_evaluated><disposition>none</disposition><dkim>pass</dkim><spf>fail</spf>
        </policy_evaluated></row><identifiers><header_from>Example.COM</header_from></identifiers>
        <auth_results><dkim><domain>example.com</domain><selector>s1</selector><result>pass</result>
        </dkim><spf><domain>example.com</domain><result>softfail</result></spf></auth_results></record>";

    fn report(metadata_extra: &str, policy_extra: &str, records: &str) -> String {
        format!(
            "<?xml version=\"1.0\"?>\n<feedback>\n<report_metadata><org_name>Org</org_name>\
             <email>r@org.example</email><report_id>id-1</report_id>{metadata_extra}\
             </report_metadata>\n<policy_published><domain>example.com</domain><p>none</p>\
             {policy_extra}</policy_published>\n{records}\n</feedback>\n"
        )
    }

    const RANGE: &str = "<date_range><begin>1700000000</begin><end>1700086399</end></date_range>";

    #[test]
    fn rfc7489_report_parses_record_by_record() {
        let (h, records, warnings) = parse(&report(RANGE, "", &RECORD.repeat(2))).unwrap();
        assert_eq!(h.schema, Schema::Rfc7489);
        assert_eq!((h.org_name.as_str(), h.report_id.as_str()), ("Org", "id-1"));
        assert_eq!((h.begin, h.end), (1_700_000_000, 1_700_086_399));
        assert_eq!(h.policy.p, Some(Policy::None));
        assert_eq!(records.len(), 2);
        let r = &records[0];
        assert_eq!(r.count, 3);
        assert_eq!(r.disposition, Some(Disposition::None));
        assert_eq!(
            (r.dkim.clone(), r.spf.clone()),
            (Some(DmarcResult::Pass), Some(DmarcResult::Fail))
        );
        assert_eq!(r.header_from.as_deref(), Some("example.com"));
        assert_eq!(r.dkim_results[0].result, Some(DkimResult::Pass));
        assert_eq!(r.dkim_results[0].selector.as_deref(), Some("s1"));
        assert_eq!(r.spf_results[0].result, Some(SpfResult::SoftFail));
        assert!(warnings.is_empty(), "{warnings:?}");
    }

    #[test]
    fn rfc9990_fields_and_namespace_are_kept() {
        let xml = r#"<feedback xmlns="urn:ietf:params:xml:ns:dmarc-2.0">
            <report_metadata><org_name>R</org_name><report_id>x</report_id>
              <generator>Gen 1.0</generator>
              <date_range><begin>1</begin><end>2</end></date_range></report_metadata>
            <policy_published><domain>example.org</domain><p>reject</p><sp>quarantine</sp>
              <np>reject</np><testing>y</testing><discovery_method>treewalk</discovery_method>
            </policy_published>
            <extension><v:x xmlns:v="urn:v">1</v:x></extension>
            <record><row><source_ip>2001:db8::1</source_ip><count>1</count>
              <policy_evaluated><disposition>pass</disposition><dkim>pass</dkim><spf>pass</spf>
              <reason><type>policy_test_mode</type></reason></policy_evaluated></row>
              <identifiers><header_from>example.org</header_from></identifiers>
              <auth_results><spf><domain>example.org</domain><result>policy</result>
              <human_result>local override</human_result></spf></auth_results>
              <v:note xmlns:v="urn:v" k="1">hi</v:note></record></feedback>"#;
        let (h, records, _) = parse(xml).unwrap();
        assert_eq!(h.schema, Schema::Rfc9990);
        assert_eq!(h.generator.as_deref(), Some("Gen 1.0"));
        assert_eq!(h.policy.np, Some(Policy::Reject));
        assert_eq!(h.policy.testing.as_deref(), Some("y"));
        assert_eq!(h.policy.discovery_method.as_deref(), Some("treewalk"));
        assert_eq!(h.version, None);
        assert_eq!(h.extensions, vec![r#"<extension><v:x xmlns:v="urn:v">1</v:x></extension>"#]);
        let r = &records[0];
        assert_eq!(r.disposition, Some(Disposition::Pass));
        assert_eq!(r.reasons[0].kind, Some(OverrideReason::PolicyTestMode));
        assert_eq!(r.spf_results[0].result, Some(SpfResult::Policy));
        assert_eq!(r.spf_results[0].human_result.as_deref(), Some("local override"));
        assert_eq!(r.extensions, vec![r#"<v:note xmlns:v="urn:v" k="1">hi</v:note>"#]);
    }

    #[test]
    fn a_bad_count_names_the_line_and_the_value() {
        let xml = report(RANGE, "", &RECORD.replace("<count>3</count>", "<count>abc</count>"));
        let err = parse(&xml).unwrap_err().to_string();
        assert_eq!(err, "line 5: <count> is \"abc\", expected a whole number from 0 to 10^12");
    }

    #[test]
    fn a_count_beyond_u64_is_refused_not_wrapped() {
        let xml = report(
            RANGE,
            "",
            &RECORD.replace("<count>3</count>", "<count>18446744073709551616</count>"),
        );
        assert!(matches!(parse(&xml), Err(ParseError::BadValue { element: "count", .. })));
    }

    #[test]
    fn junk_around_feedback_is_ignored() {
        // IKEA: an unclosed <xs:schema> before <feedback>, never closed.
        let xml = report(RANGE, "", RECORD).replacen(
            "<feedback>",
            "<xs:schema xmlns:xs=\"http://www.w3.org/2001/XMLSchema\">\n<feedback>",
            1,
        );
        let (_, records, _) = parse(&xml).unwrap();
        assert_eq!(records.len(), 1);
    }

    #[test]
    fn a_missing_date_range_falls_back_to_the_file_name_with_a_warning() {
        let name = "rcv.example!example.com!1700000000!1700086399!7.xml.gz";
        let (h, _, warnings) = parse_named(&report("", "", RECORD), Some(name)).unwrap();
        assert_eq!((h.begin, h.end), (1_700_000_000, 1_700_086_399));
        assert!(warnings[0].contains("from the file name"), "{warnings:?}");
        let err = parse(&report("", "", RECORD)).unwrap_err().to_string();
        assert!(err.contains("no <date_range>"), "{err}");
    }

    #[test]
    fn doctype_is_refused_so_no_entity_is_ever_expanded() {
        let xml = format!(
            "<?xml version=\"1.0\"?><!DOCTYPE feedback [<!ENTITY a \"aaaa\"><!ENTITY b \"&a;&a;\">]>{}",
            report(RANGE, "", RECORD).trim_start_matches("<?xml version=\"1.0\"?>\n")
        );
        let err = parse(&xml).unwrap_err().to_string();
        assert!(err.contains("DOCTYPE"), "{err}");
    }

    #[test]
    fn unknown_entities_are_kept_literally() {
        let xml = report(RANGE, "", RECORD)
            .replace("<org_name>Org</org_name>", "<org_name>A &amp; B &#233; &foo;</org_name>");
        assert_eq!(parse(&xml).unwrap().0.org_name, "A & B \u{e9} &foo;");
    }

    #[test]
    fn deep_nesting_and_huge_text_are_refused() {
        let deep = format!("{}{}", "<x>".repeat(100), "</x>".repeat(100));
        let err = parse(&report(RANGE, "", &format!("<record>{deep}</record>"))).unwrap_err();
        assert!(err.to_string().contains("nested too deeply"), "{err}");
        let big = "a".repeat(MAX_TEXT + 1);
        let xml = report(RANGE, "", RECORD).replace("<org_name>Org", &format!("<org_name>{big}"));
        assert!(parse(&xml).unwrap_err().to_string().contains("longer than 64 KiB"));
    }

    #[test]
    fn a_hundred_megabyte_text_is_refused_without_being_buffered() {
        // A reader that produces the text on the fly, so the test itself
        // holds no 100 MB.
        let head = report(RANGE, "", "").replace("<org_name>Org", "<org_name>");
        let (start, _) = head.split_at(head.find("</org_name>").unwrap());
        let body = std::io::repeat(b'x').take(100 << 20);
        let doc = start.as_bytes().chain(body);
        let err = match ReportReader::open(doc, &ParseOptions::default()) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("accepted"),
        };
        assert!(err.contains("without any markup"), "{err}");
    }

    #[test]
    fn negative_and_reversed_date_ranges_are_kept_with_a_warning() {
        let reversed = "<date_range><begin>1700086399</begin><end>1700000000</end></date_range>";
        let (h, _, warnings) = parse(&report(reversed, "", RECORD)).unwrap();
        assert_eq!((h.begin, h.end), (1_700_086_399, 1_700_000_000));
        assert!(warnings.iter().any(|w| w.contains("reversed")), "{warnings:?}");
        let negative = "<date_range><begin>-86400</begin><end>-1</end></date_range>";
        let (h, _, warnings) = parse(&report(negative, "", RECORD)).unwrap();
        assert_eq!(h.begin, -86_400);
        assert!(warnings.iter().any(|w| w.contains("before 1970")), "{warnings:?}");
    }

    #[test]
    fn a_report_cut_short_is_refused_not_stored_as_complete() {
        let whole = report(RANGE, "", &RECORD.repeat(2));
        // Cut between the records, and inside the header.
        let between = &whole[..whole.find("</record>").unwrap() + "</record>".len()];
        let err = parse(between).unwrap_err().to_string();
        assert!(err.contains("truncated"), "{err}");
        let err = parse("<feedback><report_metadata><report_id>x").unwrap_err().to_string();
        assert!(err.contains("truncated"), "{err}");
    }

    #[test]
    fn non_reports_are_named() {
        assert!(matches!(parse(""), Err(ParseError::Empty)));
        let err = parse("<html><body/></html>").unwrap_err().to_string();
        assert!(err.contains("<html>") && err.contains("not a DMARC aggregate report"), "{err}");
        let err = parse(&report(RANGE, "", RECORD).replace("</record>", "")).unwrap_err();
        assert!(matches!(err, ParseError::Xml { .. }), "{err}");
    }

    #[test]
    fn empty_and_bad_source_ips_are_counted_in_warnings() {
        let records = RECORD.replace("192.0.2.1", "") + &RECORD.replace("192.0.2.1", "not-an-ip");
        let (_, _, warnings) = parse(&report(RANGE, "", &records)).unwrap();
        assert!(warnings.iter().any(|w| w.contains("empty <source_ip>")), "{warnings:?}");
        assert!(warnings.iter().any(|w| w.contains("\"not-an-ip\"")), "{warnings:?}");
    }
}
