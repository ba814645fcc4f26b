"""Polling until a condition holds, for tests that watch another thread or process."""
from __future__ import annotations

import time
from typing import Callable


def wait(cond: Callable[[], bool], timeout: float = 15.0) -> bool:
    """True as soon as ``cond()`` is; after ``timeout`` seconds, ``cond()``'s last answer."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.05)
    return cond()
