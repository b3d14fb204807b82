//! The ingest pipeline: one input (a file, a message, standard input) at a
//! time through unpack → parse → store.
//!
//! One bad input never stops a batch: it is recorded with its bytes in
//! `failed_inputs` and the run carries on. Only storage failures are fatal.
//! Reports are committed in batches; each report sits in its own savepoint,
//! so one that breaks half-way leaves no rows behind.

use std::fs::File;
use std::io::{self, BufReader, Cursor, Read};
use std::path::Path;
use std::sync::mpsc::{self, SyncSender};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::fetch::files;
use crate::limits::{Limits, read_capped};
use crate::model::{Record, ReportHeader};
use crate::parse::{ParseError, ParseOptions, ReportReader};
use crate::store::raw::{self, RawCapture};
use crate::store::{RawMeta, RecordRow, ReportTail, Store, StoreError};
use crate::unpack::{self, Document, Hints, Sink, UnpackError, sniff};

/// Reports per transaction.
const BATCH_REPORTS: usize = 500;
/// Records per transaction, so one huge batch does not grow the WAL unduly.
const BATCH_RECORDS: u64 = 1_000_000;

/// What an ingest run did, as printed by `ingest --format json`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct IngestSummary {
    /// Inputs processed (files, messages, standard input, retried inputs).
    pub inputs: u64,
    /// Reports stored for the first time.
    pub reports_new: u64,
    /// Reports that were already stored.
    pub reports_duplicate: u64,
    /// Records stored.
    pub records: u64,
    /// Inputs that failed, each with its error.
    pub failed: Vec<Failure>,
    /// Harmless oddities, each prefixed with where it was found.
    pub warnings: Vec<String>,
}

/// One failed input.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Failure {
    /// The input.
    pub input: String,
    /// Every problem found in it, `location: error`, joined by `; `.
    pub error: String,
}

/// What happened to one input; `fetch` uses it to decide where a message goes.
#[derive(Debug, Clone, Default)]
pub struct InputOutcome {
    /// Reports stored for the first time.
    pub reports_new: u64,
    /// Reports already stored.
    pub reports_duplicate: u64,
    /// Records stored.
    pub records: u64,
    /// Problems, each `location: error`.
    pub errors: Vec<String>,
    /// Warnings, each `location: warning`.
    pub warnings: Vec<String>,
}

impl InputOutcome {
    /// Every report in the input is stored (new or duplicate) and nothing failed.
    pub fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }
}

/// Feeds inputs into the store.
pub struct Ingester<'s> {
    store: &'s Store,
    limits: Limits,
    summary: IngestSummary,
    batch_reports: usize,
    batch_records: u64,
}

impl<'s> Ingester<'s> {
    /// An ingester writing to `store`.
    pub fn new(store: &'s Store, limits: Limits) -> Self {
        Ingester {
            store,
            limits,
            summary: IngestSummary::default(),
            batch_reports: 0,
            batch_records: 0,
        }
    }

    /// Ingests each path: files, directories (recursively, Maildir aware),
    /// mbox files, and `-` for standard input.
    pub fn ingest_paths(&mut self, paths: &[String]) -> Result<(), StoreError> {
        for path in paths {
            if path == "-" {
                self.ingest_stdin()?;
                continue;
            }
            // The database itself may sit in the folder being read.
            let skip = self.store.path().map(files::database_files).unwrap_or_default();
            let expanded = files::expand(Path::new(path), &skip);
            for item in expanded {
                match item {
                    Ok(file) => self.ingest_file(&file)?,
                    Err(problem) => self.fail_without_bytes(&problem.path, &problem.error),
                }
            }
        }
        Ok(())
    }

