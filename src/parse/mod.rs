//! Streaming parser for DMARC aggregate reports, both schema generations
//! (RFC 7489 Appendix C and RFC 9990), record by record.
//!
//! [`ReportReader::open`] reads up to the first `<record>` and returns the
//! report header; [`ReportReader::next_record`] then yields one record at a
//! time, so memory does not grow with the number of records.
//!
//! The parser never panics on input. It is strict where a wrong value would
//! corrupt the data (a `<count>` that is not a number is an error naming the
//! line) and lenient where reporters differ harmlessly: every tolerance is
//! listed in [`lenient`]. Documents with a `<!DOCTYPE>` are refused, so no
//! entity is ever expanded and nothing external is fetched.

mod chunks;
pub mod input;
pub mod lenient;

use std::io::Read;

use quick_xml::events::{BytesStart, Event};

use crate::model::{DkimAuth, PolicyPublished, Reason, Record, ReportHeader, Schema, SpfAuth};
use input::XmlInput;

/// The RFC 9990 namespace.
pub const RFC9990_NAMESPACE: &str = "urn:ietf:params:xml:ns:dmarc-2.0";

/// Longest text accepted in one element, and longest `<extension>` kept.
const MAX_TEXT: usize = 64 * 1024;
/// Deepest element nesting accepted.
const MAX_DEPTH: usize = 64;

/// Why a document could not be read as an aggregate report.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// The XML is not well-formed.
    #[error("line {line}: malformed XML: {message}")]
    Xml {
        /// Line where the reader stopped.
        line: u64,
        /// What quick-xml said.
        message: String,
    },
    /// A value that must be read exactly is wrong.
    #[error("line {line}: <{element}> is \"{value}\", expected {expected}")]
    BadValue {
        /// Line of the element.
        line: u64,
        /// Element name.
        element: &'static str,
        /// The offending value (shortened).
        value: String,
        /// What was expected.
        expected: &'static str,
    },
    /// A required element is missing.
    #[error("line {line}: {what}")]
    Missing {
        /// Line where it was noticed.
        line: u64,
        /// What is missing.
        what: String,
    },
    /// The document is XML but not an aggregate report.
    #[error("{0}")]
    NotAggregate(String),
    /// The document is empty.
    #[error("empty document")]
    Empty,
    /// The document uses a construct refused for safety.
    #[error("line {line}: {what}")]
    Refused {
        /// Line of the construct.
        line: u64,
        /// What was refused and why.
        what: &'static str,
    },
    /// Reading the underlying bytes failed (including a size limit).
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Options for one document.
#[derive(Debug, Clone, Default)]
pub struct ParseOptions {
    /// The text is already UTF-8 (ignore a declared encoding).
    pub known_utf8: bool,
    /// The document's file or attachment name, used for the date-range fallback.
    pub file_name: Option<String>,
}

/// Whether a `<feedback>` start tag declares the RFC 9990 namespace
/// (as the default namespace or under any prefix).
fn declares_rfc9990(start: &BytesStart<'_>) -> bool {
    start.attributes().flatten().any(|a| {
        let key: &[u8] = a.key.as_ref().as_bytes();
        let value: &[u8] = a.value.as_ref().as_bytes();
        (key == b"xmlns" || key.starts_with(b"xmlns:")) && value == RFC9990_NAMESPACE.as_bytes()
    })
}

/// Appends element text; `false` when it would exceed [`MAX_TEXT`].
fn append_text(text: &mut String, chunk: &str) -> bool {
    if text.len() + chunk.len() > MAX_TEXT {
        return false;
    }
    text.push_str(chunk);
    true
}

fn truncated(line: u64) -> ParseError {
    ParseError::Xml {
        line,
        message: "the document ends before </feedback> (it is truncated)".into(),
    }
}

fn text_too_long(line: u64) -> ParseError {
    ParseError::Refused { line, what: "an element's text is longer than 64 KiB" }
}

/// A value shortened for an error message.
fn shorten(value: &str) -> String {
    const MAX: usize = 60;
    if value.chars().count() <= MAX {
        value.to_owned()
    } else {
        let cut: String = value.chars().take(MAX).collect();
        format!("{cut}...")
    }
}

