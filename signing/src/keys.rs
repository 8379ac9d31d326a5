//! Signing keys: the [`Signer`] trait, its two implementations and [`SigningIdentity`].
//!
//! A [`Signer`] turns bytes into a signature and nothing else; it never exposes the private key.
//! * [`PemSigner`]: a software key (ECDSA P-256, or RSA ≥ 2048 bits) from PEM bytes, for tests,
//!   development and small deployments.
//! * [`Pkcs11Signer`]: a key held in a PKCS#11 token (an HSM or a smart card). The private key
//!   never leaves the token. Loading the module is the only IO in this crate: it is the hardware
//!   boundary and its path is configuration handed in by the caller.
//!
//! A [`SigningIdentity`] joins a signer with its certificate (and the chain above it). It can only
//! be built after a probe signature made by the signer verified under the certificate's public
//! key, so everything that signs with an identity signs with a key that matches its certificate.

use std::fmt;
use std::path::Path;
use std::sync::Mutex;

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;
use der::Decode;
use openssl::bn::BigNum;
use openssl::ecdsa::EcdsaSig;
use openssl::hash::MessageDigest;
use openssl::md::Md;
use openssl::nid::Nid;
use openssl::pkey::{Id, PKey, Private};
use openssl::pkey_ctx::PkeyCtx;
use openssl::rsa::Padding;
use sha2::{Digest, Sha256};
use x509_cert::Certificate;
use x509_cert::spki::AlgorithmIdentifierOwned;

use crate::asn1::{ECDSA_WITH_SHA256, SHA256_WITH_RSA};
use crate::error::{Error, KeyError, MisuseError};

/// The signature algorithms this crate produces. Both hash with SHA-256.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub enum SignatureAlgorithm {
    /// ECDSA over NIST P-256 with SHA-256; the signature is a DER `Ecdsa-Sig-Value`.
    EcdsaP256Sha256,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RsaPkcs1Sha256,
}

impl SignatureAlgorithm {
    /// The `AlgorithmIdentifier` that goes into `SignerInfo.signatureAlgorithm`.
    pub(crate) fn algorithm_identifier(self) -> AlgorithmIdentifierOwned {
        match self {
            SignatureAlgorithm::EcdsaP256Sha256 => AlgorithmIdentifierOwned {
                oid: ECDSA_WITH_SHA256,
                parameters: None,
            },
            SignatureAlgorithm::RsaPkcs1Sha256 => AlgorithmIdentifierOwned {
                oid: SHA256_WITH_RSA,
                parameters: Some(der::Any::null()),
            },
        }
    }
}

/// Something that signs bytes with a private key it does not reveal.
///
/// `sign` receives the whole message (for CMS: the DER of the signed attributes) and hashes it
/// with SHA-256 itself, so implementations can pick whichever mechanism their backend offers.
pub trait Signer: Send + Sync + fmt::Debug {
    /// The algorithm of the signatures this signer produces.
    fn algorithm(&self) -> SignatureAlgorithm;

    /// Signs `message`.
    ///
    /// # Errors
    /// [`KeyError`] when the key or token fails.
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError>;
}

fn algorithm_of(pkey: &PKey<Private>) -> Result<SignatureAlgorithm, KeyError> {
    match pkey.id() {
        Id::EC => {
            let ec = pkey.ec_key()?;
            if ec.group().curve_name() == Some(Nid::X9_62_PRIME256V1) {
                Ok(SignatureAlgorithm::EcdsaP256Sha256)
            } else {
                Err(KeyError::Unsupported(
                    "EC key on a curve other than P-256".into(),
                ))
            }
        }
        Id::RSA => {
            if pkey.bits() >= 2048 {
                Ok(SignatureAlgorithm::RsaPkcs1Sha256)
            } else {
                Err(KeyError::Unsupported(
                    "RSA key shorter than 2048 bits".into(),
                ))
            }
        }
        other => Err(KeyError::Unsupported(format!("key type {other:?}"))),
    }
}

/// A software private key read from PEM (PKCS#8, SEC1 or PKCS#1).
///
/// Signing hashes with SHA-256 here and signs the digest with an OpenSSL `EVP_PKEY_CTX` that
/// was initialised once and is reused: building a context per signature (provider look-ups,
/// key import) cost about as much as the ECDSA signature itself. Contexts are not safe to use
/// from two threads at once, so they wait in a small pool; one is created whenever all are busy,
/// and at most [`MAX_IDLE_CONTEXTS`] are kept.
pub struct PemSigner {
    key: PKey<Private>,
    algorithm: SignatureAlgorithm,
    contexts: Mutex<Vec<PkeyCtx<Private>>>,
}

