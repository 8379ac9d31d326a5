//! The notary: this server's signing key, the seals of the authorities it hosts, and its
//! RFC 3161 time-stamping authority.
//!
//! It wraps the `assize-signing` cores (no IO) with what they leave to the shell: loading keys
//! from the data directory, the clock, and durable TSA serial numbers.
//!
//! ## Whose key seals what
//! The server's own key (`pki/signing.key` or `[signing]` on a token) seals what the *server*
//! states: audit checkpoints, recordings, evidence packages. What an *authority* states — an MLA
//! request, each transition, the Annex B, the receipts it gives — is sealed with that
//! authority's own key ([`Notary::seal_for`]): `[[signing.authorities]]` names a PEM key or a
//! token key for it, else a development seal is issued by the data directory's CA on first use
//! ([`DataDir::authority_seal`]). The other state checks that a message was sealed by the
//! certificate of the authority it claims to come from ([`seal_is_of`]), so one authority of a
//! state cannot speak for another of the same state, and a server cannot speak for the
//! authorities it hosts without their keys.
//!
//! Serial numbers must be unique and increasing for the life of the TSA, across restarts. Writing
//! the database for every token would cap the TSA at the disk's fsync rate, so serials are
//! reserved in blocks: the high-water mark of a block is made durable *before* any serial of it is
//! used; after a crash the server resumes above the last reserved block (skipping the unused rest,
//! which RFC 3161 allows: serials need only be unique).
//!
//! The next block is reserved *ahead*, in the background, once half of the current one is used,
//! so that no request waits for that database write (with the write inline, the request that
//! used up a block stalled for the fsync — up to a quarter of a second under load). Only when the
//! reservation ahead has not landed yet (at start, or after a database failure) does a request
//! reserve a block itself and wait.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use assize_signing::cades;
use assize_signing::keys::{
    CertificateDer, PemSigner, Pkcs11Config, Pkcs11Signer, SigningIdentity,
};
use assize_signing::tsa::{
    Accuracy, FailureInfo, SerialCounter, TimeStampAuthority, TsaConfig, TsaSerial,
    rejection_response,
};
use assize_signing::verify::{TrustAnchors, VerifyOptions};
use assize_signing::{ObjectIdentifier, verify};
use time::OffsetDateTime;

use crate::config::{AuthoritySigning, SigningSettings};
use crate::pki::{DataDir, check_key_permissions};
use crate::store::{AuthorityRecord, Store};

/// How many serial numbers one database write reserves.
const SERIAL_BLOCK: i64 = 10_000;
/// The same, as the serials' type.
const SERIAL_BLOCK_U128: u128 = SERIAL_BLOCK as u128;

/// The development TSA policy: under IANA enterprise number 32473, reserved for documentation
/// (RFC 5612), which no real policy uses. A court's TSA sets `tsa.policy_oid` to its own policy.
pub const DEFAULT_TSA_POLICY: &str = "1.3.6.1.4.1.32473.3161.1";

/// Signs documents and issues time-stamps for this server.
#[derive(Debug)]
pub struct Notary {
    signer: SigningIdentity,
    tsa: TimeStampAuthority,
    serials: Arc<Mutex<SerialState>>,
    store: Store,
    /// The TSA certificate followed by the CA, PEM (served at `/tsa/certs.pem`).
    tsa_chain_pem: String,
    /// The CA that issued our certificates (what verifiers of our signatures trust).
    anchors_pem: Vec<u8>,
    anchors: TrustAnchors,
    /// The seals of hosted authorities, by code: those configured, loaded at start, and the
    /// development ones, loaded (or issued) on first use.
    authority_seals: Mutex<HashMap<String, Arc<SigningIdentity>>>,
    /// Where development seals are kept.
    data_dir: DataDir,
}

/// The serial numbers at hand: the block in use, perhaps one reserved ahead.
///
/// Every block comes from [`Store::reserve_tsa_serials`], which hands out disjoint, increasing
/// ranges `(end − SERIAL_BLOCK, end]` that are durable before they are returned, so a serial taken
/// from a block is above every serial used before it, here or before a restart.
#[derive(Debug)]
struct SerialState {
    counter: SerialCounter,
    /// The last serial of the block in use.
    block_end: u128,
    /// The end of a block reserved ahead and not used yet.
    next_block_end: Option<u128>,
    /// Whether a reservation ahead is running (one at a time).
    reserving: bool,
}

