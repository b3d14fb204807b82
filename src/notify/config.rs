//! The `[notify]` table of the config file: where notifications go and
//! when an event is worth telling.
//!
//! ```toml
//! [notify]
//! smtp_host = "smtp.example.com"
//! smtp_port = 587                   # default: 587 starttls, 465 implicit, 25 plain
//! smtp_tls = "starttls"             # starttls | implicit | plain (plain: loopback only, else a warning)
//! smtp_user = "alerts@example.com"  # optional: no AUTH without it
//! smtp_password_file = "/etc/dmarc-report/smtp-password"   # or smtp_password_env = "VARIABLE"
//! from = "dmarc-report@example.com"
//! to = ["postmaster@example.com"]
//! webhook_url = "https://hooks.example.com/dmarc"           # optional: a JSON POST per run
//! ca_file = "/etc/ssl/private-ca.pem"                       # optional, added to the system roots
//! reports_stopped_days = 3          # tell when a domain has had no report for this many days
//! degraded_below = 0.9              # tell when an authorized sender's pass rate falls below this
//! degraded_days = 7                 # ... over this many recent days
//! new_sender_messages = 20          # a new sender is told from this many messages on
//! window_days = 30                  # the window the verdict and the digest look at
//! ```
//!
//! Without `smtp_host` and `webhook_url`, events are printed to standard
//! output (cron mails what a job prints).

use std::net::IpAddr;
use std::path::PathBuf;

use serde::Deserialize;

use crate::config::{ConfigError, ConfigErrorKind, PasswordSource};

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS (port 587).
    Starttls,
    /// TLS from the first byte (port 465).
    Implicit,
    /// No TLS: only for a relay on the same machine.
    Plain,
}

impl SmtpTls {
    /// The usual port.
    pub fn default_port(self) -> u16 {
        match self {
            SmtpTls::Starttls => 587,
            SmtpTls::Implicit => 465,
            SmtpTls::Plain => 25,
        }
    }
}

/// The table as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyTable {
    smtp_host: Option<String>,
    smtp_port: Option<u16>,
    smtp_tls: Option<SmtpTls>,
    smtp_user: Option<String>,
    smtp_password_file: Option<PathBuf>,
    smtp_password_env: Option<String>,
    from: Option<String>,
    #[serde(default)]
    to: Vec<String>,
    webhook_url: Option<String>,
    ca_file: Option<PathBuf>,
    reports_stopped_days: Option<u32>,
    degraded_below: Option<f64>,
    degraded_days: Option<u32>,
    new_sender_messages: Option<u64>,
    window_days: Option<u32>,
}

/// Where to send mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpSettings {
    /// Server host name.
    pub host: String,
    /// Server port (by default 587 with STARTTLS, 465 with implicit TLS, 25 plain).
    pub port: u16,
    /// Connection security.
    pub tls: SmtpTls,
    /// Login and where its password is read from (`None`: no AUTH).
    pub login: Option<(String, PasswordSource)>,
    /// Sender address.
    pub from: String,
    /// Addresses every notification goes to.
    pub to: Vec<String>,
    /// Extra CA certificates (PEM).
    pub ca_file: Option<PathBuf>,
}

/// Where events go.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delivery {
    /// Mail, when `smtp_host` is set.
    pub smtp: Option<SmtpSettings>,
    /// A JSON POST, when `webhook_url` is set.
    pub webhook: Option<String>,
    /// Extra CA certificates for the webhook (PEM).
    pub ca_file: Option<PathBuf>,
}

impl Delivery {
    /// Nothing configured: events are printed.
    pub fn is_stdout(&self) -> bool {
        self.smtp.is_none() && self.webhook.is_none()
    }
}

/// Everything `notify` and `metrics` need from `[notify]`.
#[derive(Debug, Clone, PartialEq)]
pub struct NotifySettings {
    /// Where events go.
    pub delivery: Delivery,
    /// Days without a report before "reports stopped".
    pub reports_stopped_days: u32,
    /// Pass rate below which an authorized sender is degraded (0..1).
    pub degraded_below: f64,
    /// The recent days that rate is taken over.
    pub degraded_days: u32,
    /// Messages from which a new sender is told (and a rate is judged).
    pub new_sender_messages: u64,
    /// The window of the verdict and the digest, in days.
    pub window_days: u32,
}

