"""Fault suite: a real site on this machine, and what happens to it in the field, scenario by scenario.

Mosquitto with the production delivery settings (persistence on, ``autosave_interval 60``,
``max_queued_messages 10000``), the real collector (``python -m collector``, its own process) and
simulated desk terminals (each its own process: a real Outbox and DeviceClient, recording ratings
at a steady rate and writing down every seq the moment ``enqueue`` returned). Per scenario it prints
events recorded, stored, lost, stored twice and recovery time (from the end of the fault until the
store held every event recorded before it); the last line is one JSON object with the totals.

    .venv/bin/python bench/faults.py [--devices 4] [--rate 100] [--seconds 8]

Scenarios: broker SIGKILL (collector up), broker SIGKILL while the collector is down for a while,
collector SIGKILL, device SIGKILL, a device cut off the network (it reaches the broker through a
TCP proxy of this process, which is cut), disk full on the server and on a device (a small tmpfs,
filled; needs root, else skipped), the whole site power cut (every process SIGKILLed at once).
Ticketing SIGKILL: the real ``python -m ticketing`` process with two kiosks issuing (leases over
request/response, tickets into their outboxes) and four desks calling the next ticket (a retried
request keeps its id), SIGKILLed mid-way and started again; a ticket called twice, or a number
issued twice, counts in ``requests_answered_twice``; every ``called`` event must reach the store.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import sqlite3
import threading
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

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
    from mqtt.errors import OutboxStorageError
    while time.monotonic() < end:
        n += 1
        try:
            e = ob.enqueue("rating", {"desk": 1, "score": 1 + n % 5, "scale": 5})
        except OutboxStorageError:
            continue  # refused (the terminal says so): not recorded
        out.write(f"{e.seq} {time.time():.3f}\n")
        out.flush()
        time.sleep(max(0.0, t0 + n / rate - time.monotonic()))
    while True:  # keep delivering until killed
        time.sleep(1)


class Proxy:
    """A TCP proxy to the broker for one device; ``cut()`` drops its connections and refuses new
    ones until ``mend()``, as a pulled cable or a dead switch would."""

    def __init__(self, upstream: int):
        self.upstream = upstream
        self.srv = socket.create_server(("127.0.0.1", 0))
        self.port = self.srv.getsockname()[1]
        self.cut_off = False
        self.pairs: list[tuple[socket.socket, socket.socket]] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                a, _ = self.srv.accept()
            except OSError:
                return
            if self.cut_off:
                a.close()
                continue
            try:
                b = socket.create_connection(("127.0.0.1", self.upstream))
            except OSError:
                a.close()
                continue
            self.pairs.append((a, b))
            for x, y in ((a, b), (b, a)):
                threading.Thread(target=self._pump, args=(x, y), daemon=True).start()

    @staticmethod
    def _pump(x: socket.socket, y: socket.socket) -> None:
        try:
            while data := x.recv(65536):
                y.sendall(data)
        except OSError:
            pass
        for s in (x, y):
            try:
                s.close()
            except OSError:
                pass

    def cut(self) -> None:
        self.cut_off = True
        for a, b in self.pairs:
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        self.pairs.clear()

    def mend(self) -> None:
        self.cut_off = False


def _mount_tmpfs(d: Path, size: str) -> bool:
    d.mkdir(parents=True, exist_ok=True)
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(d)],
                          capture_output=True).returncode == 0


def _fill(d: Path) -> Path:
    filler = d / "filler"
    with open(filler, "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass
    return filler


class Site:
    def __init__(self, tmp: Path, devices: int, rate: float, seconds: float):
        self.tmp, self.n, self.rate, self.seconds = tmp, devices, rate, seconds
        self.proxy: Proxy | None = None  # the first device reaches the broker through it
        self.server_disk = tmp / "server-disk"
        self.device_disk = tmp / "device-disk"
        self.mounted: list[Path] = []
        for d, size in ((self.server_disk, "64m"), (self.device_disk, "8m")):
            if _mount_tmpfs(d, size):
                self.mounted.append(d)
        bdir = tmp / "broker"
        self.broker = Mosquitto(bdir, extra_conf=PROD.format(d=bdir))
        self.db = (self.server_disk if self.server_disk in self.mounted else tmp) / "collector.db"
        self.http = free_port()
        self.collector: subprocess.Popen[bytes] | None = None
        self.collector_site = SITE
        self.devs: dict[str, subprocess.Popen[bytes]] = {}

    def start_collector(self) -> None:
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        env.pop("NOTIFY_SOCKET", None)
        self.collector = subprocess.Popen(
            [sys.executable, "-m", "collector", "--broker", self.broker.url, "--db", str(self.db),
             "--http", f"127.0.0.1:{self.http}", "--site", self.collector_site, "--client-id", "site-collector"],
            cwd=ROOT, env=env, stdout=open(self.tmp / "collector.log", "ab"), stderr=subprocess.STDOUT,
            start_new_session=True)

    def start_device(self, name: str, seconds: float | None = None) -> None:
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        first = name == "dv-01"
        url = f"mqtt://127.0.0.1:{self.proxy.port}" if first and self.proxy else self.broker.url
        disk = self.device_disk if first and self.device_disk in self.mounted else self.tmp
        self.devs[name] = subprocess.Popen(
            [sys.executable, __file__, "--device", name, "--url", url, "--db", str(disk / f"{name}.db"),
             "--rate", str(self.rate), "--seconds", str(self.seconds if seconds is None else seconds),
             "--log", str(self.tmp / f"{name}.log")],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=open(self.tmp / f"{name}.err", "ab"),
            start_new_session=True)

    def start(self) -> None:
        self.broker.start()
        self.proxy = Proxy(self.broker.port)
        self.start_collector()
        time.sleep(2.5)
        for i in range(self.n):
            self.start_device(f"dv-{i + 1:02d}")

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
        for d in self.mounted:
            subprocess.run(["umount", "-l", str(d)], check=False)


def _missing(site: Site, want: dict[str, set[int]]) -> int:
    got, _ = site.stored()
    return sum(len(v - got.get(d, set())) for d, v in want.items())


def run(name: str, fault: Callable[[Site], None], args: argparse.Namespace) -> dict[str, Any]:
    slug = "".join(ch if ch.isalnum() else "-" for ch in name)[:40]
    tmp = Path(tempfile.mkdtemp(prefix=f"faults-{slug}-"))
    site = Site(tmp, args.devices, args.rate, args.seconds)
    site.start()
    time.sleep(2.0)
    try:
        fault(site)
    except Skipped as why:
        site.stop()
        print(f"{name:<40} skipped: {why}", flush=True)
        return {}
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


CUT_S = 30.0  # --cut-s: how long the device is cut off


def network_cut(site: Site) -> None:
    assert site.proxy is not None
    site.proxy.cut()
    time.sleep(CUT_S)
    site.proxy.mend()


def server_disk_full(site: Site) -> None:
    if site.server_disk not in site.mounted:
        raise Skipped("no tmpfs for the server (needs root)")
    filler = _fill(site.server_disk)
    time.sleep(5.0)
    filler.unlink()


def device_disk_full(site: Site) -> None:
    if site.device_disk not in site.mounted:
        raise Skipped("no tmpfs for the device (needs root)")
    filler = _fill(site.device_disk)
    time.sleep(5.0)
    filler.unlink()


class Skipped(Exception):
    pass


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
    ("device cut off the network (--cut-s, 30 s)", network_cut),
    ("disk full on the server 5 s", server_disk_full),
    ("disk full on a device 5 s", device_disk_full),
    ("power cut (everything SIGKILLed)", power_cut),
]


def ticketing_scenario(args: argparse.Namespace) -> dict[str, Any]:
    """Ticketing SIGKILLed while kiosks issue and desks call; started again."""
    from tests.ticketing.helpers import SITE as TSITE, Desk, Kiosk, run_desks, write_configs
    name = "ticketing SIGKILL, restarted"
    tmp = Path(tempfile.mkdtemp(prefix="faults-ticketing-"))
    site = Site(tmp, args.devices, args.rate, args.seconds)
    site.collector_site = "+"  # the rating devices' site and ticketing's
    site.start()
    cfg = write_configs(tmp, site.broker.url)
    env = dict(os.environ, PYTHONPATH=str(ROOT), MOTCUA_LOG="WARNING")

    def spawn() -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-m", "ticketing", "--config", str(cfg)], cwd=ROOT, env=env,
                                stdout=subprocess.DEVNULL, stderr=open(tmp / "ticketing.log", "ab"))
    tk = spawn()
    time.sleep(3.0)
    kiosks = [Kiosk(site.broker.url, f"kiosk-{i}", tmp, block=40) for i in (1, 2)]
    desks = [Desk(site.broker.url, n) for n in (1, 2, 3, 4)]
    for k in kiosks:
        for i in range(60):
            k.issue("HT" if i % 3 else "DD")
    result: dict[int, list[str]] = {}
    runner = threading.Thread(target=lambda: result.update(run_desks(desks, total=120, stop_after=60)))
    runner.start()
    time.sleep(1.5)
    Site.kill(tk)
    time.sleep(2.0)
    fault_end = time.time()
    tk = spawn()
    runner.join(120)
    before = site.recorded(fault_end)
    t0 = time.monotonic()
    recovery = float("nan")
    called = [lab for labs in result.values() for lab in labs]
    issued = [f"{d.day}/{d.ticket}" for k in kiosks for d in k.issued]
    twice = (len(called) - len(set(called))) + (len(issued) - len(set(issued)))
    feed: set[str] = set()
    while time.monotonic() - t0 < 120:
        try:
            with sqlite3.connect(site.db, timeout=10) as c:
                feed = {r[0] for r in c.execute("SELECT day || '/' || ticket FROM ticket_events WHERE site=? "
                                                "AND action='called'", (TSITE,))}
        except sqlite3.OperationalError:
            pass
        if recovery != recovery and _missing(site, before) == 0 and set(called) <= feed:
            recovery = time.monotonic() - t0
        if recovery == recovery and _missing(site, site.recorded()) == 0:
            break
        time.sleep(0.25)
    for k in kiosks:
        k.close()
    for d in desks:
        d.close()
    Site.kill(tk)
    rec = site.recorded()
    got, stored_twice = site.stored()
    site.stop()
    lost = sum(len(v - got.get(d, set())) for d, v in rec.items()) + len(set(called) - feed)
    recorded = sum(len(v) for v in rec.values()) + len(set(called))
    stored = sum(len(v & got.get(d, set())) for d, v in rec.items()) + len(set(called) & feed)
    row = {"scenario": name, "recorded": recorded, "stored": stored, "lost": lost, "stored_twice": stored_twice,
           "recovery_s": round(recovery, 1) if recovery == recovery else -1, "requests_answered_twice": twice,
           "tickets_called": len(called)}
    print(f"{name:<40} recorded {recorded:>6}  stored {stored:>6}  lost {lost:>4}  twice {stored_twice:>3}  "
          f"recovery {row['recovery_s']} s  ({len(called)} tickets called, {twice} answered twice)", flush=True)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--devices", type=int, default=4)
    ap.add_argument("--rate", type=float, default=100.0, help="events/s per device")
    ap.add_argument("--seconds", type=float, default=8.0, help="how long each device records")
    ap.add_argument("--only", help="run the scenarios whose name contains this")
    ap.add_argument("--cut-s", type=float, default=30.0, help="how long the network cut lasts (default 30)")
    ap.add_argument("--device", help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    ap.add_argument("--db", help=argparse.SUPPRESS)
    ap.add_argument("--log", help=argparse.SUPPRESS)
    args = ap.parse_args()
    global CUT_S
    CUT_S = args.cut_s
    if args.device:
        device_main(args.db, args.url, args.device, args.rate, args.seconds, args.log)
        return
    rows = [r for r in (run(n, f, args) for n, f in SCENARIOS if not args.only or args.only in n) if r]
    if not args.only or args.only in "ticketing SIGKILL":
        rows.append(ticketing_scenario(args))
    total: dict[str, Any] = {k: sum(int(r[k]) for r in rows) for k in ("recorded", "stored", "lost", "stored_twice")}
    answered_twice = [r["requests_answered_twice"] for r in rows if "requests_answered_twice" in r]
    print(json.dumps({**total, "requests_answered_twice": sum(answered_twice) if answered_twice else None,
                      "scenarios": len(rows),
                      "recovery_s_max": max(float(r["recovery_s"]) for r in rows) if rows else 0}))


if __name__ == "__main__":
    main()
