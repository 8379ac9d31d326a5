// Shared pieces of the screens: labelled fields, the error box, announcements for screen readers.

import { h, uid } from "./dom.js";
import { t, has } from "./i18n.js";

/// Says `text` to screen readers (polite) without moving the focus.
export function announce(text) {
  const el = document.getElementById("announce");
  el.textContent = "";
  setTimeout(() => { el.textContent = text; }, 50);
}

/// The user-facing text of an error: the translation of its code when there is one, else the
/// server's own message (written to say what to do), else a generic line.
export function errorText(err) {
  if (err && err.code && has(`error.${err.code}`)) return t(`error.${err.code}`);
  if (err && err.code === "network") return t("error.network");
  return (err && err.message) || t("error.unknown");
}

/// A labelled form control. `type` is an input type, "textarea", "select" (with `options`:
/// [value, label] pairs) or "checkbox". Returns the wrapper; the control is `.control`.
export function field({ label, name, type = "text", value, required, hint, options, attrs = {} }) {
  const id = uid(name.replace(/[^a-z0-9]/gi, "-"));
  const hintId = hint ? `${id}-hint` : null;
  const common = { id, name, "aria-describedby": hintId, required, ...attrs };
  let control;
  if (type === "textarea") {
    control = h("textarea", { ...common, rows: 3 });
    control.value = value ?? "";
  } else if (type === "select") {
    control = h("select", common, (options || []).map(([v, l]) => h("option", { value: v }, l)));
    if (value !== undefined && value !== null) control.value = value;
  } else if (type === "checkbox") {
    control = h("input", { ...common, type: "checkbox", checked: Boolean(value) });
    const wrap = h("div", { class: "field checkbox" }, control, h("label", { for: id }, label),
      hint && h("p", { class: "hint", id: hintId }, hint));
    wrap.control = control;
    return wrap;
  } else {
    control = h("input", { ...common, type, value: value ?? "" });
  }
  const wrap = h("div", { class: "field" },
    h("label", { for: id }, label, required ? h("span", { class: "req", "aria-hidden": "true" }, " *") : null),
    hint && h("p", { class: "hint", id: hintId }, hint),
    control);
  wrap.control = control;
  return wrap;
}

/// An error box, empty until `show`. role="alert" makes screen readers read it out at once.
export function errorBox() {
  const box = h("div", { class: "error", role: "alert", hidden: true });
  box.show = (err, extra) => {
    box.replaceChildren(h("p", {}, errorText(err)), extra || null);
    box.hidden = false;
  };
  box.clear = () => {
    box.replaceChildren();
    box.hidden = true;
  };
  return box;
}

/// Runs `action` for a form: the submit button is disabled meanwhile so that a form sent twice
/// is not applied twice, and an error lands in `box`.
export function onSubmit(form, box, action) {
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const buttons = form.querySelectorAll("button");
    if (form.dataset.busy) return;
    form.dataset.busy = "1";
    buttons.forEach((b) => { b.disabled = true; });
    box.clear();
    try {
      await action();
    } catch (err) {
      box.show(err);
      if (err && err.code !== "network") console.debug("request refused", err.code);
    } finally {
      delete form.dataset.busy;
      buttons.forEach((b) => { b.disabled = false; });
    }
  });
}

/// A page heading that takes the focus, so keyboard and screen-reader users land on the new page.
export function heading(text) {
  return h("h1", { tabindex: "-1", class: "page-title" }, text);
}

export function loading() {
  return h("p", { class: "loading", role: "status" }, t("common.loading"));
}
