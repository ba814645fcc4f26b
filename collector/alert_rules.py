"""What needs a manager now, read from the live data the collector stores (one read connection).

Each rule yields :class:`Condition` values keyed by ``(site, kind, subject)``; the engine
(:mod:`collector.alerts`) turns a key that appears into a raised alert and a key that disappears into a
cleared one. ``severity`` is ``red`` past the threshold (an alert) or ``amber`` on the way there (a hint
for the dashboard's desk cards, never stored or sent).

Rules (thresholds from ``[alerts]`` in collector.toml, :class:`collector.manager_config.AlertThresholds`):

- ``officer_away`` (desk): the desk is open (within today's opening hours, and an officer is signed in
  there or rostered now) and its officer zone has been empty longer than ``officer_away_min`` while one
  of its services has people waiting;
- ``wait_over_target`` (service): the longest wait of a service, in open minutes, passed its target;
- ``low_ratings`` (desk): ``k`` of the desk's last ``n`` ratings (misuse presses aside) at the bottom
  ``low_levels`` levels;
- ``device_offline``: a device's status is offline for longer than ``device_offline_min``;
- ``device_fault``: an open fault (printer out of paper, cover open, camera lost, ...), one per code;
- ``outbox_growing``: a device's outbox holds more than ``outbox_growing`` events;
- ``seq_gap``: events missing from a device's sequence (at least ``seq_gap_min_missing``);
- ``province_link`` (``link:province``): the site's link to the province is down longer than
  ``province_link_down_min``: the bridge's retained ``0`` on ``motcua/link/{site}``, kept with its
  since-time by collector/province_link.py; no notification at all counts as down from the first
  evaluation. Only when the collector is configured with ``province_link = true``;
- ``device_forbidden``: the device sent a message its registry role or desk does not allow (counted by
  collector/authz.py in ``devices.forbidden``) within the last ``forbidden_window_min``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Iterator, Literal
from zoneinfo import ZoneInfo

from .backend import Conn
from .manager_config import AlertThresholds
from .province_link import link_state
from .reports import OpenClock
from .site_config import SiteHistory, site_history
from .staff import Staff

Severity = Literal["red", "amber"]
KIND_TITLES: dict[str, tuple[str, str]] = {
    "officer_away": ("Quầy vắng cán bộ khi có người chờ", "Desk unattended while people wait"),
    "wait_over_target": ("Thời gian chờ vượt chỉ tiêu", "Wait past its target"),
    "low_ratings": ("Nhiều đánh giá thấp liên tiếp", "Run of low ratings"),
    "device_offline": ("Thiết bị mất kết nối", "Device offline"),
    "device_fault": ("Thiết bị báo lỗi", "Device fault"),
    "outbox_growing": ("Thiết bị tồn đọng dữ liệu chưa gửi", "Device outbox growing"),
    "seq_gap": ("Thiếu sự kiện từ thiết bị", "Events missing from a device"),
    "province_link": ("Mất kết nối với tỉnh", "Link to the province down"),
    "device_forbidden": ("Thiết bị gửi tin không được phép", "Device sending forbidden messages"),
}


@dataclass(frozen=True)
class Condition:
    site: str
    kind: str
    subject: str
    severity: Severity
    message_vi: str
    message_en: str
    desk: int | None = None
    detail: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.site, self.kind, self.subject)


def _mins(s: float) -> str:
    return f"{int(s // 60)}"


def _sites(conn: Conn, site: str | None) -> list[str]:
    if site:
        return [site]
    rows = conn.execute("SELECT site FROM retained_state WHERE name='site' UNION SELECT site FROM devices").fetchall()
    return sorted({r[0] for r in rows if r[0]})


class Rules:
    """All the rules over one read connection; :meth:`conditions` is the whole picture at ``now``."""

    def __init__(self, thresholds: AlertThresholds, staff: Staff | None = None, tz: str = "Asia/Ho_Chi_Minh",
                 province_link: bool = False):
        self.t = thresholds
        self.province_link = province_link
        self._first_look: dict[str, float] = {}  # site -> when a link with no notification yet was first seen
        self.staff = staff or Staff()
        self.tz = ZoneInfo(tz)

    def conditions(self, conn: Conn, now: datetime, site: str | None = None) -> list[Condition]:
        out: list[Condition] = []
        for s in _sites(conn, site):
            hist = site_history(conn, s)
            waiting = self._waiting(conn, s, now, hist)
            out += self._desks(conn, s, now, hist, waiting)
            out += self._waits(s, hist, waiting)
            out += self._ratings(conn, s, hist)
            out += list(self._devices(conn, s, now))
            if self.province_link:
                out += self._link(conn, s, now)
        return out

    def _link(self, conn: Conn, site: str, now: datetime) -> list[Condition]:
        st = link_state(conn, site)
        if st is not None and st["up"]:
            return []
        since_epoch = (datetime.fromisoformat(st["since"]).timestamp() if st is not None
                       else self._first_look.setdefault(site, now.timestamp()))
        down = now.timestamp() - since_epoch
        limit = self.t.province_link_down_min * 60
        sev: Severity | None = "red" if down > limit else ("amber" if down > limit * self.t.amber_share else None)
        if sev is None:
            return []
        since = st["since"] if st is not None else None
        never_vi, never_en = ("", "") if st is not None else (" (chưa từng kết nối)", " (never connected)")
        return [Condition(site, "province_link", "link:province", sev,
                          f"Mất kết nối với tỉnh từ {_mins(down)} phút{never_vi}",
                          f"Link to the province down for {_mins(down)} min{never_en}",
                          None, {"since": since, "down_s": round(down)})]

    # -- the queue and the desks ----------------------------------------------------------------

    def _waiting(self, conn: Conn, site: str, now: datetime,
                 hist: SiteHistory) -> dict[str, tuple[int, float]]:
        """service -> (people waiting, longest wait in open seconds) from the retained state/service."""
        clock = OpenClock(hist, self.tz)
        out: dict[str, tuple[int, float]] = {}
        today = now.astimezone(self.tz).date().isoformat()
        for r in conn.execute("SELECT payload FROM retained_state WHERE site=? AND name='service' AND device IS NULL",
                              (site,)):
            try:
                d = json.loads(r[0])
                if d.get("day") != today or not d.get("waiting"):
                    continue
                oldest = d.get("oldest_issued_at")
                longest = clock.open_wait(datetime.fromisoformat(oldest).timestamp(), now.timestamp()) if oldest else 0.0
                out[str(d["service"])] = (int(d["waiting"]), longest)
            except (ValueError, KeyError, TypeError):
                continue
        return out

    def _open_now(self, hist: SiteHistory, now: datetime) -> bool:
        local = now.astimezone(self.tz)
        facts = hist.at(now.timestamp())
        iv = facts.day_opening(local.date(), self.tz)
        return iv is None or any(s <= now.timestamp() < e for s, e in iv)

    def _desks(self, conn: Conn, site: str, now: datetime, hist: SiteHistory,
               waiting: dict[str, tuple[int, float]]) -> list[Condition]:
        if not self._open_now(hist, now):
            return []
        facts = hist.current
        # the latest session event per desk
        signed = {int(r["desk"]): r["officer"] for r in conn.execute(
            "SELECT d.desk, d.officer, d.action FROM desk_sessions d JOIN (SELECT desk, max(ts_epoch) m FROM "
            "desk_sessions WHERE site=? GROUP BY desk) l ON d.desk=l.desk AND d.ts_epoch=l.m WHERE d.site=?",
            (site, site)) if r["action"] == "sign_in"}
        away = {int(r["desk"]): r["since"] for r in conn.execute(
            "SELECT desk, since FROM desk_presence WHERE site=? AND zone='officer' AND present=0", (site,))}
        out = []
        day = now.astimezone(self.tz).date()
        opening = {day: facts.day_opening(day, self.tz) or []}
        limit = self.t.officer_away_min * 60
        for desk, since in away.items():
            rostered = any(s <= now.timestamp() < e for s, e in
                           self.staff.rostered(day, day + timedelta(days=1), self.tz, opening, desk=desk))
            if desk not in signed and not rostered:
                continue
            services = facts.desk_services.get(desk, [])
            queued = {sv: waiting[sv][0] for sv in services if sv in waiting}
            if not queued or not since:
                continue
            empty_s = now.timestamp() - datetime.fromisoformat(since).timestamp()
            sev: Severity | None = "red" if empty_s > limit else ("amber" if empty_s > limit * self.t.amber_share
                                                                 else None)
            if sev is None:
                continue
            who = self.staff.label(signed.get(desk))
            people = sum(queued.values())
            out.append(Condition(site, "officer_away", f"desk:{desk}", sev,
                                 f"Quầy {desk} vắng cán bộ ({who}) {_mins(empty_s)} phút, {people} người đang chờ "
                                 f"({', '.join(queued)})",
                                 f"Desk {desk} unattended ({who}) for {_mins(empty_s)} min, {people} waiting "
                                 f"({', '.join(queued)})", desk,
                                 {"desk": desk, "officer": signed.get(desk), "empty_since": since,
                                  "empty_s": round(empty_s), "waiting": queued, "services": services}))
        return out

    def _waits(self, site: str, hist: SiteHistory, waiting: dict[str, tuple[int, float]]) -> list[Condition]:
        if not self.t.wait_over_target:
            return []
        facts = hist.current
        out = []
        for sv, (n, longest) in waiting.items():
            target = facts.targets_min.get(sv, self.t.wait_target_default_min)
            if target is None:
                continue
            sev: Severity | None = "red" if longest > target * 60 else (
                "amber" if longest > target * 60 * self.t.amber_share else None)
            if sev is None:
                continue
            vi, en = facts.service_names.get(sv, (sv, sv))
            out.append(Condition(site, "wait_over_target", f"service:{sv}", sev,
                                 f"{vi}: chờ lâu nhất {_mins(longest)} phút (chỉ tiêu {target:g} phút), {n} người chờ",
                                 f"{en}: longest wait {_mins(longest)} min (target {target:g} min), {n} waiting",
                                 None, {"service": sv, "longest_wait_s": round(longest), "target_min": target,
                                        "waiting": n, "desks": [d for d, s in facts.desk_services.items() if sv in s]}))
        return out

    def _ratings(self, conn: Conn, site: str, hist: SiteHistory) -> list[Condition]:
        k, n = self.t.low_rating_run
        out = []
        desks = set(hist.all_desks()) | {int(r[0]) for r in conn.execute(
            "SELECT DISTINCT desk FROM desk_presence WHERE site=?", (site,))}
        for desk in sorted(desks):
            rows = conn.execute("SELECT score, scale FROM ratings WHERE desk=? AND site=? AND misuse=0 "
                                "ORDER BY ts_epoch DESC, id DESC LIMIT ?", (desk, site, n)).fetchall()
            low = sum(1 for r in rows if r["score"] <= self.t.low_levels)
            if low >= k:
                out.append(Condition(site, "low_ratings", f"desk:{desk}", "red",
                                     f"Quầy {desk}: {low} trong {len(rows)} đánh giá gần nhất ở mức thấp",
                                     f"Desk {desk}: {low} of the last {len(rows)} ratings are low", desk,
                                     {"desk": desk, "low": low, "last": len(rows), "k": k, "n": n}))
        return out

    # -- devices --------------------------------------------------------------------------------

    def _devices(self, conn: Conn, site: str, now: datetime) -> Iterator[Condition]:
        t = self.t
        for r in conn.execute("SELECT * FROM devices WHERE site=? ORDER BY device", (site,)):
            dev, desk = r["device"], r["desk"]
            if r["status"] == "offline" and r["status_at"]:
                down = now.timestamp() - datetime.fromisoformat(r["status_at"]).timestamp()
                if down > t.device_offline_min * 60:
                    yield Condition(site, "device_offline", f"device:{dev}", "red",
                                    f"Thiết bị {dev} mất kết nối từ {_mins(down)} phút",
                                    f"Device {dev} offline for {_mins(down)} min", desk,
                                    {"device": dev, "since": r["status_at"], "role": r["role"]})
            yield from self._forbidden(site, r, now)
            if r["outbox_depth"] is not None and r["outbox_depth"] > t.outbox_growing:
                yield Condition(site, "outbox_growing", f"device:{dev}", "red",
                                f"Thiết bị {dev}: {r['outbox_depth']} sự kiện chưa gửi được",
                                f"Device {dev}: {r['outbox_depth']} events waiting in its outbox", desk,
                                {"device": dev, "outbox_depth": r["outbox_depth"]})
        yield from self._faults(conn, site)
        for r in conn.execute("SELECT device, sum(to_seq - from_seq + 1) AS missing, min(detected_at) AS since "
                              "FROM seq_gaps WHERE site=? GROUP BY device", (site,)):
            if r["missing"] >= t.seq_gap_min_missing:
                yield Condition(site, "seq_gap", f"device:{r['device']}", "red",
                                f"Thiết bị {r['device']}: thiếu {r['missing']} sự kiện",
                                f"Device {r['device']}: {r['missing']} events missing", None,
                                {"device": r["device"], "missing": r["missing"], "since": r["since"]})

    def _forbidden(self, site: str, r: Any, now: datetime) -> Iterator[Condition]:
        keys = r.keys()
        if "forbidden" not in keys or not r["forbidden"] or not r["forbidden_at"]:
            return
        ago = now.timestamp() - datetime.fromisoformat(r["forbidden_at"]).timestamp()
        if ago > self.t.forbidden_window_min * 60:
            return
        dev = r["device"]
        yield Condition(site, "device_forbidden", f"device:{dev}", "red",
                        f"Thiết bị {dev} gửi tin không được phép ({r['forbidden']} lần; gần nhất: "
                        f"{r['forbidden_reason'] or '-'})",
                        f"Device {dev} sent forbidden messages ({r['forbidden']} so far; last: "
                        f"{r['forbidden_reason'] or '-'})", r["desk"],
                        {"device": dev, "forbidden": r["forbidden"], "last_at": r["forbidden_at"],
                         "reason": r["forbidden_reason"]})

    def _faults(self, conn: Conn, site: str) -> Iterator[Condition]:
        for r in conn.execute(
                "SELECT f.device, f.code, f.message_vi, f.message_en, f.ts, d.desk FROM faults f JOIN "
                "(SELECT device, code, max(ts_epoch) m FROM faults WHERE site=? GROUP BY device, code) l "
                "ON f.device=l.device AND f.code=l.code AND f.ts_epoch=l.m LEFT JOIN devices d "
                "ON d.site=f.site AND d.device=f.device WHERE f.site=? AND f.active=1", (site, site)):
            yield Condition(site, "device_fault", f"device:{r['device']}:{r['code']}", "red",
                            f"{r['device']}: {r['message_vi'] or r['code']}",
                            f"{r['device']}: {r['message_en'] or r['code']}", r["desk"],
                            {"device": r["device"], "code": r["code"], "since": r["ts"]})

