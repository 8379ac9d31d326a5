//! A protected witness end to end over real WebRTC on loopback: the witness publishes real VP8
//! (a portrait) and real Opus; the server decodes, anonymises and re-encodes them; the judge,
//! whom the order names, receives the original, defence counsel only the anonymised media, and
//! the witness a preview of their own anonymised picture. Every check decodes what a client
//! really received with an independent decoder instance and compares pictures with the
//! original: no timing thresholds, only "eventually" with a generous limit.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use assize_media::codec::{MAX_FRAME_SAMPLES, OpusDecoder};
use assize_media::codec::{Vp8Decoder, Vp8Encoder};
use assize_server::sfu::Hearing;
use assize_server::sfu::room::{
    FaceProtection, HearingRole, HearingState, Location, MediaKind, ParticipantId, Protection,
};
use assize_speaker::{self as speaker, SpeakerEncoder, similarity};
use assize_tests::rtc_client::{RecordedMedia, RtcClient, spawn_sfu_server, wait_until};
use rtc::rtp;
use rtc::rtp::packetizer::{Depacketizer as _, Payloader as _};

const AUDIO: MediaKind = MediaKind::Audio;
const VIDEO: MediaKind = MediaKind::Video;
const LIMIT: Duration = Duration::from_secs(40);

/// Grace Hopper's official portrait (public domain), 256x300 I420, and her face's box.
const PORTRAIT: &[u8] = include_bytes!("../../media/tests/data/face/grace_hopper_256x300.i420");
const W: u32 = 256;
const H: u32 = 300;
const FACE: (usize, usize, usize, usize) = (80, 60, 185, 167);

/// The portrait as 10 VP8 keyframes (so any receiver can start anywhere) and 5 s of real
/// speech (flite's `slt` voice: two sentences) as 250 Opus packets, both sent in a loop.
fn witness_media() -> RecordedMedia {
    let mut encoder = Vp8Encoder::new(W, H, 800).expect("a VP8 encoder");
    let mut payloader = rtp::codec::vp8::Vp8Payloader::default();
    payloader.enable_picture_id = true;
    let mut video = Vec::new();
    for i in 0..10_i64 {
        for frame in encoder.encode(PORTRAIT, i * 3000, true).expect("encodes") {
            video.push(
                payloader
                    .payload(1188, &bytes::Bytes::from(frame.data))
                    .expect("packetizes"),
            );
        }
    }
    let audio = assize_tests::audio::opus_packets(speech_48k().len() as f64 / 48_000.0, {
        let speech = speech_48k();
        move |t| f64::from(speech.get((t * 48_000.0) as usize).copied().unwrap_or(0.0))
    });
    RecordedMedia {
        audio,
        video,
        lose_one_in: None,
    }
}

/// The witness's speech at 48 kHz.
fn speech_48k() -> Vec<f32> {
    let (speech, rate) = speaker::read_wav(&speaker::data_dir().join("witness_slt_a.wav"))
        .expect("the witness's recording");
    assert_eq!(rate, speaker::MODEL_RATE);
    speaker::upsample_16k_to_48k(&speech)
}

/// Decodes a client's received Opus packets in arrival order, at 48 kHz.
fn decode_audio(packets: &[rtp::Packet]) -> Vec<f32> {
    let mut decoder = OpusDecoder::new().expect("a decoder");
    let mut buf = vec![0.0_f32; MAX_FRAME_SAMPLES];
    let mut out = Vec::new();
    for p in packets {
        let n = decoder.decode(&p.payload, &mut buf).expect("decodes");
        out.extend_from_slice(&buf[..n]);
    }
    out
}

