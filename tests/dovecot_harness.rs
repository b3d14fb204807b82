//! Checks the Dovecot test harness (`tests/common/dovecot.rs`) itself: a
//! real server starts, takes and gives back mail, survives kill and restart,
//! runs twice in parallel, and presents a certificate that rustls accepts
//! with the harness CA and refuses with an unrelated one.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use common::dovecot::{Dovecot, crlf};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};

fn message(n: usize, line_end: &str) -> Vec<u8> {
    format!(
        "From: reporter{n}@example.net{e}To: dmarc@example.com{e}Subject: Report {n}{e}\
         Message-ID: <{n}@example.net>{e}Date: Tue, 20 Oct 2026 23:59:59 +0000{e}{e}\
         Body of message {n}.{e}Second line, with 8-bit text: caf\u{e9}.{e}",
        e = line_end
    )
    .into_bytes()
}

#[test]
fn append_list_and_read_back() -> Result<()> {
    let started = Instant::now();
    let server = Dovecot::start()?;
    eprintln!("dovecot started in {:?}", started.elapsed());
    assert_eq!(server.folders()?, vec!["INBOX"]);

    // CRLF messages come back byte-identical; a bare-LF one comes back CRLF.
    let inbox = [message(1, "\r\n"), message(2, "\r\n"), message(3, "\n")];
    let mut uids = Vec::new();
    for m in &inbox {
        uids.push(server.append("INBOX", m)?);
    }
    assert_eq!(uids, vec![1, 2, 3]);
    let done = message(4, "\r\n");
    assert_eq!(server.append("DMARC/Done", &done)?, 1);

    assert_eq!(server.folders()?, vec!["DMARC/Done", "INBOX"]);
    assert_eq!(server.list_uids("INBOX")?, vec![1, 2, 3]);
    assert_eq!(server.list_uids("DMARC/Done")?, vec![1]);

    let back = server.folder_messages("INBOX")?;
    assert_eq!(back.len(), 3);
    assert_eq!(back[0], inbox[0]);
    assert_eq!(back[1], inbox[1]);
    assert_ne!(back[2], inbox[2], "Dovecot serves CRLF line ends");
    assert_eq!(back[2], crlf(&inbox[2]));
    assert_eq!(server.folder_messages("DMARC/Done")?, vec![done]);

    // Reading is read-only: no \Seen, and \Recent is not reported.
    let no_flags: Vec<(u32, Vec<String>)> = vec![(1, vec![]), (2, vec![]), (3, vec![])];
    assert_eq!(server.flags("INBOX")?, no_flags);
    server.append_with_flags("INBOX", &message(5, "\r\n"), &["\\Seen", "$Processed"])?;
    assert_eq!(server.flags("INBOX")?[3], (4, vec!["$Processed".to_owned(), "\\Seen".to_owned()]));

    // The Maildir is where the harness says; a missing folder is an error.
    assert!(server.maildir().join(".DMARC.Done").join("cur").is_dir());
    assert!(server.list_uids("No/Such/Folder").is_err());
    assert!(server.folder_messages("No/Such/Folder").is_err());
    assert!(server.list_uids("DMARC").is_err(), "a parent that holds no mail is not selectable");
    Ok(())
}

#[test]
fn credentials_and_files() -> Result<()> {
    let server = Dovecot::start()?;
    let password = std::fs::read_to_string(server.password_file())?;
    assert_eq!(password, format!("{}\n", server.password()));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(server.password_file())?.permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    assert!(server.ca_file().is_file() && server.other_ca_file().is_file());
    assert!(std::fs::read_to_string(server.config_file())?.contains(server.instance_name()));

    // Plain LOGIN on the STARTTLS port, and a wrong password is refused.
    let mut session = server.session()?;
    let caps = session.capabilities()?;
    assert!(caps.has_str("UIDPLUS") && caps.has_str("MOVE"));
    session.logout()?;
    let tcp = TcpStream::connect((server.host(), server.imap_port()))?;
    let mut client = imap::Client::new(tcp);
    client.read_greeting()?;
    assert!(client.capabilities()?.has_str("STARTTLS"));
    assert!(client.login(server.user(), "wrong").is_err());

    let dir = server.dir().to_path_buf();
    drop(server);
    assert!(!dir.exists(), "Drop removes {}", dir.display());
    Ok(())
}

#[test]
fn kill_and_restart_keep_the_mail() -> Result<()> {
    let server = Dovecot::start()?;
    server.append("INBOX", &message(1, "\r\n"))?;
    server.append("Archive", &message(2, "\r\n"))?;
    let before = server.folder_messages("INBOX")?;

    // A live connection is cut by kill().
    let mut session = server.session()?;
    session.select("INBOX")?;
    let t = Instant::now();
    server.kill()?;
    eprintln!("kill took {:?}", t.elapsed());
    assert!(!server.is_running());
    assert!(session.noop().is_err(), "the connection survived kill()");
    assert!(TcpStream::connect((server.host(), server.imap_port())).is_err());
    assert!(TcpStream::connect((server.host(), server.imaps_port())).is_err());
    assert!(server.list_uids("INBOX").is_err());
    server.kill()?; // idempotent

    let t = Instant::now();
    server.restart()?;
    eprintln!("restart took {:?}", t.elapsed());
    assert!(server.is_running());
    assert_eq!(server.folder_messages("INBOX")?, before);
    assert_eq!(server.folders()?, vec!["Archive", "INBOX"]);
    assert_eq!(server.append("INBOX", &message(3, "\r\n"))?, 2);

    // restart() of a running server stops it gracefully first.
    server.restart()?;
    assert_eq!(server.list_uids("INBOX")?, vec![1, 2]);
    let t = Instant::now();
    server.stop()?;
    eprintln!("stop took {:?}", t.elapsed());
    assert!(!server.is_running());
    Ok(())
}

