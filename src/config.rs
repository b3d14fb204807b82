//! Settings from a TOML file: IMAP accounts for `fetch` (each setting
//! overridable by command-line flags and `DMARC_REPORT_*` environment
//! variables), and for `summary`/`report` the user's known senders, the
//! readiness thresholds and each domain's rua address.
//!
//! ```toml
//! database = "/var/lib/dmarc-report/dmarc.db"   # optional
//!
//! [[account]]
//! name = "rua"                           # optional label for messages and --account
//! host = "imap.example.com"
//! port = 993                             # default: 993 for tls = "implicit", 143 otherwise
//! tls = "implicit"                       # implicit | starttls | plain
//! user = "dmarc@example.com"
//! password_file = "/etc/dmarc-report/imap-password"   # or password_env = "VARIABLE"
//! ca_file = "/etc/ssl/private-ca.pem"    # optional, added to the system roots
//! folders = ["INBOX"]                    # default ["INBOX"]
//! archive_folder = "DMARC/Processed"     # optional; else processed mail is flagged \Seen
//! error_folder = "DMARC/Failed"          # optional
//! max_message_size = "64M"               # optional
//! batch_size = 50                        # optional
//!
//! [[account]]                            # OAuth2 instead of a password
//! name = "m365"
//! host = "outlook.office365.com"
//! user = "dmarc@contoso.com"
//! auth = "oauth2"                        # password (default) | oauth2
//! oauth2_provider = "microsoft"          # microsoft | google | custom
//! oauth2_tenant = "contoso.onmicrosoft.com"
//! oauth2_flow = "client_credentials"     # client_credentials | device_code | authorization_code
//! oauth2_client_id = "..."
//! oauth2_client_secret_file = "/etc/dmarc-report/client-secret"   # or oauth2_client_secret_env
//! ```
//!
//! Passwords and client secrets never come from the command line: only from
//! a file or an environment variable, and they never appear in messages.
//! See `docs/oauth2.md` for every OAuth2 key.

use std::fmt;
use std::path::{Path, PathBuf};

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::analyse::senders::{KnownSender, validate};
use crate::analyse::verdict::Criteria;
use crate::limits::parse_size;

/// A configuration problem; the message says what to change.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ConfigError {
    /// What kind of problem, for callers that act on it.
    pub kind: ConfigErrorKind,
    /// What is wrong and what to change, naming the file or account.
    pub message: String,
}

/// What kind of configuration problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigErrorKind {
    /// The config file cannot be read.
    Unreadable,
    /// The file is not valid TOML, or a key is unknown or of the wrong type.
    Syntax,
    /// A required setting is missing (an IMAP host, a user, a password).
    Missing,
    /// A setting has a value that cannot be used.
    Invalid,
    /// The password file or variable cannot be read.
    Secret,
}

impl ConfigError {
    /// A problem of `kind`, described by `message`.
    pub fn new(kind: ConfigErrorKind, message: impl Into<String>) -> Self {
        ConfigError { kind, message: message.into() }
    }
}

/// How the connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// TLS from the first byte (IMAPS, port 993).
    Implicit,
    /// Plain connection upgraded with STARTTLS (port 143).
    Starttls,
    /// No TLS at all: only for a local proxy such as DavMail.
    Plain,
}

impl fmt::Display for TlsMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TlsMode::Implicit => "implicit TLS",
            TlsMode::Starttls => "STARTTLS",
            TlsMode::Plain => "plain text",
        })
    }
}

/// The file as written.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    database: Option<PathBuf>,
    #[serde(default, rename = "account")]
    accounts: Vec<FileAccount>,
    #[serde(default)]
    known_sender: Vec<KnownSender>,
    #[serde(default)]
    readiness: Criteria,
    #[serde(default)]
    rua: BTreeMap<String, String>,
    notify: Option<crate::notify::config::NotifyTable>,
}

/// What `summary` and `report` read from the config file.
#[derive(Debug, Default)]
pub struct AnalysisConfig {
    /// The database named in the file, if any.
    pub database: Option<PathBuf>,
    /// The user's `[[known_sender]]` entries.
    pub known_senders: Vec<KnownSender>,
    /// The `[readiness]` thresholds (defaults for what is not set).
    pub criteria: Criteria,
    /// `[rua]`: the rua URI of each domain, for the recommended record.
    pub rua: BTreeMap<String, String>,
}

