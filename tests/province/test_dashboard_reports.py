"""Province reports from the daily rollups: a site's row equals that site's own report for the same
period, departments add up to their officers, late and duplicate events keep the rollups exact, and the
bulk loader's store gives the same figures as the writer's."""
from __future__ import annotations

import json
from dataclasses import asdict
from datetime import date, datetime, time as dtime, timedelta
from pathlib import Path
from typing import Any

import pytest

from collector import province_load as pl
from collector import rollups
from collector.db import connect, open_db
from collector.periods import Period
from collector.province_reports import province_report
from collector.reports import ReportRow, build_report
from tests.province.dashboard_store import SITES, TZ, ProvinceWriter

FIRST = date(2026, 11, 2)  # a Monday; the store holds 2 .. 14 November 2026
DAYS = 13
NOW = datetime(2026, 11, 15, 9, 30, tzinfo=TZ).timestamp()  # Sunday 15th: the 14th is over
STAFF = pl.staff_for(SITES)
NOV = Period("month", date(2026, 11, 10))


def same(a: ReportRow, b: ReportRow) -> None:
    """Every figure equal (floats to 1e-9: sums of days against one sum of the month)."""
    da, db = asdict(a), asdict(b)
    for k in da:
        if k in ("key", "name", "department"):
            continue
        va, vb = da[k], db[k]
        if isinstance(va, float) or isinstance(vb, float):
            assert va == pytest.approx(vb, rel=1e-9, abs=1e-9), (k, va, vb)
        else:
            assert va == vb, (k, va, vb)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("province") / "central.db"
    w = ProvinceWriter(db)
    received = datetime(2026, 11, 2, 6, 0, tzinfo=TZ)
    w.sites(SITES, received)
    for i in range(DAYS):  # each day arrives the evening it happens (the rollups are not marked dirty)
        day = FIRST + timedelta(days=i)
        for s in SITES:
            w.events(pl.day_events(s, day, tickets=12), datetime.combine(day, dtime(19), TZ))
    w.close()
    return db


def test_province_row_of_a_site_equals_its_own_report(store: Path):
    conn = connect(store)
    assert conn.execute("SELECT count(*) FROM rollup_dirty").fetchone()[0] == 0
    before = province_report(conn, NOV, "site", staff=STAFF, now=NOW)
    assert before.live_days == len(SITES) * (DAYS + 1)  # nothing computed yet: every day (today too) live
    res = rollups.refresh(conn, STAFF, "Asia/Ho_Chi_Minh", NOW)
    assert res.computed == len(SITES) * DAYS  # 2..14 November for each site (Sundays too: empty rows)
    after = province_report(conn, NOV, "site", staff=STAFF, now=NOW)
    assert after.live_days == len(SITES)  # only today (the 15th) from the events now
    assert [r.key for r in after.rows] == SITES
    for s in SITES:
        own = build_report(conn, NOV, "overall", site=s, staff=STAFF, now=NOW).total
        assert own.served > 0 and own.ratings > 0 and own.presence_share is not None
        same(after.row(s), own)  # type: ignore[arg-type]
        same(before.row(s), own)  # type: ignore[arg-type]
    # the province's total is the sites' sum
    assert after.total.served == sum(r.row.served for r in after.rows)
    # a week (a custom range), a quarter and a year: the same equality
    for period in (Period.between("2026-11-03", "2026-11-09"), Period("quarter", date(2026, 11, 1)),
                   Period("year", date(2026, 1, 1)), Period("day", date(2026, 11, 4))):
        rep = province_report(conn, period, "site", staff=STAFF, now=NOW)
        for s in SITES:
            same(rep.row(s), build_report(conn, period, "overall", site=s, staff=STAFF, now=NOW).total)  # type: ignore[arg-type]
    # other satisfaction levels come from the same rows
    top1 = province_report(conn, NOV, "site", 1, staff=STAFF, now=NOW).row(SITES[0])
    assert top1 is not None
    assert top1.satisfaction_rate == build_report(conn, NOV, "overall", 1, site=SITES[0], staff=STAFF,
                                                  now=NOW).total.satisfaction_rate
    conn.close()


