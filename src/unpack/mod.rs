//! Unpacks one input down to the XML documents inside it: gzip (also a gzip
//! inside a gzip, and with trailing bytes after the member), zip (every
//! report entry), RFC 5322 messages (the whole MIME tree, forwarded messages
//! included), and plain XML.
//!
//! The input is recognised by its content first (magic bytes), then by the
//! MIME type and the file name. Documents are handed to a [`Sink`] as
//! streams, so a large gzip file is never held in memory decompressed.
//! Every decompression is capped ([`crate::limits`]).

mod mime;
pub mod sniff;

use std::io::{self, Cursor, Read};

use flate2::read::GzDecoder;

use crate::limits::{Capped, LimitExceeded, Limits, read_capped};
use sniff::Kind;

/// How deep archives and forwarded messages may nest.
const MAX_NESTING: usize = 6;

/// An XML document found in an input.
pub struct Document<'a> {
    /// Where it was found, e.g. `mail.eml > report.zip > report.xml`.
    pub location: String,
    /// Its own file name (attachment or zip entry), for the date fallback.
    pub file_name: Option<String>,
    /// The XML bytes.
    pub reader: &'a mut (dyn Read + Send),
    /// The bytes are UTF-8 already (decoded by the mail parser).
    pub known_utf8: bool,
    /// The compressed form it arrived in, when that can serve as its raw
    /// copy instead of compressing the XML again.
    pub arrived: Option<Arrived<'a>>,
}

/// The compressed bytes a document arrived in. Either one decompresses to
/// exactly the bytes the document's reader yields (once it is read to its
/// end), so it can be kept as the raw copy.
pub enum Arrived<'a> {
    /// A gzip member: its bytes are collected as the reader decompresses
    /// them (see [`GzipTap`]).
    Gzip(GzipTap),
    /// A zip entry's deflate data, with the entry's CRC-32 and size: a
    /// gzip header and trailer around it make a gzip member.
    Deflate {
        /// The raw deflate stream.
        data: &'a [u8],
        /// CRC-32 of the decompressed entry (from the archive).
        crc32: u32,
        /// Decompressed size of the entry.
        size: u64,
    },
}

/// The compressed bytes read so far by a gzip decoder, shared between the
/// reader under the decoder and whoever keeps the raw copy. They hold the
/// member from its first byte, and at most the decoder's read-ahead
/// (32 KiB) after its end.
///
/// Capped: compressed data may be at most twice what it decompressed to,
/// plus [`TAP_SLACK`]; beyond, the gzip data fails as corrupt (a member of
/// empty deflate blocks could otherwise make the copy grow without end
/// while the report stays small). Once only the decoder's side holds the
/// tap (nobody will keep the copy), it stops collecting.
#[derive(Clone, Default)]
pub struct GzipTap {
    inner: std::sync::Arc<TapInner>,
}

#[derive(Default)]
struct TapInner {
    bytes: std::sync::Mutex<Vec<u8>>,
    /// Compressed bytes read so far.
    tapped: std::sync::atomic::AtomicU64,
    /// Decompressed bytes read so far by whoever keeps the copy.
    produced: std::sync::atomic::AtomicU64,
}

/// Compressed bytes a gzip member may hold beyond twice its content.
pub const TAP_SLACK: u64 = 1 << 20;

impl GzipTap {
    /// Takes what was read since the last call, once it is at least
    /// `min` bytes (0: whatever there is).
    pub fn take(&self, min: usize) -> Option<Vec<u8>> {
        let mut bytes = self.inner.bytes.lock().unwrap_or_else(|e| e.into_inner());
        (bytes.len() >= min.max(1)).then(|| std::mem::take(&mut *bytes))
    }

    /// Counts decompressed bytes read from the member (for the cap).
    pub fn produced(&self, n: usize) {
        self.inner.produced.fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
    }

    /// Appends bytes read from the member.
    pub(crate) fn push(&self, read: &[u8]) -> io::Result<()> {
        use std::sync::atomic::Ordering::Relaxed;
        let mut bytes = self.inner.bytes.lock().unwrap_or_else(|e| e.into_inner());
        if std::sync::Arc::strong_count(&self.inner) == 1 {
            // No one keeps the copy (the member holds no XML document).
            *bytes = Vec::new();
            return Ok(());
        }
        let tapped = self.inner.tapped.fetch_add(read.len() as u64, Relaxed) + read.len() as u64;
        let produced = self.inner.produced.load(Relaxed);
        if tapped > produced.saturating_mul(2).saturating_add(TAP_SLACK) {
            *bytes = Vec::new();
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                DecodeError(format!(
                    "the gzip data is corrupt: {tapped} compressed bytes hold only {produced} \
                     bytes of report"
                )),
            ));
        }
        bytes.extend_from_slice(read);
        Ok(())
    }
}

