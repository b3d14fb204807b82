//! A real Dovecot IMAP server on loopback, one per test.
//!
//! ```ignore
//! let server = Dovecot::start()?;
//! server.append("INBOX", &message)?;
//! // point the binary at 127.0.0.1:server.imaps_port() with server.ca_file() ...
//! assert_eq!(server.list_uids("INBOX")?, vec![1]);
//! ```
//!
//! Each instance lives in a fresh temporary folder (config, `base_dir`,
//! `state_dir`, log, Maildir, certificates), listens on two free ports of
//! 127.0.0.1 (implicit TLS and plain-with-STARTTLS) and has a unique
//! `instance_name`, so tests run in parallel.
//!
//! How it runs: `dovecot -F -c <config>` (foreground) is spawned as our child
//! in a process group of its own; its standard output and error go to
//! `dovecot.out`, its log to `dovecot.log`. Dovecot's service processes stay in
//! that group, so `kill()` and `Drop` signal the whole group and then wait
//! until no live member is left (read from `/proc`). Foreground mode avoids
//! the daemon holding the caller's pipes open and gives us the master's exit
//! status when a start fails (for example a port taken in the meantime, which
//! `start()` retries with new ports).
//!
//! The harness's own IMAP client (`append`, `list_uids`, ...) speaks plain
//! IMAP to the STARTTLS port: Dovecot treats loopback as secure and
//! `disable_plaintext_auth = no` allows LOGIN anyway.
//!
//! Line endings: Dovecot stores messages in the Maildir with LF line ends and
//! always serves them with CRLF. A message appended with CRLF comes back
//! byte-identical; one appended with bare LF comes back with every LF turned
//! into CRLF (see [`crlf`]).
//!
//! If `dovecot` is not installed, `start()` fails with
//! "dovecot is not installed: apt-get install -y dovecot-imapd": tests that
//! need it fail rather than pass silently.
//!
//! Set `DMARC_TEST_KEEP_DOVECOT=1` to keep the temporary folder of every
//! instance (its path is printed) for debugging.

use std::fmt::Write as _;
use std::fs;
use std::io::{ErrorKind, Read as _, Write as _};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};

/// Where the test server listens.
pub const HOST: &str = "127.0.0.1";

/// How long `start()`/`restart()` wait for the ports to answer.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// Read/write timeout of the harness's own IMAP connections. Generous: with
/// 14 Dovecot tests at once on two loaded cores, an EXAMINE right after a
/// SIGKILL and restart (Dovecot rebuilding its index) has taken over 30 s.
/// These bound a hang, they time nothing: a healthy run never waits them.
const IO_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a graceful stop may take before the group is SIGKILLed.
const STOP_TIMEOUT: Duration = Duration::from_secs(3);
/// How many times `start()` picks new ports after "Address already in use".
const PORT_ATTEMPTS: u32 = 5;

const USER: &str = "dmarc";

static INSTANCES: AtomicU32 = AtomicU32::new(0);

/// A running (or deliberately killed) Dovecot instance. Stopped and its
/// folder removed on drop. All methods take `&self`, so a test can `kill()`
/// it from another thread (e.g. `std::thread::scope`) while the binary under
/// test is talking to it.
pub struct Dovecot {
    dovecot: PathBuf,
    config: PathBuf,
    instance: String,
    imap_port: u16,
    imaps_port: u16,
    password: String,
    password_file: PathBuf,
    ca_file: PathBuf,
    other_ca_file: PathBuf,
    maildir: PathBuf,
    log_file: PathBuf,
    out_file: PathBuf,
    run_dir: PathBuf,
    /// The foreground master, `None` while killed or stopped. Its pid is
    /// also the process group id of every Dovecot process of this instance.
    master: Mutex<Option<Child>>,
    /// Settings appended to the generated config (`start_with`).
    extra_config: String,
    /// The introspection URL and SASL mechanisms of the `oauth2` passdb.
    oauth2: Option<(String, String)>,
    /// Last field: removed after `Drop::drop` has stopped the server.
    dir: Option<tempfile::TempDir>,
}

/// Who the mail processes and Dovecot's own services run as.
struct Identity {
    root: bool,
    /// Owner of the Maildir (userdb `uid`/`gid`).
    mail_uid: u32,
    mail_gid: u32,
    /// `default_login_user` / `default_internal_user`.
    login_user: String,
    internal_user: String,
    /// `default_internal_group` (only written when not root).
    internal_group: String,
}

