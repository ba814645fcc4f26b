"""Daily rollups: the figures of one local day of one site, by service, desk, officer and department,
kept in one table per grain (``rollup_site``, ``rollup_service``, ...) so the province reports read a
year of a hundred sites in a few tens of thousands of rows, stored together.

Each (site, local day) is computed from the stored events by the very functions of a site's report
(collector/reports.py: the open-minutes wait, the target in force when the ticket was issued, the
fair presence share), as additive figures (counts, sums, maxima, seconds), so the province report of
a site over any month, quarter or year is the sum of its days and equals that site's own report.

- A day is computed once it is over (``refresh``, run every minute by the collector: every day from
  the site's first data day up to yesterday that has no rows yet, and every day marked dirty).
- An event stored for a day already over marks that day dirty (``mark_dirty``, called by the writer
  inside the batch's transaction); a presence change or a desk sign-in/out also marks the days after it
  (the state carries over to them), and a new version of the site config every day from when it is in
  force. ``rollup_dirty.gen`` counts the marks: a refresh removes the mark only if no new one came while
  it computed, so a late event is never lost between the two.
- Today's rows are provisional: the job computes them every minute too (``refresh_today``), with
  ``computed_epoch`` the time they were computed (before the day's end, unlike a finished day's) and a
  mark in ``rollup_dirty`` (so they are computed again, final, once the day is over). The report reads them
  while fresh (computed within ``TODAY_MAX_AGE_S``) and computes today live for a site whose rows are
  missing or older; today's figures thus lag at most about a minute.
- A dirty day and a day not computed yet are computed live by the report (collector/province_reports.py),
  never read stale.
- A change of the officer directory's departments or of the roster (``Staff.fingerprint``) drops every
  rollup: they are computed again from the events.

Grains (``grain``, ``key``): ``site`` (key ``""``; the row exists for every computed day, even an empty
one), ``service`` (code), ``desk`` (number as text), ``officer`` (id) and ``department`` (the officer's
department code); ``""`` stands for none (a ticket without officer, an officer not in the directory).
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import date, datetime, time as dtime, timedelta
from pathlib import Path
from typing import Any, Callable, Iterable
from zoneinfo import ZoneInfo

from .backend import Conn
from .periods import zone
from .reports import (OpenClock, _Acc, _add_rating, _add_ticket, _ticket_figures, is_satisfied, rating_rows,
                      ticket_rows)
from .site_config import first_data_day, intersect, local_days, site_history, union
from .staff import Staff
from .staffing import measure_presence

log = logging.getLogger(__name__)

GRAINS = ("site", "service", "desk", "officer", "department")
LEVELS = range(1, 6)
FIGURES: tuple[str, ...] = (
    "issued", "served", "no_shows", "wait_n", "wait_sum", "wait_max", "service_n", "service_sum", "in_target",
    "with_target", *(f"r{i}" for i in LEVELS), *(f"sat{i}" for i in LEVELS), "misuse", "portal", "terminal",
    "present_s", "expected_s")
MAX_FIGURES = frozenset({"wait_max"})
NULLABLE = frozenset({"wait_max", "present_s", "expected_s"})
FLOAT_FIGURES = frozenset({"wait_sum", "wait_max", "service_sum", "present_s", "expected_s"})
COLUMNS = ("site", "day", "key", *FIGURES, "computed_epoch")
FINGERPRINT_KEY = "rollup_fingerprint"
CARRY_TYPES = frozenset({"presence", "desk"})  # their state carries over into the days after
INTERVAL_S = 60.0  # the rollup job's round
TODAY_MAX_AGE_S = 2 * INTERVAL_S  # today's rows older than this are not read: the report computes today live
_UPSERT = ("INSERT INTO {table} (" + ", ".join(COLUMNS) + ") VALUES (" + ", ".join("?" * len(COLUMNS)) + ") "
           "ON CONFLICT (site, day, key) DO UPDATE SET "
           + ", ".join(f"{c}=excluded.{c}" for c in (*FIGURES, "computed_epoch")))


def table(grain: str) -> str:
    """The rollup table of ``grain`` (one of GRAINS)."""
    if grain not in GRAINS:
        raise ValueError(f"unknown grain {grain!r}: one of {', '.join(GRAINS)}")
    return f"rollup_{grain}"


@dataclass
class DayAcc(_Acc):
    """A report accumulator that also counts the satisfied ratings for every number of top levels."""

    sat: dict[int, int] = field(default_factory=lambda: {i: 0 for i in LEVELS})

    def figures(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "issued": self.issued, "served": self.served, "no_shows": self.no_shows, "wait_n": self.wait_n,
            "wait_sum": self.wait_sum, "wait_max": self.wait_max, "service_n": self.service_n,
            "service_sum": self.service_sum, "in_target": self.in_target, "with_target": self.with_target,
            "misuse": self.misuse, "portal": self.channels.get("portal", 0),
            "terminal": self.channels.get("terminal", 0), "present_s": self.present_s, "expected_s": self.open_s}
        for i in LEVELS:
            out[f"r{i}"] = self.levels.get(i, 0)
            out[f"sat{i}"] = self.sat[i]
        return out

    @classmethod
    def from_figures(cls, f: dict[str, Any], levels: int) -> "DayAcc":
        acc = cls(issued=int(f["issued"] or 0), served=int(f["served"] or 0), no_shows=int(f["no_shows"] or 0),
                  wait_n=int(f["wait_n"] or 0), wait_sum=float(f["wait_sum"] or 0.0), wait_max=f["wait_max"],
                  service_n=int(f["service_n"] or 0), service_sum=float(f["service_sum"] or 0.0),
                  in_target=int(f["in_target"] or 0), with_target=int(f["with_target"] or 0),
                  misuse=int(f["misuse"] or 0), present_s=f["present_s"], open_s=f["expected_s"])
        acc.levels = {i: int(f[f"r{i}"] or 0) for i in LEVELS}
        acc.sat = {i: int(f[f"sat{i}"] or 0) for i in LEVELS}
        acc.satisfied = acc.sat[levels]
        acc.channels = {ch: int(f[ch] or 0) for ch in ("portal", "terminal") if f[ch]}
        return acc


def add_figures(into: dict[str, Any], f: dict[str, Any]) -> None:
    """Sum the figures ``f`` into ``into`` (maxima by max; None is no data)."""
    for k in FIGURES:
        v = f[k]
        if v is None:
            continue
        cur = into.get(k)
        if cur is None:
            into[k] = v
        elif k in MAX_FIGURES:
            into[k] = max(cur, v)
        else:
            into[k] = cur + v


def empty_figures() -> dict[str, Any]:
    return {k: (None if k in NULLABLE else 0) for k in FIGURES}


def day_bounds(d: date, z: ZoneInfo) -> tuple[float, float]:
    return (datetime.combine(d, dtime(0), z).timestamp(),
            datetime.combine(d + timedelta(days=1), dtime(0), z).timestamp())


def _none(v: Any) -> str:
    return "" if v is None else str(v)


def day_figures(conn: Conn, site: str, day: date, tz: str, staff: Staff,
                now: float | None = None, first: date | None = None) -> dict[tuple[str, str], dict[str, Any]]:
    """The figures of ``site`` on the local ``day``, per (grain, key), computed from the events as a
    site's report computes them; ``now`` stops today's presence at the present moment; ``first`` is
    the site's first data day when the caller knows it."""
    z = zone(tz)
    start, end = day_bounds(day, z)
    history = site_history(conn, site)
    clock = OpenClock(history, z).span(day - timedelta(days=2), day + timedelta(days=1))
    accs: dict[tuple[str, str], DayAcc] = {("site", ""): DayAcc()}

    def acc(grain: str, key: str) -> DayAcc:
        a = accs.get((grain, key))
        if a is None:
            a = accs[(grain, key)] = DayAcc()
        return a

    def keys(officer: Any, service: Any, desk: Any) -> list[DayAcc]:
        return [accs[("site", "")], acc("service", _none(service)), acc("desk", _none(desk)),
                acc("officer", _none(officer)), acc("department", staff.department_code(officer))]

    base = "FROM ticket_events WHERE action='issued' AND ts_epoch >= ? AND ts_epoch < ? AND site=?"
    accs[("site", "")].issued = conn.execute(f"SELECT count(DISTINCT day || '/' || ticket) {base}",
                                             (start, end, site)).fetchone()[0]
    for svc, n in conn.execute(f"SELECT service, count(DISTINCT day || '/' || ticket) {base} GROUP BY service",
                               (start, end, site)):
        acc("service", _none(svc)).issued = n
    for r in ticket_rows(conn, start, end, site, ("finished", "no_show")):
        fig = _ticket_figures(r, clock, history)
        for a in keys(r["officer"], r["service"], r["desk"]):
            _add_ticket(a, fig)
    for r in rating_rows(conn, start, end, site):
        for a in keys(r["officer"], r["service"], r["desk"]):
            _add_rating(a, r, 1)
            if not r["misuse"]:
                for i in LEVELS:
                    a.sat[i] += is_satisfied(r["score"], r["scale"], i)
    first = first or first_data_day(conn, z, site)
    if first is not None and day >= first:
        hours = history.opening(day, day + timedelta(days=1), z)
        by_day = {day: hours if hours is not None else [(start, end)]}
        stop = min(end, now) if now is not None else end
        opening = intersect(union(by_day[day]), [(start, stop)])
        p = measure_presence(conn, opening, by_day, day, day + timedelta(days=1), z, history.all_desks(), staff, site)
        total = accs[("site", "")]
        total.present_s, total.open_s = p.total_present, p.total_expected
        for desk, expected in p.desk_expected.items():
            a = acc("desk", str(desk))
            a.present_s, a.open_s = p.desk_present[desk], expected
        for who, expected in p.officer_expected.items():
            a = acc("officer", who)
            a.present_s, a.open_s = p.officer_present[who], expected
            dept = acc("department", staff.department_code(who))
            dept.present_s = (dept.present_s or 0.0) + p.officer_present[who]
            dept.open_s = (dept.open_s or 0.0) + expected
    return {k: a.figures() for k, a in accs.items()}


