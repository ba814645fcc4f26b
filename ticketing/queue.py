"""The queue: number leases, tickets, desks and answers, in one SQLite file.

A plain class, no MQTT: tests drive it with a FakeClock. Every state change happens in ONE
transaction together with the request-id -> answer row, so an answer and its effect commit
together (WAL, synchronous=FULL: a committed step survives a power cut), and a retried request
id gets the stored answer instead of a second ticket. Ticket events for the collector are
written to the ``events`` table in the same transaction and moved to the durable outbox
afterwards (:meth:`Queue.pending_events` / :meth:`Queue.drop_events`).

One writer: a lock serialises every call, so two desks never get the same ticket.
"""
from __future__ import annotations

import logging
import sqlite3
import threading
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, NamedTuple
from zoneinfo import ZoneInfo

from common.clock import Clock, SystemClock, iso, local_day
from common.sqlite import connect
from mqtt.schemas import DeskData, Lease, Request, Response, TicketData, TicketInfo

from .config import Service, SiteConfig
from .desk_rules import RuleRefused, check_no_show, check_recall
from .queue_state import QueueStates

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tickets (
    id INTEGER PRIMARY KEY,
    day TEXT NOT NULL,                -- the day the number belongs to (never changes)
    queue_day TEXT,                   -- the day whose queue it waits in: day, or later when kept (closing.py)
    origin TEXT NOT NULL,             -- service the number was issued for (never changes)
    number INTEGER NOT NULL,
    label TEXT NOT NULL,
    service TEXT NOT NULL,            -- service whose queue it is in now (transfer changes it)
    priority TEXT,
    prank INTEGER NOT NULL,           -- priority rank: 0 first class ... 99 no priority
    order_key REAL NOT NULL,          -- first come first served: issue time (epoch seconds)
    issued_at TEXT NOT NULL,
    issued_ts REAL NOT NULL,
    kiosk TEXT,
    offline INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL,             -- waiting | serving | finished | no_show | expired | not_printed
    desk INTEGER,
    officer TEXT,
    called_at TEXT,
    called_ts REAL,
    first_called_ts REAL,
    finished_ts REAL,
    service_s REAL,
    calls INTEGER NOT NULL DEFAULT 0,
    UNIQUE (day, origin, number)
);
CREATE INDEX IF NOT EXISTS tickets_kiosk ON tickets (kiosk, day, origin);
CREATE INDEX IF NOT EXISTS tickets_finished ON tickets (service, finished_ts)
    WHERE status = 'finished';
