"""Appointments (lịch hẹn): bookable slots per service and day, book, cancel, check in.

Slots come from the site config: each opening span of a day (``hours``; breaks are the gaps
between spans, ``closed_days`` have none) is cut into ``appointment_slot_min`` slots, each taking
``appointment_capacity`` bookings per service (0, the default: no appointments). A site without
``hours`` has no bookable slots.

A booking gets a 6-digit code, unique per day: the kiosk's number pad types it and it reads out
well over the phone ("một hai ba, bốn năm sáu"). Checking in (from a kiosk, a desk terminal or the
officer console) is accepted from ``appointment_early_min`` before the slot's start to
``appointment_late_min`` after it; outside, a bilingual refusal says what to do. A check-in takes
the next number of the service from the same counter as every other number (numbers.py): at a
kiosk the kiosk prints it and reports it ``issued`` like any ticket (priority ``appointment``); at a
desk ticketing queues it itself. A booking not checked in by the slot's end + the late window is
marked ``missed`` (an ``appointment`` event), from the server's tick.

Requests (``book``, ``cancel``, ``slots`` from the portal; ``check-in`` from kiosks and desks) run
inside :meth:`ticketing.queue.Queue.handle`: one transaction with the idempotent answer.
"""
from __future__ import annotations

import logging
import secrets
import sqlite3
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Callable

from common.clock import iso
from mqtt.schemas import AppointmentData, AppointmentInfo, Request, Response, SlotInfo, TicketInfo

from .desk_rules import RuleRefused
from .hours import _spans