/// Passes bytes through and appends them to a [`GzipTap`].
struct Tapped<R> {
    inner: R,
    tap: GzipTap,
}

impl<R: Read> Read for Tapped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.tap.push(&buf[..n])?;
        Ok(n)
    }
}

/// Receives what unpacking finds.
pub trait Sink {
    /// An error that stops the whole run (storage failure).
    type Fatal;
    /// An XML document to parse and store.
    fn document(&mut self, doc: Document<'_>) -> Result<(), Self::Fatal>;
    /// A part of the input that is not, or does not hold, an aggregate report.
    fn problem(&mut self, location: &str, error: UnpackError);
    /// Something odd but harmless.
    fn warning(&mut self, location: &str, message: String);
}

/// Why (part of) an input holds no readable aggregate report.
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    /// The input has no bytes.
    #[error("empty input")]
    Empty,
    /// Not a format we read.
    #[error("not a DMARC aggregate report: {0}")]
    Unrecognised(String),
    /// A DMARC failure report (ruf).
    #[error(
        "this is a DMARC failure (ruf) report (RFC 6591), not an aggregate (rua) report; \
         failure reports are not supported yet"
    )]
    FailureReport,
    /// An SMTP TLS report.
    #[error(
        "this is an SMTP TLS report (RFC 8460), not a DMARC aggregate report; \
         TLS reports are not supported yet"
    )]
    TlsReport,
    /// A message without any report in it.
    #[error("no DMARC aggregate report in this message{0}")]
    NoReport(String),
    /// The compressed data is broken.
    #[error("{format} data is corrupt: {message}")]
    Corrupt {
        /// gzip, zip, ...
        format: &'static str,
        /// What the decoder said.
        message: String,
    },
    /// A limit was reached.
    #[error("{0}")]
    Limit(LimitExceeded),
    /// A zip archive with more entries than `--max-zip-entries`.
    #[error(
        "the zip archive has {entries} entries, more than the limit of {limit} \
         (raise it with --max-zip-entries)"
    )]
    TooManyEntries {
        /// Entries in the archive.
        entries: usize,
        /// The limit.
        limit: usize,
    },
    /// Archives inside archives, too deep.
    #[error("archives or forwarded messages are nested more than {MAX_NESTING} deep")]
    TooDeep,
    /// A decompressor said the data is broken (its words, labelled).
    #[error("{0}")]
    Decode(DecodeError),
    /// Reading the input failed (an I/O error, not bad data).
    #[error("read error: {0}")]
    Io(io::Error),
}

/// A decompression error, labelled with the format ("the gzip data is
/// truncated"); carried inside `io::Error` through the readers above it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError(pub String);

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DecodeError {}

impl UnpackError {
    /// Classifies an I/O error met while reading `format` data.
    pub fn from_io(format: &'static str, e: io::Error) -> Self {
        if let Some(limit) = LimitExceeded::from_io(&e) {
            return UnpackError::Limit(limit.clone());
        }
        if let Some(decode) = e.get_ref().and_then(|inner| inner.downcast_ref::<DecodeError>()) {
            return UnpackError::Decode(decode.clone());
        }
        match e.kind() {
            io::ErrorKind::InvalidData
            | io::ErrorKind::InvalidInput
            | io::ErrorKind::UnexpectedEof => {
                UnpackError::Corrupt { format, message: e.to_string() }
            }
            _ => UnpackError::Io(e),
        }
    }
}

/// What the caller knows about an input besides its bytes.
#[derive(Debug, Clone, Default)]
pub struct Hints {
    /// The MIME type it was sent with, lower-case (`application/gzip`).
    pub content_type: Option<String>,
    /// Its file or attachment name.
    pub file_name: Option<String>,
    /// Text already decoded to UTF-8 (MIME text parts).
    pub known_utf8: bool,
}

/// Unpacks one input stream, handing every XML document to `sink`.
pub fn unpack<S: Sink>(
    location: &str,
    mut input: impl Read + Send,
    hints: &Hints,
    limits: &Limits,
    sink: &mut S,
) -> Result<(), S::Fatal> {
    let mut ctx = Ctx { limits, sink, found: 0, problems: 0 };
    ctx.stream(location, &mut input, hints, 0, None)
}

