"""The kiosk's small SQLite file: leases, the next number, issued tickets, active faults and the
last site state seen. One writer connection behind a lock; ``synchronous=FULL`` so a number
handed out is on disk before the citizen sees it, and a reboot never issues it again."""
from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

from common.sqlite import connect

_SCHEMA = """
CREATE TABLE IF NOT EXISTS lease (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    service TEXT NOT NULL, day TEXT NOT NULL, start INTEGER NOT NULL, "end" INTEGER NOT NULL,
    prefix TEXT NOT NULL DEFAULT '', next INTEGER NOT NULL,
    UNIQUE (service, day, start)
);
CREATE TABLE IF NOT EXISTS pending_lease (
    service TEXT NOT NULL, day TEXT NOT NULL, request_id TEXT NOT NULL, PRIMARY KEY (service, day)
);
CREATE TABLE IF NOT EXISTS ticket (
    day TEXT NOT NULL, number INTEGER NOT NULL, ticket TEXT NOT NULL, service TEXT NOT NULL,
    priority TEXT, appointment TEXT, issued_at TEXT NOT NULL, people_ahead INTEGER,
    est_wait_s REAL, offline INTEGER NOT NULL DEFAULT 0, event_id TEXT, printed INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (day, number)
);
CREATE TABLE IF NOT EXISTS fault (code TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class KioskStore:
    """Thread-safe access to kiosk.db. ``tx()`` gives the connection inside one transaction."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.conn = connect(self.path)
        self.conn.executescript(_SCHEMA)
        self.lock = threading.RLock()

    def tx(self) -> "_Tx":
        return _Tx(self)

    def query(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self.lock:
            return self.conn.execute(sql, args).fetchall()

    def put(self, key: str, value: Any) -> None:
        with self.lock:
            self.conn.execute("INSERT OR REPLACE INTO kv(key, value) VALUES (?, ?)", (key, json.dumps(value)))

    def get(self, key: str, default: Any = None) -> Any:
        rows = self.query("SELECT value FROM kv WHERE key=?", (key,))
        return json.loads(rows[0][0]) if rows else default

    def close(self) -> None:
        with self.lock:
            self.conn.close()


class _Tx:
    def __init__(self, store: KioskStore):
        self.store = store

    def __enter__(self) -> sqlite3.Connection:
        self.store.lock.acquire()
        self.store.conn.execute("BEGIN IMMEDIATE")
        return self.store.conn

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        try:
            self.store.conn.execute("ROLLBACK" if exc_type else "COMMIT")
        finally:
            self.store.lock.release()
