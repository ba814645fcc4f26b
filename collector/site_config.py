"""The site configuration the reports measure against, with its history.

Every version of the retained ``state/site`` the collector has seen is kept in ``site_config_history``
(written by :class:`collector.store.Store`, one row per change, valid from the version's own ``ts`` or,
without one, from when it arrived, until the next version). A past period is measured with the
version in force at the time: each local day with the version in force at its local midnight (days
before the first known version use the first one), each ticket's target with the version in force when
it was issued.

Also here: the interval helpers every report uses and the site's first data day (periods are cut to
start there, so days before the system existed never dilute a share).
"""
from __future__ import annotations

import bisect
import json
import logging
from dataclasses import dataclass, field
from datetime import date, datetime, time as dtime, timedelta
from typing import Any, Iterable
from zoneinfo import ZoneInfo
from .backend import Conn, has_table

log = logging.getLogger(__name__)

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Interval = tuple[float, float]


# -- intervals ---------------------------------------------------------------------------------------

def union(iv: Iterable[Interval]) -> list[Interval]:
    out: list[Interval] = []
    for s, e in sorted(iv):
        if e <= s:
            continue
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


def intersect(a: list[Interval], b: list[Interval]) -> list[Interval]:
    """Intersection of two sorted lists of disjoint intervals."""
    out: list[Interval] = []
    i = j = 0
    while i < len(a) and j < len(b):
        s, e = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if e > s:
            out.append((s, e))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


def total_s(iv: Iterable[Interval]) -> float:
    return sum(e - s for s, e in iv)


def local_days(first: date, end: date) -> list[date]:
    out, d = [], first
    while d < end:
        out.append(d)
        d += timedelta(days=1)
    return out


def day_hours(d: date, hours: dict[str, list[tuple[str, str]]], tz: ZoneInfo) -> list[Interval]:
    out: list[Interval] = []
    for a, b in hours.get(WEEKDAYS[d.weekday()], []):
        s = datetime.combine(d, dtime.fromisoformat(a), tz).timestamp()
        e = datetime.combine(d, dtime.fromisoformat(b), tz).timestamp()
        if e > s:
            out.append((s, e))
    return out


# -- one version -------------------------------------------------------------------------------------

@dataclass
class SiteFacts:
    """What reports need from one ``state/site`` version: targets, names, desks, opening hours."""

    site: str | None = None
    targets_min: dict[str, float] = field(default_factory=dict)
    service_names: dict[str, tuple[str, str]] = field(default_factory=dict)
    desks: list[int] = field(default_factory=list)
    desk_services: dict[int, list[str]] = field(default_factory=dict)
    hours: dict[str, list[tuple[str, str]]] | None = None
    closed_days: set[str] = field(default_factory=set)

    def day_opening(self, d: date, tz: ZoneInfo) -> list[Interval] | None:
        """Opening hours of one local day as epoch intervals; None when hours are unknown."""
        if self.hours is None:
            return None
        if d.isoformat() in self.closed_days:
            return []
        return day_hours(d, self.hours, tz)

    @classmethod
    def from_payload(cls, site: str | None, payload: str) -> "SiteFacts":
        try:
            s = json.loads(payload)
            return cls(
                site=site,
                targets_min={v["code"]: float(v["target_wait_min"]) for v in s.get("services", [])
                             if v.get("target_wait_min") is not None},
                service_names={v["code"]: (v.get("name_vi", v["code"]), v.get("name_en", v["code"]))
                               for v in s.get("services", [])},
                desks=sorted(int(d["number"]) for d in s.get("desks", [])),
                desk_services={int(d["number"]): list(d.get("services") or []) for d in s.get("desks", [])},
                hours={k: [(str(a), str(b)) for a, b in v] for k, v in (s.get("hours") or {}).items()},
                closed_days=set(s.get("closed_days") or []))
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("state/site of %s is not usable for reports: %s", site, exc)
            return cls(site=site)


# -- the history -------------------------------------------------------------------------------------

