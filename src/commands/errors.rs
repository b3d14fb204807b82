//! `errors`: list the inputs that could not be stored, export their bytes.

use std::process::ExitCode;

use anyhow::{Context, Result};

use super::{format_time, open_store};
use crate::cli::args::{ErrorsArgs, Format};
use crate::cli::settings::Settings;
use crate::cli::{EXIT_OK, emit, exit};
use crate::limits::human_bytes;

/// Runs `errors`.
pub fn run(settings: &Settings, args: &ErrorsArgs) -> Result<ExitCode> {
    let store = open_store(&settings.db)?;
    if let (Some(id), Some(out)) = (args.export, &args.out) {
        let (name, data) = store
            .failure_data(id)?
            .with_context(|| format!("failed input {id} does not exist or kept no bytes"))?;
        std::fs::write(out, &data).with_context(|| format!("writing {}", out.display()))?;
        emit(&format!(
            "wrote {} ({}) from {name}\n",
            out.display(),
            human_bytes(data.len() as u64)
        ))?;
        return Ok(exit(EXIT_OK));
    }
    let failures = store.failures()?;
    match args.format {
        Format::Json => emit(&(serde_json::to_string_pretty(&failures)? + "\n"))?,
        Format::Text if failures.is_empty() => emit("no failed inputs\n")?,
        Format::Text => {
            let mut out = String::new();
            for f in &failures {
                out.push_str(&format!(
                    "#{}  {}  tried {}x, last {}  ({})\n    {}\n",
                    f.id,
                    f.name,
                    f.attempts,
                    format_time(f.last_seen),
                    if f.size > 0 { human_bytes(f.size as u64) } else { "no copy kept".into() },
                    f.error
                ));
            }
            out.push_str(&format!(
                "{} failed input(s); retry with `dmarc-report ingest --retry-failed`\n",
                failures.len()
            ));
            emit(&out)?;
        }
    }
    Ok(exit(EXIT_OK))
}
