//! `dmarc-report`: DMARC aggregate report processing.
//!
//! The data flows through one module per stage:
//!
//! 1. [`fetch`]: where inputs come from (IMAP, files, directories, mbox, Maildir, stdin);
//! 2. [`unpack`]: gzip, zip and MIME messages down to XML documents;
//! 3. [`parse`]: streaming XML to the [`model`], record by record;
//! 4. [`store`]: SQLite, idempotent, loss-free;
//! 5. [`analyse`]: who sends as the domain (summaries, sender classes and the readiness verdict);
//! 6. [`render`]: PNG charts and a self-contained HTML page from plain view types;
//!
//! [`ingest`] wires the stages together; [`mailbox`] runs IMAP folders through
//! ingest for `fetch`; [`config`] reads the settings file (IMAP accounts,
//! known senders, readiness thresholds); [`cli`] is the command line (flags,
//! then settings) and [`commands`] holds one module per command. [`model`],
//! [`limits`] and [`units`] (the day, dates, percentages) are shared by every
//! stage.

pub mod analyse;
pub mod cli;
pub mod commands;
pub mod config;
pub mod dns;
pub mod fetch;
pub mod ingest;
pub mod limits;
pub mod mailbox;
pub mod model;
pub mod notify;
pub mod parse;
pub mod render;
pub mod store;
#[cfg(test)]
mod testing;
pub mod tls;
pub mod units;
pub mod unpack;
