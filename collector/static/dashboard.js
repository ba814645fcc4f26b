// motcua collector dashboard: renders the desk grid, the queue and device health from JSON,
// first from the snapshot embedded in the page, then from every server-sent event (no reload).
(function () {
  "use strict";
  const boot = JSON.parse(document.getElementById("boot").textContent);
  const L = boot.labels, lang = boot.lang, tz = boot.tz;
  const fmtTime = new Intl.DateTimeFormat(lang === "en" ? "en-GB" : "vi-VN",
    { timeZone: tz, hour: "2-digit", minute: "2-digit", second: "2-digit" });
  window.motcuaRenders = [];
  let last = null;
  // Durations count from the server's clock (the snapshot's time), not this browser's, so a
  // screen with a wrong clock, or a simulated centre running faster, still shows the truth.
  let skew = 0;

  function esc(s) {
    return String(s == null ? "" : s).replace(/[&<>"']/g, c => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
  }
  // "4 phút 38 giây" / "4 min 38 s"; "1 giờ 05 phút" / "1 h 05 min" (as collector/formats.py)
  function dur(since) {
    if (!since) return "";
    let s = Math.max(0, Math.floor((Date.now() + skew - Date.parse(since)) / 1000));
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60); s = s % 60;
    const u = lang === "en" ? ["h", "min", "s"] : ["giờ", "phút", "giây"];
    if (h) return `${h} ${u[0]} ${String(m).padStart(2, "0")} ${u[1]}`;
    return m ? `${m} ${u[1]} ${s} ${u[2]}` : `${s} ${u[2]}`;
  }
  function secs(x) { return x == null ? "" : dur(new Date(Date.now() + skew - x * 1000).toISOString()); }
  function clock(t) { return t ? fmtTime.format(new Date(t)) : ""; }
  // a zone the camera cannot read (blocked, dark, frozen): grey "unknown" with the fault's message, never "away"
  function zoneState(z, yes, no) {
    if (!z.unknown) return yesNo(z.present, yes, no);
    const f = z.fault ? ` <span class="zone-fault">${esc(lang === "en" ? z.fault.message_en : z.fault.message_vi)}</span>` : "";
    return `<span class="unk presence-unknown">${esc(L.presence_unknown)}</span>${f}`;
  }
  function yesNo(present, yes, no) {
    if (present === null || present === undefined) return `<span class="unk">${esc(L.unknown)}</span>`;
    return present ? `<span class="yes">${esc(yes)}</span>` : `<span class="no">${esc(no)}</span>`;
  }

  let alertsOf = {};  // desk -> {level, reasons, services} from the alerts engine
  const heard = new Set();
  let firstAlerts = true;
  function beep() {  // a short two-tone sound when a new alert appears (after the first render)
    try {
      const ctx = new (window.AudioContext || window.webkitAudioContext)();
      [880, 660].forEach((f, i) => {
        const o = ctx.createOscillator(), g = ctx.createGain();
        o.frequency.value = f; o.connect(g); g.connect(ctx.destination);
        g.gain.value = 0.15; o.start(ctx.currentTime + i * 0.25); o.stop(ctx.currentTime + i * 0.25 + 0.2);
      });
      window.motcuaBeeps = (window.motcuaBeeps || 0) + 1;
    } catch (e) { /* no audio here */ }
  }
  function renderAlerts(a) {
    const list = document.getElementById("alerts");
    if (!a) return;
    alertsOf = a.desks || {};
    const open = a.open || [];
    document.getElementById("alerts-count").textContent = open.length;
    let fresh = false;
    open.forEach(x => { if (!heard.has(x.id)) { heard.add(x.id); fresh = true; } });
    if (fresh && !firstAlerts) beep();
    firstAlerts = false;
    list.innerHTML = open.length ? open.map(x => `<li data-alert="${x.id}" data-kind="${esc(x.kind)}" class="${x.acked_at ? "acked" : ""}">
<span class="msg">${esc(lang === "en" ? x.message_en : x.message_vi)}</span>
<span class="when">${esc(L.alert_since)} ${esc(clock(x.raised_at))} (<span class="since" data-since="${esc(x.raised_at)}">${esc(L.for)} ${dur(x.raised_at)}</span>)</span>
${x.acked_at ? `<span class="acked-by">${esc(L.acked_by)} ${esc(x.acked_by)}</span>` : `<button type="button" class="ack" data-id="${x.id}">${esc(L.acknowledge)}</button>`}</li>`).join("")
      : `<li class="none">${esc(L.no_alerts)}</li>`;
  }
  document.addEventListener("click", ev => {
    const b = ev.target.closest && ev.target.closest("button.ack");
    if (!b) return;
    const token = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
    b.disabled = true;
    fetch(`/api/alerts/${b.getAttribute("data-id")}/ack`, { method: "POST", headers: { "X-CSRF-Token": token },
      credentials: "same-origin" }).then(r => r.json()).then(x => {
      const li = b.closest("li"); li.classList.add("acked");
      b.outerHTML = `<span class="acked-by">${esc(L.acked_by)} ${esc(x.acked_by || "")}</span>`;
    }).catch(() => { b.disabled = false; });
  });

  function deskCard(d, multiSite) {
    const name = (lang === "en" ? d.name_en : d.name_vi) || `${L.desk} ${d.desk}`;
    const al = alertsOf[String(d.desk)];
    const level = al ? al.level : "ok";
    const reasons = al ? al.reasons.map(r => esc(lang === "en" ? r.message_en : r.message_vi)).join("<br>") : "";
    const off = d.officer, cit = d.citizen, r = d.ratings_today;
    const online = d.online === null ? "" :
      `<span class="badge ${d.online ? "on" : "off"}">${esc(d.online ? L.online : L.offline)}</span>`;
    const status = d.status ? (L[d.status] || d.status) : "";
    const avg = r.average == null ? "" : ` · ${L.average} ${r.average}${r.scale ? "/" + r.scale : ""}`;
    return `<article class="desk${level !== "ok" ? " alert-" + level : ""}" data-site="${esc(d.site)}" data-desk="${d.desk}" data-level="${level}">
<h3><span>${esc(name)}${multiSite ? " · " + esc(d.site) : ""}</span>${online}</h3>
${d.services && d.services.length ? `<div class="svcs">${esc(L.desk_services)}: ${d.services.map(esc).join(", ")}</div>` : ""}
${reasons ? `<div class="reasons">${reasons}</div>` : ""}
<div class="officer" data-present="${off.unknown ? "unknown" : off.present}">${esc(L.officer)}${off.id ? " " + esc(off.name ? off.name + " (" + off.id + ")" : off.id) : ""}:
 ${zoneState(off, L.present, L.away)} <span class="since" data-since="${esc(off.since || "")}">${off.since ? esc(L.for) + " " + dur(off.since) : ""}</span></div>
<div class="citizen" data-present="${cit.unknown ? "unknown" : cit.present}">${esc(L.citizen)}: ${zoneState(cit, L.present, L.away)}
 <span class="since" data-since="${esc(cit.since || "")}">${cit.since ? esc(L.for) + " " + dur(cit.since) : ""}</span></div>
<div class="ticket" data-ticket="${esc(d.ticket || "")}">${esc(L.ticket)}: <b>${esc(d.ticket || "—")}</b> ${esc(status)}${d.service ? " · " + esc(d.service) : ""}</div>
<div class="ratings" data-count="${r.count}">${esc(L.ratings_today)}: <b class="ratings-count">${r.count}</b>${esc(avg)}</div>
<div class="devs">${d.devices.map(x => `<span class="badge ${x.online ? "on" : "off"}" title="${esc(x.role || "")}">${esc(x.device)}</span>`).join(" ")}</div>
</article>`;
  }

  function renderQueue(q) {
    const el = document.getElementById("queue");
    if (!q.length) { el.innerHTML = `<tr><td>${esc(L.no_queue)}</td></tr>`; return; }
    el.innerHTML = `<tr><th>${esc(L.service)}</th><th>${esc(L.waiting)}</th><th>${esc(L.longest_wait)}</th><th>${esc(L.issued)}</th></tr>` +
      q.map(s => `<tr data-service="${esc(s.service)}"><td data-label="${esc(L.service)}">${esc(s.service)} · ${esc(lang === "en" ? s.name_en : s.name_vi)}</td>
<td class="waiting" data-label="${esc(L.waiting)}">${s.waiting}</td><td data-label="${esc(L.longest_wait)}">${s.oldest_issued_at && s.waiting ? dur(s.oldest_issued_at) : "—"}</td><td data-label="${esc(L.issued)}">${s.issued}</td></tr>`).join("");
  }

  function num(x) { return typeof x === "number" && isFinite(x); }
  // from the last telemetry: CPU temperature, and a camera agent's frame rate (extra.fps)
  function telemetry(d) {
    const parts = [];
    if (num(d.cpu_temp_c)) parts.push(`<span class="temp${d.cpu_temp_c >= 80 ? " hot" : ""}">${d.cpu_temp_c.toFixed(1)} °C</span>`);
    if (d.extra && num(d.extra.fps)) parts.push(`<span class="fps">${d.extra.fps.toFixed(1)} fps</span>`);
    return parts.join(" · ");
  }
  // a Pi has no real-time clock: until NTP syncs, the times it puts on events may be wrong
  function clockBadge(d) {
    return d.clock_synced === false ?
      ` <span class="badge warn clock-unsynced" title="${esc(L.clock_unsynced_hint)}">⚠ ${esc(L.clock_unsynced)}</span>` : "";
  }

  function renderDevices(ds) {
    const el = document.getElementById("devices");
    // devices with an open fault first (then offline ones), so a manager sees them without scrolling
    ds = ds.slice().sort((a, b) => (b.open_faults.length - a.open_faults.length) ||
      ((a.online === false ? 0 : 1) - (b.online === false ? 0 : 1)));
    if (!ds.length) { el.innerHTML = `<tr><td>${esc(L.no_devices)}</td></tr>`; return; }
    el.innerHTML = `<tr><th>${esc(L.device)}</th><th>${esc(L.role)}</th><th>${esc(L.status)}</th><th>${esc(L.last_seen)}</th>
<th>${esc(L.outbox)}</th><th>${esc(L.telemetry)}</th><th>${esc(L.faults)}</th><th>${esc(L.seq_gaps)}</th></tr>` +
      ds.map(d => `<tr data-device="${esc(d.device)}" data-online="${d.online}" data-clock-synced="${d.clock_synced}"><td data-label="${esc(L.device)}">${esc(d.device)}${d.desk ? " (" + esc(L.desk) + " " + d.desk + ")" : ""}</td>
<td data-label="${esc(L.role)}">${esc(d.role || "")}</td><td class="status" data-label="${esc(L.status)}">${d.online === null ? `<span class="unk">${esc(L.unknown)}</span>` : `<span class="badge ${d.online ? "on" : "off"}">${esc(d.online ? L.online : L.offline)}</span>`}${clockBadge(d)}</td>
<td data-label="${esc(L.last_seen)}">${esc(clock(d.last_seen))}</td><td data-label="${esc(L.outbox)}">${d.outbox_depth == null ? "" : d.outbox_depth}</td>
<td class="telemetry" data-label="${esc(L.telemetry)}">${telemetry(d)}</td>
<td class="faults" data-label="${esc(L.faults)}">${d.open_faults.length ? d.open_faults.map(f => `<span class="fault">${esc(lang === "en" ? f.message_en : f.message_vi)} <small>(${esc(L.alert_since)} ${esc(clock(f.since))})</small></span>`).join("; ") : esc(L.none)}</td>
<td class="gaps" data-label="${esc(L.seq_gaps)}">${d.seq_gaps.length ? d.seq_gaps.map(g => g.from === g.to ? g.from : g.from + "–" + g.to).join(", ") : esc(L.none)}</td></tr>`).join("");
  }

  function render(snap) {
    last = snap;
    if (snap.generated_at) skew = Date.parse(snap.generated_at) - Date.now();
    const sites = new Set(snap.desks.map(d => d.site));
    renderAlerts(snap.alerts);
    const grid = document.getElementById("desks");
    grid.innerHTML = snap.desks.length ? snap.desks.map(d => deskCard(d, sites.size > 1)).join("") : `<p>${esc(L.no_desks)}</p>`;
    renderQueue(snap.queue);
    renderDevices(snap.devices);
    document.getElementById("ratings-total").textContent = snap.ratings_today;
    document.getElementById("dead").textContent = snap.dead_letters;
    document.getElementById("updated").textContent = clock(snap.generated_at);
    window.motcuaRenders.push({ t: Date.now(), ratings_today: snap.ratings_today, generated_at: snap.generated_at });
    if (window.motcuaRenders.length > 5000) window.motcuaRenders.splice(0, 1000);
  }

  function tick() {  // durations move on by themselves between events
    document.querySelectorAll(".since[data-since]").forEach(el => {
      const s = el.getAttribute("data-since");
      if (s) el.textContent = L.for + " " + dur(s);
    });
  }

  function connect() {
    const live = document.getElementById("live");
    const es = new EventSource(boot.site ? "/events?site=" + encodeURIComponent(boot.site) : "/events");
    es.addEventListener("snapshot", ev => render(JSON.parse(ev.data)));
    es.onopen = () => { live.className = "live on"; live.textContent = L.live; };
    es.onerror = () => { live.className = "live off"; live.textContent = L.reconnecting; };
    // the login ended (logout elsewhere, password changed, user disabled): back to the login form
    es.addEventListener("logout", () => { es.close(); window.location.assign("/login"); });
  }

  render(boot.snapshot);
  setInterval(tick, 1000);
  connect();
})();
