//! Ingest benchmark: synthetic RFC 7489 aggregate reports of 100,000 and
//! 1,000,000 records, and a synthetic rua mailbox, ingested exactly as
//! `dmarc-report ingest` does it.
//!
//! ```sh
//! cargo bench --bench ingest                      # 100,000 and 1,000,000 records
//! cargo bench --bench ingest -- 100000            # only the sizes given
//! cargo bench --bench ingest -- 100000 --runs 5   # median of 5 runs per measurement
//! cargo bench --bench ingest -- --mailbox 10000   # a mailbox of 10,000 rua emails only
//! cargo bench --bench ingest -- 10000 --mailbox 10000   # both
//! cargo bench --bench ingest -- 100000 --mailbox 10000 --parsedmarc /work/pm/bin/parsedmarc
//! cargo bench --bench ingest -- --mailbox 10000 --postgres 'postgresql://dmarc@127.0.0.1:5432/postgres?sslmode=disable'
//! cargo bench --bench ingest -- --mailbox 10000 --postgres URL --workers 4 --postgres-only
//! ```
//!
//! Every measurement runs in a fresh child process (this binary re-executed
//! with a hidden `__child` argument), so the peak resident memory it reports
//! (`VmHWM`) is that of the measured work alone, not of generating the input.
//!
//! Rows per size:
//!
//! - `ingest xml` / `ingest xml.gz`: `Store::open` on a new file-backed
//!   database, `Ingester::new(&store, Limits::default())`, `ingest_paths`,
//!   `finish` (what the CLI does); checked against the targets.
//! - `floor tokenize`: reading (and gunzipping) the same file and running
//!   quick-xml's event loop over it, with the parser's reader settings: the
//!   least an ingest built on this tokenizer can cost.
//! - `parse only`: the crate's `ReportReader` over the file, records built
//!   and dropped, nothing stored.
//! - `parse + raw gzip`: the same through `RawCapture` (the gzip copy of the
//!   raw XML every stored report keeps), still without SQLite.
//! - `floor store`: SQLite alone. The records are parsed into rows and the
//!   raw copy made before the measurement starts; then the report, its
//!   rows and the raw copy's pieces are stored as an ingest stores them,
//!   in one transaction, on one thread. SQLite has one writer at a time,
//!   so no ingest can finish faster than this.
//!
//! The mailbox (`--mailbox N`) is N emails, one small report each (1 to 51
//! records, 6 on average), from six reporters packed the way they pack
//! them: a zip or a gzip as the whole message, or attached to a
//! multipart/mixed message as `.xml.gz`, `.zip` or plain `text/xml`. It is
//! written twice, as one mbox file and as a Maildir folder, and both are
//! ingested (`ingest mbox`, `ingest Maildir`): time, reports/s, records/s and
//! peak RSS. Its `floor` row is one thread doing the least any ingest of
//! it must do: read the mbox, parse each email's MIME tree (base64
//! included), gunzip or unzip the report and run quick-xml's event loop
//! over it; then a bare insert of the same reports (their rows made before
//! the measurement starts) through the store's report writer, 500 per
//! transaction.
//!
//! Whole processes, side by side: `dmarc-report ingest --format json` (the
//! release binary built with this bench) on the mbox, and, with
//! `--parsedmarc PATH`, parsedmarc `--offline` on the same file in the same
//! run (dmarc-report's runs split before and after it), and on the
//! 100,000-record `.xml` for each size given; each under `/usr/bin/time`
//! for CPU time and peak RSS.
//!
//! Several workers, with `--postgres URL` (a role that may create
//! databases): `--workers N` (default 4) `dmarc-report ingest` processes
//! started at once on the same mbox, into one fresh PostgreSQL database on
//! that server, timed from the first start to the last exit; beside one
//! process into PostgreSQL and one into a new SQLite file, in the same run.
//! Every run checks that each report was stored once. `--postgres-only`
//! skips the other mailbox measurements.
//!
//! Inputs are generated once into `target/bench-ingest/` and reused while the
//! generator version and the sizes match. This is a benchmark, not a test: it
//! prints PASS/FAIL against the targets but exits non-zero only on a real
//! error.

use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

use dmarc_report::ingest::Ingester;
use dmarc_report::limits::Limits;
use dmarc_report::model::ReportHeader;
use dmarc_report::parse::{ParseOptions, ReportReader};
use dmarc_report::store::raw::RawCapture;
use dmarc_report::store::{RawMeta, RecordRow, ReportTail, Store};
use dmarc_report_testkit::Rng;
use dmarc_report_testkit::archive::{Attachment, Email, gzip, zip};
use dmarc_report_testkit::report::{Record, Report, TAIL};
use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;

#[path = "common/mod.rs"]
mod common;
use common::{
    Res, bench_dir, busy_cpu_s, cpu_model, db_bytes, markdown, mib, process_cpu_s, schedstat,
    vm_hwm_kib,
};

/// Bump when the generated XML changes, so cached inputs are rebuilt.
const GENERATOR_VERSION: u32 = 1;
/// Sizes measured when none are given.
const DEFAULT_SIZES: [u64; 2] = [100_000, 1_000_000];
/// Time target: 100,000 records parsed and stored in at most this.
const TARGET_WALL_100K_S: f64 = 0.5;
/// Memory target for every size, in MiB of peak resident memory.
const TARGET_RSS_MIB: f64 = 64.0;

fn main() -> ExitCode {
    common::bench_main("ingest", child, parent)
}

// ---------------------------------------------------------------------------
// Parent: generate, run the children, print the table.
// ---------------------------------------------------------------------------

/// What a child measures.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Ingest,
    Tokenize,
    Parse,
    ParseCapture,
    Store,
    /// The mailbox floor: unpack + tokenize, then a bare insert.
    MailboxFloor,
}

impl Mode {
    fn arg(self) -> &'static str {
        match self {
            Mode::Ingest => "ingest",
            Mode::Tokenize => "tokenize",
            Mode::Parse => "parse",
            Mode::ParseCapture => "parse-capture",
            Mode::Store => "store",
            Mode::MailboxFloor => "mailbox-floor",
        }
    }

    fn from_arg(s: &str) -> Option<Mode> {
        [
            Mode::Ingest,
            Mode::Tokenize,
            Mode::Parse,
            Mode::ParseCapture,
            Mode::Store,
            Mode::MailboxFloor,
        ]
        .into_iter()
        .find(|m| m.arg() == s)
    }

    fn label(self) -> &'static str {
        match self {
            Mode::Ingest => "ingest",
            Mode::Tokenize => "floor tokenize",
            Mode::Parse => "parse only",
            Mode::ParseCapture => "parse + raw gzip",
            Mode::Store => "floor store",
            Mode::MailboxFloor => "floor",
        }
    }
}

/// One measurement as a child reports it.
#[derive(Clone, Debug, Default)]
struct Sample {
    /// Seconds of the measured work (for ingest: `Store::open` .. `finish`).
    wall_s: f64,
    /// Seconds to drop the store afterwards (SQLite close, WAL checkpoint).
    close_s: f64,
    /// CPU seconds of the measured work, all threads (`/proc/self/stat`).
    cpu_s: f64,
    /// Seconds the main thread was runnable but waiting for a CPU (other
    /// load; `/proc/self/schedstat`).
    wait_s: f64,
    /// CPUs kept busy by other processes during the run, on average
    /// (`/proc/stat`; 0 on a quiet machine).
    other_cpus: f64,
    records: u64,
    /// Reports stored (ingest only).
    reports: u64,
    hwm_kib: u64,
    db_bytes: u64,
    /// Mailbox floor: seconds of its first part (read + MIME + base64 +
    /// decompress + tokenize); `wall_s - unpack_s` is the bare insert.
    unpack_s: f64,
}

/// One row of the table.
struct Row {
    size: u64,
    input: String,
    mode: Mode,
    file_bytes: u64,
    xml_bytes: u64,
    /// Median over the runs.
    sample: Sample,
    /// Fastest and slowest wall time over the runs.
    wall_range: (f64, f64),
    runs: usize,
}