/// Element names the parser knows, by local name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum E {
    Feedback,
    Version,
    ReportMetadata,
    OrgName,
    Email,
    ExtraContactInfo,
    ReportId,
    DateRange,
    Begin,
    End,
    Error,
    Generator,
    PolicyPublished,
    Domain,
    Adkim,
    Aspf,
    P,
    Sp,
    Np,
    Pct,
    Fo,
    Testing,
    DiscoveryMethod,
    Record,
    Row,
    SourceIp,
    Count,
    PolicyEvaluated,
    Disposition,
    Dkim,
    Spf,
    Reason,
    Type,
    Comment,
    Identifiers,
    HeaderFrom,
    EnvelopeFrom,
    EnvelopeTo,
    AuthResults,
    Selector,
    Result,
    HumanResult,
    Scope,
    Extension,
    Other,
}

fn element(local: &[u8]) -> E {
    match local {
        b"feedback" => E::Feedback,
        b"version" => E::Version,
        b"report_metadata" => E::ReportMetadata,
        b"org_name" => E::OrgName,
        b"email" => E::Email,
        b"extra_contact_info" => E::ExtraContactInfo,
        b"report_id" => E::ReportId,
        // KDDI misspells date_range (see `lenient`).
        b"date_range" | b"data_range" => E::DateRange,
        b"begin" => E::Begin,
        b"end" => E::End,
        b"error" => E::Error,
        b"generator" => E::Generator,
        b"policy_published" => E::PolicyPublished,
        b"domain" => E::Domain,
        b"adkim" => E::Adkim,
        b"aspf" => E::Aspf,
        b"p" => E::P,
        b"sp" => E::Sp,
        b"np" => E::Np,
        b"pct" => E::Pct,
        b"fo" => E::Fo,
        b"testing" => E::Testing,
        b"discovery_method" => E::DiscoveryMethod,
        b"record" => E::Record,
        b"row" => E::Row,
        b"source_ip" => E::SourceIp,
        b"count" => E::Count,
        b"policy_evaluated" => E::PolicyEvaluated,
        b"disposition" => E::Disposition,
        b"dkim" => E::Dkim,
        b"spf" => E::Spf,
        b"reason" => E::Reason,
        b"type" => E::Type,
        b"comment" => E::Comment,
        b"identifiers" => E::Identifiers,
        b"header_from" => E::HeaderFrom,
        b"envelope_from" => E::EnvelopeFrom,
        b"envelope_to" => E::EnvelopeTo,
        b"auth_results" => E::AuthResults,
        b"selector" => E::Selector,
        b"result" => E::Result,
        b"human_result" => E::HumanResult,
        b"scope" => E::Scope,
        // `extensions` (a wrapper of `extension` elements) is what drafts of
        // RFC 9990 had; stalwart's samples still use it.
        b"extension" | b"extensions" => E::Extension,
        _ => E::Other,
    }
}

/// Header fields as they are collected, before validation.
#[derive(Default)]
struct HeaderDraft {
    schema: Option<Schema>,
    version: Option<String>,
    org_name: Option<String>,
    email: Option<String>,
    extra_contact_info: Option<String>,
    report_id: Option<String>,
    begin: Option<String>,
    end: Option<String>,
    errors: Vec<String>,
    generator: Option<String>,
    policy: PolicyPublished,
    pct_line: u64,
    pct_raw: Option<String>,
    extensions: Vec<String>,
}

/// Where the reader is in the document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before `<feedback>`.
    Prolog,
    /// Inside `<feedback>`.
    Feedback,
    /// After `</feedback>` (or end of input).
    Done,
}

