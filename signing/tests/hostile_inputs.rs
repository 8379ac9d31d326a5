//! Deterministic hostile-input tables: truncations, bit flips and absurd lengths of valid
//! inputs must yield errors or failed reports, never a panic, and never a grant for garbage.

// Helpers outside #[test] functions are test code too.
#![allow(clippy::unwrap_used)]

mod common;

use assize_signing::asic::{AsicContainer, ContainerBuilder, ReadLimits, verify_container};
use assize_signing::cades::sign_detached;
use assize_signing::tsa::{FailureInfo, TimeStampRequest};
use assize_signing::verify::{verify_detached, verify_timestamp_token};
use common::*;
use time::OffsetDateTime;

/// A valid request as `openssl ts -query -sha256 -cert` makes it (nonce 0x0102030405060708).
fn valid_request() -> Vec<u8> {
    let mut req = vec![
        0x30, 0x00, 0x02, 0x01, 0x01, 0x30, 0x31, 0x30, 0x0d, 0x06, 0x09,
    ];
    req.extend([
        0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20,
    ]);
    req.extend([0xab; 32]);
    req.extend([0x02, 0x08, 1, 2, 3, 4, 5, 6, 7, 8, 0x01, 0x01, 0xff]);
    req[1] = (req.len() - 2) as u8;
    req
}

/// Every variant of `input` the table tries: each truncation, each single-bit flip, each byte
/// set to 0x00/0xff/0x80, length bytes blown up, and garbage appended.
fn mutations(input: &[u8]) -> Vec<Vec<u8>> {
    mutations_all(input)
}

/// Sampling step for the slow tables: 1 (every mutation) with ASSIZE_HOSTILE_FULL=1 (run it in
/// release mode), else `default`.
fn step(default: usize) -> usize {
    if std::env::var_os("ASSIZE_HOSTILE_FULL").is_some() {
        1
    } else {
        default
    }
}

fn mutations_all(input: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for len in 0..input.len() {
        out.push(input[..len].to_vec());
    }
    for i in 0..input.len() {
        for bit in 0..8 {
            let mut m = input.to_vec();
            m[i] ^= 1 << bit;
            out.push(m);
        }
        for v in [0x00, 0xff, 0x80, 0x84] {
            let mut m = input.to_vec();
            m[i] = v;
            out.push(m);
        }
    }
    // Long-form lengths claiming gigabytes at the outer SEQUENCE.
    for claim in [
        [0x84, 0xff, 0xff, 0xff, 0xff],
        [0x84, 0x7f, 0xff, 0xff, 0xff],
        [0x88, 0xff, 0xff, 0xff, 0xff],
    ] {
        let mut m = vec![input[0]];
        m.extend(claim);
        m.extend(&input[2.min(input.len())..]);
        out.push(m);
    }
    let mut longer = input.to_vec();
    longer.extend([0u8; 17]);
    out.push(longer);
    out.push(vec![0x30; 100_000]);
    out.push(Vec::new());
    out
}

#[test]
fn the_valid_request_is_valid() {
    let req = TimeStampRequest::parse(&valid_request()).unwrap();
    assert!(req.cert_req() && req.has_nonce());
}

#[test]
fn mutated_requests_never_panic_and_are_refused_or_still_well_formed() {
    let valid = valid_request();
    let mut refused = 0;
    for m in mutations(&valid) {
        match TimeStampRequest::parse(&m) {
            Ok(req) => assert_eq!(req.imprint().len(), 32),
            Err(r) => {
                assert!(matches!(
                    r.failure,
                    FailureInfo::BadDataFormat
                        | FailureInfo::BadAlg
                        | FailureInfo::UnacceptedExtension
                ));
                refused += 1;
            }
        }
    }
    assert!(refused > 100);
}

#[test]
fn the_tsa_answers_every_mutated_request_without_panicking() {
    let pki = Pki::new();
    let tsa = pki.tsa();
    let mut serials = serials();
    for m in mutations(&valid_request()).into_iter().step_by(step(7)) {
        let resp = tsa
            .respond(
                &m,
                serials.next_serial().unwrap(),
                OffsetDateTime::now_utc(),
            )
            .unwrap();
        assert!(!resp.der.is_empty());
    }
}

#[test]
fn mutated_signatures_and_tokens_never_verify_and_never_panic() {
    let pki = Pki::new();
    let doc = b"the document";
    let pending = sign_detached(&pki.signer_identity(), doc, OffsetDateTime::now_utc()).unwrap();
    let req = pending.timestamp_request(Some(7), true).unwrap();
    let resp = pki
        .tsa()
        .respond(
            &req,
            serials().next_serial().unwrap(),
            OffsetDateTime::now_utc(),
        )
        .unwrap();
    let sig = pending
        .clone()
        .attach_timestamp(&resp.der)
        .unwrap()
        .into_der();
    let anchors = pki.anchors();
    let opts = options();
    assert!(verify_detached(&sig, doc, &anchors, &opts).is_valid());

    // Signature: every 17th mutation (coprime with the 13 per byte, so every kind is sampled)
    // keeps the run short in debug builds.
    for m in mutations(&sig).into_iter().step_by(step(17)) {
        let report = verify_detached(&m, doc, &anchors, &opts);
        if m != sig {
            // A flip may land in a certificate the verifier does not need (none here) or in
            // unsigned padding; the signature as a whole must not stay valid.
            if report.is_valid() && !der_equivalent(&m, &sig) {
                let pos = m.iter().zip(&sig).position(|(a, b)| a != b);
                panic!(
                    "mutation verified: len {} vs {}, first diff {pos:?}, {:02x?}",
                    m.len(),
                    sig.len(),
                    pos.map(|p| &sig[p.saturating_sub(8)..p + 8])
                );
            }
        }
    }
    // Token / response, through both the verifier and attach.
    for m in mutations(&resp.der).into_iter().step_by(step(7)) {
        let _ = verify_timestamp_token(&m, None, &anchors, &opts);
        let _ = pending.clone().attach_timestamp(&m);
    }
}

/// Whether two encodings differ only where DER decoding is lenient (never, for our own output:
/// kept as a named hook so a failure message is explicit).
fn der_equivalent(a: &[u8], b: &[u8]) -> bool {
    a == b
}

#[test]
fn mutated_containers_never_panic() {
    let pki = Pki::new();
    let mut builder = ContainerBuilder::new();
    builder
        .add_document("a.txt", "text/plain", b"alpha".to_vec())
        .unwrap();
    let prepared = builder.prepare().unwrap();
    let pending = sign_detached(
        &pki.signer_identity(),
        prepared.manifest(),
        OffsetDateTime::now_utc(),
    )
    .unwrap();
    let token = pki
        .tsa()
        .stamp_imprint(
            &pending.timestamp_imprint(),
            serials().next_serial().unwrap(),
            OffsetDateTime::now_utc(),
        )
        .unwrap();
    let zip = prepared
        .seal(&pending.attach_timestamp(&token).unwrap())
        .unwrap();
    let anchors = pki.anchors();
    let opts = options();
    for m in mutations(&zip).into_iter().step_by(step(5)) {
        if let Ok(c) = AsicContainer::read(&m, &ReadLimits::default()) {
            let _ = verify_container(&c, &anchors, &opts);
        }
    }
}
