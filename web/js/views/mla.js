// Mutual legal assistance: inbox and outbox of the user's authority, a new draft, and a request's
// page (the form section by section with the server's completeness check pointing at fields,
// attachments, the legal next steps, deadlines, the timeline and the evidence package).

import { h, mount, uid } from "../dom.js";
import { t, has, when } from "../i18n.js";
import { api, get, post, put } from "../api.js";
import { field, errorBox, onSubmit, heading, announce } from "../ui.js";
import { EIO, MLA } from "../forms.js";

/// Statuses whose move needs a note (the server refuses them without one).
const NOTE_REQUIRED = ["INFO_REQUESTED", "REFUSED", "POSTPONED", "DIFFERENT_MEASURE_PROPOSED", "WITHDRAWN"];
const enc = encodeURIComponent;
const status = (s) => h("span", { class: `badge status-${s.toLowerCase()}` }, t(`mla_status.${s}`));

function deadlineText(d) {
  return `${t(`deadline.${d.name}`)}: ${when(d.due_at)} (${t(`deadline_state.${d.state}`)})`;
}

function requestTable(list, id) {
  if (!list.length) return h("p", {}, t("mla.empty"));
  return h("table", { id },
    h("thead", {}, h("tr", {}, ["mla.reference", "mla.kind", "mla.status", "mla.deadlines", "mla.updated"]
      .map((k) => h("th", { scope: "col" }, t(k))))),
    h("tbody", {}, list.map((r) => h("tr", {},
      h("td", {}, h("a", { href: `#/mla/${enc(r.id)}` }, r.reference), r.urgent ? h("span", { class: "badge urgent" }, t("mla.urgent_badge")) : null),
      h("td", {}, t(`mla_kind.${r.kind}`)),
      h("td", {}, status(r.status)),
      h("td", {}, r.deadlines.filter((d) => d.state === "running").map((d) => h("div", {}, deadlineText(d)))),
      h("td", {}, when(r.updated_at))))));
}

export async function mlaListView() {
  const { authority, requests } = await get("/api/v1/mla/requests");
  const inbox = requests.filter((r) => r.box === "inbox");
  const outbox = requests.filter((r) => r.box === "outbox");
  return h("section", {}, heading(t("mla.title")),
    h("p", {}, t("mla.authority", { code: authority })),
    h("p", {}, h("a", { class: "button primary", href: "#/mla/new" }, t("mla.new"))),
    h("h2", {}, t("mla.inbox")), requestTable(inbox, "inbox"),
    h("h2", {}, t("mla.outbox")), requestTable(outbox, "outbox"));
}

export async function mlaNewView(_params, ctx) {
  const { authorities } = await get("/api/v1/authorities");
  const box = errorBox();
  const kind = field({ label: t("mla.kind"), name: "kind", type: "select", value: "eio",
    options: [["eio", t("mla_kind.eio")], ["mla", t("mla_kind.mla")]] });
  const recipient = field({ label: t("mla.recipient"), name: "recipient", type: "select", required: true,
    options: [["", t("common.choose")], ...authorities.filter((a) => !a.local)
      .map((a) => [a.code, `${a.name} (${a.country}, ${a.code})`])] });
  const form = h("form", { class: "narrow", novalidate: true }, kind, recipient,
    h("button", { type: "submit", class: "primary" }, t("mla.create")));
  onSubmit(form, box, async () => {
    if (!recipient.control.value) {
      recipient.control.focus();
      throw { message: t("mla.choose_recipient") };
    }
    const view = await post("/api/v1/mla/requests", { kind: kind.control.value, recipient: recipient.control.value, form: {} });
    ctx.notice = t("mla.created", { reference: view.request.reference });
    ctx.go(`/mla/${enc(view.request.id)}`);
  });
  return h("section", {}, heading(t("mla.new")), box, form);
}

// --- the form -------------------------------------------------------------------------------

