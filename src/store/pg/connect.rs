//! Where a PostgreSQL database is and how to reach it: the URL, the
//! password (never from the URL or the command line) and TLS.
//!
//! `postgresql://USER@HOST:PORT/DBNAME?PARAMS` (or `postgres://`), with the
//! parameters:
//! - `sslmode`: `verify-full` (the default: TLS, the server's certificate
//!   checked against the trusted roots and its name against HOST) or
//!   `disable` (plain TCP, for a database on the same host or a private
//!   network). Other modes are refused: none of them checks whom it talks
//!   to.
//! - `sslrootcert`: a PEM file of the CA that signed the server's
//!   certificate (default: the system's roots).
//! - `password_file`: a file whose first line is the password.
//! - `passfile`: a password file in PostgreSQL's `.pgpass` format (default:
//!   `PGPASSFILE`, else `~/.pgpass`).
//! - `application_name`, `connect_timeout` (seconds).
//!
//! The password: `password_file`, else `PGPASSWORD`, else the matching line
//! of the `.pgpass` file, else none (trust or peer authentication). A
//! password written in the URL is refused, so that it never appears in a
//! command line, a process list or a log.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use postgres::config::SslMode;
use postgres::{Client, Config, NoTls};
use rustls::ClientConfig;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::store::StoreError;

/// A parsed database URL: everything needed to connect (again).
#[derive(Clone)]
pub struct Target {
    /// The URL without its parameters, to name the database in messages.
    pub display: String,
    host: String,
    port: u16,
    user: String,
    dbname: String,
    tls: bool,
    ca_file: Option<PathBuf>,
    password_file: Option<PathBuf>,
    passfile: Option<PathBuf>,
    application_name: String,
    connect_timeout: Duration,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.display)
    }
}

/// A database value with its password, if it holds one (after `user:` or
/// in a `password=` parameter), hidden: for messages about any value.
pub fn redact(value: &str) -> String {
    let Some((scheme, rest)) = value.split_once("://") else { return value.to_owned() };
    let (main, query) = match rest.split_once('?') {
        Some((m, q)) => (m, Some(q)),
        None => (rest, None),
    };
    let end = main.find('/').unwrap_or(main.len());
    let main = match main[..end].rfind('@') {
        Some(at) if main[..at].contains(':') => {
            let user = main[..at].split(':').next().unwrap_or_default();
            format!("{user}:***{}", &main[at..])
        }
        _ => main.to_owned(),
    };
    let mut out = format!("{scheme}://{main}");
    if let Some(query) = query {
        let params: Vec<String> =
            query
                .split('&')
                .map(|p| {
                    if p.starts_with("password=") {
                        "password=***".to_owned()
                    } else {
                        p.to_owned()
                    }
                })
                .collect();
        out.push('?');
        out.push_str(&params.join("&"));
    }
    out
}

fn bad(url: &str, reason: impl Into<String>) -> StoreError {
    StoreError::Open { path: redact(url), reason: reason.into() }
}

/// `%XX` escapes decoded.
fn decode(url: &str, s: &str) -> Result<String, StoreError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok());
            let Some(b) = hex else {
                return Err(bad(url, format!("`{s}` has a broken %-escape")));
            };
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| bad(url, format!("`{s}` is not UTF-8 once decoded")))
}

