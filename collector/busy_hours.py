"""When is the centre busy? Arrivals and waits by weekday and hour, from the stored ticket events,
published as the retained ``state/busy-hours`` (mqtt.schemas.BusyHoursState) for the citizen portal,
which may not read this database (docs/portal.md).

- arrivals: ``issued`` ticket events, counted in the local hour they were issued, divided by the
  number of open days of that weekday in the window (a day with at least one ticket is open);
- wait: from issue to the ticket's first ``called`` event, the mean of the tickets issued in that hour;
- window: the last ``weeks`` whole weeks, ending yesterday (today is still filling in).

Portable SQL (SQLite and PostgreSQL): epoch bounds and local hours are computed here, in Python.
``BusyHours.tick`` runs on the alerts thread; it recomputes once an hour, at a new local day and
after every reconnect (retained state is republished from its source of truth).
"""
from __future__ import annotations

import logging
import threading
from collections import defaultdict
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Callable
from zoneinfo import ZoneInfo

from mqtt import topics
from mqtt.schemas import BusyHour, BusyHoursState

from .db import connect

log = logging.getLogger(__name__)

WEEKS = 8
EVERY_S = 3600.0
RETRY_S = 60.0  # after a failed computation


def _epoch(day: date, tz: ZoneInfo) -> float:
    return datetime.combine(day, time(0), tz).timestamp()


def compute(conn: Any, site: str, today: date, tz: ZoneInfo, now: datetime, weeks: int = WEEKS) -> BusyHoursState:
    """The busy hours of ``site`` over the ``weeks`` whole weeks before ``today``."""
    first, last = today - timedelta(days=7 * weeks), today - timedelta(days=1)
    start, end = _epoch(first, tz), _epoch(today, tz)
    issued: dict[tuple[str, str], float] = {}
    for day, ticket, ts in conn.execute("SELECT day, ticket, ts_epoch FROM ticket_events WHERE site = ? AND "
                                        "action = ? AND ts_epoch >= ? AND ts_epoch < ?",
                                        (site, "issued", start, end)):
        issued.setdefault((day, ticket), ts)
    called = {(day, ticket): ts for day, ticket, ts in conn.execute(
        "SELECT day, ticket, min(ts_epoch) FROM ticket_events WHERE site = ? AND action = ? AND ts_epoch >= ? "
        "GROUP BY day, ticket", (site, "called", start))}
    open_days: list[set[str]] = [set() for _ in range(7)]
    count: dict[tuple[int, int], int] = defaultdict(int)
    waits: dict[tuple[int, int], list[float]] = defaultdict(list)
    for key, ts in issued.items():
        local = datetime.fromtimestamp(ts, tz)
        cell = (local.weekday(), local.hour)
        open_days[cell[0]].add(local.date().isoformat())
        count[cell] += 1
        if (at := called.get(key)) is not None and at >= ts:
            waits[cell].append(at - ts)
    days = [len(d) for d in open_days]
    hours = [BusyHour(weekday=wd, hour=h, arrivals=round(n / days[wd], 1),
                      wait_min=round(sum(waits[(wd, h)]) / len(waits[(wd, h)]) / 60, 1) if waits[(wd, h)] else None)
             for (wd, h), n in sorted(count.items())]
    return BusyHoursState(weeks=weeks, first_day=first.isoformat(), last_day=last.isoformat(), days=days,
                          hours=hours, ts=now)


class BusyHours:
    """``BusyHours(db, site, tz, publish, now).tick(now)``: recompute and publish when due.

    ``publish(topic, state) -> bool`` is the MQTT client's ``publish_state`` (False when offline:
    tried again at the next tick)."""

    def __init__(self, db: str | Path, site: str, tz: str, publish: Callable[[str, BusyHoursState], bool],
                 *, weeks: int = WEEKS, every_s: float = EVERY_S):
        self.db, self.site, self.tz = str(db), site, ZoneInfo(tz)
        self.topic = topics.state(site, "busy-hours")
        self.publish, self.weeks, self.every_s = publish, weeks, every_s
        self._due = threading.Event()
        self._due.set()
        self._last: tuple[float, date] | None = None
        self._pending: tuple[date, BusyHoursState] | None = None  # computed, not yet published
        self.last: BusyHoursState | None = None

    def republish(self) -> None:
        """After a reconnect (the MQTT thread): the next tick computes and publishes again."""
        self._due.set()

    def tick(self, now: datetime) -> None:
        today = now.astimezone(self.tz).date()
        if not self._due.is_set() and self._last is not None and self._last[1] == today and \
                now.timestamp() - self._last[0] < self.every_s:
            return
        self._due.clear()
        state = self._pending if self._pending is not None and self._pending[0] == today else None
        if state is None:
            try:
                conn = connect(self.db, readonly=True)
                try:
                    state = (today, compute(conn, self.site, today, self.tz, now, self.weeks))
                finally:
                    conn.close()
            except Exception:
                self._last = (now.timestamp() - self.every_s + RETRY_S, today)  # again in a minute
                raise
        if self.publish(self.topic, state[1]):
            self._last, self.last, self._pending = (now.timestamp(), today), state[1], None
            log.info("busy hours published for %s (%d hours with arrivals, %s..%s)", self.site,
                     len(state[1].hours), state[1].first_day, state[1].last_day)
        else:  # offline: the same summary at the next tick, without computing it again
            self._pending = state
            self._due.set()
