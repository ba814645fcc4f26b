"""Managers' reports: pure computations over the collector's SQLite database.

A :class:`Period` (a local day, month, quarter, year, or a custom from/to range of local days in the
site's timezone) becomes a UTC epoch range ``[start, end)``; every query compares ``ts_epoch`` columns
against it, never UTC dates, so a ticket issued at 06:30 in Ho Chi Minh City (23:30 UTC the day before)
belongs to its local day.

The fair rules managers sign (docs/reports.md says the same for them):

- issued: ``ticket`` events ``issued`` in the period (distinct day + ticket label), by service; issued
  tickets carry no desk or officer, so per desk / officer the figure is ``None``;
- served / no-shows: ``finished`` / ``no_show`` events in the period, attributed to the desk, officer
  and service those events carry;
- wait: issue to first call counted in **open minutes only** (a wait across the lunch break or the night
  counts only the opening hours in it, by the config in force on that day); reported for the service and
  the desk, **never charged to the officer** who happened to call (by officer: ``None``);
- service level: share of served tickets whose open wait is at most their service's target **in force
  when the ticket was issued** (the site config history, :mod:`collector.site_config`);
- ratings per level (misuse-flagged presses counted apart); satisfaction: share of non-misuse ratings in
  the top ``satisfaction_levels`` levels of their own scale; response rate: ratings per served ticket,
  by channel (desk terminal, portal);
- presence share: present minutes against the minutes the officer (or the desk) was **expected**: the
  rostered time when a roster is configured, else the time an officer was signed in at the desk, within
  the opening hours of each day **by the config in force that day**, and only **from the site's first
  data day**, never past ``now`` (:mod:`collector.staffing`).
"""
from __future__ import annotations

import bisect
import logging
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time as dtime, timedelta, timezone
from typing import Any, Literal
from zoneinfo import ZoneInfo

from .backend import Conn, json_text
from .periods import DEFAULT_TZ, PERIOD_KINDS, BadReportQuery, Period, PeriodKind, zone
from .site_config import (WEEKDAYS, Interval, SiteFacts, SiteHistory, first_data_day, intersect, site_facts,
                          site_history, total_s, union)
from .staff import Staff
from .staffing import desk_officers, measure_presence, officer_presence

__all__ = ["DEFAULT_TZ", "PERIOD_KINDS", "BadReportQuery", "Period", "PeriodKind", "zone", "WEEKDAYS", "Interval", "SiteFacts", "intersect", "site_facts", "total_s", "union", "desk_officers",
           "officer_presence"]

log = logging.getLogger(__name__)

GroupBy = Literal["service", "desk", "officer", "overall"]
GROUPS: tuple[str, ...] = ("service", "desk", "officer", "overall")


# -- the report --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Filters:
    """Narrow a report to one service, desk, officer and/or priority class (None: all)."""

    service: str | None = None
    desk: int | None = None
    officer: str | None = None
    priority: str | None = None

    def sql(self, table: str = "ticket_events") -> tuple[str, list[Any]]:
        conds, args = [], []
        for col, val in (("service", self.service), ("desk", self.desk), ("officer", self.officer)):
            if val is not None:
                conds.append(f" AND {col}=?")
                args.append(val)
        if self.priority is not None:
            if table == "ticket_events":
                conds.append(" AND priority=?")
            else:  # a rating's priority is its ticket's
                conds.append(" AND EXISTS (SELECT 1 FROM ticket_events t WHERE t.ticket=ratings.ticket AND "
                             "t.day=ratings.day AND t.site=ratings.site AND t.action='issued' AND t.priority=?)")
            args.append(self.priority)
        return "".join(conds), args

    @property
    def empty(self) -> bool:
        return self == Filters()


NO_FILTERS = Filters()


