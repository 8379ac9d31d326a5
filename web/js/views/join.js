// The page an invitation link opens: /join#TOKEN. The token is in the fragment, so it never
// reaches the server in a request line or a log; the page spends it once
// (POST /api/v1/hearing-invitations/redeem, which sets the hearing-session cookie), takes it out
// of the address bar, and remembers the result for this tab (sessionStorage), so a reload or a
// change of language does not try to spend it twice. Then: the self-test (camera, microphone,
// speakers, connection to the court), then the waiting room.

import { h } from "../dom.js";
import { t } from "../i18n.js";
import { api, setCsrf } from "../api.js";
import { errorBox, heading } from "../ui.js";
import { liveRoom } from "./room.js";

const STORAGE_KEY = "assize.join";
/// A round trip to the court's server above this (ms) is called slow in the self-test.
const SLOW_MS = 500;

// This tab's invitation and where the invitee is: "check" (self-test) or "waiting".
let joining = null;
// The camera and microphone streams of the self-test, kept for the hearing room.
const media = { video: null, audio: null, meter: null };

function remembered() {
  try {
    return JSON.parse(sessionStorage.getItem(STORAGE_KEY));
  } catch {
    return null;
  }
}

function remember(state) {
  joining = state;
  sessionStorage.setItem(STORAGE_KEY, JSON.stringify(state));
}

/// The token in the link, if the address still holds one; taken out of the address bar at once.
function takeToken() {
  const hash = location.hash;
  if (!hash || hash.startsWith("#/") || hash.length < 2) return null;
  history.replaceState(null, "", location.pathname);
  return decodeURIComponent(hash.slice(1));
}

export async function joinView(_params, ctx) {
  const token = takeToken();
  if (token) {
    try {
      const r = await api("POST", "/api/v1/hearing-invitations/redeem", { token }, { signingIn: true });
      remember({ hearing: r.hearing_id, participant: r.participant_id, role: r.role,
        csrf: r.csrf_token, signal: r.signal_path, stage: "check" });
    } catch (err) {
      sessionStorage.removeItem(STORAGE_KEY);
      joining = null;
      const box = errorBox();
      box.show(err);
      return h("section", {}, heading(t("join.unusable_title")), box, h("p", {}, t("join.ask_court")));
    }
  }
  joining = joining || remembered();
  if (!joining) {
    return h("section", {}, heading(t("join.no_invitation_title")), h("p", {}, t("join.no_invitation")));
  }
  setCsrf(joining.csrf);
  return joining.stage === "waiting" ? waitingRoom() : selfTest(ctx);
}

/// Why a device could not be used, in words that say what to do.
function deviceProblem(err, kind) {
  const name = err && err.name;
  if (name === "NotAllowedError" || name === "SecurityError") return t(`join.${kind}_refused`);
  if (name === "NotFoundError" || name === "OverconstrainedError") return t(`join.${kind}_missing`);
  if (name === "NotReadableError" || name === "AbortError") return t(`join.${kind}_busy`);
  return t(`join.${kind}_failed`);
}

async function open(kind) {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    return { error: t("join.no_media_support") };
  }
  if (media[kind] && media[kind].getTracks().every((tr) => tr.readyState === "live")) {
    return { stream: media[kind] };
  }
  try {
    media[kind] = await navigator.mediaDevices.getUserMedia({ [kind]: true });
    return { stream: media[kind] };
  } catch (err) {
    media[kind] = null;
    return { error: deviceProblem(err, kind) };
  }
}

/// A level meter that follows the microphone (so the invitee sees it hears them).
function listen(stream, meter) {
  if (media.meter) media.meter.close();
  const audio = new AudioContext();
  const analyser = audio.createAnalyser();
  audio.createMediaStreamSource(stream).connect(analyser);
  const samples = new Uint8Array(analyser.fftSize);
  const tick = () => {
    if (audio.state === "closed") return;
    if (meter.isConnected) meter.dataset.shown = "1";
    else if (meter.dataset.shown) return; // the page moved on
    analyser.getByteTimeDomainData(samples);
    let peak = 0;
    for (const s of samples) peak = Math.max(peak, Math.abs(s - 128));
    meter.value = Math.min(1, peak / 64);
    if (peak > 0) meter.dataset.heard = "1";
    setTimeout(tick, 100);
  };
  tick();
  // A browser may hold sound back until the user does something on the page.
  if (audio.state === "suspended") document.addEventListener("click", () => audio.resume(), { once: true });
  media.meter = audio;
}

function result(id, ok, text) {
  return h("p", { id, class: ok ? "check ok" : "check problem" }, text);
}

