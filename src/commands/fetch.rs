//! `fetch`: pull rua emails from IMAP mailboxes and store their reports.
//! Quiet when all went well (cron mails whatever a job prints).

use std::process::ExitCode;

use anyhow::{Context, Result, bail};

use super::open_store;
use crate::cli::args::{FetchArgs, Format};
use crate::cli::settings::{Settings, lock_path};
use crate::cli::{EXIT_FATAL, EXIT_OK, EXIT_PARTIAL, emit, exit, note};
use crate::config::Overrides;
use crate::mailbox::{self, FetchSummary};
use crate::render::format::{count, plural};

/// Runs `fetch`.
pub fn run(settings: &Settings, args: &FetchArgs) -> Result<ExitCode> {
    let overrides = args.oauth2.apply(Overrides {
        account: args.account.clone(),
        host: args.host.clone(),
        port: args.port,
        tls: args.tls,
        user: args.user.clone(),
        password_file: args.password_file.clone(),
        password: std::env::var("DMARC_REPORT_PASSWORD").ok().filter(|p| !p.is_empty()),
        ca_file: args.ca_file.clone(),
        folders: args.folders.clone(),
        archive_folder: args.archive_folder.clone(),
        error_folder: args.error_folder.clone(),
        max_message_size: args.limits.max_message_size,
        batch_size: args.batch_size,
        ..Overrides::default()
    });
    let accounts = settings.config.accounts(&overrides)?;
    let limits = args.limits.limits();
    let db = &settings.db;

    // Two overlapping runs (cron) must not both work: the second says so and
    // leaves. The lock is released when the process ends, however it ends.
    // PostgreSQL: workers on several hosts share the database; each folder
    // is locked in the database instead (see `mailbox`).
    // The database is opened first, so that a database that cannot be
    // used is told in the same words as by the other commands.
    let store = open_store(settings)?;
    let _lock = if settings.db_is_postgres() {
        None
    } else {
        match lock_database(db)? {
            Some(lock) => Some(lock),
            None => return Ok(exit(EXIT_OK)),
        }
    };
    let verbose = args.verbose;
    let mut log = |line: String| {
        if verbose || line.contains("plain-text IMAP") || line.contains("reconnecting") {
            note(&line);
        }
    };

    if args.watch {
        let [account] = &accounts[..] else {
            bail!(
                "--watch follows one account and one folder; choose the account with --account \
                 (the config has {})",
                accounts.len()
            );
        };
        let format = args.format;
        let mut report = |s: &FetchSummary| {
            let _ = print(s, format, verbose);
        };
        mailbox::watch(&store, account, &limits, &mut log, &mut report)?;
        return Ok(exit(EXIT_OK));
    }

    let summary = mailbox::fetch_all(&store, &accounts, &limits, &mut log);
    // With --notify --format json, one document holds both (below).
    let one_document = args.notify && args.format == Format::Json;
    if !one_document {
        print(&summary, args.format, verbose)?;
    }
    let code = if !summary.errors.is_empty() {
        EXIT_FATAL
    } else if !summary.ingest.failed.is_empty() || !summary.folder_errors.is_empty() {
        EXIT_PARTIAL
    } else {
        EXIT_OK
    };
    if args.notify && code != EXIT_FATAL {
        // Inputs that failed are one of the events: a partial fetch is
        // still worth telling. The lock is held, so no other fetch stores
        // reports meanwhile.
        drop(store);
        let opts = super::notify::NotifyOptions {
            json: args.format == Format::Json,
            ..Default::default()
        };
        let mut told_json = None;
        let told = match super::notify::notify_into(settings, opts, &mut told_json) {
            Ok(told) => told,
            Err(e) => {
                // The fetch is done and stored: say so before the error.
                if one_document {
                    print(&summary, args.format, verbose)?;
                }
                return Err(e);
            }
        };
        if one_document {
            // The fetch's summary with the notification under "notify".
            let mut doc = serde_json::to_value(&summary)?;
            if let (Some(fields), Some(told_json)) = (doc.as_object_mut(), told_json) {
                fields.insert("notify".to_owned(), told_json);
            }
            emit(&(serde_json::to_string(&doc)? + "\n"))?;
        }
        if told != exit(EXIT_OK) {
            return Ok(told);
        }
    } else if one_document {
        print(&summary, args.format, verbose)?;
    }
    Ok(exit(code))
}

/// Takes the lock file of a SQLite database; `None` (after saying so) when
/// another fetch holds it.
fn lock_database(db: &std::path::Path) -> Result<Option<std::fs::File>> {
    let lock_path = lock_path(db);
    let lock = std::fs::File::create(&lock_path)
        .with_context(|| format!("creating the lock file {}", lock_path.display()))?;
    match lock.try_lock() {
        Ok(()) => Ok(Some(lock)),
        Err(std::fs::TryLockError::WouldBlock) => {
            note(&format!(
                "another dmarc-report fetch is running (it holds {}); nothing to do",
                lock_path.display()
            ));
            Ok(None)
        }
        Err(std::fs::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("locking {}", lock_path.display()))
        }
    }
}

/// Quiet when all went well, unless `--verbose`; problems always go to
/// stderr.
fn print(s: &FetchSummary, format: Format, verbose: bool) -> Result<()> {
    if format == Format::Json {
        return emit(&(serde_json::to_string(s)? + "\n"));
    }
    for w in &s.ingest.warnings {
        note(&format!("warning: {w}"));
    }
    for f in &s.ingest.failed {
        note(&format!("failed: {}", f.error));
    }
    for e in &s.folder_errors {
        note(&format!("dmarc-report: error: {}", e.message));
    }
    for e in &s.errors {
        note(&format!("dmarc-report: error: {}", e.message));
    }
    if verbose {
        emit(&format!(
            "{} new, {} fetched: {} with {}, {}, {} failed; {} archived, {} to the error \
             folder, {} flagged, {} too large\n",
            plural(s.counts.messages_new, "message", "messages"),
            count(s.counts.messages_fetched),
            plural(s.ingest.reports_new, "new report", "new reports"),
            plural(s.ingest.records, "record", "records"),
            plural(s.ingest.reports_duplicate, "duplicate", "duplicates"),
            count(s.ingest.failed.len() as u64),
            count(s.counts.messages_archived),
            count(s.counts.messages_to_error_folder),
            count(s.counts.messages_flagged),
            count(s.counts.messages_too_large)
        ))?;
    }
    Ok(())
}