function control(spec, path, value) {
  const label = t(`form.${spec.label}`);
  const hint = spec.hint ? t(spec.hint) : undefined;
  let f;
  switch (spec.kind) {
    case "textarea": f = field({ label, name: spec.name, type: "textarea", value, hint }); break;
    case "bool": f = field({ label, name: spec.name, type: "checkbox", value, hint }); break;
    case "int": f = field({ label, name: spec.name, type: "number", value, hint, attrs: { step: 1 } }); break;
    case "date": f = field({ label, name: spec.name, value, hint: hint || t("hint.date"), attrs: { placeholder: "YYYY-MM-DD" } }); break;
    case "tristate": f = field({ label, name: spec.name, type: "select", hint,
      value: value === true ? "yes" : value === false ? "no" : "",
      options: [["", t("common.unknown")], ["yes", t("common.yes")], ["no", t("common.no")]] }); break;
    case "select": f = field({ label, name: spec.name, type: "select", value, hint,
      options: [["", t("common.choose")], ...spec.options.map((o) => [o, has(`option.${o}`) ? t(`option.${o}`) : o])] }); break;
    default: f = field({ label, name: spec.name, value, hint });
  }
  f.control.dataset.path = path;
  f.control.dataset.kind = spec.kind;
  return f;
}

/// Fieldsets for `fields` under `base` (a path prefix such as "section_g" or ""), filled from `data`.
function fieldsFor(fields, base, data) {
  data = data || {};
  return fields.map((spec) => {
    const path = base ? `${base}.${spec.name}` : spec.name;
    if (spec.kind === "list") return listFor(spec, path, data[spec.name] || []);
    if (spec.kind === "group") {
      return h("fieldset", { class: "group", "data-path": path, "data-group": spec.name },
        h("legend", {}, t(`form.${spec.label}`)), fieldsFor(spec.fields, path, data[spec.name]));
    }
    return control(spec, path, data[spec.name]);
  });
}

function listFor(spec, path, items) {
  const wrap = h("fieldset", { class: "list", "data-path": path, "data-list": spec.name },
    h("legend", {}, t(`form.${spec.label}`)));
  const holder = h("div", {});
  const renumber = () => {
    [...holder.children].forEach((item, i) => {
      item.querySelector("legend").textContent = t(`form.${spec.item}`, { n: i + 1 });
      item.dataset.path = `${path}[${i}]`;
      for (const c of item.querySelectorAll("[data-path]")) {
        c.dataset.path = c.dataset.path.replace(new RegExp(`^${path.replace(/[.[\]]/g, "\\$&")}\\[\\d+\\]`), `${path}[${i}]`);
      }
    });
  };
  const addItem = (data) => {
    const remove = h("button", { type: "button", class: "secondary" }, t("form.remove_item"));
    const item = h("fieldset", { class: "item", "data-item": "1" }, h("legend", {}),
      fieldsFor(spec.fields, `${path}[${holder.children.length}]`, data), remove);
    remove.addEventListener("click", () => { item.remove(); renumber(); add.focus(); });
    holder.append(item);
    renumber();
    return item;
  };
  const add = h("button", { type: "button", class: "secondary add", "data-path": path }, t(`form.add_item`, { item: t(`form.${spec.item}`, { n: "" }).trim() }));
  add.addEventListener("click", () => addItem({}).querySelector("input, select, textarea").focus());
  items.forEach((d) => addItem(d));
  wrap.append(holder, add);
  return wrap;
}

/// Reads the controls back into the JSON form: empty texts are left out, and so are groups and
/// list items with nothing in them.
function collect(container) {
  const read = (el) => {
    const out = {};
    for (const child of el.children) {
      if (child.matches("fieldset.section")) {
        const v = read(child);
        if (child.dataset.flat) Object.assign(out, v);
        else if (Object.keys(v).length) out[child.dataset.section] = v;
      } else if (child.matches("fieldset.list")) {
        const items = [...child.querySelectorAll(":scope > div > fieldset.item")].map(read).filter((v) => Object.keys(v).length);
        if (items.length) out[child.dataset.list] = items;
      } else if (child.matches("fieldset.group")) {
        const v = read(child);
        if (Object.keys(v).length) out[child.dataset.group] = v;
      } else if (child.matches(".field")) {
        const c = child.querySelector("[data-path]");
        const v = valueOf(c);
        if (v !== undefined) out[c.name] = v;
      } else if (!child.matches("button, legend")) {
        Object.assign(out, read(child));
      }
    }
    return out;
  };
  return read(container);
}

