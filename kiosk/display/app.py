"""The hall display's Kivy window: a thin widget with properties, layout in display.kv.

Everything it shows comes from :class:`~kiosk.display.model.HallModel`; MQTT handlers run on the
network thread, feed the model there and hand the snapshot to the UI with ``Clock.schedule_once``.
Sounds are rendered and played by :class:`~kiosk.display.voice.Announcer` in its own thread.

Import this module only to run the window: it sets the window size before Kivy opens one.
"""
from __future__ import annotations

import logging
import signal
from pathlib import Path
from typing import Any

from kivy.animation import Animation
from kivy.app import App
from kivy.clock import Clock
from kivy.config import Config
from kivy.lang import Builder
from kivy.properties import BooleanProperty, ListProperty, NumericProperty, StringProperty
from kivy.uix.boxlayout import BoxLayout

from common.clock import Clock as WallClock
from common.clock import SystemClock
from common.systemd import Notifier
from mqtt import topics
from mqtt.client import DeviceClient, Message

from .config import DisplayConfig, ScreenConfig
from .model import OUT_OF_ORDER_EN, OUT_OF_ORDER_VI, CallView, HallModel, HallView
from .voice import Announcer

log = logging.getLogger(__name__)

KV = Path(__file__).with_name("display.kv")
RETAINED_GRACE_S = 0.5  # how long a call found in retained state waits for the retained hours
WEEKDAYS_VI = ("Thứ Hai", "Thứ Ba", "Thứ Tư", "Thứ Năm", "Thứ Sáu", "Thứ Bảy", "Chủ Nhật")


def configure_window(screen: ScreenConfig) -> None:
    """Size and fullscreen: call before the Window exists (App.run opens it; no import here does)."""
    w, h = screen.size
    Config.set("graphics", "width", str(w))
    Config.set("graphics", "height", str(h))
    Config.set("graphics", "fullscreen", "auto" if screen.fullscreen else "0")
    Config.set("graphics", "show_cursor", "0" if screen.fullscreen else "1")
    Config.set("kivy", "exit_on_escape", "0" if screen.fullscreen else "1")
    Config.set("input", "mouse", "mouse,disable_multitouch")


class RecentRow(BoxLayout):
    ticket = StringProperty("")
    desk = StringProperty("")
    recall = BooleanProperty(False)
    odd = BooleanProperty(False)


class WaitingCard(BoxLayout):
    name_vi = StringProperty("")
    name_en = StringProperty("")
    count = StringProperty("0")
    note = StringProperty("")