impl Dovecot {
    /// Makes the certificates, users and config in a fresh temporary folder
    /// and starts Dovecot on two free loopback ports, returning once both
    /// ports answer (a `* OK` greeting from this very instance on the plain
    /// one). Retries with new ports when one was taken in the meantime.
    pub fn start() -> Result<Dovecot> {
        Self::start_with("")
    }

    /// Like [`Dovecot::start`], with Dovecot settings appended to the
    /// generated config (for example `imap_capability = ...` to take MOVE
    /// away, as older servers lack it).
    pub fn start_with(extra_config: &str) -> Result<Dovecot> {
        Self::start_full(extra_config, None)
    }

    /// Like [`Dovecot::start`], also accepting OAuth2 bearer tokens through
    /// its `oauth2` passdb: the SASL `mechanisms` given (`xoauth2`,
    /// `oauthbearer` or both), each token checked at the RFC 7662
    /// `introspection_url` (active tokens of user `dmarc` log in).
    pub fn start_oauth2(introspection_url: &str, mechanisms: &str) -> Result<Dovecot> {
        Self::start_full("", Some((introspection_url.to_owned(), mechanisms.to_owned())))
    }

    fn start_full(extra_config: &str, oauth2: Option<(String, String)>) -> Result<Dovecot> {
        let dovecot = find_dovecot()
            .ok_or_else(|| anyhow!("dovecot is not installed: apt-get install -y dovecot-imapd"))?;
        let tmp = super::temp_dir();
        let dir = tmp.path().to_path_buf();
        // Dovecot's unprivileged processes must reach files below it.
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755))?;
        let id = identity(&dir)?;

        let n = INSTANCES.fetch_add(1, Ordering::Relaxed);
        let instance = format!("dmarc-test-{}-{n}", std::process::id());
        let password = format!("Pw-{}-{n}-{:x}", std::process::id(), nanos() & 0xffff_ffff);

        let certs = dir.join("certs");
        fs::create_dir_all(&certs)?;
        make_certificates(&certs)?;

        let users = dir.join("users");
        fs::write(&users, format!("{USER}:{{PLAIN}}{password}::::::\n"))?;
        fs::set_permissions(&users, fs::Permissions::from_mode(0o644))?;
        let password_file = dir.join("password");
        fs::write(&password_file, format!("{password}\n"))?;
        fs::set_permissions(&password_file, fs::Permissions::from_mode(0o600))?;

        let home = dir.join("mail").join(USER);
        fs::create_dir_all(&home)?;
        if id.root {
            for p in [dir.join("mail"), home.clone()] {
                std::os::unix::fs::chown(&p, Some(id.mail_uid), Some(id.mail_gid))
                    .with_context(|| format!("chown {}", p.display()))?;
            }
        }
        let run_dir = dir.join("run");
        fs::create_dir_all(&run_dir)?;
        fs::create_dir_all(dir.join("state"))?;

        let mut server = Dovecot {
            dovecot,
            config: dir.join("dovecot.conf"),
            instance,
            imap_port: 0,
            imaps_port: 0,
            password,
            password_file,
            ca_file: certs.join("ca.pem"),
            other_ca_file: certs.join("other-ca.pem"),
            maildir: home.join("Maildir"),
            log_file: dir.join("dovecot.log"),
            out_file: dir.join("dovecot.out"),
            run_dir,
            master: Mutex::new(None),
            extra_config: extra_config.to_owned(),
            oauth2: oauth2.clone(),
            dir: Some(tmp),
        };
        if let Some((url, _)) = &oauth2 {
            let conf = dir.join("oauth2.conf.ext");
            fs::write(
                &conf,
                format!(
                    "introspection_mode = post\nintrospection_url = {url}\n\
                     username_attribute = username\nactive_attribute = active\n\
                     active_value = true\n"
                ),
            )?;
            fs::set_permissions(&conf, fs::Permissions::from_mode(0o644))?;
        }

        let mut attempt = 0;
        loop {
            attempt += 1;
            let (imap_port, imaps_port) = free_ports()?;
            server.imap_port = imap_port;
            server.imaps_port = imaps_port;
            fs::write(&server.config, server.config_text(&id))?;
            match server.spawn_and_wait() {
                Ok(child) => {
                    *server.lock() = Some(child);
                    return Ok(server);
                }
                Err(StartError::PortInUse(_)) if attempt < PORT_ATTEMPTS => continue,
                Err(e) => return Err(anyhow!(e.to_string())),
            }
        }
    }

    /// SIGKILLs the master and every Dovecot process of this instance and
    /// returns once they are all gone (connections are cut, the ports
    /// refuse). Mail already stored stays. Does nothing if it is not running.
    pub fn kill(&self) -> Result<()> {
        let mut master = self.lock();
        if let Some(child) = master.take() {
            self.kill_group(child, "KILL", Duration::ZERO)?;
        }
        Ok(())
    }

    /// Stops the instance gracefully (SIGTERM to its process group, SIGKILL
    /// after 3 s) and returns once every process is gone. Does nothing if it
    /// is not running.
    pub fn stop(&self) -> Result<()> {
        let mut master = self.lock();
        if let Some(child) = master.take() {
            self.kill_group(child, "TERM", STOP_TIMEOUT)?;
        }
        Ok(())
    }

    /// Starts the instance again on the same ports with the same mail,
    /// users and certificates (stopping it first if it is still running).
    /// Fails if a port was taken by someone else in the meantime.
    pub fn restart(&self) -> Result<()> {
        let mut master = self.lock();
        if let Some(child) = master.take() {
            self.kill_group(child, "TERM", STOP_TIMEOUT)?;
        }
        let _ = fs::remove_file(self.run_dir.join("master.pid"));
        let child = self.spawn_and_wait().map_err(|e| anyhow!(e.to_string()))?;
        *master = Some(child);
        Ok(())
    }

    /// Whether the master process is alive (false after `kill()`/`stop()`,
    /// or if it died by itself).
    pub fn is_running(&self) -> bool {
        let mut master = self.lock();
        match master.as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// The address to connect to: always `127.0.0.1`.
    pub fn host(&self) -> &'static str {
        HOST
    }

    /// Port of the implicit-TLS (IMAPS) listener.
    pub fn imaps_port(&self) -> u16 {
        self.imaps_port
    }

    /// Port of the plain listener, which offers STARTTLS (not required).
    pub fn imap_port(&self) -> u16 {
        self.imap_port
    }

    /// The IMAP login name.
    pub fn user(&self) -> &str {
        USER
    }

    /// The IMAP password (ASCII letters, digits and `-`).
    pub fn password(&self) -> &str {
        &self.password
    }

    /// A file (mode 0600) holding the password followed by one `\n`, as
    /// `echo "$pw" > file` makes it.
    pub fn password_file(&self) -> &Path {
        &self.password_file
    }

    /// PEM file of the throwaway CA that signed the server certificate
    /// (valid for `localhost` and `127.0.0.1`).
    pub fn ca_file(&self) -> &Path {
        &self.ca_file
    }

    /// PEM file of a second, unrelated CA: a client trusting only this one
    /// must refuse the server.
    pub fn other_ca_file(&self) -> &Path {
        &self.other_ca_file
    }

    /// The user's Maildir (INBOX; other folders are `.Name` below it, with
    /// `/` in IMAP names stored as `.`).
    pub fn maildir(&self) -> &Path {
        &self.maildir
    }

    /// The instance's temporary folder.
    pub fn dir(&self) -> &Path {
        self.dir.as_ref().map_or_else(|| Path::new(""), |d| d.path())
    }

    /// The generated `dovecot.conf`.
    pub fn config_file(&self) -> &Path {
        &self.config
    }

    /// Dovecot's log file (`log_path`).
    pub fn log_file(&self) -> &Path {
        &self.log_file
    }

    /// The unique `instance_name`.
    pub fn instance_name(&self) -> &str {
        &self.instance
    }

    /// The last `lines` lines of the Dovecot log and of the master's
    /// standard output/error, for error messages.
    pub fn log_tail(&self, lines: usize) -> String {
        let mut out = String::new();
        for (name, path) in [("dovecot.log", &self.log_file), ("stdout/stderr", &self.out_file)] {
            let text = fs::read_to_string(path).unwrap_or_default();
            let all: Vec<&str> = text.lines().collect();
            let tail = &all[all.len().saturating_sub(lines)..];
            let _ = writeln!(out, "--- {name} ({}):", path.display());
            for line in tail {
                let _ = writeln!(out, "{line}");
            }
        }
        out
    }

    /// Puts `message` into `folder` with IMAP APPEND (no flags), creating the
    /// folder if missing. Returns the new message's UID.
    pub fn append(&self, folder: &str, message: &[u8]) -> Result<u32> {
        self.append_with_flags(folder, message, &[])
    }

    /// Like [`Dovecot::append`], with flags such as `\Seen` or a keyword.
    pub fn append_with_flags(&self, folder: &str, message: &[u8], flags: &[&str]) -> Result<u32> {
        self.with_session(|s| {
            ensure_folder(s, folder)?;
            let appended = s
                .append(folder, message)
                .flags(flags.iter().map(|f| imap::types::Flag::from(*f)))
                .finish()
                .with_context(|| format!("APPEND to {folder}"))?;
            // `UidSetMember` is not re-exported by the imap crate: read the
            // UID from its Debug form (`Uid(7)` or `UidRange(7..=7)`).
            let uids = format!("{:?}", appended.uids);
            let digits: String = uids
                .chars()
                .skip_while(|c| !c.is_ascii_digit())
                .take_while(char::is_ascii_digit)
                .collect();
            digits.parse().with_context(|| format!("no APPENDUID in {uids}"))
        })
    }

    /// Creates `folder` (and subscribes to it) unless it exists.
    pub fn create_folder(&self, folder: &str) -> Result<()> {
        self.with_session(|s| ensure_folder(s, folder))
    }

    /// The UIDs of the messages in `folder`, ascending. Fails if the folder
    /// does not exist. Read-only (EXAMINE).
    pub fn list_uids(&self, folder: &str) -> Result<Vec<u32>> {
        self.with_session(|s| {
            examine(s, folder)?;
            let mut uids: Vec<u32> = s.uid_search("ALL")?.into_iter().collect();
            uids.sort_unstable();
            Ok(uids)
        })
    }

    /// The full raw messages (`BODY.PEEK[]`) of `folder` in UID order, as
    /// Dovecot serves them (CRLF line ends). Read-only: sets no `\Seen`.
    pub fn folder_messages(&self, folder: &str) -> Result<Vec<Vec<u8>>> {
        Ok(self.messages_with_uids(folder)?.into_iter().map(|(_, m)| m).collect())
    }

    /// Asserts that `folder` holds each of `originals` exactly once, and
    /// nothing else (Dovecot serves bare LF as CRLF, so line ends are
    /// compared loosely).
    pub fn assert_holds_each_once(&self, folder: &str, originals: &[Vec<u8>]) {
        let normalise = |m: &[u8]| String::from_utf8_lossy(m).replace("\r\n", "\n");
        let mut want: Vec<String> = originals.iter().map(|m| normalise(m)).collect();
        let mut got: Vec<String> = self
            .folder_messages(folder)
            .expect("the folder's messages")
            .iter()
            .map(|m| normalise(m))
            .collect();
        want.sort();
        got.sort();
        assert_eq!(got.len(), want.len(), "messages lost or doubled in {folder}");
        assert_eq!(got, want, "every message in {folder} exactly once");
    }

    /// Like [`Dovecot::folder_messages`], each with its UID.
    pub fn messages_with_uids(&self, folder: &str) -> Result<Vec<(u32, Vec<u8>)>> {
        self.with_session(|s| {
            if examine(s, folder)? == 0 {
                return Ok(Vec::new());
            }
            let fetches = s.uid_fetch("1:*", "(UID BODY.PEEK[])")?;
            let mut out = Vec::with_capacity(fetches.len());
            for f in fetches.iter() {
                let uid = f.uid.ok_or_else(|| anyhow!("FETCH without UID"))?;
                let body = f.body().ok_or_else(|| anyhow!("FETCH of UID {uid} without BODY[]"))?;
                out.push((uid, body.to_vec()));
            }
            out.sort_by_key(|(uid, _)| *uid);
            Ok(out)
        })
    }

    /// Each message's UID and flags (`\Seen`, `\Deleted`, keywords, ...),
    /// in UID order; `\Recent` is left out (it depends on the session).
    pub fn flags(&self, folder: &str) -> Result<Vec<(u32, Vec<String>)>> {
        self.with_session(|s| {
            if examine(s, folder)? == 0 {
                return Ok(Vec::new());
            }
            let fetches = s.uid_fetch("1:*", "(UID FLAGS)")?;
            let mut out = Vec::with_capacity(fetches.len());
            for f in fetches.iter() {
                let uid = f.uid.ok_or_else(|| anyhow!("FETCH without UID"))?;
                let mut flags: Vec<String> = f
                    .flags()
                    .iter()
                    .filter(|flag| **flag != imap::types::Flag::Recent)
                    .map(ToString::to_string)
                    .collect();
                flags.sort();
                out.push((uid, flags));
            }
            out.sort_by_key(|(uid, _)| *uid);
            Ok(out)
        })
    }

    /// Every selectable folder (`LIST "" "*"`), sorted; the hierarchy
    /// separator is `/`, e.g. `["DMARC/Done", "INBOX"]`.
    pub fn folders(&self) -> Result<Vec<String>> {
        self.with_session(list_folders)
    }

    /// A logged-in plain IMAP session to this instance, for anything the
    /// helpers above do not cover. Log out when done.
    pub fn session(&self) -> Result<imap::Session<TcpStream>> {
        let tcp = TcpStream::connect_timeout(&self.plain_addr(), IO_TIMEOUT)
            .with_context(|| format!("connect to {HOST}:{}", self.imap_port))?;
        tcp.set_read_timeout(Some(IO_TIMEOUT))?;
        tcp.set_write_timeout(Some(IO_TIMEOUT))?;
        let mut client = imap::Client::new(tcp);
        client.read_greeting().context("read the IMAP greeting")?;
        client.login(USER, &self.password).map_err(|(e, _)| anyhow!("LOGIN failed: {e}"))
    }

    fn with_session<T>(
        &self,
        f: impl FnOnce(&mut imap::Session<TcpStream>) -> Result<T>,
    ) -> Result<T> {
        let mut session = self.session()?;
        let result = f(&mut session);
        let _ = session.logout();
        result.with_context(|| format!("Dovecot {}\n{}", self.instance, self.log_tail(15)))
    }

    fn plain_addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.imap_port))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Child>> {
        self.master.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn greeting(&self) -> String {
        format!("Dovecot ready ({}).", self.instance)
    }

    fn config_text(&self, id: &Identity) -> String {
        let dir = self.dir().display().to_string();
        let chroots = if id.root {
            String::new()
        } else {
            // Without root there is no chroot (nor user switching).
            format!(
                "default_internal_group = {}\n\
                 service anvil {{\n  chroot =\n}}\n\
                 service imap-login {{\n  chroot =\n}}\n",
                id.internal_group
            )
        };
        format!(
            "# Generated by tests/common/dovecot.rs
instance_name = {instance}
base_dir = {dir}/run
state_dir = {dir}/state
log_path = {dir}/dovecot.log
protocols = imap
listen = {HOST}
login_greeting = {greeting}
ssl = yes
ssl_cert = <{dir}/certs/server.pem
ssl_key = <{dir}/certs/server.key
disable_plaintext_auth = no
auth_mechanisms = plain login{mechanisms}
# The default 2 s would make every wrong-password test slow.
auth_failure_delay = 0
default_login_user = {login_user}
default_internal_user = {internal_user}
first_valid_uid = 1
mail_location = maildir:~/Maildir
mail_fsync = never
{oauth2_passdb}passdb {{
  driver = passwd-file
  args = scheme=PLAIN {dir}/users
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={dir}/mail/%u
}}
namespace inbox {{
  inbox = yes
  separator = /
}}
service imap-login {{
  inet_listener imap {{
    port = {imap_port}
  }}
  inet_listener imaps {{
    port = {imaps_port}
    ssl = yes
  }}
}}
{chroots}{extra}
",
            extra = self.extra_config,
            mechanisms = self.oauth2.as_ref().map(|(_, m)| format!(" {m}")).unwrap_or_default(),
            oauth2_passdb = self
                .oauth2
                .as_ref()
                .map(|(_, m)| format!(
                    "passdb {{\n  driver = oauth2\n  mechanisms = {m}\n  args = {dir}/oauth2.conf.ext\n}}\n"
                ))
                .unwrap_or_default(),
            instance = self.instance,
            greeting = self.greeting(),
            login_user = id.login_user,
            internal_user = id.internal_user,
            uid = id.mail_uid,
            gid = id.mail_gid,
            imap_port = self.imap_port,
            imaps_port = self.imaps_port,
        )
    }

    /// Spawns the foreground master and waits until this instance answers on
    /// both ports.
    fn spawn_and_wait(&self) -> std::result::Result<Child, StartError> {
        let io = |e: std::io::Error| StartError::Other(e.to_string());
        let out =
            fs::OpenOptions::new().create(true).append(true).open(&self.out_file).map_err(io)?;
        let err = out.try_clone().map_err(io)?;
        let mut child = Command::new(&self.dovecot)
            .arg("-F")
            .arg("-c")
            .arg(&self.config)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0)
            .spawn()
            .map_err(|e| StartError::Other(format!("spawn {}: {e}", self.dovecot.display())))?;

        let started = Instant::now();
        let mut imaps_up = false;
        let mut plain_up = false;
        let mut probe = None;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                let tail = self.log_tail(20);
                let msg = format!(
                    "dovecot (instance {}, ports {}/{}) exited at start with {status}\n{tail}",
                    self.instance, self.imap_port, self.imaps_port
                );
                return Err(if tail.contains("Address already in use") {
                    StartError::PortInUse(msg)
                } else {
                    StartError::Other(msg)
                });
            }
            if !imaps_up {
                let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.imaps_port));
                imaps_up = TcpStream::connect_timeout(&addr, Duration::from_millis(200))
                    .map(|s| s.shutdown(Shutdown::Both))
                    .is_ok();
            }
            if !plain_up {
                plain_up = self.poll_greeting(&mut probe);
            }
            if imaps_up && plain_up {
                return Ok(child);
            }
            if started.elapsed() > READY_TIMEOUT {
                let _ = self.kill_group(child, "KILL", Duration::ZERO);
                return Err(StartError::Other(format!(
                    "dovecot (instance {}) did not answer on {HOST}:{} and :{} within {:?}\n{}",
                    self.instance,
                    self.imap_port,
                    self.imaps_port,
                    READY_TIMEOUT,
                    self.log_tail(20)
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// One non-blocking step of waiting for this instance's own greeting on
    /// the plain port, on a connection kept in `probe` across steps. (A
    /// blocking read could wait long on a socket someone else holds, while
    /// our master has already exited.)
    fn poll_greeting(&self, probe: &mut Option<(TcpStream, Vec<u8>)>) -> bool {
        if probe.is_none() {
            let Ok(tcp) =
                TcpStream::connect_timeout(&self.plain_addr(), Duration::from_millis(200))
            else {
                return false;
            };
            if tcp.set_read_timeout(Some(Duration::from_millis(20))).is_err() {
                return false;
            }
            *probe = Some((tcp, Vec::new()));
        }
        let Some((tcp, line)) = probe.as_mut() else {
            return false;
        };
        let mut buf = [0u8; 512];
        match (&*tcp).read(&mut buf) {
            Ok(0) => {
                *probe = None;
                false
            }
            Ok(n) => {
                line.extend_from_slice(&buf[..n]);
                if !line.contains(&b'\n') {
                    return false;
                }
                let text = String::from_utf8_lossy(line);
                let ok = text.starts_with("* OK") && text.contains(&self.greeting());
                if ok {
                    // So that the login process exits at once.
                    let _ = (&*tcp).write_all(b"a LOGOUT\r\n");
                }
                let _ = tcp.shutdown(Shutdown::Both);
                *probe = None;
                ok
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => false,
            Err(_) => {
                *probe = None;
                false
            }
        }
    }

    /// Sends SIGTERM or SIGKILL to the instance's process group, escalates
    /// to SIGKILL after `grace`, reaps the master and waits until no live
    /// process of the group is left.
    fn kill_group(&self, mut child: Child, signal: &str, grace: Duration) -> Result<()> {
        let pgid = child.id();
        signal_group(pgid, signal);
        let deadline = Instant::now() + grace;
        loop {
            match child.try_wait() {
                Ok(Some(_)) => break,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                Ok(None) => {
                    signal_group(pgid, "KILL");
                    child.wait().context("wait for the dovecot master")?;
                    break;
                }
                Err(e) => return Err(e).context("wait for the dovecot master"),
            }
        }
        // The services outlive the master for a moment; finish them off.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let members = live_group_members(pgid);
            if members.is_empty() {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("dovecot processes {members:?} (group {pgid}) did not die");
            }
            signal_group(pgid, "KILL");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            eprintln!("stopping Dovecot {}: {e:#}", self.instance);
        }
        if std::env::var_os("DMARC_TEST_KEEP_DOVECOT").is_some()
            && let Some(dir) = self.dir.take()
        {
            eprintln!("keeping Dovecot folder {}", dir.keep().display());
        }
    }
}

/// Why a start attempt failed.
#[derive(Debug)]
enum StartError {
    /// A listener port was taken: retry with other ports.
    PortInUse(String),
    Other(String),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::PortInUse(m) | StartError::Other(m) => f.write_str(m),
        }
    }
}

/// `text` with every line end as CRLF: what Dovecot serves for a message
/// appended with bare LF (or mixed) line ends.
pub fn crlf(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + text.len() / 32);
    let mut prev = 0u8;
    for &b in text {
        if b == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        prev = b;
    }
    out
}