impl Target {
    /// Parses a `postgresql://` URL (see the module's documentation).
    pub fn parse(url: &str) -> Result<Target, StoreError> {
        let (_, rest) = url
            .split_once("://")
            .ok_or_else(|| bad(url, "not a postgresql://USER@HOST:PORT/DBNAME URL"))?;
        let (before_query, query) = match rest.split_once('?') {
            Some((a, q)) => (a, Some(q)),
            None => (rest, None),
        };
        let (authority, path) = match before_query.split_once('/') {
            Some((a, p)) => (a, p),
            None => (before_query, ""),
        };
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        if userinfo.is_some_and(|u| u.contains(':')) {
            return Err(bad(
                url,
                "the URL holds a password: remove it and give it with password_file=PATH, \
                 PGPASSFILE or ~/.pgpass, or PGPASSWORD (never on the command line)",
            ));
        }
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (h, after) = v6
                .split_once(']')
                .ok_or_else(|| bad(url, "an IPv6 address must be closed with `]`"))?;
            (h.to_owned(), after.strip_prefix(':'))
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h.to_owned(), Some(p)),
                None => (hostport.to_owned(), None),
            }
        };
        let host = decode(url, &host)?;
        let port = match port.filter(|p| !p.is_empty()) {
            Some(p) => {
                p.parse().map_err(|_| bad(url, format!("the port `{p}` is not a port number")))?
            }
            None => 5432,
        };
        let user = match userinfo.filter(|u| !u.is_empty()) {
            Some(u) => decode(url, u)?,
            None => std::env::var("PGUSER")
                .ok()
                .or_else(|| std::env::var("USER").ok())
                .filter(|u| !u.is_empty())
                .ok_or_else(|| bad(url, "no user: write it in the URL, postgresql://USER@HOST"))?,
        };
        let dbname = if path.is_empty() { user.clone() } else { decode(url, path)? };
        let mut target = Target {
            display: String::new(),
            host: if host.is_empty() { "/var/run/postgresql".to_owned() } else { host },
            port,
            user,
            dbname,
            tls: true,
            ca_file: None,
            password_file: None,
            passfile: None,
            application_name: "dmarc-report".to_owned(),
            connect_timeout: Duration::from_secs(30),
        };
        for pair in query.unwrap_or_default().split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = decode(url, value)?;
            match key {
                "sslmode" => {
                    target.tls = match value.as_str() {
                        "verify-full" => true,
                        "disable" => false,
                        other => {
                            return Err(bad(
                                url,
                                format!(
                                    "sslmode={other} is not supported: use verify-full (TLS with \
                                     the server's certificate and name checked; the default) or \
                                     disable"
                                ),
                            ));
                        }
                    }
                }
                "sslrootcert" => target.ca_file = Some(PathBuf::from(value)),
                "password_file" => target.password_file = Some(PathBuf::from(value)),
                "passfile" => target.passfile = Some(PathBuf::from(value)),
                "application_name" => target.application_name = value,
                "connect_timeout" => {
                    let secs: u64 = value.parse().map_err(|_| {
                        bad(url, format!("connect_timeout={value} is not a number of seconds"))
                    })?;
                    target.connect_timeout = Duration::from_secs(secs.max(1));
                }
                "password" => {
                    return Err(bad(
                        url,
                        "the URL holds a password: give it with password_file=PATH, PGPASSFILE \
                         or ~/.pgpass, or PGPASSWORD (never on the command line)",
                    ));
                }
                other => {
                    return Err(bad(
                        url,
                        format!(
                            "unknown parameter `{other}` (known: sslmode, sslrootcert, \
                             password_file, passfile, application_name, connect_timeout)"
                        ),
                    ));
                }
            }
        }
        if target.host.starts_with('/') {
            // A Unix socket: no TLS, nobody in between.
            target.tls = false;
        }
        let host_text = if target.host.contains(':') {
            format!("[{}]", target.host)
        } else if target.host.starts_with('/') {
            String::new()
        } else {
            target.host.clone()
        };
        target.display =
            format!("postgresql://{}@{}:{}/{}", target.user, host_text, target.port, target.dbname);
        Ok(target)
    }

    fn error(&self, reason: impl Into<String>) -> StoreError {
        StoreError::Open { path: self.display.clone(), reason: reason.into() }
    }

    /// The password, from the first source that has one (see the module's
    /// documentation).
    fn password(&self) -> Result<Option<String>, StoreError> {
        if let Some(file) = &self.password_file {
            let text = std::fs::read_to_string(file).map_err(|e| {
                self.error(format!("cannot read password_file {}: {e}", file.display()))
            })?;
            let line = text.lines().next().unwrap_or_default();
            if line.is_empty() {
                return Err(
                    self.error(format!("password_file {} has an empty first line", file.display()))
                );
            }
            return Ok(Some(line.to_owned()));
        }
        if let Some(pw) = std::env::var("PGPASSWORD").ok().filter(|p| !p.is_empty()) {
            return Ok(Some(pw));
        }
        let passfile = self
            .passfile
            .clone()
            .or_else(|| std::env::var_os("PGPASSFILE").map(PathBuf::from))
            .or_else(|| dirs::home_dir().map(|h| h.join(".pgpass")));
        match passfile {
            Some(file) if file.is_file() => {
                let text = std::fs::read_to_string(&file).map_err(|e| {
                    self.error(format!("cannot read the password file {}: {e}", file.display()))
                })?;
                Ok(pgpass_lookup(&text, &self.host, self.port, &self.dbname, &self.user))
            }
            _ => Ok(None),
        }
    }

    fn tls_config(&self) -> Result<ClientConfig, StoreError> {
        let mut roots = rustls::RootCertStore::empty();
        match &self.ca_file {
            Some(ca) => {
                let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(ca)
                    .and_then(|it| it.collect::<Result<_, _>>())
                    .map_err(|e| {
                        self.error(format!("cannot read sslrootcert {}: {e}", ca.display()))
                    })?;
                if certs.is_empty() {
                    return Err(self
                        .error(format!("sslrootcert {} holds no PEM certificate", ca.display())));
                }
                for cert in certs {
                    roots
                        .add(cert)
                        .map_err(|e| self.error(format!("sslrootcert {}: {e}", ca.display())))?;
                }
            }
            None => {
                for cert in rustls_native_certs::load_native_certs().certs {
                    let _ = roots.add(cert);
                }
                if roots.is_empty() {
                    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
                }
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        Ok(ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| self.error(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth())
    }

    /// Opens a connection.
    pub fn connect(&self) -> Result<Client, StoreError> {
        let mut config = Config::new();
        config
            .host(&self.host)
            .port(self.port)
            .user(&self.user)
            .dbname(&self.dbname)
            .application_name(&self.application_name)
            .connect_timeout(self.connect_timeout)
            .ssl_mode(if self.tls { SslMode::Require } else { SslMode::Disable });
        if let Some(pw) = self.password()? {
            config.password(pw);
        }
        let connected = if self.tls {
            config.connect(MakeRustlsConnect::new(self.tls_config()?))
        } else {
            config.connect(NoTls)
        };
        connected.map_err(|e| {
            let text = super::describe(&e);
            let hint = if text.contains("certificate") || text.contains("UnknownIssuer") {
                " (if the server uses a private CA, give its certificate with sslrootcert=PATH)"
            } else if text.contains("password") {
                " (give the password with password_file=PATH, PGPASSFILE/~/.pgpass or PGPASSWORD)"
            } else if text.contains("TLS") || text.contains("SSL") || text.contains("ssl") {
                " (a server without TLS on a trusted network: add ?sslmode=disable)"
            } else {
                ""
            };
            self.error(format!("{text}{hint}"))
        })
    }
}

/// The password of the first line of a `.pgpass` file that matches
/// (`host:port:database:user:password`, `*` matching anything, `\` escaping
/// `:` and `\`).
fn pgpass_lookup(text: &str, host: &str, port: u16, db: &str, user: &str) -> Option<String> {
    let host = if host.starts_with('/') { "localhost" } else { host };
    let port = port.to_string();
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let mut fields = Vec::with_capacity(5);
        let mut field = String::new();
        let mut chars = line.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => field.extend(chars.next()),
                ':' if fields.len() < 4 => fields.push(std::mem::take(&mut field)),
                c => field.push(c),
            }
        }
        fields.push(field);
        let [h, p, d, u, pw] = &fields[..] else { continue };
        let matches = |pattern: &str, value: &str| pattern == "*" || pattern == value;
        if matches(h, host) && matches(p, &port) && matches(d, db) && matches(u, user) {
            return Some(pw.clone());
        }
    }
    None
}

