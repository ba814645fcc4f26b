"""common.sqlite.connect: every role's SQLite file opened the same way (WAL, FULL, busy timeout)."""
from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from common.sqlite import connect


def _pragmas(conn: sqlite3.Connection) -> tuple[str, int, int]:
    return (conn.execute("PRAGMA journal_mode").fetchone()[0], conn.execute("PRAGMA synchronous").fetchone()[0],
            conn.execute("PRAGMA busy_timeout").fetchone()[0])


def test_wal_full_and_busy_timeout(tmp_path: Path) -> None:
    conn = connect(tmp_path / "a" / "b" / "x.db", busy_timeout_s=7.5)  # the folder is made
    assert _pragmas(conn) == ("wal", 2, 7500)  # 2 = FULL
    assert conn.isolation_level is None and conn.in_transaction is False
    conn.execute("CREATE TABLE t (v)")
    conn.execute("INSERT INTO t VALUES (1)")  # autocommit: another connection sees it at once
    reader = connect(tmp_path / "a" / "b" / "x.db", readonly=True, rows=True)
    row = reader.execute("SELECT v FROM t").fetchone()
    assert row["v"] == 1 and _pragmas(reader)[:2] == ("wal", 2)
    # usable from another thread (each caller serialises with its own lock)
    out: list[int] = []
    t = threading.Thread(target=lambda: out.append(conn.execute("SELECT count(*) FROM t").fetchone()[0]))
    t.start()
    t.join()
    assert out == [1]


def test_a_second_writer_waits_for_the_lock_instead_of_failing(tmp_path: Path) -> None:
    a = connect(tmp_path / "x.db")
    a.execute("CREATE TABLE t (v)")
    b = connect(tmp_path / "x.db")
    a.execute("BEGIN IMMEDIATE")
    a.execute("INSERT INTO t VALUES (1)")
    done = threading.Event()

    def write() -> None:
        b.execute("INSERT INTO t VALUES (2)")  # blocks until a commits (busy timeout 30 s)
        done.set()

    t = threading.Thread(target=write)
    t.start()
    assert not done.wait(0.2)  # still waiting, not "database is locked"
    a.execute("COMMIT")
    t.join(30)
    assert done.is_set()
    assert sorted(v for (v,) in a.execute("SELECT v FROM t")) == [1, 2]
