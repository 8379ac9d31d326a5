//! ASN.1 structures and object identifiers that the RustCrypto crates do not provide (or provide
//! in a form we cannot use), plus small DER helpers.
//!
//! * ESS `SigningCertificateV2` / `ESSCertIDv2` (RFC 5035), used by CAdES and by RFC 5816 tokens.
//! * `TimeStampResp` / `PKIStatusInfo` (RFC 3161 §2.4.2). `x509-tsp` 0.1 reuses `cmpv2`'s
//!   `PKIFailureInfo`, whose flag values are bit *positions* stored as masks, so `badAlg` (bit 0)
//!   encodes as nothing at all. We define the response with a plain `BIT STRING` and set the named
//!   bit ourselves.

use der::asn1::{BitString, OctetString, SetOfVec, Utf8StringRef};
use der::oid::ObjectIdentifier;
use der::{Any, Decode, Encode, Sequence};
use x509_cert::attr::Attribute;
use x509_cert::ext::pkix::name::GeneralNames;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::AlgorithmIdentifierOwned;

/// id-data (RFC 5652).
pub(crate) const ID_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");
/// id-signedData (RFC 5652).
pub(crate) const ID_SIGNED_DATA: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
/// id-contentType signed attribute.
pub(crate) const ID_CONTENT_TYPE: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
/// id-messageDigest signed attribute.
pub(crate) const ID_MESSAGE_DIGEST: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
/// id-signingTime signed attribute.
pub(crate) const ID_SIGNING_TIME: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.5");
/// id-aa-signingCertificateV2 (RFC 5035).
pub(crate) const ID_AA_SIGNING_CERTIFICATE_V2: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.47");
/// id-aa-signatureTimeStampToken (RFC 3161 appendix A).
pub(crate) const ID_AA_SIGNATURE_TIME_STAMP_TOKEN: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.14");
/// id-ct-TSTInfo (RFC 3161).
pub(crate) const ID_CT_TST_INFO: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");
/// id-sha256.
pub(crate) const ID_SHA256: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
/// id-sha384.
pub(crate) const ID_SHA384: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");
/// id-sha512.
pub(crate) const ID_SHA512: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3");
/// ecdsa-with-SHA256.
pub(crate) const ECDSA_WITH_SHA256: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
/// sha256WithRSAEncryption.
pub(crate) const SHA256_WITH_RSA: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
/// rsaEncryption (some signers put this in SignerInfo.signatureAlgorithm).
pub(crate) const RSA_ENCRYPTION: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");

/// `ESSCertIDv2` (RFC 5035). `hashAlgorithm` has DEFAULT sha256, so DER omits it for SHA-256.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub(crate) struct EssCertIdV2 {
    #[asn1(optional = "true")]
    pub hash_algorithm: Option<AlgorithmIdentifierOwned>,
    pub cert_hash: OctetString,
    #[asn1(optional = "true")]
    pub issuer_serial: Option<IssuerSerial>,
}

/// `IssuerSerial` (RFC 5035).
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub(crate) struct IssuerSerial {
    pub issuer: GeneralNames,
    pub serial_number: SerialNumber,
}

/// `SigningCertificateV2` (RFC 5035); the policies field is never emitted and ignored on read.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub(crate) struct SigningCertificateV2 {
    pub certs: Vec<EssCertIdV2>,
    #[asn1(optional = "true")]
    pub policies: Option<Any>,
}

/// `PKIStatusInfo` with a plain BIT STRING for `failInfo` (see module doc).
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub(crate) struct StatusInfo<'a> {
    pub status: u8,
    #[asn1(optional = "true")]
    pub status_string: Option<Vec<Utf8StringRef<'a>>>,
    #[asn1(optional = "true")]
    pub fail_info: Option<BitString>,
}

/// `TimeStampResp` (RFC 3161 §2.4.2).
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub(crate) struct TimeStampResp<'a> {
    pub status: StatusInfo<'a>,
    #[asn1(optional = "true")]
    pub time_stamp_token: Option<cms::content_info::ContentInfo>,
}

/// A `BIT STRING` with only bit `bit` set, in DER form (no trailing zero bits).
pub(crate) fn named_bit(bit: u8) -> Result<BitString, der::Error> {
    let byte_index = usize::from(bit / 8);
    let mut bytes = vec![0u8; byte_index + 1];
    let bit_in_byte = bit % 8;
    bytes[byte_index] = 0x80 >> bit_in_byte;
    BitString::new(7 - bit_in_byte, bytes)
}

/// Builds an `Attribute` with a single value.
pub(crate) fn attribute(oid: ObjectIdentifier, value: Any) -> Result<Attribute, der::Error> {
    let mut values = SetOfVec::new();
    values.insert(value)?;
    Ok(Attribute { oid, values })
}

/// Encodes `value` as DER and wraps it as `Any`.
pub(crate) fn to_any<T: Encode>(value: &T) -> Result<Any, der::Error> {
    Any::from_der(&value.to_der()?)
}

/// The single value of attribute `oid` among `attrs`: `None` when absent, `Err(())` when the
/// attribute is repeated or has other than one value (both forbidden by RFC 5652 §11).
pub(crate) fn single_value(attrs: &[Attribute], oid: ObjectIdentifier) -> Result<Option<&Any>, ()> {
    let mut found = None;
    for attr in attrs.iter().filter(|a| a.oid == oid) {
        if found.is_some() || attr.values.len() != 1 {
            return Err(());
        }
        found = attr.values.get(0);
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_bits_encode_as_der_named_bit_strings() {
        // badAlg (0), badDataFormat (5), unacceptedPolicy (15), systemFailure (25).
        assert_eq!(
            named_bit(0).unwrap().to_der().unwrap(),
            [0x03, 0x02, 0x07, 0x80]
        );
        assert_eq!(
            named_bit(5).unwrap().to_der().unwrap(),
            [0x03, 0x02, 0x02, 0x04]
        );
        assert_eq!(
            named_bit(15).unwrap().to_der().unwrap(),
            [0x03, 0x03, 0x00, 0x00, 0x01]
        );
        assert_eq!(
            named_bit(25).unwrap().to_der().unwrap(),
            [0x03, 0x05, 0x06, 0x00, 0x00, 0x00, 0x40]
        );
    }
}
