"""Appointments end to end: real Mosquitto, real ticketing Server, a real kiosk Issuer and the
portal as a device: book, check in at the kiosk (priority before earlier walk-ins), a full slot
refused in both languages, early/late check-ins refused per the windows, a missed booking
recorded as an ``appointment`` event, and who may ask what."""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Iterator

import pytest

from common.clock import FakeClock
from common.registry import Registry
from kiosk.issuer import ClientLeaseSource, IssuedTicket, Issuer
from kiosk.store import KioskStore
from mqtt import topics
from mqtt.client import BrokerConfig, DeviceClient
from mqtt.outbox import Outbox
from mqtt.schemas import Request, Response, uuid7
from tests.support.mqtt import Recorder
from tests.support.wait import wait_for
from tests.ticketing.helpers import at
from ticketing.config import load_ticketing
from ticketing.queue import Queue
from ticketing.server import ROLE, Server, persistent_client

SITE = "test-hcc"
DAY = "2026-11-23"  # a Monday
SITE_TOML = """\
site = "test-hcc"
name_vi = "Trung tâm thử"
name_en = "Test centre"
appointment_capacity = 1
appointment_slot_min = 30
appointment_early_min = 15
appointment_late_min = 10
[hours]
mon = [["07:00", "11:30"], ["13:30", "17:00"]]
[[services]]
code = "HT"
name_vi = "Hộ tịch"
name_en = "Civil status"
range_start = 1000
range_end = 3999
capacity = 3000
[[desks]]
number = 1
services = ["HT"]
"""
REGISTRY = f"""site = "{SITE}"
[devices.kiosk-1]
role = "kiosk"
[devices.rt-01]
role = "rating-terminal"
desk = 1
[devices.portal]
role = "portal"
"""


class Site:
    def __init__(self, tmp: Path, url: str):
        (tmp / "site.toml").write_text(SITE_TOML, encoding="utf-8")
        (tmp / "devices.toml").write_text(REGISTRY, encoding="utf-8")
        (tmp / "ticketing.toml").write_text(f'site_config = "site.toml"\ndb = "{tmp / "t.db"}"\n\n[mqtt]\n'
                                            f'url = "{url}"\n', encoding="utf-8")
        cfg, site = load_ticketing(tmp / "ticketing.toml")
        self.clock = FakeClock(at(f"{DAY} 08:00:00"))
        self.queue = Queue(cfg.db, site, clock=self.clock)
        self.outbox = Outbox(cfg.outbox_path(), SITE, cfg.device, clock=self.clock)
        self.client = persistent_client(SITE, cfg.device, ROLE, BrokerConfig(url=url), outbox=self.outbox,
                                        telemetry_interval_s=0, clock=self.clock)
        self.server = Server(self.queue, self.client, self.outbox, clock=self.clock,
                             registry=Registry.load(tmp / "devices.toml"))
        self.server.start()
        assert self.client.wait_connected(10)
        self.kiosk_outbox = Outbox(tmp / "kiosk-outbox.db", SITE, "kiosk-1", clock=self.clock)
        self.devices = {d: self._device(url, d, role) for d, role in
                        (("kiosk-1", "kiosk"), ("rt-01", "rating-terminal"), ("portal", "portal"))}
        k = self.devices["kiosk-1"]
        self.issuer = Issuer(KioskStore(tmp / "kiosk.db"), self.kiosk_outbox, ClientLeaseSource(k), "kiosk-1",
                             clock=self.clock, lease_size=5, lease_low=0)
        time.sleep(0.3)

    def _device(self, url: str, device: str, role: str) -> DeviceClient:
        outbox = self.kiosk_outbox if role == "kiosk" else None  # the kiosk's events: its durable outbox
        c = DeviceClient(SITE, device, role, BrokerConfig(url=url), telemetry_interval_s=0, clock=self.clock,
                         outbox=outbox)
        c.start()
        assert c.wait_connected(10)
        return c

    def ask(self, device: str, op: str, **fields: object) -> Response:
        req = Request(id=uuid7(), device=device, ts=self.clock.now(), **fields)  # type: ignore[arg-type]
        return self.devices[device].request(op, req, 5.0)

    def close(self) -> None:
        for c in self.devices.values():
            c.stop()
        self.kiosk_outbox.close()
        self.server.stop()
        self.outbox.close()
        self.queue.close()


@pytest.fixture
def site(tmp_path: Path, broker) -> Iterator[Site]:  # noqa: ANN001
    s = Site(tmp_path, broker.url)
    yield s
    s.close()


