"""The read side: what the dashboard and the JSON API show, straight from the store.

Each thread gets its own read connection (SQLite: WAL readers never block the writer); on
PostgreSQL the threads share a few read-only connections (psycopg serialises each one).
"""
from __future__ import annotations

import itertools
import json
import threading
from datetime import date, datetime, time as dtime, timedelta
from pathlib import Path
from typing import Any, Callable
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from common.clock import Clock, SystemClock, iso
from mqtt.schemas import DeskState, ServiceState, SiteState

from . import backend
from .alerts import desk_cards, open_alerts
from .backend import Conn
from .db import connect
from .site_config import site_history
from .staff import Staff
from .errors import CollectorError

MAX_LIMIT = 1000
PG_READERS = 4  # read connections one Reader keeps on a PostgreSQL store


class BadQuery(CollectorError, ValueError):
    """A query parameter that makes no sense (the message says what would)."""


class Reader:
    """Reads the store ``path``: a SQLite file or a ``postgresql://`` URL."""

    def __init__(self, path: str | Path, clock: Clock | None = None, tz: str = "Asia/Ho_Chi_Minh"):
        self.path = str(path)
        # the alerts engine's latest conditions (red and amber), for the desk cards; set by the service
        self.alert_source: Callable[[], list[Any]] | None = None
        self.staff = Staff()  # the officer directory (names on the desk cards); set by the service
        self.tz = ZoneInfo(tz)
        self.clock = clock or SystemClock(tz)
        self._local = threading.local()
        self._shared: list[Conn] = []
        self._lock = threading.Lock()
        self._turn = itertools.count()

    @property
    def conn(self) -> Conn:
        c: Conn | None = getattr(self._local, "conn", None)
        if c is None:
            c = self._open()
            self._local.conn = c
        return c

    def _open(self) -> Conn:
        if backend.kind(self.path) == backend.POSTGRESQL:
            with self._lock:
                if len(self._shared) < PG_READERS:
                    self._shared.append(connect(self.path, readonly=True))
                    return self._shared[-1]
                return self._shared[next(self._turn) % len(self._shared)]
        c = connect(self.path, readonly=True)
        backend.query_only(c)
        return c

    def _day_start(self, d: date) -> float:
        return datetime.combine(d, dtime(0), self.tz).timestamp()

    def _where_site(self, site: str | None, col: str = "site") -> tuple[str, list[Any]]:
        return (f" AND {col}=?", [site]) if site else ("", [])

    def _states(self, name: str, site: str | None, devstate: bool = False) -> list[Any]:
        w, a = self._where_site(site)
        dev = "device IS NOT NULL" if devstate else "device IS NULL"
        return self.conn.execute(f"SELECT site, device, key, payload, received_at FROM retained_state "
                                 f"WHERE name=? AND {dev}{w}", [name, *a]).fetchall()

    # -- desks -----------------------------------------------------------------------------------

    def site_states(self, site: str | None = None) -> dict[str, SiteState]:
        out: dict[str, SiteState] = {}
        for r in self._states("site", site):
            try:
                out[r["site"]] = SiteState.model_validate_json(r["payload"])
            except ValidationError:
                continue
        return out

    def desks(self, site: str | None = None) -> list[dict[str, Any]]:
        now = self.clock.now()
        sites = self.site_states(site)
        desks: dict[tuple[str, int], dict[str, Any]] = {}

        def desk(s: str, n: int) -> dict[str, Any]:
            if (s, n) not in desks:
                desks[(s, n)] = {"site": s, "desk": n, "name_vi": None, "name_en": None, "services": [],
                                 "officer": {"id": None, "present": None, "since": None},
                                 "citizen": {"present": None, "since": None},
                                 "ticket": None, "service": None, "status": None, "called_at": None,
                                 "devices": [], "online": None,
                                 "ratings_today": {"count": 0, "average": None, "scale": None}}
            return desks[(s, n)]

        for s, st in sites.items():
            for d in st.desks:
                item = desk(s, d.number)
                item.update(name_vi=d.name_vi, name_en=d.name_en, services=d.services)
        w, a = self._where_site(site)
        for r in self.conn.execute("SELECT site, desk, officer, action FROM desk_sessions d WHERE ts_epoch = "
                                   "(SELECT max(ts_epoch) FROM desk_sessions x WHERE x.site=d.site AND "
                                   f"x.desk=d.desk){w}", a):
            desk(r["site"], r["desk"])["officer"]["id"] = r["officer"] if r["action"] == "sign_in" else None
        for r in self._states("desk", site):
            try:
                ds = DeskState.model_validate_json(r["payload"])
            except ValidationError:
                continue
            item = desk(r["site"], ds.desk)
            item.update(ticket=ds.ticket, service=ds.service, status=ds.status,
                        called_at=iso(ds.called_at) if ds.called_at else None)
            item["officer"]["id"] = ds.officer
        faults = self._open_faults(site)
        for r in self.conn.execute(f"SELECT * FROM desk_presence WHERE 1=1{w}", a):
            zone = desk(r["site"], r["desk"])[r["zone"]]
            zone.update(present=None if r["present"] is None else bool(r["present"]), since=r["since"])
            if r["present"] is None:  # the camera cannot read the zone: unknown, not absent; its fault says why
                zone.update(unknown=True, fault=_view_fault(faults.get((r["site"], r["device"]), []), r["zone"]))
        for r in self.conn.execute(f"SELECT site, device, role, status, desk FROM devices WHERE desk IS NOT NULL{w} "
                                   "ORDER BY device", a):
            desk(r["site"], r["desk"])["devices"].append(
                {"device": r["device"], "role": r["role"], "online": r["status"] == "online"})
        start = self._day_start(now.astimezone(self.tz).date())
        for r in self.conn.execute("SELECT site, desk, count(*) n, avg(score) avg, max(scale) scale FROM ratings "
                                   f"WHERE ts_epoch>=?{w} GROUP BY site, desk", [start, *a]):
            desk(r["site"], r["desk"])["ratings_today"] = {
                "count": r["n"], "average": round(r["avg"], 2) if r["avg"] is not None else None, "scale": r["scale"]}
        for item in desks.values():
            item["online"] = all(d["online"] for d in item["devices"]) if item["devices"] else None
            item["officer"]["name"] = self.staff.name(item["officer"]["id"])
        return [desks[k] for k in sorted(desks)]

    # -- queue -----------------------------------------------------------------------------------

    def queue(self, site: str | None = None) -> list[dict[str, Any]]:
        now = self.clock.now()
        names: dict[tuple[str, str], tuple[str, str]] = {}
        for s, st in self.site_states(site).items():
            for info in st.services:
                names[(s, info.code)] = (info.name_vi, info.name_en)
        out = []
        for r in self._states("service", site):
            try:
                sv = ServiceState.model_validate_json(r["payload"])
            except ValidationError:
                continue
            vi, en = names.get((r["site"], sv.service), (sv.service, sv.service))
            longest = (now - sv.oldest_issued_at).total_seconds() if sv.oldest_issued_at and sv.waiting else 0.0
            out.append({"site": r["site"], "service": sv.service, "name_vi": vi, "name_en": en, "day": sv.day,
                        "waiting": sv.waiting, "issued": sv.issued, "longest_wait_s": round(max(0.0, longest), 1),
                        "oldest_issued_at": iso(sv.oldest_issued_at) if sv.oldest_issued_at else None,
                        "est_wait_s": sv.est_wait_s, "last_called": sv.last_called})
        return sorted(out, key=lambda x: (x["site"], x["service"]))

    # -- devices ---------------------------------------------------------------------------------

    def _open_faults(self, site: str | None) -> dict[tuple[str, str], list[dict[str, Any]]]:
        """Per (site, device), its faults raised and not cleared since."""
        w, a = self._where_site(site)
        faults: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for r in self.conn.execute(
                "SELECT f.site, f.device, f.code, f.message_vi, f.message_en, f.detail, f.ts FROM faults f JOIN "
                "(SELECT site, device, code, max(ts_epoch) m FROM faults GROUP BY site, device, code) l "
                "ON f.site=l.site AND f.device=l.device AND f.code=l.code AND f.ts_epoch=l.m "
                f"WHERE f.active=1{w.replace('site', 'f.site')}", a):
            faults.setdefault((r["site"], r["device"]), []).append(
                {"code": r["code"], "message_vi": r["message_vi"], "message_en": r["message_en"], "since": r["ts"],
                 "detail": r["detail"]})
        return faults

    def devices(self, site: str | None = None) -> list[dict[str, Any]]:
        w, a = self._where_site(site)
        faults = self._open_faults(site)
        gaps: dict[tuple[str, str], list[dict[str, int]]] = {}
        for r in self.conn.execute(f"SELECT * FROM seq_gaps WHERE 1=1{w} ORDER BY site, device, from_seq", a):
            gaps.setdefault((r["site"], r["device"]), []).append({"from": r["from_seq"], "to": r["to_seq"]})
        out = []
        for r in self.conn.execute(f"SELECT * FROM devices WHERE 1=1{w} ORDER BY site, device", a):
            key = (r["site"], r["device"])
            g = gaps.get(key, [])
            tel = _telemetry(r["telemetry"])
            out.append({"site": r["site"], "device": r["device"], "role": r["role"], "version": r["version"],
                        "desk": r["desk"], "status": r["status"],
                        "online": None if r["status"] is None else r["status"] == "online",
                        "last_seen": r["last_seen"], "outbox_depth": r["outbox_depth"],
                        "clock_synced": None if r["clock_synced"] is None else bool(r["clock_synced"]),
                        "telemetry_at": r["telemetry_at"], "last_seq": r["last_seq"],
                        "cpu_temp_c": tel.get("cpu_temp_c"), "disk_free_mb": tel.get("disk_free_mb"),
                        "uptime_s": tel.get("uptime_s"),
                        "extra": tel["extra"] if isinstance(tel.get("extra"), dict) else {},
                        "open_faults": faults.get(key, []), "seq_gaps": g,
                        "forbidden": r["forbidden"] or 0, "forbidden_at": r["forbidden_at"],
                        "missing": sum(x["to"] - x["from"] + 1 for x in g)})
        return out

    # -- ratings and dead letters ----------------------------------------------------------------

    def _bound(self, value: str | None, end: bool) -> float | None:
        if not value:
            return None
        try:
            if len(value) == 10:
                d = date.fromisoformat(value)
                return self._day_start(d + timedelta(days=1) if end else d)
            # an unencoded '+' in a query string arrives as a space: take it back
            dt = datetime.fromisoformat(value.strip().replace(" ", "+").replace("Z", "+00:00"))
        except ValueError:
            raise BadQuery(f"{'to' if end else 'from'}={value!r} is not a date (2026-11-23) or a time with "
                           f"offset (2026-11-23T09:00:00+07:00)") from None
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=self.tz)
        return dt.timestamp()

    @staticmethod
    def _page(limit: int | None, offset: int | None) -> tuple[int, int]:
        lim = 100 if limit is None else limit
        off = 0 if offset is None else offset
        if not 1 <= lim <= MAX_LIMIT or off < 0:
            raise BadQuery(f"limit must be 1..{MAX_LIMIT} and offset >= 0 (got limit={lim}, offset={off})")
        return lim, off

    def ratings(self, *, from_: str | None = None, to: str | None = None, desk: int | None = None,
                officer: str | None = None, service: str | None = None, site: str | None = None,
                limit: int | None = None, offset: int | None = None) -> dict[str, Any]:
        lim, off = self._page(limit, offset)
        where, args = [], []
        lo, hi = self._bound(from_, False), self._bound(to, True)
        for cond, val in (("ts_epoch>=?", lo), ("ts_epoch<?", hi), ("desk=?", desk), ("officer=?", officer),
                          ("service=?", service), ("site=?", site)):
            if val is not None:
                where.append(cond)
                args.append(val)
        w = (" WHERE " + " AND ".join(where)) if where else ""
        total = self.conn.execute(f"SELECT count(*) FROM ratings{w}", args).fetchone()[0]
        rows = self.conn.execute(f"SELECT id, site, device, desk, score, scale, ticket, service, officer, misuse, "
                                 f"misuse_reason, day, ts FROM ratings{w} ORDER BY ts_epoch DESC, id "
                                 f"LIMIT ? OFFSET ?", [*args, lim, off]).fetchall()
        items = [dict(r) | {"misuse": bool(r["misuse"])} for r in rows]
        return {"items": items, "total": total}

    def dead_letters(self, *, reason: str | None = None, limit: int | None = None,
                     offset: int | None = None) -> dict[str, Any]:
        lim, off = self._page(limit, offset)
        w, a = (" WHERE reason=?", [reason]) if reason else ("", [])
        total = self.conn.execute(f"SELECT count(*) FROM dead_letters{w}", a).fetchone()[0]
        rows = self.conn.execute(f"SELECT * FROM dead_letters{w} ORDER BY id DESC LIMIT ? OFFSET ?",
                                 [*a, lim, off]).fetchall()
        return {"items": [dict(r) for r in rows], "total": total}

    def dead_letter_reasons(self) -> dict[str, int]:
        """How many dead letters per reason (the filter of the dead-letters page), most first."""
        rows = self.conn.execute("SELECT reason, count(*) n FROM dead_letters GROUP BY reason "
                                 "ORDER BY n DESC, reason").fetchall()
        return {r["reason"]: r["n"] for r in rows}

    def alerts(self, site: str | None = None) -> dict[str, Any]:
        """Open alerts (newest first, with since-when) and per desk red / amber / ok with the reasons."""
        conds = self.alert_source() if self.alert_source else []
        cards = desk_cards(conds, site_history(self.conn, site).current.desk_services)
        return {"open": open_alerts(self.conn, site),
                "desks": {str(d): c for d, c in cards.items() if c["level"] != "ok"}}

    def snapshot(self, site: str | None = None) -> dict[str, Any]:
        desks = self.desks(site)
        return {"generated_at": iso(self.clock.now()), "desks": desks, "queue": self.queue(site),
                "devices": self.devices(site), "alerts": self.alerts(site),
                "ratings_today": sum(d["ratings_today"]["count"] for d in desks),
                "dead_letters": self.conn.execute("SELECT count(*) FROM dead_letters").fetchone()[0]}

    def counts(self) -> dict[str, int]:
        return {t: self.conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                for t in ("events", "ratings", "dead_letters")}


VIEW_FAULTS = ("view_blocked", "view_dark", "camera_frozen")  # why a camera cannot read a zone


def _view_fault(open_faults: list[dict[str, Any]], zone: str) -> dict[str, Any] | None:
    """The camera's open view fault for ``zone`` (one whose detail names it first, else any), or None."""
    view = [f for f in open_faults if f["code"] in VIEW_FAULTS]
    named = [f for f in view if zone in str(f.get("detail") or "")]
    pick = named or view
    return {k: pick[0][k] for k in ("code", "message_vi", "message_en", "since")} if pick else None


def _telemetry(text: str | None) -> dict[str, Any]:
    """The stored latest telemetry (validated when it was stored), or {} when none/unreadable."""
    if not text:
        return {}
    try:
        tel = json.loads(text)
    except ValueError:
        return {}
    return tel if isinstance(tel, dict) else {}


def dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