/// Where XML events come from: the document's stream, or (for the workers
/// of [`chunks`]) a piece of it in memory that holds whole records.
trait Source {
    /// The next event.
    fn read(&mut self) -> Result<Event<'_>, quick_xml::Error>;
    /// The 1-based line of the next unread character.
    fn line(&self) -> u64;
    /// Whether leading whitespace of text is skipped.
    fn set_trim(&mut self, trim: bool);
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

/// The reader settings of every document.
fn configure(config: &mut quick_xml::reader::Config) {
    config.expand_empty_elements = true;
    // End names are checked by `Core::next_event` against its own stack, so
    // that the reading can move between the stream and the chunk workers.
    config.check_end_names = false;
    config.allow_unmatched_ends = true;
    config.trim_markup_names_in_closing_tags = true;
    // Values are trimmed anyway; skipping the whitespace between elements
    // here saves an event per element (half of all events in an indented
    // report). `capture_subtree` turns it off to keep extensions verbatim.
    config.trim_text_start = true;
}

/// The qualified names of the open elements, in one string.
#[derive(Default)]
struct OpenNames {
    names: String,
    ends: Vec<usize>,
}

impl OpenNames {
    fn push(&mut self, name: &str) {
        self.names.push_str(name);
        self.ends.push(self.names.len());
    }

    /// Closes the innermost element; the error when `name` does not match it.
    fn pop(&mut self, name: &str) -> Result<(), String> {
        let Some(end) = self.ends.pop() else {
            return Err(format!("close tag </{}> does not match any open tag", shorten(name)));
        };
        let start = self.ends.last().copied().unwrap_or(0);
        if &self.names[start..end] != name {
            let open = shorten(&self.names[start..end]);
            return Err(format!("expected </{open}>, but </{}> was found", shorten(name)));
        }
        self.names.truncate(start);
        Ok(())
    }
}

/// What the records of a document (or of a chunk of it) had that the
/// warnings report.
#[derive(Debug, Clone, Default)]
struct RecordStats {
    records: u64,
    empty_source_ip: u64,
    bad_source_ip: u64,
    first_bad_source_ip: Option<String>,
}

impl RecordStats {
    /// Adds the stats of the records that came after these.
    fn merge(&mut self, later: RecordStats) {
        self.records += later.records;
        self.empty_source_ip += later.empty_source_ip;
        self.bad_source_ip += later.bad_source_ip;
        if self.first_bad_source_ip.is_none() {
            self.first_bad_source_ip = later.first_bad_source_ip;
        }
    }
}

/// The element loop shared by the document reader and the chunk workers:
/// events in, elements and records out.
struct Core<S> {
    src: S,
    /// Elements open inside `<feedback>`, `<feedback>` itself first.
    stack: Vec<E>,
    /// Qualified names of all open elements (including junk around `<feedback>`).
    names: OpenNames,
    text: String,
    state: State,
    /// The text of the current element was handed out: clear it on the next event.
    clear_text: bool,
    /// The `<feedback>` element declared the RFC 9990 namespace.
    feedback_is_rfc9990: bool,
    /// The qualified name of the last unknown or extension element opened.
    current_name: String,
    /// Its whole start tag (name and attributes), for keeping it verbatim.
    current_tag: String,
    /// The source skips leading whitespace of text (see [`configure`]).
    trim: bool,
    stats: RecordStats,
}

impl<S: Source> Core<S> {
    fn new(src: S, state: State) -> Self {
        Core {
            src,
            stack: Vec::with_capacity(16),
            names: OpenNames::default(),
            text: String::with_capacity(256),
            state,
            clear_text: false,
            feedback_is_rfc9990: false,
            current_name: String::new(),
            current_tag: String::new(),
            trim: true,
            stats: RecordStats::default(),
        }
    }

    fn line(&self) -> u64 {
        self.src.line()
    }

    /// Whether the source skips leading whitespace of text: yes after a
    /// start or end tag, where it is only indentation; no after a
    /// reference, CDATA section, comment or processing instruction, where
    /// it may belong to the value (`A &amp; B`).
    fn set_trim(&mut self, trim: bool) {
        if self.trim != trim {
            self.trim = trim;
            self.src.set_trim(trim);
        }
    }

