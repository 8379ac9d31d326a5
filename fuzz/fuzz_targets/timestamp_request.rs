//! TimeStampReq parsing: any bytes must give a request or a rejection, never a panic; a parsed
//! request is internally consistent.
#![no_main]

use assize_signing::tsa::TimeStampRequest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(req) = TimeStampRequest::parse(data) {
        assert_eq!(req.imprint().len(), req.hash_algorithm().output_len());
    }
});