struct Ctx<'a, S> {
    limits: &'a Limits,
    sink: &'a mut S,
    /// Documents handed to the sink so far.
    found: usize,
    /// Problems reported so far.
    problems: usize,
}

impl<S: Sink> Ctx<'_, S> {
    fn problem(&mut self, location: &str, error: UnpackError) {
        self.problems += 1;
        self.sink.problem(location, error);
    }

    fn stream(
        &mut self,
        location: &str,
        input: &mut (dyn Read + Send),
        hints: &Hints,
        depth: usize,
        arrived: Option<Arrived<'_>>,
    ) -> Result<(), S::Fatal> {
        if depth > MAX_NESTING {
            self.problem(location, UnpackError::TooDeep);
            return Ok(());
        }
        let head = match sniff::read_head(input) {
            Ok(head) => head,
            Err(e) => {
                self.problem(location, UnpackError::from_io("input", e));
                return Ok(());
            }
        };
        let kind = sniff::classify(&head, hints);
        let input = Cursor::new(head).chain(input);
        let limits = *self.limits;
        match kind {
            Kind::Empty => self.problem(location, UnpackError::Empty),
            Kind::Gzip => {
                // One member: bytes after it (Mimecast's CRLF) are never read.
                let tap = GzipTap::default();
                let decoded = Capped::new(
                    GzDecoder::new(Tapped { inner: input, tap: tap.clone() }),
                    limits.max_report_size,
                    "decompressed report",
                    "--max-report-size",
                );
                let inner = Hints {
                    content_type: None,
                    file_name: hints.file_name.as_deref().map(strip_compression_suffix),
                    known_utf8: false,
                };
                return self.stream(
                    location,
                    &mut Labelled { inner: decoded, format: "gzip" },
                    &inner,
                    depth + 1,
                    Some(Arrived::Gzip(tap)),
                );
            }
            Kind::Zip => {
                match read_capped(
                    input,
                    limits.max_message_size,
                    "zip archive",
                    "--max-message-size",
                ) {
                    Ok(bytes) => return self.zip(location, bytes, depth),
                    Err(e) => self.problem(location, UnpackError::from_io("zip", e)),
                }
            }
            Kind::Email => {
                match read_capped(input, limits.max_message_size, "message", "--max-message-size") {
                    Ok(bytes) => return self.email(location, &bytes, depth),
                    Err(e) => self.problem(location, UnpackError::from_io("message", e)),
                }
            }
            Kind::Xml => {
                self.found += 1;
                let mut capped = Capped::new(
                    input,
                    limits.max_report_size,
                    "decompressed report",
                    "--max-report-size",
                );
                return self.sink.document(Document {
                    location: location.to_owned(),
                    file_name: hints.file_name.clone(),
                    reader: &mut capped,
                    known_utf8: hints.known_utf8,
                    // Only the XML right inside the compression: a gzip
                    // holding a gzip keeps no copy of the outer one.
                    arrived,
                });
            }
            Kind::TlsReportJson => self.problem(location, UnpackError::TlsReport),
            Kind::Mbox => {
                // One message kept with its mbox `From ` line (an IMAP server
                // or an export that keeps the envelope line) is an email;
                // several messages in mbox form are a mailbox, read only
                // from a file of its own.
                match read_capped(input, limits.max_message_size, "message", "--max-message-size") {
                    Ok(bytes) => match single_message_after_from_line(&bytes) {
                        Some(message) => return self.email(location, message, depth),
                        None => self.problem(
                            location,
                            UnpackError::Unrecognised(
                                "an mbox mailbox inside another input; give the mbox file itself"
                                    .into(),
                            ),
                        ),
                    },
                    Err(e) => self.problem(location, UnpackError::from_io("message", e)),
                }
            }
            Kind::Unknown(what) => self.problem(location, UnpackError::Unrecognised(what)),
        }
        Ok(())
    }

    fn zip(&mut self, location: &str, bytes: Vec<u8>, depth: usize) -> Result<(), S::Fatal> {
        let mut archive = match zip::ZipArchive::new(Cursor::new(&bytes[..])) {
            Ok(a) => a,
            Err(e) => {
                self.problem(
                    location,
                    UnpackError::Corrupt { format: "zip", message: e.to_string() },
                );
                return Ok(());
            }
        };
        if archive.len() > self.limits.max_zip_entries {
            self.problem(
                location,
                UnpackError::TooManyEntries {
                    entries: archive.len(),
                    limit: self.limits.max_zip_entries,
                },
            );
            return Ok(());
        }
        let before = self.found;
        let mut skipped = Vec::new();
        for i in 0..archive.len() {
            let mut entry = match archive.by_index(i) {
                Ok(entry) => entry,
                Err(e) => {
                    self.problem(
                        &format!("{location} > entry {}", i + 1),
                        UnpackError::Corrupt { format: "zip", message: e.to_string() },
                    );
                    continue;
                }
            };
            if entry.is_dir() {
                continue;
            }
            // The entry name is only a label: it is never used as a path.
            let name =
                entry.name().map(|n| n.into_owned()).unwrap_or_else(|_| format!("entry {}", i + 1));
            let entry_location = format!("{location} > {name}");
            let head = match sniff::read_head(&mut entry) {
                Ok(head) => head,
                Err(e) => {
                    self.problem(&entry_location, UnpackError::from_io("zip", e));
                    continue;
                }
            };
            let hints =
                Hints { content_type: None, file_name: Some(name.clone()), known_utf8: false };
            if !sniff::is_report_like(sniff::classify(&head, &hints)) {
                skipped.push(name);
                continue;
            }
            let arrived = deflate_data(&bytes, &entry);
            let mut reader = Capped::new(
                Cursor::new(head).chain(Labelled { inner: entry, format: "zip" }),
                self.limits.max_report_size,
                "decompressed report",
                "--max-report-size",
            );
            self.stream(&entry_location, &mut reader, &hints, depth + 1, arrived)?;
        }
        if self.found == before {
            self.problem(
                location,
                UnpackError::Unrecognised(format!(
                    "the zip archive holds no XML report{}",
                    if skipped.is_empty() {
                        String::new()
                    } else {
                        format!(" (entries: {})", skipped.join(", "))
                    }
                )),
            );
        } else if !skipped.is_empty() {
            self.sink.warning(
                location,
                format!("skipped zip entries that are not reports: {}", skipped.join(", ")),
            );
        }
        Ok(())
    }
}

