"""Failed alert deliveries are tried again with backoff until delivered (never again after) or the alert
clears: a local SMTP server (aiosmtpd) that starts late and a local webhook that fails its first calls."""
from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

from collector.alerts import AlertEngine, channels_from
from collector.db import connect, open_db
from collector.manager_config import AlertThresholds, MailConfig, WebhookConfig
from tests.collector.wire import SITE
from tests.support.broker import free_port

from .test_alerts import Inbox

VN = timezone(timedelta(hours=7))
T0 = datetime(2026, 11, 23, 10, 0, tzinfo=VN)


class Flaky(BaseHTTPRequestHandler):
    fail_first = 2
    calls: list[dict[str, Any]] = []  # every POST, with the status answered

    def do_POST(self) -> None:  # noqa: N802 - http.server's API
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        code = 503 if len(Flaky.calls) < Flaky.fail_first else 204
        Flaky.calls.append({"code": code, "body": body})
        self.send_response(code)
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        pass


def _delivered(db: Path, subject: str) -> dict[str, Any]:
    c = connect(db, readonly=True)
    try:
        return dict(json.loads(c.execute("SELECT delivered FROM alerts WHERE subject=?", (subject,)).fetchone()[0]))
    finally:
        c.close()


def _offline(db: Path, device: str, offline: bool) -> None:
    c = open_db(db)
    c.execute("INSERT OR REPLACE INTO devices (site, device, status, status_at) VALUES (?, ?, ?, ?)",
              (SITE, device, "offline" if offline else "online", (T0 - timedelta(minutes=30)).isoformat()))
    c.close()


def test_failed_deliveries_are_retried_with_backoff_until_delivered(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    _offline(db, "cam-02", True)
    Flaky.calls = []
    http = HTTPServer(("127.0.0.1", free_port()), Flaky)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    smtp_port = free_port()  # nothing listens there yet: the SMTP server is down
    mail = MailConfig(host="127.0.0.1", port=smtp_port, to=["giamdoc@camau-hcc.gov.vn"], timeout_s=5)
    hook = WebhookConfig(url=f"http://127.0.0.1:{http.server_port}/motcua")
    t = AlertThresholds.model_validate({"retry_first_s": 10, "retry_max_s": 40, "retry_attempts": 8})
    engine = AlertEngine(db, t, channels=channels_from(mail, [hook]), site=SITE)
    inbox = Inbox()
    smtp = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    try:
        engine.evaluate(T0)
        d = _delivered(db, "device:cam-02")["raised"]
        assert d["mail"].startswith("error") and d[engine.channels[1].name].startswith("error"), d
        assert len(Flaky.calls) == 1 and len(engine.retries) == 2
        engine.evaluate(T0 + timedelta(seconds=5))  # not due yet
        assert len(Flaky.calls) == 1
        engine.evaluate(T0 + timedelta(seconds=11))  # 2nd attempt: the webhook fails again, SMTP still down
        assert len(Flaky.calls) == 2 and not inbox.messages
        smtp.start()  # the SMTP server comes up late
        engine.evaluate(T0 + timedelta(seconds=25))  # next due at 11 + 20 s: not yet (backoff doubles)
        assert len(Flaky.calls) == 2 and not inbox.messages
        engine.evaluate(T0 + timedelta(seconds=32))  # 3rd attempt: both delivered
        assert len(Flaky.calls) == 3 and Flaky.calls[-1]["code"] == 204 and len(inbox.messages) == 1
        assert Flaky.calls[-1]["body"]["event"] == "raised" and Flaky.calls[-1]["body"]["alert"]["subject"] == \
            "device:cam-02"
        got = _delivered(db, "device:cam-02")
        assert got["raised"] == {"mail": "ok", engine.channels[1].name: "ok"}, got
        assert got["attempts"]["raised"] == {"mail": 3, engine.channels[1].name: 3}
        for s in (100, 500, 3000):  # delivered: never again
            engine.evaluate(T0 + timedelta(seconds=s))
        assert len(Flaky.calls) == 3 and len(inbox.messages) == 1 and not engine.retries
    finally:
        smtp.stop()
        http.shutdown()


def test_an_undelivered_raise_is_dropped_when_the_alert_clears_and_retries_are_bounded(tmp_path: Path) -> None:
    db = tmp_path / "b.db"
    _offline(db, "cam-03", True)
    mail = MailConfig(host="127.0.0.1", port=free_port(), to=["giamdoc@camau-hcc.gov.vn"], timeout_s=5)
    t = AlertThresholds.model_validate({"retry_first_s": 10, "retry_max_s": 20, "retry_attempts": 3})
    engine = AlertEngine(db, t, channels=channels_from(mail, []), site=SITE)
    engine.evaluate(T0)
    _offline(db, "cam-03", False)
    engine.evaluate(T0 + timedelta(seconds=1))  # cleared: its mail fails too, and is tried again
    engine.evaluate(T0 + timedelta(seconds=12))  # the raise is due: dropped; the clear is tried a 2nd time
    got = _delivered(db, "device:cam-03")
    assert got["raised"]["mail"] == "dropped: cleared before delivery", got
    assert got["cleared"]["mail"].startswith("error"), got
    assert [r.event for r in engine.retries] == ["cleared"]
    for s in (40, 80, 160):  # bounded: the third attempt is the last
        engine.evaluate(T0 + timedelta(seconds=s))
    got = _delivered(db, "device:cam-03")
    assert got["cleared"]["mail"].startswith("gave up after 3 attempts"), got
    assert not engine.retries
