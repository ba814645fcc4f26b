"""Ratings keep working offline: 500 presses while the broker is down all arrive, once each."""
from __future__ import annotations

import json
import time

from mqtt import topics
from tests.support.mqtt import Recorder

from .conftest import PINS, SITE, STATUS, make_config, press, wait_until
from .netcut import Relay


def test_broker_down_for_500_presses_all_arrive_once(broker, tmp_path, make_desk, factory):
    relay = Relay(broker.port)
    try:
        cfg = make_config(tmp_path, relay.url, replace={"debounce_ms = 30": "debounce_ms = 1"})
        desk = make_desk(cfg).start()
        assert wait_until(lambda: desk.hw.status_mode == "connected")
        status = factory.pin(STATUS)
        assert status.state
        # the broker goes down (and the relay stays shut until our recorder listens again)
        relay.cut()
        broker.stop()
        assert wait_until(lambda: not desk.rt.client.connected)
        scores = [(i % 5) + 1 for i in range(500)]
        for s in scores:
            press(desk.factory, PINS[s])
            time.sleep(0.0015)           # longer than the 1 ms debounce window
        assert wait_until(lambda: desk.rt.outbox.depth() == 500)
        assert desk.terminal.pending_ratings() == 0
        assert desk.terminal.ratings == 500
        # status LED: blinking = offline but buffering
        assert wait_until(lambda: desk.hw.status_mode == "buffering")
        seen = set()
        end = time.monotonic() + 1.5
        while time.monotonic() < end:
            seen.add(bool(status.state))
            time.sleep(0.02)
        assert seen == {True, False}
        broker.start()
        rec = Recorder(broker.port, topics.events_filter(SITE, "rating"))
        relay.restore()
        assert rec.wait_for(lambda m: len(m) >= 500, timeout=30)
        assert desk.rt.client.flush(10)
        time.sleep(0.5)                   # anything doubled would show up now
        events = [json.loads(p) for _, p, _ in rec.messages]
        ids = [e["id"] for e in events]
        assert len(ids) == 500 and len(set(ids)) == 500
        assert [e["data"]["score"] for e in sorted(events, key=lambda e: e["seq"])] == scores
        assert wait_until(lambda: desk.hw.status_mode == "connected", 3)
        rec.close()
    finally:
        relay.close()
