"""Login throttling: too many failed logins for one user name, or from one client address, lock
that name/address out for a while, before the (deliberately slow) password hash is even checked.

The state lives in memory only: a restarted collector forgets every count and lockout.
"""
from __future__ import annotations

import logging
import math
from collections import deque
from dataclasses import dataclass, field
from typing import Iterable

from common.clock import Clock, SystemClock

log = logging.getLogger(__name__)

MAX_FAILURES = 5
WINDOW_S = 600.0
LOCKOUT_S = 300.0
MAX_KEYS = 10_000  # memory bound: an attacker inventing names cannot grow the table past this


@dataclass
class _Record:
    failures: deque[float] = field(default_factory=deque)
    locked_until: float = 0.0


class LoginThrottle:
    """Counts failed logins per key (``"user:NAME"``, ``"addr:HOST"``) on ``clock.monotonic()``.

    ``max_failures`` failures of one key within ``window_s`` lock it for ``lockout_s``;
    :meth:`retry_after` says how long a locked key must wait (0 when it may try)."""

    def __init__(self, clock: Clock | None = None, *, max_failures: int = MAX_FAILURES, window_s: float = WINDOW_S,
                 lockout_s: float = LOCKOUT_S, max_keys: int = MAX_KEYS):
        self.clock = clock or SystemClock()
        self.max_failures = max_failures
        self.window_s = window_s
        self.lockout_s = lockout_s
        self.max_keys = max_keys
        self._records: dict[str, _Record] = {}

    @staticmethod
    def keys(name: str, address: str | None) -> list[str]:
        out = [f"user:{name[:64]}"] if name else []
        if address:
            out.append(f"addr:{address}")
        return out

    def retry_after(self, keys: Iterable[str]) -> float:
        """Seconds until every one of ``keys`` may try again (0.0: they may now)."""
        now = self.clock.monotonic()
        wait = 0.0
        for k in keys:
            rec = self._records.get(k)
            if rec is not None and rec.locked_until > now:
                wait = max(wait, rec.locked_until - now)
        return wait

    def failed(self, keys: Iterable[str]) -> None:
        now = self.clock.monotonic()
        self._prune(now)
        for k in keys:
            rec = self._records.setdefault(k, _Record())
            rec.failures.append(now)
            while rec.failures and rec.failures[0] <= now - self.window_s:
                rec.failures.popleft()
            if len(rec.failures) >= self.max_failures:
                rec.locked_until = now + self.lockout_s
                rec.failures.clear()
                log.warning("login locked for %s for %.0f s after %d failed attempts", k, self.lockout_s,
                            self.max_failures)

    def succeeded(self, keys: Iterable[str]) -> None:
        for k in keys:
            self._records.pop(k, None)

    def _prune(self, now: float) -> None:
        stale = [k for k, r in self._records.items()
                 if r.locked_until <= now and (not r.failures or r.failures[-1] <= now - self.window_s)]
        for k in stale:
            del self._records[k]
        while len(self._records) >= self.max_keys:  # drop the oldest entries (dicts keep insertion order)
            del self._records[next(iter(self._records))]

    @staticmethod
    def minutes(seconds: float) -> int:
        return max(1, math.ceil(seconds / 60))
