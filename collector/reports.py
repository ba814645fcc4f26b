"""Managers' reports: pure computations over the collector's SQLite database.

A :class:`Period` (a local day, month, quarter or year in the site's timezone) becomes a UTC epoch
range ``[start, end)``; every query compares ``ts_epoch`` columns against it, never UTC dates, so a
ticket issued at 06:30 in Ho Chi Minh City (23:30 UTC the day before) belongs to its local day.

Definitions (docs/reports.md says the same for managers):

- issued: ``ticket`` events ``issued`` in the period (distinct day + ticket label), by service; issued
  tickets carry no desk or officer, so per desk / officer the figure is ``None``;
- served / no-shows: ``finished`` / ``no_show`` events in the period, attributed to the desk, officer
  and service those events carry;
- wait: ``wait_s`` of the ``finished`` events (issue to first call); service time: their ``service_s``;
- service level: share of served tickets whose wait is at most their service's ``target_wait_min``
  (from the retained ``state/site``); ``None`` when no served ticket has a known target;
- ratings per level (misuse-flagged presses are counted apart, not in the levels); satisfaction rate:
  share of non-misuse ratings in the top ``satisfaction_levels`` levels of their own scale;
- present minutes: officer-zone presence ``change`` events per desk (the state at the start of the
  period is the last change before it; a change counts from its ``since``), integrated over the
  opening hours (``state/site`` hours minus closed days), and never past ``now``;
- by officer, a desk's presence counts for the officer signed in at that desk at the time
  (``desk_sessions``).
"""
from __future__ import annotations

import json
import logging
import sqlite3
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time as dtime, timedelta
from typing import Any, Iterable, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import CollectorError

log = logging.getLogger(__name__)

PeriodKind = Literal["day", "month", "quarter", "year"]
GroupBy = Literal["service", "desk", "officer", "overall"]
PERIOD_KINDS: tuple[str, ...] = ("day", "month", "quarter", "year")
GROUPS: tuple[str, ...] = ("service", "desk", "officer", "overall")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DEFAULT_TZ = "Asia/Ho_Chi_Minh"
CHANGE_SLACK_S = 3600.0  # a presence change may be reported up to this long after its ``since``

Interval = tuple[float, float]


class BadReportQuery(CollectorError, ValueError):
    """A report parameter that makes no sense (the message says what would)."""


