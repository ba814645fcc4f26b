"""Who was at which desk when, and the fair presence share built from it.

- present: officer-zone presence ``change`` events per desk (the state at the start is the last change
  before it; a change counts from its ``since``);
- signed in: ``desk_sessions`` sign_in / sign_out per desk;
- the time a desk or an officer is *expected* at a desk (the denominator of the presence share): the
  rostered time when the roster (collector config) has entries for it, else the time an officer was
  signed in there; a site that never signs in (no ``desk_sessions`` at all) and has no roster falls back
  to the opening hours. Always within the opening hours, from the site's first data day, up to now.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Callable, Iterable
from zoneinfo import ZoneInfo

from .backend import Conn
from .site_config import Interval, intersect, total_s, union
from .staff import Staff

CHANGE_SLACK_S = 3600.0  # a presence change may be reported up to this long after its ``since``


def _site_clause(site: str | None) -> tuple[str, list[Any]]:
    return (" AND site=?", [site]) if site else ("", [])


def timeline(changes: list[tuple[float, Any]], start: float, end: float) -> list[tuple[float, float, Any]]:
    """``[(t, value), ...]`` sorted by t -> pieces ``(s, e, value)`` covering ``[start, end)``."""
    out: list[tuple[float, float, Any]] = []
    cur: Any = None
    cur_t = start
    for t, v in changes:
        if t <= start:
            cur = v
            continue
        if t >= end:
            break
        if t > cur_t:
            out.append((cur_t, t, cur))
        cur, cur_t = v, t
    if end > cur_t:
        out.append((cur_t, end, cur))
    return out


def _epoch_of(since: str | None, fallback: float) -> float:
    if since:
        try:
            return min(datetime.fromisoformat(since).timestamp(), fallback)
        except ValueError:
            pass
    return fallback


UNKNOWN = "unknown"  # a change with ``present: null``: the camera could not read the zone


def subtract(a: list[Interval], b: list[Interval]) -> list[Interval]:
    """``a`` without ``b`` (sorted lists of disjoint intervals)."""
    out: list[Interval] = []
    cut = union(b)
    for s, e in a:
        cur = s
        for bs, be in cut:
            if be <= cur:
                continue
            if bs >= e:
                break
            if bs > cur:
                out.append((cur, bs))
            cur = max(cur, be)
        if cur < e:
            out.append((cur, e))
    return out


def _officer_changes(conn: Conn, start: float, site: str | None, end: float) -> list[Any]:
    w, a = _site_clause(site)
    rows: list[Any] = []
    # the state at the start: the last change before it, per desk, walking the (site, desk, ts_epoch) index
    # backwards from the start instead of reading every earlier change
    for s_, d_ in conn.execute(f"SELECT DISTINCT site, desk FROM presence WHERE 1=1{w}", a).fetchall():
        last = conn.execute("SELECT desk, present, since, ts_epoch FROM presence WHERE site=? AND desk=? AND "
                            "ts_epoch < ? AND zone='officer' AND kind='change' ORDER BY ts_epoch DESC, id DESC LIMIT 1",
                            (s_, d_, start)).fetchone()
        if last is not None:
            rows.append(last)
    rows += conn.execute(f"SELECT desk, present, since, ts_epoch FROM presence WHERE zone='officer' AND "
                         f"kind='change'{w} AND ts_epoch >= ? AND ts_epoch < ? ORDER BY ts_epoch, id",
                         [*a, start, end + CHANGE_SLACK_S]).fetchall()
    return rows


def officer_zone(conn: Conn, start: float, end: float,
                 site: str | None = None) -> tuple[dict[int, list[Interval]], dict[int, list[Interval]]]:
    """Per desk, the intervals in ``[start, end)`` when the officer zone was occupied, and those when
    its state was unknown (``present: null``: view blocked, dark, camera frozen): neither present nor absent."""
    changes: dict[int, list[tuple[float, Any]]] = {}
    for r in _officer_changes(conn, start, site, end):
        v = UNKNOWN if r["present"] is None else bool(r["present"])
        changes.setdefault(int(r["desk"]), []).append((_epoch_of(r["since"], r["ts_epoch"]), v))
    present: dict[int, list[Interval]] = {}
    unknown: dict[int, list[Interval]] = {}
    for desk, ch in changes.items():
        ch.sort(key=lambda c: c[0])
        pieces = timeline(ch, start, end)
        present[desk] = [(s, e) for s, e, v in pieces if v is True]
        unknown[desk] = [(s, e) for s, e, v in pieces if v == UNKNOWN]
    return present, unknown


def officer_presence(conn: Conn, start: float, end: float,
                     site: str | None = None) -> dict[int, list[Interval]]:
    """Per desk, the intervals in ``[start, end)`` during which the officer zone was occupied."""
    return officer_zone(conn, start, end, site)[0]


def desk_officers(conn: Conn, start: float, end: float,
                  site: str | None = None) -> dict[int, list[tuple[float, float, str | None]]]:
    """Per desk, who was signed in when: pieces ``(s, e, officer or None)`` covering ``[start, end)``."""
    w, a = _site_clause(site)
    # the state at the start: each desk's last session event before it
    rows = conn.execute(f"SELECT d.desk, d.action, d.officer, d.ts_epoch FROM desk_sessions d JOIN "
                        f"(SELECT desk, max(ts_epoch) m FROM desk_sessions WHERE ts_epoch < ?{w} GROUP BY desk) l "
                        f"ON d.desk=l.desk AND d.ts_epoch=l.m WHERE 1=1{w.replace('site', 'd.site')} "
                        "ORDER BY d.desk, d.id", [start, *a, *a]).fetchall()
    rows += conn.execute(f"SELECT desk, action, officer, ts_epoch FROM desk_sessions WHERE ts_epoch >= ? "
                         f"AND ts_epoch < ?{w} ORDER BY ts_epoch, id", [start, end, *a]).fetchall()
    changes: dict[int, list[tuple[float, Any]]] = {}
    for r in rows:
        who = r["officer"] if r["action"] == "sign_in" else None
        changes.setdefault(int(r["desk"]), []).append((r["ts_epoch"], who))
    return {d: timeline(ch, start, end) for d, ch in changes.items()}


@dataclass
class Presence:
    """Present and expected seconds per desk and per officer over a measured span."""

    desk_present: dict[int, float] = field(default_factory=dict)
    desk_expected: dict[int, float] = field(default_factory=dict)
    officer_present: dict[str, float] = field(default_factory=dict)
    officer_expected: dict[str, float] = field(default_factory=dict)

    @property
    def total_present(self) -> float:
        return sum(self.desk_present.values())

    @property
    def total_expected(self) -> float:
        return sum(self.desk_expected.values())


def _blind(at: dict[int, list[Interval]], unknown: dict[int, list[Interval]], rostered_desks: Iterable[int],
           rostered_at: Callable[[int], list[Interval]]) -> list[Interval]:
    """When an officer's desk could not be seen while they were due there (signed in at it, or
    rostered to it): that time leaves their expected time, as it leaves the desk's."""
    blind = [iv for d, ivs in at.items() for iv in intersect(unknown.get(d, []), union(ivs))]
    blind += [iv for d in rostered_desks for iv in intersect(unknown.get(d, []), rostered_at(d))]
    return union(blind)