fn parent(args: &[String]) -> Res<()> {
    let mut sizes = Vec::new();
    let mut mailboxes = Vec::new();
    let mut runs: Option<usize> = None;
    let mut parsedmarc: Option<PathBuf> = None;
    let mut postgres: Option<String> = None;
    let mut workers = 4usize;
    let mut postgres_only = false;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            // `cargo bench` passes --bench to harness = false targets.
            "--bench" => {}
            "--runs" => {
                let n = it.next().ok_or("--runs needs a number")?;
                runs = Some(n.parse().map_err(|_| format!("--runs {n}: not a number"))?);
            }
            "--parsedmarc" => {
                let path = it.next().ok_or("--parsedmarc needs the path of its executable")?;
                parsedmarc = Some(PathBuf::from(path));
            }
            "--postgres" => {
                postgres = Some(it.next().ok_or("--postgres needs a server URL")?.clone());
            }
            "--postgres-only" => postgres_only = true,
            "--workers" => {
                let n = it.next().ok_or("--workers needs a number")?;
                workers = n.parse().map_err(|_| format!("--workers {n}: not a number"))?;
            }
            "--mailbox" => {
                let n = it.next().ok_or("--mailbox needs a number of emails")?;
                let n: u64 = n.parse().map_err(|_| format!("--mailbox {n}: not a number"))?;
                if n == 0 {
                    return Err("a mailbox needs at least one email".into());
                }
                mailboxes.push(n);
            }
            other if other.starts_with('-') => {}
            other => {
                let digits: String = other.chars().filter(|c| *c != '_' && *c != ',').collect();
                let n: u64 =
                    digits.parse().map_err(|_| format!("\"{other}\" is not a record count"))?;
                if n == 0 {
                    return Err("a size must be at least one record".into());
                }
                sizes.push(n);
            }
        }
    }
    if sizes.is_empty() && mailboxes.is_empty() {
        sizes.extend(DEFAULT_SIZES);
    }
    let exe = std::env::current_exe()?;
    let dir = bench_dir(&exe, "bench-ingest");
    fs::create_dir_all(&dir)?;
    println!("ingest benchmark; inputs and databases under {}", dir.display());
    println!(
        "machine: {} CPU(s), {}; targets: 100,000 records in <= {TARGET_WALL_100K_S} s, \
         peak RSS <= {TARGET_RSS_MIB} MiB",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        cpu_model()
    );

    let mut rows = Vec::new();
    let mut whole = Vec::new();
    for &size in &sizes {
        let inputs = ensure_inputs(&dir, size)?;
        let runs = runs.unwrap_or(if size <= 200_000 { 3 } else { 1 });
        let plan: [(&Path, &str, Mode); 8] = [
            (&inputs.xml, "xml", Mode::Ingest),
            (&inputs.gz, "xml.gz", Mode::Ingest),
            (&inputs.xml, "xml", Mode::Tokenize),
            (&inputs.gz, "xml.gz", Mode::Tokenize),
            (&inputs.xml, "xml", Mode::Parse),
            (&inputs.xml, "xml", Mode::ParseCapture),
            (&inputs.gz, "xml.gz", Mode::ParseCapture),
            (&inputs.xml, "xml", Mode::Store),
        ];
        for (path, input, mode) in plan {
            let mut samples = Vec::new();
            for _ in 0..runs {
                let sample = run_child(&exe, &dir, mode, path)?;
                if sample.records != size {
                    return Err(format!(
                        "{} of {}: {} records seen, expected {size}",
                        mode.label(),
                        path.display(),
                        sample.records
                    )
                    .into());
                }
                samples.push(sample);
            }
            let row = Row {
                size,
                input: input.to_owned(),
                mode,
                file_bytes: fs::metadata(path)?.len(),
                xml_bytes: inputs.xml_bytes,
                sample: median(&samples),
                wall_range: samples
                    .iter()
                    .fold((f64::MAX, 0.0f64), |(lo, hi), s| (lo.min(s.wall_s), hi.max(s.wall_s))),
                runs,
            };
            eprintln!("  {}", row_line(&row));
            rows.push(row);
        }
        if let Some(parsedmarc) = &parsedmarc {
            let what = format!("{size} records, xml");
            whole.extend(side_by_side(&dir, &what, &inputs.xml, 1, runs.max(2), Some(parsedmarc))?);
        }
    }
    let mut mailbox_rows = Vec::new();
    let mut worker_rows = Vec::new();
    for &emails in &mailboxes {
        let mailbox = ensure_mailbox(&dir, emails)?;
        let runs = runs.unwrap_or(3);
        if let Some(server) = &postgres {
            worker_rows.extend(several_workers(&dir, server, &mailbox, workers, runs)?);
            if postgres_only {
                continue;
            }
        }
        let plan = [
            (&mailbox.mbox, "ingest mbox", Mode::Ingest),
            (&mailbox.maildir, "ingest Maildir", Mode::Ingest),
            (&mailbox.mbox, "floor (mbox)", Mode::MailboxFloor),
        ];
        for (path, input, mode) in plan {
            let mut samples = Vec::new();
            for _ in 0..runs {
                let sample = run_child(&exe, &dir, mode, path)?;
                if sample.records != mailbox.records || sample.reports != mailbox.emails {
                    return Err(format!(
                        "ingest of {}: {} reports with {} records stored, expected {} with {}",
                        path.display(),
                        sample.reports,
                        sample.records,
                        mailbox.emails,
                        mailbox.records
                    )
                    .into());
                }
                samples.push(sample);
            }
            let row = MailboxRow {
                emails,
                input,
                input_bytes: tree_bytes(path)?,
                xml_bytes: mailbox.xml_bytes,
                sample: median(&samples),
                wall_range: samples
                    .iter()
                    .fold((f64::MAX, 0.0f64), |(lo, hi), s| (lo.min(s.wall_s), hi.max(s.wall_s))),
                runs,
            };
            let s = &row.sample;
            eprintln!(
                "  mailbox of {emails} emails, {input}: {:.3} s (+{:.3} s close; CPU {:.3} \
                 s, other load {:.2}), peak RSS {:.1} MiB",
                s.wall_s,
                s.close_s,
                s.cpu_s,
                s.other_cpus,
                mib(s.hwm_kib)
            );
            mailbox_rows.push(row);
        }
        let what = format!("mailbox of {emails} emails, mbox");
        whole.extend(side_by_side(
            &dir,
            &what,
            &mailbox.mbox,
            mailbox.emails,
            runs.max(2),
            parsedmarc.as_deref(),
        )?);
    }
    if !rows.is_empty() {
        println!();
        print!("{}", table(&rows));
    }
    if !mailbox_rows.is_empty() {
        println!();
        print!("{}", mailbox_table(&mailbox_rows));
    }
    if !whole.is_empty() {
        println!();
        print!("{}", side_by_side_table(&whole));
    }
    if !worker_rows.is_empty() {
        println!();
        print!("{}", workers_table(&worker_rows));
    }
    Ok(())
}

/// Whole `dmarc-report ingest` processes of one mailbox into one database.
struct WorkersRow {
    emails: u64,
    records: u64,
    database: &'static str,
    processes: usize,
    /// Wall seconds of each run, first start to last exit.
    runs: Vec<f64>,
}

/// `workers` ingest processes of the mailbox at once into one new
/// PostgreSQL database, beside one process into PostgreSQL and one into a
/// new SQLite file, `runs` times each, interleaved.
fn several_workers(
    dir: &Path,
    server: &str,
    mailbox: &Mailbox,
    workers: usize,
    runs: usize,
) -> Res<Vec<WorkersRow>> {
    let row = |database, processes| WorkersRow {
        emails: mailbox.emails,
        records: mailbox.records,
        database,
        processes,
        runs: Vec::new(),
    };
    let mut rows = [row("SQLite", 1), row("PostgreSQL", 1), row("PostgreSQL", workers)];
    for run in 0..runs {
        rows[0].runs.push(time_cli(dir, &mailbox.mbox)?.wall_s);
        for row in &mut rows[1..] {
            let wall = ingest_into_postgres(server, mailbox, row.processes, run)?;
            eprintln!(
                "  mailbox of {} emails, {} ingest process(es) into PostgreSQL: {wall:.3} s",
                mailbox.emails, row.processes
            );
            row.runs.push(wall);
        }
        eprintln!(
            "  mailbox of {} emails, 1 ingest process into SQLite: {:.3} s",
            mailbox.emails, rows[0].runs[run]
        );
    }
    Ok(rows.into())
}

