//! Archives and mail around reports: gzip, zip, base64 MIME, an email
//! carrying a report file, an mbox.

use std::io::Write;

use flate2::Compression;
use flate2::write::GzEncoder;

/// `data` gzip-compressed.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::default());
    enc.write_all(data).expect("gzip in memory");
    enc.finish().expect("gzip in memory")
}

/// A zip archive (deflated) holding `entries` as `(name, bytes)`.
pub fn zip(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    // A fixed date: the same entries always give the same bytes.
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(zip::DateTime::default());
    for (name, data) in entries {
        writer.start_file(*name, options).expect("zip entry");
        writer.write_all(data).expect("zip entry data");
    }
    writer.finish().expect("zip in memory").into_inner()
}

/// Standard base64 with 76-character lines (CRLF-free, LF ends), for MIME.
pub fn base64_lines(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut encoded = String::with_capacity(data.len() * 4 / 3 + 4);
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                encoded.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                encoded.push('=');
            }
        }
    }
    let mut out = String::with_capacity(encoded.len() + encoded.len() / 76 + 1);
    for line in encoded.as_bytes().chunks(76) {
        out.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        out.push('\n');
    }
    out
}

/// A report file as an email carries it: base64, under a name.
#[derive(Debug, Clone, Copy)]
pub struct Attachment<'a> {
    /// `Content-Type` (`application/gzip`, `application/zip`, `text/xml`).
    pub content_type: &'a str,
    /// The file name (`receiver!domain!begin!end.xml.gz`).
    pub file_name: &'a str,
    /// The file's bytes.
    pub data: &'a [u8],
}

/// An RFC 5322 message that carries one report file, with LF line ends:
/// either the file is the whole message (as Google and Mimecast send it)
/// or it is attached after a short text part (multipart/mixed).
#[derive(Debug, Clone, Default)]
pub struct Email {
    headers: Vec<(String, String)>,
    multipart: Option<Multipart>,
}

#[derive(Debug, Clone)]
struct Multipart {
    boundary: String,
    preamble: Option<String>,
    text: String,
}

impl Email {
    /// A message without headers whose body is the attachment alone.
    pub fn new() -> Self {
        Email::default()
    }

    /// Adds a header, written in the order given (`value` may be folded
    /// with `\n\t`).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Makes it multipart/mixed: `preamble` (the line non-MIME readers
    /// show), a text/plain part holding `text`, then the attachment.
    pub fn multipart(mut self, boundary: &str, preamble: Option<&str>, text: &str) -> Self {
        self.multipart = Some(Multipart {
            boundary: boundary.to_owned(),
            preamble: preamble.map(str::to_owned),
            text: text.to_owned(),
        });
        self
    }

    /// Appends the message carrying `attachment` to `out`.
    pub fn write(&self, out: &mut Vec<u8>, attachment: &Attachment<'_>) {
        for (name, value) in &self.headers {
            out.extend_from_slice(format!("{name}: {value}\n").as_bytes());
        }
        let file = format!(
            "Content-Type: {ct}; name=\"{name}\"\n\
             Content-Disposition: attachment; filename=\"{name}\"\n\
             Content-Transfer-Encoding: base64\n\n{}",
            base64_lines(attachment.data),
            ct = attachment.content_type,
            name = attachment.file_name,
        );
        match &self.multipart {
            None => out.extend_from_slice(file.as_bytes()),
            Some(Multipart { boundary, preamble, text }) => {
                let preamble = preamble.as_ref().map(|p| format!("{p}\n\n")).unwrap_or_default();
                out.extend_from_slice(
                    format!(
                        "Content-Type: multipart/mixed; boundary=\"{boundary}\"\n\n{preamble}\
                         --{boundary}\nContent-Type: text/plain; charset=us-ascii\n\n{text}\n\
                         --{boundary}\n{file}\n--{boundary}--\n"
                    )
                    .as_bytes(),
                );
            }
        }
    }

    /// The message carrying `attachment`.
    pub fn bytes(&self, attachment: &Attachment<'_>) -> Vec<u8> {
        let mut out = Vec::with_capacity(1024 + attachment.data.len() * 4 / 3);
        self.write(&mut out, attachment);
        out
    }
}

