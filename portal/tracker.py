"""What the portal knows of the site, from the wire only (never the collector's database).

- retained ``state/site``, ``state/service/{CODE}`` (waiting, estimate, the queue in call order),
  ``state/desk/{N}`` (who is served where), ``state/calls`` (recalls), ``state/busy-hours`` (the
  collector's summary of past weeks, for the site page's chart);
- ticket events of every device (issued by kiosks; called, recalled, no-show, transferred,
  finished by ticketing) for each ticket's outcome, kept in ``portal.db`` so a restart keeps them;
- rating events of the desks, so a phone rating after a desk rating is ``misuse`` ``same_ticket``.

Handlers run on the MQTT thread; :attr:`listeners` are told after every change.
"""
from __future__ import annotations

import json
import logging
import sqlite3
import threading
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Callable
from zoneinfo import ZoneInfo

from common.clock import DEFAULT_TZ, Clock, SystemClock
from mqtt import topics
from mqtt.client import Message
from mqtt.errors import MqttCoreError, ProtocolError
from mqtt.schemas import (BusyHoursState, DeskState, RatingData, ServiceState, SiteState, TicketData,
                          parse_event, parse_model)

log = logging.getLogger(__name__)

CALLED_FOR = timedelta(seconds=90)  # "called to desk N" this long after the call, then "being served"
_STATUS = {"issued": "waiting", "called": "called", "recalled": "recalled", "no_show": "no_show",
           "transferred": "transferred", "finished": "finished", "cancelled": "cancelled", "expired": "cancelled",
           "carried": "waiting"}


@dataclass
class Ticket:
    day: str
    ticket: str
    service: str
    status: str = "waiting"
    desk: int | None = None
    officer: str | None = None
    from_service: str | None = None


@dataclass(frozen=True)
class View:
    """One ticket as the page shows it."""

    ticket: str
    service: str
    status: str  # unknown, waiting, called, recalled, serving, finished, no_show, transferred, cancelled
    desk: int | None
    officer: str | None
    ahead: int | None
    wait_min: int | None
    from_service: str | None
    rated: bool


