//! The data directory and the development PKI created on first start.
//!
//! A new server has no certificates. So that `assize serve` works with no configuration, the
//! first start creates, inside the data directory (mode 0700):
//!
//! ```text
//! pki/ca.crt, pki/ca.key                       development CA (10 years)
//! tls/server.crt, tls/server.key               HTTPS certificate for localhost, 127.0.0.1, ::1
//! pki/signing.crt, pki/signing.key             document signing (digitalSignature, nonRepudiation)
//! pki/tsa.crt, pki/tsa.key                     time-stamping unit (critical EKU timeStamping)
//! pki/federation-client.crt, …client.key       this server's mutual-TLS client certificate
//! pki/authorities/<code>.crt, <code>.key       each hosted authority's seal (on first use)
//! ```
//!
//! An authority hosted here seals its documents with its own key, so that the other state can
//! tell *which* authority acted, not merely which server. Unless `[[signing.authorities]]` names
//! a key for it, its seal is issued here on first use ([`DataDir::authority_seal`]): ECDSA P-256,
//! signed by the CA, its subject naming the authority (country, name, and its directory code as
//! `organizationIdentifier`, the attribute ETSI EN 319 412-3 gives electronic seals).
//!
//! Every key is ECDSA P-256 in PKCS#8 PEM, written 0600 through a temporary file and a rename, so a
//! crash never leaves half a key. Existing files are kept; a missing CA regenerates everything it
//! issued. Production replaces these with real certificates through the `tls.*` settings.
//!
//! # Security
//! [`check_key_permissions`] refuses any key file that group or others can read: the server will
//! not start with one.

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};
use time::{Duration, OffsetDateTime};

/// Paths of the files the server uses, after bootstrap.
#[derive(Clone, Debug)]
pub struct DataDir {
    pub root: PathBuf,
    pub ca_cert: PathBuf,
    pub ca_key: PathBuf,
    pub tls_cert: PathBuf,
    pub tls_key: PathBuf,
    pub signing_cert: PathBuf,
    pub signing_key: PathBuf,
    pub tsa_cert: PathBuf,
    pub tsa_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
}

impl DataDir {
    /// The layout under `root` (nothing is created).
    pub fn at(root: &Path) -> Self {
        let pki = root.join("pki");
        let tls = root.join("tls");
        Self {
            root: root.to_path_buf(),
            ca_cert: pki.join("ca.crt"),
            ca_key: pki.join("ca.key"),
            tls_cert: tls.join("server.crt"),
            tls_key: tls.join("server.key"),
            signing_cert: pki.join("signing.crt"),
            signing_key: pki.join("signing.key"),
            tsa_cert: pki.join("tsa.crt"),
            tsa_key: pki.join("tsa.key"),
            client_cert: pki.join("federation-client.crt"),
            client_key: pki.join("federation-client.key"),
        }
    }

    /// Where the development seal of the hosted authority `code` lives: (certificate, key).
    ///
    /// # Errors
    /// When `code` could name another file (directory codes are letters, digits, `-`, `_`, `.`).
    pub fn authority_seal_paths(&self, code: &str) -> anyhow::Result<(PathBuf, PathBuf)> {
        if code.is_empty()
            || code.len() > 64
            || code.starts_with('.')
            || !code
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        {
            bail!("{code:?} cannot name a seal file: use letters, digits, '-', '_' or '.'");
        }
        let dir = self.root.join("pki").join("authorities");
        Ok((
            dir.join(format!("{code}.crt")),
            dir.join(format!("{code}.key")),
        ))
    }