/// What [`SerialState::take`] found.
#[derive(Debug, PartialEq, Eq)]
enum Take {
    /// A serial; reserve the next block in the background when `reserve_ahead`.
    Serial {
        serial: TsaSerial,
        reserve_ahead: bool,
    },
    /// Nothing reserved: reserve a block now and wait for it.
    Exhausted,
}

impl SerialState {
    /// Starts with the block ending at `end`.
    fn new(end: u128) -> Self {
        Self {
            counter: SerialCounter::resume(end.saturating_sub(SERIAL_BLOCK_U128)),
            block_end: end,
            next_block_end: None,
            reserving: false,
        }
    }

    /// The next serial, moving to the block reserved ahead when the current one is used up.
    fn take(&mut self) -> Result<Take, assize_signing::MisuseError> {
        if self.counter.last() >= self.block_end
            && let Some(end) = self.next_block_end.take()
        {
            self.start_block(end);
        }
        if self.counter.last() >= self.block_end {
            return Ok(Take::Exhausted);
        }
        let serial = self.counter.next_serial()?;
        let reserve_ahead = !self.reserving
            && self.next_block_end.is_none()
            && self.block_end - self.counter.last() <= SERIAL_BLOCK_U128 / 2;
        if reserve_ahead {
            self.reserving = true;
        }
        Ok(Take::Serial {
            serial,
            reserve_ahead,
        })
    }

    /// A block ending at `end` was made durable: use it now if the current one is used up, else
    /// keep it for when it is.
    fn add_block(&mut self, end: u128) {
        if self.counter.last() >= self.block_end {
            self.start_block(end);
        } else if end > self.block_end && self.next_block_end.is_none_or(|next| end > next) {
            // Two blocks ahead (a request reserved one while the background did too): keep the
            // higher; the other is skipped, which costs nothing but unused numbers.
            self.next_block_end = Some(end);
        }
    }

    fn start_block(&mut self, end: u128) {
        let start = end.saturating_sub(SERIAL_BLOCK_U128);
        // Blocks only ever go up, so this never moves the counter back; guard it anyway.
        if self.counter.last() < start {
            self.counter = SerialCounter::resume(start);
        }
        self.block_end = self.block_end.max(end);
    }
}

fn load_identity(
    cert_path: &std::path::Path,
    key_path: &std::path::Path,
    ca_pem: &[u8],
) -> anyhow::Result<SigningIdentity> {
    check_key_permissions(key_path)?;
    let key =
        std::fs::read(key_path).with_context(|| format!("cannot read {}", key_path.display()))?;
    let cert =
        std::fs::read(cert_path).with_context(|| format!("cannot read {}", cert_path.display()))?;
    let signer = PemSigner::from_pem(&key)
        .with_context(|| format!("{} is not a usable key", key_path.display()))?;
    let cert = CertificateDer::from_pem(&cert)
        .with_context(|| format!("{} is not a certificate", cert_path.display()))?;
    let ca = CertificateDer::from_pem(ca_pem).context("the CA certificate is unreadable")?;
    SigningIdentity::new(Box::new(signer), cert, vec![ca]).with_context(|| {
        format!(
            "{} does not match {}",
            key_path.display(),
            cert_path.display()
        )
    })
}

/// Where a key on a PKCS#11 token is, and the settings that said so (for error messages).
struct TokenKey<'a> {
    module: &'a str,
    token_label: &'a str,
    key_label: &'a str,
    pin_file: &'a str,
    certificate_file: &'a str,
    /// `signing` or `signing.authorities` (the settings' prefix).
    prefix: &'a str,
}