/// A zip entry's deflate data inside the archive's bytes, when it can be
/// kept as the raw copy: deflated, not encrypted, and not larger than
/// what it decompresses to (otherwise compressing it again keeps less).
fn deflate_data<'b>(
    archive: &'b [u8],
    entry: &zip::read::ZipFile<'_, Cursor<&[u8]>>,
) -> Option<Arrived<'b>> {
    if entry.compression() != zip::CompressionMethod::Deflated
        || entry.encrypted()
        || entry.compressed_size() > entry.size()
    {
        return None;
    }
    let start = usize::try_from(entry.data_start()?).ok()?;
    let len = usize::try_from(entry.compressed_size()).ok()?;
    let data = archive.get(start..start.checked_add(len)?)?;
    Some(Arrived::Deflate { data, crc32: entry.crc32(), size: entry.size() })
}

/// Removes `.gz`/`.gzip` so the inner document keeps a meaningful name.
fn strip_compression_suffix(name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    for suffix in [".gz", ".gzip"] {
        if lower.ends_with(suffix) {
            return name[..name.len() - suffix.len()].to_owned();
        }
    }
    name.to_owned()
}

/// Labels the errors of a decompressing reader with its format ("gzip").
struct Labelled<R> {
    inner: R,
    format: &'static str,
}

impl<R: Read> Read for Labelled<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).map_err(|e| label_io(self.format, e))
    }
}

/// Adds the format to a decompression error, keeping limit errors and
/// errors labelled by an inner layer intact.
fn label_io(format: &str, e: io::Error) -> io::Error {
    let labelled =
        e.get_ref().is_some_and(|inner| inner.is::<LimitExceeded>() || inner.is::<DecodeError>());
    if labelled {
        return e;
    }
    let message = match e.kind() {
        io::ErrorKind::UnexpectedEof => format!("the {format} data is truncated"),
        _ => format!("the {format} data is corrupt: {e}"),
    };
    io::Error::new(e.kind(), DecodeError(message))
}

/// The message after an mbox `From ` line, when the input is exactly one
/// message in mbox form (no other line starts with `From `: mbox writers
/// escape such lines in bodies as `>From `).
fn single_message_after_from_line(bytes: &[u8]) -> Option<&[u8]> {
    let end = memchr::memchr(b'\n', bytes)?;
    let rest = &bytes[end + 1..];
    let another = memchr::memmem::find(rest, b"\nFrom ").is_some();
    (!another && sniff::classify(rest, &Hints::default()) == Kind::Email).then_some(rest)
}
