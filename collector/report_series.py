"""Chart data for the managers' reports: arrivals, waits and officer presence by local hour, and
satisfaction over time. Same definitions as :mod:`collector.reports`, which builds the tables."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time as dtime
from typing import Any, Callable, Iterable
from zoneinfo import ZoneInfo

from .backend import Conn
from .reports import (DEFAULT_TZ, Interval, Period, _issued_epoch, intersect, is_satisfied, rating_rows,
                      ticket_rows, zone)
from .site_config import first_data_day, site_history
from .staffing import officer_zone, subtract


@dataclass
class TimePoint:
    """One point of satisfaction over time: a local day (``2026-11-23``) or hour (``09:00``)."""

    label: str
    ratings: int
    satisfied: int

    @property
    def rate(self) -> float | None:
        return self.satisfied / self.ratings if self.ratings else None


def _local(t: float, z: ZoneInfo) -> datetime:
    return datetime.fromtimestamp(t, z)


def arrivals_by_hour(conn: Conn, period: Period, tz: str = DEFAULT_TZ,
                     site: str | None = None) -> dict[int, int]:
    """Tickets issued per local hour of day (summed over the days of the period)."""
    z = zone(tz)
    start, end = period.epochs(z)
    seen: set[tuple[str, str]] = set()
    out: dict[int, int] = {}
    for r in ticket_rows(conn, start, end, site, ("issued",), "day, ticket, ts_epoch"):
        if (r["day"], r["ticket"]) in seen:
            continue
        seen.add((r["day"], r["ticket"]))
        h = _local(r["ts_epoch"], z).hour
        out[h] = out.get(h, 0) + 1
    return out


def waits_by_hour(conn: Conn, period: Period, tz: str = DEFAULT_TZ,
                  site: str | None = None) -> dict[int, tuple[float, int]]:
    """Average wait (seconds) of the tickets called in the period, by local hour of issue: ``{h: (avg, n)}``.

    Only a ticket's first call counts (a recall or a call after a transfer is not a new wait)."""
    z = zone(tz)
    start, end = period.epochs(z)
    first: dict[tuple[str, str], Any] = {}
    for r in ticket_rows(conn, start, end, site, ("called",), "day, ticket, issued_at, wait_s, ts_epoch"):
        if r["wait_s"] is not None:
            first.setdefault((r["day"], r["ticket"]), r)
    sums: dict[int, list[float]] = {}
    for r in first.values():
        sums.setdefault(_local(_issued_epoch(r), z).hour, []).append(r["wait_s"])
    return {h: (sum(v) / len(v), len(v)) for h, v in sorted(sums.items())}


def satisfaction_over_time(conn: Conn, period: Period, levels: int = 2, tz: str = DEFAULT_TZ,
                           site: str | None = None) -> list[TimePoint]:
    """Per local hour for a day, per local day for a month, quarter or year (empty buckets included)."""
    z = zone(tz)
    start, end = period.epochs(z)
    if period.kind == "day":
        points = {f"{h:02d}:00": TimePoint(f"{h:02d}:00", 0, 0) for h in range(24)}
        bucket: Callable[[datetime], str] = lambda t: f"{t.hour:02d}:00"  # noqa: E731
    else:
        points = {d.isoformat(): TimePoint(d.isoformat(), 0, 0) for d in period.days()}
        bucket = lambda t: t.date().isoformat()  # noqa: E731
    for r in rating_rows(conn, start, end, site):
        if r["misuse"]:
            continue
        p = points[bucket(_local(r["ts_epoch"], z))]
        p.ratings += 1
        p.satisfied += is_satisfied(r["score"], r["scale"], levels)
    out = list(points.values())
    if period.kind == "day":  # trim the empty night hours at both ends
        used = [i for i, p in enumerate(out) if p.ratings]
        out = out[used[0]:used[-1] + 1] if used else []
    return out


def _seconds_by_hour(iv: Iterable[Interval], z: ZoneInfo) -> dict[int, float]:
    out: dict[int, float] = {}
    for s, e in iv:
        t = s
        while t < e:
            lt = _local(t, z)
            nxt = min(e, t + 3600 - (lt.minute * 60 + lt.second + lt.microsecond / 1e6))
            out[lt.hour] = out.get(lt.hour, 0.0) + (nxt - t)
            t = nxt
    return out


def occupancy_by_hour(conn: Conn, period: Period, tz: str = DEFAULT_TZ, site: str | None = None,
                      now: float | None = None) -> dict[int, dict[int, float]]:
    """Per desk, per local opening hour of day: share of that hour's opening time with the officer present.

    Measured from the site's first data day (earlier days never dilute it), each day with the opening
    hours in force that day; without known opening hours the whole hour counts as open."""
    z = zone(tz)
    start, end = period.epochs(z)
    stop = min(end, now) if now is not None else end
    if stop <= start:
        return {}
    history = site_history(conn, site)
    first = first_data_day(conn, z, site)
    if first is None or first >= period.end_day:
        return {}
    first = max(first, period.first_day)
    opening = history.opening(first, period.end_day, z)
    m_start = datetime.combine(first, dtime(0), z).timestamp()
    opening = intersect(opening if opening is not None else [(m_start, end)], [(max(start, m_start), stop)])
    presence, unknown = officer_zone(conn, start, stop, site)
    out: dict[int, dict[int, float]] = {}
    for desk in sorted(set(history.all_desks()) | set(presence)):
        seen = subtract(opening, unknown.get(desk, []))  # unknown time is measured neither way
        present = _seconds_by_hour(intersect(presence.get(desk, []), seen), z)
        out[desk] = {h: present.get(h, 0.0) / o for h, o in sorted(_seconds_by_hour(seen, z).items()) if o > 0}
    return out