/// Runs `processes` ingests of the mailbox at once into a new database on
/// `server` (its schema made first, not timed); checks that each report was
/// stored once, drops the database, and returns the wall time.
fn ingest_into_postgres(server: &str, mailbox: &Mailbox, processes: usize, run: usize) -> Res<f64> {
    let name = format!("dmarc_bench_ingest_{}_{processes}_{run}", std::process::id());
    let (base, query) = server.split_once('?').unwrap_or((server, ""));
    let (host, _) = base.rsplit_once('/').ok_or("--postgres: not a postgresql://.../DB URL")?;
    let url =
        if query.is_empty() { format!("{host}/{name}") } else { format!("{host}/{name}?{query}") };
    let mut admin = postgres::Client::connect(server, postgres::NoTls)?;
    // One statement each: neither may run inside a transaction block.
    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))?;
    admin.batch_execute(&format!("CREATE DATABASE {name}"))?;
    drop(Store::open(Path::new(&url))?);
    let started = Instant::now();
    let children = (0..processes)
        .map(|_| {
            Command::new(env!("CARGO_BIN_EXE_dmarc-report"))
                .arg("--db")
                .arg(&url)
                .args(["ingest", "--format", "json"])
                .arg(&mailbox.mbox)
                .env_remove("DMARC_REPORT_DB")
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
        })
        .collect::<Result<Vec<_>, _>>()?;
    for child in children {
        let out = child.wait_with_output()?;
        if !out.status.success() {
            return Err(format!(
                "ingest into {url} exited with {}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            )
            .into());
        }
    }
    let wall = started.elapsed().as_secs_f64();
    {
        let store = Store::open(Path::new(&url))?;
        let c = store.inspect().counts()?;
        if c.reports != mailbox.emails
            || c.records != mailbox.records
            || c.distinct_reports != c.reports
        {
            return Err(format!(
                "{processes} ingest(s) into PostgreSQL stored {c:?}, expected {} reports with {} \
                 records, each once",
                mailbox.emails, mailbox.records
            )
            .into());
        }
    }
    admin.batch_execute(&format!("DROP DATABASE {name}"))?;
    Ok(wall)
}

fn workers_table(rows: &[WorkersRow]) -> String {
    let header = [
        "input",
        "database",
        "ingest processes",
        "wall s (median)",
        "min..max",
        "emails/s",
        "records/s",
        "vs 1 process into SQLite",
    ];
    let mut lines: Vec<Vec<String>> = vec![header.iter().map(|h| h.to_string()).collect()];
    let median_of = |runs: &[f64]| {
        let mut sorted = runs.to_vec();
        sorted.sort_by(f64::total_cmp);
        sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN)
    };
    for row in rows {
        let wall = median_of(&row.runs);
        let sqlite = rows
            .iter()
            .find(|o| o.emails == row.emails && o.database == "SQLite")
            .map(|o| median_of(&o.runs));
        let lo = row.runs.iter().copied().fold(f64::MAX, f64::min);
        let hi = row.runs.iter().copied().fold(0.0, f64::max);
        lines.push(vec![
            format!("mailbox of {} emails, mbox", row.emails),
            row.database.to_owned(),
            row.processes.to_string(),
            format!("{wall:.3}"),
            format!("{lo:.3}..{hi:.3}"),
            format!("{:.0}", row.emails as f64 / wall),
            format!("{:.0}", row.records as f64 / wall),
            sqlite.map_or("-".into(), |s| format!("{:.2}x", s / wall)),
        ]);
    }
    let mut out = markdown(&lines);
    out.push_str(
        "\nWhole `dmarc-report ingest --format json` processes of the same mbox, same run, \
         interleaved. Several processes ingest the whole mailbox each, at once, into one \
         database: every report is stored once (checked) and the others count it as a \
         duplicate. wall s from the first start to the last exit; emails/s is the mailbox's \
         emails over that time.\n",
    );
    out
}

/// One mailbox measurement.
struct MailboxRow {
    emails: u64,
    /// What was measured.
    input: &'static str,
    input_bytes: u64,
    xml_bytes: u64,
    sample: Sample,
    wall_range: (f64, f64),
    runs: usize,
}

/// Bytes of a file, or of every file under a folder.
fn tree_bytes(path: &Path) -> Res<u64> {
    let meta = fs::metadata(path)?;
    if meta.is_file() {
        return Ok(meta.len());
    }
    let mut total = 0;
    for entry in fs::read_dir(path)? {
        total += tree_bytes(&entry?.path())?;
    }
    Ok(total)
}

fn mailbox_table(rows: &[MailboxRow]) -> String {
    let header = [
        "emails",
        "measurement",
        "input MB",
        "XML MB",
        "wall s",
        "wall min..max",
        "of which unpack + tokenize s",
        "close s",
        "CPU s",
        "other load",
        "reports/s",
        "records",
        "records/s",
        "peak RSS MiB",
        "stored MB",
        "runs",
    ];
    let mut lines: Vec<Vec<String>> = vec![header.iter().map(|h| h.to_string()).collect()];
    for row in rows {
        let s = &row.sample;
        lines.push(vec![
            row.emails.to_string(),
            row.input.to_owned(),
            format!("{:.1}", mb(row.input_bytes)),
            format!("{:.1}", mb(row.xml_bytes)),
            format!("{:.3}", s.wall_s),
            format!("{:.3}..{:.3}", row.wall_range.0, row.wall_range.1),
            if s.unpack_s > 0.0 { format!("{:.3}", s.unpack_s) } else { "-".into() },
            format!("{:.3}", s.close_s),
            format!("{:.3}", s.cpu_s),
            format!("{:.2}", s.other_cpus),
            format!("{:.0}", s.reports as f64 / s.wall_s),
            s.records.to_string(),
            format!("{:.0}", s.records as f64 / s.wall_s),
            format!("{:.1}", mib(s.hwm_kib)),
            format!("{:.1}", mb(s.db_bytes)),
            row.runs.to_string(),
        ]);
    }
    let mut out = markdown(&lines);
    out.push_str(
        "\nwall s: median run of Store::open .. Ingester::finish over the whole mailbox (one \
         report per email). Peak RSS: VmHWM of the child process (max over runs).\nfloor: one \
         thread, read the mbox + MIME + base64 + gunzip/unzip + quick-xml's event loop (the \
         unpack + tokenize column), then a bare insert of the same reports (rows made \
         beforehand; 500 per transaction).\n",
    );
    out
}

