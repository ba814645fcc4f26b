"""A small, hand-computed fixture for the reports, loadable two ways:

- ``load_sql``: rows inserted straight into the typed tables, column for column what
  ``collector.store.Store._typed_row`` writes (ratings.day = local day of ``ts``; ticket_events keep the
  ticket's own ``day``; presence keeps ``since``; every ``ts_epoch`` is the envelope's ``ts``);
- ``load_ingest``: the same events as real MQTT envelopes through ``collector.store.Store.write_batch``
  (the collector's ingest path), with the retained ``state/site`` as a real ``SiteState``.

The figures the tests expect are worked out by hand in the comments next to the events.

Site day 2026-11-23 is a Monday; Monday hours are 07:00-11:30 only (270 min), Tuesday-Friday
07:00-11:30 + 13:30-17:00 (480 min), Saturday 07:00-11:30; Friday 2026-11-20 is a closed day.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from collector.db import open_db
from collector.store import Incoming, Store
from mqtt import topics
from mqtt.schemas import SiteState

SITE = "camau-hcc"
VN = timezone(timedelta(hours=7))
DAY = "2026-11-23"

SITE_STATE = SiteState.model_validate({
    "site": SITE, "name_vi": "Trung tâm Phục vụ Hành chính công", "name_en": "Public Service Centre",
    "timezone": "Asia/Ho_Chi_Minh",
    "services": [
        {"code": "HT", "name_vi": "Hộ tịch", "name_en": "Civil status", "range_start": 1000, "range_end": 1999,
         "capacity": 300, "target_wait_min": 15},
        {"code": "GT", "name_vi": "Giao thông", "name_en": "Transport", "range_start": 2000, "range_end": 2999,
         "capacity": 300, "target_wait_min": 30},
    ],
    "desks": [{"number": 1, "services": ["HT"]}, {"number": 2, "services": ["HT", "GT"]},
              {"number": 3, "services": ["GT"]}],
    "hours": {"mon": [["07:00", "11:30"]], "tue": [["07:00", "11:30"], ["13:30", "17:00"]],
              "wed": [["07:00", "11:30"], ["13:30", "17:00"]], "thu": [["07:00", "11:30"], ["13:30", "17:00"]],
              "fri": [["07:00", "11:30"], ["13:30", "17:00"]], "sat": [["07:00", "11:30"]]},
    "closed_days": ["2026-11-20"],
    "priority_classes": ["elderly"], "rating_scale": 5,
})


def t(local: str) -> str:
    """'2026-11-23 07:05' (local) -> ISO with +07:00."""
    return datetime.strptime(local, "%Y-%m-%d %H:%M").replace(tzinfo=VN).isoformat()


def _ticket(action: str, ticket: str, service: str, issued: str, day: str = DAY, **kw: Any) -> dict[str, Any]:
    return {"action": action, "ticket": ticket, "number": int(ticket), "day": day, "service": service,
            "kiosk": "kiosk-01", "issued_at": t(issued), **kw}


def _served(ticket: str, service: str, issued: str, called: str, done: str, wait_min: float, service_min: float,
            desk: int, officer: str, action: str = "finished") -> list[tuple[str, str, str, dict[str, Any]]]:
    """issued, called, finished (or no_show) as ticketing and the kiosk emit them."""
    base = {"desk": desk, "officer": officer}
    out = [("ticket", "kiosk-01", t(issued), _ticket("issued", ticket, service, issued)),
           ("ticket", "ticketing", t(called), _ticket("called", ticket, service, issued, wait_s=wait_min * 60, **base))]
    end = {"wait_s": wait_min * 60, **base}
    if action == "finished":
        end["service_s"] = service_min * 60
    out.append(("ticket", "ticketing", t(done), _ticket(action, ticket, service, issued, **end)))
    return out


def _rating(at: str, score: int, desk: int, officer: str, service: str = "HT", misuse: bool = False,
            scale: int = 5) -> tuple[str, str, str, dict[str, Any]]:
    d: dict[str, Any] = {"desk": desk, "score": score, "scale": scale, "service": service, "officer": officer,
                         "misuse": misuse}
    if misuse:
        d["misuse_reason"] = "too_soon"
    return ("rating", f"rt-0{desk}", t(at), d)


def _presence(at: str, desk: int, present: bool, since: str | None = None) -> tuple[str, str, str, dict[str, Any]]:
    return ("presence", f"cam-0{desk}", t(at), {"desk": desk, "zone": "officer", "kind": "change",
                                                  "present": present, "since": t(since or at)})


def _desk(at: str, desk: int, action: str, officer: str | None) -> tuple[str, str, str, dict[str, Any]]:
    return ("desk", f"dt-0{desk}", t(at), {"desk": desk, "action": action, "officer": officer})


# (type, device, ts, data)
EVENTS: list[tuple[str, str, str, dict[str, Any]]] = [
    # HT target 15 min: waits 5, 10, 20, 30 -> avg 16.25 min, max 30, 2 of 4 within target -> 0.5;
    # service times 6, 8, 10, 12 -> avg 9 min
    *_served("1001", "HT", "2026-11-23 07:00", "2026-11-23 07:05", "2026-11-23 07:11", 5, 6, 1, "nv-01"),
    *_served("1002", "HT", "2026-11-23 07:20", "2026-11-23 07:30", "2026-11-23 07:38", 10, 8, 1, "nv-01"),
    *_served("1003", "HT", "2026-11-23 09:50", "2026-11-23 10:10", "2026-11-23 10:20", 20, 10, 1, "nv-02"),
    *_served("1004", "HT", "2026-11-23 10:00", "2026-11-23 10:30", "2026-11-23 10:42", 30, 12, 1, "nv-02"),
    # a no-show at desk 2 (its 40 min wait is not a served wait)
    *_served("1005", "HT", "2026-11-23 10:05", "2026-11-23 10:45", "2026-11-23 10:50", 40, 0, 2, "nv-03",
             action="no_show"),
    # GT target 30 min: one served after 40 min (outside target), 4 min at the desk
    *_served("2001", "GT", "2026-11-23 08:00", "2026-11-23 08:40", "2026-11-23 08:44", 40, 4, 2, "nv-03"),
    # 06:30 local = 2026-11-22 23:30 UTC, and 23:50 local: both issued on the local day 2026-11-23
    ("ticket", "kiosk-01", t("2026-11-23 06:30"), _ticket("issued", "1000", "HT", "2026-11-23 06:30")),
    ("ticket", "kiosk-01", t("2026-11-23 23:50"), _ticket("issued", "1099", "HT", "2026-11-23 23:50")),
    # other local days: 22nd 23:50 (UTC 22nd), 24th 00:10 (UTC still the 23rd): in the month, not the day
    ("ticket", "kiosk-01", t("2026-11-22 23:50"),
     _ticket("issued", "1098", "HT", "2026-11-22 23:50", day="2026-11-22")),
    ("ticket", "kiosk-01", t("2026-11-24 00:10"),
     _ticket("issued", "1000", "HT", "2026-11-24 00:10", day="2026-11-24")),
    # 2027-01-01 00:05 local = 2026-12-31 17:05 UTC: not in the year 2026
    ("ticket", "kiosk-01", t("2027-01-01 00:05"),
     _ticket("issued", "1000", "HT", "2027-01-01 00:05", day="2027-01-01")),
    # ratings 5, 5, 4, 2 + one misuse -> satisfaction 3/4 = 0.75 (top two levels), misuse 1;
    # the 2 is at 06:45 local (23:45 UTC the day before)
    _rating("2026-11-23 07:12", 5, 1, "nv-01"),
    _rating("2026-11-23 07:39", 5, 1, "nv-01"),
    _rating("2026-11-23 07:39", 5, 1, "nv-01", misuse=True),
    _rating("2026-11-23 10:21", 4, 1, "nv-02"),
    _rating("2026-11-23 06:45", 2, 2, "nv-03", service="GT"),
    _rating("2026-11-24 00:30", 1, 2, "nv-03", service="GT"),  # the 24th locally, the 23rd in UTC
    # desk 1: absent since the evening before; present 07:30-09:00 and 09:30-12:00 -> clipped to 11:30:
    # 90 + 120 = 210 of 270 opening minutes. The 07:30 change is reported 20 s late (since = 07:30).
    _presence("2026-11-22 17:05", 1, False),
    ("presence", "cam-01", "2026-11-23T07:30:20+07:00",
     {"desk": 1, "zone": "officer", "kind": "change", "present": True, "since": t("2026-11-23 07:30")}),
    _presence("2026-11-23 09:00", 1, False),
    _presence("2026-11-23 09:30", 1, True),
    _presence("2026-11-23 12:00", 1, False),
    # desk 2: present since the day before and never changed -> all 270 minutes
    _presence("2026-11-22 16:00", 2, True),
    # officers: nv-01 at desk 1 until 10:00, then nv-02; nv-03 at desk 2 since the day before
    # -> nv-01 120 min (07:30-09:00, 09:30-10:00), nv-02 90 min, nv-03 270 min
    _desk("2026-11-23 06:55", 1, "sign_in", "nv-01"),
    _desk("2026-11-23 10:00", 1, "sign_out", "nv-01"),
    _desk("2026-11-23 10:00", 1, "sign_in", "nv-02"),
    _desk("2026-11-22 08:00", 2, "sign_in", "nv-03"),
]


def envelopes() -> list[dict[str, Any]]:
    seqs: dict[str, int] = {}
    out = []
    for i, (type_, device, ts, data) in enumerate(EVENTS):
        seqs[device] = seqs.get(device, 0) + 1
        out.append({"v": 1, "id": f"fx-{i:04d}", "seq": seqs[device], "ts": ts, "clock_synced": True,
                    "site": SITE, "device": device, "type": type_, "data": data})
    return out


def load_ingest(path: Path) -> None:
    """Every event and the retained state/site through the collector's real writer."""
    conn = open_db(path)
    received = datetime(2026, 11, 23, 12, 0, tzinfo=VN)
    batch = [Incoming(topics.state(SITE, "site"), SITE_STATE.model_dump_json().encode(), True, received)]
    batch += [Incoming(topics.event(SITE, e["device"], e["type"]), json.dumps(e).encode(), False, received)
              for e in envelopes()]
    res = Store(conn).write_batch(batch)
    conn.close()
    assert res.dead == 0 and res.stored == len(batch), res


