//! The command line: argument definitions (clap) and one `run` per command.
//! `main.rs` only maps the outcome to an exit code.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::analyse::{self, senders::Catalogue, summary::WindowSpec};
use crate::config::{self, Overrides, TlsMode};
use crate::fetch::imap::{self as imap_fetch, FetchSummary};
use crate::ingest::{IngestSummary, Ingester, ReparseSummary, reparse};
use crate::limits::{Limits, human_bytes, parse_size};
use crate::render;
use crate::store::Store;

/// Exit status: everything worked.
pub const EXIT_OK: u8 = 0;
/// Exit status: some inputs failed; everything good was still stored.
pub const EXIT_PARTIAL: u8 = 1;
/// Exit status: a fatal error (bad arguments, unusable database).
pub const EXIT_FATAL: u8 = 2;

/// DMARC aggregate reports into SQLite, and the evidence to tighten your policy.
#[derive(Debug, Parser)]
#[command(name = "dmarc-report", version, about, max_term_width = 100)]
pub struct Cli {
    /// The SQLite database [default: $XDG_DATA_HOME/dmarc-report/dmarc.db]
    #[arg(long, global = true, env = "DMARC_REPORT_DB", value_name = "PATH")]
    pub db: Option<PathBuf>,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Pull rua emails from IMAP mailboxes and store their reports (for cron).
    Fetch(Box<FetchArgs>),
    /// Store the reports in files, directories, mbox files, Maildir folders
    /// or standard input (`-`).
    Ingest(IngestArgs),
    /// Rebuild every stored report from its raw XML (after an upgrade that
    /// fixed the parser).
    Reparse(ReparseArgs),
    /// List the inputs that could not be stored (they are kept with their bytes).
    Errors(ErrorsArgs),
    /// Per-domain and per-sender summary, and whether it is safe to move to
    /// p=quarantine or p=reject.
    Summary(SummaryArgs),
    /// Write the report: PNG charts and a self-contained index.html.
    Report(ReportArgs),
    /// Ingest the bundled sample reports into a fresh database, show what
    /// was stored and the summary, and write the report.
    Demo(DemoArgs),
}

/// `report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Which domains and days
    #[command(flatten)]
    pub window: WindowArgs,
    /// The folder to write index.html and the charts into (created when missing)
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Config file with known senders, readiness thresholds and rua addresses
    /// [default: $XDG_CONFIG_HOME/dmarc-report/config.toml]
    #[arg(long, env = "DMARC_REPORT_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,
}

/// Output format of `summary`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SummaryFormat {
    /// A table for people (100 columns).
    Table,
    /// One JSON object.
    Json,
    /// One row per source and domain.
    Csv,
}

/// When to colour the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorWhen {
    /// When standard output is a terminal and NO_COLOR is not set.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

/// The window flags shared by `summary` and `report`.
#[derive(Debug, Clone, Args)]
pub struct WindowArgs {
    /// Only this policy domain (repeatable) [default: every domain]
    #[arg(long = "domain", value_name = "DOMAIN")]
    pub domains: Vec<String>,
    /// First day of the window (YYYY-MM-DD, UTC)
    #[arg(long, value_name = "DATE", value_parser = parse_day)]
    pub since: Option<i64>,
    /// Last day of the window, included (YYYY-MM-DD, UTC)
    #[arg(long, value_name = "DATE", value_parser = parse_day, conflicts_with_all = ["days", "all"])]
    pub until: Option<i64>,
    /// The window's length in days [default: 30, ending at the newest report]
    #[arg(long, value_name = "N", conflicts_with = "all", value_parser = clap::value_parser!(u32).range(1..=36_500))]
    pub days: Option<u32>,
    /// The whole history
    #[arg(long, conflicts_with = "since")]
    pub all: bool,
}

impl WindowArgs {
    /// The window these flags select.
    pub fn spec(&self) -> WindowSpec {
        const DAY: i64 = 86_400;
        match (self.since, self.until, self.days, self.all) {
            (_, _, _, true) => WindowSpec::All,
            (Some(since), Some(until), _, _) => WindowSpec::Range { since, until: until + DAY },
            (Some(since), None, Some(days), _) => {
                WindowSpec::Range { since, until: since + i64::from(days) * DAY }
            }
            (Some(since), None, None, _) => WindowSpec::Since(since),
            (None, Some(until), _, _) => WindowSpec::Until { until: until + DAY, days: 30 },
            (None, None, days, _) => WindowSpec::LastDays(days.unwrap_or(30)),
        }
    }
}

