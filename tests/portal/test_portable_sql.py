"""The SQL this work added to the collector runs on PostgreSQL as on SQLite (issue 17: one store, two
engines): the busy-hours summary, the one-rating-per-ticket lookup and the feedback handling, each
through its real function, on a private cluster (tests/support/pg.py) with the `?` placeholders
turned into psycopg's `%s`, as the PostgreSQL backend does. Same data, same answers."""
from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import psycopg
import pytest

from collector.busy_hours import compute
from collector.db import open_db
from collector.store import Store
from collector.web.feedback import feedback_rows, history, set_state
from tests.portal.history import TODAY, VN, at, incoming, rating, seed_history
from tests.collector.wire import SITE, event
from tests.support.pg import fresh_database, pg_cluster  # noqa: F401 (the fixture)

TABLES = {  # the columns these statements touch, typed as the PostgreSQL store types them
    "events": "id text PRIMARY KEY, site text NOT NULL, device text NOT NULL, type text NOT NULL, seq bigint, "
              "ts text, ts_epoch double precision, payload text",
    "ticket_events": "id text PRIMARY KEY, site text, device text, action text, ticket text, day text, "
                     "ts_epoch double precision",
    "ratings": "id text PRIMARY KEY, site text, device text, ticket text, day text, misuse bigint, "
               "ts_epoch double precision",
    "feedback_history": "event_id text NOT NULL, changed_epoch double precision NOT NULL, site text, "
                        "state text NOT NULL, note text, changed_by text NOT NULL, changed_at text, "
                        "PRIMARY KEY (event_id, changed_epoch)",
}


class Pg:
    """A psycopg connection spoken to with the collector's `?` placeholders."""

    def __init__(self, url: str):
        self.conn = psycopg.connect(url, autocommit=True)

    def execute(self, sql: str, args: Any = ()) -> Any:
        return self.conn.execute(sql.replace("?", "%s"), list(args))  # type: ignore[call-overload]


@pytest.fixture
def both(pg_cluster, tmp_path: Path):  # noqa: ANN001, ANN201
    """A SQLite store written by the real Store, and a PostgreSQL database holding the same rows."""
    lite = open_db(tmp_path / "collector.db")
    store = Store(lite)
    seed_history(store)
    fb = [incoming(event("feedback", {"kind": k, "text": f"góp ý {i}", "consent": True}, device="portal", seq=i + 1,
                         ts=at(TODAY, 9, i).isoformat(timespec="milliseconds")))
          for i, k in enumerate(("complaint", "suggestion"))]
    store.write_batch([*fb, rating("portal", "1041", at(TODAY, 9), "phone")])
    pg = Pg(fresh_database(pg_cluster))
    for table, cols in TABLES.items():
        pg.execute(f"CREATE TABLE {table} ({cols})")
        names = [c.split()[0] for c in cols.split(", ") if c.split()[0].isidentifier() and c.split()[0] != "PRIMARY"]
        for row in lite.execute(f"SELECT {', '.join(names)} FROM {table}"):
            pg.execute(f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})", tuple(row))
    yield lite, pg
    pg.conn.close()
    lite.close()


def test_busy_hours_are_the_same_on_both_engines(both) -> None:  # noqa: ANN001
    lite, pg = both
    now = at(TODAY, 6)
    a, b = compute(lite, SITE, TODAY, VN, now), compute(pg, SITE, TODAY, VN, now)
    assert a.hours and a == b


def test_the_same_ticket_lookup_on_both_engines(both) -> None:  # noqa: ANN001
    lite, pg = both
    for conn in (lite, pg):
        rated = Store._rated  # the store's own statement, on either connection
        me = SimpleNamespace(conn=conn)
        assert rated(me, SITE, TODAY.isoformat(), "1041", []) is True  # type: ignore[arg-type]
        assert rated(me, SITE, TODAY.isoformat(), "1042", []) is False  # type: ignore[arg-type]
        assert rated(me, SITE, (TODAY + timedelta(days=1)).isoformat(), "1041", []) is False  # type: ignore[arg-type]


def test_feedback_handling_on_both_engines(both) -> None:  # noqa: ANN001
    lite, pg = both
    seen = []
    for conn in (lite, pg):
        items = feedback_rows(conn, "feedback", SITE)
        assert [f["text"] for f in items] == ["góp ý 1", "góp ý 0"] and {f["state"] for f in items} == {"new"}
        first = items[0]["id"]
        assert set_state(conn, first, SITE, "in_progress", "đã gọi", "quanly", at(TODAY, 10))
        assert set_state(conn, first, SITE, "done", None, "quanly", at(TODAY, 11))
        assert not set_state(conn, "0193a4c2-0000-7000-8000-000000000000", SITE, "done", None, "quanly", at(TODAY, 11))
        assert not set_state(conn, first, "other-site", "done", None, "quanly", at(TODAY, 11))
        rows = feedback_rows(conn, "feedback", SITE)
        assert [(f["state"], f["changed_by"]) for f in rows] == [("done", "quanly"), ("new", None)]
        assert [f["id"] for f in feedback_rows(conn, "feedback", SITE, "new")] == [items[1]["id"]]
        assert [f["id"] for f in feedback_rows(conn, "feedback", SITE, "done")] == [first]
        assert feedback_rows(conn, "feedback", SITE, "in_progress") == []
        changes = history(conn, [first])[first]
        assert [(c["state"], c["note"]) for c in changes] == [("done", None), ("in_progress", "đã gọi")]
        seen.append(json.dumps(rows, sort_keys=True, default=str))
    assert seen[0] == seen[1]
