"""``motcua demo --sites N``: a province on this machine (issue 17, docs/province.md).

N simulated district one-stops of one province, each what ``motcua demo`` runs for one centre
(its own private Mosquitto, ticketing, site collector with its SQLite store and dashboard, and the
simulated devices of demo/devices.py; three desks per site here, so three sites fit on two cores),
and the province: a central Mosquitto with each site's bridge written by the provisioning code
itself (ops/bridge.py, TLS with the province CA it makes), a private PostgreSQL cluster
(ops/pgcluster.py), two central collectors sharing the central stream, and the province dashboard.

Ctrl-C stops everything in order: each site's devices (their outboxes flush), ticketing and
collector; then the bridges drain into the central broker until the province store holds every
site's events; then the central collectors, the brokers and PostgreSQL.
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from common.mosquitto import Mosquitto, free_port

from .cli import (PASSWORD, ROOT, SITE_TOML, USER, Demo, end_processes, run_until_stopped, start_process, tidy,
                  wait_http)
from .province_central import Central
from .province_store import CentralStore

#: the districts of one province (Cà Mau), the demo's sites in this order
DISTRICTS = (("camau-tp", "thành phố Cà Mau", "Ca Mau City"), ("nam-can", "huyện Năm Căn", "Nam Can District"),
             ("u-minh", "huyện U Minh", "U Minh District"), ("thoi-binh", "huyện Thới Bình", "Thoi Binh District"),
             ("tran-van-thoi", "huyện Trần Văn Thời", "Tran Van Thoi District"),
             ("cai-nuoc", "huyện Cái Nước", "Cai Nuoc District"), ("dam-doi", "huyện Đầm Dơi", "Dam Doi District"),
             ("phu-tan", "huyện Phú Tân", "Phu Tan District"), ("ngoc-hien", "huyện Ngọc Hiển", "Ngoc Hien District"))
#: the desks each simulated site keeps of config/site.toml's eight: every service is still served
DESKS = (1, 4, 5)
PROVINCE_USER = "tinh"
CENTRAL_COLLECTORS = 2


def site_text(base: str, site: str, name_vi: str, name_en: str, desks: tuple[int, ...] = DESKS) -> str:
    """config/site.toml made one district's: its id and names, and only ``desks``."""
    head, sep, tail = base.partition("\n[[desks]]\n")
    blocks = (sep + tail).split("\n[[desks]]\n")[1:] if sep else []
    kept = [b for b in blocks if int(re.search(r"^number = (\d+)", b, re.M).group(1)) in desks]  # type: ignore[union-attr]
    text = head + "".join("\n[[desks]]\n" + b.rstrip("\n") + "\n" for b in kept)
    text = re.sub(r'^site = ".*"$', f'site = "{site}"', text, count=1, flags=re.M)
    text = re.sub(r'^name_vi = ".*"$', f'name_vi = "Bộ phận Một cửa {name_vi}"', text, count=1, flags=re.M)
    return re.sub(r'^name_en = ".*"$', f'name_en = "{name_en} one-stop"', text, count=1, flags=re.M)


class SiteDemo(Demo):
    """One district: ``motcua demo``'s centre, its broker bridged to the province, no portal."""

    with_portal = False

    def __init__(self, args: argparse.Namespace, text: str, work: Path, bridge_conf: str):
        super().__init__(args, site_text=text, work=work)
        self.bridge_conf = bridge_conf

    def make_broker(self) -> Mosquitto:
        return Mosquitto(self.work / "mosquitto", extra_conf=self.bridge_conf)

    def collector_argv(self, db: Path) -> list[str]:
        # the site collector follows its bridge (motcua/link/{site}) and alerts when it is down
        conf = self.work / "collector.toml"
        conf.write_text("province_link = true\n", encoding="utf-8")
        return [*super().collector_argv(db), "--config", str(conf), "--client-id", f"collector-{self.site}"]


