"""Two collector writer processes on one PostgreSQL database, racing over the same events: every id
is stored once, and each device's last_seq and gaps come out as if one writer had written them all."""
from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

from collector.db import open_db
from collector.queries import Reader
from tests.collector.wire import ROOT, rating

DEVICES = ("rt-01", "rt-02", "rt-03", "rt-04")
SEQS = range(1, 301)
LOST = range(150, 161)  # rt-01's events no writer ever gets: the one real gap


def _plans(tmp: Path) -> list[Path]:
    rnd = random.Random(17)
    events = {d: [rating(desk=i + 1, score=1 + s % 5, device=d, seq=s, id_=f"cw-{d}-{s:04d}")
                  for s in SEQS if not (d == "rt-01" and s in LOST)] for i, d in enumerate(DEVICES)}
    shares: list[list[tuple[str, str]]] = [[], []]
    # each writer gets each device's events in seq order (as devices send them), devices interleaved
    # differently; an event goes to one writer or to both (a resend that another collector receives)
    cursors = {d: 0 for d in DEVICES}
    while any(cursors[d] < len(events[d]) for d in DEVICES):
        d = rnd.choice([d for d in DEVICES if cursors[d] < len(events[d])])
        topic, payload = events[d][cursors[d]]
        cursors[d] += 1
        for w in {0: (0,), 1: (1,), 2: (0, 1)}[rnd.randrange(3)]:
            shares[w].append((topic, payload.decode()))
    out = []
    for w, (share, batch) in enumerate(zip(shares, (20, 31))):
        p = tmp / f"plan-{w}.json"
        p.write_text(json.dumps({"batch": batch, "messages": share, "pause_s": 0.01}))
        out.append(p)
    return out


def test_two_writers_store_each_id_once_and_agree_on_gaps(pg_url, tmp_path):
    open_db(pg_url).close()  # migrated once (two starting together would wait on the migration lock)
    go = tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, "-m", "tests.contract.concurrent_writer", pg_url, str(p), str(go)],
                              cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
             for p in _plans(tmp_path)]
    try:
        for p in procs:
            assert p.stdout is not None and p.stdout.readline().strip() == "ready", p.stderr.read() if p.stderr else ""
        go.touch()  # both at once
        results = []
        for p in procs:
            out, err = p.communicate(timeout=120)
            assert p.returncode == 0, err[-3000:]
            results.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    unique = len(DEVICES) * len(SEQS) - len(LOST)
    a, b = results
    assert a["start"] < b["end"] and b["start"] < a["end"], results  # they really wrote at the same time
    sent = sum(len(json.loads(p.read_text())["messages"]) for p in tmp_path.glob("plan-*.json"))
    assert sum(r["duplicates"] for r in results) == sent - unique
    assert sum(r["stored"] for r in results) == unique  # between them, each id stored by exactly one
    conn = open_db(pg_url)
    assert conn.execute("SELECT count(*), count(DISTINCT id) FROM events").fetchone()[:] == (unique, unique)
    assert conn.execute("SELECT count(*) FROM ratings").fetchone()[0] == unique
    devices = {d["device"]: d for d in Reader(pg_url).devices()}
    assert {d: (v["last_seq"], v["seq_gaps"]) for d, v in devices.items()} == {
        "rt-01": (300, [{"from": 150, "to": 160}]), "rt-02": (300, []), "rt-03": (300, []), "rt-04": (300, [])}
