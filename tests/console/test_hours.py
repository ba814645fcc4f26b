"""Breaks and closing from the site's hours: retained state/hours on a real broker, and the
closing policy applied to the tickets left at the day's last closing."""
from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path

from common.clock import FakeClock
from mqtt import topics
from mqtt.client import BrokerConfig
from mqtt.outbox import Outbox
from tests.support.mqtt import Recorder
from tests.ticketing.helpers import HCM, SITE, Kiosk, site_config, write_configs
from ticketing.config import load_ticketing
from ticketing.hours import hours_state
from ticketing.queue import Queue
from ticketing.server import ROLE, Server, persistent_client


def at(hhmm: str, day: str = "2026-11-23") -> datetime:  # a Monday
    return datetime.fromisoformat(f"{day}T{hhmm}:00").replace(tzinfo=HCM)


def test_states_from_the_hours() -> None:
    site = site_config()  # mon: 07:00-11:30, 13:30-17:00; other days closed
    st = hours_state(site, at("09:00"))
    assert st.status == "open" and st.until == at("11:30")
    st = hours_state(site, at("12:10"))
    assert st.status == "break" and st.until == at("13:30")
    assert st.message_vi == "Nghỉ trưa – làm việc lại lúc 13:30" and st.message_en == "Lunch break – back at 13:30"
    st = hours_state(site, at("06:15"))
    assert st.status == "closed" and "mở cửa lúc 07:00" in st.message_vi
    st = hours_state(site, at("17:00"))
    assert st.status == "closed" and st.until == at("07:00", "2026-11-30")
    assert "thứ Hai 30/11" in st.message_vi and "Monday 30/11" in st.message_en
    # a closed day is skipped; UTC input is judged in the site's zone
    closed = site.model_copy(update={"closed_days": ["2026-11-30"]})
    assert hours_state(closed, at("17:30")).until == at("07:00", "2026-12-07")
    assert hours_state(site, datetime.fromisoformat("2026-11-23T05:00:00+00:00")).status == "break"


def test_break_and_closing_on_the_wire(tmp_path: Path, broker) -> None:  # noqa: ANN001
    clock = FakeClock(at("11:00"), tz="Asia/Ho_Chi_Minh")
    cfg, site = load_ticketing(write_configs(tmp_path, broker.url))
    queue = Queue(cfg.db, site, clock=clock, device=cfg.device)
    outbox = Outbox(cfg.outbox_path(), site.site, cfg.device)
    client = persistent_client(site.site, cfg.device, ROLE, BrokerConfig(url=broker.url), outbox=outbox,
                               telemetry_interval_s=0)
    server = Server(queue, client, outbox, clock=clock)
    server.start()
    assert client.wait_connected(10)
    rec = Recorder(broker.port, topics.state(SITE, "hours"), topics.events_filter(SITE, "ticket", "ticketing"))
    kiosk = Kiosk(broker.url, "kiosk-1", tmp_path, clock=clock)
    try:
        def hours() -> list[dict]:
            return [json.loads(p) for t, p, _r in rec.messages if t.endswith("/state/hours")]

        assert rec.wait_for(lambda m: any(h["status"] == "open" for h in hours()))
        for _ in range(2):
            kiosk.issue("HT")
        end = time.monotonic() + 15
        while queue.service_state("HT").waiting < 2 and time.monotonic() < end:
            time.sleep(0.05)
        assert queue.service_state("HT").waiting == 2

        clock.advance(40 * 60)  # 11:40: lunch break
        server.tick()
        assert rec.wait_for(lambda m: any(h["status"] == "break" for h in hours()))
        brk = [h for h in hours() if h["status"] == "break"][-1]
        assert brk["message_vi"].startswith("Nghỉ trưa") and brk["until"].startswith("2026-11-23T13:30:00")
        assert brk["until"].endswith("+07:00")
        assert queue.service_state("HT").waiting == 2, "a break keeps the queue"

        clock.advance(5.5 * 3600)  # 17:10: closed; closing_policy 'expire'
        server.tick()
        assert rec.wait_for(lambda m: any(h["status"] == "closed" for h in hours()))
        assert queue.service_state("HT").waiting == 0
        assert rec.wait_for(lambda m: len([p for t, p, _r in m if "/evt/ticket" in t
                                           and json.loads(p)["data"]["action"] == "cancelled"]) == 2)
        # retained: a display starting now reads the closed state at once
        late = Recorder(broker.port, topics.state(SITE, "hours"))
        assert late.wait_for(lambda m: m and json.loads(m[-1][1])["status"] == "closed" and m[-1][2])
        late.c.disconnect()
    finally:
        kiosk.close()
        rec.c.disconnect()
        server.stop()
        outbox.close()
        queue.close()


def test_midnight_policy_keeps_tickets_callable_after_closing(tmp_path: Path) -> None:
    clock = FakeClock(at("16:50"), tz="Asia/Ho_Chi_Minh")
    site = site_config().model_copy(update={"closing_policy": "midnight"})
    from ticketing.hours import HoursWatcher
    closed: list[int] = []
    w = HoursWatcher(site, lambda st: None, lambda: closed.append(1))
    w.tick(clock.now())
    clock.advance(20 * 60)
    w.tick(clock.now())
    assert closed == [] and w.last is not None and w.last.status == "closed"
    w2 = HoursWatcher(site_config(), lambda st: None, lambda: closed.append(1))
    w2.tick(clock.now())
    w2.tick(clock.now())
    assert closed == [1], "expire runs once per day"
