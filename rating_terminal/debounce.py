"""Contact-bounce filter in our own code (gpiozero's mock pins ignore ``bounce_time``).

A press counts only when the line was quiet (no edge at all) for at least ``window_s`` before
it. The first edge of a real press counts at once, so debouncing adds no latency to the thanks.
"""
from __future__ import annotations

import threading
import time
from typing import Callable


class Debouncer:
    """Feed it every edge (``edge(pressed)``); it calls ``on_press()`` once per real press.

    >>> d = Debouncer(0.03, lambda: print("press"))
    >>> d.edge(True); d.edge(False); d.edge(True)   # bounce: one press
    press
    """

    def __init__(self, window_s: float, on_press: Callable[[], None],
                 monotonic: Callable[[], float] = time.monotonic):
        if window_s < 0:
            raise ValueError(f"debounce window must be at least 0 s, got {window_s}")
        self.window_s = window_s
        self.on_press = on_press
        self._mono = monotonic
        self._last_edge: float | None = None
        self._lock = threading.Lock()
        self.presses = 0
        self.bounces = 0

    def edge(self, pressed: bool) -> bool:
        """One edge of the contact; True when it was counted as a press."""
        with self._lock:
            now = self._mono()
            quiet = self._last_edge is None or now - self._last_edge >= self.window_s
            self._last_edge = now
            if not quiet:
                self.bounces += 1
                return False
            if not pressed:
                return False
            self.presses += 1
        self.on_press()
        return True