    /// The development seal of a hosted authority: its files, issued by the CA now when missing.
    /// Its subject names the authority: `C=country, O=name, CN=name, organizationIdentifier=code`.
    ///
    /// # Errors
    /// When the CA cannot be read or the files cannot be written.
    pub fn authority_seal(
        &self,
        code: &str,
        name: &str,
        country: &str,
    ) -> anyhow::Result<(PathBuf, PathBuf)> {
        let (cert_path, key_path) = self.authority_seal_paths(code)?;
        if cert_path.exists() && key_path.exists() {
            return Ok((cert_path, key_path));
        }
        let dir = self.root.join("pki").join("authorities");
        if !dir.exists() {
            fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
            fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))?;
        }
        check_key_permissions(&self.ca_key)?;
        let ca_key = KeyPair::from_pem(&fs::read_to_string(&self.ca_key)?)
            .context("development CA key is unreadable")?;
        let ca = CertificateParams::from_ca_cert_pem(&fs::read_to_string(&self.ca_cert)?)
            .context("development CA certificate is unreadable")?
            .self_signed(&ca_key)?;
        let mut p = CertificateParams::default();
        validity(&mut p, 825);
        p.use_authority_key_identifier_extension = true;
        let mut subject = rcgen::DistinguishedName::new();
        if country.len() == 2 {
            subject.push(DnType::CountryName, country);
        }
        subject.push(DnType::OrganizationName, name);
        subject.push(DnType::CommonName, name);
        subject.push(DnType::CustomDnType(ORGANIZATION_IDENTIFIER.to_vec()), code);
        p.distinguished_name = subject;
        p.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::ContentCommitment,
        ];
        let key = KeyPair::generate()?;
        let cert = p.signed_by(&key, &ca, &ca_key)?;
        write_pair(&cert_path, &cert.pem(), &key_path, &key.serialize_pem())?;
        tracing::info!(authority = %code, "issued a development seal for a hosted authority");
        Ok((cert_path, key_path))
    }

    /// Every private key file in the layout.
    pub fn key_files(&self) -> [&Path; 5] {
        [
            &self.ca_key,
            &self.tls_key,
            &self.signing_key,
            &self.tsa_key,
            &self.client_key,
        ]
    }

    /// Creates the directory and whatever part of the development PKI is missing.
    ///
    /// # Errors
    /// When a directory or file cannot be written, or an existing CA cannot be read.
    pub fn bootstrap(root: &Path) -> anyhow::Result<Self> {
        let dd = Self::at(root);
        for dir in [root.to_path_buf(), root.join("pki"), root.join("tls")] {
            if !dir.exists() {
                fs::create_dir_all(&dir)
                    .with_context(|| format!("cannot create {}", dir.display()))?;
                fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))?;
            }
        }
        let (ca_cert, ca_key, ca_is_new) = if dd.ca_cert.exists() && dd.ca_key.exists() {
            check_key_permissions(&dd.ca_key)?;
            let key_pem = fs::read_to_string(&dd.ca_key)?;
            let cert_pem = fs::read_to_string(&dd.ca_cert)?;
            let key = KeyPair::from_pem(&key_pem).context("development CA key is unreadable")?;
            let params = CertificateParams::from_ca_cert_pem(&cert_pem)
                .context("development CA certificate is unreadable")?;
            // Re-creating the certificate object from its own parameters and key gives an issuer
            // with the same name and key identifier; it is only used to sign, never written.
            let cert = params.self_signed(&key)?;
            (cert, key, false)
        } else {
            let key = KeyPair::generate()?;
            let mut params = CertificateParams::default();
            params.distinguished_name = dn("Assize development CA");
            params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
            params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
            validity(&mut params, 3650);
            let cert = params.self_signed(&key)?;
            write_pair(&dd.ca_cert, &cert.pem(), &dd.ca_key, &key.serialize_pem())?;
            (cert, key, true)
        };

        if ca_is_new {
            // Seals issued by a CA that is gone chain to nothing: issue them again on first use.
            let seals = root.join("pki").join("authorities");
            if seals.exists() {
                fs::remove_dir_all(&seals)
                    .with_context(|| format!("cannot remove {}", seals.display()))?;
            }
        }
        let leaves: [(&Path, &Path, Leaf); 4] = [
            (&dd.tls_cert, &dd.tls_key, Leaf::TlsServer),
            (&dd.signing_cert, &dd.signing_key, Leaf::Signing),
            (&dd.tsa_cert, &dd.tsa_key, Leaf::Tsa),
            (&dd.client_cert, &dd.client_key, Leaf::FederationClient),
        ];
        for (cert_path, key_path, kind) in leaves {
            if !ca_is_new && cert_path.exists() && key_path.exists() {
                continue;
            }
            let key = KeyPair::generate()?;
            let params = kind.params()?;
            let cert = params.signed_by(&key, &ca_cert, &ca_key)?;
            // The HTTPS file carries the chain so clients can build the path to the CA.
            let cert_pem = if kind == Leaf::TlsServer {
                format!("{}{}", cert.pem(), ca_cert.pem())
            } else {
                cert.pem()
            };
            write_pair(cert_path, &cert_pem, key_path, &key.serialize_pem())?;
        }
        Ok(dd)
    }
}

