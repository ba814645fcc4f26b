"""Issuing numbers: while ticketing answers, each number is taken from ticketing at the tap
(request ``number``: numbers run in tap order across kiosks). ``Issuer`` also holds number
blocks leased from ticketing, persists them with the next number (so a reboot never issues a
number twice), tops them up in the background and issues from them only while ticketing is
unreachable (those tickets are ``offline`` and say so; the kiosk's retained ``numbering`` state
tells the hall display to explain out-of-order numbers).

A number counts when it is printed: :meth:`Issuer.issue` takes and persists the number,
:meth:`Issuer.report_print` enqueues its ``ticket`` action=issued event once the print's outcome
is known, with ``print_failed`` when it never reached paper (ticketing then does not queue it).
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Iterable, Protocol

from common.clock import Clock, SystemClock, iso, local_day
from mqtt.client import DeviceClient
from mqtt.errors import NotConnected, RequestTimeout
from mqtt.outbox import Outbox
from mqtt.schemas import Lease, Request, Response, TicketData, uuid7

from .errors import LeaseRefused, NoNumbers
from .faults import Faults
from .store import KioskStore

log = logging.getLogger(__name__)

REFUSED_RETRY_S = 60.0
ONLINE_RETRY_S = 5.0  # after an online number failed, issue from leases this long before trying again
LEASE_EXHAUSTED = "lease_exhausted"


def lease_exhausted_code(service: str) -> str:
    """The fault code for one service (the collector tracks open faults per device and code)."""
    return f"{LEASE_EXHAUSTED}_{service.lower()}"


class LeaseSource(Protocol):
    """Where leases come from: ticketing over MQTT, or a test's fake with the same shape."""

    @property
    def online(self) -> bool: ...

    def lease(self, service: str, count: int, request_id: str) -> Lease:
        """A block of numbers; raises NotConnected/RequestTimeout (try later) or LeaseRefused."""

    def number(self, service: str, request_id: str) -> Lease:
        """One number at the tap (a block of one); raises like :meth:`lease`."""


class ClientLeaseSource:
    """Leases from ticketing: ``request("lease", Request(id, device, service, count))``."""

    def __init__(self, client: DeviceClient, timeout_s: float = 2.0, number_timeout_s: float = 0.3):
        self.client = client
        self.timeout_s = timeout_s
        self.number_timeout_s = number_timeout_s  # a citizen is waiting at the screen: fall back fast

    @property
    def online(self) -> bool:
        return self.client.connected

    def lease(self, service: str, count: int, request_id: str) -> Lease:
        resp = self.client.request("lease", Request(id=request_id, device=self.client.device, service=service,
                                                    count=count, ts=self.client.clock.now()), self.timeout_s)
        if not resp.ok or resp.lease is None:
            raise LeaseRefused(service, resp.error, resp.message_en)
        return resp.lease

    def check_in(self, code: str, service: str | None, request_id: str) -> Response:
        """Ask ticketing to check appointment ``code`` in (ticketing/appointments.py; ``service``
        is the one on screen, ticketing uses the booking's): the priority number as a one-number
        lease, or a bilingual refusal."""
        return self.client.request("check-in", Request(id=request_id, device=self.client.device, appointment=code,
                                                       service=service, ts=self.client.clock.now()),
                                   self.timeout_s, expiry_s=2)

    def number(self, service: str, request_id: str) -> Lease:
        resp = self.client.request("number", Request(id=request_id, device=self.client.device, service=service,
                                                     ts=self.client.clock.now()), self.number_timeout_s,
                                   expiry_s=1)  # queued while ticketing is down: dropped, not served later
        if not resp.ok or resp.lease is None:
            raise LeaseRefused(service, resp.error, resp.message_en)
        return resp.lease


@dataclass(frozen=True)
class IssuedTicket:
    ticket: str
    number: int
    day: str
    service: str
    priority: str | None
    appointment: str | None
    issued_at: datetime
    people_ahead: int
    est_wait_s: float | None
    offline: bool
    event_id: str | None = None


