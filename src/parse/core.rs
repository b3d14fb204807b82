//! The core event loop that the stream reader ([`reader`](super::reader))
//! and the piece reader ([`chunks`](super::chunks)) share: XML events in,
//! known elements and collected text out, with the safety limits (depth,
//! text length, no `<!DOCTYPE>`) enforced in one place. Record assembly on
//! top of it is in [`record`](super::record).

use quick_xml::events::Event;

use super::element::{E, declares_rfc9990, element};
use super::error::{ParseError, shorten, text_too_long, xml_error};
use crate::model::Schema;

/// Where the reader is in the document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum State {
    /// Before `<feedback>`.
    Prolog,
    /// Inside `<feedback>`.
    Feedback,
    /// After `</feedback>` (or end of input).
    Done,
}

/// Where XML events come from: the document's stream (the stream reader,
/// [`reader`](super::reader)), or a piece of it in memory that holds whole
/// records (the piece reader, [`chunks`](super::chunks)).
pub(super) trait Source {
    /// The next event.
    fn read(&mut self) -> Result<Event<'_>, quick_xml::Error>;
    /// The 1-based line of the next unread character.
    fn line(&self) -> u64;
    /// Whether leading whitespace of text is skipped.
    fn set_trim(&mut self, trim: bool);
}

/// The reader settings of every document.
pub(super) fn configure(config: &mut quick_xml::reader::Config) {
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

/// Longest text accepted in one element, and longest `<extension>` kept.
pub(super) const MAX_TEXT: usize = 64 * 1024;
/// Deepest element nesting accepted.
pub(super) const MAX_DEPTH: usize = 64;

/// Appends element text; `false` when it would exceed [`MAX_TEXT`].
fn append_text(text: &mut String, chunk: &str) -> bool {
    if text.len() + chunk.len() > MAX_TEXT {
        return false;
    }
    text.push_str(chunk);
    true
}

/// The qualified names of the open elements, in one string.
#[derive(Default)]
pub(super) struct OpenNames {
    names: String,
    ends: Vec<usize>,
}

impl OpenNames {
    pub(super) fn push(&mut self, name: &str) {
        self.names.push_str(name);
        self.ends.push(self.names.len());
    }

    /// Closes the innermost element; the error when `name` does not match it.
    pub(super) fn pop(&mut self, name: &str) -> Result<(), String> {
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
pub(super) struct RecordStats {
    pub(super) records: u64,
    pub(super) empty_source_ip: u64,
    pub(super) bad_source_ip: u64,
    pub(super) first_bad_source_ip: Option<String>,
}

impl RecordStats {
    /// Adds the stats of the records that came after these.
    pub(super) fn merge(&mut self, later: RecordStats) {
        self.records += later.records;
        self.empty_source_ip += later.empty_source_ip;
        self.bad_source_ip += later.bad_source_ip;
        if self.first_bad_source_ip.is_none() {
            self.first_bad_source_ip = later.first_bad_source_ip;
        }
    }
}

/// The events the element loop needs, with text collected in `Core::text`.
pub(super) enum Ev {
    Start(E),
    End,
    Text,
    Eof,
}

/// The element loop shared by the document reader and the chunk workers:
/// events in, elements and records out.
pub(super) struct Core<S> {
    pub(super) src: S,
    /// Elements open inside `<feedback>`, `<feedback>` itself first.
    pub(super) stack: Vec<E>,
    /// Qualified names of all open elements (including junk around `<feedback>`).
    pub(super) names: OpenNames,
    pub(super) text: String,
    pub(super) state: State,
    /// The text of the current element was handed out: clear it on the next event.
    clear_text: bool,
    /// The `<feedback>` element declared the RFC 9990 namespace.
    feedback_is_rfc9990: bool,
    /// The qualified name of the last unknown or extension element opened.
    pub(super) current_name: String,
    /// Its whole start tag (name and attributes), for keeping it verbatim.
    current_tag: String,
    /// The source skips leading whitespace of text (see [`configure`]).
    trim: bool,
    pub(super) stats: RecordStats,
}

impl<S: Source> Core<S> {
    pub(super) fn new(src: S, state: State) -> Self {
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

    pub(super) fn line(&self) -> u64 {
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
    pub(super) fn next_event(&mut self) -> Result<Ev, ParseError> {
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
    pub(super) fn capture_subtree(&mut self) -> Result<String, ParseError> {
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

    pub(super) fn push(&mut self, e: E) -> Result<(), ParseError> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(ParseError::Refused {
                line: self.line(),
                what: "elements are nested too deeply (more than 64 levels)",
            });
        }
        self.stack.push(e);
        Ok(())
    }

    /// The schema generation the `<feedback>` start tag declared.
    pub(super) fn schema_of_feedback(&self) -> Schema {
        if self.feedback_is_rfc9990 { Schema::Rfc9990 } else { Schema::Rfc7489 }
    }
}
