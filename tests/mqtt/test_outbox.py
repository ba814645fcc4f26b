import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from common.clock import FakeClock
from mqtt import schemas
from mqtt.client import BrokerConfig, DeviceClient
from mqtt.errors import OutboxFull, OutboxStorageError, ProtocolError
from mqtt.outbox import Outbox
from tests.mqtt.site import start_ingest, wait_stored
from tests.support.mqtt import Recorder

CHILD = Path(__file__).with_name("outbox_child.py")
ROOT = Path(__file__).resolve().parents[2]
RATING = {"desk": 5, "score": 4, "scale": 5}


def test_enqueue_is_on_disk_and_seq_survives_reopen(sqlite_path):
    clock = FakeClock(datetime(2026, 11, 23, 9, 0, tzinfo=ZoneInfo("Asia/Ho_Chi_Minh")))
    ob = Outbox(sqlite_path, "s1", "rt-05", clock=clock)
    e1 = ob.enqueue("rating", RATING)
    e2 = ob.enqueue("rating", schemas.RatingData(desk=5, score=1, scale=3))
    assert (e1.seq, e2.seq) == (1, 2)
    env = json.loads(e1.payload)
    assert env["ts"] == "2026-11-23T09:00:00.000+07:00" and env["clock_synced"] is True
    assert schemas.parse_event(e1.topic, e1.payload).id == e1.id
    ob.close()  # like a reboot: nothing acknowledged
    ob2 = Outbox(sqlite_path, "s1", "rt-05", clock=clock)
    assert ob2.depth() == 2
    assert [r.seq for r in ob2.fetch()] == [1, 2]
    ob2.confirm([r.seq for r in ob2.fetch()])
    assert ob2.depth() == 0
    assert ob2.enqueue("rating", RATING).seq == 3  # never reused, even after the queue emptied
    ob2.confirm([r.seq for r in ob2.fetch()])
    ob2.close()  # empty and closed: the next seq must still come back from disk
    assert Outbox(sqlite_path, "s1", "rt-05", clock=clock).enqueue("rating", RATING).seq == 4


def test_bad_data_is_refused_before_it_is_stored(sqlite_path):
    ob = Outbox(sqlite_path, "s1", "rt-05")
    with pytest.raises(ProtocolError, match="score"):
        ob.enqueue("rating", {"desk": 5, "score": 9, "scale": 5})
    with pytest.raises(ProtocolError, match="unknown event type"):
        ob.enqueue("selfie", {})
    assert ob.depth() == 0 and ob.next_seq == 1


def test_full_outbox_refuses_never_drops_and_raises_fault(sqlite_path):
    ob = Outbox(sqlite_path, "s1", "rt-05", max_events=5, fault_reserve=2)
    seen = []
    ob.on_full = seen.append
    for _ in range(5):
        ob.enqueue("rating", RATING)
    with pytest.raises(OutboxFull, match="limit is 5"):
        ob.enqueue("rating", RATING)
    assert seen and ob.depth() == 5
    assert [r.seq for r in ob.fetch()] == [1, 2, 3, 4, 5]  # the old ones are all still there
    fault = {"code": "outbox_full", "active": True, "message_vi": "Hàng đợi đầy", "message_en": "Outbox full"}
    ob.enqueue("fault", fault)  # faults may use the reserve
    ob.enqueue("fault", fault)
    with pytest.raises(OutboxFull):
        ob.enqueue("fault", fault)
    ob.confirm([r.seq for r in ob.fetch(limit=3)])
    ob.enqueue("rating", RATING)  # room again


