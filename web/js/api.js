// The fetch wrapper: JSON in and out, the session's CSRF token on every state-changing request,
// and the server's error body turned into an ApiError. A 401 that means "your session ended"
// is reported to the application (onSessionLost), which sends the user to sign in and back.

let csrf = null;
let onSessionLost = () => {};

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details || {};
  }
}

export function setCsrf(token) {
  csrf = token;
}

export function whenSessionLost(fn) {
  onSessionLost = fn;
}

export async function api(method, path, body, options = {}) {
  const headers = { Accept: "application/json" };
  if (method !== "GET" && csrf) headers["X-CSRF-Token"] = csrf;
  let payload;
  if (body instanceof Blob) {
    payload = body;
    headers["Content-Type"] = body.type || "application/octet-stream";
  } else if (body !== undefined) {
    payload = JSON.stringify(body);
    headers["Content-Type"] = "application/json";
  }
  let r;
  try {
    r = await fetch(path, { method, headers, body: payload, credentials: "same-origin" });
  } catch {
    throw new ApiError(0, "network", "The server could not be reached.");
  }
  if (r.status === 204) return null;
  const text = await r.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (r.ok) return json;
  const e = (json && json.error) || {};
  const err = new ApiError(r.status, e.code || "http_" + r.status, e.message || r.statusText, e.details);
  if (r.status === 401 && !options.signingIn && ["session_expired", "unauthenticated"].includes(err.code)) {
    onSessionLost(err);
  }
  throw err;
}

export const get = (path) => api("GET", path);
export const post = (path, body) => api("POST", path, body === undefined ? {} : body);
export const put = (path, body) => api("PUT", path, body);
export const del = (path) => api("DELETE", path);
