"""``motcua demo``: a whole centre on this machine, through the same code paths as real devices.

Starts a private Mosquitto (no root needed), ``ticketing``, the ``collector`` with its dashboard,
the citizen ``portal`` (the kiosks' QR codes open it), and a process of simulated devices (2 kiosks, 8 desk terminals on gpiozero's MockFactory, 2 camera
agents). Prints the dashboard address and a login, logs one line a minute of what happened, and
stops everything in order on Ctrl-C: devices first (their outboxes flush), then the collector
(once it has stored what they sent), ticketing and the broker.
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
import tomllib
from datetime import date, datetime, time as dtime, timedelta
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from common.clock import DEFAULT_TZ
from common.mosquitto import MOSQUITTO_HINT, Mosquitto, find_mosquitto, free_port
from mqtt import topics

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "config"
SITE_TOML = CONFIG / "site.toml"  # the demo's centre: services, desks, hours, and its site id
USER, PASSWORD = "quanly", "motcua-demo"

EPILOG = """examples:
  motcua demo                          # a day at 60x: 07:00-17:00 in about 10 minutes
  motcua demo --speed 120 --seed 7     # faster, another day
  motcua demo --http 0.0.0.0:8080      # show the dashboard to other machines
  motcua demo --portal 192.168.1.20    # the portal on this machine's LAN address: scan a
                                       # ticket's QR with a phone on the same network
  motcua demo --display                # and the hall display, calling tickets aloud
  motcua demo --sites 3                # a province: three sites bridged to a central broker,
                                       # PostgreSQL, two central collectors, the province dashboard

