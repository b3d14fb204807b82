//! `errors`: list the inputs that could not be stored, export their bytes,
//! dismiss them (and list the dismissed ones).

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use serde::Serialize;

use super::notify::now;
use super::{format_time, open_existing_store};
use crate::analyse::format_rfc3339 as rfc3339;
use crate::cli::args::{ErrorsArgs, Format};
use crate::cli::settings::Settings;
use crate::cli::{EXIT_OK, emit, emit_bytes, exit, note};
use crate::limits::human_bytes;
use crate::model::FailureKind;
use crate::render::format::plural;
use crate::store::FailedInput;

/// Runs `errors`.
pub fn run(settings: &Settings, args: &ErrorsArgs) -> Result<ExitCode> {
    if !settings.db_is_postgres() && !settings.db.exists() && args.export.is_none() {
        // Nothing was ever stored here: nothing failed either, and a
        // listing must not create an empty database.
        return list(&[], args.format, args.dismissed);
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
        let n = store.dismiss_all_failures(now())?;
        emit(&format!("dismissed {}\n", plural(n as u64, "failed input", "failed inputs")))?;
        return Ok(exit(EXIT_OK));
    }
    if !args.dismiss.is_empty() {
        let mut ids = args.dismiss.clone();
        ids.sort_unstable();
        ids.dedup();
        let listed: Vec<i64> = store.failures()?.iter().map(|f| f.id).collect();
        let before: Vec<i64> = store.dismissed_failures()?.iter().map(|f| f.id).collect();
        let unknown: Vec<String> = ids
            .iter()
            .filter(|id| !listed.contains(id) && !before.contains(id))
            .map(i64::to_string)
            .collect();
        if !unknown.is_empty() {
            bail!(
                "no failed input with id {} (see `dmarc-report errors`); nothing dismissed",
                unknown.join(", ")
            );
        }
        let (new, already): (Vec<i64>, Vec<i64>) = ids.iter().partition(|id| listed.contains(id));
        store.dismiss_failures(&new, now())?;
        let mut line =
            format!("dismissed {}", plural(new.len() as u64, "failed input", "failed inputs"));
        if !already.is_empty() {
            let already: Vec<String> = already.iter().map(|id| format!("#{id}")).collect();
            line.push_str(&format!(" ({} dismissed before)", already.join(", ")));
        }
        emit(&(line + "\n"))?;
        return Ok(exit(EXIT_OK));
    }
    if args.dismissed {
        return list(&store.dismissed_failures()?, args.format, true);
    }
    list(&store.failures()?, args.format, false)
}

/// One failed input in `errors --format json`.
#[derive(Serialize)]
struct FailureOut<'a> {
    id: i64,
    name: &'a str,
    kind: FailureKind,
    error: &'a str,
    first_seen: String,
    last_seen: String,
    attempts: i64,
    size: i64,
    /// When it was dismissed (RFC 3339); `null` while it is listed.
    dismissed_at: Option<String>,
}

/// Lists `failures`, the listed ones or (`dismissed`) the dismissed ones.
fn list(failures: &[FailedInput], format: Format, dismissed: bool) -> Result<ExitCode> {
    match format {
        Format::Json => {
            let out: Vec<FailureOut<'_>> = failures
                .iter()
                .map(|f| FailureOut {
                    id: f.id,
                    name: &f.name,
                    kind: f.kind,
                    error: &f.error,
                    first_seen: rfc3339(f.first_seen),
                    last_seen: rfc3339(f.last_seen),
                    attempts: f.attempts,
                    size: f.size,
                    dismissed_at: f.dismissed_at.map(rfc3339),
                })
                .collect();
            emit(&(serde_json::to_string(&out)? + "\n"))?;
        }
        Format::Text if failures.is_empty() => {
            emit(if dismissed { "no dismissed inputs\n" } else { "no failed inputs\n" })?;
        }
        Format::Text => {
            let mut out = String::new();
            for f in failures {
                let kept = match f.dismissed_at {
                    Some(at) => format!("dismissed {}", format_time(at)),
                    None if f.size > 0 => human_bytes(f.size as u64),
                    None => "no copy kept".into(),
                };
                out.push_str(&format!(
                    "#{}  {}  {}, tried {}, last {}  ({kept})\n    {}\n",
                    f.id,
                    f.name,
                    f.kind,
                    plural(f.attempts as u64, "time", "times"),
                    format_time(f.last_seen),
                    f.error
                ));
            }
            let n = plural(failures.len() as u64, "failed input", "failed inputs");
            if dismissed {
                out.push_str(&format!(
                    "{n} dismissed: never retried, bytes deleted; the same input failing again \
                     stays dismissed\n"
                ));
            } else {
                out.push_str(&format!(
                    "{n}; retry with `dmarc-report ingest --retry-failed` (kinds not-a-report, \
                     tls-report and failure-report only when asked), or dismiss {} with \
                     `dmarc-report errors --dismiss ID...`\n",
                    if failures.len() == 1 { "it" } else { "them" }
                ));
            }
            emit(&out)?;
        }
    }
    Ok(exit(EXIT_OK))
}
