//! The parse workers of an ingest: long-lived threads, one per core, that
//! take whole inputs (a message, a file) in turn, unpack and parse them,
//! and send what they find to the storing thread over one channel per
//! input. The storing thread reads those channels in the order the inputs
//! were given, so the store sees exactly what one thread reading the
//! inputs one after another would give it, while several inputs are
//! parsed at once.
//!
//! A document of up to [`HOLD_XML`] bytes is parsed whole before it is
//! sent ([`Msg::Whole`]): the storing thread then writes it in one go,
//! without a savepoint, since nothing of it can fail any more. A larger
//! one is streamed as it is parsed (header, batches of rows, pieces of the
//! raw copy), inside a savepoint on the storing side, and memory stays
//! bounded by the channel.

use std::io::{self, Read};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use super::problem::{FailureKind, Problem, describe_parse_error, describe_read_error};
use super::raw_copy::{Deflater, RawCopy};
use crate::limits::Limits;
use crate::model::{Record, ReportHeader};
use crate::parse::{ParseOptions, ReportReader};
use crate::store::{RawMeta, RecordRow};
use crate::unpack::{self, Document, Hints, Sink, UnpackError};

/// A document is parsed whole before it is sent while it is at most this
/// many bytes of XML (about 3,000 records).
const HOLD_XML: u64 = 1 << 20;
/// Whole documents sent and not yet stored may hold this many bytes in
/// all; beyond it, documents are streamed.
const HOLD_BUDGET: u64 = 16 << 20;
/// Records per message of a streamed document.
const RECORD_BATCH: usize = 512;
/// Messages in flight from one input's worker to the storing thread.
pub(super) const CHANNEL_DEPTH: usize = 8;

/// What a worker sends about one input, in order.
pub(super) enum Msg {
    /// A part of the input that holds no readable report.
    Problem(Problem),
    /// Something odd but harmless (`location: warning`).
    Warning(String),
    /// A document parsed in full.
    Whole(Box<WholeDoc>),
    /// A streamed document's header; its rows and raw pieces follow, then
    /// `Done`, `Failed`, `Stopped` or `ParserPanicked`.
    Start {
        location: String,
        meta: RawMeta,
        header: Box<ReportHeader>,
        /// Set by the storing thread when the report is already stored:
        /// the worker stops reading it.
        cancel: Arc<AtomicBool>,
    },
    /// The next rows of a streamed document.
    Rows(Vec<RecordRow>),
    /// The next piece of a streamed document's raw copy.
    RawChunk(Vec<u8>),
    /// The end of a streamed document.
    Done { warnings: Vec<String>, late_extensions: Vec<String> },
    /// A streamed document was stopped on request (`cancel`).
    Stopped,
    /// The document cannot be read; nothing of it may be kept.
    Failed { location: String, error: (FailureKind, String) },
    /// Parsing the document panicked (a bug).
    ParserPanicked { location: String },
    /// The end of the input; the bytes it was given as, back for the
    /// failed-input list. `panicked`: reading it stopped on a bug.
    End { panicked: bool, bytes: Option<Vec<u8>> },
}

/// A document parsed in full.
pub(super) struct WholeDoc {
    pub location: String,
    pub meta: RawMeta,
    pub header: ReportHeader,
    pub rows: Vec<RecordRow>,
    /// The raw copy, in pieces.
    pub raw: Vec<Vec<u8>>,
    pub warnings: Vec<String>,
    pub late_extensions: Vec<String>,
    /// The document broke after its header: it is stored only as a
    /// duplicate of a report already there, else it fails with this.
    pub error: Option<(FailureKind, String)>,
    /// Bytes counted against [`HOLD_BUDGET`] until it is stored.
    pub held: u64,
}

/// An input for a worker.
pub(super) enum Input {
    /// In memory; the bytes come back with [`Msg::End`].
    Bytes(Vec<u8>),
    /// A stream (a file).
    Stream(Box<dyn Read + Send>),
}

struct Job {
    name: String,
    input: Input,
    hints: Hints,
    limits: Limits,
    tx: SyncSender<Msg>,
}

/// The workers, started on the first input.
#[derive(Default)]
pub(super) struct Pool {
    jobs: Option<mpsc::Sender<Job>>,
    threads: Vec<JoinHandle<()>>,
    /// Bytes of whole documents sent and not yet stored.
    pub held: Arc<AtomicU64>,
    /// Set when the pool is dropped: inputs still queued are not read.
    closing: Arc<AtomicBool>,
}

