//! Summary benchmark: a database of 10 million stored records, and how
//! long the summary of one domain over its last 30 days takes.
//!
//! ```sh
//! cargo bench --bench summary                       # 10M records over a year; 5 runs each
//! cargo bench --bench summary -- --worst            # all 10M records in big.example, 30 days
//! cargo bench --bench summary -- --distinct 1000000 # one report, 1M records from 1M addresses
//! cargo bench --bench summary -- --records 1000000  # a smaller database
//! cargo bench --bench summary -- --runs 3 --cold    # evict the database from the page cache first
//! cargo bench --bench summary -- --cmd 'summary --domain big.example --format json'
//! cargo bench --bench summary -- --no-cli           # only the library measurement
//! cargo bench --bench summary -- --generate-only    # build the cached database, measure nothing
//! cargo bench --bench summary -- --worst --postgres 'postgresql://dmarc@127.0.0.1:5432/postgres?sslmode=disable'
//! ```
//!
//! With `--postgres URL` (a role that may create databases, on any database
//! of the server), the same generated data is measured on PostgreSQL: the
//! bench creates a database named after the cached SQLite file, fills it
//! with `dmarc-report copy` from that file (a rerun of `copy` only completes
//! what is missing, so a filled database is reused) and times the same
//! library call and commands against it, with PostgreSQL's target (2 s).
//!
//! The database is generated once, deterministically (splitmix64 with a fixed
//! seed), through `Store::open` (so the migrations make the real schema) and
//! the store's own write path (`Store::start_report`, `ReportWriter`), in
//! large transactions. It is cached under
//! `target/bench-data/` under a name made of its parameters and the
//! generator version, so reruns skip generation. The raw XML copies
//! (`report_raw`, `report_raw_chunks`) are not generated: nothing the
//! summary reads is in them, and leaving them out saves about 0.5 GB and
//! minutes of deflate.
//!
//! Measurements, each in a fresh child process, `--runs` times (median,
//! min..max; peak RSS is the largest `VmHWM` seen):
//!
//! - `summarise_domain (library)`: this bench run again with a hidden `__child`
//!   argument, which opens the store and calls
//!   `analyse::summary::window(.., WindowSpec::LastDays(30))` and
//!   `analyse::summary::domain_totals` with the built-in catalogue, as the
//!   summary does; it reports its own `VmHWM`.
//! - each `--cmd` (default: `summary --domain big.example --format json`
//!   and `--format table`): the release binary run as
//!   `dmarc-report --db DB <cmd>`, standard output to a file. Its peak RSS
//!   is its `VmHWM` read from `/proc/<pid>/status` every millisecond while
//!   it runs (a peak reached in its very last millisecond could be missed).
//!   A command that fails is reported as failed; the bench carries on.
//!
//! This is a benchmark, not a test: it prints PASS/FAIL against the targets
//! (1 s; 2 s for the written report) but exits non-zero only on a real error.

use std::fmt::Write as _;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use dmarc_report::analyse;
use dmarc_report::analyse::senders::Catalogue;
use dmarc_report::analyse::summary::{self, WindowSpec};
use dmarc_report::analyse::verdict::Criteria;
use dmarc_report::model::{
    Alignment, Disposition, DkimAuth, DkimResult, DmarcResult, OverrideReason, Policy,
    PolicyPublished, Reason, Record, ReportHeader, Schema, SpfAuth, SpfResult, SpfScope,
};
use dmarc_report::store::{RawMeta, ReportTail, Store};
use dmarc_report_testkit::Rng;

#[path = "common/mod.rs"]
mod common;
use common::{
    Res, bench_dir, busy_cpu_s, cpu_model, db_bytes, hwm_from_status, markdown, mib, process_cpu_s,
    vm_hwm_kib,
};

/// Bump when the generated data or the schema changes, so cached databases
/// are rebuilt (2: schema 4, record lists in the row; 3: schema 5, rollups;
/// 4: schema 10, the compact record layout and the subdomain split).
const GENERATOR_VERSION: u32 = 4;
const SEED: u64 = 0x5EED_D3A2_C000_0001;
const DEFAULT_RECORDS: u64 = 10_000_000;
const DAY: i64 = 86_400;
/// The generated reports end here: 2026-12-01 00:00 UTC.
const END: i64 = 1_796_083_200;
/// Target: the summary of one domain over 30 days, in seconds.
const TARGET_S: f64 = 1.0;
/// Later target: the written report of the same.
const TARGET_REPORT_S: f64 = 2.0;
/// Target of the summary on PostgreSQL, in seconds.
const TARGET_POSTGRES_S: f64 = 2.0;
/// Records per transaction while generating.
const RECORDS_PER_COMMIT: u64 = 250_000;

fn main() -> ExitCode {
    common::bench_main("summary", child, parent)
}

// ---------------------------------------------------------------------------
// Parent: generate, run the children, print the table.
// ---------------------------------------------------------------------------

struct Options {
    records: u64,
    worst: bool,
    distinct: bool,
    runs: usize,
    domain: String,
    days: u32,
    cmds: Vec<String>,
    bin: PathBuf,
    cli: bool,
    cold: bool,
    generate_only: bool,
    /// A PostgreSQL server to measure on instead of the SQLite file.
    postgres: Option<String>,
}

