//! Detached CMS signatures at CAdES baseline B-T (ETSI EN 319 122-1).
//!
//! Signing is two steps because the time-stamp comes from a time-stamp authority that the server
//! reaches however it likes (its own [`crate::tsa`] core, or a remote TSA over HTTP):
//!
//! 1. [`sign_detached`] hashes the document, builds the signed attributes (content-type,
//!    message-digest, signing-time, signing-certificate-v2) and signs them: a
//!    [`PendingSignature`] (baseline B-B).
//! 2. [`PendingSignature::timestamp_imprint`] (or [`PendingSignature::timestamp_request`]) is what
//!    the TSA must stamp: the SHA-256 of the signature value.
//! 3. [`PendingSignature::attach_timestamp`] checks that the token covers this signature value
//!    and adds it as the unsigned attribute id-aa-signatureTimeStampToken: a [`CadesSignature`]
//!    (baseline B-T).
//!
//! All SET OF values (attributes, certificates, digest algorithms) are emitted DER-sorted.

use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{
    CertificateSet, EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo, SignerInfos,
};
use der::asn1::{Int, OctetString, SetOfVec, UtcTime};
use der::oid::ObjectIdentifier;
use der::{Any, Decode, Encode};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use x509_cert::attr::Attribute;
use x509_cert::spki::AlgorithmIdentifierOwned;
use x509_cert::time::Time;

use crate::asn1::{
    self, EssCertIdV2, ID_AA_SIGNATURE_TIME_STAMP_TOKEN, ID_AA_SIGNING_CERTIFICATE_V2,
    ID_CONTENT_TYPE, ID_CT_TST_INFO, ID_DATA, ID_MESSAGE_DIGEST, ID_SHA256, ID_SIGNED_DATA,
    ID_SIGNING_TIME, SigningCertificateV2,
};
use crate::error::{Error, InputError, MisuseError, der_input, invalid};
use crate::keys::{CertificateDer, SigningIdentity, issuer_serial};

/// The SHA-256 `AlgorithmIdentifier` (parameters absent, RFC 5754).
pub(crate) fn sha256_algorithm() -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned {
        oid: ID_SHA256,
        parameters: None,
    }
}

/// A positive INTEGER from an unsigned big-endian value.
pub(crate) fn positive_int(value: u128) -> Result<Int, der::Error> {
    let bytes = value.to_be_bytes();
    let first = bytes
        .iter()
        .position(|b| *b != 0)
        .unwrap_or(bytes.len() - 1);
    let mut out = Vec::with_capacity(17);
    if bytes[first] >= 0x80 {
        out.push(0);
    }
    out.extend_from_slice(&bytes[first..]);
    Int::new(&out)
}

/// The signing-certificate-v2 attribute for `cert` (ESSCertIDv2, SHA-256, with IssuerSerial).
pub(crate) fn signing_certificate_v2(cert: &CertificateDer) -> Result<Attribute, der::Error> {
    let value = SigningCertificateV2 {
        certs: vec![EssCertIdV2 {
            hash_algorithm: None,
            cert_hash: OctetString::new(cert.sha256().to_vec())?,
            issuer_serial: Some(issuer_serial(cert)),
        }],
        policies: None,
    };
    asn1::attribute(ID_AA_SIGNING_CERTIFICATE_V2, asn1::to_any(&value)?)
}