/// The machine's cores, up to 4: the number of workers, and of threads
/// that parse the pieces of one large report (1: every report is read on
/// its worker alone). Asked once: the answer takes reading cgroup files.
fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 4))
}

fn worker_threads() -> usize {
    cores()
}

fn parser_threads() -> usize {
    cores()
}

impl Pool {
    /// Starts the workers, unless they run already.
    pub(super) fn start(&mut self) -> io::Result<()> {
        if self.jobs.is_some() {
            return Ok(());
        }
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        let mut failed = None;
        for _ in 0..worker_threads() {
            let queue = Arc::clone(&queue);
            let held = Arc::clone(&self.held);
            let closing = Arc::clone(&self.closing);
            match std::thread::Builder::new()
                .name("dmarc-parse".into())
                .spawn(move || work(&queue, &held, &closing))
            {
                Ok(handle) => self.threads.push(handle),
                Err(e) => failed = Some(e),
            }
        }
        match failed {
            Some(e) if self.threads.is_empty() => Err(e),
            _ => {
                self.jobs = Some(jobs);
                Ok(())
            }
        }
    }

    /// Hands an input to the next free worker (once [`start`](Self::start)
    /// succeeded); what it finds comes over the returned channel, which
    /// closes without an [`Msg::End`] only if no worker is left.
    pub(super) fn submit(
        &mut self,
        name: String,
        input: Input,
        hints: Hints,
        limits: Limits,
    ) -> Receiver<Msg> {
        let (tx, rx) = mpsc::sync_channel(CHANNEL_DEPTH);
        if let Some(jobs) = &self.jobs {
            let _ = jobs.send(Job { name, input, hints, limits, tx });
        }
        rx
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        // Inputs not started yet are dropped unread, then the workers end
        // (a worker waits for the next input holding the queue's lock).
        self.closing.store(true, Ordering::Relaxed);
        self.jobs = None;
        for handle in self.threads.drain(..) {
            let _ = handle.join();
        }
    }
}

/// A worker's loop: inputs in turn until the pool is dropped.
fn work(queue: &Mutex<Receiver<Job>>, held: &AtomicU64, closing: &AtomicBool) {
    let mut deflater = Deflater::new();
    loop {
        let job = match queue.lock() {
            Ok(queue) => queue.recv(),
            Err(_) => return,
        };
        let Ok(job) = job else { return };
        if closing.load(Ordering::Relaxed) {
            continue;
        }
        run_job(job, &mut deflater, held);
    }
}

fn run_job(job: Job, deflater: &mut Deflater, held: &AtomicU64) {
    let Job { name, input, hints, limits, tx } = job;
    let (panicked, bytes) = match input {
        Input::Bytes(bytes) => {
            let panicked = run_input(&name, &mut &bytes[..], &hints, &limits, &tx, deflater, held);
            (panicked, Some(bytes))
        }
        Input::Stream(mut reader) => {
            (run_input(&name, &mut reader, &hints, &limits, &tx, deflater, held), None)
        }
    };
    let _ = tx.send(Msg::End { panicked, bytes });
}

/// Unpacks and parses one input, sending what it finds over `tx` (but not
/// its [`Msg::End`]). Returns whether it panicked (a bug here or in a
/// decoder crate): the input then fails, and the worker goes on.
pub(super) fn run_input(
    name: &str,
    input: &mut (dyn Read + Send),
    hints: &Hints,
    limits: &Limits,
    tx: &SyncSender<Msg>,
    deflater: &mut Deflater,
    held: &AtomicU64,
) -> bool {
    let mut sink = ChannelSink { tx, deflater, held };
    catch_unwind(AssertUnwindSafe(|| unpack::unpack(name, input, hints, limits, &mut sink)))
        .is_err()
}

/// The storing side is gone (it stopped on a storage error).
pub(super) struct Gone;

/// Sends what `unpack` finds.
pub(super) struct ChannelSink<'a> {
    pub tx: &'a SyncSender<Msg>,
    pub deflater: &'a mut Deflater,
    pub held: &'a AtomicU64,
}

impl Sink for ChannelSink<'_> {
    type Fatal = Gone;

    fn document(&mut self, doc: Document<'_>) -> Result<(), Gone> {
        let location = doc.location.clone();
        let run = catch_unwind(AssertUnwindSafe(|| {
            parse_document(doc, self.tx, self.deflater, self.held)
        }));
        match run {
            Ok(sent) => sent,
            // A panic in the parser is a bug; the input is kept as failed.
            Err(_) => self.tx.send(Msg::ParserPanicked { location }).map_err(|_| Gone),
        }
    }

    fn problem(&mut self, location: &str, error: UnpackError) {
        let _ = self.tx.send(Msg::Problem(Problem::unpack(location, &error)));
    }

    fn warning(&mut self, location: &str, message: String) {
        let _ = self.tx.send(Msg::Warning(format!("{location}: {message}")));
    }
}