/// A config file as read: where it is and what it says. Read once per run
/// (see `cli::settings`); each command takes the parts it needs.
#[derive(Debug, Default)]
pub struct ConfigFile {
    path: Option<PathBuf>,
    file: FileConfig,
}

impl ConfigFile {
    /// Reads the config: `explicit` must exist; the default file may be
    /// absent (then every setting has its default).
    pub fn read(explicit: Option<&Path>) -> Result<ConfigFile, ConfigError> {
        let path = match explicit {
            Some(path) => path.to_path_buf(),
            None => match default_path() {
                Some(path) if path.is_file() => path,
                _ => return Ok(ConfigFile::default()),
            },
        };
        let file = read_file(&path)?;
        Ok(ConfigFile { path: Some(path), file })
    }

    /// The file read, if any.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The `database` key.
    pub fn database(&self) -> Option<&Path> {
        self.file.database.as_deref()
    }

    /// Prefixes a message with the file's name.
    fn error(&self, kind: ConfigErrorKind, message: impl fmt::Display) -> ConfigError {
        match &self.path {
            Some(path) => ConfigError::new(kind, format!("{}: {message}", path.display())),
            None => ConfigError::new(kind, message.to_string()),
        }
    }

    /// What `summary` and `report` read: known senders, thresholds, rua.
    pub fn analysis(&self) -> Result<AnalysisConfig, ConfigError> {
        let f = &self.file;
        validate(&f.known_sender).map_err(|e| self.error(ConfigErrorKind::Invalid, e))?;
        f.readiness.validate().map_err(|e| self.error(ConfigErrorKind::Invalid, e))?;
        Ok(AnalysisConfig {
            database: f.database.clone(),
            known_senders: f.known_sender.clone(),
            criteria: f.readiness.clone(),
            rua: f.rua.iter().map(|(k, v)| (k.to_ascii_lowercase(), v.clone())).collect(),
        })
    }

    /// The `[notify]` table of `notify` and `metrics`, checked, with its
    /// defaults.
    pub fn notify(&self) -> Result<crate::notify::NotifySettings, ConfigError> {
        let file = self.path.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
        crate::notify::NotifySettings::from_table(
            self.file.notify.clone().unwrap_or_default(),
            &file,
        )
    }

    /// The IMAP accounts for `fetch`, merged with the overrides and checked.
    pub fn accounts(&self, overrides: &Overrides) -> Result<Vec<Account>, ConfigError> {
        let mut accounts = if self.file.accounts.is_empty() {
            vec![FileAccount::default()]
        } else {
            self.file.accounts.clone()
        };
        if let Some(wanted) = &overrides.account {
            accounts
                .retain(|a| a.name.as_deref() == Some(wanted) || a.host.as_deref() == Some(wanted));
            if accounts.is_empty() {
                return Err(
                    self.error(ConfigErrorKind::Invalid, format!("no account named \"{wanted}\""))
                );
            }
        }
        accounts
            .into_iter()
            .enumerate()
            .map(|(i, a)| {
                let mut which = a.name.clone().unwrap_or_else(|| format!("account {}", i + 1));
                if let Some(path) = &self.path {
                    which = format!("{which} in {}", path.display());
                }
                finish(a, overrides, &which)
            })
            .collect()
    }
}

/// Loads the analysis settings: `explicit` must exist; the default file
/// may be absent (then everything has its default).
pub fn load_analysis(explicit: Option<&Path>) -> Result<AnalysisConfig, ConfigError> {
    ConfigFile::read(explicit)?.analysis()
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileAccount {
    name: Option<String>,
    host: Option<String>,
    port: Option<u16>,
    tls: Option<TlsMode>,
    user: Option<String>,
    password_file: Option<PathBuf>,
    password_env: Option<String>,
    ca_file: Option<PathBuf>,
    folders: Option<Vec<String>>,
    folder: Option<String>,
    archive_folder: Option<String>,
    error_folder: Option<String>,
    max_message_size: Option<Size>,
    batch_size: Option<usize>,
    auth: Option<AuthKind>,
    oauth2_provider: Option<Provider>,
    oauth2_tenant: Option<String>,
    oauth2_flow: Option<Flow>,
    oauth2_client_id: Option<String>,
    oauth2_client_secret_file: Option<PathBuf>,
    oauth2_client_secret_env: Option<String>,
    oauth2_token_url: Option<String>,
    oauth2_device_url: Option<String>,
    oauth2_auth_url: Option<String>,
    oauth2_scope: Option<String>,
    oauth2_token_file: Option<PathBuf>,
    oauth2_token_command: Option<String>,
}

/// How an account logs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum AuthKind {
    /// IMAP LOGIN with a password.
    Password,
    /// SASL XOAUTH2 / OAUTHBEARER with an OAuth2 access token.
    Oauth2,
}