/// Signs `signed_attrs` with `identity` and builds a SignedData around the encapsulated content.
///
/// The signature is computed over the DER of the attributes as a SET OF (RFC 5652 §5.4).
pub(crate) fn build_signed_data(
    identity: &SigningIdentity,
    econtent_type: ObjectIdentifier,
    econtent: Option<Any>,
    signed_attrs: Vec<Attribute>,
    include_certificates: bool,
) -> Result<SignedData, Error> {
    let signed_attrs = SetOfVec::try_from(signed_attrs)?;
    let to_sign = signed_attrs.to_der()?;
    let signature = identity.sign(&to_sign)?;
    let cert = &identity.certificate().parsed;
    let signer_info = SignerInfo {
        version: CmsVersion::V1,
        sid: SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
            issuer: cert.tbs_certificate.issuer.clone(),
            serial_number: cert.tbs_certificate.serial_number.clone(),
        }),
        digest_alg: sha256_algorithm(),
        signed_attrs: Some(signed_attrs),
        signature_algorithm: identity.algorithm().algorithm_identifier(),
        signature: OctetString::new(signature)?,
        unsigned_attrs: None,
    };
    let certificates = if include_certificates {
        let mut set = SetOfVec::new();
        for c in std::iter::once(identity.certificate()).chain(identity.chain()) {
            let choice = CertificateChoices::Certificate(c.parsed.clone());
            // A chain that repeats the leaf would make the SET OF contain a duplicate.
            if !set.iter().any(|existing| existing == &choice) {
                set.insert(choice)?;
            }
        }
        Some(CertificateSet(set))
    } else {
        None
    };
    let mut digest_algorithms = SetOfVec::new();
    digest_algorithms.insert(sha256_algorithm())?;
    let mut signer_infos = SetOfVec::new();
    signer_infos.insert(signer_info)?;
    Ok(SignedData {
        // RFC 5652 §5.1: v3 when the encapsulated content is not id-data, else v1.
        version: if econtent_type == ID_DATA {
            CmsVersion::V1
        } else {
            CmsVersion::V3
        },
        digest_algorithms,
        encap_content_info: EncapsulatedContentInfo {
            econtent_type,
            econtent,
        },
        certificates,
        crls: None,
        signer_infos: SignerInfos(signer_infos),
    })
}

/// Wraps SignedData in a ContentInfo and encodes it.
pub(crate) fn content_info_der(signed_data: &SignedData) -> Result<Vec<u8>, der::Error> {
    ContentInfo {
        content_type: ID_SIGNED_DATA,
        content: asn1::to_any(signed_data)?,
    }
    .to_der()
}

fn signing_time(at: OffsetDateTime) -> Result<Time, Error> {
    let secs = u64::try_from(at.unix_timestamp())
        .map_err(|_| MisuseError::Config("signing time before 1970".into()))?;
    let utc = UtcTime::from_unix_duration(std::time::Duration::from_secs(secs))
        .map_err(|_| MisuseError::Config("signing time outside 1970–2049 (UTCTime)".into()))?;
    Ok(Time::UtcTime(utc))
}

/// Signs `content` detached (the content is not embedded) at CAdES baseline B-B.
///
/// `signing_time` is the claimed signing time (the signing-time attribute); the trusted time
/// comes later from the time-stamp.
///
/// # Errors
/// [`Error::Key`] when the signer fails; [`MisuseError::Config`] when `signing_time` cannot be
/// expressed as UTCTime.
pub fn sign_detached(
    identity: &SigningIdentity,
    content: &[u8],
    signing_time_at: OffsetDateTime,
) -> Result<PendingSignature, Error> {
    let digest = Sha256::digest(content);
    let attrs = vec![
        asn1::attribute(ID_CONTENT_TYPE, asn1::to_any(&ID_DATA)?)?,
        asn1::attribute(
            ID_MESSAGE_DIGEST,
            asn1::to_any(&OctetString::new(digest.to_vec())?)?,
        )?,
        asn1::attribute(
            ID_SIGNING_TIME,
            asn1::to_any(&signing_time(signing_time_at)?)?,
        )?,
        signing_certificate_v2(identity.certificate())?,
    ];
    let signed_data = build_signed_data(identity, ID_DATA, None, attrs, true)?;
    Ok(PendingSignature { signed_data })
}

/// A signature at baseline B-B, waiting for its signature time-stamp.
#[derive(Clone, Debug)]
pub struct PendingSignature {
    signed_data: SignedData,
}

impl PendingSignature {
    fn signer_info(&self) -> &SignerInfo {
        self.signed_data
            .signer_infos
            .0
            .get(0)
            .expect("sign_detached always builds exactly one SignerInfo")
    }

    /// The signature value (what the time-stamp must cover).
    pub fn signature_value(&self) -> &[u8] {
        self.signer_info().signature.as_bytes()
    }

    /// SHA-256 of the signature value: the message imprint to send to a TSA.
    pub fn timestamp_imprint(&self) -> [u8; 32] {
        Sha256::digest(self.signature_value()).into()
    }

