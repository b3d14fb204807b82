//! A logged-in IMAP session and the few commands `fetch` needs: select,
//! search, size and body fetches, move (or copy + delete) and flag, IDLE.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use std::cell::{Cell, RefCell};

use super::transport::{self, Stream};
use super::{FetchError, describe_imap, imap_error};
use crate::config::Account;
use crate::fetch::oauth::{AccessToken, RENEW_MARGIN, now};

/// How often a server without IDLE is asked for news.
const POLL_INTERVAL: Duration = Duration::from_secs(300);

/// Receives each downloaded message with its UID.
pub type BodyHandler<'a> = dyn FnMut(u32, &[u8]) -> Result<(), FetchError> + 'a;

/// How to log in.
pub enum Login<'a> {
    /// `LOGIN user password`.
    Password(&'a str),
    /// SASL XOAUTH2 (or OAUTHBEARER when the server offers only that) with
    /// an OAuth2 access token.
    Bearer(&'a AccessToken),
}

/// The SASL exchange of XOAUTH2 and OAUTHBEARER: the first answer carries
/// the token; when the server refuses it sends a base64 JSON error as a
/// challenge, which is kept and answered with the mechanism's dummy reply.
struct Bearer {
    first: Vec<u8>,
    dummy: &'static [u8],
    calls: Cell<u32>,
    server_error: RefCell<Option<Vec<u8>>>,
}

impl imap::Authenticator for Bearer {
    type Response = Vec<u8>;

    fn process(&self, challenge: &[u8]) -> Vec<u8> {
        let n = self.calls.get();
        self.calls.set(n + 1);
        if n == 0 {
            return self.first.clone();
        }
        *self.server_error.borrow_mut() = Some(challenge.to_vec());
        self.dummy.to_vec()
    }
}

/// The server's JSON error (RFC 7628 3.2.2; Google's XOAUTH2 likewise) in
/// a few words: its `status` and `scope`.
fn describe_sasl_error(json: &[u8]) -> String {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(json) else {
        return String::from_utf8_lossy(json)
            .chars()
            .filter(|c| !c.is_control())
            .take(200)
            .collect();
    };
    let field = |k: &str| value.get(k).map(|v| v.as_str().map_or(v.to_string(), str::to_owned));
    let mut parts = Vec::new();
    for key in ["status", "scope", "schemes"] {
        if let Some(v) = field(key) {
            parts.push(format!("{key} {v}"));
        }
    }
    if parts.is_empty() { value.to_string() } else { parts.join(", ") }
}

/// A logged-in session and what the server can do.
pub struct Connection {
    session: imap::Session<Stream>,
    has_move: bool,
    has_uidplus: bool,
    has_idle: bool,
    /// When the access token used to log in expires (Unix seconds).
    expires_at: Option<i64>,
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
        let mut expires_at = None;
        let mut session = match login {
            Login::Password(password) => {
                client.login(&account.user, password).map_err(|(e, _)| login_error(&e))?
            }
            Login::Bearer(token) => {
                expires_at = token.expires_at;
                bearer_login(client, account, &token.secret)?
            }
        };
        // MOVE and friends are advertised only after login on many servers.
        let caps =
            session.capabilities().map_err(|e| imap_error(account, "reading capabilities", e))?;
        let (has_move, has_uidplus, has_idle) =
            (caps.has_str("MOVE"), caps.has_str("UIDPLUS"), caps.has_str("IDLE"));
        drop(caps);
        Ok(Connection { session, has_move, has_uidplus, has_idle, expires_at })
    }

    /// Whether the login's access token is about to expire, so that the
    /// session should be re-established with a fresh one.
    pub fn needs_renewal(&self) -> bool {
        self.expires_at.is_some_and(|at| at - now() <= RENEW_MARGIN.as_secs() as i64)
    }

    /// How long until [`Connection::needs_renewal`] turns true (`None`:
    /// never).
    pub fn until_renewal(&self) -> Option<Duration> {
        let at = self.expires_at? - RENEW_MARGIN.as_secs() as i64;
        Some(Duration::from_secs(u64::try_from(at - now()).unwrap_or(0)))
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
        let what = format!("selecting folder \"{folder}\"");
        let Some(name) = quoted(folder) else {
            return Err(FetchError::Imap {
                host: account.host.clone(),
                what,
                cause: "a folder name cannot hold a line break".to_owned(),
            });
        };
        // The reply is read here rather than by the IMAP library, which
        // panics on an untagged NO or BAD (a server's warning, such as
        // Dovecot's after it repaired an index) inside a SELECT reply.
        let reply = match self.session.run_command_and_read_response(format!("SELECT {name}")) {
            Ok(reply) => reply,
            Err(imap::Error::No(no)) if self.folder_is_missing(folder, &no.information) => {
                return Ok(None);
            }
            Err(e) => return Err(imap_error(account, &what, e)),
        };
        let mailbox = SelectReply::read(&reply);
        let validity = mailbox.validity.unwrap_or(0);
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
            // Return when the limit passes (instead of re-issuing IDLE), so
            // that the caller can log in again before its token expires.
            idle.timeout(limit).keepalive(false);
            idle.wait_while(imap::extensions::idle::stop_on_any)
                .map_err(|e| imap_error(account, "waiting in IDLE", e))?;
        } else {
            std::thread::sleep(limit.min(POLL_INTERVAL));
            self.session.noop().map_err(|e| imap_error(account, "NOOP", e))?;
        }
        Ok(())
    }
}