class HallScreen(BoxLayout):
    """The whole hall screen. Python sets properties; display.kv draws them."""

    site_vi = StringProperty("")
    site_en = StringProperty("")
    time_text = StringProperty("")
    date_text = StringProperty("")
    ticket = StringProperty("")
    desk = StringProperty("")
    service_vi = StringProperty("")
    service_en = StringProperty("")
    recall = BooleanProperty(False)
    flash = NumericProperty(0)
    recent = ListProperty([])
    waiting = ListProperty([])
    recent_rows = NumericProperty(6)
    cards = NumericProperty(4)
    page = NumericProperty(0)
    page_text = StringProperty("")
    out_of_order = StringProperty("")  # the note while some kiosk issues from its leases
    closed = BooleanProperty(False)  # on a break or closed (state/hours): the message, no number
    hours_vi = StringProperty("")
    hours_en = StringProperty("")

    def show(self, view: HallView) -> None:
        self.site_vi, self.site_en = view.site_vi, view.site_en
        self.out_of_order = f"{OUT_OF_ORDER_VI} / {OUT_OF_ORDER_EN}" if view.out_of_order else ""
        self.closed = view.hours_status != "open"
        self.hours_vi = view.hours_vi or ("Tạm dừng phục vụ" if self.closed else "")
        self.hours_en = view.hours_en or ("Service paused" if self.closed else "")
        cur = view.current
        self.ticket = cur.shown if cur else ""
        self.desk = str(cur.desk) if cur else ""
        self.service_vi = cur.service_vi if cur else ""
        self.service_en = cur.service_en if cur else ""
        self.recall = bool(cur and cur.recall)
        self.recent = [(c.shown, str(c.desk), c.recall) for c in view.recent]
        self.waiting = [w._asdict() for w in view.waiting]

    def on_recent(self, *_: Any) -> None:
        box = self.ids.recent_box
        box.clear_widgets()
        rows = list(self.recent)[: int(self.recent_rows)]
        for i in range(int(self.recent_rows)):
            ticket, desk, recall = rows[i] if i < len(rows) else ("", "", False)
            box.add_widget(RecentRow(ticket=ticket, desk=desk, recall=recall, odd=bool(i % 2)))

    @property
    def pages(self) -> int:
        return max(1, -(-len(self.waiting) // max(1, int(self.cards))))

    def next_page(self) -> None:
        """Show the next page of waiting cards (from the display's page timer)."""
        self.page = (int(self.page) + 1) % self.pages

    def on_page(self, *_: Any) -> None:
        self.on_waiting()

    def on_waiting(self, *_: Any) -> None:
        box = self.ids.waiting_box
        box.clear_widgets()
        n = int(self.cards)
        page = min(int(self.page), self.pages - 1)
        self.page_text = f"Trang / Page {page + 1}/{self.pages}" if self.pages > 1 else ""
        shown = list(self.waiting)[page * n:(page + 1) * n]
        for w in shown + [None] * (n - len(shown) if self.pages > 1 else 0):  # keep card widths per page
            if w is None:
                box.add_widget(BoxLayout())
                continue
            if w["finished_for_today"]:
                note = "Đã hết số hôm nay / No more today"
            elif w["est_wait_min"] is not None and w["waiting"]:
                note = f"~{w['est_wait_min']} phút / min"
            else:
                note = ""
            box.add_widget(WaitingCard(name_vi=w["name_vi"], name_en=w["name_en"],
                                       count=str(w["waiting"]), note=note))

    def blink(self, seconds: float) -> None:
        """Make the current-call panel pulse for a few seconds (a new call)."""
        Animation.cancel_all(self, "flash")
        if seconds <= 0:
            self.flash = 0
            return
        pulses = max(1, int(seconds / 1.0))
        seq = Animation(flash=1, duration=0.5) + Animation(flash=0, duration=0.5)
        for _ in range(pulses - 1):
            seq += Animation(flash=1, duration=0.5) + Animation(flash=0, duration=0.5)
        seq.start(self)

    def labels(self) -> dict[str, str]:
        """Every label text by id, and the recent and waiting rows (for tests and diagnostics)."""
        out = {k: getattr(w, "text", "") for k, w in self.ids.items() if hasattr(w, "text")}
        out["recent"] = [[r.ticket, r.desk] for r in reversed(self.ids.recent_box.children) if r.ticket]
        out["recalls"] = [r.ticket for r in reversed(self.ids.recent_box.children) if r.ticket and r.recall]
        out["waiting"] = [[c.name_vi, c.count] for c in reversed(self.ids.waiting_box.children)
                          if isinstance(c, WaitingCard)]
        out["page"] = self.page_text
        return out

    def text_check(self) -> dict[str, Any]:
        """Every label with text on screen: the smallest font in px, and any whose text does not
        fit its box (cut by shortening, or spilling over)."""
        from kivy.core.text import Label as CoreLabel
        from kivy.uix.label import Label

        small: list[tuple[float, str]] = []
        cut: list[str] = []
        for w in self.walk():
            if not isinstance(w, Label) or not w.text or w.opacity == 0:
                continue
            small.append((float(w.font_size), w.text))
            if getattr(w, "is_shortened", False):
                cut.append(w.text)
                continue
            core = CoreLabel(text=w.text, font_size=w.font_size, bold=w.bold, font_name=w.font_name)
            core.refresh()
            need_w, line_h = core.content_width, core.content_height
            allowed = max(1, int(w.max_lines or 1))
            needed = max(1, int(-(-need_w // max(1.0, w.width - 2))))
            if needed > allowed or (needed > 1 and needed * line_h > w.height + 2):
                cut.append(w.text)
        return {"min_font_px": min(small)[0] if small else 0, "smallest": min(small)[1] if small else "",
                "cut": cut}


class HallDisplayApp(App):
    """The hall display. Inject the MQTT client, announcer, clock and notifier (tests do)."""

    title = "motcua – Màn hình gọi số / Hall display"

    def __init__(self, cfg: DisplayConfig, *, client: DeviceClient | None = None,
                 announcer: Announcer | None = None, model: HallModel | None = None,
                 clock: WallClock | None = None, notifier: Notifier | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.cfg = cfg
        self.clock = clock or SystemClock(cfg.timezone)
        self.model = model or HallModel(recent=cfg.screen.recent,
                                        announce_max_age_s=cfg.voice.announce_max_age_s, clock=self.clock)
        self.announcer = announcer if announcer is not None else Announcer(cfg.voice)
        self.client = client
        self.notifier = notifier or Notifier()
        self.screen: HallScreen | None = None
        self.announced: list[CallView] = []
        self._shown_version = -1

    def px(self, size: float) -> float:
        """``size`` pixels on a 1080-line screen, scaled to this window's height."""
        return size * self.cfg.screen.size[1] / 1080

    def build(self) -> HallScreen:
        Builder.load_file(str(KV))
        self.screen = HallScreen(recent_rows=self.cfg.screen.recent, cards=self.cfg.screen.cards)
        self.screen.on_recent()
        return self.screen

    def on_start(self) -> None:
        self._tick(0)
        Clock.schedule_interval(self._tick, 1.0)
        Clock.schedule_interval(lambda _dt: self.screen.next_page() if self.screen else None, self.cfg.screen.page_s)
        self.show(self.model.view())
        if self.client is not None:
            self.client.subscribe(topics.state_filter(self.cfg.site), self.on_state)
            self.client.subscribe(topics.device_state_filter(self.cfg.site, "numbering"), self.on_state)
            self.client.start()
        self.notifier.ready("hall display up")

    def on_stop(self) -> None:
        if self.client is not None:
            self.client.stop()
        self.announcer.close()
        self.notifier.stopping()

    # -- from the MQTT thread ------------------------------------------------------------------

    def on_state(self, msg: Message) -> None:
        """Network thread: update the model, queue announcements, hand the UI a snapshot."""
        new = self.model.apply(msg.topic, msg.payload, retained=msg.retain)
        if new and msg.retain:  # start-up: the retained state/hours (a break?) may come just after
            Clock.schedule_once(lambda _dt: self._announce(new), RETAINED_GRACE_S)
        else:
            self._announce(new)
        Clock.schedule_once(lambda _dt: self._refresh(bool(new)), 0)

    def _announce(self, calls: list[CallView]) -> None:
        if calls and self.model.closed:
            log.info("on a break or closed: not announcing %s", ", ".join(c.ticket for c in calls))
            return
        for call in calls:
            log.info("call: ticket %s to desk %s%s", call.ticket, call.desk, " (recall)" if call.recall else "")
            self.announced.append(call)
            self.announcer.announce(call)

    # -- on the UI thread ----------------------------------------------------------------------

    def _refresh(self, new_call: bool) -> None:
        self.show(self.model.view())
        if new_call and self.screen is not None:
            self.screen.blink(self.cfg.screen.flash_s)

    def show(self, view: HallView) -> None:
        if self.screen is None or view.version == self._shown_version:
            return
        self._shown_version = view.version
        self.screen.show(view)

    def _tick(self, _dt: float) -> None:
        now = self.clock.now()
        if self.screen is not None:
            self.screen.time_text = now.strftime("%H:%M:%S")
            self.screen.date_text = f"{WEEKDAYS_VI[now.weekday()]}, {now:%d/%m/%Y}"
        self.notifier.watchdog()  # the UI loop is the working loop


def run(cfg: DisplayConfig, *, broker_url: str | None = None) -> int:
    """Open the window and run until closed (``motcua display``)."""
    configure_window(cfg.screen)
    if broker_url:
        cfg.mqtt.url = broker_url
    clock = SystemClock(cfg.timezone)
    client = DeviceClient(cfg.site, cfg.device, "display", cfg.mqtt, clock=clock)
    app = HallDisplayApp(cfg, client=client, clock=clock)
    # systemd stops us with SIGTERM: close the window cleanly (status offline, clips finished)
    signal.signal(signal.SIGTERM, lambda *_: Clock.schedule_once(lambda _dt: app.stop(), 0))
    app.run()
    return 0
