//! Test PKI: a root CA, a signer and a TSA, generated fresh with the openssl crate, plus helpers
//! to run the openssl CLI.
#![allow(dead_code)]
// Test scaffolding outside #[test] functions: a failure here is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use assize_signing::keys::{CertificateDer, PemSigner, SigningIdentity};
use assize_signing::tsa::{Accuracy, SerialCounter, TimeStampAuthority, TsaConfig};
use assize_signing::verify::{TrustAnchors, VerifyOptions};
use der::oid::ObjectIdentifier;
use openssl::asn1::{Asn1Integer, Asn1Time};
use openssl::bn::BigNum;
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, PKeyRef, Private};
use openssl::x509::extension::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectKeyIdentifier,
};
use openssl::x509::{X509, X509NameBuilder, X509Ref};
use time::OffsetDateTime;

pub const POLICY: &str = "1.3.6.1.4.1.99999.1.1";

pub fn p256_key() -> PKey<Private> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
    PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap()
}

#[derive(Clone, Copy, PartialEq)]
pub enum Kind {
    Ca,
    Signer,
    Tsa,
    /// A TSA certificate whose timeStamping EKU is not critical.
    TsaNonCritical,
    /// A leaf that may only encipher keys.
    KeyEnciphermentOnly,
}

static SERIAL: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);

pub fn make_cert<T: openssl::pkey::HasPublic>(
    cn: &str,
    key: &PKeyRef<T>,
    kind: Kind,
    issuer: (&X509Ref, &PKeyRef<Private>),
    not_before_days: i32,
    not_after_days: i32,
) -> X509 {
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("O", "Assize test").unwrap();
    name.append_entry_by_text("CN", cn).unwrap();
    let name = name.build();
    let mut b = X509::builder().unwrap();
    b.set_version(2).unwrap();
    let serial = SERIAL.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1000;
    b.set_serial_number(&Asn1Integer::from_bn(&BigNum::from_u32(serial).unwrap()).unwrap())
        .unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(issuer.0.subject_name()).unwrap();
    b.set_pubkey(key).unwrap();
    let now = OffsetDateTime::now_utc().unix_timestamp();
    b.set_not_before(&Asn1Time::from_unix(now + i64::from(not_before_days) * 86400).unwrap())
        .unwrap();
    b.set_not_after(&Asn1Time::from_unix(now + i64::from(not_after_days) * 86400).unwrap())
        .unwrap();
    match kind {
        Kind::Ca => {
            b.append_extension(BasicConstraints::new().critical().ca().build().unwrap())
                .unwrap();
            b.append_extension(
                KeyUsage::new()
                    .critical()
                    .key_cert_sign()
                    .crl_sign()
                    .build()
                    .unwrap(),
            )
            .unwrap();
        }
        Kind::Signer => {
            b.append_extension(
                KeyUsage::new()
                    .critical()
                    .digital_signature()
                    .non_repudiation()
                    .build()
                    .unwrap(),
            )
            .unwrap();
        }
        Kind::Tsa => {
            b.append_extension(
                KeyUsage::new()
                    .critical()
                    .digital_signature()
                    .build()
                    .unwrap(),
            )
            .unwrap();
            b.append_extension(
                ExtendedKeyUsage::new()
                    .critical()
                    .time_stamping()
                    .build()
                    .unwrap(),
            )
            .unwrap();
        }
        Kind::TsaNonCritical => {
            b.append_extension(
                KeyUsage::new()
                    .critical()
                    .digital_signature()
                    .build()
                    .unwrap(),
            )
            .unwrap();
            b.append_extension(ExtendedKeyUsage::new().time_stamping().build().unwrap())
                .unwrap();
        }
        Kind::KeyEnciphermentOnly => {
            b.append_extension(
                KeyUsage::new()
                    .critical()
                    .key_encipherment()
                    .build()
                    .unwrap(),
            )
            .unwrap();
        }
    }
    let ski = SubjectKeyIdentifier::new()
        .build(&b.x509v3_context(Some(issuer.0), None))
        .unwrap();
    b.append_extension(ski).unwrap();
    let aki = AuthorityKeyIdentifier::new()
        .keyid(true)
        .build(&b.x509v3_context(Some(issuer.0), None))
        .unwrap();
    b.append_extension(aki).unwrap();
    b.sign(issuer.1, MessageDigest::sha256()).unwrap();
    b.build()
}

