//! OAuth2 access tokens for IMAP (XOAUTH2 / OAUTHBEARER).
//!
//! Flows: client credentials (app-only, no person: the cron path), the
//! device authorization grant (RFC 8628) and the authorization code grant
//! with PKCE (RFC 7636) and a loopback redirect (RFC 8252). The last two
//! need a person once (`dmarc-report auth login`); afterwards the refresh
//! token kept in the token file renews the access token unattended, and a
//! rotated refresh token replaces the old one.
//!
//! The token file is created with mode 0600 and replaced atomically.
//! Secrets (client secret, refresh and access tokens) never appear in
//! messages: errors carry the provider's error code and description only.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::{Account, Auth, ConfigError, ConfigErrorKind, Flow, OAuth2, Provider};

/// An access token is renewed when it has less than this left.
pub const RENEW_MARGIN: Duration = Duration::from_secs(60);
/// How long a request to the identity provider may take.
const HTTP_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest answer read from the identity provider.
const MAX_ANSWER: u64 = 1 << 20;
/// How long `auth login` waits for the browser's redirect.
const CODE_WAIT: Duration = Duration::from_secs(600);

/// Why no access token could be had. The messages name the account and
/// say what to do; they never hold a secret.
#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    /// A person has to sign in first.
    #[error(
        "{account}: no OAuth2 token yet ({flow} flow): sign in once with `dmarc-report auth login --account {selector}`"
    )]
    NeedsLogin {
        /// The account's label.
        account: String,
        /// What `--account` takes.
        selector: String,
        /// The configured flow.
        flow: Flow,
    },
    /// The refresh token was revoked or has expired.
    #[error(
        "{account}: the identity provider refused the refresh token ({code}: {description}); sign in again with `dmarc-report auth login --account {selector}`"
    )]
    Revoked {
        /// The account's label.
        account: String,
        /// What `--account` takes.
        selector: String,
        /// The provider's error code.
        code: String,
        /// The provider's description.
        description: String,
    },
    /// The identity provider refused the request (a wrong client secret,
    /// consent not given, ...).
    #[error("{account}: the identity provider refused the token request: {code}: {description}")]
    Provider {
        /// The account's label.
        account: String,
        /// The provider's error code.
        code: String,
        /// The provider's description.
        description: String,
    },
    /// The identity provider could not be reached or answered nonsense.
    #[error("{account}: {url}: {cause}")]
    Http {
        /// The account's label.
        account: String,
        /// The endpoint (no query, no secret).
        url: String,
        /// What went wrong.
        cause: String,
    },
    /// The token file could not be read or written.
    #[error("token file {path}: {cause}")]
    TokenFile {
        /// The token file's path.
        path: PathBuf,
        /// What went wrong.
        cause: String,
    },
    /// `oauth2_token_command` failed.
    #[error("{account}: oauth2_token_command {cause}")]
    Command {
        /// The account's label.
        account: String,
        /// What went wrong (never its output).
        cause: String,
    },
    /// A sign-in did not complete.
    #[error("{account}: sign-in failed: {cause}")]
    Login {
        /// The account's label.
        account: String,
        /// What went wrong.
        cause: String,
    },
    /// A setting is missing or wrong.
    #[error("{0}")]
    Config(#[from] ConfigError),
}

/// An access token and when it expires (Unix seconds), if known.
#[derive(Clone)]
pub struct AccessToken {
    /// The token itself: never print it.
    pub secret: String,
    /// When it expires.
    pub expires_at: Option<i64>,
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AccessToken(<hidden>, expires_at: {:?})", self.expires_at)
    }
}

/// What the token file holds.
#[derive(Default, Clone, Serialize, Deserialize)]
struct Stored {
    flow: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    access_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
    #[serde(default)]
    scope: String,
    #[serde(default)]
    updated_at: i64,
}