/// EXAMINEs `folder` and returns how many messages it holds. The reply is
/// read here: the IMAP library panics on an untagged `NO` in it, which
/// Dovecot sends after it repaired an index (as after a kill -9).
fn examine(s: &mut imap::Session<TcpStream>, folder: &str) -> Result<u32> {
    let reply = s
        .run_command_and_read_response(format!("EXAMINE \"{folder}\""))
        .with_context(|| format!("EXAMINE {folder} (does the folder exist?)"))?;
    let exists = String::from_utf8_lossy(&reply)
        .lines()
        .filter_map(|line| line.strip_prefix("* ")?.strip_suffix(" EXISTS")?.parse().ok())
        .next_back()
        .unwrap_or(0);
    Ok(exists)
}

fn list_folders(s: &mut imap::Session<TcpStream>) -> Result<Vec<String>> {
    let names = s.list(Some(""), Some("*")).context("LIST")?;
    let mut out: Vec<String> = names
        .iter()
        .filter(|n| {
            // `NameAttribute` is not re-exported by the imap crate.
            !n.attributes().iter().any(|a| {
                let a = format!("{a:?}");
                a == "NoSelect" || a.contains("NonExistent")
            })
        })
        .map(|n| n.name().to_owned())
        .collect();
    out.sort();
    Ok(out)
}

