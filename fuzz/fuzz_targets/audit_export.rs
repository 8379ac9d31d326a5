//! `assize audit verify` reads exports from anywhere: it must report, never panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = assize_server::audit::export::verify(std::io::Cursor::new(data), None);
});