/// The complete VP8 frames among `packets` (one timestamp, contiguous sequence numbers from a
/// partition head to the marker), decoded in order; a gap waits for the next keyframe.
fn decode_video(packets: &[rtp::Packet]) -> Vec<assize_media::codec::DecodedFrame> {
    let mut decoder = Vp8Decoder::new().expect("a decoder");
    let mut pictures = Vec::new();
    let mut frame: Vec<u8> = Vec::new();
    let mut expect: Option<(u32, u16)> = None;
    let mut in_sync = false;
    for p in packets {
        let h = &p.header;
        let mut vp8 = rtp::codec::vp8::Vp8Packet::default();
        let Ok(data) = vp8.depacketize(&p.payload) else {
            frame.clear();
            expect = None;
            continue;
        };
        let continues = expect == Some((h.timestamp, h.sequence_number));
        if vp8.s == 1 && vp8.pid == 0 {
            frame.clear();
        } else if !continues {
            frame.clear();
            expect = None;
            in_sync = false;
            continue;
        }
        frame.extend_from_slice(&data);
        expect = Some((h.timestamp, h.sequence_number.wrapping_add(1)));
        if h.marker {
            let keyframe = frame.first().is_some_and(|b| b & 1 == 0);
            in_sync |= keyframe;
            if in_sync && let Ok(Some(picture)) = decoder.decode(&frame) {
                pictures.push(picture);
            }
            frame.clear();
            expect = None;
        }
    }
    pictures
}

/// PSNR (dB) of the luma between `picture` and the portrait over a rectangle.
fn luma_psnr(picture: &[u8], (x0, y0, x1, y1): (usize, usize, usize, usize)) -> f64 {
    let w = W as usize;
    let mut sum = 0.0;
    let mut n = 0.0;
    for y in y0..y1 {
        for x in x0..x1 {
            let d = f64::from(picture[y * w + x]) - f64::from(PORTRAIT[y * w + x]);
            sum += d * d;
            n += 1.0;
        }
    }
    let mse = (sum / n).max(1e-9);
    10.0 * (255.0 * 255.0 / mse).log10()
}

/// The luma of the bottom of the picture (uniform and medals, well below the face and the
/// mask's margin around the head): kept when masking.
fn background_psnr(picture: &[u8]) -> f64 {
    luma_psnr(picture, (0, 245, W as usize, H as usize))
}

/// Faces CenterFace finds in a decoded picture with a confidence of at least 0.5.
fn faces_in(detector: &mut assize_media::face::CenterFace, picture: &mut [u8]) -> usize {
    use assize_media::face::FaceDetector as _;
    let frame = assize_media::I420Frame::packed(W, H, picture).expect("a picture");
    let mut found = Vec::new();
    detector
        .detect(&frame, &mut found)
        .expect("the detector answers");
    found.iter().filter(|d| d.score >= 0.5).count()
}

fn hearing(server: &assize_tests::rtc_client::SfuServer) -> Arc<Hearing> {
    server
        .sfu
        .hearings()
        .get("pw")
        .expect("the hearing is live")
}

