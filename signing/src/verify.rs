//! Verification of CAdES signatures and RFC 3161 time-stamp tokens, with typed reports.
//!
//! Nothing here returns a bare `bool`. Each check is a field of a report holding a [`Check`]:
//! passed, failed with a [`Finding`] that says why, or not checked (and why not). The server
//! logs the whole report and shows the client the first failure.
//!
//! What is checked:
//! * structure (one SignerInfo, detached content, required signed attributes present once);
//! * content-type and message-digest attributes against the content;
//! * the signature value under the signer certificate's public key;
//! * signing-certificate-v2 (ESSCertIDv2, SHA-256) against the certificate used;
//! * key usage: digitalSignature or nonRepudiation for signers; a critical extendedKeyUsage
//!   with only timeStamping for TSAs;
//! * the certificate chain to the caller's [`TrustAnchors`], **at the time of the time-stamp**
//!   (for the signer) and at genTime (for the TSA); with no time-stamp, at the caller's `now`;
//! * the signature time-stamp: its imprint covers the signature value, and it verifies itself.
//!
//! Not checked: revocation (no CRL/OCSP fetching in a no-IO crate; the report says so).

use cms::cert::CertificateChoices;
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{SignedData, SignerIdentifier, SignerInfo};
use der::asn1::OctetString;
use der::oid::ObjectIdentifier;
use der::{Decode, Encode};
use openssl::hash::MessageDigest;
use openssl::stack::Stack;
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::verify::X509VerifyParam;
use openssl::x509::{X509, X509StoreContext};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use x509_cert::Certificate;
use x509_cert::attr::Attribute;
use x509_cert::ext::pkix::{KeyUsage, KeyUsages};

use crate::asn1::TstInfoRead;
use crate::asn1::{
    self, ID_AA_SIGNATURE_TIME_STAMP_TOKEN, ID_AA_SIGNING_CERTIFICATE_V2, ID_CONTENT_TYPE,
    ID_CT_TST_INFO, ID_DATA, ID_MESSAGE_DIGEST, ID_SHA256, ID_SIGNED_DATA, ID_SIGNING_TIME,
    RSA_ENCRYPTION, SigningCertificateV2,
};
use crate::error::{InputError, MisuseError, der_input, invalid};
use crate::keys::CertificateDer;
use crate::tsa::{HashAlgorithm, MAX_TOKEN_LEN, is_tsa_certificate};

/// Largest CMS signature accepted for verification, in bytes.
pub const MAX_SIGNATURE_LEN: usize = 1024 * 1024;

/// Certificates the caller trusts as roots of chains.
pub struct TrustAnchors {
    anchors: Vec<X509>,
}

impl std::fmt::Debug for TrustAnchors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrustAnchors")
            .field("count", &self.anchors.len())
            .finish()
    }
}

impl TrustAnchors {
    /// Trust anchors from one or more PEM certificates.
    ///
    /// # Errors
    /// [`MisuseError::BadCertificate`] when the PEM holds no readable certificate.
    pub fn from_pem(pem: &[u8]) -> Result<Self, MisuseError> {
        let anchors =
            X509::stack_from_pem(pem).map_err(|e| MisuseError::BadCertificate(e.to_string()))?;
        if anchors.is_empty() {
            return Err(MisuseError::BadCertificate("no certificate in PEM".into()));
        }
        Ok(Self { anchors })
    }

    /// Trust anchors from parsed certificates.
    ///
    /// # Errors
    /// [`MisuseError::BadCertificate`] when OpenSSL cannot read one.
    pub fn from_certificates(certs: &[CertificateDer]) -> Result<Self, MisuseError> {
        let anchors = certs
            .iter()
            .map(CertificateDer::to_openssl)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { anchors })
    }

    /// Builds the chain for `leaf` through `untrusted` at `at`.
    fn verify_chain(
        &self,
        leaf: &CertificateDer,
        untrusted: &[Certificate],
        at: OffsetDateTime,
    ) -> Check {
        match self.try_verify_chain(leaf, untrusted, at) {
            Ok(check) => check,
            Err(e) => Check::Failed(Finding::Untrusted(format!("chain building failed: {e}"))),
        }
    }

    fn try_verify_chain(
        &self,
        leaf: &CertificateDer,
        untrusted: &[Certificate],
        at: OffsetDateTime,
    ) -> Result<Check, Box<dyn std::error::Error>> {
        let mut builder = X509StoreBuilder::new()?;
        for anchor in &self.anchors {
            builder.add_cert(anchor.clone())?;
        }
        let mut param = X509VerifyParam::new()?;
        param.set_time(at.unix_timestamp());
        builder.set_param(&param)?;
        let store = builder.build();
        let mut chain = Stack::new()?;
        for cert in untrusted {
            chain.push(X509::from_der(&cert.to_der()?)?)?;
        }
        let leaf = leaf.to_openssl()?;
        let mut context = X509StoreContext::new()?;
        let (ok, error) = context.init(&store, &leaf, &chain, |ctx| {
            let ok = ctx.verify_cert()?;
            Ok((ok, ctx.error()))
        })?;
        Ok(if ok {
            Check::Passed
        } else {
            Check::Failed(Finding::Untrusted(format!(
                "{} (at {})",
                error.error_string(),
                at
            )))
        })
    }
}