fn ensure_folder(s: &mut imap::Session<TcpStream>, folder: &str) -> Result<()> {
    let exists = list_folders(s)?
        .iter()
        .any(|f| f == folder || (f == "INBOX" && folder.eq_ignore_ascii_case("INBOX")));
    if !exists {
        s.create(folder).with_context(|| format!("CREATE {folder}"))?;
        s.subscribe(folder).with_context(|| format!("SUBSCRIBE {folder}"))?;
    }
    Ok(())
}

/// Two distinct free ports of 127.0.0.1 (both bound at once, then released).
fn free_ports() -> Result<(u16, u16)> {
    let a = TcpListener::bind((HOST, 0)).context("bind 127.0.0.1:0")?;
    let b = TcpListener::bind((HOST, 0)).context("bind 127.0.0.1:0")?;
    Ok((a.local_addr()?.port(), b.local_addr()?.port()))
}

/// The `dovecot` binary: on `PATH`, or in an `sbin` folder that a non-root
/// user's `PATH` often lacks.
fn find_dovecot() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/local/sbin", "/sbin"].map(PathBuf::from))
        .map(|d| d.join("dovecot"))
        .find(|p| p.is_file())
}

/// Root: mail as `nobody`, Dovecot's own users from the Debian package.
/// Otherwise: everything as the current user (read from a file we made).
fn identity(dir: &Path) -> Result<Identity> {
    let meta = fs::metadata(dir)?;
    if meta.uid() == 0 {
        let uid = id_of("-u", "nobody")?;
        let gid = id_of("-g", "nobody")?;
        Ok(Identity {
            root: true,
            mail_uid: uid,
            mail_gid: gid,
            login_user: "dovenull".to_owned(),
            internal_user: "dovecot".to_owned(),
            internal_group: "dovecot".to_owned(),
        })
    } else {
        let name = id_name("-un")?;
        Ok(Identity {
            root: false,
            mail_uid: meta.uid(),
            mail_gid: meta.gid(),
            login_user: name.clone(),
            internal_user: name,
            internal_group: id_name("-gn")?,
        })
    }
}

