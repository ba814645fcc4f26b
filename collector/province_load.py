"""Synthetic but valid province data: many sites, many days, for tests and bench/province.py.

:func:`site_state` and :func:`day_events` make the envelopes real devices would send (kiosk tickets,
ticketing's calls and finishes, desk ratings, camera presence changes, desk sign-ins), deterministic per
(site, day, seed). Tests write them through the collector's own writer (``Store.write_batch``);
:func:`bulk_load` writes the same rows straight into the same tables, column for column what
``Store`` writes (``events`` plus the typed tables), many days per transaction, for a year of a hundred
sites in minutes; then :func:`collector.rollups.refresh` computes the daily rollups.
"""
from __future__ import annotations

import json
import random
import uuid
from datetime import date, datetime, time as dtime, timedelta
from typing import Any, Iterable
from zoneinfo import ZoneInfo

from mqtt import topics
from mqtt.schemas import SiteState

from .backend import Conn
from .staff import Department, Officer, Staff
from .store import TYPED_COLUMNS

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
DEPARTMENTS = [Department(code="stp", name_vi="Sở Tư pháp", name_en="Department of Justice"),
               Department(code="sxd", name_vi="Sở Xây dựng", name_en="Department of Construction"),
               Department(code="sgtvt", name_vi="Sở Giao thông vận tải", name_en="Department of Transport")]
SERVICES = [("HT", "Hộ tịch", "Civil status", 1000, 15), ("XD", "Xây dựng", "Construction", 2000, 30),
            ("GT", "Giao thông", "Transport", 3000, 20)]
SERVICE_DEPT = {"HT": "stp", "XD": "sxd", "GT": "sgtvt"}
DESKS = 4  # desk d handles service d % 3; officer k of a site sits at desk k
HOURS = {d: [("07:00", "11:30"), ("13:30", "17:00")] for d in ("mon", "tue", "wed", "thu", "fri")}
HOURS["sat"] = [("07:00", "11:30")]


def site_id(i: int) -> str:
    return f"huyen-{i:03d}"


def officer_id(site: str, desk: int) -> str:
    return f"{site}-nv-{desk}"


def desk_service(desk: int) -> str:
    return SERVICES[(desk - 1) % len(SERVICES)][0]


def site_state(site: str, name_vi: str | None = None, ts: datetime | None = None) -> SiteState:
    return SiteState.model_validate({
        "site": site, "name_vi": name_vi or f"Bộ phận Một cửa {site}", "name_en": f"One-stop desk {site}",
        "timezone": "Asia/Ho_Chi_Minh",
        "services": [{"code": c, "name_vi": vi, "name_en": en, "range_start": start, "range_end": start + 999,
                      "capacity": 500, "target_wait_min": target} for c, vi, en, start, target in SERVICES],
        "desks": [{"number": d, "services": [desk_service(d)]} for d in range(1, DESKS + 1)],
        "hours": HOURS, "priority_classes": ["elderly"], "rating_scale": 5,
        **({"ts": ts.isoformat()} if ts else {})})


def staff_for(sites: Iterable[str]) -> Staff:
    """The province's directory: officer k of each site, seconded from the department of desk k's service."""
    officers = [Officer(id=officer_id(s, d), name=f"Cán bộ {d} {s}", department=SERVICE_DEPT[desk_service(d)], site=s)
                for s in sites for d in range(1, DESKS + 1)]
    return Staff(officers, departments=DEPARTMENTS)


def _at(day: date, minutes: float) -> datetime:
    return datetime.combine(day, dtime(0), TZ) + timedelta(minutes=minutes)


def day_events(site: str, day: date, *, tickets: int = 40, seed: int = 0) -> list[dict[str, Any]]:
    """One open day of ``site``: every desk signed in at 06:55 and out at 17:05, the officer present
    07:00-11:20 and 13:40-17:00, ``tickets`` tickets issued, called, served (one in ten a no-show) and
    mostly rated. Sundays: nothing. Envelopes with ``seq`` 0 (:func:`number` assigns them per device)."""
    wd = day.weekday()
    if wd == 6:
        return []
    rng = random.Random(f"{seed}/{site}/{day.isoformat()}")
    close = 17 * 60 if wd < 5 else 11 * 60 + 30
    out: list[dict[str, Any]] = []

    def ev(type_: str, device: str, ts: datetime, data: dict[str, Any]) -> None:
        out.append({"v": 1, "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)), "seq": 0,
                    "ts": ts.isoformat(timespec="milliseconds"), "clock_synced": True, "site": site,
                    "device": device, "type": type_, "data": data})

    for d in range(1, DESKS + 1):
        who = officer_id(site, d)
        ev("desk", f"rt-{d:02d}", _at(day, 6 * 60 + 55), {"desk": d, "action": "sign_in", "officer": who})
        for a, present in ((7 * 60, True), (11 * 60 + 20, False), (13 * 60 + 40, True), (close, False)):
            if a <= close:
                ev("presence", f"cam-{d:02d}", _at(day, a),
                   {"desk": d, "zone": "officer", "kind": "change", "present": present,
                    "since": _at(day, a).isoformat()})
        ev("desk", f"rt-{d:02d}", _at(day, close + 5), {"desk": d, "action": "sign_out", "officer": who})
    counters = {c: start for c, _, _, start, _ in SERVICES}
    for _ in range(tickets):
        d = rng.randint(1, DESKS)
        svc = desk_service(d)
        counters[svc] += 1
        number = counters[svc]
        issued = _at(day, rng.uniform(7 * 60, min(close, 11 * 60 + 30) - 40))
        wait = rng.uniform(60, 45 * 60)
        called = issued + timedelta(seconds=wait)
        service_s = rng.uniform(120, 900)
        base = {"ticket": str(number), "number": number, "day": day.isoformat(), "service": svc,
                "kiosk": "kiosk-01", "issued_at": issued.isoformat(timespec="milliseconds")}
        ev("ticket", "kiosk-01", issued, {**base, "action": "issued", "people_ahead": 0})
        who = officer_id(site, d)
        ev("ticket", "ticketing", called, {**base, "action": "called", "desk": d, "officer": who, "wait_s": wait})
        if rng.random() < 0.1:
            ev("ticket", "ticketing", called + timedelta(minutes=3),
               {**base, "action": "no_show", "desk": d, "officer": who, "wait_s": wait})
            continue
        done = called + timedelta(seconds=service_s)
        ev("ticket", "ticketing", done, {**base, "action": "finished", "desk": d, "officer": who, "wait_s": wait,
                                         "service_s": service_s})
        if rng.random() < 0.8:
            ev("rating", f"rt-{d:02d}", done + timedelta(seconds=20),
               {"desk": d, "score": rng.choice((5, 5, 5, 4, 4, 3, 2, 1)), "scale": 5, "ticket": str(number),
                "service": svc, "officer": who, "misuse": False})
    out.sort(key=lambda e: e["ts"])
    return out