def test_group_commit_concurrent_enqueues_keep_unique_ordered_seqs(sqlite_path):
    ob = Outbox(sqlite_path, "s1", "rt-05")
    got: list[int] = []
    lock = threading.Lock()

    def worker():
        for _ in range(200):
            s = ob.enqueue("rating", RATING).seq
            with lock:
                got.append(s)

    ts = [threading.Thread(target=worker) for _ in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert sorted(got) == list(range(1, 1601))
    rows = ob.fetch(limit=2000)
    assert [r.seq for r in rows] == list(range(1, 1601))  # storage order is seq order


def _device(broker, sqlite_path, **kw):
    """An outbox and a started, connected client over it."""
    ob = Outbox(sqlite_path, "s1", "rt-05")
    c = DeviceClient("s1", "rt-05", "test", BrokerConfig(url=broker.url), outbox=ob, telemetry_interval_s=0, **kw)
    c.start()
    assert c.wait_connected(10)
    return ob, c


def test_drains_in_order_when_connected_and_holds_while_offline(broker, sqlite_path, site):
    rec = Recorder(broker.port, "motcua/v1/s1/dev/rt-05/evt/#")
    ob, c = _device(broker, sqlite_path, reconnect_min_s=0.1, reconnect_max_s=0.5)
    for _ in range(300):
        ob.enqueue("rating", RATING)
    assert rec.wait_for(lambda m: len(m) >= 300, 20)
    assert [json.loads(p)["seq"] for _, p, _ in rec.messages] == list(range(1, 301))
    assert c.flush(10) and c.wait_confirmed(10) and ob.depth() == 0
    broker.stop()
    time.sleep(0.3)
    for _ in range(50):  # offline: they wait on disk
        ob.enqueue("rating", RATING)
    assert ob.depth() == 50
    broker.start()
    rec2 = Recorder(broker.port, "motcua/v1/s1/dev/rt-05/evt/#")
    assert rec2.wait_for(lambda m: len({json.loads(p)["seq"] for _, p, _ in m}) >= 50, 20)
    assert {json.loads(p)["seq"] for _, p, _ in rec2.messages} == set(range(301, 351))
    c.stop()
    rec.close()
    rec2.close()


def _run_child(db, url, n, reconnect_min=0.2):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen([sys.executable, str(CHILD), str(db), url, str(n), str(reconnect_min)],
                            stdout=subprocess.PIPE, text=True, env=env)


def _collect(proc, until=None, stop_after_s=None):
    """Read promised seqs from the child until a condition; returns (seqs, saw_done)."""
    seqs, done = [], False
    start = time.monotonic()
    for line in proc.stdout:
        line = line.strip()
        if line == "DONE":
            done = True
        elif line.startswith("DEPTH"):
            if until == "empty" and line == "DEPTH 0":
                break
        elif line:
            seqs.append(int(line))
        if stop_after_s is not None and time.monotonic() - start > stop_after_s:
            break
    return seqs, done


def test_device_killed_mid_burst_loses_nothing_promised(broker, tmp_path):
    rec = Recorder(broker.port, "motcua/v1/crash-site/dev/dev-1/evt/#")
    store = start_ingest(broker.url, tmp_path / "store.db", "crash-site")
    db = tmp_path / "outbox.db"
    child = _run_child(db, broker.url, 20_000)
    kill_at = random.uniform(0.5, 2.5)
    promised, done = _collect(child, stop_after_s=kill_at)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert promised, "the child promised nothing before it was killed"
    assert not done, "burst finished before the kill: make the kill earlier"
    # restart the device: it resends what was not acknowledged, and its seq continues
    child2 = _run_child(db, broker.url, 10)
    more, _ = _collect(child2, until="empty")
    child2.kill()
    child2.wait()
    assert min(more) > max(promised), "seq restarted after the crash"
    want = set(promised) | set(more)
    assert rec.wait_for(lambda m: want <= {json.loads(p)["seq"] for _, p, _ in m}, 30), \
        f"missing seqs: {sorted(want - {json.loads(p)['seq'] for _, p, _ in rec.messages})[:20]}"
    ids = {}
    for _, p, _ in rec.messages:  # each seq keeps one id, however often it was resent
        e = json.loads(p)
        assert ids.setdefault(e["seq"], e["id"]) == e["id"]
    stored = wait_stored(tmp_path / "store.db", "dev-1", len(want))
    # a kill between a commit and its print leaves a stored event the parent never heard of
    assert want <= set(stored), f"never stored: {sorted(want - set(stored))[:20]}"
    assert len(stored) == len(set(stored)), "an event was stored twice"
    store.stop()
    rec.close()


def test_broker_killed_mid_burst_loses_nothing_promised(broker, tmp_path):
    rec = Recorder(broker.port, "motcua/v1/crash-site/dev/dev-1/evt/#")
    rec.c.reconnect_delay_set(0.05, 0.1)
    store = start_ingest(broker.url, tmp_path / "store.db", "crash-site")
    db = tmp_path / "outbox.db"
    child = _run_child(db, broker.url, 20_000, reconnect_min=2.0)  # the subscriber is back first
    promised, _ = _collect(child, stop_after_s=random.uniform(0.5, 1.5))
    broker.kill()
    time.sleep(0.2)
    broker.start()
    rest, done = _collect(child, until="empty")
    child.kill()
    child.wait()
    assert done
    want = set(promised) | set(rest)
    assert want == set(range(1, 20_001))
    # the broker restarted empty: whatever it had acknowledged and lost, the device sent again, and
    # the outbox emptied only as the collector confirmed; the store is the promise. (The plain
    # subscriber has a clean session: what passed while it was reconnecting is not its to see.)
    stored = wait_stored(tmp_path / "store.db", "dev-1", 20_000)
    assert sorted(stored) == list(range(1, 20_001))
    ids: dict[int, str] = {}
    for _, p, _ in rec.messages:  # each seq kept one id, however often it was resent
        e = json.loads(p)
        assert ids.setdefault(e["seq"], e["id"]) == e["id"]
    assert len(ids) > 10_000, "the subscriber saw almost nothing of the burst"
    store.stop()
    rec.close()


def test_full_outbox_raises_a_fault_event_and_clears_it(broker, sqlite_path, site):
    broker.stop()
    ob = Outbox(sqlite_path, "s1", "rt-05", max_events=20)
    # a slow reconnect, so the recorder below is subscribed before the device is back
    c = DeviceClient("s1", "rt-05", "test", BrokerConfig(url=broker.url), outbox=ob,
                     telemetry_interval_s=0, reconnect_min_s=1.5, reconnect_max_s=1.5)
    c.start()
    for _ in range(20):
        ob.enqueue("rating", RATING)
    with pytest.raises(OutboxFull):
        ob.enqueue("rating", RATING)
    deadline = time.monotonic() + 5
    while ob.depth() < 21 and time.monotonic() < deadline:  # the fault uses the reserve
        time.sleep(0.05)
    assert ob.depth() == 21
    broker.start()
    rec = Recorder(broker.port, "motcua/v1/s1/dev/rt-05/evt/fault")
    assert rec.wait_for(lambda m: [json.loads(p)["data"]["active"] for _, p, _ in m] == [True, False], 20), \
        rec.messages
    first = json.loads(rec.messages[0][1])["data"]
    assert first["code"] == "outbox_full" and "đầy" in first["message_vi"] and "full" in first["message_en"]
    c.stop()
    rec.close()


def _rows_on_disk(path) -> int:
    import sqlite3
    c = sqlite3.connect(str(path))
    try:
        return c.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
    finally:
        c.close()


def test_commits_and_drainer_take_turns_without_reordering(broker, sqlite_path, site):
    """Commits hand their rows to paho themselves while paho holds few; past direct_limit the
    drainer sends from disk until it has caught up. Every seq arrives, first in order."""
    rec = Recorder(broker.port, "motcua/v1/s1/dev/rt-05/evt/#")
    ob, c = _device(broker, sqlite_path, inflight_window=8, direct_limit=20)
    rng = random.Random(7)
    sizes = [[rng.randint(1, 30) for _ in range(40)] for _ in range(4)]

    def produce(mine):
        for n in mine:
            if n == 1:
                ob.enqueue("rating", RATING)
            else:
                ob.enqueue_many([("rating", RATING)] * n)

    ths = [threading.Thread(target=produce, args=(s,)) for s in sizes]
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    total = sum(map(sum, sizes))
    assert c.flush(30) and c.wait_confirmed(30) and ob.depth() == 0
    assert rec.wait_for(lambda m: len(m) >= total, 20)
    seqs = [json.loads(p)["seq"] for _, p, _ in rec.messages]
    first_seen = list(dict.fromkeys(seqs))
    assert first_seen == list(range(1, total + 1))
    c.stop()
    ob.close()
    assert _rows_on_disk(sqlite_path) == 0  # confirmed rows left the disk
    rec.close()


def test_confirmed_rows_leave_with_the_next_commit_or_when_idle(broker, sqlite_path, site):
    ob, c = _device(broker, sqlite_path)
    ob.enqueue("rating", RATING)
    assert c.wait_confirmed(10) and ob.depth() == 0  # confirmed: depth counts only what the store lacks
    deadline = time.monotonic() + 5  # no commit follows: the drainer removes it after a moment
    while _rows_on_disk(sqlite_path) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _rows_on_disk(sqlite_path) == 0
    for _ in range(200):  # a steady producer: each commit removes what was acknowledged before it
        ob.enqueue("rating", RATING)
    assert _rows_on_disk(sqlite_path) < 200
    assert c.wait_confirmed(10)
    c.stop()
    assert _rows_on_disk(sqlite_path) == 0
    ob.close()


def test_a_failed_hand_over_leaves_the_rows_to_the_drainer(broker, sqlite_path, site):
    rec = Recorder(broker.port, "motcua/v1/s1/dev/rt-05/evt/#")
    ob, c = _device(broker, sqlite_path)
    real = c._mqtt.publish
    calls = []

    def flaky(*a, **kw):  # the first publish after a commit blows up inside paho
        calls.append(a[0])
        if len(calls) == 1:
            raise RuntimeError("paho broke")
        return real(*a, **kw)

    c._mqtt.publish = flaky
    ob.enqueue("rating", RATING)
    assert c.flush(10)  # nothing else comes to push it along: the drainer must send it
    for _ in range(4):
        ob.enqueue("rating", RATING)
    assert c.flush(10) and c.wait_confirmed(10)
    assert rec.wait_for(lambda m: len(m) >= 5, 10)
    assert list(dict.fromkeys(json.loads(p)["seq"] for _, p, _ in rec.messages)) == [1, 2, 3, 4, 5]
    c.stop()
    ob.close()
    ob.close()  # closing twice is harmless
    assert _rows_on_disk(sqlite_path) == 0
    rec.close()


def test_a_failed_reject_leaves_no_transaction_open(tmp_path):
    """reject() failing inside its transaction must roll it back, or every later BEGIN fails."""
    ob = Outbox(tmp_path / "o.db", site="s", device="d")
    first = ob.enqueue("rating", {"desk": 5, "score": 4, "scale": 5})
    ob._w.execute("DROP TABLE rejected")  # the INSERT into it fails after BEGIN
    with pytest.raises(OutboxStorageError):
        ob.reject(first.seq, "not authorised")
    assert not ob._w.in_transaction
    assert ob.enqueue("rating", {"desk": 5, "score": 3, "scale": 5}).seq == first.seq + 1
    assert ob.depth() == 2
    ob.close()
