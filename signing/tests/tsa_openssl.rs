//! The TSA core answers requests made by `openssl ts -query`, and `openssl ts -verify` accepts
//! the tokens; refusals carry the right PKIFailureInfo.
// Helpers outside #[test] functions are test code too.
#![allow(clippy::unwrap_used)]

mod common;

use assize_signing::tsa::{FailureInfo, TimeStampRequest};
use assize_signing::verify::verify_timestamp_token;
use common::*;
use time::OffsetDateTime;

fn query(pki: &Pki, name: &str, extra: &[&str]) -> Vec<u8> {
    let data = pki.write("data.bin", b"mutual legal assistance request #42");
    let tsq = pki.path(name);
    let mut args: Vec<&dyn AsRef<std::ffi::OsStr>> =
        vec![&"ts", &"-query", &"-data", &data, &"-out", &tsq];
    for e in extra {
        args.push(e);
    }
    let out = openssl(&args, pki.dir.path());
    assert!(out.status.success(), "{}", describe(&out));
    std::fs::read(&tsq).unwrap()
}

fn ts_verify(pki: &Pki, tsr: &str, tsq: &str) -> std::process::Output {
    openssl(
        &[
            &"ts",
            &"-verify",
            &"-in",
            &tsr,
            &"-queryfile",
            &tsq,
            &"-CAfile",
            &"ca.pem",
            &"-untrusted",
            &"tsa.pem",
        ],
        pki.dir.path(),
    )
}