def _connect(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE IF NOT EXISTS tickets (day TEXT, ticket TEXT, data TEXT, PRIMARY KEY (day, ticket))")
    db.execute("CREATE TABLE IF NOT EXISTS rated (day TEXT, ticket TEXT, channel TEXT, PRIMARY KEY (day, ticket))")
    return db


class Tracker:
    def __init__(self, site: str, db_path: str | Path, clock: Clock | None = None):
        self.site_id = site
        self.clock = clock or SystemClock()
        self.site: SiteState | None = None
        self.services: dict[str, ServiceState] = {}
        self.desks: dict[int, DeskState] = {}
        self.busy: BusyHoursState | None = None
        self.listeners: list[Callable[[], None]] = []
        self._lock = threading.Lock()
        self._db = _connect(Path(db_path))
        self._tickets: dict[tuple[str, str], Ticket] = {}
        for day, ticket, data in self._db.execute("SELECT day, ticket, data FROM tickets"):
            self._tickets[(day, ticket)] = Ticket(**json.loads(data))

    # -- wiring ---------------------------------------------------------------------------------

    def filters(self) -> list[tuple[str, Callable[[Message], None]]]:
        s = self.site_id
        return [(topics.state_filter(s), self.on_state), (topics.events_filter(s, "ticket"), self.on_ticket),
                (topics.events_filter(s, "rating"), self.on_rating)]

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.site.timezone if self.site else DEFAULT_TZ)

    def today(self) -> str:
        return self.clock.now().astimezone(self.tz).date().isoformat()

    def _changed(self) -> None:
        for fn in list(self.listeners):
            try:
                fn()
            except Exception:  # noqa: BLE001 - one bad listener must not stop the others
                log.exception("portal listener failed")

    # -- handlers (MQTT thread) ---------------------------------------------------------------------

    def on_state(self, msg: Message) -> None:
        try:
            t = topics.parse(msg.topic)
            if not msg.payload:
                return
            if t.name == "site" and t.key is None:
                site = parse_model(SiteState, msg.payload)
                assert isinstance(site, SiteState)
                self.site = site
            elif t.name == "service" and t.key:
                svc = parse_model(ServiceState, msg.payload)
                assert isinstance(svc, ServiceState)
                self.services[svc.service] = svc
            elif t.name == "busy-hours" and t.key is None:
                busy = parse_model(BusyHoursState, msg.payload)
                assert isinstance(busy, BusyHoursState)
                self.busy = busy
                return  # no ticket page shows it: no live page needs waking
            elif t.name == "desk" and t.key:
                desk = parse_model(DeskState, msg.payload)
                assert isinstance(desk, DeskState)
                self.desks[desk.desk] = desk
            else:
                return
        except (ProtocolError, MqttCoreError, ValueError) as exc:
            log.warning("bad state on %s: %s", msg.topic, exc)
            return
        self._changed()

    def on_ticket(self, msg: Message) -> None:
        try:
            d = parse_event(msg.topic, msg.payload).typed_data()
        except ProtocolError as exc:
            log.warning("bad ticket event on %s: %s", msg.topic, exc)
            return
        assert isinstance(d, TicketData)
        with self._lock:
            t = self._tickets.get((d.day, d.ticket)) or Ticket(d.day, d.ticket, d.service)
            if d.action == "issued" and t.status != "waiting":
                return  # a late copy of the issue never undoes a call
            t.status = _STATUS[d.action]
            t.desk = d.desk if d.desk is not None else t.desk
            t.officer = d.officer if d.officer is not None else t.officer
            if d.action == "transferred" and d.to_service:
                t.from_service, t.service = d.service, d.to_service
            self._tickets[(d.day, d.ticket)] = t
            self._db.execute("INSERT OR REPLACE INTO tickets VALUES (?,?,?)", (d.day, d.ticket, json.dumps(asdict(t))))
        self._changed()

    def on_rating(self, msg: Message) -> None:
        try:
            env = parse_event(msg.topic, msg.payload)
        except ProtocolError as exc:
            log.warning("bad rating event on %s: %s", msg.topic, exc)
            return
        d = env.typed_data()
        assert isinstance(d, RatingData)
        if d.ticket:
            self.mark_rated(env.ts.astimezone(self.tz).date().isoformat(), d.ticket, d.channel)
            self._changed()

    # -- queries --------------------------------------------------------------------------------------

    def mark_rated(self, day: str, ticket: str, channel: str) -> bool:
        """Record a rating; False when the ticket had one already (the new one is misuse)."""
        with self._lock:
            cur = self._db.execute("INSERT OR IGNORE INTO rated VALUES (?,?,?)", (day, ticket, channel))
            return cur.rowcount == 1

    def rated(self, day: str, ticket: str) -> bool:
        with self._lock:
            return self._db.execute("SELECT 1 FROM rated WHERE day=? AND ticket=?", (day, ticket)).fetchone() is not None

    def _at_desk(self, day: str, ticket: str) -> DeskState | None:
        return next((d for d in self.desks.values() if d.ticket == ticket and d.day == day
                     and d.status == "serving"), None)

    def view(self, day: str, ticket: str) -> View:
        with self._lock:
            t = self._tickets.get((day, ticket))
            t = Ticket(**asdict(t)) if t else None
        desk = self._at_desk(day, ticket)
        status, desk_no, officer = (t.status, t.desk, t.officer) if t else ("unknown", None, None)
        service = desk.service or "" if desk else (t.service if t else "")
        svc = self.services.get(t.service if t else service)
        ahead = wait = None
        if svc is not None and svc.day == day and svc.queue is not None and ticket in svc.queue:
            service = svc.service
            status = "transferred" if t and t.status == "transferred" else "waiting"
            ahead = svc.queue.index(ticket)
            if svc.est_wait_s is not None and svc.waiting:
                wait = max(1, round(svc.est_wait_s * (ahead + 1) / svc.waiting / 60))
        elif desk is not None:
            desk_no, officer = desk.desk, desk.officer
            recent = desk.called_at is not None and self.clock.now() - desk.called_at < CALLED_FOR
            status = "recalled" if t and t.status == "recalled" else ("called" if recent else "serving")
        return View(ticket, service, status, desk_no, officer, ahead, wait,
                    t.from_service if t else None, self.rated(day, ticket))

    def close(self) -> None:
        self._db.close()


def now_local(clock: Clock, tz: ZoneInfo) -> datetime:
    return clock.now().astimezone(tz)