/// `summary`.
#[derive(Debug, Args)]
pub struct SummaryArgs {
    /// Which domains and days
    #[command(flatten)]
    pub window: WindowArgs,
    /// Output format
    #[arg(long, value_enum, default_value_t = SummaryFormat::Table)]
    pub format: SummaryFormat,
    /// Colour the table
    #[arg(long, value_enum, default_value_t = ColorWhen::Auto, value_name = "WHEN")]
    pub color: ColorWhen,
    /// Config file with known senders, readiness thresholds and rua addresses
    /// [default: $XDG_CONFIG_HOME/dmarc-report/config.toml]
    #[arg(long, env = "DMARC_REPORT_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Look up (forward-confirmed) reverse DNS names of the sources, cached in
    /// the database; uncached lookups take at most --resolve-timeout each
    #[arg(long)]
    pub resolve: bool,
    /// Longest wait for one reverse DNS lookup, in seconds
    #[arg(long, value_name = "SECONDS", default_value_t = 2, requires = "resolve")]
    pub resolve_timeout: u64,
}

/// `YYYY-MM-DD` to the Unix time of its UTC midnight.
fn parse_day(text: &str) -> Result<i64, String> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(text.trim(), format)
        .map(|d| d.midnight().assume_utc().unix_timestamp())
        .map_err(|_| format!("\"{text}\" is not a date (YYYY-MM-DD)"))
}

/// Output format for people or programs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Lines for people.
    Text,
    /// One JSON object.
    Json,
}

/// Limits on untrusted input sizes.
#[derive(Debug, Clone, Args)]
pub struct LimitArgs {
    /// Largest decompressed report (e.g. 512M, 2G)
    #[arg(long, value_name = "SIZE", default_value = "1G", value_parser = parse_size)]
    pub max_report_size: u64,
    /// Largest email, zip archive or other input read into memory
    #[arg(long, value_name = "SIZE", default_value = "64M", value_parser = parse_size)]
    pub max_message_size: u64,
    /// Most entries a zip archive may have
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub max_zip_entries: usize,
}

impl LimitArgs {
    fn limits(&self) -> Limits {
        Limits {
            max_report_size: self.max_report_size,
            max_message_size: self.max_message_size,
            max_zip_entries: self.max_zip_entries,
        }
    }
}

/// `ingest`.
#[derive(Debug, Args)]
pub struct IngestArgs {
    /// Files, directories (walked recursively), mbox files, Maildir folders, or `-` for stdin
    #[arg(value_name = "PATH", required_unless_present = "retry_failed")]
    pub paths: Vec<String>,
    /// Also try again every input that failed before (see `errors`)
    #[arg(long)]
    pub retry_failed: bool,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Size limits
    #[command(flatten)]
    pub limits: LimitArgs,
}