def test_book_check_in_at_kiosk_called_first_full_slot_refused(site: Site) -> None:
    free = site.ask("portal", "slots", service="HT", day=DAY)
    assert free.ok and free.slots is not None
    starts = [s.start for s in free.slots]
    assert starts[0] == "08:30" and "11:30" not in starts and "12:00" not in starts  # past and lunch break left out
    assert "13:30" in starts and starts[-1] == "16:30"

    booked = site.ask("portal", "book", service="HT", day=DAY, slot="08:30")
    assert booked.ok and booked.appointment is not None
    code = booked.appointment.code
    assert len(code) == 6 and code.isdigit()
    full = site.ask("portal", "book", service="HT", day=DAY, slot="08:30")
    assert not full.ok and full.error == "slot_full"
    assert "đã hết chỗ" in (full.message_vi or "") and "fully booked" in (full.message_en or "")
    slot = next(s for s in site.ask("portal", "slots", service="HT", day=DAY).slots or [] if s.start == "08:30")
    assert slot.free == 0

    walk_ins = [site.issuer.issue("HT") for _ in range(2)]  # two citizens took numbers before
    for t in walk_ins:
        site.issuer.report_print(t, True)
    early = site.issuer.check_in(code)
    assert isinstance(early, Response) and early.error == "too_early" and "08:15" in (early.message_vi or "")
    site.clock.advance(20 * 60)  # 08:20: inside the window
    ticket = site.issuer.check_in(code)
    assert isinstance(ticket, IssuedTicket) and ticket.priority == "appointment"
    assert ticket.number == walk_ins[-1].number + 1  # the same number space as every other ticket
    site.issuer.report_print(ticket, True)
    assert wait_for(lambda: site.queue.service_state("HT").waiting == 3)
    again = site.issuer.check_in(code)
    assert isinstance(again, Response) and again.error == "appointment_used"

    call = site.ask("rt-01", "call-next", desk=1)
    assert call.ok and call.ticket is not None and call.ticket.ticket == ticket.ticket
    assert call.ticket.priority == "appointment"
    nxt = site.ask("rt-01", "call-next", desk=1)
    assert nxt.ticket is not None and nxt.ticket.ticket == walk_ins[0].ticket


def test_late_refused_missed_recorded_cancel_desk_check_in_and_authority(site: Site, broker) -> None:  # noqa: ANN001
    events = Recorder(broker.port, topics.events_filter(SITE, "appointment"))
    try:
        late = site.ask("portal", "book", service="HT", day=DAY, slot="09:00").appointment
        missed = site.ask("portal", "book", service="HT", day=DAY, slot="09:30").appointment
        gone = site.ask("portal", "book", service="HT", day=DAY, slot="10:00").appointment
        desk = site.ask("portal", "book", service="HT", day=DAY, slot="10:30").appointment
        assert late and missed and gone and desk
        assert site.ask("portal", "cancel", appointment=gone.code, day=DAY).ok
        again = site.ask("portal", "book", service="HT", day=DAY, slot="10:00")
        assert again.ok and again.appointment  # the cancelled place is free again

        site.clock.advance(71 * 60)  # 09:11: 11 min after the 09:00 slot, past the 10 min window
        refused = site.issuer.check_in(late.code)
        assert isinstance(refused, Response) and refused.error == "too_late"
        assert "quá giờ hẹn" in (refused.message_vi or "") and "late" in (refused.message_en or "")

        site.clock.advance(65 * 60)  # 10:16: the 09:00 and 09:30 slots ended more than 10 min ago
        site.server.tick()
        status = dict(site.queue._db.execute("SELECT code, status FROM appointments").fetchall())
        assert status[late.code] == status[missed.code] == "missed"
        assert status[again.appointment.code] == status[desk.code] == "booked"
        assert status[gone.code] == "cancelled"
        assert wait_for(lambda: {json.loads(p)["data"]["code"] for _t, p, _r in events.messages
                             if json.loads(p)["data"]["action"] == "missed"} == {late.code, missed.code})
        after = site.issuer.check_in(missed.code)
        assert isinstance(after, Response) and after.error == "appointment_missed"

        at_desk = site.ask("rt-01", "check-in", appointment=desk.code, desk=1)  # at the desk: queued by ticketing
        assert at_desk.ok and at_desk.ticket is not None and at_desk.ticket.priority == "appointment"
        assert site.queue.service_state("HT").waiting == 1

        forbidden = site.ask("kiosk-1", "book", service="HT", day=DAY, slot="16:00")
        assert not forbidden.ok and forbidden.error == "forbidden"
        no_portal = site.ask("portal", "check-in", appointment=again.appointment.code)
        assert not no_portal.ok and no_portal.error == "forbidden"
    finally:
        events.close()
