//! `errors`: list the inputs that could not be stored, export their bytes,
//! dismiss them.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use serde::Serialize;

use super::{format_time, open_existing_store};
use crate::analyse::format_rfc3339 as rfc3339;
use crate::cli::args::{ErrorsArgs, Format};
use crate::cli::settings::Settings;
use crate::cli::{EXIT_OK, emit, emit_bytes, exit, note};
use crate::limits::human_bytes;
use crate::render::format::plural;
use crate::store::FailedInput;

/// Runs `errors`.
pub fn run(settings: &Settings, args: &ErrorsArgs) -> Result<ExitCode> {
    if !settings.db_is_postgres() && !settings.db.exists() && args.export.is_none() {
        // Nothing was ever stored here: nothing failed either, and a
        // listing must not create an empty database.
        return list(&[], args.format);
    }
    let store = open_existing_store(&settings.db)?;
    if let (Some(id), Some(out)) = (args.export, &args.out) {
        let (name, data) = store
            .failure_data(id)?
            .with_context(|| format!("failed input {id} does not exist or kept no bytes"))?;
        if out.as_os_str() == "-" {
            emit_bytes(&data)?;
            note(&format!("wrote {} from {name}", human_bytes(data.len() as u64)));
        } else {
            std::fs::File::create(out)
                .and_then(|mut f| f.write_all(&data))
                .with_context(|| format!("writing {}", out.display()))?;
            emit(&format!(
                "wrote {} ({}) from {name}\n",
                out.display(),
                human_bytes(data.len() as u64)
            ))?;
        }
        return Ok(exit(EXIT_OK));
    }
    if args.dismiss_all {
        let n = store.dismiss_all_failures()?;
        emit(&format!("dismissed {}\n", plural(n as u64, "failed input", "failed inputs")))?;
        return Ok(exit(EXIT_OK));
    }
    if !args.dismiss.is_empty() {
        let known: Vec<i64> = store.failures()?.iter().map(|f| f.id).collect();
        let unknown: Vec<String> =
            args.dismiss.iter().filter(|id| !known.contains(id)).map(i64::to_string).collect();
        if !unknown.is_empty() {
            bail!(
                "no failed input with id {} (see `dmarc-report errors`); nothing dismissed",
                unknown.join(", ")
            );
        }
        let mut ids = args.dismiss.clone();
        ids.sort_unstable();
        ids.dedup();
        store.dismiss_failures(&ids)?;
        emit(&format!(
            "dismissed {}\n",
            plural(ids.len() as u64, "failed input", "failed inputs")
        ))?;
        return Ok(exit(EXIT_OK));
    }
    list(&store.failures()?, args.format)
}

/// One failed input in `errors --format json`.
#[derive(Serialize)]
struct FailureOut<'a> {
    id: i64,
    name: &'a str,
    error: &'a str,
    first_seen: String,
    last_seen: String,
    attempts: i64,
    size: i64,
}

fn list(failures: &[FailedInput], format: Format) -> Result<ExitCode> {
    match format {
        Format::Json => {
            let out: Vec<FailureOut<'_>> = failures
                .iter()
                .map(|f| FailureOut {
                    id: f.id,
                    name: &f.name,
                    error: &f.error,
                    first_seen: rfc3339(f.first_seen),
                    last_seen: rfc3339(f.last_seen),
                    attempts: f.attempts,
                    size: f.size,
                })
                .collect();
            emit(&(serde_json::to_string(&out)? + "\n"))?;
        }
        Format::Text if failures.is_empty() => emit("no failed inputs\n")?,
        Format::Text => {
            let mut out = String::new();
            for f in failures {
                out.push_str(&format!(
                    "#{}  {}  tried {}, last {}  ({})\n    {}\n",
                    f.id,
                    f.name,
                    plural(f.attempts as u64, "time", "times"),
                    format_time(f.last_seen),
                    if f.size > 0 { human_bytes(f.size as u64) } else { "no copy kept".into() },
                    f.error
                ));
            }
            out.push_str(&format!(
                "{}; retry with `dmarc-report ingest --retry-failed`, \
                 or forget {} with `dmarc-report errors --dismiss ID...`\n",
                plural(failures.len() as u64, "failed input", "failed inputs"),
                if failures.len() == 1 { "it" } else { "them" }
            ));
            emit(&out)?;
        }
    }
    Ok(exit(EXIT_OK))
}