Dừng bằng Ctrl-C / stop with Ctrl-C."""


def open_day(site: dict[str, Any], day: date) -> date:
    """Today if the centre opens today (site.toml hours and closed days), else the next day it
    does: a demo started on a Sunday shows a working day."""
    weekdays = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    for _ in range(14):
        if site.get("hours", {}).get(weekdays[day.weekday()]) and day.isoformat() not in site.get("closed_days", []):
            return day
        day += timedelta(days=1)
    return day


class Demo:
    """One simulated centre. ``site_text`` (a site.toml) and ``work`` let ``motcua demo --sites N``
    (demo/province.py) run several, each in its own directory; the hooks below are what differs."""

    with_portal = True  # the citizen portal (the province demo's sites leave it out: 2 cores)

    def __init__(self, args: argparse.Namespace, *, site_text: str | None = None, work: Path | None = None):
        self.args = args
        self.site_text = site_text if site_text is not None else SITE_TOML.read_text(encoding="utf-8")
        self.work = work or Path(args.workdir or tempfile.mkdtemp(prefix="motcua-demo-"))
        self.work.mkdir(parents=True, exist_ok=True)
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.broker: Mosquitto | None = None
        self.watcher: paho.Client | None = None
        self.counts: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        site = tomllib.loads(self.site_text)
        self.site: str = site["site"]
        self.tz = site.get("timezone", DEFAULT_TZ)
        tz = ZoneInfo(self.tz)
        h, m = (int(x) for x in args.start.split(":"))
        self.sim_start = datetime.combine(open_day(site, datetime.now(tz).date()), dtime(h, m), tz)
        self.env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
                        MOTCUA_CLOCK=f"{self.sim_start.isoformat()},{args.speed}", PYTHONUNBUFFERED="1")

    # -- set-up ------------------------------------------------------------------------------------

    def write_configs(self) -> None:
        assert self.broker is not None
        # the portal's public address goes first in site.toml (a top-level key, before any table)
        (self.work / "site.toml").write_text(f'portal_url = "{self.portal_url}"\n' + self.site_text,
                                             encoding="utf-8")
        (self.work / "ticketing.toml").write_text(
            f'device = "ticketing"\nsite_config = "site.toml"\ndb = "{self.work}/ticketing.db"\n'
            f'lease_block = 20\n\n[mqtt]\nurl = "{self.broker.url}"\n', encoding="utf-8")

    def write_display_config(self) -> None:
        """The hall display in a window on this desktop, for this site and broker."""
        assert self.broker is not None
        raw = tomllib.loads((CONFIG / "display.toml").read_text(encoding="utf-8"))
        voice = {**raw.get("voice", {}), "cache_dir": str(self.work / "voice")}
        screen = {**raw.get("screen", {}), "size": [1280, 720], "fullscreen": False}
        lines = [f'site = "{self.site}"', 'device = "display-01"', f'timezone = "{self.tz}"', "",
                 "[mqtt]", f'url = "{self.broker.url}"', "", "[screen]"]
        lines += [f"{k} = {json.dumps(v)}" for k, v in screen.items()]
        lines += ["", "[voice]"] + [f"{k} = {json.dumps(v)}" for k, v in voice.items()]
        (self.work / "display.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")

    def write_portal_config(self) -> None:
        """The citizen portal: its secret shared with the kiosks (the QR's token), on the broker."""
        assert self.broker is not None
        secret = self.work / "portal.secret"
        secret.write_text(secrets.token_hex(24) + "\n", encoding="utf-8")
        secret.chmod(0o600)
        host = self.args.portal or "127.0.0.1"
        (self.work / "portal.toml").write_text(
            f'site = "{self.site}"\ndevice = "portal"\nsecret_file = "{secret}"\n'
            f'listen = "{"127.0.0.1" if host in ("127.0.0.1", "localhost") else "0.0.0.0"}"\n'
            f'port = {self.portal_port}\nstate_dir = "{self.work / "portal"}"\n\n'
            f'[mqtt]\nurl = "{self.broker.url}"\n', encoding="utf-8")

    def spawn(self, name: str, argv: list[str]) -> None:
        self.procs[name] = start_process(self.work / f"{name}.log", argv, self.env)

    def make_broker(self) -> Mosquitto:
        """The site's broker (a hook: the province demo's sites add their bridge)."""
        return Mosquitto(self.work / "mosquitto")

    def collector_argv(self, db: Path) -> list[str]:
        assert self.broker is not None
        return ["collector", "--broker", self.broker.url, "--db", str(db), "--http", self.http,
                "--site", self.site, "--client-id", "demo-collector"]

    def start(self) -> None:
        self.broker = self.make_broker().start()
        self.portal_port = free_port()
        self.portal_url = f"http://{self.args.portal or '127.0.0.1'}:{self.portal_port}"
        self.write_configs()
        self.write_portal_config()
        self.http = self.args.http or f"127.0.0.1:{free_port()}"
        db = self.work / "collector.db"
        subprocess.run([sys.executable, "-m", "collector", "add-user", USER, "--db", str(db)],
                       input=(PASSWORD + "\n").encode(), cwd=ROOT, env=self.env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.spawn("collector", self.collector_argv(db))
        self.spawn("ticketing", ["ticketing", "--config", str(self.work / "ticketing.toml")])
        if self.with_portal:
            self.spawn("portal", ["portal", "--config", str(self.work / "portal.toml")])
        if self.args.display:
            self.write_display_config()
            self.spawn("display", ["common", "display", "--config", str(self.work / "display.toml")])
        self.watch()
        self.spawn("devices", ["demo.devices", "--broker", self.broker.url, "--site", self.site,
                               "--site-config", str(self.work / "site.toml"), "--workdir", str(self.work),
                               "--seed", str(self.args.seed), "--speed", str(self.args.speed),
                               *(["--ticket-secret-file", str(self.work / "portal.secret")] if self.with_portal else [])])

    def wait_http(self, timeout: float = 30) -> bool:
        return wait_http(self.http, timeout)

    # -- what happened -----------------------------------------------------------------------------

    def watch(self) -> None:
        """Count what crosses the broker, for the one-line-a-minute log."""
        assert self.broker is not None
        c = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"demo-watch-{self.site}", protocol=paho.MQTTv5)

        def on_connect(client: paho.Client, *_a: object) -> None:
            client.subscribe(topics.events_filter(self.site), qos=1)

        def on_message(_c: paho.Client, _u: object, msg: paho.MQTTMessage) -> None:
            try:
                env = json.loads(msg.payload)
                key = env["type"]
                data = env.get("data", {})
                if key == "ticket":
                    key = f"ticket:{data.get('action')}"
                elif key == "rating":
                    self.counts["rating_score_sum"] += int(data.get("score", 0))
                elif key == "presence":
                    key = f"presence:{data.get('kind')}"
            except (ValueError, KeyError, TypeError):
                key = "malformed"
            with self.lock:
                self.counts[key] += 1

        c.on_connect = on_connect
        c.on_message = on_message
        c.connect_async("127.0.0.1", self.broker.port)
        c.loop_start()
        self.watcher = c

    def sim_now(self) -> datetime:
        el = (time.time() - self.t0) * self.args.speed
        return datetime.fromtimestamp(self.sim_start.timestamp() + el, self.sim_start.tzinfo)

    def summary(self) -> str:
        with self.lock:
            c = dict(self.counts)
        r = c.get("rating", 0)
        avg = f"{c.get('rating_score_sum', 0) / r:.2f}" if r else "-"
        return (f"[{self.sim_now():%H:%M} giờ mô phỏng / simulated] "
                f"vé phát / issued {c.get('ticket:issued', 0)}, gọi / called {c.get('ticket:called', 0)}, "
                f"xong / finished {c.get('ticket:finished', 0)}, vắng / no-show {c.get('ticket:no_show', 0)}, "
                f"đánh giá / ratings {r} (TB/avg {avg}), có mặt / presence changes {c.get('presence:change', 0)}, "
                f"sự cố / faults {c.get('fault', 0)}")

    # -- stop --------------------------------------------------------------------------------------

    def stop_procs(self, names: list[str]) -> None:
        for name in names:
            end_process(name, self.procs.get(name))

    def stop_watch(self) -> None:
        if self.watcher is not None:
            self.watcher.disconnect()
            self.watcher.loop_stop()
            self.watcher = None

    def stop(self, final_summary: bool = False) -> None:
        """Devices first (their outboxes flush), then ticketing; then what the wire carried is
        complete, and the collector stops once it has stored it."""
        self.stopping.set()
        self.stop_procs(["display", "devices", "portal", "ticketing"])
        if self.procs.get("collector") is not None and self.procs["collector"].poll() is None:
            time.sleep(1.0)  # let the last flushed events reach the store
            if final_summary:
                print(self.summary(), flush=True)
        self.stop_procs(["collector"])
        self.stop_watch()
        if self.broker:
            self.broker.stop()
        if not self.args.workdir:
            tidy(self.work, keep_all=self.args.keep)

    def run(self) -> int:
        self.t0 = time.time()
        self.start()
        if not self.wait_http():
            print(f"Máy chủ thu thập không khởi động được / the collector did not start; see {self.work}/collector.log",
                  file=sys.stderr)
            self.stop()
            return 1
        print(f"Bảng điều khiển / dashboard: http://{self.http}/   "
              f"đăng nhập / login: {USER} / {PASSWORD}", flush=True)
        print(f"Trang công dân / citizen portal: {self.portal_url}/   "
              "(mã QR trên phiếu mở trang này / the tickets' QR codes open it)", flush=True)
        print(f"Trung tâm mô phỏng / simulated centre: site {self.site}, {self.args.speed}x from "
              f"{self.sim_start:%H:%M}, seed {self.args.seed}; logs in {self.work}", flush=True)
        end = self.t0 + self.args.duration if self.args.duration else None
        next_line = time.time() + 60
        while not self.stopping.is_set():
            if end and time.time() >= end:
                break
            for name, p in self.procs.items():
                if p.poll() is not None:
                    print(f"{name} đã dừng bất thường / exited with {p.returncode}; see {self.work}/{name}.log",
                          file=sys.stderr)
                    self.stop()
                    return 1
            if time.time() >= next_line:
                print(self.summary(), flush=True)
                next_line += 60
            self.stopping.wait(0.5)
        print("Đang dừng / stopping…", flush=True)
        self.stop(final_summary=True)
        print(f"Đã dừng / stopped. Nhật ký và cơ sở dữ liệu / logs and database: {self.work}", flush=True)
        return 0


def start_process(log_path: Path, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    """``python -m argv...`` from the repository, its output appended to ``log_path``."""
    with open(log_path, "ab") as log:
        return subprocess.Popen([sys.executable, "-m", *argv], cwd=ROOT, env=env, stdout=log, stderr=log,
                                start_new_session=True)


def end_process(name: str, p: subprocess.Popen[bytes] | None, timeout: float = 20) -> None:
    """SIGTERM and wait; SIGKILL (saying so) after ``timeout``."""
    end_processes([(name, p)], timeout)


def end_processes(procs: list[tuple[str, subprocess.Popen[bytes] | None]], timeout: float = 20) -> None:
    """SIGTERM to all at once, then wait for each; SIGKILL (saying so) what outlives ``timeout``."""
    running = [(n, p) for n, p in procs if p is not None and p.poll() is None]
    for _, p in running:
        p.send_signal(signal.SIGTERM)
    end = time.monotonic() + timeout
    for name, p in running:
        try:
            p.wait(max(0.1, end - time.monotonic()))
        except subprocess.TimeoutExpired:
            print(f"{name} không dừng sau {timeout:.0f} s, buộc dừng / did not stop in {timeout:.0f} s: killing it",
                  file=sys.stderr)
            p.kill()
            p.wait()


def wait_http(address: str, timeout: float = 30) -> bool:
    """True once http://address/api/health answers."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            with urllib.request.urlopen(f"http://{address}/api/health", timeout=1):
                return True
        except OSError:
            time.sleep(0.2)
    return False


KEPT = ("*.log", "collector.db", "collector.db-wal", "collector.db-shm")


def tidy(work: Path, keep_all: bool = False) -> None:
    """After a run in a temp dir: keep the logs and the collector's database (the demo printed
    their path), remove the rest (broker, configs, outboxes, voice cache) unless ``keep_all``."""
    if keep_all or not work.is_dir():
        return
    for p in work.iterdir():
        if any(p.match(k) for k in KEPT):
            continue
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)


def _hhmm(text: str) -> str:
    """--start: a local time HH:MM, refused with a clear message otherwise."""
    try:
        h, m = (int(x) for x in text.split(":"))
        dtime(h, m)
    except ValueError:
        raise argparse.ArgumentTypeError(f"giờ không hợp lệ / not a time HH:MM: {text!r}, e.g. 07:30") from None
    return text


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="motcua demo", epilog=EPILOG,
                                 description="Trung tâm mô phỏng / simulated centre.\n\n" + (__doc__ or ""),
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--speed", type=float, default=60.0, help="simulated seconds per real second (default 60)")
    ap.add_argument("--seed", type=int, default=1, help="the same seed gives the same day")
    ap.add_argument("--http", default=None, help="dashboard HOST:PORT (default 127.0.0.1 and a free port)")
    ap.add_argument("--start", type=_hhmm, default="07:00", help="simulated local start time HH:MM (default 07:00)")
    ap.add_argument("--duration", type=float, default=None, help="stop by itself after this many real seconds")
    ap.add_argument("--workdir", default=None, help="keep databases and logs here (default: a temp dir)")
    ap.add_argument("--keep", action="store_true", help="keep everything in the temp dir after stopping "
                    "(configs, outboxes, broker); the logs and collector.db are always kept")
    ap.add_argument("--portal", default=None, metavar="HOST",
                    help="the citizen portal's address in the tickets' QR (default 127.0.0.1; give this "
                    "machine's LAN address to open it from a phone on the same network)")
    ap.add_argument("--display", action="store_true",
                    help="also open the hall display (a window on this desktop, voice calls through aplay)")
    ap.add_argument("--sites", type=int, default=1, choices=range(1, 10), metavar="N",
                    help="N > 1: a province of N simulated sites bridged to a central broker, a private "
                    "PostgreSQL and two central collectors (docs/province.md); default 1, one centre")
    args = ap.parse_args(argv)
    try:
        find_mosquitto()
    except FileNotFoundError:
        print(f"motcua demo: chưa cài Mosquitto / {MOSQUITTO_HINT}", file=sys.stderr)
        return 2
    if args.sites > 1:
        from .province import main as province_main
        return province_main(args)
    return run_until_stopped(Demo(args))


class Runnable(Protocol):
    stopping: threading.Event

    def run(self) -> int: ...

    def stop(self) -> Any: ...


def run_until_stopped(demo: Runnable) -> int:
    """``demo.run()`` with Ctrl-C and SIGTERM asking it to stop in order; anything unexpected
    stops it too, then goes on up."""
    def on_signal(signum: int, _frame: object) -> None:
        demo.stopping.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        return demo.run()
    except BaseException:
        demo.stop()
        raise
