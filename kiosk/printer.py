"""The thermal printer: real-time status (DLE EOT n) before and after a ticket, the ticket's
ESC/POS bytes (:mod:`kiosk.ticket_bytes`) and the cut, through python-escpos. A print job is
bound to a ticket already issued: a failed print raises :class:`PrinterFault` and never touches
the number."""
from __future__ import annotations

import copy
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Literal

from .config import PrinterConfig
from .errors import PrinterConfigError, PrinterFault
from .ticket_bytes import Capabilities, TicketRenderer

log = logging.getLogger(__name__)

DLE_EOT = b"\x10\x04"
FIXED_MASK, FIXED_BITS = 0x93, 0x12  # bits 1 and 4 are always 1, bits 0 and 7 always 0

FAULT_MESSAGES: dict[str, tuple[str, str]] = {
    "printer_paper_out": ("Máy in hết giấy", "The printer is out of paper"),
    "printer_cover_open": ("Nắp máy in đang mở", "The printer cover is open"),
    "printer_offline": ("Máy in không phản hồi", "The printer does not respond"),
    "printer_error": ("Máy in báo lỗi", "The printer reports an error"),
    "printer_paper_low": ("Máy in sắp hết giấy", "The printer paper is running low"),
}
BLOCKING = ("printer_paper_out", "printer_cover_open", "printer_offline", "printer_error")


def fault(code: str, detail: str | None = None) -> PrinterFault:
    vi, en = FAULT_MESSAGES[code]
    return PrinterFault(code, vi, en, detail)


@dataclass(frozen=True)
class PrinterStatus:
    """Decoded real-time status. ``paper``: ok, near_end or out."""

    online: bool = True
    paper: Literal["ok", "near_end", "out"] = "ok"
    cover_open: bool = False
    error: bool = False

    @property
    def faults(self) -> list[str]:
        """Fault codes this status means, most important first (paper_low is a warning only)."""
        out = []
        if self.paper == "out":
            out.append("printer_paper_out")
        if self.cover_open:
            out.append("printer_cover_open")
        if self.error:
            out.append("printer_error")
        if not self.online and not out:
            out.append("printer_offline")
        if self.paper == "near_end":
            out.append("printer_paper_low")
        return out


def _check(byte: int, n: int) -> int:
    if byte & FIXED_MASK != FIXED_BITS:
        raise ValueError(f"status byte 0x{byte:02x} for DLE EOT {n} lacks the fixed bits (xxx1xx1x with bit 0, 7 = 0)")
    return byte


def parse_status(printer: int, offline_cause: int | None, paper: int) -> PrinterStatus:
    """Decode DLE EOT 1 (printer), 2 (offline cause, asked only when offline) and 4 (paper roll)."""
    _check(printer, 1)
    _check(paper, 4)
    online = not printer & 0x08
    cover = error = False
    paper_end_stop = False
    if offline_cause is not None:
        _check(offline_cause, 2)
        cover = bool(offline_cause & 0x04)
        paper_end_stop = bool(offline_cause & 0x20)
        error = bool(offline_cause & 0x40)
    if paper & 0x60 or paper_end_stop:
        state: Literal["ok", "near_end", "out"] = "out"
    elif paper & 0x0C:
        state = "near_end"
    else:
        state = "ok"
    return PrinterStatus(online=online, paper=state, cover_open=cover, error=error)


def open_printer(cfg: PrinterConfig) -> Any:
    """An escpos printer for the ``[printer]`` table (opened lazily by python-escpos)."""
    from escpos import printer as ep

    kw: dict[str, Any] = {"profile": cfg.profile} if cfg.profile else {}
    if cfg.kind == "serial":
        assert cfg.port is not None
        p = ep.Serial(devfile=cfg.port, baudrate=cfg.baudrate, timeout=cfg.status_timeout_s, dsrdtr=cfg.dsrdtr, **kw)
        if "://" in cfg.port:  # pyserial URL (loop://, socket://, rfc2217://): escpos opens only paths
            import serial

            p.device = serial.serial_for_url(cfg.port, baudrate=cfg.baudrate, timeout=cfg.status_timeout_s)
    elif cfg.kind == "usb":
        p = ep.Usb(cfg.vendor, cfg.product, timeout=0, **kw)
    elif cfg.kind == "network":
        p = ep.Network(cfg.host, port=cfg.tcp_port, **kw)
    elif cfg.kind == "file":
        p = ep.File(cfg.path, **kw)
    elif cfg.kind == "dummy":
        p = ep.Dummy(**kw)
    else:  # pragma: no cover - the config model refuses other kinds
        raise PrinterConfigError(f"unknown printer kind {cfg.kind!r}")
    p.profile.profile_data = copy.deepcopy(p.profile.profile_data)
    p.profile.profile_data.setdefault("media", {}).setdefault("width", {})["pixels"] = cfg.width_px
    return p


