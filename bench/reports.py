"""Bench: a year of a busy centre (the collector's real schema), then each report period and grouping.

Run: .venv/bin/python bench/reports.py [--days 250] [--tickets 300] [--officers 50]
Prints per-report times, the month evaluation sheets for every officer (figures, XLSX and PDF; target
<= 2,000 ms for 50 officers) with their ratio to one month's report by officer, the alert evaluation
cost per event against the store's own write cost per event, and, as its last line, one JSON object
(keys carry units).
"""
from __future__ import annotations

import _util  # noqa: F401  (puts the repo on sys.path)

import argparse
import json
import random
import statistics
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from collector.alerts import AlertEngine
from collector.db import connect, open_db
from collector.evaluation import evaluation_sheets
from collector.exports import sheet_pdf, sheet_xlsx, sheets_pdf, sheets_xlsx
from collector.manager_config import AlertThresholds
from collector.staff import Officer, Staff
from collector.store import Incoming, Store
from collector.report_series import arrivals_by_hour, occupancy_by_hour, satisfaction_over_time, waits_by_hour
from collector.reports import Period, build_report
from mqtt import topics

from tests.reports.fixture import SITE, SITE_STATE

VN = ZoneInfo("Asia/Ho_Chi_Minh")


def site_state(desks: int) -> str:
    s = json.loads(SITE_STATE.model_dump_json())
    s["desks"] = [{"number": d, "services": ["HT", "GT"] if d % 2 else ["HT"]} for d in range(1, desks + 1)]
    return json.dumps(s)


def fill(path: Path, days: int, per_day: int, desks: int = 8) -> int:
    conn = open_db(path)
    rnd = random.Random(7)
    conn.execute("INSERT INTO retained_state (topic, site, name, payload, received_at, received_epoch) "
                 "VALUES (?, ?, 'site', ?, '', 0)", (topics.state(SITE, "site"), SITE, site_state(desks)))
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


def bench_evaluations(path: Path, officers: int, out: dict[str, float]) -> None:
    """Month sheets (figures + XLSX + PDF) for every officer, against one month's report by officer."""
    staff = Staff([Officer(id=f"nv-{i}", name=f"Nguyễn Văn {i}", department="Phòng Tư pháp")
                   for i in range(1, officers + 1)])
    conn = connect(path, readonly=True)
    month = Period("month", date(2026, 6, 1))
    t0 = time.perf_counter()
    build_report(conn, month, "officer", staff=staff)
    report_ms = (time.perf_counter() - t0) * 1000
    t0 = time.perf_counter()
    sheets = evaluation_sheets(conn, month, staff)
    figures_ms = (time.perf_counter() - t0) * 1000
    t1 = time.perf_counter()
    size = len(sheets_xlsx(sheets)) + len(sheets_pdf(sheets))  # the month's sheets: one workbook, one PDF
    files_ms = (time.perf_counter() - t1) * 1000
    t1 = time.perf_counter()
    for s in sheets[:5]:
        sheet_xlsx(s), sheet_pdf(s)
    single_ms = (time.perf_counter() - t1) * 1000 / 5
    total = figures_ms + files_ms
    print(f"evaluation sheets: {len(sheets)} officers, figures {figures_ms:.0f} ms + XLSX/PDF {files_ms:.0f} ms = "
          f"{total:.0f} ms (target <= 2000 ms; {size / 1e6:.1f} MB); one month report by officer {report_ms:.0f} ms "
          f"-> ratio {total / report_ms:.1f}x; one officer's own XLSX + PDF download {single_ms:.0f} ms")
    out["evaluation_single_download_ms"] = round(single_ms, 1)
    out.update(evaluation_sheets_ms=round(total, 1), evaluation_figures_ms=round(figures_ms, 1),
               evaluation_files_ms=round(files_ms, 1), evaluation_officers=len(sheets),
               month_report_by_officer_ms=round(report_ms, 1), evaluation_to_report_ratio=round(total / report_ms, 2))
    conn.close()


def bench_alerts(path: Path, desks: int, out: dict[str, float]) -> None:
    """One alert evaluation (what the collector runs after a batch; at worst one per event) on a busy site,
    against the store's cost of writing one event (batches of one, the worst case)."""
    conn = open_db(path)
    now = datetime(2026, 6, 10, 10, 0, tzinfo=VN)
    conn.execute("BEGIN")
    for d in range(1, desks + 1):
        conn.execute("INSERT OR REPLACE INTO desk_presence (site, desk, zone, present, since, device, updated_epoch) "
                     "VALUES (?, ?, 'officer', ?, ?, 'cam', 0)", (SITE, d, d % 3 != 0,
                                                                  (now - timedelta(minutes=d)).isoformat()))
    for sv in ("HT", "GT"):
        st = {"v": 1, "service": sv, "day": now.date().isoformat(), "waiting": 12, "issued": 100, "capacity": 300,
              "oldest_issued_at": (now - timedelta(minutes=25)).isoformat()}
        conn.execute("INSERT OR REPLACE INTO retained_state (topic, site, name, key, payload, received_at, "
                     "received_epoch) VALUES (?, ?, 'service', ?, ?, '', 0)",
                     (topics.state(SITE, "service", sv), SITE, sv, json.dumps(st)))
    conn.execute("COMMIT")
    engine = AlertEngine(path, AlertThresholds.model_validate({}), site=SITE)
    times = []
    for i in range(30):
        t0 = time.perf_counter()
        engine.evaluate(now + timedelta(seconds=i))
        times.append((time.perf_counter() - t0) * 1000)
    store = Store(conn)
    writes = []
    for i in range(200):
        env = {"v": 1, "id": f"bench-{i}", "seq": i + 1, "ts": now.isoformat(), "clock_synced": True, "site": SITE,
               "device": "rt-1", "type": "rating", "data": {"desk": 1, "score": 5, "scale": 5, "misuse": False}}
        msg = Incoming(topics.event(SITE, "rt-1", "rating"), json.dumps(env).encode(), False, now)
        t0 = time.perf_counter()
        store.write_batch([msg])
        writes.append((time.perf_counter() - t0) * 1000)
    conn.close()
    ev, wr = statistics.median(times), statistics.median(writes)
    print(f"alert evaluation ({desks} desks, {len(engine.last_conditions)} conditions): median {ev:.1f} ms per "
          f"evaluation = per event at worst; storing one event {wr:.2f} ms -> ratio {ev / wr:.1f}x")
    out.update(alert_eval_ms_per_event=round(ev, 2), store_ms_per_event=round(wr, 3),
               alert_to_store_ratio=round(ev / wr, 1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--days", type=int, default=250)
    ap.add_argument("--tickets", type=int, default=300, help="tickets per day")
    ap.add_argument("--officers", type=int, default=50, help="officers (one desk each) for the evaluation sheets")
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
        conn.close()
        path50 = Path(tmp) / "officers.db"
        t0 = time.perf_counter()
        fill(path50, a.days, a.tickets, desks=a.officers)
        print(f"filled {a.officers} officers' year in {time.perf_counter() - t0:.1f} s")
        bench_evaluations(path50, a.officers, out)
        bench_alerts(path50, a.officers, out)
        print(json.dumps(out))


if __name__ == "__main__":
    main()
