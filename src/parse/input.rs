//! Turns the bytes of an XML document, whatever their encoding, into the
//! UTF-8 stream quick-xml requires, and counts lines for error messages.
//!
//! - A UTF-8 byte-order mark is skipped; a UTF-16 one selects UTF-16.
//! - A declared encoding (`<?xml ... encoding="windows-1252"?>`) is honoured
//!   unless the caller already knows the text is UTF-8 (a `text/xml` MIME
//!   part that the mail parser decoded for us).
//! - Bytes that are invalid in the encoding become U+FFFD; the reader
//!   remembers that it happened so the caller can warn.
//!
//! Everything is streamed through fixed buffers: memory does not depend on
//! the size of the document. Because the XML reader above buffers a whole
//! text event before anyone can look at it, a stretch of more than
//! [`MAX_MARKUP_GAP`] bytes without a `<` (a 100 MB element text, comment or
//! attribute) is refused here, before it is buffered.

use std::io::{self, BufRead, Read};

use encoding_rs::{CoderResult, Encoding, UTF_8};

const BUF_SIZE: usize = 64 * 1024;
/// How much of the start is inspected for a BOM and an XML declaration.
const PROLOG_SIZE: usize = 1024;
/// The longest stretch without a `<` accepted (every XML event starts with
/// one; no report comes near this).
pub const MAX_MARKUP_GAP: usize = 1 << 20;

/// The error for a stretch without markup longer than [`MAX_MARKUP_GAP`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarkupGap;

impl std::fmt::Display for MarkupGap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "more than {} KiB without any markup (one huge text, comment or attribute)",
            MAX_MARKUP_GAP / 1024
        )
    }
}

impl std::error::Error for MarkupGap {}

/// A `BufRead` of UTF-8 produced from a document in any encoding.
pub struct XmlInput<R> {
    inner: R,
    decoder: encoding_rs::Decoder,
    encoding: &'static Encoding,
    in_buf: Box<[u8]>,
    in_start: usize,
    in_end: usize,
    inner_eof: bool,
    decoder_done: bool,
    out_buf: Box<[u8]>,
    out_pos: usize,
    out_end: usize,
    /// Newlines in the output buffers already replaced.
    lines_before: u64,
    /// Bytes since the last `<` seen at the end of an output buffer.
    gap: usize,
    /// Bytes given back by [`unread`](Self::unread), served first.
    replay: Vec<u8>,
    replay_pos: usize,
    /// Newlines given back and not read again yet.
    lines_unread: u64,
    /// An error to give once the bytes given back are read.
    error_after_replay: Option<io::Error>,
    /// Bytes handed out and consumed (less those given back), and bytes
    /// decoded: positions in the UTF-8 output.
    consumed: u64,
    decoded: u64,
    /// Where the first U+FFFD put in for an invalid byte is.
    first_replacement: Option<u64>,
}