fn options(args: &[String]) -> Res<Options> {
    let mut o = Options {
        records: DEFAULT_RECORDS,
        worst: false,
        distinct: false,
        runs: 5,
        domain: "big.example".to_owned(),
        days: 30,
        cmds: Vec::new(),
        bin: PathBuf::from(env!("CARGO_BIN_EXE_dmarc-report")),
        cli: true,
        cold: false,
        generate_only: false,
        postgres: None,
    };
    let mut it = args.iter();
    fn value(it: &mut std::slice::Iter<'_, String>, flag: &str) -> Res<String> {
        Ok(it.next().cloned().ok_or_else(|| format!("{flag} needs a value"))?)
    }
    while let Some(arg) = it.next() {
        match arg.as_str() {
            // `cargo bench` passes --bench to harness = false targets.
            "--bench" => {}
            "--worst" => o.worst = true,
            "--distinct" => {
                let v = value(&mut it, arg)?;
                let digits: String = v.chars().filter(|c| *c != '_' && *c != ',').collect();
                o.records = digits.parse().map_err(|_| format!("--distinct {v}: not a number"))?;
                if o.records == 0 || o.records > 1 << 32 {
                    return Err("--distinct must be between 1 and 2^32".into());
                }
                o.distinct = true;
            }
            "--cold" => o.cold = true,
            "--no-cli" => o.cli = false,
            "--generate-only" => o.generate_only = true,
            "--records" => {
                let v = value(&mut it, arg)?;
                let digits: String = v.chars().filter(|c| *c != '_' && *c != ',').collect();
                o.records = digits.parse().map_err(|_| format!("--records {v}: not a number"))?;
                if o.records == 0 {
                    return Err("--records must be at least 1".into());
                }
            }
            "--runs" => {
                let v = value(&mut it, arg)?;
                o.runs = v.parse().map_err(|_| format!("--runs {v}: not a number"))?;
                o.runs = o.runs.max(1);
            }
            "--days" => {
                let v = value(&mut it, arg)?;
                o.days = v.parse().map_err(|_| format!("--days {v}: not a number"))?;
            }
            "--domain" => o.domain = value(&mut it, arg)?,
            "--cmd" => o.cmds.push(value(&mut it, arg)?),
            "--bin" => o.bin = PathBuf::from(value(&mut it, arg)?),
            "--postgres" => o.postgres = Some(value(&mut it, arg)?),
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    if o.cmds.is_empty() {
        for format in ["json", "table"] {
            o.cmds.push(format!("summary --domain {} --format {format}", o.domain));
        }
    }
    Ok(o)
}

/// One measurement as the parent sees it.
#[derive(Clone, Debug, Default)]
struct Sample {
    /// Seconds, start of the process to its exit (as the user waits).
    process_s: f64,
    /// Library child only: `domain_totals` alone, and `Store::open` +
    /// `window` before it.
    totals_s: Option<f64>,
    open_s: Option<f64>,
    /// Library child only: CPU seconds of the whole child (less sensitive
    /// than wall time to other load on a shared machine).
    cpu_s: Option<f64>,
    hwm_kib: u64,
    other_cpus: f64,
    out_bytes: u64,
    /// Library child: sources in the result.
    sources: u64,
    messages: u64,
    failed: Option<String>,
}

struct Row {
    label: String,
    samples: Vec<Sample>,
    target: f64,
}

fn parent(args: &[String]) -> Res<()> {
    let o = options(args)?;
    let exe = std::env::current_exe()?;
    let dir = bench_dir(&exe, "bench-data");
    fs::create_dir_all(&dir)?;
    let shape = if o.distinct {
        Shape::Distinct
    } else if o.worst {
        Shape::Worst
    } else {
        Shape::Year
    };
    let db = ensure_db(&dir, shape, o.records)?;
    println!(
        "summary benchmark; database {} ({:.2} GB on disk)",
        db.path.display(),
        db_bytes(&db.path) as f64 / 1e9
    );
    println!(
        "machine: {} CPU(s), {}; generated in {:.1} s ({} records, {} reports)",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        cpu_model(),
        db.generation_s,
        db.records,
        db.reports
    );
    if o.generate_only {
        return Ok(());
    }
    // Where the measurements run: the SQLite file, or the same data on
    // PostgreSQL.
    let (location, target_s) = match &o.postgres {
        None => (db.path.clone(), TARGET_S),
        Some(server) => {
            if o.cold {
                return Err(
                    "--cold evicts a SQLite file from the page cache: not with --postgres".into()
                );
            }
            (PathBuf::from(fill_postgres(server, &db, &o.bin)?), TARGET_POSTGRES_S)
        }
    };
    let (window, in_window, reports_in_window) = window_stats(&location, &o.domain, o.days)?;
    println!(
        "window of {}: last {} days, [{}, {}): {in_window} records in {reports_in_window} reports",
        o.domain, o.days, window.begin, window.end
    );
    if o.cold {
        println!("--cold: the database is evicted from the page cache before every run");
    }

    let mut rows = Vec::new();
    let mut samples = Vec::new();
    for _ in 0..o.runs {
        evict_if(o.cold, &location)?;
        let sample = run_library_child(&exe, &location, &o.domain, o.days)?;
        eprintln!(
            "  domain_totals: {:.3} s (process {:.3} s), peak RSS {:.1} MiB",
            sample.totals_s.unwrap_or(0.0),
            sample.process_s,
            mib(sample.hwm_kib)
        );
        samples.push(sample);
    }
    rows.push(Row { label: "summarise_domain (library)".into(), samples, target: target_s });
    if o.cli {
        for cmd in &o.cmds {
            let mut samples = Vec::new();
            for _ in 0..o.runs {
                evict_if(o.cold, &location)?;
                let sample = run_cli(&o.bin, &location, cmd, &dir)?;
                match &sample.failed {
                    Some(why) => eprintln!("  {cmd}: FAILED: {why}"),
                    None => eprintln!(
                        "  {cmd}: {:.3} s, peak RSS {:.1} MiB, {} bytes out",
                        sample.process_s,
                        mib(sample.hwm_kib),
                        sample.out_bytes
                    ),
                }
                let failed = sample.failed.is_some();
                samples.push(sample);
                if failed {
                    break;
                }
            }
            let target = if cmd.contains("report") { TARGET_REPORT_S } else { target_s };
            rows.push(Row { label: format!("dmarc-report {cmd}"), samples, target });
        }
    }
    println!();
    print!("{}", table(&rows));
    Ok(())
}

/// The database on the PostgreSQL server `server` that holds the data of
/// `db`: created when missing and filled with `dmarc-report copy` (which
/// only copies what is not there yet). Returns its URL.
fn fill_postgres(server: &str, db: &Db, bin: &Path) -> Res<String> {
    let stem = db.path.file_stem().and_then(|s| s.to_str()).unwrap_or("summary");
    let name: String = format!("dmarc_bench_{stem}")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' })
        .take(63)
        .collect();
    let (base, query) = server.split_once('?').unwrap_or((server, ""));
    let (host, _) = base.rsplit_once('/').ok_or("--postgres: not a postgresql://.../DB URL")?;
    let url =
        if query.is_empty() { format!("{host}/{name}") } else { format!("{host}/{name}?{query}") };
    let mut admin = postgres::Client::connect(server, postgres::NoTls)?;
    if admin.query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])?.is_none() {
        admin.batch_execute(&format!("CREATE DATABASE {name}"))?;
    }
    eprintln!("filling {url} from {} with `dmarc-report copy` ...", db.path.display());
    let started = Instant::now();
    let out = Command::new(bin)
        .arg("--db")
        .arg(&db.path)
        .args(["copy", "--to", &url])
        .env_remove("DMARC_REPORT_DB")
        .stdin(Stdio::null())
        .output()?;
    if !out.status.success() {
        return Err(format!("copy failed: {}", String::from_utf8_lossy(&out.stderr).trim()).into());
    }
    println!(
        "PostgreSQL database {name}: {} ({:.1} s)",
        String::from_utf8_lossy(&out.stdout).trim(),
        started.elapsed().as_secs_f64()
    );
    let size: i64 = admin.query_one("SELECT pg_database_size($1)", &[&name])?.get(0);
    println!("  {:.2} GB on the server", size as f64 / 1e9);
    Ok(url)
}

