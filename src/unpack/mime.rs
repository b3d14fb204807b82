//! Walks an RFC 5322 message's MIME tree (mail-parser) for report
//! attachments, whatever their Content-Type says, descending into
//! forwarded `message/rfc822` parts.

use std::io::Cursor;

use mail_parser::{Message, MessageParser, MimeHeaders, PartType};

use super::{Ctx, Hints, MAX_NESTING, Sink, UnpackError, sniff};
use crate::unpack::sniff::Kind;

/// What a message turned out to hold besides aggregate reports.
#[derive(Default)]
struct Seen {
    failure_report: bool,
    tls_report: bool,
}

impl<S: Sink> Ctx<'_, S> {
    /// Unpacks every report in an email.
    pub(super) fn email(
        &mut self,
        location: &str,
        bytes: &[u8],
        depth: usize,
    ) -> Result<(), S::Fatal> {
        let Some(message) = MessageParser::default().parse(bytes) else {
            self.problem(location, UnpackError::Unrecognised("the email cannot be read".into()));
            return Ok(());
        };
        let (found, problems) = (self.found, self.problems);
        let mut seen = Seen::default();
        self.message(location, &message, depth, &mut seen)?;
        // Say why the message holds no report, unless a part already did.
        if self.found == found && self.problems == problems {
            let error = if seen.failure_report {
                UnpackError::FailureReport
            } else if seen.tls_report {
                UnpackError::TlsReport
            } else {
                let subject = message
                    .subject()
                    .map(|s| format!(" (subject \"{}\")", s.chars().take(80).collect::<String>()))
                    .unwrap_or_default();
                UnpackError::NoReport(subject)
            };
            self.problem(location, error);
        }
        Ok(())
    }

    fn message(
        &mut self,
        location: &str,
        message: &Message<'_>,
        depth: usize,
        seen: &mut Seen,
    ) -> Result<(), S::Fatal> {
        if depth > MAX_NESTING {
            self.problem(location, UnpackError::TooDeep);
            return Ok(());
        }
        if let Some(ct) = message.content_type()
            && ct.ctype().eq_ignore_ascii_case("multipart")
            && ct.subtype().is_some_and(|s| s.eq_ignore_ascii_case("report"))
        {
            match ct.attribute("report-type").map(str::to_ascii_lowercase).as_deref() {
                Some("feedback-report") => seen.failure_report = true,
                Some("tlsrpt") => seen.tls_report = true,
                _ => {}
            }
        }
        for (index, part) in message.parts.iter().enumerate() {
            let content_type = part.content_type().map(|ct| match ct.subtype() {
                Some(sub) => format!("{}/{}", ct.ctype(), sub).to_ascii_lowercase(),
                None => ct.ctype().to_ascii_lowercase(),
            });
            match content_type.as_deref() {
                Some("message/feedback-report") => seen.failure_report = true,
                Some(t) if t.starts_with("application/tlsrpt") => seen.tls_report = true,
                _ => {}
            }
            let name = part.attachment_name().map(str::to_owned);
            let part_location = format!(
                "{location} > {}",
                name.clone().unwrap_or_else(|| format!("part {}", index + 1))
            );
            let hints = Hints { content_type, file_name: name, known_utf8: false };
            match &part.body {
                PartType::Multipart(_) => {}
                PartType::Message(inner) => {
                    self.message(&part_location, inner, depth + 1, seen)?;
                }
                // An HTML body is never a report.
                PartType::Html(_) => {}
                PartType::Text(text) => {
                    // Reporters send XML as text/xml (decoded to UTF-8 by the
                    // mail parser); other text is the human-readable body.
                    let bytes = text.as_bytes();
                    let head = &bytes[..bytes.len().min(sniff::HEAD_SIZE)];
                    if sniff::classify(head, &hints) == Kind::Xml && is_feedback_xml(head) {
                        let hints = Hints { known_utf8: true, ..hints };
                        self.stream(
                            &part_location,
                            &mut Cursor::new(bytes),
                            &hints,
                            depth + 1,
                            None,
                        )?;
                    } else if sniff::classify(head, &hints) == Kind::TlsReportJson {
                        seen.tls_report = true;
                    }
                }
                PartType::Binary(bytes) | PartType::InlineBinary(bytes) => {
                    let head = &bytes[..bytes.len().min(sniff::HEAD_SIZE)];
                    match sniff::classify(head, &hints) {
                        Kind::Gzip | Kind::Zip | Kind::Xml => {
                            self.stream(
                                &part_location,
                                &mut Cursor::new(bytes.as_ref()),
                                &hints,
                                depth + 1,
                                None,
                            )?;
                        }
                        Kind::TlsReportJson => seen.tls_report = true,
                        _ => {}
                    }
                }
            }
        }
        Ok(())
    }
}

/// Whether XML text is (probably) an aggregate report rather than, say, an
/// XHTML body: a `feedback` element (perhaps prefixed) opens in its head.
fn is_feedback_xml(head: &[u8]) -> bool {
    memchr::memmem::find_iter(head, b"feedback").any(|at| {
        let before = &head[..at];
        let opens = before.ends_with(b"<")
            || before.rsplit(|&b| b == b'<').next().is_some_and(|prefix| {
                prefix.ends_with(b":")
                    && prefix[..prefix.len() - 1]
                        .iter()
                        .all(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'-')
            });
        let after = head.get(at + b"feedback".len());
        opens && after.is_none_or(|&b| b == b'>' || b == b'/' || b.is_ascii_whitespace())
    })
}

#[cfg(test)]
mod tests {
    use super::is_feedback_xml;

    #[test]
    fn feedback_elements_are_told_from_html_mentioning_feedback() {
        assert!(is_feedback_xml(b"<?xml version='1.0'?>\n<feedback>"));
        assert!(is_feedback_xml(b"<ns1:feedback xmlns:ns1='x'>"));
        assert!(is_feedback_xml(b"<feedback xmlns='urn:ietf:params:xml:ns:dmarc-2.0'>"));
        assert!(!is_feedback_xml(b"<div>Thank you for your feedback</div>"));
        assert!(!is_feedback_xml(b"<a href='/feedback'>"));
    }
}
