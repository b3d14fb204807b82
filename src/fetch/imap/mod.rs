//! Rua mailboxes on an IMAP server: a source of messages that are
//! acknowledged (moved or flagged) only once the caller says they are safe.
//!
//! The rules that keep a cron job safe for years:
//! - messages are read with `BODY.PEEK[]`, so nothing is marked read early;
//! - a message is moved (to `archive_folder` / `error_folder`) or flagged
//!   only after the [`Destination`] has committed its reports, or its bytes
//!   and error;
//! - what was done with each UID (per UIDVALIDITY) is remembered by the
//!   destination, so a rerun downloads nothing twice and finishes the moves
//!   a crash interrupted; when UIDVALIDITY changes, report-level
//!   deduplication takes over;
//! - certificates are always verified (system roots, plus `ca_file`);
//!   passwords never appear in messages.
//!
//! [`transport`] opens the connection (TCP, TLS, greeting), [`session`]
//! speaks the IMAP commands, [`state`] decides what a folder needs.

pub mod session;
pub mod state;
pub mod transport;

use serde::Serialize;

pub use session::{Connection, Login};
pub use state::{FolderId, Known, Outcome};

use crate::config::Account;
use crate::limits::human_bytes;
use crate::units::{count, plural};

/// Most bytes fetched in one FETCH command.
const MAX_FETCH_BYTES: u64 = 128 << 20;

/// An error of the side that receives the messages (the database).
pub type LocalError = Box<dyn std::error::Error + Send + Sync>;

/// A fetch failure that stops an account: the message names the host.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The server cannot be reached.
    #[error("{host}:{port}: cannot connect: {cause}")]
    Connect {
        /// The IMAP server's host name, as configured.
        host: String,
        /// The port tried.
        port: u16,
        /// What the system said (refused, timed out, no such host).
        cause: String,
    },
    /// TLS failed (certificate not trusted, handshake refused, wrong mode).
    #[error("{host}:{port}: TLS failed: {cause}")]
    Tls {
        /// The IMAP server's host name, as configured.
        host: String,
        /// The port tried.
        port: u16,
        /// Why, with what to do.
        cause: String,
    },
    /// The server refused the login.
    #[error("{host}: login refused for user {user}: {cause}")]
    Login {
        /// The IMAP server's host name, as configured.
        host: String,
        /// User name (never the password).
        user: String,
        /// What the server said.
        cause: String,
    },
    /// An IMAP command failed.
    #[error("{host}: {what}: {cause}")]
    Imap {
        /// The IMAP server's host name, as configured.
        host: String,
        /// What was being done.
        what: String,
        /// What went wrong.
        cause: String,
    },
    /// The password could not be read.
    #[error("{0}")]
    Config(#[from] crate::config::ConfigError),
    /// No OAuth2 access token could be had.
    #[error("{0}")]
    OAuth(#[from] crate::fetch::oauth::OAuthError),
    /// The receiving side (the database) failed: nothing more is
    /// acknowledged on the server.
    #[error("{0}")]
    Local(LocalError),
}

/// What kind of failure stopped an account, for callers that match on it
/// (`fetch --format json` writes it as `kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FetchFailureKind {
    /// The server could not be reached.
    Connect,
    /// TLS failed.
    Tls,
    /// The server refused the login.
    Login,
    /// An IMAP command failed.
    Imap,
    /// The account's settings (its password file, ...) are wrong.
    Config,
    /// No OAuth2 access token could be had.
    #[serde(rename = "oauth")]
    OAuth,
    /// The database failed; nothing more was acknowledged on the server.
    Local,
}

impl FetchError {
    /// The kind of failure, without its words.
    pub fn kind(&self) -> FetchFailureKind {
        match self {
            FetchError::Connect { .. } => FetchFailureKind::Connect,
            FetchError::Tls { .. } => FetchFailureKind::Tls,
            FetchError::Login { .. } => FetchFailureKind::Login,
            FetchError::Imap { .. } => FetchFailureKind::Imap,
            FetchError::Config(_) => FetchFailureKind::Config,
            FetchError::OAuth(_) => FetchFailureKind::OAuth,
            FetchError::Local(_) => FetchFailureKind::Local,
        }
    }
}