    /// Reads the next event that matters, collecting text and refusing
    /// what is unsafe.
    fn next_event(&mut self) -> Result<Ev, ParseError> {
        if self.clear_text {
            self.text.clear();
            self.clear_text = false;
        }
        loop {
            let event = match self.src.read() {
                Ok(event) => event,
                Err(e) => return Err(xml_error(e, self.src.line())),
            };
            match event {
                Event::Start(start) => {
                    let name: &str = start.name().into_inner();
                    // The local name, without quick-xml's general search.
                    let local = match name.bytes().position(|b| b == b':') {
                        Some(colon) => &name[colon + 1..],
                        None => name,
                    };
                    let e = element(local.as_bytes());
                    self.names.push(name);
                    self.text.clear();
                    if matches!(e, E::Extension | E::Other) || self.state == State::Prolog {
                        self.current_name = start.name().as_ref().to_owned();
                        let tag: &str = start.as_ref();
                        self.current_tag = tag.to_owned();
                    }
                    if e == E::Feedback && self.state == State::Prolog {
                        self.feedback_is_rfc9990 = declares_rfc9990(&start);
                    }
                    self.set_trim(true);
                    return Ok(Ev::Start(e));
                }
                Event::End(end) => {
                    if let Err(message) = self.names.pop(end.name().as_ref()) {
                        return Err(ParseError::Xml { line: self.src.line(), message });
                    }
                    self.set_trim(true);
                    self.clear_text = true;
                    return Ok(Ev::End);
                }
                Event::Text(t) => {
                    if !append_text(&mut self.text, &t.into_inner()) {
                        return Err(text_too_long(self.src.line()));
                    }
                    return Ok(Ev::Text);
                }
                Event::CData(t) => {
                    if !append_text(&mut self.text, &t.into_inner()) {
                        return Err(text_too_long(self.src.line()));
                    }
                    self.set_trim(false);
                    return Ok(Ev::Text);
                }
                Event::GeneralRef(r) => {
                    let resolved = match r.resolve_char_ref() {
                        Ok(Some(c)) => c.to_string(),
                        _ => match r.as_ref() {
                            "amp" => "&".into(),
                            "lt" => "<".into(),
                            "gt" => ">".into(),
                            "quot" => "\"".into(),
                            "apos" => "'".into(),
                            // No DTD is ever read, so any other entity is
                            // unknown: keep it as written.
                            other => format!("&{other};"),
                        },
                    };
                    if !append_text(&mut self.text, &resolved) {
                        return Err(text_too_long(self.src.line()));
                    }
                    self.set_trim(false);
                    return Ok(Ev::Text);
                }
                Event::DocType(_) => {
                    return Err(ParseError::Refused {
                        line: self.src.line(),
                        what: "the document has a <!DOCTYPE>; reports never need one, and \
                               entity expansion and external entities are refused",
                    });
                }
                Event::Comment(_) | Event::PI(_) => self.set_trim(false),
                Event::Empty(_) | Event::Decl(_) => {}
                Event::Eof => return Ok(Ev::Eof),
            }
        }
    }

    /// Reads the rest of an element whose start was just pushed, and
    /// returns it as XML text (for `<extension>` blocks, kept verbatim).
    fn capture_subtree(&mut self) -> Result<String, ParseError> {
        let name = std::mem::take(&mut self.current_name);
        let tag = std::mem::take(&mut self.current_tag);
        let mut writer = quick_xml::Writer::new(Vec::new());
        let mut depth = 0usize;
        let too_long =
            |line| ParseError::Refused { line, what: "an <extension> block is longer than 64 KiB" };
        self.set_trim(false);
        loop {
            let line = self.src.line();
            let event = match self.src.read() {
                Ok(event) => event,
                Err(e) => return Err(xml_error(e, line)),
            };
            match &event {
                Event::Start(start) => {
                    depth += 1;
                    if depth > MAX_DEPTH {
                        return Err(ParseError::Refused {
                            line,
                            what: "elements are nested too deeply (more than 64 levels)",
                        });
                    }
                    self.names.push(start.name().as_ref());
                }
                Event::End(end) => {
                    if let Err(message) = self.names.pop(end.name().as_ref()) {
                        return Err(ParseError::Xml { line, message });
                    }
                    if depth == 0 {
                        break;
                    }
                    depth -= 1;
                }
                Event::Eof => {
                    return Err(ParseError::Xml {
                        line,
                        message: "the document ends inside an <extension>".into(),
                    });
                }
                _ => {}
            }
            if writer.write_event(event).is_err() || writer.get_ref().len() > MAX_TEXT {
                return Err(too_long(line));
            }
        }
        self.set_trim(true);
        self.stack.pop();
        let inner = String::from_utf8_lossy(&writer.into_inner()).into_owned();
        Ok(format!("<{tag}>{}</{name}>", inner.trim()))
    }

