//! The ingest pipeline: inputs (files, messages, standard input) through
//! unpack → parse → store.
//!
//! Inputs are unpacked and parsed on long-lived worker threads, several at
//! a time (see [`worker`]), and stored on the calling thread in the order
//! they were given, so the database ends up exactly as if one thread had
//! read them one after another.
//!
//! One bad input never stops a batch: it is recorded with its bytes in
//! `failed_inputs` and the run carries on. Only storage failures are fatal.
//! Reports are committed in batches. A report is written only once it has
//! been read in full, or, when it is too large to hold, inside its own
//! savepoint: one that breaks half-way leaves no rows behind.

mod problem;
mod raw_copy;
mod worker;

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, BufReader, Cursor, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::fetch::files;
use crate::limits::{Limits, read_capped};
use crate::store::raw;
use crate::store::{RawMeta, ReportTail, ReportWriter, Store, StoreError};
use crate::unpack::{Document, Hints, UnpackError, sniff};
pub use problem::{FailureKind, Problem};
use raw_copy::Deflater;
use worker::{ChannelSink, Input, Msg, Pool, WholeDoc};

/// Reports per transaction.
const BATCH_REPORTS: usize = 500;
/// Records per transaction, so one huge batch does not grow the WAL unduly.
const BATCH_RECORDS: u64 = 1_000_000;
/// Inputs handed to the workers and not yet stored, at most.
const MAX_IN_FLIGHT: usize = 64;
/// Bytes of in-memory inputs handed to the workers and not yet stored, at
/// most (one input is always let through, whatever its size).
const MAX_IN_FLIGHT_BYTES: usize = 16 << 20;

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
    /// Inputs that failed as before and had been dismissed (`errors
    /// --dismiss`): they stay dismissed and are not counted as failed.
    #[serde(skip_serializing_if = "is_zero")]
    pub dismissed: u64,
    /// Harmless oddities, each prefixed with where it was found.
    pub warnings: Vec<String>,
    /// The run was interrupted (Ctrl-C): what is counted here is stored
    /// and committed; the inputs after it were not read.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub interrupted: bool,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// One failed input.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Failure {
    /// The input's name: a path, `<stdin>`, an mbox message or an IMAP URL.
    pub input: String,
    /// Every problem found in it, `location: error`, joined by `; `.
    pub error: String,
    /// The same problems, each with its kind.
    pub problems: Vec<Problem>,
}

impl Failure {
    /// The failure of `input` for these problems.
    pub fn new(input: impl Into<String>, problems: Vec<Problem>) -> Self {
        Failure { input: input.into(), error: joined(&problems), problems }
    }
}

/// Problems as one line, `location: error; location: error`.
fn joined(problems: &[Problem]) -> String {
    problems.iter().map(Problem::to_string).collect::<Vec<_>>().join("; ")
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
    /// Problems, in the order they were found.
    pub errors: Vec<Problem>,
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
    /// Inputs handed to the workers, oldest first (dropped before `pool`).
    pending: VecDeque<Pending>,
    /// Bytes of the in-memory inputs among them.
    pending_bytes: usize,
    pool: Pool,
    /// Set (by a signal handler) to stop before the next input.
    stop: Option<Arc<AtomicBool>>,
}

/// An input handed to the workers, not yet stored.
struct Pending {
    name: String,
    rx: Receiver<Msg>,
    /// Where its bytes are, should it fail.
    keep: Keep,
    /// Its bytes held in memory.
    bytes: usize,
}

