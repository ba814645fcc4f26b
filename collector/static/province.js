// motcua province page: one row per site, from the snapshot embedded in the page, then from
// /api/province every few seconds (collector/province_live.py makes the figures).
(function () {
  "use strict";
  const boot = JSON.parse(document.getElementById("boot").textContent);
  const L = boot.labels, lang = boot.lang, tz = boot.tz;
  const POLL_MS = 5000;
  const fmt = new Intl.DateTimeFormat(lang === "en" ? "en-GB" : "vi-VN",
    { timeZone: tz, day: "2-digit", month: "2-digit", hour: "2-digit", minute: "2-digit" });
  const fmtNow = new Intl.DateTimeFormat(lang === "en" ? "en-GB" : "vi-VN",
    { timeZone: tz, hour: "2-digit", minute: "2-digit", second: "2-digit" });

  function esc(s) {
    return String(s == null ? "" : s).replace(/[&<>"']/g, c => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
  }
  function mins(s) { return s == null ? "-" : (s / 60).toFixed(1); }
  function pct(x) { return x == null ? "-" : Math.round(100 * x) + " %"; }
  function cell(label, html, level, cls) {
    const c = [cls, level && level !== "ok" ? "level-" + level : ""].filter(Boolean).join(" ");
    return `<td data-label="${esc(label)}"${c ? ` class="${c}"` : ""}>${html}</td>`;
  }
  function name(r) { return lang === "en" ? r.name_en : r.name_vi; }

  function row(r) {
    const w = r.longest;
    const wait = w ? `${mins(w.wait_s)} / ${w.target_s == null ? "-" : mins(w.target_s)} ${esc(L.min)} · ${esc(w.service)}` : "-";
    const link = r.link == null ? `<span class="unk">${esc(L.link_unknown)}</span>` :
      `<span class="badge ${r.link.up ? "on" : "off"}">${esc(r.link.up ? L.link_up : L.link_down)}</span> ` +
      `${esc(L.since)} ${esc(fmt.format(new Date(r.link.since)))}`;
    const online = `<span class="badge ${r.online ? "on" : "off"}">${esc(r.online ? L.online : L.offline)}</span> ` +
      `${r.devices_online}/${r.devices}`;
    return `<tr data-site="${esc(r.site)}" class="site-row level-${esc(r.level)}">` +
      cell(L.site, `<a class="drill" href="${esc(r.href)}&lang=${esc(lang)}">${esc(name(r))}</a> <code>${esc(r.site)}</code>`, null, "site-name") +
      cell(L.site_online, online, r.online ? null : "red", "online") +
      cell(L.waiting, esc(r.waiting), null, "waiting") +
      cell(L.longest_wait_target, wait, r.wait_level, "longest") +
      cell(L.staffed, `${r.staffed}/${r.desks}`, null, "staffed") +
      cell(L.satisfaction_today, `${pct(r.satisfaction_today)} (${r.ratings_today})`, r.sat_level, "satisfaction") +
      cell(L.faulty_devices, esc(r.faulty_devices) + (r.faulty.length || r.offline.length ?
        ` <small>${esc([...r.faulty, ...r.offline].join(", "))}</small>` : ""), r.device_level, "faults") +
      cell(L.province_link, link, r.link_level, "link") + "</tr>";
  }

  function render(snap) {
    document.getElementById("province-rows").innerHTML = snap.sites.map(row).join("");
    document.getElementById("no-sites").hidden = snap.sites.length > 0;
    const t = snap.total;
    document.getElementById("province-total").textContent =
      `${L.site}: ${t.sites} · ${L.waiting}: ${t.waiting} · ${L.staffed}: ${t.staffed}/${t.desks} · ` +
      `${L.level_red}: ${t.red} · ${L.level_amber}: ${t.amber}`;
    document.getElementById("updated").textContent = fmtNow.format(new Date(snap.generated_at));
    window.motcuaProvinceRenders = (window.motcuaProvinceRenders || 0) + 1;
  }

  const live = document.getElementById("live");
  async function poll() {
    try {
      const res = await fetch("/api/province", { headers: { Accept: "application/json" }, credentials: "same-origin" });
      if (res.status === 401) { window.location.assign("/login?next=/tinh"); return; }
      if (!res.ok) throw new Error(res.status);
      render(await res.json());
      live.className = "live on"; live.textContent = L.live;
    } catch (e) {
      live.className = "live off"; live.textContent = L.reconnecting;
    }
    setTimeout(poll, POLL_MS);
  }
  render(JSON.parse(document.getElementById("snapshot").textContent));
  setTimeout(poll, POLL_MS);
})();
