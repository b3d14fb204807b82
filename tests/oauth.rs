//! OAuth2 login for `fetch` and `auth`, with real parts: Dovecot accepting
//! XOAUTH2 / OAUTHBEARER through its `oauth2` passdb, which checks each
//! token at the introspection endpoint of a local OAuth 2.0 server
//! (`tests/common/oauth_server.rs`) that also issues the tokens.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::dovecot::Dovecot;
use common::oauth_server::{self, CLIENT_ID, OAuthServer};
use common::smtp::make_certificates;
use common::{Run, command, rua, run, temp_dir};
use dmarc_report::store::inspect::Inspector;

/// A test setup: the two servers, a sandbox with a config file for one
/// OAuth2 account named `m365`, the client secret in a file.
struct Setup {
    idp: OAuthServer,
    imap: Dovecot,
    sandbox: tempfile::TempDir,
    config: PathBuf,
    db: PathBuf,
    token_file: PathBuf,
}

impl Setup {
    fn new(flow: &str, lifetime: u64, mechanisms: &str, extra: &str) -> Setup {
        Setup::with_idp(OAuthServer::start(lifetime), temp_dir(), flow, mechanisms, extra)
    }

    fn with_idp(
        idp: OAuthServer,
        sandbox: tempfile::TempDir,
        flow: &str,
        mechanisms: &str,
        extra: &str,
    ) -> Setup {
        let imap = Dovecot::start_oauth2(&idp.introspection_url(), mechanisms).unwrap();
        let secret = sandbox.path().join("client-secret");
        std::fs::write(&secret, format!("{}\n", idp.client_secret())).unwrap();
        let token_file = sandbox.path().join("state/tokens/m365.json");
        let config = sandbox.path().join("config.toml");
        let base = idp.base();
        std::fs::write(
            &config,
            format!(
                r#"[[account]]
name = "m365"
host = "{host}"
port = {port}
user = "{user}"
ca_file = "{ca}"
archive_folder = "Done"
auth = "oauth2"
oauth2_provider = "custom"
oauth2_flow = "{flow}"
oauth2_client_id = "{CLIENT_ID}"
oauth2_client_secret_file = "{secret}"
oauth2_token_url = "{base}/token"
oauth2_device_url = "{base}/device"
oauth2_auth_url = "{base}/authorize"
oauth2_scope = "imap offline_access"
oauth2_token_file = "{token_file}"
{extra}
"#,
                host = imap.host(),
                port = imap.imaps_port(),
                user = imap.user(),
                ca = imap.ca_file().display(),
                secret = secret.display(),
                token_file = token_file.display(),
            ),
        )
        .unwrap();
        let db = sandbox.path().join("dmarc.db");
        Setup { idp, imap, sandbox, config, db, token_file }
    }

    /// Points the account's `ca_file` at `ca`.
    fn set_ca_file(&self, ca: &Path) {
        let text = std::fs::read_to_string(&self.config).unwrap();
        let old = format!("ca_file = \"{}\"", self.imap.ca_file().display());
        assert!(text.contains(&old));
        std::fs::write(
            &self.config,
            text.replace(&old, &format!("ca_file = \"{}\"", ca.display())),
        )
        .unwrap();
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = command(self.sandbox.path());
        cmd.env("XDG_CONFIG_HOME", self.sandbox.path().join("xdg-config")).args(args);
        cmd.arg("--config").arg(&self.config);
        cmd
    }

    fn fetch(&self, extra: &[&str]) -> Command {
        let mut cmd = self.cmd(&["fetch"]);
        cmd.arg("--db").arg(&self.db).args(extra);
        cmd
    }

    fn reports(&self) -> i64 {
        if !self.db.exists() {
            return 0;
        }
        // While a watcher creates the database it may not be readable yet.
        Inspector::open(&self.db)
            .and_then(|db| db.counts())
            .map_or(0, |c| i64::try_from(c.reports).unwrap())
    }

    /// No client secret and no token issued appears in what was printed.
    fn assert_no_secret(&self, out: &Run) {
        for secret in self.idp.secrets() {
            assert!(
                !out.stdout.contains(&secret) && !out.stderr.contains(&secret),
                "a secret leaked into the output: {out:?}"
            );
        }
    }

