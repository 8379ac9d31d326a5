//! CMS signature and time-stamp token verification over arbitrary bytes: never a panic, never
//! valid without trust anchors.
#![no_main]

use assize_signing::verify::{TrustAnchors, VerifyOptions, verify_detached, verify_timestamp_token};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let anchors = TrustAnchors::from_certificates(&[]).expect("an empty anchor set is valid");
    let options = VerifyOptions {
        now: time::OffsetDateTime::UNIX_EPOCH,
        extra_certificates: Vec::new(),
    };
    assert!(!verify_detached(data, b"content", &anchors, &options).is_valid());
    assert!(!verify_timestamp_token(data, None, &anchors, &options).is_valid());
});
