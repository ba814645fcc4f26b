"""`motcua demo` in a temp dir keeps its logs and collector.db (it printed their path); --keep keeps all."""
from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from demo.cli import tidy

ROOT = Path(__file__).resolve().parents[2]


def _work(tmp_path: Path) -> Path:
    w = tmp_path / "motcua-demo-x"
    (w / "mosquitto").mkdir(parents=True)
    (w / "mosquitto" / "mosquitto.conf").write_text("listener 1\n")
    (w / "devices" / "rt-01").mkdir(parents=True)
    (w / "devices" / "rt-01" / "outbox.db").write_bytes(b"")
    for name in ("collector.log", "devices.log", "collector.db", "collector.db-wal", "ticketing.toml",
                 "ticketing.db"):
        (w / name).write_text("x")
    return w


def test_tidy_keeps_logs_and_database(tmp_path: Path) -> None:
    w = _work(tmp_path)
    tidy(w)
    assert sorted(p.name for p in w.iterdir()) == ["collector.db", "collector.db-wal", "collector.log",
                                                   "devices.log"]


def test_tidy_keep_all_keeps_everything(tmp_path: Path) -> None:
    w = _work(tmp_path)
    before = sorted(str(p.relative_to(w)) for p in w.rglob("*"))
    tidy(w, keep_all=True)
    assert sorted(str(p.relative_to(w)) for p in w.rglob("*")) == before


@pytest.mark.timeout(240)
def test_the_printed_path_still_holds_logs_and_database_after_the_demo(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1", TMPDIR=str(tmp_path))
    proc = subprocess.run([sys.executable, "-m", "common", "demo", "--speed", "120", "--duration", "3"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=200)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    m = re.search(r"logs in (\S+)", proc.stdout)
    assert m, proc.stdout
    work = Path(m.group(1))
    assert work.parent == tmp_path and f"logs and database: {work}" in proc.stdout
    assert (work / "collector.log").stat().st_size > 0 and (work / "devices.log").exists()
    with sqlite3.connect(work / "collector.db") as db:
        assert db.execute("SELECT count(*) FROM schema_version").fetchone()[0] >= 1
    assert not (work / "mosquitto").exists() and not (work / "ticketing.toml").exists()
