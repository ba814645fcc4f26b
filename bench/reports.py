"""Bench: a year of a busy centre (the collector's real schema), then each report period and grouping.

Run: .venv/bin/python bench/reports.py [--days 250] [--tickets 300]
Prints per-report times and, as its last line, one JSON object (keys carry units).
"""
from __future__ import annotations

import _util  # noqa: F401  (puts the repo on sys.path)

import argparse
import json
import random
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from collector.db import connect, open_db
from collector.report_series import arrivals_by_hour, occupancy_by_hour, satisfaction_over_time, waits_by_hour
from collector.reports import Period, build_report
from mqtt import topics

from tests.reports.fixture import SITE, SITE_STATE

VN = ZoneInfo("Asia/Ho_Chi_Minh")


def fill(path: Path, days: int, per_day: int, desks: int = 8) -> int:
    conn = open_db(path)
    rnd = random.Random(7)
    conn.execute("INSERT INTO retained_state (topic, site, name, payload, received_at, received_epoch) "
                 "VALUES (?, ?, 'site', ?, '', 0)", (topics.state(SITE, "site"), SITE, SITE_STATE.model_dump_json()))
    conn.execute("BEGIN")
    n = 0
    d = date(2026, 1, 2)
    for _ in range(days):
        d += timedelta(days=1)
        if d.weekday() == 6:
            d += timedelta(days=1)
        base = datetime.combine(d, datetime.min.time(), VN).timestamp()
        for i in range(per_day):
            issued = base + 7 * 3600 + rnd.uniform(0, 9 * 3600)
            wait, service, desk = rnd.uniform(60, 3600), rnd.uniform(120, 1200), rnd.randint(1, desks)
            svc = rnd.choice(("HT", "GT"))
            common = (SITE, "tk", str(1000 + i), 1000 + i, d.isoformat(), svc)
            for action, ts, w, s, dk in (("issued", issued, None, None, None), ("called", issued + wait, wait, None, desk),
                                         ("finished", issued + wait + service, wait, service, desk)):
                n += 1
                conn.execute("INSERT INTO ticket_events (id, site, device, ticket, number, day, service, action, desk, "
                             "officer, issued_at, wait_s, service_s, ts, ts_epoch) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                             (f"t{n}", *common, action, dk, f"nv-{dk}" if dk else None,
                              datetime.fromtimestamp(issued, VN).isoformat(), w, s, "", ts))
            if rnd.random() < 0.6:
                n += 1
                conn.execute("INSERT INTO ratings (id, site, device, desk, score, scale, service, officer, misuse, day, "
                             "ts, ts_epoch) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                             (f"r{n}", SITE, "rt", desk, rnd.randint(1, 5), 5, svc, f"nv-{desk}", 0, d.isoformat(), "",
                              issued + wait + service + 5))
        for desk in range(1, desks + 1):
            t = base + 7 * 3600
            for _ in range(12):
                t += rnd.uniform(600, 2400)
                n += 1
                conn.execute("INSERT INTO presence (id, site, device, desk, zone, kind, present, since, ts, ts_epoch) "
                             "VALUES (?,?,?,?,?,?,?,?,?,?)", (f"p{n}", SITE, "cam", desk, "officer", "change",
                                                              n % 2, None, "", t))
            n += 1
            conn.execute("INSERT INTO desk_sessions (id, site, device, desk, action, officer, ts, ts_epoch) "
                         "VALUES (?,?,?,?,?,?,?,?)", (f"s{n}", SITE, "dt", desk, "sign_in", f"nv-{desk}", "",
                                                      base + 6.5 * 3600))
    conn.execute("COMMIT")
    conn.close()
    return n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--days", type=int, default=250)
    ap.add_argument("--tickets", type=int, default=300, help="tickets per day")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db"
        t0 = time.perf_counter()
        rows = fill(path, a.days, a.tickets)
        print(f"filled {rows} rows in {time.perf_counter() - t0:.1f} s")
        conn = connect(path, readonly=True)
        out: dict[str, float] = {}
        for kind in ("day", "month", "year"):
            p = Period(kind, date(2026, 6, 10))  # type: ignore[arg-type]
            for by in ("service", "desk", "officer"):
                t0 = time.perf_counter()
                build_report(conn, p, by)
                ms = (time.perf_counter() - t0) * 1000
                print(f"{kind:5} by {by:8} {ms:8.1f} ms")
                out[f"report_{kind}_{by}_ms"] = round(ms, 1)
            t0 = time.perf_counter()
            arrivals_by_hour(conn, p), waits_by_hour(conn, p), satisfaction_over_time(conn, p), occupancy_by_hour(conn, p)
            out[f"charts_{kind}_ms"] = round((time.perf_counter() - t0) * 1000, 1)
            print(f"{kind:5} charts      {out[f'charts_{kind}_ms']:8.1f} ms")
        out["rows"] = rows
        print(json.dumps(out))


if __name__ == "__main__":
    main()