/// The token endpoint's answer (RFC 6749 5.1 / 5.2).
#[derive(Deserialize)]
struct TokenAnswer {
    access_token: Option<String>,
    expires_in: Option<serde_json::Value>,
    refresh_token: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// The OAuth2 settings of an account that uses OAuth2.
pub fn settings(account: &Account) -> Option<&OAuth2> {
    match &account.auth {
        Auth::OAuth2(o) => Some(o),
        Auth::Password(_) => None,
    }
}

/// Gives an account's access token: from `oauth2_token_command`, from the
/// token file while it is fresh, else renewed (client credentials or the
/// refresh token) and saved.
pub fn access_token(account: &Account, oauth: &OAuth2) -> Result<AccessToken, OAuthError> {
    if let Some(command) = &oauth.token_command {
        return run_token_command(account, command);
    }
    let mut stored = read_token_file(&oauth.token_file)?.unwrap_or_default();
    if let (Some(token), Some(expires_at)) = (&stored.access_token, stored.expires_at)
        && expires_at - now() > RENEW_MARGIN.as_secs() as i64
    {
        return Ok(AccessToken { secret: token.clone(), expires_at: Some(expires_at) });
    }
    let client = Client::new(account, oauth)?;
    let answer = match oauth.flow {
        Flow::ClientCredentials => {
            let secret = client_secret(oauth)?.ok_or_else(|| {
                ConfigError::new(
                    ConfigErrorKind::Invalid,
                    format!("{}: client credentials need a client secret", account.label),
                )
            })?;
            client.token(
                &[
                    ("grant_type", "client_credentials"),
                    ("client_id", &oauth.client_id),
                    ("client_secret", &secret),
                    ("scope", &oauth.scope),
                ],
                false,
            )?
        }
        Flow::DeviceCode | Flow::AuthorizationCode => {
            let Some(refresh) = stored.refresh_token.clone() else {
                return Err(OAuthError::NeedsLogin {
                    account: account.label.clone(),
                    selector: selector(account),
                    flow: oauth.flow,
                });
            };
            let secret = client_secret(oauth)?;
            let mut form = vec![
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh.as_str()),
                ("client_id", oauth.client_id.as_str()),
            ];
            if let Some(secret) = &secret {
                form.push(("client_secret", secret));
            }
            client.token(&form, true)?
        }
    };
    stored.flow = oauth.flow.to_string();
    stored.scope = oauth.scope.clone();
    let token = keep(&mut stored, answer, &client)?;
    write_token_file(&oauth.token_file, &stored)?;
    Ok(token)
}

/// Takes a successful answer into `stored` (a rotated refresh token
/// replaces the old one).
fn keep(
    stored: &mut Stored,
    answer: TokenAnswer,
    client: &Client<'_>,
) -> Result<AccessToken, OAuthError> {
    let secret = answer
        .access_token
        .filter(|t| !t.is_empty())
        .ok_or_else(|| client.http_error("the answer holds no access_token"))?;
    let expires_in = match &answer.expires_in {
        Some(serde_json::Value::Number(n)) => n.as_i64(),
        Some(serde_json::Value::String(s)) => s.parse().ok(),
        _ => None,
    };
    let expires_at = expires_in.map(|s| now() + s);
    stored.access_token = Some(secret.clone());
    stored.expires_at = expires_at;
    if let Some(rotated) = answer.refresh_token.filter(|t| !t.is_empty()) {
        stored.refresh_token = Some(rotated);
    }
    stored.updated_at = now();
    Ok(AccessToken { secret, expires_at })
}

/// What `--account` takes for this account: its name, else its host.
fn selector(account: &Account) -> String {
    match &account.auth {
        Auth::OAuth2(o) if !o.selector.is_empty() => o.selector.clone(),
        _ => account.host.clone(),
    }
}

fn client_secret(oauth: &OAuth2) -> Result<Option<String>, ConfigError> {
    oauth.client_secret.as_ref().map(|s| s.read_as("client secret")).transpose()
}

