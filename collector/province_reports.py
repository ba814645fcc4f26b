"""Province reports: sites, departments or services compared over a day, month, quarter, year or range,
with the figures of a site's report (collector/reports.py), read from the daily rollups
(collector/rollups.py).

The days that are over and computed come from the grain's rollup table in one aggregate query; today comes
from the provisional rows the rollup job writes every minute while they are fresh (``TODAY_MAX_AGE_S``), else
(missing or stale, site by site) live; the days marked dirty (late events) and the days not computed yet are
computed live from the events by the same function the rollups use. So the row of a site is the sum of its
days and equals the ``total`` of that site's own report for the same period (tests/province/test_dashboard_reports.py
and, today read from the job's rows, tests/province/test_today_rollups.py check it).

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
from .rollups import (FIGURES, FLOAT_FIGURES, MAX_FIGURES, TODAY_MAX_AGE_S, DayAcc, add_figures, day_figures,
                      empty_figures, first_days, pending_days, table)
from .staff import Staff

BY = ("site", "department", "service")
_AGG = ", ".join(f"max({c}) AS {c}" if c in MAX_FIGURES else
                 (f"sum({c}) AS {c}" if c in FLOAT_FIGURES else f"CAST(sum({c}) AS BIGINT) AS {c}") for c in FIGURES)


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
    today_computed: float | None = None  # the period has today: when its figures were computed (the oldest site)

    def row(self, key: str) -> ReportRow | None:
        return next((r.row for r in self.rows if r.key == key), None)

    def as_dict(self) -> dict[str, Any]:
        return {"period": period_dict(self.period, self.start, self.end), "by": self.by, "tz": self.tz, "site": self.site, "satisfaction_levels": self.satisfaction_levels,
                "live_days": self.live_days, "today_computed": self.today_computed,
                "rows": [{"key": r.key, "name_vi": r.name_vi, "name_en": r.name_en, "sites": r.sites,
                          **{k: v for k, v in r.row.as_dict().items() if k != "key"}} for r in self.rows],
                "total": self.total.as_dict()}


def known_sites(conn: Conn) -> list[str]:
    """Every site the store has heard of (a device, a rollup or a retained state)."""
    rows = conn.execute("SELECT site FROM devices UNION SELECT site FROM retained_state WHERE site IS NOT NULL "
                        "UNION SELECT site FROM rollup_sites").fetchall()
    return sorted({r[0] for r in rows if r[0]})


def site_payloads(conn: Conn) -> dict[str, dict[str, Any]]:
    """Each site's retained ``state/site`` (names of the site and of its services)."""
    out: dict[str, dict[str, Any]] = {}
    for r in conn.execute("SELECT site, payload FROM retained_state WHERE name='site' AND device IS NULL"):
        try:
            d = json.loads(r[1])
        except ValueError:
            continue
        if isinstance(d, dict):
            out[r[0]] = d
    return out


def site_names(conn: Conn, sites: list[str]) -> dict[str, tuple[str, str]]:
    """(Vietnamese, English) name of each site from its retained ``state/site`` (the id when none)."""
    got = site_payloads(conn)
    return {s: (str(got.get(s, {}).get("name_vi") or s), str(got.get(s, {}).get("name_en") or s)) for s in sites}


def _in(only: list[str] | None) -> tuple[str, list[Any]]:
    """`` AND site IN (...)`` for the sites asked (nothing for every site: no filter to apply per row)."""
    return ("", []) if only is None else (f" AND site IN ({','.join('?' * len(only))})", list(only))


def _stored(conn: Conn, grain: str, lo: str, hi: str, only: list[str] | None,
            dirty: bool) -> tuple[dict[tuple[str, str], dict[str, Any]], dict[str, int]]:
    """The summed figures per (site, key) of the computed days (the dirty ones left out) and, by site,
    how many days were computed."""
    w, a = _in(only)
    skip = " AND NOT EXISTS (SELECT 1 FROM rollup_dirty d WHERE d.site=r.site AND d.day=r.day)" if dirty else ""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for r in conn.execute(f"SELECT site, key, count(*) AS days, {_AGG} FROM {table(grain)} r WHERE day >= ? "
                          f"AND day < ?{w}{skip} GROUP BY site, key", [lo, hi, *a]):
        out[(r["site"], r["key"])] = {c: r[c] for c in FIGURES}
        out[(r["site"], r["key"])]["days"] = r["days"]
    if grain == "site":
        counts = {s: int(f.pop("days")) for (s, _), f in out.items()}
    else:
        for f in out.values():
            f.pop("days")
        counts = {r[0]: int(r[1]) for r in conn.execute(
            f"SELECT site, count(*) FROM rollup_site WHERE day >= ? AND day < ?{w} GROUP BY site", [lo, hi, *a])}
    return out, counts


