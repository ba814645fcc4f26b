"""A full disk and read-only storage, on a device and on the collector: the real error, a fault,
a health that says so, nothing confirmed forgotten. A small tmpfs of our own (root) holds the files."""
from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

from mqtt.client import BrokerConfig, DeviceClient
from mqtt.errors import OutboxStorageError
from mqtt.outbox import Outbox
from tests.mqtt.site import start_ingest, stored_seqs
from tests.support.mqtt import Recorder

RATING = {"desk": 5, "score": 4, "scale": 5}


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    d = tmp_path / "disk"
    d.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(d)], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {r.stderr.decode().strip()}")
    try:
        yield d
    finally:
        subprocess.run(["umount", "-l", str(d)], check=False)


def _fill(d: Path) -> Path:
    """Take every free byte of the small disk (unbuffered, so closing has nothing left to flush)."""
    filler = d / "filler"
    with open(filler, "wb", buffering=0) as f:
        for chunk in (65536, 4096, 512, 1):
            try:
                while True:
                    f.write(b"\0" * chunk)
            except OSError:
                pass
    return filler


def test_device_disk_full_gives_the_real_error_a_fault_and_keeps_everything(broker, small_disk, tmp_path):
    ing = start_ingest(broker.url, tmp_path / "collector.db", "s1")
    ob = Outbox(small_disk / "outbox.db", "s1", "rt-05")
    c = DeviceClient("s1", "rt-05", "test", BrokerConfig(url=broker.url), outbox=ob, telemetry_interval_s=0)
    c.start()
    rec = Recorder(broker.port, "motcua/v1/s1/dev/rt-05/evt/fault")
    try:
        assert c.wait_connected(10)
        for _ in range(20):
            ob.enqueue("rating", RATING)
        assert c.wait_confirmed(20)
        filler = _fill(small_disk)
        big = {"desk": 5, "score": 4, "scale": 5, "ticket": "x" * 20}
        with pytest.raises(OutboxStorageError) as err:
            for _ in range(5000):  # WAL pages already there may take a few
                ob.enqueue_many([("rating", big)] * 50)
        assert err.value.kind == "disk_full" and "full" in str(err.value)
        assert "cannot rollback" not in str(err.value)
        seq_before = ob.next_seq
        with pytest.raises(OutboxStorageError):
            ob.enqueue("rating", RATING)
        assert ob.next_seq == seq_before  # a refused event uses no seq
        assert c.telemetry().storage == "disk_full"
        held = ob.depth()
        filler.unlink()
        time.sleep(0.1)
        ob.enqueue("rating", RATING)  # room again
        assert c.wait_confirmed(30), f"{ob.depth()} of {held + 1} never confirmed"
        assert rec.wait_for(lambda m: len(m) >= 2, 20)
        faults = rec.json()
        assert [f["data"]["code"] for f in faults[:2]] == ["storage_full", "storage_full"]
        assert [f["data"]["active"] for f in faults[:2]] == [True, False]
        seqs = stored_seqs(tmp_path / "collector.db", "rt-05")
        assert len(seqs) == len(set(seqs)) and set(range(1, seq_before)) <= set(seqs)
        assert c.telemetry().storage == "ok"
    finally:
        rec.close()
        c.stop()
        ing.stop()
        ob.close()


def test_read_only_outbox_refuses_to_open_naming_the_file(tmp_path):
    d = tmp_path / "ro"
    d.mkdir()
    Outbox(d / "outbox.db", "s1", "rt-05").close()
    subprocess.run(["mount", "--bind", str(d), str(d)], check=False)
    r = subprocess.run(["mount", "-o", "remount,ro,bind", str(d)], capture_output=True)
    if r.returncode != 0:
        pytest.skip("cannot remount read-only here")
    try:
        with pytest.raises(OutboxStorageError) as err:
            ob = Outbox(d / "outbox.db", "s1", "rt-05")
            ob.enqueue("rating", RATING)
        assert err.value.kind == "read_only" and "outbox.db" in str(err.value)
    finally:
        subprocess.run(["umount", "-l", str(d)], check=False)


def test_collector_disk_full_keeps_everything_and_says_so(broker, small_disk, tmp_path):
    db = small_disk / "collector.db"
    ing = start_ingest(broker.url, db, "s1")
    ob = Outbox(tmp_path / "outbox.db", "s1", "rt-05")
    c = DeviceClient("s1", "rt-05", "test", BrokerConfig(url=broker.url), outbox=ob, telemetry_interval_s=0)
    c.start()
    try:
        assert c.wait_connected(10)
        ob.enqueue("rating", RATING)
        assert c.wait_confirmed(20)
        filler = _fill(small_disk)
        payload = {"desk": 5, "score": 4, "scale": 5, "ticket": "y" * 30}
        for _ in range(8):
            ob.enqueue_many([("rating", payload)] * 100)
        end = time.monotonic() + 30
        while ing.stats.storage == "ok" and time.monotonic() < end:
            time.sleep(0.05)
        assert ing.stats.storage == "disk_full", ing.stats
        assert "cannot rollback" not in (ing.stats.storage_error or "")
        assert ob.depth() > 0  # not confirmed: the device keeps them
        os.unlink(filler)
        assert c.wait_confirmed(60), f"{ob.depth()} never confirmed"
        seqs = stored_seqs(db, "rt-05")
        assert seqs == list(range(1, 802))  # every one, once
        assert ing.stats.storage == "ok"
        # the collector's own fault went the same way: its outbox, the broker, the store, confirmed
        assert ing.client.wait_confirmed(30)
        with sqlite3.connect(db) as conn:
            faults = conn.execute("SELECT code, active FROM faults WHERE device='collector' ORDER BY ts_epoch").fetchall()
        assert [f for f in faults if f[0] == "database_full"] == [("database_full", 1), ("database_full", 0)]
    finally:
        c.stop()
        ing.stop()
        ob.close()


def test_collector_on_a_read_only_directory_says_so_without_a_traceback(tmp_path):
    d = tmp_path / "ro"
    d.mkdir()
    subprocess.run(["mount", "--bind", str(d), str(d)], check=False)
    r = subprocess.run(["mount", "-o", "remount,ro,bind", str(d)], capture_output=True)
    if r.returncode != 0:
        pytest.skip("cannot remount read-only here")
    try:
        root = Path(__file__).resolve().parents[2]
        p = subprocess.run([sys.executable, "-m", "collector", "--db", str(d / "collector.db"),
                            "--broker", "mqtt://127.0.0.1:9", "--site", "s1", "--http", "127.0.0.1:9"],
                           cwd=root, capture_output=True, text=True, timeout=60,
                           env=dict(os.environ, PYTHONPATH=str(root)))
        assert p.returncode == 2, p.stderr
        assert "Traceback" not in p.stderr
        assert "collector.db" in p.stderr and "không ghi được" in p.stderr and "cannot write" in p.stderr
    finally:
        subprocess.run(["umount", "-l", str(d)], check=False)
