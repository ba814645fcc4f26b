"""One way to open a role's SQLite file: WAL, ``synchronous=FULL``, a busy timeout, autocommit.

Every role keeps its state in SQLite (the desk's rated tickets, the kiosk's leases, ticketing's
queue, the collector's events; the outbox too). :func:`connect` opens such a file the same way
everywhere:

- ``journal_mode=WAL``: readers never block the writer, and a commit is one append;
- ``synchronous=FULL``: a committed transaction survives a power cut (with WAL, NORMAL could lose
  the last commits; a rating or an issued number must not be lost);
- a busy timeout (``busy_timeout_s``, 30 s by default), so a second connection waits for a lock
  instead of failing with "database is locked";
- ``isolation_level=None`` (the caller says ``BEGIN``), usable from any thread (the callers
  serialise with their own locks).
"""
from __future__ import annotations

import sqlite3
from pathlib import Path

BUSY_TIMEOUT_S = 30.0


def connect(path: str | Path, *, readonly: bool = False, busy_timeout_s: float = BUSY_TIMEOUT_S,
            rows: bool = False) -> sqlite3.Connection:
    """Open ``path`` (its folder made first unless ``readonly``); ``rows`` gives ``sqlite3.Row``s.

    ``readonly`` leaves the file's journal mode alone (a reader of a file some writer opened in WAL)."""
    p = Path(path)
    if not readonly:
        p.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(p), timeout=busy_timeout_s, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
    if not readonly:
        conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    if rows:
        conn.row_factory = sqlite3.Row
    return conn
