//! The connection under IMAP: TCP, TLS (implicit or after STARTTLS) and
//! the server's greeting, each with a short timeout, so that a TLS mode
//! that does not match the port fails in seconds with a hint instead of
//! hanging a cron job.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use imap::extensions::idle::SetReadTimeout;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, StreamOwned};

use super::FetchError;
use crate::config::{Account, TlsMode};

/// How long to wait for the server once the session is established.
pub(crate) const NETWORK_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a TCP connect may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the server may take to greet us (or to answer the TLS
/// handshake). A server that says nothing for this long is almost always
/// waiting for the other side of a TLS mode mismatch.
const GREETING_TIMEOUT: Duration = Duration::from_secs(8);

/// The connection: plain TCP or TLS over it.
pub enum Stream {
    /// No TLS (explicitly asked for).
    Plain(TcpStream),
    /// TLS (implicit or after STARTTLS).
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl Stream {
    fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => &s.sock,
        }
    }
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
        // A wait without limit would hang a cron job on a dead server.
        TcpStream::set_read_timeout(self.tcp(), timeout.or(Some(NETWORK_TIMEOUT)))
            .map_err(imap::Error::from)
    }
}

/// Opens the connection and reads the greeting: a client ready to log in.
/// `warn` receives warnings (plain text to a non-loopback host).
pub fn open(
    account: &Account,
    warn: &mut dyn FnMut(String),
) -> Result<imap::Client<Stream>, FetchError> {
    let (host, port) = (account.host.as_str(), account.port);
    let tcp = tcp_connect(host, port)?;
    let _ = tcp.set_read_timeout(Some(GREETING_TIMEOUT));
    // The same socket, to lift the short timeout once the server has spoken.
    let handle = tcp.try_clone().map_err(|e| FetchError::Connect {
        host: host.to_owned(),
        port,
        cause: e.to_string(),
    })?;
    let tls_error = |cause: String| FetchError::Tls { host: host.to_owned(), port, cause };
    let client = match account.tls {
        TlsMode::Implicit => {
            let tls = tls_wrap(tcp, account).map_err(tls_error)?;
            let mut client = imap::Client::new(Stream::Tls(Box::new(tls)));
            client.read_greeting().map_err(|e| greeting_error(account, &e))?;
            client
        }
        TlsMode::Starttls => {
            let mut tcp = tcp;
            starttls(&mut tcp, account)?;
            let tls = tls_wrap(tcp, account).map_err(tls_error)?;
            // RFC 3501 6.2.1: no new greeting after STARTTLS.
            imap::Client::new(Stream::Tls(Box::new(tls)))
        }
        TlsMode::Plain => {
            if !is_loopback(host) {
                warn(format!(
                    "{host}: plain-text IMAP to a host that is not loopback: the password crosses \
                     the network unencrypted (use tls = \"implicit\" or \"starttls\")"
                ));
            }
            let mut client = imap::Client::new(Stream::Plain(tcp));
            client.read_greeting().map_err(|e| greeting_error(account, &e))?;
            client
        }
    };
    let _ = handle.set_read_timeout(Some(NETWORK_TIMEOUT));
    Ok(client)
}

fn tcp_connect(host: &str, port: u16) -> Result<TcpStream, FetchError> {
    let fail = |cause: String| FetchError::Connect { host: host.to_owned(), port, cause };
    let addrs = (host, port).to_socket_addrs().map_err(|e| fail(format!("cannot resolve: {e}")))?;
    let mut last = String::from("the host name has no address");
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
            Ok(tcp) => {
                let _ = tcp.set_write_timeout(Some(NETWORK_TIMEOUT));
                return Ok(tcp);
            }
            Err(e) if is_timeout(&e) => {
                last = format!("no answer within {} s", CONNECT_TIMEOUT.as_secs());
            }
            Err(e) => last = e.to_string(),
        }
    }
    Err(fail(last))
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut)
}

/// What a silent server most likely means for this TLS mode.
fn silent_hint(account: &Account) -> String {
    let port = account.port;
    match account.tls {
        TlsMode::Starttls | TlsMode::Plain => format!(
            "the server sent no IMAP greeting within {} s: is port {port} implicit TLS (IMAPS)? \
             try --tls implicit (tls = \"implicit\")",
            GREETING_TIMEOUT.as_secs()
        ),
        TlsMode::Implicit => format!(
            "the server did not answer the TLS handshake within {} s: is port {port} plain IMAP? \
             try --tls starttls (tls = \"starttls\")",
            GREETING_TIMEOUT.as_secs()
        ),
    }
}

fn greeting_error(account: &Account, e: &imap::Error) -> FetchError {
    let cause = match e {
        imap::Error::Io(io) if is_timeout(io) => silent_hint(account),
        other => format!("reading the greeting: {}", super::describe_imap(other)),
    };
    FetchError::Imap { host: account.host.clone(), what: "connecting".to_owned(), cause }
}

/// Speaks the greeting and `STARTTLS` on the plain socket.
fn starttls(tcp: &mut TcpStream, account: &Account) -> Result<(), FetchError> {
    let fail =
        |cause: String| FetchError::Tls { host: account.host.clone(), port: account.port, cause };
    let greeting = match read_line(tcp) {
        Ok(line) => line,
        Err(e) if is_timeout(&e) => return Err(fail(silent_hint(account))),
        Err(e) => return Err(fail(format!("reading the greeting: {e}"))),
    };
    if !greeting.starts_with("* OK") {
        let shown: String =
            greeting.trim_end().chars().map(|c| if c.is_control() { '?' } else { c }).collect();
        return Err(fail(format!("unexpected greeting: {shown}")));
    }
    tcp.write_all(b"a0 STARTTLS\r\n").map_err(|e| fail(format!("sending STARTTLS: {e}")))?;
    loop {
        let line = read_line(tcp).map_err(|e| fail(format!("reading the STARTTLS answer: {e}")))?;
        if let Some(rest) = line.strip_prefix("a0 ") {
            if rest.starts_with("OK") {
                return Ok(());
            }
            return Err(fail(format!("the server refused STARTTLS: {}", rest.trim_end())));
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
/// problems and mode mismatches surface here with a clear message.
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
            if is_timeout(&e) {
                return silent_hint(account);
            }
            let text = e.to_string();
            if text.contains("corrupt message") || text.contains("InvalidContentType") {
                // A plain-text greeting ("* OK ...") read as a TLS record.
                return format!(
                    "the server answered in plain text, not TLS: is port {} plain IMAP? \
                     try --tls starttls (tls = \"starttls\")",
                    account.port
                );
            }
            let hint = if text.contains("certificate") {
                " (if the server uses a private CA, give its certificate with ca_file / --ca-file)"
            } else {
                ""
            };
            format!("{text}{hint}")
        })?;
    }
    Ok(tls)
}

/// The account's trust: system roots plus its `ca_file`.
pub(crate) fn tls_config(account: &Account) -> Result<Arc<ClientConfig>, String> {
    crate::tls::client_config(account.ca_file.as_deref())
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}
