// The officer console: action buttons and shortcuts post to /api/console/act with a request id
// that is reused for a second press of the same action within data-reuse-ms (a double click),
// so ticketing answers it from its stored answer and never calls two tickets.
(function () {
  "use strict";
  const root = document.getElementById("console");
  if (!root) return;
  const reuseMs = Number(root.dataset.reuseMs || 1500);
  const en = root.dataset.lang === "en";
  const last = {};  // op|target -> {id, at, pending}
  window.motcuaConsole = { sent: [] };

  function newId() {
    const a = new Uint8Array(12);
    crypto.getRandomValues(a);
    return Array.from(a, (b) => b.toString(16).padStart(2, "0")).join("");
  }
  function say(r) {
    const m = document.getElementById("message");
    const text = (en ? r.message_en : r.message_vi) || "";
    m.textContent = r.ok ? text : text || r.error || "";
    m.className = r.ok ? (text ? "ok" : "") : "error";
  }
  function carried(day) {  // a ticket kept from an earlier day's closing: its own day, dd/mm
    return day ? " (" + day.slice(8, 10) + "/" + day.slice(5, 7) + ")" : "";
  }
  function showCurrent(state) {
    const cur = document.getElementById("current");
    cur.textContent = state && state.status === "serving" && state.ticket ? state.ticket + carried(state.carried_from) + " · " + state.service : cur.dataset.none || cur.textContent;
  }
  async function act(op) {
    const now = Date.now();
    const body = { op: op };
    if (op === "transfer") body.to_service = document.getElementById("to-service").value;
    if (op === "check-in") body.appointment = document.getElementById("checkin-code").value.trim();
    // the same press again: same op and the same target (another code or service is a new request)
    const key = op + "|" + (body.to_service || body.appointment || "");
    const p = last[key];
    if (p && p.pending) return;  // the first press is still on its way
    const id = p && now - p.at < reuseMs ? p.id : newId();
    last[key] = { id: id, at: now, pending: true };
    body.id = id;
    window.motcuaConsole.sent.push(id);
    try {
      const resp = await window.motcua.post("/api/console/act", body);
      const r = await resp.json();
      say(r);
      if (r.ok && r.ticket && (op === "call-next" || op === "recall")) {
        document.getElementById("current").textContent = r.ticket.ticket + " · " + r.ticket.service;
      }
    } finally {
      last[key].pending = false;
      last[key].at = Date.now();
      refresh();
    }
  }
  function fill(listId, items, fmt) {
    const ol = document.getElementById(listId);
    ol.replaceChildren();
    if (!items.length && ol.dataset.empty) {
      const li = document.createElement("li");
      li.textContent = ol.dataset.empty;
      ol.appendChild(li);
    }
    for (const it of items) {
      const li = document.createElement("li");
      li.textContent = fmt(it);
      if (it.ticket) li.dataset.ticket = it.ticket;
      ol.appendChild(li);
    }
  }
  async function refresh() {
    const resp = await fetch("/api/console/view", { credentials: "same-origin" });
    if (!resp.ok) return;
    const v = await resp.json();
    const cur = document.getElementById("current");
    if (!cur.dataset.none) cur.dataset.none = cur.textContent;
    if (v.state.status === "serving") showCurrent(v.state);
    else cur.textContent = cur.dataset.none;
    fill("history", v.history, (h) => h.ts.slice(11, 19) + " " + h.action + (h.to_service ? " → " + h.to_service : "") + (h.desk ? " · " + h.desk : ""));
    fill("waiting", v.waiting, (w) => w.ticket + carried(w.carried_from) + " · " + w.service + (w.priority ? " · " + w.priority : ""));
    root.dataset.rendered = String(Date.now());
  }
  for (const b of root.querySelectorAll("button[data-op]")) {
    b.addEventListener("click", () => act(b.dataset.op));
  }
  document.addEventListener("keydown", (e) => {
    if (e.ctrlKey || e.altKey || e.metaKey || e.target.tagName === "INPUT" || e.target.tagName === "SELECT") return;
    const b = root.querySelector('button[data-key="' + e.key.toLowerCase() + '"]');
    if (b) { e.preventDefault(); act(b.dataset.op); }
  });
  refresh();
  setInterval(refresh, 1000);
})();
