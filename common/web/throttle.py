"""Login throttling that an outsider cannot turn into a lock-out of the real user.

Failed logins are counted per key on ``clock.monotonic()``; a key with too many failures within
``window_s`` is locked for ``lockout_s``, and a locked key is refused before the (deliberately
slow) password hash is checked. The keys and their limits:

- ``pair:NAME@ADDR``: one address guessing one account (``max_failures``, 5);
- ``addr:ADDR``: one address guessing many accounts (``max_address_failures``, 10);
- ``user:NAME``: many addresses guessing one account (``max_account_failures``, 20). This lock
  does NOT hold for an address that logged in as NAME before (``trusted_s``, 30 days): the manager
  at their own desk still gets in while a botnet guesses their name from elsewhere.

A guesser from another address thus locks only itself. The state lives in memory: a restarted
server forgets every count, lockout and trusted address.
"""
from __future__ import annotations

import logging
import math
from collections import deque
from dataclasses import dataclass, field

from common.clock import Clock, SystemClock

log = logging.getLogger(__name__)

MAX_FAILURES = 5
MAX_ADDRESS_FAILURES = 10
MAX_ACCOUNT_FAILURES = 20
WINDOW_S = 600.0
LOCKOUT_S = 300.0
TRUSTED_S = 30 * 86400.0
MAX_KEYS = 10_000  # memory bound: an attacker inventing names or addresses cannot grow past this


@dataclass
class _Record:
    failures: deque[float] = field(default_factory=deque)
    locked_until: float = 0.0


class LoginThrottle:
    """See the module text; :meth:`retry_after` says how long to wait (0.0: may try now)."""

    def __init__(self, clock: Clock | None = None, *, max_failures: int = MAX_FAILURES,
                 max_address_failures: int = MAX_ADDRESS_FAILURES, max_account_failures: int = MAX_ACCOUNT_FAILURES,
                 window_s: float = WINDOW_S, lockout_s: float = LOCKOUT_S, trusted_s: float = TRUSTED_S,
                 max_keys: int = MAX_KEYS):
        self.clock = clock or SystemClock()
        self.limits = {"pair": max_failures, "addr": max_address_failures, "user": max_account_failures}
        self.window_s = window_s
        self.lockout_s = lockout_s
        self.trusted_s = trusted_s
        self.max_keys = max_keys
        self._records: dict[str, _Record] = {}
        self._trusted: dict[tuple[str, str], float] = {}

    @staticmethod
    def keys(name: str, address: str | None) -> list[str]:
        name = name[:64]
        out = []
        if name and address:
            out.append(f"pair:{name}@{address}")
        if address:
            out.append(f"addr:{address}")
        if name:
            out.append(f"user:{name}")
        return out

    def trusted(self, name: str, address: str | None) -> bool:
        """Did ``address`` log in as ``name`` within ``trusted_s``?"""
        seen = self._trusted.get((name[:64], address or ""))
        return seen is not None and seen > self.clock.monotonic() - self.trusted_s

    def retry_after(self, name: str, address: str | None) -> float:
        """Seconds until ``name`` may try again from ``address`` (0.0: now)."""
        now = self.clock.monotonic()
        skip_account = self.trusted(name, address)
        wait = 0.0
        for k in self.keys(name, address):
            if skip_account and k.startswith("user:"):
                continue
            rec = self._records.get(k)
            if rec is not None and rec.locked_until > now:
                wait = max(wait, rec.locked_until - now)
        return wait

    def failed(self, name: str, address: str | None) -> None:
        now = self.clock.monotonic()
        self._prune(now)
        for k in self.keys(name, address):
            rec = self._records.setdefault(k, _Record())
            rec.failures.append(now)
            while rec.failures and rec.failures[0] <= now - self.window_s:
                rec.failures.popleft()
            limit = self.limits[k.split(":", 1)[0]]
            if len(rec.failures) >= limit:
                rec.locked_until = now + self.lockout_s
                rec.failures.clear()
                log.warning("login locked for %s for %.0f s after %d failed attempts", k, self.lockout_s, limit)

    def succeeded(self, name: str, address: str | None) -> None:
        """The pair's count starts again and the address is trusted for ``name``; the account-wide
        count stays (a guesser elsewhere is still guessing)."""
        self._records.pop(f"pair:{name[:64]}@{address}", None)
        if address:
            self._trusted[(name[:64], address)] = self.clock.monotonic()
            while len(self._trusted) > self.max_keys:
                del self._trusted[next(iter(self._trusted))]

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