#[test]
fn restart_reports_a_port_taken_meanwhile() -> Result<()> {
    let server = Dovecot::start()?;
    server.append("INBOX", &message(1, "\r\n"))?;
    server.kill()?;
    let squatter = std::net::TcpListener::bind((server.host(), server.imap_port()))?;
    let t = Instant::now();
    let err = server.restart().expect_err("the port is taken");
    eprintln!("failed restart took {:?}", t.elapsed());
    assert!(format!("{err:#}").contains("Address already in use"), "{err:#}");
    assert!(!server.is_running());
    drop(squatter);
    let t = Instant::now();
    server.restart()?;
    eprintln!("second restart took {:?}", t.elapsed());
    assert_eq!(server.list_uids("INBOX")?, vec![1]);
    Ok(())
}

#[test]
fn kill_from_another_thread_cuts_a_running_client() -> Result<()> {
    let server = Dovecot::start()?;
    server.append("INBOX", &message(1, "\r\n"))?;
    let mut session = server.session()?;
    session.select("INBOX")?;
    std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(Duration::from_millis(100));
            server.kill().expect("kill");
        });
        // The "client under test" polls until the server goes away.
        let deadline = Instant::now() + Duration::from_secs(5);
        while session.noop().is_ok() {
            assert!(Instant::now() < deadline, "the server was not killed");
            std::thread::sleep(Duration::from_millis(10));
        }
    });
    assert!(!server.is_running());
    Ok(())
}

#[test]
fn two_servers_in_parallel() -> Result<()> {
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(Dovecot::start);
        let b = s.spawn(Dovecot::start);
        (a.join().expect("thread a"), b.join().expect("thread b"))
    });
    let (a, b) = (a?, b?);
    assert_ne!(a.instance_name(), b.instance_name());
    let ports = [a.imap_port(), a.imaps_port(), b.imap_port(), b.imaps_port()];
    for (i, p) in ports.iter().enumerate() {
        assert!(!ports[i + 1..].contains(p), "port {p} used twice: {ports:?}");
    }
    a.append("INBOX", &message(1, "\r\n"))?;
    b.append("INBOX", &message(2, "\r\n"))?;
    b.append("INBOX", &message(3, "\r\n"))?;
    assert_eq!(a.list_uids("INBOX")?, vec![1]);
    assert_eq!(b.list_uids("INBOX")?, vec![1, 2]);
    a.kill()?;
    assert_eq!(b.list_uids("INBOX")?, vec![1, 2], "killing one leaves the other");
    assert_ne!(a.password(), b.password());
    Ok(())
}

fn tls_config(ca_file: &Path) -> Result<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca_file)? {
        roots.add(cert?)?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Connects to the IMAPS port with TLS and returns the greeting line.
fn imaps_greeting(server: &Dovecot, ca_file: &Path, name: &str) -> Result<String> {
    let config = tls_config(ca_file)?;
    let conn = rustls::ClientConnection::new(config, ServerName::try_from(name.to_owned())?)?;
    let tcp = TcpStream::connect((server.host(), server.imaps_port()))?;
    tcp.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    let mut line = String::new();
    BufReader::new(&mut tls).read_line(&mut line).context("TLS handshake / greeting")?;
    Ok(line)
}

#[test]
fn imaps_certificate_is_trusted_only_with_the_harness_ca() -> Result<()> {
    let server = Dovecot::start()?;
    for name in ["localhost", "127.0.0.1"] {
        let greeting = imaps_greeting(&server, server.ca_file(), name)?;
        assert!(greeting.starts_with("* OK"), "{greeting}");
    }
    let err = imaps_greeting(&server, server.other_ca_file(), "localhost")
        .expect_err("an unrelated CA must not be trusted");
    let text = format!("{err:#}");
    assert!(text.contains("UnknownIssuer") || text.contains("invalid peer certificate"), "{text}");
    // The name must match too.
    let err = imaps_greeting(&server, server.ca_file(), "mail.example.com")
        .expect_err("a wrong host name must be refused");
    assert!(format!("{err:#}").contains("not valid for name"), "{err:#}");
    Ok(())
}

#[test]
fn starttls_on_the_plain_port_with_the_harness_ca() -> Result<()> {
    let server = Dovecot::start()?;
    let mut tcp = TcpStream::connect((server.host(), server.imap_port()))?;
    tcp.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(tcp.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    assert!(line.starts_with("* OK") && line.contains("STARTTLS"), "{line}");
    tcp.write_all(b"a1 STARTTLS\r\n")?;
    line.clear();
    reader.read_line(&mut line)?;
    assert!(line.starts_with("a1 OK"), "{line}");
    assert!(reader.buffer().is_empty());

    let config = tls_config(server.ca_file())?;
    let conn = rustls::ClientConnection::new(config, ServerName::try_from("localhost")?)?;
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    tls.write_all(b"a2 LOGIN ")?;
    tls.write_all(format!("{} {}\r\n", server.user(), server.password()).as_bytes())?;
    let mut buf = [0u8; 4096];
    let mut got = Vec::new();
    while !got.windows(5).any(|w| w == b"a2 OK") {
        let n = tls.read(&mut buf)?;
        assert!(n > 0, "EOF after {:?}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    Ok(())
}