def number(events: list[dict[str, Any]], seqs: dict[tuple[str, str], int]) -> list[dict[str, Any]]:
    """Give each envelope its device's next ``seq`` (``seqs`` carries the counters across calls)."""
    for e in events:
        k = (e["site"], e["device"])
        seqs[k] = seqs.get(k, 0) + 1
        e["seq"] = seqs[k]
    return events


# -- the fast path -----------------------------------------------------------------------------------

def _typed(e: dict[str, Any]) -> tuple[str, tuple[Any, ...]]:
    d, ts = e["data"], e["ts"]
    ep = datetime.fromisoformat(ts).timestamp()
    head = (e["id"], e["site"], e["device"])
    if e["type"] == "rating":
        local = datetime.fromisoformat(ts).astimezone(TZ).date().isoformat()
        return "ratings", head + (d["desk"], d["score"], d["scale"], d.get("ticket"), d.get("service"),
                                  d.get("officer"), int(d.get("misuse", False)), d.get("misuse_reason"), local, ts, ep)
    if e["type"] == "ticket":
        return "ticket_events", head + (d["action"], d["ticket"], d["number"], d["day"], d["service"],
                                        d.get("priority"), d.get("appointment"), d.get("desk"), d.get("officer"),
                                        d.get("kiosk"), d.get("issued_at"), d.get("people_ahead"), d.get("wait_s"),
                                        d.get("service_s"), d.get("to_service"), 0, ts, ep)
    if e["type"] == "presence":
        return "presence", head + (d["desk"], d["zone"], d["kind"], int(d["present"]), d["since"], None, None,
                                   None, ts, ep)
    return "desk_sessions", head + (d["desk"], d["action"], d["officer"], None, ts, ep)


def bulk_load(conn: Conn, sites: list[str], first: date, days: int, *, tickets: int = 40,
              seed: int = 0, received: datetime | None = None) -> int:
    """Fill the store with ``days`` days of every site from ``first``: the retained ``state/site`` (and
    its history), the devices, and every event in ``events`` and its typed table. One transaction per
    day (all sites). Returns the number of events written."""
    received = received or datetime.now(TZ)
    rx, rx_epoch = received.isoformat(), received.timestamp()
    start_ts = datetime.combine(first, dtime(0), TZ)
    conn.execute("BEGIN IMMEDIATE")
    for s in sites:
        payload = site_state(s, ts=start_ts).model_dump_json()
        conn.execute("INSERT INTO retained_state (topic, site, device, name, key, payload, received_at, received_epoch) "
                     "VALUES (?, ?, NULL, 'site', NULL, ?, ?, ?) ON CONFLICT (topic) DO UPDATE SET "
                     "payload=excluded.payload", (topics.state(s, "site"), s, payload, rx, rx_epoch))
        conn.execute("INSERT INTO site_config_history (site, valid_from_epoch, valid_from, payload) VALUES (?, ?, ?, ?) "
                     "ON CONFLICT (site, valid_from_epoch) DO NOTHING",
                     (s, start_ts.timestamp(), start_ts.isoformat(), payload))
    conn.execute("COMMIT")
    seqs: dict[tuple[str, str], int] = {}
    n = 0
    for i in range(days):
        day = first + timedelta(days=i)
        events: list[tuple[Any, ...]] = []
        typed: dict[str, list[tuple[Any, ...]]] = {}
        for s in sites:
            for e in number(day_events(s, day, tickets=tickets, seed=seed), seqs):
                topic = topics.event(s, e["device"], e["type"])
                events.append((e["id"], s, e["device"], e["type"], e["seq"], e["ts"],
                               datetime.fromisoformat(e["ts"]).timestamp(), 1, topic, json.dumps(e), rx, rx_epoch))
                table, row = _typed(e)
                typed.setdefault(table, []).append(row)
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany("INSERT INTO events (id, site, device, type, seq, ts, ts_epoch, clock_synced, topic, payload, "
                         "received_at, received_epoch) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", events)
        for table, rows in typed.items():
            cols = TYPED_COLUMNS[table]
            conn.executemany(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})", rows)
        conn.execute("COMMIT")
        n += len(events)
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany("INSERT INTO devices (site, device, status, last_seq) VALUES (?, ?, 'online', ?) "
                     "ON CONFLICT (site, device) DO UPDATE SET last_seq=excluded.last_seq",
                     [(s, d, q) for (s, d), q in seqs.items()])
    conn.execute("COMMIT")
    return n
