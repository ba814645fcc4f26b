"""Presence ``unknown`` (the camera reports ``present: null`` while the zone is blocked, dark or frozen) is
neither present nor absent: it leaves both the present time and the time it is measured against. Hand-computed
on Tuesday 2026-11-24 (07:00-11:30, 13:30-17:00), written through the collector's real writer."""
from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from collector.db import connect
from collector.report_series import occupancy_by_hour
from collector.reports import Period, build_report
from collector.staff import RosterEntry, Staff

from .fixture import SITE_STATE, _desk, _presence
from .test_fair import _write

DAY = Period("day", date(2026, 11, 24))


def _unknown(at: str, desk: int):  # what camera_agent sends for an unreadable zone
    ev = _presence(at, desk, True)
    return (ev[0], ev[1], ev[2], {**ev[3], "present": None})


def test_unknown_time_is_not_absence(tmp_path: Path):
    # desk 1, nv-01 signed in 07:00-11:30 (270 min): present 07:00-08:00, unknown 08:00-09:00, away
    # 09:00-10:00, present 10:00-11:30 -> present 60 + 90 = 150 min of 270 - 60 = 210 min (not 150 of 270)
    ev = [_desk("2026-11-24 07:00", 1, "sign_in", "nv-01"), _desk("2026-11-24 11:30", 1, "sign_out", "nv-01"),
          _presence("2026-11-24 07:00", 1, True), _unknown("2026-11-24 08:00", 1),
          _presence("2026-11-24 09:00", 1, False), _presence("2026-11-24 10:00", 1, True)]
    _write(tmp_path / "u.db", ev, [SITE_STATE])
    c = connect(tmp_path / "u.db", readonly=True)
    for by, key in (("officer", "nv-01"), ("desk", 1)):
        row = build_report(c, DAY, by=by).row(key)  # type: ignore[arg-type]
        assert row is not None
        assert (row.present_minutes, row.open_minutes) == (pytest.approx(150), pytest.approx(210)), by
        assert row.presence_share == pytest.approx(150 / 210), by
    # the hourly occupancy: 8h was unknown throughout (no figure, not 0), 9h away, 7h and 10h present
    occ = occupancy_by_hour(c, DAY)[1]
    assert 8 not in occ and occ[9] == 0.0 and occ[7] == pytest.approx(1.0) and occ[10] == pytest.approx(1.0)
    c.close()


def test_unknown_time_leaves_the_rostered_time_too(tmp_path: Path):
    # nv-02 rostered at desk 2 on Tuesdays 13:30-15:30 (120 min), signed in 13:00-16:00: present 13:30-14:00,
    # unknown 14:00-14:30, present 14:30-15:30 -> 90 of 90 min
    staff = Staff(roster=[RosterEntry.model_validate({"officer": "nv-02", "desk": 2, "days": ["tue"],
                                                      "hours": [["13:30", "15:30"]]})])
    ev = [_desk("2026-11-24 13:00", 2, "sign_in", "nv-02"), _desk("2026-11-24 16:00", 2, "sign_out", "nv-02"),
          _presence("2026-11-24 13:30", 2, True), _unknown("2026-11-24 14:00", 2),
          _presence("2026-11-24 14:30", 2, True)]
    _write(tmp_path / "r.db", ev, [SITE_STATE])
    c = connect(tmp_path / "r.db", readonly=True)
    for by, key in (("officer", "nv-02"), ("desk", 2)):
        row = build_report(c, DAY, by=by, staff=staff).row(key)  # type: ignore[arg-type]
        assert row is not None
        assert (row.present_minutes, row.open_minutes) == (pytest.approx(90), pytest.approx(90)), by
    c.close()
