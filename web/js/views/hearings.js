// Hearings: the list, the booking form, a hearing's page (participants, invitations, the judge's
// state controls); the live room is views/room.js.

import { h, mount } from "../dom.js";
import { t, when } from "../i18n.js";
import { get, post, del } from "../api.js";
import { field, errorBox, onSubmit, heading, announce, loading } from "../ui.js";

const INVITABLE = ["witness", "prosecutor", "defence_counsel", "defendant", "expert", "interpreter",
  "observer", "remote_official"];
/// The verb of `POST /api/v1/hearings/{id}/{verb}` that reaches `to` from `from`.
export function verbFor(from, to) {
  switch (to) {
    case "open": return "open";
    case "in_session": return from === "paused" ? "resume" : "start";
    case "paused": return "pause";
    case "adjourned": return "adjourn";
    case "closed": return "close";
    default: return null;
  }
}

const roleOptions = () => INVITABLE.map((r) => [r, t(`role.${r}`)]);
const state = (s) => h("span", { class: `badge state-${s}` }, t(`hearing_state.${s}`));
const isBench = (ctx) => ctx.session.user.roles.some((r) => r === "judge" || r === "clerk");

export async function hearingsView(_params, ctx) {
  const { hearings } = await get("/api/v1/hearings");
  hearings.sort((a, b) => a.scheduled_at - b.scheduled_at);
  const table = hearings.length
    ? h("table", {},
      h("caption", { class: "visually-hidden" }, t("hearings.title")),
      h("thead", {}, h("tr", {},
        ["hearings.when", "hearings.case", "hearings.hearing_title", "hearings.court", "hearings.state"]
          .map((k) => h("th", { scope: "col" }, t(k))))),
      h("tbody", {}, hearings.map((x) => h("tr", {},
        h("td", {}, when(x.scheduled_at)),
        h("td", {}, h("a", { href: `#/hearings/${encodeURIComponent(x.id)}` }, x.case_reference)),
        h("td", {}, x.title), h("td", {}, x.court), h("td", {}, state(x.state))))))
    : h("p", {}, t("hearings.none"));
  return h("section", {}, heading(t("hearings.title")),
    isBench(ctx) ? h("p", {}, h("a", { class: "button primary", href: "#/hearings/new" }, t("hearings.book"))) : null,
    table);
}

function participantRow(list) {
  const role = field({ label: t("booking.participant_role"), name: "role", type: "select", options: roleOptions(), value: "witness" });
  const label = field({ label: t("booking.participant_label"), name: "label", required: true,
    hint: t("booking.participant_label_hint"), attrs: { maxlength: 200 } });
  const remove = h("button", { type: "button", class: "secondary" }, t("booking.remove_participant"));
  const row = h("fieldset", { class: "participant" }, h("legend", {}, t("booking.participant")), role, label, remove);
  row.value = () => ({ role: role.control.value, label: label.control.value.trim() });
  remove.addEventListener("click", () => {
    row.remove();
    list.querySelector("button, input, select")?.focus();
  });
  return row;
}

