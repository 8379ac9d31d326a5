//! The production [`Anonymisers`]: each protected track gets a transcoding [`Pipeline`] on its
//! own thread (decode → anonymise → encode), whose packets go back into the hearing as the
//! anonymised variant.
//!
//! - Voice: the [`VoiceAnonymiser`] with a secret derived from the hearing's secret and the
//!   witness (HMAC-SHA-256), so a witness sounds the same through one hearing and different in
//!   the next. No secret known for the hearing → no stream: those not named get no audio.
//! - Face: masked or full-frame. Until the face anonymiser is wired in, every picture of the
//!   anonymised stream is black ([`BlackFrame`]): fail-closed, never the raw picture.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use assize_media::{VoiceAnonymiser, VoiceSettings};
use hmac::{Hmac, Mac as _};
use rtc::rtp;
use sha2::Sha256;
use zeroize::Zeroizing;

use super::hearing::{AnonymisedStream, Anonymisers, Hearing, HearingKey};
use super::pipeline::{
    BlackFrame, Control, Filter, Pipeline, PipelineConfig, PipelineHandle, VoiceFilter,
};
use super::room::{FaceProtection, MediaKind, ParticipantId, Protection};

/// Anonymisers backed by the transcoding pipeline.
#[derive(Default)]
pub struct PipelineAnonymisers {
    secrets: Mutex<HashMap<HearingKey, Zeroizing<[u8; 32]>>>,
}

impl std::fmt::Debug for PipelineAnonymisers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PipelineAnonymisers(..)")
    }
}

impl PipelineAnonymisers {
    /// Gives the anonymisers a hearing's secret (the HTTP layer does, before a protected
    /// witness can publish).
    pub fn set_secret(&self, hearing: &str, secret: Zeroizing<[u8; 32]>) {
        self.secrets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(hearing.to_string(), secret);
    }

    /// The voice secret of one witness in one hearing.
    fn voice_secret(&self, hearing: &str, party: &str) -> Option<Zeroizing<[u8; 32]>> {
        let secrets = self.secrets.lock().unwrap_or_else(PoisonError::into_inner);
        let key = secrets.get(hearing)?;
        voice_secret_for(key, party)
    }
}

/// The voice secret of `party` under a hearing secret: HMAC-SHA-256(hearing secret,
/// "assize-voice:" ‖ party). `assize hearing-secret --participant` writes the same.
pub fn voice_secret_for(hearing_secret: &[u8; 32], party: &str) -> Option<Zeroizing<[u8; 32]>> {
    let mut mac = Hmac::<Sha256>::new_from_slice(hearing_secret).ok()?;
    mac.update(b"assize-voice:");
    mac.update(party.as_bytes());
    let mut out = Zeroizing::new([0u8; 32]);
    out.copy_from_slice(&mac.finalize().into_bytes());
    Some(out)
}

struct PipelineStream {
    handle: PipelineHandle,
    task: tokio::task::JoinHandle<()>,
}

impl AnonymisedStream for PipelineStream {
    fn push(&self, packet: &rtp::Packet) {
        // Never blocks; a full queue drops (counted by the pipeline).
        let _ = self.handle.push(packet.clone());
    }

    fn request_keyframe(&self) {
        let _ = self.handle.control(Control::ForceKeyframe);
    }
}

impl Drop for PipelineStream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Anonymisers for PipelineAnonymisers {
    fn start(
        &self,
        hearing: &Arc<Hearing>,
        publisher: ParticipantId,
        kind: MediaKind,
        order: &Protection,
    ) -> Option<Box<dyn AnonymisedStream>> {
        let runtime = tokio::runtime::Handle::try_current().ok()?;
        let (filter, config) = match kind {
            MediaKind::Audio => {
                let party = hearing.party_of(publisher)?;
                let secret = self.voice_secret(hearing.key(), &party)?;
                let voice = VoiceAnonymiser::new(&secret, VoiceSettings::default()).ok()?;
                (
                    Filter::Audio(Box::new(VoiceFilter::new(voice))),
                    PipelineConfig::audio(),
                )
            }
            MediaKind::Video => {
                if order.face == FaceProtection::None {
                    return None;
                }
                (Filter::Video(Box::new(BlackFrame)), PipelineConfig::video())
            }
        };
        let (handle, mut output) = match Pipeline::spawn(filter, config) {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, "cannot start an anonymising pipeline; the protected media is withheld");
                return None;
            }
        };
        let weak = Arc::downgrade(hearing);
        let task = runtime.spawn(async move {
            loop {
                tokio::select! {
                    packet = output.rtp.recv() => {
                        let (Some(packet), Some(h)) = (packet, weak.upgrade()) else { break };
                        h.on_anonymised_rtp(publisher, kind, packet.packet());
                    }
                    Some(()) = output.keyframe_requests.recv() => {
                        if let Some(h) = weak.upgrade() {
                            h.request_publisher_keyframe(publisher, kind);
                        }
                    }
                }
            }
        });
        tracing::info!(%publisher, ?kind, "anonymising pipeline started");
        Some(Box::new(PipelineStream { handle, task }))
    }
}
