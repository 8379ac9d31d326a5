//! The court's encrypted original voice (issue #8, rule 9 of [`crate::sfu::room`]).
//!
//! A protective order that distorts a witness's voice may say the court keeps the original.
//! While recording, that witness's raw voice then goes to a stream of its own: its own mixer and
//! recorder thread (one per recording, mixing every such witness heard in the hearing room),
//! whose segments are encrypted in memory as CMS EnvelopedData (AES-256-CBC, the content key
//! transported to the court's RSA certificate) before they touch the disk. The server can write
//! the original but never read it back: only the holder of the court's private key decrypts it
//! (`openssl cms -decrypt -inform DER -recip court.crt -inkey court.key`).
//!
//! Who may download the (encrypted) stream is the set of hearing roles that **every** order whose
//! voice is in it names: each packet arrives with its order's `raw_to` and narrows
//! [`OriginalRecorder`]'s audience, so a mix of two witnesses is given only to roles both orders
//! name. One mix rather than one stream per witness keeps one recorder thread per recording
//! whatever the number of witnesses, and a witness whose order is made mid-recording is taken in
//! from the next packet without starting anything.
//!
//! - [`OriginalRecipient`]: the court's certificate from `recording.original_voice_recipient`,
//!   checked at start-up; encrypts one segment.
//! - [`OriginalRecorder`]: the recorder thread behind the SFU's [`OriginalVoiceSink`].

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};

use anyhow::Context as _;
use openssl::cms::{CMSOptions, CmsContentInfo};
use openssl::pkey::Id;
use openssl::stack::Stack;
use openssl::symm::Cipher;
use openssl::x509::X509;
use sha2::{Digest as _, Sha256};

use super::recorder::{RecordedSource, RecorderThread};
use crate::sfu::hearing::OriginalVoiceSink;
use crate::sfu::room::{ParticipantId, RoleSet, Variant};

/// The court's certificate the original voice is encrypted to.
pub struct OriginalRecipient {
    certs: Stack<X509>,
    /// SHA-256 of the certificate's DER (hex), named in each manifest.
    fingerprint: String,
    subject: String,
}

impl std::fmt::Debug for OriginalRecipient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OriginalRecipient")
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

impl OriginalRecipient {
    /// Loads and checks the court's certificate (PEM) at `path`: one certificate, an RSA key
    /// (CMS key transport), valid now, and when it says what its key is for, key encipherment.
    ///
    /// # Errors
    /// A message naming the file and what to fix.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let pem = std::fs::read(path)
            .with_context(|| format!("cannot read the certificate {}", path.display()))?;
        let cert = X509::from_pem(&pem).with_context(|| {
            format!(
                "{} is not a PEM certificate (-----BEGIN CERTIFICATE-----)",
                path.display()
            )
        })?;
        Self::new(cert).with_context(|| format!("the certificate {}", path.display()))
    }

    /// A recipient for `cert`, checked as [`Self::load`] does.
    ///
    /// # Errors
    /// When the certificate cannot receive the court's original voice.
    pub fn new(cert: X509) -> anyhow::Result<Self> {
        let key = cert.public_key().context("has no readable public key")?;
        if key.id() != Id::RSA || key.bits() < 2048 {
            anyhow::bail!(
                "needs an RSA key of at least 2048 bits (CMS key transport), not {:?} of {} bits",
                key.id(),
                key.bits()
            );
        }
        let now = openssl::asn1::Asn1Time::days_from_now(0).context("the clock")?;
        if cert.not_after() < now || cert.not_before() > now {
            anyhow::bail!(
                "is not valid now (valid from {} to {}): ask the court for its current certificate",
                cert.not_before(),
                cert.not_after()
            );
        }
        let der = cert.to_der().context("cannot encode the certificate")?;
        let fingerprint = hex::encode(Sha256::digest(&der));
        let subject = cert
            .subject_name()
            .entries()
            .filter_map(|e| e.data().to_string().ok())
            .collect::<Vec<_>>()
            .join(", ");
        let mut certs = Stack::new().context("openssl stack")?;
        certs.push(cert).context("openssl stack")?;
        let me = Self {
            certs,
            fingerprint,
            subject,
        };
        // Key usage is checked by OpenSSL itself when it encrypts: try once now, not at the
        // first protected witness's first segment.
        me.encrypt(b"assize start-up check")
            .context("cannot encrypt to it (does its key usage allow key encipherment?)")?;
        Ok(me)
    }

    /// SHA-256 of the certificate (hex).
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The certificate's subject, for the manifest and the operator.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// `clear` as DER CMS EnvelopedData (AES-256-CBC, key transport to the certificate).
    ///
    /// # Errors
    /// When OpenSSL fails.
    pub fn encrypt(&self, clear: &[u8]) -> anyhow::Result<Vec<u8>> {
        let cms = CmsContentInfo::encrypt(
            &self.certs,
            clear,
            Cipher::aes_256_cbc(),
            CMSOptions::BINARY,
        )
        .context("CMS encryption")?;
        cms.to_der().context("CMS encoding")
    }
}

/// The original-voice recorder as the SFU sees it: the recorder thread, and the roles every
/// order heard so far names.
#[derive(Debug)]
pub struct OriginalRecorder {
    thread: Arc<RecorderThread>,
    audience: AtomicU16,
    heard: AtomicU16,
}

impl OriginalRecorder {
    /// Wraps a running recorder thread (configured with a recipient).
    pub fn new(thread: Arc<RecorderThread>) -> Self {
        Self {
            thread,
            audience: AtomicU16::new(RoleSet::ALL.0),
            heard: AtomicU16::new(0),
        }
    }

