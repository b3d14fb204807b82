//! `auth login` and `auth status`: the OAuth2 sign-in of IMAP accounts.

use std::process::ExitCode;

use anyhow::{Result, bail};

use crate::cli::args::{AuthAccountArgs, AuthAction, AuthArgs, Format};
use crate::cli::{EXIT_FATAL, EXIT_OK, emit, exit, note};
use crate::config::{Account, ConfigFile, Overrides};
use crate::fetch::oauth::{self, LoginOptions, now};
use crate::units::format_date;

/// Runs `auth`.
pub fn run(args: &AuthArgs) -> Result<ExitCode> {
    match &args.action {
        AuthAction::Login(a) => login(a),
        AuthAction::Status(a) => status(a),
    }
}

fn accounts(args: &AuthAccountArgs) -> Result<Vec<Account>> {
    let config = ConfigFile::read(args.config.as_deref())?;
    let overrides = args.oauth2.apply(Overrides {
        account: args.account.clone(),
        host: args.host.clone(),
        user: args.user.clone(),
        ..Overrides::default()
    });
    Ok(config.accounts(&overrides)?)
}

fn login(args: &AuthAccountArgs) -> Result<ExitCode> {
    let all = accounts(args)?;
    let oauth: Vec<&Account> = all.iter().filter(|a| oauth::settings(a).is_some()).collect();
    let account = match &oauth[..] {
        [one] => *one,
        [] => bail!(
            "no account with auth = \"oauth2\" (give --account NAME, or set auth = \"oauth2\")"
        ),
        several => bail!(
            "{} accounts use OAuth2 ({}): choose one with --account NAME",
            several.len(),
            several.iter().map(|a| a.label.as_str()).collect::<Vec<_>>().join(", ")
        ),
    };
    let Some(settings) = oauth::settings(account) else { unreachable!("filtered above") };
    let options = LoginOptions { no_browser: args.no_browser };
    let mut out = std::io::stdout();
    match oauth::login(account, settings, &options, &mut out) {
        Ok(token) => {
            let expires = token
                .expires_at
                .map(|at| format!("; the access token expires {}", when(at)))
                .unwrap_or_default();
            emit(&format!(
                "{}: signed in; tokens kept in {}{expires}\n",
                account.label,
                settings.token_file.display()
            ))?;
            Ok(exit(EXIT_OK))
        }
        Err(e) => {
            note(&format!("dmarc-report: error: {e}"));
            Ok(exit(EXIT_FATAL))
        }
    }
}

fn status(args: &AuthAccountArgs) -> Result<ExitCode> {
    let statuses: Vec<oauth::Status> = accounts(args)?.iter().map(oauth::status).collect();
    if args.format == Format::Json {
        emit(&(serde_json::to_string(&statuses)? + "\n"))?;
        return Ok(exit(EXIT_OK));
    }
    let mut text = String::new();
    for s in &statuses {
        text.push_str(&format!("{}: {}", s.account, s.auth));
        if let Some(problem) = &s.problem {
            text.push_str(&format!("; {problem}"));
        } else if let Some(file) = &s.token_file {
            match (s.refresh_token, s.access_token_expires_at) {
                (false, None) => text.push_str(&format!(
                    "; no token stored in {}{}",
                    file.display(),
                    if s.auth.ends_with("client_credentials") {
                        " (fetch gets one by itself)"
                    } else {
                        " (run `dmarc-report auth login`)"
                    }
                )),
                (refresh, expires) => {
                    text.push_str(&format!("; token stored in {}", file.display()));
                    if refresh {
                        text.push_str(", with a refresh token");
                    }
                    if let Some(at) = expires {
                        let verb = if at > now() { "expires" } else { "expired" };
                        text.push_str(&format!("; access token {verb} {}", when(at)));
                    }
                }
            }
        }
        text.push('\n');
    }
    emit(&text)?;
    Ok(exit(EXIT_OK))
}

/// `2026-12-03 21:13:05 UTC (in 52 min)`.
fn when(at: i64) -> String {
    let left = at - now();
    let relative =
        if left >= 0 { format!("in {}", span(left)) } else { format!("{} ago", span(-left)) };
    let time = time::OffsetDateTime::from_unix_timestamp(at)
        .map(|t| {
            format!("{} {:02}:{:02}:{:02} UTC", format_date(at), t.hour(), t.minute(), t.second())
        })
        .unwrap_or_else(|_| at.to_string());
    format!("{time} ({relative})")
}

fn span(seconds: i64) -> String {
    match seconds {
        s if s < 120 => format!("{s} s"),
        s if s < 7200 => format!("{} min", s / 60),
        s => format!("{} h", s / 3600),
    }
}