/// Who issues the OAuth2 tokens; fills in the URLs and the scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// Microsoft Entra ID (Microsoft 365, Exchange Online).
    Microsoft,
    /// Google (Gmail, Google Workspace).
    Google,
    /// Any other: give the URLs and the scope.
    Custom,
}

/// How the first OAuth2 token is obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
#[value(rename_all = "snake_case")]
pub enum Flow {
    /// App-only, with the client secret: no person involved (cron).
    ClientCredentials,
    /// RFC 8628: a person enters a code on another device, once.
    DeviceCode,
    /// A person signs in in a browser, once (PKCE, loopback redirect).
    AuthorizationCode,
}

impl fmt::Display for Flow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Flow::ClientCredentials => "client_credentials",
            Flow::DeviceCode => "device_code",
            Flow::AuthorizationCode => "authorization_code",
        })
    }
}

/// A size written as `64M` or as a number of bytes.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(try_from = "SizeRepr")]
struct Size(u64);

#[derive(Deserialize)]
#[serde(untagged)]
enum SizeRepr {
    Number(u64),
    Text(String),
}

impl TryFrom<SizeRepr> for Size {
    type Error = String;
    fn try_from(r: SizeRepr) -> Result<Self, String> {
        match r {
            SizeRepr::Number(n) => Ok(Size(n)),
            SizeRepr::Text(t) => parse_size(&t).map(Size),
        }
    }
}

/// Settings given on the command line or in the environment; each one
/// overrides the same setting of every selected account.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// Only this account (by name or host).
    pub account: Option<String>,
    /// `--host` / `DMARC_REPORT_HOST`.
    pub host: Option<String>,
    /// `--port` / `DMARC_REPORT_PORT`.
    pub port: Option<u16>,
    /// `--tls` / `DMARC_REPORT_TLS`.
    pub tls: Option<TlsMode>,
    /// `--user` / `DMARC_REPORT_USER`.
    pub user: Option<String>,
    /// `--password-file` / `DMARC_REPORT_PASSWORD_FILE`.
    pub password_file: Option<PathBuf>,
    /// The password itself, from `DMARC_REPORT_PASSWORD`.
    pub password: Option<String>,
    /// `--ca-file` / `DMARC_REPORT_CA_FILE`.
    pub ca_file: Option<PathBuf>,
    /// `--folder` (repeatable) / `DMARC_REPORT_FOLDER`.
    pub folders: Vec<String>,
    /// `--archive-folder` / `DMARC_REPORT_ARCHIVE_FOLDER`.
    pub archive_folder: Option<String>,
    /// `--error-folder` / `DMARC_REPORT_ERROR_FOLDER`.
    pub error_folder: Option<String>,
    /// `--max-message-size`.
    pub max_message_size: Option<u64>,
    /// `--batch-size`.
    pub batch_size: Option<usize>,
    /// `--auth` / `DMARC_REPORT_AUTH`.
    pub auth: Option<AuthKind>,
    /// `--oauth2-provider` / `DMARC_REPORT_OAUTH2_PROVIDER`.
    pub oauth2_provider: Option<Provider>,
    /// `--oauth2-tenant` / `DMARC_REPORT_OAUTH2_TENANT`.
    pub oauth2_tenant: Option<String>,
    /// `--oauth2-flow` / `DMARC_REPORT_OAUTH2_FLOW`.
    pub oauth2_flow: Option<Flow>,
    /// `--oauth2-client-id` / `DMARC_REPORT_OAUTH2_CLIENT_ID`.
    pub oauth2_client_id: Option<String>,
    /// `--oauth2-client-secret-file` / `DMARC_REPORT_OAUTH2_CLIENT_SECRET_FILE`.
    pub oauth2_client_secret_file: Option<PathBuf>,
    /// `--oauth2-client-secret-env` / `DMARC_REPORT_OAUTH2_CLIENT_SECRET_ENV`.
    pub oauth2_client_secret_env: Option<String>,
    /// `--oauth2-token-url` / `DMARC_REPORT_OAUTH2_TOKEN_URL`.
    pub oauth2_token_url: Option<String>,
    /// `--oauth2-device-url` / `DMARC_REPORT_OAUTH2_DEVICE_URL`.
    pub oauth2_device_url: Option<String>,
    /// `--oauth2-auth-url` / `DMARC_REPORT_OAUTH2_AUTH_URL`.
    pub oauth2_auth_url: Option<String>,
    /// `--oauth2-scope` / `DMARC_REPORT_OAUTH2_SCOPE`.
    pub oauth2_scope: Option<String>,
    /// `--oauth2-token-file` / `DMARC_REPORT_OAUTH2_TOKEN_FILE`.
    pub oauth2_token_file: Option<PathBuf>,
    /// `--oauth2-token-command` / `DMARC_REPORT_OAUTH2_TOKEN_COMMAND`.
    pub oauth2_token_command: Option<String>,
}