if TYPE_CHECKING:
    from .queue import Outcome, Queue

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS appointments (
    day TEXT NOT NULL, code TEXT NOT NULL, service TEXT NOT NULL, start TEXT NOT NULL, "end" TEXT NOT NULL,
    status TEXT NOT NULL,             -- booked | cancelled | checked_in | missed
    source TEXT, booked_at TEXT NOT NULL, ticket TEXT,
    PRIMARY KEY (day, code)
);
CREATE INDEX IF NOT EXISTS appointments_slot ON appointments (day, service, start) WHERE status <> 'cancelled';
CREATE TABLE IF NOT EXISTS appointment_events (id INTEGER PRIMARY KEY, data TEXT NOT NULL);
"""

CODE_DIGITS = 6

MESSAGES: dict[str, tuple[str, str]] = {
    "no_appointments": ("Dịch vụ {s} không nhận đặt lịch hẹn", "Service {s} takes no appointments"),
    "no_slot": ("Không có khung giờ {t} ngày {d} cho dịch vụ {s}", "There is no {t} slot on {d} for service {s}"),
    "slot_full": ("Khung giờ {t} ngày {d} đã hết chỗ, vui lòng chọn giờ khác",
                  "The {t} slot on {d} is fully booked; please choose another time"),
    "slot_past": ("Khung giờ {t} ngày {d} đã qua", "The {t} slot on {d} has passed"),
    "unknown_appointment": ("Không tìm thấy lịch hẹn mã {c} hôm nay", "No appointment with code {c} today"),
    "appointment_cancelled": ("Lịch hẹn {c} đã bị hủy", "Appointment {c} was cancelled"),
    "appointment_used": ("Lịch hẹn {c} đã được dùng để lấy số", "Appointment {c} was already checked in"),
    "appointment_missed": ("Lịch hẹn {c} đã quá hạn", "Appointment {c} was missed"),
    "too_early": ("Chưa đến giờ hẹn {t}: mời quay lại từ {a}", "Too early for your {t} appointment: "
                  "please check in from {a}"),
    "too_late": ("Đã quá giờ hẹn {t} hơn {n} phút: vui lòng lấy số thường",
                 "More than {n} min late for your {t} appointment: please take a regular number"),
}


def refuse(code: str, **kw: object) -> RuleRefused:
    vi, en = MESSAGES[code]
    return RuleRefused(code, vi.format(**kw), en.format(**kw))


class Appointments:
    """Bookings in the queue's database (same lock, same transactions)."""

    def __init__(self, queue: "Queue"):
        self.queue = queue
        self.site = queue.site
        with queue._lock:
            queue._db.executescript(SCHEMA)

    def ops(self) -> dict[str, Callable[[Request, str, datetime], "Outcome"]]:
        return {"book": self._book, "cancel": self._cancel, "check-in": self._check_in, "slots": self._slots}

    # -- slots ------------------------------------------------------------------------------------

    def takes_bookings(self, service: str) -> bool:
        listed = self.site.appointment_services
        return (self.site.appointment_capacity > 0 and self.site.service(service) is not None
                and (listed is None or service in listed))

    def slot_times(self, day: date) -> list[tuple[datetime, datetime]]:
        step = timedelta(minutes=self.site.appointment_slot_min)
        out = []
        for a, b in _spans(self.site, day, self.queue.tz):
            t = a
            while t + step <= b:
                out.append((t, t + step))
                t += step
        return out

    def slots(self, service: str, day: date, now: datetime) -> list[SlotInfo]:
        """Bookable slots of ``service`` on ``day`` that have not started yet, with places left."""
        if not self.takes_bookings(service):
            return []
        cap = self.site.appointment_capacity
        taken = dict(self.queue._db.execute(
            "SELECT start, COUNT(*) FROM appointments WHERE day=? AND service=? AND status<>'cancelled' "
            "GROUP BY start", (day.isoformat(), service)).fetchall())
        return [SlotInfo(start=f"{a:%H:%M}", end=f"{b:%H:%M}", capacity=cap, free=max(0, cap - taken.get(f"{a:%H:%M}", 0)))
                for a, b in self.slot_times(day) if a > now]

    # -- requests -----------------------------------------------------------------------------------

    def _day(self, req: Request, today: str) -> date:
        d = date.fromisoformat(req.day or today)
        last = date.fromisoformat(today) + timedelta(days=self.site.appointment_days_ahead)
        if not date.fromisoformat(today) <= d <= last:
            from .queue import _Rejected
            raise _Rejected("bad_request", f"day {d} is outside today .. {last}")
        return d

    def _slots(self, req: Request, today: str, now: datetime) -> "Outcome":
        from .queue import Outcome
        svc = req.service or ""
        if not self.takes_bookings(svc):
            raise refuse("no_appointments", s=svc)
        return Outcome(Response(request_id=req.id, ok=True, slots=self.slots(svc, self._day(req, today), now)))

    def _book(self, req: Request, today: str, now: datetime) -> "Outcome":
        from .queue import Outcome
        svc = req.service or ""
        if not self.takes_bookings(svc):
            raise refuse("no_appointments", s=svc)
        day = self._day(req, today)
        slot = next(((a, b) for a, b in self.slot_times(day) if f"{a:%H:%M}" == req.slot), None)
        kw = {"t": req.slot, "d": day.strftime("%d/%m/%Y"), "s": svc}
        if slot is None:
            raise refuse("no_slot", **kw)
        if slot[0] <= now:
            raise refuse("slot_past", **kw)
        db = self.queue._db
        n = db.execute("SELECT COUNT(*) FROM appointments WHERE day=? AND service=? AND start=? AND status<>'cancelled'",
                       (day.isoformat(), svc, req.slot)).fetchone()[0]
        if n >= self.site.appointment_capacity:
            raise refuse("slot_full", **kw)
        code = self._new_code(db, day.isoformat())
        db.execute('INSERT INTO appointments (day, code, service, start, "end", status, source, booked_at) '
                   "VALUES (?,?,?,?,?,'booked',?,?)",
                   (day.isoformat(), code, svc, req.slot, f"{slot[1]:%H:%M}", req.source or req.device, iso(now)))
        row = self._row(day.isoformat(), code)
        assert row is not None
        self._event(row, "booked")
        log.info("appointment %s booked: %s %s %s (%s)", code, svc, day, req.slot, req.source or req.device)
        return Outcome(Response(request_id=req.id, ok=True, appointment=_info(row)))

    def _new_code(self, db: sqlite3.Connection, day: str) -> str:
        while True:
            code = f"{secrets.randbelow(10 ** CODE_DIGITS):0{CODE_DIGITS}d}"
            if code[0] != "0" and db.execute("SELECT 1 FROM appointments WHERE day=? AND code=?",
                                             (day, code)).fetchone() is None:
                return code

    def _find(self, req: Request, today: str) -> sqlite3.Row:
        code = (req.appointment or "").strip()
        day = req.day or today
        row = self._row(day, code)
        if row is None:
            raise refuse("unknown_appointment", c=code)
        return row

    def _row(self, day: str, code: str) -> sqlite3.Row | None:
        return self.queue._db.execute("SELECT * FROM appointments WHERE day=? AND code=?", (day, code)).fetchone()  # type: ignore[no-any-return,unused-ignore]

    def _cancel(self, req: Request, today: str, now: datetime) -> "Outcome":
        from .queue import Outcome
        row = self._find(req, today)
        self._usable(row)
        self.queue._db.execute("UPDATE appointments SET status='cancelled' WHERE day=? AND code=?",
                               (row["day"], row["code"]))
        new = self._row(row["day"], row["code"])
        assert new is not None
        self._event(new, "cancelled")
        return Outcome(Response(request_id=req.id, ok=True, appointment=_info(new)))

    def _usable(self, row: sqlite3.Row) -> None:
        status, c = row["status"], row["code"]
        if status == "cancelled":
            raise refuse("appointment_cancelled", c=c)
        if status == "checked_in":
            raise refuse("appointment_used", c=c)
        if status == "missed":
            raise refuse("appointment_missed", c=c)

    def _check_in(self, req: Request, today: str, now: datetime) -> "Outcome":
        from .numbers import take_number
        row = self._find(req.model_copy(update={"day": today}), today)
        self._usable(row)
        start = datetime.combine(date.fromisoformat(row["day"]), time.fromisoformat(row["start"]), tzinfo=self.queue.tz)
        early = start - timedelta(minutes=self.site.appointment_early_min)
        late = start + timedelta(minutes=self.site.appointment_late_min)
        if now < early:
            raise refuse("too_early", t=row["start"], a=f"{early:%H:%M}")
        if now > late:
            raise refuse("too_late", t=row["start"], n=self.site.appointment_late_min)
        out = take_number(self.queue, req.model_copy(update={"service": row["service"]}), today, now)
        assert out.response is not None and out.response.lease is not None
        lease = out.response.lease
        label = f"{lease.prefix}{lease.start}"
        self.queue._db.execute("UPDATE appointments SET status='checked_in', ticket=? WHERE day=? AND code=?",
                               (label, row["day"], row["code"]))
        new = self._row(row["day"], row["code"])
        assert new is not None
        self._event(new, "checked_in")
        resp = out.response.model_copy(update={"appointment": _info(new)})
        if req.desk is None:  # a kiosk: it prints the number and reports it issued (priority appointment)
            return out._replace(response=resp)
        return self._queue_at_desk(new, resp, lease.start, label, today, now)

    def _queue_at_desk(self, row: sqlite3.Row, resp: Response, number: int, label: str, today: str,
                       now: datetime) -> "Outcome":
        """Checked in at a desk: no print, ticketing queues the priority ticket itself."""
        from .queue import Outcome
        db, svc = self.queue._db, row["service"]
        cur = db.execute("INSERT INTO tickets (day, queue_day, origin, number, label, service, priority, prank, "
                         "order_key, issued_at, issued_ts, kiosk, offline, status) "
                         "VALUES (?,?,?,?,?,?,?,?,?,?,?,NULL,0,'waiting')",
                         (today, today, svc, number, label, svc, "appointment", self.site.priority_rank("appointment"),
                          now.timestamp(), iso(now), now.timestamp()))
        t = db.execute("SELECT * FROM tickets WHERE id=?", (cur.lastrowid,)).fetchone()
        self.queue._event(t, "issued", appointment=row["code"])
        info = TicketInfo(ticket=label, number=number, day=today, service=svc, priority="appointment", issued_at=now)
        return Outcome(resp.model_copy(update={"ticket": info, "waiting": self.queue._waiting(today, svc)}),
                       services=frozenset({svc}))

    # -- missed ----------------------------------------------------------------------------------------

    def sweep(self, now: datetime) -> int:
        """Mark bookings missed whose slot ended more than the late window ago; an event each."""
        grace = timedelta(minutes=self.site.appointment_late_min)
        q = self.queue
        with q._lock, q._tx() as db:
            rows = db.execute("SELECT * FROM appointments WHERE status='booked' AND day<=?",
                              (now.astimezone(q.tz).date().isoformat(),)).fetchall()
            missed = [r for r in rows if datetime.combine(date.fromisoformat(r["day"]), time.fromisoformat(r["end"]),
                                                          tzinfo=q.tz) + grace <= now]
            for r in missed:
                db.execute("UPDATE appointments SET status='missed' WHERE day=? AND code=?", (r["day"], r["code"]))
                row = self._row(r["day"], r["code"])
                assert row is not None
                self._event(row, "missed")
                log.info("appointment %s (%s %s %s) missed", r["code"], r["service"], r["day"], r["start"])
        return len(missed)

    def _event(self, row: sqlite3.Row, action: str) -> None:
        data = AppointmentData(action=action, code=row["code"], day=row["day"], service=row["service"],  # type: ignore[arg-type]
                               start=row["start"], end=row["end"], source=row["source"], ticket=row["ticket"])
        self.queue._db.execute("INSERT INTO appointment_events (data) VALUES (?)", (data.model_dump_json(),))

    def pending_events(self, limit: int = 500) -> list[tuple[int, AppointmentData]]:
        with self.queue._lock:
            rows = self.queue._db.execute("SELECT id, data FROM appointment_events ORDER BY id LIMIT ?",
                                          (limit,)).fetchall()
        return [(r[0], AppointmentData.model_validate_json(r[1])) for r in rows]

    def drop_events(self, ids: list[int]) -> None:
        with self.queue._lock, self.queue._tx() as db:
            db.executemany("DELETE FROM appointment_events WHERE id=?", [(i,) for i in ids])


def _info(row: sqlite3.Row) -> AppointmentInfo:
    return AppointmentInfo(code=row["code"], day=row["day"], service=row["service"], start=row["start"],
                           end=row["end"], status=row["status"], ticket=row["ticket"])
