// The one DOM helper: h("tag", {attributes and on* listeners}, ...children).
// Children may be strings, nodes, arrays, or null/false (skipped). No innerHTML anywhere: text
// from the server is always inserted as text.

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") {
      el.addEventListener(k.slice(2).toLowerCase(), v);
    } else if (k === "class") {
      el.className = v;
    } else if (k === "value") {
      el.value = v;
    } else if (k === "checked") {
      el.checked = Boolean(v);
    } else if (v === true) {
      el.setAttribute(k, "");
    } else {
      el.setAttribute(k, String(v));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/// Replaces everything inside `el` with `children`.
export function mount(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

let ids = 0;
/// A fresh id for pairing labels with controls.
export function uid(prefix) {
  ids += 1;
  return `${prefix}-${ids}`;
}