/// The current user's (`-un`) or group's (`-gn`) name.
fn id_name(flag: &str) -> Result<String> {
    let out = Command::new("id").arg(flag).output().context("run `id`")?;
    let name = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if !out.status.success() || name.is_empty() {
        bail!("`id {flag}` failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(name)
}

fn id_of(flag: &str, user: &str) -> Result<u32> {
    let out = Command::new("id").args([flag, user]).output().context("run `id`")?;
    String::from_utf8_lossy(&out.stdout).trim().parse().with_context(|| {
        format!("`id {flag} {user}` failed: {}", String::from_utf8_lossy(&out.stderr))
    })
}

/// Makes, with the `openssl` CLI, in `certs`: `ca.pem` (CA:TRUE) and the
/// `server.pem`/`server.key` it signed for `localhost` and `127.0.0.1`, and an
/// unrelated `other-ca.pem`. ECDSA P-256 keys, which are quick to make.
fn make_certificates(certs: &Path) -> Result<()> {
    let ca_ext = ["basicConstraints=critical,CA:TRUE", "keyUsage=critical,keyCertSign,cRLSign"];
    for (name, cn) in [("ca", "dmarc-report test CA"), ("other-ca", "dmarc-report unrelated CA")] {
        let mut cmd = Command::new("openssl");
        cmd.current_dir(certs).args(["req", "-x509", "-nodes", "-days", "2"]);
        cmd.args(["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]);
        cmd.args(["-keyout", &format!("{name}.key"), "-out", &format!("{name}.pem")]);
        cmd.args(["-subj", &format!("/O=dmarc-report tests/CN={cn}")]);
        for ext in ca_ext {
            cmd.args(["-addext", ext]);
        }
        openssl(&mut cmd)?;
    }
    openssl(
        Command::new("openssl")
            .current_dir(certs)
            .args(["req", "-new", "-nodes", "-newkey", "ec", "-pkeyopt"])
            .args(["ec_paramgen_curve:prime256v1", "-keyout", "server.key", "-out", "server.csr"])
            .args(["-subj", "/O=dmarc-report tests/CN=localhost"]),
    )?;
    fs::write(
        certs.join("server.ext"),
        "basicConstraints=critical,CA:FALSE\n\
         keyUsage=critical,digitalSignature,keyEncipherment\n\
         extendedKeyUsage=serverAuth\n\
         subjectAltName=DNS:localhost,IP:127.0.0.1\n",
    )?;
    let serial = format!("0x{:x}", nanos() | 1);
    openssl(
        Command::new("openssl")
            .current_dir(certs)
            .args(["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key"])
            .args(["-set_serial", &serial, "-days", "2", "-extfile", "server.ext"])
            .args(["-out", "server.pem"]),
    )?;
    Ok(())
}

fn openssl(cmd: &mut Command) -> Result<()> {
    let out = match cmd.stdin(Stdio::null()).output() {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            bail!("openssl is not installed: apt-get install -y openssl")
        }
        Err(e) => return Err(e).context("run openssl"),
    };
    if !out.status.success() {
        bail!("{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

/// Sends `signal` to every process of group `pgid` (errors ignored: the
/// group may already be gone).
fn signal_group(pgid: u32, signal: &str) {
    let _ = Command::new("kill")
        .args(["-s", signal, "--", &format!("-{pgid}")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Pids of the live (not zombie) processes whose process group is `pgid`.
fn live_group_members(pgid: u32) -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut pids = Vec::new();
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // "pid (comm) state ppid pgrp ...": comm may hold spaces and ')'.
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        let mut fields = rest.split_whitespace();
        let state = fields.next();
        let pgrp = fields.nth(1).and_then(|s| s.parse::<u32>().ok());
        if pgrp == Some(pgid) && state != Some("Z") && state != Some("X") {
            pids.push(pid);
        }
    }
    pids
}

fn nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}
