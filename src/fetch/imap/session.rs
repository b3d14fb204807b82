//! A logged-in IMAP session and the few commands `fetch` needs: select,
//! search, size and body fetches, move (or copy + delete) and flag, IDLE.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use super::transport::{self, Stream};
use super::{FetchError, describe_imap, imap_error};
use crate::config::Account;

/// How often a server without IDLE is asked for news.
const POLL_INTERVAL: Duration = Duration::from_secs(300);

/// Receives each downloaded message with its UID.
pub type BodyHandler<'a> = dyn FnMut(u32, &[u8]) -> Result<(), FetchError> + 'a;

/// How to log in.
pub enum Login<'a> {
    /// `LOGIN user password`.
    Password(&'a str),
}

/// A logged-in session and what the server can do.
pub struct Connection {
    session: imap::Session<Stream>,
    has_move: bool,
    has_uidplus: bool,
    has_idle: bool,
}

/// A selected folder: its UIDVALIDITY and the UIDs it holds.
pub struct Selected {
    /// The folder's UIDVALIDITY (0 if the server gave none).
    pub validity: u32,
    /// Every UID in the folder.
    pub present: HashSet<u32>,
}

impl Connection {
    /// Connects and logs in. `warn` receives warnings.
    pub fn open(
        account: &Account,
        login: &Login<'_>,
        warn: &mut dyn FnMut(String),
    ) -> Result<Connection, FetchError> {
        let client = transport::open(account, warn)?;
        let login_error = |e: &imap::Error| FetchError::Login {
            host: account.host.clone(),
            user: account.user.clone(),
            cause: describe_imap(e),
        };
        let mut session = match login {
            Login::Password(password) => {
                client.login(&account.user, password).map_err(|(e, _)| login_error(&e))?
            }
        };
        // MOVE and friends are advertised only after login on many servers.
        let caps =
            session.capabilities().map_err(|e| imap_error(account, "reading capabilities", e))?;
        let (has_move, has_uidplus, has_idle) =
            (caps.has_str("MOVE"), caps.has_str("UIDPLUS"), caps.has_str("IDLE"));
        drop(caps);
        Ok(Connection { session, has_move, has_uidplus, has_idle })
    }

    /// Ends the session politely (errors do not matter any more).
    pub fn logout(mut self) {
        let _ = self.session.logout();
    }

    /// Selects `folder` and lists its UIDs. `Ok(None)` when the folder
    /// does not exist.
    pub fn select(
        &mut self,
        account: &Account,
        folder: &str,
    ) -> Result<Option<Selected>, FetchError> {
        let mailbox = match self.session.select(folder) {
            Ok(mailbox) => mailbox,
            Err(imap::Error::No(no)) if self.folder_is_missing(folder, &no.information) => {
                return Ok(None);
            }
            Err(e) => {
                return Err(imap_error(account, &format!("selecting folder \"{folder}\""), e));
            }
        };
        let validity = mailbox.uid_validity.unwrap_or(0);
        let present = if mailbox.exists == 0 {
            HashSet::new()
        } else {
            self.session
                .uid_search("ALL")
                .map_err(|e| imap_error(account, &format!("listing \"{folder}\""), e))?
        };
        Ok(Some(Selected { validity, present }))
    }

    /// A refused SELECT means a missing folder when the server says so
    /// (RFC 5530 `[NONEXISTENT]`) or when LIST does not know the folder.
    fn folder_is_missing(&mut self, folder: &str, information: &str) -> bool {
        if information.to_ascii_uppercase().contains("NONEXISTENT") {
            return true;
        }
        self.session
            .list(None, Some(folder))
            .map(|names| !names.iter().any(|n| n.name() == folder))
            .unwrap_or(false)
    }

    /// The sizes of these messages (those expunged meanwhile are absent).
    pub fn sizes(
        &mut self,
        account: &Account,
        uids: &[u32],
    ) -> Result<BTreeMap<u32, u64>, FetchError> {
        let fetches = self
            .session
            .uid_fetch(uid_set(uids), "(UID RFC822.SIZE)")
            .map_err(|e| imap_error(account, "reading message sizes", e))?;
        Ok(fetches.iter().filter_map(|f| Some((f.uid?, u64::from(f.size?)))).collect())
    }