# -- the table ---------------------------------------------------------------------------------------

def _local_day(epoch: float, z: ZoneInfo) -> date:
    return datetime.fromtimestamp(epoch, z).date()


def mark_dirty(conn: Conn, items: Iterable[tuple[str, str, float]], tz: ZoneInfo,
               now: float, noted: dict[str, float] | None = None) -> int:
    """Inside the writer's transaction: the (site, type, ts_epoch) of events just stored. Days already
    over are marked dirty (with the following days up to yesterday for state that carries over);
    today's events need nothing (today's rows are recomputed every minute, and carry their own mark for
    when the day is over). Returns how many marks were made."""
    today = _local_day(now, tz)
    days: set[tuple[str, date]] = set()
    firsts: dict[str, float] = {}
    for site, type_, ts in items:
        firsts[site] = min(ts, firsts.get(site, ts))
        d = _local_day(ts, tz)
        if d >= today:
            continue
        days.add((site, d))
        if type_ in CARRY_TYPES:
            nxt = d + timedelta(days=1)
            while nxt < today:
                days.add((site, nxt))
                nxt += timedelta(days=1)
    if noted is not None:  # the writer's own memory of what rollup_sites holds: write only an earlier first
        firsts = {k: v for k, v in firsts.items() if v < noted.get(k, float("inf"))}
        noted.update(firsts)
    note_first(conn, firsts)
    return mark_days(conn, days)


