//! The core of an RFC 3161 time-stamp authority, with RFC 5816 (ESSCertIDv2) tokens.
//!
//! Sans-IO: the server receives a `TimeStampReq` over HTTP, picks the next serial number and
//! reads its clock, then calls [`TimeStampAuthority::respond`], which always yields a
//! `TimeStampResp` to send back: a token when granted, a rejection with `PKIFailureInfo`
//! otherwise.
//!
//! * The request is outside input: [`TimeStampRequest::parse`] bounds its size
//!   ([`MAX_REQUEST_LEN`]) and never panics; every way it can be wrong maps to a
//!   [`FailureInfo`].
//! * Serial numbers must be unique and, here, strictly increasing. [`SerialCounter`] hands out
//!   [`TsaSerial`] values, the only way to obtain one; the server persists
//!   [`SerialCounter::last`] and resumes from it after a restart.

use std::fmt;

use der::asn1::SetOfVec;
use der::asn1::{GeneralizedTime, Int, OctetString, Utf8StringRef};
use der::oid::ObjectIdentifier;
use der::{Decode, Encode};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::spki::AlgorithmIdentifier;
use x509_tsp::{MessageImprint, TimeStampReq, TspVersion};

use crate::asn1::{
    self, ID_CONTENT_TYPE, ID_CT_TST_INFO, ID_MESSAGE_DIGEST, ID_SHA256, ID_SHA384, ID_SHA512,
    ID_SIGNED_DATA, StatusInfo, TAG_CONTEXT_0, TAG_INTEGER, TAG_OCTET_STRING, TAG_SEQUENCE,
    TAG_SET, TimeStampResp, tlv,
};
use crate::cades::{positive_int, sha256_algorithm, signing_certificate_v2};
use crate::error::{Error, MisuseError};
use crate::keys::SigningIdentity;

/// Largest `TimeStampReq` accepted, in bytes. A legitimate request is about 60–100 bytes.
pub const MAX_REQUEST_LEN: usize = 64 * 1024;

/// Largest time-stamp token or response accepted when reading one back, in bytes.
pub const MAX_TOKEN_LEN: usize = 256 * 1024;

/// Hash algorithms accepted in a message imprint.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub enum HashAlgorithm {
    /// SHA-256 (32-byte imprint).
    Sha256,
    /// SHA-384 (48-byte imprint).
    Sha384,
    /// SHA-512 (64-byte imprint).
    Sha512,
}

impl HashAlgorithm {
    pub(crate) fn from_oid(oid: ObjectIdentifier) -> Option<Self> {
        match oid {
            o if o == ID_SHA256 => Some(Self::Sha256),
            o if o == ID_SHA384 => Some(Self::Sha384),
            o if o == ID_SHA512 => Some(Self::Sha512),
            _ => None,
        }
    }

    /// Length of a digest in bytes.
    pub fn output_len(self) -> usize {
        match self {
            Self::Sha256 => 32,
            Self::Sha384 => 48,
            Self::Sha512 => 64,
        }
    }
}

/// Why a request is refused; each maps to one `PKIFailureInfo` bit (RFC 3161 §2.4.2).
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub enum FailureInfo {
    /// badAlg (0): unrecognised or unsupported hash algorithm.
    BadAlg,
    /// badRequest (2): transaction not permitted or supported.
    BadRequest,
    /// badDataFormat (5): the data submitted has the wrong format.
    BadDataFormat,
    /// timeNotAvailable (14): the TSA's time source is not available.
    TimeNotAvailable,
    /// unacceptedPolicy (15): the requested TSA policy is not supported.
    UnacceptedPolicy,
    /// unacceptedExtension (16): the requested extension is not supported.
    UnacceptedExtension,
    /// systemFailure (25): the request cannot be handled due to system failure.
    SystemFailure,
}

impl FailureInfo {
    fn bit(self) -> u8 {
        match self {
            Self::BadAlg => 0,
            Self::BadRequest => 2,
            Self::BadDataFormat => 5,
            Self::TimeNotAvailable => 14,
            Self::UnacceptedPolicy => 15,
            Self::UnacceptedExtension => 16,
            Self::SystemFailure => 25,
        }
    }
}

