//! The notary: this server's signing key and its RFC 3161 time-stamping authority.
//!
//! It wraps the `assize-signing` cores (no IO) with what they leave to the shell: loading keys
//! from the data directory, the clock, and durable TSA serial numbers.
//!
//! Serial numbers must be unique and increasing for the life of the TSA, across restarts. Writing
//! the database for every token would cap the TSA at the disk's fsync rate, so serials are
//! reserved in blocks: the high-water mark of a block is made durable *before* any serial of it is
//! used; after a crash the server resumes above the last reserved block (skipping the unused rest,
//! which RFC 3161 allows: serials need only be unique).

use std::sync::Mutex;

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

use crate::config::SigningSettings;
use crate::pki::{DataDir, check_key_permissions};
use crate::store::Store;

/// How many serial numbers one database write reserves.
const SERIAL_BLOCK: i64 = 10_000;

/// The development TSA policy: under IANA enterprise number 32473, reserved for documentation
/// (RFC 5612), which no real policy uses. A court's TSA sets `tsa.policy_oid` to its own policy.
pub const DEFAULT_TSA_POLICY: &str = "1.3.6.1.4.1.32473.3161.1";

/// Signs documents and issues time-stamps for this server.
#[derive(Debug)]
pub struct Notary {
    signer: SigningIdentity,
    tsa: TimeStampAuthority,
    serials: Mutex<SerialState>,
    store: Store,
    /// The TSA certificate followed by the CA, PEM (served at `/tsa/certs.pem`).
    tsa_chain_pem: String,
    /// The CA that issued our certificates (what verifiers of our signatures trust).
    anchors_pem: Vec<u8>,
    anchors: TrustAnchors,
}

#[derive(Debug)]
struct SerialState {
    counter: SerialCounter,
    reserved_until: u128,
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

/// The sealing identity on a PKCS#11 token: the key stays on the token.
fn load_token_identity(s: &SigningSettings, ca_pem: &[u8]) -> anyhow::Result<SigningIdentity> {
    let pin_path = std::path::Path::new(&s.pkcs11_pin_file);
    check_key_permissions(pin_path)?;
    let pin =
        zeroize::Zeroizing::new(std::fs::read_to_string(pin_path).with_context(|| {
            format!("cannot read signing.pkcs11_pin_file {}", pin_path.display())
        })?);
    let signer = Pkcs11Signer::open(&Pkcs11Config {
        module_path: std::path::Path::new(&s.pkcs11_module),
        token_label: &s.pkcs11_token_label,
        pin: pin.trim_end_matches(['\r', '\n']),
        key_label: Some(&s.pkcs11_key_label),
        key_id: None,
    })
    .with_context(|| {
        format!(
            "cannot use the key {:?} on the PKCS#11 token {:?} (signing.pkcs11_*): check the module path, labels and PIN",
            s.pkcs11_key_label, s.pkcs11_token_label
        )
    })?;
    let cert = std::fs::read(&s.certificate_file).with_context(|| {
        format!(
            "cannot read signing.certificate_file {}",
            s.certificate_file
        )
    })?;
    let cert = CertificateDer::from_pem(&cert)
        .with_context(|| format!("{} is not a PEM certificate", s.certificate_file))?;
    let ca = CertificateDer::from_pem(ca_pem).context("the CA certificate is unreadable")?;
    tracing::info!(token = %s.pkcs11_token_label, key = %s.pkcs11_key_label, "sealing with a key on a PKCS#11 token");
    SigningIdentity::new(Box::new(signer), cert, vec![ca]).with_context(|| {
        format!(
            "signing.certificate_file {} is not the certificate of the token's key",
            s.certificate_file
        )
    })
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
            load_token_identity(signing, &ca_pem)?
        };
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
        let last = store.reserve_tsa_serials(SERIAL_BLOCK).await?;
        let reserved_until = u128::try_from(last).unwrap_or(0);
        let counter = SerialCounter::resume(reserved_until.saturating_sub(SERIAL_BLOCK as u128));
        Ok(Self {
            signer,
            tsa,
            serials: Mutex::new(SerialState {
                counter,
                reserved_until,
            }),
            store,
            tsa_chain_pem,
            anchors: TrustAnchors::from_pem(&ca_pem).context("the CA certificate is unreadable")?,
            anchors_pem: ca_pem,
        })
    }

    /// The next serial, reserving a new block in the database first when the current one is used up.
    async fn next_serial(&self) -> anyhow::Result<TsaSerial> {
        loop {
            {
                let mut s = self.serials.lock().unwrap_or_else(|p| p.into_inner());
                if s.counter.last() < s.reserved_until {
                    return Ok(s.counter.next_serial()?);
                }
            }
            let new_until =
                u128::try_from(self.store.reserve_tsa_serials(SERIAL_BLOCK).await?).unwrap_or(0);
            let mut s = self.serials.lock().unwrap_or_else(|p| p.into_inner());
            // Another caller may have reserved meanwhile; never move the counter backwards.
            if new_until > s.reserved_until {
                let start = new_until - SERIAL_BLOCK as u128;
                if s.counter.last() < start {
                    s.counter = SerialCounter::resume(start);
                }
                s.reserved_until = new_until;
            }
        }
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
        let now = OffsetDateTime::now_utc();
        let pending = cades::sign_detached(&self.signer, content, now)?;
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
