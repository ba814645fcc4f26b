"""Today's provisional rollups (issue 17): the rollup job writes today's rows of every site every minute;
the province report reads them while fresh instead of computing today live for each site, with the same
figures, and computes live a site whose rows are missing or stale. Once the day is over the job computes
it again (final). On SQLite and on PostgreSQL, like tests/province/test_dashboard_reports.py."""
from __future__ import annotations

from datetime import date, datetime, time as dtime, timedelta
from typing import Any, Iterator

import pytest

from collector import province_load as pl
from collector import province_reports, rollups
from collector.db import connect
from collector.periods import Period
from collector.province_reports import BY, province_report
from collector.reports import build_report
from tests.province.dashboard_store import SITES, TZ, ProvinceWriter
from tests.province.test_dashboard_reports import ENGINES, location, same
from tests.support.pg import pg_cluster  # noqa: F401 (the session fixture)
from tests.support.wait import wait_for

FIRST = date(2026, 11, 9)  # a Monday; the store holds 9 .. 12 November, the 12th (a Thursday) until NOW
TODAY = date(2026, 11, 12)
NOW = datetime.combine(TODAY, dtime(15, 0), TZ).timestamp()  # mid-afternoon: presence cut at now
STAFF = pl.staff_for(SITES)
ZONE = "Asia/Ho_Chi_Minh"
MONTH = Period("month", TODAY)


def today_events(site: str, *, before: bool) -> list[dict[str, Any]]:
    """The site's events of today before NOW (``before``) or from NOW on."""
    return [e for e in pl.day_events(site, TODAY, tickets=12)
            if (datetime.fromisoformat(e["ts"]).timestamp() < NOW) == before]


@pytest.fixture(params=ENGINES)
def store(request: pytest.FixtureRequest, tmp_path: Any) -> Any:
    db = location(str(request.param), tmp_path, request)
    w = ProvinceWriter(db)
    w.sites(SITES, datetime.combine(FIRST, dtime(6), TZ))
    for i in range((TODAY - FIRST).days):
        day = FIRST + timedelta(days=i)
        for s in SITES:
            w.events(pl.day_events(s, day, tickets=12), datetime.combine(day, dtime(19), TZ))
    for s in SITES:  # today so far
        w.events(today_events(s, before=True), datetime.fromtimestamp(NOW - 60, TZ))
    w.close()
    return db


@pytest.fixture
def live_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, date]]]:
    """Every (site, day) the province report computes live: a spy around the real ``day_figures``."""
    calls: list[tuple[str, date]] = []
    real = province_reports.day_figures

    def spy(conn: Any, site: str, day: date, *a: Any, **kw: Any) -> Any:
        calls.append((site, day))
        return real(conn, site, day, *a, **kw)

    monkeypatch.setattr(province_reports, "day_figures", spy)
    yield calls


def today_rows(conn: Any) -> dict[str, float]:
    return {r[0]: float(r[1]) for r in conn.execute("SELECT site, computed_epoch FROM rollup_site WHERE day=?",
                                                    (TODAY.isoformat(),))}


def test_fresh_rows_of_today_are_read_not_computed_live(store: Any, live_calls: list[tuple[str, date]]):
    conn = connect(store)
    rollups.refresh(conn, STAFF, ZONE, NOW)  # the days that are over
    live = {by: province_report(conn, MONTH, by, staff=STAFF, now=NOW) for by in BY}
    assert sorted(live_calls) == sorted([(s, TODAY) for s in SITES] * len(BY))  # no rows of today yet: live
    assert live["site"].today_computed == NOW
    # the collector's rollup job (its own thread and connection) writes today's rows too
    job = rollups.RollupJob(rollups.db_connector(store), STAFF, ZONE, lambda: NOW, interval_s=0.2)
    job.start()
    try:
        assert wait_for(lambda: set(today_rows(conn)) == set(SITES), timeout=30, interval=0.2)
    finally:
        job.stop()
    assert set(today_rows(conn).values()) == {NOW}
    live_calls.clear()
    for by in BY:
        rep = province_report(conn, MONTH, by, staff=STAFF, now=NOW)
        assert rep.live_days == 0 and rep.today_computed == NOW
        assert [r.key for r in rep.rows] == [r.key for r in live[by].rows]
        for r in rep.rows:
            same(r.row, live[by].row(r.key))  # type: ignore[arg-type]
        same(rep.total, live[by].total)
    assert live_calls == []
    # and each site's row is still that site's own report, today included (a month and today alone)
    for period in (MONTH, Period("day", TODAY)):
        rep = province_report(conn, period, "site", staff=STAFF, now=NOW)
        for s in SITES:
            own = build_report(conn, period, "overall", site=s, staff=STAFF, now=NOW).total
            assert own.served > 0
            same(rep.row(s), own)  # type: ignore[arg-type]
    assert live_calls == []
    # still fresh at the limit; past it, today is computed live again, for every site
    assert province_report(conn, MONTH, "site", staff=STAFF, now=NOW + rollups.TODAY_MAX_AGE_S).live_days == 0
    assert live_calls == []
    later = NOW + rollups.TODAY_MAX_AGE_S + 1
    stale = province_report(conn, MONTH, "site", staff=STAFF, now=later)
    assert stale.live_days == len(SITES) and sorted(live_calls) == sorted((s, TODAY) for s in SITES)
    assert stale.today_computed == later
    for s in SITES:
        same(stale.row(s), build_report(conn, MONTH, "overall", site=s, staff=STAFF, now=later).total)  # type: ignore[arg-type]
    conn.close()