/// Runs `oauth2_token_command` through the shell; its first line of
/// output is the token. Its standard error goes to ours.
fn run_token_command(account: &Account, command: &str) -> Result<AccessToken, OAuthError> {
    let fail = |cause: String| OAuthError::Command { account: account.label.clone(), cause };
    let out = std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(command)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| fail(format!("cannot be run: {e}")))?;
    if !out.status.success() {
        return Err(fail(format!("failed ({})", out.status)));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let token = text.lines().next().unwrap_or_default().trim();
    if token.is_empty() {
        return Err(fail("printed no token".to_owned()));
    }
    Ok(AccessToken { secret: token.to_owned(), expires_at: None })
}

/// The identity provider is trusted like the IMAP server: the system's
/// roots plus the account's `ca_file` (an in-house provider behind a
/// private CA). Where the system has no roots and no `ca_file` is given,
/// Mozilla's roots compiled into ureq.
fn tls_config(ca_file: Option<&std::path::Path>) -> Result<ureq::tls::TlsConfig, String> {
    use ureq::tls::{Certificate, RootCerts, TlsConfig};
    let mut certs = crate::tls::system_certificates();
    if let Some(ca) = ca_file {
        certs.extend(crate::tls::ca_file_certificates(ca)?);
    }
    let roots = if certs.is_empty() {
        RootCerts::WebPki
    } else {
        RootCerts::Specific(Arc::new(
            certs.iter().map(|der| Certificate::from_der(der).to_owned()).collect(),
        ))
    };
    Ok(TlsConfig::builder()
        .root_certs(roots)
        .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .build())
}

/// Whether the provider's certificate was refused (ureq reports it as
/// rustls' error, directly or inside an I/O error).
fn refused_certificate(e: &ureq::Error) -> bool {
    let tls = match e {
        ureq::Error::Rustls(tls) => Some(tls),
        ureq::Error::Io(io) => io.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()),
        _ => None,
    };
    matches!(tls, Some(rustls::Error::InvalidCertificate(_)))
}

/// Talks to the identity provider's endpoints.
struct Client<'a> {
    account: &'a Account,
    oauth: &'a OAuth2,
    agent: ureq::Agent,
}

impl<'a> Client<'a> {
    fn new(account: &'a Account, oauth: &'a OAuth2) -> Result<Self, OAuthError> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(HTTP_TIMEOUT))
            .max_redirects(0)
            .tls_config(tls_config(account.ca_file.as_deref()).map_err(|cause| {
                OAuthError::Http {
                    account: account.label.clone(),
                    url: oauth.token_url.clone(),
                    cause,
                }
            })?)
            .build()
            .into();
        Ok(Client { account, oauth, agent })
    }

    fn http_error(&self, cause: impl Into<String>) -> OAuthError {
        OAuthError::Http {
            account: self.account.label.clone(),
            url: self.oauth.token_url.clone(),
            cause: cause.into(),
        }
    }

    /// POSTs a form to `url` and returns the JSON answer, whatever the
    /// status (errors are JSON too, RFC 6749 5.2).
    fn post(&self, url: &str, form: &[(&str, &str)]) -> Result<serde_json::Value, OAuthError> {
        let fail = |cause: String| OAuthError::Http {
            account: self.account.label.clone(),
            url: url.to_owned(),
            cause,
        };
        check_url(url).map_err(&fail)?;
        let mut answer = self
            .agent
            .post(url)
            .header("Accept", "application/json")
            .send_form(form.iter().copied())
            .map_err(|e| {
                let hint = if refused_certificate(&e) { crate::tls::PRIVATE_CA_HINT } else { "" };
                fail(format!("cannot reach it: {e}{hint}"))
            })?;
        let status = answer.status();
        let body = answer
            .body_mut()
            .with_config()
            .limit(MAX_ANSWER)
            .read_to_string()
            .map_err(|e| fail(format!("reading the answer: {e}")))?;
        serde_json::from_str(&body)
            .map_err(|_| fail(format!("the answer (HTTP {}) is not JSON", status.as_u16())))
    }

    /// A token request. `refreshing`: an `invalid_grant` means the refresh
    /// token is gone and a person must sign in again.
    fn token(&self, form: &[(&str, &str)], refreshing: bool) -> Result<TokenAnswer, OAuthError> {
        let value = self.post(&self.oauth.token_url, form)?;
        let answer: TokenAnswer = serde_json::from_value(value)
            .map_err(|_| self.http_error("the answer is not an OAuth2 token answer"))?;
        if let Some(code) = answer.error.clone() {
            let description = first_line(answer.error_description.as_deref().unwrap_or(""));
            if refreshing && code == "invalid_grant" {
                return Err(OAuthError::Revoked {
                    account: self.account.label.clone(),
                    selector: selector(self.account),
                    code,
                    description,
                });
            }
            return Err(OAuthError::Provider {
                account: self.account.label.clone(),
                code,
                description,
            });
        }
        Ok(answer)
    }
}