CREATE TABLE IF NOT EXISTS desks (
    desk INTEGER PRIMARY KEY,
    officer TEXT,
    ticket_id INTEGER REFERENCES tickets(id)
);
CREATE TABLE IF NOT EXISTS leases (
    day TEXT NOT NULL, service TEXT NOT NULL, next INTEGER NOT NULL,
    PRIMARY KEY (day, service)
);
CREATE TABLE IF NOT EXISTS lease_log (
    request_id TEXT PRIMARY KEY, device TEXT, day TEXT, service TEXT, start INTEGER, "end" INTEGER, at TEXT
);
CREATE TABLE IF NOT EXISTS calls (
    id INTEGER PRIMARY KEY, day TEXT NOT NULL, label TEXT NOT NULL, desk INTEGER NOT NULL,
    service TEXT NOT NULL, at TEXT NOT NULL, recall INTEGER NOT NULL, ticket_id INTEGER
);
CREATE TABLE IF NOT EXISTS answers (
    request_id TEXT PRIMARY KEY, op TEXT NOT NULL, body TEXT NOT NULL, day TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

MESSAGES: dict[str, tuple[str, str]] = {
    "queue_empty": ("Không còn người chờ", "No one is waiting"),
    "no_ticket": ("Quầy chưa gọi số nào", "This desk has no current ticket"),
    "capacity_reached": ("Đã hết số hôm nay", "No more numbers today"),
    "unknown_service": ("Dịch vụ không tồn tại", "Unknown service"),
    "unknown_desk": ("Quầy không tồn tại", "Unknown desk"),
    "bad_request": ("Yêu cầu không hợp lệ", "Bad request"),
    "same_service": ("Số đã ở dịch vụ này", "The ticket is already in this service"),
    "stale": ("Yêu cầu đã quá hạn, không cấp số", "The request is too old: no number given"),
    "lease_limit": ("Máy lấy số còn nhiều số chưa phát", "This kiosk still holds many numbers it has not issued"),
}

ANSWERS_KEPT_DAYS = 2

# after _SCHEMA: columns a file from before issue 19.4 lacks, then the indexes over them
_UPGRADES = (("tickets", "queue_day", "ALTER TABLE tickets ADD COLUMN queue_day TEXT",
              "UPDATE tickets SET queue_day=day WHERE queue_day IS NULL"),
             ("calls", "ticket_id", "ALTER TABLE calls ADD COLUMN ticket_id INTEGER", None))
_INDEXES = """
DROP INDEX IF EXISTS tickets_waiting;
DROP INDEX IF EXISTS tickets_oldest;
CREATE INDEX IF NOT EXISTS tickets_queue ON tickets (queue_day, service, prank, order_key, id, label, priority, status)
    WHERE status = 'waiting';  -- covering: the waiting counts and list read no table rows
CREATE INDEX IF NOT EXISTS tickets_queue_oldest ON tickets (queue_day, service, order_key) WHERE status = 'waiting';
CREATE INDEX IF NOT EXISTS calls_ticket ON calls (ticket_id);
"""


class Outcome(NamedTuple):
    """What a step changed: the answer, and which retained states to republish."""

    response: Response | None
    desks: frozenset[int] = frozenset()
    services: frozenset[str] = frozenset()
    calls: bool = False
    replay: bool = False


class _Rejected(Exception):
    def __init__(self, code: str, detail: str = ""):
        self.code, self.detail = code, detail


class Queue(QueueStates):
    """The site's queue over SQLite.

    >>> q = Queue("/var/lib/motcua/ticketing.db", site_config, clock=SystemClock())
    >>> q.handle("call-next", Request(id="r1", device="rt-01", desk=1)).response.ticket
    """

    def __init__(self, path: str | Path, site: SiteConfig, clock: Clock | None = None, *,
                 device: str = "ticketing", lease_block: int = 50, recent_finished: int = 20,
                 lease_max: int = 100, lease_held_max: int = 300):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.site = site
        self.tz = ZoneInfo(site.timezone)
        self.clock = clock or SystemClock(site.timezone)
        self.device = device
        self.lease_block = lease_block
        self.lease_max = lease_max  # most numbers one lease gives
        self.lease_held_max = lease_held_max  # most leased, not yet issued numbers a kiosk holds per service
        self.recent_finished = recent_finished
        self._lock = threading.RLock()
        self._db = connect(self.path, rows=True)
        self._db.executescript(_SCHEMA)
        for table, column, alter, fill in _UPGRADES:
            if column not in {r[1] for r in self._db.execute(f"PRAGMA table_info({table})")}:
                self._db.execute(alter)
                if fill:
                    self._db.execute(fill)
        self._db.executescript(_INDEXES)
        with self._tx():
            for d in site.desks:
                self._db.execute("INSERT OR IGNORE INTO desks (desk) VALUES (?)", (d.number,))
            self._db.execute("INSERT OR IGNORE INTO kv (key, value) VALUES ('day', ?)", (self.today(),))
        self._ops: dict[str, Callable[[Request, str, datetime], Outcome]] = {
            "lease": self._lease, "number": self._number, "call-next": self._call_next, "recall": self._recall,
            "no-show": self._no_show, "finish": self._finish, "transfer": self._transfer,
            "sign-in": self._sign_in, "sign-out": self._sign_out,
        }

    # -- plumbing -------------------------------------------------------------------------------

    class _Tx:
        def __init__(self, db: sqlite3.Connection):
            self.db = db

        def __enter__(self) -> sqlite3.Connection:
            self.db.execute("BEGIN IMMEDIATE")
            return self.db

        def __exit__(self, et: Any, ev: Any, tb: Any) -> None:
            self.db.execute("COMMIT" if et is None else "ROLLBACK")

    def _tx(self) -> "Queue._Tx":
        return Queue._Tx(self._db)

    def today(self) -> str:
        """The local day (site time zone, never UTC) that numbers belong to now."""
        return local_day(self.clock.now(), self.tz).isoformat()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- requests -------------------------------------------------------------------------------

    def handle(self, op: str, req: Request) -> Outcome:
        """Answer one request; a request id seen before gets its stored answer, nothing changes."""
        with self._lock:
            row = self._db.execute("SELECT body FROM answers WHERE request_id=?", (req.id,)).fetchone()
            if row is not None:
                return Outcome(Response.model_validate_json(row["body"]), replay=True)
            rolled = self.rollover()
            now = self.clock.now()
            today = local_day(now, self.tz).isoformat()
            with self._tx() as db:
                fn = self._ops.get(op)
                try:
                    if fn is None:
                        raise _Rejected("bad_request", f"unknown op {op!r}")
                    out = fn(req, today, now)
                except _Rejected as rej:
                    out = Outcome(_error(req.id, rej.code, rej.detail))
                except RuleRefused as ref:
                    out = Outcome(Response(request_id=req.id, ok=False, error=ref.code, message_vi=ref.vi,
                                           message_en=ref.en))
                assert out.response is not None
                db.execute("INSERT INTO answers (request_id, op, body, day) VALUES (?,?,?,?)",
                           (req.id, op, out.response.model_dump_json(), today))
            if rolled is not None:
                out = out._replace(desks=out.desks | rolled.desks, services=out.services | rolled.services,
                                   calls=True)
            return out

    def _desk(self, req: Request) -> tuple[int, list[str], sqlite3.Row]:
        if req.desk is None:
            raise _Rejected("bad_request", "the request names no desk")
        cfg = self.site.desk(req.desk)
        if cfg is None:
            raise _Rejected("unknown_desk", f"desk {req.desk}")
        if req.officer:
            self._db.execute("UPDATE desks SET officer=? WHERE desk=?", (req.officer, req.desk))
        row = self._db.execute("SELECT * FROM desks WHERE desk=?", (req.desk,)).fetchone()
        return req.desk, cfg.services, row

    def _current(self, desk_row: sqlite3.Row) -> sqlite3.Row | None:
        if desk_row["ticket_id"] is None:
            return None
        return self._db.execute("SELECT * FROM tickets WHERE id=?", (desk_row["ticket_id"],)).fetchone()

    def _lease(self, req: Request, today: str, now: datetime) -> Outcome:
        svc = self.site.service(req.service or "")
        if svc is None:
            raise _Rejected("unknown_service", f"service {req.service!r}")
        count = min(req.count or self.lease_block, self.lease_max)
        held = self._held(req.device, today, svc.code)
        if held + count > self.lease_held_max:
            raise _Rejected("lease_limit", f"{req.device} holds {held} unissued {svc.code} numbers of {today}")
        lease = self.draw(req, svc, today, count, now)
        return Outcome(Response(request_id=req.id, ok=True, lease=lease, waiting=self._waiting(today, svc.code)),
                       services=frozenset({svc.code}))

    def draw(self, req: Request, svc: Service, today: str, count: int, now: datetime) -> Lease:
        """Take up to `count` numbers of `today` for `svc` from its one counter (``leases.next``) and
        log them for ``req.device`` in ``lease_log``: the one allocation that lease blocks, online
        numbers (numbers.py) and appointment check-ins all go through."""
        row = self._db.execute("SELECT next FROM leases WHERE day=? AND service=?", (today, svc.code)).fetchone()
        start = row["next"] if row else svc.range_start
        limit = min(svc.range_end, svc.range_start + svc.capacity - 1)
        if start > limit:
            raise _Rejected("capacity_reached", f"{svc.code}: all {svc.capacity} numbers of {today} are taken")
        end = min(start + count - 1, limit)
        self._db.execute("INSERT INTO leases (day, service, next) VALUES (?,?,?) "
                         "ON CONFLICT(day, service) DO UPDATE SET next=excluded.next", (today, svc.code, end + 1))
        self._db.execute('INSERT INTO lease_log (request_id, device, day, service, start, "end", at) '
                         "VALUES (?,?,?,?,?,?,?)", (req.id, req.device, today, svc.code, start, end, iso(now)))
        return Lease(service=svc.code, day=today, start=start, end=end, prefix=svc.prefix)

    def _number(self, req: Request, today: str, now: datetime) -> Outcome:
        """One number at the tap, from the counter leases draw their blocks from (never inside a
        block already leased): ticketing/numbers.py."""
        from .numbers import take_number
        return take_number(self, req, today, now)

    def _held(self, device: str, today: str, service: str) -> int:
        """Numbers leased to `device` today for `service` that it has not issued (yet)."""
        leased = self._db.execute('SELECT COALESCE(SUM("end" - start + 1), 0) FROM lease_log '
                                  "WHERE device=? AND day=? AND service=?", (device, today, service)).fetchone()[0]
        issued = self._db.execute("SELECT COUNT(*) FROM tickets WHERE kiosk=? AND day=? AND origin=?",
                                  (device, today, service)).fetchone()[0]
        return max(0, int(leased) - int(issued))

    def lease_time(self, device: str, day: str, service: str, number: int) -> datetime | None:
        """When `device` was leased the block holding `number` (of `service`, `day`); None if never."""
        with self._lock:
            row = self._db.execute('SELECT at FROM lease_log WHERE device=? AND day=? AND service=? AND start<=? '
                                   'AND "end">=? ORDER BY at LIMIT 1', (device, day, service, number, number)).fetchone()
        return datetime.fromisoformat(row[0]) if row else None

    def _call_next(self, req: Request, today: str, now: datetime) -> Outcome:
        desk, services, drow = self._desk(req)
        touched = set()
        cur = self._current(drow)
        if cur is not None and cur["status"] == "serving":
            self._close_ticket(cur, "finished", now)
            touched.add(cur["service"])
        best = None
        for code in services:
            row = self._db.execute(
                "SELECT id, prank, order_key FROM tickets WHERE status='waiting' AND queue_day=? AND service=? "
                "ORDER BY prank, order_key, id LIMIT 1", (today, code)).fetchone()
            if row is not None and (best is None or (row[1], row[2], row[0]) < (best[1], best[2], best[0])):
                best = row
        if best is None:
            self._db.execute("UPDATE desks SET ticket_id=NULL WHERE desk=?", (desk,))
            resp = _error(req.id, "queue_empty")
            return Outcome(resp.model_copy(update={"waiting": 0}), desks=frozenset({desk}),
                           services=frozenset(touched))
        officer = req.officer or drow["officer"]
        ts = now.timestamp()
        self._db.execute(
            "UPDATE tickets SET status='serving', desk=?, officer=?, called_at=?, called_ts=?, "
            "first_called_ts=COALESCE(first_called_ts, ?), calls=calls+1 WHERE id=?",
            (desk, officer, iso(now), ts, ts, best["id"]))
        self._db.execute("UPDATE desks SET ticket_id=? WHERE desk=?", (best["id"], desk))
        t = self._db.execute("SELECT * FROM tickets WHERE id=?", (best["id"],)).fetchone()
        self._db.execute("INSERT INTO calls (day, label, desk, service, at, recall, ticket_id) VALUES (?,?,?,?,?,0,?)",
                         (today, t["label"], desk, t["service"], iso(now), t["id"]))
        wait_s = max(0.0, ts - t["issued_ts"])
        self._event(t, "called", wait_s=round(wait_s, 3))
        touched.add(t["service"])
        return Outcome(Response(request_id=req.id, ok=True, ticket=_info(t, wait_s),
                                waiting=self._waiting(today, t["service"])),
                       desks=frozenset({desk}), services=frozenset(touched), calls=True)

    def _serving(self, req: Request) -> tuple[int, sqlite3.Row]:
        desk, _services, drow = self._desk(req)
        cur = self._current(drow)
        if cur is None or cur["status"] != "serving":
            raise _Rejected("no_ticket", f"desk {desk}")
        return desk, cur

    def _recall(self, req: Request, today: str, now: datetime) -> Outcome:
        desk, t = self._serving(req)
        check_recall(self.site, self._db, t, now)
        self._db.execute("UPDATE tickets SET calls=calls+1 WHERE id=?", (t["id"],))
        self._db.execute("INSERT INTO calls (day, label, desk, service, at, recall, ticket_id) VALUES (?,?,?,?,?,1,?)",
                         (today, t["label"], desk, t["service"], iso(now), t["id"]))
        self._event(t, "recalled")
        return Outcome(Response(request_id=req.id, ok=True, ticket=_info(t, _wait(t))),
                       desks=frozenset({desk}), calls=True)

    def _no_show(self, req: Request, today: str, now: datetime) -> Outcome:
        desk, t = self._serving(req)
        check_no_show(self.site, t)
        self._close_ticket(t, "no_show", now)
        return Outcome(Response(request_id=req.id, ok=True, ticket=_info(t, _wait(t))),
                       desks=frozenset({desk}), services=frozenset({t["service"]}))

    def _sign_in(self, req: Request, today: str, now: datetime) -> Outcome:
        """Officer sign-in as a request (the officer web console); ``officer`` is required."""
        if not req.officer:
            raise _Rejected("bad_request", "sign-in names no officer")
        return self._set_officer(req, req.officer)

    def _sign_out(self, req: Request, today: str, now: datetime) -> Outcome:
        return self._set_officer(req, None)

    def _set_officer(self, req: Request, officer: str | None) -> Outcome:
        if req.desk is None:
            raise _Rejected("bad_request", "the request names no desk")
        cfg = self.site.desk(req.desk)
        if cfg is None:
            raise _Rejected("unknown_desk", f"desk {req.desk}")
        self._db.execute("UPDATE desks SET officer=? WHERE desk=?", (officer, req.desk))
        return Outcome(Response(request_id=req.id, ok=True), desks=frozenset({req.desk}),
                       services=frozenset(cfg.services))

    def _finish(self, req: Request, today: str, now: datetime) -> Outcome:
        desk, t = self._serving(req)
        self._close_ticket(t, "finished", now)
        return Outcome(Response(request_id=req.id, ok=True, ticket=_info(t, _wait(t))),
                       desks=frozenset({desk}), services=frozenset({t["service"]}))

    def _transfer(self, req: Request, today: str, now: datetime) -> Outcome:
        if not req.to_service or self.site.service(req.to_service) is None:
            raise _Rejected("unknown_service", f"to_service {req.to_service!r}")
        desk, t = self._serving(req)
        if req.to_service == t["service"]:
            raise _Rejected("same_service", req.to_service)
        keep = self.site.transfer_keeps_place if req.keep_place is None else req.keep_place
        order_key = t["order_key"] if keep else now.timestamp()
        self._db.execute("UPDATE tickets SET status='waiting', service=?, order_key=?, desk=NULL WHERE id=?",
                         (req.to_service, order_key, t["id"]))
        self._db.execute("UPDATE desks SET ticket_id=NULL WHERE desk=?", (desk,))
        self._event(t, "transferred", wait_s=_wait(t), to_service=req.to_service,
                    service_s=round(max(0.0, now.timestamp() - t["called_ts"]), 3))
        return Outcome(Response(request_id=req.id, ok=True, ticket=_info(t, _wait(t)),
                                waiting=self._waiting(today, req.to_service)),
                       desks=frozenset({desk}), services=frozenset({t["service"], req.to_service}))

    def _close_ticket(self, t: sqlite3.Row, status: str, now: datetime) -> None:
        ts = now.timestamp()
        service_s = round(max(0.0, ts - t["called_ts"]), 3)
        self._db.execute("UPDATE tickets SET status=?, finished_ts=?, service_s=? WHERE id=?",
                         (status, ts, service_s if status == "finished" else None, t["id"]))
        self._db.execute("UPDATE desks SET ticket_id=NULL WHERE ticket_id=?", (t["id"],))
        self._event(t, "finished" if status == "finished" else "no_show", wait_s=_wait(t),
                    service_s=service_s if status == "finished" else None)

    # -- events from devices ----------------------------------------------------------------------

    def add_issued(self, data: TicketData) -> Outcome:
        """A kiosk issued a ticket: queue it once, whatever how often the event arrives."""
        if data.action != "issued":
            return Outcome(None)
        svc = self.site.service(data.service)
        if svc is None:
            log.warning("issued ticket %s names unknown service %r: not queued", data.ticket, data.service)
            return Outcome(None)
        with self._lock:
            now = self.clock.now()
            rolled = self.rollover()
            issued = data.issued_at or now
            today = self.today()
            status = "expired" if data.day < today else "not_printed" if data.print_failed else "waiting"
            with self._tx() as db:
                cur = db.execute(
                    "INSERT OR IGNORE INTO tickets (day, queue_day, origin, number, label, service, priority, prank, "
                    "order_key, issued_at, issued_ts, kiosk, offline, status) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (data.day, data.day, svc.code, data.number, data.ticket, svc.code, data.priority,
                     self.site.priority_rank(data.priority), issued.timestamp(), iso(issued),
                     issued.timestamp(), data.kiosk, int(data.offline), status))
                if cur.rowcount and status in ("expired", "not_printed"):
                    t = db.execute("SELECT * FROM tickets WHERE id=?", (cur.lastrowid,)).fetchone()
                    self._event(t, "cancelled")
                    log.warning("ticket %s (%s) is not callable: %s", data.ticket, data.day,
                                "never printed" if status == "not_printed" else "of a past day")
            svcs = frozenset({svc.code}) if cur.rowcount else frozenset()
            if rolled is not None:
                return Outcome(None, rolled.desks, svcs | rolled.services, True)
            return Outcome(None, services=svcs)

    def sign(self, data: DeskData) -> Outcome:
        """Officer sign-in/out at a desk (a ``desk`` event from the terminal)."""
        if self.site.desk(data.desk) is None:
            log.warning("desk event for unknown desk %d ignored", data.desk)
            return Outcome(None)
        officer = data.officer if data.action == "sign_in" else None
        with self._lock, self._tx() as db:
            db.execute("UPDATE desks SET officer=? WHERE desk=?", (officer, data.desk))
        return Outcome(None, desks=frozenset({data.desk}),
                       services=frozenset(self.site.desk(data.desk).services))  # type: ignore[union-attr]

    # -- the day --------------------------------------------------------------------------------

    def rollover(self) -> Outcome | None:
        """At the first step of a new local day: tickets of earlier queue days still waiting or
        serving are settled per the closing policy (closing.py: kept, else ``expired``), desks are
        cleared, old answers pruned. None if same day."""
        from .closing import settle_earlier_days
        with self._lock:
            today = self.today()
            row = self._db.execute("SELECT value FROM kv WHERE key='day'").fetchone()
            if row is not None and row["value"] >= today:
                return None
            with self._tx() as db:
                settled = settle_earlier_days(self, db, today)
                desks = [r[0] for r in db.execute("SELECT desk FROM desks WHERE ticket_id IS NOT NULL")]
                db.execute("UPDATE desks SET ticket_id=NULL")
                db.execute("DELETE FROM answers WHERE day < date(?, ?)", (today, f"-{ANSWERS_KEPT_DAYS} days"))
                db.execute("INSERT INTO kv (key, value) VALUES ('day', ?) "
                           "ON CONFLICT(key) DO UPDATE SET value=excluded.value", (today,))
            if row is not None:
                log.info("new local day %s: %d ticket(s) of earlier days settled", today, settled)
            return Outcome(None, frozenset(desks), frozenset(s.code for s in self.site.services), True)

    def close_day(self) -> Outcome:
        """The day's last closing (closing.py): ``expire`` or ``keep`` the tickets left."""
        from .closing import close_day
        return close_day(self)

    # -- events for the collector -------------------------------------------------------------------

    def _event(self, t: sqlite3.Row, action: str, **extra: Any) -> None:
        if t["queue_day"] != t["day"]:
            extra.setdefault("queue_day", t["queue_day"])
        data = TicketData(action=action, ticket=t["label"], number=t["number"], day=t["day"],  # type: ignore[arg-type]
                          service=t["service"], priority=t["priority"], desk=t["desk"], officer=t["officer"],
                          kiosk=t["kiosk"], issued_at=datetime.fromisoformat(t["issued_at"]),
                          offline=bool(t["offline"]), **extra)
        self._db.execute("INSERT INTO events (data) VALUES (?)", (data.model_dump_json(),))

    def pending_events(self, limit: int = 500) -> list[tuple[int, TicketData]]:
        with self._lock:
            rows = self._db.execute("SELECT id, data FROM events ORDER BY id LIMIT ?", (limit,)).fetchall()
        return [(r[0], TicketData.model_validate_json(r[1])) for r in rows]

    def drop_events(self, ids: list[int]) -> None:
        if not ids:
            return
        with self._lock, self._tx() as db:
            db.executemany("DELETE FROM events WHERE id=?", [(i,) for i in ids])

    # the retained state (desk_state, service_state, calls_state) comes from QueueStates


def _error(request_id: str, code: str, detail: str = "") -> Response:
    vi, en = MESSAGES.get(code, (code, code))
    if detail and code in ("bad_request", "unknown_service", "unknown_desk"):
        vi, en = f"{vi}: {detail}", f"{en}: {detail}"
    return Response(request_id=request_id, ok=False, error=code, message_vi=vi, message_en=en)


def _wait(t: sqlite3.Row) -> float | None:
    if t["first_called_ts"] is None:
        return None
    return round(max(0.0, t["first_called_ts"] - t["issued_ts"]), 3)


def _info(t: sqlite3.Row, wait_s: float | None) -> TicketInfo:
    return TicketInfo(ticket=t["label"], number=t["number"], day=t["day"], service=t["service"],
                      priority=t["priority"], issued_at=datetime.fromisoformat(t["issued_at"]),
                      called_at=datetime.fromisoformat(t["called_at"]) if t["called_at"] else None,
                      wait_s=None if wait_s is None else round(wait_s, 3))

