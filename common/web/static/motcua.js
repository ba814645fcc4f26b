// motcua: what a page's own script needs from the shared web layer. Include it with
// <script src="/static/motcua.js"></script> in the page's {% block scripts %} (no page has inline script).
(function () {
  "use strict";
  const meta = document.querySelector('meta[name="csrf-token"]');
  // A state-changing request from a script: same origin, the page's CSRF token in X-CSRF-Token.
  function post(url, body, method) {
    const headers = { "X-CSRF-Token": meta ? meta.content : "" };
    let data = body;
    if (body !== undefined && !(body instanceof FormData)) {
      headers["Content-Type"] = "application/json";
      data = JSON.stringify(body);
    }
    return fetch(url, { method: method || "POST", headers, body: data, credentials: "same-origin" });
  }
  window.motcua = Object.freeze({ post });
})();