fn run_child(exe: &Path, dir: &Path, mode: Mode, input: &Path) -> Res<Sample> {
    // A fresh database directory per run, removed afterwards.
    let db_dir = tempfile::Builder::new().prefix("db-").tempdir_in(dir)?;
    let busy_before = busy_cpu_s();
    let started = Instant::now();
    let output = Command::new(exe)
        .arg(common::CHILD)
        .arg(mode.arg())
        .arg(input)
        .arg(db_dir.path().join("dmarc.db"))
        .output()?;
    let elapsed = started.elapsed().as_secs_f64();
    let busy = busy_cpu_s().zip(busy_before).map(|(after, before)| after - before);
    if !output.status.success() {
        return Err(format!(
            "child {} {} failed ({}): {}",
            mode.arg(),
            input.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )
        .into());
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .find(|l| l.starts_with("BENCH "))
        .ok_or_else(|| format!("child printed no result: {stdout}"))?;
    let mut sample = Sample::default();
    for field in line.split_whitespace().skip(1) {
        let (key, value) = field.split_once('=').ok_or("bad child output")?;
        match key {
            "wall_s" => sample.wall_s = value.parse()?,
            "close_s" => sample.close_s = value.parse()?,
            "cpu_s" => sample.cpu_s = value.parse()?,
            "wait_s" => sample.wait_s = value.parse()?,
            "records" => sample.records = value.parse()?,
            "reports" => sample.reports = value.parse()?,
            "hwm_kib" => sample.hwm_kib = value.parse()?,
            "db_bytes" => sample.db_bytes = value.parse()?,
            "unpack_s" => sample.unpack_s = value.parse()?,
            _ => {}
        }
    }
    if let Some(busy) = busy {
        // The child's own CPU time is in `busy` too (its start-up and exit
        // are not in cpu_s, but take milliseconds).
        sample.other_cpus = ((busy - sample.cpu_s) / elapsed).max(0.0);
    }
    Ok(sample)
}

/// The run with the median wall time; the peak RSS is the largest seen.
fn median(samples: &[Sample]) -> Sample {
    let mut sorted = samples.to_vec();
    sorted.sort_by(|a, b| a.wall_s.total_cmp(&b.wall_s));
    let mut mid = sorted[sorted.len() / 2].clone();
    mid.hwm_kib = samples.iter().map(|s| s.hwm_kib).max().unwrap_or(0);
    mid
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

fn verdicts(row: &Row) -> (&'static str, &'static str) {
    if row.mode != Mode::Ingest {
        return ("ref", "ref");
    }
    let time = if row.size == 100_000 {
        if row.sample.wall_s <= TARGET_WALL_100K_S { "PASS" } else { "FAIL" }
    } else {
        "-"
    };
    let rss = if mib(row.sample.hwm_kib) <= TARGET_RSS_MIB { "PASS" } else { "FAIL" };
    (time, rss)
}

fn row_line(row: &Row) -> String {
    let s = &row.sample;
    format!(
        "{} records, {} {}: {:.3} s (+{:.3} s close; CPU {:.3} s, waited {:.3} s, other load \
         {:.2}), peak RSS {:.1} MiB",
        row.size,
        row.mode.label(),
        row.input,
        s.wall_s,
        s.close_s,
        s.cpu_s,
        s.wait_s,
        s.other_cpus,
        mib(s.hwm_kib)
    )
}

fn table(rows: &[Row]) -> String {
    let mut out = String::new();
    let header = [
        "records",
        "measurement",
        "input",
        "file MB",
        "wall s",
        "wall min..max",
        "close s",
        "CPU s",
        "CPU-wait s",
        "other load",
        "records/s",
        "XML MB/s",
        "peak RSS MiB",
        "stored MB",
        "runs",
        "time <= 0.5 s",
        "RSS <= 64 MiB",
    ];
    let mut lines: Vec<Vec<String>> = vec![header.iter().map(|h| h.to_string()).collect()];
    for row in rows {
        let s = &row.sample;
        let (time, rss) = verdicts(row);
        lines.push(vec![
            row.size.to_string(),
            row.mode.label().to_owned(),
            row.input.clone(),
            format!("{:.1}", mb(row.file_bytes)),
            format!("{:.3}", s.wall_s),
            format!("{:.3}..{:.3}", row.wall_range.0, row.wall_range.1),
            if row.mode == Mode::Ingest { format!("{:.3}", s.close_s) } else { "-".into() },
            format!("{:.3}", s.cpu_s),
            format!("{:.3}", s.wait_s),
            format!("{:.2}", s.other_cpus),
            format!("{:.0}", s.records as f64 / s.wall_s),
            format!("{:.1}", mb(row.xml_bytes) / s.wall_s),
            format!("{:.1}", mib(s.hwm_kib)),
            match row.mode {
                Mode::Ingest | Mode::ParseCapture | Mode::Store => format!("{:.1}", mb(s.db_bytes)),
                _ => "-".into(),
            },
            row.runs.to_string(),
            time.to_owned(),
            rss.to_owned(),
        ]);
    }
    out.push_str(&markdown(&lines));
    out.push_str(
        "\nwall s: median run; ingest = Store::open .. Ingester::finish (close s = dropping the \
         store afterwards).\nCPU s: CPU time of the measured work (all threads, includes close); \
         CPU-wait s: time the main thread was runnable but another process had the CPU; other load: CPUs kept busy by other \
         processes meanwhile (0 = quiet machine; on a busy 2-CPU machine CPU times grow too).\n\
         XML MB/s: decompressed XML bytes / wall s. Peak RSS: VmHWM of the child process (max \
         over runs).\nstored MB: database files after ingest (db + -wal + -shm); for parse + raw \
         gzip, the size of the gzip copy RawCapture keeps in memory.\n",
    );
    out
}

// ---------------------------------------------------------------------------
// Child: one measurement.
// ---------------------------------------------------------------------------

fn child(args: &[String]) -> Res<()> {
    let [mode, input, db] = args else {
        return Err(
            "usage: __child <ingest|tokenize|parse|parse-capture|store|mailbox-floor> <input> <db>"
                .into(),
        );
    };
    let mode = Mode::from_arg(mode).ok_or_else(|| format!("unknown mode {mode}"))?;
    let input = PathBuf::from(input);
    let mut sample = Sample::default();
    // The store floor's rows are made before the measurement starts.
    let prepared = if mode == Mode::Store { Some(prepare_rows(&input)?) } else { None };
    let mailbox_rows =
        if mode == Mode::MailboxFloor { Some(prepare_mailbox_rows(&input)?) } else { None };
    let (cpu0, wait0) = (process_cpu_s()?, schedstat()?.1);
    match mode {
        Mode::Ingest => {
            let db = PathBuf::from(db);
            let start = Instant::now();
            let store = Store::open(&db)?;
            let mut ingester = Ingester::new(&store, Limits::default());
            ingester.ingest_paths(&[input.display().to_string()])?;
            let summary = ingester.finish()?;
            sample.wall_s = start.elapsed().as_secs_f64();
            let closing = Instant::now();
            drop(store);
            sample.close_s = closing.elapsed().as_secs_f64();
            if !summary.failed.is_empty() {
                return Err(format!("ingest failed: {:?}", summary.failed).into());
            }
            sample.records = summary.records;
            sample.reports = summary.reports_new;
            sample.db_bytes = db_bytes(&db);
        }
        Mode::Store => {
            let prepared = prepared.ok_or("no rows prepared")?;
            let db = PathBuf::from(db);
            let start = Instant::now();
            let store = Store::open(&db)?;
            sample.records = store_rows(&store, prepared)?;
            sample.wall_s = start.elapsed().as_secs_f64();
            let closing = Instant::now();
            drop(store);
            sample.close_s = closing.elapsed().as_secs_f64();
            sample.reports = 1;
            sample.db_bytes = db_bytes(&db);
        }
        Mode::MailboxFloor => {
            let prepared = mailbox_rows.ok_or("no rows prepared")?;
            let db = PathBuf::from(db);
            let start = Instant::now();
            let (reports, records) = unpack_tokenize_mailbox(&input)?;
            sample.unpack_s = start.elapsed().as_secs_f64();
            let store = Store::open(&db)?;
            let stored = store_mailbox_rows(&store, prepared)?;
            sample.wall_s = start.elapsed().as_secs_f64();
            drop(store);
            if stored != records {
                return Err(format!("floor: {records} records tokenized, {stored} stored").into());
            }
            sample.records = records;
            sample.reports = reports;
            sample.db_bytes = db_bytes(&db);
        }
        Mode::Tokenize => {
            let start = Instant::now();
            sample.records = tokenize(open_input(&input)?)?;
            sample.wall_s = start.elapsed().as_secs_f64();
        }
        Mode::Parse => {
            let start = Instant::now();
            sample.records = parse(open_input(&input)?)?;
            sample.wall_s = start.elapsed().as_secs_f64();
        }
        Mode::ParseCapture => {
            let start = Instant::now();
            let mut capture = RawCapture::new(open_input(&input)?);
            sample.records = parse(&mut capture)?;
            let gzip = capture.finish()?;
            sample.wall_s = start.elapsed().as_secs_f64();
            sample.db_bytes = gzip.len() as u64;
        }
    }
    let (cpu1, wait1) = (process_cpu_s()?, schedstat()?.1);
    sample.cpu_s = cpu1 - cpu0;
    sample.wait_s = wait1 - wait0;
    sample.hwm_kib = vm_hwm_kib()?;
    println!(
        "BENCH wall_s={:.6} close_s={:.6} cpu_s={:.6} wait_s={:.6} records={} reports={} \
         hwm_kib={} db_bytes={} unpack_s={:.6}",
        sample.wall_s,
        sample.close_s,
        sample.cpu_s,
        sample.wait_s,
        sample.records,
        sample.reports,
        sample.hwm_kib,
        sample.db_bytes,
        sample.unpack_s
    );
    Ok(())
}

/// What the storing thread of an ingest receives, made in memory ahead of
/// the store floor's measurement: the header, every record as a row, and
/// the pieces of the raw gzip copy.
struct Prepared {
    header: ReportHeader,
    rows: Vec<RecordRow>,
    raw: Vec<Vec<u8>>,
    tail: ReportTail,
}

fn prepare_rows(path: &Path) -> Res<Prepared> {
    let mut capture = RawCapture::new(open_input(path)?);
    let (mut reader, header) = ReportReader::open(&mut capture, &ParseOptions::default())?;
    let mut rows = Vec::new();
    let mut tail = ReportTail::default();
    while let Some(record) = reader.next_record()? {
        rows.push(RecordRow::new(&record));
    }
    tail.warnings = reader.warnings();
    drop(reader);
    let mut raw = Vec::new();
    while let Some(chunk) = capture.take_chunk() {
        raw.push(chunk);
    }
    raw.push(capture.finish()?);
    Ok(Prepared { header, rows, raw, tail })
}

/// SQLite alone: the statements an ingest runs for one report, in one
/// transaction, with nothing to parse. Returns the records stored.
fn store_rows(store: &Store, p: Prepared) -> Res<u64> {
    store.begin()?;
    let mut writer = store.start_report(&p.header, "bench", 0)?.ok_or("report already stored")?;
    writer.rows(&p.rows)?;
    for chunk in &p.raw {
        writer.raw_chunk(chunk)?;
    }
    writer.finish(&p.tail, &RawMeta::default())?;
    store.commit()?;
    Ok(p.rows.len() as u64)
}

/// The file, gunzipped when it is a `.gz`, through a 256 KiB buffer (as
/// `Ingester::ingest_file` reads it).
fn open_input(path: &Path) -> Res<Box<dyn Read>> {
    let file = BufReader::with_capacity(256 * 1024, File::open(path)?);
    Ok(if path.extension().is_some_and(|e| e == "gz") {
        Box::new(GzDecoder::new(file))
    } else {
        Box::new(file)
    })
}

/// quick-xml's event loop alone, configured as the parser configures it;
/// returns the number of `<record>` elements.
fn tokenize(input: impl Read) -> Res<u64> {
    let mut xml = quick_xml::Reader::from_reader(BufReader::with_capacity(64 * 1024, input));
    let config = xml.config_mut();
    config.expand_empty_elements = true;
    config.check_end_names = true;
    config.trim_markup_names_in_closing_tags = true;
    let mut buf = Vec::with_capacity(1024);
    let mut records = 0u64;
    loop {
        buf.clear();
        match xml.read_event_into(&mut buf)? {
            quick_xml::events::Event::Start(start)
                if start.local_name().as_ref().as_bytes() == b"record" =>
            {
                records += 1;
            }
            quick_xml::events::Event::Eof => break,
            _ => {}
        }
    }
    Ok(records)
}

/// The crate's streaming parser, records built and dropped.
fn parse(input: impl Read) -> Res<u64> {
    let (mut reader, _header) = ReportReader::open(input, &ParseOptions::default())?;
    let mut records = 0u64;
    while let Some(record) = reader.next_record()? {
        std::hint::black_box(&record);
        records += 1;
    }
    Ok(records)
}

/// The report a rua email carries, as the bytes of its attachment (after
/// MIME and base64): a gzip, a zip or plain XML.
fn report_payloads(mbox: &Path, mut each: impl FnMut(&[u8]) -> Res<()>) -> Res<()> {
    let file = BufReader::with_capacity(256 * 1024, File::open(mbox)?);
    for message in mail_parser::mailbox::mbox::MessageIterator::new(file) {
        let message = message.map_err(|_| "unreadable mbox")?;
        let email = mail_parser::MessageParser::default()
            .parse(message.contents())
            .ok_or("unreadable email")?;
        let part = email
            .parts
            .iter()
            .find(|p| mail_parser::MimeHeaders::attachment_name(*p).is_some())
            .ok_or("an email without an attachment")?;
        match &part.body {
            mail_parser::PartType::Binary(b) | mail_parser::PartType::InlineBinary(b) => each(b)?,
            mail_parser::PartType::Text(t) => each(t.as_bytes())?,
            _ => return Err("an attachment that is neither binary nor text".into()),
        }
    }
    Ok(())
}

/// The XML inside a payload, streamed to `each`.
fn with_xml(payload: &[u8], each: &mut impl FnMut(&mut dyn Read) -> Res<()>) -> Res<()> {
    if payload.starts_with(&[0x1f, 0x8b]) {
        each(&mut GzDecoder::new(payload))
    } else if payload.starts_with(b"PK") {
        let mut archive = zip::ZipArchive::new(io::Cursor::new(payload))?;
        let mut entry = archive.by_index(0)?;
        each(&mut entry)
    } else {
        each(&mut &payload[..])
    }
}

/// The first part of the mailbox floor, on one thread: read the mbox,
/// split it, parse each email's MIME tree (base64 decoded), decompress the
/// report and run quick-xml's event loop over it. Returns (reports, records).
fn unpack_tokenize_mailbox(mbox: &Path) -> Res<(u64, u64)> {
    let (mut reports, mut records) = (0u64, 0u64);
    report_payloads(mbox, |payload| {
        with_xml(payload, &mut |xml| {
            records += tokenize(xml)?;
            reports += 1;
            Ok(())
        })
    })?;
    Ok((reports, records))
}

/// The mailbox's reports as an ingest stores them (header, rows, a gzip raw
/// copy), made before the floor's measurement starts.
fn prepare_mailbox_rows(mbox: &Path) -> Res<Vec<Prepared>> {
    let mut all = Vec::new();
    report_payloads(mbox, |payload| {
        with_xml(payload, &mut |xml| {
            let mut capture = RawCapture::new(xml);
            let (mut reader, header) = ReportReader::open(&mut capture, &ParseOptions::default())?;
            let mut rows = Vec::new();
            let mut tail = ReportTail::default();
            while let Some(record) = reader.next_record()? {
                rows.push(RecordRow::new(&record));
            }
            tail.warnings = reader.warnings();
            drop(reader);
            let raw = vec![capture.finish()?];
            all.push(Prepared { header, rows, raw, tail });
            Ok(())
        })
    })?;
    Ok(all)
}

/// The bare insert of the mailbox floor: every report through the store's
/// report writer, as an ingest stores it, in transactions of 500 reports,
/// on one thread. Returns the records stored.
fn store_mailbox_rows(store: &Store, all: Vec<Prepared>) -> Res<u64> {
    let mut stored = 0;
    for (i, p) in all.iter().enumerate() {
        if i % 500 == 0 {
            if store.in_transaction() {
                store.commit()?;
            }
            store.begin()?;
        }
        let mut writer =
            store.start_report(&p.header, "bench", 0)?.ok_or("report already stored")?;
        writer.rows(&p.rows)?;
        for chunk in &p.raw {
            writer.raw_chunk(chunk)?;
        }
        writer.finish(&p.tail, &RawMeta::default())?;
        stored += p.rows.len() as u64;
    }
    if store.in_transaction() {
        store.commit()?;
    }
    Ok(stored)
}

// ---------------------------------------------------------------------------
// Whole processes: the CLI and parsedmarc.
// ---------------------------------------------------------------------------

/// A whole process as `/usr/bin/time` saw it.
#[derive(Clone, Copy, Default)]
struct Process {
    wall_s: f64,
    cpu_s: f64,
    rss_kib: u64,
}

/// Runs `program args...` under `/usr/bin/time`, its output discarded.
fn time_process(program: &Path, args: &[&std::ffi::OsStr]) -> Res<Process> {
    let report = tempfile::NamedTempFile::new()?;
    let started = Instant::now();
    let status = Command::new("/usr/bin/time")
        .arg("-o")
        .arg(report.path())
        .arg("-f")
        .arg("%U %S %M")
        .arg(program)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()?;
    let wall_s = started.elapsed().as_secs_f64();
    let text = fs::read_to_string(report.path())?;
    let line = text.lines().last().unwrap_or_default();
    let fields: Vec<&str> = line.split_whitespace().collect();
    let [user, sys, rss] = fields[..] else {
        return Err(
            format!("{}: unexpected /usr/bin/time output: {text}", program.display()).into()
        );
    };
    // dmarc-report exits 0 when every input was stored.
    if !status.success() {
        return Err(format!("{} exited with {status}", program.display()).into());
    }
    Ok(Process { wall_s, cpu_s: user.parse::<f64>()? + sys.parse::<f64>()?, rss_kib: rss.parse()? })
}

/// `dmarc-report --db NEW ingest --format json INPUT`, the release binary
/// built with this bench.
fn time_cli(dir: &Path, input: &Path) -> Res<Process> {
    let db_dir = tempfile::Builder::new().prefix("cli-").tempdir_in(dir)?;
    let db = db_dir.path().join("dmarc.db");
    time_process(
        Path::new(env!("CARGO_BIN_EXE_dmarc-report")),
        &[
            "--db".as_ref(),
            db.as_os_str(),
            "ingest".as_ref(),
            "--format".as_ref(),
            "json".as_ref(),
            input.as_os_str(),
        ],
    )
}

/// `parsedmarc --offline -s -o OUT INPUT`; checks that it found `reports`
/// aggregate reports.
fn time_parsedmarc(parsedmarc: &Path, dir: &Path, input: &Path, reports: u64) -> Res<Process> {
    let out = tempfile::Builder::new().prefix("parsedmarc-").tempdir_in(dir)?;
    let run = time_process(
        parsedmarc,
        &[
            "--offline".as_ref(),
            "-s".as_ref(),
            "-o".as_ref(),
            out.path().as_os_str(),
            input.as_os_str(),
        ],
    )?;
    let json = fs::read_to_string(out.path().join("aggregate.json"))?;
    let found =
        serde_json::from_str::<serde_json::Value>(&json)?.as_array().map_or(0, |a| a.len() as u64);
    if found != reports {
        return Err(format!(
            "parsedmarc found {found} reports in {}, expected {reports}",
            input.display()
        )
        .into());
    }
    Ok(run)
}

/// One tool's runs side by side with the other's.
struct SideBySide {
    what: String,
    tool: &'static str,
    runs: Vec<Process>,
}

/// dmarc-report's whole-process runs, half before and half after one
/// parsedmarc run (when there is one), on the same input.
fn side_by_side(
    dir: &Path,
    what: &str,
    input: &Path,
    reports: u64,
    runs: usize,
    parsedmarc: Option<&Path>,
) -> Res<Vec<SideBySide>> {
    let mut cli = Vec::new();
    for _ in 0..runs.div_ceil(2) {
        cli.push(time_cli(dir, input)?);
    }
    let mut rows = Vec::new();
    if let Some(parsedmarc) = parsedmarc {
        eprintln!("  running parsedmarc on {} (about a minute) ...", input.display());
        let run = time_parsedmarc(parsedmarc, dir, input, reports)?;
        rows.push(SideBySide {
            what: what.to_owned(),
            tool: "parsedmarc --offline",
            runs: vec![run],
        });
    }
    for _ in 0..runs / 2 {
        cli.push(time_cli(dir, input)?);
    }
    rows.insert(0, SideBySide { what: what.to_owned(), tool: "dmarc-report ingest", runs: cli });
    Ok(rows)
}

fn median_process(runs: &[Process]) -> Process {
    let mut sorted = runs.to_vec();
    sorted.sort_by(|a, b| a.wall_s.total_cmp(&b.wall_s));
    let mut mid = sorted[sorted.len() / 2];
    mid.rss_kib = runs.iter().map(|r| r.rss_kib).max().unwrap_or(0);
    mid
}

fn side_by_side_table(rows: &[SideBySide]) -> String {
    let header = [
        "input",
        "tool",
        "wall s (median)",
        "min..max",
        "CPU s",
        "peak RSS MiB",
        "runs",
        "throughput vs parsedmarc",
    ];
    let mut lines: Vec<Vec<String>> = vec![header.iter().map(|h| h.to_string()).collect()];
    for row in rows {
        let m = median_process(&row.runs);
        let (lo, hi) = row
            .runs
            .iter()
            .fold((f64::MAX, 0.0f64), |(lo, hi), r| (lo.min(r.wall_s), hi.max(r.wall_s)));
        let theirs = rows
            .iter()
            .find(|o| o.what == row.what && o.tool.starts_with("parsedmarc"))
            .map(|o| median_process(&o.runs).wall_s);
        lines.push(vec![
            row.what.clone(),
            row.tool.to_owned(),
            format!("{:.3}", m.wall_s),
            format!("{lo:.3}..{hi:.3}"),
            format!("{:.2}", m.cpu_s),
            format!("{:.1}", mib(m.rss_kib)),
            row.runs.len().to_string(),
            theirs.map_or("-".into(), |t| format!("{:.1}x", t / m.wall_s)),
        ]);
    }
    let mut out = markdown(&lines);
    out.push_str(
        "\nWhole processes under /usr/bin/time, same input, same run: dmarc-report's runs are \
         split before and after parsedmarc's. wall s from process start to exit; peak RSS is \
         the maximum resident set size (max over runs).\n",
    );
    out
}

// ---------------------------------------------------------------------------
// Synthetic reports.
// ---------------------------------------------------------------------------

struct Inputs {
    xml: PathBuf,
    gz: PathBuf,
    xml_bytes: u64,
}

/// Generates `synthetic-<n>.xml` and `.xml.gz` unless an up-to-date copy
/// is already there.
fn ensure_inputs(dir: &Path, records: u64) -> Res<Inputs> {
    let xml = dir.join(format!("synthetic-{records}.xml"));
    let gz = dir.join(format!("synthetic-{records}.xml.gz"));
    let stamp_path = dir.join(format!("synthetic-{records}.stamp"));
    let size = |p: &Path| fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let stamp = |x: u64, g: u64| format!("v{GENERATOR_VERSION} {records} {x} {g}");
    if fs::read_to_string(&stamp_path).ok() == Some(stamp(size(&xml), size(&gz))) {
        eprintln!("reusing {} ({:.1} MB)", xml.display(), mb(size(&xml)));
        return Ok(Inputs { xml_bytes: size(&xml), xml, gz });
    }
    eprintln!("generating {} and .gz ({records} records) ...", xml.display());
    let start = Instant::now();
    let _ = fs::remove_file(&stamp_path);
    let mut plain = BufWriter::with_capacity(1 << 20, File::create(&xml)?);
    let mut packed = GzEncoder::new(
        BufWriter::with_capacity(1 << 20, File::create(&gz)?),
        Compression::default(),
    );
    let mut both = Tee(&mut plain, &mut packed);
    write_report(&mut both, records)?;
    plain.flush()?;
    packed.finish()?.flush()?;
    fs::write(&stamp_path, stamp(size(&xml), size(&gz)))?;
    eprintln!(
        "  {:.1} MB XML, {:.1} MB gzip, {:.1} s",
        mb(size(&xml)),
        mb(size(&gz)),
        start.elapsed().as_secs_f64()
    );
    Ok(Inputs { xml_bytes: size(&xml), xml, gz })
}

/// Writes to two writers at once.
struct Tee<'a, A, B>(&'a mut A, &'a mut B);

impl<A: Write, B: Write> Write for Tee<'_, A, B> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write_all(buf)?;
        self.1.write_all(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()?;
        self.1.flush()
    }
}

/// A kind of sender seen in a report for `example.com`.
struct Sender {
    /// How often it appears (weights add up to 100).
    weight: u64,
    /// IPv4 prefix (three octets) and IPv6 prefix (four groups).
    v4: &'static [&'static str],
    v6: &'static [&'static str],
    /// Share of IPv6 source addresses, in percent.
    v6_percent: u64,
    envelope_from: &'static [&'static str],
    /// DKIM signatures: (domain, selectors); one or both are present.
    dkim: &'static [(&'static str, &'static [&'static str])],
    /// Chance that DKIM verifies, and that SPF passes, in percent.
    dkim_pass: u64,
    spf_pass: u64,
}

