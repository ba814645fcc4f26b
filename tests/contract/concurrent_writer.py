"""One of several writer processes on one PostgreSQL store (tests/contract/test_concurrent_writers.py):
``python -m tests.contract.concurrent_writer URL PLAN.json GO_FILE`` writes its share of the plan's
events through collector.store.Store, in batches, retrying a batch the store calls busy (a deadlock
between the writers), as the collector's ingest does; prints what it stored as JSON."""
from __future__ import annotations

import json
import sys
import time
from datetime import datetime
from pathlib import Path

from collector import backend
from collector.db import open_db
from collector.store import Incoming, Store
from tests.collector.wire import VN


def main(url: str, plan_file: str, go: str) -> int:
    plan = json.loads(Path(plan_file).read_text())
    store = Store(open_db(url))
    print("ready", flush=True)
    while not Path(go).exists():
        time.sleep(0.01)
    totals: dict[str, float] = {"stored": 0, "duplicates": 0, "retries": 0, "start": time.time()}
    size = plan["batch"]
    msgs = plan["messages"]
    for i in range(0, len(msgs), size):
        batch = [Incoming(t, p.encode(), False, datetime.now(VN)) for t, p in msgs[i:i + size]]
        while True:
            try:
                res = store.write_batch(batch)
                break
            except backend.OperationalError as exc:
                if not backend.is_busy(exc):
                    raise
                totals["retries"] += 1
                time.sleep(0.05)
        totals["stored"] += res.stored
        totals["duplicates"] += res.duplicates
        time.sleep(plan["pause_s"])  # the other writer's batches come in between
    totals["end"] = time.time()
    print(json.dumps(totals), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
