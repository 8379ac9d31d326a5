//! CAdES B-T detached signatures verify with `openssl cms -verify`, and our own verifier
//! reports what passed and what failed.
// Helpers outside #[test] functions are test code too.
#![allow(clippy::unwrap_used)]

mod common;

use assize_signing::cades::sign_detached;
use assize_signing::tsa::HashAlgorithm;
use assize_signing::verify::{Check, Finding, verify_detached, verify_timestamp_token};
use common::*;
use time::OffsetDateTime;

const DOC: &[u8] = b"%PDF-1.7\nRequest for mutual legal assistance, case 2026/117\n";

fn signed(pki: &Pki, doc: &[u8]) -> Vec<u8> {
    let identity = pki.signer_identity();
    let pending = sign_detached(&identity, doc, OffsetDateTime::now_utc()).unwrap();
    let token = pki
        .tsa()
        .stamp_imprint(
            &pending.timestamp_imprint(),
            serials().next_serial().unwrap(),
            OffsetDateTime::now_utc(),
        )
        .unwrap();
    pending.attach_timestamp(&token).unwrap().into_der()
}

fn cms_verify(pki: &Pki, sig: &str, doc: &str) -> std::process::Output {
    openssl(
        &[
            &"cms",
            &"-verify",
            &"-binary",
            &"-inform",
            &"DER",
            &"-in",
            &sig,
            &"-content",
            &doc,
            &"-CAfile",
            &"ca.pem",
            &"-purpose",
            &"any",
            &"-out",
            &"/dev/null",
        ],
        pki.dir.path(),
    )
}