@dataclass
class SiteHistory:
    """Versions sorted by ``valid_from`` (epoch); the first also covers everything before it."""

    versions: list[tuple[float, SiteFacts]]
    site: str | None = None

    @property
    def current(self) -> SiteFacts:
        return self.versions[-1][1] if self.versions else SiteFacts(site=self.site)

    def at(self, epoch: float) -> SiteFacts:
        if not self.versions:
            return SiteFacts(site=self.site)
        if len(self.versions) == 1:
            return self.versions[0][1]
        i = bisect.bisect_right([v for v, _ in self.versions], epoch) - 1
        return self.versions[max(i, 0)][1]

    def opening(self, first: date, end: date, tz: ZoneInfo) -> list[Interval] | None:
        """Opening intervals of the local days ``[first, end)``, each day by the version in force at
        its midnight; None when no version knows the hours."""
        out: list[Interval] = []
        known = False
        for d in local_days(first, end):
            got = self.at(datetime.combine(d, dtime(0), tz).timestamp()).day_opening(d, tz)
            if got is not None:
                known = True
                out.extend(got)
        return union(out) if known else None

    def all_desks(self) -> list[int]:
        return sorted({d for _, f in self.versions for d in f.desks})

    def target_s(self, service: str | None, at: float) -> float | None:
        facts = self.versions[0][1] if len(self.versions) == 1 else self.at(at)
        t = facts.targets_min.get(service or "")
        return t * 60 if t is not None else None


def site_history(conn: Conn, site: str | None = None) -> SiteHistory:
    """Every stored version of the site's config; without a history table or rows, the current
    retained ``state/site`` as the only version."""
    w, a = (" AND site=?", [site]) if site else ("", [])
    rows: list[Any] = []
    if has_table(conn, "site_config_history"):
        rows = conn.execute(f"SELECT site, payload, valid_from_epoch FROM site_config_history WHERE 1=1{w} "
                            "ORDER BY valid_from_epoch", a).fetchall()
        if rows and not site:  # several sites and no site asked: the one seen last
            last = rows[-1][0]
            rows = [r for r in rows if r[0] == last]
    if not rows:
        rows = conn.execute("SELECT site, payload, received_epoch FROM retained_state WHERE name='site' AND "
                            f"device IS NULL{w} ORDER BY received_epoch DESC, topic LIMIT 1", a).fetchall()
    versions = [(float(r[2]), SiteFacts.from_payload(r[0], r[1])) for r in rows]
    return SiteHistory(versions, site=versions[-1][1].site if versions else site)


def site_facts(conn: Conn, site: str | None = None) -> SiteFacts:
    """The site's current config (the latest version)."""
    return site_history(conn, site).current


FIRST_DATA_SQL = (
    "SELECT min(m) FROM (SELECT min(ts_epoch) m FROM events WHERE 1=1{w} UNION ALL "
    "SELECT min(ts_epoch) FROM ticket_events WHERE 1=1{w} UNION ALL "
    "SELECT min(ts_epoch) FROM ratings WHERE 1=1{w} UNION ALL "
    "SELECT min(ts_epoch) FROM presence WHERE zone='officer' AND kind='change'{w} UNION ALL "
    "SELECT min(ts_epoch) FROM desk_sessions WHERE 1=1{w}) AS firsts")


def first_data_day(conn: Conn, tz: ZoneInfo, site: str | None = None) -> date | None:
    """The local day of the site's first stored event (None when nothing is stored yet)."""
    w, a = (" AND site=?", [site]) if site else ("", [])
    m = conn.execute(FIRST_DATA_SQL.format(w=w), a * 5).fetchone()[0]
    return datetime.fromtimestamp(m, tz).date() if m is not None else None


def record_version(conn: Conn, site: str, payload: str, valid_from: datetime) -> bool:
    """Keep ``payload`` as a new version when it differs from the one in force (its ``ts`` aside);
    True when stored. Called by the writer inside its transaction."""
    def norm(text: str) -> str:
        d = json.loads(text)
        d.pop("ts", None)
        return json.dumps(d, sort_keys=True, ensure_ascii=False)

    new = norm(payload)
    ep = valid_from.timestamp()
    prev = conn.execute("SELECT payload FROM site_config_history WHERE site=? AND valid_from_epoch<=? "
                        "ORDER BY valid_from_epoch DESC LIMIT 1", (site, ep)).fetchone()
    if prev is not None and norm(prev[0]) == new:
        return False
    conn.execute("INSERT INTO site_config_history (site, valid_from_epoch, valid_from, payload) "
                 "VALUES (?, ?, ?, ?) ON CONFLICT (site, valid_from_epoch) DO UPDATE SET "
                 "valid_from=excluded.valid_from, payload=excluded.payload", (site, ep, valid_from.isoformat(), payload))
    return True