/// Where fetched messages go, and where what became of each UID is
/// remembered. Everything handed over must be durable once
/// [`Destination::commit`] returns: only then are the messages moved or
/// flagged on the server.
pub trait Destination {
    /// What is remembered about the folder's UIDs.
    fn known(&mut self, folder: &FolderId) -> Result<Known, LocalError>;
    /// Takes one downloaded message, named for error messages, and
    /// remembers its outcome: `true` if its reports were stored.
    fn message(
        &mut self,
        folder: &FolderId,
        uid: u32,
        name: &str,
        body: &[u8],
    ) -> Result<bool, LocalError>;
    /// Records a message that was not downloaded because it is too large.
    fn too_large(
        &mut self,
        folder: &FolderId,
        uid: u32,
        name: &str,
        why: &str,
    ) -> Result<(), LocalError>;
    /// Makes everything handed over so far durable.
    fn commit(&mut self) -> Result<(), LocalError>;
    /// Remembers that these UIDs were acknowledged on the server (moved
    /// away, or flagged in place).
    fn acknowledged(
        &mut self,
        folder: &FolderId,
        uids: &[u32],
        moved: bool,
    ) -> Result<(), LocalError>;
    /// Forgets UIDs no longer in the folder (and older UIDVALIDITYs).
    fn forget_absent(
        &mut self,
        folder: &FolderId,
        present: &std::collections::HashSet<u32>,
    ) -> Result<(), LocalError>;
}

/// What the IMAP side of a run did, as printed by `fetch --format json`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FetchCounts {
    /// Accounts processed.
    pub accounts: u64,
    /// Folders processed.
    pub folders: u64,
    /// Messages found that had not been processed before.
    pub messages_new: u64,
    /// Messages downloaded.
    pub messages_fetched: u64,
    /// Messages moved to the archive folder.
    pub messages_archived: u64,
    /// Messages moved to the error folder.
    pub messages_to_error_folder: u64,
    /// Messages flagged (`\Seen`) in place.
    pub messages_flagged: u64,
    /// Messages over the size limit, not downloaded.
    pub messages_too_large: u64,
}

/// What became of one folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FolderResult {
    /// It was processed.
    Done,
    /// The server has no folder of that name; nothing was done.
    Missing,
    /// The session's access token is about to expire: what was fetched is
    /// committed and acknowledged; log in again and process the folder
    /// again to carry on.
    Renew,
}

/// The key under which an account's folders are remembered.
pub fn account_key(account: &Account) -> String {
    format!("{}@{}:{}", account.user, account.host, account.port)
}

/// Fetches the unprocessed messages of one folder into `dest`, commits,
/// then moves or flags them. `Ok(FolderResult::Missing)` when the server
/// has no such folder.
pub fn process_folder(
    conn: &mut Connection,
    account: &Account,
    folder: &str,
    dest: &mut dyn Destination,
    counts: &mut FetchCounts,
    log: &mut dyn FnMut(String),
) -> Result<FolderResult, FetchError> {
    let local = FetchError::Local;
    let Some(selected) = conn.select(account, folder)? else {
        return Ok(FolderResult::Missing);
    };
    let id = FolderId {
        account: account_key(account),
        folder: folder.to_owned(),
        validity: selected.validity,
    };
    let known = dest.known(&id).map_err(local)?;
    let plan = state::plan(&selected.present, &known);

    // Finish what an interrupted run committed but did not move or flag.
    if !plan.pending.is_empty() {
        log(format!(
            "{} {folder}: finishing {} committed by an earlier run",
            account.label,
            plural(plan.pending.len() as u64, "message", "messages")
        ));
        acknowledge(conn, account, &id, &plan.pending, dest, counts)?;
    }

    let fetched_before = counts.messages_fetched;
    for batch in plan.todo.chunks(account.batch_size) {
        // Counted per batch: a folder processed again after a renewal
        // counts each message once.
        counts.messages_new +=
            batch.iter().filter(|uid| !plan.retried_too_large.contains(uid)).count() as u64;
        let sizes = conn.sizes(account, batch)?;
        let mut outcomes: Vec<(u32, Outcome)> = Vec::new();
        let mut wanted = Vec::new();
        for &uid in batch {
            let Some(&size) = sizes.get(&uid) else { continue }; // expunged meanwhile
            if size <= account.max_message_size {
                wanted.push((uid, size));
                continue;
            }
            if plan.retried_too_large.contains(&uid) {
                continue; // still too large; it was reported when first seen
            }
            counts.messages_too_large += 1;
            let why = format!(
                "the message is {}, over the limit of {} (raise it with \
                 --max-message-size or max_message_size); it was not downloaded",
                human_bytes(size),
                human_bytes(account.max_message_size)
            );
            dest.too_large(&id, uid, &message_name(account, &id, uid), &why).map_err(local)?;
            outcomes.push((uid, Outcome::TooLarge));
        }
        // Download in pieces of bounded total size.
        let mut start = 0;
        while start < wanted.len() {
            let mut end = start;
            let mut bytes = 0u64;
            while end < wanted.len() && (end == start || bytes + wanted[end].1 <= MAX_FETCH_BYTES) {
                bytes += wanted[end].1;
                end += 1;
            }
            let uids: Vec<u32> = wanted[start..end].iter().map(|(uid, _)| *uid).collect();
            start = end;
            conn.bodies(account, folder, &uids, &mut |uid, body| {
                counts.messages_fetched += 1;
                let stored = dest
                    .message(&id, uid, &message_name(account, &id, uid), body)
                    .map_err(local)?;
                outcomes.push((uid, if stored { Outcome::Stored } else { Outcome::Failed }));
                Ok(())
            })?;
        }
        // Only now that the reports (or the failures, bytes and all) are
        // committed may the messages be touched on the server.
        dest.commit().map_err(local)?;
        acknowledge(conn, account, &id, &outcomes, dest, counts)?;
        if conn.needs_renewal() && batch.last() != plan.todo.last() {
            log(format!(
                "{} {folder}: the access token is about to expire; logging in again",
                account.label
            ));
            return Ok(FolderResult::Renew);
        }
    }
    dest.forget_absent(&id, &selected.present).map_err(local)?;
    if !plan.todo.is_empty() || !plan.pending.is_empty() {
        log(format!(
            "{} {folder}: {} present, {} fetched",
            account.label,
            plural(selected.present.len() as u64, "message", "messages"),
            count(counts.messages_fetched - fetched_before),
        ));
    }
    Ok(FolderResult::Done)
}

