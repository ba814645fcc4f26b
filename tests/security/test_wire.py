"""The wire as documented: times with milliseconds and offset, a Last Will and a clean stop that
say when (or that the time is unknown), numbers too large to use refused with a reason."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from common.clock import FakeClock
from mqtt import topics
from mqtt.client import BrokerConfig, DeviceClient
from mqtt.errors import ProtocolError
from mqtt.schemas import Status, TicketData, load_json, parse_event, parse_model
from tests.collector.wire import envelope
from tests.support.mqtt import Recorder

VN = timezone(timedelta(hours=7))
ROOT = Path(__file__).resolve().parents[2]


def test_every_time_has_milliseconds_and_offset() -> None:
    whole = datetime(2026, 11, 23, 9, 15, 2, tzinfo=VN)
    fine = whole.replace(microsecond=123456)
    assert json.loads(Status(state="online", device="rt-05", role="r", version="1", ts=whole).dumps())["ts"] \
        == "2026-11-23T09:15:02.000+07:00"
    t = TicketData(action="issued", ticket="1", number=1, day="2026-11-23", service="HT", issued_at=fine)
    assert json.loads(t.dumps())["issued_at"] == "2026-11-23T09:15:02.123+07:00"
    with pytest.raises(ProtocolError, match="offset"):
        parse_model(Status, b'{"v":1,"state":"online","device":"a","role":"r","version":"1",'
                            b'"ts":"2026-11-23T09:15:02.000"}')


@pytest.mark.parametrize("number", [b"9" * 5000, b"1" + b"0" * 30, b"1e999", b"NaN", b"-Infinity"])
def test_a_number_too_large_is_a_protocol_error(number: bytes) -> None:
    with pytest.raises(ProtocolError) as e:
        load_json(b'{"a": ' + number + b"}")
    assert e.value.reason == "bad_number" and "number" in str(e.value)
    env = json.dumps(envelope("rating", {"desk": 1, "score": 5, "scale": 5})).encode()
    with pytest.raises(ProtocolError) as e2:
        parse_event(topics.event("camau-hcc", "rt-01", "rating"), env.replace(b'"seq": 1', b'"seq": ' + number))
    assert e2.value.reason == "bad_number"


def test_clean_stop_says_when_it_stopped(broker) -> None:  # noqa: ANN001
    clock = FakeClock(datetime(2026, 11, 23, 7, 0, 0, tzinfo=VN))
    rec = Recorder(broker.port, topics.status("camau-hcc", "rt-05"))
    c = DeviceClient("camau-hcc", "rt-05", "rating-terminal", BrokerConfig(url=broker.url), desk=5, clock=clock,
                     telemetry_interval_s=0)
    c.start()
    assert c.wait_connected(10)
    clock.advance(3600)
    c.stop()
    assert rec.wait_for(lambda m: any(b'"offline"' in p for _, p, _ in m))
    off = [s for s in rec.json() if s["state"] == "offline"][-1]
    assert off["cause"] == "stop" and off["ts"] == "2026-11-23T08:00:00.000+07:00"
    rec.close()


WILL_CHILD = """
import sys, time
from mqtt.client import BrokerConfig, DeviceClient
c = DeviceClient("camau-hcc", "rt-06", "rating-terminal", BrokerConfig(url=sys.argv[1]), desk=6,
                 telemetry_interval_s=0)
c.start()
assert c.wait_connected(10)
print("up", flush=True)
time.sleep(600)
"""


def test_last_will_says_the_time_is_unknown(broker) -> None:  # noqa: ANN001
    rec = Recorder(broker.port, topics.status("camau-hcc", "rt-06"))
    p = subprocess.Popen([sys.executable, "-c", WILL_CHILD, broker.url], cwd=ROOT, stdout=subprocess.PIPE,
                         env=dict(os.environ, PYTHONPATH=str(ROOT)))
    try:
        assert p.stdout is not None and p.stdout.readline().strip() == b"up"
        assert rec.wait_for(lambda m: any(b'"online"' in x for _, x, _ in m))
        p.send_signal(signal.SIGKILL)  # the connection is lost: the broker sends the Last Will
        assert rec.wait_for(lambda m: any(b'"offline"' in x for _, x, _ in m), 30)
    finally:
        p.kill()
        p.wait(5)
    will = [s for s in rec.json() if s["state"] == "offline"][-1]
    assert will["cause"] == "lost" and will["ts"] is None, will
    rec.close()
