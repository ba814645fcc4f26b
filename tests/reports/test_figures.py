"""Report figures against the hand-computed fixture (tests/reports/fixture.py), on data written both by
the collector's real ingest path and by direct SQL inserts."""
from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from collector.db import connect
from collector.report_series import arrivals_by_hour, occupancy_by_hour, satisfaction_over_time, waits_by_hour
from collector.reports import BadReportQuery, Period, build_report, is_satisfied

from .fixture import load_ingest, load_sql

VN = ZoneInfo("Asia/Ho_Chi_Minh")
DAY = Period("day", date(2026, 11, 23))


@pytest.fixture(params=["ingest", "sql"])
def conn(request, tmp_path: Path):
    path = tmp_path / "collector.db"
    (load_ingest if request.param == "ingest" else load_sql)(path)
    c = connect(path, readonly=True)
    yield c
    c.close()


def rows(report):
    return {r.key: r for r in report.rows}


def test_period_bounds_are_local_midnights():
    s, e = DAY.bounds(VN)
    assert (s.isoformat(), e.isoformat()) == ("2026-11-23T00:00:00+07:00", "2026-11-24T00:00:00+07:00")
    assert DAY.epochs(VN)[0] == datetime.fromisoformat("2026-11-22T17:00:00+00:00").timestamp()
    q = Period("quarter", date(2026, 11, 23))
    assert (q.first_day, q.end_day, q.label) == (date(2026, 10, 1), date(2027, 1, 1), "2026-Q4")
    assert Period("month", date(2026, 12, 31)).end_day == date(2027, 1, 1)
    assert Period("year", date(2026, 5, 5)).label == "2026"
    assert len(Period("month", date(2026, 2, 10)).days()) == 28
    with pytest.raises(BadReportQuery, match="week"):
        Period.parse("week", "2026-11-23", date(2026, 11, 23))
    with pytest.raises(BadReportQuery, match="YYYY-MM-DD"):
        Period.parse("day", "23/11/2026", date(2026, 11, 23))


def test_by_service_day(conn):
    rep = build_report(conn, DAY, by="service")
    r = rows(rep)
    ht, gt = r["HT"], r["GT"]
    # 1000 (06:30 local, 23:30 UTC the day before) .. 1005 and 1099 (23:50 local)
    assert ht.issued == 7 and ht.served == 4 and ht.no_shows == 1
    assert ht.avg_wait_s == pytest.approx(16.25 * 60) and ht.max_wait_s == pytest.approx(30 * 60)
    assert ht.avg_service_s == pytest.approx(9 * 60)
    assert ht.service_level == pytest.approx(0.5)
    assert (gt.issued, gt.served, gt.service_level, gt.avg_service_s) == (1, 1, 0.0, 240)
    tot = rep.total
    assert (tot.issued, tot.served, tot.no_shows) == (8, 5, 1)
    assert tot.avg_wait_s == pytest.approx((5 + 10 + 20 + 30 + 40) * 60 / 5)
    assert tot.service_level == pytest.approx(2 / 5)
    # ratings: HT 5, 5, 4 (+ a misuse 5); GT: the 2 at 06:45 local; the 1 at 00:30 on the 24th is out
    assert ht.ratings_by_level == {1: 0, 2: 0, 3: 0, 4: 1, 5: 2} and ht.misuse_count == 1
    assert gt.ratings_by_level == {1: 0, 2: 1, 3: 0, 4: 0, 5: 0}
    assert tot.ratings == 4 and tot.satisfaction_rate == pytest.approx(0.75) and tot.misuse_count == 1
    # presence is per desk: only the total row carries it: 210 + 270 + 0 against the time an officer was
    # signed in: desks 1 and 2 all 270 opening minutes, desk 3 nobody (0)
    assert ht.present_minutes is None and ht.presence_share is None
    assert tot.present_minutes == pytest.approx(480) and tot.open_minutes == pytest.approx(540)


def test_satisfaction_levels_configurable(conn):
    assert build_report(conn, DAY, satisfaction_levels=1).total.satisfaction_rate == pytest.approx(0.5)
    assert build_report(conn, DAY, satisfaction_levels=4).total.satisfaction_rate == pytest.approx(1.0)
    assert is_satisfied(2, 3, 2) and not is_satisfied(1, 3, 2) and not is_satisfied(3, 5, 2)
    with pytest.raises(BadReportQuery):
        build_report(conn, DAY, satisfaction_levels=0)


