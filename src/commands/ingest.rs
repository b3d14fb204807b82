//! `ingest`: store the reports in files, folders, mbox files, Maildir
//! folders or standard input.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};

use super::{ingest_line, open_store};
use crate::cli::args::{Format, IngestArgs};
use crate::cli::settings::Settings;
use crate::cli::{EXIT_OK, EXIT_PARTIAL, emit, exit, note};
use crate::fetch::files;
use crate::ingest::{IngestSummary, Ingester};
use crate::render::format::plural;
use crate::store::FailedInput;

/// Runs `ingest`.
pub fn run(settings: &Settings, args: &IngestArgs) -> Result<ExitCode> {
    if args.verbose {
        for path in args.paths.iter().filter(|p| *p != "-") {
            for skipped in files::maildir_skipped(Path::new(path)) {
                note(&format!(
                    "skipped {}: in a Maildir only cur/ and new/ hold messages",
                    skipped.display()
                ));
            }
        }
    }
    let store = open_store(&settings.db)?;
    let mut ingester = Ingester::new(&store, args.limits.limits());
    ingester.ingest_paths(&args.paths).context("storing reports")?;
    let mut passed_over = 0;
    if args.retry_failed {
        let all = args.retry_non_reports;
        passed_over = ingester
            .retry_failed_where(|f| all || !is_not_a_report(f))
            .context("retrying failed inputs")?;
    }
    let summary = ingester.finish().context("committing")?;
    if passed_over > 0 && args.format == Format::Text {
        note(&format!(
            "not retried: {} recognised as another kind of report or as no report \
             (retry them with --retry-non-reports, or forget them with `dmarc-report errors --dismiss`)",
            plural(passed_over as u64, "input", "inputs")
        ));
    }
    if summary.inputs == 0 && passed_over == 0 {
        note(&if args.paths.is_empty() {
            "warning: no failed inputs to retry".to_owned()
        } else {
            format!("warning: no inputs found in {}", args.paths.join(", "))
        });
    }
    print(&summary, args.format)?;
    Ok(exit(if summary.failed.is_empty() { EXIT_OK } else { EXIT_PARTIAL }))
}

/// Whether a failed input was recognised as something other than a DMARC
/// aggregate report (a TLS or failure report, an invoice, a web page): a
/// retry cannot change that, unlike a size limit or a parser bug.
pub fn is_not_a_report(failure: &FailedInput) -> bool {
    const MARKS: [&str; 5] = [
        "not a DMARC aggregate report",
        "no DMARC aggregate report in this message",
        "DMARC failure (ruf) report",
        "SMTP TLS report",
        "empty input",
    ];
    MARKS.iter().any(|mark| failure.error.contains(mark))
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
