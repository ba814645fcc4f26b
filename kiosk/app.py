"""The Kivy app: a view over :class:`~kiosk.controller.KioskController`.

Layout and bindings live in ``screens.kv`` (every text is a :class:`~kiosk.view.KioskView`
property); here only the glue: a tap calls a controller method through :meth:`KioskApp.tap`
(errors are caught there), then the view properties are updated.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable

from kivy.app import App
from kivy.base import ExceptionHandler, ExceptionManager
from kivy.clock import Clock
from kivy.factory import Factory
from kivy.lang import Builder
from kivy.metrics import dp
from kivy.properties import ObjectProperty
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.screenmanager import NoTransition, Screen

from .controller import KioskController
from .view import KioskView

log = logging.getLogger(__name__)

KV = Path(__file__).with_name("screens.kv")
BUTTON_H = 96  # dp: a service button, two lines of name and one of detail, a large target


class KioskRoot(BoxLayout):
    pass


class HomeScreen(Screen):
    """Builds the service buttons of the current page from ``view.services``."""

    def on_kv_post(self, _base: Any) -> None:
        app = App.get_running_app()
        app.view.bind(services=lambda *_: self.rebuild())
        self.ids.services.bind(size=lambda *_: self.fit())

    def fit(self) -> None:
        """Buttons per page for the area the grid has (1024x600: 6-8; 1280x800: 12)."""
        app = App.get_running_app()
        grid = self.ids.services
        cols = 3 if grid.width >= dp(1000) else 2
        rows = max(1, int((grid.height + grid.spacing[1]) // (dp(BUTTON_H) + grid.spacing[1])))
        grid.cols = cols
        if app.view.per_page != cols * rows:
            app.view.per_page = cols * rows
            app.refresh()

    def rebuild(self) -> None:
        app = App.get_running_app()
        grid = self.ids.services
        grid.clear_widgets()
        for s in app.view.services:
            b = Factory.ServiceButton(disabled=not s["enabled"])
            b.code = s["code"]
            b.text = f"[b]{s['name']}[/b]\n[size=20sp]{s['detail']}[/size]"
            grid.add_widget(b)


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
    view = ObjectProperty(None)

    def __init__(self, controller: KioskController, printer_poll_s: float = 10.0, **kwargs: Any):
        super().__init__(**kwargs)
        self.controller = controller
        self.c = controller
        self.printer_poll_s = printer_poll_s
        self.view = KioskView()
        self._events: list[Any] = []

    def build(self) -> KioskRoot:
        Builder.load_file(str(KV))
        root = KioskRoot()
        sm = root.ids.sm
        sm.transition = NoTransition()
        for screen in (HomeScreen(), OptionsScreen(), AppointmentScreen(), ConfirmScreen()):
            sm.add_widget(screen)
        for name in ("closed", "finished", "loading"):
            sm.add_widget(MessageScreen(name=name))
        ExceptionManager.add_handler(_Guard(self))
        self.controller.listeners.append(lambda: Clock.schedule_once(lambda _dt: self.refresh()))
        self._events = [Clock.schedule_interval(self._tick, 1.0),
                        Clock.schedule_interval(lambda _dt: self.controller.safe(self.controller.check_printer),
                                                self.printer_poll_s)]
        self.root = root
        self.view.bind(screen=lambda _v, name: setattr(sm, "current", name))
        self.view.bind(groups=lambda *_: self._groups())
        self.refresh()
        sm.current = self.view.screen
        return root

    def _groups(self) -> None:
        box = self.root.ids.sm.get_screen("home").ids.groups if self.root else None
        if box is None:
            return
        box.clear_widgets()
        for g in self.view.groups:
            b = Factory.GroupButton(text=g["label"], group="fields", state="down" if g["selected"] else "normal")
            b.key = g["key"]
            box.add_widget(b)

    def tap(self, action: Callable[..., Any], *args: Any) -> None:
        """A touch: run one controller method (errors caught), then show the result."""
        self.controller.touch()
        self.controller.safe(action, *args)
        self.refresh()

    def _tick(self, _dt: float) -> None:
        self.controller.safe(self.controller.tick)
        self.refresh()

    def refresh(self) -> None:
        try:
            self.view.update(self.controller)
        except Exception as exc:  # noqa: BLE001 - a view bug must not freeze the kiosk
            self.controller.handle_error(exc, "refresh")

    def on_stop(self) -> None:
        for ev in self._events:
            ev.cancel()