@dataclass
class ReportRow:
    key: str | int | None
    issued: int | None = None
    served: int = 0
    no_shows: int = 0
    avg_wait_s: float | None = None
    max_wait_s: float | None = None
    avg_service_s: float | None = None
    service_level: float | None = None
    ratings_by_level: dict[int, int] = field(default_factory=lambda: {i: 0 for i in range(1, 6)})
    ratings: int = 0
    satisfaction_rate: float | None = None
    misuse_count: int = 0
    present_minutes: float | None = None
    open_minutes: float | None = None
    presence_share: float | None = None
    ratings_by_channel: dict[str, int] = field(default_factory=dict)
    response_rate: float | None = None
    name: str | None = None
    department: str | None = None

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["ratings_by_level"] = {str(k): v for k, v in self.ratings_by_level.items()}
        return d


@dataclass
class Report:
    period: Period
    by: str
    tz: str
    satisfaction_levels: int
    start: datetime
    end: datetime
    rows: list[ReportRow]
    total: ReportRow
    site: str | None = None
    service_names: dict[str, tuple[str, str]] = field(default_factory=dict)
    measured_from: date | None = None
    filters: Filters = NO_FILTERS

    def row(self, key: Any) -> ReportRow | None:
        return next((r for r in self.rows if r.key == key), None)

    def as_dict(self) -> dict[str, Any]:
        return {"period": period_dict(self.period, self.start, self.end),
                "measured_from": self.measured_from.isoformat() if self.measured_from else None,
                "by": self.by, "tz": self.tz, "site": self.site, "satisfaction_levels": self.satisfaction_levels,
                "filters": asdict(self.filters),
                "rows": [r.as_dict() for r in self.rows], "total": self.total.as_dict()}


def period_dict(period: Period, start: datetime, end: datetime) -> dict[str, Any]:
    """A report's period as JSON: kind, anchor date, label and the local start and end."""
    return {"kind": period.kind, "date": period.anchor.isoformat(), "label": period.label,
            "start": start.isoformat(), "end": end.isoformat()}


@dataclass
class _Acc:
    issued: int = 0
    served: int = 0
    no_shows: int = 0
    wait_n: int = 0  # waits and service times as count, sum and max: additive, so the province's
    wait_sum: float = 0.0  # daily rollups (collector/rollups.py) give the same figures
    wait_max: float | None = None
    service_n: int = 0
    service_sum: float = 0.0
    in_target: int = 0
    with_target: int = 0
    levels: dict[int, int] = field(default_factory=lambda: {i: 0 for i in range(1, 6)})
    channels: dict[str, int] = field(default_factory=dict)
    satisfied: int = 0
    misuse: int = 0
    present_s: float | None = None
    open_s: float | None = None


def _site_clause(site: str | None) -> tuple[str, list[Any]]:
    return (" AND site=?", [site]) if site else ("", [])


def ticket_rows(conn: Conn, start: float, end: float, site: str | None, actions: tuple[str, ...],
                columns: str = "action, service, desk, officer, wait_s, service_s, ts_epoch, issued_at",
                filters: Filters = NO_FILTERS) -> list[Any]:
    w, a = _site_clause(site)
    fw, fa = filters.sql()
    marks = ",".join("?" * len(actions))
    return conn.execute(f"SELECT {columns} FROM ticket_events WHERE ts_epoch >= ? AND ts_epoch < ? "
                        f"AND action IN ({marks}){w}{fw} ORDER BY ts_epoch, id",
                        [start, end, *actions, *a, *fa]).fetchall()


def rating_rows(conn: Conn, start: float, end: float, site: str | None,
                filters: Filters = NO_FILTERS) -> list[Any]:
    w, a = _site_clause(site)
    fw, fa = filters.sql("ratings")
    return conn.execute(f"SELECT device, desk, officer, service, score, scale, misuse, ts_epoch, {channel_sql(conn)} "
                        f"FROM ratings WHERE ts_epoch >= ? AND ts_epoch < ?{w}{fw} ORDER BY ts_epoch, id",
                        [start, end, *a, *fa]).fetchall()


def is_satisfied(score: int, scale: int, levels: int) -> bool:
    return score > (scale or 5) - levels