# -- periods -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Period:
    """A local calendar period: ``Period("month", date(2026, 11, 5))`` is November 2026."""

    kind: PeriodKind
    anchor: date

    @classmethod
    def parse(cls, kind: str | None, day: str | None, today: date) -> "Period":
        kind = kind or "day"
        if kind not in PERIOD_KINDS:
            raise BadReportQuery(f"Kỳ báo cáo không hợp lệ / period={kind!r} is not known: dùng / use one of "
                                 f"{', '.join(PERIOD_KINDS)}")
        if not day:
            return cls(kind, today)  # type: ignore[arg-type]
        try:
            anchor = date.fromisoformat(day)
        except ValueError:
            raise BadReportQuery(f"Ngày không hợp lệ / date={day!r} is not a date: dùng / use YYYY-MM-DD, "
                                     "e.g. 2026-11-23") from None
        if not 1970 <= anchor.year <= 9998:
            raise BadReportQuery(f"Ngày ngoài phạm vi / date={day!r} is out of range: dùng năm / use a year "
                                 "from 1970 to 9998")
        return cls(kind, anchor)  # type: ignore[arg-type]

    @property
    def first_day(self) -> date:
        a = self.anchor
        if self.kind == "day":
            return a
        if self.kind == "month":
            return a.replace(day=1)
        if self.kind == "quarter":
            return date(a.year, 3 * ((a.month - 1) // 3) + 1, 1)
        return date(a.year, 1, 1)

    @property
    def end_day(self) -> date:
        """The first local day after the period."""
        f = self.first_day
        if self.kind == "day":
            return f + timedelta(days=1)
        months = {"month": 1, "quarter": 3, "year": 12}[self.kind]
        m = f.month - 1 + months
        return date(f.year + m // 12, m % 12 + 1, 1)

    def days(self) -> list[date]:
        d, out = self.first_day, []
        while d < self.end_day:
            out.append(d)
            d += timedelta(days=1)
        return out

    def bounds(self, tz: ZoneInfo) -> tuple[datetime, datetime]:
        """Local midnight to local midnight, as aware datetimes in ``tz``."""
        return datetime.combine(self.first_day, dtime(0), tz), datetime.combine(self.end_day, dtime(0), tz)

    def epochs(self, tz: ZoneInfo) -> tuple[float, float]:
        s, e = self.bounds(tz)
        return s.timestamp(), e.timestamp()

    @property
    def label(self) -> str:
        f = self.first_day
        if self.kind == "day":
            return f.isoformat()
        if self.kind == "month":
            return f"{f.year}-{f.month:02d}"
        if self.kind == "quarter":
            return f"{f.year}-Q{(f.month - 1) // 3 + 1}"
        return str(f.year)


def zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise BadReportQuery(f"Múi giờ không rõ / timezone {tz!r} is not known, e.g. Asia/Ho_Chi_Minh") from None


# -- the site (from the retained state/site) ---------------------------------------------------------

@dataclass
class SiteFacts:
    """What reports need from the retained ``state/site``: targets, names, desks, opening hours."""

    site: str | None = None
    targets_min: dict[str, float] = field(default_factory=dict)
    service_names: dict[str, tuple[str, str]] = field(default_factory=dict)
    desks: list[int] = field(default_factory=list)
    hours: dict[str, list[tuple[str, str]]] | None = None
    closed_days: set[str] = field(default_factory=set)

    def open_intervals(self, period: Period, tz: ZoneInfo) -> list[Interval] | None:
        """Opening hours of every day of the period as epoch intervals; None when hours are unknown."""
        if self.hours is None:
            return None
        out: list[Interval] = []
        for d in period.days():
            if d.isoformat() in self.closed_days:
                continue
            for a, b in self.hours.get(WEEKDAYS[d.weekday()], []):
                s = datetime.combine(d, dtime.fromisoformat(a), tz).timestamp()
                e = datetime.combine(d, dtime.fromisoformat(b), tz).timestamp()
                if e > s:
                    out.append((s, e))
        return _union(out)


def site_facts(conn: sqlite3.Connection, site: str | None = None) -> SiteFacts:
    q = "SELECT site, payload FROM retained_state WHERE name='site' AND device IS NULL"
    args: list[Any] = []
    if site:
        q, args = q + " AND site=?", [site]
    row = conn.execute(q + " ORDER BY received_epoch DESC LIMIT 1", args).fetchone()
    if row is None:
        return SiteFacts(site=site)
    try:
        s = json.loads(row[1])
        return SiteFacts(
            site=row[0],
            targets_min={v["code"]: float(v["target_wait_min"]) for v in s.get("services", [])
                         if v.get("target_wait_min") is not None},
            service_names={v["code"]: (v.get("name_vi", v["code"]), v.get("name_en", v["code"]))
                           for v in s.get("services", [])},
            desks=sorted(int(d["number"]) for d in s.get("desks", [])),
            hours={k: [(str(a), str(b)) for a, b in v] for k, v in (s.get("hours") or {}).items()},
            closed_days=set(s.get("closed_days") or []))
    except (ValueError, KeyError, TypeError) as exc:
        log.warning("retained state/site of %s is not usable for reports: %s", row[0], exc)
        return SiteFacts(site=row[0])


# -- intervals ---------------------------------------------------------------------------------------

def _union(iv: Iterable[Interval]) -> list[Interval]:
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


def _timeline(changes: list[tuple[float, Any]], start: float, end: float) -> list[tuple[float, float, Any]]:
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


def _site_clause(site: str | None) -> tuple[str, list[Any]]:
    return (" AND site=?", [site]) if site else ("", [])


def officer_presence(conn: sqlite3.Connection, start: float, end: float,
                     site: str | None = None) -> dict[int, list[Interval]]:
    """Per desk, the intervals in ``[start, end)`` during which the officer zone was occupied."""
    w, a = _site_clause(site)
    base = "FROM presence WHERE zone='officer' AND kind='change'" + w
    rows = conn.execute(f"SELECT desk, present, since, max(ts_epoch) AS ts_epoch {base} AND ts_epoch < ? "
                        f"GROUP BY desk", [*a, start]).fetchall()
    rows += conn.execute(f"SELECT desk, present, since, ts_epoch {base} AND ts_epoch >= ? AND ts_epoch < ? "
                         f"ORDER BY ts_epoch", [*a, start, end + CHANGE_SLACK_S]).fetchall()
    changes: dict[int, list[tuple[float, Any]]] = {}
    for r in rows:
        changes.setdefault(int(r["desk"]), []).append((_epoch_of(r["since"], r["ts_epoch"]), bool(r["present"])))
    out: dict[int, list[Interval]] = {}
    for desk, ch in changes.items():
        ch.sort(key=lambda c: c[0])
        out[desk] = [(s, e) for s, e, v in _timeline(ch, start, end) if v]
    return out


def desk_officers(conn: sqlite3.Connection, start: float, end: float,
                  site: str | None = None) -> dict[int, list[tuple[float, float, str | None]]]:
    """Per desk, who was signed in when: pieces ``(s, e, officer or None)`` covering ``[start, end)``."""
    w, a = _site_clause(site)
    rows = conn.execute(f"SELECT desk, action, officer, max(ts_epoch) AS ts_epoch FROM desk_sessions "
                        f"WHERE ts_epoch < ?{w} GROUP BY desk", [start, *a]).fetchall()
    rows += conn.execute(f"SELECT desk, action, officer, ts_epoch FROM desk_sessions WHERE ts_epoch >= ? "
                         f"AND ts_epoch < ?{w} ORDER BY ts_epoch", [start, end, *a]).fetchall()
    changes: dict[int, list[tuple[float, Any]]] = {}
    for r in rows:
        who = r["officer"] if r["action"] == "sign_in" else None
        changes.setdefault(int(r["desk"]), []).append((r["ts_epoch"], who))
    return {d: _timeline(ch, start, end) for d, ch in changes.items()}


# -- the report --------------------------------------------------------------------------------------

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

    def as_dict(self) -> dict[str, Any]:
        return {"period": {"kind": self.period.kind, "date": self.period.anchor.isoformat(),
                           "label": self.period.label, "start": self.start.isoformat(),
                           "end": self.end.isoformat()},
                "by": self.by, "tz": self.tz, "site": self.site, "satisfaction_levels": self.satisfaction_levels,
                "rows": [r.as_dict() for r in self.rows], "total": self.total.as_dict()}


@dataclass
class _Acc:
    issued: int = 0
    served: int = 0
    no_shows: int = 0
    waits: list[float] = field(default_factory=list)
    services: list[float] = field(default_factory=list)
    in_target: int = 0
    with_target: int = 0
    levels: dict[int, int] = field(default_factory=lambda: {i: 0 for i in range(1, 6)})
    satisfied: int = 0
    misuse: int = 0
    present_s: float = 0.0
    open_s: float | None = None


def _key_of(by: str, row: sqlite3.Row) -> Any:
    return "all" if by == "overall" else row[by]


def ticket_rows(conn: sqlite3.Connection, start: float, end: float, site: str | None, actions: tuple[str, ...],
                 columns: str = "action, service, desk, officer, wait_s, service_s") -> list[sqlite3.Row]:
    w, a = _site_clause(site)
    marks = ",".join("?" * len(actions))
    return conn.execute(f"SELECT {columns} FROM ticket_events WHERE ts_epoch >= ? AND ts_epoch < ? "
                        f"AND action IN ({marks}){w} ORDER BY ts_epoch", [start, end, *actions, *a]).fetchall()


def rating_rows(conn: sqlite3.Connection, start: float, end: float, site: str | None) -> list[sqlite3.Row]:
    w, a = _site_clause(site)
    return conn.execute(f"SELECT desk, officer, service, score, scale, misuse, ts_epoch FROM ratings "
                        f"WHERE ts_epoch >= ? AND ts_epoch < ?{w} ORDER BY ts_epoch", [start, end, *a]).fetchall()


def is_satisfied(score: int, scale: int, levels: int) -> bool:
    return score > (scale or 5) - levels


def build_report(conn: sqlite3.Connection, period: Period, by: str = "service", satisfaction_levels: int = 2,
                 tz: str = DEFAULT_TZ, *, site: str | None = None, now: float | None = None) -> Report:
    """The figures of ``period`` grouped ``by`` service, desk, officer or overall, plus a total row.

    ``now`` (epoch seconds) stops presence and opening hours at the present moment, so today's
    presence share is not diluted by hours still to come."""
    if by not in GROUPS:
        raise BadReportQuery(f"Cách nhóm không hợp lệ / by={by!r} is not known: dùng / use one of "
                             f"{', '.join(GROUPS)}")
    if not 1 <= satisfaction_levels <= 5:
        raise BadReportQuery(f"Số mức hài lòng phải từ 1 đến 5 / satisfaction_levels={satisfaction_levels} "
                             "must be between 1 and 5")
    z = zone(tz)
    start_dt, end_dt = period.bounds(z)
    start, end = start_dt.timestamp(), end_dt.timestamp()
    facts = site_facts(conn, site)
    groups: dict[Any, _Acc] = {}
    total = _Acc()

    def group(row: sqlite3.Row) -> _Acc:
        k = _key_of(by, row)
        acc = groups.get(k)
        if acc is None:
            acc = groups[k] = _Acc()
        return acc

    def accs(row: sqlite3.Row) -> tuple[_Acc, _Acc]:
        return (group(row), total)

    w, a = _site_clause(site)
    issued_sql = ("SELECT {col}, count(DISTINCT day || '/' || ticket) FROM ticket_events WHERE action='issued' "
                  f"AND ts_epoch >= ? AND ts_epoch < ?{w} GROUP BY 1")
    total.issued = sum(n for _, n in conn.execute(issued_sql.format(col="'all'"), [start, end, *a]))
    if by in ("service", "overall"):
        col = "service" if by == "service" else "'all'"
        for k, n in conn.execute(issued_sql.format(col=col), [start, end, *a]):
            groups.setdefault(k, _Acc()).issued = n
    for r in ticket_rows(conn, start, end, site, ("finished", "no_show")):
        for acc in accs(r):
            if r["action"] == "no_show":
                acc.no_shows += 1
                continue
            acc.served += 1
            if r["wait_s"] is not None:
                acc.waits.append(r["wait_s"])
                target = facts.targets_min.get(r["service"])
                if target is not None:
                    acc.with_target += 1
                    acc.in_target += r["wait_s"] <= target * 60
            if r["service_s"] is not None:
                acc.services.append(r["service_s"])
    for r in rating_rows(conn, start, end, site):
        for acc in accs(r):
            if r["misuse"]:
                acc.misuse += 1
                continue
            acc.levels[int(r["score"])] = acc.levels.get(int(r["score"]), 0) + 1
            acc.satisfied += is_satisfied(r["score"], r["scale"], satisfaction_levels)
    stop = min(end, now) if now is not None else end
    opening = facts.open_intervals(period, z)
    if opening is not None:
        opening = intersect(opening, [(start, stop)])
    _add_presence(conn, facts.desks, opening, by, groups, total, start, stop, site)
    rows = [_row(k, a, by in ("service", "overall")) for k, a in groups.items()]
    rows.sort(key=lambda r: (r.key is None, str(r.key).zfill(6) if isinstance(r.key, int) else str(r.key)))
    return Report(period, by, tz, satisfaction_levels, start_dt, end_dt, rows, _row("total", total, True),
                  site=facts.site, service_names=facts.service_names)


def _add_presence(conn: sqlite3.Connection, site_desks: list[int], opening: list[Interval] | None, by: str,
                  groups: dict[Any, _Acc], total: _Acc, start: float, stop: float, site: str | None) -> None:
    """Officer presence (clipped to ``opening`` when known) into the groups and the total."""
    per_desk = officer_presence(conn, start, stop, site) if stop > start else {}
    desks = sorted(set(site_desks) | set(per_desk))
    open_s = total_s(opening) if opening is not None else None
    counted = {d: (intersect(iv, opening) if opening is not None else iv) for d, iv in per_desk.items()}
    total.present_s = sum(total_s(iv) for iv in counted.values())
    total.open_s = open_s * len(desks) if open_s is not None else None
    if by == "overall":
        for acc in groups.values():
            acc.present_s, acc.open_s = total.present_s, total.open_s
        if not groups and desks:
            groups["all"] = _Acc(present_s=total.present_s, open_s=total.open_s)
    elif by == "desk":
        for d in desks:
            acc = groups.setdefault(d, _Acc())
            acc.present_s, acc.open_s = total_s(counted.get(d, [])), open_s
    elif by == "officer":
        sessions = desk_officers(conn, start, stop, site) if stop > start else {}
        for d, iv in counted.items():
            signed: dict[str | None, list[Interval]] = {}
            for s, e, who in sessions.get(d, [(start, stop, None)]):
                signed.setdefault(who, []).append((s, e))
            for who, pieces in signed.items():
                got = total_s(intersect(iv, pieces))
                if got > 0 or who is not None:
                    groups.setdefault(who, _Acc()).present_s += got
        for acc in groups.values():
            acc.open_s = open_s
    else:  # by service: presence is per desk, not per service; only the total row shows it
        for acc in groups.values():
            acc.present_s, acc.open_s = 0.0, None


def _row(key: Any, a: _Acc, with_issued: bool) -> ReportRow:
    rated = sum(a.levels.values())
    pres = a.present_s / 60 if a.open_s is not None or a.present_s else None
    open_min = a.open_s / 60 if a.open_s is not None else None
    return ReportRow(
        key=key, issued=a.issued if with_issued else None, served=a.served, no_shows=a.no_shows,
        avg_wait_s=sum(a.waits) / len(a.waits) if a.waits else None, max_wait_s=max(a.waits, default=None),
        avg_service_s=sum(a.services) / len(a.services) if a.services else None,
        service_level=a.in_target / a.with_target if a.with_target else None,
        ratings_by_level=dict(a.levels), ratings=rated,
        satisfaction_rate=a.satisfied / rated if rated else None, misuse_count=a.misuse,
        present_minutes=pres, open_minutes=open_min,
        presence_share=(a.present_s / a.open_s) if a.open_s else None)
