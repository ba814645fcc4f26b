"""The retained state a queue publishes (each desk, each service, the recent calls), read from its
SQLite file under the queue's lock. A mixin of :class:`ticketing.queue.Queue`, which owns the file."""
from __future__ import annotations

import sqlite3
import threading
from datetime import datetime

from common.clock import Clock
from mqtt.schemas import Call, CallsState, DeskState, ServiceState

from .config import SiteConfig

CALLS_KEPT = 10


class QueueStates:
    _db: sqlite3.Connection
    _lock: threading.RLock
    site: SiteConfig
    clock: Clock
    recent_finished: int

    def today(self) -> str:
        raise NotImplementedError

    def _current(self, desk_row: sqlite3.Row) -> sqlite3.Row | None:
        raise NotImplementedError

    def _waiting(self, day: str, service: str) -> int:
        return self._db.execute("SELECT COUNT(*) FROM tickets WHERE status='waiting' AND queue_day=? AND service=?",
                                (day, service)).fetchone()[0]

    def desk_state(self, desk: int) -> DeskState:
        with self._lock:
            row = self._db.execute("SELECT * FROM desks WHERE desk=?", (desk,)).fetchone()
            t = self._current(row) if row is not None else None
        now = self.clock.now()
        if t is None or t["status"] != "serving":
            return DeskState(desk=desk, officer=row["officer"] if row else None, status="idle", ts=now)
        return DeskState(desk=desk, officer=row["officer"], ticket=t["label"], number=t["number"], day=t["day"],
                         service=t["service"], priority=t["priority"],
                         called_at=datetime.fromisoformat(t["called_at"]), status="serving",
                         carried_from=t["day"] if t["queue_day"] != t["day"] else None, ts=now)

    def service_state(self, code: str) -> ServiceState:
        svc = self.site.service(code)
        if svc is None:
            raise KeyError(code)
        today = self.today()
        with self._lock:
            db = self._db
            by_priority = {p or "": n for p, n in db.execute(
                "SELECT priority, COUNT(*) FROM tickets WHERE status='waiting' AND queue_day=? AND service=? "
                "GROUP BY priority", (today, code))}
            waiting = sum(by_priority.values())
            issued = db.execute("SELECT COUNT(*) FROM tickets WHERE day=? AND origin=?", (today, code)).fetchone()[0]
            oldest = db.execute("SELECT issued_at FROM tickets WHERE status='waiting' AND queue_day=? AND service=? "
                                "ORDER BY order_key LIMIT 1", (today, code)).fetchone()
            order = [r[0] for r in db.execute(
                "SELECT label FROM tickets WHERE status='waiting' AND queue_day=? AND service=? "
                "ORDER BY prank, order_key, id LIMIT 1000", (today, code))]
            last = db.execute("SELECT label FROM calls WHERE day=? AND service=? AND recall=0 "
                              "ORDER BY id DESC LIMIT 1", (today, code)).fetchone()
            times = [r[0] for r in db.execute(
                "SELECT service_s FROM tickets WHERE status='finished' AND service=? "
                "ORDER BY finished_ts DESC LIMIT ?", (code, self.recent_finished))]
            handling = [d.number for d in self.site.desks if code in d.services]
            open_desks = db.execute(
                f"SELECT COUNT(*) FROM desks WHERE officer IS NOT NULL AND desk IN ({','.join('?' * len(handling))})",
                handling).fetchone()[0] if handling else 0
        open_desks = open_desks or len(handling)
        est = None
        if times and open_desks:
            est = round(waiting * (sum(times) / len(times)) / open_desks, 1)
        return ServiceState(service=code, day=today, waiting=waiting, issued=issued, capacity=svc.capacity,
                            finished_for_today=issued >= svc.capacity, est_wait_s=est, waiting_by_priority=by_priority,
                            oldest_issued_at=datetime.fromisoformat(oldest[0]) if oldest else None,
                            last_called=last[0] if last else None, queue=order, ts=self.clock.now())

    def calls_state(self) -> CallsState:
        with self._lock:
            rows = self._db.execute(
                "SELECT c.label, c.desk, c.service, c.at, c.recall, t.day AS tday FROM calls c "
                "LEFT JOIN tickets t ON t.id = c.ticket_id WHERE c.day=? ORDER BY c.id DESC LIMIT ?",
                (self.today(), CALLS_KEPT)).fetchall()
        return CallsState(calls=[Call(ticket=r["label"], desk=r["desk"], service=r["service"],
                                      at=datetime.fromisoformat(r["at"]), recall=bool(r["recall"]),
                                      carried_from=r["tday"] if r["tday"] and r["tday"] < self.today() else None)
                                 for r in rows],
                          ts=self.clock.now())