/// One account, validated and ready to connect.
#[derive(Clone)]
pub struct Account {
    /// A label for messages: the configured name, else `user@host`.
    pub label: String,
    /// Server host name.
    pub host: String,
    /// Server port.
    pub port: u16,
    /// Connection security.
    pub tls: TlsMode,
    /// Login name.
    pub user: String,
    /// How it logs in: a password, or OAuth2.
    pub auth: Auth,
    /// An extra CA to trust besides the system roots.
    pub ca_file: Option<PathBuf>,
    /// Folders to read, in order.
    pub folders: Vec<String>,
    /// Where processed messages go.
    pub archive_folder: Option<String>,
    /// Where messages without a readable report go.
    pub error_folder: Option<String>,
    /// Largest message fetched.
    pub max_message_size: u64,
    /// Messages per fetch and commit.
    pub batch_size: usize,
}

impl fmt::Debug for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Account")
            .field("label", &self.label)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("user", &self.user)
            .field("auth", &self.auth)
            .field("folders", &self.folders)
            .finish_non_exhaustive()
    }
}

/// How an account logs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// IMAP LOGIN with this password.
    Password(PasswordSource),
    /// SASL with an OAuth2 access token.
    OAuth2(Box<OAuth2>),
}

/// An account's OAuth2 settings, with the provider's defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuth2 {
    /// Who issues the tokens.
    pub provider: Provider,
    /// How the first token is obtained.
    pub flow: Flow,
    /// The application (client) id.
    pub client_id: String,
    /// The client secret, if the application has one.
    pub client_secret: Option<PasswordSource>,
    /// The token endpoint.
    pub token_url: String,
    /// The device authorization endpoint (RFC 8628).
    pub device_url: Option<String>,
    /// The authorization endpoint (code flow).
    pub auth_url: Option<String>,
    /// The scope asked for.
    pub scope: String,
    /// Where the tokens are kept (mode 0600).
    pub token_file: PathBuf,
    /// A command that prints an access token, used instead of all the above.
    pub token_command: Option<String>,
    /// What `--account` takes for this account (its name, else its host).
    pub selector: String,
}

/// Where a password is read from; the value itself is read only when
/// logging in and never printed.
#[derive(Clone, PartialEq, Eq)]
pub enum PasswordSource {
    /// A file (its first line).
    File(PathBuf),
    /// An environment variable, by name.
    Env(String),
    /// Given through `DMARC_REPORT_PASSWORD`.
    Value(String),
}

impl fmt::Debug for PasswordSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PasswordSource::File(p) => write!(f, "File({})", p.display()),
            PasswordSource::Env(name) => write!(f, "Env({name})"),
            PasswordSource::Value(_) => f.write_str("Value(<hidden>)"),
        }
    }
}

impl PasswordSource {
    /// Reads the password.
    pub fn read(&self) -> Result<String, ConfigError> {
        self.read_as("password")
    }