fn pid(c: &RtcClient) -> ParticipantId {
    ParticipantId(c.participant)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_named_judge_sees_the_witness_and_counsel_and_the_witness_see_only_the_anonymised() {
    let media = witness_media();
    let published_audio: HashSet<Vec<u8>> = media.audio.iter().map(|p| p.to_vec()).collect();
    let published_video: HashSet<Vec<u8>> =
        media.video.iter().flatten().map(|p| p.to_vec()).collect();

    let server = spawn_sfu_server().await;
    server
        .sfu
        .anonymisers()
        .set_secret("pw", zeroize::Zeroizing::new([7; 32]));
    let judge = RtcClient::join_as_party(
        &server,
        "pw",
        "judge",
        Some("judge"),
        assize_tests::rtc_client::PayloadTypes::Chrome,
    )
    .await
    .expect("the judge joins");
    let counsel = RtcClient::join_as_party(
        &server,
        "pw",
        "defence_counsel",
        Some("counsel"),
        assize_tests::rtc_client::PayloadTypes::Firefox,
    )
    .await
    .expect("counsel joins");
    let witness = RtcClient::join_with_media(&server, "pw", "witness", "w-1", media)
        .await
        .expect("the witness joins");
    let w = witness.participant;

    // The order is in force before anyone leaves the waiting room.
    hearing(&server).update(|room| {
        room.set_protection(
            pid(&witness),
            Some(Protection {
                voice_distorted: true,
                face: FaceProtection::Masked,
                raw_to: [HearingRole::Judge].into_iter().collect(),
                keep_original: false,
            }),
        )
        .expect("the witness is present");
        room.set_state(HearingState::InSession);
        for c in [&judge, &counsel, &witness] {
            room.move_to(pid(c), Location::HearingRoom)
                .expect("present");
        }
    });

    // Pictures covered only where the face is, not whole: the face detector (on a thread of
    // its own) has answered. Until then, or while it is late on a loaded machine, pictures are
    // covered whole.
    let masked_only = |pictures: &[assize_media::codec::DecodedFrame]| {
        pictures.iter().any(|p| background_psnr(&p.i420) > 22.0)
    };
    let enough = wait_until(LIMIT, || {
        let (c, wv) = (
            decode_video(&counsel.packets(w, VIDEO)),
            decode_video(&witness.packets(w, VIDEO)),
        );
        c.len() >= 8
            && masked_only(&c)
            && decode_video(&judge.packets(w, VIDEO)).len() >= 8
            && wv.len() >= 8
            && masked_only(&wv)
            // One pass of the 5 s of speech and a little more, for the speaker check.
            && counsel.received(w, AUDIO) >= 300
            && judge.received(w, AUDIO) >= 300
    })
    .await;
    let status = || {
        format!(
            "judge v{} a{}, counsel v{} a{}, preview v{}; counters {:?}",
            judge.received(w, VIDEO),
            judge.received(w, AUDIO),
            counsel.received(w, VIDEO),
            counsel.received(w, AUDIO),
            witness.received(w, VIDEO),
            hearing(&server).anonymised_counters(pid(&witness), VIDEO)
        )
    };
    assert!(enough, "media did not arrive: {}", status());

    // The judge: the original, byte for byte, and the face is there.
    let judge_video = judge.packets(w, VIDEO);
    assert!(
        judge_video
            .iter()
            .all(|p| published_video.contains(p.payload.as_ref())),
        "the judge receives exactly what the witness sent"
    );
    let mut detector = assize_media::face::CenterFace::bundled(320).expect("the detector");
    for (i, mut picture) in decode_video(&judge_video).into_iter().enumerate() {
        assert_eq!((picture.width, picture.height), (W, H));
        let psnr = luma_psnr(&picture.i420, FACE);
        assert!(psnr > 28.0, "the judge sees the face: {psnr:.1} dB");
        // The detector takes tens of milliseconds a picture: every 10th is plenty.
        if i % 10 == 0 {
            assert_eq!(
                faces_in(&mut detector, &mut picture.i420),
                1,
                "a face the judge sees"
            );
        }
    }
    assert!(
        judge
            .packets(w, AUDIO)
            .iter()
            .all(|p| published_audio.contains(p.payload.as_ref()))
    );

    // Counsel and the witness's own preview: not one packet of the original; the face covered,
    // the rest of the picture kept (masked, not blacked out).
    for (who, client) in [("counsel", &counsel), ("the witness's preview", &witness)] {
        let video = client.packets(w, VIDEO);
        assert!(
            video
                .iter()
                .all(|p| !published_video.contains(p.payload.as_ref())),
            "{who} never receives an original video packet"
        );
        let pictures = decode_video(&video);
        assert!(pictures.len() >= 8, "{who}: {}", status());
        // The face detector runs on a thread of its own: until it has first answered, and
        // whenever an answer is late (a loaded machine), a picture is covered whole
        // (fail-closed); otherwise only the face is covered. Both kinds must appear as such.
        let masked = pictures
            .iter()
            .filter(|p| background_psnr(&p.i420) > 22.0)
            .count();
        assert!(
            masked >= 1,
            "{who}: no picture kept its background (masked, not blacked out): {} pictures",
            pictures.len()
        );
        for (i, picture) in pictures.iter().enumerate() {
            assert_eq!((picture.width, picture.height), (W, H));
            if i % 10 == 0 {
                let mut copy = picture.i420.clone();
                assert_eq!(
                    faces_in(&mut detector, &mut copy),
                    0,
                    "{who}: no face detected"
                );
            }
            let face = luma_psnr(&picture.i420, FACE);
            assert!(
                face < 15.0,
                "{who}: picture {i}: the face is covered: {face:.1} dB"
            );
        }
    }
    let counsel_audio = counsel.packets(w, AUDIO);
    assert!(
        counsel_audio
            .iter()
            .all(|p| !published_audio.contains(p.payload.as_ref())),
        "counsel never receives an original audio packet"
    );
    assert!(
        witness.received(w, AUDIO) == 0,
        "no echo of one's own voice"
    );
    // What counsel hears decodes, and is a voice, not silence.
    let counsel_heard = decode_audio(&counsel_audio);
    let rms = (counsel_heard
        .iter()
        .skip(10 * 960)
        .map(|v| f64::from(*v).powi(2))
        .sum::<f64>()
        / counsel_heard.len().saturating_sub(10 * 960).max(1) as f64)
        .sqrt();
    assert!(
        rms > 0.01,
        "counsel hears the distorted voice: rms {rms:.4}"
    );

    // ... and an independent speaker-verification model (resemblyzer's GE2E encoder) does not
    // take it for the witness. The attacker enrols the witness with another recording of
    // theirs (other sentences), and decides "same person" above the midpoint between what the
    // model gives the witness's own voice as the judge hears it and what it gives strangers.
    let model = SpeakerEncoder::shared();
    let (enrolment, rate) = speaker::read_wav(&speaker::data_dir().join("witness_slt_b.wav"))
        .expect("the enrolment recording");
    let witness_voice = model.embed(&enrolment, rate);
    let judge_heard = decode_audio(&judge.packets(w, AUDIO));
    let as_judge_hears = similarity(&witness_voice, &model.embed(&judge_heard, 48_000));
    let strangers = ["other_rms.wav", "other_awb.wav", "other_kal16.wav"].map(|f| {
        let (s, r) = speaker::read_wav(&speaker::data_dir().join(f)).expect("a stranger");
        similarity(&witness_voice, &model.embed(&s, r))
    });
    let closest_stranger = strangers.iter().copied().fold(f32::MIN, f32::max);
    let threshold = (as_judge_hears + closest_stranger) / 2.0;
    let as_counsel_hears = similarity(&witness_voice, &model.embed(&counsel_heard, 48_000));
    let figures = format!(
        "similarity to the witness: as the judge hears them {as_judge_hears:.3}, as counsel \
         hears them {as_counsel_hears:.3}, strangers {strangers:.3?}; threshold {threshold:.3}"
    );
    println!("{figures}");
    assert!(
        as_judge_hears > closest_stranger + 0.2,
        "control: the model recognises the witness's own voice: {figures}"
    );
    assert!(
        as_counsel_hears < threshold,
        "the voice counsel hears is not matched to the witness: {figures}"
    );

    // Counsel's bandwidth estimate reaches the server's encoder; the judge's (raw) does not.
    let h = hearing(&server);
    counsel
        .send_remb(w, 200_000.0)
        .await
        .expect("counsel sends REMB");
    let followed = wait_until(LIMIT, || {
        h.anonymised_counters(pid(&witness), VIDEO)
            .is_some_and(|c| c.bitrate_kbps == 200)
    })
    .await;
    assert!(
        followed,
        "the encoder follows counsel's estimate: {}",
        status()
    );

    // The pipelines show in the metrics.
    let mut metrics = assize_server::metrics::Metrics::new();
    metrics.register_collector(Box::new(server.sfu.anonymisers().collector()));
    let text = metrics.encode();
    for line in [
        "assize_pipeline_streams{kind=\"video\"} 1",
        "assize_pipeline_streams{kind=\"audio\"} 1",
    ] {
        assert!(text.contains(line), "{line} in:\n{text}");
    }
    let frames_out = text
        .lines()
        .find_map(|l| l.strip_prefix("assize_pipeline_frames_out_total{kind=\"video\"} "))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .expect("a frame counter");
    assert!(frames_out >= 8, "{text}");

    // Nothing identifying of the witness's own session reaches the others' descriptions: not
    // its CNAME, its SSRCs or its stream and track labels (the server's legs have their own).
    let (witness_sdp, _) = witness.descriptions().await;
    let mut identifying: Vec<String> = witness_sdp
        .lines()
        .filter_map(|l| l.strip_prefix("a=ssrc:"))
        .flat_map(|rest| {
            let mut parts = rest.splitn(2, ' ');
            let ssrc = parts.next().unwrap_or_default().to_string();
            let attr = parts.next().unwrap_or_default();
            let cname = attr.strip_prefix("cname:").map(str::to_string);
            [Some(ssrc), cname].into_iter().flatten()
        })
        .collect();
    identifying.push(format!("client-{w}"));
    assert!(identifying.len() >= 2, "{witness_sdp}");
    for (who, client) in [("judge", &judge), ("counsel", &counsel)] {
        let (_, remote) = client.descriptions().await;
        for needle in &identifying {
            assert!(
                !remote.contains(needle.as_str()),
                "{who}'s session description names the witness's {needle}"
            );
        }
    }

    // Lifting the order: counsel gets the original on the same leg (rebased, decodable).
    hearing(&server).update(|room| {
        room.set_protection(pid(&witness), None)
            .expect("the witness is present")
    });
    // What counsel receives from now on (however long the test has run so far).
    counsel.forget_packets(w, VIDEO);
    let original = wait_until(LIMIT, || {
        let raw = counsel
            .packets(w, VIDEO)
            .iter()
            .filter(|p| published_video.contains(p.payload.as_ref()))
            .count();
        raw >= 30
    })
    .await;
    assert!(
        original,
        "counsel receives the original once the order is lifted"
    );
    assert!(!h.has_anonymised_stream(pid(&witness), VIDEO));

    judge.close().await;
    counsel.close().await;
    witness.close().await;
}

/// `assize anonymise --face`: a recorded testimony (Y4M) comes out with the face covered, as
/// live; a damaged file is refused with what went wrong and leaves no output behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_witness_who_drops_and_rejoins_is_still_distorted_for_counsel() {
    let media = witness_media();
    let published: HashSet<Vec<u8>> = media
        .video
        .iter()
        .flatten()
        .chain(media.audio.iter())
        .map(|p| p.to_vec())
        .collect();
    let server = spawn_sfu_server().await;
    server
        .sfu
        .anonymisers()
        .set_secret("pw", zeroize::Zeroizing::new([7; 32]));
    let counsel = RtcClient::join_as_party(
        &server,
        "pw",
        "defence_counsel",
        Some("counsel"),
        assize_tests::rtc_client::PayloadTypes::Firefox,
    )
    .await
    .expect("counsel joins");
    let witness = RtcClient::join_with_media(&server, "pw", "witness", "w-1", media.clone())
        .await
        .expect("the witness joins");
    let w = witness.participant;
    let h = hearing(&server);
    h.update(|room| {
        room.set_protection(
            pid(&witness),
            Some(Protection {
                voice_distorted: true,
                face: FaceProtection::Masked,
                raw_to: [HearingRole::Judge].into_iter().collect(),
                keep_original: false,
            }),
        )
        .expect("present");
        room.set_state(HearingState::InSession);
        for c in [&counsel, &witness] {
            room.move_to(pid(c), Location::HearingRoom)
                .expect("present");
        }
    });
    assert!(
        wait_until(LIMIT, || decode_video(&counsel.packets(w, VIDEO)).len()
            >= 4)
        .await,
        "counsel sees the distorted witness"
    );

    // The witness's connection drops, and they come back (the same party).
    witness.close().await;
    assert!(
        wait_until(LIMIT, || !h.is_attached(ParticipantId(w))).await,
        "the server notices the drop"
    );
    let pictures_before = decode_video(&counsel.packets(w, VIDEO)).len();
    let audio_before = counsel.received(w, AUDIO);
    let witness = RtcClient::join_with_media(&server, "pw", "witness", "w-1", media)
        .await
        .expect("the witness rejoins");
    assert_eq!(witness.participant, w, "the same participant");
    assert!(
        h.room().protection(ParticipantId(w)).is_some(),
        "the order is still in force"
    );
    h.update(|room| {
        room.move_to(ParticipantId(w), Location::HearingRoom)
            .expect("present")
    });
    assert!(
        wait_until(LIMIT, || {
            decode_video(&counsel.packets(w, VIDEO)).len() >= pictures_before + 4
                && counsel.received(w, AUDIO) >= audio_before + 25
        })
        .await,
        "the distorted stream recovers: {} pictures before, {} now",
        pictures_before,
        decode_video(&counsel.packets(w, VIDEO)).len()
    );

    // Before, during and after: not one original packet, and no face in what counsel sees.
    for kind in [VIDEO, AUDIO] {
        assert!(
            counsel
                .packets(w, kind)
                .iter()
                .all(|p| !published.contains(p.payload.as_ref())),
            "counsel never receives an original {kind:?} packet"
        );
    }
    let mut detector = assize_media::face::CenterFace::bundled(320).expect("the detector");
    let pictures = decode_video(&counsel.packets(w, VIDEO));
    for picture in pictures.iter().skip(pictures_before) {
        let face = luma_psnr(&picture.i420, FACE);
        assert!(face < 15.0, "after the rejoin: face {face:.1} dB");
    }
    let mut last = pictures.last().expect("pictures").i420.clone();
    assert_eq!(
        faces_in(&mut detector, &mut last),
        0,
        "no face after the rejoin"
    );
    witness.close().await;
    counsel.close().await;
}