class ProvinceDemo:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.work = Path(args.workdir or tempfile.mkdtemp(prefix="motcua-province-")).resolve()
        self.work.mkdir(parents=True, exist_ok=True)
        self.stopping = threading.Event()
        self.central = Central(self.work / "central")
        self.central_broker: Mosquitto | None = None
        self.store: CentralStore | None = None
        self.sites: list[SiteDemo] = []
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.http = args.http or f"127.0.0.1:{free_port()}"
        base = SITE_TOML.read_text(encoding="utf-8")
        self.site_texts = [(d[0], site_text(base, *d)) for d in DISTRICTS[:args.sites]]

    # -- set-up ------------------------------------------------------------------------------------

    def start_central(self) -> None:
        """The province's files, each site's bridge credentials, then the central broker and store."""
        self.central.init()
        for n, (site, text) in enumerate(self.site_texts):
            work = self.work / site
            work.mkdir(parents=True, exist_ok=True)
            args = argparse.Namespace(**{**vars(self.args), "seed": self.args.seed + n})  # each its own day
            self.sites.append(SiteDemo(args, text, work, self.central.join(site, work / "root")))
        self.central_broker = self.central.broker().start()
        self.store = CentralStore.start(self.work / "central")

    def start_sites(self) -> None:
        """All sites at once (each its own broker, processes and directory)."""
        failed: list[BaseException] = []

        def one(demo: SiteDemo) -> None:
            try:
                demo.t0 = time.time()
                demo.start()
            except BaseException as exc:  # reported below, in this thread
                failed.append(exc)
        threads = [threading.Thread(target=one, args=(d,), name=f"start-{d.site}") for d in self.sites]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if failed:
            raise failed[0]

    def start_collectors(self) -> None:
        assert self.store is not None
        user, password = self.central.collector_login()
        env = dict(self.sites[0].env)  # the sites' simulated clock
        for i in range(1, CENTRAL_COLLECTORS + 1):
            http = self.http if i == 1 else f"127.0.0.1:{free_port()}"
            conf = self.central.root / f"collector-{i}.toml"
            conf.write_text(self.store.collector_toml(i, broker=self.central.url, http=http, user=user,
                                                      password=password, folder=self.central.root),
                            encoding="utf-8")
            conf.chmod(0o600)
            if i == 1:  # the province-wide login, in the shared store (migrated here, before both start)
                subprocess.run([sys.executable, "-m", "collector", "add-user", PROVINCE_USER, "--config", str(conf)],
                               input=(PASSWORD + "\n").encode(), cwd=ROOT, env=env, check=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            self.procs[f"central-{i}"] = start_process(self.work / f"central-{i}.log",
                                                       ["collector", "--config", str(conf)], env)

    def central_http(self) -> list[str]:
        return [self.http] + [self._http_of(i) for i in range(2, CENTRAL_COLLECTORS + 1)]

    def _http_of(self, i: int) -> str:
        text = (self.central.root / f"collector-{i}.toml").read_text(encoding="utf-8")
        m = re.search(r'^http = "(.*)"$', text, re.M)
        return m.group(1) if m else ""

    # -- what happened -----------------------------------------------------------------------------

    def province_line(self) -> str:
        assert self.store is not None
        counts = self.store.events_by_site()
        per = ", ".join(f"{s.site} {counts.get(s.site, 0)}" for s in self.sites)
        return f"[tỉnh / province] sự kiện trong kho tỉnh / events in the province store: {per}"

    def print_lines(self) -> None:
        for s in self.sites:
            print(f"[{s.site}] {s.summary()}", flush=True)
        print(self.province_line(), flush=True)

    # -- run and stop ------------------------------------------------------------------------------

    def run(self) -> int:
        # the central collectors subscribe before any site produces: their sessions then hold
        # everything the bridges forward (what came before is gap filling's to fetch)
        self.start_central()
        self.start_collectors()
        central = [(f"central-{i + 1}", h, self.work / f"central-{i + 1}.log") for i, h in enumerate(self.central_http())]
        if not self.wait_collectors(central):
            return 1
        self.start_sites()
        if not self.wait_collectors([(s.site, s.http, s.work / "collector.log") for s in self.sites]):
            return 1
        print(f"Bảng điều khiển tỉnh / province dashboard (tỉnh / province): http://{self.http}/tinh   "
              f"đăng nhập / login: {PROVINCE_USER} / {PASSWORD}", flush=True)
        for s in self.sites:
            print(f"Điểm / site {s.site}: http://{s.http}/   đăng nhập / login: {USER} / {PASSWORD}", flush=True)
        assert self.store is not None
        print(f"Tỉnh mô phỏng / simulated province: {len(self.sites)} sites bridged over TLS to the central broker "
              f"{self.central.url} ({self.central.province_url} for the bridges), {CENTRAL_COLLECTORS} central "
              f"collectors on {self.store.describe()}; {self.args.speed}x, seed {self.args.seed}; logs in {self.work}",
              flush=True)
        end = time.time() + self.args.duration if self.args.duration else None
        next_line = time.time() + 60
        while not self.stopping.is_set():
            if end and time.time() >= end:
                break
            dead = self.dead_process()
            if dead:
                print(dead, file=sys.stderr)
                self.stop()
                return 1
            if time.time() >= next_line:
                self.print_lines()
                next_line += 60
            self.stopping.wait(0.5)
        print("Đang dừng / stopping…", flush=True)
        ok = self.stop(final=True)
        print(f"Đã dừng / stopped. Nhật ký / logs: {self.work}", flush=True)
        return 0 if ok else 1

    def wait_collectors(self, which: list[tuple[str, str, Path]]) -> bool:
        for name, http, log in which:
            if not wait_http(http, 60):
                print(f"Máy chủ thu thập {name} không khởi động được / collector {name} did not start; see {log}",
                      file=sys.stderr)
                self.stop()
                return False
        return True

    def dead_process(self) -> str | None:
        for s in self.sites:
            for name, p in s.procs.items():
                if p.poll() is not None:
                    return f"{s.site} {name} đã dừng bất thường / exited with {p.returncode}; see {s.work}/{name}.log"
        for name, p in self.procs.items():
            if p.poll() is not None:
                return f"{name} đã dừng bất thường / exited with {p.returncode}; see {self.work}/{name}.log"
        return None

    def converged(self, timeout: float = 30.0) -> bool:
        """Wait until the province store holds every event each site stored (by id)."""
        assert self.store is not None
        end = time.monotonic() + timeout
        while True:
            missing = {s.site: len(self.store.missing(s.site, s.work / "collector.db")) for s in self.sites}
            if not any(missing.values()):
                return True
            if time.monotonic() >= end:
                print(f"Kho tỉnh thiếu sự kiện / the province store lacks events: {missing}", file=sys.stderr)
                return False
            time.sleep(0.5)

    def stop(self, final: bool = False) -> bool:
        """Sites' devices, ticketing, collectors; the bridges drain; central collectors; brokers; PostgreSQL."""
        self.stopping.set()
        ok = True
        for s in self.sites:
            s.stopping.set()
        for names in (["devices"], ["ticketing"]):  # every site at once, one kind after the other
            end_processes([(f"{s.site} {n}", s.procs.get(n)) for s in self.sites for n in names])
        time.sleep(1.0)  # the last flushed events reach the site stores
        end_processes([(f"{s.site} collector", s.procs.get("collector")) for s in self.sites])
        for s in self.sites:
            s.stop_watch()
        if final and self.store is not None and all(p.poll() is None for p in self.procs.values()):
            ok = self.converged()
            self.print_lines()
        end_processes(sorted(self.procs.items()))
        for s in self.sites:
            if s.broker:
                s.broker.stop()
        if self.central_broker:
            self.central_broker.stop()
        if self.store is not None:
            self.store.stop()
        if not self.args.workdir:
            for s in self.sites:
                tidy(s.work, keep_all=self.args.keep)
        return ok


def main(args: argparse.Namespace) -> int:
    if args.display or args.portal:
        print("motcua demo --sites: --display và --portal chỉ dành cho một trung tâm / are for one centre "
              "(motcua demo)", file=sys.stderr)
        return 2
    missing = CentralStore.missing_requirement()
    if missing:
        print(f"motcua demo --sites: {missing}", file=sys.stderr)
        return 2
    return run_until_stopped(ProvinceDemo(args))


