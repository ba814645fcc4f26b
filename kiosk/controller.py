"""The kiosk's screen state machine, without a window: which screen, which service, what a tap does.

The Kivy app (:mod:`kiosk.app`) is a view bound to :class:`~kiosk.view.KioskView` properties;
the words come from :class:`~kiosk.wording.Wording`, printing from
:class:`~kiosk.printing.PrintWorker`, printer faults from :class:`~kiosk.printer_faults.PrinterFaults`.
Every tap runs through :meth:`KioskController.safe`, so an unexpected error is logged, reported
as a ``fault`` event and the kiosk returns home.
"""
from __future__ import annotations

import logging
from typing import Any, Callable

from common.clock import Clock, SystemClock
from common.ticket_token import make_token

from .errors import NoNumbers, PrinterFault
from .faults import Faults
from .issuer import IssuedTicket, Issuer
from .printer_faults import PrinterFaults
from .printing import PrintJob, PrintWorker
from .state import KioskState
from .ticket import TicketContent
from .wording import ServiceLine, Wording

log = logging.getLogger(__name__)

FLOW_SCREENS = ("options", "appointment", "confirm")
CODE_MIN, CODE_MAX = 4, 8


def ticket_content(state: KioskState, t: IssuedTicket, site_id: str, device: str, qr_template: str,
                   ticket_secret: str | None = None) -> TicketContent:
    """What the paper says for an issued ticket; ``{token}`` in the QR is signed with ``ticket_secret``
    (common/ticket_token.py) and ``{portal}`` is the site's ``portal_url``."""
    site = state.site
    info = state.service_info(t.service)
    token = make_token(ticket_secret.encode(), site_id, t.day, t.ticket) if ticket_secret else ""
    portal = ((site.portal_url if site else None) or "").rstrip("/")
    qr = qr_template.format(site=site_id, day=t.day, ticket=t.ticket, number=t.number, service=t.service,
                            device=device, token=token, portal=portal)
    return TicketContent(centre_vi=site.name_vi if site else site_id, centre_en=site.name_en if site else "",
                         service_vi=info.name_vi if info else t.service, service_en=info.name_en if info else "",
                         ticket=t.ticket, issued_at=t.issued_at.astimezone(state.tz), people_ahead=t.people_ahead,
                         est_wait_s=t.est_wait_s, qr=qr, priority=t.priority, offline=t.offline)


class KioskController:
    """Screens: home (or loading/closed/finished), options, appointment, confirm."""

    def __init__(self, state: KioskState, issuer: Issuer, faults: Faults, printing: PrintWorker,
                 printer_faults: PrinterFaults, *, idle_timeout_s: float = 20.0, clock: Clock | None = None,
                 lang: str = "vi"):
        self.state = state
        self.issuer = issuer
        self.faults = faults
        self.printing = printing
        self.printer_faults = printer_faults
        self.words = Wording(state, issuer.refused)
        self.idle_timeout_s = idle_timeout_s
        self.clock = clock or SystemClock()
        self.default_lang = lang
        self.lang = lang
        self.screen = "home"
        self.service: str | None = None
        self.code = ""
        self.code_error = ""
        self.notice: tuple[str, dict[str, Any]] | None = None  # a message on the home screen
        self.group = ""  # the lĩnh vực shown on home ('' = all)
        self.page = 0
        self.job: PrintJob | None = None
        self.last_activity = self.clock.monotonic()
        self.listeners = printing.listeners  # told when a print job ends (worker thread)

    # -- helpers -------------------------------------------------------------------------------

    def t(self, key: str, **fields: Any) -> str:
        return self.words.t(key, self.lang, **fields)

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
        if views and all(self.words.finished(v) for v in views):
            return "finished"
        return "home"

    def current_screen(self) -> str:
        return self.screen if self.screen in FLOW_SCREENS else self.base_screen()

    @property
    def offline(self) -> bool:
        return not self.state.online

    def printer_problem(self) -> PrinterFault | None:
        return self.printer_faults.problem()

    def service_name(self, code: str | None) -> str:
        return self.words.service_name(code, self.lang)

    def service_lines(self) -> list[ServiceLine]:
        return self.words.service_lines(self.lang)

    def groups(self) -> list[str]:
        """The fields (lĩnh vực) configured for the services, in order of first appearance."""
        seen: list[str] = []
        for line in self.service_lines():
            if line.group and line.group not in seen:
                seen.append(line.group)
        return seen

    def home_page(self, per_page: int) -> tuple[list[ServiceLine], int, int]:
        """The buttons on the current home page, the page index and the page count."""
        lines = [x for x in self.service_lines() if not self.group or x.group == self.group]
        pages = max(1, -(-len(lines) // max(1, per_page)))
        self.page = min(self.page, pages - 1)
        return lines[self.page * per_page:(self.page + 1) * per_page], self.page, pages

    def notice_text(self) -> str:
        if not self.notice:
            return ""
        key, fields = self.notice
        return self.t(key, **fields)

    def confirm_lines(self) -> dict[str, str]:
        return self.words.confirm_lines(self.job, self.lang)

    # -- actions ---------------------------------------------------------------------------------

    def go_home(self) -> None:
        if self.screen == "confirm":
            self.printing.settle(self.job)
        self.screen = "home"
        self.service = None
        self.code = ""
        self.code_error = ""
        self.lang = self.default_lang

    def toggle_language(self) -> None:
        self.lang = "en" if self.lang == "vi" else "vi"
        if self.group and self.group not in self.groups():
            self.group, self.page = "", 0  # the same field under its name in the other language

    def choose_group(self, group: str) -> None:
        self.group, self.page = group, 0

    def next_page(self) -> None:
        self.page += 1

    def prev_page(self) -> None:
        self.page = max(0, self.page - 1)

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
        return self._check_in(self.code, self.service)

    def _check_in(self, code: str, service: str) -> IssuedTicket | None:
        """The code checked at ticketing (ticketing/appointments.py); its priority ticket prints
        like any other. A refusal (unknown code, too early/late) stays on the screen."""
        try:
            ahead = self.state.people_ahead(service, "appointment")
            got = self.issuer.check_in(code, service, people_ahead=ahead, est_wait_s=self.state.est_wait_s(service, ahead))
        except NoNumbers as exc:
            log.warning("appointment %s not checked in: %s", code, exc)
            self.code_error = self.t("no_numbers_offline")
            return None
        if not isinstance(got, IssuedTicket):
            self.code_error = (got.message_vi if self.lang == "vi" else got.message_en) or (got.error or "")
            return None
        self.state.note_issued(got.service, "appointment")
        self.screen = "confirm"
        self.job = self.printing.submit(got)
        return got

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
            self.group, self.page = "", 0
            return True
        return False

    # -- issuing and printing --------------------------------------------------------------------

    def _issue(self, service: str, priority: str | None, appointment: str | None) -> IssuedTicket | None:
        if self.state.hours_status() == "closed":  # closed while the citizen was choosing
            self.go_home()
            self.notice = ("closed_no_numbers", {})
            return None
        ahead = self.state.people_ahead(service, priority)
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
        self.state.note_issued(service, priority)
        self.screen = "confirm"
        self.job = self.printing.submit(ticket)
        return ticket

    def reprint(self) -> None:
        if self.job is not None and self.job.status == "failed":
            self.job = self.printing.submit(self.job.ticket)

    def wait_printed(self, timeout: float = 5.0) -> PrintJob | None:
        return self.printing.wait(self.job, timeout)

    def check_printer(self) -> None:
        self.printer_faults.check()

    def stop(self) -> None:
        self.printing.stop()
