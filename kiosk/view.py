"""What the window shows, as Kivy properties: ``screens.kv`` binds every label to one of them.
:meth:`KioskView.update` copies the controller's state in; no widget is touched from Python."""
from __future__ import annotations

from typing import Any

from kivy.event import EventDispatcher
from kivy.properties import BooleanProperty, ListProperty, NumericProperty, StringProperty

from .controller import KioskController

PRIORITY_KEYS = ("normal", "elderly", "disabled", "pregnant", "appointment", "back")


class KioskView(EventDispatcher):
    screen = StringProperty("loading")
    centre = StringProperty("")
    clock = StringProperty("")
    offline = StringProperty("")
    lang_label = StringProperty("")
    banner = StringProperty("")
    hours = StringProperty("")  # the break / closed message from state/hours (vi / en)
    # home
    title = StringProperty("")
    services = ListProperty([])  # dicts: code, name, detail, enabled
    groups = ListProperty([])  # dicts: key, label, selected
    page_label = StringProperty("")
    has_prev = BooleanProperty(False)
    has_next = BooleanProperty(False)
    prev_label = StringProperty("")
    next_label = StringProperty("")
    per_page = NumericProperty(8)
    # options
    service = StringProperty("")
    who = StringProperty("")
    labels = ListProperty([""] * len(PRIORITY_KEYS))
    # appointment
    prompt = StringProperty("")
    code = StringProperty("")
    code_error = StringProperty("")
    delete = StringProperty("")
    ok = StringProperty("")
    # confirm
    your_number = StringProperty("")
    number = StringProperty("")
    service_line = StringProperty("")
    details = StringProperty("")
    status = StringProperty("")
    failed = BooleanProperty(False)
    reprint = StringProperty("")
    done = StringProperty("")
    # closed / finished / loading
    headline = StringProperty("")
    detail = StringProperty("")

    def label(self, key: str) -> str:
        return self.labels[PRIORITY_KEYS.index(key)]

    def update(self, c: KioskController) -> None:
        t = c.t
        site = c.state.site
        self.centre = (site.name_en if c.lang == "en" else site.name_vi) if site else ""
        self.clock = f"{c.state.now():%H:%M}"
        self.offline = t("offline") if c.offline else ""
        self.lang_label = t("language")
        self.hours = c.words.hours_banner()
        self.banner = c.notice_text() or (t("printer_problem") if c.printer_problem() else "")
        self.labels = [t(k) for k in PRIORITY_KEYS]
        self.who, self.prompt, self.delete, self.ok = t("who"), t("enter_code"), t("delete"), t("ok")
        self.your_number, self.done, self.title = t("your_number") + ":", t("done"), t("choose_service")
        self.prev_label, self.next_label = t("prev"), t("next")
        screen = c.current_screen()
        self._home(c)
        self.service = c.service_name(c.service)
        self.code = c.code or "_ _ _ _"
        self.code_error = c.code_error
        self._confirm(c)
        self.headline, self.detail = c.words.message(screen, c.lang)
        self.screen = screen

    def _home(self, c: KioskController) -> None:
        groups = c.groups()
        self.groups = ([{"key": "", "label": c.t("all_services"), "selected": not c.group}]
                       + [{"key": g, "label": g, "selected": g == c.group} for g in groups]) if groups else []
        lines, page, pages = c.home_page(int(self.per_page))
        services: list[dict[str, Any]] = [{"code": x.code, "name": x.name, "detail": x.detail,
                                           "enabled": x.enabled} for x in lines]
        if services != list(self.services):
            self.services = services
        self.page_label = c.t("page", i=page + 1, n=pages) if pages > 1 else ""
        self.has_prev, self.has_next = page > 0, page < pages - 1

    def _confirm(self, c: KioskController) -> None:
        lines = c.confirm_lines()
        if not lines:
            return
        self.number = lines["number"]
        self.service_line = lines["service"] + (f"  ·  {lines['priority']}" if lines["priority"] else "")
        self.details = "\n".join(x for x in (lines["ahead"], lines["wait"], lines["offline"]) if x)
        self.status = lines["status"]
        self.failed = bool(lines["failed"])
        self.reprint = c.t("reprint") if lines["failed"] else ""