/// A request refused, with the failure bit and a human-readable reason for the status string.
#[derive(Clone, Debug, Eq, PartialEq, thiserror::Error)]
#[error("time-stamp request rejected ({failure:?}): {reason}")]
pub struct Rejection {
    /// The PKIFailureInfo bit.
    pub failure: FailureInfo,
    /// Text for the PKIFreeText status string.
    pub reason: String,
}

impl Rejection {
    fn new(failure: FailureInfo, reason: impl Into<String>) -> Self {
        Self {
            failure,
            reason: reason.into(),
        }
    }
}

/// A parsed, well-formed `TimeStampReq`.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct TimeStampRequest {
    hash_algorithm: HashAlgorithm,
    message_imprint: MessageImprint,
    policy: Option<ObjectIdentifier>,
    nonce: Option<Int>,
    cert_req: bool,
}

impl TimeStampRequest {
    /// Parses a DER `TimeStampReq` from outside.
    ///
    /// # Errors
    /// A [`Rejection`] to send back: `badDataFormat` when oversized, malformed or the imprint has
    /// the wrong length for its algorithm; `badAlg` for a hash other than SHA-256/384/512;
    /// `unacceptedExtension` when extensions are present (none are supported).
    pub fn parse(der: &[u8]) -> Result<Self, Rejection> {
        if der.len() > MAX_REQUEST_LEN {
            return Err(Rejection::new(
                FailureInfo::BadDataFormat,
                format!("request larger than {MAX_REQUEST_LEN} bytes"),
            ));
        }
        let req = TimeStampReq::from_der(der).map_err(|e| {
            Rejection::new(
                FailureInfo::BadDataFormat,
                format!("malformed request: {e}"),
            )
        })?;
        let alg = &req.message_imprint.hash_algorithm;
        let hash_algorithm = HashAlgorithm::from_oid(alg.oid).ok_or_else(|| {
            Rejection::new(
                FailureInfo::BadAlg,
                format!("unsupported hash algorithm {}", alg.oid),
            )
        })?;
        // RFC 5754: parameters absent or NULL.
        if let Some(params) = &alg.parameters
            && !params.is_null()
        {
            return Err(Rejection::new(
                FailureInfo::BadAlg,
                "hash algorithm parameters must be absent or NULL",
            ));
        }
        let imprint_len = req.message_imprint.hashed_message.as_bytes().len();
        if imprint_len != hash_algorithm.output_len() {
            return Err(Rejection::new(
                FailureInfo::BadDataFormat,
                format!(
                    "imprint is {imprint_len} bytes, {hash_algorithm:?} needs {}",
                    hash_algorithm.output_len()
                ),
            ));
        }
        if req.extensions.is_some() {
            return Err(Rejection::new(
                FailureInfo::UnacceptedExtension,
                "request extensions are not supported",
            ));
        }
        if let Some(nonce) = &req.nonce {
            // RFC 3161 nonces are large random integers; bound them so a hostile one cannot
            // bloat every token we sign.
            if nonce.as_bytes().len() > 64 {
                return Err(Rejection::new(
                    FailureInfo::BadDataFormat,
                    "nonce longer than 64 bytes",
                ));
            }
        }
        Ok(Self {
            hash_algorithm,
            message_imprint: req.message_imprint,
            policy: req.req_policy,
            nonce: req.nonce,
            cert_req: req.cert_req,
        })
    }

    /// The imprint's hash algorithm.
    pub fn hash_algorithm(&self) -> HashAlgorithm {
        self.hash_algorithm
    }

    /// The hashed message.
    pub fn imprint(&self) -> &[u8] {
        self.message_imprint.hashed_message.as_bytes()
    }

    /// The requested policy, if any.
    pub fn policy(&self) -> Option<&ObjectIdentifier> {
        self.policy.as_ref()
    }

