//! One module per command; each takes the resolved settings and its own
//! arguments and returns the exit status.

pub mod auth;
pub mod check;
pub mod copy;
pub mod demo;
pub mod errors;
pub mod fetch;
pub mod ingest;
pub mod metrics;
pub mod notify;
pub mod reparse;
pub mod report;
pub mod summary;

use std::path::Path;

use anyhow::{Context, Result, bail};

use crate::analyse;
use crate::cli::settings::Settings;
use crate::ingest::IngestSummary;
use crate::render;
use crate::render::format::{count, plural};
use crate::store::{Store, StoreError};
use crate::units::format_date;

/// Opens (creating when missing) the database of `settings`. The default
/// location's directory is made when missing; a directory the user named
/// must exist.
fn open_store(settings: &Settings) -> Result<Store> {
    let path = &settings.db;
    if settings.db_is_default
        && let Some(dir) = path.parent()
    {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::create_dir(dir, &e))?;
    }
    Store::open(path).map_err(anyhow::Error::from)
}

/// Opens a database that must already exist (for the commands that only
/// read): never creates one.
fn open_existing_store(path: &Path) -> Result<Store> {
    if !stored_anything(path) {
        bail!(
            "no database at {}: store reports first with `dmarc-report ingest` or `fetch`, or give --db",
            path.display()
        );
    }
    Store::open(path).map_err(anyhow::Error::from)
}

/// Whether there is a database at `path` to read (or something there that
/// opening will say is not one: a directory, another file). `false` only
/// for a SQLite file that does not exist.
fn stored_anything(path: &Path) -> bool {
    match crate::store::Location::parse(path) {
        Ok(crate::store::Location::Sqlite(_)) => path.exists(),
        _ => true,
    }
}

/// The one-line account of an ingest, shared by `ingest` and `demo`:
/// `212 inputs: 204 new reports with 3,078 records, 1 duplicate, 8 failed`.
fn ingest_line(s: &IngestSummary) -> String {
    // Dismissed inputs seen again are named only when there are some.
    let dismissed = if s.dismissed > 0 {
        format!(" ({} dismissed before)", count(s.dismissed))
    } else {
        String::new()
    };
    format!(
        "{}: {} with {}, {}, {} failed{dismissed}\n",
        plural(s.inputs, "input", "inputs"),
        plural(s.reports_new, "new report", "new reports"),
        plural(s.records, "record", "records"),
        plural(s.reports_duplicate, "duplicate", "duplicates"),
        count(s.failed.len() as u64)
    )
}

/// Opens the database (which must exist) and summarises it; a domain asked
/// for with `--domain` but absent from the database is an error. A domain
/// without a report in the window is left out (no verdict is given on no
/// data) and named in the returned notes.
fn summarise_stored(
    db: &Path,
    options: &analyse::Options<'_>,
) -> Result<(Store, analyse::Summary, Vec<String>)> {
    let store = open_existing_store(db)?;
    let mut summary = analyse::summarise(&store, options).context("summarising")?;
    // The newest `check` of each domain, shown next to its verdict.
    for d in &mut summary.domains {
        d.record_check = store.last_check(&d.domain).context("reading the record checks")?;
    }
    for wanted in &options.domains {
        let wanted = wanted.trim().trim_end_matches('.').to_ascii_lowercase();
        if !summary.domains.iter().any(|d| d.domain == wanted) {
            bail!("no reports stored for {wanted}");
        }
    }
    let mut notes = Vec::new();
    summary.domains.retain(|d| {
        let empty = d.totals.reports == 0 || d.window.begin >= d.window.end;
        if empty {
            notes.push(format!(
                "{}: no data in this window ({}); no verdict",
                d.domain,
                window_text(d.window.begin, d.window.end)
            ));
        }
        !empty
    });
    if summary.domains.is_empty() {
        summary.window = None;
    }
    Ok((store, summary, notes))
}

/// A window as its first and last day, both included: `2026-10-20 ..
/// 2026-11-18`. (The window's end is the first second after it.)
fn window_text(begin: i64, end: i64) -> String {
    if end <= begin {
        return format!("since {}, after the newest report", format_date(begin));
    }
    format!("{} .. {}", format_date(begin), format_date(end - 1))
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

/// `YYYY-MM-DD HH:MM` (UTC).
fn format_time(ts: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(ts)
        .ok()
        .and_then(|t| {
            t.format(time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]")).ok()
        })
        .unwrap_or_else(|| ts.to_string())
}