def test_departments_add_up_their_officers_and_services_match(store: Path):
    conn = connect(store)
    rollups.refresh(conn, STAFF, "Asia/Ho_Chi_Minh", NOW)
    deps = province_report(conn, NOV, "department", staff=STAFF, now=NOW)
    assert {r.key for r in deps.rows} == {"stp", "sxd", "sgtvt"}
    assert deps.rows[0].name_vi.startswith("Sở ")
    expect: dict[str, dict[str, float]] = {}
    for s in SITES:
        for r in build_report(conn, NOV, "officer", site=s, staff=STAFF, now=NOW).rows:
            e = expect.setdefault(STAFF.department_code(str(r.key)), {"served": 0, "ratings": 0, "present": 0.0,
                                                                       "open": 0.0})
            e["served"] += r.served
            e["ratings"] += r.ratings
            e["present"] += r.present_minutes or 0.0
            e["open"] += r.open_minutes or 0.0
    for r in deps.rows:
        e = expect[r.key]
        assert (r.row.served, r.row.ratings) == (e["served"], e["ratings"])
        assert r.row.present_minutes == pytest.approx(e["present"]) and r.row.open_minutes == pytest.approx(e["open"])
        assert r.row.avg_wait_s is None and r.row.service_level is None  # never charged to a department
        assert r.row.issued is None
        assert sorted(r.sites) == SITES
    # one site's services, as its report by service
    svc = province_report(conn, NOV, "service", sites=[SITES[1]], staff=STAFF, now=NOW)
    own = build_report(conn, NOV, "service", site=SITES[1], staff=STAFF, now=NOW)
    assert {r.key for r in svc.rows} == {str(r.key) for r in own.rows}
    for r in own.rows:
        same(svc.row(str(r.key)), r)  # type: ignore[arg-type]
    conn.close()


def test_late_and_duplicate_events_keep_the_rollups_exact(tmp_path: Path):
    db = tmp_path / "late.db"
    w = ProvinceWriter(db)
    w.sites(SITES[:2], datetime(2026, 11, 2, 6, 0, tzinfo=TZ))
    for i in range(4):
        day = FIRST + timedelta(days=i)
        for s in SITES[:2]:
            w.events(pl.day_events(s, day, tickets=10), datetime.combine(day, dtime(19), TZ))
    conn = connect(db)
    now = datetime(2026, 11, 6, 10, 0, tzinfo=TZ).timestamp()
    assert rollups.refresh(conn, STAFF, "Asia/Ho_Chi_Minh", now).computed == 8
    site = SITES[0]
    period = Period.between("2026-11-02", "2026-11-05")
    first = province_report(conn, period, "site", staff=STAFF, now=now).row(site)
    assert first is not None
    # a link outage: Tuesday's events of a desk that never came (a fresh batch of that day), received on the 6th
    late = [e for e in pl.day_events(site, date(2026, 11, 3), tickets=10, seed=7)
            if e["type"] in ("ticket", "rating")]
    received = datetime.fromtimestamp(now, TZ)
    res = w.events(late, received)
    assert res.stored == len(late)
    assert [r[0] for r in conn.execute("SELECT day FROM rollup_dirty WHERE site=?", (site,))] == ["2026-11-03"]
    # the report does not read the stale rollup of the 3rd: it computes that day from the events
    mid = province_report(conn, period, "site", staff=STAFF, now=now)
    assert mid.live_days == 1
    own = build_report(conn, period, "overall", site=site, staff=STAFF, now=now).total
    same(mid.row(site), own)  # type: ignore[arg-type]
    assert own.served > first.served
    # the same events again (a resend after a reconnect): stored once, nothing marked
    again = w.events([dict(e) for e in late], received, renumber=False)
    assert again.duplicates == len(late) and again.stored == 0
    assert conn.execute("SELECT gen FROM rollup_dirty WHERE site=?", (site,)).fetchone()[0] == 1
    # a late sign-out on the 3rd (state carrying over) marks the days after it too
    w.events([{"v": 1, "id": "late-sign-out", "seq": 0, "ts": datetime(2026, 11, 3, 10, 0, tzinfo=TZ).isoformat(),
               "clock_synced": True, "site": site, "device": "rt-02", "type": "desk",
               "data": {"desk": 2, "action": "sign_out", "officer": pl.officer_id(site, 2)}}], received)
    assert [r[0] for r in conn.execute("SELECT day FROM rollup_dirty WHERE site=? ORDER BY day", (site,))] == \
        ["2026-11-03", "2026-11-04", "2026-11-05"]
    assert conn.execute("SELECT gen FROM rollup_dirty WHERE site=? AND day='2026-11-03'", (site,)).fetchone()[0] == 2
    # the job computes the marked days again and removes the marks
    done = rollups.refresh(conn, STAFF, "Asia/Ho_Chi_Minh", now)
    assert sorted(done.days) == [(site, "2026-11-03"), (site, "2026-11-04"), (site, "2026-11-05")]
    assert conn.execute("SELECT count(*) FROM rollup_dirty").fetchone()[0] == 0
    final = province_report(conn, period, "site", staff=STAFF, now=now)
    assert final.live_days == 0  # the period is over: all from the rollups
    same(final.row(site), build_report(conn, period, "overall", site=site, staff=STAFF, now=now).total)  # type: ignore[arg-type]
    # a mark made while a day is computed is not lost: its gen moved, so the refresh leaves it
    rollups.mark_days(conn, [(site, date(2026, 11, 4))])
    gen = conn.execute("SELECT gen FROM rollup_dirty WHERE site=?", (site,)).fetchone()[0]
    rollups.mark_days(conn, [(site, date(2026, 11, 4))])  # another late event meanwhile
    conn.execute("DELETE FROM rollup_dirty WHERE site=? AND day=? AND gen=?", (site, "2026-11-04", gen))
    assert conn.execute("SELECT count(*) FROM rollup_dirty").fetchone()[0] == 1
    conn.close()
    w.close()