class TicketPrinter:
    """Prints rendered tickets; asks the printer's status first where it can answer.

    ``printer`` is any python-escpos printer (Serial, Usb, Network, File, Dummy).
    """

    def __init__(self, printer: Any, width_px: int, *, query_status: bool = True, cut: bool = True,
                 status_timeout_s: float = 0.5, mode: str = "auto"):
        self.printer = printer
        self.width_px = width_px
        self.caps = Capabilities.from_profile(getattr(printer, "profile", None), width_px, mode)
        self.cut = cut
        self.status_timeout_s = status_timeout_s
        kind = type(printer).__name__
        self.supports_status = query_status and kind in ("Serial", "Usb")
        self.lock = threading.Lock()
        self.last_status: PrinterStatus | None = None

    @classmethod
    def from_config(cls, cfg: PrinterConfig) -> "TicketPrinter":
        return cls(open_printer(cfg), cfg.width_px, query_status=cfg.query_status, cut=cfg.cut,
                   status_timeout_s=cfg.status_timeout_s, mode=cfg.mode)

    # -- status ---------------------------------------------------------------------------------

    def _ask(self, n: int) -> int:
        dev = self.printer.device
        if dev is None:
            raise fault("printer_offline", "device not open")
        if hasattr(dev, "reset_input_buffer"):
            dev.reset_input_buffer()
        self.printer._raw(DLE_EOT + bytes((n,)))
        end = time.monotonic() + self.status_timeout_s
        while time.monotonic() < end:
            got = dev.read(1)
            if got:
                return got[0]
        raise fault("printer_offline", f"no answer to DLE EOT {n} within {self.status_timeout_s:.1f} s")

    def status(self) -> PrinterStatus | None:
        """The printer's real-time status, or None when this printer cannot be asked.
        Raises PrinterFault(printer_offline) when it does not answer."""
        if not self.supports_status:
            return None
        with self.lock:
            try:
                printer = self._ask(1)
                cause = self._ask(2) if printer & 0x08 else None
                paper = self._ask(4)
                st = parse_status(printer, cause, paper)
            except PrinterFault:
                self._reset()
                raise
            except ValueError as exc:
                raise fault("printer_error", str(exc)) from None
            except Exception as exc:  # noqa: BLE001 - serial/usb errors of every kind mean "offline"
                self._reset()
                raise fault("printer_offline", f"{type(exc).__name__}: {exc}") from None
        self.last_status = st
        return st

    def _reset(self) -> None:
        """Drop the connection so the next job reopens it (a replugged USB-serial adapter)."""
        if "://" in str(getattr(self.printer, "devfile", "")):
            return  # a pyserial URL port was opened by open_printer; python-escpos cannot reopen it
        try:
            if type(self.printer).__name__ in ("Serial", "Usb", "Network"):
                self.printer.close()
                self.printer._device = False
        except Exception:  # noqa: BLE001
            log.debug("closing the printer failed", exc_info=True)

    # -- printing -------------------------------------------------------------------------------

    def renderer(self) -> TicketRenderer:
        """The encoder for this printer's paper width and capabilities."""
        return TicketRenderer(self.width_px, self.caps)

    def _blocking(self, st: PrinterStatus | None, when: str) -> None:
        if st is not None:
            blocking = [c for c in st.faults if c in BLOCKING]
            if blocking:
                raise fault(blocking[0], None if when == "before" else "reported right after printing")

    def print_ticket(self, data: bytes) -> PrinterStatus | None:
        """Check status (where the printer can be asked), send the ticket's bytes, cut, and ask
        again: paper that ran out or a cover opened during the ticket fails it too.

        Raises PrinterFault with the blocking fault; returns the last status (paper near end is
        reported in it, and still prints)."""
        self._blocking(self.status(), "before")
        with self.lock:
            try:
                self.printer._raw(data)
                if self.cut:
                    self.printer.cut()
                dev = getattr(self.printer, "device", None)
                if dev is not None and hasattr(dev, "flush"):
                    dev.flush()
            except PrinterFault:
                raise
            except Exception as exc:  # noqa: BLE001 - any transport error: the ticket stays, reprint later
                self._reset()
                raise fault("printer_offline", f"{type(exc).__name__}: {exc}") from None
        after = self.status()
        self._blocking(after, "after")
        return after
