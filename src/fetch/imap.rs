//! Pulls rua emails over IMAP and runs each through the ingest pipeline.
//!
//! The rules that keep a cron job safe for years:
//! - messages are read with `BODY.PEEK[]`, so nothing is marked read early;
//! - a message is moved (to `archive_folder` / `error_folder`) or flagged
//!   only after its reports, or its bytes and error, are committed;
//! - what was done with each UID (per UIDVALIDITY) is remembered, so a rerun
//!   downloads nothing twice and finishes the moves a crash interrupted;
//!   when UIDVALIDITY changes, report-level deduplication takes over;
//! - certificates are always verified (system roots, plus `ca_file`);
//!   passwords never appear in messages.

use std::collections::{BTreeMap, HashSet};
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use imap::extensions::idle::SetReadTimeout;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use serde::Serialize;

use crate::config::{Account, TlsMode};
use crate::ingest::{IngestSummary, Ingester};
use crate::limits::{Limits, human_bytes};
use crate::store::{MessageOutcome, Store, StoreError};
use crate::unpack::Hints;

/// How long to wait for the server before giving up on a read or connect.
const NETWORK_TIMEOUT: Duration = Duration::from_secs(120);
/// Most bytes fetched in one FETCH command.
const MAX_FETCH_BYTES: u64 = 128 << 20;
/// IDLE is re-issued before servers drop it (RFC 2177: 29 minutes).
const IDLE_REFRESH: Duration = Duration::from_secs(25 * 60);

/// A fetch failure that stops an account: the message names the host.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The server cannot be reached.
    #[error("{host}:{port}: cannot connect: {cause}")]
    Connect {
        /// Host.
        host: String,
        /// Port.
        port: u16,
        /// Why.
        cause: String,
    },
    /// TLS failed (certificate not trusted, handshake refused, ...).
    #[error("{host}:{port}: TLS failed: {cause}")]
    Tls {
        /// Host.
        host: String,
        /// Port.
        port: u16,
        /// Why, with what to do.
        cause: String,
    },
    /// The server refused the login.
    #[error("{host}: login refused for user {user}: {cause}")]
    Login {
        /// Host.
        host: String,
        /// User name (never the password).
        user: String,
        /// What the server said.
        cause: String,
    },
    /// An IMAP command failed.
    #[error("{host}: {what}: {cause}")]
    Imap {
        /// Host.
        host: String,
        /// What was being done.
        what: String,
        /// What went wrong.
        cause: String,
    },
    /// The password could not be read.
    #[error("{0}")]
    Config(#[from] crate::config::ConfigError),
    /// The database failed.
    #[error("{0}")]
    Store(#[from] StoreError),
}

/// What a fetch run did, as printed by `fetch --format json`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FetchSummary {
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
    /// What ingesting the messages did.
    #[serde(flatten)]
    pub ingest: IngestSummary,
    /// Accounts that could not be processed: one line each, naming the host.
    pub errors: Vec<String>,
}

/// The connection: plain TCP or TLS over it.
pub enum Stream {
    /// No TLS (explicitly asked for).
    Plain(TcpStream),
    /// TLS (implicit or after STARTTLS).
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

impl SetReadTimeout for Stream {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> imap::Result<()> {
        let tcp = match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => &mut s.sock,
        };
        // A wait without limit would hang a cron job on a dead server.
        TcpStream::set_read_timeout(tcp, timeout.or(Some(NETWORK_TIMEOUT)))
            .map_err(imap::Error::from)
    }
}

/// A logged-in session and what the server can do.
pub struct Connection {
    session: imap::Session<Stream>,
    has_move: bool,
    has_uidplus: bool,
    has_idle: bool,
}

