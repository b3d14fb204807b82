//! The raw command line: clap definitions whose doc comments are the help
//! text. Nothing here reads a file or the environment beyond what clap
//! does; [`super::settings`] turns these flags into settings.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::{AuthKind, Flow, Overrides, Provider, TlsMode};
use crate::limits::parse_size;
use crate::model::FailureKind;

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
  dmarc-report ingest --retry-failed                 after an upgrade or a raised limit
  dmarc-report ingest --retry-failed --all-kinds     also those that were no report")]
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
  dmarc-report errors --dismiss 3 5                  dismiss #3 and #5
  dmarc-report errors --dismiss-all
  dmarc-report errors --dismissed                    the dismissed ones")]
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
    /// Look up the domains' DMARC, SPF, DKIM and MX records live, lint them
    /// and compare them with the reports (exit 1 when a finding is an error).
    Check(CheckArgs),
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
    /// Copy everything the database holds into another one (SQLite into
    /// PostgreSQL, or back); safe to run again, a killed copy is completed
    /// by the next run.
    #[command(after_help = "\
Examples:
  dmarc-report copy --to 'postgresql://dmarc@db.example.com/dmarc?password_file=/etc/dmarc-report/pg'
  dmarc-report --db old.db copy --to new.db -v       progress on stderr")]
    Copy(CopyArgs),
    /// OAuth2 sign-in for IMAP accounts with `auth = "oauth2"` (see docs/oauth2.md).
    Auth(Box<AuthArgs>),
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

/// The flags of `dmarc-report copy` (its help text is the subcommand's doc comment).
#[derive(Debug, Args)]
pub struct CopyArgs {
    /// The database to copy from, and the config file
    #[command(flatten)]
    pub store: StoreArgs,
    /// The database to copy into: a postgresql:// URL or a SQLite file path
    /// (created when missing)
    #[arg(long, value_name = "DB")]
    pub to: PathBuf,
    /// Say what each report and row became, on standard error
    #[arg(long, short)]
    pub verbose: bool,
}

/// The flags of `dmarc-report metrics` (its help text is the subcommand's doc comment).
#[derive(Debug, Args)]
pub struct MetricsArgs {
    /// Database and config file
    #[command(flatten)]
    pub store: StoreArgs,
    /// The file to write, atomically (name it *.prom for node_exporter)
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

/// Output format of `check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CheckFormat {
    /// Findings for people.
    Text,
    /// `{"domains": [{"domain", "findings": [{"code", "severity", "record", "message", "fix"}]}]}`.
    Json,
}

/// The flags of `dmarc-report check` (its help text is the subcommand's doc comment).
#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    /// The domains to check.
    #[arg(value_name = "DOMAIN", required = true)]
    pub domains: Vec<String>,
    /// A DKIM selector to check (repeatable), besides those the stored
    /// reports show for the domain
    #[arg(long = "selector", value_name = "S")]
    pub selectors: Vec<String>,
    /// Ask this DNS server (IP or IP:PORT) instead of the system resolver
    #[arg(long, value_name = "IP[:PORT]")]
    pub resolver: Option<String>,
    /// Seconds to wait for each DNS answer
    #[arg(long, value_name = "SECONDS", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=60))]
    pub timeout: u64,
    /// Output format
    #[arg(long, value_enum, default_value_t = CheckFormat::Text)]
    pub format: CheckFormat,
    /// Where the data and the settings are.
    #[command(flatten)]
    pub store: StoreArgs,
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