    /// Ingests one file (an mbox file is split into its messages).
    pub fn ingest_file(&mut self, path: &Path) -> Result<(), StoreError> {
        let name = path.display().to_string();
        let mut file = match File::open(path) {
            Ok(f) => BufReader::with_capacity(256 * 1024, f),
            Err(e) => {
                self.fail_without_bytes(&name, &format!("cannot read: {e}"));
                return Ok(());
            }
        };
        let head = match sniff::read_head(&mut file) {
            Ok(head) => head,
            Err(e) => {
                self.fail_without_bytes(&name, &format!("cannot read: {e}"));
                return Ok(());
            }
        };
        if sniff::classify(&head, &Hints::default()) == sniff::Kind::Mbox {
            return self.ingest_mbox(&name, Cursor::new(head).chain(file));
        }
        let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        let hints = Hints { content_type: None, file_name, known_utf8: false };
        let outcome = self.process(&name, Cursor::new(head).chain(file), &hints)?;
        if !outcome.is_ok() {
            // Keep the bytes so the input can be retried after a fix.
            let kept = File::open(path).and_then(|f| {
                read_capped(f, self.limits.max_message_size, "input", "--max-message-size")
            });
            self.record_failure(&name, kept.ok().as_deref(), &outcome)?;
        }
        self.account(&name, outcome)?;
        self.maybe_commit()
    }

    /// Ingests standard input.
    pub fn ingest_stdin(&mut self) -> Result<(), StoreError> {
        let name = "<stdin>";
        match read_capped(
            io::stdin().lock(),
            self.limits.max_report_size,
            "input",
            "--max-report-size",
        ) {
            Ok(bytes) => {
                let head = &bytes[..bytes.len().min(sniff::HEAD_SIZE)];
                if sniff::classify(head, &Hints::default()) == sniff::Kind::Mbox {
                    return self.ingest_mbox(name, Cursor::new(bytes));
                }
                self.ingest_bytes(name, &bytes, &Hints::default()).map(drop)
            }
            Err(e) => {
                self.fail_without_bytes(name, &UnpackError::from_io("input", e).to_string());
                Ok(())
            }
        }
    }

    /// Ingests one input held in memory (a fetched message, a retried
    /// input) and returns what happened to it.
    pub fn ingest_bytes(
        &mut self,
        name: &str,
        bytes: &[u8],
        hints: &Hints,
    ) -> Result<InputOutcome, StoreError> {
        let outcome = self.process(name, bytes, hints)?;
        if !outcome.is_ok() {
            self.record_failure(name, Some(bytes), &outcome)?;
        }
        self.account(name, outcome.clone())?;
        self.maybe_commit()?;
        Ok(outcome)
    }

    /// Tries every stored failed input again; those that now work are
    /// removed from the failed list.
    pub fn retry_failed(&mut self) -> Result<(), StoreError> {
        for failure in self.store.failures()? {
            let Some((name, data)) = self.store.failure_data(failure.id)? else {
                self.summary.warnings.push(format!(
                    "{}: not retried: its bytes were too large to keep; ingest the file again",
                    failure.name
                ));
                continue;
            };
            // Once it works, `account` forgets its failure.
            self.ingest_bytes(&name, &data, &Hints::default())?;
        }
        Ok(())
    }

    /// Commits what is pending and returns the summary.
    pub fn finish(self) -> Result<IngestSummary, StoreError> {
        if self.store.in_transaction() {
            self.store.commit()?;
        }
        Ok(self.summary)
    }

    /// Commits the current batch now (`fetch` calls this before it moves
    /// messages on the server).
    pub fn commit(&mut self) -> Result<(), StoreError> {
        if self.store.in_transaction() {
            self.store.commit()?;
        }
        self.batch_reports = 0;
        self.batch_records = 0;
        Ok(())
    }

    /// Records an input that cannot even be read (too large to download,
    /// say): it is listed by `errors`, without bytes.
    pub fn fail_input(&mut self, name: &str, error: &str) -> Result<(), StoreError> {
        self.begin_if_needed()?;
        self.store.record_failure(name, None, &format!("{name}: {error}"), now())?;
        self.fail_without_bytes(name, error);
        Ok(())
    }

    /// The summary so far.
    pub fn summary(&self) -> &IngestSummary {
        &self.summary
    }