export function bookingView(_params, ctx) {
  const box = errorBox();
  const caseRef = field({ label: t("booking.case"), name: "case_reference", required: true, attrs: { maxlength: 200 } });
  const court = field({ label: t("booking.court"), name: "court", required: true, attrs: { maxlength: 200 } });
  const title = field({ label: t("booking.title_field"), name: "title", required: true, attrs: { maxlength: 200 } });
  const at = field({ label: t("booking.when"), name: "scheduled_at", type: "datetime-local", required: true,
    hint: t("booking.when_hint") });
  const list = h("div", { class: "participants" });
  const add = h("button", { type: "button", class: "secondary", onclick: () => {
    const row = participantRow(list);
    list.append(row);
    row.querySelector("select").focus();
  } }, t("booking.add_participant"));
  const form = h("form", { novalidate: true },
    caseRef, court, title, at,
    h("h2", {}, t("booking.participants")), h("p", { class: "hint" }, t("booking.participants_hint")),
    list, add,
    h("p", {}, h("button", { type: "submit", class: "primary" }, t("booking.submit"))));
  let booked = null; // once booked, a retry only sends the invitations still missing
  const invited = new Set();
  onSubmit(form, box, async () => {
    for (const f of [caseRef, court, title, at]) {
      if (!f.control.value.trim()) {
        f.control.focus();
        throw { code: "missing_field", message: t("booking.fill", { field: f.querySelector("label").textContent }) };
      }
    }
    const scheduled = Math.floor(new Date(at.control.value).getTime() / 1000);
    if (!Number.isFinite(scheduled)) {
      at.control.focus();
      throw { message: t("booking.bad_date") };
    }
    const rows = [...list.querySelectorAll("fieldset.participant")];
    for (const r of rows) {
      if (!r.value().label) {
        r.querySelector("input").focus();
        throw { message: t("booking.label_missing") };
      }
    }
    if (!booked) {
      booked = await post("/api/v1/hearings", {
        case_reference: caseRef.control.value.trim(), court: court.control.value.trim(),
        title: title.control.value.trim(), scheduled_at: scheduled });
    }
    const links = [];
    for (const r of rows) {
      if (invited.has(r)) continue;
      const created = await post(`/api/v1/hearings/${encodeURIComponent(booked.id)}/invitations`, r.value());
      invited.add(r);
      links.push({ label: r.value().label, link: created.link });
    }
    ctx.createdLinks = links;
    ctx.notice = t("booking.done");
    ctx.go(`/hearings/${encodeURIComponent(booked.id)}`);
  });
  return h("section", {}, heading(t("booking.title")), box, form);
}

function copyButton(text) {
  const b = h("button", { type: "button", class: "secondary" }, t("invitations.copy"));
  b.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(text);
      announce(t("invitations.copied"));
      b.textContent = t("invitations.copied");
    } catch {
      announce(t("invitations.copy_failed"));
    }
  });
  return b;
}

function linkList(links) {
  if (!links || !links.length) return null;
  return h("div", { class: "links", role: "region", "aria-label": t("invitations.new_links") },
    h("h2", {}, t("invitations.new_links")),
    h("p", { class: "hint" }, t("invitations.shown_once")),
    h("ul", {}, links.map((l) => h("li", {},
      h("span", { class: "label" }, l.label), " ",
      h("input", { type: "text", readonly: true, value: l.link, class: "link-text", "aria-label": t("invitations.link_for", { label: l.label }) }),
      " ", copyButton(l.link)))));
}

