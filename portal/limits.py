"""A sliding one-minute window per key (an address, a ticket token), in memory."""
from __future__ import annotations

import time
from collections import deque


class Limiter:
    def __init__(self, per_min: int, window_s: float = 60.0, max_keys: int = 100_000):
        self.per_min = per_min
        self.window_s = window_s
        self.max_keys = max_keys
        self._hits: dict[str, deque[float]] = {}

    def allow(self, key: str) -> bool:
        now = time.monotonic()
        q = self._hits.get(key)
        if q is None:
            if len(self._hits) >= self.max_keys:
                self._prune(now)
            q = self._hits[key] = deque()
        while q and now - q[0] > self.window_s:
            q.popleft()
        if len(q) >= self.per_min:
            return False
        q.append(now)
        return True

    def _prune(self, now: float) -> None:
        for k in [k for k, q in self._hits.items() if not q or now - q[-1] > self.window_s]:
            del self._hits[k]
