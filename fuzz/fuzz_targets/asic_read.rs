//! ASiC-E reading and verification: any bytes must give a container or an error, never a panic,
//! and reading must stay within the limits.
#![no_main]

use assize_signing::asic::{AsicContainer, ReadLimits, verify_container};
use assize_signing::verify::{TrustAnchors, VerifyOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = ReadLimits {
        max_container_len: 1 << 20,
        max_entries: 64,
        max_entry_len: 1 << 20,
        max_total_len: 4 << 20,
    };
    if let Ok(container) = AsicContainer::read(data, &limits) {
        let total: usize = container
            .names()
            .filter_map(|n| container.get(n))
            .map(<[u8]>::len)
            .sum();
        assert!(total as u64 <= limits.max_total_len);
        let anchors = TrustAnchors::from_certificates(&[]).expect("an empty anchor set is valid");
        let options = VerifyOptions {
            now: time::OffsetDateTime::UNIX_EPOCH,
            extra_certificates: Vec::new(),
        };
        let report = verify_container(&container, &anchors, &options);
        // With no trust anchors nothing can verify.
        assert!(!report.is_valid());
    }
});