/// `fetch`. Every setting overrides the same setting of each account in the
/// config file; the password comes only from a file or the environment
/// (`DMARC_REPORT_PASSWORD`), never from the command line.
#[derive(Debug, Args)]
pub struct FetchArgs {
    /// Config file [default: $XDG_CONFIG_HOME/dmarc-report/config.toml]
    #[arg(long, env = "DMARC_REPORT_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Only the account with this name (or host) from the config file
    #[arg(long, env = "DMARC_REPORT_ACCOUNT", value_name = "NAME")]
    pub account: Option<String>,
    /// IMAP server
    #[arg(long, env = "DMARC_REPORT_HOST")]
    pub host: Option<String>,
    /// IMAP port [default: 993 for implicit TLS, 143 otherwise]
    #[arg(long, env = "DMARC_REPORT_PORT")]
    pub port: Option<u16>,
    /// Connection security [default: implicit]
    #[arg(long, value_enum, env = "DMARC_REPORT_TLS")]
    pub tls: Option<TlsMode>,
    /// Login name
    #[arg(long, env = "DMARC_REPORT_USER")]
    pub user: Option<String>,
    /// File whose first line is the password
    #[arg(long, env = "DMARC_REPORT_PASSWORD_FILE", value_name = "PATH")]
    pub password_file: Option<PathBuf>,
    /// Extra CA certificate(s) to trust, PEM (for a private CA)
    #[arg(long, env = "DMARC_REPORT_CA_FILE", value_name = "PATH")]
    pub ca_file: Option<PathBuf>,
    /// Folder to read (repeatable) [default: INBOX]
    #[arg(long = "folder", env = "DMARC_REPORT_FOLDER", value_delimiter = ',')]
    pub folders: Vec<String>,
    /// Move processed messages here (created when missing); else flag them \Seen
    #[arg(long, env = "DMARC_REPORT_ARCHIVE_FOLDER", value_name = "FOLDER")]
    pub archive_folder: Option<String>,
    /// Move messages without a readable report here
    #[arg(long, env = "DMARC_REPORT_ERROR_FOLDER", value_name = "FOLDER")]
    pub error_folder: Option<String>,
    /// Skip (and report) messages larger than this [default: 64M]
    #[arg(long, env = "DMARC_REPORT_MAX_MESSAGE_SIZE", value_name = "SIZE", value_parser = parse_size)]
    pub max_message_size: Option<u64>,
    /// Messages fetched and committed together [default: 50]
    #[arg(long, value_name = "N")]
    pub batch_size: Option<usize>,
    /// Largest decompressed report
    #[arg(long, value_name = "SIZE", default_value = "1G", value_parser = parse_size)]
    pub max_report_size: u64,
    /// Most entries a zip archive may have
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub max_zip_entries: usize,
    /// Stay connected and process new reports as they arrive (IMAP IDLE)
    #[arg(long)]
    pub watch: bool,
    /// Say what was done even when all went well
    #[arg(long, short)]
    pub verbose: bool,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// `reparse`.
#[derive(Debug, Args)]
pub struct ReparseArgs {
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Size limits
    #[command(flatten)]
    pub limits: LimitArgs,
}

/// `errors`.
#[derive(Debug, Args)]
pub struct ErrorsArgs {
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Write the kept bytes of failed input ID to FILE
    #[arg(long, value_name = "ID", requires = "out")]
    pub export: Option<i64>,
    /// Where `--export` writes
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// `demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// The sample reports [default: ./sample-reports, else the bundled ones]
    #[arg(long, value_name = "DIR")]
    pub samples: Option<PathBuf>,
    /// Where the demo database goes when --db is not given
    #[arg(long, value_name = "DIR", default_value = "demo-output")]
    pub out: PathBuf,
}

/// Runs the parsed command line; the result is the exit status.
pub fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Fetch(args) => fetch(cli.db, *args),
        Command::Ingest(args) => {
            let store = open_store(cli.db.as_deref())?;
            let mut ingester = Ingester::new(&store, args.limits.limits());
            ingester.ingest_paths(&args.paths).context("storing reports")?;
            if args.retry_failed {
                ingester.retry_failed().context("retrying failed inputs")?;
            }
            let summary = ingester.finish().context("committing")?;
            print_ingest(&summary, args.format)?;
            Ok(exit(if summary.failed.is_empty() { EXIT_OK } else { EXIT_PARTIAL }))
        }
        Command::Reparse(args) => {
            let store = open_store(cli.db.as_deref())?;
            let summary = reparse(&store, &args.limits.limits()).context("reparsing")?;
            print_reparse(&summary, args.format)?;
            Ok(exit(if summary.failed.is_empty() { EXIT_OK } else { EXIT_PARTIAL }))
        }
        Command::Errors(args) => {
            let store = open_store(cli.db.as_deref())?;
            if let (Some(id), Some(out)) = (args.export, &args.out) {
                let (name, data) = store.failure_data(id)?.with_context(|| {
                    format!("failed input {id} does not exist or kept no bytes")
                })?;
                std::fs::write(out, &data).with_context(|| format!("writing {}", out.display()))?;
                emit(&format!(
                    "wrote {} ({}) from {name}\n",
                    out.display(),
                    human_bytes(data.len() as u64)
                ))?;
                return Ok(exit(EXIT_OK));
            }
            let failures = store.failures()?;
            match args.format {
                Format::Json => emit(&(serde_json::to_string_pretty(&failures)? + "\n"))?,
                Format::Text if failures.is_empty() => emit("no failed inputs\n")?,
                Format::Text => {
                    let mut out = String::new();
                    for f in &failures {
                        out.push_str(&format!(
                            "#{}  {}  tried {}x, last {}  ({})\n    {}\n",
                            f.id,
                            f.name,
                            f.attempts,
                            format_time(f.last_seen),
                            if f.size > 0 {
                                human_bytes(f.size as u64)
                            } else {
                                "no copy kept".into()
                            },
                            f.error
                        ));
                    }
                    out.push_str(&format!(
                        "{} failed input(s); retry with `dmarc-report ingest --retry-failed`\n",
                        failures.len()
                    ));
                    emit(&out)?;
                }
            }
            Ok(exit(EXIT_OK))
        }
        Command::Summary(args) => summary(cli.db, &args),
        Command::Report(args) => report(cli.db, &args),
        Command::Demo(args) => demo(cli.db, args),
    }
}