impl Default for NotifySettings {
    fn default() -> Self {
        NotifySettings {
            delivery: Delivery::default(),
            reports_stopped_days: 3,
            degraded_below: 0.9,
            degraded_days: 7,
            new_sender_messages: 20,
            window_days: 30,
        }
    }
}

impl NotifySettings {
    /// The thresholds that decide which events are told.
    pub fn rules(&self) -> crate::analyse::events::EventRules {
        crate::analyse::events::EventRules {
            reports_stopped_days: self.reports_stopped_days,
            degraded_below: self.degraded_below,
            degraded_days: self.degraded_days,
            new_sender_messages: self.new_sender_messages,
        }
    }

    /// Checks the table and resolves its defaults; `file` names the config
    /// file in messages.
    pub fn from_table(t: NotifyTable, file: &str) -> Result<NotifySettings, ConfigError> {
        let bad = |what: String| {
            ConfigError::new(ConfigErrorKind::Invalid, format!("{file}: [notify] {what}"))
        };
        let d = NotifySettings::default();
        let degraded_below = t.degraded_below.unwrap_or(d.degraded_below);
        if !(0.0..=1.0).contains(&degraded_below) {
            return Err(bad(format!(
                "degraded_below must be between 0 and 1 (it is {degraded_below})"
            )));
        }
        for (name, v) in [
            ("reports_stopped_days", t.reports_stopped_days),
            ("degraded_days", t.degraded_days),
            ("window_days", t.window_days),
        ] {
            if v == Some(0) {
                return Err(bad(format!("{name} must be at least 1")));
            }
        }
        let smtp = match t.smtp_host {
            None => {
                if t.from.is_some() || !t.to.is_empty() || t.smtp_user.is_some() {
                    return Err(bad("has mail settings but no smtp_host".to_owned()));
                }
                None
            }
            Some(host) => {
                let host = host.trim().to_owned();
                if host.is_empty() {
                    return Err(bad("smtp_host is empty".to_owned()));
                }
                let tls = t.smtp_tls.unwrap_or(SmtpTls::Starttls);
                let from = t.from.filter(|f| !f.trim().is_empty()).ok_or_else(|| {
                    bad("needs `from`, the sender address of the mail".to_owned())
                })?;
                if t.to.is_empty() {
                    return Err(bad("needs `to`, the list of recipients".to_owned()));
                }
                let password = match (t.smtp_password_file, t.smtp_password_env) {
                    (Some(_), Some(_)) => {
                        return Err(bad(
                            "sets both smtp_password_file and smtp_password_env; keep one"
                                .to_owned(),
                        ));
                    }
                    (Some(f), None) => Some(PasswordSource::File(f)),
                    (None, Some(e)) => Some(PasswordSource::Env(e)),
                    (None, None) => None,
                };
                let login = match (t.smtp_user, password) {
                    (Some(user), Some(password)) => Some((user, password)),
                    (None, None) => None,
                    (Some(_), None) => {
                        return Err(bad(
                            "sets smtp_user but no smtp_password_file or smtp_password_env"
                                .to_owned(),
                        ));
                    }
                    (None, Some(_)) => {
                        return Err(bad("sets a password but no smtp_user".to_owned()));
                    }
                };
                Some(SmtpSettings {
                    port: t.smtp_port.unwrap_or(tls.default_port()),
                    host,
                    tls,
                    login,
                    from,
                    to: t.to,
                    ca_file: t.ca_file.clone(),
                })
            }
        };
        let webhook = match t.webhook_url {
            Some(url) if !(url.starts_with("https://") || url.starts_with("http://")) => {
                return Err(bad(format!(
                    "webhook_url must start with https:// or http:// (it is {url})"
                )));
            }
            other => other,
        };
        Ok(NotifySettings {
            delivery: Delivery { smtp, webhook, ca_file: t.ca_file },
            reports_stopped_days: t.reports_stopped_days.unwrap_or(d.reports_stopped_days),
            degraded_below,
            degraded_days: t.degraded_days.unwrap_or(d.degraded_days),
            new_sender_messages: t.new_sender_messages.unwrap_or(d.new_sender_messages),
            window_days: t.window_days.unwrap_or(d.window_days),
        })
    }