def test_a_site_with_stale_rows_is_computed_live_alone(store: Any, live_calls: list[tuple[str, date]]):
    conn = connect(store)
    rollups.refresh(conn, STAFF, ZONE, NOW)
    old = NOW - rollups.TODAY_MAX_AGE_S - 60
    assert rollups.refresh_today(conn, STAFF, ZONE, old, sites=[SITES[0]]) == 1
    assert rollups.refresh_today(conn, STAFF, ZONE, NOW, sites=SITES[1:]) == len(SITES) - 1
    for by in BY:
        live_calls.clear()
        rep = province_report(conn, MONTH, by, staff=STAFF, now=NOW)
        assert live_calls == [(SITES[0], TODAY)] and rep.live_days == 1
        assert rep.today_computed == NOW
    rep = province_report(conn, MONTH, "site", staff=STAFF, now=NOW)
    for s in SITES:  # the stale site's old presence (cut at ``old``) is not read: correct figures first
        same(rep.row(s), build_report(conn, MONTH, "overall", site=s, staff=STAFF, now=NOW).total)  # type: ignore[arg-type]
    # one site asked: only its rows count
    live_calls.clear()
    one = province_report(conn, MONTH, "site", staff=STAFF, now=NOW, sites=[SITES[1]])
    assert live_calls == [] and [r.key for r in one.rows] == [SITES[1]]
    conn.close()


def test_today_rows_are_computed_again_once_the_day_is_over(store: Any, live_calls: list[tuple[str, date]]):
    conn = connect(store)
    rollups.refresh(conn, STAFF, ZONE, NOW)
    assert rollups.refresh_today(conn, STAFF, ZONE, NOW) == len(SITES)
    marks = {r[0] for r in conn.execute("SELECT site FROM rollup_dirty WHERE day=?", (TODAY.isoformat(),))}
    assert marks == set(SITES)  # provisional: never read as a finished day's rows
    # the rest of the day arrives after the job's last round of it
    w = ProvinceWriter(store)
    for s in SITES:
        w.events(today_events(s, before=False), datetime.combine(TODAY, dtime(19), TZ))
    w.close()
    tomorrow = datetime.combine(TODAY + timedelta(days=1), dtime(8), TZ).timestamp()
    # before the job's next round the 12th is computed live (it is marked), never read provisional
    live_calls.clear()
    mid = province_report(conn, MONTH, "site", staff=STAFF, now=tomorrow)
    assert sorted(set(live_calls)) == sorted({(s, d) for s in SITES for d in (TODAY, TODAY + timedelta(days=1))})
    done = rollups.refresh(conn, STAFF, ZONE, tomorrow)
    assert sorted(done.days) == sorted((s, TODAY.isoformat()) for s in SITES)
    assert conn.execute("SELECT count(*) FROM rollup_dirty").fetchone()[0] == 0
    assert min(today_rows(conn).values()) == tomorrow
    live_calls.clear()
    final = province_report(conn, Period("day", TODAY), "site", staff=STAFF, now=tomorrow)
    assert live_calls == [] and final.live_days == 0 and final.today_computed is None
    for s in SITES:
        own = build_report(conn, MONTH, "overall", site=s, staff=STAFF, now=tomorrow).total
        same(province_report(conn, MONTH, "site", staff=STAFF, now=tomorrow).row(s), own)  # type: ignore[arg-type]
        same(mid.row(s), own)  # type: ignore[arg-type]
    conn.close()