#[test]
fn the_anonymise_command_covers_the_face_in_a_recorded_video() {
    use assize_media::y4m;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let input = dir.path().join("testimony.y4m");
    let header = y4m::Y4mHeader::new(W, H, 25);
    let mut data = Vec::new();
    y4m::write_header(&mut data, &header).expect("writes");
    for _ in 0..6 {
        y4m::write_frame(&mut data, &header, PORTRAIT).expect("writes");
    }
    std::fs::write(&input, &data).expect("writes");
    let bin = assize_tests::assize_binary();
    for (mode, background_kept) in [("masked", true), ("full-frame", false)] {
        let output = dir.path().join(format!("{mode}.y4m"));
        let run = std::process::Command::new(&bin)
            .args(["anonymise", "--face", mode])
            .arg(&input)
            .arg(&output)
            .output()
            .expect("runs");
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        let mut r = std::io::BufReader::new(std::fs::File::open(&output).expect("written"));
        let back = y4m::read_header(&mut r, 4096).expect("a Y4M");
        assert_eq!((back.width, back.height, back.fps()), (W, H, 25.0));
        let mut picture = Vec::new();
        let mut frames = 0;
        while y4m::read_frame(&mut r, &back, frames, &mut picture).expect("a frame") {
            let face = luma_psnr(&picture, FACE);
            assert!(face < 15.0, "{mode} frame {frames}: face {face:.1} dB");
            if background_kept {
                let bg = background_psnr(&picture);
                assert!(bg > 22.0, "{mode} frame {frames}: background {bg:.1} dB");
            }
            frames += 1;
        }
        assert_eq!(frames, 6);
    }

    // Cut short in the middle of a picture: refused, and no output appears.
    let cut = dir.path().join("cut.y4m");
    std::fs::write(&cut, &data[..data.len() - 1000]).expect("writes");
    let output = dir.path().join("cut-out.y4m");
    let run = std::process::Command::new(&bin)
        .args(["anonymise", "--face", "masked"])
        .arg(&cut)
        .arg(&output)
        .output()
        .expect("runs");
    assert!(!run.status.success());
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("frame 5 is truncated"), "{stderr}");
    assert!(!output.exists() && !output.with_extension("partial").exists());

    // A video needs --face, a WAV --voice: the message says which.
    let run = std::process::Command::new(&bin)
        .args(["anonymise", "--face", "masked", "a.wav", "b.wav"])
        .output()
        .expect("runs");
    assert!(!run.status.success());
    assert!(String::from_utf8_lossy(&run.stderr).contains("--face masked|full-frame"));
}
