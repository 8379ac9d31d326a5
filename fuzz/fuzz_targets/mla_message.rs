//! What another state's server delivers (`POST /api/v1/federation/mla/messages`): the JSON wire
//! message, its base64 document, the envelope and the form inside. Any bytes must give a
//! refusal, never a panic.
#![no_main]
use base64::Engine as _;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The raw bytes as a document (the base64 layer peeled off)…
    let _ = assize_server::mla::read_envelope(data);
    // …and as a whole wire message.
    if let Ok(wire) = serde_json::from_slice::<assize_server::mla::WireMessage>(data)
        && let Ok(doc) = base64::engine::general_purpose::STANDARD.decode(wire.document.as_bytes())
    {
        let _ = assize_server::mla::read_envelope(&doc);
    }
    // The forms, as officers send them.
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) {
        for kind in [
            assize_server::mla::workflow::Kind::Eio,
            assize_server::mla::workflow::Kind::Mla,
        ] {
            let _ = assize_server::mla::Mla::check_form(kind, &v);
        }
    }
});
