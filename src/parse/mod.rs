//! Streaming parser for DMARC aggregate reports, both schema generations
//! (RFC 7489 Appendix C and RFC 9990), record by record.
//!
//! [`ReportReader::open`] reads up to the first `<record>` and returns the
//! report header; [`ReportReader::next_record`] then yields one record at a
//! time, so memory does not grow with the number of records.
//!
//! The parser never panics on input. It is strict where a wrong value would
//! corrupt the data (a `<count>` that is not a number is an error naming the
//! line) and lenient where reporters differ harmlessly: every tolerance is
//! listed in [`lenient`]. Documents with a `<!DOCTYPE>` are refused, so no
//! entity is ever expanded and nothing external is fetched.

//!
//! The modules, from the bottom up: [`input`] decodes the byte stream,
//! `error` and `element` hold the error type and the table of known
//! elements, `core` is the event loop with the safety limits, `record` and
//! `header` assemble a record and the report header on top of it, and two
//! readers drive it: `reader` (the stream reader, [`ReportReader`]) and
//! `chunks` (the piece reader, which parses runs of whole records on
//! worker threads and gives anything else back to the stream reader).

mod chunks;
mod core;
mod element;
mod error;
mod header;
pub mod input;
pub mod lenient;
mod reader;
mod record;

pub use element::RFC9990_NAMESPACE;
pub use error::ParseError;
pub use reader::{ParseOptions, ReportReader};