/// The result of one check.
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub enum Check {
    /// The check passed.
    Passed,
    /// The check failed, for this reason.
    Failed(Finding),
    /// The check was not run; the reason says why (usually an earlier failure).
    NotChecked(&'static str),
}

impl Check {
    /// Whether the check passed.
    pub fn passed(&self) -> bool {
        matches!(self, Check::Passed)
    }

    fn from_result(r: Result<(), Finding>) -> Self {
        match r {
            Ok(()) => Check::Passed,
            Err(f) => Check::Failed(f),
        }
    }
}

/// Why a check failed.
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub enum Finding {
    /// The structure is malformed or not what the profile requires.
    Malformed(String),
    /// A required signed attribute is missing or repeated.
    AttributeMissingOrRepeated(&'static str),
    /// The content-type attribute names a different content type.
    WrongContentType,
    /// The digest of the content differs from the message-digest attribute.
    DigestMismatch,
    /// The signature value does not verify under the certificate's key.
    BadSignature,
    /// The algorithm is not supported.
    UnsupportedAlgorithm(String),
    /// The signer's certificate is not among the certificates supplied.
    CertificateNotFound,
    /// The signing-certificate-v2 attribute does not identify the certificate used.
    CertificateMismatch,
    /// The certificate's key usage does not permit this use.
    KeyUsageNotPermitted(&'static str),
    /// The chain to a trust anchor could not be built or validated (OpenSSL's reason).
    Untrusted(String),
    /// The signature carries no signature time-stamp.
    NoTimestamp,
    /// The time-stamp does not cover this signature value (or content).
    ImprintMismatch,
    /// The time-stamp token itself did not verify; see its report.
    TimestampInvalid,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Finding::Malformed(why) => write!(f, "malformed: {why}"),
            Finding::AttributeMissingOrRepeated(a) => {
                write!(f, "the signed attribute {a} is missing or repeated")
            }
            Finding::WrongContentType => f.write_str("the content-type attribute is wrong"),
            Finding::DigestMismatch => {
                f.write_str("the content does not match the signed digest (it was altered)")
            }
            Finding::BadSignature => f.write_str("the signature value does not verify"),
            Finding::UnsupportedAlgorithm(a) => write!(f, "unsupported algorithm {a}"),
            Finding::CertificateNotFound => f.write_str("the signer's certificate is missing"),
            Finding::CertificateMismatch => {
                f.write_str("the signing-certificate attribute names another certificate")
            }
            Finding::KeyUsageNotPermitted(why) => write!(f, "key usage not permitted: {why}"),
            Finding::Untrusted(why) => write!(f, "the certificate is not trusted: {why}"),
            Finding::NoTimestamp => f.write_str("there is no signature time-stamp"),
            Finding::ImprintMismatch => f.write_str("the time-stamp does not cover this signature"),
            Finding::TimestampInvalid => f.write_str("the time-stamp token does not verify"),
        }
    }
}

/// Report on an RFC 3161 time-stamp token.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct TimestampReport {
    /// The token decodes as SignedData over a TSTInfo, with one SignerInfo.
    pub structure: Check,
    /// The TSTInfo's message imprint is what was expected.
    pub imprint: Check,
    /// The content-type attribute is id-ct-TSTInfo and the message-digest matches the TSTInfo.
    pub content_digest: Check,
    /// The TSA's signature verifies.
    pub signature_value: Check,
    /// signing-certificate-v2 identifies the TSA certificate.
    pub signing_certificate: Check,
    /// The TSA certificate has a critical extendedKeyUsage with only timeStamping.
    pub tsa_key_usage: Check,
    /// The TSA certificate chains to a trust anchor at genTime.
    pub tsa_chain: Check,
    /// The time asserted by the TSA.
    pub gen_time: Option<OffsetDateTime>,
    /// The token's serial number (big-endian bytes).
    pub serial: Option<Vec<u8>>,
    /// The policy under which the token was issued.
    pub policy: Option<ObjectIdentifier>,
    /// The TSA certificate's subject, for display.
    pub tsa_subject: Option<String>,
}