def test_a_directory_change_recomputes_the_rollups(store: Path):
    conn = connect(store)
    rollups.refresh(conn, STAFF, "Asia/Ho_Chi_Minh", NOW)
    moved = pl.staff_for(SITES)
    o = moved.officers[pl.officer_id(SITES[0], 1)]
    moved.officers[o.id] = o.model_copy(update={"department": "sxd"})
    res = rollups.refresh(conn, moved, "Asia/Ho_Chi_Minh", NOW)
    assert res.dropped and res.computed == len(SITES) * DAYS
    deps = {r.key: r.row.served for r in province_report(conn, NOV, "department", staff=moved, now=NOW).rows}
    officer = build_report(conn, NOV, "officer", site=SITES[0], staff=moved, now=NOW).row(o.id)
    assert officer is not None and officer.served > 0
    before = {r.key: r.row.served for r in province_report(conn, NOV, "department", staff=STAFF, now=NOW).rows}
    assert deps["sxd"] > 0 and deps["stp"] + deps["sxd"] + deps["sgtvt"] == sum(before.values())
    rollups.refresh(conn, STAFF, "Asia/Ho_Chi_Minh", NOW)  # back as it was for the other tests
    conn.close()


def test_bulk_loader_gives_the_writers_figures(store: Path, tmp_path: Path):
    db = tmp_path / "bulk.db"
    conn = open_db(db)
    n = pl.bulk_load(conn, SITES, FIRST, DAYS, tickets=12, received=datetime(2026, 11, 20, tzinfo=TZ))
    assert n == connect(store).execute("SELECT count(*) FROM events WHERE type != 'x'").fetchone()[0]
    rollups.refresh(conn, STAFF, "Asia/Ho_Chi_Minh", NOW)
    bulk = province_report(conn, NOV, "site", staff=STAFF, now=NOW)
    ref = connect(store)
    rollups.refresh(ref, STAFF, "Asia/Ho_Chi_Minh", NOW)
    written = province_report(ref, NOV, "site", staff=STAFF, now=NOW)
    for s in SITES:
        same(bulk.row(s), written.row(s))  # type: ignore[arg-type]
    conn.close()
    ref.close()


def _json(x: Any) -> Any:
    return json.loads(json.dumps(x))


def test_report_as_dict_is_json(store: Path):
    conn = connect(store)
    d = province_report(conn, NOV, "department", staff=STAFF, now=NOW).as_dict()
    assert _json(d)["rows"][0]["name_en"].startswith("Department of")
    conn.close()


def test_departments_in_the_directory_are_validated_with_file_and_line(tmp_path: Path):
    from common.config import load_config
    from common.errors import ConfigError
    from collector.config import CollectorConfig

    good = ('site = "+"\n\n[[departments]]\ncode = "stp"\nname_vi = "Sở Tư pháp"\nname_en = "Department of Justice"\n\n'
            '[[officers]]\nid = "nv-1"\nname = "Nguyễn Thị Lan"\ndepartment = "stp"\nsite = "huyen-001"\n')
    path = tmp_path / "collector.toml"
    path.write_text(good)
    staff = load_config(path, CollectorConfig).staff()
    assert staff.department("nv-1") == "Sở Tư pháp" and staff.department_code("nv-1") == "stp"
    assert staff.department_names("stp") == ("Sở Tư pháp", "Department of Justice")
    path.write_text(good + '\n[[officers]]\nid = "nv-2"\nname = "Trần Văn Hùng"\ndepartment = "sxd"\n')
    with pytest.raises(ConfigError) as err:
        load_config(path, CollectorConfig)
    assert f"{path}:17: officers[1].department" in str(err.value) and "'sxd'" in str(err.value)
    assert "phòng ban" in str(err.value) and "(known: stp)" in str(err.value)
    path.write_text(good + '\n[[departments]]\ncode = "stp"\nname_vi = "Sở Tư pháp 2"\nname_en = "Justice 2"\n')
    with pytest.raises(ConfigError, match="department code 'stp' appears twice"):
        load_config(path, CollectorConfig)
    path.write_text(good.replace('code = "stp"', 'code = "Sở TP"'))
    with pytest.raises(ConfigError, match=f"{path}:4: departments"):
        load_config(path, CollectorConfig)
