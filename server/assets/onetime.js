// Sends a one-time-link form as JSON. The token comes from the link's query string and is removed
// from the address bar at once, so it does not linger in history.
(function () {
  "use strict";
  var params = new URLSearchParams(window.location.search);
  var token = params.get("token") || "";
  if (token) { window.history.replaceState(null, "", window.location.pathname); }
  var form = document.getElementById("onetime");
  var result = document.getElementById("result");
  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var body = { token: token };
    Array.prototype.forEach.call(form.elements, function (el) { if (el.name) { body[el.name] = el.value; } });
    fetch(form.dataset.endpoint, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body)
    }).then(function (r) {
      return r.json().then(function (j) { return { ok: r.ok, json: j }; });
    }).then(function (res) {
      if (res.ok) {
        form.hidden = true;
        result.textContent = "Done. You can now sign in.";
      } else {
        result.textContent = res.json.error ? res.json.error.message : "Something went wrong.";
      }
    }).catch(function () {
      result.textContent = "The server could not be reached. Check your connection and try again.";
    });
  });
})();
