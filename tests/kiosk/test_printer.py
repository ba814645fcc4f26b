"""The printed ticket and printer faults: python-escpos Dummy, pyserial loop:// and a fake
printer on a socat pty answering DLE EOT status queries."""
from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import serial
from PIL import Image

from kiosk.config import PrinterConfig
from kiosk.printer import TicketPrinter, open_printer, parse_status
from kiosk.runtime import build
from mqtt.schemas import parse_event
from tests.kiosk.escpos_decode import decode_qr, raster_blocks, ticket_bitmap
from tests.kiosk.fake_printer import COVER_OPEN, OK, PAPER_NEAR_END, PAPER_OUT, FakePrinter, PtyPair
from tests.kiosk.helpers import FakeLeaseSource, fake_clock, kiosk_config, service_state, site_state


def make_kiosk(tmp_path: Path, printer: TicketPrinter | None = None, width_mm: int = 80, **kiosk: str):
    cfg = kiosk_config(tmp_path, **kiosk)
    cfg.printer.width_mm = width_mm  # type: ignore[assignment]
    k = build(cfg, clock=fake_clock(), source=FakeLeaseSource(), printer=printer, connect=False, print_async=False)
    k.state.set_site(site_state())
    k.state.set_service(service_state("HT", 3, 900.0))
    return k


def events(k, type_: str) -> list[dict]:
    out = []
    for row in k.outbox.fetch(0, 1000):
        env = parse_event(row.topic, row.payload)
        if env.type == type_:
            out.append(env.data)
    return out


@pytest.mark.parametrize("width_mm,width_px", [(58, 384), (80, 576)])
def test_ticket_raster_has_printer_width_and_qr_decodes(tmp_path: Path, width_mm: int, width_px: int,
                                                        artifacts: Path) -> None:
    k = make_kiosk(tmp_path, width_mm=width_mm)
    try:
        c = k.controller
        c.choose_service("HT")
        ticket = c.choose_priority("elderly")
        assert ticket is not None and c.job is not None and c.job.status == "printed"
        out = k.printer.printer.output  # python-escpos Dummy, generic profile: fonts and QR
        bitmap = ticket_bitmap(out, width_px)
        assert bitmap.shape[1] == width_px
        assert all(b.shape[1] <= width_px for b in raster_blocks(out))
        assert out.startswith(b"\x1b@")
        assert decode_qr(bitmap) == f"https://dichvucong.example.vn/ve/camau-hcc/2026-11-23/{ticket.ticket}"
        assert out.rstrip(b"\n").endswith(b"\x1dV\x00")  # full cut after the image
        assert 0.02 < bitmap.mean() < 0.5  # printed, not blank, not solid black
        (artifacts / "kiosk").mkdir(exist_ok=True)
        Image.fromarray(np.where(bitmap, 0, 255).astype("uint8")).save(artifacts / "kiosk" / f"ticket-{width_mm}mm.png")
    finally:
        k.stop()


def test_qr_template_fields(tmp_path: Path) -> None:
    k = make_kiosk(tmp_path, qr_template="https://x.example/{device}/{service}/{number}?d={day}")
    try:
        k.controller.choose_service("HT")
        t = k.controller.choose_priority(None)
        assert decode_qr(ticket_bitmap(k.printer.printer.output)) == f"https://x.example/kiosk-1/HT/{t.number}?d=2026-11-23"
    finally:
        k.stop()


def test_ticket_goes_through_a_serial_port(tmp_path: Path) -> None:
    """pyserial loop://: the bytes written to the serial port are the ticket raster."""
    cfg = PrinterConfig(kind="serial", port="loop://", width_mm=58, query_status=False)
    tp = TicketPrinter.from_config(cfg)
    k = make_kiosk(tmp_path, printer=tp, width_mm=58)
    dev: serial.SerialBase = tp.printer.device
    got = bytearray()
    stop = threading.Event()

    def drain() -> None:  # loop:// holds only 4 KiB: read while the kiosk writes, as a printer would
        while not stop.is_set():
            got.extend(dev.read(dev.in_waiting or 1))

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        k.controller.choose_service("HT")
        t = k.controller.choose_priority(None)
        assert k.controller.job.status == "printed"
        time.sleep(0.2)
        stop.set()
        reader.join(2)
        data = bytes(got)
        bitmap = ticket_bitmap(data, 384)
        assert bitmap.shape[1] == 384
        assert decode_qr(bitmap).endswith(f"/{t.ticket}")
    finally:
        k.stop()


def test_status_parser() -> None:
    assert parse_status(OK[1], None, OK[4]).faults == []
    assert parse_status(PAPER_NEAR_END[1], None, PAPER_NEAR_END[4]).faults == ["printer_paper_low"]
    assert parse_status(PAPER_OUT[1], PAPER_OUT[2], PAPER_OUT[4]).faults == ["printer_paper_out"]
    assert parse_status(COVER_OPEN[1], COVER_OPEN[2], COVER_OPEN[4]).faults == ["printer_cover_open"]
    assert parse_status(0x1A, 0x12, 0x12).faults == ["printer_offline"]
    with pytest.raises(ValueError, match="fixed bits"):
        parse_status(0xFF, None, 0x12)