def test_by_desk_day(conn):
    rep = build_report(conn, DAY, by="desk")
    r = rows(rep)
    d1, d2, d3 = r[1], r[2], r[3]
    assert d1.issued is None and d1.served == 4 and d1.avg_wait_s == pytest.approx(975)
    assert d2.served == 1 and d2.no_shows == 1
    # desk 1: present 07:30-09:00, 09:30-11:30 (clipped at closing) = 210 of 270
    assert d1.present_minutes == pytest.approx(210) and d1.open_minutes == pytest.approx(270)
    assert d1.presence_share == pytest.approx(210 / 270)
    # desk 2: present since the day before (the last change before the period)
    assert d2.present_minutes == pytest.approx(270) and d2.presence_share == pytest.approx(1.0)
    # desk 3: nobody signed in, so nobody was expected there: no share rather than 0 %
    assert d3.present_minutes == 0 and d3.open_minutes == 0 and d3.presence_share is None
    assert rep.total.issued == 8


def test_by_officer_day(conn):
    r = rows(build_report(conn, DAY, by="officer"))
    # waits are the service's and the desk's, never charged to the officer who called
    assert r["nv-01"].served == 2 and r["nv-01"].service_level is None and r["nv-01"].avg_wait_s is None
    assert r["nv-02"].served == 2 and r["nv-02"].max_wait_s is None
    assert r["nv-01"].satisfaction_rate == pytest.approx(1.0) and r["nv-01"].misuse_count == 1
    # against the time each was signed in: nv-01 07:00-10:00 (180), nv-02 10:00-11:30 (90)
    assert r["nv-01"].present_minutes == pytest.approx(120) and r["nv-01"].open_minutes == pytest.approx(180)
    assert r["nv-02"].present_minutes == pytest.approx(90) and r["nv-02"].presence_share == pytest.approx(1.0)
    assert r["nv-03"].present_minutes == pytest.approx(270) and r["nv-03"].open_minutes == pytest.approx(270)
    assert r["nv-03"].satisfaction_rate == 0.0 and r["nv-03"].no_shows == 1


def test_overall_day(conn):
    rep = build_report(conn, DAY, by="overall")
    assert [r.key for r in rep.rows] == ["all"]
    assert rep.rows[0].issued == 8 and rep.rows[0].present_minutes == pytest.approx(480)


def test_now_cuts_presence_and_opening(conn):
    nine = datetime(2026, 11, 23, 9, 0, tzinfo=VN).timestamp()
    d1 = rows(build_report(conn, DAY, by="desk", now=nine))[1]
    assert (d1.present_minutes, d1.open_minutes) == (pytest.approx(90), pytest.approx(120))


def test_longer_periods_include_local_edges(conn):
    for kind in ("month", "quarter", "year"):
        rep = build_report(conn, Period(kind, date(2026, 11, 23)))  # type: ignore[arg-type]
        # + 1098 (22nd 23:50 local) and 1000 of the 24th (00:10 local); never the 2027-01-01 00:05 ticket,
        # although its UTC time is in 2026
        assert rep.total.issued == 10, kind
        assert rep.total.ratings == 5, kind
    assert build_report(conn, Period("year", date(2027, 1, 1))).total.issued == 1
    assert build_report(conn, Period("day", date(2026, 11, 24))).total.issued == 1


def test_month_opening_minutes(conn):
    # November 2026 from the first data day (Sunday 22nd), desk 1 staffed from the 23rd on (nv-02 never
    # signs out): Mon 23rd 270 + Tue-Fri 24th-27th 4 x 480 + Sat 28th 270 + Mon 30th 270
    d1 = rows(build_report(conn, Period("month", date(2026, 11, 1)), by="desk"))[1]
    assert d1.open_minutes == pytest.approx(270 + 4 * 480 + 270 + 270)
    assert d1.present_minutes == pytest.approx(210)  # absent every other day (last change before: absent)


def test_chart_data(conn):
    assert arrivals_by_hour(conn, DAY) == {6: 1, 7: 2, 8: 1, 9: 1, 10: 2, 23: 1}
    w = waits_by_hour(conn, DAY)
    assert w[7] == (pytest.approx(450), 2) and w[8] == (pytest.approx(2400), 1)
    assert w[9] == (pytest.approx(1200), 1) and w[10] == (pytest.approx(2100), 2)
    sat = {p.label: (p.ratings, p.rate) for p in satisfaction_over_time(conn, DAY)}
    assert sat["06:00"] == (1, 0.0) and sat["07:00"] == (2, 1.0) and sat["10:00"] == (1, 1.0)
    assert sat["08:00"] == (0, None)
    month = satisfaction_over_time(conn, Period("month", date(2026, 11, 1)))
    assert len(month) == 30 and {p.label: p.ratings for p in month}["2026-11-24"] == 1
    occ = occupancy_by_hour(conn, DAY)
    assert occ[1] == {7: pytest.approx(0.5), 8: 1.0, 9: pytest.approx(0.5), 10: 1.0, 11: 1.0}
    assert occ[2] == {h: 1.0 for h in (7, 8, 9, 10, 11)} and occ[3][7] == 0.0


def test_bad_group():
    with pytest.raises(BadReportQuery, match="by='floor'"):
        build_report(None, DAY, by="floor")  # type: ignore[arg-type]