impl TimestampReport {
    fn empty() -> Self {
        Self {
            structure: Check::NotChecked("not reached"),
            imprint: Check::NotChecked("not reached"),
            content_digest: Check::NotChecked("not reached"),
            signature_value: Check::NotChecked("not reached"),
            signing_certificate: Check::NotChecked("not reached"),
            tsa_key_usage: Check::NotChecked("not reached"),
            tsa_chain: Check::NotChecked("not reached"),
            gen_time: None,
            serial: None,
            policy: None,
            tsa_subject: None,
        }
    }

    /// Every check passed.
    pub fn is_valid(&self) -> bool {
        self.checks().iter().all(|(_, c)| c.passed())
    }

    /// The checks with their names, in order.
    pub fn checks(&self) -> [(&'static str, &Check); 7] {
        [
            ("structure", &self.structure),
            ("imprint", &self.imprint),
            ("content_digest", &self.content_digest),
            ("signature_value", &self.signature_value),
            ("signing_certificate", &self.signing_certificate),
            ("tsa_key_usage", &self.tsa_key_usage),
            ("tsa_chain", &self.tsa_chain),
        ]
    }
}

/// Report on a detached CAdES signature.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct SignatureReport {
    /// The signature decodes as a detached SignedData with one SignerInfo and the required
    /// signed attributes.
    pub structure: Check,
    /// The content-type attribute is id-data.
    pub content_type: Check,
    /// The message-digest attribute matches the content.
    pub content_digest: Check,
    /// The signature value verifies under the signer certificate.
    pub signature_value: Check,
    /// signing-certificate-v2 identifies the signer certificate.
    pub signing_certificate: Check,
    /// The signer certificate permits digitalSignature or nonRepudiation.
    pub signer_key_usage: Check,
    /// The signer certificate chains to a trust anchor at the time-stamp's genTime.
    pub signer_chain: Check,
    /// A signature time-stamp is present, covers the signature value and is itself valid.
    pub timestamp: Check,
    /// Revocation status: never checked by this crate.
    pub revocation: Check,
    /// The report on the signature time-stamp, if there is one.
    pub timestamp_report: Option<TimestampReport>,
    /// The claimed signing time (signing-time attribute; not trusted).
    pub claimed_signing_time: Option<OffsetDateTime>,
    /// The signer certificate's subject, for display.
    pub signer_subject: Option<String>,
    /// The signer certificate (DER), when found.
    pub signer_certificate: Option<Vec<u8>>,
}

impl SignatureReport {
    fn empty() -> Self {
        Self {
            structure: Check::NotChecked("not reached"),
            content_type: Check::NotChecked("not reached"),
            content_digest: Check::NotChecked("not reached"),
            signature_value: Check::NotChecked("not reached"),
            signing_certificate: Check::NotChecked("not reached"),
            signer_key_usage: Check::NotChecked("not reached"),
            signer_chain: Check::NotChecked("not reached"),
            timestamp: Check::NotChecked("not reached"),
            revocation: Check::NotChecked("revocation is not checked by assize-signing"),
            timestamp_report: None,
            claimed_signing_time: None,
            signer_subject: None,
            signer_certificate: None,
        }
    }

