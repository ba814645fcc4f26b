"""A forbidden message that arrives while the database takes no writes is retried with its batch
(the writer thread must not die on the dead-letter write of collector/authz.py)."""
from __future__ import annotations

import sqlite3
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

import pytest

from collector.config import CollectorConfig
from collector.db import open_db
from collector.ingest import Ingest
from collector.store import Incoming, Store
from mqtt import topics
from mqtt.schemas import Envelope

SITE = "hcm-q1"
REGISTRY = f'site = "{SITE}"\n\n[devices.rt-01]\nrole = "rating-terminal"\ndesk = 1\n'


def _msg(device: str, type_: str, data: Mapping[str, object], seq: int) -> Incoming:
    env = Envelope(v=1, id=f"0193a4c2-9000-7000-8000-00000000000{seq}", seq=seq, ts=datetime.now(timezone.utc),
                   clock_synced=True, site=SITE, device=device, type=type_, data=data)  # type: ignore[arg-type]
    return Incoming(topics.event(SITE, device, type_), env.model_dump_json().encode(), False,
                    datetime.now(timezone.utc))


def test_forbidden_message_during_a_full_disk_is_retried(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "devices.toml").write_text(REGISTRY, encoding="utf-8")
    cfg = CollectorConfig(site=SITE, db=str(tmp_path / "c.db"), devices=str(tmp_path / "devices.toml"),
                          broker="mqtt://127.0.0.1:1")
    ing = Ingest(cfg)
    ing._conn = open_db(cfg.db)
    ing.store = Store(ing._conn, cfg.timezone)
    real = ing.store.write_dead_many
    calls: list[int] = []

    def full_once(*a: Any, **kw: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise sqlite3.OperationalError("database or disk is full")
        return real(*a, **kw)

    monkeypatch.setattr(ing.store, "write_dead_many", full_once)
    rating = {"desk": 1, "score": 5, "scale": 5, "channel": "desk"}
    batch = [_msg("rt-01", "feedback", {"text": "x"}, 1), _msg("rt-01", "rating", rating, 2)]
    try:
        res = ing._write(batch)
    finally:
        ing._conn.close()
        if ing.outbox is not None:
            ing.outbox.close()
    assert res is not None and len(calls) == 2
    assert res.dead == 1 and res.stored == 1
    assert ing.stats.storage == "ok" and ing.stats.write_errors == 1