/// A sealing identity on a PKCS#11 token: the key stays on the token.
fn load_token_identity(
    t: &TokenKey<'_>,
    chain: Vec<CertificateDer>,
) -> anyhow::Result<SigningIdentity> {
    let prefix = t.prefix;
    let pin_path = std::path::Path::new(t.pin_file);
    check_key_permissions(pin_path)?;
    let pin = zeroize::Zeroizing::new(std::fs::read_to_string(pin_path).with_context(|| {
        format!(
            "cannot read {prefix}.pkcs11_pin_file {}",
            pin_path.display()
        )
    })?);
    let signer = Pkcs11Signer::open(&Pkcs11Config {
        module_path: std::path::Path::new(t.module),
        token_label: t.token_label,
        pin: pin.trim_end_matches(['\r', '\n']),
        key_label: Some(t.key_label),
        key_id: None,
    })
    .with_context(|| {
        format!(
            "cannot use the key {:?} on the PKCS#11 token {:?} ({prefix}.pkcs11_*): check the module path, labels and PIN",
            t.key_label, t.token_label
        )
    })?;
    let cert = std::fs::read(t.certificate_file).with_context(|| {
        format!(
            "cannot read {prefix}.certificate_file {}",
            t.certificate_file
        )
    })?;
    let cert = CertificateDer::from_pem(&cert)
        .with_context(|| format!("{} is not a PEM certificate", t.certificate_file))?;
    tracing::info!(token = %t.token_label, key = %t.key_label, "sealing with a key on a PKCS#11 token");
    SigningIdentity::new(Box::new(signer), cert, chain).with_context(|| {
        format!(
            "{prefix}.certificate_file {} is not the certificate of the token's key",
            t.certificate_file
        )
    })
}

/// Every PEM certificate in a file.
fn read_chain(path: &str) -> anyhow::Result<Vec<CertificateDer>> {
    let pem = std::fs::read(path).with_context(|| format!("cannot read {path}"))?;
    let mut chain = Vec::new();
    for der in rustls_pemfile::certs(&mut pem.as_slice()) {
        let der = der.with_context(|| format!("{path} is not PEM"))?;
        chain.push(
            CertificateDer::from_der(der.as_ref())
                .with_context(|| format!("{path} holds an unreadable certificate"))?,
        );
    }
    anyhow::ensure!(!chain.is_empty(), "{path} holds no PEM certificate");
    Ok(chain)
}

/// The seal configured for one hosted authority (`[[signing.authorities]]`).
fn load_authority_seal(a: &AuthoritySigning, ca_pem: &[u8]) -> anyhow::Result<SigningIdentity> {
    let chain = if a.chain_file.is_empty() {
        vec![CertificateDer::from_pem(ca_pem).context("the CA certificate is unreadable")?]
    } else {
        read_chain(&a.chain_file)?
    };
    let identity = if a.pkcs11_module.is_empty() {
        let key_path = std::path::Path::new(&a.key_file);
        check_key_permissions(key_path)?;
        let key = zeroize::Zeroizing::new(
            std::fs::read(key_path).with_context(|| format!("cannot read {}", a.key_file))?,
        );
        let signer = PemSigner::from_pem(&key)
            .with_context(|| format!("{} is not a usable key", a.key_file))?;
        let cert = std::fs::read(&a.certificate_file)
            .with_context(|| format!("cannot read {}", a.certificate_file))?;
        let cert = CertificateDer::from_pem(&cert)
            .with_context(|| format!("{} is not a certificate", a.certificate_file))?;
        SigningIdentity::new(Box::new(signer), cert, chain)
            .with_context(|| format!("{} does not match {}", a.key_file, a.certificate_file))?
    } else {
        load_token_identity(
            &TokenKey {
                module: &a.pkcs11_module,
                token_label: &a.pkcs11_token_label,
                key_label: &a.pkcs11_key_label,
                pin_file: &a.pkcs11_pin_file,
                certificate_file: &a.certificate_file,
                prefix: "signing.authorities",
            },
            chain,
        )?
    };
    Ok(identity)
}