def load_sql(path: Path) -> None:
    """The same rows, inserted directly (mirrors Store._typed_row column for column)."""
    conn = open_db(path)
    now = datetime(2026, 11, 23, 12, 0, tzinfo=VN)
    conn.execute("INSERT INTO retained_state (topic, site, device, name, key, payload, received_at, received_epoch) "
                 "VALUES (?, ?, NULL, 'site', NULL, ?, ?, ?)",
                 (topics.state(SITE, "site"), SITE, SITE_STATE.model_dump_json(), now.isoformat(), now.timestamp()))
    for e in envelopes():
        d, ts = e["data"], datetime.fromisoformat(e["ts"])
        head = (e["id"], SITE, e["device"])
        if e["type"] == "rating":
            conn.execute("INSERT INTO ratings (id, site, device, desk, score, scale, ticket, service, officer, misuse, "
                         "misuse_reason, day, ts, ts_epoch) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                         head + (d["desk"], d["score"], d["scale"], None, d["service"], d["officer"],
                                 int(d["misuse"]), d.get("misuse_reason"), ts.date().isoformat(), e["ts"],
                                 ts.timestamp()))
        elif e["type"] == "ticket":
            conn.execute("INSERT INTO ticket_events (id, site, device, action, ticket, number, day, service, desk, "
                         "officer, kiosk, issued_at, wait_s, service_s, offline, ts, ts_epoch) "
                         "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                         head + (d["action"], d["ticket"], d["number"], d["day"], d["service"], d.get("desk"),
                                 d.get("officer"), d["kiosk"], d["issued_at"], d.get("wait_s"), d.get("service_s"),
                                 0, e["ts"], ts.timestamp()))
        elif e["type"] == "presence":
            conn.execute("INSERT INTO presence (id, site, device, desk, zone, kind, present, since, ts, ts_epoch) "
                         "VALUES (?,?,?,?,?,?,?,?,?,?)",
                         head + (d["desk"], d["zone"], d["kind"], int(d["present"]), d["since"], e["ts"],
                                 ts.timestamp()))
        elif e["type"] == "desk":
            conn.execute("INSERT INTO desk_sessions (id, site, device, desk, action, officer, ts, ts_epoch) "
                         "VALUES (?,?,?,?,?,?,?,?)", head + (d["desk"], d["action"], d["officer"], e["ts"],
                                                             ts.timestamp()))
    conn.close()
