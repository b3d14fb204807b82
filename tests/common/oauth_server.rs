//! A small OAuth 2.0 authorization server on loopback for the tests:
//! token endpoint (client credentials, refresh token with rotation,
//! device code, authorization code with PKCE S256), device authorization
//! endpoint (RFC 8628), authorization endpoint (answers with a redirect at
//! once, as a browser session that has already consented would) and an
//! RFC 7662 introspection endpoint for Dovecot's `oauth2` passdb. Access
//! tokens live as long as [`OAuthServer::set_lifetime`] says, so expiry
//! and renewal happen inside a test. Every token it issues is remembered,
//! so that tests can check that none leaks into output. With
//! [`OAuthServer::start_tls`] the provider's endpoints are served over
//! HTTPS with a certificate from a throwaway CA, while introspection for
//! Dovecot stays plain on loopback.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// The user every active token belongs to (the Dovecot harness's user).
pub const USER: &str = "dmarc";
/// The registered client.
pub const CLIENT_ID: &str = "dmarc-report-test-client";

#[derive(Default)]
struct State {
    access: HashMap<String, Instant>,
    refresh: HashMap<String, ()>,
    /// device_code -> (user_code, approved)
    devices: HashMap<String, (String, bool)>,
    /// code -> (challenge, redirect_uri)
    codes: HashMap<String, (String, String)>,
    /// One entry per successful grant: its grant_type.
    grants: Vec<String>,
    /// Introspections that answered active.
    active_introspections: usize,
    /// Every token and code issued.
    issued: Vec<String>,
    counter: u64,
}

/// The running server; stops with the test process.
pub struct OAuthServer {
    port: u16,
    /// The HTTPS port, when started with TLS.
    tls_port: Option<u16>,
    secret: String,
    lifetime: Arc<AtomicU64>,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
}

impl OAuthServer {
    /// Starts on a free loopback port. Access tokens last `lifetime_secs`.
    pub fn start(lifetime_secs: u64) -> OAuthServer {
        Self::start_with(lifetime_secs, None)
    }

    /// Like [`start`](Self::start), and the provider's endpoints also over
    /// HTTPS ([`base`](Self::base) names them) with `cert.pem`/`key.pem`.
    pub fn start_tls(lifetime_secs: u64, cert: &std::path::Path, key: &std::path::Path) -> Self {
        Self::start_with(lifetime_secs, Some(super::smtp::tls_server_config(cert, key)))
    }

    fn start_with(lifetime_secs: u64, tls: Option<Arc<rustls::ServerConfig>>) -> OAuthServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let tls_listener = tls.as_ref().map(|_| TcpListener::bind("127.0.0.1:0").unwrap());
        let tls_port = tls_listener.as_ref().map(|l| l.local_addr().unwrap().port());
        let secret = format!("client-Secret-{}-{port}", std::process::id());
        let server = OAuthServer {
            port,
            tls_port,
            secret: secret.clone(),
            lifetime: Arc::new(AtomicU64::new(lifetime_secs)),
            state: Arc::new(Mutex::new(State::default())),
            stop: Arc::new(AtomicBool::new(false)),
        };
        let listeners = std::iter::once((listener, None))
            .chain(tls_listener.map(|l| (l, tls.clone())))
            .collect::<Vec<_>>();
        for (listener, tls) in listeners {
            let (state, lifetime, stop, secret) = (
                server.state.clone(),
                server.lifetime.clone(),
                server.stop.clone(),
                secret.clone(),
            );
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                    let (state, lifetime, secret) =
                        (state.clone(), lifetime.clone(), secret.clone());
                    let tls = tls.clone();
                    std::thread::spawn(move || {
                        let _ = match tls {
                            Some(config) => {
                                let Ok(conn) = rustls::ServerConnection::new(config) else {
                                    return;
                                };
                                let stream = rustls::StreamOwned::new(conn, stream);
                                handle(stream, port, &state, &lifetime, &secret)
                            }
                            None => handle(stream, port, &state, &lifetime, &secret),
                        };
                    });
                }
            });
        }
        server
    }

    /// Where the provider's endpoints are: `https://127.0.0.1:PORT` when
    /// started with TLS, else `http://127.0.0.1:PORT`.
    pub fn base(&self) -> String {
        match self.tls_port {
            Some(port) => format!("https://127.0.0.1:{port}"),
            None => format!("http://127.0.0.1:{}", self.port),
        }
    }

    /// The introspection endpoint, for Dovecot.
    pub fn introspection_url(&self) -> String {
        format!("http://127.0.0.1:{}/introspect", self.port)
    }

    /// The client secret the server accepts.
    pub fn client_secret(&self) -> &str {
        &self.secret
    }

    /// Access tokens issued from now on last this long.
    pub fn set_lifetime(&self, secs: u64) {
        self.lifetime.store(secs, Ordering::Relaxed);
    }

    /// Approves the device authorization that showed `user_code`.
    pub fn approve_device(&self, user_code: &str) -> bool {
        let mut s = self.state.lock().unwrap();
        let mut found = false;
        for (code, approved) in s.devices.values_mut() {
            if code == user_code {
                *approved = true;
                found = true;
            }
        }
        found
    }

    /// Revokes every refresh token (a user who removed the consent).
    pub fn revoke_refresh_tokens(&self) {
        self.state.lock().unwrap().refresh.clear();
    }

    /// Successful grants of this type.
    pub fn grants(&self, grant_type: &str) -> usize {
        self.state.lock().unwrap().grants.iter().filter(|g| *g == grant_type).count()
    }

    /// Logins Dovecot let through (introspections answered active).
    pub fn active_introspections(&self) -> usize {
        self.state.lock().unwrap().active_introspections
    }

    /// Issues an access token directly (what a token command would print).
    pub fn issue_access_token(&self) -> String {
        let mut s = self.state.lock().unwrap();
        let lifetime = self.lifetime.load(Ordering::Relaxed);
        new_access(&mut s, lifetime)
    }

    /// Every secret that must never appear in output: the client secret
    /// and every token issued.
    pub fn secrets(&self) -> Vec<String> {
        let mut all = self.state.lock().unwrap().issued.clone();
        all.push(self.secret.clone());
        all
    }
}

