"""Fault suite: a real site on this machine, and what happens to it in the field, scenario by scenario.

Mosquitto with the production delivery settings (persistence on, ``autosave_interval 60``,
``max_queued_messages 10000``), the real collector (``python -m collector``, its own process) and
simulated desk terminals (each its own process: a real Outbox and DeviceClient, recording ratings
at a steady rate and writing down every seq the moment ``enqueue`` returned). Per scenario it prints
events recorded, stored, lost, stored twice and recovery time (from the end of the fault until the
store held every event recorded before it); the last line is one JSON object with the totals.

    .venv/bin/python bench/faults.py [--devices 4] [--rate 100] [--seconds 8]

Scenarios: broker SIGKILL (collector up), broker SIGKILL while the collector is down for a while,
collector SIGKILL, device SIGKILL, the whole site power cut (every process SIGKILLed at once).
Not yet here (docs/reliability.md): ticketing SIGKILL, a device cut off the network, disk full.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

from _util import ROOT  # noqa: I001  (puts the repo on sys.path)

from common.mosquitto import Mosquitto, free_port

SITE = "faults"
PROD = "persistence true\npersistence_location {d}/\nautosave_interval 60\nmax_queued_messages 10000\n"


def device_main(db: str, url: str, device: str, rate: float, seconds: float, log: str) -> None:
    """A desk terminal: ratings at `rate`/s for `seconds`, each seq written down once on disk."""
    import logging
    from mqtt.client import BrokerConfig, DeviceClient
    from mqtt.outbox import Outbox
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    ob = Outbox(db, SITE, device)
    c = DeviceClient(SITE, device, "rating-terminal", BrokerConfig(url=url), outbox=ob, telemetry_interval_s=5,
                     reconnect_min_s=0.2, reconnect_max_s=2.0, confirm_timeout_s=5.0)
    c.start()
    out = open(log, "a")
    end = time.monotonic() + seconds
    n = 0
    t0 = time.monotonic()
    while time.monotonic() < end:
        e = ob.enqueue("rating", {"desk": 1, "score": 1 + n % 5, "scale": 5})
        out.write(f"{e.seq} {time.time():.3f}\n")
        out.flush()
        n += 1
        time.sleep(max(0.0, t0 + n / rate - time.monotonic()))
    while True:  # keep delivering until killed
        time.sleep(1)


class Site:
    def __init__(self, tmp: Path, devices: int, rate: float, seconds: float):
        self.tmp, self.n, self.rate, self.seconds = tmp, devices, rate, seconds
        bdir = tmp / "broker"
        self.broker = Mosquitto(bdir, extra_conf=PROD.format(d=bdir))
        self.db = tmp / "collector.db"
        self.http = free_port()
        self.collector: subprocess.Popen[bytes] | None = None
        self.devs: dict[str, subprocess.Popen[bytes]] = {}

    def start_collector(self) -> None:
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        env.pop("NOTIFY_SOCKET", None)
        self.collector = subprocess.Popen(
            [sys.executable, "-m", "collector", "--broker", self.broker.url, "--db", str(self.db),
             "--http", f"127.0.0.1:{self.http}", "--site", SITE, "--client-id", "site-collector"],
            cwd=ROOT, env=env, stdout=open(self.tmp / "collector.log", "ab"), stderr=subprocess.STDOUT,
            start_new_session=True)

    def start_device(self, name: str, seconds: float | None = None) -> None:
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        self.devs[name] = subprocess.Popen(
            [sys.executable, __file__, "--device", name, "--url", self.broker.url, "--db", str(self.tmp / f"{name}.db"),
             "--rate", str(self.rate), "--seconds", str(self.seconds if seconds is None else seconds),
             "--log", str(self.tmp / f"{name}.log")],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=open(self.tmp / f"{name}.err", "ab"),
            start_new_session=True)

    def start(self) -> None:
        self.broker.start()
        self.start_collector()
        time.sleep(2.5)
        for i in range(self.n):
            self.start_device(f"rt-{i + 1:02d}")

    @staticmethod
    def kill(p: subprocess.Popen[bytes] | None) -> None:
        if p is not None and p.poll() is None:
            os.kill(p.pid, signal.SIGKILL)
            p.wait()

    def recorded(self, before: float = float("inf")) -> dict[str, set[int]]:
        out: dict[str, set[int]] = {}
        for name in self.devs:
            f = self.tmp / f"{name}.log"
            lines = f.read_text().split() if f.exists() else []
            out[name] = {int(s) for s, t in zip(lines[::2], lines[1::2]) if float(t) < before}
        return out

    def stored(self) -> tuple[dict[str, set[int]], int]:
        try:
            with sqlite3.connect(self.db, timeout=10) as c:
                rows = c.execute("SELECT device, seq FROM events WHERE site=?", (SITE,)).fetchall()
        except sqlite3.OperationalError:
            return {}, 0
        got: dict[str, set[int]] = {}
        for d, s in rows:
            got.setdefault(d, set()).add(s)
        return got, len(rows) - sum(len(v) for v in got.values())

    def stop(self) -> None:
        for p in self.devs.values():
            self.kill(p)
        self.kill(self.collector)
        self.broker.kill()


def _missing(site: Site, want: dict[str, set[int]]) -> int:
    got, _ = site.stored()
    return sum(len(v - got.get(d, set())) for d, v in want.items())


def run(name: str, fault: Callable[[Site], None], args: argparse.Namespace) -> dict[str, float | int | str]:
    slug = "".join(ch if ch.isalnum() else "-" for ch in name)[:40]
    tmp = Path(tempfile.mkdtemp(prefix=f"faults-{slug}-"))
    site = Site(tmp, args.devices, args.rate, args.seconds)
    site.start()
    time.sleep(2.0)
    fault(site)
    fault_end = time.time()
    before = site.recorded(fault_end)
    t0 = time.monotonic()
    recovery = float("nan")
    deadline = t0 + args.seconds + 180
    while time.monotonic() < deadline:
        if recovery != recovery and _missing(site, before) == 0:
            recovery = time.monotonic() - t0
        everything = site.recorded()
        if recovery == recovery and time.monotonic() - t0 > args.seconds and _missing(site, everything) == 0:
            break
        time.sleep(0.25)
    rec = site.recorded()
    got, twice = site.stored()
    site.stop()
    recorded = sum(len(v) for v in rec.values())
    lost = sum(len(v - got.get(d, set())) for d, v in rec.items())
    stored = sum(len(v & got.get(d, set())) for d, v in rec.items())
    row = {"scenario": name, "recorded": recorded, "stored": stored, "lost": lost, "stored_twice": twice,
           "recovery_s": round(recovery, 1) if recovery == recovery else -1}
    print(f"{name:<40} recorded {recorded:>6}  stored {stored:>6}  lost {lost:>4}  twice {twice:>3}  "
          f"recovery {row['recovery_s']} s", flush=True)
    return row


def broker_kill(site: Site) -> None:
    site.broker.kill()
    time.sleep(1.0)
    site.broker.start()


def broker_kill_collector_down(site: Site) -> None:
    Site.kill(site.collector)
    time.sleep(3.0)
    site.broker.kill()
    for f in (site.tmp / "broker").glob("*.db"):
        f.unlink()  # and nothing of it was saved: started again empty
    site.broker.start()
    time.sleep(5.0)
    site.start_collector()


def collector_kill(site: Site) -> None:
    Site.kill(site.collector)
    time.sleep(5.0)
    site.start_collector()


def device_kill(site: Site) -> None:
    name = next(iter(site.devs))
    Site.kill(site.devs[name])
    time.sleep(1.0)
    site.start_device(name, seconds=max(1.0, site.seconds - 3.0))


def power_cut(site: Site) -> None:
    names = list(site.devs)
    for p in site.devs.values():
        Site.kill(p)
    Site.kill(site.collector)
    site.broker.kill()
    time.sleep(1.0)
    site.broker.start()
    site.start_collector()
    for n in names:
        site.start_device(n, seconds=max(1.0, site.seconds - 3.0))


SCENARIOS: list[tuple[str, Callable[[Site], None]]] = [
    ("broker SIGKILL, collector up", broker_kill),
    ("broker SIGKILL + restarted empty, collector down 8 s", broker_kill_collector_down),
    ("collector SIGKILL, down 5 s", collector_kill),
    ("device SIGKILL, restarted", device_kill),
    ("power cut (everything SIGKILLed)", power_cut),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--devices", type=int, default=4)
    ap.add_argument("--rate", type=float, default=100.0, help="events/s per device")
    ap.add_argument("--seconds", type=float, default=8.0, help="how long each device records")
    ap.add_argument("--only", help="run the scenarios whose name contains this")
    ap.add_argument("--device", help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    ap.add_argument("--db", help=argparse.SUPPRESS)
    ap.add_argument("--log", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.device:
        device_main(args.db, args.url, args.device, args.rate, args.seconds, args.log)
        return
    rows = [run(n, f, args) for n, f in SCENARIOS if not args.only or args.only in n]
    total = {k: sum(int(r[k]) for r in rows) for k in ("recorded", "stored", "lost", "stored_twice")}
    total["requests_answered_twice"] = 0  # no ticketing scenario yet: nothing was asked
    print(json.dumps({**total, "scenarios": len(rows),
                      "recovery_s_max": max(float(r["recovery_s"]) for r in rows) if rows else 0}))


if __name__ == "__main__":
    main()
