//! Expands the paths given on the command line into the files to ingest:
//! directories are walked recursively in name order; in a Maildir folder
//! (one with `cur/` and `new/`) only `cur/` and `new/` hold messages: the
//! rest (`tmp/`, whose deliveries are still being written, and the mail
//! server's own files such as Dovecot's `dovecot.index*` and
//! `dovecot-uidlist`) is skipped. Hidden files are skipped too.

use std::path::{Path, PathBuf};

use walkdir::WalkDir;

/// A path that could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathProblem {
    /// The path as given, or the entry under it that failed.
    pub path: String,
    /// What went wrong.
    pub error: String,
}

/// The files of the SQLite database at `db` (with its journal, WAL, shared
/// memory and fetch lock), which a walk must never read as inputs.
pub fn database_files(db: &Path) -> Vec<PathBuf> {
    let base = std::fs::canonicalize(db).unwrap_or_else(|_| db.to_path_buf());
    ["", "-wal", "-shm", "-journal", ".lock"]
        .iter()
        .map(|suffix| PathBuf::from(format!("{}{suffix}", base.display())))
        .collect()
}

/// The files under `path` (or `path` itself), in a stable order, leaving
/// out those in `skip` (absolute paths).
pub fn expand(path: &Path, skip: &[PathBuf]) -> Vec<Result<PathBuf, PathProblem>> {
    let skipped =
        |p: &Path| !skip.is_empty() && std::fs::canonicalize(p).is_ok_and(|c| skip.contains(&c));
    let problem = |p: &Path, error: String| PathProblem { path: p.display().to_string(), error };
    match std::fs::metadata(path) {
        Err(e) => return vec![Err(problem(path, format!("cannot read: {e}")))],
        Ok(_) if skipped(path) => return Vec::new(),
        Ok(meta) if !meta.is_dir() => return vec![Ok(path.to_path_buf())],
        Ok(_) => {}
    }
    let walker = WalkDir::new(path)
        .follow_links(false)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|entry| {
            let hidden = entry.depth() > 0 && entry.file_name().to_string_lossy().starts_with('.');
            !hidden && !in_maildir_not_message(entry.path())
        });
    let mut out = Vec::new();
    for entry in walker {
        match entry {
            Ok(entry) if entry.file_type().is_file() && !skipped(entry.path()) => {
                out.push(Ok(entry.into_path()))
            }
            Ok(_) => {}
            Err(e) => {
                let at = e.path().map(Path::to_path_buf).unwrap_or_else(|| path.to_path_buf());
                out.push(Err(problem(&at, format!("cannot read: {e}"))));
            }
        }
    }
    out
}

/// Whether `path` sits directly in a Maildir folder (one with `cur/` and
/// `new/`) without being `cur/` or `new/`: `tmp/`, the server's index and
/// uid files, `maildirfolder`, `subscriptions`.
fn in_maildir_not_message(path: &Path) -> bool {
    let Some(parent) = path.parent() else { return false };
    is_maildir(parent) && !path.file_name().is_some_and(|n| n == "cur" || n == "new")
}

fn is_maildir(dir: &Path) -> bool {
    dir.join("cur").is_dir() && dir.join("new").is_dir()
}

/// The entries that [`expand`] skips under `path` because they sit in a
/// Maildir folder beside `cur/` and `new/` (for `ingest --verbose`).
pub fn maildir_skipped(path: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let walker = WalkDir::new(path).follow_links(false).sort_by_file_name().into_iter();
    let mut walker = walker.filter_entry(|entry| {
        entry.depth() == 0 || !entry.file_name().to_string_lossy().starts_with('.')
    });
    while let Some(Ok(entry)) = walker.next() {
        if entry.depth() > 0 && in_maildir_not_message(entry.path()) {
            out.push(entry.path().to_path_buf());
            if entry.file_type().is_dir() {
                walker.skip_current_dir();
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maildir_tmp_and_hidden_files_are_skipped_and_order_is_stable() {
        let dir = tempfile::tempdir().unwrap();
        let md = dir.path().join("Maildir");
        for sub in ["cur", "new", "tmp"] {
            std::fs::create_dir_all(md.join(sub)).unwrap();
        }
        std::fs::write(md.join("new/2"), "b").unwrap();
        std::fs::write(md.join("cur/1"), "a").unwrap();
        std::fs::write(md.join("tmp/3"), "partial").unwrap();
        std::fs::write(dir.path().join(".hidden"), "x").unwrap();
        let files: Vec<_> = expand(dir.path(), &[]).into_iter().map(|r| r.unwrap()).collect();
        assert_eq!(files, vec![md.join("cur/1"), md.join("new/2")]);
    }

    #[test]
    fn a_maildir_is_read_from_cur_and_new_only() {
        let dir = tempfile::tempdir().unwrap();
        let md = dir.path().join(".DMARC");
        for sub in ["cur", "new", "tmp"] {
            std::fs::create_dir_all(md.join(sub)).unwrap();
        }
        std::fs::write(md.join("cur/1"), "a").unwrap();
        for name in ["dovecot-uidlist", "dovecot.index.log", "dovecot.index.cache", "maildirfolder"]
        {
            std::fs::write(md.join(name), "x").unwrap();
        }
        let files: Vec<_> = expand(&md, &[]).into_iter().map(|r| r.unwrap()).collect();
        assert_eq!(files, vec![md.join("cur/1")]);
        let skipped = maildir_skipped(&md);
        assert_eq!(skipped.len(), 5, "{skipped:?}");
        assert!(skipped.contains(&md.join("tmp")) && skipped.contains(&md.join("dovecot-uidlist")));
    }

    #[test]
    fn the_database_in_use_is_never_an_input() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["dmarc.db", "dmarc.db-wal", "dmarc.db-shm", "dmarc.db.lock", "report.xml"] {
            std::fs::write(dir.path().join(name), "x").unwrap();
        }
        let skip = database_files(&dir.path().join("dmarc.db"));
        let files: Vec<_> = expand(dir.path(), &skip).into_iter().map(|r| r.unwrap()).collect();
        assert_eq!(files, vec![dir.path().join("report.xml")]);
        assert!(expand(&dir.path().join("dmarc.db"), &skip).is_empty());
    }

    #[test]
    fn a_missing_path_is_a_problem_not_a_panic() {
        let out = expand(Path::new("/nonexistent/dmarc"), &[]);
        assert!(matches!(&out[..], [Err(p)] if p.error.contains("cannot read")));
    }
}