/// Where a failed input's bytes are found to keep them.
enum Keep {
    /// The worker gives them back.
    Returned,
    /// Read again from the file.
    File(PathBuf),
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
            pending: VecDeque::new(),
            pending_bytes: 0,
            pool: Pool::default(),
            stop: None,
        }
    }

    /// Stops taking new inputs once `flag` is set (Ctrl-C): the inputs
    /// already started are finished and stored, the rest are not read, and
    /// the summary says it was interrupted.
    pub fn stop_when(&mut self, flag: Arc<AtomicBool>) {
        self.stop = Some(flag);
    }

    /// Whether to stop before the next input (and note that it stopped).
    fn stopping(&mut self) -> bool {
        let stop = self.stop.as_ref().is_some_and(|f| f.load(Ordering::SeqCst));
        if stop {
            self.summary.interrupted = true;
        }
        stop
    }

    /// Ingests each path: files, directories (recursively, Maildir aware),
    /// mbox files, and `-` for standard input.
    pub fn ingest_paths(&mut self, paths: &[String]) -> Result<(), StoreError> {
        for path in paths {
            if self.stopping() {
                break;
            }
            if path == "-" {
                self.ingest_stdin()?;
                continue;
            }
            // The database itself may sit in the folder being read.
            let skip = self.store.path().map(files::database_files).unwrap_or_default();
            let expanded = files::expand(Path::new(path), &skip);
            for item in expanded {
                if self.stopping() {
                    break;
                }
                match item {
                    Ok(file) => self.submit_file(&file)?,
                    Err(p) => self.fail_without_bytes(Problem::new(
                        p.path,
                        FailureKind::Unreadable,
                        p.error,
                    ))?,
                }
            }
        }
        self.drain()
    }

    /// Ingests one file (an mbox file is split into its messages).
    pub fn ingest_file(&mut self, path: &Path) -> Result<(), StoreError> {
        self.submit_file(path)?;
        self.drain()
    }

    /// Hands one file to the workers (an mbox file: its messages).
    fn submit_file(&mut self, path: &Path) -> Result<(), StoreError> {
        let name = path.display().to_string();
        let mut file = match File::open(path) {
            Ok(f) => BufReader::with_capacity(256 * 1024, f),
            Err(e) => return self.fail_without_bytes(unreadable(name, &e)),
        };
        let head = match sniff::read_head(&mut file) {
            Ok(head) => head,
            Err(e) => return self.fail_without_bytes(unreadable(name, &e)),
        };
        if sniff::classify(&head, &Hints::default()) == sniff::Kind::Mbox {
            return self.ingest_mbox(&name, Cursor::new(head).chain(file));
        }
        let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        let hints = Hints { content_type: None, file_name, known_utf8: false };
        let input = Input::Stream(Box::new(Cursor::new(head).chain(file)));
        self.submit(name, input, hints, Keep::File(path.to_owned()))
    }

    /// Ingests standard input.
    pub fn ingest_stdin(&mut self) -> Result<(), StoreError> {
        self.drain()?;
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
                    self.ingest_mbox(name, Cursor::new(bytes))?;
                    return self.drain();
                }
                self.submit(
                    name.to_owned(),
                    Input::Bytes(bytes),
                    Hints::default(),
                    Keep::Returned,
                )?;
                self.drain()
            }
            Err(e) => {
                self.fail_without_bytes(Problem::unpack(name, &UnpackError::from_io("input", e)))
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
        self.drain()?;
        self.submit(name.to_owned(), Input::Bytes(bytes.to_vec()), hints.clone(), Keep::Returned)?;
        self.complete_next().map(Option::unwrap_or_default)
    }

    /// Tries every stored failed input again; those that now work are
    /// removed from the failed list.
    pub fn retry_failed(&mut self) -> Result<(), StoreError> {
        self.retry_failed_where(|_| true).map(|_| ())
    }

    /// Tries again the stored failed inputs for which `retry` says yes;
    /// returns how many it passed over.
    pub fn retry_failed_where(
        &mut self,
        retry: impl Fn(&crate::store::FailedInput) -> bool,
    ) -> Result<usize, StoreError> {
        self.drain()?;
        let mut passed_over = 0;
        for failure in self.store.failures()? {
            if self.stopping() {
                break;
            }
            if !retry(&failure) {
                passed_over += 1;
                continue;
            }
            let Some((name, data)) = self.store.failure_data(failure.id)? else {
                self.summary.warnings.push(format!(
                    "{}: not retried: its bytes were too large to keep; ingest the file again",
                    failure.name
                ));
                continue;
            };
            // Once it works, `account` forgets its failure.
            self.submit(name, Input::Bytes(data), Hints::default(), Keep::Returned)?;
        }
        self.drain()?;
        Ok(passed_over)
    }

    /// Commits what is pending and returns the summary.
    pub fn finish(mut self) -> Result<IngestSummary, StoreError> {
        self.drain()?;
        if self.store.in_transaction() {
            self.store.commit()?;
        }
        Ok(std::mem::take(&mut self.summary))
    }

    /// Commits the current batch now (`fetch` calls this before it moves
    /// messages on the server).
    pub fn commit(&mut self) -> Result<(), StoreError> {
        self.drain()?;
        if self.store.in_transaction() {
            self.store.commit()?;
        }
        self.batch_reports = 0;
        self.batch_records = 0;
        Ok(())
    }

    /// Records an input that cannot even be read (too large to download,
    /// say): it is listed by `errors`, without bytes.
    pub fn fail_input(
        &mut self,
        name: &str,
        kind: FailureKind,
        error: &str,
    ) -> Result<(), StoreError> {
        self.drain()?;
        self.begin_if_needed()?;
        let problem = Problem::new(name, kind, error);
        let recorded = self.store.record_failure(name, None, kind, &problem.to_string(), now())?;
        if recorded.dismissed {
            self.summary.inputs += 1;
            self.summary.dismissed += 1;
            return Ok(());
        }
        self.fail_without_bytes(problem)
    }

    /// The summary so far.
    pub fn summary(&self) -> &IngestSummary {
        &self.summary
    }

    fn ingest_mbox(&mut self, name: &str, reader: impl Read + Send) -> Result<(), StoreError> {
        let messages = mail_parser::mailbox::mbox::MessageIterator::new(BufReader::new(reader));
        for (index, message) in messages.enumerate() {
            if self.stopping() {
                break;
            }
            let location = format!("{name} (message {})", index + 1);
            match message {
                Ok(message) => {
                    let contents = message.unwrap_contents();
                    if contents.len() as u64 > self.limits.max_message_size {
                        let error = crate::limits::LimitExceeded {
                            what: "message",
                            limit: self.limits.max_message_size,
                            flag: "--max-message-size",
                        };
                        let error = error.to_string();
                        self.fail_without_bytes(Problem::new(location, FailureKind::Limit, error))?;
                        continue;
                    }
                    self.submit(
                        location,
                        Input::Bytes(contents),
                        Hints::default(),
                        Keep::Returned,
                    )?;
                }
                Err(e) => {
                    let error = format!("cannot read the mbox: {e}");
                    self.fail_without_bytes(Problem::new(
                        location,
                        FailureKind::Unreadable,
                        error,
                    ))?;
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
        mut input: impl Read + Send,
        hints: &Hints,
    ) -> Result<InputOutcome, StoreError> {
        self.drain()?;
        self.begin_if_needed()?;
        let limits = self.limits;
        let held = AtomicU64::new(0);
        let mut storer = Storer::new(self.store, &held, now());
        // The stream is borrowed, so it is read on a thread of its own.
        let stored = std::thread::scope(|scope| {
            let (tx, rx) = mpsc::sync_channel(worker::CHANNEL_DEPTH);
            let held = &held;
            scope.spawn(move || {
                let mut deflater = Deflater::new();
                let panicked =
                    worker::run_input(name, &mut input, hints, &limits, &tx, &mut deflater, held);
                let _ = tx.send(Msg::End { panicked, bytes: None });
            });
            storer.input(&rx, name)
        });
        stored?;
        let outcome = storer.outcome;
        self.finish_input(name, outcome, None)
    }

    /// Hands an input to the workers, storing the oldest ones first while
    /// too many are in flight.
    fn submit(
        &mut self,
        name: String,
        input: Input,
        hints: Hints,
        keep: Keep,
    ) -> Result<(), StoreError> {
        let bytes = match &input {
            Input::Bytes(b) => b.len(),
            Input::Stream(_) => 0,
        };
        while !self.pending.is_empty()
            && (self.pending.len() >= MAX_IN_FLIGHT
                || self.pending_bytes + bytes > MAX_IN_FLIGHT_BYTES)
        {
            self.complete_next()?;
        }
        if let Err(e) = self.pool.start() {
            // Nothing can be parsed; the input is kept as failed.
            self.drain()?;
            self.begin_if_needed()?;
            let outcome = InputOutcome {
                errors: vec![Problem::new(
                    &name,
                    FailureKind::Internal,
                    format!("cannot start a parser thread: {e}"),
                )],
                ..InputOutcome::default()
            };
            let kept = match input {
                Input::Bytes(bytes) => Some(bytes),
                Input::Stream(_) => None,
            };
            let kept = kept.or_else(|| self.reread(&keep));
            self.finish_input(&name, outcome, kept)?;
            return Ok(());
        }
        let rx = self.pool.submit(name.clone(), input, hints, self.limits);
        self.pending_bytes += bytes;
        self.pending.push_back(Pending { name, rx, keep, bytes });
        Ok(())
    }

    /// Stores every input in flight.
    fn drain(&mut self) -> Result<(), StoreError> {
        while !self.pending.is_empty() {
            self.complete_next()?;
        }
        Ok(())
    }

    /// Stores the oldest input in flight and returns what happened to it.
    fn complete_next(&mut self) -> Result<Option<InputOutcome>, StoreError> {
        let Some(pending) = self.pending.pop_front() else { return Ok(None) };
        self.pending_bytes -= pending.bytes;
        self.begin_if_needed()?;
        let mut storer = Storer::new(self.store, &self.pool.held, now());
        let returned = storer.input(&pending.rx, &pending.name)?;
        let outcome = storer.outcome;
        let kept = if outcome.is_ok() {
            None
        } else {
            match pending.keep {
                Keep::Returned => returned,
                keep => self.reread(&keep),
            }
        };
        self.finish_input(&pending.name, outcome, kept).map(Some)
    }

    /// A failed file's bytes, read again to keep them.
    fn reread(&self, keep: &Keep) -> Option<Vec<u8>> {
        let Keep::File(path) = keep else { return None };
        File::open(path)
            .and_then(|f| {
                read_capped(f, self.limits.max_message_size, "input", "--max-message-size")
            })
            .ok()
    }

    /// Keeps a failed input, counts the input, and commits every so often.
    fn finish_input(
        &mut self,
        name: &str,
        outcome: InputOutcome,
        kept: Option<Vec<u8>>,
    ) -> Result<InputOutcome, StoreError> {
        let dismissed = if outcome.is_ok() {
            false
        } else {
            // Keep the bytes so the input can be retried after a fix.
            self.record_failure(name, kept.as_deref(), &outcome)?
        };
        self.account(name, outcome.clone(), dismissed)?;
        self.maybe_commit()?;
        Ok(outcome)
    }

    fn begin_if_needed(&self) -> Result<(), StoreError> {
        if !self.store.in_transaction() {
            self.store.begin()?;
        }
        Ok(())
    }

    fn maybe_commit(&mut self) -> Result<(), StoreError> {
        if self.batch_reports >= BATCH_REPORTS || self.batch_records >= BATCH_RECORDS {
            if self.store.in_transaction() {
                self.store.commit()?;
            }
            self.batch_reports = 0;
            self.batch_records = 0;
        }
        Ok(())
    }

    /// Keeps a failed input; `true` when it had been dismissed before.
    fn record_failure(
        &mut self,
        name: &str,
        bytes: Option<&[u8]>,
        outcome: &InputOutcome,
    ) -> Result<bool, StoreError> {
        self.begin_if_needed()?;
        let mut error = joined(&outcome.errors);
        if bytes.is_none() {
            error.push_str(" (the input is too large to keep a copy; it stays where it is)");
        }
        let kind = FailureKind::of_problems(outcome.errors.iter().map(|p| p.kind))
            .unwrap_or(FailureKind::Internal);
        Ok(self.store.record_failure(name, bytes, kind, &error, now())?.dismissed)
    }

    /// Counts an input that failed before it could be read (after those
    /// in flight, so the failures stay in input order).
    fn fail_without_bytes(&mut self, problem: Problem) -> Result<(), StoreError> {
        self.drain()?;
        self.summary.inputs += 1;
        let input = problem.location.clone();
        self.summary.failed.push(Failure::new(input, vec![problem]));
        Ok(())
    }

    /// Counts an input's outcome; `dismissed`: it failed as it did before
    /// it was dismissed, which is not a new failure.
    fn account(
        &mut self,
        input: &str,
        outcome: InputOutcome,
        dismissed: bool,
    ) -> Result<(), StoreError> {
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
        if dismissed {
            s.dismissed += 1;
        } else if !outcome.errors.is_empty() {
            s.failed.push(Failure::new(input, outcome.errors));
        }
        Ok(())
    }
}

/// Rebuilds every stored report from its raw XML (after a parser fix).
pub fn reparse(store: &Store, limits: &Limits) -> Result<ReparseSummary, StoreError> {
    let mut summary = ReparseSummary::default();
    let held = AtomicU64::new(0);
    let mut deflater = Deflater::new();
    for id in store.report_ids()? {
        let Some((source, ingested_at, raw)) = store.raw_report(id)? else { continue };
        let chunks = store.raw_chunks(id)?;
        store.begin()?;
        let replacement = store.replace_report(id)?;
        // The report keeps the time it first arrived.
        let mut storer = Storer::new(store, &held, ingested_at);
        let mut reader = raw::open(chunks);
        let mut capped = crate::limits::Capped::new(
            &mut reader,
            limits.max_report_size,
            "decompressed report",
            "--max-report-size",
        );
        let doc = Document {
            location: source.clone(),
            file_name: raw.file_name.clone(),
            reader: &mut capped,
            known_utf8: raw.known_utf8,
            arrived: None,
        };
        let deflater = &mut deflater;
        let held = &held;
        std::thread::scope(|scope| {
            let (tx, rx) = mpsc::sync_channel(worker::CHANNEL_DEPTH);
            scope.spawn(move || {
                let mut sink = ChannelSink { tx: &tx, deflater, held };
                if crate::unpack::Sink::document(&mut sink, doc).is_ok() {
                    let _ = tx.send(Msg::End { panicked: false, bytes: None });
                }
            });
            storer.input(&rx, &source)
        })?;
        let outcome = storer.outcome;
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
            summary.failed.push(Failure::new(source, outcome.errors));
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
    /// Harmless oddities the parser found, each prefixed with the report's source.
    pub warnings: Vec<String>,
}

/// A streamed document being stored.
struct Open<'s> {
    location: String,
    meta: RawMeta,
    header_extensions: Vec<String>,
    /// `None`: the report is already stored, and the rest is skipped.
    writer: Option<ReportWriter<'s>>,
}

/// Stores what the workers found in one input.
struct Storer<'a> {
    store: &'a Store,
    /// The workers' count of whole documents not yet stored.
    held: &'a AtomicU64,
    now: i64,
    outcome: InputOutcome,
}

impl<'a> Storer<'a> {
    fn new(store: &'a Store, held: &'a AtomicU64, now: i64) -> Self {
        Storer { store, held, now, outcome: InputOutcome::default() }
    }

    fn fail(&mut self, location: &str, kind: FailureKind, error: impl std::fmt::Display) {
        self.outcome.errors.push(Problem::new(location, kind, error.to_string()));
    }

    /// Stores what comes over `rx` until the input's end, and returns the
    /// input's bytes if the worker gave them back.
    fn input(&mut self, rx: &Receiver<Msg>, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let mut open: Option<Open<'a>> = None;
        loop {
            let Ok(msg) = rx.recv() else {
                // The worker went away without finishing the input.
                abandon(&mut open)?;
                self.fail(name, FailureKind::Internal, PARSER_STOPPED);
                return Ok(None);
            };
            match msg {
                Msg::Problem(problem) => self.outcome.errors.push(problem),
                Msg::Warning(warning) => self.outcome.warnings.push(warning),
                Msg::Whole(doc) => self.whole(*doc)?,
                Msg::Start { location, meta, header, cancel } => {
                    abandon(&mut open)?;
                    let writer = self.store.start_report(&header, &location, self.now)?;
                    if writer.is_none() {
                        self.outcome.reports_duplicate += 1;
                        cancel.store(true, Ordering::Relaxed);
                    }
                    let header_extensions = header.extensions;
                    open = Some(Open { location, meta, header_extensions, writer });
                }
                Msg::Rows(rows) => {
                    if let Some(writer) = open.as_mut().and_then(|o| o.writer.as_mut()) {
                        writer.rows(&rows)?;
                    }
                }
                Msg::RawChunk(chunk) => {
                    if let Some(writer) = open.as_mut().and_then(|o| o.writer.as_mut()) {
                        writer.raw_chunk(&chunk)?;
                    }
                }
                Msg::Done { warnings, late_extensions } => {
                    if let Some(Open { location, meta, header_extensions, writer: Some(writer) }) =
                        open.take()
                    {
                        self.finish(
                            writer,
                            &location,
                            &meta,
                            &header_extensions,
                            warnings,
                            late_extensions,
                        )?;
                    }
                }
                Msg::Stopped => open = None,
                Msg::Failed { location, error: (kind, error) } => {
                    let skipped = open.as_ref().is_some_and(|o| o.writer.is_none());
                    abandon(&mut open)?;
                    // A duplicate's later errors do not matter: it was not read.
                    if !skipped {
                        self.fail(&location, kind, error);
                    }
                }
                Msg::ParserPanicked { location } => {
                    abandon(&mut open)?;
                    self.fail(&location, FailureKind::Internal, PARSER_STOPPED);
                }
                Msg::End { panicked, bytes } => {
                    abandon(&mut open)?;
                    if panicked {
                        self.fail(
                            name,
                            FailureKind::Internal,
                            "internal error: reading this input stopped unexpectedly \
                             (a bug; please report it with the input)",
                        );
                    }
                    return Ok(bytes);
                }
            }
        }
    }

    /// Stores a document read in full.
    fn whole(&mut self, doc: WholeDoc) -> Result<(), StoreError> {
        self.held.fetch_sub(doc.held, Ordering::Relaxed);
        if let Some((kind, error)) = doc.error {
            // Broken after its header: kept only as a duplicate of a report
            // stored before; else it fails.
            match self.store.start_report(&doc.header, &doc.location, self.now)? {
                None => self.outcome.reports_duplicate += 1,
                Some(writer) => {
                    writer.abandon()?;
                    self.fail(&doc.location, kind, error);
                }
            }
            return Ok(());
        }
        let tail = tail(&doc.header.extensions, doc.warnings, doc.late_extensions);
        let stored = self.store.store_report(
            &doc.header,
            &doc.location,
            self.now,
            &doc.rows,
            &doc.raw,
            &doc.meta,
            &tail,
        )?;
        match stored {
            None => self.outcome.reports_duplicate += 1,
            Some(records) => {
                self.stored(&doc.location, &tail.warnings, records);
            }
        }
        Ok(())
    }

    /// Warnings, late extensions and the raw copy's description; the
    /// report is kept.
    fn finish(
        &mut self,
        writer: ReportWriter<'_>,
        location: &str,
        meta: &RawMeta,
        header_extensions: &[String],
        warnings: Vec<String>,
        late_extensions: Vec<String>,
    ) -> Result<(), StoreError> {
        let tail = tail(header_extensions, warnings, late_extensions);
        let records = writer.finish(&tail, meta)?;
        self.stored(location, &tail.warnings, records);
        Ok(())
    }

    /// Counts a report stored, with its warnings.
    fn stored(&mut self, location: &str, warnings: &[String], records: u64) {
        self.outcome.warnings.extend(warnings.iter().map(|w| format!("{location}: {w}")));
        self.outcome.reports_new += 1;
        self.outcome.records += records;
    }
}

/// A report's warnings, and its extensions when some came after the
/// records (the header's then the late ones; none: the header's stand).
fn tail(
    header_extensions: &[String],
    warnings: Vec<String>,
    late_extensions: Vec<String>,
) -> ReportTail {
    let extensions = match &late_extensions[..] {
        [] => Vec::new(),
        late => header_extensions.iter().chain(late).cloned().collect(),
    };
    ReportTail { warnings, extensions }
}

/// Undoes a streamed document that will not be finished.
fn abandon(open: &mut Option<Open<'_>>) -> Result<(), StoreError> {
    match open.take().and_then(|o| o.writer) {
        Some(writer) => writer.abandon(),
        None => Ok(()),
    }
}

/// What a failure says when a parser thread went away (a bug).
const PARSER_STOPPED: &str = "internal error: the parser stopped unexpectedly";

/// A file that cannot be opened or read.
fn unreadable(name: String, e: &io::Error) -> Problem {
    Problem::new(name, FailureKind::Unreadable, format!("cannot read: {e}"))
}

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}