class Issuer:
    """Issues ticket numbers for services from persisted leases.

    >>> issuer = Issuer(store, outbox, ClientLeaseSource(client), device="kiosk-1")
    >>> t = issuer.issue("HT", priority="elderly", people_ahead=4)
    """

    def __init__(self, store: KioskStore, outbox: Outbox, source: LeaseSource, device: str, *,
                 clock: Clock | None = None, lease_size: int = 50, lease_low: int = 10,
                 on_change: Callable[[], None] | None = None, faults: Faults | None = None,
                 service_names: Callable[[str], tuple[str, str] | None] | None = None,
                 online_numbers: bool = True, online_retry_s: float = ONLINE_RETRY_S,
                 on_offline: Callable[[bool], None] | None = None):
        self.store = store
        self.outbox = outbox
        self.source = source
        self.device = device
        self.clock = clock or SystemClock()
        self.lease_size = lease_size
        self.lease_low = lease_low
        self.on_change = on_change
        self.faults = faults
        self.service_names = service_names  # code -> (name_vi, name_en) for fault messages
        self.services: list[str] = []
        self._refused: dict[tuple[str, str], tuple[str, float]] = {}  # (service, day) -> (error, at)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lease_lock = threading.Lock()
        self.online_numbers = online_numbers  # take each number from ticketing at the tap
        self.online_retry_s = online_retry_s
        self._online_after = 0.0  # monotonic: no online attempt before (after a failure)
        self.issuing_offline = False
        self.on_offline = on_offline
        self.resend_unsent()

    # -- queries -------------------------------------------------------------------------------

    def today(self) -> str:
        return local_day(self.clock.now(), self.clock.tz).isoformat()

    def remaining(self, service: str, day: str | None = None) -> int:
        rows = self.store.query('SELECT COALESCE(SUM("end" - next + 1), 0) FROM lease '
                                'WHERE service=? AND day=? AND next <= "end"', (service, day or self.today()))
        return int(rows[0][0])

    def refused(self, service: str) -> str | None:
        """Ticketing's error code if it refused a lease for this service today (e.g. finished)."""
        got = self._refused.get((service, self.today()))
        return got[0] if got else None

    def tickets(self, day: str | None = None) -> list[tuple[str, int, str]]:
        return [(r[0], r[1], r[2]) for r in self.store.query(
            "SELECT ticket, number, service FROM ticket WHERE day=? ORDER BY rowid", (day or self.today(),))]

    def unprinted(self) -> list[str]:
        return [r[0] for r in self.store.query("SELECT ticket FROM ticket WHERE day=? AND printed<>1 ORDER BY rowid",
                                               (self.today(),))]

    # -- issuing ---------------------------------------------------------------------------------

    def issue(self, service: str, *, priority: str | None = None, appointment: str | None = None,
              people_ahead: int = 0, est_wait_s: float | None = None) -> IssuedTicket:
        """Take the service's next number, persist it (the citizen's ticket is on disk before the
        print) and return it. Online (ticketing answers within a short timeout) the number comes
        from ticketing at the tap, so numbers run in tap order across kiosks; otherwise from this
        kiosk's leases, marked ``offline``. Raises NoNumbers when neither can give one."""
        now = self.clock.now()
        day = local_day(now, self.clock.tz).isoformat()
        got = self._online_number(service, day)
        if got is not None:
            self._set_offline(False)
            ticket = IssuedTicket(f"{got.prefix}{got.start}", got.start, day, service, priority, appointment, now,
                                  people_ahead, est_wait_s, False)
            with self.store.tx() as db:
                self._insert(db, ticket)
            log.info("issued %s (%s, priority=%s, online)", ticket.ticket, service, priority)
            return ticket
        return self._issue_from_lease(service, day, now, priority, appointment, people_ahead, est_wait_s)

    def check_in(self, code: str, service: str | None = None, *, people_ahead: int = 0,
                 est_wait_s: float | None = None) -> IssuedTicket | Response:
        """Check appointment ``code`` in at ticketing: the priority ticket (persisted, to print and
        report through :meth:`report_print` like any other), or ticketing's refusal. Raises
        NoNumbers when ticketing cannot be reached (a code can only be checked online)."""
        ask = getattr(self.source, "check_in", None)
        if ask is None or not self.source.online:
            raise NoNumbers("", "offline", "appointments are checked in only while ticketing is reachable")
        request_id = uuid7()
        try:
            resp = ask(code, service, request_id)
        except (NotConnected, RequestTimeout):
            try:
                resp = ask(code, service, request_id)  # the same id: a lost answer never takes two numbers
            except (NotConnected, RequestTimeout) as exc:
                raise NoNumbers("", "offline", f"check-in not answered: {exc}") from None
        assert isinstance(resp, Response)
        if not resp.ok or resp.lease is None:
            return resp
        got, now = resp.lease, self.clock.now()
        ticket = IssuedTicket(f"{got.prefix}{got.start}", got.start, got.day, got.service, "appointment", code, now,
                              people_ahead, est_wait_s, False)
        with self.store.tx() as db:
            self._insert(db, ticket)
        log.info("checked in appointment %s: %s (%s)", code, ticket.ticket, got.service)
        return ticket

    def _online_number(self, service: str, day: str) -> Lease | None:
        """One number from ticketing, or None (unreachable, slow, or refused for a reason a lease
        may not share). The same request id is retried once, so a lost answer never takes two
        numbers. After a failure the kiosk stays on leases for ``online_retry_s``."""
        take = getattr(self.source, "number", None)
        if not self._numbers_online() or take is None or not self.source.online:
            return None
        if self.clock.monotonic() < self._online_after:
            return None
        request_id = uuid7()
        for attempt in (1, 2):
            try:
                got: Lease = take(service, request_id)
            except LeaseRefused as exc:
                if exc.error == "capacity_reached":
                    self._refused[(service, day)] = (exc.error, self.clock.monotonic())
                    raise NoNumbers(service, "finished", f"ticketing refused more numbers ({exc.error})") from None
                log.warning("online number refused, using a lease: %s", exc)
                break
            except (NotConnected, RequestTimeout) as exc:
                log.info("online number for %s not obtained (attempt %d): %s", service, attempt, exc)
                continue
            if got.service != service or got.day != day or got.start != got.end:
                log.error("online number answer %s does not match the request %s/%s; ignored", got, service, day)
                break
            return got
        self._online_after = self.clock.monotonic() + self.online_retry_s
        return None

    def _numbers_online(self) -> bool:
        """Numbers normally come from ticketing at the tap (so one from a lease is out of order)."""
        return self.online_numbers and getattr(self.source, "number", None) is not None

    def _insert(self, db: Any, t: IssuedTicket) -> None:
        db.execute("INSERT INTO ticket(day, number, ticket, service, priority, appointment, issued_at, "
                   "people_ahead, est_wait_s, offline) VALUES (?,?,?,?,?,?,?,?,?,?)",
                   (t.day, t.number, t.ticket, t.service, t.priority, t.appointment, iso(t.issued_at),
                    t.people_ahead, t.est_wait_s, int(t.offline)))

    def _set_offline(self, offline: bool) -> None:
        """Tell the listener (the kiosk publishes a retained flag the hall display shows) when
        this kiosk starts or stops issuing from leases."""
        if offline == self.issuing_offline:
            return
        self.issuing_offline = offline
        if self.on_offline:
            try:
                self.on_offline(offline)
            except Exception:  # noqa: BLE001 - a listener must not break issuing
                log.exception("offline listener failed")

    def _issue_from_lease(self, service: str, day: str, now: datetime, priority: str | None,
                          appointment: str | None, people_ahead: int, est_wait_s: float | None) -> IssuedTicket:
        if self.remaining(service, day) == 0:
            self.top_up(service, wait=True)
        try:
            with self.store.tx() as db:
                row = db.execute('SELECT id, prefix, next FROM lease WHERE service=? AND day=? AND next <= "end" '
                                 'ORDER BY start LIMIT 1', (service, day)).fetchone()
                if row is None:
                    refused = self._refused.get((service, day))
                    if refused:
                        raise NoNumbers(service, "finished", f"ticketing refused more numbers ({refused[0]})")
                    raise NoNumbers(service, "offline", "no lease on hand and ticketing is unreachable")
                lease_id, prefix, number = row
                offline = not self.source.online or self._numbers_online()
                ticket = IssuedTicket(f"{prefix}{number}", number, day, service, priority, appointment, now,
                                      people_ahead, est_wait_s, offline)
                db.execute("UPDATE lease SET next = next + 1 WHERE id=?", (lease_id,))
                self._insert(db, ticket)
        except NoNumbers as exc:
            if exc.reason == "offline":
                self._lease_fault(service, active=True)
            raise
        if self._numbers_online():
            self._set_offline(True)
        if self.remaining(service, day) < self.lease_low:
            self._wake.set()
        log.info("issued %s (%s, priority=%s, from a lease)", ticket.ticket, service, priority)
        return ticket

    def _enqueue(self, t: IssuedTicket, print_failed: bool) -> str:
        data = TicketData(action="issued", ticket=t.ticket, number=t.number, day=t.day, service=t.service,
                          priority=t.priority, appointment=t.appointment, kiosk=self.device,  # type: ignore[arg-type]
                          issued_at=t.issued_at, people_ahead=t.people_ahead, offline=t.offline,
                          print_failed=print_failed)
        with self.store.lock:
            ev = self.outbox.enqueue("ticket", data)
            self.store.conn.execute("UPDATE ticket SET event_id=? WHERE day=? AND number=?", (ev.id, t.day, t.number))
        return ev.id

    def report_print(self, ticket: IssuedTicket, printed: bool) -> str | None:
        """The print's outcome is final: enqueue the number's ``issued`` event (once), marked
        ``print_failed`` when it never reached paper. Returns the event id (None if already sent)."""
        with self.store.lock:
            row = self.store.conn.execute("SELECT event_id FROM ticket WHERE day=? AND number=?",
                                          (ticket.day, ticket.number)).fetchone()
            if row is None or row[0] is not None:
                return None
            self.store.conn.execute("UPDATE ticket SET printed=? WHERE day=? AND number=?",
                                    (1 if printed else -1, ticket.day, ticket.number))
            return self._enqueue(ticket, print_failed=not printed)

    def resend_unsent(self) -> int:
        """Enqueue events of tickets persisted before a crash but whose outcome was never sent.
        A print known to have failed is sent as failed; an unknown one as printed (the citizen may
        hold it: a ghost a desk calls once costs less than a citizen nobody calls)."""
        rows = self.store.query("SELECT ticket, number, day, service, priority, appointment, issued_at, "
                                "people_ahead, est_wait_s, offline, printed FROM ticket WHERE event_id IS NULL")
        for r in rows:
            self._enqueue(IssuedTicket(r[0], r[1], r[2], r[3], r[4], r[5], datetime.fromisoformat(r[6]),
                                       r[7] or 0, r[8], bool(r[9])), print_failed=r[10] == -1)
        return len(rows)

    def mark_failed(self, ticket: IssuedTicket) -> None:
        """Remember a failed print (so a crash before :meth:`report_print` still reports it)."""
        with self.store.lock:
            self.store.conn.execute("UPDATE ticket SET printed=-1 WHERE day=? AND number=? AND event_id IS NULL",
                                    (ticket.day, ticket.number))

    # -- leases ----------------------------------------------------------------------------------

    def add_lease(self, lease: Lease) -> bool:
        """Store a lease (ignoring one already held); True when it was new."""
        with self.store.tx() as db:
            cur = db.execute('INSERT OR IGNORE INTO lease(service, day, start, "end", prefix, next) '
                             'VALUES (?,?,?,?,?,?)', (lease.service, lease.day, lease.start, lease.end,
                                                      lease.prefix, lease.start))
            db.execute("DELETE FROM pending_lease WHERE service=? AND day=?", (lease.service, lease.day))
            return cur.rowcount > 0

    def top_up(self, service: str, wait: bool = False) -> bool:
        """Ask ticketing for one more lease for ``service``; True when one arrived. The request id
        is persisted first, so a retry (even after a reboot) is the same request."""
        day = self.today()
        refused = self._refused.get((service, day))
        if refused and self.clock.monotonic() - refused[1] < REFUSED_RETRY_S:
            return False
        if not self.source.online:
            return False
        if not self._lease_lock.acquire(timeout=5.0 if wait else 0):
            return False
        try:
            with self.store.tx() as db:
                row = db.execute("SELECT request_id FROM pending_lease WHERE service=? AND day=?",
                                 (service, day)).fetchone()
                request_id = row[0] if row else uuid7()
                if not row:
                    db.execute("INSERT INTO pending_lease(service, day, request_id) VALUES (?,?,?)",
                               (service, day, request_id))
            try:
                lease = self.source.lease(service, self.lease_size, request_id)
            except LeaseRefused as exc:
                log.warning("%s", exc)
                self._refused[(service, day)] = (exc.error, self.clock.monotonic())
                with self.store.lock:
                    self.store.conn.execute("DELETE FROM pending_lease WHERE service=? AND day=?", (service, day))
                self._lease_fault(service, active=False)  # ticketing answered: "finished" now, not offline
                self._changed()
                return False
            except (NotConnected, RequestTimeout) as exc:
                log.info("lease for %s not obtained now: %s", service, exc)
                return False
            if lease.service != service or lease.day != day:
                log.error("lease answer %s/%s does not match the request %s/%s; ignored",
                          lease.service, lease.day, service, day)
                return False
            self._refused.pop((service, day), None)
            new = self.add_lease(lease)
            log.info("lease %s %s %d..%d (%s)", service, day, lease.start, lease.end, "new" if new else "repeat")
            self._lease_fault(service, active=False)
            self._changed()
            return True
        finally:
            self._lease_lock.release()

    def top_up_all(self, services: Iterable[str] | None = None) -> None:
        for service in list(services if services is not None else self.services):
            if self._stop.is_set():
                return
            if self.remaining(service) < self.lease_low:
                self.top_up(service)

    def _lease_fault(self, service: str, active: bool) -> None:
        """Raise (once) or clear the service's ``lease_exhausted_<service>`` fault: citizens are
        being turned away because the kiosk is offline with no numbers left for the service."""
        if self.faults is None:
            return
        code = lease_exhausted_code(service)
        try:
            if not active:
                self.faults.clear(code)
                return
            if code in self.faults.active:
                return
            names = self.service_names(service) if self.service_names else None
            name_vi, name_en = names or (service, service)
            self.faults.raise_(code, f"Hết số dự phòng khi mất kết nối: không cấp được số cho dịch vụ {name_vi}",
                               f"Out of numbers while offline: cannot issue for {name_en}", f"service={service}")
        except Exception:  # noqa: BLE001 - reporting must never break issuing or leasing
            log.exception("could not report the %s fault", code)

    def _changed(self) -> None:
        if self.on_change:
            try:
                self.on_change()
            except Exception:  # noqa: BLE001 - a listener must not break leasing
                log.exception("issuer change listener failed")

    # -- background top-up -----------------------------------------------------------------------

    def kick(self) -> None:
        self._wake.set()

    def start(self, interval_s: float = 30.0) -> None:
        def loop() -> None:
            while not self._stop.is_set():
                try:
                    self.top_up_all()
                except Exception:  # noqa: BLE001 - keep the top-up loop alive
                    log.exception("lease top-up failed")
                self._wake.wait(interval_s)
                self._wake.clear()

        self._thread = threading.Thread(target=loop, name="lease-top-up", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread:
            self._thread.join(5)