def measure_presence(conn: Conn, opening: list[Interval], by_day: dict[date, list[Interval]],
                     first: date, end: date, tz: ZoneInfo, desks: list[int], staff: Staff,
                     site: str | None) -> Presence:
    """Presence within ``opening`` (already cut to the first data day and to now)."""
    out = Presence()
    if not opening:
        for d in desks:
            out.desk_present[d], out.desk_expected[d] = 0.0, 0.0
        return out
    start, stop = opening[0][0], opening[-1][1]
    seen, unknown = officer_zone(conn, start, stop, site)
    present = {d: intersect(iv, opening) for d, iv in seen.items()}
    sessions = desk_officers(conn, start, stop, site)
    w, a = _site_clause(site)
    signs_in = conn.execute(f"SELECT 1 FROM desk_sessions WHERE 1=1{w} LIMIT 1", a).fetchone() is not None
    signed: dict[str, dict[int, list[Interval]]] = {}
    for d, pieces in sessions.items():
        for s, e, who in pieces:
            if who is not None:
                signed.setdefault(who, {}).setdefault(d, []).append((s, e))
    rostered_desks = staff.rostered_desks()
    for d in sorted(set(desks) | set(present) | set(sessions)):
        if d in rostered_desks:
            exp = intersect(staff.rostered(first, end, tz, by_day, desk=d), opening)
        elif signs_in:
            exp = intersect(union((s, e) for s, e, who in sessions.get(d, []) if who is not None), opening)
        else:
            exp = opening
        exp = subtract(exp, unknown.get(d, []))  # unknown time is measured neither way
        out.desk_expected[d] = total_s(exp)
        out.desk_present[d] = total_s(intersect(present.get(d, []), exp))
    rostered = staff.rostered_officers()
    for who in sorted(set(signed) | rostered):
        at = signed.get(who, {})
        own = union(iv for ivs in at.values() for iv in ivs)
        if who in rostered:
            exp = intersect(staff.rostered(first, end, tz, by_day, officer=who), opening)
        else:
            exp = intersect(own, opening)
        exp = subtract(exp, _blind(at, unknown, staff.rostered_desks() if who in rostered else set(),
                                   lambda d: staff.rostered(first, end, tz, by_day, desk=d, officer=who)))
        got = 0.0
        for d, ivs in at.items():
            got += total_s(intersect(intersect(present.get(d, []), union(ivs)), exp))
        out.officer_expected[who] = total_s(exp)
        out.officer_present[who] = got
    return out
