//! `summary`: the per-domain and per-sender table (or JSON, CSV) and the
//! verdict.

use std::io;
use std::process::ExitCode;

use anyhow::Result;

use super::summarise_stored;
use crate::analyse;
use crate::cli::args::{ColorWhen, SummaryArgs, SummaryFormat};
use crate::cli::settings::Settings;
use crate::cli::{EXIT_OK, emit, emit_bytes, exit, note};
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
    let (summary, notes) = summarise_stored(&settings.db, &options)?;
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
    let mut out = Vec::new();
    match args.format {
        SummaryFormat::Table => render::summary::write_table(&summary, &mut out, colour)?,
        SummaryFormat::Json => render::summary::write_json(&summary, &mut out)?,
        SummaryFormat::Csv => render::summary::write_csv(&summary, &mut out)?,
    }
    emit_bytes(&out)?;
    Ok(exit(EXIT_OK))
}
