"""Printer faults: what the printer last said, as ``fault`` events (raised and cleared on change)
and as the problem the citizen is told about."""
from __future__ import annotations

import logging

from .errors import PrinterFault
from .faults import Faults
from .printer import BLOCKING, FAULT_MESSAGES, TicketPrinter

log = logging.getLogger(__name__)


class PrinterFaults:
    def __init__(self, faults: Faults, printer: TicketPrinter | None):
        self.faults = faults
        self.printer = printer

    def sync(self, codes: list[str], detail: str | None = None) -> None:
        """Make the active printer faults match what the printer just said."""
        for code in codes:
            vi, en = FAULT_MESSAGES[code]
            self.faults.raise_(code, vi, en, detail)
        for code in FAULT_MESSAGES:
            if code not in codes:
                self.faults.clear(code)

    def check(self) -> None:
        """Poll the printer's status (from a timer); raise or clear printer faults."""
        if self.printer is None or not self.printer.supports_status:
            return
        try:
            st = self.printer.status()
        except PrinterFault as exc:
            self.sync([exc.code], exc.detail)
            return
        self.sync(st.faults if st else [])

    def problem(self) -> PrinterFault | None:
        """The blocking fault active now, if any (paper low is for staff, not the citizen)."""
        for code in BLOCKING:
            if code in self.faults.active:
                vi, en = FAULT_MESSAGES[code]
                return PrinterFault(code, vi, en)
        return None