/// How many idle signing contexts a [`PemSigner`] keeps (more threads than this still sign, with
/// a context made for the occasion).
const MAX_IDLE_CONTEXTS: usize = 64;

impl fmt::Debug for PemSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PemSigner")
            .field("algorithm", &self.algorithm)
            .field("key", &"REDACTED")
            .finish()
    }
}

impl PemSigner {
    /// Reads an unencrypted PEM private key.
    ///
    /// # Errors
    /// [`KeyError::Unsupported`] when the PEM is unreadable or the key is neither P-256 nor RSA
    /// ≥ 2048 bits.
    pub fn from_pem(pem: &[u8]) -> Result<Self, KeyError> {
        let key = PKey::private_key_from_pem(pem)
            .map_err(|e| KeyError::Unsupported(format!("cannot read PEM private key: {e}")))?;
        Self::with_key(key)
    }

    /// Reads a passphrase-protected PEM private key.
    ///
    /// # Errors
    /// As [`PemSigner::from_pem`]; a wrong passphrase is reported as unreadable.
    pub fn from_encrypted_pem(pem: &[u8], passphrase: &[u8]) -> Result<Self, KeyError> {
        let key = PKey::private_key_from_pem_passphrase(pem, passphrase)
            .map_err(|e| KeyError::Unsupported(format!("cannot read PEM private key: {e}")))?;
        Self::with_key(key)
    }

    fn with_key(key: PKey<Private>) -> Result<Self, KeyError> {
        let algorithm = algorithm_of(&key)?;
        Ok(Self {
            key,
            algorithm,
            contexts: Mutex::new(Vec::new()),
        })
    }

    /// A context ready for `EVP_PKEY_sign` over a SHA-256 digest: ECDSA (DER `Ecdsa-Sig-Value`),
    /// or RSASSA-PKCS1-v1_5 (OpenSSL adds the DigestInfo because the digest type is set).
    fn new_context(&self) -> Result<PkeyCtx<Private>, KeyError> {
        let mut ctx = PkeyCtx::new(&self.key)?;
        ctx.sign_init()?;
        ctx.set_signature_md(Md::sha256())?;
        if self.algorithm == SignatureAlgorithm::RsaPkcs1Sha256 {
            ctx.set_rsa_padding(Padding::PKCS1)?;
        }
        Ok(ctx)
    }
}

impl Signer for PemSigner {
    fn algorithm(&self) -> SignatureAlgorithm {
        self.algorithm
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        let digest = Sha256::digest(message);
        // A poisoned pool only means another thread panicked while pushing or popping; the
        // contexts in it are whole, so keep using it.
        let pooled = self
            .contexts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pop();
        let mut ctx = match pooled {
            Some(ctx) => ctx,
            None => self.new_context()?,
        };
        let mut signature = Vec::with_capacity(256);
        // On error the context is dropped rather than returned to the pool: its state is unknown.
        ctx.sign_to_vec(&digest, &mut signature)?;
        let mut pool = self
            .contexts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if pool.len() < MAX_IDLE_CONTEXTS {
            pool.push(ctx);
        }
        Ok(signature)
    }
}

/// Where to find a key on a PKCS#11 token.
pub struct Pkcs11Config<'a> {
    /// Path of the PKCS#11 module (shared library) to load.
    pub module_path: &'a Path,
    /// Label of the token (CKA_LABEL of the token info, trailing blanks ignored).
    pub token_label: &'a str,
    /// User PIN.
    pub pin: &'a str,
    /// CKA_LABEL of the private key, if it should be selected by label.
    pub key_label: Option<&'a str>,
    /// CKA_ID of the private key, if it should be selected by id.
    pub key_id: Option<&'a [u8]>,
}

impl fmt::Debug for Pkcs11Config<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pkcs11Config")
            .field("module_path", &self.module_path)
            .field("token_label", &self.token_label)
            .field("pin", &"REDACTED")
            .field("key_label", &self.key_label)
            .field("key_id", &self.key_id.map(hex::encode))
            .finish()
    }
}

/// A private key inside a PKCS#11 token.
///
/// Holds a logged-in session for its lifetime; signatures are serialised through it.
///
/// Open one signer per module per process and keep it: dropping it finalises the module,
/// which would end the sessions of any other signer using the same module.
pub struct Pkcs11Signer {
    // Field order matters: the session must be dropped (closed) before the context finalises.
    session: Mutex<Session>,
    key: ObjectHandle,
    algorithm: SignatureAlgorithm,
    _context: Pkcs11,
}