    /// The checks with their names, in order (revocation excluded: it is never checked).
    pub fn checks(&self) -> [(&'static str, &Check); 8] {
        [
            ("structure", &self.structure),
            ("content_type", &self.content_type),
            ("content_digest", &self.content_digest),
            ("signature_value", &self.signature_value),
            ("signing_certificate", &self.signing_certificate),
            ("signer_key_usage", &self.signer_key_usage),
            ("signer_chain", &self.signer_chain),
            ("timestamp", &self.timestamp),
        ]
    }

    /// Every check passed (a valid CAdES B-T signature, revocation aside).
    pub fn is_valid(&self) -> bool {
        self.checks().iter().all(|(_, c)| c.passed())
    }

    /// The first failed check, for a short message.
    pub fn first_failure(&self) -> Option<(&'static str, &Finding)> {
        self.checks().into_iter().find_map(|(name, c)| match c {
            Check::Failed(f) => Some((name, f)),
            _ => None,
        })
    }

    /// Proof of a valid B-T signature, available only when every check passed.
    pub fn verified(&self) -> Option<VerifiedSignature> {
        if !self.is_valid() {
            return None;
        }
        let ts = self.timestamp_report.as_ref()?;
        Some(VerifiedSignature {
            signer_certificate: self.signer_certificate.clone()?,
            timestamp_time: ts.gen_time?,
        })
    }
}

/// Proof that a CAdES B-T signature verified: only [`SignatureReport::verified`] makes one.
#[derive(Clone, Debug)]
pub struct VerifiedSignature {
    signer_certificate: Vec<u8>,
    timestamp_time: OffsetDateTime,
}

impl VerifiedSignature {
    /// The signer certificate (DER).
    pub fn signer_certificate(&self) -> &[u8] {
        &self.signer_certificate
    }

    /// The trusted time of the signature (genTime of the time-stamp).
    pub fn timestamp_time(&self) -> OffsetDateTime {
        self.timestamp_time
    }
}

/// Options for verification.
#[derive(Clone, Debug)]
pub struct VerifyOptions {
    /// The time to validate chains at when there is no time-stamp (the caller's clock).
    pub now: OffsetDateTime,
    /// Extra intermediate certificates not embedded in the signature or token (e.g. the TSA
    /// certificate when the request had certReq false).
    pub extra_certificates: Vec<CertificateDer>,
}

/// The TSTInfo inside a token.
pub(crate) fn tst_info_of(token: &ContentInfo) -> Result<TstInfoRead, InputError> {
    let sd = signed_data_of(token, "time-stamp token")?;
    tst_info_from(&sd)
}

fn tst_der_from(sd: &SignedData) -> Result<Vec<u8>, InputError> {
    if sd.encap_content_info.econtent_type != ID_CT_TST_INFO {
        return Err(invalid(
            "time-stamp token",
            "does not encapsulate a TSTInfo",
        ));
    }
    let econtent = sd
        .encap_content_info
        .econtent
        .as_ref()
        .ok_or_else(|| invalid("time-stamp token", "TSTInfo content missing"))?;
    let octets = econtent
        .decode_as::<OctetString>()
        .map_err(der_input("time-stamp token content"))?;
    Ok(octets.into_bytes())
}

fn tst_info_from(sd: &SignedData) -> Result<TstInfoRead, InputError> {
    TstInfoRead::from_der(&tst_der_from(sd)?).map_err(der_input("TSTInfo"))
}

fn signed_data_of(ci: &ContentInfo, what: &'static str) -> Result<SignedData, InputError> {
    if ci.content_type != ID_SIGNED_DATA {
        return Err(invalid(what, "not a SignedData"));
    }
    ci.content
        .decode_as::<SignedData>()
        .map_err(der_input(what))
}

/// The single SignerInfo, after checking the version numbers and digest algorithm list that the
/// signature does not cover (RFC 5652 §5.1, §5.3): a verifier that ignored them would accept
/// silently altered copies.
fn single_signer(sd: &SignedData) -> Result<&SignerInfo, Finding> {
    let info = match sd.signer_infos.0.as_slice() {
        [one] => one,
        other => {
            return Err(Finding::Malformed(format!(
                "expected one SignerInfo, found {}",
                other.len()
            )));
        }
    };
    let (info_version, uses_ski) = match info.sid {
        SignerIdentifier::IssuerAndSerialNumber(_) => (CmsVersion::V1, false),
        SignerIdentifier::SubjectKeyIdentifier(_) => (CmsVersion::V3, true),
    };
    if info.version != info_version {
        return Err(Finding::Malformed(
            "SignerInfo version does not match its sid".into(),
        ));
    }
    let other_certs = sd
        .certificates
        .iter()
        .flat_map(|set| set.0.iter())
        .any(|c| matches!(c, CertificateChoices::Other(_)));
    let expected = if other_certs {
        CmsVersion::V5
    } else if uses_ski || sd.encap_content_info.econtent_type != ID_DATA {
        CmsVersion::V3
    } else {
        CmsVersion::V1
    };
    if sd.version != expected {
        return Err(Finding::Malformed(
            "SignedData version is not the one RFC 5652 requires".into(),
        ));
    }
    if !sd
        .digest_algorithms
        .iter()
        .any(|a| a.oid == info.digest_alg.oid)
    {
        return Err(Finding::Malformed(
            "digestAlgorithms does not list the signer's digest algorithm".into(),
        ));
    }
    Ok(info)
}

/// The embedded certificates plus the caller's extras.
fn candidate_certs(sd: &SignedData, extra: &[CertificateDer]) -> Vec<Certificate> {
    let mut certs: Vec<Certificate> = sd
        .certificates
        .iter()
        .flat_map(|set| set.0.iter())
        .filter_map(|c| match c {
            CertificateChoices::Certificate(c) => Some(c.clone()),
            CertificateChoices::Other(_) => None,
        })
        .collect();
    certs.extend(extra.iter().map(|c| c.parsed.clone()));
    certs
}

fn find_signer_cert(info: &SignerInfo, certs: &[Certificate]) -> Result<CertificateDer, Finding> {
    let found = certs.iter().find(|c| match &info.sid {
        SignerIdentifier::IssuerAndSerialNumber(ias) => {
            c.tbs_certificate.issuer == ias.issuer
                && c.tbs_certificate.serial_number == ias.serial_number
        }
        SignerIdentifier::SubjectKeyIdentifier(ski) => c
            .tbs_certificate
            .get::<x509_cert::ext::pkix::SubjectKeyIdentifier>()
            .ok()
            .flatten()
            .is_some_and(|(_, k)| k == *ski),
    });
    let cert = found.ok_or(Finding::CertificateNotFound)?;
    let der = cert
        .to_der()
        .map_err(|e| Finding::Malformed(format!("certificate re-encoding: {e}")))?;
    CertificateDer::from_der(&der).map_err(|e| Finding::Malformed(e.to_string()))
}

fn attrs_of(info: &SignerInfo) -> &[Attribute] {
    info.signed_attrs
        .as_ref()
        .map(|a| a.as_slice())
        .unwrap_or(&[])
}

fn required_attr<'a>(
    info: &'a SignerInfo,
    oid: ObjectIdentifier,
    name: &'static str,
) -> Result<&'a der::Any, Finding> {
    match asn1::single_value(attrs_of(info), oid) {
        Ok(Some(v)) => Ok(v),
        _ => Err(Finding::AttributeMissingOrRepeated(name)),
    }
}

