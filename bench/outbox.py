"""Outbox benchmark, one run against a private Mosquitto.

(a) enqueue latency p50/p99 (durable on return), while the client drains;
(b) enqueue-to-PUBACK throughput of the outbox versus a bare paho QoS 1 publisher of the same
    payloads with the same in-flight window, as a ratio. The producer hands its events over in
    bursts of 100 (``enqueue_many``: one durable commit per burst, which is what the outbox
    offers for throughput). Bare paho and the outbox alternate over --rounds paired rounds
    because bare paho alone moves by 2x run to run on a shared machine; the figure is the
    median of the per-round ratios.
    Two more shapes, in the same run: one thread enqueueing single events (each call waits for
    its own fsync, so one durable SQLite commit, measured here, is the limit) and --producers
    threads enqueueing single events (group commit: events per commit is printed);
(c) drain rate of a 100,000-event backlog after the broker comes back, until the collector
    confirmed the last one;
(d) RSS of this process.

A real collector (``python -m collector``, its own process) stores and confirms every event, as
on a site: a device holds an event until the collector confirmed it, and at most
``unconfirmed_limit`` (1,000) are sent and unconfirmed. Besides enqueue-to-PUBACK (what the broker
acknowledged), enqueue-to-confirmed is printed (what the collector stored and said so).

    .venv/bin/python bench/outbox.py [--events 20000] [--backlog 100000] [--producers 8] [--rounds 3]

The last line is one JSON object.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time

from _util import ROOT, pct, rss_mb  # noqa: I001  (puts the repo on sys.path)

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from mqtt.client import BrokerConfig, DeviceClient
from mqtt.outbox import Outbox
from common.mosquitto import Mosquitto, free_port

RATING = {"desk": 5, "score": 4, "scale": 5, "ticket": "1023", "service": "HT", "officer": "nv-0142"}
WINDOW = 100


def bare_paho(port: int, payloads: list[tuple[str, bytes]]) -> float:
    """events/s from first publish to last PUBACK for a bare paho QoS 1 publisher."""
    done = threading.Event()
    acked = [0]
    c = paho.Client(CallbackAPIVersion.VERSION2, client_id="bare", protocol=paho.MQTTv5)
    c.max_inflight_messages_set(WINDOW)
    c.max_queued_messages_set(0)

    def on_publish(*_a):  # noqa: ANN001
        acked[0] += 1
        if acked[0] == len(payloads):
            done.set()

    c.on_publish = on_publish
    c.connect("127.0.0.1", port)
    c.loop_start()
    time.sleep(0.2)
    t0 = time.perf_counter()
    for topic, p in payloads:
        c.publish(topic, p, qos=1)
    done.wait(120)
    dt = time.perf_counter() - t0
    c.disconnect()
    c.loop_stop()
    return len(payloads) / dt


def commit_latency_s(path: str, n: int = 300) -> float:
    """Median time of one durable SQLite commit here (WAL, synchronous=FULL, one small row): the
    physical limit of a durable enqueue. With P producers of single events, group commit can at
    best store P events per commit."""
    import sqlite3
    c = sqlite3.connect(path, isolation_level=None)
    c.execute("PRAGMA journal_mode=WAL")
    c.execute("PRAGMA synchronous=FULL")
    c.execute("CREATE TABLE t (x TEXT)")
    lat = []
    for _ in range(n):
        t = time.perf_counter()
        c.execute("BEGIN IMMEDIATE")
        c.execute("INSERT INTO t VALUES ('x')")
        c.execute("COMMIT")
        lat.append(time.perf_counter() - t)
    c.close()
    return pct(lat, 50)


class CommitCounter:
    """Counts commits while the producers run (wraps Outbox._write for the bench only)."""

    def __init__(self, ob: Outbox):
        self.ob, self.commits, self.events = ob, 0, 0
        orig = ob._write

        def counted(batch):  # noqa: ANN001
            self.commits += 1
            self.events += len(batch)
            return orig(batch)

        ob._write = counted  # type: ignore[method-assign]

    def stop(self) -> float:
        del self.ob._write
        return self.events / max(1, self.commits)


def start_collector(url: str, tmp: str, site: str) -> subprocess.Popen[bytes]:
    """The real collector, its own process, storing and confirming."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("NOTIFY_SOCKET", None)
    return subprocess.Popen([sys.executable, "-m", "collector", "--broker", url, "--db", f"{tmp}/collector.db",
                             "--http", f"127.0.0.1:{free_port()}", "--site", site, "--client-id", "bench-collector"],
                            cwd=ROOT, env=env, stdout=open(f"{tmp}/collector.log", "ab"), stderr=subprocess.STDOUT)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=20_000)
    ap.add_argument("--backlog", type=int, default=100_000)
    ap.add_argument("--producers", type=int, default=8, help="threads enqueueing at once (group commit)")
    ap.add_argument("--rounds", type=int, default=3, help="paired rounds of bare paho and the outbox")
    ap.add_argument("--latency-samples", type=int, default=3000)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="bench-outbox-")
    broker = Mosquitto(f"{tmp}/broker").start()
    collector = start_collector(broker.url, tmp, "bench")
    time.sleep(3)
    ob = Outbox(f"{tmp}/outbox.db", "bench", "dev-1")
    client = DeviceClient("bench", "dev-1", "bench", BrokerConfig(url=broker.url), outbox=ob,
                          telemetry_interval_s=0, inflight_window=WINDOW, reconnect_min_s=0.1, reconnect_max_s=0.2)
    client.start()
    client.wait_connected(10)

    # (a) latency of one durable enqueue, one producer, drain running
    lat = []
    for _ in range(args.latency_samples):
        t = time.perf_counter()
        ob.enqueue("rating", RATING)
        lat.append((time.perf_counter() - t) * 1000)
    client.wait_confirmed(60)
    print(f"enqueue latency (durable, fsync per call): p50 {pct(lat, 50):.2f} ms, p99 {pct(lat, 99):.2f} ms")

    commit_s = commit_latency_s(f"{tmp}/commit-probe.db")
    print(f"one durable SQLite commit on this disk: {commit_s * 1000:.2f} ms (median)")

    # (b) throughput: events handed over; time until the last PUBACK removed the last one
    n = args.events // 100 * 100
    sample = ob.enqueue("rating", RATING)
    client.wait_confirmed(10)
    payloads = [(sample.topic.replace("dev-1", "bare-1"), sample.payload)] * n
    burst = [("rating", RATING)] * 100
    bare_runs, burst_runs, confirmed_runs = [], [], []
    for _ in range(args.rounds):
        bare_runs.append(bare_paho(broker.port, payloads))
        client.wait_confirmed(60)
        t0 = time.perf_counter()
        for _ in range(n // 100):
            ob.enqueue_many(burst)
        client.flush(120)
        burst_runs.append(n / (time.perf_counter() - t0))
        client.wait_confirmed(120)
        confirmed_runs.append(n / (time.perf_counter() - t0))
    ratios = [o / b for o, b in zip(burst_runs, bare_runs)]
    ratio = statistics.median(ratios)
    print(f"enqueue-to-PUBACK, one producer of bursts of 100 vs bare paho QoS 1, {args.rounds} paired rounds: "
          + ", ".join(f"{o:,.0f} vs {b:,.0f}" for o, b in zip(burst_runs, bare_runs))
          + f" ev/s; ratios {', '.join(f'{r:.2f}' for r in ratios)}; median {ratio:.2f}")
    confirmed_ratio = statistics.median(c / b for c, b in zip(confirmed_runs, bare_runs))
    print(f"enqueue-to-confirmed (stored by the collector): {', '.join(f'{c:,.0f}' for c in confirmed_runs)} ev/s; "
          f"median ratio to bare paho's PUBACK {confirmed_ratio:.2f}")

    # single events from one thread: every call waits for its own commit
    t0 = time.perf_counter()
    client.wait_confirmed(60)
    for _ in range(min(n, 5000)):
        ob.enqueue("rating", RATING)
    client.flush(120)
    one_rate = min(n, 5000) / (time.perf_counter() - t0)
    print(f"one thread of single events: {one_rate:,.0f} ev/s; one commit per event allows "
          f"{1 / commit_s:,.0f} ev/s ({one_rate * commit_s:.2f} of it)")

    # single events from several threads: group commit shares the fsync; each caller still
    # blocks until its commit and is woken after it
    per = n // args.producers
    client.wait_confirmed(60)
    t0 = time.perf_counter()
    sizes = CommitCounter(ob)

    def produce() -> None:
        for _ in range(per):
            ob.enqueue("rating", RATING)

    ths = [threading.Thread(target=produce) for _ in range(args.producers)]
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    client.flush(120)
    outbox_rate = per * args.producers / (time.perf_counter() - t0)
    per_commit = sizes.stop()
    print(f"{args.producers} threads of single events: {outbox_rate:,.0f} ev/s, {per_commit:.1f} events per commit "
          f"({outbox_rate / statistics.median(bare_runs):.2f} of bare paho; a commit each would allow "
          f"{1 / commit_s:,.0f} ev/s)")

    # (c) backlog drain: broker down, backlog builds on disk, broker back
    client.wait_confirmed(60)
    broker.stop()
    time.sleep(0.3)
    chunk = [("rating", RATING)] * 1000
    for _ in range(args.backlog // 1000):
        ob.enqueue_many(chunk)
    depth = ob.depth()
    t0 = time.perf_counter()
    broker.start()
    client.wait_confirmed(600)
    drain = depth / (time.perf_counter() - t0)
    print(f"backlog of {depth:,} drained and confirmed at {drain:,.0f} ev/s after the broker came back "
          "(incl. reconnect)")
    rss = rss_mb()
    print(f"RSS {rss:.1f} MB")
    client.stop()
    collector.terminate()
    collector.wait(10)
    broker.stop()
    print(json.dumps({
        "enqueue_p50_ms": round(pct(lat, 50), 3), "enqueue_p99_ms": round(pct(lat, 99), 3),
        "outbox_per_s": round(statistics.median(burst_runs)), "bare_paho_per_s": round(statistics.median(bare_runs)),
        "throughput_ratio": round(ratio, 3), "throughput_ratio_min": round(min(ratios), 3),
        "throughput_ratio_max": round(max(ratios), 3),
        "confirmed_per_s": round(statistics.median(confirmed_runs)), "confirmed_ratio": round(confirmed_ratio, 3),
        "single_one_thread_per_s": round(one_rate), "commit_ms": round(commit_s * 1000, 3),
        "single_one_thread_vs_commit_ratio": round(one_rate * commit_s, 3),
        "single_threads_per_s": round(outbox_rate), "events_per_commit": round(per_commit, 2),
        "single_threads_vs_bare_ratio": round(outbox_rate / statistics.median(bare_runs), 3),
        "drain_per_s": round(drain), "backlog_events": depth, "rss_mb": round(rss, 1),
    }))


if __name__ == "__main__":
    main()
