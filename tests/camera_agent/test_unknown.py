"""Honest state: a zone whose view is blocked, too dark, or whose camera froze is unknown
(neither present nor absent), with a fault raised once and cleared once; the collector stores
an unknown presence event and retained state without error."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest

from camera_agent.config import DetectionConfig, HoldConfig
from camera_agent.presence import PresencePipeline
from camera_agent.synthetic import SEAT, SEATED_AT, Scene
from camera_agent.zones import PresenceZone
from mqtt.schemas import PresenceData, PresenceState

FPS = 5.0


def run(frames: list[np.ndarray]):
    zone = PresenceZone("seat", SEAT)
    pipe = PresencePipeline([zone], DetectionConfig(), HoldConfig(), detector=None)
    changes, faults, states = [], [], []
    for i, f in enumerate(frames):
        changes += [(i, c.present) for c in pipe.process(f, i / FPS)]
        faults += [(i, x.code, x.active) for x in pipe.faults]
        states.append(pipe.present(zone))
    return changes, faults, states


@pytest.mark.parametrize("what, code", [("cover", "view_blocked"), ("dark", "view_dark"), ("frozen", "camera_frozen")])
def test_a_bad_view_is_unknown_with_a_fault_and_its_clearing(what, code):
    sc = Scene(seed=6)
    good = [sc.frame() for _ in range(25)]
    if what == "cover":
        bad = [sc.frame(cover=(150, 60, 150, 180)) for _ in range(40)]
    elif what == "dark":
        bad = [sc.frame(light=0.1) for _ in range(40)]
    else:
        frozen = sc.frame()
        bad = [frozen.copy() for _ in range(40)]
    changes, faults, states = run(good + bad + [sc.frame() for _ in range(25)])
    assert (None in [c[1] for c in changes]), changes
    assert [(f[1], f[2]) for f in faults] == [(code, True), (code, False)], faults
    assert states[25 + 35] is None, "unknown, not present nor absent, while the view is bad"
    assert states[-1] is False, "readable again: absent"


def test_unknown_is_carried_by_the_schemas():
    d = PresenceData(desk=3, zone="officer", present=None, since=datetime(2026, 12, 1, 2, tzinfo=timezone.utc))
    assert d.present is None
    s = PresenceState(desk=3, officer=None, unknown=["officer"])
    assert s.unknown == ["officer"]


def test_the_collector_stores_an_unknown_presence(sqlite_path):
    import json

    from collector.db import open_db
    from collector.store import Incoming, Store
    from tests.collector.wire import VN, event

    store = Store(open_db(sqlite_path))
    t, p = event("presence", {"desk": 2, "zone": "officer", "kind": "change", "present": None,
                              "since": "2026-12-01T08:00:00+07:00"}, device="cam-01")
    ps = {"v": 1, "desk": 2, "officer": None, "unknown": ["officer"], "ts": "2026-12-01T08:00:01+07:00"}
    r = store.write_batch([Incoming(t, p, False, datetime.now(VN)),
                           Incoming("motcua/v1/camau-hcc/dev/cam-01/state/presence/2", json.dumps(ps).encode(),
                                    False, datetime.now(VN))])
    assert r.stored == 2
    assert store.conn.execute("SELECT present FROM presence").fetchall()[0][0] is None
    assert store.conn.execute("SELECT count(*) FROM dead_letters").fetchone()[0] == 0
    row = store.conn.execute("SELECT present FROM desk_presence WHERE desk=2 AND zone='officer'").fetchone()
    assert row is not None and row[0] is None, "unknown, not absent"
    from collector.queries import Reader
    grid = Reader(sqlite_path).desks()
    assert grid[0]["officer"]["present"] is None, "the desk grid must not turn unknown into absent"