def channel_sql(conn: Conn) -> str:
    """The rating's ``channel`` as its device sent it (NULL for events from before the field existed)."""
    return f"(SELECT {json_text(conn, 'e.payload', 'data', 'channel')} FROM events e WHERE e.id = ratings.id) AS channel"


CHANNELS_SENT = {"phone": "portal", "desk": "terminal"}


def channel_of(device: str | None, channel: str | None = None) -> str:
    """Where a rating was given: ``portal`` (a citizen's phone) or ``terminal`` (the desk's buttons). The
    event's own ``channel`` (``phone``/``desk``) decides; only an older event without one is judged by its
    device id (the portal's ids start with ``portal``)."""
    if channel in CHANNELS_SENT:
        return CHANNELS_SENT[str(channel)]
    return "portal" if (device or "").startswith("portal") else "terminal"


class OpenClock:
    """Opening hours by local day (each by the config in force that day), cached; ``open_wait`` counts
    only the open seconds between issue and call. :meth:`span` precomputes a range of days as cumulative
    open seconds, so a wait inside it costs two bisections."""

    def __init__(self, history: SiteHistory, tz: ZoneInfo):
        self.history, self.tz = history, tz
        self._days: dict[date, list[Interval] | None] = {}
        self._starts: list[float] = []
        self._ends: list[float] = []
        self._cum: list[float] = []  # open seconds before each interval
        self._lo = self._hi = 0.0
        self._unknown = False

    def day(self, d: date) -> list[Interval] | None:
        if d not in self._days:
            self._days[d] = self.history.opening(d, d + timedelta(days=1), self.tz)
        return self._days[d]

    def span(self, first: date, end: date) -> "OpenClock":
        iv: list[Interval] = []
        d = first
        while d < end:
            got = self.day(d)
            if got is None:
                self._unknown = True
                return self
            iv.extend(got)
            d += timedelta(days=1)
        iv = union(iv)
        self._starts, self._ends = [s for s, _ in iv], [e for _, e in iv]
        acc, self._cum = 0.0, []
        for s_, e_ in iv:
            self._cum.append(acc)
            acc += e_ - s_
        self._lo = datetime.combine(first, dtime(0), self.tz).timestamp()
        self._hi = datetime.combine(end, dtime(0), self.tz).timestamp()
        return self

    def _open_before(self, t: float) -> float:
        i = bisect.bisect_right(self._starts, t) - 1
        if i < 0:
            return 0.0
        return self._cum[i] + min(t, self._ends[i]) - self._starts[i]

    def open_wait(self, issued: float, called: float) -> float:
        if called <= issued:
            return 0.0
        if self._unknown:
            return called - issued
        if self._lo <= issued and called <= self._hi and self._starts:
            return self._open_before(called) - self._open_before(issued)
        d, last = datetime.fromtimestamp(issued, self.tz).date(), datetime.fromtimestamp(called, self.tz).date()
        iv: list[Interval] = []
        while d <= last:
            got = self.day(d)
            if got is None:  # hours unknown: the wall-clock wait
                return called - issued
            iv.extend(got)
            d += timedelta(days=1)
        return total_s(intersect(union(iv), [(issued, called)]))


def _issued_epoch(r: Any) -> float:
    """When the ticket was issued: its ``issued_at`` (a time without offset is UTC), else the
    event's time less the wait."""
    if r["issued_at"]:
        try:
            t = datetime.fromisoformat(r["issued_at"])
            return (t if t.tzinfo else t.replace(tzinfo=timezone.utc)).timestamp()
        except ValueError:
            pass
    return float(r["ts_epoch"]) - float(r["wait_s"] or 0)


def _check(by: str, satisfaction_levels: int) -> None:
    if by not in GROUPS:
        raise BadReportQuery(f"Cách nhóm không hợp lệ / by={by!r} is not known: dùng / use one of "
                             f"{', '.join(GROUPS)}")
    if not 1 <= satisfaction_levels <= 5:
        raise BadReportQuery(f"Số mức hài lòng phải từ 1 đến 5 / satisfaction_levels={satisfaction_levels} "
                             "must be between 1 and 5")