/// A multipart/mixed message from `noreply-dmarc@reporter.example` with a
/// short text part and one base64 attachment.
pub fn email_with_attachment(
    subject: &str,
    file_name: &str,
    content_type: &str,
    data: &[u8],
) -> Vec<u8> {
    Email::new()
        .header("From", "DMARC Reporter <noreply-dmarc@reporter.example>")
        .header("To", "dmarc@example.com")
        .header("Subject", subject)
        .header("Date", "Tue, 20 Oct 2026 23:59:59 +0000")
        .header("Message-ID", &format!("<{}@reporter.example>", subject.len() ^ data.len()))
        .header("MIME-Version", "1.0")
        .multipart("=-boundary-=", None, "This is a DMARC aggregate report.")
        .bytes(&Attachment { content_type, file_name, data })
}

/// A rua email from `reporter.example` carrying `xml`, a report of
/// `domain` over the day starting at `begin`, gzip-compressed and named as
/// reporters name it (`reporter.example!domain!begin!end.xml.gz`).
pub fn rua_email(domain: &str, report_id: &str, begin: i64, xml: &[u8]) -> Vec<u8> {
    email_with_attachment(
        &format!("Report Domain: {domain} Report-ID: {report_id}"),
        &format!("reporter.example!{domain}!{begin}!{}.xml.gz", begin + 86_399),
        "application/gzip",
        &gzip(xml),
    )
}

/// An mbox file (mboxo `From ` separator lines) holding `messages`.
pub fn mbox(messages: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for message in messages {
        out.extend_from_slice(b"From noreply-dmarc@reporter.example Tue Oct 20 23:59:59 2026\n");
        out.extend_from_slice(message);
        if !message.ends_with(b"\n") {
            out.push(b'\n');
        }
        out.push(b'\n');
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn base64_lines_match_the_rfc_4648_vectors_and_wrap_at_76() {
        let cases =
            [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foobar", "Zm9vYmFy")];
        for (plain, encoded) in cases {
            let want = if encoded.is_empty() { String::new() } else { format!("{encoded}\n") };
            assert_eq!(base64_lines(plain.as_bytes()), want, "{plain:?}");
        }
        let lines = base64_lines(&[0u8; 100]);
        let lengths: Vec<usize> = lines.lines().map(str::len).collect();
        assert_eq!(lengths, [76, 60]);
    }

    #[test]
    fn a_multipart_email_is_read_back_with_its_attachment_by_the_crate() {
        let xml = crate::report::report_xml(
            "r.example",
            "example.com",
            "1",
            0,
            86_399,
            &[("192.0.2.1", 3)],
        );
        let data = gzip(xml.as_bytes());
        let email = Email::new()
            .header("From", "dmarc@receiver.example")
            .header("Subject", "Report domain: example.com")
            .header("MIME-Version", "1.0")
            .multipart("b-1", Some("This is a multi-part message in MIME format."), "A report.\n");
        let attachment =
            Attachment { content_type: "application/gzip", file_name: "r.xml.gz", data: &data };
        let bytes = email.bytes(&attachment);
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(
            text.contains("\n\nThis is a multi-part message in MIME format.\n\n--b-1\n"),
            "{text}"
        );
        assert!(text.ends_with("\n--b-1--\n"), "{text}");
        let alone = Email::new().header("MIME-Version", "1.0").bytes(&attachment);
        assert!(alone.starts_with(
            b"MIME-Version: 1.0\nContent-Type: application/gzip; name=\"r.xml.gz\"\n"
        ));
        let store = dmarc_report::store::Store::open_in_memory().unwrap();
        let mut ingester = dmarc_report::ingest::Ingester::new(&store, Default::default());
        for (name, message) in [("multipart", bytes), ("alone", alone)] {
            let outcome = ingester.ingest_bytes(name, &message, &Default::default()).unwrap();
            assert!(outcome.is_ok(), "{name}: {outcome:?}");
            assert_eq!(outcome.reports_new + outcome.reports_duplicate, 1, "{name}: {outcome:?}");
        }
        assert_eq!(ingester.finish().unwrap().reports_duplicate, 1);
    }

    #[test]
    fn the_same_zip_entries_give_the_same_bytes() {
        assert_eq!(zip(&[("a.xml", b"<feedback/>")]), zip(&[("a.xml", b"<feedback/>")]));
    }
}