/// Builds the analysis options from the config and the window flags.
fn analysis_options<'a>(
    config: crate::config::AnalysisConfig,
    window: &WindowArgs,
) -> analyse::Options<'a> {
    analyse::Options {
        domains: window.domains.clone(),
        window: window.spec(),
        now: time::OffsetDateTime::now_utc().unix_timestamp(),
        catalogue: Catalogue::builtin().with(config.known_senders),
        criteria: config.criteria,
        rua: config.rua,
        resolver: None,
    }
}

fn report(db: Option<PathBuf>, args: &ReportArgs) -> Result<ExitCode> {
    let config = config::load_analysis(args.config.as_deref())?;
    let db = db.or(config.database.clone());
    let options = analysis_options(config, &args.window);
    let summary = summarise_stored(db.as_deref(), &options)?;
    let files = write_report(&summary, &options, &args.out)?;
    emit(&files)?;
    Ok(exit(EXIT_OK))
}

/// Opens the database (which must exist) and summarises it; a domain asked
/// for with `--domain` but absent from the database is an error.
fn summarise_stored(db: Option<&Path>, options: &analyse::Options<'_>) -> Result<analyse::Summary> {
    let store = open_existing_store(db)?;
    let summary = analyse::summarise(store.connection(), options).context("summarising")?;
    for wanted in &options.domains {
        let wanted = wanted.trim().trim_end_matches('.').to_ascii_lowercase();
        if !summary.domains.iter().any(|d| d.domain == wanted) {
            bail!("no reports stored for {wanted}");
        }
    }
    Ok(summary)
}

/// Writes the report of `summary` into `out`; returns the lines to print.
fn write_report(
    summary: &analyse::Summary,
    options: &analyse::Options<'_>,
    out: &Path,
) -> Result<String> {
    let page = render::page::from_summary(summary, options.now, options.criteria.pass_rate);
    let files = render::write_report(&page, out)?;
    let mut text = format!("wrote {}\n", files.index.display());
    for chart in &files.charts {
        text.push_str(&format!("wrote {}\n", chart.display()));
    }
    Ok(text)
}

fn summary(db: Option<PathBuf>, args: &SummaryArgs) -> Result<ExitCode> {
    let config = config::load_analysis(args.config.as_deref())?;
    let db = db.or(config.database.clone());
    let mut options = analysis_options(config, &args.window);
    let rdns_options = analyse::rdns::ResolveOptions {
        timeout: std::time::Duration::from_secs(args.resolve_timeout.max(1)),
        ..analyse::rdns::ResolveOptions::default()
    };
    let resolver = move |conn: &rusqlite::Connection, ips: &[String]| {
        let lookup = std::sync::Arc::new(analyse::rdns::SystemLookup);
        let names = analyse::rdns::resolve(conn, ips, lookup, &rdns_options)?;
        Ok(names.into_iter().filter_map(|(ip, name)| Some((ip, name?))).collect())
    };
    if args.resolve {
        options.resolver = Some(&resolver);
    }
    let summary = summarise_stored(db.as_deref(), &options)?;
    let colour = match args.color {
        ColorWhen::Always => true,
        ColorWhen::Never => false,
        ColorWhen::Auto => {
            anstream::AutoStream::choice(&io::stdout()) != anstream::ColorChoice::Never
        }
    };
    let mut out = Vec::new();
    match args.format {
        SummaryFormat::Table => render::summary::write_table(&summary, &mut out, colour)?,
        SummaryFormat::Json => render::summary::write_json(&summary, &mut out)?,
        SummaryFormat::Csv => render::summary::write_csv(&summary, &mut out)?,
    }
    emit_bytes(&out)?;
    Ok(exit(EXIT_OK))
}

