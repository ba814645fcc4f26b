"""A real Mosquitto, a real collector process, a real SQLite file."""
from __future__ import annotations

import base64
import json
import sqlite3
import threading
import time

import httpx

from collector import auth
from collector.db import open_db
from mqtt import topics
from tests.collector.wire import SITE, CollectorProcess, Publisher, envelope, event, rating


def token_for(db) -> dict[str, str]:
    conn = open_db(db)
    tok = auth.create_token(conn, "test")
    conn.close()
    return {"Authorization": f"Bearer {tok}"}


def count(db, sql: str) -> int:
    with sqlite3.connect(db) as c:
        return c.execute(sql).fetchone()[0]


def test_duplicates_are_stored_once(collector, publisher):
    t, p = rating(desk=2, seq=1)
    for _ in range(3):
        publisher.send(t, p)
    others = [rating(desk=2, seq=s) for s in range(2, 12)]
    publisher.send_many(others + others)
    assert collector.wait_stored("events", 11) == 11
    time.sleep(0.3)
    assert count(collector.db, "SELECT count(*) FROM events") == 11
    assert count(collector.db, "SELECT count(*) FROM ratings") == 11
    assert collector.health()["ingest"]["duplicates"] == 12


def malformed() -> list[tuple[str, bytes, str]]:
    rt = topics.event(SITE, "rt-09", "rating")
    good = envelope("rating", {"desk": 9, "score": 4, "scale": 5}, device="rt-09")

    def variant(**change) -> bytes:
        env = dict(good, **change)
        return json.dumps({k: v for k, v in env.items() if v is not ...}).encode()

    fault = {"code": "printer_paper_out", "active": True, "message_vi": "Hết giấy", "message_en": "Out of paper"}
    return [
        (rt, b"{not json", "not_json"),
        (rt, b"\xff\xfe\xfa binary", "not_utf8"),
        (rt, b'{"pad": "' + b"x" * (70 * 1024) + b'"}', "too_large"),
        (rt, b"[1, 2, 3]", "not_object"),
        (rt, variant(seq=...), "missing_field"),
        (rt, variant(v=2), "bad_version"),
        (rt, variant(type="coffee"), "unknown_type"),
        (rt, variant(ts="2026-11-23T09:15:02"), "bad_field"),
        (rt, variant(data={"desk": 9, "score": 9, "scale": 5}), "bad_data"),
        (rt, variant(site="other-site"), "site_mismatch"),
        (rt, variant(device="rt-10"), "device_mismatch"),
        (rt, variant(type="fault", data=fault), "type_mismatch"),
        (f"motcua/v1/{SITE}/dev/rt-09/evt/coffee", variant(), "bad_topic"),
        (f"motcua/v1/{SITE}/nonsense/here", b"{}", "bad_topic"),
        (topics.status(SITE, "rt-09"), b'{"state": "sleepy"}', "missing_field"),
        (topics.telemetry(SITE, "rt-09"), b'{"v": 1, "ts": "yesterday", "uptime_s": 1, "outbox_depth": 0, '
                                          b'"clock_synced": true}', "bad_field"),
    ]


def test_every_malformed_kind_lands_in_dead_letters_while_valid_traffic_flows(collector, publisher):
    bad = malformed()
    msgs = []
    for i, (t, p, _) in enumerate(bad):
        msgs.append(rating(desk=1, seq=i + 1, device="rt-01"))
        msgs.append((t, p))
    publisher.send_many(msgs)
    assert collector.wait_stored("dead_letters", len(bad)) == len(bad)
    assert collector.wait_stored("ratings", len(bad)) == len(bad)
    h = token_for(collector.db)
    got = httpx.get(f"{collector.url}/api/dead-letters?limit=100", headers=h).json()
    assert got["total"] == len(bad)
    items = sorted(got["items"], key=lambda x: x["id"])
    assert [(i["topic"], i["reason"]) for i in items] == [(t, r) for t, _, r in bad]
    for item, (t, p, r) in zip(items, bad):
        assert item["message"].startswith(r) and item["received_at"][-6:] == "+07:00"
        raw = base64.b64decode(item["payload"]) if item["payload_encoding"] == "base64" else item["payload"].encode()
        assert raw == p
    assert items[1]["payload_encoding"] == "base64"
    # and the collector is still taking traffic
    publisher.send(*rating(desk=1, seq=100, device="rt-01"))
    assert collector.wait_stored("ratings", len(bad) + 1) == len(bad) + 1
    assert collector.health()["status"] == "ok"


def test_seq_gap_is_reported_with_the_missing_range(collector, publisher):
    publisher.send_many([rating(desk=7, seq=s, device="rt-07") for s in (1, 2, 3, 7, 8, 12)])
    assert collector.wait_stored("events", 6) == 6
    h = token_for(collector.db)
    devices = {d["device"]: d for d in httpx.get(f"{collector.url}/api/devices", headers=h).json()["items"]}
    assert devices["rt-07"]["seq_gaps"] == [{"from": 4, "to": 6}, {"from": 9, "to": 11}]
    assert devices["rt-07"]["missing"] == 6
    publisher.send(*rating(desk=7, seq=5, device="rt-07"))  # a late arrival narrows the gap
    assert collector.wait_stored("events", 7) == 7
    time.sleep(0.2)
    devices = {d["device"]: d for d in httpx.get(f"{collector.url}/api/devices", headers=h).json()["items"]}
    assert devices["rt-07"]["seq_gaps"] == [{"from": 4, "to": 4}, {"from": 6, "to": 6}, {"from": 9, "to": 11}]


def test_sigkill_mid_burst_loses_nothing_devices_resend(broker, tmp_path):
    db = tmp_path / "collector.db"
    col = CollectorProcess(broker.url, db, client_id="collector-crash-test").start()
    devices = ("rt-01", "rt-02", "cam-01")
    per_device = 1500
    bursts = {d: [event("rating", {"desk": i + 1, "score": 3, "scale": 5}, device=d, seq=s)
                  for s in range(1, per_device + 1)] for i, d in enumerate(devices)}
    total = per_device * len(devices)
    pubs = [Publisher(broker.port) for _ in devices]

    def burst(pub: Publisher, msgs) -> None:
        for k in range(0, len(msgs), 50):
            pub.send_many(msgs[k:k + 50])
            time.sleep(0.01)

    threads = [threading.Thread(target=burst, args=(p, bursts[d])) for p, d in zip(pubs, devices)]
    for t in threads:
        t.start()
    assert col.wait_stored("events", 300, timeout=30) >= 300
    col.kill()
    stored_at_kill = count(db, "SELECT count(*) FROM events")
    assert stored_at_kill < total, "the burst ended before the kill; make it longer"
    for t in threads:
        t.join(60)
    # the devices' outboxes resend what they are unsure about: the same ids again
    for p, d in zip(pubs, devices):
        p.send_many(bursts[d][:200])
    col = CollectorProcess(broker.url, db, client_id="collector-crash-test").start()
    try:
        assert col.wait_stored("events", total, timeout=60) == total
        time.sleep(0.5)
        assert count(db, "SELECT count(*) FROM events") == total
        assert count(db, "SELECT count(DISTINCT id) FROM ratings") == total
        assert count(db, "SELECT count(*) FROM seq_gaps") == 0
    finally:
        col.stop()
        for p in pubs:
            p.close()
