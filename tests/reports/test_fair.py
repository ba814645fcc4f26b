"""The fair rules managers sign, each against a small hand-computed case written through the collector's
real writer (collector.store.Store.write_batch): presence from the first data day, presence against the
signed-in (or rostered) time, waits in open minutes only (across the lunch break and the night), waits not
charged to the officer, and each past period measured with the site config in force at the time."""
from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from collector.db import connect, open_db
from collector.reports import Filters, Period, build_report
from collector.site_config import site_history
from collector.staff import Officer, RosterEntry, Staff
from collector.store import Incoming, Store
from mqtt import topics
from mqtt.schemas import SiteState

from .fixture import SITE, SITE_STATE, _desk, _served, load_ingest

VN = timezone(timedelta(hours=7))


def _site(ts: str, **change: Any) -> SiteState:
    d = json.loads(SITE_STATE.model_dump_json())
    d.update(change, ts=ts)
    return SiteState.model_validate(d)


def _write(path: Path, events: list[tuple[str, str, str, dict[str, Any]]], states: list[SiteState]) -> None:
    conn = open_db(path)
    store = Store(conn)
    received = datetime(2026, 12, 2, 12, 0, tzinfo=VN)
    batch = [Incoming(topics.state(SITE, "site"), s.model_dump_json().encode(), True, received) for s in states]
    seqs: dict[str, int] = {}
    for i, (type_, device, ts, data) in enumerate(events):
        seqs[device] = seqs.get(device, 0) + 1
        env = {"v": 1, "id": f"fair-{i:04d}", "seq": seqs[device], "ts": ts, "clock_synced": True, "site": SITE,
               "device": device, "type": type_, "data": data}
        batch.append(Incoming(topics.event(SITE, device, type_), json.dumps(env).encode(), False, received))
    res = store.write_batch(batch)
    assert res.dead == 0, res
    conn.close()


@pytest.fixture
def main_fixture(tmp_path: Path):
    load_ingest(tmp_path / "c.db")
    c = connect(tmp_path / "c.db", readonly=True)
    yield c
    c.close()


def test_presence_counts_only_from_the_first_data_day(main_fixture):
    # nv-03 is signed in at desk 2 from the 22nd (the site's first data day) and present throughout: 100 %
    # for the day, the month, the quarter and the year (before: 13-17 % / 0.3 % / 0.1 % from the days
    # before the system existed)
    for kind in ("day", "month", "quarter", "year"):
        rep = build_report(main_fixture, Period(kind, date(2026, 11, 23)), by="officer")  # type: ignore[arg-type]
        nv3 = rep.row("nv-03")
        assert nv3 is not None and nv3.presence_share == pytest.approx(1.0), kind
        assert rep.measured_from == (date(2026, 11, 23) if kind == "day" else date(2026, 11, 22)), kind
    # the quarter's opening minutes start on the 22nd too (Oct 1 - Nov 21 are not counted)
    q = build_report(main_fixture, Period("quarter", date(2026, 11, 23)), by="officer").row("nv-03")
    # Nov 23-30: 270 + 4 x 480 + 270 + 270; December: 4 Mondays x 270 + 19 Tue-Fri x 480 + 4 Saturdays x 270
    assert q is not None and q.open_minutes == pytest.approx(270 + 4 * 480 + 270 + 270 + 4 * 270 + 19 * 480 + 4 * 270)


def test_presence_against_the_roster_when_configured(main_fixture):
    # rostered Mondays 07:00-09:00 at desk 2: nv-03 is expected 120 min on the 23rd and was present 120
    staff = Staff(roster=[RosterEntry.model_validate({"officer": "nv-03", "desk": 2, "days": ["mon"],
                                                      "hours": [["07:00", "09:00"]]})])
    rep = build_report(main_fixture, Period("day", date(2026, 11, 23)), by="officer", staff=staff)
    nv3 = rep.row("nv-03")
    assert nv3 is not None and (nv3.present_minutes, nv3.open_minutes) == (pytest.approx(120), pytest.approx(120))
    d2 = build_report(main_fixture, Period("day", date(2026, 11, 23)), by="desk", staff=staff).row(2)
    assert d2 is not None and d2.open_minutes == pytest.approx(120)


def test_waits_count_open_minutes_only(tmp_path: Path):
    # Tuesday 24th (07:00-11:30, 13:30-17:00): issued 11:20, called 13:40 -> 10 + 10 = 20 open minutes (not
    # 140); issued Monday 23rd 11:25 (closes 11:30), called Tuesday 07:05 -> 5 + 5 = 10 (not 1180)
    ev = [*_served("1001", "HT", "2026-11-24 11:20", "2026-11-24 13:40", "2026-11-24 13:50", 140, 10, 1, "nv-01"),
          *_served("1002", "HT", "2026-11-23 11:25", "2026-11-24 07:05", "2026-11-24 07:15", 1180, 10, 2, "nv-02")]
    _write(tmp_path / "w.db", ev, [SITE_STATE])
    c = connect(tmp_path / "w.db", readonly=True)
    rep = build_report(c, Period("day", date(2026, 11, 24)), by="desk")
    assert rep.row(1).avg_wait_s == pytest.approx(20 * 60)  # type: ignore[union-attr]
    assert rep.row(2).avg_wait_s == pytest.approx(10 * 60)  # type: ignore[union-attr]
    assert rep.total.max_wait_s == pytest.approx(20 * 60)
    # HT target 15: 10 within, 20 not -> 50 %
    assert rep.total.service_level == pytest.approx(0.5)
    by_service = build_report(c, Period("day", date(2026, 11, 24)), by="service").row("HT")
    assert by_service is not None and by_service.avg_wait_s == pytest.approx(15 * 60)
    # not charged to the officer who called
    off = build_report(c, Period("day", date(2026, 11, 24)), by="officer")
    assert off.row("nv-01").avg_wait_s is None and off.row("nv-01").service_level is None  # type: ignore[union-attr]
    assert off.row("nv-01").served == 1  # type: ignore[union-attr]
    c.close()


