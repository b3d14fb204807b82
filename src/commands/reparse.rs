//! `reparse`: rebuild every stored report from its raw XML.

use std::process::ExitCode;

use anyhow::{Context, Result};

use super::open_existing_store;
use crate::cli::args::{Format, ReparseArgs};
use crate::cli::settings::Settings;
use crate::cli::{EXIT_OK, EXIT_PARTIAL, emit, exit, note};
use crate::ingest::{ReparseSummary, reparse};
use crate::limits::Limits;
use crate::render::format::{count, plural};

/// Runs `reparse`.
pub fn run(settings: &Settings, args: &ReparseArgs) -> Result<ExitCode> {
    let store = open_existing_store(&settings.db)?;
    let limits = Limits { max_report_size: args.limit.max_report_size(), ..Limits::default() };
    let summary = reparse(&store, &limits).context("reparsing")?;
    print(&summary, args.format)?;
    Ok(exit(if summary.failed.is_empty() { EXIT_OK } else { EXIT_PARTIAL }))
}

fn print(s: &ReparseSummary, format: Format) -> Result<()> {
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
        "reparsed {} with {}; {} merged into another copy; {} failed\n",
        plural(s.reports, "report", "reports"),
        plural(s.records, "record", "records"),
        count(s.merged),
        count(s.failed.len() as u64)
    ))
}
