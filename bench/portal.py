"""Portal bench: N open ticket pages (real SSE connections to a `python -m portal` process), the
time from a desk's call to the update reaching every page (p95), page weight, portal RSS. The
peer in the same run: the same call's retained state reaching a plain MQTT subscriber (the wire's
own latency, a lower bound for any page). Also the busy hours: the collector's summary
(collector/busy_hours.compute) over a store seeded with 8 weeks of tickets, published retained as
the collector does, and the weight of the site page that draws it. Last line: one JSON object.

    .venv/bin/python bench/portal.py [--pages 300] [--calls 10]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from _util import ROOT, pct, rss_mb  # noqa: I001  (puts the repo on sys.path)

import httpx  # noqa: E402

from common.mosquitto import Mosquitto, free_port  # noqa: E402
from common.ticket_token import make_token  # noqa: E402
from mqtt import topics  # noqa: E402
from mqtt.client import BrokerConfig, DeviceClient  # noqa: E402
from mqtt.outbox import Outbox  # noqa: E402
from mqtt.schemas import Request, TicketData, uuid7  # noqa: E402

BUSY_WEEKS, BUSY_PER_DAY = 8, 300  # tickets a day, Monday to Saturday, 07:00-17:00

SITE = "bench-hcc"
SECRET = "bench-portal-secret-0123456789"
SITE_TOML = """site = "bench-hcc"
name_vi = "Trung tâm thử"
name_en = "Bench centre"
[[services]]
code = "HT"
name_vi = "Hộ tịch"
name_en = "Civil status"
range_start = 1000
range_end = 3999
capacity = 3000
[[desks]]
number = 1
services = ["HT"]
"""


def spawn(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("NOTIFY_SOCKET", None)
    return subprocess.Popen([sys.executable, "-m", *args], cwd=ROOT, env=env, stdout=open(log, "ab"),
                            stderr=subprocess.STDOUT)


def wait_http(url: str, timeout: float = 30) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if httpx.get(url, timeout=1).json().get("ready"):
                return
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.2)
    raise SystemExit(f"portal not ready at {url}")


async def page(client: httpx.AsyncClient, url: str, label: str, seen: dict[str, list[tuple[float, int | None]]],
               ready: asyncio.Event, opened: list[int]) -> None:
    async with client.stream("GET", url, timeout=None) as r:
        async for line in r.aiter_lines():
            if line.startswith("data: "):
                v = json.loads(line[6:])
                if not seen[label]:
                    opened[0] += 1
                    if opened[0] == len(seen):
                        ready.set()
                seen[label].append((time.perf_counter(), v["ahead"]))


async def run(args: argparse.Namespace, base: str, tickets: list[TicketData], desk: DeviceClient,
              wire: list[float]) -> tuple[list[float], list[float]]:
    seen: dict[str, list[tuple[float, int | None]]] = {t.ticket: [] for t in tickets}
    ready = asyncio.Event()
    opened = [0]
    limits = httpx.Limits(max_connections=args.pages + 10, max_keepalive_connections=args.pages + 10)
    async with httpx.AsyncClient(limits=limits) as client:
        tasks = [asyncio.create_task(page(client, f"{base}/ve/{make_token(SECRET.encode(), SITE, t.day, t.ticket)}/live",
                                          t.ticket, seen, ready, opened)) for t in tickets]
        await asyncio.wait_for(ready.wait(), 120)
        lat: list[float] = []
        wires: list[float] = []
        for _ in range(args.calls):
            await asyncio.sleep(0.5)
            marks = {k: len(v) for k, v in seen.items()}
            before = len(wire)
            t0 = time.perf_counter()
            await asyncio.to_thread(desk.request, "call-next", Request(id=uuid7(), device="rt-01", desk=1,
                                                                       officer="nv-0001"), 10.0)
            waiting = [k for k in seen if seen[k][-1][1] is not None]
            end = time.perf_counter() + 20
            while time.perf_counter() < end and any(len(seen[k]) <= marks[k] for k in waiting):
                await asyncio.sleep(0.01)
            lat += [(seen[k][marks[k]][0] - t0) * 1000 for k in waiting if len(seen[k]) > marks[k]]
            if len(wire) > before:
                wires.append((wire[before] - t0) * 1000)
        for t in tasks:
            t.cancel()
    return lat, wires


def busy_hours(tmp: Path) -> tuple[Any, float, int]:
    """A collector store with BUSY_WEEKS of tickets (issued + called, through the real Store); the
    summary computed from it, the time it took (ms) and the events stored."""
    import random
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    from collector.busy_hours import compute
    from collector.db import connect, open_db
    from collector.store import Incoming, Store
    from mqtt.schemas import Envelope

    tz = ZoneInfo("Asia/Ho_Chi_Minh")
    now = datetime.now(tz)
    rnd = random.Random(18)
    store = Store(open_db(tmp / "collector.db"))
    batch: list[Incoming] = []
    events = 0
    seqs = {"kiosk-1": 0, "ticketing": 0}  # each device its own counter (no seq gaps)
    for back in range(1, 7 * BUSY_WEEKS + 1):
        day = (now - timedelta(days=back)).date()
        if day.weekday() == 6:
            continue
        for n in range(BUSY_PER_DAY):
            minute = int(rnd.triangular(0, 600, 120))  # a morning peak
            issued = datetime(day.year, day.month, day.day, 7, tzinfo=tz) + timedelta(minutes=minute)
            for action, dev, at in (("issued", "kiosk-1", issued),
                                    ("called", "ticketing", issued + timedelta(minutes=rnd.uniform(2, 40)))):
                seqs[dev] += 1
                env = Envelope(v=1, id=uuid7(), seq=seqs[dev], ts=at, clock_synced=True, site=SITE, device=dev, type="ticket",
                               data=TicketData(action=action, ticket=str(1000 + n), number=1000 + n,  # type: ignore[arg-type]
                                               day=day.isoformat(), service="HT").model_dump(mode="json"))
                batch.append(Incoming(topics.event(SITE, dev, "ticket"), env.dumps(), False, now))
                events += 1
            if len(batch) >= 2000:
                store.write_batch(batch)
                batch = []
    store.write_batch(batch)
    store.conn.close()
    conn = connect(tmp / "collector.db", readonly=True)
    t0 = time.perf_counter()
    state = compute(conn, SITE, now.date(), tz, now, BUSY_WEEKS)
    ms = (time.perf_counter() - t0) * 1000
    conn.close()
    return state, ms, events


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pages", type=int, default=300)
    ap.add_argument("--calls", type=int, default=10)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-portal-"))
    broker = Mosquitto(tmp / "mosquitto").start()
    (tmp / "site.toml").write_text(SITE_TOML, encoding="utf-8")
    (tmp / "ticketing.toml").write_text(f'site_config = "site.toml"\ndb = "{tmp / "t.db"}"\n[mqtt]\nurl = "{broker.url}"\n')
    port = free_port()
    (tmp / "portal.toml").write_text(
        f'site = "{SITE}"\nsecret = "{SECRET}"\nport = {port}\nstate_dir = "{tmp / "portal"}"\n'
        f'[mqtt]\nurl = "{broker.url}"\n[limits]\nper_address_per_min = 100000\nstreams_per_address = 10000\n')
    procs = [spawn(["ticketing", "--config", str(tmp / "ticketing.toml")], tmp / "ticketing.log"),
             spawn(["portal", "--config", str(tmp / "portal.toml")], tmp / "portal.log")]
    kiosk_box = Outbox(tmp / "kiosk.db", SITE, "kiosk-1")
    kiosk = DeviceClient(SITE, "kiosk-1", "kiosk", BrokerConfig(url=broker.url), outbox=kiosk_box, telemetry_interval_s=0)
    desk = DeviceClient(SITE, "rt-01", "rating-terminal", BrokerConfig(url=broker.url), desk=1, telemetry_interval_s=0)
    wire: list[float] = []
    lock = threading.Lock()
    watcher = DeviceClient(SITE, "bench-watch", "bench", BrokerConfig(url=broker.url), telemetry_interval_s=0)
    watcher.subscribe(topics.state(SITE, "service", "HT"), lambda m: (lock.acquire(), wire.append(time.perf_counter()),
                                                                       lock.release()))
    try:
        for c in (kiosk, desk, watcher):
            c.start()
            c.wait_connected(10)
        base = f"http://127.0.0.1:{port}"
        wait_http(base + "/site.json")
        resp = kiosk.request("lease", Request(id=uuid7(), device="kiosk-1", service="HT", count=args.pages + 50), 10)
        assert resp.ok and resp.lease is not None, resp
        tickets = [TicketData(action="issued", ticket=str(n), number=n, day=resp.lease.day, service="HT", kiosk="kiosk-1")
                   for n in range(resp.lease.start, resp.lease.start + args.pages)]
        kiosk_box.enqueue_many([("ticket", t) for t in tickets])
        busy, busy_ms, busy_events = busy_hours(tmp)
        watcher.publish(topics.state(SITE, "busy-hours"), busy, retain=True)  # as the collector does
        time.sleep(3)
        tok = make_token(SECRET.encode(), SITE, tickets[0].day, tickets[0].ticket)
        weight = sum(len(httpx.get(base + p).content) for p in
                     (f"/ve/{tok}", "/static/motcua.css", "/static/portal.css", "/static/ticket.js"))
        site_page = httpx.get(base + "/").text
        assert 'id="busy"' in site_page, "the site page shows no busy hours"
        site_weight = len(site_page.encode()) + sum(len(httpx.get(base + p).content) for p in
                                                    ("/static/motcua.css", "/static/portal.css"))
        lat, wires = asyncio.run(run(args, base, tickets, desk, wire))
        rss = rss_mb(procs[1].pid)
    finally:
        for c in (kiosk, desk, watcher):
            c.stop()
        for p in procs:
            p.terminate()
            p.wait(10)
        broker.stop()
    p95 = pct(lat, 95) if lat else float("nan")
    wire_p95 = pct(wires, 95) if wires else float("nan")
    print(f"{args.pages} live pages, {args.calls} calls: {len(lat)} page updates; call->page p50 "
          f"{pct(lat, 50):.0f} ms, p95 {p95:.0f} ms (target <= 1000 ms)")
    print(f"peer: call->retained state at a plain MQTT subscriber p95 {wire_p95:.0f} ms; "
          f"ratio page/wire {p95 / wire_p95:.1f}")
    print(f"ticket page weight {weight / 1024:.1f} KB (limit 60 KB); portal RSS {rss:.0f} MB")
    print(f"busy hours: summary of {busy_events} ticket events ({BUSY_WEEKS} weeks) in {busy_ms:.0f} ms; "
          f"site page with its chart {site_weight / 1024:.1f} KB (limit 60 KB)")
    print(json.dumps({"pages": args.pages, "call_to_pages_p95_ms": round(p95, 1), "call_to_pages_p50_ms":
                      round(pct(lat, 50), 1), "wire_p95_ms": round(wire_p95, 1), "page_kb": round(weight / 1024, 1),
                      "portal_rss_mb": round(rss, 1), "site_page_kb": round(site_weight / 1024, 1),
                      "busy_hours_compute_ms": round(busy_ms, 1), "busy_hours_events": busy_events}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