/// Whether `certificate` (DER, the signer of a seal that verified) is the seal of `authority`:
/// the certificate the directory lists for it when it lists one (`seal_cert_sha256`), else one
/// whose subject names its code as `organizationIdentifier`. The chain to a trusted CA is
/// checked before, by the signature verification.
///
/// # Errors
/// A sentence for the negative receipt, naming the certificate that sealed.
pub fn seal_is_of(certificate: &[u8], authority: &AuthorityRecord) -> Result<(), String> {
    let cert = openssl::x509::X509::from_der(certificate)
        .map_err(|_| "the seal's certificate cannot be read".to_string())?;
    let subject = subject_line(&cert);
    if let Some(pinned) = &authority.seal_cert_sha256 {
        let fingerprint = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(certificate));
        return if fingerprint.eq_ignore_ascii_case(pinned) {
            Ok(())
        } else {
            Err(format!(
                "the message is sealed by {subject:?} (SHA-256 {fingerprint}), not by the seal certificate the directory lists for {}",
                authority.code
            ))
        };
    }
    let names: Vec<String> = organization_identifiers(&cert);
    if names.iter().any(|n| n == &authority.code) {
        Ok(())
    } else {
        Err(format!(
            "the message is sealed by {subject:?}, a certificate that does not name {} (organizationIdentifier {})",
            authority.code,
            if names.is_empty() {
                "absent".to_string()
            } else {
                names.join(", ")
            }
        ))
    }
}

/// The `organizationIdentifier` values of a certificate's subject.
fn organization_identifiers(cert: &openssl::x509::X509) -> Vec<String> {
    let Ok(oid) = openssl::asn1::Asn1Object::from_str("2.5.4.97") else {
        return Vec::new();
    };
    cert.subject_name()
        .entries()
        .filter(|e| e.object().nid() == oid.nid())
        .filter_map(|e| e.data().to_string().ok())
        .collect()
}

