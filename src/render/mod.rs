//! Output for people and programs: the summary as a table, JSON or CSV
//! ([`summary`]); the report, PNG charts and one self-contained
//! `index.html`, drawn from plain view-model types ([`view`]) that
//! [`page`] fills in from the analysis.
//!
//! This stage owns presentation only. It does no per-record work: it draws
//! the per-day and per-sender rows it is given, so its cost does not grow
//! with the database. The page works offline: charts are inline SVG, the
//! CSS and the small sorting script are inline and pinned by hash in a
//! Content-Security-Policy that forbids everything else. Every value from a
//! report is escaped (askama in the page, plotters' SVG backend in charts).

mod charts;
mod font;
pub mod format;
mod html;
pub mod mail;
pub mod metrics;
pub mod page;
pub mod palette;
mod raster;
pub mod summary;
pub mod view;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

pub use charts::TOP_ROWS;
pub use view::{
    BlockingView, DateRange, DayView, DomainView, LiveCheckView, LiveFindingView, ReportPage,
    ReporterView, SenderClass, SenderView, VerdictKind, WhatIfView,
};

/// The page's file name inside the output folder.
pub const INDEX: &str = "index.html";

/// What [`write_report`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportFiles {
    /// `index.html` in the output folder.
    pub index: PathBuf,
    /// The PNG charts, in page order.
    pub charts: Vec<PathBuf>,
}

/// Why a report could not be written.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The output folder could not be created.
    #[error("cannot create the output folder {path} (choose another one with --out)")]
    CreateDir {
        /// The output folder (`--out`).
        path: PathBuf,
        /// What the file system said.
        source: io::Error,
    },
    /// A file could not be written.
    #[error("cannot write {path}")]
    Write {
        /// The page or chart being written.
        path: PathBuf,
        /// What the file system said.
        source: io::Error,
    },
    /// A chart could not be drawn.
    #[error("cannot draw the {chart} chart of {domain}: {message}")]
    Chart {
        /// The policy domain whose chart failed.
        domain: String,
        /// Which chart (`daily`, `senders`, ...).
        chart: &'static str,
        /// What went wrong.
        message: String,
    },
    /// The page template failed.
    #[error("cannot fill in the page template: {0}")]
    Template(#[from] askama::Error),
}

/// The list of files the last report wrote into its folder, one name a
/// line, so that the next report can remove those it does not write again.
pub const MANIFEST: &str = ".dmarc-report-files";

/// Writes `index.html` and the PNG charts of `page` into `out_dir`
/// (created when missing). The folder then holds exactly one report: the
/// files an earlier report wrote there and this one does not (the charts
/// of a domain no longer shown) are removed; files that no report wrote
/// are never touched.
pub fn write_report(page: &ReportPage, out_dir: &Path) -> Result<ReportFiles, RenderError> {
    fs::create_dir_all(out_dir)
        .map_err(|source| RenderError::CreateDir { path: out_dir.to_owned(), source })?;
    let rendered = html::render(page)?;
    let previous = read_manifest(out_dir);
    let mut charts = Vec::new();
    let mut names = Vec::new();
    for (name, bytes) in &rendered.pngs {
        let path = out_dir.join(name);
        write(&path, bytes)?;
        charts.push(path);
        names.push(name.to_string());
    }
    let index = out_dir.join(INDEX);
    write(&index, rendered.html.as_bytes())?;
    names.push(INDEX.to_owned());
    let mut manifest = names.join("\n");
    manifest.push('\n');
    write(&out_dir.join(MANIFEST), manifest.as_bytes())?;
    for old in previous.iter().filter(|old| !names.contains(old)) {
        let path = out_dir.join(old);
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(source) => return Err(RenderError::Write { path, source }),
        }
    }
    Ok(ReportFiles { index, charts })
}

/// The names in the folder's manifest; only plain file names are taken, so
/// that an edited manifest cannot point outside the folder.
fn read_manifest(out_dir: &Path) -> Vec<String> {
    let Ok(text) = fs::read_to_string(out_dir.join(MANIFEST)) else { return Vec::new() };
    text.lines()
        .map(str::trim)
        .filter(|name| {
            !name.is_empty()
                && *name != MANIFEST
                && !name.starts_with('.')
                && Path::new(name).file_name().is_some_and(|f| f == *name)
        })
        .map(str::to_owned)
        .collect()
}

/// Writes through a temporary name and renames, so that a reader never sees
/// half a file.
fn write(path: &Path, bytes: &[u8]) -> Result<(), RenderError> {
    let fail = |source| RenderError::Write { path: path.to_owned(), source };
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    fs::write(&tmp, bytes).map_err(fail)?;
    fs::rename(&tmp, path).map_err(fail)
}

/// A file-name-safe form of a domain: ASCII letters, digits, `-` and `.`
/// kept (lower-cased), anything else `_`, at most 60 characters, never
/// starting with a dot. Names are also prefixed with the domain's position
/// by the caller, so two domains never share a file.
pub fn file_slug(domain: &str) -> String {
    let mut slug: String = domain
        .chars()
        .take(60)
        .map(|c| match c {
            'a'..='z' | '0'..='9' | '-' | '.' => c,
            'A'..='Z' => c.to_ascii_lowercase(),
            _ => '_',
        })
        .collect();
    if slug.starts_with('.') || slug.is_empty() {
        slug.insert(0, '_');
    }
    slug
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_plain_file_names() {
        assert_eq!(file_slug("Example.COM"), "example.com");
        assert_eq!(file_slug("../../etc/passwd"), "_.._.._etc_passwd");
        assert_eq!(file_slug("<script>"), "_script_");
        assert_eq!(file_slug(""), "_");
        assert_eq!(file_slug(&"a".repeat(100)).len(), 60);
    }
}