const DOMAIN: &str = "example.com";

const SENDERS: &[Sender] = &[
    // The domain's own outbound servers.
    Sender {
        weight: 30,
        v4: &["203.0.113", "198.51.100"],
        v6: &["2001:db8:10:1", "2001:db8:10:2"],
        v6_percent: 30,
        envelope_from: &["example.com"],
        dkim: &[("example.com", &["s2026", "s2025", "mta1"])],
        dkim_pass: 99,
        spf_pass: 99,
    },
    // Google Workspace.
    Sender {
        weight: 25,
        v4: &["209.85.220", "209.85.221", "209.85.128", "74.125.82"],
        v6: &["2a00:1450:4864:20", "2607:f8b0:4864:20", "2a00:1450:4010:c0a"],
        v6_percent: 40,
        envelope_from: &["example.com", "bounce.example.com"],
        dkim: &[("example.com", &["google"]), ("gappssmtp.com", &["20230601", "20210112"])],
        dkim_pass: 98,
        spf_pass: 97,
    },
    // A mailing service signing with both d= domains.
    Sender {
        weight: 15,
        v4: &["167.89.110", "149.72.154", "168.245.22"],
        v6: &["2605:7380:1000:1310"],
        v6_percent: 5,
        envelope_from: &["sendgrid.net", "em1234.example.com"],
        dkim: &[("example.com", &["s1", "s2"]), ("sendgrid.info", &["smtpapi"])],
        dkim_pass: 96,
        spf_pass: 95,
    },
    Sender {
        weight: 10,
        v4: &["54.240.8", "54.240.27", "23.251.226"],
        v6: &["2a01:b747:3000:200"],
        v6_percent: 10,
        envelope_from: &["amazonses.com", "eu-west-1.amazonses.com"],
        dkim: &[
            ("example.com", &["ug7nbtf4gccmlpwj322ax3p6ow6yfsug"]),
            ("amazonses.com", &["224i4yxa5dv7c2xz3womw6peuasteono"]),
        ],
        dkim_pass: 97,
        spf_pass: 96,
    },
    // Forwarders and mailing lists: SPF breaks, DKIM mostly survives.
    Sender {
        weight: 12,
        v4: &["192.0.2", "185.70.40", "212.227.15", "81.169.146", "66.111.4"],
        v6: &["2001:67c:2050:1", "2a01:238:20a:202", "2a02:c207:2034:5"],
        v6_percent: 25,
        envelope_from: &["lists.example.net", "forwarder.example.org", "srs.example.edu"],
        dkim: &[("example.com", &["s2026", "google"]), ("lists.example.net", &["list"])],
        dkim_pass: 70,
        spf_pass: 5,
    },
    // Spoofers: nothing passes.
    Sender {
        weight: 8,
        v4: &["45.142.120", "91.92.109", "185.234.218", "103.145.13", "5.188.206"],
        v6: &["2a0b:7280:200:0", "2602:fed2:7106:1"],
        v6_percent: 10,
        envelope_from: &["mail-spoof.example", "example.com", "bulk.invalid"],
        dkim: &[("mail-spoof.example", &["default", "dkim"])],
        dkim_pass: 20,
        spf_pass: 10,
    },
];

