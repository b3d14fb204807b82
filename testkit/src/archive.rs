//! Archives and mail around reports: gzip, zip, base64 MIME, an email with
//! an attachment, an mbox.

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
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
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

/// An RFC 5322 multipart/mixed message with a short text part and one
/// base64 attachment.
pub fn email_with_attachment(
    subject: &str,
    file_name: &str,
    content_type: &str,
    data: &[u8],
) -> Vec<u8> {
    format!(
        "From: DMARC Reporter <noreply-dmarc@reporter.example>\n\
         To: dmarc@example.com\n\
         Subject: {subject}\n\
         Date: Tue, 20 Oct 2026 23:59:59 +0000\n\
         Message-ID: <{}@reporter.example>\n\
         MIME-Version: 1.0\n\
         Content-Type: multipart/mixed; boundary=\"=-boundary-=\"\n\
         \n\
         --=-boundary-=\n\
         Content-Type: text/plain; charset=utf-8\n\
         \n\
         This is a DMARC aggregate report.\n\
         --=-boundary-=\n\
         Content-Type: {content_type}; name=\"{file_name}\"\n\
         Content-Disposition: attachment; filename=\"{file_name}\"\n\
         Content-Transfer-Encoding: base64\n\
         \n\
         {}\
         --=-boundary-=--\n",
        subject.len() ^ data.len(),
        base64_lines(data)
    )
    .into_bytes()
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