/// The window the summary will use, and how many records and reports fall
/// in it (not timed).
fn window_stats(db: &Path, domain: &str, days: u32) -> Res<(summary::Window, u64, u64)> {
    use dmarc_report::store::SummaryReads;
    let store = Store::open(db)?;
    let window = summary::window(&store, domain, WindowSpec::LastDays(days))?
        .ok_or_else(|| format!("{domain} has no reports in {}", db.display()))?;
    let list = store.window_reports(domain, window.begin, window.end)?;
    let records: u64 = list.iter().map(|r| r.records).sum();
    Ok((window, records, list.len() as u64))
}

/// Drops the database's pages from the page cache (GNU dd's `nocache`),
/// for cold-cache runs. Only this file's pages: other processes' caches
/// are untouched.
fn evict_if(cold: bool, db: &Path) -> Res<()> {
    if !cold {
        return Ok(());
    }
    let status = Command::new("dd")
        .arg(format!("if={}", db.display()))
        .args(["iflag=nocache", "count=0", "status=none"])
        .status()?;
    if !status.success() {
        return Err(format!("dd iflag=nocache failed on {}", db.display()).into());
    }
    Ok(())
}

fn run_library_child(exe: &Path, db: &Path, domain: &str, days: u32) -> Res<Sample> {
    let busy_before = busy_cpu_s();
    let started = Instant::now();
    let output = Command::new(exe)
        .arg(common::CHILD)
        .arg(db)
        .arg(domain)
        .arg(days.to_string())
        .stdin(Stdio::null())
        .output()?;
    let process_s = started.elapsed().as_secs_f64();
    let busy = busy_cpu_s().zip(busy_before).map(|(after, before)| after - before);
    if !output.status.success() {
        return Err(format!(
            "child failed ({}): {}",
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
    let mut sample = Sample { process_s, ..Sample::default() };
    let mut cpu_s = 0.0;
    for field in line.split_whitespace().skip(1) {
        let (key, value) = field.split_once('=').ok_or("bad child output")?;
        match key {
            "totals_s" => sample.totals_s = Some(value.parse()?),
            "open_s" => sample.open_s = Some(value.parse()?),
            "cpu_s" => {
                cpu_s = value.parse()?;
                sample.cpu_s = Some(cpu_s);
            }
            "hwm_kib" => sample.hwm_kib = value.parse()?,
            "sources" => sample.sources = value.parse()?,
            "messages" => sample.messages = value.parse()?,
            _ => {}
        }
    }
    if let Some(busy) = busy {
        sample.other_cpus = ((busy - cpu_s) / process_s).max(0.0);
    }
    Ok(sample)
}

/// Runs `bin --db DB <cmd>` with standard output to a file, polling its
/// peak RSS.
fn run_cli(bin: &Path, db: &Path, cmd: &str, dir: &Path) -> Res<Sample> {
    let out_path = dir.join("summary-cli.out");
    let err_path = dir.join("summary-cli.err");
    let busy_before = busy_cpu_s();
    let started = Instant::now();
    let mut child = Command::new(bin)
        .arg("--db")
        .arg(db)
        .args(cmd.split_whitespace())
        .env_remove("DMARC_REPORT_DB")
        .stdin(Stdio::null())
        .stdout(File::create(&out_path)?)
        .stderr(File::create(&err_path)?)
        .spawn()?;
    let status_path = format!("/proc/{}/status", child.id());
    let mut hwm_kib = 0u64;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if let Some(kib) = fs::read_to_string(&status_path).ok().and_then(|s| hwm_from_status(&s)) {
            hwm_kib = hwm_kib.max(kib);
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    let process_s = started.elapsed().as_secs_f64();
    let busy = busy_cpu_s().zip(busy_before).map(|(after, before)| after - before);
    let mut sample = Sample {
        process_s,
        hwm_kib,
        out_bytes: fs::metadata(&out_path).map(|m| m.len()).unwrap_or(0),
        ..Sample::default()
    };
    if let Some(busy) = busy {
        // The command's own CPU time is not known here: this is all CPU
        // time less one CPU for the wall time (an upper bound of others).
        let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1) as f64;
        sample.other_cpus = ((busy - process_s) / process_s).clamp(0.0, cpus);
    }
    if !status.success() {
        let stderr = fs::read_to_string(&err_path).unwrap_or_default();
        let first = stderr.lines().find(|l| !l.trim().is_empty()).unwrap_or("").trim();
        sample.failed = Some(format!("{status}: {first}"));
    }
    Ok(sample)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

fn table(rows: &[Row]) -> String {
    let header = [
        "measurement",
        "runs",
        "process s (median)",
        "min..max",
        "domain_totals s",
        "open+window s",
        "CPU s",
        "peak RSS MiB",
        "other load",
        "output bytes",
        "target",
    ];
    let mut lines: Vec<Vec<String>> = vec![header.iter().map(|h| h.to_string()).collect()];
    let mut failures = Vec::new();
    for row in rows {
        let ok: Vec<&Sample> = row.samples.iter().filter(|s| s.failed.is_none()).collect();
        if ok.is_empty() {
            let why = row.samples.iter().find_map(|s| s.failed.clone()).unwrap_or_default();
            failures.push(format!("{}: {why}", row.label));
            let mut line = vec![row.label.clone(), row.samples.len().to_string()];
            line.push("FAILED (below)".to_owned());
            line.resize(header.len(), "-".into());
            lines.push(line);
            continue;
        }
        let process: Vec<f64> = ok.iter().map(|s| s.process_s).collect();
        let lo = process.iter().copied().fold(f64::MAX, f64::min);
        let hi = process.iter().copied().fold(0.0, f64::max);
        let totals: Vec<f64> = ok.iter().filter_map(|s| s.totals_s).collect();
        let opens: Vec<f64> = ok.iter().filter_map(|s| s.open_s).collect();
        let cpus: Vec<f64> = ok.iter().filter_map(|s| s.cpu_s).collect();
        // The library row is judged on domain_totals, a command on its
        // whole run.
        let judged =
            if totals.is_empty() { median(process.clone()) } else { median(totals.clone()) };
        lines.push(vec![
            row.label.clone(),
            ok.len().to_string(),
            format!("{:.3}", median(process)),
            format!("{lo:.3}..{hi:.3}"),
            if totals.is_empty() { "-".into() } else { format!("{:.3}", median(totals)) },
            if opens.is_empty() { "-".into() } else { format!("{:.3}", median(opens)) },
            if cpus.is_empty() { "-".into() } else { format!("{:.3}", median(cpus)) },
            format!("{:.1}", mib(ok.iter().map(|s| s.hwm_kib).max().unwrap_or(0))),
            format!("{:.2}", median(ok.iter().map(|s| s.other_cpus).collect())),
            ok.iter().map(|s| s.out_bytes).max().unwrap_or(0).to_string(),
            format!("<= {} s: {}", row.target, if judged <= row.target { "PASS" } else { "FAIL" }),
        ]);
    }
    let mut out = markdown(&lines);
    for failure in failures {
        let _ = writeln!(out, "\nFAILED {failure}");
    }
    if let Some(s) = rows.first().and_then(|r| r.samples.first()) {
        let _ = writeln!(
            out,
            "\ndomain_totals found {} sources and {} messages.",
            s.sources, s.messages
        );
    }
    out.push_str(
        "process s: start to exit of the child process (what a user waits for). domain_totals s: \
         the library call alone, timed inside the child; open+window s: Store::open and \
         summary::window before it. CPU s: CPU time of the whole library child.\nPeak RSS: VmHWM (max over runs). other load: CPUs kept busy \
         by other processes meanwhile (for commands an upper bound).\n",
    );
    out
}

// ---------------------------------------------------------------------------
// Child: one measurement of the library.
// ---------------------------------------------------------------------------

fn child(args: &[String]) -> Res<()> {
    let [db, domain, days] = args else {
        return Err("usage: __child <db> <domain> <days>".into());
    };
    let days: u32 = days.parse()?;
    let cpu0 = process_cpu_s()?;
    let start = Instant::now();
    let store = Store::open(Path::new(db))?;
    let window = summary::window(&store, domain, WindowSpec::LastDays(days))?
        .ok_or_else(|| format!("{domain} has no reports"))?;
    let open_s = start.elapsed().as_secs_f64();
    let options = analyse::Options {
        domains: vec![domain.clone()],
        window: WindowSpec::LastDays(days),
        now: END,
        catalogue: Catalogue::builtin(),
        criteria: Criteria::default(),
        rua: Default::default(),
        resolver: None,
    };
    let totals_start = Instant::now();
    let section = analyse::summarise_domain(&store, domain, window, &options)?;
    let totals_s = totals_start.elapsed().as_secs_f64();
    std::hint::black_box(&section);
    let cpu1 = process_cpu_s()?;
    println!(
        "BENCH totals_s={totals_s:.6} open_s={open_s:.6} cpu_s={:.6} hwm_kib={} sources={} \
         messages={}",
        cpu1 - cpu0,
        vm_hwm_kib()?,
        section.totals.source_count,
        section.totals.totals.messages
    );
    Ok(())
}

// ---------------------------------------------------------------------------
// The generated database.
// ---------------------------------------------------------------------------

/// The shape of the generated data.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// 20 domains of very different sizes over 365 days.
    Year,
    /// Every record in `big.example`, within 30 days.
    Worst,
    /// One report of `big.example` on the last day, every record from an
    /// address of its own (a spoofing run from a botnet looks like this).
    Distinct,
}

struct Db {
    path: PathBuf,
    generation_s: f64,
    records: u64,
    reports: u64,
}

/// Generates the database unless an up-to-date copy is already there.
fn ensure_db(dir: &Path, shape: Shape, records: u64) -> Res<Db> {
    let name = format!(
        "summary-{}-{records}-g{GENERATOR_VERSION}-{SEED:x}",
        match shape {
            Shape::Year => "year",
            Shape::Worst => "worst30d",
            Shape::Distinct => "distinct",
        }
    );
    let path = dir.join(format!("{name}.db"));
    let stamp_path = dir.join(format!("{name}.stamp"));
    if path.exists()
        && let Ok(stamp) = fs::read_to_string(&stamp_path)
    {
        let mut db = Db { path: path.clone(), generation_s: 0.0, records: 0, reports: 0 };
        for field in stamp.split_whitespace() {
            match field.split_once('=') {
                Some(("generation_s", v)) => db.generation_s = v.parse()?,
                Some(("records", v)) => db.records = v.parse()?,
                Some(("reports", v)) => db.reports = v.parse()?,
                _ => {}
            }
        }
        if db.records == records {
            eprintln!("reusing {}", path.display());
            return Ok(db);
        }
    }
    let partial = dir.join(format!("{name}.partial.db"));
    for suffix in ["", "-wal", "-shm"] {
        let _ = fs::remove_file(format!("{}{suffix}", partial.display()));
    }
    let _ = fs::remove_file(&stamp_path);
    eprintln!("generating {} ({records} records) ...", path.display());
    let start = Instant::now();
    let reports = generate(&partial, shape, records)?;
    let generation_s = start.elapsed().as_secs_f64();
    fs::rename(&partial, &path)?;
    fs::write(
        &stamp_path,
        format!("generation_s={generation_s:.1} records={records} reports={reports}\n"),
    )?;
    eprintln!("  generated in {generation_s:.1} s, {:.2} GB", db_bytes(&path) as f64 / 1e9);
    Ok(Db { path, generation_s, records, reports })
}

/// A reporting organisation.
struct Org {
    name: &'static str,
    email: &'static str,
    /// Share of all records, in percent.
    weight: f64,
    /// Reports end at the next midnight instead of 23:59:59 (Microsoft).
    ends_at_midnight: bool,
}

const ORGS: &[Org] = &[
    Org {
        name: "google.com",
        email: "noreply-dmarc-support@google.com",
        weight: 45.0,
        ends_at_midnight: false,
    },
    Org {
        name: "Enterprise Outlook",
        email: "dmarcreport@microsoft.com",
        weight: 25.0,
        ends_at_midnight: true,
    },
    Org { name: "Yahoo", email: "dmarchelp@yahooinc.com", weight: 9.0, ends_at_midnight: false },
    Org {
        name: "Apple Inc.",
        email: "dmarc_agg_report@icloud.com",
        weight: 6.0,
        ends_at_midnight: false,
    },
    Org {
        name: "comcast.net",
        email: "dmarc_support@comcast.net",
        weight: 4.0,
        ends_at_midnight: false,
    },
    Org {
        name: "Mail.Ru",
        email: "dmarc_support@corp.mail.ru",
        weight: 4.0,
        ends_at_midnight: false,
    },
    Org { name: "GMX", email: "noreply-dmarc@gmx.net", weight: 4.0, ends_at_midnight: false },
    Org {
        name: "Fastmail Pty Ltd",
        email: "dmarc-reports@fastmail.com",
        weight: 3.0,
        ends_at_midnight: false,
    },
];

/// The policy domains of the year-long shape: (name, share of all records
/// in thousandths, published policy).
const DOMAINS: &[(&str, f64, &str)] = &[
    ("big.example", 500.0, "quarantine"),
    ("shop.example", 150.0, "none"),
    ("news.example", 100.0, "quarantine"),
    ("corp.example", 60.0, "reject"),
    ("app.example", 50.0, "none"),
    ("support.example", 40.0, "quarantine"),
    ("billing.example", 30.0, "reject"),
    ("events.example", 20.0, "none"),
    ("careers.example", 15.0, "none"),
    ("blog.example", 10.0, "quarantine"),
    ("partners.example", 8.0, "none"),
    ("status.example", 6.0, "reject"),
    ("labs.example", 4.0, "none"),
    ("old-brand.example", 3.0, "reject"),
    ("intranet.example", 2.0, "quarantine"),
    ("eu.example", 1.0, "none"),
    ("parked-1.example", 0.5, "reject"),
    ("parked-2.example", 0.3, "reject"),
    ("parked-3.example", 0.15, "reject"),
    ("typo-domain.example", 0.05, "reject"),
];

/// What kind of sender, for its results and the counts it reports.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// The domain's own servers, or its mailbox provider, signing as it.
    Own,
    /// A sending service; `aligned` percent of its customers sign as
    /// themselves (DKIM d= the customer domain), the rest as the service.
    Service { aligned: u64 },
    /// An app server sending as the domain without DKIM, outside SPF.
    Misconfigured,
    /// Forwarders and mailing lists: SPF breaks, DKIM mostly survives.
    Forwarder { reason: &'static str },
    /// Nothing passes.
    Spoofer,
}

/// A sender: its addresses and what it signs with.
struct Sender {
    kind: Kind,
    ips: Vec<String>,
    /// DKIM d= of the service itself ("{d}" for the policy domain,
    /// "{t}" for its tenant label).
    dkim: &'static [&'static str],
    selectors: &'static [&'static str],
    /// Envelope-from (SPF) domain.
    mail_from: &'static [&'static str],
}

