"""The kiosk's behaviour without a window: which screen, what it says, what a tap does.

The Kivy app is a thin view over :class:`KioskController`; tests drive the controller directly
or through the real window. Every action runs through :meth:`KioskController.safe`, so an
unexpected error is logged, reported as a ``fault`` event and the kiosk returns home.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from common.clock import Clock, SystemClock
from common.ticket_token import make_token

from .errors import NoNumbers, PrinterFault
from .faults import Faults
from .i18n import minutes, text
from .issuer import IssuedTicket, Issuer
from .printer import BLOCKING, FAULT_MESSAGES, TicketPrinter
from .state import KioskState
from .ticket import TicketContent, TicketRenderer

log = logging.getLogger(__name__)

FLOW_SCREENS = ("options", "appointment", "confirm")
CODE_MIN, CODE_MAX = 4, 8


@dataclass
class PrintJob:
    ticket: IssuedTicket
    status: str = "printing"  # printing | printed | failed
    fault: PrinterFault | None = None
    handed_at: float | None = None  # perf_counter when bytes went to the printer


class KioskController:
    def __init__(self, state: KioskState, issuer: Issuer, faults: Faults, *, printer: TicketPrinter | None,
                 renderer: TicketRenderer, site: str, device: str, qr_template: str,
                 idle_timeout_s: float = 20.0, clock: Clock | None = None, print_async: bool = True,
                 lang: str = "vi", ticket_secret: str | None = None):
        self.state = state
        self.issuer = issuer
        self.faults = faults
        self.printer = printer
        self.renderer = renderer
        self.site = site
        self.device = device
        self.qr_template = qr_template
        self.ticket_secret = ticket_secret
        self.idle_timeout_s = idle_timeout_s
        self.clock = clock or SystemClock()
        self.print_async = print_async
        self.default_lang = lang
        self.lang = lang
        self.screen = "home"
        self.service: str | None = None
        self.code = ""
        self.code_error = ""
        self.notice: tuple[str, dict[str, Any]] | None = None  # a message on the home screen
        self.job: PrintJob | None = None
        self.last_activity = self.clock.monotonic()
        self.listeners: list[Callable[[], None]] = []  # told when a print job ends (worker thread)
        self._jobs: "queue.Queue[PrintJob | None]" = queue.Queue()
        self._worker: threading.Thread | None = None
        self._job_done = threading.Condition()

    # -- helpers -------------------------------------------------------------------------------

    def t(self, key: str, **fields: Any) -> str:
        return text(key, self.lang, **fields)

    def touch(self) -> None:
        self.last_activity = self.clock.monotonic()

    def safe(self, action: Callable[..., Any], *args: Any) -> Any:
        """Run an action; on any unexpected error log it, report a fault and go home."""
        try:
            return action(*args)
        except Exception as exc:  # noqa: BLE001 - the citizen must never see a traceback
            self.handle_error(exc, getattr(action, "__name__", "action"))
            return None

    def handle_error(self, exc: BaseException, where: str = "") -> None:
        log.exception("unexpected error in %s", where or "kiosk", exc_info=exc)
        try:
            self.faults.report_once("kiosk_error", "Lỗi phần mềm máy lấy số", "Kiosk software error",
                                    f"{where}: {type(exc).__name__}: {exc}"[:500])
        except Exception:  # noqa: BLE001 - reporting must not make it worse
            log.exception("could not report the error as a fault")
        self.go_home()
        self.notice = ("error", {})

    # -- what to show ----------------------------------------------------------------------------

    def base_screen(self) -> str:
        """Home, or the state that replaces it: loading, closed, finished."""
        if self.state.site is None:
            return "loading"
        if not self.state.is_open():
            return "closed"
        views = self.state.service_views()
        if views and all(v.finished or self.issuer.refused(v.code) for v in views):
            return "finished"
        return "home"

    def current_screen(self) -> str:
        return self.screen if self.screen in FLOW_SCREENS else self.base_screen()

    @property
    def offline(self) -> bool:
        return not self.state.online

    def printer_problem(self) -> PrinterFault | None:
        for code in BLOCKING:
            if code in self.faults.active:
                vi, en = FAULT_MESSAGES[code]
                return PrinterFault(code, vi, en)
        return None

    def service_name(self, code: str | None) -> str:
        info = self.state.service_info(code) if code else None
        if info is None:
            return code or ""
        return info.name_en if self.lang == "en" else info.name_vi

    def service_lines(self) -> list[dict[str, Any]]:
        """One entry per home button: code, name, detail line, enabled."""
        out = []
        for v in self.state.service_views():
            finished = v.finished or bool(self.issuer.refused(v.code))
            if finished:
                detail = self.t("finished_service")
            else:
                m = minutes(v.est_wait_s)
                wait = self.t("no_wait") if m == 0 else self.t("est_wait", m=m) if m else ""
                detail = self.t("waiting", n=v.waiting) + (f"  ·  {wait}" if wait else "")
            out.append({"code": v.code, "name": v.name_en if self.lang == "en" else v.name_vi,
                        "detail": detail, "enabled": not finished})
        return out

    def notice_text(self) -> str:
        if not self.notice:
            return ""
        key, fields = self.notice
        return self.t(key, **fields)

    def confirm_lines(self) -> dict[str, str]:
        job = self.job
        if job is None:
            return {}
        t = job.ticket
        m = minutes(t.est_wait_s)
        if job.status == "failed" and job.fault is not None:
            problem = job.fault.message_en if self.lang == "en" else job.fault.message_vi
            status = self.t("print_failed", problem=problem)
        else:
            status = self.t("printing" if job.status == "printing" else "printed")
        return {"number": t.ticket, "service": self.service_name(t.service),
                "ahead": self.t("people_ahead", n=t.people_ahead),
                "wait": self.t("est_wait_long", m=m) if m is not None else self.t("est_unknown"),
                "priority": self.t(t.priority) if t.priority in ("elderly", "disabled", "pregnant", "appointment")
                else "",
                "status": status, "failed": "1" if job.status == "failed" else "",
                "offline": self.t("offline_ticket") if t.offline else ""}

    # -- actions ---------------------------------------------------------------------------------

    def go_home(self) -> None:
        self.screen = "home"
        self.service = None
        self.code = ""
        self.code_error = ""
        self.lang = self.default_lang

    def toggle_language(self) -> None:
        self.lang = "en" if self.lang == "vi" else "vi"

    def choose_service(self, code: str) -> None:
        self.notice = None
        if self.base_screen() != "home":
            self.go_home()
            return
        if self.state.finished(code) or self.issuer.refused(code):
            self.notice = ("service_finished", {"name": self.service_name(code)})
            return
        self.service = code
        self.screen = "options"

    def choose_priority(self, priority: str | None) -> IssuedTicket | None:
        """Regular (None) or elderly/disabled/pregnant: issue the ticket now."""
        if self.service is None:
            self.go_home()
            return None
        return self._issue(self.service, priority, None)

    def open_appointment(self) -> None:
        if self.service is None:
            self.go_home()
            return
        self.code = ""
        self.code_error = ""
        self.screen = "appointment"

    def key(self, digit: str) -> None:
        if digit.isdigit() and len(digit) == 1 and len(self.code) < CODE_MAX:
            self.code += digit
            self.code_error = ""

    def backspace(self) -> None:
        self.code = self.code[:-1]

    def submit_code(self) -> IssuedTicket | None:
        if not CODE_MIN <= len(self.code) <= CODE_MAX:
            self.code_error = self.t("code_too_short", n=CODE_MIN, m=CODE_MAX)
            return None
        assert self.service is not None
        return self._issue(self.service, "appointment", self.code)

    def back(self) -> None:
        if self.screen == "appointment":
            self.screen = "options"
        else:
            self.go_home()

    def done(self) -> None:
        self.go_home()

    def tick(self) -> bool:
        """Called about once a second: idle timeout back home. True when the screen changed."""
        if self.screen in FLOW_SCREENS and self.clock.monotonic() - self.last_activity >= self.idle_timeout_s:
            if self.screen == "confirm" and self.job and self.job.status == "printing":
                return False  # never leave while the ticket prints
            self.go_home()
            self.notice = None
            return True
        return False

    # -- issuing and printing --------------------------------------------------------------------

    def _issue(self, service: str, priority: str | None, appointment: str | None) -> IssuedTicket | None:
        ahead = self.state.people_ahead(service)
        est = self.state.est_wait_s(service, ahead)
        try:
            ticket = self.issuer.issue(service, priority=priority, appointment=appointment,
                                       people_ahead=ahead, est_wait_s=est)
        except NoNumbers as exc:
            log.warning("no number for %s: %s", service, exc)
            self.go_home()
            self.notice = (("service_finished", {"name": self.service_name(service)}) if exc.reason == "finished"
                           else ("no_numbers_offline", {}))
            return None
        self.state.note_issued(service)
        self.screen = "confirm"
        self.print_ticket(ticket)
        return ticket

    def ticket_content(self, t: IssuedTicket) -> TicketContent:
        site = self.state.site
        info = self.state.service_info(t.service)
        token = make_token(self.ticket_secret.encode(), self.site, t.day, t.ticket) if self.ticket_secret else ""
        portal = ((site.portal_url if site else None) or "").rstrip("/")
        qr = self.qr_template.format(site=self.site, day=t.day, ticket=t.ticket, number=t.number,
                                     service=t.service, device=self.device, token=token, portal=portal)
        return TicketContent(centre_vi=site.name_vi if site else self.site, centre_en=site.name_en if site else "",
                             service_vi=info.name_vi if info else t.service, service_en=info.name_en if info else "",
                             ticket=t.ticket, issued_at=t.issued_at.astimezone(self.state.tz),
                             people_ahead=t.people_ahead, est_wait_s=t.est_wait_s, qr=qr, priority=t.priority,
                             offline=t.offline)

    def print_ticket(self, ticket: IssuedTicket) -> PrintJob:
        """Print (or reprint) an issued ticket; the number is never touched by a print."""
        job = PrintJob(ticket)
        self.job = job
        if self.printer is None:
            job.status = "failed"
            job.fault = PrinterFault("printer_offline", *FAULT_MESSAGES["printer_offline"])
            return job
        if self.print_async:
            self._ensure_worker()
            self._jobs.put(job)
        else:
            self._run(job)
        return job

    def reprint(self) -> None:
        if self.job is not None and self.job.status != "printing":
            self.print_ticket(self.job.ticket)

    def _ensure_worker(self) -> None:
        if self._worker is None or not self._worker.is_alive():
            self._worker = threading.Thread(target=self._work, name="ticket-printer", daemon=True)
            self._worker.start()

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            self._run(job)

    def _run(self, job: PrintJob) -> None:
        assert self.printer is not None
        try:
            image = self.renderer.render(self.ticket_content(job.ticket))
            job.handed_at = time.perf_counter()
            st = self.printer.print_image(image)
            job.status = "printed"
            self.issuer.mark_printed(job.ticket)
            self._status_faults(st.faults if st else [])
        except PrinterFault as exc:
            log.warning("ticket %s not printed: %s", job.ticket.ticket, exc)
            job.status, job.fault = "failed", exc
            self._status_faults([exc.code], exc.detail)
        except Exception as exc:  # noqa: BLE001 - a bug while printing: keep the ticket, report it
            log.exception("printing ticket %s failed", job.ticket.ticket)
            job.status, job.fault = "failed", PrinterFault("printer_error", *FAULT_MESSAGES["printer_error"])
            self.faults.report_once("kiosk_error", "Lỗi phần mềm khi in phiếu", "Kiosk software error while printing",
                                    f"{type(exc).__name__}: {exc}"[:500])
        with self._job_done:
            self._job_done.notify_all()
        for fn in list(self.listeners):
            try:
                fn()
            except Exception:  # noqa: BLE001
                log.exception("print listener failed")

    def wait_printed(self, timeout: float = 5.0) -> PrintJob | None:
        end = time.monotonic() + timeout
        with self._job_done:
            while self.job is not None and self.job.status == "printing":
                left = end - time.monotonic()
                if left <= 0:
                    break
                self._job_done.wait(left)
        return self.job

    def _status_faults(self, codes: list[str], detail: str | None = None) -> None:
        """Make the active printer faults match what the printer just said."""
        for code in codes:
            vi, en = FAULT_MESSAGES[code]
            self.faults.raise_(code, vi, en, detail)
        for code in FAULT_MESSAGES:
            if code not in codes:
                self.faults.clear(code)

    def check_printer(self) -> None:
        """Poll the printer's status (from a timer); raise or clear printer faults."""
        if self.printer is None or not self.printer.supports_status:
            return
        try:
            st = self.printer.status()
        except PrinterFault as exc:
            self._status_faults([exc.code], exc.detail)
            return
        self._status_faults(st.faults if st else [])

    def stop(self) -> None:
        if self._worker is not None:
            self._jobs.put(None)
            self._worker.join(5)
