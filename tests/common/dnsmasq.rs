//! A real DNS server for the tests: Debian's dnsmasq, started on loopback
//! on a free unprivileged port with the records a test gives, authoritative
//! for `.test` (every other name under it is NXDOMAIN), stopped when
//! dropped.

use std::net::{TcpStream, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running dnsmasq.
pub struct Dnsmasq {
    child: Child,
    /// `127.0.0.1:PORT`, for `--resolver`.
    pub addr: String,
}

/// One record to serve.
pub enum Rr<'a> {
    /// A TXT record; a value longer than 255 bytes is split into several
    /// character-strings, as a zone would carry a 2048-bit DKIM key. (On
    /// dnsmasq's command line a comma separates character-strings and
    /// quotes are kept: values must not contain commas.)
    Txt(&'a str, &'a str),
    /// An MX record (name, exchange, preference).
    Mx(&'a str, &'a str, u16),
    /// An A record.
    A(&'a str, &'a str),
}

fn free_port() -> u16 {
    // A port free for UDP; dnsmasq also takes TCP on it.
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind a UDP port");
    socket.local_addr().expect("local address").port()
}

impl Dnsmasq {
    /// Starts dnsmasq serving `records`; panics with its output when it
    /// does not come up.
    pub fn start(records: &[Rr<'_>]) -> Dnsmasq {
        let binary = ["/usr/sbin/dnsmasq", "/usr/bin/dnsmasq"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
            .expect("dnsmasq is not installed (apt-get install dnsmasq-base; scripts/test does)");
        for _ in 0..5 {
            let port = free_port();
            let mut cmd = Command::new(binary);
            cmd.args([
                "--no-daemon",
                "--keep-in-foreground",
                &format!("--port={port}"),
                "--listen-address=127.0.0.1",
                "--bind-interfaces",
                "--no-resolv",
                "--no-hosts",
                "--no-poll",
                "--local=/test/",
                "--pid-file=",
                "--user=root",
            ]);
            for rr in records {
                cmd.arg(match rr {
                    Rr::Txt(name, value) => {
                        let parts: Vec<String> = value
                            .as_bytes()
                            .chunks(255)
                            .map(|c| String::from_utf8_lossy(c).into_owned())
                            .collect();
                        format!("--txt-record={name},{}", parts.join(","))
                    }
                    Rr::Mx(name, host, pref) => format!("--mx-host={name},{host},{pref}"),
                    Rr::A(name, ip) => format!("--host-record={name},{ip}"),
                });
            }
            let child = cmd
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start dnsmasq");
            let mut server = Dnsmasq { child, addr: format!("127.0.0.1:{port}") };
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = server.child.try_wait() {
                    break; // the port was taken meanwhile: try another
                }
                if TcpStream::connect(&server.addr).is_ok() {
                    return server;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = server.child.kill();
        }
        panic!("dnsmasq did not start");
    }
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A DKIM public key of `bits` bits (base64 DER), made with openssl now.
pub fn dkim_key(bits: u32) -> String {
    let private = Command::new("openssl")
        .args(["genrsa", &bits.to_string()])
        .stderr(Stdio::null())
        .output()
        .expect("run openssl genrsa");
    assert!(private.status.success(), "openssl genrsa {bits} failed");
    let mut public = Command::new("openssl")
        .args(["rsa", "-pubout", "-outform", "DER"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run openssl rsa");
    {
        use std::io::Write;
        let mut stdin = public.stdin.take().expect("stdin");
        stdin.write_all(&private.stdout).expect("write the key");
    }
    let der = public.wait_with_output().expect("openssl rsa output");
    assert!(der.status.success(), "openssl rsa failed");
    super::base64_lines(&der.stdout).lines().collect()
}
