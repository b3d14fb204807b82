//! Sends one mail per run over SMTP (lettre, rustls): a plain-text part
//! and an HTML part, with inline images (CID) for the digest's charts.
//!
//! TLS is verified against the system roots plus `ca_file`; there is no
//! switch to skip verification. `plain` is for a relay on the same machine
//! (the settings warn otherwise).

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{Message, SmtpTransport, Transport};

use super::config::{SmtpSettings, SmtpTls};
use crate::render::mail::Mail;

/// How long one SMTP step may take.
const TIMEOUT: Duration = Duration::from_secs(30);

/// Why a mail was not sent. The message names the server and the cause.
#[derive(Debug, thiserror::Error)]
pub enum SmtpError {
    /// A setting is unusable (an address, the password, the CA file).
    #[error("[notify] {0}")]
    Settings(String),
    /// The server could not be reached, refused the login or the mail.
    #[error("cannot deliver the mail through {server}: {cause}")]
    Delivery {
        /// `host:port`.
        server: String,
        /// What went wrong.
        cause: String,
    },
}

/// Sends `mail` as configured in `smtp`.
pub fn send(smtp: &SmtpSettings, mail: &Mail) -> Result<(), SmtpError> {
    let message = build(smtp, mail)?;
    let transport = transport(smtp)?;
    transport.send(&message).map(|_| ()).map_err(|e| SmtpError::Delivery {
        server: format!("{}:{}", smtp.host, smtp.port),
        cause: describe(&e),
    })
}

/// The MIME message: multipart/alternative of the text and the HTML (the
/// HTML in multipart/related with its images when there are some).
pub fn build(smtp: &SmtpSettings, mail: &Mail) -> Result<Message, SmtpError> {
    let address = |what: &str, text: &str| -> Result<Mailbox, SmtpError> {
        text.parse::<Mailbox>().map_err(|e| {
            SmtpError::Settings(format!("{what} \"{text}\" is not a mail address: {e}"))
        })
    };
    let mut builder = Message::builder()
        .from(address("from", &smtp.from)?)
        .subject(mail.subject.clone())
        .date_now();
    for to in &smtp.to {
        builder = builder.to(address("to", to)?);
    }
    let text = SinglePart::plain(mail.text.clone());
    let html = SinglePart::html(mail.html.clone());
    let body = if mail.images.is_empty() {
        MultiPart::alternative().singlepart(text).singlepart(html)
    } else {
        let png = ContentType::parse("image/png")
            .map_err(|e| SmtpError::Settings(format!("image type: {e}")))?;
        let mut related = MultiPart::related().singlepart(html);
        for image in &mail.images {
            related = related.singlepart(
                Attachment::new_inline(image.cid.clone()).body(image.png.clone(), png.clone()),
            );
        }
        MultiPart::alternative().singlepart(text).multipart(related)
    };
    builder.multipart(body).map_err(|e| SmtpError::Settings(format!("cannot build the mail: {e}")))
}

fn transport(smtp: &SmtpSettings) -> Result<SmtpTransport, SmtpError> {
    let mut tls = TlsParameters::builder(smtp.host.clone());
    if let Some(ca) = &smtp.ca_file {
        let pem = std::fs::read(ca).map_err(|e| {
            SmtpError::Settings(format!("cannot read ca_file {}: {e}", ca.display()))
        })?;
        let cert = Certificate::from_pem(&pem).map_err(|e| {
            SmtpError::Settings(format!(
                "ca_file {} holds no usable certificate: {e}",
                ca.display()
            ))
        })?;
        tls = tls.add_root_certificate(cert);
    }
    let tls = tls
        .build_rustls()
        .map_err(|e| SmtpError::Settings(format!("TLS settings for {}: {e}", smtp.host)))?;
    let mut builder = SmtpTransport::builder_dangerous(smtp.host.clone())
        .port(smtp.port)
        .timeout(Some(TIMEOUT))
        .tls(match smtp.tls {
            SmtpTls::Starttls => Tls::Required(tls),
            SmtpTls::Implicit => Tls::Wrapper(tls),
            SmtpTls::Plain => Tls::None,
        });
    if let Some((user, password)) = &smtp.login {
        let password = password.read().map_err(|e| SmtpError::Settings(e.to_string()))?;
        builder = builder.credentials(Credentials::new(user.clone(), password));
    }
    Ok(builder.build())
}

/// The error and its causes on one line.
fn describe(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    text
}
