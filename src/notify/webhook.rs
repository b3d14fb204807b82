//! The webhook: one HTTP/1.1 `POST` of a JSON body per run, over TLS
//! (rustls, system roots plus `ca_file`) for `https://` URLs. Any 2xx
//! answer is success; anything else leaves the events pending.
//!
//! A small client of its own: one request, `Connection: close`, the status
//! line read and the rest ignored.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::Path;
use std::time::Duration;

use rustls::pki_types::ServerName;
use rustls::{ClientConnection, StreamOwned};

const TIMEOUT: Duration = Duration::from_secs(30);

/// Why a POST failed; the message names the URL and the cause.
#[derive(Debug, thiserror::Error)]
#[error("cannot post to the webhook {url}: {cause}")]
pub struct WebhookError {
    /// The URL, without user information.
    pub url: String,
    /// What went wrong.
    pub cause: String,
}

/// A parsed `http(s)://host[:port]/path` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Target {
    tls: bool,
    host: String,
    port: u16,
    /// Path and query, at least `/`.
    path: String,
}

fn parse(url: &str) -> Result<Target, String> {
    let (tls, rest) = if let Some(r) = url.strip_prefix("https://") {
        (true, r)
    } else if let Some(r) = url.strip_prefix("http://") {
        (false, r)
    } else {
        return Err("the URL must start with https:// or http://".to_owned());
    };
    let rest = rest.split('#').next().unwrap_or(rest);
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.contains('@') {
        return Err("user information in the URL is not supported; put a token in the path".into());
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6.split_once(']').ok_or("an IPv6 address lacks its ]")?;
        (h, after.strip_prefix(':'))
    } else {
        match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err("the URL has no host".to_owned());
    }
    let port = match port {
        Some(p) => p.parse::<u16>().map_err(|_| format!("\"{p}\" is not a port"))?,
        None if tls => 443,
        None => 80,
    };
    let path = if path.starts_with('?') { format!("/{path}") } else { path.to_owned() };
    if path.bytes().any(|b| b.is_ascii_control() || b == b' ') {
        return Err("the URL path has spaces or control characters".to_owned());
    }
    Ok(Target { tls, host: host.to_owned(), port, path })
}

/// POSTs `body` (JSON) to `url`; `ca_file` adds a private CA.
pub fn post(url: &str, body: &[u8], ca_file: Option<&Path>) -> Result<(), WebhookError> {
    let fail = |cause: String| WebhookError { url: url.to_owned(), cause };
    let target = parse(url).map_err(fail)?;
    let tcp = connect(&target.host, target.port).map_err(fail)?;
    let host_header = if target.host.contains(':') {
        format!("[{}]", target.host)
    } else if (target.tls && target.port == 443) || (!target.tls && target.port == 80) {
        target.host.clone()
    } else {
        format!("{}:{}", target.host, target.port)
    };
    let head = format!(
        "POST {} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: dmarc-report/{}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        target.path,
        env!("CARGO_PKG_VERSION"),
        body.len()
    );
    let status = if target.tls {
        let config = crate::tls::client_config(ca_file).map_err(fail)?;
        let name = ServerName::try_from(target.host.clone())
            .map_err(|e| fail(format!("\"{}\" is not a valid server name: {e}", target.host)))?;
        let conn = ClientConnection::new(config, name).map_err(|e| fail(e.to_string()))?;
        exchange(StreamOwned::new(conn, tcp), head.as_bytes(), body)
    } else {
        exchange(tcp, head.as_bytes(), body)
    }
    .map_err(|e| {
        let hint =
            if e.to_string().contains("certificate") { crate::tls::PRIVATE_CA_HINT } else { "" };
        fail(format!("{e}{hint}"))
    })?;
    let code = status.split_whitespace().nth(1).and_then(|c| c.parse::<u16>().ok());
    match code {
        Some(200..=299) => Ok(()),
        _ => Err(fail(format!("the server answered \"{}\"", status.trim_end()))),
    }
}

/// Sends the request and reads the status line.
fn exchange<S: Read + Write>(mut stream: S, head: &[u8], body: &[u8]) -> io::Result<String> {
    stream.write_all(head)?;
    stream.write_all(body)?;
    stream.flush()?;
    let mut reader = BufReader::new(stream.take(8192));
    let mut status = String::new();
    reader.read_line(&mut status)?;
    if status.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the server closed the connection",
        ));
    }
    Ok(status)
}

fn connect(host: &str, port: u16) -> Result<TcpStream, String> {
    let addrs =
        (host, port).to_socket_addrs().map_err(|e| format!("cannot resolve {host}: {e}"))?;
    let mut last = format!("{host} has no address");
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, TIMEOUT) {
            Ok(tcp) => {
                let _ = tcp.set_read_timeout(Some(TIMEOUT));
                let _ = tcp.set_write_timeout(Some(TIMEOUT));
                return Ok(tcp);
            }
            Err(e) => last = format!("cannot connect to {addr}: {e}"),
        }
    }
    Err(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_give_host_port_and_path() {
        let t = parse("https://hooks.example.com/dmarc?x=1").unwrap();
        assert_eq!(
            (t.tls, t.host.as_str(), t.port, t.path.as_str()),
            (true, "hooks.example.com", 443, "/dmarc?x=1")
        );
        let t = parse("http://127.0.0.1:8080").unwrap();
        assert_eq!((t.tls, t.port, t.path.as_str()), (false, 8080, "/"));
        let t = parse("http://[::1]:9/h").unwrap();
        assert_eq!(t.host, "::1");
        assert!(parse("ftp://x/").is_err());
        assert!(parse("https://u:p@x/").is_err());
        assert!(parse("https://x:99999/").is_err());
        assert!(parse("https://x/a b").is_err());
    }
}