    /// Downloads these messages without marking them read and hands each
    /// to `each` with its UID.
    pub fn bodies(
        &mut self,
        account: &Account,
        folder: &str,
        uids: &[u32],
        each: &mut BodyHandler<'_>,
    ) -> Result<(), FetchError> {
        let fetches = self
            .session
            .uid_fetch(uid_set(uids), "(UID BODY.PEEK[])")
            .map_err(|e| imap_error(account, &format!("fetching from \"{folder}\""), e))?;
        for fetch in fetches.iter() {
            if let (Some(uid), Some(body)) = (fetch.uid, fetch.body()) {
                each(uid, body)?;
            }
        }
        Ok(())
    }

    /// Adds flags to these messages.
    pub fn flag(&mut self, account: &Account, uids: &[u32], flags: &str) -> Result<(), FetchError> {
        self.session
            .uid_store(uid_set(uids), format!("+FLAGS.SILENT ({flags})"))
            .map_err(|e| imap_error(account, "flagging messages", e))?;
        Ok(())
    }

    /// MOVE where the server has it, else COPY + `\Deleted` + (UID) EXPUNGE.
    /// The target folder is created when missing.
    pub fn move_to(
        &mut self,
        account: &Account,
        uids: &[u32],
        target: &str,
    ) -> Result<(), FetchError> {
        self.ensure_folder(account, target)?;
        let set = uid_set(uids);
        let what = format!("moving messages to \"{target}\"");
        if self.has_move {
            self.session.uid_mv(&set, target).map_err(|e| imap_error(account, &what, e))?;
            return Ok(());
        }
        self.session.uid_copy(&set, target).map_err(|e| imap_error(account, &what, e))?;
        self.session
            .uid_store(&set, "+FLAGS.SILENT (\\Deleted)")
            .map_err(|e| imap_error(account, &what, e))?;
        if self.has_uidplus {
            self.session.uid_expunge(&set).map_err(|e| imap_error(account, &what, e))?;
        } else {
            // Without UIDPLUS, EXPUNGE also removes other messages marked
            // \Deleted in this folder; that is what \Deleted asks for.
            self.session.expunge().map_err(|e| imap_error(account, &what, e))?;
        }
        Ok(())
    }

    /// Creates a folder unless it exists.
    fn ensure_folder(&mut self, account: &Account, folder: &str) -> Result<(), FetchError> {
        let exists = self
            .session
            .list(None, Some(folder))
            .map_err(|e| imap_error(account, &format!("looking for folder \"{folder}\""), e))?
            .iter()
            .any(|n| n.name() == folder);
        if exists {
            return Ok(());
        }
        match self.session.create(folder) {
            // Another client may have created it meanwhile.
            Err(e) if !describe_imap(&e).to_ascii_lowercase().contains("exist") => {
                Err(imap_error(account, &format!("creating folder \"{folder}\""), e))
            }
            _ => Ok(()),
        }
    }

    /// Waits until the selected folder changes or `limit` passes (IMAP
    /// IDLE; where the server has no IDLE, a sleep and a NOOP).
    pub fn wait(&mut self, account: &Account, limit: Duration) -> Result<(), FetchError> {
        if self.has_idle {
            let mut idle = self.session.idle();
            idle.timeout(limit);
            idle.wait_while(imap::extensions::idle::stop_on_any)
                .map_err(|e| imap_error(account, "waiting in IDLE", e))?;
        } else {
            std::thread::sleep(limit.min(POLL_INTERVAL));
            self.session.noop().map_err(|e| imap_error(account, "NOOP", e))?;
        }
        Ok(())
    }
}

/// `1,2,5` (IMAP sequence sets).
fn uid_set(uids: &[u32]) -> String {
    uids.iter().map(u32::to_string).collect::<Vec<_>>().join(",")
}