/// A failure kind by its name (`tls-report`), as `errors` shows it.
fn parse_failure_kind(text: &str) -> Result<FailureKind, String> {
    FailureKind::from_name(text.trim()).ok_or_else(|| {
        let names: Vec<&str> = FailureKind::ALL.iter().map(|k| k.as_str()).collect();
        format!("\"{text}\" is not a failure kind (one of {})", names.join(", "))
    })
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

/// The flags of `dmarc-report summary` (its help text is the subcommand's doc comment).
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

/// The flags of `dmarc-report report` (its help text is the subcommand's doc comment).
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

/// The flags of `dmarc-report ingest` (its help text is the subcommand's doc comment).
#[derive(Debug, Args)]
pub struct IngestArgs {
    /// Database and config file
    #[command(flatten)]
    pub store: StoreArgs,
    /// Files, directories (walked recursively), mbox files, Maildir folders, or `-` for stdin
    #[arg(value_name = "PATH", required_unless_present = "retry_failed")]
    pub paths: Vec<String>,
    /// Also try again the inputs that failed before (see `errors`), except
    /// those recognised as another kind of report or as no report at all
    /// (kinds not-a-report, tls-report, failure-report) and those dismissed
    #[arg(long)]
    pub retry_failed: bool,
    /// With --retry-failed: also retry the failed inputs of this kind
    /// (repeatable, or comma-separated)
    #[arg(
        long,
        value_name = "KIND",
        value_delimiter = ',',
        requires = "retry_failed",
        value_parser = parse_failure_kind,
    )]
    pub include_kind: Vec<FailureKind>,
    /// With --retry-failed: retry the failed inputs of every kind (dismissed
    /// ones are never retried)
    #[arg(long, requires = "retry_failed", conflicts_with = "include_kind")]
    pub all_kinds: bool,
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
    /// OAuth2 settings
    #[command(flatten)]
    pub oauth2: OAuth2Args,
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

/// How an account logs in with OAuth2; each overrides the same key of the
/// config file. Secrets only from files or variables, never as flags.
#[derive(Debug, Clone, Default, Args)]
pub struct OAuth2Args {
    /// How to log in [default: password]
    #[arg(long, value_enum, env = "DMARC_REPORT_AUTH", help_heading = "OAuth2")]
    pub auth: Option<AuthKind>,
    /// Identity provider: fills in the URLs and the scope
    #[arg(long, value_enum, env = "DMARC_REPORT_OAUTH2_PROVIDER", help_heading = "OAuth2")]
    pub oauth2_provider: Option<Provider>,
    /// Microsoft tenant id or domain [default: organizations]
    #[arg(
        long,
        env = "DMARC_REPORT_OAUTH2_TENANT",
        value_name = "TENANT",
        help_heading = "OAuth2"
    )]
    pub oauth2_tenant: Option<String>,
    /// How the first token is obtained [default: client_credentials]
    #[arg(long, value_enum, env = "DMARC_REPORT_OAUTH2_FLOW", help_heading = "OAuth2")]
    pub oauth2_flow: Option<Flow>,
    /// Application (client) id
    #[arg(long, env = "DMARC_REPORT_OAUTH2_CLIENT_ID", value_name = "ID", help_heading = "OAuth2")]
    pub oauth2_client_id: Option<String>,
    /// File whose first line is the client secret
    #[arg(
        long,
        env = "DMARC_REPORT_OAUTH2_CLIENT_SECRET_FILE",
        value_name = "PATH",
        help_heading = "OAuth2"
    )]
    pub oauth2_client_secret_file: Option<PathBuf>,
    /// Name of the environment variable that holds the client secret
    #[arg(
        long,
        env = "DMARC_REPORT_OAUTH2_CLIENT_SECRET_ENV",
        value_name = "VAR",
        help_heading = "OAuth2"
    )]
    pub oauth2_client_secret_env: Option<String>,
    /// Token endpoint
    #[arg(
        long,
        env = "DMARC_REPORT_OAUTH2_TOKEN_URL",
        value_name = "URL",
        help_heading = "OAuth2"
    )]
    pub oauth2_token_url: Option<String>,
    /// Device authorization endpoint (RFC 8628)
    #[arg(
        long,
        env = "DMARC_REPORT_OAUTH2_DEVICE_URL",
        value_name = "URL",
        help_heading = "OAuth2"
    )]
    pub oauth2_device_url: Option<String>,
    /// Authorization endpoint (code flow)
    #[arg(long, env = "DMARC_REPORT_OAUTH2_AUTH_URL", value_name = "URL", help_heading = "OAuth2")]
    pub oauth2_auth_url: Option<String>,
    /// Scope asked for
    #[arg(long, env = "DMARC_REPORT_OAUTH2_SCOPE", value_name = "SCOPE", help_heading = "OAuth2")]
    pub oauth2_scope: Option<String>,
    /// Where the tokens are kept [default: under the data directory, per account]
    #[arg(
        long,
        env = "DMARC_REPORT_OAUTH2_TOKEN_FILE",
        value_name = "PATH",
        help_heading = "OAuth2"
    )]
    pub oauth2_token_file: Option<PathBuf>,
    /// A command that prints an access token (instead of the flows)
    #[arg(
        long,
        env = "DMARC_REPORT_OAUTH2_TOKEN_COMMAND",
        value_name = "COMMAND",
        help_heading = "OAuth2"
    )]
    pub oauth2_token_command: Option<String>,
}