/// Secrets go over TLS only, except to this machine.
fn check_url(url: &str) -> Result<(), String> {
    let lower = url.to_ascii_lowercase();
    if lower.starts_with("https://") {
        return Ok(());
    }
    if let Some(rest) = lower.strip_prefix("http://") {
        let host = rest.split(['/', '?']).next().unwrap_or_default();
        let host = host.rsplit_once(':').map_or(host, |(h, _)| h);
        if matches!(host, "127.0.0.1" | "localhost" | "[::1]") {
            return Ok(());
        }
    }
    Err("OAuth2 endpoints must be https:// (plain http only to this machine)".to_owned())
}

/// Provider descriptions can run over many lines (trace ids and all).
fn first_line(text: &str) -> String {
    let line = text.lines().next().unwrap_or_default().trim();
    if line.is_empty() { "no description".to_owned() } else { line.to_owned() }
}

/// What `auth login` may do.
pub struct LoginOptions {
    /// Print the URL instead of opening a browser.
    pub no_browser: bool,
}

/// Signs in once (device code or authorization code; for client
/// credentials, checks that a token can be had) and keeps the tokens in
/// the token file. Instructions for the person go to `out`.
pub fn login(
    account: &Account,
    oauth: &OAuth2,
    options: &LoginOptions,
    out: &mut dyn Write,
) -> Result<AccessToken, OAuthError> {
    if oauth.token_command.is_some() {
        return Err(ConfigError::new(
            ConfigErrorKind::Invalid,
            format!(
                "{}: oauth2_token_command gives the tokens; there is nothing to sign in to",
                account.label
            ),
        )
        .into());
    }
    let client = Client::new(account, oauth)?;
    let answer = match oauth.flow {
        Flow::ClientCredentials => {
            // Nothing to consent to: get a token now to prove the settings.
            let _ = std::fs::remove_file(&oauth.token_file);
            return access_token(account, oauth);
        }
        Flow::DeviceCode => device_code(&client, out)?,
        Flow::AuthorizationCode => authorization_code(&client, options, out)?,
    };
    let mut stored =
        Stored { flow: oauth.flow.to_string(), scope: oauth.scope.clone(), ..Stored::default() };
    let token = keep(&mut stored, answer, &client)?;
    if stored.refresh_token.is_none() {
        let _ = writeln!(
            out,
            "warning: the identity provider gave no refresh token (ask for offline access in the \
             scope); fetch will need a new sign-in when this token expires"
        );
    }
    write_token_file(&oauth.token_file, &stored)?;
    Ok(token)
}

fn login_error(client: &Client<'_>, cause: impl Into<String>) -> OAuthError {
    OAuthError::Login { account: client.account.label.clone(), cause: cause.into() }
}

