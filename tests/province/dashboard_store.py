"""A province store for the dashboard tests: several sites' events, retained state and statuses written
through the collector's own writer (``Store.write_batch``), as a central collector stores them."""
from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from collector import province_load as pl
from collector.db import open_db
from collector.province_link import LinkWatch
from collector.store import BatchResult, Incoming, Store
from common.clock import FakeClock
from mqtt import topics
from mqtt.schemas import DeskState, ServiceState, Status

SITES = [pl.site_id(1), pl.site_id(2), pl.site_id(3)]
TZ = pl.TZ
SIGNED = {SITES[0]: [1, 2, 3], SITES[1]: [2], SITES[2]: [1, 4]}  # desks with an officer signed in now


class ProvinceWriter:
    """Writes envelopes and retained messages for many sites through one ``Store``, device seqs kept."""

    def __init__(self, db: Path):
        self.db = db
        self.conn = open_db(db)
        self.store = Store(self.conn)
        self.seqs: dict[tuple[str, str], int] = {}

    def close(self) -> None:
        self.conn.close()

    def write(self, msgs: list[Incoming]) -> BatchResult:
        res = self.store.write_batch(msgs)
        assert res.dead == 0, res
        return res

    def events(self, events: list[dict[str, Any]], received: datetime, *, renumber: bool = True) -> BatchResult:
        if renumber:
            pl.number(events, self.seqs)
        return self.write([Incoming(topics.event(e["site"], e["device"], e["type"]), json.dumps(e).encode(), False,
                                    received) for e in events])

    def sites(self, sites: list[str], received: datetime, valid_from: datetime | None = None) -> None:
        self.write([Incoming(topics.state(s, "site"), pl.site_state(s, ts=valid_from or received)
                             .model_dump_json().encode(), True, received) for s in sites])

    def days(self, sites: list[str], first: date, n: int, received: datetime, tickets: int = 12) -> None:
        for i in range(n):
            for s in sites:
                self.events(pl.day_events(s, first + timedelta(days=i), tickets=tickets), received)


def envelope(site: str, device: str, type_: str, ts: datetime, data: dict[str, Any], n: int) -> dict[str, Any]:
    return {"v": 1, "id": f"live-{site}-{device}-{type_}-{n}", "seq": 0, "ts": ts.isoformat(timespec="milliseconds"),
            "clock_synced": True, "site": site, "device": device, "type": type_, "data": data}


def fill_live(db: Path, now: datetime) -> dict[str, Any]:
    """Three sites as the province page sees them at ``now``; returns what each should show.

    - huyen-001: 5 waiting (HT 3 for 20 min: over its 15 min target -> red; XD 2 for 5 min), 3 of 4 desks
      signed in, 4 ratings today (5, 5, 4, 1: 3/4 satisfied), link up;
    - huyen-002: 1 waiting (GT 17 min of 20: amber), 1 desk signed in, no rating, kiosk offline, link down;
    - huyen-003: nobody waiting, 2 desks signed in, 2 ratings (5, 2: 1/2 -> red), the printer out of paper,
      no bridge notification (link unknown)."""
    w = ProvinceWriter(db)
    w.sites(SITES, now, now - timedelta(days=40))
    day = now.astimezone(TZ).date().isoformat()
    msgs: list[Incoming] = []
    for s in SITES:
        for dev, role, desk in (("kiosk-01", "kiosk", None), ("rt-01", "rating_terminal", 1),
                                ("rt-02", "rating_terminal", 2)):
            offline = s == SITES[1] and dev == "kiosk-01"
            st = Status(state="offline" if offline else "online", device=dev, role=role, version="1.0", desk=desk,
                        ts=now - timedelta(minutes=30))
            msgs.append(Incoming(topics.status(s, dev), st.model_dump_json().encode(), True, now))
    waiting = {SITES[0]: [("HT", 3, 20), ("XD", 2, 5)], SITES[1]: [("GT", 1, 17)], SITES[2]: []}
    for s, queues in waiting.items():
        for svc, n, age in queues:
            sv = ServiceState(service=svc, day=day, waiting=n, issued=n + 4, capacity=500,
                              oldest_issued_at=now - timedelta(minutes=age), ts=now)
            msgs.append(Incoming(topics.state(s, "service", svc), sv.model_dump_json().encode(), True, now))
        for desk in range(1, 5):  # ticketing's desk state names the officer signed in
            ds = DeskState(desk=desk, status="idle", ts=now,
                           officer=pl.officer_id(s, desk) if desk in SIGNED[s] else None)
            msgs.append(Incoming(topics.state(s, "desk", desk), ds.model_dump_json().encode(), True, now))
    w.write(msgs)
    events: list[dict[str, Any]] = []
    signed = SIGNED
    for s, desks in signed.items():
        for d in desks:
            events.append(envelope(s, f"rt-{d:02d}", "desk", now - timedelta(minutes=40),
                                   {"desk": d, "action": "sign_in", "officer": pl.officer_id(s, d)}, d))
    scores = {SITES[0]: [5, 5, 4, 1], SITES[2]: [5, 2]}
    for s, ss in scores.items():
        for i, score in enumerate(ss):
            events.append(envelope(s, "rt-01", "rating", now - timedelta(minutes=30 - i),
                                   {"desk": 1, "score": score, "scale": 5, "ticket": str(1001 + i), "service": "HT",
                                    "officer": pl.officer_id(s, 1), "misuse": False}, i))
    events.append(envelope(SITES[2], "kiosk-01", "fault", now - timedelta(minutes=12),
                           {"code": "printer_paper_out", "active": True, "message_vi": "Máy in hết giấy",
                            "message_en": "Printer out of paper"}, 0))
    w.events(events, now)
    w.close()
    clock = FakeClock(now)
    for s, payload in ((SITES[0], b"1"), (SITES[1], b"0")):
        LinkWatch(db, s, topics.province_link(s), clock, lambda m: None).on_message(SimpleNamespace(payload=payload))
    return {"waiting": {SITES[0]: 5, SITES[1]: 1, SITES[2]: 0}, "staffed": {s: len(d) for s, d in signed.items()},
            "satisfaction": {SITES[0]: 0.75, SITES[1]: None, SITES[2]: 0.5}}