fn exit(code: u8) -> ExitCode {
    ExitCode::from(code)
}

/// The database path: `--db`, `DMARC_REPORT_DB` (both via clap), else the
/// XDG data directory.
fn default_db() -> Result<PathBuf> {
    let Some(dir) = dirs::data_dir() else {
        bail!("no data directory is known for this user; give the database with --db PATH");
    };
    Ok(dir.join("dmarc-report").join("dmarc.db"))
}

fn open_store(db: Option<&Path>) -> Result<Store> {
    let path = match db {
        Some(p) => p.to_path_buf(),
        None => default_db()?,
    };
    Store::open(&path).map_err(anyhow::Error::from)
}

/// Opens a database that must already exist (for the read-only commands).
fn open_existing_store(db: Option<&Path>) -> Result<Store> {
    let path = match db {
        Some(p) => p.to_path_buf(),
        None => default_db()?,
    };
    if !path.is_file() {
        bail!(
            "no database at {}: store reports first with `dmarc-report ingest` or `fetch`, or give --db",
            path.display()
        );
    }
    Store::open(&path).map_err(anyhow::Error::from)
}

/// The one-line account of an ingest, shared by `ingest` and `demo`.
fn ingest_line(s: &IngestSummary) -> String {
    format!(
        "{} input(s): {} new report(s) with {} record(s), {} duplicate(s), {} failed\n",
        s.inputs,
        s.reports_new,
        s.records,
        s.reports_duplicate,
        s.failed.len()
    )
}

fn print_ingest(s: &IngestSummary, format: Format) -> Result<()> {
    if format == Format::Json {
        return emit(&(serde_json::to_string(s)? + "\n"));
    }
    for w in &s.warnings {
        note(&format!("warning: {w}"));
    }
    for f in &s.failed {
        note(&format!("failed: {}", f.error));
    }
    emit(&ingest_line(s))
}

fn print_reparse(s: &ReparseSummary, format: Format) -> Result<()> {
    if format == Format::Json {
        return emit(&(serde_json::to_string(s)? + "\n"));
    }
    for w in &s.warnings {
        note(&format!("warning: {w}"));
    }
    for f in &s.failed {
        note(&format!("failed (kept as it was): {}", f.error));
    }
    emit(&format!(
        "reparsed {} report(s) with {} record(s); {} merged into another copy; {} failed\n",
        s.reports,
        s.records,
        s.merged,
        s.failed.len()
    ))
}

fn fetch(db: Option<PathBuf>, args: FetchArgs) -> Result<ExitCode> {
    let overrides = Overrides {
        account: args.account.clone(),
        host: args.host.clone(),
        port: args.port,
        tls: args.tls,
        user: args.user.clone(),
        password_file: args.password_file.clone(),
        password: std::env::var("DMARC_REPORT_PASSWORD").ok().filter(|p| !p.is_empty()),
        ca_file: args.ca_file.clone(),
        folders: args.folders.clone(),
        archive_folder: args.archive_folder.clone(),
        error_folder: args.error_folder.clone(),
        max_message_size: args.max_message_size,
        batch_size: args.batch_size,
    };
    let config = config::load(args.config.as_deref(), &overrides)?;
    let db = match db.or(config.database.clone()) {
        Some(db) => db,
        None => default_db()?,
    };
    let limits = Limits {
        max_report_size: args.max_report_size,
        max_message_size: args.max_message_size.unwrap_or(Limits::default().max_message_size),
        max_zip_entries: args.max_zip_entries,
    };

    // Two overlapping runs (cron) must not both work: the second says so and
    // leaves. The lock is released when the process ends, however it ends.
    let lock_path = PathBuf::from(format!("{}.lock", db.display()));
    if let Some(dir) = lock_path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let lock = std::fs::File::create(&lock_path)
        .with_context(|| format!("creating the lock file {}", lock_path.display()))?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            note(&format!(
                "another dmarc-report fetch is running (it holds {}); nothing to do",
                lock_path.display()
            ));
            return Ok(exit(EXIT_OK));
        }
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(e).with_context(|| format!("locking {}", lock_path.display()));
        }
    }
    let store = open_store(Some(&db))?;
    let verbose = args.verbose;
    let mut log = |line: String| {
        if verbose || line.contains("plain-text IMAP") || line.contains("reconnecting") {
            note(&line);
        }
    };

    if args.watch {
        let [account] = &config.accounts[..] else {
            bail!(
                "--watch follows one account and one folder; choose the account with --account                  (the config has {})",
                config.accounts.len()
            );
        };
        let format = args.format;
        let mut report = |s: &FetchSummary| {
            let _ = print_fetch(s, format, verbose);
        };
        imap_fetch::watch(&store, account, &limits, &mut log, &mut report)?;
        return Ok(exit(EXIT_OK));
    }

    let summary = imap_fetch::fetch_all(&store, &config.accounts, &limits, &mut log);
    print_fetch(&summary, args.format, verbose)?;
    Ok(exit(if !summary.errors.is_empty() {
        EXIT_FATAL
    } else if !summary.ingest.failed.is_empty() {
        EXIT_PARTIAL
    } else {
        EXIT_OK
    }))
}

