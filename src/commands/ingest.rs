//! `ingest`: store the reports in files, folders, mbox files, Maildir
//! folders or standard input.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::{Context, Result};
use signal_hook::consts::{SIGINT, SIGTERM};

use super::{ingest_line, open_store};
use crate::cli::args::{Format, IngestArgs};
use crate::cli::settings::Settings;
use crate::cli::{EXIT_OK, EXIT_PARTIAL, emit, exit, note};
use crate::fetch::files;
use crate::ingest::{IngestSummary, Ingester};
use crate::model::FailureKind;
use crate::render::format::plural;

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
    let store = open_store(settings)?;
    let mut ingester = Ingester::new(&store, args.limits.limits());
    ingester.stop_when(interrupt_flag());
    ingester.ingest_paths(&args.paths).context("storing reports")?;
    let mut passed_over = 0;
    if args.retry_failed {
        let retried = |kind: FailureKind| {
            args.all_kinds || kind.can_change_on_retry() || args.include_kind.contains(&kind)
        };
        passed_over =
            ingester.retry_failed_where(|f| retried(f.kind)).context("retrying failed inputs")?;
    }
    let summary = ingester.finish().context("committing")?;
    if passed_over > 0 && args.format == Format::Text {
        note(&format!(
            "not retried: {} recognised as another kind of report or as no report (see \
             `dmarc-report errors`; retry them with --include-kind KIND or --all-kinds, or \
             dismiss them with `dmarc-report errors --dismiss ID...`)",
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
    if summary.interrupted {
        note(&format!(
            "interrupted: what is counted above is stored and committed ({}); the inputs after \
             it were not read. Run the same command again to read them: reports already \
             stored are recognised and not stored twice",
            plural(summary.reports_new, "new report", "new reports")
        ));
        return Ok(exit(EXIT_INTERRUPTED));
    }
    Ok(exit(if summary.failed.is_empty() { EXIT_OK } else { EXIT_PARTIAL }))
}

/// The exit status after Ctrl-C (128 + SIGINT, as shells report it).
const EXIT_INTERRUPTED: u8 = 130;

/// A flag that Ctrl-C (SIGINT) or SIGTERM sets. A second signal, once the
/// flag is set, ends the process at once (what was committed stays).
fn interrupt_flag() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    for signal in [SIGINT, SIGTERM] {
        // The shutdown hook goes first: it sees the flag before the first
        // signal sets it, so only a second signal exits.
        let registered = signal_hook::flag::register_conditional_shutdown(
            signal,
            i32::from(EXIT_INTERRUPTED),
            Arc::clone(&flag),
        )
        .and_then(|_| signal_hook::flag::register(signal, Arc::clone(&flag)));
        if let Err(e) = registered {
            // Without the hook, Ctrl-C simply ends the run as it always
            // could: the database keeps its last commit.
            note(&format!("warning: Ctrl-C cannot be caught ({e}); it will stop the run at once"));
        }
    }
    flag
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
