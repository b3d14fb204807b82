//! Size limits on untrusted input, and the reader that enforces them.
//!
//! Every decompression and every read whose size the sender controls goes
//! through [`Capped`], so a zip or gzip bomb ends with a clear error at the
//! limit instead of exhausting memory or disk.

use std::fmt;
use std::io::{self, Read};

/// Limits applied to every input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest decompressed XML document (one report), in bytes.
    pub max_report_size: u64,
    /// Largest email, zip archive or other input read into memory, in bytes.
    pub max_message_size: u64,
    /// Most entries a zip archive may have.
    pub max_zip_entries: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            // Google's and Microsoft's largest reports are tens of MB of XML;
            // a gigabyte leaves room while stopping a bomb early.
            max_report_size: 1 << 30,
            // Large rua emails are a few MB; zipped reports compress ~20:1.
            max_message_size: 64 << 20,
            max_zip_entries: 100,
        }
    }
}

/// Which limit was exceeded; carried inside `io::Error` so that it survives
/// the decompressors and the XML reader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitExceeded {
    /// What was being read ("decompressed report", "message", ...).
    pub what: &'static str,
    /// The limit in bytes.
    pub limit: u64,
    /// The command-line flag that raises it.
    pub flag: &'static str,
}

impl fmt::Display for LimitExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the {} is larger than the limit of {} (raise it with {})",
            self.what,
            human_bytes(self.limit),
            self.flag
        )
    }
}

impl std::error::Error for LimitExceeded {}

impl LimitExceeded {
    /// Finds a `LimitExceeded` inside an I/O error, if that is what it is.
    pub fn from_io(e: &io::Error) -> Option<&LimitExceeded> {
        e.get_ref()?.downcast_ref::<LimitExceeded>()
    }

    /// Wraps the limit into an I/O error.
    pub fn into_io(self) -> io::Error {
        io::Error::other(self)
    }
}

/// A reader that fails, instead of truncating, once more than `limit` bytes
/// have been read.
pub struct Capped<R> {
    inner: R,
    remaining: u64,
    exceeded: LimitExceeded,
}

impl<R: Read> Capped<R> {
    /// Caps `inner` at `limit` bytes.
    pub fn new(inner: R, limit: u64, what: &'static str, flag: &'static str) -> Self {
        Capped { inner, remaining: limit, exceeded: LimitExceeded { what, limit, flag } }
    }
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 {
            // At the limit: one more byte means the input is too large.
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe)? {
                0 => Ok(0),
                _ => Err(self.exceeded.clone().into_io()),
            };
        }
        let want = buf.len().min(self.remaining.min(usize::MAX as u64) as usize);
        let n = self.inner.read(&mut buf[..want])?;
        self.remaining -= n as u64;
        Ok(n)
    }
}

/// Reads all of `reader` into memory, failing beyond `limit` bytes.
pub fn read_capped(
    reader: impl Read,
    limit: u64,
    what: &'static str,
    flag: &'static str,
) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    Capped::new(reader, limit, what, flag).read_to_end(&mut out)?;
    Ok(out)
}

/// `1073741824` as `1 GiB`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} bytes");
    }
    let mut value = n as f64;
    let mut unit = "bytes";
    for u in UNITS {
        if value < 1024.0 {
            break;
        }
        value /= 1024.0;
        unit = u;
    }
    if value.fract() == 0.0 { format!("{value} {unit}") } else { format!("{value:.1} {unit}") }
}

/// Parses `64M`, `1G`, `500k`, `1048576` (binary units) for the CLI.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let n: u64 = digits.parse().map_err(|_| format!("\"{s}\" is not a size (e.g. 64M, 1G)"))?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        _ => return Err(format!("\"{s}\": unknown unit (use K, M or G)")),
    };
    n.checked_mul(1u64 << shift).ok_or_else(|| format!("\"{s}\" is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capped_reader_fails_past_the_limit_instead_of_truncating() {
        let data = vec![7u8; 1000];
        assert_eq!(read_capped(&data[..], 1000, "report", "--x").unwrap().len(), 1000);
        let err =
            read_capped(&data[..], 999, "decompressed report", "--max-report-size").unwrap_err();
        let limit = LimitExceeded::from_io(&err).expect("a limit error");
        assert_eq!(limit.limit, 999);
        assert!(err.to_string().contains("--max-report-size"), "{err}");
    }

    #[test]
    fn sizes_parse_and_print_in_binary_units() {
        assert_eq!(parse_size("64M"), Ok(64 << 20));
        assert_eq!(parse_size("1g"), Ok(1 << 30));
        assert_eq!(parse_size("1000"), Ok(1000));
        assert!(parse_size("lots").is_err());
        assert_eq!(human_bytes(64 << 20), "64 MiB");
        assert_eq!(human_bytes(1536), "1.5 KiB");
    }
}
