//! `demo`: store the bundled sample reports in a fresh database of the
//! demo's own, show what was stored and the summary, and write the report.
//! The configured database is never touched.

use std::io;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};

use super::ingest_line;
use crate::analyse;
use crate::cli::args::{DemoArgs, WindowArgs};
use crate::cli::settings::analysis_options;
use crate::cli::{EXIT_OK, emit, emit_bytes, exit};
use crate::config::AnalysisConfig;
use crate::ingest::Ingester;
use crate::limits::Limits;
use crate::render;
use crate::render::format::count;
use crate::store::Store;
use crate::units::format_date;

/// Runs `demo`. `db` is a `--db` given before the command: refused, since
/// the demo never touches a database of the user's.
pub fn run(db: Option<PathBuf>, args: &DemoArgs) -> Result<ExitCode> {
    if let Some(db) = db {
        bail!(
            "demo always uses a fresh database of its own (in --out, now {}); it does not \
             take --db {}",
            args.out.display(),
            db.display()
        );
    }
    let samples = samples_dir(args.samples.clone())?;
    let db = args.out.join("dmarc.db");
    for suffix in ["", "-wal", "-shm"] {
        let file = PathBuf::from(format!("{}{suffix}", db.display()));
        match std::fs::remove_file(&file) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("removing {}", file.display())),
        }
    }
    // The demo's folder is its own: made when missing.
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating the demo folder {}", args.out.display()))?;
    let store = Store::open(&db)?;
    let mut ingester = Ingester::new(&store, Limits::default());
    ingester.ingest_paths(&[samples.display().to_string()]).context("storing the samples")?;
    let summary = ingester.finish()?;

    let mut out =
        format!("Ingested the sample reports in {} into {}\n\n", samples.display(), db.display());
    out.push_str(&ingest_line(&summary));
    out.push('\n');
    out.push_str(&stored_overview(&store)?);
    if !summary.failed.is_empty() {
        out.push_str("\nInputs refused (the malformed samples are meant to be):\n");
        for f in &summary.failed {
            out.push_str(&format!("  {}\n", f.error));
        }
    }
    if !summary.warnings.is_empty() {
        out.push_str("\nTolerated quirks:\n");
        for w in &summary.warnings {
            out.push_str(&format!("  {w}\n"));
        }
    }
    out.push_str(&format!(
        "\nThe failed inputs are kept in the database: dmarc-report --db {} errors\n",
        db.display()
    ));
    emit(&out)?;

    // The summary and verdict of what was just stored.
    let options = analysis_options(AnalysisConfig::default(), &WindowArgs::default())?;
    let summary = analyse::summarise(&store, &options).context("summarising")?;
    let colour = anstream::AutoStream::choice(&io::stdout()) != anstream::ColorChoice::Never;
    let mut table =
        format!("\nSummary (the same as `dmarc-report --db {} summary`):\n\n", db.display())
            .into_bytes();
    render::summary::write_table(&summary, &mut table, colour)?;
    emit_bytes(&table)?;
    let report_dir = db.parent().unwrap_or(Path::new(".")).join("report");
    let page = render::page::from_summary(&summary, options.now, options.criteria.pass_rate);
    let files = render::write_report(&page, &report_dir)?;
    emit(&format!(
        "\nThe report of the samples ({} charts): {}\n",
        files.charts.len(),
        files.index.display()
    ))?;
    Ok(exit(EXIT_OK))
}

/// The sample reports: `--samples`, else `./sample-reports`, else the
/// folder of the clone the program was built from, else one beside or above
/// the program (a clone's `target/release/dmarc-report`).
fn samples_dir(given: Option<PathBuf>) -> Result<PathBuf> {
    if let Some(dir) = given {
        if !dir.is_dir() {
            bail!("the sample reports folder {} does not exist", dir.display());
        }
        return Ok(dir);
    }
    let mut candidates = vec![
        PathBuf::from("sample-reports"),
        Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-reports"),
    ];
    if let Ok(exe) = std::env::current_exe() {
        candidates.extend(exe.ancestors().skip(1).take(4).map(|dir| dir.join("sample-reports")));
    }
    if let Some(found) = candidates.iter().find(|dir| dir.is_dir()) {
        return Ok(found.clone());
    }
    bail!(
        "the sample reports are not here (looked in ./sample-reports, the clone this program \
         was built from and the folders above the program); run the demo from a clone of \
         dmarc-report, or give the samples' folder with --samples DIR"
    )
}

/// A table of what the database holds, per policy domain and reporter.
fn stored_overview(store: &Store) -> Result<String> {
    let mut out = format!(
        "{:<14} {:<22} {:>7} {:<23} {:>7} {:>8} {:>9}\n",
        "DOMAIN", "REPORTER", "REPORTS", "PERIOD (UTC)", "RECORDS", "MESSAGES", "DMARC OK"
    );
    for row in store.stored_by_reporter()? {
        let pct = if row.messages > 0 {
            100.0 * row.dkim_or_spf_pass as f64 / row.messages as f64
        } else {
            0.0
        };
        out.push_str(&format!(
            "{:<14} {:<22} {:>7} {:<23} {:>7} {:>8} {:>8.1}%\n",
            clip(&row.domain, 14),
            clip(&row.reporter, 22),
            count(row.reports as u64),
            format!("{} .. {}", format_date(row.begin), format_date(row.end)),
            count(row.records as u64),
            count(row.messages as u64),
            pct
        ));
    }
    Ok(out)
}

fn clip(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        s.to_owned()
    } else {
        let mut cut: String = s.chars().take(width - 1).collect();
        cut.push('~');
        cut
    }
}
