// The live hearing room, for every participant: a video tile per publisher, captioned with role
// and name (a protected witness's pseudonym to everyone but the bench, as the server names them
// in GET …/me), the viewer's own camera, where the viewer is, and a recording banner whenever the
// hearing is recorded (announced to screen readers). A protected witness also reads, in plain
// words, what of them is hidden and from whom, beside the preview of their own picture as the
// others see it (the server's anonymised stream, sent back to them under their own number).
//
// For the judge, the console: each participant's place, microphone and connection quality
// (refreshed every few seconds) with admit / call / send back / microphone lock / remove; the
// hearing's own moves (start, pause, adjourn, close) and its recording; each participant's camera
// (turn off, allow again); screens (who does not see whose video); consultation rooms
// (open with two to six participants, lock, unlock, end); and the protective-order editor. Every
// control calls the HTTP API; what media reaches whom is decided by the server alone.

import { h } from "../dom.js";
import { t, lang } from "../i18n.js";
import { del, get, post, put } from "../api.js";
import { connect } from "../signal.js";
import { announce, errorBox, field, heading } from "../ui.js";
import { verbFor } from "./hearings.js";

const CALLABLE = ["witness", "expert"];
const BENCH = ["judge", "clerk"];
const REFRESH_EVERY_MS = 2000;
/// The roles that may receive a protected witness's original media (the public never does).
const RAW_ROLES = ["judge", "clerk", "prosecutor", "defence_counsel", "defendant", "expert", "interpreter",
  "remote_official"];
const MAX_CONSULTATION = 6;

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

/// "the judge and the prosecutor": roles as a list in the user's language.
function rolesList(roles) {
  const names = roles.map((r) => t(`role_the.${r}`));
  return new Intl.ListFormat(lang(), { style: "long", type: "conjunction" }).format(names);
}

/// The plain statement of a protective order, seen from the protected witness: what is hidden
/// and from whom ("Your face is masked and your voice distorted for everyone except the judge").
export function protectionStatement(order) {
  if (!order) return t("protection.none");
  const face = { masked: "masked", full_frame: "silhouette" }[order.face] || null;
  const voice = order.voice === "distorted";
  const key = face && voice ? `protection.${face}_voice` : face ? `protection.${face}` : "protection.voice";
  const raw = order.raw_to.filter((r) => RAW_ROLES.includes(r));
  const whom = raw.length ? t("protection.for_all_except", { roles: rolesList(raw) }) : t("protection.for_all");
  const kept = order.keep_original && raw.length ? ` ${t("protection.original_kept", { roles: rolesList(raw) })}` : "";
  return t(key, { whom }) + kept;
}

/// A connection-quality cell: the grade in words, and the figures behind it.
function quality(c) {
  if (!c) return "—";
  const rtt = c.rtt_ms === null || c.rtt_ms === undefined ? "—" : String(c.rtt_ms);
  return h("span", { class: `quality ${c.grade}` }, t(`console.quality.${c.grade}`),
    h("span", { class: "figures" }, " ", t("console.quality_figures",
      { loss: Number(c.loss_percent).toFixed(1), rtt, kbps: c.kbps })));
}

