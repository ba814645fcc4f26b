"""Faults at a desk: each raised once and cleared once, by one owner (no flapping on the wire)."""
from __future__ import annotations

import json
import time

import serial

from mqtt import topics
from mqtt.outbox import Outbox
from rating_terminal.faults import Faults
from tests.support.mqtt import Recorder

from .conftest import SITE, make_config, wait_until
from .netcut import Relay


def _fault_events(rec: Recorder, code: str) -> list[dict]:
    events = sorted((json.loads(p) for _t, p, _r in rec.messages), key=lambda e: e["seq"])
    return [e["data"] for e in events if e["data"]["code"] == code]


def test_outbox_full_is_raised_once_and_cleared_once(broker, tmp_path, make_desk):
    relay = Relay(broker.port)
    try:
        desk = make_desk(make_config(tmp_path, relay.url), outbox_max_events=5).start()
        relay.cut()
        broker.stop()
        assert wait_until(lambda: not desk.rt.client.connected)
        for score in (5, 4, 3, 2, 1, 5, 4, 3):  # five fit, three are refused
            desk.terminal.rate(score)
        assert wait_until(lambda: desk.terminal.pending_ratings() == 0)
        assert wait_until(lambda: desk.hw.status_mode == "fault")  # the LED says the outbox refuses
        broker.start()
        rec = Recorder(broker.port, topics.events_filter(SITE, "fault"))
        relay.restore()
        assert wait_until(lambda: desk.rt.client.connected and desk.rt.outbox.depth() == 0, 20)
        assert wait_until(lambda: desk.hw.status_mode == "connected", 5)
        for score in (5, 4):  # stored again: nobody clears the fault a second time
            desk.terminal.rate(score)
        assert wait_until(lambda: desk.terminal.pending_ratings() == 0)
        assert desk.rt.client.flush(10)
        assert rec.wait_for(lambda m: len(_fault_events(rec, "outbox_full")) >= 2, 10)
        time.sleep(0.5)  # a second owner's raise or clear would arrive now
        faults = _fault_events(rec, "outbox_full")
        assert [f["active"] for f in faults] == [True, False], faults
        rec.close()
    finally:
        relay.close()


def test_counter_display_fault_is_raised_once_and_cleared_once(broker, tmp_path, make_desk):
    rec = Recorder(broker.port, topics.events_filter(SITE, "fault"))
    desk = make_desk(make_config(tmp_path, broker.url, extra='[display]\nport = "loop://"\n')).start()
    desk.display_bytes()
    display = desk.rt.display
    unplugged = serial.serial_for_url("loop://")
    unplugged.close()
    display.port = unplugged  # the display's cable comes out
    for i in range(3):
        desk.terminal.status.flash(f"THỬ {i}", f"TEST {i}")
    assert wait_until(lambda: desk.terminal.faults.codes == ["counter_display"])
    assert wait_until(lambda: desk.hw.status_mode == "fault")
    display.port = desk.display_port  # and goes back in
    desk.terminal.status.flash("LẠI", "AGAIN")
    assert wait_until(lambda: desk.terminal.faults.codes == [])
    desk.terminal.status.flash("NỮA", "MORE")
    assert rec.wait_for(lambda m: len(_fault_events(rec, "counter_display")) >= 2, 10)
    time.sleep(0.5)
    faults = _fault_events(rec, "counter_display")
    assert [f["active"] for f in faults] == [True, False], faults
    assert faults[0]["message_vi"] == "Lỗi màn hình số tại quầy" and faults[0]["detail"]
    rec.close()


def test_faults_raise_and_clear_once_each(tmp_path):
    ob = Outbox(tmp_path / "ob.db", SITE, "rt-05")
    faults = Faults(ob)
    changes: list[list[str]] = []
    faults.when_changed = lambda: changes.append(faults.codes)
    assert faults.raise_("badge_reader", "no such port") and not faults.raise_("badge_reader")
    assert faults.clear("badge_reader") and not faults.clear("badge_reader")
    assert changes == [["badge_reader"], []]
    rows = [json.loads(r.payload)["data"] for r in ob.fetch()]
    assert [(r["code"], r["active"], r["detail"]) for r in rows] == [("badge_reader", True, "no such port"),
                                                                      ("badge_reader", False, None)]
    try:
        faults.raise_("outbox_full")
    except ValueError as exc:
        assert "outbox_full" in str(exc) and "counter_display" in str(exc)
    else:
        raise AssertionError("the terminal must not raise outbox_full: the client owns it")
    ob.close()
