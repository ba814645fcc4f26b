"""The Kivy app: a thin view over :class:`~kiosk.controller.KioskController`.

Layout lives in ``screens.kv``; here only the glue: each tap calls one controller action through
``act`` (errors are caught there), and ``refresh`` copies the controller's view into widgets.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from kivy.app import App
from kivy.base import ExceptionHandler, ExceptionManager
from kivy.clock import Clock
from kivy.factory import Factory
from kivy.lang import Builder
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.screenmanager import NoTransition, Screen

from .controller import KioskController
from .i18n import text

log = logging.getLogger(__name__)

KV = Path(__file__).with_name("screens.kv")


class KioskRoot(BoxLayout):
    pass


class HomeScreen(Screen):
    pass


class OptionsScreen(Screen):
    pass


class AppointmentScreen(Screen):
    pass


class ConfirmScreen(Screen):
    pass


class MessageScreen(Screen):
    pass


class _Guard(ExceptionHandler):
    """Whatever escapes a callback: log it, report a fault, go home, keep running."""

    def __init__(self, app: "KioskApp"):
        super().__init__()
        self.app = app

    def handle_exception(self, inst: BaseException) -> int:
        if isinstance(inst, (KeyboardInterrupt, SystemExit)):
            return ExceptionManager.RAISE
        self.app.controller.handle_error(inst, "kivy")
        try:
            self.app.refresh()
        except Exception:  # noqa: BLE001
            log.exception("refresh after an error failed")
        return ExceptionManager.PASS


class KioskApp(App):
    title = "motcua kiosk"

    def __init__(self, controller: KioskController, printer_poll_s: float = 10.0, **kwargs: Any):
        super().__init__(**kwargs)
        self.controller = controller
        self.printer_poll_s = printer_poll_s
        self._services_key: Any = None
        self._events: list[Any] = []

    def build(self) -> KioskRoot:
        Builder.load_file(str(KV))
        root = KioskRoot()
        sm = root.ids.sm
        sm.transition = NoTransition()
        sm.add_widget(HomeScreen())
        sm.add_widget(OptionsScreen())
        sm.add_widget(AppointmentScreen())
        sm.add_widget(ConfirmScreen())
        for name in ("closed", "finished", "loading"):
            sm.add_widget(MessageScreen(name=name))
        ExceptionManager.add_handler(_Guard(self))
        self.controller.listeners.append(lambda: Clock.schedule_once(lambda _dt: self.refresh()))
        self._events = [Clock.schedule_interval(self._tick, 1.0),
                        Clock.schedule_interval(lambda _dt: self.controller.safe(self.controller.check_printer),
                                                self.printer_poll_s)]
        self.root = root
        self.refresh()
        return root

    # -- taps ----------------------------------------------------------------------------------

    def act(self, action: str, *args: Any) -> None:
        c = self.controller
        c.touch()
        c.safe(getattr(c, action), *args)
        self.refresh()

    def _tick(self, _dt: float) -> None:
        self.controller.safe(self.controller.tick)
        self.refresh()

    # -- view -----------------------------------------------------------------------------------

    def screen(self, name: str) -> Screen:
        return self.root.ids.sm.get_screen(name)

    def refresh(self) -> None:
        try:
            self._refresh()
        except Exception as exc:  # noqa: BLE001 - a view bug must not freeze the kiosk
            self.controller.handle_error(exc, "refresh")

    def _refresh(self) -> None:
        c = self.controller
        t = c.t
        ids = self.root.ids
        site = c.state.site
        ids.centre.text = (site.name_en if c.lang == "en" else site.name_vi) if site else ""
        ids.clock.text = f"{c.state.now():%H:%M}"
        ids.offline.text = t("offline") if c.offline else ""
        ids.lang.text = t("language")
        problem = c.printer_problem()
        ids.banner.text = c.notice_text() or (t("printer_problem") if problem else "")
        name = c.current_screen()
        getattr(self, f"_show_{name}", self._show_message)(name)
        if ids.sm.current != name:
            ids.sm.current = name

    def _show_home(self, _name: str) -> None:
        c = self.controller
        s = self.screen("home")
        s.ids.title.text = c.t("choose_service")
        lines = c.service_lines()
        key = (c.lang, tuple(tuple(sorted(x.items())) for x in lines))
        if key == self._services_key:
            return
        self._services_key = key
        grid = s.ids.services
        grid.clear_widgets()
        grid.cols = 1 if len(lines) <= 2 else 2
        for line in lines:
            b = Factory.ServiceButton(disabled=not line["enabled"])
            b.code = line["code"]
            b.text = f"[b]{line['name']}[/b]\n[size=22sp]{line['detail']}[/size]"
            grid.add_widget(b)

    def _show_options(self, _name: str) -> None:
        c = self.controller
        ids = self.screen("options").ids
        ids.service.text = c.service_name(c.service)
        ids.who.text = c.t("who")
        for key in ("normal", "elderly", "disabled", "pregnant", "appointment", "back"):
            ids[key].text = c.t(key)

    def _show_appointment(self, _name: str) -> None:
        c = self.controller
        ids = self.screen("appointment").ids
        ids.prompt.text = c.t("enter_code")
        ids.code.text = c.code or "_ _ _ _"
        ids.error.text = c.code_error
        ids.back.text = c.t("back")
        ids.delete.text = c.t("delete")
        ids.ok.text = c.t("ok")

    def _show_confirm(self, _name: str) -> None:
        c = self.controller
        ids = self.screen("confirm").ids
        lines = c.confirm_lines()
        if not lines:
            return
        ids.your_number.text = c.t("your_number") + ":"
        ids.number.text = lines["number"]
        ids.service.text = lines["service"] + (f"  ·  {lines['priority']}" if lines["priority"] else "")
        ids.details.text = "\n".join(x for x in (lines["ahead"], lines["wait"], lines["offline"]) if x)
        ids.status.text = lines["status"]
        ids.status.color = (0.75, 0.1, 0.1, 1) if lines["failed"] else (0.05, 0.45, 0.2, 1)
        ids.reprint.text = c.t("reprint") if lines["failed"] else ""
        ids.done.text = c.t("done")

    def _show_message(self, name: str) -> None:
        c = self.controller
        ids = self.screen(name).ids
        if name == "closed":
            hours = c.state.hours_today()
            ids.headline.text = c.t("closed")
            ids.detail.text = c.t("closed_hours", hours=hours) if hours else c.t("closed_today")
        elif name == "finished":
            ids.headline.text = c.t("finished")
            ids.detail.text = c.t("finished_hint")
        else:
            ids.headline.text = c.t("no_config")
            ids.detail.text = text("no_config", "en" if c.lang == "vi" else "vi")

    def on_stop(self) -> None:
        for ev in self._events:
            ev.cancel()