/// Builds `n` addresses in the given /16s (IPv4 `a.b`) and /48s (IPv6),
/// `v6_percent` of them IPv6.
fn addresses(rng: &mut Rng, n: usize, v4: &[&str], v6: &[&str], v6_percent: u64) -> Vec<String> {
    (0..n)
        .map(|_| {
            if !v6.is_empty() && rng.chance(v6_percent) {
                format!("{}:{:x}::{:x}", rng.pick(v6), rng.below(0x100), 1 + rng.below(0xfffe))
            } else {
                format!("{}.{}.{}", rng.pick(v4), rng.below(256), 1 + rng.below(254))
            }
        })
        .collect()
}

/// A sending service: (percent of its customers signing as themselves,
/// addresses, IPv4 /16s, its DKIM d= domains, its envelope-from domains).
type Service =
    (u64, usize, &'static [&'static str], &'static [&'static str], &'static [&'static str]);

fn senders(rng: &mut Rng) -> Vec<Sender> {
    let mut s = Vec::new();
    let mut add = |rng: &mut Rng,
                   kind: Kind,
                   n: usize,
                   v4: &[&str],
                   v6: &[&str],
                   dkim: &'static [&'static str],
                   selectors: &'static [&'static str],
                   mail_from: &'static [&'static str]| {
        let ips = addresses(rng, n, v4, v6, 15);
        s.push(Sender { kind, ips, dkim, selectors, mail_from });
    };
    // 0: own servers (each domain uses a few of these 64).
    add(rng, Kind::Own, 64, &["198.51"], &["2001:db8:100"], &["{d}"], &["s2026", "mta1"], &["{d}"]);
    // 1: Google Workspace, 2: Microsoft 365 (signing as the domain, or as
    // their own default domains).
    add(
        rng,
        Kind::Own,
        400,
        &["209.85", "74.125", "35.190"],
        &["2a00:1450:4864", "2607:f8b0:4864"],
        &["{d}", "{t}.20230601.gappssmtp.com"],
        &["google", "20230601"],
        &["{d}"],
    );
    add(
        rng,
        Kind::Own,
        500,
        &["40.107", "52.100", "52.101"],
        &["2a01:111:f403"],
        &["{d}", "{t}.onmicrosoft.com"],
        &["selector1", "selector2"],
        &["{d}"],
    );
    let services: [Service; 14] = [
        (50, 200, &["54.240", "23.251"], &["amazonses.com"], &["amazonses.com"]),
        (40, 300, &["167.89", "149.72", "168.245"], &["sendgrid.net"], &["sendgrid.net"]),
        (30, 150, &["198.2", "205.201"], &["mcsv.net", "mcdlv.net"], &["mcsv.net"]),
        (30, 100, &["159.135", "69.72"], &["mailgun.org"], &["mailgun.org"]),
        (60, 50, &["50.31"], &["mtasv.net"], &["mtasv.net"]),
        (40, 50, &["192.174"], &["sparkpostmail.com"], &["sparkpostmail.com"]),
        (20, 80, &["13.110", "13.111"], &["salesforce.com"], &["salesforce.com"]),
        (20, 60, &["136.147"], &["exacttarget.com"], &["exacttarget.com"]),
        (10, 60, &["192.161"], &["zendesk.com"], &["zendesk.com"]),
        (30, 60, &["3.93", "54.174"], &["hubspotemail.net"], &["hubspotemail.net"]),
        (30, 60, &["185.41", "77.32"], &["sendinblue.com"], &["sendinblue.com"]),
        (30, 40, &["87.253"], &["mailjet.com"], &["mailjet.com"]),
        (10, 30, &["34.224"], &["freshdesk.com"], &["freshdesk.com"]),
        (10, 30, &["50.16"], &["crm-vendor.example"], &["bounces.crm-vendor.example"]),
    ];
    for (aligned, n, v4, dkim, mail_from) in services {
        add(rng, Kind::Service { aligned }, n, v4, &[], dkim, &["s1", "k1", "pm"], mail_from);
    }
    add(rng, Kind::Misconfigured, 20, &["34.89", "20.42"], &[], &[], &["x"], &["{d}"]);
    add(
        rng,
        Kind::Forwarder { reason: "forwarded" },
        300,
        &["66.111", "103.168", "212.227", "81.169", "129.132"],
        &["2001:67c:2050", "2a01:238:20a"],
        &["messagingengine.com", "srs-forwarder.example"],
        &["fm1"],
        &["srs.forwarder.example", "alumni.university.example"],
    );
    add(
        rng,
        Kind::Forwarder { reason: "mailing_list" },
        100,
        &["209.85", "192.0", "140.211"],
        &[],
        &["googlegroups.com", "lists.example.net"],
        &["20230601", "list"],
        &["googlegroups.com", "lists.example.net"],
    );
    add(
        rng,
        Kind::Spoofer,
        1500,
        &["45.142", "91.92", "185.234", "103.145", "5.188", "193.56", "194.26", "141.98", "80.94"],
        &["2a0b:7280", "2602:fed2"],
        &["mail-spoof.example", "bulk.invalid"],
        &["default", "dkim"],
        &["{d}", "bulk.invalid", "mail-spoof.example"],
    );
    s
}

