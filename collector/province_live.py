"""The province page's live figures: one row per site, from what the central store keeps of each site's
retained state (``state/site``, ``state/desk``, ``state/service``, presence, the bridge's ``motcua/link``)
and today's events, read the way the site's own dashboard reads them (collector/queries.py).

Per site: devices online, people waiting, the longest wait against its service's target, desks
staffed (an officer signed in), satisfaction today (the top two levels of non-misuse ratings), devices
with an open fault, the link to the province (up or down, since when). Levels: ``red`` past a target
(a wait over its target, satisfaction under ``SAT_RED``, the link down, a device faulty or offline),
``amber`` near it (a wait past ``AMBER_SHARE`` of its target, satisfaction under ``SAT_AMBER``), else ``ok``.
"""
from __future__ import annotations

from datetime import datetime, time as dtime
from typing import Any

from common.clock import iso

from .province_link import link_state
from .province_reports import known_sites, site_names
from .queries import Reader
from .site_config import site_history

AMBER_SHARE = 0.8  # a wait past this share of its target turns amber
SAT_RED, SAT_AMBER = 0.6, 0.8  # satisfaction today under these: red, amber
SATISFIED_LEVELS = 2
LEVELS = ("ok", "amber", "red")


def _worst(*levels: str) -> str:
    return max(levels, key=LEVELS.index) if levels else "ok"


def province_snapshot(reader: Reader, sites: list[str] | None = None) -> dict[str, Any]:
    """``{"generated_at", "sites": [row, ...], "total": {...}}`` for ``sites`` (None: every site known)."""
    conn = reader.conn
    now = reader.clock.now()
    all_sites = known_sites(conn)
    sites = [s for s in all_sites if sites is None or s in sites]
    names = site_names(conn, sites)
    start = datetime.combine(now.astimezone(reader.tz).date(), dtime(0), reader.tz).timestamp()
    desks: dict[str, list[dict[str, Any]]] = {}
    for d in reader.desks(None):
        desks.setdefault(d["site"], []).append(d)
    queue: dict[str, list[dict[str, Any]]] = {}
    for q in reader.queue(None):
        queue.setdefault(q["site"], []).append(q)
    devices: dict[str, list[tuple[str, bool]]] = {}
    for r in conn.execute("SELECT site, device, status FROM devices WHERE status IS NOT NULL"):
        devices.setdefault(r[0], []).append((r[1], r[2] == "online"))
    faulty: dict[str, set[str]] = {}
    for (s, device) in reader._open_faults(None):
        faulty.setdefault(s, set()).add(device)
    rated: dict[str, tuple[int, int]] = {}
    for r in conn.execute("SELECT site, count(*), sum(CASE WHEN score > coalesce(scale, 5) - ? THEN 1 ELSE 0 END) "
                          "FROM ratings WHERE ts_epoch >= ? AND misuse = 0 GROUP BY site", (SATISFIED_LEVELS, start)):
        rated[r[0]] = (int(r[1]), int(r[2] or 0))
    rows = [_row(s, names[s], desks.get(s, []), queue.get(s, []), devices.get(s, []), faulty.get(s, set()),
                 rated.get(s, (0, 0)), link_state(conn, s), site_history(conn, s).current.targets_min)
            for s in sites]
    total = {"sites": len(rows), "waiting": sum(r["waiting"] for r in rows),
             "staffed": sum(r["staffed"] for r in rows), "desks": sum(r["desks"] for r in rows),
             "faulty_devices": sum(r["faulty_devices"] for r in rows),
             "links_down": sum(1 for r in rows if r["link"] is not None and not r["link"]["up"]),
             "red": sum(1 for r in rows if r["level"] == "red"), "amber": sum(1 for r in rows if r["level"] == "amber")}
    return {"generated_at": iso(now), "sites": rows, "total": total}


def _row(site: str, name: tuple[str, str], desks: list[dict[str, Any]], queue: list[dict[str, Any]],
         devices: list[tuple[str, bool]], faulty: set[str], rated: tuple[int, int], link: dict[str, Any] | None,
         targets_min: dict[str, float]) -> dict[str, Any]:
    online = sum(1 for _, up in devices if up)
    offline = [d for d, up in devices if not up]
    waiting = sum(int(q["waiting"] or 0) for q in queue)
    longest: dict[str, Any] | None = None
    wait_level = "ok"
    for q in queue:
        if not q["waiting"]:
            continue
        target = targets_min.get(q["service"])
        share = q["longest_wait_s"] / (target * 60) if target else None
        level = "ok" if share is None else ("red" if share > 1 else ("amber" if share > AMBER_SHARE else "ok"))
        if longest is None or q["longest_wait_s"] > longest["wait_s"]:
            longest = {"service": q["service"], "name_vi": q["name_vi"], "name_en": q["name_en"],
                       "wait_s": q["longest_wait_s"], "target_s": target * 60 if target else None, "share": share}
        wait_level = _worst(wait_level, level)
    staffed = sum(1 for d in desks if d["officer"]["id"])
    n, sat = rated
    share_sat = sat / n if n else None
    sat_level = "ok" if share_sat is None else ("red" if share_sat < SAT_RED else
                                                ("amber" if share_sat < SAT_AMBER else "ok"))
    link_level = "ok" if link is None or link["up"] else "red"
    device_level = "red" if faulty or offline else "ok"
    return {"site": site, "name_vi": name[0], "name_en": name[1], "href": f"/?site={site}",
            "online": bool(online) and (link is None or bool(link["up"])), "devices": len(devices),
            "devices_online": online, "offline": sorted(offline), "waiting": waiting, "longest": longest,
            "wait_level": wait_level, "desks": len(desks), "staffed": staffed, "ratings_today": n,
            "satisfaction_today": share_sat, "sat_level": sat_level, "faulty_devices": len(faulty | set(offline)),
            "faulty": sorted(faulty), "device_level": device_level, "link": link, "link_level": link_level,
            "level": _worst(wait_level, sat_level, link_level, device_level)}