/// The metadata of one generated report.
struct ReportMeta<'a> {
    org_name: &'a str,
    email: &'a str,
    extra_contact_info: &'a str,
    report_id: String,
    begin: u64,
    end: u64,
}

/// Writes one aggregate report with `records` records (the big synthetic
/// reports).
fn write_report(out: &mut impl Write, records: u64) -> io::Result<()> {
    let mut rng = Rng::seeded(0x00D3_A2C0_FFEE_0001 ^ records);
    let begin = 1_794_873_600u64;
    let meta = ReportMeta {
        org_name: "bench.example",
        email: "noreply-dmarc-support@bench.example",
        extra_contact_info: "https://bench.example/dmarc",
        report_id: format!("bench-{records}-{begin}"),
        begin,
        end: begin + 86_399,
    };
    write_report_with(out, &meta, records, &mut rng)
}

/// Writes one aggregate report for [`DOMAIN`] with `records` records drawn
/// from [`SENDERS`].
fn write_report_with(
    out: &mut impl Write,
    meta: &ReportMeta<'_>,
    records: u64,
    rng: &mut Rng,
) -> io::Result<()> {
    let report =
        Report::new(meta.org_name, DOMAIN, &meta.report_id, meta.begin as i64, meta.end as i64)
            .email(meta.email)
            .extra_contact_info(meta.extra_contact_info)
            .policy("adkim=r; aspf=r; p=quarantine; sp=quarantine; pct=100; fo=1");
    let mut buf = String::with_capacity(64 * 1024);
    buf.push_str(&report.head());
    let weights: Vec<u64> = SENDERS.iter().map(|s| s.weight).collect();
    for _ in 0..records {
        let sender = &SENDERS[rng.weighted(&weights)];
        random_record(rng, sender).write(&mut buf, DOMAIN);
        if buf.len() > 60 * 1024 {
            out.write_all(buf.as_bytes())?;
            buf.clear();
        }
    }
    buf.push_str(TAIL);
    out.write_all(buf.as_bytes())
}

