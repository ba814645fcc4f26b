"""Which tickets were already rated, on disk, so ``same_ticket`` misuse survives a restart.

A small SQLite file next to the outbox (``rated.db``, WAL, ``synchronous=FULL``) with one row
per rated (day, ticket). Only today's and yesterday's rows are kept: older ones are deleted when
the file is opened. Written by the terminal's rating writer thread, never by a GPIO callback.
"""
from __future__ import annotations

import logging
import sqlite3
import threading
from datetime import timedelta
from pathlib import Path

from common.clock import Clock, local_day
from common.sqlite import connect

log = logging.getLogger(__name__)

_SCHEMA = "CREATE TABLE IF NOT EXISTS rated (day TEXT NOT NULL, ticket TEXT NOT NULL, PRIMARY KEY (day, ticket))"


class RatedTickets:
    """The rated (day, ticket) pairs of one terminal: ``load()``, ``add(day, ticket)``, ``close()``."""

    def __init__(self, path: str | Path, clock: Clock):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._db = connect(self.path)
        self._db.execute(_SCHEMA)
        yesterday = (local_day(clock.now(), clock.tz) - timedelta(days=1)).isoformat()
        self._db.execute("DELETE FROM rated WHERE day < ?", (yesterday,))

    def load(self) -> dict[str, set[str]]:
        """Every kept pair, as day -> tickets."""
        out: dict[str, set[str]] = {}
        with self._lock:
            for day, ticket in self._db.execute("SELECT day, ticket FROM rated"):
                out.setdefault(day, set()).add(ticket)
        return out

    def add(self, day: str, ticket: str) -> None:
        """Record a rated ticket (on disk when this returns; a repeat is a no-op). A failed
        write is logged, not raised: the rating itself is already stored, and the ticket
        stays known in memory until the process ends."""
        try:
            with self._lock:
                self._db.execute("INSERT OR IGNORE INTO rated (day, ticket) VALUES (?, ?)", (day, ticket))
        except sqlite3.Error:
            log.exception("rated ticket %s of %s not recorded in %s", ticket, day, self.path)

    def close(self) -> None:
        with self._lock:
            self._db.close()