    /// Lines of `auth login`'s standard output as they come.
    fn login(&self, extra: &[&str]) -> (Child, mpsc::Receiver<String>) {
        let mut child = self
            .cmd(&["auth", "login"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        (child, rx)
    }

    /// Signs in with the device code flow, approving the code shown.
    fn device_login(&self) -> Run {
        let (child, lines) = self.login(&["--account", "m365"]);
        let mut shown = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            let Ok(line) = lines.recv_timeout(Duration::from_secs(1)) else { continue };
            shown.push(line.clone());
            if let Some(code) = line.strip_prefix("and enter the code ") {
                assert!(self.idp.approve_device(code.trim()), "unknown code {code}");
                break;
            }
        }
        let mut out: Run = child.wait_with_output().unwrap().into();
        out.stdout = shown.join("\n") + "\n" + &lines.try_iter().collect::<Vec<_>>().join("\n");
        out
    }
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn client_credentials_fetch_stores_reports_unattended_and_keeps_a_private_token_file() {
    let s = Setup::new("client_credentials", 3600, "xoauth2 oauthbearer", "");
    s.imap.append("INBOX", &rua("cc-1", 0)).unwrap();
    let out = run(&mut s.fetch(&[]));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(s.reports(), 1);
    assert_eq!(s.imap.list_uids("Done").unwrap().len(), 1);
    assert_eq!(mode(&s.token_file), 0o600);
    s.assert_no_secret(&out);

    // A second run within the token's life asks for no new token.
    s.imap.append("INBOX", &rua("cc-2", 1)).unwrap();
    let out = run(&mut s.fetch(&["--verbose"]));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(s.reports(), 2);
    assert_eq!(s.idp.grants("client_credentials"), 1);
    assert_eq!(s.idp.active_introspections(), 2);
    s.assert_no_secret(&out);

    let status = run(&mut s.cmd(&["auth", "status"]));
    assert_eq!(status.code, Some(0), "{status:?}");
    assert!(status.stdout.contains("m365: oauth2 client_credentials"), "{status:?}");
    assert!(status.stdout.contains("access token expires"), "{status:?}");
    s.assert_no_secret(&status);
}

#[test]
fn an_identity_provider_behind_a_private_ca_is_trusted_through_the_accounts_ca_file() {
    let sandbox = temp_dir();
    let certs = sandbox.path().join("idp-certs");
    std::fs::create_dir_all(&certs).unwrap();
    make_certificates(&certs);
    let idp = OAuthServer::start_tls(3600, &certs.join("server.pem"), &certs.join("server.key"));
    assert!(idp.base().starts_with("https://"));
    let s = Setup::with_idp(idp, sandbox, "client_credentials", "xoauth2", "");
    s.imap.append("INBOX", &rua("tls-1", 0)).unwrap();

    // The account's ca_file holds only the IMAP server's CA: the provider's
    // certificate is refused, with the way out, and nothing is fetched.
    let out = run(&mut s.fetch(&[]));
    assert_eq!(out.code, Some(2), "{out:?}");
    assert_eq!(out.stderr.lines().count(), 1, "one line: {}", out.stderr);
    assert!(out.stderr.contains(&format!("{}/token", s.idp.base())), "{}", out.stderr);
    assert!(out.stderr.contains("ca_file"), "{}", out.stderr);
    assert_eq!(s.reports(), 0);
    assert_eq!(s.imap.list_uids("INBOX").unwrap().len(), 1, "the message stays");
    s.assert_no_secret(&out);

    // Both CAs in the one file: the token comes over verified TLS.
    let both = s.sandbox.path().join("both-cas.pem");
    let mut pem = std::fs::read(s.imap.ca_file()).unwrap();
    pem.extend(std::fs::read(certs.join("ca.pem")).unwrap());
    std::fs::write(&both, pem).unwrap();
    s.set_ca_file(&both);
    let out = run(&mut s.fetch(&[]));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(s.reports(), 1);
    assert_eq!(s.idp.grants("client_credentials"), 1);
    s.assert_no_secret(&out);
}

#[test]
fn device_code_login_then_fetch_refreshes_and_stores_the_rotated_token_across_runs() {
    // Tokens of 2 s: every run must renew the access token.
    let s = Setup::new("device_code", 2, "xoauth2", "");
    let out = run(&mut s.fetch(&[]));
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(out.stderr.contains("dmarc-report auth login --account m365"), "{out:?}");

    let out = s.device_login();
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains("To sign in, open http://127.0.0.1:"), "{out:?}");
    assert!(out.stdout.contains("m365: signed in"), "{out:?}");
    assert_eq!(mode(&s.token_file), 0o600);
    s.assert_no_secret(&out);

    for (i, id) in ["dc-1", "dc-2", "dc-3"].iter().enumerate() {
        s.imap.append("INBOX", &rua(id, i as i64)).unwrap();
        let out = run(&mut s.fetch(&[]));
        assert_eq!(out.code, Some(0), "run {i}: {out:?}");
        s.assert_no_secret(&out);
    }
    assert_eq!(s.reports(), 3);
    // Each run refreshed with the refresh token the previous one stored
    // (the server spends each refresh token once).
    assert_eq!(s.idp.grants("refresh_token"), 3);
    assert_eq!(mode(&s.token_file), 0o600);

    let status = run(&mut s.cmd(&["auth", "status", "--account", "m365"]));
    assert!(status.stdout.contains("oauth2 device_code"), "{status:?}");
    assert!(status.stdout.contains("with a refresh token"), "{status:?}");
    s.assert_no_secret(&status);
}

#[test]
fn authorization_code_login_with_pkce_and_a_loopback_redirect_then_fetch() {
    let s = Setup::new("authorization_code", 3600, "xoauth2", "");
    let (child, lines) = s.login(&["--no-browser"]);
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut url = None;
    while Instant::now() < deadline && url.is_none() {
        if let Ok(line) = lines.recv_timeout(Duration::from_secs(1))
            && line.starts_with(&format!("{}/authorize?", s.idp.base()))
        {
            url = Some(line);
        }
    }
    let url = url.expect("auth login printed the authorization URL");
    assert!(
        url.contains("code_challenge_method=S256")
            && url.contains("redirect_uri=http%3A%2F%2F127.0.0.1%3A")
    );
    // The browser: the authorization server redirects to the loopback listener.
    let (status, location) = oauth_server::http_get(&url);
    assert_eq!(status, 302);
    let (status, _) = oauth_server::http_get(&location.unwrap());
    assert_eq!(status, 200);
    let out: Run = child.wait_with_output().unwrap().into();
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(s.idp.grants("authorization_code"), 1);
    assert_eq!(mode(&s.token_file), 0o600);

    s.imap.append("INBOX", &rua("code-1", 0)).unwrap();
    let out = run(&mut s.fetch(&[]));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(s.reports(), 1);
    s.assert_no_secret(&out);
}

#[test]
fn an_access_token_expiring_mid_run_is_renewed_and_nothing_is_lost_or_doubled() {
    // Tokens of 2 s, under the renewal margin: after every batch the
    // session is re-established with a fresh token.
    let s = Setup::new("client_credentials", 2, "xoauth2", "");
    let messages: Vec<Vec<u8>> = (0..4).map(|i| rua(&format!("mid-{i}"), i)).collect();
    for m in &messages {
        s.imap.append("INBOX", m).unwrap();
    }
    let out = run(&mut s.fetch(&["--batch-size", "1", "--verbose"]));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(s.reports(), 4);
    assert_eq!(s.imap.list_uids("Done").unwrap().len(), 4, "each message archived once");
    assert!(s.imap.list_uids("INBOX").unwrap().is_empty());
    assert_eq!(s.idp.grants("client_credentials"), 4, "one login per batch");
    assert_eq!(s.idp.active_introspections(), 4);
    assert!(out.stderr.contains("logging in again"), "{out:?}");
    s.assert_no_secret(&out);
}

#[test]
fn watch_logs_in_again_before_the_token_expires_and_keeps_storing() {
    let s = Setup::new("client_credentials", 3, "xoauth2", "");
    let mut child = s
        .fetch(&["--watch", "--verbose"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let wait_for = |n: i64, secs: u64| {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while Instant::now() < deadline {
            if s.reports() == n {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    };
    s.imap.append("INBOX", &rua("w-1", 0)).unwrap();
    let first = wait_for(1, 15);
    // Several token lifetimes pass; the watcher renews each time.
    std::thread::sleep(Duration::from_secs(7));
    s.imap.append("INBOX", &rua("w-2", 1)).unwrap();
    let second = wait_for(2, 15);
    let _ = child.kill();
    let out: Run = child.wait_with_output().unwrap().into();
    assert!(first && second, "reports not stored: {out:?}");
    assert!(s.idp.grants("client_credentials") >= 3, "{out:?}");
    assert!(out.stderr.contains("logging in again"), "{out:?}");
    assert_eq!(s.imap.list_uids("Done").unwrap().len(), 2);
    s.assert_no_secret(&out);
}

#[test]
fn a_revoked_refresh_token_exits_two_naming_the_account_and_the_command_that_fixes_it() {
    let s = Setup::new("device_code", 2, "xoauth2", "");
    assert_eq!(s.device_login().code, Some(0));
    std::thread::sleep(Duration::from_millis(100));
    s.idp.revoke_refresh_tokens();
    let out = run(&mut s.fetch(&[]));
    assert_eq!(out.code, Some(2), "{out:?}");
    assert_eq!(out.stderr.lines().count(), 1, "one line: {out:?}");
    assert!(out.stderr.contains("m365"), "{out:?}");
    assert!(out.stderr.contains("invalid_grant"), "{out:?}");
    assert!(out.stderr.contains("`dmarc-report auth login --account m365`"), "{out:?}");
    s.assert_no_secret(&out);
}

#[test]
fn a_wrong_client_secret_gives_the_providers_code_and_description_in_one_line() {
    let s = Setup::new("client_credentials", 3600, "xoauth2", "");
    let wrong = "Wrong-Secret-0042";
    let file = s.sandbox.path().join("client-secret");
    std::fs::write(&file, wrong).unwrap();
    let out = run(&mut s.fetch(&[]));
    assert_eq!(out.code, Some(2), "{out:?}");
    assert_eq!(out.stderr.lines().count(), 1, "one line: {out:?}");
    assert!(out.stderr.contains("invalid_client: AADSTS7000215"), "{out:?}");
    assert!(!out.stderr.contains(wrong) && !out.stdout.contains(wrong));
    s.assert_no_secret(&out);
}

#[test]
fn a_token_command_gives_the_token_and_a_refused_token_shows_the_servers_error() {
    let s = Setup::new("client_credentials", 3600, "oauthbearer", "");
    let script = s.sandbox.path().join("get-token");
    // Only OAUTHBEARER is offered: the command's token goes through it.
    let token = s.idp.issue_access_token();
    std::fs::write(&script, format!("#!/bin/sh\necho {token}\n")).unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o700)).unwrap();
    s.imap.append("INBOX", &rua("cmd-1", 0)).unwrap();
    let mut cmd = s.fetch(&[]);
    cmd.env("DMARC_REPORT_OAUTH2_TOKEN_COMMAND", &script);
    let out = run(&mut cmd);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(s.reports(), 1);
    s.assert_no_secret(&out);
    assert!(!s.token_file.exists(), "a token command needs no token file");

    // A token the server does not know: its JSON error is decoded.
    std::fs::write(&script, "#!/bin/sh\necho not-a-valid-token\n").unwrap();
    let out = run(&mut cmd);
    assert_eq!(out.code, Some(2), "{out:?}");
    assert_eq!(out.stderr.lines().count(), 1, "one line: {out:?}");
    assert!(out.stderr.contains("OAUTHBEARER refused"), "{out:?}");
    assert!(out.stderr.contains("the server says: status"), "{out:?}");
    assert!(!out.stderr.contains("not-a-valid-token"), "{out:?}");
}