    /// A DER RFC 3161 `TimeStampReq` for [`Self::timestamp_imprint`], for a remote TSA.
    ///
    /// # Errors
    /// Only on DER encoding failure (not expected).
    pub fn timestamp_request(&self, nonce: Option<u64>, cert_req: bool) -> Result<Vec<u8>, Error> {
        Ok(crate::tsa::build_request(
            &self.timestamp_imprint(),
            nonce.map(u128::from),
            cert_req,
        )?)
    }

    /// The signature without time-stamp (baseline B-B), DER `ContentInfo`.
    ///
    /// # Errors
    /// Only on DER encoding failure (not expected).
    pub fn to_baseline_b(&self) -> Result<Vec<u8>, Error> {
        Ok(content_info_der(&self.signed_data)?)
    }

    /// Adds the signature time-stamp and returns the baseline B-T signature.
    ///
    /// `tsa_answer` is either a whole `TimeStampResp` (as a TSA answers over HTTP) or just the
    /// `TimeStampToken` (`ContentInfo`). The token's message imprint must be the SHA-256 of this
    /// signature's value. The token's own signature and certificate are *not* checked here: use
    /// [`crate::verify::verify_detached`] on the result.
    ///
    /// # Errors
    /// [`InputError`] when the answer is malformed, a refusal, or covers something else.
    pub fn attach_timestamp(self, tsa_answer: &[u8]) -> Result<CadesSignature, Error> {
        let token = token_from_answer(tsa_answer)?;
        let tst = crate::verify::tst_info_of(&token)?;
        if tst.message_imprint.hash_algorithm.oid != ID_SHA256
            || tst.message_imprint.hashed_message.as_bytes() != self.timestamp_imprint()
        {
            return Err(InputError::TimestampImprintMismatch.into());
        }
        let attr = asn1::attribute(ID_AA_SIGNATURE_TIME_STAMP_TOKEN, asn1::to_any(&token)?)?;
        let mut signed_data = self.signed_data;
        let mut infos = signed_data.signer_infos.0.into_vec();
        for info in &mut infos {
            let mut unsigned = SetOfVec::new();
            unsigned.insert(attr.clone())?;
            info.unsigned_attrs = Some(unsigned);
        }
        signed_data.signer_infos = SignerInfos(SetOfVec::try_from(infos)?);
        Ok(CadesSignature {
            der: content_info_der(&signed_data)?,
        })
    }
}

/// Extracts the token (`ContentInfo`) from a `TimeStampResp` or returns the token itself.
pub(crate) fn token_from_answer(answer: &[u8]) -> Result<ContentInfo, InputError> {
    if answer.len() > crate::tsa::MAX_TOKEN_LEN {
        return Err(InputError::TooLarge {
            what: "time-stamp answer",
            actual: answer.len() as u64,
            limit: crate::tsa::MAX_TOKEN_LEN as u64,
        });
    }
    if let Ok(resp) = asn1::TimeStampResp::from_der(answer) {
        if resp.status.status > 1 {
            return Err(InputError::TimestampRefused {
                status: resp.status.status,
                text: resp.status.status_string.map(|t| {
                    t.iter()
                        .map(|s| s.as_str().to_owned())
                        .collect::<Vec<_>>()
                        .join("; ")
                }),
            });
        }
        return resp
            .time_stamp_token
            .ok_or_else(|| invalid("time-stamp response", "granted but without a token"));
    }
    let token = ContentInfo::from_der(answer).map_err(der_input("time-stamp token"))?;
    if token.content_type != ID_SIGNED_DATA {
        return Err(invalid("time-stamp token", "not a SignedData"));
    }
    // Make sure it really holds a TSTInfo before the caller embeds it.
    let sd = token
        .content
        .decode_as::<SignedData>()
        .map_err(der_input("time-stamp token"))?;
    if sd.encap_content_info.econtent_type != ID_CT_TST_INFO {
        return Err(invalid(
            "time-stamp token",
            "does not encapsulate a TSTInfo",
        ));
    }
    Ok(token)
}

/// A CAdES baseline B-T detached signature, DER `ContentInfo` (a `.p7s` file).
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct CadesSignature {
    der: Vec<u8>,
}

impl CadesSignature {
    /// The DER bytes.
    pub fn as_der(&self) -> &[u8] {
        &self.der
    }

    /// The DER bytes, owned.
    pub fn into_der(self) -> Vec<u8> {
        self.der
    }
}