/// Connects and logs in. `warn` receives warnings (plain text to a
/// non-loopback host).
pub fn connect(account: &Account, warn: &mut dyn FnMut(String)) -> Result<Connection, FetchError> {
    let (host, port) = (account.host.clone(), account.port);
    let tcp = tcp_connect(&host, port)?;
    let tls_error = |cause: String| FetchError::Tls { host: host.clone(), port, cause };
    let client = match account.tls {
        TlsMode::Implicit => {
            let tls = tls_wrap(tcp, account).map_err(tls_error)?;
            let mut client = imap::Client::new(Stream::Tls(Box::new(tls)));
            client.read_greeting().map_err(|e| imap_error(account, "reading the greeting", e))?;
            client
        }
        TlsMode::Starttls => {
            let mut tcp = tcp;
            starttls(&mut tcp).map_err(tls_error)?;
            let tls = tls_wrap(tcp, account).map_err(tls_error)?;
            // RFC 3501 6.2.1: no new greeting after STARTTLS.
            imap::Client::new(Stream::Tls(Box::new(tls)))
        }
        TlsMode::Plain => {
            if !is_loopback(&host) {
                warn(format!(
                    "{host}: plain-text IMAP to a host that is not loopback: the password crosses \
                     the network unencrypted (use tls = \"implicit\" or \"starttls\")"
                ));
            }
            let mut client = imap::Client::new(Stream::Plain(tcp));
            client.read_greeting().map_err(|e| imap_error(account, "reading the greeting", e))?;
            client
        }
    };
    let password = account.password.read()?;
    let mut session =
        client.login(&account.user, &password).map_err(|(e, _)| FetchError::Login {
            host: host.clone(),
            user: account.user.clone(),
            cause: describe_imap(&e),
        })?;
    // MOVE and friends are advertised only after login on many servers.
    let caps =
        session.capabilities().map_err(|e| imap_error(account, "reading capabilities", e))?;
    let (has_move, has_uidplus, has_idle) =
        (caps.has_str("MOVE"), caps.has_str("UIDPLUS"), caps.has_str("IDLE"));
    drop(caps);
    Ok(Connection { session, has_move, has_uidplus, has_idle })
}

fn tcp_connect(host: &str, port: u16) -> Result<TcpStream, FetchError> {
    let fail = |cause: String| FetchError::Connect { host: host.to_owned(), port, cause };
    let addrs = (host, port).to_socket_addrs().map_err(|e| fail(format!("cannot resolve: {e}")))?;
    let mut last = String::from("the host name has no address");
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, Duration::from_secs(30)) {
            Ok(tcp) => {
                let _ = tcp.set_read_timeout(Some(NETWORK_TIMEOUT));
                let _ = tcp.set_write_timeout(Some(NETWORK_TIMEOUT));
                return Ok(tcp);
            }
            Err(e) => last = e.to_string(),
        }
    }
    Err(fail(last))
}

/// Speaks the greeting and `STARTTLS` on the plain socket.
fn starttls(tcp: &mut TcpStream) -> Result<(), String> {
    let greeting = read_line(tcp).map_err(|e| format!("reading the greeting: {e}"))?;
    if !greeting.starts_with("* OK") {
        return Err(format!("unexpected greeting: {}", greeting.trim_end()));
    }
    tcp.write_all(b"a0 STARTTLS\r\n").map_err(|e| format!("sending STARTTLS: {e}"))?;
    loop {
        let line = read_line(tcp).map_err(|e| format!("reading the STARTTLS answer: {e}"))?;
        if let Some(rest) = line.strip_prefix("a0 ") {
            if rest.starts_with("OK") {
                return Ok(());
            }
            return Err(format!("the server refused STARTTLS: {}", rest.trim_end()));
        }
    }
}

/// Reads one CRLF-terminated line byte by byte (only before TLS starts, so
/// nothing meant for the TLS layer is consumed).
fn read_line(tcp: &mut TcpStream) -> io::Result<String> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while line.len() < 8192 {
        if tcp.read(&mut byte)? == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed"));
        }
        line.push(byte[0]);
        if byte[0] == b'\n' {
            break;
        }
    }
    Ok(String::from_utf8_lossy(&line).into_owned())
}

/// Wraps the socket in TLS and completes the handshake, so certificate
/// problems surface here with a clear message.
fn tls_wrap(
    tcp: TcpStream,
    account: &Account,
) -> Result<StreamOwned<ClientConnection, TcpStream>, String> {
    let config = tls_config(account)?;
    let name = ServerName::try_from(account.host.clone())
        .map_err(|e| format!("\"{}\" is not a valid server name: {e}", account.host))?;
    let conn = ClientConnection::new(config, name).map_err(|e| e.to_string())?;
    let mut tls = StreamOwned::new(conn, tcp);
    while tls.conn.is_handshaking() {
        tls.conn.complete_io(&mut tls.sock).map_err(|e| {
            let hint = if e.to_string().contains("certificate") {
                " (if the server uses a private CA, give its certificate with ca_file / --ca-file)"
            } else {
                ""
            };
            format!("{e}{hint}")
        })?;
    }
    Ok(tls)
}

