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
//! ```
//!
//! Passwords never come from the command line: only from a file or an
//! environment variable, and they never appear in messages.

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
    /// Where the password comes from.
    pub password: PasswordSource,
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
            .field("password", &self.password)
            .field("folders", &self.folders)
            .finish_non_exhaustive()
    }
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
        match self {
            PasswordSource::File(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    let message = format!("cannot read the password file {}: {e}", path.display());
                    ConfigError::new(ConfigErrorKind::Secret, message)
                })?;
                let line = text.lines().next().unwrap_or_default().trim_end_matches('\r');
                if line.is_empty() {
                    return Err(ConfigError::new(
                        ConfigErrorKind::Secret,
                        format!("the password file {} is empty", path.display()),
                    ));
                }
                Ok(line.to_owned())
            }
            PasswordSource::Env(name) => std::env::var(name).map_err(|_| {
                ConfigError::new(
                    ConfigErrorKind::Secret,
                    format!("the password variable {name} is not set"),
                )
            }),
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
    let host = o.host.clone().or(a.host).ok_or_else(|| {
        let message =
            format!("{which}: no IMAP host; set `host` in the config file or give --host");
        ConfigError::new(ConfigErrorKind::Missing, message)
    })?;
    let user = o.user.clone().or(a.user).ok_or_else(|| {
        let message = format!("{which}: no user; set `user` in the config file or give --user");
        ConfigError::new(ConfigErrorKind::Missing, message)
    })?;
    let tls = o.tls.or(a.tls).unwrap_or(TlsMode::Implicit);
    let port = o.port.or(a.port).unwrap_or(match tls {
        TlsMode::Implicit => 993,
        TlsMode::Starttls | TlsMode::Plain => 143,
    });
    let password = if let Some(v) = &o.password {
        PasswordSource::Value(v.clone())
    } else if let Some(p) = o.password_file.clone().or(a.password_file) {
        PasswordSource::File(p)
    } else if let Some(name) = a.password_env {
        PasswordSource::Env(name)
    } else {
        return Err(ConfigError::new(
            ConfigErrorKind::Missing,
            format!(
                "{which}: no password; set `password_file` or `password_env` in the config \
                 file, or give --password-file or DMARC_REPORT_PASSWORD"
            ),
        ));
    };
    let mut folders = if !o.folders.is_empty() {
        o.folders.clone()
    } else {
        a.folders.unwrap_or_default().into_iter().chain(a.folder).collect()
    };
    if folders.is_empty() {
        folders.push("INBOX".to_owned());
    }
    let batch_size = o.batch_size.or(a.batch_size).unwrap_or(50);
    if batch_size == 0 {
        let message = format!("{which}: batch_size must be at least 1");
        return Err(ConfigError::new(ConfigErrorKind::Invalid, message));
    }
    let ca_file = o.ca_file.clone().or(a.ca_file);
    if let Some(ca) = ca_file.as_deref().filter(|ca| !ca.is_file()) {
        let message =
            format!("{which}: the CA file {} does not exist (ca_file or --ca-file)", ca.display());
        return Err(ConfigError::new(ConfigErrorKind::Missing, message));
    }
    Ok(Account {
        label: a.name.unwrap_or_else(|| format!("{user}@{host}")),
        host,
        port,
        tls,
        user,
        password,
        ca_file,
        folders,
        archive_folder: o.archive_folder.clone().or(a.archive_folder),
        error_folder: o.error_folder.clone().or(a.error_folder),
        max_message_size: o
            .max_message_size
            .or(a.max_message_size.map(|s| s.0))
            .unwrap_or(crate::limits::Limits::default().max_message_size),
        batch_size,
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
        assert_eq!(c.accounts[1].password, PasswordSource::Env("PW".into()));

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
    fn a_password_file_gives_its_first_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("pw");
        std::fs::write(&p, "s3cret\r\nignored\n").unwrap();
        assert_eq!(PasswordSource::File(p).read().unwrap(), "s3cret");
        let gone = PasswordSource::File(dir.path().join("absent")).read().unwrap_err();
        assert_eq!(gone.kind, ConfigErrorKind::Secret);
    }
}