/// RFC 8628: show the code, then poll the token endpoint.
fn device_code(client: &Client<'_>, out: &mut dyn Write) -> Result<TokenAnswer, OAuthError> {
    let oauth = client.oauth;
    let url = oauth.device_url.as_deref().ok_or_else(|| {
        ConfigError::new(
            ConfigErrorKind::Invalid,
            format!("{}: the device code flow needs oauth2_device_url", client.account.label),
        )
    })?;
    let secret = client_secret(oauth)?;
    let mut form = vec![("client_id", oauth.client_id.as_str()), ("scope", oauth.scope.as_str())];
    if let Some(secret) = &secret {
        form.push(("client_secret", secret));
    }
    let answer = client.post(url, &form)?;
    let text = |key: &str| answer.get(key).and_then(|v| v.as_str()).map(str::to_owned);
    let number =
        |key: &str| answer.get(key).and_then(|v| v.as_u64().or_else(|| v.as_str()?.parse().ok()));
    if let Some(code) = text("error") {
        return Err(OAuthError::Provider {
            account: client.account.label.clone(),
            code,
            description: first_line(&text("error_description").unwrap_or_default()),
        });
    }
    let (Some(device_code), Some(user_code)) = (text("device_code"), text("user_code")) else {
        return Err(login_error(
            client,
            "the device authorization answer has no device_code or user_code",
        ));
    };
    // Google calls it verification_url.
    let Some(verification) = text("verification_uri").or_else(|| text("verification_url")) else {
        return Err(login_error(client, "the device authorization answer has no verification_uri"));
    };
    let mut interval = Duration::from_secs(number("interval").unwrap_or(5).max(1));
    let lifetime = Duration::from_secs(number("expires_in").unwrap_or(900));
    let _ = writeln!(out, "To sign in, open {verification}");
    let _ = writeln!(out, "and enter the code {user_code}");
    if let Some(complete) = text("verification_uri_complete") {
        let _ = writeln!(out, "(or open {complete})");
    }
    let _ = writeln!(
        out,
        "Waiting for the sign-in (up to {} minutes)...",
        lifetime.as_secs().div_ceil(60)
    );
    let _ = out.flush();
    let deadline = Instant::now() + lifetime;
    let mut form = vec![
        ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
        ("device_code", device_code.as_str()),
        ("client_id", oauth.client_id.as_str()),
    ];
    if let Some(secret) = &secret {
        form.push(("client_secret", secret));
    }
    loop {
        std::thread::sleep(interval);
        if Instant::now() > deadline {
            return Err(login_error(
                client,
                "the code expired before the sign-in completed; run auth login again",
            ));
        }
        match client.token(&form, false) {
            Ok(answer) => return Ok(answer),
            Err(OAuthError::Provider { code, .. }) if code == "authorization_pending" => {}
            Err(OAuthError::Provider { code, .. }) if code == "slow_down" => {
                interval += Duration::from_secs(5);
            }
            Err(e) => return Err(e),
        }
    }
}

/// The authorization code grant with PKCE: the browser comes back to a
/// listener on 127.0.0.1.
fn authorization_code(
    client: &Client<'_>,
    options: &LoginOptions,
    out: &mut dyn Write,
) -> Result<TokenAnswer, OAuthError> {
    let oauth = client.oauth;
    let auth_url = oauth.auth_url.as_deref().ok_or_else(|| {
        ConfigError::new(
            ConfigErrorKind::Invalid,
            format!("{}: the code flow needs oauth2_auth_url", client.account.label),
        )
    })?;
    check_url(auth_url).map_err(|e| login_error(client, e))?;
    let listener = TcpListener::bind("127.0.0.1:0")
        .map_err(|e| login_error(client, format!("cannot listen on 127.0.0.1: {e}")))?;
    let port = listener.local_addr().map_err(|e| login_error(client, e.to_string()))?.port();
    let redirect = format!("http://127.0.0.1:{port}/");
    let verifier = random_token(client)?;
    let state = random_token(client)?;
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let mut params = vec![
        ("response_type", "code"),
        ("client_id", oauth.client_id.as_str()),
        ("redirect_uri", redirect.as_str()),
        ("scope", oauth.scope.as_str()),
        ("state", state.as_str()),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    if oauth.provider == Provider::Google {
        // Without these Google gives no refresh token.
        params.push(("access_type", "offline"));
        params.push(("prompt", "consent"));
    }
    let query: Vec<String> =
        params.iter().map(|(k, v)| format!("{k}={}", percent_encode(v))).collect();
    let sep = if auth_url.contains('?') { '&' } else { '?' };
    let url = format!("{auth_url}{sep}{}", query.join("&"));
    let _ = writeln!(out, "To sign in, open this address in a browser on this machine:");
    let _ = writeln!(out, "{url}");
    if !options.no_browser {
        open_browser(&url);
    }
    let _ =
        writeln!(out, "Waiting for the sign-in (up to {} minutes)...", CODE_WAIT.as_secs() / 60);
    let _ = out.flush();
    let code = wait_for_code(client, &listener, &state)?;
    let secret = client_secret(oauth)?;
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", redirect.as_str()),
        ("client_id", oauth.client_id.as_str()),
        ("code_verifier", verifier.as_str()),
    ];
    if let Some(secret) = &secret {
        form.push(("client_secret", secret));
    }
    client.token(&form, false)
}

