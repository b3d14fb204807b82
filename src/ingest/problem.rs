//! Why an input (or a part of it) failed, as a kind callers can match on
//! (notify, `--format json`, tests) and the words users read.

use std::fmt;
use std::io;

use serde::Serialize;

use crate::parse::ParseError;
use crate::unpack::UnpackError;

pub use crate::model::FailureKind;

impl FailureKind {
    /// The kind of an unpacking error.
    pub fn of_unpack(e: &UnpackError) -> Self {
        match e {
            UnpackError::Empty | UnpackError::Unrecognised(_) | UnpackError::NoReport(_) => {
                FailureKind::NotAReport
            }
            UnpackError::FailureReport => FailureKind::FailureReport,
            UnpackError::TlsReport => FailureKind::TlsReport,
            UnpackError::Corrupt { .. } | UnpackError::Decode(_) => FailureKind::Corrupt,
            UnpackError::Limit(_) | UnpackError::TooDeep | UnpackError::TooManyEntries { .. } => {
                FailureKind::Limit
            }
            UnpackError::Io(_) => FailureKind::Unreadable,
        }
    }
}

/// One problem found in an input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// Where: the input's name, or an attachment or archive entry in it.
    pub location: String,
    /// What kind of problem.
    pub kind: FailureKind,
    /// The error, in words.
    pub message: String,
}

impl Problem {
    /// A problem at `location`.
    pub fn new(location: impl Into<String>, kind: FailureKind, message: impl Into<String>) -> Self {
        Problem { location: location.into(), kind, message: message.into() }
    }

    /// An unpacking error at `location`.
    pub fn unpack(location: impl Into<String>, e: &UnpackError) -> Self {
        Problem::new(location, FailureKind::of_unpack(e), e.to_string())
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

/// A parse error as users should read it, with its kind: I/O errors from
/// below the parser (limits, corrupt compression) in the words of the
/// layer that raised them.
pub(crate) fn describe_parse_error(e: ParseError) -> (FailureKind, String) {
    match e {
        ParseError::Io(io) => describe_read_error(io),
        ParseError::NotAggregate(_) | ParseError::Empty => (FailureKind::NotAReport, e.to_string()),
        other => (FailureKind::Malformed, other.to_string()),
    }
}

/// A read error met while streaming a document: a limit, or a decoder
/// error that `unpack` already labelled ("the gzip data is truncated").
pub(crate) fn describe_read_error(io: io::Error) -> (FailureKind, String) {
    let e = UnpackError::from_io("input", io);
    (FailureKind::of_unpack(&e), e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::Capped;
    use std::io::Read;

    #[test]
    fn kinds_follow_the_error_not_its_words() {
        assert_eq!(FailureKind::of_unpack(&UnpackError::TlsReport), FailureKind::TlsReport);
        let zip = UnpackError::TooManyEntries { entries: 101, limit: 100 };
        assert_eq!(FailureKind::of_unpack(&zip), FailureKind::Limit);
        assert!(zip.to_string().contains("--max-zip-entries"), "{zip}");
        let (kind, _) = describe_parse_error(ParseError::Empty);
        assert_eq!(kind, FailureKind::NotAReport);
        let (kind, message) =
            describe_parse_error(ParseError::Missing { line: 3, what: "no report_id".into() });
        assert_eq!((kind, message.as_str()), (FailureKind::Malformed, "line 3: no report_id"));
        // A size limit met below the parser keeps its kind through the io::Error.
        let mut capped =
            Capped::new(&b"0123456789"[..], 4, "decompressed report", "--max-report-size");
        let err = capped.read_to_end(&mut Vec::new()).unwrap_err();
        let (kind, message) = describe_parse_error(ParseError::Io(err));
        assert_eq!(kind, FailureKind::Limit, "{message}");
        assert!(message.contains("--max-report-size"), "{message}");
        let problem = Problem::new("a.xml", FailureKind::Corrupt, "gzip data is corrupt");
        assert_eq!(problem.to_string(), "a.xml: gzip data is corrupt");
    }
}
