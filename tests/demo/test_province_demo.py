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
from typing import Any

import httpx
import psutil
import pytest

from demo.province import DISTRICTS
from demo.province_store import existing_cluster_dir
from tests.collector.web_client import login
from tests.support.wait import wait_for

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


def province_sites(base: str, user: str, password: str) -> set[str]:
    """Log in with the printed province login and read /api/province until all three sites are
    listed live (the demo prints its line once the central collectors are up, before the sites)."""
    seen: set[str] = set()
    with httpx.Client(base_url=base, timeout=10) as c:
        r = login(c, user, password)
        assert r.status_code in (200, 303), r.text[:500]

        def listed() -> bool:
            seen.update(row["site"] for row in c.get("/api/province").json().get("sites", []))
            return seen >= set(SITES)
        wait_for(listed, 40, 1.0)
    return seen


def central_ids(central: Path) -> dict[str, list[str]]:
    """Every event id in the province store, per site (the cluster the demo kept, started again)."""
    rows: list[Any]
    pg = existing_cluster_dir(central)
    if pg is not None:
        import psycopg

        from ops.pgcluster import PgCluster
        cluster = PgCluster(pg, dbname="province").start()
        try:
            with psycopg.connect(cluster.url) as conn:
                rows = conn.execute("SELECT site, id FROM events").fetchall()
        finally:
            cluster.stop(remove=pg.name.startswith("motcua-province-pg-"))  # outside tmp_path: ours to remove
    else:  # the interim SQLite province store
        lite = sqlite3.connect(central / "central.db")
        rows = lite.execute("SELECT site, id FROM events").fetchall()
        lite.close()
    out: dict[str, list[str]] = {}
    for site, eid in rows:
        out.setdefault(site, []).append(eid)
    return out


def test_province_demo_three_sites_reach_the_central_store(tmp_path: Path) -> None:
    _pg_or_skip()
    work = tmp_path / "province"
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "common", "demo", "--sites", "3", "--speed", "120",
                             "--duration", "20", "--workdir", str(work)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    family: list[int] = []
    listed: set[str] = set()
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
                    listed = province_sites(m.group(1), m.group(2), m.group(3))
        proc.wait(5)
    finally:
        killer.cancel()
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
        assert listed >= set(SITES), f"the province page lists {listed}"
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