def test_past_periods_use_the_config_in_force(tmp_path: Path):
    # v1 (from 1 November): HT target 15 min, Tuesday 07:00-11:30 + 13:30-17:00.
    # v2 (from 1 December): HT target 60 min, Tuesday 08:00-12:00 only.
    v1 = _site("2026-11-01T00:00:00+07:00")
    hours2 = dict(SITE_STATE.hours, tue=[("08:00", "12:00")])
    services2 = [dict(json.loads(s.model_dump_json()), target_wait_min=60 if s.code == "HT" else s.target_wait_min)
                 for s in SITE_STATE.services]
    v2 = _site("2026-12-01T00:00:00+07:00", hours=hours2, services=services2)
    ev = [*_served("1001", "HT", "2026-11-24 08:00", "2026-11-24 08:20", "2026-11-24 08:30", 20, 10, 1, "nv-01"),
          *_served("1001", "HT", "2026-12-01 08:00", "2026-12-01 08:20", "2026-12-01 08:30", 20, 10, 1, "nv-01"),
          _desk("2026-11-24 06:50", 1, "sign_in", "nv-01")]
    _write(tmp_path / "h.db", ev, [v1, v2, v1])  # v1 again (a redelivered retained message): not a new version
    c = connect(tmp_path / "h.db", readonly=True)
    hist = site_history(c, SITE)
    assert [f.targets_min["HT"] for _, f in hist.versions] == [15.0, 60.0]
    nov = build_report(c, Period("day", date(2026, 11, 24)), by="desk").row(1)
    dec = build_report(c, Period("day", date(2026, 12, 1)), by="desk").row(1)
    assert nov is not None and dec is not None
    assert nov.service_level == 0.0 and dec.service_level == 1.0  # 20 min: late in November, on time in December
    assert nov.open_minutes == pytest.approx(480) and dec.open_minutes == pytest.approx(240)
    c.close()


def test_directory_names_and_missing_names(main_fixture):
    staff = Staff([Officer(id="nv-01", name="Nguyễn Thị Lan", department="Phòng Tư pháp", badge="B-01")])
    rep = build_report(main_fixture, Period("day", date(2026, 11, 23)), by="officer", staff=staff)
    assert rep.row("nv-01").name == "Nguyễn Thị Lan"  # type: ignore[union-attr]
    assert rep.row("nv-01").department == "Phòng Tư pháp"  # type: ignore[union-attr]
    assert rep.row("nv-02").name is None  # type: ignore[union-attr]
    assert staff.label("nv-01") == "Nguyễn Thị Lan (nv-01)" and staff.label("nv-02") == "nv-02"
    assert staff.label(None) == "-"


def test_filters_and_custom_range(main_fixture):
    rng = Period.between("2026-11-22", "2026-11-24")
    assert rng.label == "2026-11-22..2026-11-24" and rng.previous() == Period.between("2026-11-19", "2026-11-21")
    assert build_report(main_fixture, rng).total.issued == 10
    only = build_report(main_fixture, Period("day", date(2026, 11, 23)), filters=Filters(service="GT"))
    assert only.total.issued == 1 and only.total.served == 1 and only.total.ratings == 1
    d1 = build_report(main_fixture, Period("day", date(2026, 11, 23)), by="desk", filters=Filters(desk=1))
    assert [r.key for r in d1.rows] == [1] and d1.total.served == 4
    assert Period("month", date(2026, 1, 10)).previous() == Period("month", date(2025, 12, 1))
    assert Period("quarter", date(2026, 11, 1)).last_year().label == "2025-Q4"


def test_directory_and_roster_from_config(tmp_path: Path):
    from common.errors import ConfigError
    from collector.config import build_config
    good = tmp_path / "c.toml"
    good.write_text('[[officers]]\nid = "nv-01"\nname = "Nguyễn Thị Lan"\ndepartment = "Phòng Tư pháp"\n'
                    '[[roster]]\nofficer = "nv-01"\ndesk = 1\ndays = ["mon"]\nfrom = "2026-11-01"\n', encoding="utf-8")
    staff = build_config(good, {}).staff()
    assert staff.label("nv-01") == "Nguyễn Thị Lan (nv-01)" and staff.rostered_desks() == {1}
    bad = tmp_path / "bad.toml"
    bad.write_text('[[roster]]\nofficer = "nv-01"\ndays = ["monday"]\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="bad.toml:.*monday"):
        build_config(bad, {})
    dup = tmp_path / "dup.toml"
    dup.write_text('[[officers]]\nid = "a"\nname = "A"\n[[officers]]\nid = "a"\nname = "B"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="appears twice"):
        build_config(dup, {})


def test_unknown_timezone_refuses_to_start_naming_the_file(tmp_path: Path):
    from common.errors import ConfigError
    from collector.config import build_config
    bad = tmp_path / "tz.toml"
    bad.write_text('timezone = "Asia/Hanoi_City"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="tz.toml:.*Asia/Hanoi_City"):
        build_config(bad, {})