/// The path of a password-holding file given in a URL, for tests.
#[cfg(test)]
fn password_file_of(t: &Target) -> Option<&std::path::Path> {
    t.password_file.as_deref()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn a_url_gives_host_port_user_database_and_verified_tls_by_default() {
        let t = Target::parse("postgresql://dmarc@db.example:6432/reports").unwrap();
        assert_eq!((t.host.as_str(), t.port, t.user.as_str()), ("db.example", 6432, "dmarc"));
        assert_eq!(t.dbname, "reports");
        assert!(t.tls);
        assert_eq!(t.display, "postgresql://dmarc@db.example:6432/reports");
        let t = Target::parse(
            "postgres://a%40b@[::1]/d?sslmode=disable&password_file=/etc/pw&sslrootcert=/ca.pem",
        )
        .unwrap();
        assert_eq!((t.host.as_str(), t.port, t.user.as_str()), ("::1", 5432, "a@b"));
        assert!(!t.tls);
        assert_eq!(password_file_of(&t), Some(Path::new("/etc/pw")));
        assert_eq!(t.ca_file.as_deref(), Some(Path::new("/ca.pem")));
    }

    #[test]
    fn a_password_in_the_url_is_refused_and_never_repeated() {
        for url in ["postgresql://dmarc:s3cret@db/x", "postgresql://dmarc@db/x?password=s3cret"] {
            let e = Target::parse(url).unwrap_err().to_string();
            assert!(e.contains("password"), "{e}");
            assert!(!e.contains("s3cret"), "{e}");
        }
    }

    #[test]
    fn modes_that_do_not_verify_the_server_are_refused() {
        for mode in ["require", "prefer", "allow", "verify-ca"] {
            let e = Target::parse(&format!("postgresql://u@h/d?sslmode={mode}"))
                .unwrap_err()
                .to_string();
            assert!(e.contains("not supported"), "{e}");
        }
        assert!(Target::parse("postgresql://u@h/d?sslmod=disable").is_err());
    }

    #[test]
    fn pgpass_lines_match_with_wildcards_and_escapes() {
        let file = "# comment\nother:5432:*:u:no\nh:*:d:u:p\\:w\\\\1\n*:*:*:*:fallback\n";
        assert_eq!(pgpass_lookup(file, "h", 5432, "d", "u").as_deref(), Some("p:w\\1"));
        assert_eq!(pgpass_lookup(file, "x", 1, "y", "z").as_deref(), Some("fallback"));
        assert_eq!(pgpass_lookup("h:5432:d:u:pw\n", "h", 5433, "d", "u"), None);
    }
}