/// Quiet when all went well (cron mails whatever a job prints), unless
/// `--verbose`; problems always go to stderr.
fn print_fetch(s: &FetchSummary, format: Format, verbose: bool) -> Result<()> {
    if format == Format::Json {
        return emit(&(serde_json::to_string(s)? + "\n"));
    }
    for w in &s.ingest.warnings {
        note(&format!("warning: {w}"));
    }
    for f in &s.ingest.failed {
        note(&format!("failed: {}", f.error));
    }
    for e in &s.errors {
        note(&format!("dmarc-report: error: {e}"));
    }
    if verbose {
        emit(&format!(
            "{} message(s) new, {} fetched: {} new report(s) with {} record(s), {} duplicate(s), \
             {} failed; {} archived, {} to the error folder, {} flagged, {} too large\n",
            s.messages_new,
            s.messages_fetched,
            s.ingest.reports_new,
            s.ingest.records,
            s.ingest.reports_duplicate,
            s.ingest.failed.len(),
            s.messages_archived,
            s.messages_to_error_folder,
            s.messages_flagged,
            s.messages_too_large
        ))?;
    }
    Ok(())
}

/// The bundled samples: `./sample-reports` when run from a checkout, else
/// the folder next to the crate's manifest at build time.
fn samples_dir(given: Option<PathBuf>) -> Result<PathBuf> {
    if let Some(dir) = given {
        return Ok(dir);
    }
    let local = PathBuf::from("sample-reports");
    if local.is_dir() {
        return Ok(local);
    }
    let bundled = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-reports");
    if bundled.is_dir() {
        return Ok(bundled);
    }
    bail!("the sample reports are not here; give their folder with --samples DIR")
}