    /// Warnings about the settings (plain-text SMTP to another machine).
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(s) = &self.delivery.smtp
            && s.tls == SmtpTls::Plain
            && !is_loopback(&s.host)
        {
            out.push(format!(
                "warning: smtp_tls = \"plain\" sends mail{} to {} unencrypted; use it only for a relay on this machine",
                if s.login.is_some() { " and the password" } else { "" },
                s.host
            ));
        }
        if let Some(url) = &self.delivery.webhook
            && url.starts_with("http://")
            && !url_host(url).is_some_and(is_loopback)
        {
            out.push(format!("warning: the webhook {url} is plain HTTP; use https://"));
        }
        out
    }
}

/// `localhost`, `127.0.0.0/8` or `::1`.
pub fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The host of an `http(s)://host[:port]/...` URL.
pub(crate) fn url_host(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if let Some(v6) = authority.strip_prefix('[') {
        return v6.split_once(']').map(|(h, _)| h);
    }
    Some(authority.split(':').next().unwrap_or(authority))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<NotifySettings, ConfigError> {
        let t: NotifyTable = toml::from_str(text)
            .map_err(|e| ConfigError::new(ConfigErrorKind::Syntax, e.to_string()))?;
        NotifySettings::from_table(t, "config.toml")
    }

    #[test]
    fn an_empty_table_prints_to_stdout_with_default_thresholds() {
        let s = parse("").unwrap();
        assert!(s.delivery.is_stdout());
        assert_eq!(s.reports_stopped_days, 3);
        assert!(s.warnings().is_empty());
    }

    #[test]
    fn smtp_settings_take_the_usual_port_for_their_tls_mode() {
        let s = parse(
            r#"smtp_host = "smtp.example.com"
               smtp_tls = "implicit"
               smtp_user = "u"
               smtp_password_env = "SMTP_PASSWORD"
               from = "a@example.com"
               to = ["b@example.com"]"#,
        )
        .unwrap();
        let smtp = s.delivery.smtp.unwrap();
        assert_eq!(smtp.port, 465);
        assert_eq!(smtp.login, Some(("u".into(), PasswordSource::Env("SMTP_PASSWORD".into()))));
    }

    #[test]
    fn missing_or_contradictory_mail_settings_say_what_to_set() {
        let e = parse(r#"smtp_host = "h""#).unwrap_err().to_string();
        assert!(e.contains("needs `from`"), "{e}");
        let e = parse(r#"from = "a@b""#).unwrap_err().to_string();
        assert!(e.contains("no smtp_host"), "{e}");
        let e = parse(
            r#"smtp_host = "h"
               from = "a@b"
               to = ["c@d"]
               smtp_user = "u""#,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("no smtp_password_file"), "{e}");
        let e = parse("degraded_below = 2.0").unwrap_err().to_string();
        assert!(e.contains("between 0 and 1"), "{e}");
        assert!(parse("smtp_passwd = \"x\"").is_err());
    }

    #[test]
    fn plain_smtp_warns_unless_the_server_is_on_this_machine() {
        let plain = |host: &str| {
            parse(&format!(
                "smtp_host = \"{host}\"\nsmtp_tls = \"plain\"\nfrom = \"a@b\"\nto = [\"c@d\"]"
            ))
            .unwrap()
            .warnings()
        };
        assert!(plain("127.0.0.1").is_empty());
        assert!(plain("localhost").is_empty());
        assert!(plain("::1").is_empty());
        assert_eq!(plain("smtp.example.com").len(), 1);
    }

    #[test]
    fn url_hosts() {
        assert_eq!(url_host("https://hooks.example.com/x"), Some("hooks.example.com"));
        assert_eq!(url_host("http://127.0.0.1:8080/x"), Some("127.0.0.1"));
        assert_eq!(url_host("http://[::1]:80/"), Some("::1"));
        assert_eq!(url_host("http://u:p@h:1/"), Some("h"));
    }
}