def build_report(conn: Conn, period: Period, by: str = "service", satisfaction_levels: int = 2,
                 tz: str = DEFAULT_TZ, *, site: str | None = None, now: float | None = None,
                 staff: Staff | None = None, filters: Filters = NO_FILTERS) -> Report:
    """The figures of ``period`` grouped ``by`` service, desk, officer or overall, plus a total row.

    ``now`` (epoch seconds) stops presence and opening hours at the present moment, so today's
    presence share is not diluted by hours still to come."""
    _check(by, satisfaction_levels)
    z = zone(tz)
    staff = staff or Staff()
    start_dt, end_dt = period.bounds(z)
    start, end = start_dt.timestamp(), end_dt.timestamp()
    history = site_history(conn, site)
    clock = OpenClock(history, z).span(period.first_day - timedelta(days=2), period.end_day)
    groups: dict[Any, _Acc] = {}
    total = _Acc()

    def accs(row: Any) -> tuple[_Acc, _Acc]:
        k = "all" if by == "overall" else row[by]
        return (groups.setdefault(k, _Acc()), total)

    w, a = _site_clause(site)
    fw, fa = filters.sql()
    issued_sql = ("SELECT {col}, count(DISTINCT day || '/' || ticket) FROM ticket_events WHERE action='issued' "
                  f"AND ts_epoch >= ? AND ts_epoch < ?{w}{fw} GROUP BY 1")
    total.issued = sum(n for _, n in conn.execute(issued_sql.format(col="'all'"), [start, end, *a, *fa]))
    if by in ("service", "overall"):
        col = "service" if by == "service" else "'all'"
        for k, n in conn.execute(issued_sql.format(col=col), [start, end, *a, *fa]):
            groups.setdefault(k, _Acc()).issued = n
    for r in ticket_rows(conn, start, end, site, ("finished", "no_show"), filters=filters):
        fig = _ticket_figures(r, clock, history)  # once per ticket, then into its group and the total
        for acc in accs(r):
            _add_ticket(acc, fig)
    for r in rating_rows(conn, start, end, site, filters):
        for acc in accs(r):
            _add_rating(acc, r, satisfaction_levels)
    measured = _add_presence(conn, period, z, history, staff, by, groups, total, start, end, now, site, filters)
    rows = [_row(k, acc, by, staff) for k, acc in groups.items()]
    rows.sort(key=lambda r: (r.key is None, str(r.key).zfill(6) if isinstance(r.key, int) else str(r.key)))
    return Report(period, by, tz, satisfaction_levels, start_dt, end_dt, rows, _row("total", total, "total", staff),
                  site=history.site, service_names=history.current.service_names, measured_from=measured,
                  filters=filters)


TicketFigures = tuple[bool, float | None, bool | None, float | None]  # served, open wait, in target, service


def _ticket_figures(r: Any, clock: OpenClock, history: SiteHistory) -> TicketFigures:
    if r["action"] == "no_show":
        return (False, None, None, None)
    wait = in_target = None
    if r["wait_s"] is not None:
        issued = _issued_epoch(r)
        wait = clock.open_wait(issued, issued + float(r["wait_s"]))
        target = history.target_s(r["service"], issued)
        in_target = None if target is None else wait <= target
    return (True, wait, in_target, r["service_s"])


def _add_ticket(acc: _Acc, fig: TicketFigures) -> None:
    served, wait, in_target, service_s = fig
    if not served:
        acc.no_shows += 1
        return
    acc.served += 1
    if wait is not None:
        acc.wait_n += 1
        acc.wait_sum += wait
        acc.wait_max = wait if acc.wait_max is None else max(acc.wait_max, wait)
    if in_target is not None:
        acc.with_target += 1
        acc.in_target += in_target
    if service_s is not None:
        acc.service_n += 1
        acc.service_sum += service_s