fn demo(db: Option<PathBuf>, args: DemoArgs) -> Result<ExitCode> {
    let samples = samples_dir(args.samples)?;
    let db = match db {
        Some(db) => db,
        None => {
            let db = args.out.join("dmarc.db");
            for suffix in ["", "-wal", "-shm"] {
                let file = PathBuf::from(format!("{}{suffix}", db.display()));
                match std::fs::remove_file(&file) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => {
                        return Err(e).with_context(|| format!("removing {}", file.display()));
                    }
                }
            }
            db
        }
    };
    let store = Store::open(&db)?;
    let mut ingester = Ingester::new(&store, Limits::default());
    ingester.ingest_paths(&[samples.display().to_string()]).context("storing the samples")?;
    let summary = ingester.finish()?;

    let mut out =
        format!("Ingested the sample reports in {} into {}\n\n", samples.display(), db.display());
    out.push_str(&ingest_line(&summary));
    out.push('\n');
    out.push_str(&stored_overview(&store)?);
    if !summary.failed.is_empty() {
        out.push_str("\nInputs refused (the malformed samples are meant to be):\n");
        for f in &summary.failed {
            out.push_str(&format!("  {}\n", f.error));
        }
    }
    if !summary.warnings.is_empty() {
        out.push_str("\nTolerated quirks:\n");
        for w in &summary.warnings {
            out.push_str(&format!("  {w}\n"));
        }
    }
    out.push_str(&format!(
        "\nThe failed inputs are kept in the database: dmarc-report --db {} errors\n",
        db.display()
    ));
    emit(&out)?;

    // The summary and verdict of what was just stored.
    let options = analysis_options(
        crate::config::AnalysisConfig::default(),
        &WindowArgs { domains: Vec::new(), since: None, until: None, days: None, all: false },
    );
    let summary = analyse::summarise(store.connection(), &options).context("summarising")?;
    let colour = anstream::AutoStream::choice(&io::stdout()) != anstream::ColorChoice::Never;
    let mut table =
        format!("\nSummary (the same as `dmarc-report --db {} summary`):\n\n", db.display())
            .into_bytes();
    render::summary::write_table(&summary, &mut table, colour)?;
    emit_bytes(&table)?;
    let report_dir = db.parent().unwrap_or(Path::new(".")).join("report");
    let page = render::page::from_summary(&summary, options.now, options.criteria.pass_rate);
    let files = render::write_report(&page, &report_dir)?;
    emit(&format!(
        "\nThe report of the samples ({} charts): {}\n",
        files.charts.len(),
        files.index.display()
    ))?;
    Ok(exit(EXIT_OK))
}

/// A table of what the database holds, per policy domain and reporter.
fn stored_overview(store: &Store) -> Result<String> {
    let conn = store.connection();
    let mut stmt = conn.prepare(
        "SELECT r.policy_domain, r.org_name, count(DISTINCT r.id), min(r.begin_ts), max(r.end_ts),
                sum(r.record_count), sum(r.message_count),
                (SELECT COALESCE(sum(c.count), 0) FROM records c JOIN reports r2 ON c.report = r2.id
                  WHERE r2.policy_domain = r.policy_domain AND r2.org_name = r.org_name
                    AND (c.dkim = 'pass' OR c.spf = 'pass'))
         FROM reports r GROUP BY r.policy_domain, r.org_name ORDER BY r.policy_domain, r.org_name",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, i64>(3)?,
            r.get::<_, i64>(4)?,
            r.get::<_, i64>(5)?,
            r.get::<_, i64>(6)?,
            r.get::<_, i64>(7)?,
        ))
    })?;
    let mut out = format!(
        "{:<14} {:<22} {:>7} {:<23} {:>7} {:>8} {:>9}\n",
        "DOMAIN", "REPORTER", "REPORTS", "PERIOD (UTC)", "RECORDS", "MESSAGES", "DMARC OK"
    );
    for row in rows {
        let (domain, org, reports, begin, end, records, messages, pass) = row?;
        let pct = if messages > 0 { 100.0 * pass as f64 / messages as f64 } else { 0.0 };
        out.push_str(&format!(
            "{:<14} {:<22} {:>7} {:<23} {:>7} {:>8} {:>8.1}%\n",
            clip(&domain, 14),
            clip(&org, 22),
            reports,
            format!("{} .. {}", format_date(begin), format_date(end)),
            records,
            messages,
            pct
        ));
    }
    Ok(out)
}

fn clip(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        s.to_owned()
    } else {
        let mut cut: String = s.chars().take(width - 1).collect();
        cut.push('~');
        cut
    }
}

fn format_time(ts: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(ts)
        .ok()
        .and_then(|t| {
            t.format(time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]")).ok()
        })
        .unwrap_or_else(|| ts.to_string())
}

fn format_date(ts: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(ts)
        .ok()
        .and_then(|t| t.format(time::macros::format_description!("[year]-[month]-[day]")).ok())
        .unwrap_or_else(|| ts.to_string())
}

/// Writes a diagnostic line to stderr; a closed stderr is ignored.
fn note(line: &str) {
    let _ = writeln!(io::stderr().lock(), "{line}");
}

/// Writes to stdout; a closed pipe (`| head`) is not an error.
fn emit(text: &str) -> Result<()> {
    emit_bytes(text.as_bytes())
}

fn emit_bytes(bytes: &[u8]) -> Result<()> {
    let mut stdout = io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(e).context("writing to standard output"),
    }
}
