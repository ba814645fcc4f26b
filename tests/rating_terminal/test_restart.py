"""Rated tickets survive a restart: ``same_ticket`` misuse is still flagged by a new Runtime."""
from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from zoneinfo import ZoneInfo

from common.clock import FakeClock
from mqtt import topics
from rating_terminal.rated import RatedTickets
from tests.support.mqtt import Recorder

from .conftest import SITE, Desk, make_config, wait_until
from .test_rating import ratings, serve_ticket

TZ = ZoneInfo("Asia/Ho_Chi_Minh")


def test_same_ticket_is_flagged_after_a_restart(broker, tmp_path, factory, make_desk):
    clock = FakeClock(datetime(2026, 11, 23, 9, 0, tzinfo=TZ))
    cfg = make_config(tmp_path, broker.url)
    rec = Recorder(broker.port, topics.events_filter(SITE, "rating"))
    serve_ticket(rec, "1023")
    first = Desk(cfg, factory, clock=clock)
    try:
        first.start()
        assert wait_until(lambda: first.terminal.context.ticket == "1023")
        first.press(4)
        assert rec.wait_for(lambda m: len(m) >= 1)
    finally:
        first.stop()
    with sqlite3.connect(tmp_path / "rated.db") as db:  # next to the outbox, in WAL mode
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert db.execute("SELECT day, ticket FROM rated").fetchall() == [("2026-11-23", "1023")]

    clock.advance(60.0)  # a reboot later, same day, far outside the misuse window
    desk = make_desk(cfg, clock=clock).start()
    assert wait_until(lambda: desk.terminal.context.ticket == "1023")  # the retained desk state
    desk.press(5)
    serve_ticket(rec, "1024")
    assert wait_until(lambda: desk.terminal.context.ticket == "1024")
    clock.advance(10.0)
    desk.press(3)
    # no collector confirms here: after the restart the first rating is sent again (same id)
    assert rec.wait_for(lambda m: len({json.loads(p)["id"] for _t, p, _r in m}) >= 3)
    got = [(e["data"]["score"], e["data"]["ticket"], e["data"]["misuse"], e["data"]["misuse_reason"])
           for e in {e["id"]: e for e in ratings(rec)}.values()]
    assert got == [(4, "1023", False, None), (5, "1023", True, "same_ticket"), (3, "1024", False, None)]
    assert desk.terminal.misuse == 1


def test_only_today_and_yesterday_are_kept(tmp_path):
    path = tmp_path / "sub" / "rated.db"
    store = RatedTickets(path, FakeClock(datetime(2026, 11, 20, 16, 0, tzinfo=TZ)))
    for day, ticket in (("2026-11-20", "A001"), ("2026-11-21", "B002"), ("2026-11-22", "C003"),
                        ("2026-11-22", "C003")):
        store.add(day, ticket)
    store.close()
    # 23 Nov 00:30 local (still 22 Nov in UTC): today 23, yesterday 22
    store = RatedTickets(path, FakeClock(datetime(2026, 11, 23, 0, 30, tzinfo=TZ)))
    try:
        assert store.load() == {"2026-11-22": {"C003"}}
    finally:
        store.close()
