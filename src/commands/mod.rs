//! One module per command; each takes the resolved settings and its own
//! arguments and returns the exit status.

pub mod demo;
pub mod errors;
pub mod fetch;
pub mod ingest;
pub mod reparse;
pub mod report;
pub mod summary;

use std::path::Path;

use anyhow::{Context, Result, bail};

use crate::analyse;
use crate::ingest::IngestSummary;
use crate::render;
use crate::store::Store;

/// Opens (creating when missing) the database.
fn open_store(path: &Path) -> Result<Store> {
    Store::open(path).map_err(anyhow::Error::from)
}

/// Opens a database that must already exist (for the read-only commands).
fn open_existing_store(path: &Path) -> Result<Store> {
    if !path.is_file() {
        bail!(
            "no database at {}: store reports first with `dmarc-report ingest` or `fetch`, or give --db",
            path.display()
        );
    }
    Store::open(path).map_err(anyhow::Error::from)
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

/// Opens the database (which must exist) and summarises it; a domain asked
/// for with `--domain` but absent from the database is an error.
fn summarise_stored(db: &Path, options: &analyse::Options<'_>) -> Result<analyse::Summary> {
    let store = open_existing_store(db)?;
    let summary = analyse::summarise(&store, options).context("summarising")?;
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

/// `YYYY-MM-DD HH:MM` (UTC).
fn format_time(ts: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(ts)
        .ok()
        .and_then(|t| {
            t.format(time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]")).ok()
        })
        .unwrap_or_else(|| ts.to_string())
}