fn digest_of(alg: ObjectIdentifier, data: &[u8]) -> Result<Vec<u8>, Finding> {
    let md = match HashAlgorithm::from_oid(alg) {
        Some(HashAlgorithm::Sha256) => MessageDigest::sha256(),
        Some(HashAlgorithm::Sha384) => MessageDigest::sha384(),
        Some(HashAlgorithm::Sha512) => MessageDigest::sha512(),
        None => return Err(Finding::UnsupportedAlgorithm(format!("digest {alg}"))),
    };
    openssl::hash::hash(md, data)
        .map(|d| d.to_vec())
        .map_err(|e| Finding::Malformed(format!("hashing: {e}")))
}

fn check_message_digest(info: &SignerInfo, content: &[u8]) -> Result<(), Finding> {
    let value = required_attr(info, ID_MESSAGE_DIGEST, "message-digest")?;
    let claimed = value
        .decode_as::<OctetString>()
        .map_err(|e| Finding::Malformed(format!("message-digest: {e}")))?;
    let actual = digest_of(info.digest_alg.oid, content)?;
    if claimed.as_bytes() == actual.as_slice() {
        Ok(())
    } else {
        Err(Finding::DigestMismatch)
    }
}

fn check_content_type(info: &SignerInfo, expected: ObjectIdentifier) -> Result<(), Finding> {
    let value = required_attr(info, ID_CONTENT_TYPE, "content-type")?;
    let oid = value
        .decode_as::<ObjectIdentifier>()
        .map_err(|e| Finding::Malformed(format!("content-type: {e}")))?;
    if oid == expected {
        Ok(())
    } else {
        Err(Finding::WrongContentType)
    }
}