    /// The recorder thread.
    pub fn thread(&self) -> &Arc<RecorderThread> {
        &self.thread
    }

    /// Who may download what was recorded: the roles every order heard names; nobody when
    /// nothing was heard.
    pub fn audience(&self) -> RoleSet {
        if self.heard.load(Ordering::Relaxed) == 0 {
            RoleSet(0)
        } else {
            RoleSet(self.audience.load(Ordering::Relaxed))
        }
    }
}

impl OriginalVoiceSink for OriginalRecorder {
    fn record_original(
        &self,
        publisher: ParticipantId,
        raw_to: RoleSet,
        packet: &rtc::rtp::Packet,
    ) {
        // Narrow first: a packet is never in the stream before its order's limits are.
        self.audience.fetch_and(raw_to.0, Ordering::Relaxed);
        self.heard.store(1, Ordering::Relaxed);
        self.thread.push(
            RecordedSource {
                publisher,
                variant: Variant::Raw,
            },
            packet.header.sequence_number,
            &packet.payload,
        );
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use openssl::pkey::PKey;
    use openssl::rsa::Rsa;

    /// A self-signed RSA certificate and its key, as a court would have.
    pub(crate) fn court_certificate() -> (X509, PKey<openssl::pkey::Private>) {
        let key = PKey::from_rsa(Rsa::generate(2048).expect("rsa")).expect("key");
        let mut name = openssl::x509::X509NameBuilder::new().expect("name");
        name.append_entry_by_text("CN", "Court of Test")
            .expect("cn");
        let name = name.build();
        let mut b = openssl::x509::X509Builder::new().expect("builder");
        b.set_version(2).expect("v3");
        let mut serial = openssl::bn::BigNum::new().expect("bn");
        serial
            .rand(64, openssl::bn::MsbOption::MAYBE_ZERO, false)
            .expect("random");
        b.set_serial_number(&serial.to_asn1_integer().expect("serial"))
            .expect("serial");
        b.set_subject_name(&name).expect("subject");
        b.set_issuer_name(&name).expect("issuer");
        b.set_pubkey(&key).expect("pubkey");
        b.set_not_before(&openssl::asn1::Asn1Time::days_from_now(0).expect("t"))
            .expect("nb");
        b.set_not_after(&openssl::asn1::Asn1Time::days_from_now(30).expect("t"))
            .expect("na");
        b.sign(&key, openssl::hash::MessageDigest::sha256())
            .expect("sign");
        (b.build(), key)
    }

    #[test]
    fn a_segment_is_enveloped_to_the_court_and_only_its_key_opens_it() {
        let (cert, key) = court_certificate();
        let r = OriginalRecipient::new(cert.clone()).expect("a usable certificate");
        let clear = b"OggS the witness's own voice".to_vec();
        let sealed = r.encrypt(&clear).expect("encrypt");
        assert!(!sealed.windows(4).any(|w| w == b"OggS"), "no clear text");
        let cms = CmsContentInfo::from_der(&sealed).expect("DER CMS");
        assert_eq!(cms.decrypt(&key, &cert).expect("the court opens it"), clear);
        let (other_cert, other_key) = court_certificate();
        assert!(cms.decrypt(&other_key, &other_cert).is_err(), "nobody else");
    }

    #[test]
    fn a_certificate_that_cannot_receive_the_voice_is_refused_with_the_reason() {
        let key = PKey::from_ec_key(
            openssl::ec::EcKey::generate(
                &openssl::ec::EcGroup::from_curve_name(openssl::nid::Nid::X9_62_PRIME256V1)
                    .expect("curve"),
            )
            .expect("ec"),
        )
        .expect("key");
        let mut b = openssl::x509::X509Builder::new().expect("builder");
        b.set_pubkey(&key).expect("pubkey");
        b.set_not_before(&openssl::asn1::Asn1Time::days_from_now(0).expect("t"))
            .expect("nb");
        b.set_not_after(&openssl::asn1::Asn1Time::days_from_now(1).expect("t"))
            .expect("na");
        b.sign(&key, openssl::hash::MessageDigest::sha256())
            .expect("sign");
        let e = OriginalRecipient::new(b.build()).expect_err("EC is refused");
        assert!(format!("{e:#}").contains("RSA"), "{e:#}");
    }

    #[test]
    fn the_audience_is_what_every_order_heard_names() {
        use crate::sfu::room::HearingRole::{Clerk, Judge, Prosecutor};
        let dir = tempfile::tempdir().expect("tmp");
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        let (cert, _) = court_certificate();
        let thread = RecorderThread::spawn(
            super::super::recorder::RecorderConfig {
                dir: dir.path().to_path_buf(),
                recording_id: "o".into(),
                segment_frames: 50,
                jitter_frames: 1,
                bitrate_kbps: 24,
                encrypt_to: Some(Arc::new(OriginalRecipient::new(cert).expect("ok"))),
                start_with_first_packet: true,
            },
            tx,
        )
        .expect("spawn");
        let o = OriginalRecorder::new(Arc::new(thread));
        assert_eq!(o.audience(), RoleSet(0), "nothing heard: nobody");
        let p = rtc::rtp::Packet::default();
        o.record_original(ParticipantId(1), RoleSet::of(&[Judge, Clerk]), &p);
        o.record_original(ParticipantId(2), RoleSet::of(&[Judge, Prosecutor]), &p);
        assert_eq!(o.audience().roles().collect::<Vec<_>>(), vec![Judge]);
        o.thread().stop();
    }
}