def note_first(conn: Conn, firsts: dict[str, float]) -> None:
    """Keep each site's earliest event time in ``rollup_sites`` (its first data day)."""
    if firsts:
        conn.executemany("INSERT INTO rollup_sites (site, first_epoch) VALUES (?, ?) ON CONFLICT (site) DO UPDATE SET "
                         "first_epoch = CASE WHEN excluded.first_epoch < rollup_sites.first_epoch "
                         "THEN excluded.first_epoch ELSE rollup_sites.first_epoch END", sorted(firsts.items()))


def first_days(conn: Conn, tz: ZoneInfo) -> dict[str, date]:
    """Each site's first data day (the local day of its first stored event), from ``rollup_sites``."""
    return {r[0]: _local_day(float(r[1]), tz) for r in conn.execute("SELECT site, first_epoch FROM rollup_sites")
            if r[1] is not None}


def mark_days(conn: Conn, days: Iterable[tuple[str, date]]) -> int:
    rows = [(s, d.isoformat()) for s, d in sorted(days)]
    if rows:
        conn.executemany("INSERT INTO rollup_dirty (site, day, gen) VALUES (?, ?, 1) ON CONFLICT (site, day) "
                         "DO UPDATE SET gen = rollup_dirty.gen + 1", rows)
    return len(rows)


