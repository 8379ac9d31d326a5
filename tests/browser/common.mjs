// What the stories in Chromium (stories.mjs, playwright-core) and in Firefox (firefox.mjs,
// puppeteer-core) share: the environment they are given, the authenticator code, the WCAG check,
// the page's peer connections kept for diagnosis, what a playing <video> is, and the
// application's own texts (web/i18n/<lang>.json, the one place per language for them).
//
// The functions named `inPage…` run inside the page: both drivers serialise them with
// `Function.prototype.toString`, so they use nothing from this module's scope.

import { createHmac } from "node:crypto";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

/// axe-core's script, evaluated in a page through the driver (which the page's
/// Content-Security-Policy does not apply to).
export const AXE = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

export const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set (run through: cargo test -p assize-tests --test browser)`);
  return v;
};

export const step = (text) => console.log(`  - ${text}`);

/// RFC 6238 TOTP (SHA-1, 6 digits, 30 s) for a base32 secret, `stepsAhead` steps from now.
export function totp(base32, stepsAhead = 0) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = "";
  for (const c of base32.replace(/=+$/, "").toUpperCase()) {
    const v = alphabet.indexOf(c);
    if (v < 0) throw new Error(`not base32: ${c}`);
    bits += v.toString(2).padStart(5, "0");
  }
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const counter = Math.floor(Date.now() / 1000 / 30) + stepsAhead;
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(counter));
  const mac = createHmac("sha1", key).update(msg).digest();
  const off = mac[mac.length - 1] & 0x0f;
  const n = (mac.readUInt32BE(off) & 0x7fffffff) % 1_000_000;
  return String(n).padStart(6, "0");
}

/// The application's texts in `lang`, as the application shows them: `t(key, vars)` fills
/// `{name}` placeholders as web/js/i18n.js does, and throws on a key the file lacks (a story
/// that names a missing key is wrong, not the page).
export function texts(lang) {
  const file = new URL(`../../web/i18n/${lang}.json`, import.meta.url);
  const messages = JSON.parse(readFileSync(file, "utf8"));
  return (key, vars) => {
    const text = messages[key];
    if (text === undefined) throw new Error(`web/i18n/${lang}.json has no key ${key}`);
    return vars ? text.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m)) : text;
  };
}

/// In the page, with axe-core loaded: the WCAG 2.1 A and AA violations, one line each.
export async function inPageWcagViolations() {
  const r = await window.axe.run(document, { runOnly: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] });
  return r.violations.map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join("; ")}`);
}

/// In the page, before its scripts: keeps its peer connections in `window.__peers`, so that a
/// story can say what a silent video received, and its WebSockets in `window.__sockets`, so that
/// a story can drop one under the page as a failing network would.
export function inPageKeepPeerConnections() {
  const NativeSocket = window.WebSocket;
  window.__sockets = [];
  window.WebSocket = function (...args) {
    const ws = new NativeSocket(...args);
    window.__sockets.push(ws);
    return ws;
  };
  window.WebSocket.prototype = NativeSocket.prototype;
  Object.assign(window.WebSocket, { CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3 });
  const Native = window.RTCPeerConnection;
  if (!Native) return;
  window.__peers = [];
  window.RTCPeerConnection = function (...args) {
    const pc = new Native(...args);
    window.__peers.push(pc);
    return pc;
  };
  window.RTCPeerConnection.prototype = Native.prototype;
}

/// In the page: how far the <video> matching `selector` has played, or null when there is none:
/// its width, the frames it has shown by its own count (`getVideoPlaybackQuality`), the frames
/// presented since the first call (counted with `requestVideoFrameCallback`, which this call
/// starts on the element; Firefox counts no frames of a MediaStream in the former) and its
/// position (seconds).
export function inPageVideoProgress(selector) {
  const v = document.querySelector(selector);
  if (!v) return null;
  if (v.presentedFrames === undefined && v.requestVideoFrameCallback) {
    v.presentedFrames = 0;
    const count = () => {
      v.presentedFrames += 1;
      v.requestVideoFrameCallback(count);
    };
    v.requestVideoFrameCallback(count);
  }
  return { width: v.videoWidth, frames: v.getVideoPlaybackQuality().totalVideoFrames, presented: v.presentedFrames,
    time: v.currentTime };
}

/// In the page: what its peer connections receive for the <video> matching `selector`, to say
/// why a video does not play (needs the `__peers` list kept by inPageKeepPeerConnections).
export async function inPageReceiving(selector) {
  const v = document.querySelector(selector);
  if (!v) return { video: null };
  const track = v.srcObject && v.srcObject.getVideoTracks()[0];
  const out = { hidden: v.closest("[hidden]") !== null, paused: v.paused, readyState: v.readyState,
    width: v.videoWidth, time: v.currentTime, track: track && { state: track.readyState, muted: track.muted, id: track.id } };
  for (const pc of window.__peers || []) {
    out.connection = pc.connectionState;
    for (const r of (await pc.getStats()).values()) {
      if (r.type === "inbound-rtp" && r.kind === "video" && track && r.trackIdentifier === track.id) {
        out.inbound = { packets: r.packetsReceived, lost: r.packetsLost, frames: r.framesDecoded,
          keyframes: r.keyFramesDecoded, pli: r.pliCount, fir: r.firCount, nack: r.nackCount };
      }
    }
  }
  return out;
}

/// Runs the stories named in ASSIZE_STORIES (comma-separated) out of `stories` (name → async
/// function of a browser), one after another in one browser from `launch`, and says
/// "all stories passed" at the end (what tests/tests/browser.rs looks for).
export async function runStories(stories, launch) {
  const names = env("ASSIZE_STORIES").split(",").map((n) => n.trim());
  for (const name of names) {
    if (!stories[name]) throw new Error(`no story ${name}; there are: ${Object.keys(stories).join(", ")}`);
  }
  const browser = await launch();
  try {
    for (const name of names) await stories[name](browser);
    console.log("all stories passed");
  } finally {
    await browser.close();
  }
}

/// In the page: the audio packets its peer connections have received (needs the `__peers` list
/// kept by inPageKeepPeerConnections).
export async function inPageAudioPacketsReceived() {
  let packets = 0;
  for (const pc of window.__peers || []) {
    for (const r of (await pc.getStats()).values()) {
      if (r.type === "inbound-rtp" && r.kind === "audio") packets += r.packetsReceived || 0;
    }
  }
  return packets;
}