function valueOf(c) {
  switch (c.dataset.kind) {
    case "bool": return c.checked ? true : undefined;
    case "tristate": return c.value === "yes" ? true : c.value === "no" ? false : undefined;
    case "int": return c.value.trim() === "" ? undefined : Number.parseInt(c.value, 10);
    default: return c.value.trim() === "" ? undefined : c.value.trim();
  }
}

/// The control (or list, or group) the server's `field` path names; for a path inside a list
/// item that does not exist yet, the list's "add" button.
function target(form, path) {
  let p = path;
  while (p) {
    const el = form.querySelector(`[data-path="${CSS.escape(p)}"]`);
    if (el) {
      if (el.matches("fieldset")) return el.querySelector(":scope > button.add") || el.querySelector("input, select, textarea") || el;
      return el;
    }
    const cut = Math.max(p.lastIndexOf("."), p.lastIndexOf("["));
    p = cut > 0 ? p.slice(0, cut) : "";
  }
  return null;
}

function labelOf(form, path) {
  const el = target(form, path);
  if (!el) return path;
  if (el.matches("button.add")) return el.closest("fieldset").querySelector("legend").textContent;
  if (el.id) {
    const l = form.querySelector(`label[for="${CSS.escape(el.id)}"]`);
    if (l) return l.textContent.replace(/\s*\*$/, "");
  }
  return el.textContent || path;
}