    /// Reads the secret; `what` names it in errors ("client secret").
    pub fn read_as(&self, what: &str) -> Result<String, ConfigError> {
        match self {
            PasswordSource::File(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    ConfigError::new(
                        ConfigErrorKind::Secret,
                        format!("cannot read the {what} file {}: {e}", path.display()),
                    )
                })?;
                let line = text.lines().next().unwrap_or_default().trim_end_matches('\r');
                if line.is_empty() {
                    return Err(ConfigError::new(
                        ConfigErrorKind::Secret,
                        format!("the {what} file {} is empty", path.display()),
                    ));
                }
                Ok(line.to_owned())
            }
            PasswordSource::Env(name) => {
                std::env::var(name).ok().filter(|v| !v.is_empty()).ok_or_else(|| {
                    ConfigError::new(
                        ConfigErrorKind::Secret,
                        format!("the {what} variable {name} is not set"),
                    )
                })
            }
            PasswordSource::Value(v) => Ok(v.clone()),
        }
    }
}

/// What `fetch` runs with.
#[derive(Debug)]
pub struct FetchConfig {
    /// The database named in the file, if any.
    pub database: Option<PathBuf>,
    /// The accounts to process, in order.
    pub accounts: Vec<Account>,
}

/// The default config file: `$XDG_CONFIG_HOME/dmarc-report/config.toml`.
pub fn default_path() -> Option<PathBuf> {
    dirs::config_dir().map(|d| d.join("dmarc-report").join("config.toml"))
}

/// Loads the config (`explicit` must exist; the default may be absent) and
/// applies the overrides.
pub fn load(explicit: Option<&Path>, overrides: &Overrides) -> Result<FetchConfig, ConfigError> {
    let file = ConfigFile::read(explicit)?;
    let accounts = file.accounts(overrides)?;
    Ok(FetchConfig { database: file.database().map(Path::to_path_buf), accounts })
}

fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        let message = format!("cannot read the config file {}: {e}", path.display());
        ConfigError::new(ConfigErrorKind::Unreadable, message)
    })?;
    toml::from_str(&text).map_err(|e| {
        let message = format!("{}: {}", path.display(), e.to_string().trim());
        ConfigError::new(ConfigErrorKind::Syntax, message)
    })
}

/// Merges one account with the overrides and checks it.
fn finish(a: FileAccount, o: &Overrides, which: &str) -> Result<Account, ConfigError> {
    let provider = o.oauth2_provider.or(a.oauth2_provider);
    let provider_host = match provider {
        Some(Provider::Microsoft) => Some("outlook.office365.com".to_owned()),
        Some(Provider::Google) => Some("imap.gmail.com".to_owned()),
        _ => None,
    };
    let host = o.host.clone().or(a.host.clone()).or(provider_host).ok_or_else(|| {
        ConfigError::new(
            ConfigErrorKind::Missing,
            format!("{which}: no IMAP host; set `host` in the config file or give --host"),
        )
    })?;
    let user = o.user.clone().or(a.user.clone()).ok_or_else(|| {
        ConfigError::new(
            ConfigErrorKind::Missing,
            format!("{which}: no user; set `user` in the config file or give --user"),
        )
    })?;
    let tls = o.tls.or(a.tls).unwrap_or(TlsMode::Implicit);
    let port = o.port.or(a.port).unwrap_or(match tls {
        TlsMode::Implicit => 993,
        TlsMode::Starttls | TlsMode::Plain => 143,
    });
    let label = a.name.clone().unwrap_or_else(|| format!("{user}@{host}"));
    let auth = match o.auth.or(a.auth).unwrap_or(AuthKind::Password) {
        AuthKind::Oauth2 => Auth::OAuth2(Box::new(oauth2(&a, o, which, &label)?)),
        AuthKind::Password => Auth::Password(if let Some(v) = &o.password {
            PasswordSource::Value(v.clone())
        } else if let Some(p) = o.password_file.clone().or(a.password_file.clone()) {
            PasswordSource::File(p)
        } else if let Some(name) = a.password_env.clone() {
            PasswordSource::Env(name)
        } else {
            return Err(ConfigError::new(
                ConfigErrorKind::Missing,
                format!(
                    "{which}: no password; set `password_file` or `password_env` in the config \
                     file, or give --password-file or DMARC_REPORT_PASSWORD (or set auth = \
                     \"oauth2\")"
                ),
            ));
        }),
    };
    let mut folders = if !o.folders.is_empty() {
        o.folders.clone()
    } else {
        a.folders.clone().unwrap_or_default().into_iter().chain(a.folder.clone()).collect()
    };
    if folders.is_empty() {
        folders.push("INBOX".to_owned());
    }
    let batch_size = o.batch_size.or(a.batch_size).unwrap_or(50);
    if batch_size == 0 {
        let message = format!("{which}: batch_size must be at least 1");
        return Err(ConfigError::new(ConfigErrorKind::Invalid, message));
    }
    let ca_file = o.ca_file.clone().or(a.ca_file.clone());
    if let Some(ca) = ca_file.as_deref().filter(|ca| !ca.is_file()) {
        let message =
            format!("{which}: the CA file {} does not exist (ca_file or --ca-file)", ca.display());
        return Err(ConfigError::new(ConfigErrorKind::Missing, message));
    }
    Ok(Account {
        label,
        host,
        port,
        tls,
        user,
        auth,
        ca_file,
        folders,
        archive_folder: o.archive_folder.clone().or(a.archive_folder.clone()),
        error_folder: o.error_folder.clone().or(a.error_folder.clone()),
        max_message_size: o
            .max_message_size
            .or(a.max_message_size.map(|s| s.0))
            .unwrap_or(crate::limits::Limits::default().max_message_size),
        batch_size,
    })
}

