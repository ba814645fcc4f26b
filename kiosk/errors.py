"""Errors of the kiosk role."""
from __future__ import annotations

from common.errors import MotcuaError


class KioskError(MotcuaError):
    """Base for errors raised by kiosk/."""


class NoNumbers(KioskError):
    """No number can be issued for a service: no lease left and none obtainable right now.

    ``reason`` is ``finished`` (ticketing says the day's range is used up) or ``offline``
    (no lease on hand and ticketing unreachable).
    """

    def __init__(self, service: str, reason: str, message: str):
        self.service = service
        self.reason = reason
        super().__init__(f"{service}: {message}")


class LeaseRefused(KioskError):
    """Ticketing answered a lease request with ok=false (error code in ``error``)."""

    def __init__(self, service: str, error: str | None, message: str | None):
        self.service = service
        self.error = error or "refused"
        super().__init__(f"lease for {service} refused: {self.error}: {message or ''}")


class PrinterFault(KioskError):
    """The printer cannot print now. ``code`` is the fault code (printer_paper_out, ...)."""

    def __init__(self, code: str, message_vi: str, message_en: str, detail: str | None = None):
        self.code = code
        self.message_vi = message_vi
        self.message_en = message_en
        self.detail = detail
        super().__init__(f"{code}: {message_en}" + (f" ({detail})" if detail else ""))


class PrinterConfigError(KioskError, ValueError):
    """The [printer] table names a printer that cannot be opened as configured."""