function missingList(form, missing) {
  if (!missing.length) return h("p", { class: "ok", id: "completeness" }, t("mla.complete"));
  return h("div", { class: "missing", id: "completeness" },
    h("h3", {}, t("mla.missing_title", { n: missing.length })),
    h("ul", {}, missing.map((m) => {
      const section = m.field.split(/[.[]/)[0];
      const sectionLabel = form.querySelector(`fieldset.section[data-section="${CSS.escape(section)}"] > legend`)?.textContent;
      return h("li", {}, h("a", { href: "#", "data-field": m.field, onclick: (ev) => {
        ev.preventDefault();
        const el = target(form, m.field);
        if (!el) return;
        el.closest("details")?.setAttribute("open", "");
        el.focus();
        el.scrollIntoView({ block: "center" });
      } }, sectionLabel ? `${sectionLabel} — ${labelOf(form, m.field)}` : labelOf(form, m.field)), ": ", m.message);
    })));
}

function formEditor(view, onSaved) {
  const sections = view.request.kind === "eio" ? EIO : MLA;
  const box = errorBox();
  const body = h("div", { class: "sections" }, sections.map((s) => {
    const id = uid("section");
    const data = s.flat ? view.form : (view.form || {})[s.name];
    return h("fieldset", { class: "section", id, "data-section": s.name, "data-flat": s.flat ? "1" : null },
      h("legend", {}, t(`form.${s.label}`)), fieldsFor(s.fields, s.flat ? "" : s.name, data));
  }));
  const toc = h("nav", { class: "toc", "aria-label": t("mla.sections") },
    h("ol", {}, [...body.children].map((fs) => h("li", {}, h("a", { href: "#", onclick: (ev) => {
      ev.preventDefault();
      fs.querySelector("input, select, textarea, button")?.focus();
    } }, fs.querySelector("legend").textContent)))));
  const form = h("form", { class: "request-form", novalidate: true }, toc, body,
    h("p", { class: "sticky" }, h("button", { type: "submit", class: "primary", id: "save-form" }, t("mla.save"))));
  const missing = h("div", {}, missingList(form, view.missing));
  onSubmit(form, box, async () => {
    const saved = await put(`/api/v1/mla/requests/${enc(view.request.id)}/form`, { form: collect(body) });
    mount(missing, missingList(form, saved.missing));
    announce(saved.missing.length ? t("mla.saved_missing", { n: saved.missing.length }) : t("mla.saved_complete"));
    onSaved(saved);
  });
  return h("section", { "aria-labelledby": "form-title" }, h("h2", { id: "form-title" }, t("mla.form")), missing, box, form);
}

// --- a request ------------------------------------------------------------------------------

function transitions(view, redraw) {
  if (!view.next.length) return null;
  const box = errorBox();
  const to = field({ label: t("mla.move_to"), name: "to", type: "select",
    options: view.next.map((s) => [s, t(`mla_status.${s}`)]) });
  const note = field({ label: t("mla.note"), name: "note", type: "textarea", hint: t("mla.note_hint") });
  const form = h("form", { class: "inline", novalidate: true, id: "transition" }, to, note,
    h("button", { type: "submit", class: "primary" }, t("mla.move")));
  onSubmit(form, box, async () => {
    const body = { to: to.control.value };
    if (note.control.value.trim()) body.note = note.control.value.trim();
    else if (NOTE_REQUIRED.includes(body.to)) {
      note.control.focus();
      throw { message: t("mla.note_needed") };
    }
    try {
      await post(`/api/v1/mla/requests/${enc(view.request.id)}/transitions`, body);
    } catch (err) {
      if (err.code === "incomplete") {
        box.show(err, h("p", {}, t("mla.see_missing")));
        document.querySelector("#completeness a")?.focus();
        return;
      }
      throw err;
    }
    announce(t("mla.moved", { status: t(`mla_status.${body.to}`) }));
    await redraw();
  });
  return h("section", { "aria-labelledby": "moves-title" }, h("h2", { id: "moves-title" }, t("mla.moves")), box, form);
}

/// Executing side: return the sealed record of a closed hearing held for this request (its
/// court booked it under one of the request's references), which moves the request to
/// EVIDENCE_TRANSMITTED. Shown while that move is legal.
function hearingRecord(view, redraw, ctx) {
  const r = view.request;
  if (r.side !== "executing" || !view.next.includes("EVIDENCE_TRANSMITTED")
    || !ctx.session.user.roles.includes("officer")) return null;
  const refs = (view.hearing_references || []).map((x) => `“${x}”`).join(" / ");
  const title = h("h2", { id: "record-title" }, t("mla.record_title"));
  const hearings = view.hearings || [];
  if (!hearings.length) {
    return h("section", { "aria-labelledby": "record-title", id: "hearing-record" }, title,
      h("p", {}, t("mla.record_none", { refs })));
  }
  const box = errorBox();
  const closed = hearings.filter((x) => x.state === "closed");
  const choice = field({ label: t("mla.record_hearing"), name: "hearing", type: "select",
    value: closed.length ? closed[closed.length - 1].id : "",
    options: [["", t("mla.record_choose")], ...hearings.map((x) => [x.id,
      t("mla.record_option", { court: x.court, when: when(x.scheduled_at), state: t(`hearing_state.${x.state}`) })])] });
  const note = field({ label: t("mla.note"), name: "note", type: "textarea", hint: t("mla.note_hint") });
  const form = h("form", { class: "inline", novalidate: true, id: "record-form" }, choice, note,
    h("button", { type: "submit", class: "primary" }, t("mla.record_send")));
  onSubmit(form, box, async () => {
    const picked = hearings.find((x) => x.id === choice.control.value);
    if (!picked || picked.state !== "closed") {
      choice.control.focus();
      throw { message: t("mla.record_choose_closed") };
    }
    const body = { hearing_id: picked.id };
    if (note.control.value.trim()) body.note = note.control.value.trim();
    await post(`/api/v1/mla/requests/${enc(r.id)}/evidence`, body);
    announce(t("mla.record_sent"));
    await redraw();
  });
  return h("section", { "aria-labelledby": "record-title", id: "hearing-record" }, title,
    h("p", { class: "hint" }, t("mla.record_hint", { refs })), box, form);
}

function attachments(view, redraw) {
  const id = view.request.id;
  const box = errorBox();
  const file = field({ label: t("mla.file"), name: "file", type: "file" });
  const form = h("form", { class: "inline", novalidate: true }, file,
    h("button", { type: "submit", class: "secondary" }, t("mla.upload")));
  onSubmit(form, box, async () => {
    const f = file.control.files[0];
    if (!f) {
      file.control.focus();
      throw { message: t("mla.choose_file") };
    }
    await api("POST", `/api/v1/mla/requests/${enc(id)}/attachments?filename=${enc(f.name)}`, f);
    announce(t("mla.uploaded", { name: f.name }));
    await redraw();
  });
  return h("section", { "aria-labelledby": "att-title" }, h("h2", { id: "att-title" }, t("mla.attachments")),
    view.attachments.length
      ? h("ul", { id: "attachments" }, view.attachments.map((a) => h("li", {},
        h("a", { href: `/api/v1/mla/requests/${enc(id)}/attachments/${enc(a.id)}`, download: a.filename }, a.filename),
        ` (${a.media_type}, ${t("mla.bytes", { n: a.size })}) `,
        a.message_id ? t("mla.sent_with_message") : t("mla.goes_with_next"))))
      : h("p", {}, t("mla.no_attachments")),
    ["CLOSED", "WITHDRAWN", "REFUSED"].includes(view.request.status) ? null : [box, form]);
}

function timeline(view) {
  return h("section", { "aria-labelledby": "tl-title" }, h("h2", { id: "tl-title" }, t("mla.timeline")),
    h("ol", { class: "timeline", id: "timeline" }, view.messages.map((m) => h("li", {},
      h("p", {}, h("strong", {}, when(m.created_at)), " — ",
        m.from_status ? `${t(`mla_status.${m.from_status}`)} → ` : "", status(m.to_status), " ",
        h("span", { class: "muted" }, `${t(`direction.${m.direction}`)}, ${t(`transport.${m.transport_status}`)}`)),
      m.note ? h("p", { class: "note" }, m.note) : null,
      m.last_error && m.transport_status !== "DELIVERED" ? h("p", { class: "warning" }, t("mla.delivery_retry", { n: m.attempts })) : null,
      h("p", { class: "receipt" }, t("mla.receipt"), " ", h("code", {}, m.document_sha256.slice(0, 16) + "…"),
        m.delivered_at ? ` · ${t("mla.delivered_at", { at: when(m.delivered_at) })}` : "")))));
}

/// The evidence packages this server received with EVIDENCE_TRANSMITTED and verified on arrival
/// (as `assize verify` does): when, the outcome, how many files, and the package itself.
function evidenceChecks(view) {
  const checks = view.evidence_checks || [];
  if (!checks.length) return null;
  const id = view.request.id;
  return h("section", { "aria-labelledby": "checks-title" }, h("h2", { id: "checks-title" }, t("mla.checks_title")),
    h("ul", { id: "evidence-checks" }, checks.map((c) => {
      const a = view.attachments.find((x) => x.id === c.attachment_id);
      const files = Array.isArray(c.report) ? c.report : [];
      const verified = c.outcome === "verified";
      return h("li", { class: verified ? "check-verified" : "check-refused" },
        h("p", {}, verified
          ? t("mla.check_verified", { at: when(c.checked_at), n: c.files })
          : t("mla.check_refused", { at: when(c.checked_at), reason: files.map((f) => f.reason || f.file).join("; ") || c.outcome })),
        a ? h("p", {}, h("a", { href: `/api/v1/mla/requests/${enc(id)}/attachments/${enc(a.id)}`, download: a.filename },
          t("mla.check_download", { name: a.filename }))) : null,
        files.length ? h("details", {}, h("summary", {}, t("mla.check_files")),
          h("ul", {}, files.map((f) => h("li", {}, h("code", {}, f.file))))) : null);
    })));
}

/// What an audit entry about this request says, in words; an action without a text shows as
/// logged.
function auditText(e) {
  const d = e.details || {};
  const st = (s) => (s ? t(`mla_status.${s}`) : "—");
  const key = `audit_action.${e.action}`;
  if (!has(key)) return e.action;
  return t(key, { from: st(d.from), to: e.action === "mla.transition" || e.action === "mla.message_received" ? st(d.to) : (d.to || ""),
    n: d.files ?? "", deadline: d.deadline ? t(`deadline.${d.deadline}`) : "" });
}

function auditActor(actor) {
  const kind = String(actor).split(":")[0];
  return has(`audit_actor.${kind}`) ? t(`audit_actor.${kind}`) : actor;
}

/// The request's audit trail on this server, oldest first, each entry with a link to its
/// inclusion proof in the log's Merkle tree.
function auditTrail(view, trail) {
  const id = view.request.id;
  return h("section", { "aria-labelledby": "audit-title" }, h("h2", { id: "audit-title" }, t("mla.audit_title")),
    h("p", { class: "hint" }, t("mla.audit_hint")),
    trail.entries.length
      ? h("ol", { class: "timeline", id: "audit-trail" }, trail.entries.map((e) => h("li", { "data-action": e.action },
        h("p", {}, h("strong", {}, when(Math.floor(e.at_ms / 1000))), " — ", auditText(e), " ",
          h("span", { class: "muted" }, auditActor(e.actor)), " · ",
          h("a", { href: `/api/v1/mla/requests/${enc(id)}/audit?seq=${enc(e.seq)}` }, t("mla.audit_proof", { seq: e.seq }))))))
      : h("p", {}, t("mla.audit_none")),
    trail.truncated ? h("p", { class: "warning" }, t("mla.audit_truncated", { n: trail.limit })) : null);
}

export async function mlaRequestView([id], ctx) {
  const root = h("div", {});
  const load = () => Promise.all([get(`/api/v1/mla/requests/${enc(id)}`), get(`/api/v1/mla/requests/${enc(id)}/audit`)]);
  let [view, trail] = await load();
  const draw = () => {
    const r = view.request;
    const other = r.side === "issuing" ? view.executing_authority : view.issuing_authority;
    const editable = r.status === "DRAFT" && r.side === "issuing" && ctx.session.user.roles.includes("officer");
    mount(root, h("section", {},
      heading(`${t(`mla_kind.${r.kind}`)} ${r.reference}`),
      h("dl", { class: "facts" },
        h("dt", {}, t("mla.status")), h("dd", { id: "request-status" }, status(r.status)),
        h("dt", {}, r.side === "issuing" ? t("mla.to") : t("mla.from")), h("dd", {}, `${other.name} (${other.country}, ${other.code})`),
        h("dt", {}, t("mla.deadlines")), h("dd", {}, view.deadlines.length
          ? h("ul", {}, view.deadlines.map((d) => h("li", {}, deadlineText(d)))) : t("mla.no_deadlines"))),
      h("p", {}, h("a", { class: "button secondary", href: `/api/v1/mla/requests/${enc(id)}/evidence`, download: `${r.reference}.asice` }, t("mla.evidence"))),
      transitions(view, refresh),
      hearingRecord(view, refresh, ctx),
      editable ? formEditor(view, (saved) => { view = saved; }) : readOnlyForm(view),
      evidenceChecks(view),
      attachments(view, refresh),
      timeline(view),
      auditTrail(view, trail)));
  };
  async function refresh() {
    [view, trail] = await load();
    draw();
  }
  draw();
  return root;
}

/// The form as sent, section by section, for reading: the same descriptions and labels as the
/// editor, with the values as text; empty fields are left out.
function readOnlyForm(view) {
  const sections = view.request.kind === "eio" ? EIO : MLA;
  const shown = (spec, v) => {
    if (spec.kind === "bool" || spec.kind === "tristate") return v ? t("common.yes") : t("common.no");
    if (spec.kind === "select" && has(`option.${v}`)) return t(`option.${v}`);
    return String(v);
  };
  const rows = (fields, data) => fields.flatMap((spec) => {
    const v = (data || {})[spec.name];
    if (v === undefined || v === null || v === "" || (Array.isArray(v) && !v.length)) return [];
    const label = t(`form.${spec.label}`);
    if (spec.kind === "list") {
      return [h("dt", {}, label), h("dd", {}, h("ol", {}, v.map((item) => h("li", {}, h("dl", {}, rows(spec.fields, item))))))];
    }
    if (spec.kind === "group") return [h("dt", {}, label), h("dd", {}, h("dl", {}, rows(spec.fields, v)))];
    return [h("dt", {}, label), h("dd", { class: "value" }, shown(spec, v))];
  });
  return h("section", { "aria-labelledby": "form-title" }, h("h2", { id: "form-title" }, t("mla.form")),
    sections.map((s) => {
      const content = rows(s.fields, s.flat ? view.form : (view.form || {})[s.name]);
      return content.length ? h("section", { class: "read-section" }, h("h3", {}, t(`form.${s.label}`)), h("dl", { class: "facts" }, content)) : null;
    }));
}
