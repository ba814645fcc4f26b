"""Every sentence the kiosk shows, from what it knows, in the language asked (Vietnamese first).
Counts and waits are the citizen's own: "no wait" only when nobody is ahead, a priority or
appointment holder told the turn of their own class."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .i18n import minutes, text
from .printing import PrintJob
from .state import KioskState, ServiceView

WEEKDAY_VI = ("thứ Hai", "thứ Ba", "thứ Tư", "thứ Năm", "thứ Sáu", "thứ Bảy", "Chủ nhật")
WEEKDAY_EN = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
PRIORITIES = ("elderly", "disabled", "pregnant", "appointment")


@dataclass(frozen=True)
class ServiceLine:
    """One home button: code, name, detail line, enabled, group (lĩnh vực) or ''."""

    code: str
    name: str
    detail: str
    enabled: bool
    group: str = ""


class Wording:
    def __init__(self, state: KioskState, refused: Callable[[str], str | None]):
        self.state = state
        self.refused = refused

    def t(self, key: str, lang: str, **fields: object) -> str:
        return text(key, lang, **fields)

    def service_name(self, code: str | None, lang: str) -> str:
        info = self.state.service_info(code) if code else None
        if info is None:
            return code or ""
        return info.name_en if lang == "en" else info.name_vi

    def finished(self, v: ServiceView) -> bool:
        return v.finished or bool(self.refused(v.code))

    def reopen_hm(self) -> str | None:
        """'13:30' while on a break with a known reopening, else None."""
        at = self.state.reopens_at() if self.state.hours_status() == "break" else None
        return f"{at:%H:%M}" if at else None

    def waiting_line(self, waiting: int, est_wait_s: float | None, lang: str) -> str:
        """'Không phải chờ' only when nobody waits; the wait only when it is known. On a break,
        the wait counts from the reopening (ticketing's estimate is working time only)."""
        at = self.reopen_hm()
        m = minutes(est_wait_s)
        if waiting == 0:
            return self.t("served_from", lang, at=at) if at else self.t("no_wait", lang)
        line = self.t("waiting", lang, n=waiting)
        if at:
            est = self.t("est_wait_from", lang, m=max(1, m), at=at) if m is not None else self.t("served_from", lang, at=at)
            return f"{line}  ·  {est}"
        return line + (f"  ·  {self.t('est_wait', lang, m=max(1, m))}" if m is not None else "")

    def hours_banner(self) -> str:
        """Ticketing's break / closed message, Vietnamese / English ('' while open)."""
        h = self.state.hours
        if h is None or h.status == "open":
            return ""
        return " / ".join(x for x in (h.message_vi, h.message_en) if x)

    def service_lines(self, lang: str) -> list[ServiceLine]:
        out = []
        for v in self.state.service_views():
            info = self.state.service_info(v.code)
            group = ((info.field_en or info.field_vi) if lang == "en" else info.field_vi) if info else None
            done = self.finished(v)
            out.append(ServiceLine(v.code, v.name_en if lang == "en" else v.name_vi,
                                   self.t("finished_service", lang) if done else
                                   self.waiting_line(v.waiting, v.est_wait_s, lang), not done, group or ""))
        return out

    def confirm_lines(self, job: PrintJob | None, lang: str) -> dict[str, str]:
        if job is None:
            return {}
        t = job.ticket
        if job.status == "failed" and job.fault is not None:
            problem = job.fault.message_en if lang == "en" else job.fault.message_vi
            status = self.t("print_failed", lang, problem=problem, number=t.ticket)
        else:
            status = self.t("printing" if job.status == "printing" else "printed", lang)
        m = minutes(t.est_wait_s)
        at = self.reopen_hm()
        if t.people_ahead == 0:
            ahead, wait = self.t("nobody_ahead", lang), (self.t("served_from", lang, at=at) if at else "")
        else:
            if t.priority in PRIORITIES:
                ahead = self.t("priority_turn", lang, cls=self.t(t.priority, lang), n=t.people_ahead)
            else:
                ahead = self.t("people_ahead", lang, n=t.people_ahead)
            wait = self.t("est_wait_long", lang, m=max(1, m)) if m is not None else self.t("est_unknown", lang)
            if at:
                wait = (self.t("est_wait_long_from", lang, m=max(1, m), at=at) if m is not None
                        else self.t("served_from", lang, at=at))
        return {"number": t.ticket, "service": self.service_name(t.service, lang), "ahead": ahead, "wait": wait,
                "priority": self.t(t.priority, lang) if t.priority in PRIORITIES else "",
                "status": status, "failed": "1" if job.status == "failed" else "",
                "offline": self.t("offline_ticket", lang) if t.offline else ""}

    def message(self, screen: str, lang: str) -> tuple[str, str]:
        """(headline, detail) of the screens that replace home."""
        if screen == "closed" and self.state.hours is not None:
            return self._closed_message(lang)
        if screen == "closed":
            hours = self.state.hours_today()
            return self.t("closed", lang), (self.t("closed_hours", lang, hours=hours) if hours
                                            else self.t("closed_today", lang))
        if screen == "finished":
            return self.t("finished", lang), self.t("finished_hint", lang)
        return self.t("no_config", lang), self.t("no_config", "en" if lang == "vi" else "vi")

    def _closed_message(self, lang: str) -> tuple[str, str]:
        """Closed by ticketing's state/hours: not open yet today, or closed with the next opening."""
        at = self.state.reopens_at()
        today = self.state.now().date()
        if at is not None and at.date() == today and self.state.hours and self.state.hours.since is None:
            return self.t("not_open_yet", lang), self.t("next_open_today", lang, at=f"{at:%H:%M}")
        if at is None:
            return self.t("closed_for_today", lang), ""
        if at.date() == today:
            return self.t("closed_for_today", lang), self.t("next_open_today", lang, at=f"{at:%H:%M}")
        day = (WEEKDAY_EN[at.weekday()] if lang == "en" else WEEKDAY_VI[at.weekday()]) + f" {at:%d/%m}"
        return self.t("closed_for_today", lang), self.t("next_open", lang, at=f"{at:%H:%M}", day=day)