@pytest.fixture
def pty_printer():
    pair = PtyPair()
    fake = FakePrinter(pair.printer_end)
    yield pair, fake
    fake.close()
    pair.close()


def test_paper_out_on_pty_keeps_ticket_raises_and_clears_fault(tmp_path: Path, pty_printer) -> None:
    pair, fake = pty_printer
    cfg = PrinterConfig(kind="serial", port=pair.kiosk_end, width_mm=80, status_timeout_s=1.0)
    k = make_kiosk(tmp_path, printer=TicketPrinter.from_config(cfg))
    try:
        c = k.controller
        # 1. paper fine: status asked, ticket printed, raster arrives at the printer
        c.choose_service("HT")
        first = c.choose_priority(None)
        assert c.job.status == "printed", c.job.fault
        assert fake.queries[:2] == [1, 4]
        assert decode_qr(ticket_bitmap(fake.wait_cut(0))).endswith(f"/{first.ticket}")

        # 2. paper out: the number is issued and shown, the print fails, a fault is raised
        fake.status = dict(PAPER_OUT)
        c.done()
        c.choose_service("HT")
        second = c.choose_priority(None)
        assert second is not None and second.number == first.number + 1
        assert c.screen == "confirm" and c.job.status == "failed"
        lines = c.confirm_lines()
        assert lines["number"] == second.ticket
        assert "Máy in hết giấy" in lines["status"] and lines["failed"]
        assert c.printer_problem() is not None and c.printer_problem().code == "printer_paper_out"
        faults = events(k, "fault")
        assert [(f["code"], f["active"]) for f in faults] == [("printer_paper_out", True)]
        assert faults[0]["message_vi"] and faults[0]["message_en"]
        # reprint while still out: still failed, and no second number for this citizen
        before = k.issuer.tickets()
        c.reprint()
        assert c.job.status == "failed" and c.job.ticket == second
        assert k.issuer.tickets() == before and len(events(k, "fault")) == 1
        assert k.issuer.unprinted() == [second.ticket]

        # 3. paper back: the poll clears the fault; reprint prints the same number
        fake.status = dict(OK)
        c.check_printer()
        assert [(f["code"], f["active"]) for f in events(k, "fault")] == [
            ("printer_paper_out", True), ("printer_paper_out", False)]
        received = len(fake.wait_cut(0))
        c.reprint()
        assert c.job.status == "printed" and c.job.ticket.ticket == second.ticket
        assert decode_qr(ticket_bitmap(fake.wait_cut(received))).endswith(f"/{second.ticket}")
        assert k.issuer.tickets() == before and k.issuer.unprinted() == []
        assert [t["number"] for t in events(k, "ticket")] == [first.number, second.number]
    finally:
        k.stop()


def test_unplugged_printer_is_offline_fault_not_a_crash(tmp_path: Path, pty_printer) -> None:
    pair, fake = pty_printer
    cfg = PrinterConfig(kind="serial", port=pair.kiosk_end, width_mm=80, status_timeout_s=0.3)
    k = make_kiosk(tmp_path, printer=TicketPrinter.from_config(cfg))
    try:
        fake.close()  # nobody answers the status query
        c = k.controller
        c.choose_service("HT")
        t = c.choose_priority(None)
        assert t is not None and c.job.status == "failed" and c.job.fault.code == "printer_offline"
        assert [(f["code"], f["active"]) for f in events(k, "fault")] == [("printer_offline", True)]
        assert c.confirm_lines()["number"] == t.ticket
    finally:
        k.stop()


def test_paper_near_end_prints_and_warns(tmp_path: Path, pty_printer) -> None:
    pair, fake = pty_printer
    fake.status = dict(PAPER_NEAR_END)
    cfg = PrinterConfig(kind="serial", port=pair.kiosk_end, width_mm=80, status_timeout_s=1.0)
    k = make_kiosk(tmp_path, printer=TicketPrinter.from_config(cfg))
    try:
        c = k.controller
        c.choose_service("HT")
        c.choose_priority(None)
        assert c.job.status == "printed"
        assert [(f["code"], f["active"]) for f in events(k, "fault")] == [("printer_paper_low", True)]
        assert c.printer_problem() is None  # a warning for staff, not a problem for the citizen
    finally:
        k.stop()


def test_open_printer_kinds(tmp_path: Path) -> None:
    f = tmp_path / "lp0"
    p = open_printer(PrinterConfig(kind="file", path=str(f), width_mm=58))
    assert type(p).__name__ == "File" and p.profile.profile_data["media"]["width"]["pixels"] == 384
    assert type(open_printer(PrinterConfig(kind="network", host="127.0.0.1"))).__name__ == "Network"
    assert json.dumps(PrinterConfig(kind="dummy").width_px) == "576"
