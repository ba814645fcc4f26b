"""The console's waiting list from the collector's record (a real SQLite store): tickets kept at an
earlier closing (last event ``carried``) wait on the next day with their own day; the new day's
ticket with the same number is another ticket; called, expired and other services' tickets are not
in the list."""
from __future__ import annotations

from datetime import datetime
from pathlib import Path

from collector.db import open_db
from collector.web.console import waiting_list
from mqtt.schemas import uuid7

ROWS = [  # (action, ticket, day, service, issued_at, ts)
    ("issued", "1000", "2026-11-23", "HT", "2026-11-23T16:30:00+07:00", "2026-11-23T16:30:00+07:00"),
    ("issued", "1001", "2026-11-23", "HT", "2026-11-23T16:31:00+07:00", "2026-11-23T16:31:00+07:00"),
    ("issued", "5000", "2026-11-23", "DD", "2026-11-23T16:32:00+07:00", "2026-11-23T16:32:00+07:00"),
    ("carried", "1000", "2026-11-23", "HT", "2026-11-23T16:30:00+07:00", "2026-11-23T17:00:00+07:00"),
    ("carried", "1001", "2026-11-23", "HT", "2026-11-23T16:31:00+07:00", "2026-11-23T17:00:00+07:00"),
    ("expired", "5000", "2026-11-23", "DD", "2026-11-23T16:32:00+07:00", "2026-11-23T17:00:00+07:00"),
    ("issued", "1000", "2026-11-30", "HT", "2026-11-30T07:01:00+07:00", "2026-11-30T07:01:00+07:00"),
    ("issued", "X1", "2026-11-30", "XD", "2026-11-30T07:02:00+07:00", "2026-11-30T07:02:00+07:00"),
    ("called", "1001", "2026-11-23", "HT", "2026-11-23T16:31:00+07:00", "2026-11-30T07:05:00+07:00"),
]


def test_kept_tickets_wait_on_the_next_day_with_their_own_day(tmp_path: Path) -> None:
    conn = open_db(str(tmp_path / "collector.db"))
    for action, ticket, day, service, issued_at, ts in ROWS:
        conn.execute("INSERT INTO ticket_events (id, site, device, action, ticket, number, day, service, issued_at, "
                     "ts, ts_epoch) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                     (uuid7(), "test-hcc", "ticketing", action, ticket, int(ticket.strip("X")), day, service,
                      issued_at, ts, datetime.fromisoformat(ts).timestamp()))
    conn.commit()
    got = waiting_list(conn, "2026-11-30", ["HT", "DD"])
    assert [(w["ticket"], w["carried_from"]) for w in got] == [("1000", "2026-11-23"), ("1000", None)]
    assert waiting_list(conn, "2026-11-23", ["HT"]) == []  # that evening: kept for another day
    assert [w["ticket"] for w in waiting_list(conn, "2026-11-30", ["XD"])] == ["X1"]
    conn.close()