    /// Whether the requester asked for the TSA certificate in the token.
    pub fn cert_req(&self) -> bool {
        self.cert_req
    }

    /// Whether a nonce was sent.
    pub fn has_nonce(&self) -> bool {
        self.nonce.is_some()
    }
}

/// A `TimeStampReq` for a SHA-256 imprint (for a remote TSA).
pub(crate) fn build_request(
    imprint: &[u8; 32],
    nonce: Option<u128>,
    cert_req: bool,
) -> Result<Vec<u8>, der::Error> {
    TimeStampReq {
        version: TspVersion::V1,
        message_imprint: MessageImprint {
            hash_algorithm: AlgorithmIdentifier {
                oid: ID_SHA256,
                parameters: None,
            },
            hashed_message: OctetString::new(imprint.to_vec())?,
        },
        req_policy: None,
        nonce: nonce.map(positive_int).transpose()?,
        cert_req,
        extensions: None,
    }
    .to_der()
}

/// A serial number that came out of a [`SerialCounter`]; the only way to get one.
#[derive(Clone, Copy, Debug, Eq, PartialEq, Ord, PartialOrd)]
pub struct TsaSerial(u128);

impl TsaSerial {
    /// The numeric value.
    pub fn value(self) -> u128 {
        self.0
    }
}

impl fmt::Display for TsaSerial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Hands out strictly increasing serial numbers, resuming from a persisted last value.
///
/// Protocol for the server: load the last value persisted (0 on first start), [`Self::resume`];
/// for each token, [`Self::next_serial`], **persist [`Self::last`] durably before sending the token**,
/// then send. After a crash the counter resumes at or after every serial ever sent, so no serial
/// repeats. (To save writes, reserve blocks: persist `last + N` and resume from that.)
#[derive(Debug)]
pub struct SerialCounter {
    last: u128,
}

impl SerialCounter {
    /// Resumes after `last_persisted` (0 on first start: the first serial is 1).
    pub fn resume(last_persisted: u128) -> Self {
        Self {
            last: last_persisted,
        }
    }

    /// The next serial number.
    ///
    /// # Errors
    /// [`MisuseError::SerialExhausted`] at 2^127 − 1 (INTEGER values above are kept free so the
    /// serial fits 16 bytes plus sign, within RFC 3161's 160-bit bound).
    pub fn next_serial(&mut self) -> Result<TsaSerial, MisuseError> {
        if self.last >= u128::MAX >> 1 {
            return Err(MisuseError::SerialExhausted);
        }
        self.last += 1;
        Ok(TsaSerial(self.last))
    }

    /// The last serial handed out: the value to persist.
    pub fn last(&self) -> u128 {
        self.last
    }
}

/// `Accuracy` of the TSA clock (RFC 3161 §2.4.2).
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct Accuracy {
    /// Whole seconds.
    pub seconds: u32,
    /// Milliseconds, 0–999.
    pub millis: u16,
    /// Microseconds, 0–999.
    pub micros: u16,
}

/// Configuration of a TSA.
#[derive(Clone, Debug)]
pub struct TsaConfig {
    /// The policy OID put in tokens when the request names none.
    pub default_policy: ObjectIdentifier,
    /// Further policies a request may name; the default is always accepted.
    pub accepted_policies: Vec<ObjectIdentifier>,
    /// The clock accuracy to state; `None` leaves it out.
    pub accuracy: Option<Accuracy>,
    /// Whether to put the TSA's subject name in the `tsa` field of TSTInfo.
    pub include_tsa_name: bool,
}

/// The outcome of handling a request: the DER `TimeStampResp` to send, and what it says.
#[derive(Clone, Debug)]
pub struct TsaResponse {
    /// DER `TimeStampResp`.
    pub der: Vec<u8>,
    /// Granted with this serial, or the rejection.
    pub outcome: Result<TsaSerial, Rejection>,
}

