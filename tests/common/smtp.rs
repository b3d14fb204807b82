//! A real SMTP server for the tests: Debian's `python3-aiosmtpd` on
//! loopback, one per test, storing what it receives in a Maildir. Plain, or
//! with TLS (STARTTLS or implicit, a certificate from a throwaway CA made
//! with `openssl`) and AUTH (one user and password).

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The user and password of a server started with AUTH.
pub const USER: &str = "alerts@example.com";
/// See [`USER`].
pub const PASSWORD: &str = "s3cret-pass";

/// The server script: plain, or TLS (STARTTLS required, or implicit) with
/// AUTH required.
const SCRIPT: &str = r#"
import sys, ssl, time
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox
from aiosmtpd.smtp import AuthResult, LoginPassword

port, maildir, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3]
kwargs = {}
if mode in ("starttls", "implicit"):
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(sys.argv[4], sys.argv[5])
    user, password = sys.argv[6].encode(), sys.argv[7].encode()
    def check(server, session, envelope, mechanism, data):
        ok = isinstance(data, LoginPassword) and data.login == user and data.password == password
        # handled=False: aiosmtpd answers a refusal with 535 itself.
        return AuthResult(success=ok, handled=False)
    kwargs = dict(authenticator=check, auth_required=True)
    if mode == "starttls":
        kwargs.update(tls_context=ctx, require_starttls=True)
    else:
        # aiosmtpd counts only STARTTLS as TLS when it decides whether to
        # offer AUTH; with implicit TLS the whole connection is encrypted.
        kwargs.update(ssl_context=ctx, auth_require_tls=False)
controller = Controller(Mailbox(maildir), hostname="127.0.0.1", port=port, **kwargs)
controller.start()
while True:
    time.sleep(3600)
"#;

/// A running server; stopped when dropped.
pub struct Smtpd {
    child: Child,
    port: u16,
    maildir: PathBuf,
    ca_file: Option<PathBuf>,
}

/// A port free right now on 127.0.0.1.
pub fn free_port() -> u16 {
    let l = TcpListener::bind(("127.0.0.1", 0)).expect("bind 127.0.0.1:0");
    l.local_addr().expect("local address").port()
}

impl Smtpd {
    /// A plain SMTP server on `port` (0: a free one), storing into
    /// `dir/maildir`.
    pub fn plain(dir: &Path, port: u16) -> Smtpd {
        Self::start(dir, port, None)
    }

    /// A server that requires STARTTLS and AUTH ([`USER`], [`PASSWORD`]).
    pub fn starttls(dir: &Path) -> Smtpd {
        Self::start(dir, 0, Some("starttls"))
    }

    /// A server that speaks TLS from the first byte (SMTPS, RFC 8314) and
    /// requires AUTH ([`USER`], [`PASSWORD`]).
    pub fn implicit_tls(dir: &Path) -> Smtpd {
        Self::start(dir, 0, Some("implicit"))
    }

    fn start(dir: &Path, port: u16, tls: Option<&str>) -> Smtpd {
        let port = if port == 0 { free_port() } else { port };
        let maildir = dir.join("maildir");
        let mut cmd = Command::new("/usr/bin/python3");
        cmd.args(["-c", SCRIPT, &port.to_string()]).arg(&maildir);
        let mut ca_file = None;
        if let Some(mode) = tls {
            let certs = dir.join("certs");
            std::fs::create_dir_all(&certs).expect("create the certificate folder");
            make_certificates(&certs);
            cmd.arg(mode).arg(certs.join("server.pem")).arg(certs.join("server.key"));
            cmd.args([USER, PASSWORD]);
            ca_file = Some(certs.join("ca.pem"));
        } else {
            cmd.arg("plain");
        }
        let log = std::fs::File::create(dir.join(format!("smtpd-{port}.log"))).expect("log file");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .spawn()
            .expect("start /usr/bin/python3 (apt-get install -y python3-aiosmtpd)");
        let mut server = Smtpd { child, port, maildir, ca_file };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return server;
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                let log = std::fs::read_to_string(dir.join(format!("smtpd-{port}.log")))
                    .unwrap_or_default();
                panic!(
                    "the test SMTP server exited ({status}); is python3-aiosmtpd installed?\n{log}"
                );
            }
            assert!(Instant::now() < deadline, "the test SMTP server did not listen on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The CA that signed its certificate (TLS servers).
    pub fn ca_file(&self) -> &Path {
        self.ca_file.as_deref().expect("a TLS server")
    }

    /// Every message received so far, oldest first (by file name order in
    /// `new/`, which aiosmtpd names by time).
    pub fn messages(&self) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for sub in ["new", "cur"] {
            let Ok(entries) = std::fs::read_dir(self.maildir.join(sub)) else { continue };
            let mut files: Vec<(std::time::SystemTime, PathBuf)> = entries
                .filter_map(Result::ok)
                .map(|e| {
                    let t =
                        e.metadata().and_then(|m| m.modified()).unwrap_or(std::time::UNIX_EPOCH);
                    (t, e.path())
                })
                .collect();
            files.sort();
            out.extend(files.into_iter().map(|(_, p)| std::fs::read(p).expect("read a message")));
        }
        out
    }

    /// Stops it now.
    pub fn stop(mut self) {
        self.kill();
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Smtpd {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `ca.pem` and the `server.pem`/`server.key` it signed for 127.0.0.1 (the
/// test webhook's HTTPS server uses them too).
pub fn make_certificates(certs: &Path) {
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .current_dir(certs)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run openssl (apt-get install -y openssl)");
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    run(&[
        "req",
        "-x509",
        "-nodes",
        "-days",
        "2",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-subj",
        "/O=dmarc-report tests/CN=dmarc-report SMTP test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    run(&[
        "req",
        "-new",
        "-nodes",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/O=dmarc-report tests/CN=127.0.0.1",
    ]);
    std::fs::write(
        certs.join("server.ext"),
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n\
         extendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n",
    )
    .expect("write server.ext");
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "server.ext",
        "-out",
        "server.pem",
    ]);
}

/// A TLS server configuration (ring, safe protocol versions) serving the
/// certificate chain in `cert` with the private key in `key` (PEM files,
/// as [`make_certificates`] writes them).
pub fn tls_server_config(cert: &Path, key: &Path) -> std::sync::Arc<rustls::ServerConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .expect("the certificate file")
        .map(|c| c.expect("a certificate"))
        .collect();
    let key = PrivateKeyDer::from_pem_file(key).expect("the private key file");
    let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS protocol versions")
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .expect("the certificate and key match");
    std::sync::Arc::new(config)
}