/// Which senders a domain uses, with weights.
fn sender_mix(rng: &mut Rng, index: usize, senders: &[Sender], parked: bool) -> Vec<(usize, f64)> {
    let mut mix = Vec::new();
    let forwarders: Vec<usize> =
        (0..senders.len()).filter(|&i| matches!(senders[i].kind, Kind::Forwarder { .. })).collect();
    let spoofers: Vec<usize> =
        (0..senders.len()).filter(|&i| senders[i].kind == Kind::Spoofer).collect();
    if parked {
        // Parked domains send nothing: spoofers and a little forwarding.
        mix.extend(spoofers.iter().map(|&i| (i, 90.0)));
        mix.extend(forwarders.iter().map(|&i| (i, 5.0)));
        return mix;
    }
    mix.push((0, 25.0));
    // Google Workspace or Microsoft 365.
    mix.push((1 + index % 2, 30.0));
    let services: Vec<usize> =
        (0..senders.len()).filter(|&i| matches!(senders[i].kind, Kind::Service { .. })).collect();
    let n = 2 + rng.below(4) as usize;
    for k in 0..n {
        let pick = services[(index * 3 + k * 5) % services.len()];
        if !mix.iter().any(|(i, _)| *i == pick) {
            mix.push((pick, 25.0 / n as f64));
        }
    }
    if index.is_multiple_of(3) {
        let misconfigured =
            (0..senders.len()).find(|&i| senders[i].kind == Kind::Misconfigured).unwrap_or(0);
        mix.push((misconfigured, 2.0));
    }
    mix.extend(forwarders.iter().map(|&i| (i, 5.0)));
    mix.extend(spoofers.iter().map(|&i| (i, 6.0)));
    mix
}

