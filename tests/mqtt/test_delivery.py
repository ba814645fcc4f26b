"""End to end: a device forgets an event only when the collector stored it (docs/protocol.md,
"Confirmed delivery"). Real Mosquitto (persistence on), real SQLite, the real collector ingest."""
from __future__ import annotations

import sqlite3
import time
from datetime import datetime, timezone
from pathlib import Path

from collector.store import Incoming, Store
from collector.db import open_db
from mqtt import topics
from mqtt.client import BrokerConfig, DeviceClient
from mqtt.outbox import Outbox
from mqtt.schemas import Telemetry
from tests.mqtt.site import start_ingest, stored_seqs, wait_stored
from tests.support.broker import Mosquitto

RATING = {"desk": 5, "score": 4, "scale": 5}


def _broker(tmp_path: Path, extra: str = "") -> Mosquitto:
    d = tmp_path / "broker"
    b = Mosquitto(d, extra_conf=f"persistence true\npersistence_location {d}/\nautosave_interval 60\n{extra}")
    return b.start()


def _device(url: str, path: Path, **kw: object) -> tuple[Outbox, DeviceClient]:
    ob = Outbox(path, "s1", "rt-05")
    c = DeviceClient("s1", "rt-05", "test", BrokerConfig(url=url), outbox=ob, telemetry_interval_s=0,
                     reconnect_min_s=0.1, reconnect_max_s=0.5, **kw)  # type: ignore[arg-type]
    c.start()
    assert c.wait_connected(10)
    return ob, c


def _session_then_offline(url: str, db: Path) -> None:
    """The collector's persistent session exists on the broker, then the collector goes away."""
    start_ingest(url, db, "s1").stop()


def test_pubacked_not_stored_survives_a_broker_killed_and_started_empty(tmp_path):
    b = _broker(tmp_path)
    db = tmp_path / "collector.db"
    _session_then_offline(b.url, db)
    ob, c = _device(b.url, tmp_path / "outbox.db")
    ob.enqueue_many([("rating", RATING)] * 500)
    assert c.flush(20)  # every event PUBACKed by the broker, none stored yet
    assert ob.depth() == 500  # the device still holds them all: PUBACK deletes nothing
    b.kill()
    for f in (tmp_path / "broker").glob("*.db"):  # started again empty
        f.unlink()
    b.start()
    ing = start_ingest(b.url, db, "s1")
    try:
        assert c.wait_confirmed(30), f"{ob.depth()} events never confirmed"
        assert stored_seqs(db, "rt-05") == list(range(1, 501))  # every one, once
    finally:
        c.stop()
        ing.stop()
        b.stop()


def test_collector_down_longer_than_the_broker_queue_allows_loses_nothing(tmp_path):
    b = _broker(tmp_path, "max_queued_messages 50")
    db = tmp_path / "collector.db"
    _session_then_offline(b.url, db)
    ob, c = _device(b.url, tmp_path / "outbox.db", confirm_timeout_s=1.0)
    ob.enqueue_many([("rating", RATING)] * 400)
    assert c.flush(20)
    time.sleep(0.5)
    ing = start_ingest(b.url, db, "s1")
    try:
        assert c.wait_confirmed(60), f"{ob.depth()} events never confirmed"
        assert stored_seqs(db, "rt-05") == list(range(1, 401))
    finally:
        c.stop()
        ing.stop()
        b.stop()


def test_a_confirmation_lost_on_the_wire_means_a_resend_stored_once(broker, tmp_path):
    db = tmp_path / "collector.db"
    ing = start_ingest(broker.url, db, "s1")
    real = ing.client.publish
    dropped: list[str] = []

    def lossy(topic: str, payload: object, **kw: object) -> object:
        if topic.endswith("/stored") and not dropped:  # the first confirmation never arrives
            dropped.append(topic)
            return None
        return real(topic, payload, **kw)  # type: ignore[arg-type]

    ing.client.publish = lossy  # type: ignore[method-assign]
    ob, c = _device(broker.url, tmp_path / "outbox.db", confirm_timeout_s=1.0)
    try:
        ob.enqueue_many([("rating", RATING)] * 10)
        assert c.wait_confirmed(30), f"{ob.depth()} events never confirmed"
        assert dropped, "no confirmation was dropped: the test proves nothing"
        assert stored_seqs(db, "rt-05") == list(range(1, 11))  # one copy each
        assert ing.stats.duplicates >= 1  # the resend reached the store and was recognised
    finally:
        c.stop()
        ing.stop()


