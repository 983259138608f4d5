//! TLS trust for the `wss://` stream client: the public web roots plus the
//! certificates of `--ws-ca-file` (a hub with a self-signed certificate).

use std::path::Path;
use std::sync::Arc;

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A client configuration trusting the public web roots plus the
/// certificates in `ca_file` (for a hub with a self-signed certificate).
pub fn client_config(ca_file: &Path) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(ca_file)
        .and_then(|i| i.collect::<Result<_, _>>())
        .map_err(|e| format!("cannot read the CA file {}: {e}", ca_file.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "no certificate found in the CA file {} (expected PEM)",
            ca_file.display()
        ));
    }
    for c in certs {
        roots
            .add(c)
            .map_err(|e| format!("bad certificate in {}: {e}", ca_file.display()))?;
    }
    let cfg = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup failed: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(cfg))
}