struct DomainGen {
    name: &'static str,
    weight: f64,
    policy: &'static str,
    /// `big-example`, for tenant labels.
    tenant: String,
    mix: Vec<(usize, f64)>,
    mix_total: f64,
    /// The own-server addresses this domain uses.
    own_ips: Vec<usize>,
}

/// Writes the database; returns the number of reports.
fn generate(path: &Path, shape: Shape, records: u64) -> Res<u64> {
    let store = Store::open(path)?;
    // Generation only: no journal and no fsync (a crash leaves a
    // .partial file that the next run deletes), and a large page cache
    // for the index inserts. The database is switched back to WAL at the
    // end, as Store::open leaves it.
    store.set_bulk_load(true)?;

    let mut rng = Rng::seeded(SEED);
    let senders = senders(&mut rng);
    let domains: Vec<DomainGen> = match shape {
        Shape::Year => DOMAINS,
        Shape::Worst | Shape::Distinct => &DOMAINS[..1],
    }
    .iter()
    .enumerate()
    .map(|(i, &(name, weight, policy))| {
        let parked = name.starts_with("parked") || name.starts_with("typo");
        let mix = sender_mix(&mut rng, i, &senders, parked);
        DomainGen {
            name,
            weight,
            policy,
            tenant: name.replace('.', "-"),
            mix_total: mix.iter().map(|(_, w)| w).sum(),
            mix,
            own_ips: (0..2 + i % 3).map(|k| (i * 3 + k) % 64).collect(),
        }
    })
    .collect();
    let days: i64 = match shape {
        Shape::Year => 365,
        Shape::Worst => 30,
        Shape::Distinct => 1,
    };

    // Records per report: each (day, org, domain) gets a share of the
    // total by weight (weekends quieter, a slow growth over the year, some
    // noise), rounded cumulatively so the shares add up exactly.
    let mut plan: Vec<(i64, usize, usize, f64)> = Vec::new();
    for day in 0..days {
        let weekday = (END / DAY - days + day + 3).rem_euclid(7); // 0 = Monday
        let day_weight =
            if weekday >= 5 { 0.6 } else { 1.0 } * (0.8 + 0.4 * day as f64 / days as f64);
        for (o, org) in ORGS.iter().enumerate() {
            for (d, domain) in domains.iter().enumerate() {
                let noise = 0.8 + 0.4 * rng.unit();
                let weight = match shape {
                    // One report: Google's.
                    Shape::Distinct if o > 0 => continue,
                    _ => domain.weight * org.weight * day_weight * noise,
                };
                plan.push((day, o, d, weight));
            }
        }
    }
    let total_weight: f64 = plan.iter().map(|p| p.3).sum();

    store.begin()?;
    let mut since_commit = 0u64;
    let mut done_weight = 0.0;
    let mut written = 0u64;
    let mut reports = 0u64;
    let mut next_progress = records / 10;
    let started = Instant::now();
    for &(day, o, d, weight) in &plan {
        done_weight += weight;
        let upto = ((done_weight / total_weight) * records as f64).round() as u64;
        let n = upto.min(records).saturating_sub(written);
        if n == 0 {
            continue; // no mail, no report
        }
        let org = &ORGS[o];
        let domain = &domains[d];
        let begin = END - (days - day) * DAY;
        let end = if org.ends_at_midnight { begin + DAY } else { begin + DAY - 1 };
        let header = ReportHeader {
            schema: Schema::Rfc7489,
            version: Some("1.0".to_owned()),
            org_name: org.name.to_owned(),
            email: Some(org.email.to_owned()),
            extra_contact_info: None,
            report_id: format!("{}{:016x}", day, rng.next_u64()),
            begin,
            end,
            errors: Vec::new(),
            generator: None,
            policy: PolicyPublished {
                domain: domain.name.to_owned(),
                adkim: Some(Alignment::Relaxed),
                aspf: Some(Alignment::Relaxed),
                p: Some(Policy::from_canonical(domain.policy)),
                sp: None,
                np: None,
                pct: Some(100),
                fo: Some("0".to_owned()),
                testing: None,
                discovery_method: None,
            },
            extensions: Vec::new(),
        };
        let ingested_at = end + 3_600 + rng.below(6 * 3_600) as i64;
        let mut writer = store
            .start_report(&header, "bench:generated", ingested_at)?
            .ok_or("duplicate generated report")?;
        for k in 0..n {
            let mut record = make_record(&mut rng, domain, &senders);
            if shape == Shape::Distinct {
                record.source_ip = distinct_address(written + k);
            }
            writer.record(&record)?;
        }
        writer.finish(&ReportTail::default(), &RawMeta::default())?;
        written += n;
        reports += 1;
        since_commit += n;
        if since_commit >= RECORDS_PER_COMMIT {
            store.commit()?;
            store.begin()?;
            since_commit = 0;
        }
        if written >= next_progress {
            eprintln!(
                "  {written} records, {reports} reports, {:.0} s",
                started.elapsed().as_secs_f64()
            );
            next_progress += records / 10;
        }
    }
    store.commit()?;
    store.set_bulk_load(false)?;
    Ok(reports)
}

