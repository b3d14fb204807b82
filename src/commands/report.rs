//! `report`: write the PNG charts and the self-contained index.html.

use std::process::ExitCode;

use anyhow::Result;

use super::{summarise_stored, write_report};
use crate::cli::args::ReportArgs;
use crate::cli::settings::Settings;
use crate::cli::{EXIT_OK, emit, exit, note};

/// Runs `report`.
pub fn run(settings: &Settings, args: &ReportArgs) -> Result<ExitCode> {
    let options = settings.analysis(&args.window)?;
    let (_store, summary, notes) = summarise_stored(&settings.db, &options)?;
    for line in &notes {
        note(line);
    }
    if summary.domains.is_empty() {
        note("no data in this window: no report written");
        return Ok(exit(EXIT_OK));
    }
    let files = write_report(&summary, &options, &args.out)?;
    emit(&files)?;
    Ok(exit(EXIT_OK))
}