impl fmt::Debug for Pkcs11Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pkcs11Signer")
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

/// DER of the OID prime256v1, as found in CKA_EC_PARAMS.
const P256_EC_PARAMS: [u8; 10] = [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];

impl Pkcs11Signer {
    /// Loads the module, logs in to the token and finds exactly one matching private key.
    ///
    /// # Errors
    /// [`KeyError`] when the module cannot be loaded, the token or key is not found, the login
    /// fails or the key is neither EC P-256 nor RSA.
    pub fn open(config: &Pkcs11Config<'_>) -> Result<Self, KeyError> {
        let context = Pkcs11::new(config.module_path)?;
        match context.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
            Ok(()) => {}
            // Another signer in this process already initialised the module: fine.
            Err(cryptoki::error::Error::Pkcs11(
                cryptoki::error::RvError::CryptokiAlreadyInitialized,
                _,
            )) => {}
            Err(e) => return Err(e.into()),
        }
        let mut slot = None;
        for s in context.get_slots_with_token()? {
            let info = context.get_token_info(s)?;
            if info.label().trim_end() == config.token_label {
                slot = Some(s);
                break;
            }
        }
        let slot = slot.ok_or_else(|| KeyError::TokenNotFound {
            label: config.token_label.to_owned(),
        })?;
        let session = context.open_ro_session(slot)?;
        let pin = AuthPin::from(config.pin.to_owned());
        match session.login(UserType::User, Some(&pin)) {
            Ok(()) => {}
            Err(cryptoki::error::Error::Pkcs11(
                cryptoki::error::RvError::UserAlreadyLoggedIn,
                _,
            )) => {}
            Err(e) => return Err(e.into()),
        }
        let mut template = vec![Attribute::Class(ObjectClass::PRIVATE_KEY)];
        if let Some(label) = config.key_label {
            template.push(Attribute::Label(label.as_bytes().to_vec()));
        }
        if let Some(id) = config.key_id {
            template.push(Attribute::Id(id.to_vec()));
        }
        let keys = session.find_objects(&template)?;
        let [key] = keys[..] else {
            return Err(KeyError::KeyNotFound { found: keys.len() });
        };
        let attrs =
            session.get_attributes(key, &[AttributeType::KeyType, AttributeType::EcParams])?;
        let mut key_type = None;
        let mut ec_params = None;
        for attr in attrs {
            match attr {
                Attribute::KeyType(t) => key_type = Some(t),
                Attribute::EcParams(p) => ec_params = Some(p),
                _ => {}
            }
        }
        let algorithm = match key_type {
            Some(t) if t == KeyType::EC => {
                if ec_params.as_deref() != Some(&P256_EC_PARAMS[..]) {
                    return Err(KeyError::Unsupported(
                        "EC key on a curve other than P-256".into(),
                    ));
                }
                SignatureAlgorithm::EcdsaP256Sha256
            }
            Some(t) if t == KeyType::RSA => SignatureAlgorithm::RsaPkcs1Sha256,
            other => {
                return Err(KeyError::Unsupported(format!("token key type {other:?}")));
            }
        };
        Ok(Self {
            session: Mutex::new(session),
            key,
            algorithm,
            _context: context,
        })
    }
}

impl Signer for Pkcs11Signer {
    fn algorithm(&self) -> SignatureAlgorithm {
        self.algorithm
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        let session = self.session.lock().map_err(|_| KeyError::Poisoned)?;
        match self.algorithm {
            SignatureAlgorithm::EcdsaP256Sha256 => {
                // SoftHSM (and several HSMs) lack CKM_ECDSA_SHA256: hash here, sign the digest.
                let digest = Sha256::digest(message);
                let raw = session.sign(&Mechanism::Ecdsa, self.key, &digest)?;
                if raw.len() != 64 {
                    return Err(KeyError::MalformedTokenSignature { len: raw.len() });
                }
                let (r, s) = raw.split_at(32);
                let sig = EcdsaSig::from_private_components(
                    BigNum::from_slice(r)?,
                    BigNum::from_slice(s)?,
                )?;
                Ok(sig.to_der()?)
            }
            SignatureAlgorithm::RsaPkcs1Sha256 => {
                Ok(session.sign(&Mechanism::Sha256RsaPkcs, self.key, message)?)
            }
        }
    }
}

/// A parsed X.509 certificate together with its DER bytes.
#[derive(Clone, Debug)]
pub struct CertificateDer {
    pub(crate) der: Vec<u8>,
    pub(crate) parsed: Certificate,
}

