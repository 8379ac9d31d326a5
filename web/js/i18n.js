// Translations: every text the application shows is in /app/i18n/<lang>.json, one file per
// language. The language is the one the user chose (remembered in localStorage), else the
// browser's first supported language, else English.

export const LANGUAGES = ["en", "fr"];
const STORAGE_KEY = "assize.lang";
let messages = {};
let fallback = {};
let current = "en";

function preferred() {
  const saved = localStorage.getItem(STORAGE_KEY);
  if (LANGUAGES.includes(saved)) return saved;
  for (const l of navigator.languages || [navigator.language || "en"]) {
    const base = String(l).toLowerCase().split("-")[0];
    if (LANGUAGES.includes(base)) return base;
  }
  return "en";
}

async function load(lang) {
  const r = await fetch(`/app/i18n/${lang}.json`, { credentials: "same-origin" });
  if (!r.ok) throw new Error(`translations ${lang}: ${r.status}`);
  return r.json();
}

export async function init() {
  fallback = await load("en");
  await use(preferred(), false);
}

export async function use(lang, remember = true) {
  if (!LANGUAGES.includes(lang)) lang = "en";
  messages = lang === "en" ? fallback : await load(lang);
  current = lang;
  document.documentElement.lang = lang;
  if (remember) localStorage.setItem(STORAGE_KEY, lang);
}

export function lang() {
  return current;
}

export function has(key) {
  return key in messages || key in fallback;
}

/// The text for `key`, with `{name}` placeholders filled from `vars`. A missing key shows
/// itself, so that it is noticed (the browser tests check both files have the same keys).
export function t(key, vars) {
  const text = messages[key] ?? fallback[key] ?? key;
  return vars ? text.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m)) : text;
}

/// A Unix time (seconds) as a date and time in the user's language.
export function when(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  return new Intl.DateTimeFormat(current, { dateStyle: "medium", timeStyle: "short" })
    .format(new Date(seconds * 1000));
}
