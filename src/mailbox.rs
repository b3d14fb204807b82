//! The `fetch` pipeline: messages from IMAP folders ([`crate::fetch::imap`])
//! through ingest into the store, then acknowledged on the server. The
//! fetch side never sees the database; the store keeps what became of
//! each UID, in the same transaction as the reports.

use std::collections::HashSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::config::{Account, Auth};
use crate::fetch::imap::{
    self, Connection, Destination, FetchCounts, FetchError, FetchFailureKind, FolderId,
    FolderResult, Known, LocalError, Login, Outcome,
};
use crate::fetch::oauth;
use crate::ingest::{FailureKind, IngestSummary, Ingester};
use crate::limits::Limits;
use crate::store::{MessageOutcome, Store};
use crate::unpack::Hints;

/// IDLE is re-issued before servers drop it (RFC 2177: 29 minutes).
const IDLE_REFRESH: Duration = Duration::from_secs(25 * 60);
/// The shortest wait between two passes of `--watch` (with an access
/// token of very short life).
const MIN_WAIT: Duration = Duration::from_secs(2);

/// What a fetch run did, as printed by `fetch --format json`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FetchSummary {
    /// What the IMAP side did.
    #[serde(flatten)]
    pub counts: FetchCounts,
    /// What ingesting the messages did.
    #[serde(flatten)]
    pub ingest: IngestSummary,
    /// Folders that could not be read (the others were processed).
    pub folder_errors: Vec<FolderFailure>,
    /// Accounts that could not be processed.
    pub errors: Vec<AccountFailure>,
}

/// A folder that could not be read; the account's other folders were
/// processed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FolderFailure {
    /// The account's label.
    pub account: String,
    /// The folder's name, as configured.
    pub folder: String,
    /// What went wrong, in words, naming the account, the folder and the host.
    pub message: String,
}

/// An account that could not be processed (what was stored before the
/// failure is kept).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccountFailure {
    /// The account's label.
    pub account: String,
    /// What kind of failure.
    pub kind: FetchFailureKind,
    /// What went wrong, in words, naming the host.
    pub message: String,
}

/// The store as the destination of fetched messages.
struct StoreDest<'s, 'i> {
    store: &'s Store,
    ingester: &'i mut Ingester<'s>,
}

fn to_store(o: Outcome) -> MessageOutcome {
    match o {
        Outcome::Stored => MessageOutcome::Stored,
        Outcome::Failed => MessageOutcome::Failed,
        Outcome::TooLarge => MessageOutcome::TooLarge,
    }
}

fn from_store(o: MessageOutcome) -> Outcome {
    match o {
        MessageOutcome::Stored => Outcome::Stored,
        MessageOutcome::Failed => Outcome::Failed,
        MessageOutcome::TooLarge => Outcome::TooLarge,
    }
}

impl Destination for StoreDest<'_, '_> {
    fn known(&mut self, f: &FolderId) -> Result<Known, LocalError> {
        let known = self.store.imap_messages(&f.account, &f.folder, f.validity)?;
        Ok(known.into_iter().map(|(uid, (o, done))| (uid, (from_store(o), done))).collect())
    }

    fn message(
        &mut self,
        f: &FolderId,
        uid: u32,
        name: &str,
        body: &[u8],
    ) -> Result<bool, LocalError> {
        let stored = self.ingester.ingest_bytes(name, body, &Hints::default())?.is_ok();
        let outcome = if stored { MessageOutcome::Stored } else { MessageOutcome::Failed };
        self.store.record_imap_message(&f.account, &f.folder, f.validity, uid, outcome, now())?;
        Ok(stored)
    }

    fn too_large(
        &mut self,
        f: &FolderId,
        uid: u32,
        name: &str,
        why: &str,
    ) -> Result<(), LocalError> {
        self.ingester.fail_input(name, FailureKind::Limit, why)?;
        let outcome = to_store(Outcome::TooLarge);
        self.store.record_imap_message(&f.account, &f.folder, f.validity, uid, outcome, now())?;
        Ok(())
    }

    fn commit(&mut self) -> Result<(), LocalError> {
        Ok(self.ingester.commit()?)
    }

    fn acknowledged(&mut self, f: &FolderId, uids: &[u32], moved: bool) -> Result<(), LocalError> {
        Ok(self.store.imap_messages_done(&f.account, &f.folder, f.validity, uids, moved)?)
    }

    fn forget_absent(&mut self, f: &FolderId, present: &HashSet<u32>) -> Result<(), LocalError> {
        Ok(self.store.prune_imap_messages(&f.account, &f.folder, f.validity, present)?)
    }
}

/// Logs in to one account: with its password, or with an OAuth2 access
/// token (renewed first when it is about to expire).
fn connect(account: &Account, log: &mut dyn FnMut(String)) -> Result<Connection, FetchError> {
    match &account.auth {
        Auth::Password(source) => {
            let password = source.read()?;
            Connection::open(account, &Login::Password(&password), log)
        }
        Auth::OAuth2(settings) => {
            let token = oauth::access_token(account, settings)?;
            Connection::open(account, &Login::Bearer(&token), log)
        }
    }
}