def _add_rating(acc: _Acc, r: Any, levels: int) -> None:
    if r["misuse"]:
        acc.misuse += 1
        return
    acc.levels[int(r["score"])] = acc.levels.get(int(r["score"]), 0) + 1
    ch = channel_of(r["device"], r["channel"])
    acc.channels[ch] = acc.channels.get(ch, 0) + 1
    acc.satisfied += is_satisfied(r["score"], r["scale"], levels)


def _add_presence(conn: Conn, period: Period, z: ZoneInfo, history: SiteHistory, staff: Staff,
                  by: str, groups: dict[Any, _Acc], total: _Acc, start: float, end: float, now: float | None,
                  site: str | None, filters: Filters) -> date | None:
    """Fair presence into the groups and the total; returns the first day measured (None: no data)."""
    first = first_data_day(conn, z, site)
    stop = min(end, now) if now is not None else end
    if first is None or filters.service or filters.priority:  # presence belongs to desks, not services
        return first if first is None else max(first, period.first_day)
    first = max(first, period.first_day)
    m_start = datetime.combine(first, dtime(0), z).timestamp()
    by_day: dict[date, list[Interval]] = {}
    d = first
    while d < period.end_day:
        got = history.opening(d, d + timedelta(days=1), z)
        by_day[d] = got if got is not None else [(datetime.combine(d, dtime(0), z).timestamp(),
                                                  datetime.combine(d + timedelta(days=1), dtime(0), z).timestamp())]
        d += timedelta(days=1)
    opening = intersect(union(iv for ivs in by_day.values() for iv in ivs), [(max(start, m_start), stop)])
    desks = history.all_desks()
    if filters.desk is not None:
        desks = [filters.desk]
    p = measure_presence(conn, opening, by_day, first, period.end_day, z, desks, staff, site)
    if filters.desk is not None:
        p.desk_present = {filters.desk: p.desk_present.get(filters.desk, 0.0)}
        p.desk_expected = {filters.desk: p.desk_expected.get(filters.desk, 0.0)}
    if filters.officer is not None:
        total.present_s = p.officer_present.get(filters.officer, 0.0)
        total.open_s = p.officer_expected.get(filters.officer, 0.0)
    else:
        total.present_s, total.open_s = p.total_present, p.total_expected
    if by == "overall" and (groups or desks):
        acc = groups.setdefault("all", _Acc())
        acc.present_s, acc.open_s = total.present_s, total.open_s
    elif by == "desk":
        for desk in p.desk_expected:
            acc = groups.setdefault(desk, _Acc())
            acc.present_s, acc.open_s = p.desk_present[desk], p.desk_expected[desk]
    elif by == "officer":
        for who in p.officer_expected:
            if filters.officer is None or who == filters.officer:
                acc = groups.setdefault(who, _Acc())
                acc.present_s, acc.open_s = p.officer_present[who], p.officer_expected[who]
    return first


def _row(key: Any, a: _Acc, by: str, staff: Staff) -> ReportRow:
    rated = sum(a.levels.values())
    charged = by != "officer"  # waits belong to the service and the desk, never to the officer who called
    return ReportRow(
        key=key, issued=a.issued if by in ("service", "overall", "total") else None, served=a.served,
        no_shows=a.no_shows,
        avg_wait_s=a.wait_sum / a.wait_n if a.wait_n and charged else None,
        max_wait_s=a.wait_max if charged else None,
        avg_service_s=a.service_sum / a.service_n if a.service_n else None,
        service_level=a.in_target / a.with_target if a.with_target and charged else None,
        ratings_by_level=dict(a.levels), ratings=rated,
        satisfaction_rate=a.satisfied / rated if rated else None, misuse_count=a.misuse,
        present_minutes=a.present_s / 60 if a.present_s is not None else None,
        open_minutes=a.open_s / 60 if a.open_s is not None else None,
        presence_share=(a.present_s or 0.0) / a.open_s if a.open_s else None,
        ratings_by_channel=dict(a.channels), response_rate=rated / a.served if a.served else None,
        name=staff.name(key) if by == "officer" and isinstance(key, str) else None,
        department=staff.department(key) if by == "officer" and isinstance(key, str) else None)