/// `organizationIdentifier` (X.520, 2.5.4.97): where a seal's subject carries the authority's
/// directory code.
pub const ORGANIZATION_IDENTIFIER: [u64; 4] = [2, 5, 4, 97];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Leaf {
    TlsServer,
    Signing,
    Tsa,
    FederationClient,
}

impl Leaf {
    fn params(self) -> anyhow::Result<CertificateParams> {
        let mut p = CertificateParams::default();
        validity(&mut p, 825);
        p.use_authority_key_identifier_extension = true;
        match self {
            Leaf::TlsServer => {
                p.distinguished_name = dn("localhost");
                p.subject_alt_names = vec![
                    SanType::DnsName("localhost".try_into()?),
                    SanType::IpAddress([127, 0, 0, 1].into()),
                    SanType::IpAddress(std::net::Ipv6Addr::LOCALHOST.into()),
                ];
                p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
                p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
            }
            Leaf::Signing => {
                p.distinguished_name = dn("Assize development document signing");
                p.key_usages = vec![
                    KeyUsagePurpose::DigitalSignature,
                    KeyUsagePurpose::ContentCommitment,
                ];
            }
            Leaf::Tsa => {
                p.distinguished_name = dn("Assize development time-stamping unit");
                p.key_usages = vec![
                    KeyUsagePurpose::DigitalSignature,
                    KeyUsagePurpose::ContentCommitment,
                ];
                // RFC 3161 §2.3: exactly one EKU, timeStamping, and the extension MUST be critical.
                // SEQUENCE { OID 1.3.6.1.5.5.7.3.8 }
                let eku = vec![
                    0x30, 0x0a, 0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x08,
                ];
                let mut ext = CustomExtension::from_oid_content(&[2, 5, 29, 37], eku);
                ext.set_criticality(true);
                p.custom_extensions = vec![ext];
            }
            Leaf::FederationClient => {
                p.distinguished_name = dn("Assize development federation client");
                p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
                p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
            }
        }
        Ok(p)
    }
}

fn dn(common_name: &str) -> rcgen::DistinguishedName {
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(DnType::OrganizationName, "Assize (development)");
    dn.push(DnType::CommonName, common_name);
    dn
}

fn validity(p: &mut CertificateParams, days: i64) {
    let now = OffsetDateTime::now_utc();
    p.not_before = now - Duration::hours(1);
    p.not_after = now + Duration::days(days);
    let mut serial = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut serial);
    serial[0] &= 0x7f; // positive INTEGER
    p.serial_number = Some(SerialNumber::from_slice(&serial));
}

/// Writes a key (0600) then its certificate (0644), each atomically.
fn write_pair(cert: &Path, cert_pem: &str, key: &Path, key_pem: &str) -> anyhow::Result<()> {
    write_atomic(key, key_pem.as_bytes(), 0o600)?;
    write_atomic(cert, cert_pem.as_bytes(), 0o644)?;
    Ok(())
}

/// Writes through a temporary file in the same directory, fsyncs and renames.
///
/// # Errors
/// When the file cannot be written.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    let _ = fs::remove_file(&tmp);
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// Refuses a private key file that anyone but its owner can read or write.
///
/// # Errors
/// When the file is missing or its mode allows group or others; the message gives the `chmod`.
pub fn check_key_permissions(path: &Path) -> anyhow::Result<()> {
    let meta = fs::metadata(path)
        .with_context(|| format!("key file {} cannot be read", path.display()))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        bail!(
            "key file {} is readable by others (mode {:o}); a private key must be readable by its \
             owner only.\n  fix: chmod 600 {}",
            path.display(),
            mode,
            path.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bootstrap_creates_private_keys_and_keeps_them() {
        let dir = tempfile::tempdir().unwrap();
        let dd = DataDir::bootstrap(dir.path()).unwrap();
        for key in dd.key_files() {
            let mode = fs::metadata(key).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", key.display());
            check_key_permissions(key).unwrap();
        }
        let before = fs::read(&dd.signing_key).unwrap();
        DataDir::bootstrap(dir.path()).unwrap();
        assert_eq!(
            before,
            fs::read(&dd.signing_key).unwrap(),
            "existing keys are kept"
        );
    }

    #[test]
    fn a_key_readable_by_others_is_refused_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let dd = DataDir::bootstrap(dir.path()).unwrap();
        fs::set_permissions(&dd.tsa_key, fs::Permissions::from_mode(0o644)).unwrap();
        let e = check_key_permissions(&dd.tsa_key).unwrap_err().to_string();
        assert!(e.contains("chmod 600"), "{e}");
    }
}