impl Drop for OAuthServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for port in std::iter::once(self.port).chain(self.tls_port) {
            let _ = TcpStream::connect(("127.0.0.1", port));
        }
    }
}

fn fresh(s: &mut State, prefix: &str) -> String {
    s.counter += 1;
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    let token = format!("{prefix}-{}-{:x}{:08x}", s.counter, std::process::id(), nanos);
    s.issued.push(token.clone());
    token
}

fn new_access(s: &mut State, lifetime: u64) -> String {
    let token = fresh(s, "at");
    s.access.insert(token.clone(), Instant::now() + Duration::from_secs(lifetime));
    token
}

/// Access and refresh token answer.
fn tokens(s: &mut State, lifetime: u64, grant: &str, with_refresh: bool) -> (u16, String) {
    s.grants.push(grant.to_owned());
    let access = new_access(s, lifetime);
    let mut body = serde_json::json!({
        "access_token": access, "token_type": "Bearer", "expires_in": lifetime,
    });
    if with_refresh {
        let refresh = fresh(s, "rt");
        s.refresh.insert(refresh.clone(), ());
        body["refresh_token"] = serde_json::Value::String(refresh);
    }
    (200, body.to_string())
}

fn error(status: u16, code: &str, description: &str) -> (u16, String) {
    (status, serde_json::json!({"error": code, "error_description": description}).to_string())
}