/// System roots (or Mozilla's, where the system has none) plus `ca_file`.
fn tls_config(account: &Account) -> Result<Arc<ClientConfig>, String> {
    let mut roots = RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for cert in native.certs {
        let _ = roots.add(cert);
    }
    if roots.is_empty() {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    if let Some(ca) = &account.ca_file {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(ca)
            .and_then(|it| it.collect::<Result<_, _>>())
            .map_err(|e| format!("cannot read ca_file {}: {e}", ca.display()))?;
        if certs.is_empty() {
            return Err(format!("ca_file {} holds no PEM certificate", ca.display()));
        }
        for cert in certs {
            roots.add(cert).map_err(|e| format!("ca_file {}: {e}", ca.display()))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn describe_imap(e: &imap::Error) -> String {
    match e {
        imap::Error::No(no) => no.information.clone(),
        imap::Error::Bad(bad) => bad.information.clone(),
        imap::Error::Bye(bye) => format!("the server closed the connection: {}", bye.information),
        imap::Error::ConnectionLost => "the connection was lost".to_owned(),
        other => other.to_string(),
    }
}

fn imap_error(account: &Account, what: &str, e: imap::Error) -> FetchError {
    FetchError::Imap { host: account.host.clone(), what: what.to_owned(), cause: describe_imap(&e) }
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
        summary.accounts += 1;
        let result = connect(account, log).and_then(|mut conn| {
            for folder in &account.folders {
                summary.folders += 1;
                process_folder(
                    &mut conn,
                    store,
                    &mut ingester,
                    account,
                    folder,
                    &mut summary,
                    log,
                )?;
            }
            let _ = conn.session.logout();
            Ok(())
        });
        // Whatever was ingested before a failure is kept.
        if let Err(e) = ingester.commit().map_err(FetchError::from).and(result) {
            summary.errors.push(e.to_string());
        }
    }
    summary.ingest = ingester.summary().clone();
    summary
}

/// Stays connected to one folder and processes new mail as it arrives
/// (IMAP IDLE; polling where the server has no IDLE), reconnecting with
/// backoff. Returns only on a configuration or database error.
pub fn watch(
    store: &Store,
    account: &Account,
    limits: &Limits,
    log: &mut dyn FnMut(String),
    report: &mut dyn FnMut(&FetchSummary),
) -> Result<(), FetchError> {
    let folder = account.folders.first().cloned().unwrap_or_else(|| "INBOX".to_owned());
    let mut backoff = Duration::from_secs(1);
    loop {
        let result = (|| -> Result<(), FetchError> {
            let mut conn = connect(account, log)?;
            log(format!("{}: watching {folder}", account.label));
            loop {
                let mut summary = FetchSummary { accounts: 1, folders: 1, ..Default::default() };
                let mut ingester = Ingester::new(store, *limits);
                let processed = process_folder(
                    &mut conn,
                    store,
                    &mut ingester,
                    account,
                    &folder,
                    &mut summary,
                    log,
                );
                ingester.commit()?;
                processed?;
                summary.ingest = ingester.summary().clone();
                report(&summary);
                backoff = Duration::from_secs(1);
                if conn.has_idle {
                    let mut idle = conn.session.idle();
                    idle.timeout(IDLE_REFRESH);
                    idle.wait_while(imap::extensions::idle::stop_on_any)
                        .map_err(|e| imap_error(account, "waiting in IDLE", e))?;
                } else {
                    std::thread::sleep(Duration::from_secs(300));
                    conn.session.noop().map_err(|e| imap_error(account, "NOOP", e))?;
                }
            }
        })();
        match result {
            Err(e @ (FetchError::Config(_) | FetchError::Store(_))) => return Err(e),
            Err(e) => {
                log(format!("{e}; reconnecting in {}s", backoff.as_secs()));
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(300));
            }
            Ok(()) => {}
        }
    }
}

/// Fetches and ingests the unprocessed messages of one folder, then moves
/// or flags them.
fn process_folder(
    conn: &mut Connection,
    store: &Store,
    ingester: &mut Ingester<'_>,
    account: &Account,
    folder: &str,
    summary: &mut FetchSummary,
    log: &mut dyn FnMut(String),
) -> Result<(), FetchError> {
    let key = format!("{}@{}:{}", account.user, account.host, account.port);
    let mailbox = conn
        .session
        .select(folder)
        .map_err(|e| imap_error(account, &format!("selecting folder \"{folder}\""), e))?;
    let validity = mailbox.uid_validity.unwrap_or(0);
    let present: HashSet<u32> = if mailbox.exists == 0 {
        HashSet::new()
    } else {
        conn.session
            .uid_search("ALL")
            .map_err(|e| imap_error(account, &format!("listing \"{folder}\""), e))?
    };
    let known = store.imap_messages(&key, folder, validity)?;
    let folder_ctx = FolderCtx { key: &key, folder, validity, account };

    // Finish what an interrupted run committed but did not move or flag.
    let pending: Vec<(u32, MessageOutcome)> = known
        .iter()
        .filter(|(uid, (outcome, done))| {
            !done && *outcome != MessageOutcome::TooLarge && present.contains(uid)
        })
        .map(|(uid, (outcome, _))| (*uid, *outcome))
        .collect();
    if !pending.is_empty() {
        log(format!(
            "{} {folder}: finishing {} message(s) committed by an earlier run",
            account.label,
            pending.len()
        ));
        apply_actions(conn, store, &folder_ctx, &pending, summary)?;
    }

    // New messages, and too-large ones that may fit a raised limit.
    let mut todo: Vec<u32> = present
        .iter()
        .filter(|uid| match known.get(uid) {
            None => true,
            Some((outcome, _)) => *outcome == MessageOutcome::TooLarge,
        })
        .copied()
        .collect();
    todo.sort_unstable();
    let retried_too_large: HashSet<u32> =
        todo.iter().filter(|uid| known.contains_key(uid)).copied().collect();
    summary.messages_new += (todo.len() - retried_too_large.len()) as u64;
    for batch in todo.chunks(account.batch_size) {
        let sizes = fetch_sizes(conn, account, batch)?;
        let mut outcomes: Vec<(u32, MessageOutcome)> = Vec::new();
        let mut wanted = Vec::new();
        for &uid in batch {
            let Some(&size) = sizes.get(&uid) else { continue }; // expunged meanwhile
            if size > account.max_message_size {
                if retried_too_large.contains(&uid) {
                    continue; // still too large; it was reported when first seen
                }
                summary.messages_too_large += 1;
                let name = message_name(account, folder, validity, uid);
                ingester.fail_input(
                    &name,
                    &format!(
                        "the message is {}, over the limit of {} (raise it with \
                         --max-message-size or max_message_size); it was not downloaded",
                        human_bytes(size),
                        human_bytes(account.max_message_size)
                    ),
                )?;
                store.record_imap_message(
                    &key,
                    folder,
                    validity,
                    uid,
                    MessageOutcome::TooLarge,
                    now(),
                )?;
                outcomes.push((uid, MessageOutcome::TooLarge));
            } else {
                wanted.push((uid, size));
            }
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
            let fetches = conn
                .session
                .uid_fetch(uid_set(&uids), "(UID BODY.PEEK[])")
                .map_err(|e| imap_error(account, &format!("fetching from \"{folder}\""), e))?;
            for fetch in fetches.iter() {
                let (Some(uid), Some(body)) = (fetch.uid, fetch.body()) else { continue };
                summary.messages_fetched += 1;
                let name = message_name(account, folder, validity, uid);
                let result = ingester.ingest_bytes(&name, body, &Hints::default())?;
                let outcome =
                    if result.is_ok() { MessageOutcome::Stored } else { MessageOutcome::Failed };
                store.record_imap_message(&key, folder, validity, uid, outcome, now())?;
                outcomes.push((uid, outcome));
            }
        }
        // Only now that the reports (or the failures, bytes and all) are
        // committed may the messages be touched on the server.
        ingester.commit()?;
        apply_actions(conn, store, &folder_ctx, &outcomes, summary)?;
    }
    store.prune_imap_messages(&key, folder, validity, &present)?;
    if !todo.is_empty() || !pending.is_empty() {
        let s = ingester.summary();
        log(format!(
            "{} {folder}: {} message(s) present, {} fetched; {} report(s) so far this run",
            account.label,
            present.len(),
            summary.messages_fetched,
            s.reports_new + s.reports_duplicate
        ));
    }
    Ok(())
}

/// Identifies a folder's state in the database.
struct FolderCtx<'a> {
    key: &'a str,
    folder: &'a str,
    validity: u32,
    account: &'a Account,
}

fn fetch_sizes(
    conn: &mut Connection,
    account: &Account,
    uids: &[u32],
) -> Result<BTreeMap<u32, u64>, FetchError> {
    let fetches = conn
        .session
        .uid_fetch(uid_set(uids), "(UID RFC822.SIZE)")
        .map_err(|e| imap_error(account, "reading message sizes", e))?;
    Ok(fetches.iter().filter_map(|f| Some((f.uid?, u64::from(f.size?)))).collect())
}

/// Moves or flags processed messages, then records that it is done.
fn apply_actions(
    conn: &mut Connection,
    store: &Store,
    ctx: &FolderCtx<'_>,
    items: &[(u32, MessageOutcome)],
    summary: &mut FetchSummary,
) -> Result<(), FetchError> {
    let account = ctx.account;
    let (ok, bad): (Vec<_>, Vec<_>) =
        items.iter().partition(|(_, outcome)| *outcome == MessageOutcome::Stored);
    let ok: Vec<u32> = ok.into_iter().map(|(uid, _)| uid).collect();
    let bad: Vec<u32> = bad.into_iter().map(|(uid, _)| uid).collect();
    for (uids, target, flags, archived) in [
        (&ok, &account.archive_folder, "\\Seen", true),
        (&bad, &account.error_folder, "\\Seen \\Flagged", false),
    ] {
        if uids.is_empty() {
            continue;
        }
        let set = uid_set(uids);
        let moved = uids.len() as u64;
        match target {
            Some(target) if target != ctx.folder => {
                move_messages(conn, account, &set, target)?;
                store.imap_messages_done(ctx.key, ctx.folder, ctx.validity, uids, true)?;
                if archived {
                    summary.messages_archived += moved;
                } else {
                    summary.messages_to_error_folder += moved;
                }
            }
            _ => {
                conn.session
                    .uid_store(&set, format!("+FLAGS.SILENT ({flags})"))
                    .map_err(|e| imap_error(account, "flagging messages", e))?;
                store.imap_messages_done(ctx.key, ctx.folder, ctx.validity, uids, false)?;
                summary.messages_flagged += moved;
            }
        }
    }
    Ok(())
}

/// MOVE where the server has it, else COPY + `\Deleted` + (UID) EXPUNGE.
fn move_messages(
    conn: &mut Connection,
    account: &Account,
    set: &str,
    target: &str,
) -> Result<(), FetchError> {
    ensure_folder(conn, account, target)?;
    let what = format!("moving messages to \"{target}\"");
    if conn.has_move {
        conn.session.uid_mv(set, target).map_err(|e| imap_error(account, &what, e))?;
        return Ok(());
    }
    conn.session.uid_copy(set, target).map_err(|e| imap_error(account, &what, e))?;
    conn.session
        .uid_store(set, "+FLAGS.SILENT (\\Deleted)")
        .map_err(|e| imap_error(account, &what, e))?;
    if conn.has_uidplus {
        conn.session.uid_expunge(set).map_err(|e| imap_error(account, &what, e))?;
    } else {
        // Without UIDPLUS, EXPUNGE also removes other messages marked
        // \Deleted in this folder; that is what \Deleted asks for.
        conn.session.expunge().map_err(|e| imap_error(account, &what, e))?;
    }
    Ok(())
}

/// Creates a folder unless it exists.
fn ensure_folder(conn: &mut Connection, account: &Account, folder: &str) -> Result<(), FetchError> {
    let exists = conn
        .session
        .list(None, Some(folder))
        .map_err(|e| imap_error(account, &format!("looking for folder \"{folder}\""), e))?
        .iter()
        .any(|n| n.name() == folder);
    if exists {
        return Ok(());
    }
    match conn.session.create(folder) {
        // Another client may have created it meanwhile.
        Err(e) if !describe_imap(&e).to_ascii_lowercase().contains("exist") => {
            Err(imap_error(account, &format!("creating folder \"{folder}\""), e))
        }
        _ => Ok(()),
    }
}

/// `1,2,5` (IMAP sequence sets).
fn uid_set(uids: &[u32]) -> String {
    uids.iter().map(u32::to_string).collect::<Vec<_>>().join(",")
}

/// An RFC 5092 style name for a message: where it came from, for errors.
fn message_name(account: &Account, folder: &str, validity: u32, uid: u32) -> String {
    format!("imap://{}@{}/{folder};UIDVALIDITY={validity}/;UID={uid}", account.user, account.host)
}

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}