def mark_from(conn: Conn, site: str, since: float, tz: ZoneInfo, now: float) -> int:
    """Every day over from the one of ``since`` (a site config version in force from then)."""
    d, today = _local_day(since, tz), _local_day(now, tz)
    return mark_days(conn, [(site, d + timedelta(days=i)) for i in range(max(0, (today - d).days))])


def write_day(conn: Conn, site: str, day: date, figures: dict[tuple[str, str], dict[str, Any]],
              computed: float) -> None:
    """Replace the rows of (site, day) (inside the caller's transaction). An upsert, so two central
    collectors computing the same day at once both succeed (the rows are the same)."""
    by_grain: dict[str, list[tuple[Any, ...]]] = {g: [] for g in GRAINS}
    for (g, k), f in figures.items():
        by_grain[g].append((site, day.isoformat(), k, *(f[c] for c in FIGURES), computed))
    for g, rows in by_grain.items():
        conn.execute(f"DELETE FROM {table(g)} WHERE site=? AND day=?", (site, day.isoformat()))
        if rows:
            conn.executemany(_UPSERT.format(table=table(g)), rows)


@dataclass
class RefreshResult:
    computed: int = 0
    dropped: bool = False
    days: list[tuple[str, str]] = field(default_factory=list)


def pending_days(conn: Conn, site: str, first: date, end: date) -> dict[date, int | None]:
    """Days in ``[first, end)`` without a computed rollup (None) or marked dirty (their mark's gen)."""
    lo, hi = first.isoformat(), end.isoformat()
    done = {r[0] for r in conn.execute("SELECT day FROM rollup_site WHERE site=? AND day >= ? AND day < ?",
                                       (site, lo, hi))}
    out: dict[date, int | None] = {d: None for d in local_days(first, end) if d.isoformat() not in done}
    for day, gen in conn.execute("SELECT day, gen FROM rollup_dirty WHERE site=? AND day >= ? AND day < ?",
                                 (site, lo, hi)):
        out[date.fromisoformat(day)] = int(gen)
    return out


class _Tx:
    def __init__(self, conn: Conn):
        self.conn = conn

    def __enter__(self) -> Conn:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        self.conn.execute("COMMIT" if exc_type is None else "ROLLBACK")


def transaction(conn: Conn) -> _Tx:
    return _Tx(conn)