    fn ingest_mbox(&mut self, name: &str, reader: impl Read + Send) -> Result<(), StoreError> {
        let messages = mail_parser::mailbox::mbox::MessageIterator::new(BufReader::new(reader));
        for (index, message) in messages.enumerate() {
            let location = format!("{name} (message {})", index + 1);
            match message {
                Ok(message) => {
                    let contents = message.contents();
                    if contents.len() as u64 > self.limits.max_message_size {
                        let error = crate::limits::LimitExceeded {
                            what: "message",
                            limit: self.limits.max_message_size,
                            flag: "--max-message-size",
                        };
                        self.fail_without_bytes(&location, &error.to_string());
                        continue;
                    }
                    self.ingest_bytes(&location, contents, &Hints::default())?;
                }
                Err(e) => {
                    self.fail_without_bytes(&location, &format!("cannot read the mbox: {e}"));
                    break;
                }
            }
        }
        Ok(())
    }

    /// Ingests one input read from `input` (a stream that is neither a
    /// file nor in memory) and returns what happened to it. Its bytes are
    /// not kept when it fails: nothing holds them any more.
    pub fn ingest_reader(
        &mut self,
        name: &str,
        input: impl Read + Send,
        hints: &Hints,
    ) -> Result<InputOutcome, StoreError> {
        let outcome = self.process(name, input, hints)?;
        if !outcome.is_ok() {
            self.record_failure(name, None, &outcome)?;
        }
        self.account(name, outcome.clone())?;
        self.maybe_commit()?;
        Ok(outcome)
    }

    /// Runs one input through unpack, parse and store. A panic (a bug here
    /// or in a decoder crate) fails this input only: what it stored is
    /// rolled back and the batch goes on.
    fn process(
        &mut self,
        name: &str,
        input: impl Read + Send,
        hints: &Hints,
    ) -> Result<InputOutcome, StoreError> {
        self.begin_if_needed()?;
        let mut sink =
            StoreSink { store: self.store, outcome: InputOutcome::default(), now: now() };
        let limits = &self.limits;
        let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            unpack::unpack(name, input, hints, limits, &mut sink)
        }));
        match run {
            Ok(result) => {
                result?;
                Ok(sink.outcome)
            }
            Err(_) => {
                // The report being written was undone as the panic unwound
                // (its writer was dropped). Reports stored before it stay.
                let mut outcome = sink.outcome;
                outcome.errors.push(format!(
                    "{name}: internal error: reading this input stopped unexpectedly \
                     (a bug; please report it with the input)"
                ));
                Ok(outcome)
            }
        }
    }

    fn begin_if_needed(&self) -> Result<(), StoreError> {
        if !self.store.in_transaction() {
            self.store.begin()?;
        }
        Ok(())
    }

    fn maybe_commit(&mut self) -> Result<(), StoreError> {
        if self.batch_reports >= BATCH_REPORTS || self.batch_records >= BATCH_RECORDS {
            self.commit()?;
        }
        Ok(())
    }

    fn record_failure(
        &mut self,
        name: &str,
        bytes: Option<&[u8]>,
        outcome: &InputOutcome,
    ) -> Result<(), StoreError> {
        self.begin_if_needed()?;
        let mut error = outcome.errors.join("; ");
        if bytes.is_none() {
            error.push_str(" (the input is too large to keep a copy; it stays where it is)");
        }
        self.store.record_failure(name, bytes, &error, now())?;
        Ok(())
    }

    fn fail_without_bytes(&mut self, name: &str, error: &str) {
        self.summary.inputs += 1;
        self.summary
            .failed
            .push(Failure { input: name.to_owned(), error: format!("{name}: {error}") });
    }

    fn account(&mut self, input: &str, outcome: InputOutcome) -> Result<(), StoreError> {
        if outcome.is_ok() {
            // It may have failed before (and been fixed, or the limits raised).
            self.store.delete_failures_named(input)?;
        }
        let s = &mut self.summary;
        s.inputs += 1;
        s.reports_new += outcome.reports_new;
        s.reports_duplicate += outcome.reports_duplicate;
        s.records += outcome.records;
        s.warnings.extend(outcome.warnings);
        self.batch_reports += (outcome.reports_new + outcome.reports_duplicate) as usize;
        self.batch_records += outcome.records;
        if !outcome.errors.is_empty() {
            s.failed.push(Failure { input: input.to_owned(), error: outcome.errors.join("; ") });
        }
        Ok(())
    }
}

