"""A ticket counts when it is printed: the kiosk asks the printer after the ticket too, a number
whose print failed goes out as ``print_failed`` in its ``issued`` event, and ticketing's queue
(the real one, on an SQLite file) does not keep it as a ghost that desks call in vain."""
from __future__ import annotations

from pathlib import Path

import pytest

from kiosk.config import PrinterConfig
from kiosk.printer import TicketPrinter
from mqtt.schemas import Request, TicketData, parse_event
from tests.kiosk.fake_printer import OK, PAPER_OUT, FakePrinter, PtyPair
from tests.kiosk.helpers import DAY, fake_clock
from tests.kiosk.test_printer import make_kiosk
from tests.ticketing.helpers import site_config
from ticketing.queue import Queue


def issued_events(k) -> list[TicketData]:  # noqa: ANN001
    out = []
    for row in k.outbox.fetch(0, 1000):
        env = parse_event(row.topic, row.payload)
        if env.type == "ticket":
            out.append(TicketData.model_validate(env.data))
    return out


@pytest.fixture
def pty_printer():
    pair = PtyPair()
    fake = FakePrinter(pair.printer_end)
    yield pair, fake
    fake.close()
    pair.close()


class PaperRunsOutDuringTheTicket(FakePrinter):
    """Paper fine when asked before the ticket, out once the ticket's bytes arrived."""

    def _parse(self) -> None:
        if b"\x1dV" in self._buf:
            self.status = dict(PAPER_OUT)
        super()._parse()


def test_failed_print_is_marked_and_never_queued(tmp_path: Path, pty_printer) -> None:
    pair, fake = pty_printer
    cfg = PrinterConfig(kind="serial", port=pair.kiosk_end, width_mm=80, status_timeout_s=1.0)
    k = make_kiosk(tmp_path, printer=TicketPrinter.from_config(cfg))
    q = Queue(tmp_path / "ticketing.db", site_config(), fake_clock())
    try:
        c = k.controller
        c.choose_service("HT")
        printed = c.choose_priority(None)
        assert c.job.status == "printed"
        c.done()
        fake.status = dict(PAPER_OUT)
        c.choose_service("HT")
        lost = c.choose_priority(None)
        assert c.job.status == "failed"
        assert [e.number for e in issued_events(k)] == [printed.number]  # not final while on screen
        c.done()  # the citizen leaves without a ticket
        events = issued_events(k)
        assert [(e.number, e.print_failed) for e in events] == [(printed.number, False), (lost.number, True)]
        for e in events:
            q.add_issued(e)
        assert q.service_state("HT").waiting == 1
        r = q.handle("call-next", Request(id="c1", device="rt-01", desk=1)).response
        assert r.ok and r.ticket.number == printed.number
        r = q.handle("call-next", Request(id="c2", device="rt-01", desk=1)).response
        assert not r.ok and r.error == "queue_empty"  # no ghost for the number that never printed
        assert [d.action for _i, d in q.pending_events() if d.number == lost.number] == ["cancelled"]
    finally:
        q.close()
        k.stop()


def test_paper_out_during_the_ticket_fails_it(tmp_path: Path) -> None:
    pair = PtyPair()
    fake = PaperRunsOutDuringTheTicket(pair.printer_end)
    cfg = PrinterConfig(kind="serial", port=pair.kiosk_end, width_mm=58, status_timeout_s=1.0)
    k = make_kiosk(tmp_path, printer=TicketPrinter.from_config(cfg), width_mm=58)
    try:
        c = k.controller
        c.choose_service("HT")
        t = c.choose_priority(None)
        assert c.job.status == "failed" and c.job.fault.code == "printer_paper_out"
        assert fake.queries.count(1) >= 2  # asked before and after the ticket
        assert "Số " + t.ticket in c.confirm_lines()["status"]
        # paper reloaded, the citizen touches "print again": the same number prints and counts
        fake.status = dict(OK)
        fake._parse = FakePrinter._parse.__get__(fake)  # no more running out
        c.reprint()
        assert c.job.status == "printed" and c.job.ticket.ticket == t.ticket
        c.done()
        assert [(e.ticket, e.print_failed) for e in issued_events(k)] == [(t.ticket, False)]
    finally:
        k.stop()
        fake.close()
        pair.close()


def test_a_crash_before_the_outcome_still_reports_it(tmp_path: Path, pty_printer) -> None:
    """Failed and not yet reported when the kiosk died: reported as failed at start-up."""
    pair, fake = pty_printer
    fake.status = dict(PAPER_OUT)
    cfg = PrinterConfig(kind="serial", port=pair.kiosk_end, width_mm=80, status_timeout_s=1.0)
    k = make_kiosk(tmp_path, printer=TicketPrinter.from_config(cfg))
    c = k.controller
    c.choose_service("HT")
    t = c.choose_priority(None)
    assert c.job.status == "failed" and issued_events(k) == []
    k.outbox.close()  # power cut: nothing more happens in this process
    k.store.close()
    k2 = make_kiosk(tmp_path)
    try:
        assert [(e.ticket, e.day, e.print_failed) for e in issued_events(k2)] == [(t.ticket, DAY, True)]
    finally:
        k2.stop()
