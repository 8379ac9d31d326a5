//! HTTPS: the rustls server configuration.
//!
//! TLS 1.3 and 1.2 only, ring as the crypto provider. Client certificates are *requested* but not
//! required: browsers connect without one, and another state's server presents one that must chain
//! to a configured CA (`tls.client_ca_files`). Which authority a valid certificate stands for is
//! decided later, from its fingerprint, by the policy layer; a certificate that does not chain
//! fails the handshake.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use rustls::RootCertStore;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;

use crate::pki::check_key_permissions;

/// Reads every certificate in a PEM file.
///
/// # Errors
/// When the file cannot be read or holds no certificate.
pub fn load_certs(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let pem = std::fs::read(path)
        .with_context(|| format!("cannot read certificate file {}", path.display()))?;
    let certs = rustls_pemfile::certs(&mut pem.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("{} is not a PEM certificate file", path.display()))?;
    if certs.is_empty() {
        bail!("{} holds no PEM certificate", path.display());
    }
    Ok(certs)
}

/// Reads a private key, refusing one that others can read.
///
/// # Errors
/// When the file is unreadable, too open, or holds no key.
pub fn load_key(path: &Path) -> anyhow::Result<PrivateKeyDer<'static>> {
    check_key_permissions(path)?;
    let pem =
        std::fs::read(path).with_context(|| format!("cannot read key file {}", path.display()))?;
    rustls_pemfile::private_key(&mut pem.as_slice())
        .with_context(|| format!("{} is not a PEM private key", path.display()))?
        .with_context(|| format!("{} holds no private key", path.display()))
}

/// The crypto provider every TLS endpoint in Assize uses.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Builds the server configuration.
///
/// # Errors
/// When a file cannot be read, or the key does not match the certificate.
pub fn server_config(
    cert: &Path,
    key: &Path,
    client_cas: &[&Path],
) -> anyhow::Result<rustls::ServerConfig> {
    let chain = load_certs(cert)?;
    let key = load_key(key)?;
    let mut roots = RootCertStore::empty();
    for ca in client_cas {
        for c in load_certs(ca)? {
            roots
                .add(c)
                .with_context(|| format!("{} is not a usable CA certificate", ca.display()))?;
        }
    }
    let builder = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .context("TLS protocol versions")?;
    let builder = if roots.is_empty() {
        builder.with_no_client_auth()
    } else {
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
            .allow_unauthenticated()
            .build()
            .context("client certificate verifier")?;
        builder.with_client_cert_verifier(verifier)
    };
    let mut config = builder
        .with_single_cert(chain, key)
        .context("the TLS key does not match the certificate")?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}