def test_devices_keep_everything_while_no_collector_runs(broker, tmp_path):
    ob, c = _device(broker.url, tmp_path / "outbox.db", unconfirmed_limit=100)
    try:
        ob.enqueue_many([("rating", RATING)] * 300)
        time.sleep(1.0)
        assert ob.depth() == 300  # nothing forgotten
        assert c.sender is not None and c.sender.unconfirmed() == 100  # no more than the limit in the air
        ing = start_ingest(broker.url, tmp_path / "collector.db", "s1")
        ob.enqueue("rating", RATING)
        assert c.wait_confirmed(30)
        assert wait_stored(tmp_path / "collector.db", "rt-05", 301)[-1] == 301
        ing.stop()
    finally:
        c.stop()


def _telemetry(store: Store, first: int, last: int, held: int | None) -> None:
    tel = Telemetry(ts=datetime.now(timezone.utc), uptime_s=1, outbox_depth=0, clock_synced=True,
                    seq_first=first, seq_last=last, seq_oldest_held=held)
    store.write_batch([Incoming(topics.telemetry("s1", "rt-05"), tel.dumps(), False, datetime.now(timezone.utc))])


def test_the_collector_sees_lost_first_and_last_events(tmp_path):
    conn = open_db(tmp_path / "c.db")
    store = Store(conn)
    now = datetime.now(timezone.utc)
    from tests.collector.wire import rating
    batch = [Incoming(*rating(device="rt-05", seq=s, site="s1"), False, now) for s in range(4, 8)]
    res = store.write_batch(batch)
    assert res.confirm == {("s1", "rt-05"): [4, 5, 6, 7]}
    _telemetry(store, 1, 12, 11)  # it still holds 11 and 12: only 8..10 are lost at the tail
    gaps = [tuple(r) for r in conn.execute("SELECT from_seq, to_seq FROM seq_gaps ORDER BY from_seq")]
    assert gaps == [(1, 3), (8, 10)]
    store.write_batch([Incoming(*rating(device="rt-05", seq=9, site="s1"), False, now)])  # a late one fills
    gaps = [tuple(r) for r in conn.execute("SELECT from_seq, to_seq FROM seq_gaps ORDER BY from_seq")]
    assert gaps == [(1, 3), (8, 8), (10, 10)]
    _telemetry(store, 1, 12, 11)  # seen again: nothing new
    assert conn.execute("SELECT count(*) FROM seq_gaps").fetchone()[0] == 3
    conn.close()
    assert sqlite3.connect(tmp_path / "c.db").execute("SELECT count(*) FROM events").fetchone()[0] == 5


def test_resends_go_on_while_nobody_confirms_and_reach_a_collector_that_comes_later(broker, tmp_path):
    # no collector session exists: the broker drops the events; only a resend can bring them in
    ob, c = _device(broker.url, tmp_path / "outbox.db", confirm_timeout_s=0.3)
    try:
        ob.enqueue_many([("rating", RATING)] * 50)
        assert c.flush(10)
        time.sleep(2.0)  # several resends that nobody confirmed: the timeout has grown
        ing = start_ingest(broker.url, tmp_path / "collector.db", "s1")
        assert c.wait_confirmed(60), f"{ob.depth()} events never confirmed"
        assert stored_seqs(tmp_path / "collector.db", "rt-05") == list(range(1, 51))
        ing.stop()
    finally:
        c.stop()