pub fn make_ca(cn: &str) -> (X509, PKey<Private>) {
    let key = p256_key();
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("O", "Assize test").unwrap();
    name.append_entry_by_text("CN", cn).unwrap();
    let name = name.build();
    let mut b = X509::builder().unwrap();
    b.set_version(2).unwrap();
    b.set_serial_number(&Asn1Integer::from_bn(&BigNum::from_u32(1).unwrap()).unwrap())
        .unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(&name).unwrap();
    b.set_pubkey(&key).unwrap();
    let now = OffsetDateTime::now_utc().unix_timestamp();
    b.set_not_before(&Asn1Time::from_unix(now - 10 * 86400).unwrap())
        .unwrap();
    b.set_not_after(&Asn1Time::from_unix(now + 3650 * 86400).unwrap())
        .unwrap();
    b.append_extension(BasicConstraints::new().critical().ca().build().unwrap())
        .unwrap();
    b.append_extension(
        KeyUsage::new()
            .critical()
            .key_cert_sign()
            .crl_sign()
            .build()
            .unwrap(),
    )
    .unwrap();
    let ski = SubjectKeyIdentifier::new()
        .build(&b.x509v3_context(None, None))
        .unwrap();
    b.append_extension(ski).unwrap();
    b.sign(&key, MessageDigest::sha256()).unwrap();
    (b.build(), key)
}

pub struct Pki {
    pub dir: tempfile::TempDir,
    pub ca: X509,
    pub ca_key: PKey<Private>,
    pub signer_cert: X509,
    pub signer_key: PKey<Private>,
    pub tsa_cert: X509,
    pub tsa_key: PKey<Private>,
}

impl Pki {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (ca, ca_key) = make_ca("Assize test root");
        let signer_key = p256_key();
        let signer_cert = make_cert(
            "Clerk of court",
            &signer_key,
            Kind::Signer,
            (&ca, &ca_key),
            -1,
            365,
        );
        let tsa_key = p256_key();
        let tsa_cert = make_cert("Assize TSA", &tsa_key, Kind::Tsa, (&ca, &ca_key), -1, 365);
        let pki = Self {
            dir,
            ca,
            ca_key,
            signer_cert,
            signer_key,
            tsa_cert,
            tsa_key,
        };
        pki.write("ca.pem", &pki.ca.to_pem().unwrap());
        pki.write("tsa.pem", &pki.tsa_cert.to_pem().unwrap());
        pki.write("signer.pem", &pki.signer_cert.to_pem().unwrap());
        pki
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    pub fn identity(&self, key: &PKey<Private>, cert: &X509) -> SigningIdentity {
        let signer = PemSigner::from_pem(&key.private_key_to_pem_pkcs8().unwrap()).unwrap();
        SigningIdentity::new(
            Box::new(signer),
            CertificateDer::from_der(&cert.to_der().unwrap()).unwrap(),
            vec![],
        )
        .unwrap()
    }

    pub fn signer_identity(&self) -> SigningIdentity {
        self.identity(&self.signer_key, &self.signer_cert)
    }

    pub fn tsa(&self) -> TimeStampAuthority {
        TimeStampAuthority::new(self.identity(&self.tsa_key, &self.tsa_cert), tsa_config()).unwrap()
    }

    pub fn anchors(&self) -> TrustAnchors {
        TrustAnchors::from_pem(&self.ca.to_pem().unwrap()).unwrap()
    }
}

pub fn tsa_config() -> TsaConfig {
    TsaConfig {
        default_policy: ObjectIdentifier::new_unwrap(POLICY),
        accepted_policies: vec![ObjectIdentifier::new_unwrap("1.3.6.1.4.1.99999.1.2")],
        accuracy: Some(Accuracy {
            seconds: 1,
            millis: 0,
            micros: 0,
        }),
        include_tsa_name: true,
    }
}

pub fn options() -> VerifyOptions {
    VerifyOptions {
        now: OffsetDateTime::now_utc(),
        extra_certificates: vec![],
    }
}

pub fn serials() -> SerialCounter {
    SerialCounter::resume(0)
}

pub fn openssl(args: &[&dyn AsRef<std::ffi::OsStr>], cwd: &Path) -> Output {
    Command::new("openssl")
        .args(args.iter().map(|a| a.as_ref()))
        .current_dir(cwd)
        .output()
        .expect("the openssl CLI must be installed for these tests")
}

pub fn describe(out: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