/// The room itself. `staff`: the viewer may read the hearing's participants (and, as its judge,
/// use the console); an invitee reads only its own situation (GET …/me).
/// `onLocation(location)`: told where the viewer is at each refresh (the join page retitles
/// itself when the invitee leaves the waiting room).
export function liveRoom({ hearingId, local, staff, title = t("room.title"), onLocation = () => {} }) {
  const box = errorBox();
  const where = h("p", { id: "room-status", class: "notice", role: "status" }, t("room.connecting"));
  // Always in the page, so that screen readers announce each change of its text.
  const banner = h("p", { id: "recording-banner", class: "recording-banner", role: "status",
    "aria-live": "polite", "aria-atomic": "true", "data-on": "false" });
  const protection = h("section", { id: "protection", class: "protection", hidden: true,
    "aria-labelledby": "protection-title" });
  const tiles = h("div", { class: "tiles", "aria-label": t("room.videos"), role: "region" });
  const consolePanel = h("div", { id: "console" });
  const root = h("section", { class: "room" }, title ? heading(title) : null, banner, where, box,
    local ? null : h("p", { class: "check problem" }, t("room.no_devices")), protection, tiles, consolePanel,
    staff ? h("p", {}, h("a", { href: `#/hearings/${encodeURIComponent(hearingId)}` }, t("room.back"))) : null);

  let me = null; // my participant number, from `joined`
  let mine = null; // my own situation (GET …/me)
  let hearing = null; // the last participant list (staff only)
  let recording = null; // as the signaling socket last said
  const shown = new Map(); // number → tile

  function label(n) {
    if (n === me) return mine && mine.pseudonym ? t("room.your_preview_as", { pseudonym: mine.pseudonym })
      : t("room.your_preview");
    const p = mine && mine.participants.find((x) => x.number === n);
    if (!p) return t("room.participant", { n });
    const role = t(`role.${p.role}`);
    return p.pseudonym ? t("room.tile_protected", { name: p.name, pseudonym: p.pseudonym, role })
      : t("room.tile", { name: p.name, role });
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

  function showRecording(on) {
    if (on === recording) return;
    const before = recording;
    recording = on;
    banner.dataset.on = String(on);
    // Nothing to say before the first recording; after one, say that it stopped.
    banner.textContent = on ? t("room.recording_on") : before ? t("room.recording_off") : "";
  }

  // The protected witness's panel: the statement, and the preview tile once pictures come.
  const statement = h("p", { id: "protection-statement" });
  const pseudonymLine = h("p", { id: "protection-pseudonym" });
  const previewHint = h("p", { class: "hint" }, t("protection.preview_hint"));
  const previewSlot = h("div", { class: "preview-slot" });
  protection.append(h("h2", { id: "protection-title" }, t("protection.title")),
    h("div", { class: "protection-body" }, h("div", {}, statement, pseudonymLine, previewHint), previewSlot));

  /// Whether my own protective order hides my face (then the server sends my preview).
  function faceHidden() {
    return Boolean(mine && mine.protective_order && mine.protective_order.face !== "none");
  }

  function drawProtection() {
    if (!mine || mine.role !== "witness") return;
    const preview = shown.get(me);
    if (preview && preview.hidden === faceHidden()) {
      preview.hidden = !faceHidden();
      if (!preview.hidden) preview.video.play().catch(() => {});
    }
    const text = protectionStatement(mine.protective_order);
    if (statement.textContent !== text) {
      // A change after the first showing (the judge changed the order) is announced.
      if (statement.textContent) announce(text);
      statement.textContent = text;
    }
    pseudonymLine.textContent = mine.pseudonym ? t("protection.pseudonym", { pseudonym: mine.pseudonym }) : "";
    pseudonymLine.hidden = !mine.pseudonym;
    // The server sends the preview only while the face is hidden.
    previewHint.hidden = !faceHidden();
    protection.hidden = false;
  }

  // A dropped connection (the socket closed, or the media failed) is made again at once and
  // then after 1, 2, 4… up to 15 s, for about the 5 minutes in which the server keeps the
  // participant's place (docs/protocol.md); "already_connected" means the server has not yet
  // seen the old connection drop: try again. Then the page says to reload.
  let conn = null;
  let attempts = 0;
  let retry = null;
  const MAX_ATTEMPTS = 25;
  function reconnect() {
    if (retry || !root.isConnected) return;
    if (conn) conn.close();
    conn = null;
    for (const el of shown.values()) el.remove();
    shown.clear();
    if (attempts >= MAX_ATTEMPTS) {
      where.textContent = t("room.disconnected");
      return;
    }
    attempts += 1;
    where.textContent = t("room.reconnecting");
    announce(t("room.reconnecting"));
    retry = setTimeout(() => {
      retry = null;
      if (root.isConnected) conn = connect(hearingId, local, handlers);
    }, attempts === 1 ? 0 : Math.min(15_000, 1000 * 2 ** (attempts - 2)));
  }

  const handlers = {
    joined(n) {
      me = n;
      root.dataset.me = String(n);
      if (attempts > 0) announce(t("room.reconnected"));
      refresh();
    },
    recording: showRecording,
    stream(n, stream) {
      let el = shown.get(n);
      if (!el) {
        // My own number is the witness's preview: the anonymised picture the others see.
        el = tile(`p${n}`, stream, label(n), n === me);
        shown.set(n, el);
        if (n === me) {
          // It carries pictures only while a protective order hides the face: shown while one
          // does (drawProtection). Never left rendered-but-hidden while pictures may come, as a
          // browser does not play a muted video nobody can see.
          el.id = "own-preview";
          el.hidden = !faceHidden();
          previewSlot.append(el);
        } else {
          tiles.append(el);
        }
      }
    },
    gone(n) {
      const el = shown.get(n);
      if (el) el.remove();
      shown.delete(n);
    },
    state(s) {
      if (s === "connected") attempts = 0;
      if (s === "failed") reconnect();
    },
    error(e) {
      if (e.code === "already_connected" && attempts > 0) reconnect();
      else box.show(e);
    },
    closed() {
      reconnect();
    },
  };
  conn = connect(hearingId, local, handlers);

  const base = `/api/v1/hearings/${encodeURIComponent(hearingId)}`;

  async function refresh() {
    if (!root.isConnected && (staff ? hearing : mine)) return;
    try {
      mine = await get(`${base}/me`);
      if (staff) hearing = await get(base);
    } catch (err) {
      box.show(err);
      return;
    }
    for (const [n, el] of shown) el.caption.textContent = label(n);
    if (me !== null) where.textContent = t(`room.where.${mine.location}`);
    onLocation(mine.location);
    drawProtection();
    if (staff) {
      const seat = hearing.participants.find((p) => p.id === mine.participant_id);
      if (seat && seat.role === "judge") drawConsole(seat);
    }
  }

  refresh();
  const timer = setInterval(() => {
    if (!root.isConnected && (staff ? hearing : mine)) {
      clearInterval(timer);
      clearTimeout(retry);
      if (conn) conn.close();
      return;
    }
    refresh();
  }, REFRESH_EVERY_MS);

  async function act(method, path, body, done) {
    box.clear();
    try {
      await method(path, body);
      announce(done);
    } catch (err) {
      box.show(err);
      return false;
    }
    await refresh();
    return true;
  }

  // --- the judge's console ---------------------------------------------------------------

  const consoleLive = h("div", {}); // redrawn at every refresh
  const editor = h("div", { id: "order-editor" }); // the protective-order editor, kept across redraws
  const chosen = new Set(); // participants ticked for a consultation room
  const nameOf = (p) => p.label || t(`role.${p.role}`);
  // The screens: kept across redraws, so that a choice in progress survives the refresh.
  const screenWho = field({ label: t("screen.subscriber"), name: "screen-subscriber", type: "select", options: [] });
  const screenWhose = field({ label: t("screen.publisher"), name: "screen-publisher", type: "select", options: [] });
  const screenList = h("div", {});
  const screenForm = h("form", { class: "inline", "aria-label": t("screen.title") }, screenWho, screenWhose,
    h("button", { type: "submit", class: "secondary", "data-key": "screen-put-up" }, t("screen.put_up")));
  screenForm.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const [subscriber, publisher] = [screenWho.control.value, screenWhose.control.value];
    const byId = new Map(hearing.participants.map((p) => [p.id, p]));
    if (!subscriber || !publisher || subscriber === publisher) {
      box.show({ message: t("screen.same") });
      return;
    }
    await act(post, `${base}/screens`, { subscriber, publisher, screened: true },
      t("screen.up", { subscriber: nameOf(byId.get(subscriber)), publisher: nameOf(byId.get(publisher)) }));
  });
  const screensPanel = h("div", { id: "screens" }, h("h3", {}, t("screen.title")),
    h("p", { class: "hint" }, t("screen.hint")), screenList, screenForm);

  /// Sets a select's options to `people`, keeping its choice when that person is still there.
  function choices(select, people) {
    const wanted = people.map((p) => `${p.id}\u0000${nameOf(p)}`).join("\u0001");
    if (select.dataset.people === wanted) return;
    const was = select.value;
    select.replaceChildren(...people.map((p) => h("option", { value: p.id }, nameOf(p))));
    if (people.some((p) => p.id === was)) select.value = was;
    select.dataset.people = wanted;
  }

  /// The screens up now, each with the button that lifts it; and the choices for a new one.
  function drawScreens() {
    const present = hearing.participants.filter((p) => !p.removed_at
      && p.location !== "not_connected" && p.location !== "disconnected");
    choices(screenWho.control, present);
    choices(screenWhose.control, present);
    const byId = new Map(hearing.participants.map((p) => [p.id, p]));
    const named = (id) => (byId.get(id) ? nameOf(byId.get(id)) : "?");
    const items = (hearing.screens || []).map((sc) => {
      const names = { subscriber: named(sc.subscriber), publisher: named(sc.publisher) };
      return h("li", { "data-screen": `${sc.subscriber} ${sc.publisher}` }, t("screen.item", names), " ",
        h("button", { type: "button", class: "secondary", "data-key": `lift-${sc.subscriber}-${sc.publisher}`,
          onclick: () => act(post, `${base}/screens`, { ...sc, screened: false }, t("screen.lifted", names)) },
        t("screen.lift")));
    });
    screenList.replaceChildren(items.length ? h("ul", {}, items) : h("p", {}, t("screen.none")));
  }

  // The console is redrawn every few seconds: a redraw between a pointer's press and its release
  // would replace the button under it and swallow the click. Hold redraws meanwhile.
  let pressing = false;
  consolePanel.addEventListener("pointerdown", () => { pressing = true; });
  window.addEventListener("pointerup", () => setTimeout(() => { pressing = false; }, 0), true);

  function drawConsole(seat) {
    if (pressing) return; // the next refresh draws it
    if (!consolePanel.firstChild) {
      consolePanel.append(h("h2", {}, t("console.title")), consoleLive, screensPanel, editor);
    }
    drawScreens();
    const button = (text, onclick, cls = "secondary", key = text) =>
      h("button", { type: "button", class: cls, onclick, "data-key": key }, text);
    const others = hearing.participants.filter((p) => !p.removed_at && p.id !== seat.id);
    const connected = (p) => p.location !== "not_connected" && p.location !== "disconnected";
    const rows = others.map((p) => {
      const at = `${base}/participants/${encodeURIComponent(p.id)}`;
      const name = nameOf(p);
      const actions = [];
      if (p.location === "waiting_room") {
        actions.push(CALLABLE.includes(p.role)
          ? button(t("console.call"), () => act(post, `${at}/call`, {}, t("console.called", { name })), "secondary", `call-${p.id}`)
          : button(t("console.admit"), () => act(post, `${at}/admit`, {}, t("console.admitted", { name })), "secondary", `admit-${p.id}`));
      }
      if (p.location === "hearing_room") {
        actions.push(button(t("console.send_back"), () => act(post, `${at}/send-back`, {}, t("console.sent_back", { name })),
          "secondary", `back-${p.id}`));
      }
      if (connected(p)) {
        const locked = p.microphone === "locked";
        actions.push(button(locked ? t("console.mic_release") : t("console.mic_lock"),
          () => act(post, `${at}/microphone`, { locked: !locked },
            locked ? t("console.mic_released", { name }) : t("console.mic_locked", { name })), "secondary", `mic-${p.id}`));
        const cameraOn = p.camera_on !== false;
        actions.push(button(cameraOn ? t("console.camera_off") : t("console.camera_allow"),
          () => act(post, `${at}/camera`, { on: !cameraOn },
            cameraOn ? t("console.camera_turned_off", { name }) : t("console.camera_allowed", { name })),
          "secondary", `camera-${p.id}`));
        actions.push(button(t("console.remove"), () => {
          if (window.confirm(t("console.remove_confirm", { name }))) act(post, `${at}/remove`, {}, t("console.removed", { name }));
        }, "secondary", `remove-${p.id}`));
      }
      if (p.role === "witness") {
        actions.push(button(t("order.edit"), () => openEditor(p), "secondary", `order-${p.id}`));
      }
      let pick = "—";
      if (!BENCH.includes(p.role) && connected(p)) {
        const id = `consult-${p.id}`;
        pick = h("span", {},
          h("input", { type: "checkbox", id, "data-key": id, checked: chosen.has(p.id),
            onchange: (e) => { if (e.target.checked) chosen.add(p.id); else chosen.delete(p.id); } }),
          h("label", { for: id, class: "visually-hidden" }, t("consultation.choose", { name })));
      }
      const where = p.location === "consultation_room" && p.consultation
        ? t("consultation.in_room", { n: p.consultation }) : t(`location.${p.location}`);
      return h("tr", { "data-participant": p.id },
        h("th", { scope: "row" }, name), h("td", {}, t(`role.${p.role}`)),
        h("td", {}, where),
        h("td", {}, p.microphone ? t(`console.mic.${p.microphone}`) : "—"),
        h("td", {}, typeof p.camera_on === "boolean" ? t(p.camera_on ? "console.cam.on" : "console.cam.off") : "—"),
        h("td", { class: "connection" }, quality(p.connection)),
        h("td", {}, pick),
        h("td", { class: "actions" }, actions));
    });
    const moves = hearing.legal_next_states.map((to) => {
      const verb = verbFor(hearing.state, to);
      return verb && button(t(`hearing.verb.${verb}`),
        () => act(post, `${base}/${verb}`, {}, t("hearing.state_now", { state: t(`hearing_state.${to}`) })), "primary");
    });
    // The bench enters like everyone else: the judge admits themselves.
    if (seat.location === "waiting_room") {
      moves.unshift(button(t("console.enter"), () => act(post, `${base}/participants/${encodeURIComponent(seat.id)}/admit`, {},
        t("room.where.hearing_room")), "primary"));
    }
    if (["open", "in_session", "paused"].includes(hearing.state)) {
      moves.push(mine.recording
        ? button(t("console.recording_stop"), () => act(post, `${base}/recording/stop`, undefined, t("room.recording_off")),
          "secondary", "recording")
        : button(t("console.recording_start"), () => act(post, `${base}/recording/start`, undefined, t("room.recording_on")),
          "secondary", "recording"));
    }
    const focused = document.activeElement && consoleLive.contains(document.activeElement)
      ? document.activeElement.dataset.key : null;
    consoleLive.replaceChildren(
      h("p", {}, t("console.state", { state: t(`hearing_state.${hearing.state}`) })),
      h("div", { class: "actions", role: "group", "aria-label": t("hearing.controls") }, moves),
      h("table", {},
        h("thead", {}, h("tr", {}, ["hearing.label", "hearing.role", "hearing.location", "console.microphone",
          "console.camera", "console.connection", "consultation.column", "console.actions"]
          .map((k) => h("th", { scope: "col" }, t(k))))),
        h("tbody", {}, rows)),
      consultations(others));
    // The list is redrawn every few seconds: keep a keyboard user's place.
    if (focused) [...consoleLive.querySelectorAll("[data-key]")].find((b) => b.dataset.key === focused)?.focus();
  }

  /// The consultation rooms open now, and the button that opens one for the ticked participants.
  function consultations(others) {
    const byId = new Map(others.map((p) => [p.id, p]));
    for (const id of [...chosen]) {
      const p = byId.get(id);
      if (!p || p.location === "not_connected" || p.location === "disconnected") chosen.delete(id);
    }
    const open = async () => {
      const ids = [...chosen];
      if (ids.length < 2 || ids.length > MAX_CONSULTATION) {
        box.show({ message: t("consultation.how_many", { max: MAX_CONSULTATION }) });
        return;
      }
      const names = ids.map((id) => nameOf(byId.get(id))).join(", ");
      if (await act(post, `${base}/consultations`, { participants: ids }, t("consultation.opened", { names }))) chosen.clear();
    };
    const rooms = (hearing.consultations || []).map((c) => {
      const at = `${base}/consultations/${c.consultation}`;
      const names = c.participants.map((id) => (byId.get(id) ? nameOf(byId.get(id)) : "?")).join(", ");
      const n = c.consultation;
      return h("li", { "data-consultation": String(n) },
        h("span", {}, t("consultation.room", { n, names }), " ",
          h("span", { class: "badge" }, c.locked ? t("consultation.locked") : t("consultation.unlocked"))), " ",
        c.locked
          ? h("button", { type: "button", class: "secondary", "data-key": `unlock-${n}`,
            onclick: () => act(post, `${at}/unlock`, undefined, t("consultation.unlocked_now", { n })) }, t("consultation.unlock"))
          : h("button", { type: "button", class: "secondary", "data-key": `lock-${n}`,
            onclick: () => act(post, `${at}/lock`, undefined, t("consultation.locked_now", { n })) }, t("consultation.lock")),
        h("button", { type: "button", class: "secondary", "data-key": `end-${n}`,
          onclick: () => act(del, at, undefined, t("consultation.ended", { n })) }, t("consultation.end")));
    });
    return h("div", { id: "consultations" },
      h("h3", {}, t("consultation.title")),
      rooms.length ? h("ul", {}, rooms) : h("p", {}, t("consultation.none")),
      h("p", { class: "hint" }, t("consultation.hint", { max: MAX_CONSULTATION })),
      h("button", { type: "button", class: "secondary", "data-key": "consult-open", onclick: open }, t("consultation.open")));
  }

  /// The protective-order editor for witness `p`: pseudonym, voice, face, and the roles that
  /// receive the original. Prefilled with the order in force, if any.
  async function openEditor(p) {
    const at = `${base}/participants/${encodeURIComponent(p.id)}/protective-order`;
    let order = null;
    try {
      order = (await get(at)).protective_order;
    } catch (err) {
      if (err.status !== 404) {
        box.show(err);
        return;
      }
    }
    const formBox = errorBox();
    const name = nameOf(p);
    const pseudonym = field({ label: t("order.pseudonym"), name: "pseudonym", required: true,
      value: order ? order.pseudonym : "", hint: t("order.pseudonym_hint"), attrs: { maxlength: 60 } });
    const voice = field({ label: t("order.voice"), name: "voice", type: "select", value: order ? order.voice : "distorted",
      options: [["none", t("order.voice.none")], ["distorted", t("order.voice.distorted")]] });
    const face = field({ label: t("order.face"), name: "face", type: "select", value: order ? order.face : "masked",
      options: [["none", t("order.face.none")], ["masked", t("order.face.masked")], ["full_frame", t("order.face.full_frame")]] });
    const raw = RAW_ROLES.map((r) => field({ label: t(`role.${r}`), name: `raw-${r}`, type: "checkbox",
      value: order ? order.raw_to.includes(r) : r === "judge" }));
    const keep = field({ label: t("order.keep_original"), name: "keep-original", type: "checkbox",
      value: order ? order.keep_original === true : false });
    const close = () => {
      editor.replaceChildren();
      consoleLive.querySelector(`[data-key="order-${p.id}"]`)?.focus();
    };
    const save = async (ev) => {
      ev.preventDefault();
      formBox.clear();
      const body = { pseudonym: pseudonym.control.value.trim(), voice: voice.control.value, face: face.control.value,
        raw_to: RAW_ROLES.filter((_, i) => raw[i].control.checked), keep_original: keep.control.checked };
      try {
        await put(at, body);
      } catch (err) {
        formBox.show(err);
        return;
      }
      announce(t("order.saved", { name }));
      close();
      await refresh();
    };
    const lift = async () => {
      formBox.clear();
      try {
        await del(at);
      } catch (err) {
        formBox.show(err);
        return;
      }
      announce(t("order.lifted", { name }));
      close();
      await refresh();
    };
    const form = h("form", { class: "order", novalidate: true, onsubmit: save },
      h("h3", { id: "order-title", tabindex: "-1" }, t("order.title", { name })),
      formBox, pseudonym, voice, face,
      h("fieldset", {}, h("legend", {}, t("order.raw_to")), raw),
      keep,
      h("div", { class: "actions" },
        h("button", { type: "submit", class: "primary" }, t("order.save")),
        order ? h("button", { type: "button", class: "secondary", onclick: lift }, t("order.lift")) : null,
        h("button", { type: "button", class: "secondary", onclick: close }, t("order.cancel"))));
    editor.replaceChildren(form);
    form.querySelector("h3").focus();
  }

  return root;
}
