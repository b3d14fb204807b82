//! `metrics --out FILE`: the Prometheus text file for node_exporter's
//! textfile collector, written atomically.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};

use super::notify::{now, summarise};
use super::open_existing_store;
use crate::cli::args::MetricsArgs;
use crate::cli::settings::Settings;
use crate::cli::{EXIT_OK, exit};
use crate::render;

/// Runs `metrics`.
pub fn run(settings: &Settings, args: &MetricsArgs) -> Result<ExitCode> {
    let analysis = settings.config.analysis()?;
    let window_days = settings.config.notify()?.window_days;
    let store = open_existing_store(&settings.db)?;
    let now = now();
    let summary = summarise(&store, analysis, window_days, now)?;
    let failed = store.failures()?.len();
    let text = render::metrics::prometheus(&summary, failed, now);
    write_atomically(&args.out, text.as_bytes())?;
    Ok(exit(EXIT_OK))
}

/// Writes `bytes` to a temporary file beside `path` and renames it over
/// `path`, so that a reader (node_exporter) never sees half a file.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .with_context(|| format!("{} is not a file name", path.display()))?
        .to_string_lossy()
        .into_owned();
    // node_exporter reads only `*.prom`: the temporary name does not end so.
    let tmp: PathBuf = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("writing {}", path.display()));
    }
    Ok(())
}