/// Accepts connections until one carries the authorization answer.
fn wait_for_code(
    client: &Client<'_>,
    listener: &TcpListener,
    state: &str,
) -> Result<String, OAuthError> {
    let deadline = Instant::now() + CODE_WAIT;
    listener.set_nonblocking(true).map_err(|e| login_error(client, e.to_string()))?;
    loop {
        if Instant::now() > deadline {
            return Err(login_error(
                client,
                "no answer from the browser in time; run auth login again",
            ));
        }
        let mut stream = match listener.accept() {
            Ok((stream, _)) => stream,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
            Err(e) => return Err(login_error(client, e.to_string())),
        };
        let _ = stream.set_nonblocking(false);
        let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
        let Some(target) = request_target(&mut stream) else { continue };
        let Some(query) = target.split_once('?').map(|(_, q)| q.to_owned()) else {
            respond(&mut stream, "404 Not Found", "Nothing here.");
            continue;
        };
        let params: Vec<(String, String)> = query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (percent_decode(k), percent_decode(v)))
            .collect();
        let get = |key: &str| params.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
        if get("state").as_deref() != Some(state) {
            respond(&mut stream, "400 Bad Request", "This answer is not for this sign-in.");
            continue;
        }
        if let Some(error) = get("error") {
            respond(&mut stream, "200 OK", "The sign-in was refused; see the terminal.");
            let description = first_line(&get("error_description").unwrap_or_default());
            return Err(OAuthError::Provider {
                account: client.account.label.clone(),
                code: error,
                description,
            });
        }
        let Some(code) = get("code") else {
            respond(&mut stream, "400 Bad Request", "No authorization code.");
            continue;
        };
        respond(&mut stream, "200 OK", "Signed in. You can close this window.");
        return Ok(code);
    }
}

/// The request target of an HTTP GET (the rest of the request is read
/// and dropped).
fn request_target(stream: &mut TcpStream) -> Option<String> {
    let mut reader = BufReader::new(stream.try_clone().ok()?.take(16 * 1024));
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut header = String::new();
    while reader.read_line(&mut header).ok()? > 2 {
        header.clear();
    }
    let mut parts = line.split_whitespace();
    (parts.next()? == "GET").then(|| parts.next().map(str::to_owned))?
}

fn respond(stream: &mut TcpStream, status: &str, text: &str) {
    let body =
        format!("<!doctype html><meta charset=utf-8><title>dmarc-report</title><p>{text}</p>\n");
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
}

fn open_browser(url: &str) {
    let opener = if cfg!(target_os = "macos") { "open" } else { "xdg-open" };
    let _ = std::process::Command::new(opener)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
}

