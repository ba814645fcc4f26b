"""sd_notify without libsystemd: READY=1 after set-up, WATCHDOG=1 from the working loop only.

    notifier = Notifier()              # reads NOTIFY_SOCKET and WATCHDOG_USEC
    notifier.ready()                   # after set-up
    while running:
        do_one_round()
        notifier.watchdog()            # WATCHDOG=1 at most every WatchdogSec/2

If the loop hangs, watchdog() is no longer called, the pings stop and systemd restarts the unit
(``WatchdogSec=`` + ``Restart=always``). Never ping from a timer thread: that would keep a hung
loop alive.
"""
from __future__ import annotations

import logging
import os
import socket
import time
from typing import Callable

log = logging.getLogger(__name__)


class Notifier:
    """Sends datagrams to $NOTIFY_SOCKET; a no-op when not started by systemd."""

    def __init__(self, address: str | None = None, *, interval_s: float | None = None,
                 monotonic: Callable[[], float] = time.monotonic):
        addr = address if address is not None else os.environ.get("NOTIFY_SOCKET")
        self.address = addr or None
        if self.address and self.address.startswith("@"):
            self.address = "\0" + self.address[1:]
        self._sock: socket.socket | None = None
        # a loop may call watchdog() every round (a camera at 5 fps): send at most this often
        self.interval_s = interval_s if interval_s is not None else self.watchdog_interval_s()
        self._monotonic = monotonic
        self._last_ping: float | None = None

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def notify(self, message: str) -> bool:
        if not self.address:
            return False
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._sock.sendto(message.encode(), self.address)
            return True
        except OSError as exc:
            log.warning("sd_notify %r to %s failed: %s", message, self.address, exc)
            return False

    def ready(self, status: str = "") -> bool:
        return self.notify("READY=1" + (f"\nSTATUS={status}" if status else ""))

    def watchdog(self) -> bool:
        """Call once per round of the working loop; True when a ping was sent now."""
        if not self.address:
            return False
        now = self._monotonic()
        if self.interval_s and self._last_ping is not None and now - self._last_ping < self.interval_s:
            return False
        self._last_ping = now
        return self.notify("WATCHDOG=1")

    def stopping(self) -> bool:
        return self.notify("STOPPING=1")

    def watchdog_interval_s(self) -> float | None:
        """Half of WatchdogSec (systemd's advice), or None when no watchdog is set."""
        usec = os.environ.get("WATCHDOG_USEC")
        pid = os.environ.get("WATCHDOG_PID")
        if not usec or (pid and pid != str(os.getpid())):
            return None
        return int(usec) / 2_000_000
