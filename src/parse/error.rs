//! Why a document could not be read, and the helpers that build those errors.

use super::input;

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

/// The document ended inside `<feedback>`.
pub(super) fn truncated(line: u64) -> ParseError {
    ParseError::Xml {
        line,
        message: "the document ends before </feedback> (it is truncated)".into(),
    }
}

/// An element's text went past [`MAX_TEXT`](super::core::MAX_TEXT).
pub(super) fn text_too_long(line: u64) -> ParseError {
    ParseError::Refused { line, what: "an element's text is longer than 64 KiB" }
}

/// A value shortened for an error message.
pub(super) fn shorten(value: &str) -> String {
    const MAX: usize = 60;
    if value.chars().count() <= MAX {
        value.to_owned()
    } else {
        let cut: String = value.chars().take(MAX).collect();
        format!("{cut}...")
    }
}

/// A quick-xml error as a parse error at `line`.
pub(super) fn xml_error(e: quick_xml::Error, line: u64) -> ParseError {
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
