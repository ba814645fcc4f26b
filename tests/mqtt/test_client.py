import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from mqtt import topics
from mqtt.client import BrokerConfig, DeviceClient, Message
from mqtt.errors import NotConnected, RequestTimeout
from mqtt.outbox import Outbox
from mqtt.schemas import Request, Response, Status, Telemetry
from tests.support.mqtt import Recorder

ROOT = Path(__file__).resolve().parents[2]


def client(broker, device="rt-05", **kw):
    kw.setdefault("telemetry_interval_s", 0)
    c = DeviceClient("s1", device, "rating-terminal", BrokerConfig(url=broker.url), desk=5,
                     reconnect_min_s=0.1, reconnect_max_s=0.3, **kw)
    c.start()
    assert c.wait_connected(10)
    return c


def test_broker_url_is_checked():
    assert BrokerConfig(url="mqtts://server.local").endpoint() == ("server.local", 8883, True)
    with pytest.raises(ValueError, match="mqtt:// or mqtts://"):
        BrokerConfig(url="http://x:1883").endpoint()


def test_status_online_retained_and_offline_on_clean_stop(broker):
    c = client(broker)
    rec = Recorder(broker.port, topics.status("s1", "rt-05"))
    assert rec.wait_for(lambda m: m and m[-1][2], 5)  # retained: a late subscriber sees it
    st = Status.model_validate_json(rec.messages[-1][1])
    assert (st.state, st.role, st.desk) == ("online", "rating-terminal", 5)
    c.stop()
    assert rec.wait_for(lambda m: json.loads(m[-1][1])["state"] == "offline", 5)
    rec.close()


def test_last_will_says_offline_when_the_device_dies(broker, tmp_path):
    code = ("import sys,time; sys.path.insert(0, %r)\n"
            "from mqtt.client import BrokerConfig, DeviceClient\n"
            "c = DeviceClient('s1', 'dies', 'kiosk', BrokerConfig(url=%r), telemetry_interval_s=0)\n"
            "c.start(); c.wait_connected(10); print('up', flush=True); time.sleep(60)\n") % (str(ROOT), broker.url)
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "up"
    rec = Recorder(broker.port, topics.status("s1", "dies"))
    assert rec.wait_for(lambda m: m and json.loads(m[-1][1])["state"] == "online", 5)
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    # the broker notices the dead socket at once (RST) and publishes the will
    assert rec.wait_for(lambda m: json.loads(m[-1][1])["state"] == "offline", 10)
    rec.close()


def test_subscriptions_restored_after_broker_restart(broker):
    got: list[Message] = []
    c = client(broker)
    c.subscribe(topics.state("s1", "desk", 5), got.append)
    time.sleep(0.3)
    rec = Recorder(broker.port, "nothing/#")
    rec.publish(topics.state("s1", "desk", 5), b'{"v":1,"desk":5}')
    deadline = time.monotonic() + 5
    while not got and time.monotonic() < deadline:
        time.sleep(0.05)
    assert got
    rec.close()
    broker.restart()
    assert c.wait_connected(10)
    deadline = time.monotonic() + 10
    while c.connected is False and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    rec = Recorder(broker.port, "nothing/#")
    rec.publish(topics.state("s1", "desk", 5), b'{"v":1,"desk":5,"ticket":"1002"}')
    deadline = time.monotonic() + 5
    while len(got) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(got) == 2 and b"1002" in got[-1].payload
    rec.close()
    c.stop()


def test_a_failing_handler_never_kills_the_loop(broker):
    seen = []

    def bad(msg: Message) -> None:
        seen.append(msg)
        raise RuntimeError("boom")

    c = client(broker)
    c.subscribe("motcua/v1/s1/state/#", bad)
    time.sleep(0.3)
    rec = Recorder(broker.port, "nothing/#")
    for i in range(3):
        rec.publish(topics.state("s1", "calls"), f'{{"i":{i}}}'.encode())
    deadline = time.monotonic() + 5
    while len(seen) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(seen) == 3 and c.connected
    rec.close()
    c.stop()


def test_request_response_with_correlation_and_timeout(broker):
    server = client(broker, device="ticketing")
    answered = []

    def on_call(req: Request, msg: Message) -> Response:
        answered.append(req.id)
        return Response(request_id=req.id, ok=True, waiting=len(answered))

    server.serve("call-next", on_call)
    time.sleep(0.3)
    desk = client(broker)
    results = []

    def ask(i: int) -> None:
        results.append(desk.request("call-next", Request(id=f"r-{i}", device="rt-05", desk=5), timeout=5))

    ts = [threading.Thread(target=ask, args=(i,)) for i in range(5)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert sorted(r.request_id for r in results) == [f"r-{i}" for i in range(5)]  # each got its own
    with pytest.raises(RequestTimeout, match="no answer to finish"):
        desk.request("finish", Request(id="r-x", device="rt-05", desk=5), timeout=0.5)
    server.stop()
    desk.stop()
    with pytest.raises(NotConnected):
        desk.request("call-next", Request(id="r-y", device="rt-05"), timeout=0.5)


def test_telemetry_carries_outbox_depth_and_extra(broker, tmp_path):
    ob = Outbox(tmp_path / "ob.db", "s1", "cam-01")
    rec = Recorder(broker.port, topics.telemetry("s1", "cam-01"))
    c = DeviceClient("s1", "cam-01", "camera-agent", BrokerConfig(url=broker.url), outbox=ob,
                     telemetry_interval_s=0.3, telemetry_extra=lambda: {"fps": 5.0})
    c.start()
    assert rec.wait_for(lambda m: len(m) >= 2, 10)
    t = Telemetry.model_validate_json(rec.messages[-1][1])
    assert t.outbox_depth == 0 and t.extra == {"fps": 5.0} and t.uptime_s >= 0
    c.stop()
    rec.close()


def test_subscriptions_added_while_connecting_are_all_live(broker):
    """A role subscribes from its own thread while the network thread is connecting: every
    subscription must end up live, and the connect callback must not fail (it used to iterate
    the subscriptions while they changed, and to miss one added just before it was marked up)."""
    got: set[str] = set()
    lock = threading.Lock()

    def handler(msg: Message) -> None:
        with lock:
            got.add(msg.topic)

    late = [f"race/late/{i}" for i in range(1500)]
    for attempt in range(3):
        got.clear()
        c = DeviceClient("s1", f"race-{attempt}", "test", BrokerConfig(url=broker.url), telemetry_interval_s=0)
        for i in range(3000):  # a long list for the connect callback to walk
            c.subscribe(f"race/early/{i}", handler)
        c.start()  # connecting now, on paho's thread, while we keep subscribing for a while
        for flt in late:
            c.subscribe(flt, handler)
            time.sleep(0.0005)
        assert c.wait_connected(10), "the connect callback failed"
        time.sleep(0.5)
        rec = Recorder(broker.port, "nothing/#")
        for flt in late:
            rec.c.publish(flt, b"{}", qos=1)
        deadline = time.monotonic() + 10
        while len(got) < len(late) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert got == set(late), f"attempt {attempt}: {len(late) - len(got)} subscriptions lost"
        rec.close()
        c.stop()