/// The connection check: the court's server answers over HTTPS (the median of three round trips)
/// and this browser can make WebRTC calls. Fills `out` when done.
async function checkConnection(out) {
  if (typeof RTCPeerConnection !== "function") {
    out.replaceChildren(result("connection-check", false, t("join.no_webrtc")));
    return;
  }
  const times = [];
  try {
    for (let i = 0; i < 3; i += 1) {
      const start = performance.now();
      await api("GET", `/api/v1/hearings/${encodeURIComponent(joining.hearing)}/me`);
      times.push(performance.now() - start);
    }
  } catch (err) {
    const box = errorBox();
    box.show(err);
    out.replaceChildren(result("connection-check", false, t("join.connection_failed")), box);
    return;
  }
  const ms = Math.round(times.sort((a, b) => a - b)[1]);
  out.replaceChildren(ms <= SLOW_MS
    ? result("connection-check", true, t("join.connection_ok", { ms }))
    : result("connection-check", false, t("join.connection_slow", { ms })));
}

/// The speaker check: a short tone, and the invitee says whether they heard it.
function speakerCheck() {
  const out = h("div", { id: "speaker-check" });
  const ask = () => out.replaceChildren(
    h("p", {}, t("join.speaker_question")),
    h("div", { class: "actions" },
      h("button", { type: "button", class: "secondary", onclick: () => answer(true) }, t("join.speaker_yes")),
      h("button", { type: "button", class: "secondary", onclick: () => answer(false) }, t("join.speaker_no"))));
  const play = async () => {
    try {
      const audio = new AudioContext();
      await audio.resume();
      const tone = audio.createOscillator();
      const gain = audio.createGain();
      tone.frequency.value = 440;
      gain.gain.value = 0.2;
      tone.connect(gain).connect(audio.destination);
      tone.start();
      tone.stop(audio.currentTime + 1);
      tone.onended = () => audio.close();
    } catch {
      out.replaceChildren(result("speaker-result", false, t("join.speaker_failed")), button());
      return;
    }
    ask();
    out.querySelector("button")?.focus();
  };
  const button = () => h("button", { type: "button", class: "secondary", onclick: play }, t("join.speaker_play"));
  const answer = (heard) => {
    out.replaceChildren(heard
      ? result("speaker-result", true, t("join.speaker_ok"))
      : result("speaker-result", false, t("join.speaker_not_heard")), heard ? null : button());
  };
  out.replaceChildren(h("p", {}, t("join.speaker_intro")), button());
  return out;
}

async function selfTest(ctx) {
  const video = h("video", { class: "preview", autoplay: true, muted: true, playsinline: true,
    "aria-label": t("join.camera_preview") });
  video.muted = true;
  const meter = h("meter", { id: "mic-level", min: "0", max: "1", value: "0", "aria-label": t("join.mic_level") });
  const camera = await open("video");
  const mic = await open("audio");
  if (camera.stream) video.srcObject = camera.stream;
  if (mic.stream) listen(mic.stream, meter);
  const proceed = () => {
    remember({ ...joining, stage: "waiting" });
    ctx.render();
  };
  const connection = h("div", {}, h("p", { class: "check", id: "connection-check" }, t("join.connection_checking")));
  checkConnection(connection);
  return h("section", {},
    heading(t("join.check_title")),
    h("p", {}, t("join.joining_as", { role: t(`role.${joining.role}`) })),
    h("p", {}, t("join.check_intro")),
    h("div", { class: "self-test" },
      camera.stream ? video : null,
      h("div", {},
        result("camera-check", Boolean(camera.stream), camera.stream ? t("join.camera_ok") : camera.error),
        result("mic-check", Boolean(mic.stream), mic.stream ? t("join.mic_ok") : mic.error),
        mic.stream ? h("p", {}, meter) : null,
        speakerCheck(),
        h("p", { class: "hint" }, t("join.speaker_hint")),
        connection)),
    h("div", { class: "actions" },
      h("button", { type: "button", class: "secondary", onclick: () => ctx.render() }, t("join.retry")),
      h("button", { type: "button", onclick: proceed },
        camera.stream && mic.stream ? t("join.continue") : t("join.continue_anyway"))));
}

/// The waiting room is the hearing room's door: the page joins the hearing (the server puts the
/// invitee in its waiting room) and shows the court's message until the judge lets them in.
async function waitingRoom() {
  // After a reload the self-test's streams are gone: open the devices again (already allowed).
  if (!media.video && !media.audio) await Promise.all([open("video"), open("audio")]);
  const local = media.video || media.audio
    ? new MediaStream([...(media.video ? media.video.getTracks() : []), ...(media.audio ? media.audio.getTracks() : [])])
    : null;
  const title = heading(t("join.waiting_title"));
  const message = h("div", {}, h("h2", {}, t("join.court_message_title")),
    h("p", { id: "court-message" }, t("join.court_message")));
  // Once admitted, the page is the hearing room (or a consultation room), not the waiting room.
  const onLocation = (where) => {
    const waiting = where === "waiting_room" || where === "not_connected" || where === "disconnected";
    const text = waiting ? t("join.waiting_title") : t(`location.${where}`);
    if (title.textContent !== text) title.textContent = text;
    message.hidden = !waiting;
  };
  const room = liveRoom({ hearingId: joining.hearing, local, staff: false, title: null, onLocation });
  return h("section", {},
    title,
    h("p", {}, t("join.joining_as", { role: t(`role.${joining.role}`) })),
    message,
    room);
}