/// The `i`th of 2^32 distinct addresses, spread over the IPv4 space (each
/// octet from a different bit mix, so that neighbours in `i` are not
/// neighbours in address order).
fn distinct_address(i: u64) -> String {
    // A bijection on 32 bits: odd multiplier, then a xor-shift.
    let mut x = (i as u32).wrapping_mul(0x9E37_79B1);
    x ^= x >> 16;
    std::net::Ipv4Addr::from(x).to_string()
}

fn fill(template: &str, domain: &DomainGen) -> String {
    template.replace("{d}", domain.name).replace("{t}", &domain.tenant)
}

/// `a` equals `b` or is a subdomain of it (relaxed alignment).
fn aligned(a: &str, b: &str) -> bool {
    a == b || a.strip_suffix(b).is_some_and(|head| head.ends_with('.'))
}

fn make_record(rng: &mut Rng, domain: &DomainGen, senders: &[Sender]) -> Record {
    // The sender, by the domain's mix.
    let mut roll = rng.unit() * domain.mix_total;
    let mut index = domain.mix[0].0;
    for &(i, w) in &domain.mix {
        if roll < w {
            index = i;
            break;
        }
        roll -= w;
    }
    let s = &senders[index];
    let source_ip = if index == 0 {
        s.ips[*rng.pick(&domain.own_ips)].clone()
    } else {
        s.ips[rng.skewed(s.ips.len())].clone()
    };
    let count = match s.kind {
        Kind::Spoofer | Kind::Forwarder { .. } => match rng.below(100) {
            0..80 => 1 + rng.below(3),
            _ => 3 + rng.below(40),
        },
        _ => match rng.below(100) {
            0..60 => 1 + rng.below(5),
            60..92 => 5 + rng.below(100),
            _ => 100 + rng.below(5_000),
        },
    };
    let header_from = if rng.chance(90) {
        domain.name.to_owned()
    } else {
        format!("{}.{}", rng.pick(&["news", "mail", "info"]), domain.name)
    };
    let mail_from = fill(rng.pick::<&str>(s.mail_from), domain);

    // DKIM: one or two signatures.
    let mut dkim_results = Vec::new();
    let mut signers: Vec<String> = Vec::new();
    match s.kind {
        Kind::Own => {
            signers.push(domain.name.to_owned());
            if s.dkim.len() > 1 && rng.chance(40) {
                signers.push(fill(s.dkim[1], domain));
            }
        }
        Kind::Service { aligned } => {
            if rng.chance(aligned) {
                signers.push(domain.name.to_owned());
            }
            if signers.is_empty() || rng.chance(50) {
                signers.push(fill(rng.pick::<&str>(s.dkim), domain));
            }
        }
        Kind::Misconfigured => {}
        Kind::Forwarder { .. } => {
            signers.push(domain.name.to_owned());
            if rng.chance(50) {
                signers.push(fill(rng.pick::<&str>(s.dkim), domain));
            }
        }
        Kind::Spoofer => {
            if rng.chance(30) {
                signers.push(fill(rng.pick::<&str>(s.dkim), domain));
            }
        }
    }
    let mut dkim_aligned = false;
    for signer in signers {
        let pass = match s.kind {
            Kind::Own | Kind::Service { .. } => rng.chance(98),
            Kind::Forwarder { reason } => {
                // Lists rewrite subjects and footers: the author's
                // signature breaks more often there.
                rng.chance(if reason == "mailing_list" && signer == domain.name { 40 } else { 85 })
            }
            Kind::Misconfigured | Kind::Spoofer => {
                rng.chance(if signer == domain.name { 0 } else { 60 })
            }
        };
        dkim_aligned |= pass && aligned(&signer, domain.name);
        dkim_results.push(DkimAuth {
            domain: signer,
            selector: Some((*rng.pick(s.selectors)).to_owned()),
            result: Some(if pass {
                DkimResult::Pass
            } else if rng.chance(70) {
                DkimResult::Fail
            } else {
                DkimResult::None
            }),
            human_result: None,
        });
    }
    if dkim_results.is_empty() && rng.chance(50) {
        // Receivers that report "no signature" as a result.
        dkim_results.push(DkimAuth {
            domain: domain.name.to_owned(),
            selector: None,
            result: Some(DkimResult::None),
            human_result: None,
        });
    }

    // SPF: the envelope-from, sometimes the HELO name too.
    let spf_pass = match s.kind {
        Kind::Own | Kind::Service { .. } => rng.chance(97),
        Kind::Forwarder { .. } => rng.chance(80), // passes for the forwarder's own domain
        Kind::Misconfigured => false,
        Kind::Spoofer => rng.chance(10),
    };
    let spf_domain = match s.kind {
        // A forwarder that does not rewrite the envelope: SPF checks the
        // original domain against the forwarder's address, and fails.
        Kind::Forwarder { .. } if rng.chance(30) => domain.name.to_owned(),
        _ => mail_from.clone(),
    };
    let spf_pass =
        spf_pass && !(matches!(s.kind, Kind::Forwarder { .. }) && spf_domain == domain.name);
    let spf_aligned = spf_pass && aligned(&spf_domain, domain.name);
    let mut spf_results = vec![SpfAuth {
        domain: spf_domain,
        scope: Some(SpfScope::MailFrom),
        result: Some(if spf_pass {
            SpfResult::Pass
        } else {
            rng.pick(&[SpfResult::Fail, SpfResult::SoftFail, SpfResult::Neutral, SpfResult::None])
                .clone()
        }),
        human_result: None,
    }];
    if rng.chance(25) {
        spf_results.push(SpfAuth {
            domain: format!("mx{}.{}", rng.below(8), mail_from),
            scope: Some(SpfScope::Helo),
            result: Some(if rng.chance(70) { SpfResult::Pass } else { SpfResult::None }),
            human_result: None,
        });
    }

    // The receiver's decision.
    let pass = dkim_aligned || spf_aligned;
    let mut reasons = Vec::new();
    let disposition = if pass {
        Disposition::None
    } else {
        let overridden = match s.kind {
            Kind::Forwarder { reason } if rng.chance(40) => Some(reason),
            _ if rng.chance(3) => Some("local_policy"),
            _ => None,
        };
        match overridden {
            Some(reason) => {
                reasons.push(Reason {
                    kind: Some(OverrideReason::from_canonical(reason)),
                    comment: (reason == "local_policy").then(|| "arc=pass".to_owned()),
                });
                Disposition::None
            }
            None => match domain.policy {
                "reject" => Disposition::Reject,
                "quarantine" => Disposition::Quarantine,
                _ => Disposition::None,
            },
        }
    };
    Record {
        source_ip,
        count,
        disposition: Some(disposition),
        dkim: Some(if dkim_aligned { DmarcResult::Pass } else { DmarcResult::Fail }),
        spf: Some(if spf_aligned { DmarcResult::Pass } else { DmarcResult::Fail }),
        reasons,
        header_from: Some(header_from),
        envelope_from: Some(mail_from),
        envelope_to: None,
        dkim_results,
        spf_results,
        extensions: Vec::new(),
    }
}