export async function hearingView([id], ctx) {
  const root = h("div", {});
  const draw = async () => {
    const [hearing, { invitations }] = await Promise.all([
      get(`/api/v1/hearings/${encodeURIComponent(id)}`),
      get(`/api/v1/hearings/${encodeURIComponent(id)}/invitations`)]);
    const box = errorBox();
    const labels = Object.fromEntries(hearing.participants.map((p) => [p.id, p.label]));
    const controls = hearing.legal_next_states.map((to) => {
      const verb = verbFor(hearing.state, to);
      return verb && h("button", { type: "button", class: "secondary", "data-verb": verb, onclick: async (ev) => {
        ev.target.disabled = true;
        try {
          await post(`/api/v1/hearings/${encodeURIComponent(id)}/${verb}`);
          announce(t("hearing.state_now", { state: t(`hearing_state.${to}`) }));
          await draw();
          root.querySelector("h1")?.focus();
        } catch (err) {
          box.show(err);
          ev.target.disabled = false;
        }
      } }, t(`hearing.verb.${verb}`));
    });
    const invBox = errorBox();
    const role = field({ label: t("booking.participant_role"), name: "role", type: "select", options: roleOptions(), value: "witness" });
    const label = field({ label: t("booking.participant_label"), name: "label", required: true,
      hint: t("booking.participant_label_hint"), attrs: { maxlength: 200 } });
    const invForm = h("form", { class: "inline", novalidate: true }, role, label,
      h("button", { type: "submit", class: "primary" }, t("invitations.create")));
    onSubmit(invForm, invBox, async () => {
      if (!label.control.value.trim()) {
        label.control.focus();
        throw { message: t("booking.label_missing") };
      }
      const created = await post(`/api/v1/hearings/${encodeURIComponent(id)}/invitations`,
        { role: role.control.value, label: label.control.value.trim() });
      ctx.createdLinks = [{ label: label.control.value.trim(), link: created.link }];
      announce(t("invitations.created"));
      await draw();
      root.querySelector(".links input")?.focus();
    });
    const links = linkList(ctx.createdLinks);
    ctx.createdLinks = null;
    // Each participant's latest invitation, and the participants the court has not removed.
    const latest = new Map();
    for (const i of [...invitations].sort((a, b) => a.created_at - b.created_at)) latest.set(i.participant_id, i.id);
    const present = new Set(hearing.participants.filter((p) => !p.removed_at).map((p) => p.id));
    const status = (i) => i.revoked_at ? t("invitations.revoked") : i.redeemed_at ? t("invitations.redeemed")
      : i.expires_at * 1000 < Date.now() ? t("invitations.expired") : t("invitations.pending");
    mount(root, h("section", {},
      heading(`${hearing.case_reference} — ${hearing.title}`),
      h("dl", { class: "facts" },
        h("dt", {}, t("hearings.court")), h("dd", {}, hearing.court),
        h("dt", {}, t("hearings.when")), h("dd", {}, when(hearing.scheduled_at)),
        h("dt", {}, t("hearings.state")), h("dd", { id: "hearing-state" }, state(hearing.state))),
      box,
      controls.length ? h("div", { class: "actions", role: "group", "aria-label": t("hearing.controls") }, controls) : null,
      h("p", {}, h("a", { href: `#/hearings/${encodeURIComponent(id)}/room` }, t("hearing.enter_room"))),
      links,
      h("h2", {}, t("hearing.participants")),
      h("table", {},
        h("thead", {}, h("tr", {}, ["hearing.label", "hearing.role", "hearing.location"].map((k) => h("th", { scope: "col" }, t(k))))),
        h("tbody", {}, hearing.participants.filter((p) => !p.removed_at).map((p) => h("tr", {},
          h("td", {}, p.label), h("td", {}, t(`role.${p.role}`)), h("td", {}, t(`location.${p.location}`)))))),
      h("h2", {}, t("invitations.title")),
      invitations.length
        ? h("table", { id: "invitations" },
          h("thead", {}, h("tr", {}, ["hearing.label", "hearing.role", "invitations.expires", "invitations.status", "invitations.action"]
            .map((k) => h("th", { scope: "col" }, t(k))))),
          h("tbody", {}, invitations.map((i) => h("tr", {},
            h("td", {}, labels[i.participant_id] || "—"), h("td", {}, t(`role.${i.role}`)),
            h("td", {}, when(i.expires_at)), h("td", {}, status(i)),
            h("td", { class: "actions" }, i.revoked_at ? null : h("button", { type: "button", class: "secondary", onclick: async (ev) => {
              if (!window.confirm(t("invitations.revoke_confirm", { label: labels[i.participant_id] || "" }))) return;
              ev.target.disabled = true;
              try {
                await del(`/api/v1/hearings/${encodeURIComponent(id)}/invitations/${encodeURIComponent(i.id)}`);
                announce(t("invitations.revoked_done"));
                await draw();
              } catch (err) {
                invBox.show(err);
                ev.target.disabled = false;
              }
            } }, t("invitations.revoke")),
            // A new link for the same person (lost or expired): on their latest invitation only.
            latest.get(i.participant_id) === i.id && present.has(i.participant_id)
              ? h("button", { type: "button", class: "secondary", onclick: async (ev) => {
                const who = labels[i.participant_id] || "";
                if (!window.confirm(t("invitations.reissue_confirm", { label: who }))) return;
                ev.target.disabled = true;
                try {
                  const made = await post(`/api/v1/hearings/${encodeURIComponent(id)}/invitations/${encodeURIComponent(i.id)}/reissue`, {});
                  ctx.createdLinks = [{ label: who, link: made.link }];
                  announce(t("invitations.reissued", { label: who }));
                  await draw();
                  root.querySelector(".links input")?.focus();
                } catch (err) {
                  invBox.show(err);
                  ev.target.disabled = false;
                }
              } }, t("invitations.reissue"))
              : null)))))
        : h("p", {}, t("invitations.none")),
      h("h3", {}, t("invitations.create")), invBox, invForm));
  };
  mount(root, loading());
  await draw();
  return root;
}