fn send(tx: &SyncSender<Msg>, msg: Msg) -> Result<(), Gone> {
    tx.send(msg).map_err(|_| Gone)
}

/// Parses one document and sends it, whole or streamed.
fn parse_document(
    doc: Document<'_>,
    tx: &SyncSender<Msg>,
    deflater: &mut Deflater,
    held: &AtomicU64,
) -> Result<(), Gone> {
    let Document { location, file_name, reader, known_utf8, arrived } = doc;
    let options = ParseOptions { known_utf8, file_name: file_name.clone() };
    let meta = RawMeta { file_name, known_utf8 };
    let mut copy = RawCopy::new(reader, arrived, deflater);
    let (mut report, header) = match ReportReader::open(&mut copy, &options) {
        Ok(opened) => opened,
        Err(e) => return send(tx, Msg::Failed { location, error: describe_parse_error(e) }),
    };
    let mut header = Some(header);
    let mut rows: Vec<RecordRow> = Vec::new();
    let cancel = Arc::new(AtomicBool::new(false));
    let mut streaming = false;
    let mut receiving = true;
    let row = |record: Record| RecordRow::new(&record);
    let read = report.read_batches(parser_threads(), RECORD_BATCH, row, |batch, copy| {
        if !streaming {
            if copy.xml_read() <= HOLD_XML && held.load(Ordering::Relaxed) < HOLD_BUDGET {
                rows.extend(batch);
                return true;
            }
            streaming = true;
            let Some(header) = header.take() else { return false };
            let start = Msg::Start {
                location: location.clone(),
                meta: meta.clone(),
                header: Box::new(header),
                cancel: Arc::clone(&cancel),
            };
            receiving = tx.send(start).is_ok()
                && (rows.is_empty() || tx.send(Msg::Rows(std::mem::take(&mut rows))).is_ok());
        }
        receiving = receiving
            && !cancel.load(Ordering::Relaxed)
            && tx.send(Msg::Rows(batch)).is_ok()
            && copy.take_chunk().is_none_or(|chunk| tx.send(Msg::RawChunk(chunk)).is_ok());
        receiving
    });
    let ended = match read {
        Err(e) => Err(describe_parse_error(e)),
        Ok(()) if !receiving => Ok(None),
        Ok(()) => {
            let warnings = report.warnings();
            let late_extensions = report.late_extensions().to_vec();
            drop(report);
            let read = copy.xml_read();
            copy.finish()
                .map(|raw| Some((warnings, late_extensions, raw, read)))
                .map_err(describe_read_error)
        }
    };
    // Not streamed: the header is still here.
    let (false, Some(header)) = (streaming, header) else {
        return match ended {
            Ok(None) if cancel.load(Ordering::Relaxed) => send(tx, Msg::Stopped),
            Ok(None) => Err(Gone),
            Ok(Some((warnings, late_extensions, raw, _))) => {
                for chunk in raw {
                    send(tx, Msg::RawChunk(chunk))?;
                }
                send(tx, Msg::Done { warnings, late_extensions })
            }
            Err(error) => send(tx, Msg::Failed { location, error }),
        };
    };
    match ended {
        Ok(None) if cancel.load(Ordering::Relaxed) => send(tx, Msg::Stopped),
        Ok(None) => Err(Gone),
        Ok(Some((warnings, late_extensions, raw, read))) => {
            let held_bytes = read + raw.iter().map(|p| p.len() as u64).sum::<u64>();
            held.fetch_add(held_bytes, Ordering::Relaxed);
            let whole = WholeDoc {
                location,
                meta,
                header,
                rows,
                raw,
                warnings,
                late_extensions,
                error: None,
                held: held_bytes,
            };
            send(tx, Msg::Whole(Box::new(whole))).inspect_err(|_| {
                held.fetch_sub(held_bytes, Ordering::Relaxed);
            })
        }
        Err(error) => {
            let whole = WholeDoc {
                location,
                meta,
                header,
                rows: Vec::new(),
                raw: Vec::new(),
                warnings: Vec::new(),
                late_extensions: Vec::new(),
                error: Some(error),
                held: 0,
            };
            send(tx, Msg::Whole(Box::new(whole)))
        }
    }
}
