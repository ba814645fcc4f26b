"""The print worker: one ticket at a time, off the UI thread. A job is bound to a number already
issued; its outcome (printed, or failed with the printer's fault) is reported to the issuer, and
through it to ticketing, only when final (see :meth:`PrintWorker.settle`)."""
from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from typing import Callable

from .errors import PrinterFault
from .faults import Faults
from .issuer import IssuedTicket, Issuer
from .printer import FAULT_MESSAGES, TicketPrinter
from .printer_faults import PrinterFaults
from .ticket import TicketContent
from .ticket_bytes import TicketRenderer

log = logging.getLogger(__name__)


@dataclass
class PrintJob:
    ticket: IssuedTicket
    status: str = "printing"  # printing | printed | failed
    fault: PrinterFault | None = None
    handed_at: float | None = None  # perf_counter when bytes went to the printer
    bytes: int = 0


class PrintWorker:
    """Prints jobs in order (in a thread when ``asynchronous``) and tells ``listeners`` when one ends."""

    def __init__(self, printer: TicketPrinter | None, renderer: TicketRenderer, issuer: Issuer, faults: Faults,
                 printer_faults: PrinterFaults, content: Callable[[IssuedTicket], TicketContent], *,
                 asynchronous: bool = True):
        self.printer = printer
        self.renderer = renderer
        self.issuer = issuer
        self.faults = faults
        self.printer_faults = printer_faults
        self.content = content
        self.asynchronous = asynchronous
        self.listeners: list[Callable[[], None]] = []  # told when a job ends (worker thread)
        self._jobs: "queue.Queue[PrintJob | None]" = queue.Queue()
        self._worker: threading.Thread | None = None
        self._done = threading.Condition()

    def submit(self, ticket: IssuedTicket) -> PrintJob:
        """Print (or reprint) an issued ticket; the number is never touched by a print."""
        job = PrintJob(ticket)
        if self.printer is None:
            self._failed(job, PrinterFault("printer_offline", *FAULT_MESSAGES["printer_offline"], "no printer"))
            return job
        if self.asynchronous:
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._work, name="ticket-printer", daemon=True)
                self._worker.start()
            self._jobs.put(job)
        else:
            self._run(job)
        return job

    def settle(self, job: PrintJob | None) -> None:
        """The citizen has left the ticket's screen: a failed print is final now (its number is
        reported as never printed, and nobody will be called for it)."""
        if job is not None and job.status == "failed":
            self.issuer.report_print(job.ticket, printed=False)

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            self._run(job)

    def _failed(self, job: PrintJob, fault: PrinterFault) -> None:
        job.status, job.fault = "failed", fault
        self.issuer.mark_failed(job.ticket)

    def _run(self, job: PrintJob) -> None:
        assert self.printer is not None
        try:
            data = self.renderer.encode(self.content(job.ticket))
            job.bytes = len(data)
            job.handed_at = time.perf_counter()
            st = self.printer.print_ticket(data)
            job.status = "printed"
            self.issuer.report_print(job.ticket, printed=True)
            self.printer_faults.sync(st.faults if st else [])
        except PrinterFault as exc:
            log.warning("ticket %s not printed: %s", job.ticket.ticket, exc)
            self._failed(job, exc)
            self.printer_faults.sync([exc.code], exc.detail)
        except Exception as exc:  # noqa: BLE001 - a bug while printing: keep the ticket, report it
            log.exception("printing ticket %s failed", job.ticket.ticket)
            self._failed(job, PrinterFault("printer_error", *FAULT_MESSAGES["printer_error"]))
            self.faults.report_once("kiosk_error", "Lỗi phần mềm khi in phiếu", "Kiosk software error while printing",
                                    f"{type(exc).__name__}: {exc}"[:500])
        with self._done:
            self._done.notify_all()
        for fn in list(self.listeners):
            try:
                fn()
            except Exception:  # noqa: BLE001
                log.exception("print listener failed")

    def wait(self, job: PrintJob | None, timeout: float = 5.0) -> PrintJob | None:
        end = time.monotonic() + timeout
        with self._done:
            while job is not None and job.status == "printing":
                left = end - time.monotonic()
                if left <= 0:
                    break
                self._done.wait(left)
        return job

    def stop(self) -> None:
        if self._worker is not None:
            self._jobs.put(None)
            self._worker.join(5)
