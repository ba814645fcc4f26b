"""Alerts raised and cleared by a real collector (subprocess) from a real broker's events, e-mailed to a
local SMTP server (aiosmtpd) and posted to a local HTTP webhook; no repeat while open; acknowledged."""
from __future__ import annotations

import json
import sqlite3
import threading
import time
from datetime import datetime, timedelta, timezone
from email import message_from_bytes
from email.header import decode_header, make_header
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from collector.alerts import AlertEngine, desk_cards, open_alerts
from collector.db import connect
from collector.manager_config import AlertThresholds
from mqtt import topics
from tests.collector.wire import SITE, CollectorProcess, Publisher, envelope
from tests.support.broker import free_port

from .fixture import SITE_STATE

VN = timezone(timedelta(hours=7))
ALL_DAY = {d: [["00:00", "23:59"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's API
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"

    def subjects(self) -> list[str]:
        return [str(make_header(decode_header(m["Subject"]))) for m in self.messages]


class Hook(BaseHTTPRequestHandler):
    bodies: list[dict[str, Any]] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's API
        n = int(self.headers["Content-Length"])
        Hook.bodies.append(json.loads(self.rfile.read(n)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        pass


def ago(minutes: float) -> str:
    return (datetime.now(VN) - timedelta(minutes=minutes)).isoformat(timespec="seconds")


def wait_for(pred: Any, what: str, timeout: float = 30.0) -> Any:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = pred()
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def servers():
    inbox = Inbox()
    smtp = Controller(inbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    Hook.bodies = []
    http = HTTPServer(("127.0.0.1", free_port()), Hook)
    t = threading.Thread(target=http.serve_forever, daemon=True)
    t.start()
    yield inbox, smtp.port, http.server_port
    smtp.stop()
    http.shutdown()


def _alerts(db: Path) -> dict[tuple[str, str], dict[str, Any]]:
    try:
        c = connect(db, readonly=True)
    except sqlite3.OperationalError:
        return {}
    try:
        rows = c.execute("SELECT kind, subject, raised_at, cleared_at, acked_by, delivered FROM alerts").fetchall()
        return {(r["kind"], r["subject"]): dict(r) for r in rows}
    except sqlite3.OperationalError:
        return {}
    finally:
        c.close()


def test_alerts_from_a_real_collector(broker, tmp_path: Path, servers):
    inbox, smtp_port, http_port = servers
    db = tmp_path / "collector.db"
    cfg = tmp_path / "collector.toml"
    cfg.write_text(f"""
alert_interval_s = 0.5
[alerts]
officer_away_min = 10
low_rating_run = [2, 3]
outbox_growing = 100
[mail]
host = "127.0.0.1"
port = {smtp_port}
sender = "motcua@camau-hcc.gov.vn"
to = ["giamdoc@camau-hcc.gov.vn"]
[[webhooks]]
url = "http://127.0.0.1:{http_port}/motcua"
[[officers]]
id = "nv-01"
name = "Nguyễn Thị Lan"
""", encoding="utf-8")
    col = CollectorProcess(broker.url, db, extra=["--config", str(cfg)]).start()
    pub = Publisher(broker.port)
    try:
        site = json.loads(SITE_STATE.model_dump_json()) | {"hours": ALL_DAY, "closed_days": []}
        pub.send(topics.state(SITE, "site"), json.dumps(site), retain=True)
        today = datetime.now(VN).date().isoformat()
        svc = {"v": 1, "service": "HT", "day": today, "waiting": 3, "issued": 10, "capacity": 300,
               "oldest_issued_at": ago(40)}
        pub.send(topics.state(SITE, "service", "HT"), json.dumps(svc), retain=True)
        ev = [("desk", "dt-01", {"desk": 1, "action": "sign_in", "officer": "nv-01"}, ago(60)),
              ("presence", "cam-01", {"desk": 1, "zone": "officer", "kind": "change", "present": False,
                                      "since": ago(20)}, ago(20))]
        for i, (type_, dev, data, ts) in enumerate(ev):
            env = envelope(type_, data, device=dev, seq=1, ts=ts)
            pub.send(topics.event(SITE, dev, type_), json.dumps(env))
        # desk 1 open (nv-01 signed in), officer zone empty 20 min > 10, HT has 3 waiting; HT waits 40 > 15 min
        got = wait_for(lambda: (a := _alerts(db)) and len(a) >= 2 and a, "two alerts")
        assert set(got) == {("officer_away", "desk:1"), ("wait_over_target", "service:HT")}
        wait_for(lambda: len(inbox.messages) >= 2 and len(Hook.bodies) >= 2, "mail and webhook")
        subjects = inbox.subjects()
        assert any("Quầy 1 vắng cán bộ (Nguyễn Thị Lan (nv-01))" in s for s in subjects), subjects
        assert all(m["To"] == "giamdoc@camau-hcc.gov.vn" for m in inbox.messages)
        raised = {b["alert"]["kind"]: b for b in Hook.bodies}
        away = raised["officer_away"]
        assert away["v"] == 1 and away["event"] == "raised" and away["alert"]["desk"] == 1
        assert away["alert"]["detail"]["waiting"] == {"HT": 3} and away["text"].startswith("🔴 Quầy 1")
        assert away["alert"]["raised_at"].endswith("+07:00") and away["alert"]["cleared_at"] is None

        # more batches (a rating) and more rounds: nothing repeats while open
        pub.send(*_event("rating", "rt-01", {"desk": 1, "score": 5, "scale": 5, "misuse": False}, 1))
        time.sleep(1.5)
        assert len(inbox.messages) == 2 and len(Hook.bodies) == 2

        # the officer comes back: the desk alert clears (the wait alert stays)
        pub.send(*_event("presence", "cam-01", {"desk": 1, "zone": "officer", "kind": "change", "present": True,
                                                "since": ago(0)}, 2))
        wait_for(lambda: _alerts(db)[("officer_away", "desk:1")]["cleared_at"], "officer_away cleared")
        wait_for(lambda: any(b["event"] == "cleared" for b in Hook.bodies), "cleared webhook")
        assert _alerts(db)[("wait_over_target", "service:HT")]["cleared_at"] is None

        # devices: printer out of paper, camera offline, outbox growing, seq gap, low ratings (the province
        # link: tests/reports/test_alert_link.py, with a real bridge)
        pub.send(*_event("fault", "kiosk-01", {"code": "printer_paper_out", "active": True,
                                               "message_vi": "Máy in hết giấy", "message_en": "Printer out of paper"}, 1))
        st = {"v": 1, "state": "offline", "device": "cam-02", "role": "camera", "version": "1", "ts": ago(30)}
        pub.send(topics.status(SITE, "cam-02"), json.dumps(st), retain=True)
        tel = {"v": 1, "ts": ago(0), "uptime_s": 10, "outbox_depth": 500, "clock_synced": True}
        pub.send(topics.telemetry(SITE, "rt-02"), json.dumps(tel))
        pub.send(*_event("rating", "rt-03", {"desk": 3, "score": 1, "scale": 5, "misuse": False}, 1))
        pub.send(*_event("rating", "rt-03", {"desk": 3, "score": 1, "scale": 5, "misuse": False}, 5))
        want = {("device_fault", "device:kiosk-01:printer_paper_out"), ("device_offline", "device:cam-02"),
                ("outbox_growing", "device:rt-02"),
                ("seq_gap", "device:rt-03"), ("low_ratings", "desk:3")}
        wait_for(lambda: want <= set(_alerts(db)), f"device alerts {want - set(_alerts(db))}")
        pub.send(*_event("fault", "kiosk-01", {"code": "printer_paper_out", "active": False,
                                               "message_vi": "Máy in có giấy", "message_en": "Paper back"}, 2))
        wait_for(lambda: _alerts(db)[("device_fault", "device:kiosk-01:printer_paper_out")]["cleared_at"],
                 "fault cleared")
        wait_for(lambda: all(json.loads(a["delivered"]).get("raised", {}).get("mail") == "ok"
                             for a in _alerts(db).values()), "every alert mailed")

        # a manager acknowledges; it stays open until the cause clears
        engine = AlertEngine(db, AlertThresholds.model_validate({}))
        c = connect(db, readonly=True)
        wait_id = next(a["id"] for a in open_alerts(c) if a["kind"] == "wait_over_target")
        c.close()
        acked = engine.acknowledge(wait_id, "giamdoc")
        assert acked is not None and acked["acked_by"] == "giamdoc" and acked["cleared_at"] is None
        assert engine.acknowledge(999999, "giamdoc") is None
    finally:
        pub.close()
        col.stop()
    log = db.with_suffix(".log").read_text()
    assert "Traceback" not in log, log[-3000:]


_SEQ: dict[str, int] = {}


def _event(type_: str, dev: str, data: dict[str, Any], seq: int) -> tuple[str, str]:
    env = envelope(type_, data, device=dev, seq=seq)
    return topics.event(SITE, dev, type_), json.dumps(env)


def test_desk_cards_colour_desks_and_their_services(tmp_path: Path):
    from collector.alert_rules import Condition
    conds = [Condition(SITE, "wait_over_target", "service:GT", "amber", "GT chờ", "GT wait", None, {"desks": [2, 3]}),
             Condition(SITE, "officer_away", "desk:3", "red", "Quầy 3", "Desk 3", 3, {})]
    cards = desk_cards(conds, {1: ["HT"], 2: ["HT", "GT"], 3: ["GT"]})
    assert [cards[d]["level"] for d in (1, 2, 3)] == ["ok", "amber", "red"]
    assert cards[2]["services"] == ["HT", "GT"] and len(cards[3]["reasons"]) == 2


def test_forbidden_messages_raise_a_device_alert(tmp_path: Path):
    # the authority's per-device count (collector/authz.py writes devices.forbidden); recent -> alert
    from collector.alert_rules import Rules
    from collector.db import open_db
    c = open_db(tmp_path / "f.db")
    now = datetime(2026, 11, 23, 10, 0, tzinfo=VN)
    c.execute("INSERT INTO devices (site, device, desk, forbidden, forbidden_at, forbidden_reason) VALUES "
              "(?, 'rt-09', 9, 3, ?, 'rating for desk 4 from desk 9''s terminal')", (SITE, (now - timedelta(minutes=5)).isoformat()))
    rules = Rules(AlertThresholds.model_validate({}))
    got = [x for x in rules.conditions(c, now) if x.kind == "device_forbidden"]
    assert len(got) == 1 and got[0].subject == "device:rt-09" and got[0].desk == 9
    assert got[0].message_vi.startswith("Thiết bị rt-09 gửi tin không được phép (3 lần")
    assert not [x for x in rules.conditions(c, now + timedelta(hours=2)) if x.kind == "device_forbidden"]
    c.close()
