//! Settings resolved once from the flags, the config file, the environment
//! and the defaults, so that every command finds the database and reads the
//! config the same way.
//!
//! The database: `--db` (after the command, else before it), then
//! `DMARC_REPORT_DB`, then the config's `database`, then
//! `$XDG_DATA_HOME/dmarc-report/dmarc.db`. A `postgresql://` URL there
//! selects PostgreSQL (see `store::pg`).

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

use super::args::{LimitArgs, ReportSizeArg, StoreArgs, WindowArgs};
use crate::analyse::{self, senders::Catalogue, summary::WindowSpec};
use crate::config::{AnalysisConfig, ConfigFile};
use crate::limits::Limits;
use crate::units::{DAY, format_date};

/// The environment variable that names the database.
pub const DB_ENV: &str = "DMARC_REPORT_DB";

/// What a command that uses the database runs with.
#[derive(Debug)]
pub struct Settings {
    /// The database file: `--db`, `DMARC_REPORT_DB`, the config's
    /// `database`, or the default under the data directory.
    pub db: PathBuf,
    /// The database is the default one, whose directory is made when
    /// missing (a directory named by the user must exist).
    pub db_is_default: bool,
    /// The config file (empty when there is none).
    pub config: ConfigFile,
}

impl Settings {
    /// Resolves the database and reads the config file. `top_db` is a
    /// `--db` given before the command's name.
    pub fn resolve(top_db: Option<PathBuf>, args: &StoreArgs) -> Result<Settings> {
        let config = ConfigFile::read(args.config.as_deref())?;
        let (db, db_is_default) = match args.db.clone().or(top_db).or_else(db_from_env) {
            Some(db) => (db, false),
            None => match config.database() {
                Some(db) => (db.to_path_buf(), false),
                None => (default_db()?, true),
            },
        };
        // A URL of a scheme other than PostgreSQL's is refused here, before
        // any command could take it for a file name.
        crate::store::Location::parse(&db)?;
        Ok(Settings { db, db_is_default, config })
    }

    /// Whether the database is PostgreSQL (a URL), not a SQLite file.
    pub fn db_is_postgres(&self) -> bool {
        matches!(crate::store::Location::parse(&self.db), Ok(crate::store::Location::Postgres(_)))
    }

    /// The analysis options of `summary` and `report`.
    pub fn analysis<'a>(&self, window: &WindowArgs) -> Result<analyse::Options<'a>> {
        analysis_options(self.config.analysis()?, window)
    }
}

/// `DMARC_REPORT_DB`, when set and not empty.
fn db_from_env() -> Option<PathBuf> {
    std::env::var_os(DB_ENV).filter(|v| !v.is_empty()).map(PathBuf::from)
}

/// The default database under the XDG data directory.
fn default_db() -> Result<PathBuf> {
    let Some(dir) = dirs::data_dir() else {
        bail!("no data directory is known for this user; give the database with --db PATH");
    };
    Ok(dir.join("dmarc-report").join("dmarc.db"))
}

/// The analysis options from the config's analysis settings and the window
/// flags; an impossible window (backwards, or wholly in the future) is an
/// error.
pub fn analysis_options<'a>(
    config: AnalysisConfig,
    window: &WindowArgs,
) -> Result<analyse::Options<'a>> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    Ok(analyse::Options {
        domains: window.domains.clone(),
        window: window_spec(window, now)?,
        now,
        catalogue: Catalogue::builtin().with(config.known_senders),
        criteria: config.criteria,
        rua: config.rua,
        resolver: None,
    })
}

/// The window the flags select, checked against `now`.
pub fn window_spec(w: &WindowArgs, now: i64) -> Result<WindowSpec> {
    let spec = match (w.since, w.until, w.days, w.all) {
        (_, _, _, true) => WindowSpec::All,
        (Some(_), Some(_), Some(_), _) => {
            bail!("--since, --until and --days together: give two of them")
        }
        (Some(since), Some(until), None, _) => {
            if since > until {
                bail!(
                    "--since {} is after --until {}: the window would be empty",
                    format_date(since),
                    format_date(until)
                );
            }
            WindowSpec::Range { since, until: until + DAY }
        }
        (Some(since), None, Some(days), _) => {
            WindowSpec::Range { since, until: since + i64::from(days) * DAY }
        }
        (Some(since), None, None, _) => WindowSpec::Since(since),
        (None, Some(until), days, _) => {
            WindowSpec::Until { until: until + DAY, days: days.unwrap_or(30) }
        }
        (None, None, days, _) => WindowSpec::LastDays(days.unwrap_or(30)),
    };
    let begin = match spec {
        WindowSpec::Range { since, .. } | WindowSpec::Since(since) => Some(since),
        WindowSpec::Until { until, days } => Some(until - i64::from(days) * DAY),
        WindowSpec::LastDays(_) | WindowSpec::All => None,
    };
    if let Some(begin) = begin.filter(|&b| b > now) {
        bail!(
            "the window starts on {}, in the future: no report can be in it yet",
            format_date(begin)
        );
    }
    Ok(spec)
}

impl ReportSizeArg {
    /// The limit, or its default.
    pub fn max_report_size(&self) -> u64 {
        self.max_report_size.unwrap_or(Limits::default().max_report_size)
    }
}

impl LimitArgs {
    /// The limits, each flag or its default.
    pub fn limits(&self) -> Limits {
        let defaults = Limits::default();
        Limits {
            max_report_size: self.report.max_report_size(),
            max_message_size: self.max_message_size.unwrap_or(defaults.max_message_size),
            max_zip_entries: self.max_zip_entries.unwrap_or(defaults.max_zip_entries),
        }
    }
}

/// The lock file of a database (`fetch` holds it while it runs).
pub fn lock_path(db: &Path) -> PathBuf {
    PathBuf::from(format!("{}.lock", db.display()))
}