impl<R: Read> XmlInput<R> {
    /// Wraps `inner`. With `known_utf8`, a declared encoding is ignored.
    pub fn new(mut inner: R, known_utf8: bool) -> io::Result<Self> {
        let mut in_buf = vec![0u8; BUF_SIZE].into_boxed_slice();
        let mut filled = 0;
        let mut inner_eof = false;
        while filled < PROLOG_SIZE {
            match inner.read(&mut in_buf[filled..PROLOG_SIZE]) {
                Ok(0) => {
                    inner_eof = true;
                    break;
                }
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        let (encoding, bom_len) = match Encoding::for_bom(&in_buf[..filled]) {
            Some((enc, len)) => (enc, len),
            None if known_utf8 => (UTF_8, 0),
            None => (declared_encoding(&in_buf[..filled]).unwrap_or(UTF_8), 0),
        };
        Ok(XmlInput {
            inner,
            decoder: encoding.new_decoder_without_bom_handling(),
            encoding,
            in_buf,
            in_start: bom_len,
            in_end: filled,
            inner_eof,
            decoder_done: false,
            out_buf: vec![0u8; BUF_SIZE].into_boxed_slice(),
            out_pos: 0,
            out_end: 0,
            lines_before: 0,
            gap: 0,
            replay: Vec::new(),
            replay_pos: 0,
            lines_unread: 0,
            error_after_replay: None,
            consumed: 0,
            decoded: 0,
            first_replacement: None,
        })
    }

    /// The encoding the document is read in.
    pub fn encoding(&self) -> &'static Encoding {
        self.encoding
    }

    /// Whether some bytes read so far were invalid and replaced by U+FFFD
    /// (bytes decoded ahead but never read do not count).
    pub fn had_replacements(&self) -> bool {
        self.first_replacement.is_some_and(|at| at < self.consumed)
    }

    /// The 1-based line of the next unread character. Lines are counted
    /// only when asked for (errors), not for every event.
    pub fn line(&self) -> u64 {
        let here = memchr::memchr_iter(b'\n', &self.out_buf[..self.out_pos]).count() as u64;
        let replayed = newlines(&self.replay[..self.replay_pos]);
        (self.lines_before + here + replayed + 1).saturating_sub(self.lines_unread)
    }

    /// Gives back `bytes`, which were read last: they are read again
    /// before anything else (the parallel reader hands back what it could
    /// not parse).
    pub fn unread(&mut self, mut bytes: Vec<u8>) {
        self.consumed = self.consumed.saturating_sub(bytes.len() as u64);
        // What was given back before and read again already now counts as
        // read; what is left of it comes after `bytes`.
        let consumed = newlines(&self.replay[..self.replay_pos]);
        self.lines_unread = self.lines_unread.saturating_sub(consumed) + newlines(&bytes);
        bytes.extend_from_slice(&self.replay[self.replay_pos..]);
        self.replay = bytes;
        self.replay_pos = 0;
    }

    /// Makes the next read after the bytes given back fail with `error`
    /// (it was met while reading ahead).
    pub fn fail_after_unread(&mut self, error: io::Error) {
        self.error_after_replay = Some(error);
    }

    /// The underlying reader.
    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// The underlying reader, mutably.
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }

    fn refill_input(&mut self) -> io::Result<()> {
        if self.in_start > 0 {
            self.in_buf.copy_within(self.in_start..self.in_end, 0);
            self.in_end -= self.in_start;
            self.in_start = 0;
        }
        while self.in_end < self.in_buf.len() && !self.inner_eof {
            match self.inner.read(&mut self.in_buf[self.in_end..]) {
                Ok(0) => self.inner_eof = true,
                Ok(n) => {
                    self.in_end += n;
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

impl<R: Read> Read for XmlInput<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

/// The number of newlines in `bytes`.
fn newlines(bytes: &[u8]) -> u64 {
    memchr::memchr_iter(b'\n', bytes).count() as u64
}

impl<R: Read> BufRead for XmlInput<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.replay_pos < self.replay.len() {
            return Ok(&self.replay[self.replay_pos..]);
        }
        if !self.replay.is_empty() {
            // All given back is read again: its lines count once more.
            self.lines_unread = self.lines_unread.saturating_sub(newlines(&self.replay));
            self.replay = Vec::new();
            self.replay_pos = 0;
        }
        if let Some(error) = self.error_after_replay.take() {
            return Err(error);
        }
        while self.out_pos == self.out_end && !self.decoder_done {
            if self.in_start == self.in_end && !self.inner_eof {
                self.refill_input()?;
            }
            let last = self.inner_eof;
            // The buffer is about to be overwritten: keep its line count.
            self.lines_before +=
                memchr::memchr_iter(b'\n', &self.out_buf[..self.out_end]).count() as u64;
            self.out_end = 0;
            let (result, read, written, replaced) = self.decoder.decode_to_utf8(
                &self.in_buf[self.in_start..self.in_end],
                &mut self.out_buf,
                last,
            );
            if replaced && self.first_replacement.is_none() {
                let at = memchr::memmem::find(&self.out_buf[..written], "\u{FFFD}".as_bytes());
                self.first_replacement = Some(self.decoded + at.unwrap_or(0) as u64);
            }
            self.decoded += written as u64;
            self.in_start += read;
            self.out_pos = 0;
            self.out_end = written;
            if last && result == CoderResult::InputEmpty {
                self.decoder_done = true;
            } else if result == CoderResult::InputEmpty && written == 0 {
                // The decoder holds a partial sequence: it needs more input.
                self.refill_input()?;
            }
            // One search per buffer, not per event.
            match memchr::memrchr(b'<', &self.out_buf[..written]) {
                Some(at) => self.gap = written - at - 1,
                None => self.gap += written,
            }
            if self.gap > MAX_MARKUP_GAP {
                return Err(io::Error::new(io::ErrorKind::InvalidData, MarkupGap));
            }
        }
        Ok(&self.out_buf[self.out_pos..self.out_end])
    }

    fn consume(&mut self, amt: usize) {
        if self.replay_pos < self.replay.len() {
            let amt = amt.min(self.replay.len() - self.replay_pos);
            self.replay_pos += amt;
            self.consumed += amt as u64;
            return;
        }
        let amt = amt.min(self.out_end - self.out_pos);
        self.out_pos += amt;
        self.consumed += amt as u64;
    }
}

/// The encoding named in an XML declaration at the start of `prolog`.
fn declared_encoding(prolog: &[u8]) -> Option<&'static Encoding> {
    let start = memchr::memmem::find(prolog, b"<?xml")?;
    let decl_end = memchr::memmem::find(&prolog[start..], b"?>")? + start;
    let decl = &prolog[start..decl_end];
    let at = memchr::memmem::find(decl, b"encoding")? + "encoding".len();
    let rest = decl[at..].trim_ascii_start().strip_prefix(b"=")?.trim_ascii_start();
    let quote = *rest.first()?;
    if quote != b'"' && quote != b'\'' {
        return None;
    }
    let value = &rest[1..];
    let label = &value[..memchr::memchr(quote, value)?];
    let encoding = Encoding::for_label(label)?;
    // A UTF-16 declaration on bytes we could read as ASCII cannot be true.
    (encoding != encoding_rs::UTF_16LE && encoding != encoding_rs::UTF_16BE).then_some(encoding)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(bytes: &[u8], known_utf8: bool) -> (String, bool) {
        let mut input = XmlInput::new(bytes, known_utf8).unwrap();
        let mut out = String::new();
        input.read_to_string(&mut out).unwrap();
        (out, input.had_replacements())
    }

    #[test]
    fn utf8_bom_is_skipped() {
        let (s, r) = decode(b"\xEF\xBB\xBF<feedback/>", false);
        assert_eq!(s, "<feedback/>");
        assert!(!r);
    }

    #[test]
    fn declared_windows_1252_is_transcoded() {
        let doc = b"<?xml version='1.0' encoding='windows-1252'?><o>Soci\xe9t\xe9</o>";
        let (s, r) = decode(doc, false);
        assert!(s.ends_with("<o>Soci\u{e9}t\u{e9}</o>"), "{s}");
        assert!(!r);
    }

    #[test]
    fn declared_encoding_is_ignored_when_text_is_known_utf8() {
        let doc = "<?xml version='1.0' encoding='windows-1252'?><o>Soci\u{e9}t\u{e9}</o>";
        let (s, _) = decode(doc.as_bytes(), true);
        assert_eq!(s, doc);
    }

    #[test]
    fn invalid_utf8_is_replaced_and_flagged() {
        let (s, r) = decode(b"<a>bad\x91byte</a>", false);
        assert_eq!(s, "<a>bad\u{FFFD}byte</a>");
        assert!(r);
    }

    #[test]
    fn a_huge_stretch_without_markup_is_refused_before_it_is_buffered() {
        let mut doc = b"<feedback><org_name>".to_vec();
        doc.resize(doc.len() + 3 * MAX_MARKUP_GAP, b'a');
        let mut input = XmlInput::new(&doc[..], false).unwrap();
        let mut sink = Vec::new();
        let err = input.read_to_end(&mut sink).unwrap_err();
        assert!(err.get_ref().is_some_and(|e| e.is::<MarkupGap>()), "{err}");
        // It stopped soon after the limit, not at the end.
        assert!(sink.len() < MAX_MARKUP_GAP + 2 * BUF_SIZE, "{}", sink.len());
        // Text up to the limit is fine.
        let mut doc = b"<a>".to_vec();
        doc.resize(doc.len() + MAX_MARKUP_GAP - 4 * BUF_SIZE, b'a');
        doc.extend_from_slice(b"</a>");
        let mut ok = Vec::new();
        XmlInput::new(&doc[..], false).unwrap().read_to_end(&mut ok).unwrap();
        assert_eq!(ok, doc);
    }

    #[test]
    fn large_input_streams_through_small_buffers_and_counts_lines() {
        let mut doc = Vec::new();
        for i in 0..50_000 {
            doc.extend_from_slice(format!("<r>{i} \u{e9}</r>\n").as_bytes());
        }
        let mut input = XmlInput::new(&doc[..], false).unwrap();
        let mut out = Vec::new();
        input.read_to_end(&mut out).unwrap();
        assert_eq!(out, doc);
        assert_eq!(input.line(), 50_001);
    }
}