/// A time-stamp authority: a signing identity whose certificate is fit for time-stamping, plus
/// its policy configuration.
#[derive(Debug)]
pub struct TimeStampAuthority {
    identity: SigningIdentity,
    config: TsaConfig,
    template: TokenTemplate,
}

/// The parts of a token that are the same in every token, DER-encoded once when the TSA is
/// built; [`TimeStampAuthority::issue`] joins them with the per-token parts (TSTInfo, message
/// digest, signature). Encoding them per token as typed structures — the certificates with their
/// extensions, the issuer name twice, the ESSCertIDv2 — cost more CPU than the signature.
#[derive(Debug)]
struct TokenTemplate {
    /// TSTInfo.tsa: `[0] EXPLICIT GeneralName` (directoryName), when configured.
    tsa_name: Option<Vec<u8>>,
    /// TSTInfo.accuracy, when one is stated.
    accuracy: Option<Vec<u8>>,
    /// The OIDs id-messageDigest, id-ct-TSTInfo and id-signedData.
    message_digest_oid: Vec<u8>,
    tst_info_oid: Vec<u8>,
    signed_data_oid: Vec<u8>,
    /// The signed attributes content-type (id-ct-TSTInfo) and signing-certificate-v2.
    content_type_attr: Vec<u8>,
    signing_certificate_attr: Vec<u8>,
    /// SignedData.digestAlgorithms: `SET { sha256 }`.
    digest_algorithms: Vec<u8>,
    /// SignerInfo.sid (IssuerAndSerialNumber), .digestAlgorithm and .signatureAlgorithm.
    sid: Vec<u8>,
    digest_algorithm: Vec<u8>,
    signature_algorithm: Vec<u8>,
    /// SignedData.certificates: `[0] IMPLICIT SET OF` the certificate and its chain, DER-sorted,
    /// without duplicates.
    certificates: Vec<u8>,
}

impl TokenTemplate {
    fn new(identity: &SigningIdentity, config: &TsaConfig) -> Result<Self, der::Error> {
        let cert = &identity.certificate().parsed;
        let tsa_name = if config.include_tsa_name {
            let name = GeneralName::DirectoryName(cert.tbs_certificate.subject.clone()).to_der()?;
            Some(tlv(TAG_CONTEXT_0, &[&name]))
        } else {
            None
        };
        let accuracy = config
            .accuracy
            .filter(|a| {
                *a != Accuracy {
                    seconds: 0,
                    millis: 0,
                    micros: 0,
                }
            })
            .map(|a| {
                x509_tsp::Accuracy {
                    seconds: (a.seconds != 0).then_some(u64::from(a.seconds)),
                    millis: (a.millis != 0).then_some(a.millis as i16),
                    micros: (a.micros != 0).then_some(a.micros as i16),
                }
                .to_der()
            })
            .transpose()?;
        let mut certificates = SetOfVec::new();
        for c in std::iter::once(identity.certificate()).chain(identity.chain()) {
            let choice = cms::cert::CertificateChoices::Certificate(c.parsed.clone());
            // A chain that repeats the leaf would make the SET OF contain a duplicate.
            if !certificates.iter().any(|existing| existing == &choice) {
                certificates.insert(choice)?;
            }
        }
        // The same content as the SET OF, under the IMPLICIT [0] tag of SignedData.certificates.
        let mut certificates = cms::signed_data::CertificateSet(certificates).to_der()?;
        if let Some(tag) = certificates.first_mut() {
            *tag = TAG_CONTEXT_0;
        }
        let mut digest_algorithms = SetOfVec::new();
        digest_algorithms.insert(sha256_algorithm())?;
        Ok(Self {
            tsa_name,
            accuracy,
            message_digest_oid: ID_MESSAGE_DIGEST.to_der()?,
            tst_info_oid: ID_CT_TST_INFO.to_der()?,
            signed_data_oid: ID_SIGNED_DATA.to_der()?,
            content_type_attr: asn1::attribute(ID_CONTENT_TYPE, asn1::to_any(&ID_CT_TST_INFO)?)?
                .to_der()?,
            signing_certificate_attr: signing_certificate_v2(identity.certificate())?.to_der()?,
            digest_algorithms: digest_algorithms.to_der()?,
            sid: cms::cert::IssuerAndSerialNumber {
                issuer: cert.tbs_certificate.issuer.clone(),
                serial_number: cert.tbs_certificate.serial_number.clone(),
            }
            .to_der()?,
            digest_algorithm: sha256_algorithm().to_der()?,
            signature_algorithm: identity.algorithm().algorithm_identifier().to_der()?,
            certificates,
        })
    }
}