/// A certificate's subject, one line, for messages.
fn subject_line(cert: &openssl::x509::X509) -> String {
    cert.subject_name()
        .entries()
        .filter_map(|e| {
            let value = e.data().to_string().ok()?;
            let key = e
                .object()
                .nid()
                .short_name()
                .map_or_else(|_| e.object().to_string(), str::to_owned);
            Some(format!("{key}={value}"))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

impl Notary {
    /// Loads the signing and TSA identities and reserves the first block of serials.
    ///
    /// # Errors
    /// When a key or certificate is missing, unreadable, too open or mismatched, or the
    /// database cannot be written.
    pub async fn load(
        data_dir: &DataDir,
        store: Store,
        policy_oid: &str,
        accuracy_ms: u16,
        signing: &SigningSettings,
    ) -> anyhow::Result<Self> {
        let ca_pem = std::fs::read(&data_dir.ca_cert).context("cannot read the CA certificate")?;
        let signer = if signing.pkcs11_module.is_empty() {
            load_identity(&data_dir.signing_cert, &data_dir.signing_key, &ca_pem)?
        } else {
            let ca =
                CertificateDer::from_pem(&ca_pem).context("the CA certificate is unreadable")?;
            load_token_identity(
                &TokenKey {
                    module: &signing.pkcs11_module,
                    token_label: &signing.pkcs11_token_label,
                    key_label: &signing.pkcs11_key_label,
                    pin_file: &signing.pkcs11_pin_file,
                    certificate_file: &signing.certificate_file,
                    prefix: "signing",
                },
                vec![ca],
            )?
        };
        let mut authority_seals = HashMap::new();
        for a in &signing.authorities {
            let identity = load_authority_seal(a, &ca_pem).with_context(|| {
                format!(
                    "cannot load the seal of the authority {} ([[signing.authorities]])",
                    a.code
                )
            })?;
            authority_seals.insert(a.code.clone(), Arc::new(identity));
        }
        let tsa_identity = load_identity(&data_dir.tsa_cert, &data_dir.tsa_key, &ca_pem)?;
        let policy: ObjectIdentifier = policy_oid.parse().map_err(|_| {
            anyhow::anyhow!("tsa.policy_oid {policy_oid:?} is not an OID like 1.2.3.4")
        })?;
        let tsa = TimeStampAuthority::new(
            tsa_identity,
            TsaConfig {
                default_policy: policy,
                accepted_policies: Vec::new(),
                accuracy: Some(Accuracy {
                    seconds: 0,
                    millis: accuracy_ms.min(999),
                    micros: 0,
                }),
                include_tsa_name: true,
            },
        )
        .context("the TSA certificate is not fit for time-stamping (RFC 3161 §2.3)")?;
        let tsa_chain_pem = format!(
            "{}{}",
            std::fs::read_to_string(&data_dir.tsa_cert)?,
            String::from_utf8_lossy(&ca_pem)
        );
        let end = store.reserve_tsa_serials(SERIAL_BLOCK).await?;
        let end = u128::try_from(end).context("the database holds a negative TSA serial")?;
        Ok(Self {
            signer,
            tsa,
            serials: Arc::new(Mutex::new(SerialState::new(end))),
            store,
            tsa_chain_pem,
            anchors: TrustAnchors::from_pem(&ca_pem).context("the CA certificate is unreadable")?,
            anchors_pem: ca_pem,
            authority_seals: Mutex::new(authority_seals),
            data_dir: data_dir.clone(),
        })
    }

    /// The seal of the hosted authority `code` (`name`, `country` go into a development seal's
    /// subject): configured, or the development one, issued now when missing.
    ///
    /// # Errors
    /// When its development seal cannot be read or issued.
    pub fn authority_seal(
        &self,
        code: &str,
        name: &str,
        country: &str,
    ) -> anyhow::Result<Arc<SigningIdentity>> {
        // Held while a development seal is issued, so two first uses never write it twice.
        let mut seals = self
            .authority_seals
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(identity) = seals.get(code) {
            return Ok(identity.clone());
        }
        let (cert, key) = self
            .data_dir
            .authority_seal(code, name, country)
            .with_context(|| format!("cannot issue a seal for the authority {code}"))?;
        let identity = Arc::new(load_identity(&cert, &key, &self.anchors_pem)?);
        seals.insert(code.to_owned(), identity.clone());
        Ok(identity)
    }

    /// Seals `content` as the hosted `authority`: a detached CAdES baseline B-T signature with
    /// the authority's own key and a time-stamp from this server's TSA.
    ///
    /// # Errors
    /// When the authority has no usable seal here, or signing or time-stamping fails.
    pub async fn seal_for(
        &self,
        authority: &AuthorityRecord,
        content: &[u8],
    ) -> anyhow::Result<Vec<u8>> {
        anyhow::ensure!(
            authority.local,
            "{} is not hosted on this server: it has no seal here",
            authority.code
        );
        let identity = self.authority_seal(&authority.code, &authority.name, &authority.country)?;
        Ok(self.seal_with(&identity, content).await?.into_der())
    }

    /// The next serial. Reserves the following block in the background once half of the current
    /// one is used; waits for a reservation only when no block is at hand.
    async fn next_serial(&self) -> anyhow::Result<TsaSerial> {
        loop {
            let taken = self
                .serials
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take()?;
            match taken {
                Take::Serial {
                    serial,
                    reserve_ahead,
                } => {
                    if reserve_ahead {
                        self.reserve_ahead();
                    }
                    return Ok(serial);
                }
                Take::Exhausted => {
                    let end = self.store.reserve_tsa_serials(SERIAL_BLOCK).await?;
                    let end =
                        u128::try_from(end).context("the database holds a negative TSA serial")?;
                    self.serials
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .add_block(end);
                }
            }
        }
    }

    /// Reserves the next block of serials in a background task.
    fn reserve_ahead(&self) {
        let (store, serials) = (self.store.clone(), self.serials.clone());
        tokio::spawn(async move {
            let reserved = store.reserve_tsa_serials(SERIAL_BLOCK).await;
            let mut s = serials.lock().unwrap_or_else(|p| p.into_inner());
            s.reserving = false;
            match reserved.map(u128::try_from) {
                Ok(Ok(end)) => s.add_block(end),
                Ok(Err(_)) => tracing::error!("the database holds a negative TSA serial"),
                // The request that finds the block used up will try again, inline.
                Err(e) => tracing::warn!(error = %e, "reserving TSA serial numbers ahead failed"),
            }
        });
    }

    /// Answers a DER `TimeStampReq` from outside with a DER `TimeStampResp` — a token, or a
    /// rejection carrying the right PKIFailureInfo. Never fails: a server-side failure becomes a
    /// `systemFailure` rejection.
    pub async fn timestamp_response(&self, request_der: &[u8]) -> Vec<u8> {
        let failure = |e: &dyn std::fmt::Display| {
            tracing::error!(error = %e, "time-stamping failed");
            rejection_response(
                FailureInfo::SystemFailure,
                "the time-stamping authority failed; try again later",
            )
            .unwrap_or_default()
        };
        let serial = match self.next_serial().await {
            Ok(s) => s,
            Err(e) => return failure(&e),
        };
        match self
            .tsa
            .respond(request_der, serial, OffsetDateTime::now_utc())
        {
            Ok(resp) => {
                if let Err(rejection) = &resp.outcome {
                    tracing::info!(reason = %rejection, "time-stamp request rejected");
                }
                resp.der
            }
            Err(e) => failure(&e),
        }
    }

    /// Seals `content`: a detached CAdES baseline B-T signature (DER) with this server's signing
    /// key and a time-stamp from its own TSA.
    ///
    /// # Errors
    /// When signing or time-stamping fails.
    pub async fn seal(&self, content: &[u8]) -> anyhow::Result<Vec<u8>> {
        Ok(self.seal_cades(content).await?.into_der())
    }

    /// [`Self::seal`], as the signing crate's type (for ASiC containers).
    ///
    /// # Errors
    /// When signing or time-stamping fails.
    pub async fn seal_cades(&self, content: &[u8]) -> anyhow::Result<cades::CadesSignature> {
        self.seal_with(&self.signer, content).await
    }

    /// Signs with `signer` and time-stamps with this server's TSA.
    async fn seal_with(
        &self,
        signer: &SigningIdentity,
        content: &[u8],
    ) -> anyhow::Result<cades::CadesSignature> {
        let now = OffsetDateTime::now_utc();
        let pending = cades::sign_detached(signer, content, now)?;
        let serial = self.next_serial().await?;
        let token = self
            .tsa
            .stamp_imprint(&pending.timestamp_imprint(), serial, now)?;
        Ok(pending.attach_timestamp(&token)?)
    }

    /// Verifies a seal made by [`Self::seal`] (or any CAdES signature under our CA).
    pub fn verify_seal(&self, signature: &[u8], content: &[u8]) -> verify::SignatureReport {
        verify::verify_detached(signature, content, &self.anchors, &options())
    }

    /// The TSA certificate and its CA, PEM.
    pub fn tsa_chain_pem(&self) -> &str {
        &self.tsa_chain_pem
    }

    /// The CA certificate(s) that verifiers of this server's seals should trust, PEM.
    pub fn trust_anchors_pem(&self) -> &[u8] {
        &self.anchors_pem
    }

    /// The signing certificate, DER.
    pub fn signing_certificate(&self) -> &[u8] {
        self.signer.certificate().as_der()
    }

    /// The store the notary persists serials in.
    pub fn store(&self) -> &Store {
        &self.store
    }
}

fn options() -> VerifyOptions {
    VerifyOptions {
        now: OffsetDateTime::now_utc(),
        extra_certificates: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn authority(code: &str, pinned: Option<&[u8]>) -> AuthorityRecord {
        AuthorityRecord {
            id: "id".into(),
            code: code.into(),
            name: "Bundesamt für Justiz".into(),
            country: "DE".into(),
            kind: "central".into(),
            local: false,
            endpoint: None,
            email: None,
            cert_sha256: "00".into(),
            seal_cert_sha256: pinned
                .map(|der| hex::encode(<sha2::Sha256 as sha2::Digest>::digest(der))),
            created_at: 0,
        }
    }

    /// A self-signed certificate whose subject carries these `organizationIdentifier`s.
    fn cert_naming(codes: &[&str]) -> Vec<u8> {
        let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name
            .push(rcgen::DnType::CommonName, "Generalbundesanwalt");
        for code in codes {
            p.distinguished_name.push(
                rcgen::DnType::CustomDnType(crate::pki::ORGANIZATION_IDENTIFIER.to_vec()),
                *code,
            );
        }
        p.self_signed(&rcgen::KeyPair::generate().unwrap())
            .unwrap()
            .der()
            .to_vec()
    }

    #[test]
    fn a_seal_is_an_authority_s_only_when_pinned_or_naming_its_code() {
        let bfj = cert_naming(&["DE-BfJ"]);
        let gba = cert_naming(&["DE-GBA"]);
        let none = cert_naming(&[]);
        // Unpinned: the certificate must name the authority's code.
        assert!(seal_is_of(&bfj, &authority("DE-BfJ", None)).is_ok());
        let e = seal_is_of(&gba, &authority("DE-BfJ", None)).unwrap_err();
        assert!(
            e.contains("does not name DE-BfJ") && e.contains("DE-GBA"),
            "{e}"
        );
        assert!(
            e.contains("Generalbundesanwalt"),
            "names the certificate used: {e}"
        );
        let e = seal_is_of(&none, &authority("DE-BfJ", None)).unwrap_err();
        assert!(e.contains("absent"), "{e}");
        // A code is matched exactly, not as a prefix or case-insensitively.
        assert!(seal_is_of(&bfj, &authority("DE-BfJ2", None)).is_err());
        assert!(seal_is_of(&bfj, &authority("de-bfj", None)).is_err());
        // Pinned: only that very certificate, even against one that names the code.
        assert!(seal_is_of(&bfj, &authority("DE-BfJ", Some(&bfj))).is_ok());
        let other_bfj = cert_naming(&["DE-BfJ"]);
        let e = seal_is_of(&other_bfj, &authority("DE-BfJ", Some(&bfj))).unwrap_err();
        assert!(
            e.contains("not by the seal certificate the directory lists"),
            "{e}"
        );
        // Not a certificate at all.
        assert!(seal_is_of(b"\x30\x03\x02\x01\x00", &authority("DE-BfJ", None)).is_err());
        assert!(seal_is_of(&[], &authority("DE-BfJ", None)).is_err());
    }

    fn serial(t: Take) -> (u128, bool) {
        match t {
            Take::Serial {
                serial,
                reserve_ahead,
            } => (serial.value(), reserve_ahead),
            Take::Exhausted => panic!("exhausted"),
        }
    }

    #[test]
    fn the_next_block_is_asked_for_once_at_half_and_taken_when_the_block_is_used_up() {
        let mut s = SerialState::new(2 * SERIAL_BLOCK_U128);
        let half = SERIAL_BLOCK_U128 / 2;
        let mut asked = Vec::new();
        let mut last = SERIAL_BLOCK_U128;
        for _ in 0..SERIAL_BLOCK_U128 {
            let (v, ahead) = serial(s.take().unwrap());
            assert_eq!(v, last + 1);
            last = v;
            if ahead {
                asked.push(v);
            }
        }
        // Asked once, when half the block was left; the reservation is still in flight.
        assert_eq!(asked, [SERIAL_BLOCK_U128 + half]);
        assert_eq!(s.take().unwrap(), Take::Exhausted);
        // It lands (the database handed out the block after ours): numbering continues there.
        s.reserving = false;
        s.add_block(3 * SERIAL_BLOCK_U128);
        assert_eq!(serial(s.take().unwrap()).0, 2 * SERIAL_BLOCK_U128 + 1);
    }

    #[test]
    fn a_block_reserved_ahead_is_used_without_waiting_and_skipped_blocks_never_go_back() {
        let mut s = SerialState::new(SERIAL_BLOCK_U128);
        s.counter = SerialCounter::resume(SERIAL_BLOCK_U128 - 1);
        // Someone else reserved the block after ours (another server on the same database):
        // ours ahead starts above it.
        s.add_block(3 * SERIAL_BLOCK_U128);
        assert_eq!(serial(s.take().unwrap()).0, SERIAL_BLOCK_U128);
        assert_eq!(serial(s.take().unwrap()).0, 2 * SERIAL_BLOCK_U128 + 1);
        // A stale, lower block arriving late is never used to go back.
        s.add_block(SERIAL_BLOCK_U128);
        s.counter = SerialCounter::resume(3 * SERIAL_BLOCK_U128);
        assert_eq!(s.take().unwrap(), Take::Exhausted);
        s.add_block(4 * SERIAL_BLOCK_U128);
        assert_eq!(serial(s.take().unwrap()).0, 3 * SERIAL_BLOCK_U128 + 1);
    }
}
