"""Bench of the collector against a private Mosquitto, in one run (about 2 minutes):

1. throughput: events/s persisted by the collector vs events/s received by a bare paho subscriber
   on the same stream (target ratio >= 0.8);
   plus the rate at which a restarted collector drains a backlog the broker queued for it;
2. event-to-browser latency: publish a rating, time until headless Chromium rendered it (p95 <= 1 s);
3. ``GET /api/ratings`` p95 with 1,000,000 stored ratings, a mix of filters (target <= 50 ms);
4. the collector's RSS.

    .venv/bin/python bench/collector.py [--events 20000] [--ratings 1000000]

The last line is one JSON object.
"""
from __future__ import annotations

import argparse
import json
import random
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import paho.mqtt.client as paho  # noqa: E402
import psutil  # noqa: E402
from paho.mqtt.enums import CallbackAPIVersion  # noqa: E402

from collector import auth  # noqa: E402
from collector.db import open_db  # noqa: E402
from mqtt import topics  # noqa: E402
from tests.collector.wire import SITE, CollectorProcess, Publisher, rating  # noqa: E402
from tests.support.broker import Mosquitto  # noqa: E402

VN = timezone(timedelta(hours=7))


def p95(xs: list[float]) -> float:
    return statistics.quantiles(xs, n=20)[18] if len(xs) >= 2 else xs[0]


def fill_ratings(db: Path, n: int) -> float:
    """n ratings over the last 365 days, 20 desks, 60 officers, 6 services: one executemany."""
    t0 = time.perf_counter()
    rnd = random.Random(1)
    services = ["HT", "DD", "KD", "XD", "TP", "LD"]
    end = datetime.now(VN).timestamp() - 86400
    start = end - 365 * 86400
    rows = []
    for i in range(n):
        ep = start + (end - start) * i / n
        ts = datetime.fromtimestamp(ep, VN)
        desk = rnd.randint(1, 20)
        rows.append((str(uuid.UUID(int=rnd.getrandbits(128))), SITE, f"rt-{desk:02d}", desk, rnd.randint(1, 5), 5,
                     str(1000 + i % 900), services[desk % 6], f"nv-{rnd.randint(1, 60):04d}", 0, None,
                     ts.date().isoformat(), ts.isoformat(timespec="milliseconds"), ep))
    conn = open_db(db)
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO ratings (id, site, device, desk, score, scale, ticket, service, officer, misuse, "
                     "misuse_reason, day, ts, ts_epoch) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    conn.execute("COMMIT")
    conn.close()
    return time.perf_counter() - t0


class BareSubscriber:
    def __init__(self, port: int):
        self.n = 0
        self.last = 0.0
        self.c = paho.Client(CallbackAPIVersion.VERSION2, client_id="bench-bare", protocol=paho.MQTTv5)
        self.c.on_message = self._on_message
        ready = threading.Event()
        self.c.on_subscribe = lambda *a: ready.set()
        self.c.connect("127.0.0.1", port)
        self.c.subscribe(topics.events_filter(SITE), qos=1)
        self.c.loop_start()
        ready.wait(10)

    def _on_message(self, *_a: object) -> None:
        self.n += 1
        self.last = time.perf_counter()

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


def throughput(broker: Mosquitto, col: CollectorProcess, n: int, publishers: int = 4) -> dict[str, float]:
    conn = sqlite3.connect(col.db)
    base = conn.execute("SELECT count(*) FROM events").fetchone()[0]
    bare = BareSubscriber(broker.port)
    per = n // publishers
    batches = [[rating(desk=1 + d, seq=s, device=f"bench-{d}") for s in range(1, per + 1)] for d in range(publishers)]
    pubs = [Publisher(broker.port) for _ in range(publishers)]
    t0 = time.perf_counter()
    threads = [threading.Thread(target=p.send_many, args=(b,)) for p, b in zip(pubs, batches)]
    for t in threads:
        t.start()
    total = per * publishers
    stored_at = None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        got = conn.execute("SELECT count(*) FROM events").fetchone()[0] - base
        if got >= total and stored_at is None:
            stored_at = time.perf_counter()
        if stored_at is not None and bare.n >= total:
            break
        time.sleep(0.01)
    for t in threads:
        t.join()
    publish_s = time.perf_counter() - t0
    for p in pubs:
        p.close()
    bare.close()
    conn.close()
    if stored_at is None:
        raise RuntimeError("the collector did not store every event within 120 s")
    bare_rate = bare.n / (bare.last - t0)
    col_rate = total / (stored_at - t0)
    return {"events": total, "bare_rate_per_s": round(bare_rate), "persist_rate_per_s": round(col_rate),
            "persist_vs_bare_ratio": round(col_rate / bare_rate, 3), "publish_s": round(publish_s, 2)}


def backlog_drain(broker: Mosquitto, col: CollectorProcess, n: int) -> float:
    """Stop the collector (the broker keeps its session), publish n events, start it again: the rate at
    which it stores the backlog is its own ceiling, not the publishers'."""
    conn = sqlite3.connect(col.db)
    base = conn.execute("SELECT count(*) FROM events").fetchone()[0]
    col.stop()
    pub = Publisher(broker.port)
    pub.send_many([rating(desk=9, seq=s, device="bench-backlog") for s in range(1, n + 1)])
    pub.close()
    t0 = time.perf_counter()
    col.start(60)
    while conn.execute("SELECT count(*) FROM events").fetchone()[0] - base < n:
        if time.perf_counter() - t0 > 120:
            raise RuntimeError("backlog not drained within 120 s")
        time.sleep(0.01)
    conn.close()
    return n / (time.perf_counter() - t0)


def browser_latency(col: CollectorProcess, broker: Mosquitto, samples: int) -> list[float]:
    from playwright.sync_api import sync_playwright
    conn = open_db(col.db)
    auth.add_user(conn, "bench", "bench-password")
    conn.close()
    pub = Publisher(broker.port)
    lat: list[float] = []
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                              args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                                    "--disable-component-update"])
        page = b.new_page()
        page.goto(col.url + "/login")
        page.fill("#user", "bench")
        page.fill("#password", "bench-password")
        page.click("#login")
        page.wait_for_selector("#live.on")
        for k in range(samples):
            before = page.evaluate("window.motcuaRenders[window.motcuaRenders.length - 1].ratings_today")
            t0 = time.time() * 1000
            pub.send(*rating(desk=3, seq=10_000 + k, device="bench-lat"))
            end = time.monotonic() + 5
            while time.monotonic() < end:
                hit = page.evaluate("(n) => { const r = window.motcuaRenders.find(x => x.ratings_today > n);"
                                    " return r ? r.t : null; }", before)
                if hit is not None:
                    lat.append(hit - t0)
                    break
                time.sleep(0.01)
            time.sleep(0.15)
        b.close()
    pub.close()
    return lat


