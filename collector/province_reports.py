"""Province reports: sites, departments or services compared over a day, month, quarter, year or range,
with the figures of a site's report (collector/reports.py), read from the daily rollups
(collector/rollups.py).

The days that are over and computed come from ``rollup_day`` in one aggregate query; today, the days
marked dirty (late events) and the days not computed yet are computed live from the events by the same
function the rollups use. So the row of a site is the sum of its days and equals the ``total`` of that
site's own report for the same period (tests/province/test_dashboard_reports.py checks it).

Fair rules as in a site's report: waits and the service level belong to services and sites, never to the
officers who called, so by department (an officer's department) they are not shown; issued tickets carry
no officer, so by department ``issued`` is not shown either.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from .backend import Conn
from .periods import BadReportQuery, Period, zone
from .reports import ReportRow, _check, _row, period_dict
from .rollups import FIGURES, MAX_FIGURES, DayAcc, add_figures, day_figures, empty_figures, pending_days
from .site_config import first_data_day, site_history
from .staff import Staff

BY = ("site", "department", "service")
_AGG = ", ".join(f"{'max' if c in MAX_FIGURES else 'sum'}({c}) AS {c}" for c in FIGURES)


@dataclass
class ProvinceRow:
    key: str
    name_vi: str
    name_en: str
    row: ReportRow
    sites: list[str] = field(default_factory=list)


@dataclass
class ProvinceReport:
    period: Period
    by: str
    tz: str
    satisfaction_levels: int
    start: datetime
    end: datetime
    rows: list[ProvinceRow]
    total: ReportRow
    site: str | None = None
    live_days: int = 0  # (site, day) computed from the events, not read from the rollups

    def row(self, key: str) -> ReportRow | None:
        return next((r.row for r in self.rows if r.key == key), None)

    def as_dict(self) -> dict[str, Any]:
        return {"period": period_dict(self.period, self.start, self.end), "by": self.by, "tz": self.tz, "site": self.site, "satisfaction_levels": self.satisfaction_levels,
                "live_days": self.live_days,
                "rows": [{"key": r.key, "name_vi": r.name_vi, "name_en": r.name_en, "sites": r.sites,
                          **{k: v for k, v in r.row.as_dict().items() if k != "key"}} for r in self.rows],
                "total": self.total.as_dict()}


def known_sites(conn: Conn) -> list[str]:
    """Every site the store has heard of (a device, a rollup or a retained state)."""
    rows = conn.execute("SELECT site FROM devices UNION SELECT site FROM retained_state WHERE site IS NOT NULL "
                        "UNION SELECT site FROM rollup_day WHERE grain='site'").fetchall()
    return sorted({r[0] for r in rows if r[0]})


def site_names(conn: Conn, sites: list[str]) -> dict[str, tuple[str, str]]:
    """(Vietnamese, English) name of each site from its retained ``state/site`` (the id when none)."""
    out = {s: (s, s) for s in sites}
    for r in conn.execute("SELECT site, payload FROM retained_state WHERE name='site' AND device IS NULL"):
        if r[0] in out:
            try:
                d = json.loads(r[1])
                out[r[0]] = (str(d["name_vi"]), str(d["name_en"]))
            except (ValueError, KeyError, TypeError):
                continue
    return out


def _stored(conn: Conn, grain: str, lo: str, hi: str,
            sites: list[str]) -> dict[tuple[str, str], dict[str, Any]]:
    marks = ",".join("?" * len(sites))
    sql = (f"SELECT site, key, {_AGG} FROM rollup_day r WHERE grain=? AND day >= ? AND day < ? "
           f"AND site IN ({marks}) AND NOT EXISTS (SELECT 1 FROM rollup_dirty d WHERE d.site=r.site "
           "AND d.day=r.day) GROUP BY site, key")
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for r in conn.execute(sql, [grain, lo, hi, *sites]):
        out[(r["site"], r["key"])] = {c: r[c] for c in FIGURES}
    return out


def _counts(conn: Conn, lo: str, hi: str, sites: list[str]) -> dict[str, int]:
    marks = ",".join("?" * len(sites))
    return {r[0]: int(r[1]) for r in conn.execute(
        f"SELECT site, count(*) FROM rollup_day WHERE grain='site' AND day >= ? AND day < ? AND site IN ({marks}) "
        "GROUP BY site", [lo, hi, *sites])}


def _dirty(conn: Conn, lo: str, hi: str, sites: list[str]) -> set[str]:
    marks = ",".join("?" * len(sites))
    return {r[0] for r in conn.execute(f"SELECT DISTINCT site FROM rollup_dirty WHERE day >= ? AND day < ? "
                                       f"AND site IN ({marks})", [lo, hi, *sites])}


def province_report(conn: Conn, period: Period, by: str = "site", satisfaction_levels: int = 2,
                    tz: str = "Asia/Ho_Chi_Minh", *, sites: list[str] | None = None, staff: Staff | None = None,
                    now: float | None = None) -> ProvinceReport:
    """Rows per site, department or service (``by``) over ``sites`` (None: every known site)."""
    if by not in BY:
        raise BadReportQuery(f"Cách nhóm không hợp lệ / by={by!r} is not known: dùng / use one of {', '.join(BY)}")
    _check("overall", satisfaction_levels)
    staff = staff or Staff()
    z = zone(tz)
    start_dt, end_dt = period.bounds(z)
    now = datetime.now(z).timestamp() if now is None else now
    today = datetime.fromtimestamp(now, z).date()
    sites = sorted(set(sites)) if sites is not None else known_sites(conn)
    grain = by
    figures: dict[tuple[str, str], dict[str, Any]] = {}
    live = 0
    if sites:
        lo, hi = period.first_day.isoformat(), min(period.end_day, today).isoformat()
        figures = _stored(conn, grain, lo, hi, sites)
        counts, dirty = _counts(conn, lo, hi, sites), _dirty(conn, lo, hi, sites)
        for site in sites:
            first = first_data_day(conn, z, site)
            if first is None:
                continue
            start = max(first, period.first_day)
            closed_end = min(period.end_day, today)
            todo: list[date] = []
            if start < closed_end and (site in dirty or counts.get(site, 0) != (closed_end - start).days):
                todo = sorted(pending_days(conn, site, start, closed_end))
            if start <= today < period.end_day:
                todo.append(today)
            for d in todo:
                day = day_figures(conn, site, d, tz, staff, now, first)
                live += 1
                for (g, key), f in day.items():
                    if g == grain:
                        add_figures(figures.setdefault((site, key), empty_figures()), f)
    return _assemble(conn, period, by, satisfaction_levels, tz, start_dt, end_dt, figures, staff, live,
                     sites[0] if sites and len(sites) == 1 else None)


def _assemble(conn: Conn, period: Period, by: str, levels: int, tz: str, start: datetime,
              end: datetime, figures: dict[tuple[str, str], dict[str, Any]], staff: Staff, live: int,
              site: str | None) -> ProvinceReport:
    groups: dict[str, dict[str, Any]] = {}
    members: dict[str, set[str]] = {}
    total = empty_figures()
    for (s, key), f in figures.items():
        k = s if by == "site" else key
        add_figures(groups.setdefault(k, empty_figures()), f)
        members.setdefault(k, set()).add(s)
        add_figures(total, f)
    as_by = "officer" if by == "department" else "overall"  # fair rules: departments like officers
    names = site_names(conn, sorted(groups)) if by == "site" else {}
    rows = []
    for k in sorted(groups, key=lambda x: (x == "", x)):
        if by == "site":
            vi, en = names[k]
        elif by == "department":
            vi, en = staff.department_names(k)
        else:
            vi, en = _service_name(conn, sorted(members[k]), k)
        r = _row(k or None, DayAcc.from_figures(groups[k], levels), as_by, Staff())
        r.name = vi
        rows.append(ProvinceRow(k, vi, en, r, sorted(members[k])))
    tot = _row("total", DayAcc.from_figures(total, levels), "total" if by != "department" else "officer", Staff())
    return ProvinceReport(period, by, tz, levels, start, end, rows, tot, site=site, live_days=live)


def _service_name(conn: Conn, sites: list[str], code: str) -> tuple[str, str]:
    if not code:
        return ("Không rõ dịch vụ", "Unknown service")
    for s in sites:
        names = site_history(conn, s).current.service_names
        if code in names:
            return names[code]
    return (code, code)