/// The OAuth2 settings of one account: the overrides, then the file, then
/// the provider's defaults.
fn oauth2(a: &FileAccount, o: &Overrides, which: &str, label: &str) -> Result<OAuth2, ConfigError> {
    let err = |m: String| ConfigError::new(ConfigErrorKind::Missing, format!("{which}: {m}"));
    let provider = o.oauth2_provider.or(a.oauth2_provider).unwrap_or(Provider::Custom);
    let token_command = o.oauth2_token_command.clone().or(a.oauth2_token_command.clone());
    let flow = o.oauth2_flow.or(a.oauth2_flow).unwrap_or(Flow::ClientCredentials);
    let tenant = o
        .oauth2_tenant
        .clone()
        .or(a.oauth2_tenant.clone())
        .unwrap_or_else(|| "organizations".to_owned());
    let ms = |path: &str| format!("https://login.microsoftonline.com/{tenant}/oauth2/v2.0/{path}");
    let (token_url, device_url, auth_url, scope) = match provider {
        Provider::Microsoft => (
            Some(ms("token")),
            Some(ms("devicecode")),
            Some(ms("authorize")),
            Some(match flow {
                Flow::ClientCredentials => "https://outlook.office365.com/.default".to_owned(),
                _ => {
                    "https://outlook.office365.com/IMAP.AccessAsUser.All offline_access".to_owned()
                }
            }),
        ),
        Provider::Google => (
            Some("https://oauth2.googleapis.com/token".to_owned()),
            Some("https://oauth2.googleapis.com/device/code".to_owned()),
            Some("https://accounts.google.com/o/oauth2/v2/auth".to_owned()),
            Some("https://mail.google.com/".to_owned()),
        ),
        Provider::Custom => (None, None, None, None),
    };
    let token_url = o.oauth2_token_url.clone().or(a.oauth2_token_url.clone()).or(token_url);
    let device_url = o.oauth2_device_url.clone().or(a.oauth2_device_url.clone()).or(device_url);
    let auth_url = o.oauth2_auth_url.clone().or(a.oauth2_auth_url.clone()).or(auth_url);
    let scope = o.oauth2_scope.clone().or(a.oauth2_scope.clone()).or(scope);
    let client_secret = if let Some(p) =
        o.oauth2_client_secret_file.clone().or(a.oauth2_client_secret_file.clone())
    {
        Some(PasswordSource::File(p))
    } else {
        o.oauth2_client_secret_env
            .clone()
            .or(a.oauth2_client_secret_env.clone())
            .map(PasswordSource::Env)
    };
    let token_file = match o.oauth2_token_file.clone().or(a.oauth2_token_file.clone()) {
        Some(file) => file,
        None => {
            let safe: String = label
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() || "-_.@".contains(c) { c } else { '_' })
                .collect();
            let dir = dirs::data_dir().ok_or_else(|| {
                err("no data directory for the token file; set oauth2_token_file".to_owned())
            })?;
            dir.join("dmarc-report").join("tokens").join(format!("{safe}.json"))
        }
    };
    let client_id = o.oauth2_client_id.clone().or(a.oauth2_client_id.clone());
    let selector = a.name.clone().or(o.host.clone()).or(a.host.clone()).unwrap_or_default();
    if token_command.is_some() {
        // The command does everything; the rest is not needed.
        return Ok(OAuth2 {
            provider,
            flow,
            client_id: client_id.unwrap_or_default(),
            client_secret,
            token_url: token_url.unwrap_or_default(),
            device_url,
            auth_url,
            scope: scope.unwrap_or_default(),
            token_file,
            token_command,
            selector,
        });
    }
    let client_id = client_id.ok_or_else(|| {
        err("auth = \"oauth2\" needs oauth2_client_id (or oauth2_token_command)".to_owned())
    })?;
    let need = |v: Option<String>, key: &str| {
        v.ok_or_else(|| err(format!("oauth2_provider = \"custom\" needs {key}")))
    };
    let token_url = need(token_url, "oauth2_token_url")?;
    let scope = need(scope, "oauth2_scope")?;
    match flow {
        Flow::ClientCredentials if client_secret.is_none() => {
            return Err(err(
                "oauth2_flow = \"client_credentials\" needs oauth2_client_secret_file \
                            or oauth2_client_secret_env"
                    .to_owned(),
            ));
        }
        Flow::ClientCredentials if provider == Provider::Microsoft && tenant == "organizations" => {
            return Err(err("client credentials with Microsoft need oauth2_tenant (your tenant \
                            id or domain, such as contoso.onmicrosoft.com)"
                .to_owned()));
        }
        Flow::DeviceCode if device_url.is_none() => {
            return Err(err("oauth2_flow = \"device_code\" needs oauth2_device_url".to_owned()));
        }
        Flow::AuthorizationCode if auth_url.is_none() => {
            return Err(err(
                "oauth2_flow = \"authorization_code\" needs oauth2_auth_url".to_owned()
            ));
        }
        _ => {}
    }
    Ok(OAuth2 {
        provider,
        flow,
        client_id,
        client_secret,
        token_url,
        device_url,
        auth_url,
        scope,
        token_file,
        token_command,
        selector,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    #[test]
    fn accounts_come_from_the_file_and_flags_override_them() {
        let (_dir, path) = write(
            r#"
            database = "/var/lib/d.db"
            [[account]]
            name = "main"
            host = "imap.example.com"
            user = "dmarc@example.com"
            password_file = "/etc/pw"
            folders = ["INBOX", "Reports"]
            archive_folder = "Done"
            max_message_size = "10M"
            [[account]]
            host = "imap.example.org"
            tls = "starttls"
            user = "u"
            password_env = "PW"
            "#,
        );
        let c = load(Some(&path), &Overrides::default()).unwrap();
        assert_eq!(c.database.as_deref(), Some(Path::new("/var/lib/d.db")));
        assert_eq!(c.accounts.len(), 2);
        let a = &c.accounts[0];
        assert_eq!((a.port, a.tls, a.label.as_str()), (993, TlsMode::Implicit, "main"));
        assert_eq!(a.folders, ["INBOX", "Reports"]);
        assert_eq!(a.max_message_size, 10 << 20);
        assert_eq!(c.accounts[1].port, 143);
        assert_eq!(c.accounts[1].auth, Auth::Password(PasswordSource::Env("PW".into())));

        let o = Overrides {
            account: Some("main".into()),
            port: Some(1993),
            folders: vec!["X".into()],
            ..Overrides::default()
        };
        let c = load(Some(&path), &o).unwrap();
        assert_eq!(c.accounts.len(), 1);
        assert_eq!((c.accounts[0].port, c.accounts[0].folders.clone()), (1993, vec!["X".into()]));
    }

    #[test]
    fn flags_alone_make_an_account_and_missing_settings_say_what_to_set() {
        let o = Overrides {
            host: Some("h".into()),
            user: Some("u".into()),
            password: Some("secret".into()),
            ..Overrides::default()
        };
        let (_dir, empty) = write("");
        let c = load(Some(&empty), &o).unwrap();
        assert_eq!(c.accounts[0].folders, ["INBOX"]);
        assert!(!format!("{:?}", c.accounts[0]).contains("secret"));
        let err = load(Some(&empty), &Overrides { host: None, ..o }).unwrap_err();
        assert_eq!(err.kind, ConfigErrorKind::Missing);
        assert!(err.to_string().contains("--host"), "{err}");
    }

    #[test]
    fn unknown_keys_and_bad_values_are_errors_naming_the_file() {
        let (_dir, path) = write("[[account]]\nhots = \"x\"\n");
        let err = load(Some(&path), &Overrides::default()).unwrap_err();
        assert_eq!(err.kind, ConfigErrorKind::Syntax);
        let err = err.to_string();
        assert!(err.contains("config.toml") && err.contains("hots"), "{err}");
        let missing = load(Some(&path.with_file_name("absent.toml")), &Overrides::default());
        assert_eq!(missing.unwrap_err().kind, ConfigErrorKind::Unreadable);
        let (_dir, path) = write("[[account]]\nmax_message_size = \"lots\"\n");
        assert!(load(Some(&path), &Overrides::default()).is_err());
    }

    #[test]
    fn oauth2_providers_fill_in_host_urls_and_scope_and_missing_keys_are_named() {
        let (_dir, path) = write(
            r#"
            [[account]]
            name = "m365"
            user = "dmarc@contoso.com"
            auth = "oauth2"
            oauth2_provider = "microsoft"
            oauth2_tenant = "contoso.onmicrosoft.com"
            oauth2_client_id = "app"
            oauth2_client_secret_env = "SECRET"
            [[account]]
            name = "gmail"
            user = "dmarc@example.org"
            auth = "oauth2"
            oauth2_provider = "google"
            oauth2_flow = "authorization_code"
            oauth2_client_id = "web"
            "#,
        );
        let c = load(Some(&path), &Overrides::default()).unwrap();
        let Auth::OAuth2(ms) = &c.accounts[0].auth else { panic!("not oauth2") };
        assert_eq!(c.accounts[0].host, "outlook.office365.com");
        assert_eq!(
            ms.token_url,
            "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
        );
        assert_eq!(ms.scope, "https://outlook.office365.com/.default");
        assert_eq!(ms.selector, "m365");
        assert!(ms.token_file.ends_with("dmarc-report/tokens/m365.json"));
        let Auth::OAuth2(g) = &c.accounts[1].auth else { panic!("not oauth2") };
        assert_eq!(c.accounts[1].host, "imap.gmail.com");
        assert_eq!(g.scope, "https://mail.google.com/");
        assert_eq!(g.auth_url.as_deref(), Some("https://accounts.google.com/o/oauth2/v2/auth"));

        // Client credentials without a secret, custom without a token URL.
        let (_dir, path) = write(
            "[[account]]\nhost = \"h\"\nuser = \"u\"\nauth = \"oauth2\"\noauth2_client_id = \"a\"\n\
             oauth2_token_url = \"https://idp/t\"\noauth2_scope = \"s\"\n",
        );
        let err = load(Some(&path), &Overrides::default()).unwrap_err().to_string();
        assert!(err.contains("oauth2_client_secret_file"), "{err}");
        let (_dir, path) = write(
            "[[account]]\nhost = \"h\"\nuser = \"u\"\nauth = \"oauth2\"\noauth2_client_id = \"a\"\n",
        );
        let err = load(Some(&path), &Overrides::default()).unwrap_err().to_string();
        assert!(err.contains("oauth2_token_url"), "{err}");
    }

    #[test]
    fn a_password_file_gives_its_first_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("pw");
        std::fs::write(&p, "s3cret\r\nignored\n").unwrap();
        assert_eq!(PasswordSource::File(p).read().unwrap(), "s3cret");
        let gone = PasswordSource::File(dir.path().join("absent")).read().unwrap_err();
        assert_eq!(gone.kind, ConfigErrorKind::Secret);
    }
}