    fn push(&mut self, e: E) -> Result<(), ParseError> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(ParseError::Refused {
                line: self.line(),
                what: "elements are nested too deeply (more than 64 levels)",
            });
        }
        self.stack.push(e);
        Ok(())
    }

    /// Reads a record whose `<record>` start was just pushed, up to and
    /// including its end.
    fn record_body(&mut self) -> Result<Record, ParseError> {
        let mut record = Record::default();
        let mut count: Option<u64> = None;
        loop {
            match self.next_event()? {
                Ev::Eof => {
                    return Err(ParseError::Xml {
                        line: self.line(),
                        message: "the document ends inside a <record>".into(),
                    });
                }
                Ev::Start(e) => {
                    self.push(e)?;
                    match self.stack[1..] {
                        [E::Record, E::Row, E::PolicyEvaluated, E::Reason] => {
                            record.reasons.push(Reason { kind: None, comment: None })
                        }
                        [E::Record, E::AuthResults, E::Dkim] => {
                            record.dkim_results.push(DkimAuth {
                                domain: String::new(),
                                selector: None,
                                result: None,
                                human_result: None,
                            })
                        }
                        [E::Record, E::AuthResults, E::Spf] => record.spf_results.push(SpfAuth {
                            domain: String::new(),
                            scope: None,
                            result: None,
                            human_result: None,
                        }),
                        // RFC 9990: record-level extensions are namespaced
                        // elements after <auth_results>; some wrap them in
                        // <extension>. Both are kept verbatim.
                        [E::Record, E::Extension | E::Other] => {
                            let ext = self.capture_subtree()?;
                            record.extensions.push(ext);
                        }
                        _ => {}
                    }
                }
                Ev::End => {
                    if self.stack.len() == 2 {
                        self.stack.pop();
                        break;
                    }
                    self.record_value(&mut record, &mut count)?;
                    self.stack.pop();
                }
                Ev::Text => {}
            }
        }
        // The line is counted only now, on error: counting for every
        // record would cost more than parsing it.
        record.count = count.ok_or_else(|| ParseError::Missing {
            line: self.line(),
            what: "the <record> ending here has no <row><count>".into(),
        })?;
        let stats = &mut self.stats;
        if record.source_ip.is_empty() {
            stats.empty_source_ip += 1;
        } else if record.source_ip.parse::<std::net::IpAddr>().is_err() {
            stats.bad_source_ip += 1;
            if stats.first_bad_source_ip.is_none() {
                stats.first_bad_source_ip = Some(shorten(&record.source_ip));
            }
        }
        stats.records += 1;
        Ok(record)
    }

    /// Stores the text of the element being closed into the record.
    fn record_value(&mut self, r: &mut Record, count: &mut Option<u64>) -> Result<(), ParseError> {
        use lenient::{lower, text};
        let t = self.text.as_str();
        match self.stack[1..] {
            [E::Record, E::Row, E::SourceIp] => r.source_ip = t.trim().to_owned(),
            [E::Record, E::Row, E::Count] => {
                let n = lenient::count(t).map_err(|value| ParseError::BadValue {
                    line: self.line(),
                    element: "count",
                    value: shorten(&value),
                    expected: "a whole number from 0 to 10^12",
                })?;
                *count = Some(n);
            }
            [E::Record, E::Row, E::PolicyEvaluated, E::Reason]
                // `<reason><type/></reason>` (Google, Mimecast) says nothing.
                if r.reasons.last().is_some_and(|x| x.kind.is_none() && x.comment.is_none()) => {
                    r.reasons.pop();
                }
            [E::Record, E::Row, E::PolicyEvaluated, leaf] => match leaf {
                E::Disposition => r.disposition = lenient::disposition(t),
                E::Dkim => r.dkim = lenient::dmarc_result(t),
                E::Spf => r.spf = lenient::dmarc_result(t),
                _ => {}
            },
            [E::Record, E::Row, E::PolicyEvaluated, E::Reason, leaf] => {
                if let Some(reason) = r.reasons.last_mut() {
                    match leaf {
                        E::Type => reason.kind = lenient::override_reason(t),
                        E::Comment => reason.comment = text(t),
                        _ => {}
                    }
                }
            }
            [E::Record, E::Identifiers, leaf] => match leaf {
                E::HeaderFrom => r.header_from = lower(t),
                E::EnvelopeFrom => r.envelope_from = lower(t),
                E::EnvelopeTo => r.envelope_to = lower(t),
                _ => {}
            },
            [E::Record, E::AuthResults, E::Dkim, leaf] => {
                if let Some(a) = r.dkim_results.last_mut() {
                    match leaf {
                        E::Domain => a.domain = lower(t).unwrap_or_default(),
                        E::Selector => a.selector = text(t),
                        E::Result => a.result = lenient::dkim_result(t),
                        E::HumanResult => a.human_result = text(t),
                        _ => {}
                    }
                }
            }
            [E::Record, E::AuthResults, E::Spf, leaf] => {
                if let Some(a) = r.spf_results.last_mut() {
                    match leaf {
                        E::Domain => a.domain = lower(t).unwrap_or_default(),
                        E::Scope => a.scope = lenient::spf_scope(t),
                        E::Result => a.result = lenient::spf_result(t),
                        E::HumanResult => a.human_result = text(t),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn schema_of_feedback(&self) -> Schema {
        if self.feedback_is_rfc9990 { Schema::Rfc9990 } else { Schema::Rfc7489 }
    }
}

/// A quick-xml error as a parse error at `line`.
fn xml_error(e: quick_xml::Error, line: u64) -> ParseError {
    match e {
        quick_xml::Error::Io(io) if io.get_ref().is_some_and(|e| e.is::<input::MarkupGap>()) => {
            ParseError::Refused {
                line,
                what: "more than 1 MiB without any markup (a huge text, comment or attribute)",
            }
        }
        quick_xml::Error::Io(io) => ParseError::Io(
            std::sync::Arc::try_unwrap(io)
                .unwrap_or_else(|shared| std::io::Error::new(shared.kind(), shared.to_string())),
        ),
        other => ParseError::Xml { line, message: other.to_string() },
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

/// The events the element loop needs, with text collected in `Core::text`.
enum Ev {
    Start(E),
    End,
    Text,
    Eof,
}

/// The outcome of an event in the element loop.
enum Step {
    Continue,
    RecordStart,
    FeedbackEnd,
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
            match reader.step_header(event, &mut draft)? {
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
        let header = reader.finish_header(draft, options)?;
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
    /// one reads on (see [`chunks`]); the records, warnings and errors are
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
        if workers > 1 && !chunks::run(self, workers, piece.max(1), &row, &mut sink)? {
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

    /// Handles one event while reading the header.
    fn step_header(&mut self, event: Ev, d: &mut HeaderDraft) -> Result<Step, ParseError> {
        match event {
            Ev::Start(e) => {
                if self.core.stack.len() == 1 && e == E::Record {
                    self.core.stack.push(E::Record);
                    return Ok(Step::RecordStart);
                }
                self.core.push(e)?;
                if matches!(self.core.stack[..], [E::Feedback, E::Extension]) {
                    let ext = self.core.capture_subtree()?;
                    d.extensions.push(ext);
                }
                Ok(Step::Continue)
            }
            Ev::End => {
                self.header_value(d);
                if self.core.stack.pop() == Some(E::Feedback) && self.core.stack.is_empty() {
                    return Ok(Step::FeedbackEnd);
                }
                Ok(Step::Continue)
            }
            Ev::Text | Ev::Eof => Ok(Step::Continue),
        }
    }

    /// Stores the text of the element being closed into the header draft.
    fn header_value(&mut self, d: &mut HeaderDraft) {
        use lenient::{alignment, lower, policy, text};
        let t = self.core.text.as_str();
        match self.core.stack[..] {
            [E::Feedback, E::Version] => d.version = text(t),
            [E::Feedback, E::ReportMetadata, leaf] => match leaf {
                E::OrgName => d.org_name = text(t),
                E::Email => d.email = text(t),
                E::ExtraContactInfo => d.extra_contact_info = text(t),
                E::ReportId => d.report_id = text(t),
                E::Error => d.errors.extend(text(t)),
                E::Generator => d.generator = text(t),
                _ => {}
            },
            [E::Feedback, E::ReportMetadata, E::DateRange, E::Begin] => d.begin = text(t),
            [E::Feedback, E::ReportMetadata, E::DateRange, E::End] => d.end = text(t),
            [E::Feedback, E::PolicyPublished, leaf] => {
                let p = &mut d.policy;
                match leaf {
                    E::Domain => p.domain = lower(t).unwrap_or_default(),
                    E::Adkim => p.adkim = alignment(t),
                    E::Aspf => p.aspf = alignment(t),
                    E::P => p.p = policy(t),
                    E::Sp => p.sp = policy(t),
                    E::Np => p.np = policy(t),
                    E::Pct => {
                        d.pct_raw = text(t);
                        d.pct_line = self.core.line();
                    }
                    E::Fo => p.fo = text(t),
                    E::Testing => p.testing = lower(t),
                    E::DiscoveryMethod => p.discovery_method = lower(t),
                    _ => {}
                }
            }
            _ => {}
        }
    }

    /// Validates the header and applies the fallbacks.
    fn finish_header(
        &mut self,
        d: HeaderDraft,
        options: &ParseOptions,
    ) -> Result<ReportHeader, ParseError> {
        let line = self.line();
        let report_id = d.report_id.ok_or_else(|| ParseError::Missing {
            line,
            what: "the report has no <report_metadata><report_id>".into(),
        })?;
        let mut policy = d.policy;
        policy.pct = lenient::pct(d.pct_raw.as_deref().unwrap_or("")).map_err(|value| {
            ParseError::BadValue {
                line: d.pct_line,
                element: "pct",
                value: shorten(&value),
                expected: "a percentage from 0 to 100",
            }
        })?;
        let from_name = options.file_name.as_deref().and_then(lenient::dates_from_filename);
        let begin = d.begin.as_deref().and_then(lenient::timestamp);
        let end = d.end.as_deref().and_then(lenient::timestamp);
        let (begin, end) = match (begin, end, &from_name) {
            (Some(b), Some(e), _) => (b, e),
            (_, _, Some((_, fb, fe))) => {
                self.warnings.push(format!(
                    "the date range is missing or unreadable; took {fb}..{fe} from the file name"
                ));
                (*fb, *fe)
            }
            _ => {
                return Err(ParseError::Missing {
                    line,
                    what: match (&d.begin, &d.end) {
                        (None, _) | (_, None) => {
                            "the report has no <date_range><begin>/<end> and its file name \
                             (receiver!domain!begin!end.xml) does not give one"
                                .into()
                        }
                        (Some(b), Some(e)) => format!(
                            "the date range \"{}\"..\"{}\" is not in seconds since 1970 and the \
                             file name does not give one",
                            shorten(b),
                            shorten(e)
                        ),
                    },
                });
            }
        };
        if begin > end {
            self.warnings.push(format!("the date range is reversed (begin {begin} > end {end})"));
        }
        if begin < 0 {
            self.warnings.push(format!("the date range begins before 1970 ({begin})"));
        }
        if policy.domain.is_empty() {
            match &from_name {
                Some((domain, _, _)) => {
                    self.warnings.push(format!(
                        "<policy_published> has no <domain>; took \"{domain}\" from the file name"
                    ));
                    policy.domain = domain.clone();
                }
                None => self.warnings.push("<policy_published> has no <domain>".into()),
            }
        }
        Ok(ReportHeader {
            schema: d.schema.unwrap_or(Schema::Rfc7489),
            version: d.version,
            org_name: d.org_name.unwrap_or_default(),
            email: d.email,
            extra_contact_info: d.extra_contact_info,
            report_id,
            begin,
            end,
            errors: d.errors,
            generator: d.generator,
            policy,
            extensions: d.extensions,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read as _;

    use super::*;
    use crate::model::{Disposition, DkimResult, DmarcResult, OverrideReason, Policy, SpfResult};

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
