//! Whom TLS clients trust: the system's root certificates (Mozilla's,
//! compiled in, where the system has none) plus the certificates of a
//! private CA from a `ca_file`. One place for the IMAP connection, the
//! OAuth2 identity provider and the notification webhook, so that a
//! `ca_file` means the same everywhere. Verification is never switched off.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls::{ClientConfig, RootCertStore};

/// The certificates in `ca_file` (PEM, one or several).
pub fn ca_file_certificates(ca_file: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(ca_file)
        .and_then(|it| it.collect::<Result<_, _>>())
        .map_err(|e| format!("cannot read ca_file {}: {e}", ca_file.display()))?;
    if certs.is_empty() {
        return Err(format!("ca_file {} holds no PEM certificate", ca_file.display()));
    }
    Ok(certs)
}

/// The system's roots as certificates (empty where the system has none).
pub fn system_certificates() -> Vec<CertificateDer<'static>> {
    rustls_native_certs::load_native_certs().certs
}

/// System roots (or Mozilla's) plus `ca_file`.
pub fn root_store(ca_file: Option<&Path>) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    for cert in system_certificates() {
        // A broken certificate in the system store must not stop the rest.
        let _ = roots.add(cert);
    }
    if roots.is_empty() {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    if let Some(ca) = ca_file {
        for cert in ca_file_certificates(ca)? {
            roots.add(cert).map_err(|e| format!("ca_file {}: {e}", ca.display()))?;
        }
    }
    Ok(roots)
}

/// A rustls client configuration trusting [`root_store`], on the `ring`
/// provider the rest of the crate uses.
pub fn client_config(ca_file: Option<&Path>) -> Result<Arc<ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(root_store(ca_file)?)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// What to add to an error when a certificate was refused.
pub const PRIVATE_CA_HINT: &str =
    " (if the server uses a private CA, give its certificate with ca_file)";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_file_without_certificates_is_refused_by_name() {
        let dir = std::env::temp_dir().join(format!("dmarc-report-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_default();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap_or_default();
        let err = client_config(Some(&empty)).err().unwrap_or_default();
        assert!(err.contains("empty.pem") && err.contains("no PEM certificate"), "{err}");
        let missing = dir.join("missing.pem");
        let err = root_store(Some(&missing)).err().unwrap_or_default();
        assert!(err.starts_with("cannot read ca_file") && err.contains("missing.pem"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn without_a_ca_file_there_are_roots() {
        let roots = root_store(None).unwrap_or_else(|_| RootCertStore::empty());
        assert!(!roots.is_empty());
    }
}
