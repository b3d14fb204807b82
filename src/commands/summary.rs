//! `summary`: the per-domain and per-sender table (or JSON, CSV) and the
//! verdict.

use std::cell::RefCell;
use std::io;
use std::process::ExitCode;

use anyhow::Result;

use super::summarise_stored;
use crate::analyse;
use crate::analyse::summary::SourceRow;
use crate::cli::args::{ColorWhen, SummaryArgs, SummaryFormat};
use crate::cli::settings::Settings;
use crate::cli::{EXIT_OK, emit, emit_with, exit, note};
use crate::render;

/// Runs `summary`.
pub fn run(settings: &Settings, args: &SummaryArgs) -> Result<ExitCode> {
    let mut options = settings.analysis(&args.window)?;
    let rdns_options = analyse::rdns::ResolveOptions {
        timeout: std::time::Duration::from_secs(args.resolve_timeout.max(1)),
        ..analyse::rdns::ResolveOptions::default()
    };
    let resolver = move |cache: &dyn crate::store::RdnsCache, ips: &[String]| {
        let lookup = std::sync::Arc::new(analyse::rdns::SystemLookup);
        let names = analyse::rdns::resolve(cache, ips, lookup, &rdns_options)?;
        Ok(names.into_iter().filter_map(|(ip, name)| Some((ip, name?))).collect())
    };
    if args.resolve {
        options.resolver = Some(&resolver);
    }
    let (store, summary, notes) = summarise_stored(&settings.db, &options)?;
    for line in &notes {
        note(line);
    }
    if summary.domains.is_empty() && args.format == SummaryFormat::Table {
        emit("no data in this window\n")?;
        return Ok(exit(EXIT_OK));
    }
    let colour = match args.color {
        ColorWhen::Always => true,
        ColorWhen::Never => false,
        ColorWhen::Auto => {
            anstream::AutoStream::choice(&io::stdout()) != anstream::ColorChoice::Never
        }
    };
    // JSON and CSV list every source: read again from the store as they
    // are written, never all held.
    let failure = RefCell::new(None);
    let feed = |d: &analyse::DomainSummary, visit: &mut dyn FnMut(&SourceRow) -> bool| {
        let mut going = true;
        analyse::each_source(&store, d, &options, &mut |row| {
            going = going && visit(row);
        })
        .map_err(|e| {
            let text = e.to_string();
            *failure.borrow_mut() = Some(e);
            io::Error::other(text)
        })
    };
    let written = emit_with(|out| match args.format {
        SummaryFormat::Table => render::summary::write_table(&summary, out, colour),
        SummaryFormat::Json => render::summary::write_json(&summary, &feed, out),
        SummaryFormat::Csv => render::summary::write_csv(&summary, &feed, out),
    });
    if let Some(e) = failure.into_inner() {
        return Err(anyhow::Error::from(e).context("reading the sources"));
    }
    written?;
    Ok(exit(EXIT_OK))
}
