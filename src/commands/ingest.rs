//! `ingest`: store the reports in files, folders, mbox files, Maildir
//! folders or standard input.

use std::process::ExitCode;

use anyhow::{Context, Result};

use super::{ingest_line, open_store};
use crate::cli::args::{Format, IngestArgs};
use crate::cli::settings::Settings;
use crate::cli::{EXIT_OK, EXIT_PARTIAL, emit, exit, note};
use crate::ingest::{IngestSummary, Ingester};

/// Runs `ingest`.
pub fn run(settings: &Settings, args: &IngestArgs) -> Result<ExitCode> {
    let store = open_store(&settings.db)?;
    let mut ingester = Ingester::new(&store, args.limits.limits());
    ingester.ingest_paths(&args.paths).context("storing reports")?;
    if args.retry_failed {
        ingester.retry_failed().context("retrying failed inputs")?;
    }
    let summary = ingester.finish().context("committing")?;
    print(&summary, args.format)?;
    Ok(exit(if summary.failed.is_empty() { EXIT_OK } else { EXIT_PARTIAL }))
}

fn print(s: &IngestSummary, format: Format) -> Result<()> {
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