def api_ratings(col: CollectorProcess, token: str, rounds: int) -> tuple[list[float], dict[str, float]]:
    today = datetime.now(VN).date()
    queries = {
        "all": "", "desk": "desk=7", "officer": "officer=nv-0042", "service_month":
        f"service=HT&from={today - timedelta(days=60)}&to={today - timedelta(days=31)}",
        "day": f"from={today - timedelta(days=10)}&to={today - timedelta(days=10)}",
        "desk_officer_page": "desk=3&officer=nv-0011&limit=50&offset=50",
        "deep_page": "limit=100&offset=5000",
    }
    h = {"Authorization": f"Bearer {token}"}
    per: dict[str, list[float]] = {k: [] for k in queries}
    with httpx.Client(base_url=col.url, headers=h, timeout=30) as c:
        for q in queries.values():
            c.get(f"/api/ratings?{q}")  # warm the page cache once per query
        for _ in range(rounds):
            for name, q in queries.items():
                t0 = time.perf_counter()
                r = c.get(f"/api/ratings?{q}")
                per[name].append((time.perf_counter() - t0) * 1000)
                r.raise_for_status()
    all_ms = [x for xs in per.values() for x in xs]
    return all_ms, {k: round(p95(v), 1) for k, v in per.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=20000)
    ap.add_argument("--ratings", type=int, default=1_000_000)
    ap.add_argument("--latency-samples", type=int, default=40)
    ap.add_argument("--api-rounds", type=int, default=30)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="motcua-bench-") as tmp:
        d = Path(tmp)
        fill_s = fill_ratings(d / "collector.db", args.ratings)
        print(f"filled {args.ratings} ratings in {fill_s:.1f} s")
        broker = Mosquitto(d / "mosquitto").start()
        col = CollectorProcess(broker.url, d / "collector.db", client_id="bench-collector").start(60)
        try:
            tp = throughput(broker, col, args.events)
            print(f"throughput: {tp}")
            drain = backlog_drain(broker, col, args.events)
            print(f"backlog drain after a restart (incl. start-up): {drain:.0f} events/s")
            lat = browser_latency(col, broker, args.latency_samples)
            print(f"event-to-browser: n={len(lat)} p50={statistics.median(lat):.0f} ms p95={p95(lat):.0f} ms "
                  f"max={max(lat):.0f} ms")
            conn = open_db(col.db)
            token = auth.create_token(conn, "bench")
            conn.close()
            api_ms, per_query = api_ratings(col, token, args.api_rounds)
            print(f"/api/ratings with {args.ratings} ratings: p50={statistics.median(api_ms):.1f} ms "
                  f"p95={p95(api_ms):.1f} ms; per query p95: {per_query}")
            rss = psutil.Process(col.proc.pid).memory_info().rss / 1e6  # type: ignore[union-attr]
            print(f"collector RSS: {rss:.1f} MB")
        finally:
            col.stop()
            broker.stop()
    result = {**tp, "backlog_drain_per_s": round(drain), "event_to_browser_p50_ms": round(statistics.median(lat), 1),
              "event_to_browser_p95_ms": round(p95(lat), 1), "latency_samples": len(lat),
              "api_ratings_p95_ms": round(p95(api_ms), 1), "api_ratings_p50_ms": round(statistics.median(api_ms), 1),
              "stored_ratings": args.ratings, "fill_1m_s": round(fill_s, 1), "rss_mb": round(rss, 1)}
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
