"""Polling until a condition holds: the one helper tests and benches share (it was copied into
many test files with small variations)."""
from __future__ import annotations

import time
from typing import Any, Callable


def wait_for(pred: Callable[[], Any], timeout: float = 15.0, interval: float = 0.05) -> bool:
    """Call ``pred`` every ``interval`` seconds until it is truthy or ``timeout`` passes; the
    last call decides (so a condition that turns true at the deadline still counts)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(interval)
    return bool(pred())
