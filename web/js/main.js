// The application: session, layout and the hash router (#/hearings/ID, #/mla/new, …).
// Each view is a function (params, ctx) → Promise<Node>; a view that needs the user signed in
// gets them in ctx.session.

import { h, mount } from "./dom.js";
import { init as initI18n, t, use, lang, LANGUAGES } from "./i18n.js";
import { api, setCsrf, whenSessionLost } from "./api.js";
import { errorBox, heading } from "./ui.js";
import { signInView, enrolView } from "./views/signin.js";
import { hearingsView, bookingView, hearingView } from "./views/hearings.js";
import { roomView } from "./views/room.js";
import { joinView } from "./views/join.js";
import { mlaListView, mlaNewView, mlaRequestView } from "./views/mla.js";

const routes = [
  [/^\/signin$/, signInView, { open: true }],
  [/^\/join$/, joinView, { open: true }],
  [/^\/enrol$/, enrolView, { enrolling: true }],
  [/^\/$/, homeView],
  [/^\/hearings$/, hearingsView],
  [/^\/hearings\/new$/, bookingView],
  [/^\/hearings\/([^/]+)$/, hearingView],
  [/^\/hearings\/([^/]+)\/room$/, roomView],
  [/^\/mla$/, mlaListView],
  [/^\/mla\/new$/, mlaNewView],
  [/^\/mla\/([^/]+)$/, mlaRequestView],
];

const ctx = {
  session: null, // {user, stage}
  notice: null, // a message shown once on the next page (e.g. "your session ended")
  returnTo: null, // where to go after signing in
  go,
  signedIn,
  signOut,
  render,
};

export function go(path) {
  if (location.hash === "#" + path) render();
  else location.hash = "#" + path;
}

function currentPath() {
  // An invitation link, /join#TOKEN, is its own page: the fragment is the token, not a route.
  if (location.pathname === "/join") return "/join";
  const hash = location.hash;
  return hash.startsWith("#/") ? decodeURI(hash.slice(1)) : "/";
}

async function signedIn(result) {
  ctx.session = { user: result.user, stage: result.stage };
  setCsrf(result.csrf_token);
  if (result.stage === "totp_enrolment") return go("/enrol");
  const back = ctx.returnTo;
  ctx.returnTo = null;
  go(back && back !== "/signin" && back !== "/enrol" ? back : "/");
}

async function signOut() {
  try {
    await api("DELETE", "/api/v1/session");
  } catch {
    // Signed out already; either way the session is gone.
  }
  ctx.session = null;
  setCsrf(null);
  ctx.notice = t("signin.signed_out");
  go("/signin");
}

whenSessionLost(() => {
  if (!ctx.session) return; // already on the way to sign-in (several requests may fail at once)
  const path = currentPath();
  ctx.notice = t("signin.session_expired");
  ctx.session = null;
  setCsrf(null);
  if (path !== "/signin") ctx.returnTo = path;
  go("/signin");
});

function header() {
  const top = document.getElementById("top");
  const s = ctx.session;
  const roles = s && s.stage === "full" ? s.user.roles : [];
  const links = [];
  if (roles.includes("judge") || roles.includes("clerk")) links.push(["#/hearings", t("nav.hearings")]);
  if (roles.includes("officer") || roles.includes("judge")) links.push(["#/mla", t("nav.mla")]);
  const nav = links.length
    ? h("nav", { "aria-label": t("nav.label") },
      h("ul", {}, links.map(([href, text]) => h("li", {}, h("a", { href }, text)))))
    : null;
  const select = h("select", { id: "lang", onchange: async (ev) => { await use(ev.target.value); render(); } },
    LANGUAGES.map((l) => h("option", { value: l }, t(`lang.${l}`))));
  select.value = lang();
  mount(top,
    h("a", { class: "brand", href: "#/" }, "Assize"),
    nav,
    h("div", { class: "tools" },
      h("label", { for: "lang" }, t("nav.language")), select,
      s ? h("span", { class: "who" }, t("nav.signed_in_as", { name: s.user.display_name })) : null,
      s ? h("button", { type: "button", class: "link", onclick: signOut }, t("nav.sign_out")) : null));
  document.getElementById("skip").textContent = t("nav.skip");
  document.title = t("app.title");
}

function homeView() {
  const roles = ctx.session.user.roles;
  const items = [];
  if (roles.includes("judge") || roles.includes("clerk")) {
    items.push(h("li", {}, h("a", { href: "#/hearings" }, t("home.hearings"))));
  }
  if (roles.includes("officer") || roles.includes("judge")) {
    items.push(h("li", {}, h("a", { href: "#/mla" }, t("home.mla"))));
  }
  return h("section", {}, heading(t("home.title", { name: ctx.session.user.display_name })),
    items.length ? h("ul", { class: "cards" }, items) : h("p", {}, t("home.nothing")));
}

let rendering = 0;
async function render() {
  const joinPage = location.pathname === "/join";
  if (!joinPage && location.hash && !location.hash.startsWith("#/")) return; // an in-page anchor, not a route
  const mine = ++rendering;
  const path = currentPath();
  const main = document.getElementById("main");
  let match = null;
  for (const [re, view, opts] of routes) {
    const m = path.match(re);
    if (m) { match = { view, opts: opts || {}, params: m.slice(1) }; break; }
  }
  if (!match) match = { view: notFoundView, opts: { open: true }, params: [] };
  if (!match.opts.open && !ctx.session) {
    ctx.returnTo = path;
    return go("/signin");
  }
  if (ctx.session && ctx.session.stage === "totp_enrolment" && !match.opts.enrolling && !match.opts.open) {
    return go("/enrol");
  }
  header();
  const notice = ctx.notice;
  ctx.notice = null;
  let node;
  try {
    node = await match.view(match.params, ctx);
  } catch (err) {
    if (err && err.status === 401) return; // whenSessionLost has taken over
    const box = errorBox();
    box.show(err);
    node = h("section", {}, heading(t("error.title")), box);
  }
  if (mine !== rendering) return; // a newer navigation won
  mount(main, notice ? h("p", { class: "notice", role: "status" }, notice) : null, node);
  // After a navigation the new page's heading takes the focus (where a screen reader would
  // expect the page to start); the first page leaves the focus at the top, at the skip link.
  if (rendered) (main.querySelector("h1") || main).focus();
  rendered = true;
}
let rendered = false;

function notFoundView() {
  return h("section", {}, heading(t("notfound.title")), h("p", {}, h("a", { href: "#/" }, t("notfound.home"))));
}

async function start() {
  await initI18n();
  try {
    const s = await api("GET", "/api/v1/session", undefined, { signingIn: true });
    ctx.session = { user: s.user, stage: s.stage };
    setCsrf(s.csrf_token);
  } catch {
    ctx.session = null;
  }
  document.getElementById("skip").addEventListener("click", (ev) => {
    ev.preventDefault();
    document.getElementById("main").focus();
  });
  window.addEventListener("hashchange", render);
  render();
}

start();
