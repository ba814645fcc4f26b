"""A real collector ingest in the test process (the store that confirms), for the delivery tests."""
from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from collector.config import CollectorConfig
from collector.ingest import Ingest


def start_ingest(url: str, db: Path, site: str = "s1", client_id: str | None = None) -> Ingest:
    ing = Ingest(CollectorConfig(broker=url, db=str(db), site=site, client_id=client_id or f"coll-{db.stem}",
                                 batch_wait_ms=5))
    ing.start()
    if not ing.wait_connected(10):
        raise RuntimeError("collector ingest did not connect")
    return ing


def stored_seqs(db: Path, device: str) -> list[int]:
    """Every stored seq of a device, one entry per stored row (a seq twice = stored twice)."""
    with sqlite3.connect(db, timeout=10) as c:
        return [r[0] for r in c.execute("SELECT seq FROM events WHERE device=? ORDER BY seq", (device,))]


def wait_stored(db: Path, device: str, n: int, timeout: float = 30.0) -> list[int]:
    end = time.monotonic() + timeout
    got: list[int] = []
    while time.monotonic() < end:
        try:
            got = stored_seqs(db, device)
        except sqlite3.OperationalError:
            got = []
        if len(got) >= n:
            return got
        time.sleep(0.05)
    return got
