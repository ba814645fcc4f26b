"""Bench of the queue authority: call-next round trip over MQTT (p50/p99, target p99 <= 50 ms)
with 10,000 tickets waiting, the cost of one call-next in the Queue itself with 10,000 waiting,
the lease round trip, the online number round trip (a kiosk's tap: request ``number``, target
p99 <= 30 ms; compared with call-next measured in the same run), and 4 desks calling at once.

    .venv/bin/python bench/ticketing.py [--waiting 10000] [--calls 500]

Runs a private Mosquitto and `python -m ticketing` as a subprocess.
The last line is one JSON object.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common.clock import SystemClock  # noqa: E402
from mqtt.client import BrokerConfig, DeviceClient  # noqa: E402
from mqtt.schemas import Request, TicketData, uuid7  # noqa: E402
from tests.support.broker import Mosquitto  # noqa: E402
from ticketing.config import load_ticketing  # noqa: E402
from ticketing.queue import Queue  # noqa: E402

SITE_TOML = """\
site = "bench-hcc"
name_vi = "Trung tâm đo"
name_en = "Bench centre"
[[services]]
code = "HT"
name_vi = "Hộ tịch"
name_en = "Civil status"
range_start = 1
range_end = 99999
capacity = 99999
[[services]]
code = "DD"
name_vi = "Đất đai"
name_en = "Land"
prefix = "D"
range_start = 1
range_end = 99999
capacity = 99999
""" + "".join(f'[[desks]]\nnumber = {n}\nservices = ["HT", "DD"]\n' for n in range(1, 5))


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return round(s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))], 2)


def fill(q: Queue, n: int, start: int = 1) -> None:
    day, now = q.today(), SystemClock().now()
    for i in range(start, start + n):
        svc = "HT" if i % 2 else "DD"
        q.add_issued(TicketData(action="issued", ticket=str(i), number=i, day=day, service=svc,
                                priority="elderly" if i % 97 == 0 else None, kiosk="kiosk-1", issued_at=now))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--waiting", type=int, default=10_000)
    ap.add_argument("--calls", type=int, default=500)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-ticketing-"))
    broker = Mosquitto(tmp / "mosquitto").start()
    (tmp / "site.toml").write_text(SITE_TOML, encoding="utf-8")
    cfgp = tmp / "ticketing.toml"
    cfgp.write_text(f'db = "{tmp / "t.db"}"\n[mqtt]\nurl = "{broker.url}"\n', encoding="utf-8")
    cfg, site = load_ticketing(cfgp)

    # 1. the Queue alone: one call-next with few vs many waiting
    qsmall = Queue(tmp / "small.db", site)
    fill(qsmall, 50)
    small = []
    for i in range(40):
        t = time.perf_counter()
        qsmall.handle("call-next", Request(id=f"s{i}", device="rt-01", desk=1 + i % 4))
        small.append((time.perf_counter() - t) * 1000)
    qsmall.close()
    q = Queue(cfg.db, site)
    t0 = time.perf_counter()
    fill(q, args.waiting + args.calls + 400)
    fill_per_s = (args.waiting + args.calls + 400) / (time.perf_counter() - t0)
    big = []
    for i in range(200):
        t = time.perf_counter()
        q.handle("call-next", Request(id=f"b{i}", device="rt-01", desk=1 + i % 4))
        big.append((time.perf_counter() - t) * 1000)
    waiting_left = sum(q.service_state(s.code).waiting for s in site.services)
    q.close()
    print(f"queue call-next, 50 waiting:     p50 {pct(small, 50)} ms  p99 {pct(small, 99)} ms")
    print(f"queue call-next, {waiting_left} waiting: p50 {pct(big, 50)} ms  p99 {pct(big, 99)} ms")
    print(f"queue add issued: {fill_per_s:.0f} tickets/s")

    # 2. over MQTT, ticketing as its own process
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MOTCUA_LOG": "WARNING"}
    proc = subprocess.Popen([sys.executable, "-m", "ticketing", "--config", str(cfgp)], cwd=ROOT, env=env)
    try:
        desks = [(DeviceClient("bench-hcc", f"rt-{n:02d}", "rating-terminal", BrokerConfig(url=broker.url),
                                       desk=n, telemetry_interval_s=0)) for n in range(1, 5)]
        kiosk = (DeviceClient("bench-hcc", "kiosk-1", "kiosk", BrokerConfig(url=broker.url),
                                      telemetry_interval_s=0))
        for c in [*desks, kiosk]:
            c.start()
            c.wait_connected(10)
        deadline = time.monotonic() + 20
        while True:  # wait until ticketing answers
            try:
                desks[0].request("call-next", Request(id=uuid7(), device="rt-01", desk=1), 1.0)
                break
            except Exception:  # noqa: BLE001
                if time.monotonic() > deadline:
                    raise
        rtt = []
        for i in range(args.calls):
            t = time.perf_counter()
            r = desks[0].request("call-next", Request(id=uuid7(), device="rt-01", desk=1), 5)
            rtt.append((time.perf_counter() - t) * 1000)
            assert r.ok, r
        lease = []
        for i in range(200):
            t = time.perf_counter()
            # 1 number each: one kiosk may hold at most lease_held_max (300) unissued numbers
            r = kiosk.request("lease", Request(id=uuid7(), device="kiosk-1", service="HT", count=1), 5)
            lease.append((time.perf_counter() - t) * 1000)
            assert r.ok, r
        online = []
        for i in range(args.calls):
            t = time.perf_counter()
            r = kiosk.request("number", Request(id=uuid7(), device="kiosk-1", service="DD", ts=kiosk.clock.now()),
                              5, expiry_s=1)
            online.append((time.perf_counter() - t) * 1000)
            assert r.ok and r.lease is not None and r.lease.start == r.lease.end, r
        done = [0]
        lock = threading.Lock()

        def work(c: DeviceClient, n: int) -> None:
            for _ in range(100):
                c.request("call-next", Request(id=uuid7(), device=c.device, desk=n), 5)
                with lock:
                    done[0] += 1

        t = time.perf_counter()
        ths = [threading.Thread(target=work, args=(c, i + 1)) for i, c in enumerate(desks)]
        for th in ths:
            th.start()
        for th in ths:
            th.join()
        par_per_s = done[0] / (time.perf_counter() - t)
        for c in [*desks, kiosk]:
            c.stop()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
        broker.stop()
    print(f"call-next round trip over MQTT ({args.calls}, ~{args.waiting} waiting): "
          f"p50 {pct(rtt, 50)} ms  p99 {pct(rtt, 99)} ms  max {max(rtt):.1f} ms")
    print(f"lease round trip (200): p50 {pct(lease, 50)} ms  p99 {pct(lease, 99)} ms")
    print(f"online number round trip ({args.calls}): p50 {pct(online, 50)} ms  p99 {pct(online, 99)} ms "
          f"(target <= 30 ms; {pct(online, 99) / max(pct(rtt, 99), 0.01):.2f}x call-next p99 of this run)")
    print(f"4 desks calling at once: {par_per_s:.0f} calls/s")
    print(json.dumps({
        "online_number_p50_ms": pct(online, 50), "online_number_p99_ms": pct(online, 99),
        "online_number_vs_call_next_p99_ratio": round(pct(online, 99) / max(pct(rtt, 99), 0.01), 2),
        "call_next_rtt_p50_ms": pct(rtt, 50), "call_next_rtt_p99_ms": pct(rtt, 99),
        "call_next_rtt_max_ms": round(max(rtt), 2),
        "lease_rtt_p50_ms": pct(lease, 50), "lease_rtt_p99_ms": pct(lease, 99),
        "queue_call_next_10k_waiting_p50_ms": pct(big, 50), "queue_call_next_10k_waiting_p99_ms": pct(big, 99),
        "queue_call_next_50_waiting_p50_ms": pct(small, 50),
        "call_next_4_desks_per_s": round(par_per_s, 1), "add_issued_per_s": round(fill_per_s, 1),
        "bench_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