/// Rebuilds every stored report from its raw XML (after a parser fix).
pub fn reparse(store: &Store, limits: &Limits) -> Result<ReparseSummary, StoreError> {
    let mut summary = ReparseSummary::default();
    for id in store.report_ids()? {
        let Some((source, ingested_at, raw)) = store.raw_report(id)? else { continue };
        let chunks = store.raw_chunks(id)?;
        store.begin()?;
        let replacement = store.replace_report(id)?;
        // The report keeps the time it first arrived.
        let mut sink = StoreSink { store, outcome: InputOutcome::default(), now: ingested_at };
        let mut reader = raw::open(chunks);
        let mut capped = crate::limits::Capped::new(
            &mut reader,
            limits.max_report_size,
            "decompressed report",
            "--max-report-size",
        );
        sink.document(Document {
            location: source.clone(),
            file_name: raw.file_name.clone(),
            reader: &mut capped,
            known_utf8: raw.known_utf8,
        })?;
        let outcome = sink.outcome;
        if outcome.is_ok() {
            replacement.keep()?;
            summary.reports += 1;
            summary.records += outcome.records;
            if outcome.reports_duplicate > 0 {
                summary.merged += 1;
            }
            summary.warnings.extend(outcome.warnings);
        } else {
            // Keep the report as it was: the new parser cannot read it.
            drop(replacement);
            summary.failed.push(Failure { input: source, error: outcome.errors.join("; ") });
        }
        store.commit()?;
    }
    Ok(summary)
}

/// What `reparse` did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReparseSummary {
    /// Reports parsed again and stored.
    pub reports: u64,
    /// Records stored.
    pub records: u64,
    /// Reports that turned out to be copies of another stored report and
    /// were merged into it.
    pub merged: u64,
    /// Reports the current parser cannot read (left as they were).
    pub failed: Vec<Failure>,
    /// Warnings.
    pub warnings: Vec<String>,
}

/// Stores the documents of one input.
struct StoreSink<'a> {
    store: &'a Store,
    outcome: InputOutcome,
    now: i64,
}

impl StoreSink<'_> {
    fn fail(&mut self, location: &str, error: impl std::fmt::Display) {
        self.outcome.errors.push(format!("{location}: {error}"));
    }

    /// Stores what the parser thread sends, in one savepoint. Returning
    /// drops `rx`, which stops the parser (a duplicate needs no more).
    fn store_document(
        &mut self,
        location: &str,
        meta: &RawMeta,
        rx: mpsc::Receiver<Parsed>,
    ) -> Result<(), StoreError> {
        let header = match rx.recv() {
            Ok(Parsed::Header(header)) => header,
            Ok(Parsed::Failed(error)) => {
                self.fail(location, error);
                return Ok(());
            }
            // The parser panicked; `document` records it.
            _ => return Ok(()),
        };
        let Some(mut writer) = self.store.start_report(&header, location, self.now)? else {
            self.outcome.reports_duplicate += 1;
            return Ok(());
        };
        for message in rx {
            match message {
                Parsed::Records(batch) => writer.rows(&batch)?,
                Parsed::RawChunk(chunk) => writer.raw_chunk(&chunk)?,
                Parsed::Done { warnings, late_extensions } => {
                    let extensions = match &late_extensions[..] {
                        [] => Vec::new(),
                        late => header.extensions.iter().chain(late).cloned().collect(),
                    };
                    self.outcome
                        .warnings
                        .extend(warnings.iter().map(|w| format!("{location}: {w}")));
                    let tail = ReportTail { warnings, extensions };
                    let records = writer.finish(&tail, meta)?;
                    self.outcome.reports_new += 1;
                    self.outcome.records += records;
                    return Ok(());
                }
                Parsed::Failed(error) => {
                    writer.abandon()?;
                    self.fail(location, error);
                    return Ok(());
                }
                Parsed::Header(_) => {}
            }
        }
        // The parser went away without finishing (it panicked).
        writer.abandon()?;
        Ok(())
    }
}

/// Records per message from the parser thread to the storing one.
const RECORD_BATCH: usize = 512;
/// Messages in flight between the threads (bounds memory).
const CHANNEL_DEPTH: usize = 8;