def check_fingerprint(conn: Conn, staff: Staff) -> bool:
    """Drop every rollup when the directory's departments or the roster changed; True when dropped."""
    fp = staff.fingerprint()
    row = conn.execute("SELECT value FROM meta WHERE key=?", (FINGERPRINT_KEY,)).fetchone()
    if row is not None and row[0] == fp:
        return False
    with transaction(conn):
        if row is not None:
            for g in GRAINS:
                conn.execute(f"DELETE FROM {table(g)}")
            log.warning("the officer directory or the roster changed: the daily rollups are computed again")
        conn.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value=excluded.value",
                     (FINGERPRINT_KEY, fp))
    return row is not None


def refresh(conn: Conn, staff: Staff, tz: str, now: float, *, sites: list[str] | None = None,
            limit: int | None = None) -> RefreshResult:
    """Compute every day that is over and has no rollup yet or is dirty (at most ``limit`` days), each
    in its own transaction; a dirty mark is removed only when its gen did not move meanwhile."""
    z = zone(tz)
    res = RefreshResult(dropped=check_fingerprint(conn, staff))
    today = _local_day(now, z)
    firsts = first_days(conn, z)
    for site in sites if sites is not None else sorted(firsts):
        first = firsts.get(site)
        if first is None:
            continue
        with transaction(conn):  # marks before the first data day: nothing there to compute
            conn.execute("DELETE FROM rollup_dirty WHERE site=? AND day < ?", (site, first.isoformat()))
        for day, gen in sorted(pending_days(conn, site, first, today).items()):
            if limit is not None and res.computed >= limit:
                return res
            figures = day_figures(conn, site, day, tz, staff, now, first)
            with transaction(conn):
                write_day(conn, site, day, figures, now)
                if gen is not None:
                    conn.execute("DELETE FROM rollup_dirty WHERE site=? AND day=? AND gen=?",
                                 (site, day.isoformat(), gen))
            res.computed += 1
            res.days.append((site, day.isoformat()))
    return res


def refresh_today(conn: Conn, staff: Staff, tz: str, now: float, *, sites: list[str] | None = None) -> int:
    """Compute today's provisional rows of every site (``computed_epoch`` = ``now``), each site in its own
    transaction with a mark in ``rollup_dirty`` for today, so the day is computed again once it is over
    (``refresh``) and no report reads these rows as a finished day's. Returns how many sites were done."""
    z = zone(tz)
    today = _local_day(now, z)
    firsts = first_days(conn, z)
    done = 0
    for site in sites if sites is not None else sorted(firsts):
        first = firsts.get(site)
        if first is None or first > today:
            continue
        figures = day_figures(conn, site, today, tz, staff, now, first)
        with transaction(conn):
            write_day(conn, site, today, figures, now)
            conn.execute("INSERT INTO rollup_dirty (site, day, gen) VALUES (?, ?, 1) "
                         "ON CONFLICT (site, day) DO NOTHING", (site, today.isoformat()))
        done += 1
    return done


class RollupJob:
    """Runs :func:`refresh` then :func:`refresh_today` every ``interval_s`` on its own connection (a thread
    of the collector)."""

    def __init__(self, connect: Callable[[], Conn], staff: Staff, tz: str,
                 clock: Callable[[], float], interval_s: float = INTERVAL_S, batch: int = 200):
        self.connect, self.staff, self.tz, self.clock = connect, staff, tz, clock
        self.interval_s, self.batch = interval_s, batch
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.runs = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="rollups", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        conn = self.connect()
        try:
            while not self._stop.is_set():
                try:
                    while not self._stop.is_set():  # work through a backlog in bounded steps
                        if refresh(conn, self.staff, self.tz, self.clock(), limit=self.batch).computed < self.batch:
                            break
                    if not self._stop.is_set():
                        refresh_today(conn, self.staff, self.tz, self.clock())
                except Exception:  # noqa: BLE001 - the report computes what is missing live; retry next time
                    log.exception("daily rollups failed")
                self.runs += 1
                self._stop.wait(self.interval_s)
        finally:
            conn.close()


def db_connector(path: str | Path) -> Callable[[], Conn]:
    from .db import connect
    return lambda: connect(path)
