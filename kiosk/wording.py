"""Every sentence the kiosk shows, from what it knows, in the language asked (Vietnamese first).
Counts and waits are the citizen's own: "no wait" only when nobody is ahead, a priority or
appointment holder told the turn of their own class."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .i18n import minutes, text
from .printing import PrintJob
from .state import KioskState, ServiceView

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

    def waiting_line(self, waiting: int, est_wait_s: float | None, lang: str) -> str:
        """'Không phải chờ' only when nobody waits; the wait only when it is known."""
        if waiting == 0:
            return self.t("no_wait", lang)
        m = minutes(est_wait_s)
        line = self.t("waiting", lang, n=waiting)
        return line + (f"  ·  {self.t('est_wait', lang, m=max(1, m))}" if m is not None else "")

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
        if t.people_ahead == 0:
            ahead, wait = self.t("nobody_ahead", lang), ""
        else:
            if t.priority in PRIORITIES:
                ahead = self.t("priority_turn", lang, cls=self.t(t.priority, lang), n=t.people_ahead)
            else:
                ahead = self.t("people_ahead", lang, n=t.people_ahead)
            wait = self.t("est_wait_long", lang, m=max(1, m)) if m is not None else self.t("est_unknown", lang)
        return {"number": t.ticket, "service": self.service_name(t.service, lang), "ahead": ahead, "wait": wait,
                "priority": self.t(t.priority, lang) if t.priority in PRIORITIES else "",
                "status": status, "failed": "1" if job.status == "failed" else "",
                "offline": self.t("offline_ticket", lang) if t.offline else ""}

    def message(self, screen: str, lang: str) -> tuple[str, str]:
        """(headline, detail) of the screens that replace home."""
        if screen == "closed":
            hours = self.state.hours_today()
            return self.t("closed", lang), (self.t("closed_hours", lang, hours=hours) if hours
                                            else self.t("closed_today", lang))
        if screen == "finished":
            return self.t("finished", lang), self.t("finished_hint", lang)
        return self.t("no_config", lang), self.t("no_config", "en" if lang == "vi" else "vi")
