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

/// `TSTInfo` as read from outside. Like `x509_tsp::TstInfo`, but `genTime` is kept raw:
/// der 0.7's `GeneralizedTime` refuses the fractional seconds that RFC 3161 §2.4.2 allows and
/// that many TSAs (OpenSSL's with `clock_precision_digits`, among others) emit.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub(crate) struct TstInfoRead {
    pub version: x509_tsp::TspVersion,
    pub policy: ObjectIdentifier,
    pub message_imprint: x509_tsp::MessageImprint,
    pub serial_number: der::asn1::Int,
    pub gen_time: Any,
    #[asn1(optional = "true")]
    pub accuracy: Option<x509_tsp::Accuracy>,
    #[asn1(default = "Default::default")]
    pub ordering: bool,
    #[asn1(optional = "true")]
    pub nonce: Option<der::asn1::Int>,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    pub tsa: Option<x509_cert::ext::pkix::name::GeneralName>,
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", optional = "true")]
    pub extensions: Option<x509_cert::ext::Extensions>,
}

/// Parses a GeneralizedTime value `YYYYMMDDHHMMSS[.f+]Z` (UTC, as RFC 3161 and RFC 5280
/// require) into a time, dropping the fraction. `None` when it is anything else.
pub(crate) fn parse_generalized_time(any: &Any) -> Option<time::OffsetDateTime> {
    if der::Tagged::tag(any) != der::Tag::GeneralizedTime {
        return None;
    }
    let v = any.value();
    let (main, rest) = (v.get(..14)?, v.get(14..)?);
    if !main.iter().all(u8::is_ascii_digit) {
        return None;
    }
    match rest {
        [b'Z'] => {}
        [b'.', frac @ .., b'Z'] if !frac.is_empty() && frac.iter().all(u8::is_ascii_digit) => {}
        _ => return None,
    }
    let num = |r: std::ops::Range<usize>| -> Option<u16> {
        main.get(r)?.iter().try_fold(0u16, |acc, d| {
            acc.checked_mul(10)?.checked_add(u16::from(d - b'0'))
        })
    };
    let month = time::Month::try_from(u8::try_from(num(4..6)?).ok()?).ok()?;
    let date = time::Date::from_calendar_date(
        i32::from(num(0..4)?),
        month,
        u8::try_from(num(6..8)?).ok()?,
    )
    .ok()?;
    let clock = time::Time::from_hms(
        u8::try_from(num(8..10)?).ok()?,
        u8::try_from(num(10..12)?).ok()?,
        u8::try_from(num(12..14)?).ok()?,
    )
    .ok()?;
    Some(time::PrimitiveDateTime::new(date, clock).assume_utc())
}

/// A `BIT STRING` with only bit `bit` set, in DER form (no trailing zero bits).
pub(crate) fn named_bit(bit: u8) -> Result<BitString, der::Error> {
    let byte_index = usize::from(bit / 8);
    let mut bytes = vec![0u8; byte_index + 1];
    let bit_in_byte = bit % 8;
    bytes[byte_index] = 0x80 >> bit_in_byte;
    BitString::new(7 - bit_in_byte, bytes)
}

/// DER tags written by hand (see [`tlv`]).
pub(crate) const TAG_INTEGER: u8 = 0x02;
pub(crate) const TAG_OCTET_STRING: u8 = 0x04;
pub(crate) const TAG_SEQUENCE: u8 = 0x30;
pub(crate) const TAG_SET: u8 = 0x31;
/// `[0]`, constructed: an EXPLICIT `[0]` wrapper, or the IMPLICIT `[0]` of a SET OF.
pub(crate) const TAG_CONTEXT_0: u8 = 0xa0;

/// Appends a DER tag and definite length (short form below 128, else the minimal long form).
pub(crate) fn push_header(out: &mut Vec<u8>, tag: u8, len: usize) {
    out.push(tag);
    if len < 0x80 {
        out.push(len as u8);
        return;
    }
    let bytes = len.to_be_bytes();
    let first = bytes
        .iter()
        .position(|b| *b != 0)
        .unwrap_or(bytes.len() - 1);
    out.push(0x80 | (bytes.len() - first) as u8);
    out.extend_from_slice(&bytes[first..]);
}

/// A DER TLV whose value is the concatenation of `parts` (each already DER).
///
/// For hot paths that join pre-encoded parts (the TSA's token template) instead of building and
/// re-encoding typed structures; the results are checked against the typed encoders in tests.
pub(crate) fn tlv(tag: u8, parts: &[&[u8]]) -> Vec<u8> {
    let len = parts.iter().map(|p| p.len()).sum();
    let mut out = Vec::with_capacity(len + 6);
    push_header(&mut out, tag, len);
    for part in parts {
        out.extend_from_slice(part);
    }
    out
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

    fn gt(s: &str) -> Option<time::OffsetDateTime> {
        parse_generalized_time(&Any::new(der::Tag::GeneralizedTime, s.as_bytes()).unwrap())
    }

    #[test]
    fn generalized_times_with_and_without_fractions_parse() {
        assert_eq!(
            gt("20261129081500Z").unwrap().unix_timestamp(),
            1_795_940_100
        );
        assert_eq!(
            gt("20261129081500.123Z").unwrap().unix_timestamp(),
            1_795_940_100
        );
        for bad in [
            "20261129081500",
            "20261329081500Z",
            "2026112908150Z",
            "20261129081500.Z",
            "20261129081500+0100",
            "2026112908150aZ",
        ] {
            assert!(gt(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn hand_written_headers_match_der_lengths() {
        for len in [0usize, 1, 127, 128, 255, 256, 65_535, 65_536, 300_000] {
            let content = vec![0x55u8; len];
            let ours = tlv(
                TAG_OCTET_STRING,
                &[&content[..len / 2], &content[len / 2..]],
            );
            let theirs = OctetString::new(content).unwrap().to_der().unwrap();
            assert_eq!(ours, theirs, "length {len}");
        }
    }

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