/// The DER `PKIStatusInfo { status granted }` that opens every granted `TimeStampResp`.
const STATUS_GRANTED: [u8; 5] = [TAG_SEQUENCE, 0x03, TAG_INTEGER, 0x01, 0x00];

/// id-kp-timeStamping.
const ID_KP_TIME_STAMPING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.8");
/// id-ce-extKeyUsage.
const ID_CE_EXT_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.37");

/// Whether `cert` has a critical extendedKeyUsage containing exactly id-kp-timeStamping.
pub(crate) fn is_tsa_certificate(cert: &x509_cert::Certificate) -> bool {
    let Some(exts) = &cert.tbs_certificate.extensions else {
        return false;
    };
    exts.iter()
        .filter(|e| e.extn_id == ID_CE_EXT_KEY_USAGE)
        .any(|e| {
            e.critical
                && x509_cert::ext::pkix::ExtendedKeyUsage::from_der(e.extn_value.as_bytes())
                    .map(|eku| eku.0 == [ID_KP_TIME_STAMPING])
                    .unwrap_or(false)
        })
}

impl TimeStampAuthority {
    /// Creates a TSA.
    ///
    /// # Errors
    /// [`MisuseError::NotATsaCertificate`] when the identity's certificate lacks the critical
    /// extendedKeyUsage timeStamping (RFC 3161 §2.3).
    pub fn new(identity: SigningIdentity, config: TsaConfig) -> Result<Self, MisuseError> {
        if !is_tsa_certificate(&identity.certificate().parsed) {
            return Err(MisuseError::NotATsaCertificate);
        }
        if let Some(a) = config.accuracy
            && (a.millis > 999 || a.micros > 999)
        {
            return Err(MisuseError::Config(
                "accuracy millis and micros must be 0–999".into(),
            ));
        }
        let template = TokenTemplate::new(&identity, &config).map_err(|e| {
            MisuseError::Config(format!(
                "cannot encode the TSA's certificates and attributes: {e}"
            ))
        })?;
        Ok(Self {
            identity,
            config,
            template,
        })
    }

    /// Handles a DER `TimeStampReq` from outside and produces the `TimeStampResp` to send.
    ///
    /// `serial` is consumed whether or not the request is granted. `gen_time` is the TSA's
    /// current time (sub-second precision is dropped).
    ///
    /// # Errors
    /// Only when signing fails ([`Error::Key`]); answer the client with
    /// [`rejection_response`]`(`[`FailureInfo::SystemFailure`]`, ..)` then.
    pub fn respond(
        &self,
        request_der: &[u8],
        serial: TsaSerial,
        gen_time: OffsetDateTime,
    ) -> Result<TsaResponse, Error> {
        let outcome = TimeStampRequest::parse(request_der).and_then(|req| {
            self.check_policy(&req)?;
            Ok(req)
        });
        match outcome {
            Ok(req) => {
                let token = self.issue(&req, serial, gen_time)?;
                let der = tlv(TAG_SEQUENCE, &[&STATUS_GRANTED, &token]);
                Ok(TsaResponse {
                    der,
                    outcome: Ok(serial),
                })
            }
            Err(rejection) => Ok(TsaResponse {
                der: rejection_response(rejection.failure, &rejection.reason)?,
                outcome: Err(rejection),
            }),
        }
    }