#[test]
fn openssl_cms_verifies_a_b_t_signature_and_sees_the_timestamp() {
    let pki = Pki::new();
    let sig = signed(&pki, DOC);
    pki.write("doc.pdf", DOC);
    pki.write("doc.p7s", &sig);
    let out = cms_verify(&pki, "doc.p7s", "doc.pdf");
    assert!(out.status.success(), "{}", describe(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Verification successful"));

    let out = openssl(
        &[
            &"cms", &"-cmsout", &"-print", &"-inform", &"DER", &"-in", &"doc.p7s",
        ],
        pki.dir.path(),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    for attr in [
        "contentType",
        "messageDigest",
        "signingTime",
        "id-smime-aa-signingCertificateV2",
        "id-smime-aa-timeStampToken",
    ] {
        assert!(text.contains(attr), "{attr} missing from\n{text}");
    }
}

#[test]
fn openssl_cms_verifies_the_baseline_b_signature_too() {
    let pki = Pki::new();
    let pending = sign_detached(&pki.signer_identity(), DOC, OffsetDateTime::now_utc()).unwrap();
    pki.write("doc.pdf", DOC);
    pki.write("b.p7s", &pending.to_baseline_b().unwrap());
    let out = cms_verify(&pki, "b.p7s", "doc.pdf");
    assert!(out.status.success(), "{}", describe(&out));
}

#[test]
fn our_verifier_accepts_a_good_signature_and_proves_it() {
    let pki = Pki::new();
    let sig = signed(&pki, DOC);
    let report = verify_detached(&sig, DOC, &pki.anchors(), &options());
    assert!(report.is_valid(), "{report:#?}");
    let proof = report.verified().unwrap();
    assert_eq!(
        proof.signer_certificate(),
        pki.signer_cert.to_der().unwrap()
    );
    assert!(
        report
            .signer_subject
            .as_deref()
            .unwrap()
            .contains("Clerk of court")
    );
    assert!(matches!(report.revocation, Check::NotChecked(_)));
}

#[test]
fn a_changed_document_fails_both_openssl_and_the_digest_check() {
    let pki = Pki::new();
    let sig = signed(&pki, DOC);
    let mut tampered = DOC.to_vec();
    tampered[10] ^= 1;
    pki.write("doc.pdf", &tampered);
    pki.write("doc.p7s", &sig);
    let out = cms_verify(&pki, "doc.p7s", "doc.pdf");
    assert!(!out.status.success());
    let report = verify_detached(&sig, &tampered, &pki.anchors(), &options());
    assert_eq!(
        report.content_digest,
        Check::Failed(Finding::DigestMismatch)
    );
    assert_eq!(report.first_failure().unwrap().0, "content_digest");
    assert!(report.verified().is_none());
    // Everything else still checks out: the report says precisely what is wrong.
    assert!(
        report.signature_value.passed()
            && report.timestamp.passed()
            && report.signer_chain.passed()
    );
}

#[test]
fn an_untrusted_root_fails_the_chain_check() {
    let pki = Pki::new();
    let other = Pki::new();
    let sig = signed(&pki, DOC);
    let report = verify_detached(&sig, DOC, &other.anchors(), &options());
    assert!(
        matches!(report.signer_chain, Check::Failed(Finding::Untrusted(_))),
        "{report:#?}"
    );
    assert_eq!(report.timestamp, Check::Failed(Finding::TimestampInvalid));
    assert!(matches!(
        report.timestamp_report.as_ref().unwrap().tsa_chain,
        Check::Failed(Finding::Untrusted(_))
    ));
}

#[test]
fn a_signature_without_timestamp_is_reported_as_such() {
    let pki = Pki::new();
    let pending = sign_detached(&pki.signer_identity(), DOC, OffsetDateTime::now_utc()).unwrap();
    let report = verify_detached(
        &pending.to_baseline_b().unwrap(),
        DOC,
        &pki.anchors(),
        &options(),
    );
    assert_eq!(report.timestamp, Check::Failed(Finding::NoTimestamp));
    assert!(report.signature_value.passed() && report.content_digest.passed());
    assert!(!report.is_valid());
}

#[test]
fn a_token_for_another_signature_is_refused_at_attach_time() {
    let pki = Pki::new();
    let identity = pki.signer_identity();
    let a = sign_detached(&identity, b"a", OffsetDateTime::now_utc()).unwrap();
    let b = sign_detached(&identity, b"b", OffsetDateTime::now_utc()).unwrap();
    let token = pki
        .tsa()
        .stamp_imprint(
            &a.timestamp_imprint(),
            serials().next_serial().unwrap(),
            OffsetDateTime::now_utc(),
        )
        .unwrap();
    let err = b.attach_timestamp(&token).unwrap_err();
    assert!(matches!(
        err,
        assize_signing::Error::Input(assize_signing::InputError::TimestampImprintMismatch)
    ));
}

#[test]
fn a_whole_timestamp_response_can_be_attached() {
    let pki = Pki::new();
    let pending = sign_detached(&pki.signer_identity(), DOC, OffsetDateTime::now_utc()).unwrap();
    let req = pending.timestamp_request(Some(0xdead_beef), true).unwrap();
    let resp = pki
        .tsa()
        .respond(
            &req,
            serials().next_serial().unwrap(),
            OffsetDateTime::now_utc(),
        )
        .unwrap();
    let report = verify_timestamp_token(
        &resp.der,
        Some((HashAlgorithm::Sha256, &pending.timestamp_imprint())),
        &pki.anchors(),
        &options(),
    );
    assert!(report.is_valid(), "{report:#?}");
    let sig = pending.attach_timestamp(&resp.der).unwrap();
    assert!(verify_detached(sig.as_der(), DOC, &pki.anchors(), &options()).is_valid());
}

#[test]
fn a_signer_whose_certificate_was_expired_at_timestamp_time_fails() {
    let pki = Pki::new();
    let key = p256_key();
    let old = make_cert(
        "Former clerk",
        &key,
        Kind::Signer,
        (&pki.ca, &pki.ca_key),
        -30,
        -1,
    );
    let identity = pki.identity(&key, &old);
    let pending = sign_detached(&identity, DOC, OffsetDateTime::now_utc()).unwrap();
    let token = pki
        .tsa()
        .stamp_imprint(
            &pending.timestamp_imprint(),
            serials().next_serial().unwrap(),
            OffsetDateTime::now_utc(),
        )
        .unwrap();
    let sig = pending.attach_timestamp(&token).unwrap();
    let report = verify_detached(sig.as_der(), DOC, &pki.anchors(), &options());
    match &report.signer_chain {
        Check::Failed(Finding::Untrusted(why)) => assert!(why.contains("expired"), "{why}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_signer_certificate_without_signing_key_usage_fails() {
    let pki = Pki::new();
    let key = p256_key();
    let cert = make_cert(
        "Encryption only",
        &key,
        Kind::KeyEnciphermentOnly,
        (&pki.ca, &pki.ca_key),
        -1,
        30,
    );
    let pending =
        sign_detached(&pki.identity(&key, &cert), DOC, OffsetDateTime::now_utc()).unwrap();
    let report = verify_detached(
        &pending.to_baseline_b().unwrap(),
        DOC,
        &pki.anchors(),
        &options(),
    );
    assert!(matches!(
        report.signer_key_usage,
        Check::Failed(Finding::KeyUsageNotPermitted(_))
    ));
}

#[test]
fn a_key_that_does_not_match_the_certificate_is_refused() {
    let pki = Pki::new();
    let wrong = p256_key();
    let signer =
        assize_signing::keys::PemSigner::from_pem(&wrong.private_key_to_pem_pkcs8().unwrap())
            .unwrap();
    let cert =
        assize_signing::keys::CertificateDer::from_der(&pki.signer_cert.to_der().unwrap()).unwrap();
    let err =
        assize_signing::keys::SigningIdentity::new(Box::new(signer), cert, vec![]).unwrap_err();
    assert!(matches!(
        err,
        assize_signing::Error::Misuse(assize_signing::MisuseError::CertificateKeyMismatch)
    ));
}

#[test]
fn rsa_keys_sign_too() {
    let pki = Pki::new();
    let rsa = openssl::pkey::PKey::from_rsa(openssl::rsa::Rsa::generate(2048).unwrap()).unwrap();
    let cert = make_cert(
        "RSA clerk",
        &rsa,
        Kind::Signer,
        (&pki.ca, &pki.ca_key),
        -1,
        30,
    );
    let pending =
        sign_detached(&pki.identity(&rsa, &cert), DOC, OffsetDateTime::now_utc()).unwrap();
    let token = pki
        .tsa()
        .stamp_imprint(
            &pending.timestamp_imprint(),
            serials().next_serial().unwrap(),
            OffsetDateTime::now_utc(),
        )
        .unwrap();
    let sig = pending.attach_timestamp(&token).unwrap();
    pki.write("doc.pdf", DOC);
    pki.write("rsa.p7s", sig.as_der());
    let out = cms_verify(&pki, "rsa.p7s", "doc.pdf");
    assert!(out.status.success(), "{}", describe(&out));
    assert!(verify_detached(sig.as_der(), DOC, &pki.anchors(), &options()).is_valid());
}

#[test]
fn the_embedded_signature_timestamp_verifies_with_openssl_ts() {
    use der::{Decode, Encode};
    use sha2::Digest;

    let pki = Pki::new();
    let sig = signed(&pki, DOC);
    let ci = cms::content_info::ContentInfo::from_der(&sig).unwrap();
    let sd: cms::signed_data::SignedData = ci.content.decode_as().unwrap();
    let info = sd.signer_infos.0.get(0).unwrap();
    let attr = info
        .unsigned_attrs
        .as_ref()
        .unwrap()
        .iter()
        .find(|a| a.oid.to_string() == "1.2.840.113549.1.9.16.2.14")
        .unwrap();
    let token = attr.values.get(0).unwrap().to_der().unwrap();
    pki.write("sig.tst", &token);
    let digest = hex::encode(sha2::Sha256::digest(info.signature.as_bytes()));
    let out = openssl(
        &[
            &"ts",
            &"-verify",
            &"-token_in",
            &"-in",
            &"sig.tst",
            &"-digest",
            &digest,
            &"-CAfile",
            &"ca.pem",
            &"-untrusted",
            &"tsa.pem",
        ],
        pki.dir.path(),
    );
    assert!(out.status.success(), "{}", describe(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Verification: OK"));
}

#[test]
fn a_token_from_openssls_own_tsa_with_fractional_seconds_is_accepted() {
    let pki = Pki::new();
    pki.write("tsa.key", &pki.tsa_key.private_key_to_pem_pkcs8().unwrap());
    pki.write("tsaserial", b"01\n");
    pki.write(
        "tsa.cnf",
        format!(
            "[ tsa ]\ndefault_tsa = tsa1\n[ tsa1 ]\nserial = ./tsaserial\nsigner_cert = ./tsa.pem\n\
             signer_key = ./tsa.key\nsigner_digest = sha256\ndefault_policy = {POLICY}\n\
             digests = sha256\naccuracy = secs:1\nclock_precision_digits = 3\nordering = no\n\
             tsa_name = yes\ness_cert_id_alg = sha256\n"
        )
        .as_bytes(),
    );
    let pending = sign_detached(&pki.signer_identity(), DOC, OffsetDateTime::now_utc()).unwrap();
    pki.write(
        "req.tsq",
        &pending.timestamp_request(Some(99), true).unwrap(),
    );
    let out = openssl(
        &[
            &"ts",
            &"-reply",
            &"-config",
            &"tsa.cnf",
            &"-queryfile",
            &"req.tsq",
            &"-out",
            &"resp.tsr",
        ],
        pki.dir.path(),
    );
    assert!(out.status.success(), "{}", describe(&out));
    let text = openssl(
        &[&"ts", &"-reply", &"-in", &"resp.tsr", &"-text"],
        pki.dir.path(),
    );
    let text = String::from_utf8_lossy(&text.stdout).into_owned();
    let stamp_line = text
        .lines()
        .find(|l| l.starts_with("Time stamp: "))
        .unwrap();
    assert!(
        stamp_line.contains('.'),
        "no fractional seconds: {stamp_line}"
    );

    let resp = std::fs::read(pki.path("resp.tsr")).unwrap();
    let sig = pending.attach_timestamp(&resp).unwrap();
    let report = verify_detached(sig.as_der(), DOC, &pki.anchors(), &options());
    assert!(report.is_valid(), "{report:#?}");
    pki.write("doc.pdf", DOC);
    pki.write("doc.p7s", sig.as_der());
    let out = cms_verify(&pki, "doc.p7s", "doc.pdf");
    assert!(out.status.success(), "{}", describe(&out));
}