/// Threads that parse the pieces of a large report (the machine's cores,
/// up to 4); 1 reads every report on the parser thread alone.
fn parser_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()).min(4)
}

/// What the parser thread sends.
enum Parsed {
    /// The report header, first (boxed: it is large and sent once).
    Header(Box<ReportHeader>),
    /// The next records.
    Records(Vec<RecordRow>),
    /// The next piece of the raw copy.
    RawChunk(Vec<u8>),
    /// The end of the report.
    Done { warnings: Vec<String>, late_extensions: Vec<String> },
    /// The document cannot be read; nothing of it may be kept.
    Failed(String),
}

/// Parses one document, sending its parts over `tx`; stops as soon as the
/// receiver is gone.
fn parse_document(reader: &mut (dyn Read + Send), options: &ParseOptions, tx: &SyncSender<Parsed>) {
    let mut capture = RawCapture::new(reader);
    let (mut report, header) = match ReportReader::open(&mut capture, options) {
        Ok(opened) => opened,
        Err(e) => {
            let _ = tx.send(Parsed::Failed(describe_parse_error(e)));
            return;
        }
    };
    if tx.send(Parsed::Header(Box::new(header))).is_err() {
        return;
    }
    // The raw copy grows as the parser reads: its finished pieces follow
    // each batch of records.
    let mut receiving = true;
    let row = |record: Record| RecordRow::new(&record);
    let read = report.read_batches(parser_threads(), RECORD_BATCH, row, |rows, capture| {
        receiving = tx.send(Parsed::Records(rows)).is_ok()
            && capture.take_chunk().is_none_or(|chunk| tx.send(Parsed::RawChunk(chunk)).is_ok());
        receiving
    });
    if let Err(e) = read {
        let _ = tx.send(Parsed::Failed(describe_parse_error(e)));
        return;
    }
    if !receiving {
        return;
    }
    let warnings = report.warnings();
    let late_extensions = report.late_extensions().to_vec();
    drop(report);
    let last = match capture.finish() {
        Ok(last) => last,
        Err(e) => {
            let _ = tx.send(Parsed::Failed(describe_read_error(e)));
            return;
        }
    };
    let _ = tx.send(Parsed::RawChunk(last)).is_ok()
        && tx.send(Parsed::Done { warnings, late_extensions }).is_ok();
}

impl Sink for StoreSink<'_> {
    type Fatal = StoreError;

    /// Parses on a second thread while this one stores: the two halves of
    /// ingest cost about the same, and a machine has two cores or more.
    fn document(&mut self, doc: Document<'_>) -> Result<(), StoreError> {
        let options = ParseOptions { known_utf8: doc.known_utf8, file_name: doc.file_name.clone() };
        let meta = RawMeta { file_name: doc.file_name, known_utf8: doc.known_utf8 };
        let location = doc.location;
        let reader = doc.reader;
        std::thread::scope(|scope| {
            let (tx, rx) = mpsc::sync_channel(CHANNEL_DEPTH);
            let parser = scope.spawn(move || parse_document(reader, &options, &tx));
            let stored = self.store_document(&location, &meta, rx);
            // A panic in the parser is a bug; the input is kept as failed.
            if parser.join().is_err() {
                self.fail(&location, "internal error: the parser stopped unexpectedly");
            }
            stored
        })
    }

    fn problem(&mut self, location: &str, error: UnpackError) {
        self.fail(location, error);
    }

    fn warning(&mut self, location: &str, message: String) {
        self.outcome.warnings.push(format!("{location}: {message}"));
    }
}

/// Parse errors as users should read them: I/O errors from below the parser
/// (limits, corrupt compression) in the words of the layer that raised them.
fn describe_parse_error(e: ParseError) -> String {
    match e {
        ParseError::Io(io) => describe_read_error(io),
        other => other.to_string(),
    }
}

/// A read error met while streaming a document: a limit, or a decoder
/// error that `unpack` already labelled ("the gzip data is truncated").
fn describe_read_error(io: io::Error) -> String {
    UnpackError::from_io("input", io).to_string()
}

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}