impl OAuth2Args {
    /// `overrides` with these settings added.
    pub fn apply(&self, overrides: Overrides) -> Overrides {
        Overrides {
            auth: self.auth,
            oauth2_provider: self.oauth2_provider,
            oauth2_tenant: self.oauth2_tenant.clone(),
            oauth2_flow: self.oauth2_flow,
            oauth2_client_id: self.oauth2_client_id.clone(),
            oauth2_client_secret_file: self.oauth2_client_secret_file.clone(),
            oauth2_client_secret_env: self.oauth2_client_secret_env.clone(),
            oauth2_token_url: self.oauth2_token_url.clone(),
            oauth2_device_url: self.oauth2_device_url.clone(),
            oauth2_auth_url: self.oauth2_auth_url.clone(),
            oauth2_scope: self.oauth2_scope.clone(),
            oauth2_token_file: self.oauth2_token_file.clone(),
            oauth2_token_command: self.oauth2_token_command.clone(),
            ..overrides
        }
    }
}

/// The flags of `dmarc-report auth` (its help text is the subcommand's doc comment).
#[derive(Debug, Args)]
pub struct AuthArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: AuthAction,
}

/// `auth login` / `auth status`.
#[derive(Debug, Subcommand)]
pub enum AuthAction {
    /// Sign in once (device code: enter the code shown; authorization code:
    /// a browser on this machine) and keep the tokens for `fetch`.
    Login(AuthAccountArgs),
    /// Per account: the flow, whether a token is stored and when the access
    /// token expires (never the token).
    Status(AuthAccountArgs),
}

/// Which accounts `auth` works on.
#[derive(Debug, Args)]
pub struct AuthAccountArgs {
    /// Config file [default: $XDG_CONFIG_HOME/dmarc-report/config.toml]
    #[arg(long, env = "DMARC_REPORT_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Only the account with this name (or host) from the config file
    #[arg(long, env = "DMARC_REPORT_ACCOUNT", value_name = "NAME")]
    pub account: Option<String>,
    /// IMAP server
    #[arg(long, env = "DMARC_REPORT_HOST")]
    pub host: Option<String>,
    /// Login name
    #[arg(long, env = "DMARC_REPORT_USER")]
    pub user: Option<String>,
    /// Print the address to open instead of starting a browser
    #[arg(long)]
    pub no_browser: bool,
    /// Output format (`status`)
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// OAuth2 settings
    #[command(flatten)]
    pub oauth2: OAuth2Args,
}

/// The flags of `dmarc-report reparse` (its help text is the subcommand's doc comment).
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

/// The flags of `dmarc-report errors` (its help text is the subcommand's doc comment).
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
    /// Dismiss these failed inputs: they leave the list, are never retried,
    /// and their kept bytes are deleted; the same input failing again stays
    /// dismissed
    #[arg(long, value_name = "ID", num_args = 1.., conflicts_with = "dismiss_all")]
    pub dismiss: Vec<i64>,
    /// Dismiss every listed failed input
    #[arg(long)]
    pub dismiss_all: bool,
    /// List the dismissed inputs instead
    #[arg(long, conflicts_with_all = ["dismiss", "dismiss_all", "export"])]
    pub dismissed: bool,
}

/// The flags of `dmarc-report demo` (its help text is the subcommand's doc comment).
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