/// Moves or flags processed messages, then has it remembered.
fn acknowledge(
    conn: &mut Connection,
    account: &Account,
    id: &FolderId,
    items: &[(u32, Outcome)],
    dest: &mut dyn Destination,
    counts: &mut FetchCounts,
) -> Result<(), FetchError> {
    let (ok, bad): (Vec<_>, Vec<_>) =
        items.iter().partition(|(_, outcome)| *outcome == Outcome::Stored);
    let ok: Vec<u32> = ok.into_iter().map(|(uid, _)| uid).collect();
    let bad: Vec<u32> = bad.into_iter().map(|(uid, _)| uid).collect();
    for (uids, target, flags, archived) in [
        (&ok, &account.archive_folder, "\\Seen", true),
        (&bad, &account.error_folder, "\\Seen \\Flagged", false),
    ] {
        if uids.is_empty() {
            continue;
        }
        let moved = uids.len() as u64;
        match target {
            Some(target) if *target != id.folder => {
                conn.move_to(account, uids, target)?;
                dest.acknowledged(id, uids, true).map_err(FetchError::Local)?;
                if archived {
                    counts.messages_archived += moved;
                } else {
                    counts.messages_to_error_folder += moved;
                }
            }
            _ => {
                conn.flag(account, uids, flags)?;
                dest.acknowledged(id, uids, false).map_err(FetchError::Local)?;
                counts.messages_flagged += moved;
            }
        }
    }
    Ok(())
}

/// An RFC 5092 style name for a message: where it came from, for errors.
fn message_name(account: &Account, id: &FolderId, uid: u32) -> String {
    format!(
        "imap://{}@{}/{};UIDVALIDITY={}/;UID={uid}",
        account.user, account.host, id.folder, id.validity
    )
}

pub(crate) fn describe_imap(e: &imap::Error) -> String {
    match e {
        imap::Error::No(no) => no.information.clone(),
        imap::Error::Bad(bad) => bad.information.clone(),
        imap::Error::Bye(bye) => format!("the server closed the connection: {}", bye.information),
        imap::Error::ConnectionLost => "the connection was lost".to_owned(),
        imap::Error::Io(io)
            if matches!(
                io.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            "the server did not answer in time".to_owned()
        }
        other => other.to_string(),
    }
}

pub(crate) fn imap_error(account: &Account, what: &str, e: imap::Error) -> FetchError {
    FetchError::Imap { host: account.host.clone(), what: what.to_owned(), cause: describe_imap(&e) }
}
