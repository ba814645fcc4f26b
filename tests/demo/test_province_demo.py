"""`motcua demo --sites 3` for real: three simulated sites bridged over TLS to a central broker,
two central collectors on a private PostgreSQL cluster. After it stops by itself, the province
store holds every event each site's own store holds, once."""
from __future__ import annotations

import importlib.util
import os
import re
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import psutil
import pytest

from demo.province import DISTRICTS
from demo.province_store import existing_cluster_dir
from tests.collector.web_client import login

ROOT = Path(__file__).resolve().parents[2]
SITES = [d[0] for d in DISTRICTS[:3]]


def _pg_or_skip() -> None:
    try:
        from ops.pgcluster import find_bindir
        find_bindir()
    except FileNotFoundError as exc:
        pytest.skip(f"PostgreSQL's server binaries are not installed here: {exc}")


#: provweb's province page (collector/web/province.py), checked once it is in the tree
PROVINCE_PAGE = importlib.util.find_spec("collector.province_live") is not None


class ProvincePage(threading.Thread):
    """Logs in with the printed province login and reads /api/province until all three sites are
    listed live or the demo stops (the demo prints its line once the central collectors are up,
    while the sites' first retained state is still on its way over the bridges)."""

    def __init__(self, base: str, user: str, password: str):
        super().__init__(daemon=True)
        self.base, self.user, self.password = base, user, password
        self.seen: set[str] = set()
        self.login_status = 0
        self.stopping = threading.Event()

    def run(self) -> None:
        with httpx.Client(base_url=self.base, timeout=10) as c:
            self.login_status = login(c, self.user, self.password).status_code
            while not self.stopping.is_set() and not self.seen >= set(SITES):
                try:
                    self.seen.update(row["site"] for row in c.get("/api/province").json().get("sites", []))
                except (httpx.HTTPError, ValueError):
                    pass  # the demo is stopping, or the page is not up yet
                self.stopping.wait(1.0)


def stop_cluster(central: Path) -> None:
    pg = existing_cluster_dir(central)
    if pg is not None and (pg / "data").is_dir():
        from ops.pgcluster import PgCluster
        PgCluster(pg).stop(remove=pg.name.startswith("motcua-province-pg-"))


def central_ids(central: Path) -> dict[str, list[str]]:
    """Every event id in the province store, per site (the cluster the demo kept, started again)."""
    import psycopg

    from ops.pgcluster import PgCluster
    pg = existing_cluster_dir(central)
    assert pg is not None, f"no PostgreSQL cluster under {central}"
    cluster = PgCluster(pg, dbname="province").start()
    try:
        with psycopg.connect(cluster.url) as conn:
            rows = conn.execute("SELECT site, id FROM events").fetchall()
    finally:
        cluster.stop()
    out: dict[str, list[str]] = {}
    for site, eid in rows:
        out.setdefault(site, []).append(eid)
    return out


def test_province_demo_three_sites_reach_the_central_store(tmp_path: Path) -> None:
    _pg_or_skip()
    work = tmp_path / "province"
    try:
        run_and_check(work)
    finally:  # stopped if a failed demo left it running; removed when outside tmp_path
        stop_cluster(work / "central")


def run_and_check(work: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "common", "demo", "--sites", "3", "--speed", "120",
                             "--duration", "20", "--workdir", str(work)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    family: list[int] = []
    page: ProvincePage | None = None
    lines: list[str] = []
    killer = threading.Timer(150, proc.kill)  # about 70 s start to stopped; a guard for a loaded machine
    killer.start()
    try:
        for line in proc.stdout:  # type: ignore[union-attr]
            lines.append(line)
            if not family and "tỉnh / province" in line:  # everything is up: note who runs
                family = [proc.pid] + [c.pid for c in psutil.Process(proc.pid).children(recursive=True)]
                m = re.search(r"(http://[\d.:]+)/tinh\s+đăng nhập / login: (\S+) / (\S+)", line)
                if m and PROVINCE_PAGE:
                    page = ProvincePage(m.group(1), m.group(2), m.group(3))
                    page.start()
            if page is not None and "Đang dừng / stopping" in line:
                page.stopping.set()
        proc.wait(5)
    finally:
        killer.cancel()
        if page is not None:
            page.stopping.set()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    out = "".join(lines)
    assert proc.returncode == 0, out
    m = re.search(r"tỉnh / province\): (http://[\d.:]+/tinh)\s+đăng nhập / login: (\S+) / (\S+)", out)
    assert m, out
    for site in SITES:
        assert re.search(rf"Điểm / site {site}: http://[\d.:]+/\s+đăng nhập / login: \S+ / \S+", out), out
    assert "Đã dừng / stopped." in out
    if PROVINCE_PAGE:
        assert page is not None
        page.join(15)
        assert page.login_status in (200, 303), page.login_status
        assert page.seen >= set(SITES), f"the province page lists {page.seen}"
    assert not [p for p in family if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]

    pg = existing_cluster_dir(work / "central")
    assert pg is None or not (pg / "data/postmaster.pid").exists(), "PostgreSQL left running"
    central = central_ids(work / "central")
    for site in SITES:
        db = sqlite3.connect(work / site / "collector.db")
        own = {r[0] for r in db.execute("SELECT id FROM events WHERE site=?", (site,))}
        db.close()
        assert len(own) > 10, f"{site} stored only {len(own)} events"
        got = central.get(site, [])
        assert len(got) == len(set(got)), f"{site}: an event stored twice centrally"
        assert own <= set(got), f"{site}: {len(own - set(got))} of its {len(own)} events missing centrally"
    assert set(central) == set(SITES), central.keys()
