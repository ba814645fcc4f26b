"""Where a rating was given: the event's own ``channel`` (``desk`` | ``phone``, RatingData.channel) decides;
only events stored before the field existed are judged by their device id. Ratings go through the
collector's real writer; the channel is then read back from the stored event."""
from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from collector.comparisons import ratings_behind
from collector.db import connect, open_db
from collector.evaluation import satisfaction_summary
from collector.reports import Period, build_report, channel_of

from .fixture import SITE_STATE, _rating
from .test_fair import _write

DAY = Period("day", date(2026, 11, 24))


def test_channel_of_prefers_the_field():
    assert channel_of("cong-dan-01", "phone") == "portal"  # a phone rating whatever the device is called
    assert channel_of("portal-01", "desk") == "terminal"
    assert channel_of("portal-01") == "portal" and channel_of("rt-01", None) == "terminal"  # old events: the id
    assert channel_of("rt-01", "fax") == "terminal"  # not a known channel: the id decides


def test_reports_read_the_stored_channel(tmp_path: Path):
    def rated(at: str, device: str) -> tuple:
        ev = _rating(at, 5, 1, "nv-01")
        return (ev[0], device, ev[2], ev[3])
    _write(tmp_path / "c.db", [rated("2026-11-24 08:00", "rt-01"), rated("2026-11-24 08:10", "portal-01"),
                               rated("2026-11-24 08:20", "cong-dan-01"), rated("2026-11-24 08:30", "rt-02")], [SITE_STATE])
    # the last two as a device on the new schema stores them: the field in the event's data
    w = open_db(tmp_path / "c.db")
    for device, ch in (("cong-dan-01", "phone"), ("rt-02", "desk")):
        (raw,) = w.execute("SELECT payload FROM events WHERE device=?", (device,)).fetchone()
        env = json.loads(raw)
        env["data"]["channel"] = ch
        w.execute("UPDATE events SET payload=? WHERE device=?", (json.dumps(env), device))
    w.commit()
    w.close()
    c = connect(tmp_path / "c.db", readonly=True)
    got = {r["device"]: r["channel"] for r in ratings_behind(c, DAY)}
    assert got == {"rt-01": "terminal", "portal-01": "portal", "cong-dan-01": "portal", "rt-02": "terminal"}
    s = satisfaction_summary(c, DAY)
    assert {x.key: x.ratings for x in s.by_channel} == {"terminal": 2, "portal": 2}
    assert build_report(c, DAY, by="desk").total.ratings_by_channel == {"terminal": 2, "portal": 2}
    c.close()