fn handle<S: Read + Write>(
    stream: S,
    port: u16,
    state: &Mutex<State>,
    lifetime: &AtomicU64,
    secret: &str,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut length = 0usize;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? <= 2 {
            break;
        }
        if let Some((k, v)) = header.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body)?;
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let form =
        parse_form(if method == "GET" { query } else { std::str::from_utf8(&body).unwrap_or("") });
    let get = |k: &str| form.get(k).cloned().unwrap_or_default();
    let lifetime = lifetime.load(Ordering::Relaxed);
    let mut s = state.lock().unwrap();
    let (status, answer, location) = match (method, path) {
        ("POST", "/introspect") => {
            let active = s.access.get(&get("token")).is_some_and(|until| *until > Instant::now());
            if active {
                s.active_introspections += 1;
                (200, serde_json::json!({"active": true, "username": USER}).to_string(), None)
            } else {
                (200, serde_json::json!({"active": false}).to_string(), None)
            }
        }
        ("POST", "/device") if get("client_id") == CLIENT_ID => {
            let device = fresh(&mut s, "dc");
            s.counter += 1;
            let user_code = format!("WDJB-{:04}", s.counter % 10_000);
            s.devices.insert(device.clone(), (user_code.clone(), false));
            let body = serde_json::json!({
                "device_code": device, "user_code": user_code,
                "verification_uri": format!("http://127.0.0.1:{port}/verify"),
                "expires_in": 60, "interval": 1,
            });
            (200, body.to_string(), None)
        }
        ("GET", "/authorize") => {
            if get("client_id") != CLIENT_ID
                || get("response_type") != "code"
                || get("code_challenge_method") != "S256"
            {
                let (st, b) = error(400, "invalid_request", "bad authorization request");
                (st, b, None)
            } else {
                let code = fresh(&mut s, "code");
                let redirect = get("redirect_uri");
                s.codes.insert(code.clone(), (get("code_challenge"), redirect.clone()));
                let sep = if redirect.contains('?') { '&' } else { '?' };
                let location = format!("{redirect}{sep}code={code}&state={}", get("state"));
                (302, String::new(), Some(location))
            }
        }
        ("POST", "/token") => {
            let (st, b) = token(&mut s, &form, lifetime, secret);
            (st, b, None)
        }
        _ => (404, "{}".to_owned(), None),
    };
    drop(s);
    let reason = match status {
        200 => "OK",
        302 => "Found",
        400 => "Bad Request",
        401 => "Unauthorized",
        _ => "Not Found",
    };
    let location = location.map(|l| format!("Location: {l}\r\n")).unwrap_or_default();
    let stream = reader.get_mut();
    write!(
        stream,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n{location}\
         Content-Length: {}\r\nConnection: close\r\n\r\n{answer}",
        answer.len()
    )?;
    stream.flush()
}

fn token(
    s: &mut State,
    form: &HashMap<String, String>,
    lifetime: u64,
    secret: &str,
) -> (u16, String) {
    let get = |k: &str| form.get(k).cloned().unwrap_or_default();
    if get("client_id") != CLIENT_ID {
        return error(401, "invalid_client", "unknown client");
    }
    match get("grant_type").as_str() {
        "client_credentials" => {
            if get("client_secret") != secret {
                return error(
                    401,
                    "invalid_client",
                    "AADSTS7000215: Invalid client secret provided.",
                );
            }
            tokens(s, lifetime, "client_credentials", false)
        }
        "refresh_token" => {
            // Rotation: the old refresh token is spent.
            if s.refresh.remove(&get("refresh_token")).is_none() {
                return error(
                    400,
                    "invalid_grant",
                    "AADSTS700082: The refresh token has expired or was revoked.",
                );
            }
            tokens(s, lifetime, "refresh_token", true)
        }
        "urn:ietf:params:oauth:grant-type:device_code" => {
            let device = get("device_code");
            match s.devices.get(&device) {
                None => error(400, "expired_token", "unknown device code"),
                Some((_, false)) => error(400, "authorization_pending", "waiting for the user"),
                Some((_, true)) => {
                    s.devices.remove(&device);
                    tokens(s, lifetime, "device_code", true)
                }
            }
        }
        "authorization_code" => {
            let Some((challenge, redirect)) = s.codes.remove(&get("code")) else {
                return error(400, "invalid_grant", "unknown code");
            };
            let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(get("code_verifier").as_bytes()));
            if computed != challenge {
                return error(400, "invalid_grant", "PKCE verification failed");
            }
            if redirect != get("redirect_uri") {
                return error(400, "invalid_grant", "redirect_uri does not match");
            }
            tokens(s, lifetime, "authorization_code", true)
        }
        _ => error(400, "unsupported_grant_type", "unsupported grant type"),
    }
}

fn parse_form(text: &str) -> HashMap<String, String> {
    text.split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect()
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                out.push(u8::from_str_radix(hex, 16).unwrap_or(b'?'));
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A browser's GET: returns the status and the `Location` header.
pub fn http_get(url: &str) -> (u16, Option<String>) {
    let rest = url.strip_prefix("http://").expect("an http:// URL");
    let (hostport, path) =
        rest.split_once('/').map_or((rest, "/".to_owned()), |(h, p)| (h, format!("/{p}")));
    let mut stream = TcpStream::connect(hostport).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {hostport}\r\nConnection: close\r\n\r\n").unwrap();
    let mut text = String::new();
    let _ = stream.read_to_string(&mut text);
    let status = text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let location =
        text.lines().find_map(|l| l.strip_prefix("Location: ").map(|v| v.trim().to_owned()));
    (status, location)
}
