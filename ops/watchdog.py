"""The systemd watchdog, pinged from a role's working loop only.

    pinger = WatchdogPinger()          # reads WATCHDOG_USEC, NOTIFY_SOCKET
    notifier.ready()                   # after set-up
    while running:
        do_one_round()
        pinger.tick()                  # WATCHDOG=1 at most every WatchdogSec/2

If the loop hangs, tick() is no longer called, the pings stop and systemd restarts the unit
(``WatchdogSec=`` + ``Restart=always``). Never tick from a timer thread: that would keep a hung
loop alive.
"""
from __future__ import annotations

import time
from typing import Callable

from common.systemd import Notifier


class WatchdogPinger:
    """Rate-limits WATCHDOG=1 to half the watchdog interval (or ``interval_s`` when given)."""

    def __init__(self, notifier: Notifier | None = None, interval_s: float | None = None,
                 monotonic: Callable[[], float] = time.monotonic):
        self.notifier = notifier or Notifier()
        self.interval_s = interval_s if interval_s is not None else self.notifier.watchdog_interval_s()
        self._monotonic = monotonic
        self._last: float | None = None
        self.sent = 0

    @property
    def enabled(self) -> bool:
        return self.notifier.enabled and self.interval_s is not None

    def tick(self) -> bool:
        """Call once per round of the working loop; True when a ping was sent now."""
        if not self.enabled:
            return False
        now = self._monotonic()
        if self._last is not None and now - self._last < self.interval_s:  # type: ignore[operator]
            return False
        self._last = now
        if self.notifier.watchdog():
            self.sent += 1
            return True
        return False
