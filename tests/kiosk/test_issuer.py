"""Issuer: leases persisted with the next number, top-up, offline issuing, idempotent retries."""
from __future__ import annotations

from pathlib import Path

import pytest

from common.clock import FakeClock
from kiosk.errors import NoNumbers
from kiosk.issuer import Issuer
from kiosk.store import KioskStore
from mqtt.errors import RequestTimeout
from mqtt.outbox import Outbox
from mqtt.schemas import Lease, TicketData, parse_event
from tests.kiosk.helpers import FakeLeaseSource, fake_clock


class Parts:
    def __init__(self, tmp: Path, source: FakeLeaseSource, clock: FakeClock, size: int = 5, low: int = 2):
        self.store = KioskStore(tmp / "kiosk.db")
        self.outbox = Outbox(tmp / "outbox.db", "camau-hcc", "kiosk-1", clock=clock)
        self.issuer = Issuer(self.store, self.outbox, source, "kiosk-1", clock=clock, lease_size=size, lease_low=low)

    def issue(self, service: str, **kw):  # noqa: ANN003, ANN201 - issued and printed
        t = self.issuer.issue(service, **kw)
        self.issuer.report_print(t, printed=True)
        return t

    def tickets(self) -> list[TicketData]:
        return [TicketData.model_validate(parse_event(r.topic, r.payload).data) for r in self.outbox.fetch(0, 1000)
                if r.topic.endswith("/ticket")]

    def close(self) -> None:
        self.outbox.close()
        self.store.close()


def test_issue_persists_and_a_reboot_never_reissues(tmp_path: Path) -> None:
    src, clock = FakeLeaseSource(), fake_clock()
    p = Parts(tmp_path, src, clock)
    got = [p.issue("HT", people_ahead=i).number for i in range(3)]
    assert got == [1001, 1002, 1003]
    p.close()
    src.online = False  # rebooted while the server is away: the rest of the lease still serves
    p2 = Parts(tmp_path, src, clock)
    t = p2.issuer.issue("HT", priority="elderly", people_ahead=7, est_wait_s=600.0)
    assert t.number == 1004 and t.ticket == "1004" and t.offline
    assert [e.number for e in p2.tickets()] == [1001, 1002, 1003]  # sent at start-up: outcome unknown
    p2.issuer.report_print(t, printed=True)
    events = p2.tickets()
    assert [e.number for e in events] == [1001, 1002, 1003, 1004]
    last = events[-1]
    assert (last.action, last.day, last.service, last.priority, last.kiosk, last.people_ahead, last.offline) == (
        "issued", "2026-11-23", "HT", "elderly", "kiosk-1", 7, True)
    assert last.issued_at is not None and last.issued_at.utcoffset().total_seconds() == 7 * 3600
    p2.close()


def test_top_up_when_low_and_offline_until_empty(tmp_path: Path) -> None:
    src, clock = FakeLeaseSource(), fake_clock()
    p = Parts(tmp_path, src, clock, size=5, low=2)
    for _ in range(4):
        p.issue("DD")
    assert p.issuer.remaining("DD") == 1
    p.issuer.top_up_all(["DD"])  # what the background loop does when woken
    assert p.issuer.remaining("DD") == 6 and len(src.calls) == 2
    src.online = False
    numbers = [p.issue("DD").number for _ in range(6)]
    assert numbers == [2005, 2006, 2007, 2008, 2009, 2010]
    with pytest.raises(NoNumbers) as err:
        p.issue("DD")
    assert err.value.reason == "offline"
    assert len({e.number for e in p.tickets()}) == 10
    p.close()


def test_background_top_up_thread(tmp_path: Path) -> None:
    src, clock = FakeLeaseSource(), fake_clock()
    p = Parts(tmp_path, src, clock, size=5, low=2)
    p.issuer.services = ["HT", "KD"]
    p.issuer.start(interval_s=0.05)
    try:
        import time
        end = time.monotonic() + 5
        while (p.issuer.remaining("HT") < 5 or p.issuer.remaining("KD") < 5) and time.monotonic() < end:
            time.sleep(0.02)
        assert p.issuer.remaining("HT") == 5 and p.issuer.remaining("KD") == 5
    finally:
        p.issuer.stop()
        p.close()


class LosesFirstAnswer(FakeLeaseSource):
    """Ticketing grants the lease but the answer is lost (timeout) the first time."""

    def __init__(self) -> None:
        super().__init__()
        self.lost = False

    def lease(self, service: str, count: int, request_id: str) -> Lease:
        lease = super().lease(service, count, request_id)
        if not self.lost:
            self.lost = True
            raise RequestTimeout("answer lost")
        return lease


def test_retry_after_lost_answer_reuses_the_request_id(tmp_path: Path) -> None:
    src, clock = LosesFirstAnswer(), fake_clock()
    p = Parts(tmp_path, src, clock)
    assert not p.issuer.top_up("TP")
    p.close()
    p = Parts(tmp_path, src, clock)  # even across a restart
    assert p.issuer.top_up("TP")
    assert src.calls[0][2] == src.calls[1][2]
    assert p.issuer.remaining("TP") == 5 and src._next["TP"] == 4006  # one block granted, not two
    p.close()


def test_refused_lease_means_finished(tmp_path: Path) -> None:
    src, clock = FakeLeaseSource(), fake_clock()
    src.refuse.add("KD")
    p = Parts(tmp_path, src, clock)
    with pytest.raises(NoNumbers) as err:
        p.issue("KD")
    assert err.value.reason == "finished" and p.issuer.refused("KD") == "range_exhausted"
    p.close()


def test_new_day_does_not_use_yesterdays_lease(tmp_path: Path) -> None:
    src, clock = FakeLeaseSource(), fake_clock()
    p = Parts(tmp_path, src, clock)
    assert p.issue("HT").day == "2026-11-23"
    clock.advance(24 * 3600)
    src.day = "2026-11-24"
    t = p.issue("HT")
    assert t.day == "2026-11-24" and t.number == 1006  # a fresh lease of the new day
    p.close()


def test_ticket_persisted_before_a_crash_is_enqueued_on_start(tmp_path: Path) -> None:
    src, clock = FakeLeaseSource(), fake_clock()
    p = Parts(tmp_path, src, clock)
    p.issue("HT")
    with p.store.lock:  # as if the process died between the number and the outbox
        p.store.conn.execute("UPDATE ticket SET event_id=NULL")
    p.outbox.ack([r.rowid for r in p.outbox.fetch(0, 100)])
    p.close()
    p = Parts(tmp_path, src, clock)
    assert [e.number for e in p.tickets()] == [1001]
    p.close()