def _dirty(conn: Conn, lo: str, hi: str, only: list[str] | None) -> set[str]:
    w, a = _in(only)
    return {r[0] for r in conn.execute(f"SELECT DISTINCT site FROM rollup_dirty WHERE day >= ? AND day < ?{w}",
                                       [lo, hi, *a])}


def _today(conn: Conn, grain: str, day: str, only: list[str] | None, now: float,
           max_age: float) -> tuple[dict[tuple[str, str], dict[str, Any]], dict[str, float]]:
    """Today's provisional rows per (site, key) of the sites whose rows were computed within ``max_age``
    of ``now``, and when each of them was computed."""
    w, a = _in(only)
    fresh = {r[0]: float(r[1]) for r in conn.execute(f"SELECT site, computed_epoch FROM rollup_site WHERE day=?{w}",
                                                      [day, *a]) if abs(now - float(r[1])) <= max_age}
    out: dict[tuple[str, str], dict[str, Any]] = {}
    if fresh:
        for r in conn.execute(f"SELECT site, key, {', '.join(FIGURES)} FROM {table(grain)} WHERE day=?{w}", [day, *a]):
            if r["site"] in fresh:
                out[(r["site"], r["key"])] = {c: r[c] for c in FIGURES}
    return out, fresh


def province_report(conn: Conn, period: Period, by: str = "site", satisfaction_levels: int = 2,
                    tz: str = "Asia/Ho_Chi_Minh", *, sites: list[str] | None = None, staff: Staff | None = None,
                    now: float | None = None, today_max_age_s: float = TODAY_MAX_AGE_S) -> ProvinceReport:
    """Rows per site, department or service (``by``) over ``sites`` (None: every known site); today from
    the rollup job's rows computed within ``today_max_age_s``, else live."""
    if by not in BY:
        raise BadReportQuery(f"Cách nhóm không hợp lệ / by={by!r} is not known: dùng / use one of {', '.join(BY)}")
    _check("overall", satisfaction_levels)
    staff = staff or Staff()
    z = zone(tz)
    start_dt, end_dt = period.bounds(z)
    now = datetime.now(z).timestamp() if now is None else now
    today = datetime.fromtimestamp(now, z).date()
    only = sorted(set(sites)) if sites is not None else None
    sites = only if only is not None else known_sites(conn)
    grain = by
    figures: dict[tuple[str, str], dict[str, Any]] = {}
    live = 0
    computed: list[float] = []
    if sites:
        lo, hi = period.first_day.isoformat(), min(period.end_day, today).isoformat()
        dirty = _dirty(conn, lo, hi, only)
        figures, counts = _stored(conn, grain, lo, hi, only, bool(dirty))
        firsts = first_days(conn, z)
        with_today = period.first_day <= today < period.end_day
        today_rows, fresh = (_today(conn, grain, today.isoformat(), only, now, today_max_age_s) if with_today
                             else ({}, {}))
        for (site, key), f in today_rows.items():
            add_figures(figures.setdefault((site, key), empty_figures()), f)
        for site in sites:
            first = firsts.get(site)
            if first is None:
                continue
            start = max(first, period.first_day)
            closed_end = min(period.end_day, today)
            todo: list[date] = []
            if start < closed_end and (site in dirty or counts.get(site, 0) != (closed_end - start).days):
                todo = sorted(pending_days(conn, site, start, closed_end))
            if start <= today < period.end_day:
                if site in fresh:
                    computed.append(fresh[site])
                else:
                    todo.append(today)
                    computed.append(now)
            for d in todo:
                day = day_figures(conn, site, d, tz, staff, now, first)
                live += 1
                for (g, key), f in day.items():
                    if g == grain:
                        add_figures(figures.setdefault((site, key), empty_figures()), f)
    report = _assemble(conn, period, by, satisfaction_levels, tz, start_dt, end_dt, figures, staff, live,
                       sites[0] if sites and len(sites) == 1 else None)
    report.today_computed = min(computed) if computed else None
    return report


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
    got = site_payloads(conn)
    for s in sites:
        for svc in got.get(s, {}).get("services") or []:
            if isinstance(svc, dict) and svc.get("code") == code:
                return (str(svc.get("name_vi") or code), str(svc.get("name_en") or code))
    return (code, code)