/// Processes the account's folders once. A missing folder is noted in
/// `summary.folder_errors` and the others carry on.
fn fetch_account(
    conn: &mut Connection,
    account: &Account,
    dest: &mut StoreDest<'_, '_>,
    summary: &mut FetchSummary,
    log: &mut dyn FnMut(String),
) -> Result<(), FetchError> {
    for folder in &account.folders {
        summary.counts.folders += 1;
        // Another worker on the same folder (PostgreSQL, several hosts):
        // leave it to that one.
        let key = imap::account_key(account);
        if !dest.store.lock_folder(&key, folder).map_err(|e| FetchError::Local(e.into()))? {
            log(format!(
                "{}: folder \"{folder}\" is being fetched by another worker; skipped",
                account.label
            ));
            continue;
        }
        let result = fetch_folder(conn, account, folder, dest, summary, log);
        dest.store.unlock_folder(&key, folder).map_err(|e| FetchError::Local(e.into()))?;
        result?;
    }
    Ok(())
}

/// Processes one folder of the account (its lock held).
fn fetch_folder(
    conn: &mut Connection,
    account: &Account,
    folder: &str,
    dest: &mut StoreDest<'_, '_>,
    summary: &mut FetchSummary,
    log: &mut dyn FnMut(String),
) -> Result<(), FetchError> {
    loop {
        match imap::process_folder(conn, account, folder, dest, &mut summary.counts, log)? {
            FolderResult::Done => return Ok(()),
            FolderResult::Missing => {
                summary.folder_errors.push(FolderFailure {
                    account: account.label.clone(),
                    folder: folder.to_owned(),
                    message: format!(
                        "{}: folder \"{folder}\" does not exist on {}; the other folders were \
                         processed",
                        account.label, account.host
                    ),
                });
                return Ok(());
            }
            // Committed and acknowledged so far; the folder's state says
            // where to carry on.
            FolderResult::Renew => {
                let fresh = connect(account, log)?;
                std::mem::replace(conn, fresh).logout();
            }
        }
    }
}

/// Processes every folder of every account in turn. Accounts that fail
/// are reported in `errors`; the others carry on.
pub fn fetch_all(
    store: &Store,
    accounts: &[Account],
    limits: &Limits,
    log: &mut dyn FnMut(String),
) -> FetchSummary {
    let mut summary = FetchSummary::default();
    let mut ingester = Ingester::new(store, *limits);
    for account in accounts {
        summary.counts.accounts += 1;
        let mut dest = StoreDest { store, ingester: &mut ingester };
        let result = connect(account, log).and_then(|mut conn| {
            let result = fetch_account(&mut conn, account, &mut dest, &mut summary, log);
            conn.logout();
            result
        });
        // Whatever was ingested before a failure is kept.
        if let Err(e) = ingester.commit().map_err(|e| FetchError::Local(e.into())).and(result) {
            summary.errors.push(AccountFailure {
                account: account.label.clone(),
                kind: e.kind(),
                message: e.to_string(),
            });
        }
    }
    summary.ingest = ingester.summary().clone();
    summary
}

/// Stays connected to the account's one folder and processes new mail as
/// it arrives (IMAP IDLE; polling where the server has no IDLE),
/// reconnecting with backoff. Several folders are refused with a message
/// saying what to do. Returns only on a configuration or database error.
pub fn watch(
    store: &Store,
    account: &Account,
    limits: &Limits,
    log: &mut dyn FnMut(String),
    report: &mut dyn FnMut(&FetchSummary),
) -> Result<(), FetchError> {
    let folder = match &account.folders[..] {
        [] => "INBOX".to_owned(),
        [one] => one.clone(),
        several => {
            return Err(FetchError::Config(crate::config::ConfigError::new(
                crate::config::ConfigErrorKind::Invalid,
                format!(
                    "{}: --watch follows one folder and this account has {} ({}): choose one with \
                 --folder, or run one `fetch --watch --folder NAME` per folder",
                    account.label,
                    several.len(),
                    several.join(", ")
                ),
            )));
        }
    };
    let single = Account { folders: vec![folder.clone()], ..account.clone() };
    let mut backoff = Duration::from_secs(1);
    loop {
        let result = (|| -> Result<(), FetchError> {
            let mut conn = connect(&single, log)?;
            log(format!("{}: watching {folder}", account.label));
            loop {
                let mut summary = FetchSummary::default();
                summary.counts.accounts = 1;
                let mut ingester = Ingester::new(store, *limits);
                let mut dest = StoreDest { store, ingester: &mut ingester };
                let processed = fetch_account(&mut conn, &single, &mut dest, &mut summary, log);
                ingester.commit().map_err(|e| FetchError::Local(e.into()))?;
                processed?;
                summary.ingest = ingester.summary().clone();
                report(&summary);
                backoff = Duration::from_secs(1);
                // Wake up before the access token expires, to log in again.
                let limit =
                    conn.until_renewal().map_or(IDLE_REFRESH, |d| d.clamp(MIN_WAIT, IDLE_REFRESH));
                conn.wait(account, limit)?;
                if conn.needs_renewal() {
                    log(format!(
                        "{}: the access token is about to expire; logging in again",
                        account.label
                    ));
                    conn.logout();
                    return Ok(());
                }
            }
        })();
        match result {
            // What a retry cannot fix: settings, the database, a sign-in
            // that a person must renew.
            Err(
                e @ (FetchError::Config(_)
                | FetchError::Local(_)
                | FetchError::OAuth(
                    oauth::OAuthError::NeedsLogin { .. }
                    | oauth::OAuthError::Revoked { .. }
                    | oauth::OAuthError::Config(_),
                )),
            ) => return Err(e),
            Err(e) => {
                log(format!("{e}; reconnecting in {}s", backoff.as_secs()));
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(300));
            }
            Ok(()) => {}
        }
    }
}

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}