/// One record of sender `s`, its values drawn from `rng`.
fn random_record(rng: &mut Rng, s: &Sender) -> Record {
    let ip = if rng.chance(s.v6_percent) {
        format!("{}::{:x}", rng.pick(s.v6), 1 + rng.below(0xfffe))
    } else {
        format!("{}.{}", rng.pick(s.v4), 1 + rng.below(254))
    };
    // Mostly a handful of messages, sometimes thousands.
    let count = match rng.below(100) {
        0..60 => 1 + rng.below(5),
        60..92 => 5 + rng.below(100),
        _ => 100 + rng.below(5000),
    };
    let header_from = if rng.chance(90) { DOMAIN } else { "news.example.com" };
    let envelope_from = *rng.pick(s.envelope_from);
    let mut record = Record::new(ip, count).header_from(header_from).envelope_from(envelope_from);
    // One signature, or two (the customer's and the service's).
    let signatures = if s.dkim.len() > 1 && rng.chance(50) { 2 } else { 1 };
    let first = if signatures == 1 { rng.below(s.dkim.len() as u64) as usize } else { 0 };
    let mut dkim_aligned = false;
    for (domain, selectors) in &s.dkim[first..first + signatures] {
        let pass = rng.chance(s.dkim_pass);
        let result = if pass {
            "pass"
        } else if rng.chance(50) {
            "fail"
        } else {
            "none"
        };
        dkim_aligned |= pass && (domain.ends_with(DOMAIN));
        let selector = *rng.pick(selectors);
        record = record.dkim_signed(domain, Some(selector), result);
    }
    let spf_pass = rng.chance(s.spf_pass);
    let spf_result = if spf_pass { "pass" } else { *rng.pick(&["fail", "softfail", "neutral"]) };
    let spf_aligned = spf_pass && envelope_from.ends_with(DOMAIN);
    let disposition = if dkim_aligned || spf_aligned {
        "none"
    } else if rng.chance(85) {
        "quarantine"
    } else {
        "none"
    };
    record = record.evaluated(dkim_aligned, spf_aligned).disposition(disposition);
    if disposition == "none" && !dkim_aligned && !spf_aligned {
        record = record.reason("local_policy", None);
    }
    let scope = if rng.chance(97) { "mfrom" } else { "helo" };
    record.spf_scoped(envelope_from, Some(scope), spf_result)
}

// ---------------------------------------------------------------------------
// Synthetic rua mailbox.
// ---------------------------------------------------------------------------

/// Bump when the generated mailbox changes, so a cached one is rebuilt.
const MAILBOX_VERSION: u32 = 1;

/// How a reporter packs its report into the email.
#[derive(Clone, Copy)]
enum Packing {
    /// The whole message is the zip (`Content-Type: application/zip`), as Google sends it.
    ZipAlone,
    /// The whole message is the gzip, as Mimecast sends it.
    GzipAlone,
    /// multipart/mixed: a text part and a `.xml.gz` attachment (Microsoft, Yahoo).
    GzipAttached,
    /// multipart/mixed: a text part and a `.zip` attachment.
    ZipAttached,
    /// multipart/mixed: a text part and a plain `text/xml` attachment.
    XmlAttached,
}

