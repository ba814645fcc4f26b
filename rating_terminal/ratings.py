"""Citizens' ratings: thanks at once, misuse flagged, a durable ``rating`` event in press order.

:meth:`Ratings.rate` thanks first (LED + beep, well inside 100 ms), then hands the rating, with
the desk context (nulls when there is none), to one writer thread that puts it in the outbox, so a
slow fsync never delays the GPIO callback. A press is flagged ``misuse`` (never dropped) when it
came within ``misuse_window_s`` of the previous press (``too_soon``) or its ticket was already
rated (``same_ticket``; also before a restart, through ``rated.py``).
"""
from __future__ import annotations

import logging
import queue
import threading
from typing import Callable, Literal

from common.clock import Clock, local_day
from mqtt.errors import OutboxFull
from mqtt.outbox import Enqueued, Outbox
from mqtt.schemas import RatingData

from .config import RatingConfig
from .desk import DeskFollower
from .feedback import Feedback
from .rated import RatedTickets

log = logging.getLogger(__name__)

MisuseReason = Literal["too_soon", "same_ticket"]


class Ratings:
    """One desk's ratings. ``start()`` runs the writer; ``stop()`` writes what was pressed."""

    def __init__(self, config: RatingConfig, outbox: Outbox, desk: DeskFollower, feedback: Feedback,
                 clock: Clock, rated: RatedTickets | None = None):
        self.config, self.outbox, self.desk, self.feedback, self.clock = config, outbox, desk, feedback, clock
        self.rated = rated  # durable rated (day, ticket) pairs; None keeps them in memory only
        self._rated: dict[str, set[str]] = rated.load() if rated is not None else {}
        self.count = 0
        self.misuse = 0
        self.when_rated: Callable[[RatingData], None] | None = None
        self.when_stored: Callable[[RatingData, Enqueued], None] | None = None
        self._lock = threading.Lock()
        self._last_press: float | None = None
        self._q: queue.Queue[tuple[RatingData, str] | None] = queue.Queue()
        self._writer: threading.Thread | None = None

    def start(self) -> None:
        self._writer = threading.Thread(target=self._write_loop, name="rating-writer", daemon=True)
        self._writer.start()

    def stop(self) -> None:
        """Every rating already pressed is written before this returns."""
        if self._writer is not None:
            self._q.put(None)
            self._writer.join(30.0)
            self._writer = None

    @property
    def alive(self) -> bool:
        return self._writer is not None and self._writer.is_alive()

    def pending(self) -> int:
        """Ratings pressed but not yet on disk (normally 0 within milliseconds)."""
        return self._q.unfinished_tasks

    def rate(self, score: int) -> RatingData:
        """A citizen pressed a rating button: thank at once, then record it durably."""
        scale = self.config.scale
        if not 1 <= score <= scale:
            raise ValueError(f"score {score} is outside the scale 1..{scale}")
        self.feedback.thanks(score)
        now = self.clock.monotonic()
        with self.desk.lock:
            ctx, officer = self.desk.context, self.desk.officer
        with self._lock:
            day = ctx.day or local_day(self.clock.now(), self.clock.tz).isoformat()
            reason = self._misuse(now, day, ctx.ticket)
            data = RatingData(desk=self.desk.desk, score=score, scale=scale, ticket=ctx.ticket,
                              service=ctx.service, officer=officer, misuse=reason is not None,
                              misuse_reason=reason)
            self.count += 1
            self.misuse += reason is not None
        if self._writer is not None:
            self._q.put((data, day))
        else:
            self._store(data, day)
        if self.when_rated is not None:
            self.when_rated(data)
        return data

    def _misuse(self, now: float, day: str, ticket: str | None) -> MisuseReason | None:
        """Why this press is misuse, or None; notes the press and its ticket (under the lock)."""
        rated = self._rated.setdefault(day, set())
        reason: MisuseReason | None = None
        if self._last_press is not None and now - self._last_press < self.config.misuse_window_s:
            reason = "too_soon"
        elif ticket is not None and ticket in rated:
            reason = "same_ticket"
        self._last_press = now
        if ticket is not None:
            rated.add(ticket)
        for d in [d for d in self._rated if d != day]:
            del self._rated[d]
        return reason

    def _write_loop(self) -> None:
        while True:
            item = self._q.get()
            try:
                if item is None:
                    return
                self._store(*item)
            finally:
                self._q.task_done()

    def _store(self, data: RatingData, day: str) -> None:
        try:
            done = self.outbox.enqueue("rating", data)
        except OutboxFull as exc:  # the client raises the outbox_full fault; the LED shows it
            log.error("rating %s not stored: %s", data.model_dump(), exc)
            return
        except Exception:  # noqa: BLE001 - the writer must keep writing the next ratings
            log.exception("rating %s not stored", data.model_dump())
            return
        if self.rated is not None and data.ticket is not None:
            self.rated.add(day, data.ticket)  # after the rating is on disk
        if self.when_stored is not None:
            self.when_stored(data, done)
