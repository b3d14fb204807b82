//! Recognises what an input is: by its first bytes, then by the MIME type
//! it was sent with, then by its file name.

use std::io::{self, Read};

use super::Hints;

/// How many leading bytes are inspected.
pub const HEAD_SIZE: usize = 4096;

/// What an input is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// Zero bytes, or only whitespace.
    Empty,
    /// A gzip member (RFC 1952).
    Gzip,
    /// A zip archive.
    Zip,
    /// An XML document.
    Xml,
    /// An RFC 5322 message.
    Email,
    /// An mbox mailbox (`From ` separator lines).
    Mbox,
    /// An SMTP TLS report (RFC 8460 JSON).
    TlsReportJson,
    /// Something else; the text says what it looks like.
    Unknown(String),
}

/// Whether a kind can hold an aggregate report (for picking zip entries
/// and MIME parts).
pub fn is_report_like(kind: Kind) -> bool {
    matches!(kind, Kind::Gzip | Kind::Zip | Kind::Xml)
}

/// Reads up to [`HEAD_SIZE`] bytes (fewer only at end of input).
pub fn read_head(input: &mut (impl Read + ?Sized)) -> io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(HEAD_SIZE);
    input.take(HEAD_SIZE as u64).read_to_end(&mut head)?;
    Ok(head)
}

/// Classifies an input from its first bytes and the hints.
pub fn classify(head: &[u8], hints: &Hints) -> Kind {
    if head.starts_with(&[0x1f, 0x8b]) {
        return Kind::Gzip;
    }
    if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        return Kind::Zip;
    }
    // UTF-16 byte-order marks: only XML is sent that way.
    if head.starts_with(&[0xff, 0xfe]) || head.starts_with(&[0xfe, 0xff]) {
        return Kind::Xml;
    }
    let text = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    let trimmed = text.trim_ascii_start();
    if trimmed.is_empty() {
        return Kind::Empty;
    }
    if trimmed.starts_with(b"<") {
        return Kind::Xml;
    }
    if trimmed.starts_with(b"{") {
        return if looks_like_tls_report(trimmed) {
            Kind::TlsReportJson
        } else {
            Kind::Unknown("the input is JSON, but not an SMTP TLS report".into())
        };
    }
    if text.starts_with(b"From ") {
        return Kind::Mbox;
    }
    if looks_like_message(text) {
        return Kind::Email;
    }
    // The content is not recognisable: fall back to what the sender said.
    let by_type = hints.content_type.as_deref().and_then(kind_from_content_type);
    let by_name = hints.file_name.as_deref().and_then(kind_from_name);
    if let Some(kind) = by_type.or(by_name) {
        return kind;
    }
    Kind::Unknown(describe(text))
}

/// An RFC 8460 report has `organization-name` and `policies`.
fn looks_like_tls_report(json: &[u8]) -> bool {
    memchr::memmem::find(json, b"\"policies\"").is_some()
        || memchr::memmem::find(json, b"\"organization-name\"").is_some()
}

/// The first line is a header field (`Name: value`) and a header we expect
/// in mail appears in the head.
fn looks_like_message(text: &[u8]) -> bool {
    let first_line = text.split(|&b| b == b'\n').next().unwrap_or_default();
    let Some(colon) = memchr::memchr(b':', first_line) else { return false };
    let name = &first_line[..colon];
    if name.is_empty() || !name.iter().all(|&b| b.is_ascii_graphic() && b != b':') {
        return false;
    }
    let lower = text.to_ascii_lowercase();
    [&b"\nfrom:"[..], b"\nsubject:", b"\ncontent-type:", b"\nmime-version:", b"\nreceived:"]
        .iter()
        .chain([&b"from:"[..], b"received:", b"return-path:", b"delivered-to:"].iter())
        .any(|h| memchr::memmem::find(&lower, h).is_some())
}

fn kind_from_content_type(ct: &str) -> Option<Kind> {
    let ct = ct.to_ascii_lowercase();
    match ct.as_str() {
        "text/xml" | "application/xml" => Some(Kind::Xml),
        "message/rfc822" => Some(Kind::Email),
        _ => None,
    }
}

fn kind_from_name(name: &str) -> Option<Kind> {
    let lower = name.to_ascii_lowercase();
    if lower.ends_with(".xml") {
        Some(Kind::Xml)
    } else if lower.ends_with(".eml") {
        Some(Kind::Email)
    } else {
        None
    }
}

/// A short description of unrecognised bytes for the error message.
fn describe(text: &[u8]) -> String {
    let printable =
        text.iter().take(64).filter(|b| b.is_ascii_graphic() || b.is_ascii_whitespace()).count();
    if text.starts_with(b"%PDF") {
        "the input is a PDF document".into()
    } else if printable * 10 >= text.len().min(64) * 9 {
        let start: String = String::from_utf8_lossy(&text[..text.len().min(40)])
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        format!(
            "the input is text that is not XML, JSON or an email (it starts \"{}\")",
            start.trim()
        )
    } else {
        let hex: Vec<String> = text.iter().take(8).map(|b| format!("{b:02x}")).collect();
        format!("unrecognised binary data (first bytes {})", hex.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(bytes: &[u8]) -> Kind {
        classify(bytes, &Hints::default())
    }

    #[test]
    fn content_wins_over_names_and_types() {
        let hints = Hints {
            content_type: Some("application/gzip".into()),
            file_name: Some("report.xml.gz".into()),
            known_utf8: false,
        };
        assert_eq!(classify(b"PK\x03\x04rest", &hints), Kind::Zip);
    }

    #[test]
    fn formats_are_recognised_by_magic_bytes() {
        assert_eq!(kind(b"\x1f\x8b\x08\x00"), Kind::Gzip);
        assert_eq!(kind(b"\xEF\xBB\xBF<?xml version=\"1.0\"?>"), Kind::Xml);
        assert_eq!(kind(b"  \n<feedback>"), Kind::Xml);
        assert_eq!(kind(b"From MAILER-DAEMON Thu Jan  1 00:00:00 2026\n"), Kind::Mbox);
        assert_eq!(kind(b"Return-Path: <a@b>\nFrom: x\n"), Kind::Email);
        assert_eq!(kind(b"{\"organization-name\":\"x\",\"policies\":[]}"), Kind::TlsReportJson);
        assert_eq!(kind(b""), Kind::Empty);
        assert_eq!(kind(b" \r\n"), Kind::Empty);
    }

    #[test]
    fn unknown_content_is_described() {
        assert!(matches!(kind(b"%PDF-1.4"), Kind::Unknown(s) if s.contains("PDF")));
        assert!(matches!(kind(b"\x00\x01\x02"), Kind::Unknown(s) if s.contains("00 01 02")));
        assert!(matches!(kind(b"hello\n"), Kind::Unknown(s) if s.contains("text")));
    }
}