fn check_signature_value(info: &SignerInfo, cert: &CertificateDer) -> Result<(), Finding> {
    let signed_attrs = info
        .signed_attrs
        .as_ref()
        .ok_or(Finding::AttributeMissingOrRepeated("signed attributes"))?;
    let message = signed_attrs
        .to_der()
        .map_err(|e| Finding::Malformed(format!("signed attributes: {e}")))?;
    let sig_alg = info.signature_algorithm.oid;
    let md = match HashAlgorithm::from_oid(info.digest_alg.oid) {
        Some(HashAlgorithm::Sha256) => MessageDigest::sha256(),
        Some(HashAlgorithm::Sha384) => MessageDigest::sha384(),
        Some(HashAlgorithm::Sha512) => MessageDigest::sha512(),
        None => {
            return Err(Finding::UnsupportedAlgorithm(format!(
                "digest {}",
                info.digest_alg.oid
            )));
        }
    };
    let key = cert
        .to_openssl()
        .and_then(|c| {
            c.public_key()
                .map_err(|e| MisuseError::BadCertificate(e.to_string()))
        })
        .map_err(|e| Finding::Malformed(e.to_string()))?;
    // The signature algorithm is not covered by the signature: it must name the same hash as
    // digestAlgorithm, or an altered copy would still verify.
    let (ec_oid, rsa_oid) = match HashAlgorithm::from_oid(info.digest_alg.oid) {
        Some(HashAlgorithm::Sha256) => ("1.2.840.10045.4.3.2", "1.2.840.113549.1.1.11"),
        Some(HashAlgorithm::Sha384) => ("1.2.840.10045.4.3.3", "1.2.840.113549.1.1.12"),
        _ => ("1.2.840.10045.4.3.4", "1.2.840.113549.1.1.13"),
    };
    let family_ok = match key.id() {
        openssl::pkey::Id::EC => sig_alg == ObjectIdentifier::new_unwrap(ec_oid),
        openssl::pkey::Id::RSA => {
            sig_alg == ObjectIdentifier::new_unwrap(rsa_oid) || sig_alg == RSA_ENCRYPTION
        }
        _ => false,
    };
    if !family_ok {
        return Err(Finding::UnsupportedAlgorithm(format!(
            "signature {sig_alg}"
        )));
    }
    let verified = openssl::sign::Verifier::new(md, &key)
        .and_then(|mut v| {
            v.update(&message)?;
            v.verify(info.signature.as_bytes())
        })
        .unwrap_or(false);
    if verified {
        Ok(())
    } else {
        Err(Finding::BadSignature)
    }
}

fn check_signing_certificate(info: &SignerInfo, cert: &CertificateDer) -> Result<(), Finding> {
    let value = required_attr(info, ID_AA_SIGNING_CERTIFICATE_V2, "signing-certificate-v2")?;
    let scv2 = value
        .decode_as::<SigningCertificateV2>()
        .map_err(|e| Finding::Malformed(format!("signing-certificate-v2: {e}")))?;
    let first = scv2
        .certs
        .first()
        .ok_or_else(|| Finding::Malformed("signing-certificate-v2 is empty".into()))?;
    let alg = first.hash_algorithm.as_ref().map_or(ID_SHA256, |a| a.oid);
    let hash = digest_of(alg, cert.as_der())?;
    if first.cert_hash.as_bytes() != hash.as_slice() {
        return Err(Finding::CertificateMismatch);
    }
    if let Some(is) = &first.issuer_serial {
        let expected = crate::keys::issuer_serial(cert);
        if is.serial_number != expected.serial_number || is.issuer != expected.issuer {
            return Err(Finding::CertificateMismatch);
        }
    }
    Ok(())
}

fn check_signer_key_usage(cert: &CertificateDer) -> Result<(), Finding> {
    match cert.parsed.tbs_certificate.get::<KeyUsage>() {
        Ok(Some((_, ku)))
            if ku.0.contains(KeyUsages::DigitalSignature)
                || ku.0.contains(KeyUsages::NonRepudiation) =>
        {
            Ok(())
        }
        Ok(Some(_)) => Err(Finding::KeyUsageNotPermitted(
            "keyUsage has neither digitalSignature nor nonRepudiation",
        )),
        Ok(None) => Err(Finding::KeyUsageNotPermitted(
            "signer certificate has no keyUsage extension",
        )),
        Err(_) => Err(Finding::KeyUsageNotPermitted(
            "keyUsage extension is malformed",
        )),
    }
}

fn subject_of(cert: &CertificateDer) -> String {
    cert.parsed.tbs_certificate.subject.to_string()
}

