// Signing in (password, then the 6-digit code) and enrolling the authenticator app.

import { h } from "../dom.js";
import { t } from "../i18n.js";
import { api, post } from "../api.js";
import { field, errorBox, onSubmit, heading, announce } from "../ui.js";

export function signInView(_params, ctx) {
  const box = errorBox();
  const username = field({ label: t("signin.username"), name: "username", required: true,
    attrs: { autocomplete: "username", maxlength: 64 } });
  const password = field({ label: t("signin.password"), name: "password", type: "password", required: true,
    attrs: { autocomplete: "current-password" } });
  const code = field({ label: t("signin.code"), name: "totp_code", hint: t("signin.code_hint"),
    attrs: { autocomplete: "one-time-code", inputmode: "numeric", pattern: "[0-9]{6}", maxlength: 6 } });
  code.hidden = true;
  const form = h("form", { class: "narrow", novalidate: true },
    username, password, code,
    h("button", { type: "submit", class: "primary" }, t("signin.submit")));
  onSubmit(form, box, async () => {
    const body = { username: username.control.value, password: password.control.value };
    if (!code.hidden && code.control.value.trim()) body.totp_code = code.control.value.trim();
    try {
      const result = await api("POST", "/api/v1/session", body, { signingIn: true });
      await ctx.signedIn(result);
    } catch (err) {
      if (err.code === "totp_required" || err.code === "invalid_totp") {
        code.hidden = false;
        code.control.required = true;
        code.control.value = "";
        code.control.focus();
      }
      throw err;
    }
  });
  return h("section", {}, heading(t("signin.title")),
    ctx.returnTo ? h("p", {}, t("signin.return_hint")) : null,
    box, form);
}

export async function enrolView(_params, ctx) {
  const box = errorBox();
  const offer = await post("/api/v1/session/totp");
  const code = field({ label: t("signin.code"), name: "code", required: true, hint: t("enrol.code_hint"),
    attrs: { autocomplete: "one-time-code", inputmode: "numeric", pattern: "[0-9]{6}", maxlength: 6 } });
  const form = h("form", { class: "narrow", novalidate: true }, code,
    h("button", { type: "submit", class: "primary" }, t("enrol.submit")));
  onSubmit(form, box, async () => {
    await post("/api/v1/session/totp/confirm", { code: code.control.value.trim() });
    const s = await api("GET", "/api/v1/session");
    announce(t("enrol.done"));
    await ctx.signedIn(s);
  });
  return h("section", {}, heading(t("enrol.title")),
    h("p", {}, t("enrol.intro")),
    h("dl", { class: "secret" },
      h("dt", {}, t("enrol.secret")), h("dd", {}, h("code", { id: "totp-secret" }, offer.secret_base32)),
      h("dt", {}, t("enrol.uri")), h("dd", {}, h("code", { class: "wrap" }, offer.otpauth_uri))),
    box, form);
}