/// 32 random bytes, base64url: a PKCE verifier or a state.
fn random_token(client: &Client<'_>) -> Result<String, OAuthError> {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 32];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| login_error(client, "no random numbers from the system"))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn percent_decode(text: &str) -> String {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(hi), Some(lo)) => {
                    out.push(hi * 16 + lo);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The token file, if there is one.
fn read_token_file(path: &Path) -> Result<Option<Stored>, OAuthError> {
    let fail = |cause: String| OAuthError::TokenFile { path: path.to_path_buf(), cause };
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(fail(format!("cannot read: {e}"))),
    };
    serde_json::from_str(&text).map(Some).map_err(|_| {
        fail("not a dmarc-report token file (sign in again with auth login)".to_owned())
    })
}

/// Writes the token file atomically (a temporary file, mode 0600 from
/// its creation, synced, then renamed over the old one).
fn write_token_file(path: &Path, stored: &Stored) -> Result<(), OAuthError> {
    use std::os::unix::fs::OpenOptionsExt;
    let fail = |cause: String| OAuthError::TokenFile { path: path.to_path_buf(), cause };
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| fail(format!("cannot create its folder: {e}")))?;
    }
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let text = serde_json::to_string_pretty(stored).map_err(|e| fail(e.to_string()))? + "\n";
    let result = (|| -> std::io::Result<()> {
        let mut file =
            std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)?;
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(fail(format!("cannot write: {e}")));
    }
    Ok(())
}

/// One account's state for `auth status`: never a token.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// The account's label.
    pub account: String,
    /// `password`, or the OAuth2 flow (`token_command` when a command gives tokens).
    pub auth: String,
    /// The token file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_file: Option<PathBuf>,
    /// Whether a refresh token is stored.
    pub refresh_token: bool,
    /// When the stored access token expires (Unix seconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_token_expires_at: Option<i64>,
    /// A problem with the token file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// What is stored for an account.
pub fn status(account: &Account) -> Status {
    let mut status = Status {
        account: account.label.clone(),
        auth: "password".to_owned(),
        token_file: None,
        refresh_token: false,
        access_token_expires_at: None,
        problem: None,
    };
    let Some(oauth) = settings(account) else { return status };
    if oauth.token_command.is_some() {
        status.auth = "oauth2 token_command".to_owned();
        return status;
    }
    status.auth = format!("oauth2 {}", oauth.flow);
    status.token_file = Some(oauth.token_file.clone());
    match read_token_file(&oauth.token_file) {
        Ok(Some(stored)) => {
            status.refresh_token = stored.refresh_token.is_some();
            status.access_token_expires_at = stored.access_token.and(stored.expires_at);
        }
        Ok(None) => {}
        Err(e) => status.problem = Some(e.to_string()),
    }
    status
}

/// Unix seconds now.
pub fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_encoding_round_trips_what_a_redirect_carries() {
        let text = "a b/c?d=e&f~g.h-i_j%";
        assert_eq!(percent_encode(text), "a%20b%2Fc%3Fd%3De%26f~g.h-i_j%25");
        assert_eq!(percent_decode(&percent_encode(text)), text);
        assert_eq!(percent_decode("x+y%2"), "x y%2");
        assert_eq!(percent_decode("%é%zz"), "%é%zz");
    }

    #[test]
    fn secrets_go_to_https_or_this_machine_only() {
        assert!(check_url("https://login.microsoftonline.com/x/oauth2/v2.0/token").is_ok());
        assert!(check_url("http://127.0.0.1:8080/token").is_ok());
        assert!(check_url("http://localhost/token").is_ok());
        assert!(check_url("http://idp.example.com/token").is_err());
        assert!(check_url("http://127.0.0.1.evil.example/token").is_err());
    }

    #[test]
    fn the_token_file_is_private_and_replaced_whole() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens/a.json");
        let stored = Stored {
            flow: "device_code".into(),
            refresh_token: Some("r1".into()),
            ..Stored::default()
        };
        write_token_file(&path, &stored).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let again = Stored { refresh_token: Some("r2".into()), ..stored };
        write_token_file(&path, &again).unwrap();
        let read = read_token_file(&path).unwrap().unwrap();
        assert_eq!(read.refresh_token.as_deref(), Some("r2"));
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(names.len(), 1, "no temporary file left behind");
    }
}
