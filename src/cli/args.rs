//! The raw command line: clap definitions whose doc comments are the help
//! text. Nothing here reads a file or the environment beyond what clap
//! does; [`super::settings`] turns these flags into settings.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::TlsMode;
use crate::limits::parse_size;

/// DMARC aggregate reports into SQLite, and the evidence to tighten your policy.
#[derive(Debug, Parser)]
#[command(
    name = "dmarc-report",
    version,
    about,
    max_term_width = 100,
    after_help = "\
Workflow:
  1. Store reports:   dmarc-report fetch                 (IMAP, from cron)
                      dmarc-report ingest ~/Maildir/.DMARC reports/*.zip
  2. Read them:       dmarc-report summary               (the verdict per domain)
  3. Share them:      dmarc-report report --out report/  (charts and index.html)
  Failed inputs:      dmarc-report errors
  Try it first:       dmarc-report demo                  (its own database)

Every command finds the database the same way: --db, DMARC_REPORT_DB, the
config file's `database`, else $XDG_DATA_HOME/dmarc-report/dmarc.db."
)]
pub struct Cli {
    /// The SQLite database, for the command that follows [env: DMARC_REPORT_DB]
    /// [default: the config's `database`, else $XDG_DATA_HOME/dmarc-report/dmarc.db]
    #[arg(long, value_name = "PATH")]
    pub db: Option<PathBuf>,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands, one per file under `src/commands/`.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Pull rua emails from IMAP mailboxes and store their reports (for cron).
    #[command(after_help = "\
Examples:
  dmarc-report fetch                                 accounts from the config file
  dmarc-report fetch --host imap.example.com --user dmarc@example.com \\
      --password-file ~/.imap-password --archive-folder DMARC/Done
  dmarc-report fetch --watch --account rua -v        stay connected (IMAP IDLE)")]
    Fetch(Box<FetchArgs>),
    /// Store the reports in files, directories, mbox files, Maildir folders
    /// or standard input (`-`).
    #[command(after_help = "\
Examples:
  dmarc-report ingest ~/Maildir/.DMARC               a Maildir (cur/ and new/)
  dmarc-report ingest reports/ google.xml.gz mail.mbox
  curl -s https://example.net/r.xml.gz | dmarc-report ingest -
  dmarc-report ingest --retry-failed                 after an upgrade or a raised limit")]
    Ingest(IngestArgs),
    /// Rebuild every stored report from its raw XML (after an upgrade that
    /// fixed the parser).
    #[command(after_help = "\
Example:
  dmarc-report reparse                               after upgrading dmarc-report")]
    Reparse(ReparseArgs),
    /// List the inputs that could not be stored (they are kept with their bytes).
    #[command(after_help = "\
Examples:
  dmarc-report errors                                list them
  dmarc-report errors --export 3 --out input-3.eml   the kept bytes of #3
  dmarc-report errors --dismiss 3 5                  forget #3 and #5
  dmarc-report errors --dismiss-all")]
    Errors(ErrorsArgs),
    /// Per-domain and per-sender summary, and whether it is safe to move to
    /// p=quarantine or p=reject.
    #[command(after_help = "\
Examples:
  dmarc-report summary                               the last 30 days of each domain
  dmarc-report summary --domain example.com --days 90
  dmarc-report summary --since 2026-10-01 --until 2026-10-31 --format json
  dmarc-report summary --until 2026-10-31 --days 7 --resolve")]
    Summary(SummaryArgs),
    /// Write the report: PNG charts and a self-contained index.html.
    #[command(after_help = "\
Examples:
  dmarc-report report --out report/                  then open report/index.html
  dmarc-report report --out /var/www/dmarc --domain example.com --days 90")]
    Report(ReportArgs),
    /// Ingest the bundled sample reports into a fresh database, show what
    /// was stored and the summary, and write the report.
    #[command(after_help = "\
Example:
  dmarc-report demo                                  writes demo-output/ here")]
    Demo(DemoArgs),
    /// Tell what changed since the last notification (verdicts, new or
    /// degraded senders, stopped reports, failed inputs), once, by mail,
    /// webhook or standard output; or send the periodic digest.
    Notify(NotifyArgs),
    /// Write the Prometheus metrics to a file (node_exporter's textfile collector).
    Metrics(MetricsArgs),
}

/// `notify`. Delivery and thresholds come from the config's `[notify]` table.
#[derive(Debug, Args)]
pub struct NotifyArgs {
    /// Database and config file
    #[command(flatten)]
    pub store: StoreArgs,
    /// Show what would be sent; send nothing and record nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Send the digest of every domain (for a weekly cron line) instead of the events
    #[arg(long)]
    pub digest: bool,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// `metrics`.
#[derive(Debug, Args)]
pub struct MetricsArgs {
    /// Database and config file
    #[command(flatten)]
    pub store: StoreArgs,
    /// The file to write, atomically (name it *.prom for node_exporter)
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

/// Where the data and the settings are: every command that reads or writes
/// the database takes these.
#[derive(Debug, Clone, Default, Args)]
pub struct StoreArgs {
    /// The SQLite database [env: DMARC_REPORT_DB] [default: the config's
    /// `database`, else $XDG_DATA_HOME/dmarc-report/dmarc.db]
    #[arg(long = "db", value_name = "PATH")]
    pub db: Option<PathBuf>,
    /// Config file [default: $XDG_CONFIG_HOME/dmarc-report/config.toml]
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
    /// Even into a pipe or a file.
    Always,
    /// Plain text, even on a terminal.
    Never,
}

/// Output format for people or programs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Lines for people.
    Text,
    /// One JSON object.
    Json,
}

/// The window flags shared by `summary` and `report`.
#[derive(Debug, Clone, Default, Args)]
pub struct WindowArgs {
    /// Only this policy domain (repeatable) [default: every domain]
    #[arg(long = "domain", value_name = "DOMAIN")]
    pub domains: Vec<String>,
    /// First day of the window (YYYY-MM-DD, UTC)
    #[arg(long, value_name = "DATE", value_parser = parse_day)]
    pub since: Option<i64>,
    /// Last day of the window, included (YYYY-MM-DD, UTC)
    #[arg(long, value_name = "DATE", value_parser = parse_day, conflicts_with = "all")]
    pub until: Option<i64>,
    /// The window's length in days, from --since or up to --until [default:
    /// 30, ending at the newest report]
    #[arg(long, value_name = "N", conflicts_with = "all", value_parser = clap::value_parser!(u32).range(1..=36_500))]
    pub days: Option<u32>,
    /// The whole history
    #[arg(long, conflicts_with = "since")]
    pub all: bool,
}

/// `YYYY-MM-DD` to the Unix time of its UTC midnight.
fn parse_day(text: &str) -> Result<i64, String> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(text.trim(), format)
        .map(|d| d.midnight().assume_utc().unix_timestamp())
        .map_err(|_| format!("\"{text}\" is not a date (YYYY-MM-DD)"))
}

/// The size limit of one decompressed report: the one limit that applies
/// to every command that parses.
#[derive(Debug, Clone, Default, Args)]
pub struct ReportSizeArg {
    /// Largest decompressed report (e.g. 512M, 2G) [default: 1G]
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_report_size: Option<u64>,
}

/// Limits on untrusted input sizes.
#[derive(Debug, Clone, Default, Args)]
pub struct LimitArgs {
    /// The decompressed report limit
    #[command(flatten)]
    pub report: ReportSizeArg,
    /// Largest email, zip archive or other input read into memory [default: 64M]
    #[arg(long, env = "DMARC_REPORT_MAX_MESSAGE_SIZE", value_name = "SIZE", value_parser = parse_size)]
    pub max_message_size: Option<u64>,
    /// Most entries a zip archive may have [default: 100]
    #[arg(long, value_name = "N")]
    pub max_zip_entries: Option<usize>,
}

/// `summary`.
#[derive(Debug, Args)]
pub struct SummaryArgs {
    /// Database and config file
    #[command(flatten)]
    pub store: StoreArgs,
    /// Which domains and days
    #[command(flatten)]
    pub window: WindowArgs,
    /// Output format
    #[arg(long, value_enum, default_value_t = SummaryFormat::Table)]
    pub format: SummaryFormat,
    /// Colour the table
    #[arg(long, value_enum, default_value_t = ColorWhen::Auto, value_name = "WHEN")]
    pub color: ColorWhen,
    /// Look up (forward-confirmed) reverse DNS names of the sources, cached in
    /// the database; uncached lookups take at most --resolve-timeout each
    #[arg(long)]
    pub resolve: bool,
    /// Longest wait for one reverse DNS lookup, in seconds
    #[arg(long, value_name = "SECONDS", default_value_t = 2, requires = "resolve")]
    pub resolve_timeout: u64,
}

/// `report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Database and config file
    #[command(flatten)]
    pub store: StoreArgs,
    /// Which domains and days
    #[command(flatten)]
    pub window: WindowArgs,
    /// The folder to write index.html and the charts into (created when missing)
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

/// `ingest`.
#[derive(Debug, Args)]
pub struct IngestArgs {
    /// Database and config file
    #[command(flatten)]
    pub store: StoreArgs,
    /// Files, directories (walked recursively), mbox files, Maildir folders, or `-` for stdin
    #[arg(value_name = "PATH", required_unless_present = "retry_failed")]
    pub paths: Vec<String>,
    /// Also try again the inputs that failed before (see `errors`), except
    /// those that are not DMARC aggregate reports
    #[arg(long)]
    pub retry_failed: bool,
    /// With --retry-failed: also retry the inputs recognised as another kind
    /// of report (TLS, failure reports) or as no report at all
    #[arg(long, requires = "retry_failed")]
    pub retry_non_reports: bool,
    /// Say what was skipped (a Maildir's non-message files) and passed over
    #[arg(long, short)]
    pub verbose: bool,
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
    /// Database and config file
    #[command(flatten)]
    pub store: StoreArgs,
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
    /// Messages fetched and committed together [default: 50]
    #[arg(long, value_name = "N")]
    pub batch_size: Option<usize>,
    /// Size limits (a message larger than --max-message-size is skipped and
    /// reported; the size overrides each account's `max_message_size`)
    #[command(flatten)]
    pub limits: LimitArgs,
    /// Stay connected and process new reports as they arrive (IMAP IDLE)
    #[arg(long)]
    pub watch: bool,
    /// Say what was done even when all went well
    #[arg(long, short)]
    pub verbose: bool,
    /// After a successful fetch, run `notify` (one cron line for both)
    #[arg(long, conflicts_with = "watch")]
    pub notify: bool,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// `reparse`.
#[derive(Debug, Args)]
pub struct ReparseArgs {
    /// Database and config file
    #[command(flatten)]
    pub store: StoreArgs,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// The decompressed report limit (the raw XML is reparsed; message and
    /// archive limits do not apply)
    #[command(flatten)]
    pub limit: ReportSizeArg,
}

/// `errors`.
#[derive(Debug, Args)]
pub struct ErrorsArgs {
    /// Database and config file
    #[command(flatten)]
    pub store: StoreArgs,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Write the kept bytes of failed input ID to the file given with --out
    #[arg(long, value_name = "ID", requires = "out", conflicts_with_all = ["dismiss", "dismiss_all"])]
    pub export: Option<i64>,
    /// Where --export writes (`-` for standard output)
    #[arg(long, value_name = "FILE", requires = "export")]
    pub out: Option<PathBuf>,
    /// Forget these failed inputs and their kept bytes: they leave the list
    /// and are never retried
    #[arg(long, value_name = "ID", num_args = 1.., conflicts_with = "dismiss_all")]
    pub dismiss: Vec<i64>,
    /// Forget every failed input
    #[arg(long)]
    pub dismiss_all: bool,
}

/// `demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// The sample reports [default: ./sample-reports, else the bundled ones]
    #[arg(long, value_name = "DIR")]
    pub samples: Option<PathBuf>,
    /// The folder for the demo's own database and report (its database is
    /// replaced on every run; the configured database is never touched)
    #[arg(long, value_name = "DIR", default_value = "demo-output")]
    pub out: PathBuf,
}
