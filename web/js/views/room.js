// The live hearing room: a video tile per publisher (role and name from the hearing's
// participant list when the viewer may read it, else the participant's number), the viewer's own
// camera, where the viewer is (waiting to be admitted, or in the hearing room), and, for the
// judge, the console: each participant's place with admit / call / send back / microphone lock /
// remove, and the hearing's own moves (start, pause, adjourn, close). Every control calls the
// HTTP API; what media reaches whom is decided by the server alone.

import { h } from "../dom.js";
import { t } from "../i18n.js";
import { get, post } from "../api.js";
import { connect } from "../signal.js";
import { announce, errorBox, heading } from "../ui.js";
import { verbFor } from "./hearings.js";

const CALLABLE = ["witness", "expert"];
const ROSTER_EVERY_MS = 2000;

/// The judge's or clerk's way in: #/hearings/ID/room.
export async function roomView([id]) {
  let local = null;
  try {
    local = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
  } catch {
    local = null; // the room still works to watch and to conduct; the notice says why
  }
  return liveRoom({ hearingId: id, local, staff: true });
}

/// The room itself. `staff`: the viewer may read the hearing's participants (and, as its judge,
/// use the console); an invitee may not, and learns that it was admitted when media arrives.
export function liveRoom({ hearingId, local, staff, title = t("room.title") }) {
  const box = errorBox();
  const where = h("p", { id: "room-status", class: "notice", role: "status" }, t("room.connecting"));
  const tiles = h("div", { class: "tiles", "aria-label": t("room.videos"), role: "region" });
  const consolePanel = h("div", { id: "console" });
  const root = h("section", { class: "room" }, title ? heading(title) : null, where, box,
    local ? null : h("p", { class: "check problem" }, t("room.no_devices")), tiles, consolePanel,
    staff ? h("p", {}, h("a", { href: `#/hearings/${encodeURIComponent(hearingId)}` }, t("room.back"))) : null);

  let me = null; // my participant number, from `joined`
  let hearing = null; // the last participant list (staff only)
  const shown = new Map(); // number → tile

  const byNumber = (n) => hearing && hearing.participants.find((p) => p.number === n && !p.removed_at);
  function label(n) {
    if (n === me) return t("room.your_preview");
    const p = byNumber(n);
    return p ? t("room.tile", { name: p.label || t(`role.${p.role}`), role: t(`role.${p.role}`) })
      : t("room.participant", { n });
  }

  function tile(key, stream, text, muted) {
    const video = h("video", { autoplay: true, playsinline: true, "data-participant": key });
    video.muted = muted;
    video.srcObject = stream;
    video.play().catch(() => { video.muted = true; video.play().catch(() => {}); });
    const caption = h("figcaption", {}, text);
    const el = h("figure", { class: "tile" }, video, caption);
    el.caption = caption;
    el.video = video;
    return el;
  }

  if (local) tiles.append(tile("self", local, t("room.you"), true));

  const conn = connect(hearingId, local, {
    joined(n) {
      me = n;
      root.dataset.me = String(n);
      refresh();
    },
    stream(n, stream) {
      let el = shown.get(n);
      if (!el) {
        // My own number is the witness's preview: the anonymised picture the others see.
        el = tile(`p${n}`, stream, label(n), n === me);
        if (n === me) {
          // It carries pictures only while a protective order hides the face: shown once one comes.
          el.hidden = true;
          el.video.addEventListener("resize", () => { el.hidden = false; });
        }
        shown.set(n, el);
        tiles.append(el);
      }
    },
    gone(n) {
      const el = shown.get(n);
      if (el) el.remove();
      shown.delete(n);
    },
    state(s) {
      if (s === "failed") box.show({ message: t("room.media_failed") });
    },
    error(e) {
      box.show(e);
    },
    closed() {
      if (root.isConnected) where.textContent = t("room.disconnected");
    },
  });

  // Where am I? Staff read it from the participant list; an invitee is in the hearing room when
  // another participant's video plays (the server sends none to the waiting room).
  const frames = new Map();
  function admittedByMedia() {
    let playing = false;
    for (const [n, el] of shown) {
      if (n === me) continue;
      const count = el.video.getVideoPlaybackQuality().totalVideoFrames;
      if (count > (frames.get(n) || 0)) playing = true;
      frames.set(n, count);
    }
    return playing;
  }

  async function refresh() {
    if (!root.isConnected && hearing) return;
    if (staff) {
      try {
        hearing = await get(`/api/v1/hearings/${encodeURIComponent(hearingId)}`);
      } catch (err) {
        box.show(err);
        return;
      }
      for (const [n, el] of shown) el.caption.textContent = label(n);
      const mine = hearing.participants.find((p) => p.number === me && me !== null);
      if (mine) where.textContent = t(`room.where.${mine.location}`);
      drawConsole(mine);
    } else if (me !== null) {
      where.textContent = admittedByMedia() ? t("room.where.hearing_room") : t("room.where.waiting_room");
    }
  }

  if (staff) refresh();
  const timer = setInterval(() => {
    if (!root.isConnected && (staff ? hearing : me !== null)) {
      clearInterval(timer);
      conn.close();
      return;
    }
    refresh();
  }, ROSTER_EVERY_MS);

  async function act(path, body, done) {
    box.clear();
    try {
      await post(path, body);
      announce(done);
    } catch (err) {
      box.show(err);
    }
    await refresh();
  }

  function drawConsole(mine) {
    if (!mine || mine.role !== "judge") return;
    const base = `/api/v1/hearings/${encodeURIComponent(hearingId)}`;
    const button = (text, onclick, cls = "secondary") => h("button", { type: "button", class: cls, onclick }, text);
    const rows = hearing.participants.filter((p) => !p.removed_at && p.id !== mine.id).map((p) => {
      const at = `${base}/participants/${encodeURIComponent(p.id)}`;
      const name = p.label || t(`role.${p.role}`);
      const connected = p.location !== "not_connected" && p.location !== "disconnected";
      const actions = [];
      if (p.location === "waiting_room") {
        actions.push(CALLABLE.includes(p.role)
          ? button(t("console.call"), () => act(`${at}/call`, {}, t("console.called", { name })))
          : button(t("console.admit"), () => act(`${at}/admit`, {}, t("console.admitted", { name }))));
      }
      if (p.location === "hearing_room") {
        actions.push(button(t("console.send_back"), () => act(`${at}/send-back`, {}, t("console.sent_back", { name }))));
      }
      if (connected) {
        const locked = p.microphone === "locked";
        actions.push(button(locked ? t("console.mic_release") : t("console.mic_lock"),
          () => act(`${at}/microphone`, { locked: !locked }, locked ? t("console.mic_released", { name }) : t("console.mic_locked", { name }))));
        actions.push(button(t("console.remove"), () => {
          if (window.confirm(t("console.remove_confirm", { name }))) act(`${at}/remove`, {}, t("console.removed", { name }));
        }));
      }
      return h("tr", {},
        h("th", { scope: "row" }, name), h("td", {}, t(`role.${p.role}`)),
        h("td", {}, t(`location.${p.location}`)),
        h("td", {}, p.microphone ? t(`console.mic.${p.microphone}`) : "—"),
        h("td", { class: "actions" }, actions));
    });
    const moves = hearing.legal_next_states.map((to) => {
      const verb = verbFor(hearing.state, to);
      return verb && button(t(`hearing.verb.${verb}`),
        () => act(`${base}/${verb}`, {}, t("hearing.state_now", { state: t(`hearing_state.${to}`) })), "primary");
    });
    const focused = document.activeElement && consolePanel.contains(document.activeElement)
      ? document.activeElement.textContent : null;
    // The bench enters like everyone else: the judge admits themselves.
    if (mine.location === "waiting_room") {
      moves.unshift(button(t("console.enter"), () => act(`${base}/participants/${encodeURIComponent(mine.id)}/admit`, {},
        t("room.where.hearing_room")), "primary"));
    }
    consolePanel.replaceChildren(
      h("h2", {}, t("console.title")),
      h("p", {}, t("console.state", { state: t(`hearing_state.${hearing.state}`) })),
      h("div", { class: "actions", role: "group", "aria-label": t("hearing.controls") }, moves),
      h("table", {},
        h("thead", {}, h("tr", {}, ["hearing.label", "hearing.role", "hearing.location", "console.microphone", "console.actions"]
          .map((k) => h("th", { scope: "col" }, t(k))))),
        h("tbody", {}, rows)));
    // The list is redrawn every few seconds: keep a keyboard user's place.
    if (focused) [...consolePanel.querySelectorAll("button")].find((b) => b.textContent === focused)?.focus();
  }

  return root;
}