/// A reporter in the mailbox.
struct Reporter {
    /// Emails out of 100 that come from it.
    weight: u64,
    org_name: &'static str,
    /// The name in the attachment (`receiver!domain!begin!end`).
    receiver: &'static str,
    from: &'static str,
    packing: Packing,
}

const REPORTERS: &[Reporter] = &[
    Reporter {
        weight: 30,
        org_name: "google.com",
        receiver: "google.com",
        from: "noreply-dmarc-support@google.com",
        packing: Packing::ZipAlone,
    },
    Reporter {
        weight: 25,
        org_name: "Enterprise Outlook",
        receiver: "enterprise.protection.outlook.com",
        from: "dmarcreport@microsoft.com",
        packing: Packing::GzipAttached,
    },
    Reporter {
        weight: 15,
        org_name: "Yahoo",
        receiver: "yahoo.com",
        from: "dmarchelp@yahooinc.com",
        packing: Packing::GzipAttached,
    },
    Reporter {
        weight: 10,
        org_name: "Mimecast",
        receiver: "mimecast.org",
        from: "dmarc-reports@mimecast.org",
        packing: Packing::GzipAlone,
    },
    Reporter {
        weight: 10,
        org_name: "Fastmail Pty Ltd",
        receiver: "fastmail.com",
        from: "noreply-dmarc@fastmail.com",
        packing: Packing::ZipAttached,
    },
    Reporter {
        weight: 10,
        org_name: "Example Receiver",
        receiver: "receiver.example",
        from: "dmarc@receiver.example",
        packing: Packing::XmlAttached,
    },
];

/// A generated mailbox, as an mbox file and as a Maildir folder holding the
/// same messages.
struct Mailbox {
    mbox: PathBuf,
    maildir: PathBuf,
    emails: u64,
    records: u64,
    /// Decompressed XML of all the reports.
    xml_bytes: u64,
}

/// Generates `mailbox-<n>.mbox` and `mailbox-<n>.maildir/` unless an
/// up-to-date copy is already there.
fn ensure_mailbox(dir: &Path, emails: u64) -> Res<Mailbox> {
    let mbox = dir.join(format!("mailbox-{emails}.mbox"));
    let maildir = dir.join(format!("mailbox-{emails}.maildir"));
    let stamp_path = dir.join(format!("mailbox-{emails}.stamp"));
    let size = |p: &Path| fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    if let Ok(stamp) = fs::read_to_string(&stamp_path) {
        let fields: Vec<&str> = stamp.split_whitespace().collect();
        if let [version, n, mbox_size, records, xml_bytes] = fields[..]
            && version == format!("v{MAILBOX_VERSION}")
            && n == emails.to_string()
            && mbox_size == size(&mbox).to_string()
        {
            eprintln!("reusing {} ({:.1} MB)", mbox.display(), mb(size(&mbox)));
            return Ok(Mailbox {
                mbox,
                maildir,
                emails,
                records: records.parse()?,
                xml_bytes: xml_bytes.parse()?,
            });
        }
    }
    eprintln!("generating {} and {} ({emails} emails) ...", mbox.display(), maildir.display());
    let start = Instant::now();
    let _ = fs::remove_file(&stamp_path);
    if maildir.exists() {
        fs::remove_dir_all(&maildir)?;
    }
    for sub in ["cur", "new", "tmp"] {
        fs::create_dir_all(maildir.join(sub))?;
    }
    let mut out = BufWriter::with_capacity(1 << 20, File::create(&mbox)?);
    let mut rng = Rng::seeded(0x00D3_A2C0_0000_4D42 ^ emails);
    let (mut records, mut xml_bytes) = (0u64, 0u64);
    let weights: Vec<u64> = REPORTERS.iter().map(|r| r.weight).collect();
    // Reports cover the days before this one, newest first.
    let last_day = 1_794_873_600u64;
    let mut message = Vec::with_capacity(64 * 1024);
    for i in 0..emails {
        let reporter = &REPORTERS[rng.weighted(&weights)];
        // A few records each: most reports are small, some have dozens.
        let n = match rng.below(100) {
            0..60 => 1 + rng.below(3),
            60..90 => 4 + rng.below(8),
            _ => 12 + rng.below(40),
        };
        let begin = last_day - 86_400 * (i / 20);
        let meta = ReportMeta {
            org_name: reporter.org_name,
            email: reporter.from,
            extra_contact_info: "https://support.example/dmarc",
            report_id: format!("{:012x}{i:05}", rng.below(1 << 48)),
            begin,
            end: begin + 86_399,
        };
        let mut xml = Vec::with_capacity(4096);
        write_report_with(&mut xml, &meta, n, &mut rng)?;
        records += n;
        xml_bytes += xml.len() as u64;
        message.clear();
        write_email(&mut message, reporter, &meta, &xml, i)?;
        // mbox: a separator line before each message; no line of ours
        // starts with "From ", so nothing needs quoting.
        writeln!(out, "From {} Thu Nov 19 00:00:{:02} 2026", reporter.from, i % 60)?;
        out.write_all(&message)?;
        out.write_all(b"\n")?;
        fs::write(
            maildir.join("cur").join(format!("{}.M{i}P1.bench:2,S", begin + 86_400)),
            &message,
        )?;
    }
    out.flush()?;
    drop(out);
    fs::write(
        &stamp_path,
        format!("v{MAILBOX_VERSION} {emails} {} {records} {xml_bytes}", size(&mbox)),
    )?;
    eprintln!(
        "  {emails} emails, {records} records, {:.1} MB mbox, {:.1} MB of XML, {:.1} s",
        mb(size(&mbox)),
        mb(xml_bytes),
        start.elapsed().as_secs_f64()
    );
    Ok(Mailbox { mbox, maildir, emails, records, xml_bytes })
}

/// Writes one rua email carrying `xml` the way `reporter` packs it.
fn write_email(
    out: &mut Vec<u8>,
    reporter: &Reporter,
    meta: &ReportMeta<'_>,
    xml: &[u8],
    index: u64,
) -> io::Result<()> {
    let stem = format!("{}!{DOMAIN}!{}!{}", reporter.receiver, meta.begin, meta.end);
    let (content_type, file_name, payload) = match reporter.packing {
        Packing::ZipAlone | Packing::ZipAttached => {
            ("application/zip", format!("{stem}.zip"), zip(&[(&format!("{stem}.xml"), xml)]))
        }
        Packing::GzipAlone | Packing::GzipAttached => {
            ("application/gzip", format!("{stem}.xml.gz"), gzip(xml))
        }
        Packing::XmlAttached => ("text/xml", format!("{stem}.xml"), xml.to_vec()),
    };
    // A date within the day after the report's period.
    let date = time::OffsetDateTime::from_unix_timestamp((meta.end + 1 + index % 3600) as i64)
        .map_err(io::Error::other)?
        .format(&time::format_description::well_known::Rfc2822)
        .map_err(io::Error::other)?;
    let (from, receiver, id) = (reporter.from, reporter.receiver, &meta.report_id);
    let n = 1 + index % 250;
    let mut email = Email::new()
        .header("Return-Path", &format!("<{from}>"))
        .header(
            "Received",
            &format!(
                "from mx{n}.{receiver} (mx{n}.{receiver} [192.0.2.{n}])\n\
                 \tby mx.example.com with ESMTPS id {id}\n\
                 \tfor <dmarc@example.com>; {date}"
            ),
        )
        .header("MIME-Version", "1.0")
        .header("Date", &date)
        .header("Message-ID", &format!("<{id}.{index}@{receiver}>"))
        .header(
            "Subject",
            &format!("Report domain: {DOMAIN} Submitter: {receiver} Report-ID: {id}"),
        )
        .header("From", from)
        .header("To", "dmarc@example.com");
    if let Packing::GzipAttached | Packing::ZipAttached | Packing::XmlAttached = reporter.packing {
        email = email.multipart(
            &format!("=_bench_{id}"),
            Some("This is a multi-part message in MIME format."),
            &format!(
                "This is a DMARC aggregate report for {DOMAIN} from {org}.\n\
                 Reports cover the period {begin} to {end} (Unix time).\n",
                org = reporter.org_name,
                begin = meta.begin,
                end = meta.end,
            ),
        );
    }
    email.write(out, &Attachment { content_type, file_name: &file_name, data: &payload });
    Ok(())
}
