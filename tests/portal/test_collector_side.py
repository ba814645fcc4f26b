"""What the collector does for the portal, on a real SQLite store written by the real Store: the
busy-hours summary (collector/busy_hours.py) and one rating per ticket across desk and phone."""
from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from collector.busy_hours import BusyHours, compute
from collector.db import open_db
from collector.store import Store
from mqtt import topics
from mqtt.schemas import BusyHoursState, parse_model
from tests.collector.wire import SITE
from tests.portal.history import TODAY, VN, at, rating, seed_history, ticket


@pytest.fixture
def store(tmp_path: Path):  # noqa: ANN201
    conn = open_db(tmp_path / "collector.db")
    yield Store(conn), conn
    conn.close()


def test_busy_hours_count_arrivals_per_open_day_and_wait_to_first_call(store) -> None:  # noqa: ANN001
    s, conn = store
    seed_history(s)
    st = compute(conn, SITE, TODAY, VN, at(TODAY, 6), weeks=8)
    assert (st.first_day, st.last_day, st.weeks) == ("2026-10-12", "2026-12-06", 8)
    assert st.days == [2, 1, 0, 0, 0, 0, 0]  # two Mondays, one Tuesday had tickets
    cells = {(c.weekday, c.hour): (c.arrivals, c.wait_min) for c in st.hours}
    assert cells == {(0, 8): (3.0, 20.0), (0, 14): (1.0, None), (1, 9): (2.0, None)}
    # the payload fits the wire and reads back
    assert parse_model(BusyHoursState, st.dumps()) == st
    assert compute(conn, "other-site", TODAY, VN, at(TODAY, 6)).hours == []


def test_busy_hours_publish_when_due_and_again_after_a_reconnect(store) -> None:  # noqa: ANN001
    s, conn = store
    seed_history(s)
    sent: list[tuple[str, BusyHoursState]] = []
    online = [False]

    def publish(topic: str, state: BusyHoursState) -> bool:
        if online[0]:
            sent.append((topic, state))
        return online[0]

    db = conn.execute("PRAGMA database_list").fetchone()[2]
    b = BusyHours(db, SITE, "Asia/Ho_Chi_Minh", publish, every_s=3600)
    b.tick(at(TODAY, 7))  # offline: nothing sent, tried again next tick
    s.write_batch([ticket("issued", "1500", at(TODAY - timedelta(days=7), 10), "kiosk-1")])  # while offline
    online[0] = True
    b.tick(at(TODAY, 7, 1))  # the summary computed while offline, not computed again
    assert [t for t, _ in sent] == [topics.state(SITE, "busy-hours")]
    assert (0, 10) not in {(c.weekday, c.hour) for c in sent[0][1].hours}
    b.tick(at(TODAY, 7, 30))  # not due
    assert len(sent) == 1
    b.republish()  # a reconnect
    b.tick(at(TODAY, 7, 31))
    b.tick(at(TODAY, 8, 40))  # an hour later
    b.tick(at(TODAY + timedelta(days=1), 0, 1))  # a new day: yesterday (Monday) joins the window
    assert len(sent) == 4
    assert (0, 10) in {(c.weekday, c.hour) for c in sent[1][1].hours}  # recomputed after the reconnect
    assert sent[-1][1].last_day == TODAY.isoformat() and sent[-1][1].days[0] == 3
    # a computation that fails (the store unreadable) is tried again a minute later, not at every tick
    b.db = str(Path(db).with_name("missing") / "collector.db")
    b.republish()
    with pytest.raises(sqlite3.Error):
        b.tick(at(TODAY + timedelta(days=1), 1))
    b.tick(at(TODAY + timedelta(days=1), 1, 0) + timedelta(seconds=30))  # not yet
    with pytest.raises(sqlite3.Error):
        b.tick(at(TODAY + timedelta(days=1), 1, 1) + timedelta(seconds=5))
    assert len(sent) == 4


def stored_ratings(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in conn.execute("SELECT device, ticket, day, misuse, misuse_reason FROM ratings "
                                           "ORDER BY ts_epoch")]


def test_a_desk_rating_after_a_phone_rating_is_same_ticket_misuse(store) -> None:  # noqa: ANN001
    s, conn = store
    t0 = at(TODAY, 9)
    s.write_batch([rating("portal", "1041", t0, "phone")])
    s.write_batch([rating("rt-03", "1041", t0 + timedelta(minutes=1), "desk")])
    # in one batch too, and a ticket of another day is another ticket
    s.write_batch([rating("rt-03", "1042", t0 + timedelta(minutes=2), "desk"),
                   rating("portal", "1042", t0 + timedelta(minutes=3), "phone"),
                   rating("rt-03", "1041", t0 + timedelta(days=1), "desk")])
    # a press already flagged too_soon keeps its reason
    s.write_batch([rating("rt-03", "1042", t0 + timedelta(minutes=4), "desk", misuse=True)])
    day, next_day = TODAY.isoformat(), (TODAY + timedelta(days=1)).isoformat()
    assert stored_ratings(conn) == [("portal", "1041", day, 0, None), ("rt-03", "1041", day, 1, "same_ticket"),
                                    ("rt-03", "1042", day, 0, None), ("portal", "1042", day, 1, "same_ticket"),
                                    ("rt-03", "1042", day, 1, "too_soon"), ("rt-03", "1041", next_day, 0, None)]
    # every one is kept: the raw events too
    assert conn.execute("SELECT count(*) FROM events WHERE type='rating'").fetchone()[0] == 6
