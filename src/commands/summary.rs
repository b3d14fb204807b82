//! `summary`: the per-domain and per-sender table (or JSON, CSV) and the
//! verdict.

use std::cell::RefCell;
use std::io;
use std::process::ExitCode;

use anyhow::Result;

use super::summarise_stored;
use crate::analyse;
use crate::analyse::rdns::{ResolveOptions, Tally};
use crate::analyse::summary::SourceRow;
use crate::cli::args::{ColorWhen, SummaryArgs, SummaryFormat};
use crate::cli::settings::Settings;
use crate::cli::{EXIT_OK, emit, emit_with, exit, note};
use crate::render;
use crate::render::format::{count, plural};

/// Runs `summary`.
pub fn run(settings: &Settings, args: &SummaryArgs) -> Result<ExitCode> {
    let mut options = settings.analysis(&args.window)?;
    let rdns_options = ResolveOptions {
        timeout: std::time::Duration::from_secs(args.resolve_timeout.max(1)),
        ..ResolveOptions::default()
    };
    let tally = RefCell::new(Tally::default());
    let resolver = |cache: &dyn crate::store::RdnsCache, ips: &[String]| {
        let lookup = std::sync::Arc::new(analyse::rdns::SystemLookup);
        let names = analyse::rdns::resolve_counted(
            cache,
            ips,
            lookup,
            &rdns_options,
            &mut tally.borrow_mut(),
        )?;
        Ok(names.into_iter().filter_map(|(ip, name)| Some((ip, name?))).collect())
    };
    if args.resolve {
        options.resolver = Some(&resolver);
    }
    let (store, summary, notes) = summarise_stored(&settings.db, &options)?;
    for line in &notes {
        note(line);
    }
    for line in rdns_notes(&tally.borrow(), &rdns_options) {
        note(&line);
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

/// What `--resolve` could not find, in a line or two for stderr: lookups
/// that failed or timed out (and how long that answer is kept), addresses
/// left for the next run, and one warning when no lookup worked at all
/// (no DNS on this machine).
fn rdns_notes(t: &Tally, opts: &ResolveOptions) -> Vec<String> {
    let retry = duration_words(opts.retry_after.as_secs());
    let mut notes = Vec::new();
    let failed = t.timed_out + t.failed;
    let why = || {
        let mut parts = Vec::new();
        if t.timed_out > 0 {
            parts.push(format!("{} timed out", count(t.timed_out as u64)));
        }
        if t.failed > 0 {
            parts.push(format!("{} failed", count(t.failed as u64)));
        }
        parts.join(", ")
    };
    if t.looked_up > 0 && failed == t.looked_up {
        notes.push(format!(
            "warning: reverse DNS: every lookup failed ({}: {}): is DNS reachable from this \
             machine? The failures are kept for {retry}, then looked up again; senders are \
             shown without names meanwhile",
            plural(t.looked_up as u64, "address", "addresses"),
            why()
        ));
    } else if failed > 0 {
        notes.push(format!(
            "reverse DNS: {} of {} looked up got no answer ({}); kept as unknown for {retry}, \
             then looked up again",
            count(failed as u64),
            plural(t.looked_up as u64, "address", "addresses"),
            why()
        ));
    }
    let failed_before = t.failed_before.len();
    if failed_before > 0 {
        notes.push(format!(
            "reverse DNS: {} failed within the last {retry} and {} not looked up again; \
             {} tried once {retry} has passed",
            plural(failed_before as u64, "address", "addresses"),
            if failed_before == 1 { "was" } else { "were" },
            if failed_before == 1 { "it is" } else { "they are" }
        ));
    }
    if t.not_started > 0 {
        notes.push(format!(
            "reverse DNS: {} not looked up: the {} allowed for lookups ran out; they are \
             looked up on the next run",
            plural(t.not_started as u64, "address", "addresses"),
            duration_words(opts.total.as_secs())
        ));
    }
    notes
}

/// `1 hour`, `20 seconds`, `7 days`.
fn duration_words(secs: u64) -> String {
    if secs >= 86_400 && secs.is_multiple_of(86_400) {
        plural(secs / 86_400, "day", "days")
    } else if secs >= 3_600 && secs.is_multiple_of(3_600) {
        plural(secs / 3_600, "hour", "hours")
    } else if secs >= 60 && secs.is_multiple_of(60) {
        plural(secs / 60, "minute", "minutes")
    } else {
        plural(secs, "second", "seconds")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_answer_at_all_is_one_warning_that_names_dns_and_the_retry_time() {
        let t = Tally { looked_up: 12, timed_out: 2, failed: 10, ..Tally::default() };
        let notes = rdns_notes(&t, &ResolveOptions::default());
        assert_eq!(
            notes,
            ["warning: reverse DNS: every lookup failed (12 addresses: 2 timed out, 10 \
              failed): is DNS reachable from this machine? The failures are kept for 1 hour, \
              then looked up again; senders are shown without names meanwhile"]
        );
    }

    #[test]
    fn some_failed_lookups_are_counted_with_how_long_they_are_cached() {
        let t = Tally { looked_up: 1_500, timed_out: 3, failed: 0, ..Tally::default() };
        assert_eq!(
            rdns_notes(&t, &ResolveOptions::default()),
            ["reverse DNS: 3 of 1,500 addresses looked up got no answer (3 timed out); kept as \
              unknown for 1 hour, then looked up again"]
        );
    }

    #[test]
    fn cached_failures_and_the_budget_are_told_and_all_answers_are_silence() {
        let t = Tally {
            looked_up: 0,
            failed_before: ["192.0.2.1".parse().unwrap()].into(),
            not_started: 40,
            ..Tally::default()
        };
        assert_eq!(
            rdns_notes(&t, &ResolveOptions::default()),
            [
                "reverse DNS: 1 address failed within the last 1 hour and was not looked up \
                 again; it is tried once 1 hour has passed",
                "reverse DNS: 40 addresses not looked up: the 20 seconds allowed for lookups ran \
                 out; they are looked up on the next run",
            ]
        );
        let all_answered = Tally { looked_up: 5, ..Tally::default() };
        assert!(rdns_notes(&all_answered, &ResolveOptions::default()).is_empty());
    }
}