/// AUTHENTICATE with the token: XOAUTH2 unless the server offers only
/// OAUTHBEARER. A refusal shows what the server said about the token.
fn bearer_login(
    mut client: imap::Client<Stream>,
    account: &Account,
    token: &str,
) -> Result<imap::Session<Stream>, FetchError> {
    let caps = client.capabilities().map_err(|e| imap_error(account, "reading capabilities", e))?;
    let (xoauth2, oauthbearer) = (caps.has_str("AUTH=XOAUTH2"), caps.has_str("AUTH=OAUTHBEARER"));
    drop(caps);
    let (mechanism, auth) = if oauthbearer && !xoauth2 {
        // RFC 7628 3.1: gs2 header, then host, port and the bearer token.
        let first = format!(
            "n,a={},\x01host={}\x01port={}\x01auth=Bearer {token}\x01\x01",
            account.user, account.host, account.port
        );
        (
            "OAUTHBEARER",
            Bearer {
                first: first.into_bytes(),
                dummy: b"\x01",
                calls: Cell::new(0),
                server_error: RefCell::new(None),
            },
        )
    } else {
        let first = format!("user={}\x01auth=Bearer {token}\x01\x01", account.user);
        (
            "XOAUTH2",
            Bearer {
                first: first.into_bytes(),
                dummy: b"",
                calls: Cell::new(0),
                server_error: RefCell::new(None),
            },
        )
    };
    client.authenticate(mechanism, &auth).map_err(|(e, _)| {
        let said = describe_imap(&e);
        let cause = match auth.server_error.borrow().as_deref() {
            Some(json) => format!(
                "{mechanism} refused: {said} (the server says: {})",
                describe_sasl_error(json)
            ),
            None if !xoauth2 && !oauthbearer => format!(
                "{mechanism} refused: {said} (the server offers neither XOAUTH2 nor OAUTHBEARER)"
            ),
            None => format!("{mechanism} refused: {said}"),
        };
        FetchError::Login { host: account.host.clone(), user: account.user.clone(), cause }
    })
}

/// `1,2,5` (IMAP sequence sets).
fn uid_set(uids: &[u32]) -> String {
    uids.iter().map(u32::to_string).collect::<Vec<_>>().join(",")
}

/// `folder` as an IMAP quoted string; `None` when it holds a line break,
/// which no quoted string may.
fn quoted(folder: &str) -> Option<String> {
    if folder.contains(['\r', '\n']) {
        return None;
    }
    let mut out = String::with_capacity(folder.len() + 2);
    out.push('"');
    for c in folder.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    Some(out)
}

/// What a SELECT reply says that `fetch` uses; other untagged lines
/// (flags, warnings, `NO` notices) are passed over.
#[derive(Debug, Default, PartialEq, Eq)]
struct SelectReply {
    /// `* N EXISTS`: messages in the folder.
    exists: u32,
    /// `[UIDVALIDITY N]`.
    validity: Option<u32>,
}

impl SelectReply {
    fn read(reply: &[u8]) -> SelectReply {
        let mut out = SelectReply::default();
        for line in reply.split(|&b| b == b'\n') {
            let line = String::from_utf8_lossy(line);
            let Some(rest) = line.trim_end().strip_prefix("* ") else { continue };
            let mut words = rest.split_ascii_whitespace();
            if let (Some(n), Some(word)) = (words.next(), words.next())
                && word.eq_ignore_ascii_case("EXISTS")
                && let Ok(n) = n.parse()
            {
                out.exists = n;
            }
            let upper = rest.to_ascii_uppercase();
            if let Some(at) = upper.find("[UIDVALIDITY ") {
                let digits: String = rest[at + "[UIDVALIDITY ".len()..]
                    .chars()
                    .take_while(char::is_ascii_digit)
                    .collect();
                if let Ok(v) = digits.parse() {
                    out.validity = Some(v);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_select_reply_gives_the_count_and_uidvalidity_past_untagged_warnings() {
        let reply = b"* FLAGS (\\Answered \\Seen)\r\n\
            * NO Mailbox index was repaired\r\n\
            * 12 EXISTS\r\n\
            * 0 RECENT\r\n\
            * OK [UIDVALIDITY 3857529045] UIDs valid\r\n\
            * OK [UIDNEXT 13] Predicted next UID\r\n";
        assert_eq!(
            super::SelectReply::read(reply),
            super::SelectReply { exists: 12, validity: Some(3_857_529_045) }
        );
        assert_eq!(super::SelectReply::read(b""), super::SelectReply::default());
    }

    #[test]
    fn folder_names_are_quoted_and_line_breaks_refused() {
        assert_eq!(super::quoted("INBOX").as_deref(), Some("\"INBOX\""));
        assert_eq!(super::quoted("a \"b\" \\c").as_deref(), Some("\"a \\\"b\\\" \\\\c\""));
        assert_eq!(super::quoted("a\r\nb"), None);
    }

    use super::*;

    #[test]
    fn a_sasl_error_shows_its_status_and_scope() {
        let json = br#"{"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}"#;
        assert_eq!(
            describe_sasl_error(json),
            "status 401, scope https://mail.google.com/, schemes bearer"
        );
        assert_eq!(describe_sasl_error(b"not json\x01"), "not json");
    }

    #[test]
    fn the_bearer_exchange_sends_the_token_once_then_the_dummy_reply() {
        let auth = Bearer {
            first: b"user=u\x01auth=Bearer t\x01\x01".to_vec(),
            dummy: b"",
            calls: Cell::new(0),
            server_error: RefCell::new(None),
        };
        use imap::Authenticator;
        assert_eq!(auth.process(b""), b"user=u\x01auth=Bearer t\x01\x01");
        assert_eq!(auth.process(br#"{"status":"401"}"#), b"");
        assert_eq!(auth.server_error.borrow().as_deref(), Some(&br#"{"status":"401"}"#[..]));
    }
}
