//! Configuration files are written by people: any text must give a setting error, not a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = assize_server::config::Settings::from_toml_str(text);
    }
});