impl CertificateDer {
    /// Parses a DER certificate.
    ///
    /// # Errors
    /// [`MisuseError::BadCertificate`] when it is not a DER certificate.
    pub fn from_der(der: &[u8]) -> Result<Self, MisuseError> {
        let parsed =
            Certificate::from_der(der).map_err(|e| MisuseError::BadCertificate(e.to_string()))?;
        Ok(Self {
            der: der.to_vec(),
            parsed,
        })
    }

    /// Parses a PEM certificate (the first one in `pem`).
    ///
    /// # Errors
    /// [`MisuseError::BadCertificate`] when it is not a PEM certificate.
    pub fn from_pem(pem: &[u8]) -> Result<Self, MisuseError> {
        let x509 = openssl::x509::X509::from_pem(pem)
            .map_err(|e| MisuseError::BadCertificate(e.to_string()))?;
        let der = x509
            .to_der()
            .map_err(|e| MisuseError::BadCertificate(e.to_string()))?;
        Self::from_der(&der)
    }

    /// The DER bytes.
    pub fn as_der(&self) -> &[u8] {
        &self.der
    }

    pub(crate) fn to_openssl(&self) -> Result<openssl::x509::X509, MisuseError> {
        openssl::x509::X509::from_der(&self.der)
            .map_err(|e| MisuseError::BadCertificate(e.to_string()))
    }

    /// SHA-256 of the DER, as used by ESSCertIDv2.
    pub(crate) fn sha256(&self) -> [u8; 32] {
        Sha256::digest(&self.der).into()
    }
}

/// A signer bound to the certificate of its public key, plus the chain to present with it.
///
/// Constructing one proves the key and certificate match (see [`SigningIdentity::new`]).
#[derive(Debug)]
pub struct SigningIdentity {
    pub(crate) signer: Box<dyn Signer>,
    pub(crate) certificate: CertificateDer,
    pub(crate) chain: Vec<CertificateDer>,
}

impl SigningIdentity {
    /// Binds `signer` to `certificate`; `chain` are intermediate (and optionally root)
    /// certificates to embed in signatures.
    ///
    /// A probe message is signed and verified under the certificate's public key.
    ///
    /// # Errors
    /// [`MisuseError::CertificateKeyMismatch`] when the key does not belong to the certificate;
    /// [`Error::Key`] when the probe signature fails.
    pub fn new(
        signer: Box<dyn Signer>,
        certificate: CertificateDer,
        chain: Vec<CertificateDer>,
    ) -> Result<Self, Error> {
        const PROBE: &[u8] = b"assize-signing key/certificate binding probe";
        let signature = signer.sign(PROBE)?;
        let public = certificate.to_openssl()?.public_key()?;
        let mut verifier = openssl::sign::Verifier::new(MessageDigest::sha256(), &public)?;
        verifier.update(PROBE)?;
        // A verification failure leaves an error on the OpenSSL stack; treat any error as "no".
        if !verifier.verify(&signature).unwrap_or(false) {
            return Err(MisuseError::CertificateKeyMismatch.into());
        }
        let expected_key = match public.id() {
            Id::EC => SignatureAlgorithm::EcdsaP256Sha256,
            Id::RSA => SignatureAlgorithm::RsaPkcs1Sha256,
            _ => return Err(MisuseError::CertificateKeyMismatch.into()),
        };
        if expected_key != signer.algorithm() {
            return Err(MisuseError::CertificateKeyMismatch.into());
        }
        Ok(Self {
            signer,
            certificate,
            chain,
        })
    }

    /// The signer's certificate.
    pub fn certificate(&self) -> &CertificateDer {
        &self.certificate
    }

    /// The chain presented with the certificate.
    pub fn chain(&self) -> &[CertificateDer] {
        &self.chain
    }

    pub(crate) fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        self.signer.sign(message)
    }

    pub(crate) fn algorithm(&self) -> SignatureAlgorithm {
        self.signer.algorithm()
    }
}

/// The DER of a certificate's `tbsCertificate.serialNumber` and issuer, for `IssuerSerial`.
pub(crate) fn issuer_serial(cert: &CertificateDer) -> crate::asn1::IssuerSerial {
    use x509_cert::ext::pkix::name::GeneralName;
    crate::asn1::IssuerSerial {
        issuer: vec![GeneralName::DirectoryName(
            cert.parsed.tbs_certificate.issuer.clone(),
        )],
        serial_number: cert.parsed.tbs_certificate.serial_number.clone(),
    }
}