fn to_offset(t: std::time::Duration) -> Option<OffsetDateTime> {
    i64::try_from(t.as_secs())
        .ok()
        .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
}

/// Verifies an RFC 3161 time-stamp token (`ContentInfo`, DER) or a whole `TimeStampResp`.
///
/// `expected_imprint`, when given, is the hash algorithm and digest the token must cover.
pub fn verify_timestamp_token(
    token_or_response: &[u8],
    expected_imprint: Option<(HashAlgorithm, &[u8])>,
    anchors: &TrustAnchors,
    options: &VerifyOptions,
) -> TimestampReport {
    let mut report = TimestampReport::empty();
    let token = match crate::cades::token_from_answer(token_or_response) {
        Ok(t) => t,
        Err(e) => {
            report.structure = Check::Failed(Finding::Malformed(e.to_string()));
            return report;
        }
    };
    let sd = match signed_data_of(&token, "time-stamp token") {
        Ok(sd) => sd,
        Err(e) => {
            report.structure = Check::Failed(Finding::Malformed(e.to_string()));
            return report;
        }
    };
    verify_token_signed_data(&sd, expected_imprint, anchors, options, &mut report);
    report
}

fn verify_token_signed_data(
    sd: &SignedData,
    expected_imprint: Option<(HashAlgorithm, &[u8])>,
    anchors: &TrustAnchors,
    options: &VerifyOptions,
    report: &mut TimestampReport,
) {
    let (tst_der, tst) = match tst_der_from(sd).and_then(|der| {
        TstInfoRead::from_der(&der)
            .map(|t| (der, t))
            .map_err(der_input("TSTInfo"))
    }) {
        Ok(x) => x,
        Err(e) => {
            report.structure = Check::Failed(Finding::Malformed(e.to_string()));
            return;
        }
    };
    let info = match single_signer(sd) {
        Ok(i) => i,
        Err(f) => {
            report.structure = Check::Failed(f);
            return;
        }
    };
    report.structure = Check::Passed;
    report.gen_time = asn1::parse_generalized_time(&tst.gen_time);
    report.serial = Some(tst.serial_number.as_bytes().to_vec());
    report.policy = Some(tst.policy);
    report.imprint = match expected_imprint {
        None => Check::NotChecked("no expected imprint given"),
        Some((alg, digest)) => Check::from_result(
            if HashAlgorithm::from_oid(tst.message_imprint.hash_algorithm.oid) == Some(alg)
                && tst.message_imprint.hashed_message.as_bytes() == digest
            {
                Ok(())
            } else {
                Err(Finding::ImprintMismatch)
            },
        ),
    };
    report.content_digest = Check::from_result(
        check_content_type(info, ID_CT_TST_INFO)
            .and_then(|()| check_message_digest(info, &tst_der)),
    );
    let certs = candidate_certs(sd, &options.extra_certificates);
    let cert = match find_signer_cert(info, &certs) {
        Ok(c) => c,
        Err(f) => {
            report.signature_value = Check::Failed(f);
            report.signing_certificate = Check::NotChecked("TSA certificate not found");
            report.tsa_key_usage = Check::NotChecked("TSA certificate not found");
            report.tsa_chain = Check::NotChecked("TSA certificate not found");
            return;
        }
    };
    report.tsa_subject = Some(subject_of(&cert));
    report.signature_value = Check::from_result(check_signature_value(info, &cert));
    report.signing_certificate = Check::from_result(check_signing_certificate(info, &cert));
    report.tsa_key_usage = if is_tsa_certificate(&cert.parsed) {
        Check::Passed
    } else {
        Check::Failed(Finding::KeyUsageNotPermitted(
            "TSA certificate lacks a critical extendedKeyUsage with only timeStamping",
        ))
    };
    report.tsa_chain = match report.gen_time {
        Some(at) => anchors.verify_chain(&cert, &certs, at),
        None => Check::Failed(Finding::Malformed("genTime out of range".into())),
    };
}