    fn check_policy(&self, req: &TimeStampRequest) -> Result<ObjectIdentifier, Rejection> {
        match req.policy {
            None => Ok(self.config.default_policy),
            Some(p)
                if p == self.config.default_policy
                    || self.config.accepted_policies.contains(&p) =>
            {
                Ok(p)
            }
            Some(p) => Err(Rejection::new(
                FailureInfo::UnacceptedPolicy,
                format!("policy {p} is not accepted"),
            )),
        }
    }

    /// Issues a token (DER `ContentInfo`) for a parsed request: the building block of
    /// [`Self::respond`], also used to stamp our own signatures without a DER round-trip.
    ///
    /// # Errors
    /// [`MisuseError::Config`] when the request names a policy this TSA does not accept (check
    /// with [`Self::respond`] for outside requests) or `gen_time` is out of range;
    /// [`Error::Key`] when signing fails.
    pub fn issue(
        &self,
        req: &TimeStampRequest,
        serial: TsaSerial,
        gen_time: OffsetDateTime,
    ) -> Result<Vec<u8>, Error> {
        let policy = self
            .check_policy(req)
            .map_err(|r| MisuseError::Config(r.reason))?;
        let secs = u64::try_from(gen_time.unix_timestamp())
            .map_err(|_| MisuseError::Config("genTime before 1970".into()))?;
        let gen_time = GeneralizedTime::from_unix_duration(std::time::Duration::from_secs(secs))
            .map_err(|_| MisuseError::Config("genTime out of GeneralizedTime range".into()))?;
        let tst_info = self.tst_info_der(req, policy, serial, gen_time)?;
        self.signed_token(&tst_info, req.cert_req)
    }

    /// The DER `TSTInfo` (RFC 3161 §2.4.2), fields in their order: version, policy,
    /// messageImprint, serialNumber, genTime, accuracy, (ordering FALSE is the DEFAULT, so DER
    /// leaves it out), nonce, tsa; no extensions.
    fn tst_info_der(
        &self,
        req: &TimeStampRequest,
        policy: ObjectIdentifier,
        serial: TsaSerial,
        gen_time: GeneralizedTime,
    ) -> Result<Vec<u8>, der::Error> {
        let mut body = Vec::with_capacity(320);
        body.extend_from_slice(&[TAG_INTEGER, 0x01, 0x01]);
        policy.encode_to_vec(&mut body)?;
        req.message_imprint.encode_to_vec(&mut body)?;
        positive_int(serial.0)?.encode_to_vec(&mut body)?;
        gen_time.encode_to_vec(&mut body)?;
        if let Some(accuracy) = &self.template.accuracy {
            body.extend_from_slice(accuracy);
        }
        if let Some(nonce) = &req.nonce {
            nonce.encode_to_vec(&mut body)?;
        }
        if let Some(tsa) = &self.template.tsa_name {
            body.extend_from_slice(tsa);
        }
        Ok(tlv(TAG_SEQUENCE, &[&body]))
    }

