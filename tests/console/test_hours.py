"""Breaks and closing from the site's hours: retained state/hours on a real broker, and the
closing policy applied to the tickets left at the day's last closing."""
from __future__ import annotations

import json
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Iterator

from common.clock import FakeClock
from kiosk.display.model import HallModel
from mqtt import topics
from mqtt.client import BrokerConfig, DeviceClient
from mqtt.outbox import Outbox
from mqtt.schemas import Request, uuid7
from tests.support.mqtt import Recorder
from tests.support.wait import wait_for
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


@contextmanager
def wire(tmp_path: Path, broker, clock: FakeClock, policy: str = "expire") -> Iterator[tuple]:  # noqa: ANN001
    """Ticketing on the real broker with a controllable clock and ``closing_policy``, a kiosk and a
    recorder of state/hours, the retained desk states and ticketing's ticket events."""
    cfg_path = write_configs(tmp_path, broker.url)
    site_toml = tmp_path / "site.toml"
    site_toml.write_text(site_toml.read_text(encoding="utf-8").replace(
        "transfer_keeps_place = true\n", f'transfer_keeps_place = true\nclosing_policy = "{policy}"\n'), encoding="utf-8")
    cfg, site = load_ticketing(cfg_path)
    queue = Queue(cfg.db, site, clock=clock, device=cfg.device)
    outbox = Outbox(cfg.outbox_path(), site.site, cfg.device)
    client = persistent_client(site.site, cfg.device, ROLE, BrokerConfig(url=broker.url), outbox=outbox,
                               telemetry_interval_s=0)
    server = Server(queue, client, outbox, clock=clock)
    server.start()
    assert client.wait_connected(10)
    rec = Recorder(broker.port, topics.state(SITE, "hours"), topics.state(SITE, "desk", 1),
                   topics.events_filter(SITE, "ticket", "ticketing"))
    kiosk = Kiosk(broker.url, "kiosk-1", tmp_path, clock=clock)
    try:
        yield server, queue, kiosk, rec
    finally:
        kiosk.close()
        rec.c.disconnect()
        server.stop()
        outbox.close()
        queue.close()


def ticket_events(messages: list, action: str) -> list[dict]:
    return [d for t, p, _r in messages if "/evt/ticket" in t and (d := json.loads(p)["data"])["action"] == action]


def test_break_and_closing_on_the_wire(tmp_path: Path, broker) -> None:  # noqa: ANN001
    clock = FakeClock(at("11:00"), tz="Asia/Ho_Chi_Minh")
    with wire(tmp_path, broker, clock) as (server, queue, kiosk, rec):
        def hours() -> list[dict]:
            return [json.loads(p) for t, p, _r in rec.messages if t.endswith("/state/hours")]

        assert rec.wait_for(lambda m: any(h["status"] == "open" for h in hours()))
        for _ in range(2):
            kiosk.issue("HT")
        assert wait_for(lambda: queue.service_state("HT").waiting == 2)

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
        assert rec.wait_for(lambda m: len(ticket_events(m, "expired")) == 2)
        # retained: a display starting now reads the closed state at once
        late = Recorder(broker.port, topics.state(SITE, "hours"))
        assert late.wait_for(lambda m: m and json.loads(m[-1][1])["status"] == "closed" and m[-1][2])
        late.c.disconnect()


def test_keep_policy_carries_the_waiting_to_the_next_working_day_in_order(tmp_path: Path, broker) -> None:  # noqa: ANN001
    """closing_policy 'keep': at Monday's closing the tickets still waiting move to the next
    working day (next Monday: the other days have no hours), keep their own numbers and order,
    are called first there and marked carried_from; one kept once expires at the next closing."""
    clock = FakeClock(at("16:30"), tz="Asia/Ho_Chi_Minh")
    with wire(tmp_path, broker, clock, policy="keep") as (server, queue, kiosk, rec):
        desk = DeviceClient(SITE, "rt-01", "rating-terminal", BrokerConfig(url=broker.url), telemetry_interval_s=0)
        desk.start()
        assert desk.wait_connected(10)

        def ask(op: str) -> str | None:
            r = desk.request(op, Request(id=uuid7(), device="rt-01", desk=1), 5.0)
            return r.ticket.ticket if r.ticket else r.error

        try:
            first, second = kiosk.issue("HT").ticket, kiosk.issue("HT").ticket
            elder = kiosk.issue("HT", priority="elderly").ticket
            assert wait_for(lambda: queue.service_state("HT").waiting == 3)
            assert ask("call-next") == elder  # served at closing: stays with its desk

            clock.set(at("17:10"))  # closing
            server.tick()
            assert rec.wait_for(lambda m: len(ticket_events(m, "carried")) == 2)
            carried = ticket_events(rec.messages, "carried")
            assert [(c["ticket"], c["day"], c["queue_day"]) for c in carried] == [
                (first, "2026-11-23", "2026-11-30"), (second, "2026-11-23", "2026-11-30")]
            assert ticket_events(rec.messages, "expired") == []
            assert queue.service_state("HT").waiting == 0 and queue.desk_state(1).ticket == elder
            assert ask("finish") == elder

            clock.set(at("07:05", "2026-11-30"))  # the next working day: numbers restart
            server.tick()
            assert queue.today() == "2026-11-30" and queue.service_state("HT").waiting == 2
            kiosk.leases.clear()
            today_first = kiosk.issue("HT")
            assert today_first.day == "2026-11-30" and today_first.ticket == first  # the same number, another day
            assert wait_for(lambda: queue.service_state("HT").waiting == 3)
            assert queue.service_state("HT").queue == [first, second, first]

            assert ask("call-next") == first
            st = queue.desk_state(1)
            assert st.day == "2026-11-23" and st.carried_from == "2026-11-23"
            assert queue.calls_state().calls[0].carried_from == "2026-11-23"
            hall = HallModel(clock=clock)  # what the hall display makes of the retained calls
            hall.apply(topics.state(SITE, "calls"), queue.calls_state().dumps(), retained=True)
            assert hall.view().current.shown == f"{first} (23/11)"
            assert rec.wait_for(lambda m: any(t.endswith("/state/desk/1") and json.loads(p).get("carried_from")
                                              == "2026-11-23" for t, p, _r in m)), "retained desk state marks it"
            assert rec.wait_for(lambda m: any(c["ticket"] == first and c["day"] == "2026-11-23"
                                              and c["queue_day"] == "2026-11-30" for c in ticket_events(m, "called")))
            assert ask("finish") == first

            clock.set(at("17:05", "2026-11-30"))  # kept once: the one kept from last week expires now
            server.tick()
            assert rec.wait_for(lambda m: len(ticket_events(m, "expired")) == 1 and len(ticket_events(m, "carried")) == 3)
            assert [e["ticket"] for e in ticket_events(rec.messages, "expired")] == [second]
            later = [c for c in ticket_events(rec.messages, "carried") if c["day"] == "2026-11-30"]
            assert [(c["ticket"], c["queue_day"]) for c in later] == [(first, "2026-12-07")]
        finally:
            desk.stop()


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
