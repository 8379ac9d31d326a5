//! The production [`Anonymisers`]: each protected track gets a transcoding [`Pipeline`] on its
//! own thread (decode → anonymise → encode), whose packets go back into the hearing as the
//! anonymised variant.
//!
//! - Voice: the [`VoiceAnonymiser`] with a secret derived from the hearing's secret and the
//!   witness (HMAC-SHA-256), so a witness sounds the same through one hearing and different in
//!   the next. No secret known for the hearing → no stream: those not named get no audio.
//! - Face: masked (each face covered by an opaque fill, failing closed to a full-frame
//!   silhouette) or full-frame, by the [`FaceAnonymiser`], built on the pipeline's own thread
//!   (it takes a few hundred milliseconds). If it cannot be built or fails, the pipeline sends
//!   black pictures: never the raw picture.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use assize_media::{
    FaceAnonymiser, FaceMode, FaceSettings, I420Frame, VoiceAnonymiser, VoiceSettings,
};
use hmac::{Hmac, Mac as _};
use rtc::rtp;
use sha2::Sha256;
use zeroize::Zeroizing;

use super::hearing::{AnonymisedStream, Anonymisers, Hearing, HearingKey};
use super::pipeline::{
    Control, Filter, Pipeline, PipelineConfig, PipelineHandle, VideoFilter, VoiceFilter,
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

/// The face anonymiser as a pipeline filter, built on first use on the pipeline's thread.
struct FaceFilter {
    mode: FaceMode,
    face: Option<FaceAnonymiser>,
}

impl VideoFilter for FaceFilter {
    fn apply(&mut self, width: u32, height: u32, i420: &mut [u8]) -> Result<(), String> {
        if self.face.is_none() {
            self.face = Some(
                FaceAnonymiser::new(self.mode, FaceSettings::default())
                    .map_err(|e| format!("the face anonymiser cannot start: {e}"))?,
            );
        }
        let Some(face) = self.face.as_mut() else {
            return Err("no face anonymiser".into());
        };
        let mut frame = I420Frame::packed(width, height, i420).map_err(|e| e.to_string())?;
        face.process(&mut frame);
        Ok(())
    }
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
                let mode = if order.face == FaceProtection::FullFrame {
                    FaceMode::FullFrame
                } else {
                    FaceMode::Masked
                };
                (
                    Filter::Video(Box::new(FaceFilter { mode, face: None })),
                    PipelineConfig::video(),
                )
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_face_filter_changes_every_picture_and_refuses_bad_geometry() {
        let (w, h) = (64u32, 48u32);
        let len = assize_media::codec::i420_len(w, h);
        let original: Vec<u8> = (0..len).map(|i| (i * 37 % 251) as u8).collect();
        let mut picture = original.clone();
        let mut filter = FaceFilter {
            mode: FaceMode::FullFrame,
            face: None,
        };
        filter.apply(w, h, &mut picture).expect("a valid picture");
        assert_ne!(picture, original, "the silhouette replaces the picture");
        let mut short = vec![0u8; 10];
        assert!(
            filter.apply(w, h, &mut short).is_err(),
            "the pipeline then sends black"
        );
    }

    #[test]
    fn each_witness_has_a_voice_secret_of_their_own_within_a_hearing() {
        let hearing = [7u8; 32];
        let a = voice_secret_for(&hearing, "participant-a").expect("a key");
        let b = voice_secret_for(&hearing, "participant-b").expect("a key");
        let a2 = voice_secret_for(&hearing, "participant-a").expect("a key");
        assert_eq!(*a, *a2);
        assert_ne!(*a, *b);
        assert_ne!(
            *voice_secret_for(&[8u8; 32], "participant-a").expect("a key"),
            *a
        );
    }
}