    /// The token: a DER `ContentInfo` with a CMS `SignedData` (RFC 5652) over `tst_info`, its
    /// single `SignerInfo` signing the attributes content-type, message-digest and
    /// signing-certificate-v2 (RFC 5816).
    fn signed_token(&self, tst_info: &[u8], include_certificates: bool) -> Result<Vec<u8>, Error> {
        let t = &self.template;
        let digest = Sha256::digest(tst_info);
        let message_digest_attr = tlv(
            TAG_SEQUENCE,
            &[
                &t.message_digest_oid,
                &tlv(TAG_SET, &[&tlv(TAG_OCTET_STRING, &[&digest])]),
            ],
        );
        // SET OF in DER order (X.690 §11.6): sorted by encoding. None of the three is a prefix
        // of another (they differ within their OIDs), so plain byte order is DER order.
        let mut attrs: [&[u8]; 3] = [
            &t.content_type_attr,
            &message_digest_attr,
            &t.signing_certificate_attr,
        ];
        attrs.sort_unstable();
        // The signature covers the attributes encoded as a SET OF (RFC 5652 §5.4)…
        let mut signed_attrs = tlv(TAG_SET, &attrs);
        let signature = self.identity.sign(&signed_attrs)?;
        // …and they are stored under SignerInfo's IMPLICIT [0].
        if let Some(tag) = signed_attrs.first_mut() {
            *tag = TAG_CONTEXT_0;
        }
        let signer_info = tlv(
            TAG_SEQUENCE,
            &[
                &[TAG_INTEGER, 0x01, 0x01], // CMSVersion v1: sid is IssuerAndSerialNumber
                &t.sid,
                &t.digest_algorithm,
                &signed_attrs,
                &t.signature_algorithm,
                &tlv(TAG_OCTET_STRING, &[&signature]),
            ],
        );
        let encap_content_info = tlv(
            TAG_SEQUENCE,
            &[
                &t.tst_info_oid,
                &tlv(TAG_CONTEXT_0, &[&tlv(TAG_OCTET_STRING, &[tst_info])]),
            ],
        );
        let certificates: &[u8] = if include_certificates {
            &t.certificates
        } else {
            &[]
        };
        let signed_data = tlv(
            TAG_SEQUENCE,
            &[
                // CMSVersion v3: the encapsulated content is not id-data (RFC 5652 §5.1).
                &[TAG_INTEGER, 0x01, 0x03],
                &t.digest_algorithms,
                &encap_content_info,
                certificates,
                &tlv(TAG_SET, &[&signer_info]),
            ],
        );
        Ok(tlv(
            TAG_SEQUENCE,
            &[&t.signed_data_oid, &tlv(TAG_CONTEXT_0, &[&signed_data])],
        ))
    }

    /// Stamps a SHA-256 imprint directly (no request round-trip), e.g. the
    /// [`crate::cades::PendingSignature::timestamp_imprint`] of our own signature. The token
    /// includes the TSA certificate.
    ///
    /// # Errors
    /// [`Error::Key`] when signing fails.
    pub fn stamp_imprint(
        &self,
        imprint: &[u8; 32],
        serial: TsaSerial,
        gen_time: OffsetDateTime,
    ) -> Result<Vec<u8>, Error> {
        let req_der = build_request(imprint, None, true)?;
        let req = TimeStampRequest::parse(&req_der)
            .map_err(|r| MisuseError::Config(format!("internal request refused: {r}")))?;
        self.issue(&req, serial, gen_time)
    }
}

/// A DER `TimeStampResp` with status rejection (2), the failure bit and `reason` as text.
///
/// # Errors
/// Only on DER encoding failure (not expected).
pub fn rejection_response(failure: FailureInfo, reason: &str) -> Result<Vec<u8>, Error> {
    let text = Utf8StringRef::new(reason)?;
    Ok(TimeStampResp {
        status: StatusInfo {
            status: 2,
            status_string: Some(vec![text]),
            fail_info: Some(asn1::named_bit(failure.bit())?),
        },
        time_stamp_token: None,
    }
    .to_der()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serial_counter_is_strictly_increasing_from_persisted_value() {
        let mut c = SerialCounter::resume(41);
        assert_eq!(c.next_serial().unwrap().value(), 42);
        assert_eq!(c.next_serial().unwrap().value(), 43);
        assert_eq!(c.last(), 43);
        let mut resumed = SerialCounter::resume(c.last());
        assert_eq!(resumed.next_serial().unwrap().value(), 44);
    }

    #[test]
    fn serial_counter_refuses_to_wrap() {
        let mut c = SerialCounter::resume(u128::MAX >> 1);
        assert!(matches!(c.next_serial(), Err(MisuseError::SerialExhausted)));
    }

    #[test]
    fn positive_ints_are_minimal_and_positive() {
        assert_eq!(positive_int(0).unwrap().as_bytes(), [0]);
        assert_eq!(positive_int(1).unwrap().as_bytes(), [1]);
        assert_eq!(positive_int(0x80).unwrap().as_bytes(), [0, 0x80]);
        assert_eq!(positive_int(0x1234).unwrap().as_bytes(), [0x12, 0x34]);
    }
}