/// Verifies a detached CAdES signature (`ContentInfo`, DER) over `content`.
///
/// Never fails: malformed input yields a report whose `structure` check failed.
pub fn verify_detached(
    signature: &[u8],
    content: &[u8],
    anchors: &TrustAnchors,
    options: &VerifyOptions,
) -> SignatureReport {
    let mut report = SignatureReport::empty();
    if signature.len() > MAX_SIGNATURE_LEN {
        report.structure = Check::Failed(Finding::Malformed(format!(
            "signature larger than {MAX_SIGNATURE_LEN} bytes"
        )));
        return report;
    }
    let sd = match ContentInfo::from_der(signature)
        .map_err(der_input("CMS signature"))
        .and_then(|ci| signed_data_of(&ci, "CMS signature"))
    {
        Ok(sd) => sd,
        Err(e) => {
            report.structure = Check::Failed(Finding::Malformed(e.to_string()));
            return report;
        }
    };
    let info = match single_signer(&sd) {
        Ok(i) => i,
        Err(f) => {
            report.structure = Check::Failed(f);
            return report;
        }
    };
    if sd.encap_content_info.econtent.is_some() {
        report.structure = Check::Failed(Finding::Malformed(
            "content is embedded; expected detached".into(),
        ));
        return report;
    }
    if sd.encap_content_info.econtent_type != ID_DATA {
        report.structure = Check::Failed(Finding::Malformed(
            "encapsulated content type is not id-data".into(),
        ));
        return report;
    }
    report.structure = Check::Passed;
    report.claimed_signing_time = asn1::single_value(attrs_of(info), ID_SIGNING_TIME)
        .ok()
        .flatten()
        .and_then(|v| v.to_der().ok())
        .and_then(|der| x509_cert::time::Time::from_der(&der).ok())
        .and_then(|t| to_offset(t.to_unix_duration()));
    report.content_type = Check::from_result(check_content_type(info, ID_DATA));
    report.content_digest = Check::from_result(check_message_digest(info, content));

    // The signature time-stamp (unsigned attribute).
    let ts_token = info
        .unsigned_attrs
        .as_ref()
        .map(|a| asn1::single_value(a.as_slice(), ID_AA_SIGNATURE_TIME_STAMP_TOKEN));
    let mut timestamp_time = None;
    report.timestamp = match ts_token {
        None | Some(Ok(None)) => Check::Failed(Finding::NoTimestamp),
        Some(Err(())) => Check::Failed(Finding::Malformed(
            "signature time-stamp attribute repeated or multi-valued".into(),
        )),
        Some(Ok(Some(value))) => {
            let imprint: [u8; 32] = Sha256::digest(info.signature.as_bytes()).into();
            let mut ts_report = TimestampReport::empty();
            match value
                .to_der()
                .map_err(|e| e.to_string())
                .and_then(|der| {
                    if der.len() > MAX_TOKEN_LEN {
                        return Err("time-stamp token too large".to_owned());
                    }
                    ContentInfo::from_der(&der).map_err(|e| e.to_string())
                })
                .and_then(|ci| signed_data_of(&ci, "time-stamp token").map_err(|e| e.to_string()))
            {
                Ok(ts_sd) => verify_token_signed_data(
                    &ts_sd,
                    Some((HashAlgorithm::Sha256, &imprint)),
                    anchors,
                    options,
                    &mut ts_report,
                ),
                Err(e) => ts_report.structure = Check::Failed(Finding::Malformed(e)),
            }
            let check = if ts_report.is_valid() {
                timestamp_time = ts_report.gen_time;
                Check::Passed
            } else if matches!(ts_report.imprint, Check::Failed(Finding::ImprintMismatch)) {
                Check::Failed(Finding::ImprintMismatch)
            } else {
                Check::Failed(Finding::TimestampInvalid)
            };
            report.timestamp_report = Some(ts_report);
            check
        }
    };

    let certs = candidate_certs(&sd, &options.extra_certificates);
    let cert = match find_signer_cert(info, &certs) {
        Ok(c) => c,
        Err(f) => {
            report.signature_value = Check::Failed(f);
            report.signing_certificate = Check::NotChecked("signer certificate not found");
            report.signer_key_usage = Check::NotChecked("signer certificate not found");
            report.signer_chain = Check::NotChecked("signer certificate not found");
            return report;
        }
    };
    report.signer_subject = Some(subject_of(&cert));
    report.signature_value = Check::from_result(check_signature_value(info, &cert));
    report.signing_certificate = Check::from_result(check_signing_certificate(info, &cert));
    report.signer_key_usage = Check::from_result(check_signer_key_usage(&cert));
    report.signer_chain =
        anchors.verify_chain(&cert, &certs, timestamp_time.unwrap_or(options.now));
    report.signer_certificate = Some(cert.der);
    report
}