fn ts_reply_text(pki: &Pki, tsr: &str) -> String {
    let out = openssl(&[&"ts", &"-reply", &"-in", &tsr, &"-text"], pki.dir.path());
    assert!(out.status.success(), "{}", describe(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn openssl_verifies_tokens_for_requests_with_and_without_nonce_and_cert_req() {
    let pki = Pki::new();
    let tsa = pki.tsa();
    let mut serials = serials();
    let cases: [(&str, &[&str]); 4] = [
        ("nonce_cert", &["-sha256", "-cert"]),
        ("nonce_nocert", &["-sha256"]),
        ("nononce_cert", &["-sha256", "-cert", "-no_nonce"]),
        ("sha512_nononce", &["-sha512", "-no_nonce"]),
    ];
    for (name, flags) in cases {
        let tsq_name = format!("{name}.tsq");
        let req = query(&pki, &tsq_name, flags);
        let serial = serials.next_serial().unwrap();
        let resp = tsa
            .respond(&req, serial, OffsetDateTime::now_utc())
            .unwrap();
        assert_eq!(resp.outcome, Ok(serial), "{name}");
        let tsr_name = format!("{name}.tsr");
        pki.write(&tsr_name, &resp.der);
        let out = ts_verify(&pki, &tsr_name, &tsq_name);
        assert!(out.status.success(), "{name}: {}", describe(&out));
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Verification: OK"),
            "{name}"
        );

        let text = ts_reply_text(&pki, &tsr_name);
        assert!(text.contains("Status: Granted"), "{text}");
        assert!(text.contains(POLICY), "{text}");
        assert!(text.contains("Ordering: no"), "{text}");

        // Our own verifier agrees, given the TSA certificate when the token lacks it.
        let parsed = TimeStampRequest::parse(&req).unwrap();
        let mut opts = options();
        opts.extra_certificates.push(
            assize_signing::keys::CertificateDer::from_der(&pki.tsa_cert.to_der().unwrap())
                .unwrap(),
        );
        let report = verify_timestamp_token(
            &resp.der,
            Some((parsed.hash_algorithm(), parsed.imprint())),
            &pki.anchors(),
            &opts,
        );
        assert!(report.is_valid(), "{name}: {report:#?}");
        assert_eq!(report.serial.as_deref(), Some(&[serial.value() as u8][..]));
    }
}

#[test]
fn token_embeds_the_certificate_only_when_requested() {
    let pki = Pki::new();
    let tsa = pki.tsa();
    let mut serials = serials();
    let with = query(&pki, "with.tsq", &["-sha256", "-cert"]);
    let without = query(&pki, "without.tsq", &["-sha256"]);
    let now = OffsetDateTime::now_utc();
    let with = tsa
        .respond(&with, serials.next_serial().unwrap(), now)
        .unwrap();
    let without = tsa
        .respond(&without, serials.next_serial().unwrap(), now)
        .unwrap();
    let cert = pki.tsa_cert.to_der().unwrap();
    let contains = |hay: &[u8]| hay.windows(cert.len()).any(|w| w == cert.as_slice());
    assert!(contains(&with.der));
    assert!(!contains(&without.der));
    // Without the certificate, our verifier needs it supplied and says so otherwise.
    let report = verify_timestamp_token(&without.der, None, &pki.anchors(), &options());
    assert!(!report.is_valid());
}

#[test]
fn sha1_request_is_rejected_with_bad_alg() {
    let pki = Pki::new();
    let req = query(&pki, "sha1.tsq", &["-sha1", "-cert"]);
    let resp = pki
        .tsa()
        .respond(
            &req,
            serials().next_serial().unwrap(),
            OffsetDateTime::now_utc(),
        )
        .unwrap();
    assert_eq!(
        resp.outcome.as_ref().unwrap_err().failure,
        FailureInfo::BadAlg
    );
    pki.write("sha1.tsr", &resp.der);
    let text = ts_reply_text(&pki, "sha1.tsr");
    assert!(text.contains("Status: Rejected"), "{text}");
    assert!(
        text.contains("unrecognized or unsupported algorithm identifier"),
        "{text}"
    );
}

#[test]
fn unknown_policy_is_rejected_with_unaccepted_policy_and_accepted_one_is_used() {
    let pki = Pki::new();
    let tsa = pki.tsa();
    let req = query(&pki, "pol.tsq", &["-sha256", "-tspolicy", "1.2.3.4.99"]);
    let resp = tsa
        .respond(
            &req,
            serials().next_serial().unwrap(),
            OffsetDateTime::now_utc(),
        )
        .unwrap();
    assert_eq!(
        resp.outcome.as_ref().unwrap_err().failure,
        FailureInfo::UnacceptedPolicy
    );
    pki.write("pol.tsr", &resp.der);
    let text = ts_reply_text(&pki, "pol.tsr");
    assert!(
        text.contains("the requested TSA policy is not supported"),
        "{text}"
    );

    let req = query(
        &pki,
        "ok.tsq",
        &["-sha256", "-cert", "-tspolicy", "1.3.6.1.4.1.99999.1.2"],
    );
    let resp = tsa
        .respond(
            &req,
            serials().next_serial().unwrap(),
            OffsetDateTime::now_utc(),
        )
        .unwrap();
    assert!(resp.outcome.is_ok());
    pki.write("ok.tsr", &resp.der);
    let out = ts_verify(&pki, "ok.tsr", "ok.tsq");
    assert!(out.status.success(), "{}", describe(&out));
    assert!(ts_reply_text(&pki, "ok.tsr").contains("1.3.6.1.4.1.99999.1.2"));
}

#[test]
fn malformed_and_wrong_length_requests_are_rejected_with_bad_data_format() {
    let pki = Pki::new();
    let tsa = pki.tsa();
    let resp = tsa
        .respond(
            b"\x30\x03\x02\x01",
            serials().next_serial().unwrap(),
            OffsetDateTime::now_utc(),
        )
        .unwrap();
    assert_eq!(
        resp.outcome.as_ref().unwrap_err().failure,
        FailureInfo::BadDataFormat
    );
    pki.write("bad.tsr", &resp.der);
    let text = ts_reply_text(&pki, "bad.tsr");
    assert!(
        text.contains("the data submitted has the wrong format"),
        "{text}"
    );

    // A SHA-256 request whose imprint is 31 bytes: patch a real request.
    let mut req = query(&pki, "len.tsq", &["-sha256", "-no_nonce"]);
    // 30 LL 02 01 01 30 LL 30 0d <oid sha256 + NULL> 04 20 <32 bytes>
    let pos = req.windows(2).position(|w| w == [0x04, 0x20]).unwrap();
    req[pos + 1] = 0x1f;
    req.remove(pos + 2);
    req[1] -= 1;
    req[6] -= 1;
    let err = TimeStampRequest::parse(&req).unwrap_err();
    assert_eq!(err.failure, FailureInfo::BadDataFormat, "{err}");
    assert!(err.reason.contains("imprint"), "{err}");
}

#[test]
fn oversized_request_is_rejected_without_parsing() {
    let big = vec![0x30u8; 64 * 1024 + 1];
    let err = TimeStampRequest::parse(&big).unwrap_err();
    assert_eq!(err.failure, FailureInfo::BadDataFormat);
}

#[test]
fn tsa_refuses_a_certificate_without_critical_time_stamping_usage() {
    let pki = Pki::new();
    let key = p256_key();
    let cert = make_cert(
        "Not a TSA",
        &key,
        Kind::TsaNonCritical,
        (&pki.ca, &pki.ca_key),
        -1,
        30,
    );
    let identity = pki.identity(&key, &cert);
    let err = assize_signing::tsa::TimeStampAuthority::new(identity, tsa_config()).unwrap_err();
    assert!(matches!(
        err,
        assize_signing::MisuseError::NotATsaCertificate
    ));
}

#[test]
fn tokens_through_an_intermediate_are_canonical_der_with_sorted_sets() {
    use assize_signing::keys::{CertificateDer, PemSigner, SigningIdentity};
    use der::{Decode, Encode};

    let pki = Pki::new();
    let inter_key = p256_key();
    let inter = make_cert(
        "Assize intermediate",
        &inter_key,
        Kind::Ca,
        (&pki.ca, &pki.ca_key),
        -1,
        365,
    );
    let tsa_key = p256_key();
    let tsa_cert = make_cert(
        "Assize TSA 2",
        &tsa_key,
        Kind::Tsa,
        (&inter, &inter_key),
        -1,
        365,
    );
    pki.write("tsa2.pem", &tsa_cert.to_pem().unwrap());
    let identity = SigningIdentity::new(
        Box::new(PemSigner::from_pem(&tsa_key.private_key_to_pem_pkcs8().unwrap()).unwrap()),
        CertificateDer::from_der(&tsa_cert.to_der().unwrap()).unwrap(),
        vec![CertificateDer::from_der(&inter.to_der().unwrap()).unwrap()],
    )
    .unwrap();
    let tsa = assize_signing::tsa::TimeStampAuthority::new(identity, tsa_config()).unwrap();
    let req = query(&pki, "chain.tsq", &["-sha256", "-cert"]);
    let resp = tsa
        .respond(
            &req,
            serials().next_serial().unwrap(),
            OffsetDateTime::now_utc(),
        )
        .unwrap();
    pki.write("chain.tsr", &resp.der);
    let out = openssl(
        &[
            &"ts",
            &"-verify",
            &"-in",
            &"chain.tsr",
            &"-queryfile",
            &"chain.tsq",
            &"-CAfile",
            &"ca.pem",
            &"-untrusted",
            &"tsa2.pem",
        ],
        pki.dir.path(),
    );
    assert!(out.status.success(), "{}", describe(&out));

    // der's SET OF decoder sorts what it reads; re-encoding gives the input back only if every
    // SET OF (certificates, attributes, digest algorithms) was already in DER order.
    let token = &resp.der[resp.der.len() - {
        let ci_start = resp
            .der
            .windows(11)
            .position(|w| {
                w == [
                    0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02,
                ]
            })
            .unwrap();
        // The ContentInfo SEQUENCE header precedes the OID (30 82 LL LL).
        resp.der.len() - (ci_start - 4)
    }..];
    let ci = cms::content_info::ContentInfo::from_der(token).unwrap();
    assert_eq!(ci.to_der().unwrap(), token);
    let sd: cms::signed_data::SignedData = ci.content.decode_as().unwrap();
    assert_eq!(sd.certificates.unwrap().0.len(), 2);
}

/// Tokens are assembled from parts encoded once when the TSA is built (its template) and the
/// parts that change per token. For every combination of the optional parts, the result must be
/// exactly what the typed RustCrypto encoders give (decoding and re-encoding changes nothing),
/// carry the fields the request and configuration call for, and verify with `openssl ts`.
#[test]
fn hand_assembled_tokens_are_canonical_der_for_every_optional_part() {
    use assize_signing::tsa::{Accuracy, TimeStampAuthority};
    use der::{Decode, Encode};

    let pki = Pki::new();
    let configs = [
        (true, Some((1, 0, 0))),
        (false, None),
        (true, Some((0, 500, 7))),
    ];
    let requests: [(&str, &[&str], bool, bool); 3] = [
        ("t_nonce_cert.tsq", &["-sha256", "-cert"], true, true),
        ("t_plain.tsq", &["-sha256", "-no_nonce"], false, false),
        (
            "t_sha512.tsq",
            &["-sha512", "-cert", "-no_nonce"],
            false,
            true,
        ),
    ];
    let mut serial = serials();
    for (include_tsa_name, accuracy) in configs {
        let mut config = tsa_config();
        config.include_tsa_name = include_tsa_name;
        config.accuracy = accuracy.map(|(seconds, millis, micros)| Accuracy {
            seconds,
            millis,
            micros,
        });
        let tsa =
            TimeStampAuthority::new(pki.identity(&pki.tsa_key, &pki.tsa_cert), config).unwrap();
        for (tsq, args, nonce, cert_req) in requests {
            let case = format!("tsa name {include_tsa_name}, accuracy {accuracy:?}, {args:?}");
            let req = query(&pki, tsq, args);
            let s = serial.next_serial().unwrap();
            let resp = tsa.respond(&req, s, OffsetDateTime::now_utc()).unwrap();
            assert!(resp.outcome.is_ok(), "{case}");

            let parsed = x509_tsp::TimeStampResp::from_der(&resp.der).unwrap();
            assert_eq!(parsed.to_der().unwrap(), resp.der, "{case}: response");
            let token = parsed.time_stamp_token.unwrap();
            let sd: cms::signed_data::SignedData = token.content.decode_as().unwrap();
            assert_eq!(
                cms::content_info::ContentInfo {
                    content_type: token.content_type,
                    content: der::Any::encode_from(&sd).unwrap(),
                }
                .to_der()
                .unwrap(),
                token.to_der().unwrap(),
                "{case}: token"
            );
            assert_eq!(sd.certificates.is_some(), cert_req, "{case}");
            let econtent = sd.encap_content_info.econtent.unwrap();
            let tst_der = econtent.decode_as::<der::asn1::OctetString>().unwrap();
            let tst = x509_tsp::TstInfo::from_der(tst_der.as_bytes()).unwrap();
            assert_eq!(tst.to_der().unwrap(), tst_der.as_bytes(), "{case}: TSTInfo");
            assert_eq!(tst.serial_number.as_bytes(), [s.value() as u8], "{case}");
            assert_eq!(tst.nonce.is_some(), nonce, "{case}");
            assert_eq!(tst.tsa.is_some(), include_tsa_name, "{case}");
            assert_eq!(
                tst.accuracy.map(|a| (a.seconds, a.millis, a.micros)),
                match accuracy {
                    Some((1, 0, 0)) => Some((Some(1), None, None)),
                    Some((0, 500, 7)) => Some((None, Some(500), Some(7))),
                    _ => None,
                },
                "{case}"
            );
            let signer = sd.signer_infos.0.get(0).unwrap();
            assert_eq!(signer.signed_attrs.as_ref().unwrap().len(), 3, "{case}");

            // Without certReq, openssl finds the TSA certificate through -untrusted tsa.pem.
            pki.write("t.tsr", &resp.der);
            let out = ts_verify(&pki, "t.tsr", tsq);
            assert!(out.status.success(), "{case}: {}", describe(&out));
        }
    }
}
