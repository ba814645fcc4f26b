"""The status LED and the counter display: what they show, written only when it changes.

:class:`StatusView` derives the status mode (``connected`` / ``buffering`` / ``fault``) and the
display's view (a flashed message, OFFLINE, SERVER OFFLINE, or the ticket being served) from the
link, the outbox, the faults and the desk; ``refresh()`` brings the LED and display up to date
and a ticker thread calls it every ``tick_s``. A display write that fails raises the
``counter_display`` fault; the next one that works clears it.
"""
from __future__ import annotations

import logging
import threading
from typing import Any

from common.clock import Clock
from mqtt.client import DeviceClient
from mqtt.outbox import Outbox

from .desk import DeskFollower
from .errors import PeripheralError
from .faults import Faults
from .feedback import Feedback
from .serial_devices import CounterDisplay

log = logging.getLogger(__name__)

OFFLINE = ("MẤT KẾT NỐI", "OFFLINE")
SERVER_DOWN = ("MÁY CHỦ NGỪNG", "SERVER OFFLINE")
BUFFERING_AFTER_S = 1.0  # outbox not empty this long (while connected) shows as buffering

View = tuple[Any, ...]  # ("msg", vi, en) or ("ticket", desk, ticket or None)


class StatusView:
    """The LED's mode and the display's view of one desk."""

    def __init__(self, client: DeviceClient, outbox: Outbox, desk: DeskFollower, faults: Faults,
                 feedback: Feedback, display: CounterDisplay | None, clock: Clock,
                 message_s: float, tick_s: float = 0.25):
        self.client, self.outbox, self.desk, self.faults = client, outbox, desk, faults
        self.feedback, self.display, self.clock = feedback, display, clock
        self.message_s, self.tick_s = message_s, tick_s
        self.status: str | None = None  # the mode last shown
        self._lock = threading.Lock()    # guards the flashed message
        self._view_lock = threading.Lock()
        self._message: tuple[str, str] | None = None
        self._message_until = 0.0
        self._shown: View | None = None
        self._depth_since: float | None = None
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        self._ticker = threading.Thread(target=self._tick_loop, name="terminal-ticker", daemon=True)
        self._ticker.start()

    def stop(self) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(2.0)

    @property
    def alive(self) -> bool:
        return self._ticker is not None and self._ticker.is_alive()

    def _tick_loop(self) -> None:
        while not self._stop.wait(self.tick_s):
            try:
                self.refresh()
            except Exception:  # noqa: BLE001 - the ticker must survive a bad refresh
                log.exception("status refresh failed")

    def flash(self, message_vi: str, message_en: str, seconds: float | None = None) -> None:
        """Show a message on the display for a while, then the normal view again."""
        with self._lock:
            self._message = (message_vi, message_en)
            self._message_until = self.clock.monotonic() + (seconds or self.message_s)
        self.refresh()

    def mode(self) -> str:
        """``fault`` (a peripheral fault, or the outbox refusing events), ``buffering`` (offline,
        or events waiting longer than BUFFERING_AFTER_S), else ``connected``."""
        if self.faults.codes or self.outbox.full:
            return "fault"
        if not self.client.connected:
            return "buffering"
        now = self.clock.monotonic()
        if self.outbox.depth() > 0:
            if self._depth_since is None:
                self._depth_since = now
            if now - self._depth_since >= BUFFERING_AFTER_S:
                return "buffering"
        else:
            self._depth_since = None
        return "connected"

    def view(self) -> View:
        """What the counter display should show now."""
        with self._lock:
            if self._message is not None and self.clock.monotonic() < self._message_until:
                return ("msg",) + self._message
            self._message = None
        if not self.client.connected:
            return ("msg",) + OFFLINE
        if self.desk.ticketing_online is False:
            return ("msg",) + SERVER_DOWN
        ctx = self.desk.context
        return ("ticket", self.desk.desk, ctx.ticket if ctx.serving else None)

    def refresh(self) -> None:
        """Bring the status LED and the display up to date (only writes what changed)."""
        with self._view_lock:
            mode = self.mode()
            if mode != self.status:
                self.status = mode
                self.feedback.set_status(mode)
            if self.display is not None:
                self._show(self.display, self.view())

    def _show(self, display: CounterDisplay, view: View) -> None:
        if view == self._shown:
            return
        try:
            if view[0] == "msg":
                display.show_message(view[1], view[2])
            else:
                display.show_ticket(view[1], view[2])
        except PeripheralError as exc:
            self._shown = None
            # raising the fault refreshes again: not from under the view lock
            threading.Thread(target=self.faults.peripheral_failed, args=("counter_display", exc),
                             daemon=True).start()
            return
        self._shown = view
        if "counter_display" in self.faults:
            threading.Thread(target=self.faults.clear, args=("counter_display",), daemon=True).start()
