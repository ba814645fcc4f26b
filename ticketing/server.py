"""The queue on the wire: requests served, kiosk and desk events followed, state published.

Handlers run one at a time on the MQTT network thread, so requests are serialised (the Queue's
lock makes that hold for any other caller too). After every change the affected retained
states are republished, on a state thread of their own (:class:`StatePublisher`): the answer
to the asker does not wait for them (a service's state with its waiting list costs several ms),
steps arriving while it publishes are merged into one round, and the calls list goes first, as
the hall display follows it. On every (re)connect all of them are published. Ticket events go
from the Queue's ``events`` table to ticketing's own durable Outbox on a worker thread, keeping
the handlers fast.
"""
from __future__ import annotations

import logging
import threading
from typing import Any, Callable

from common.clock import Clock
from common.registry import Registry
from mqtt import topics
from mqtt.client import DeviceClient, Message
from mqtt.errors import MqttCoreError, ProtocolError
from mqtt.outbox import Outbox
from mqtt.schemas import DeskData, Envelope, Request, Response, TicketData, parse_event

from .appointments import Appointments
from .authority import Authority
from .desk_rules import console_at_desk
from .hours import hours_watcher
from .queue import Outcome, Queue

log = logging.getLogger(__name__)

ROLE = "ticketing"
SESSION_EXPIRY_S = 7 * 24 * 3600
MOVE_BATCH_S = 0.05


def persistent_client(site: str, device: str, role: str, broker: Any, **kwargs: Any) -> DeviceClient:
    """A DeviceClient whose broker session outlives a restart (clean_start=False, session
    expiry), so QoS 1 requests and kiosk events sent while ticketing is down are delivered
    when it comes back."""
    return DeviceClient(site, device, role, broker, clean_start=False, session_expiry_s=SESSION_EXPIRY_S, **kwargs)


class StatePublisher:
    """Publishes the retained states that steps changed, off the request path: ``add(outcome)``
    merges what changed, a thread publishes it (calls, then desks, then services) from the queue's
    database as it is then, so a round always shows the latest state."""

    def __init__(self, publish: Callable[[Outcome], None]):
        self._publish = publish
        self._cond = threading.Condition()
        self._desks: set[int] = set()
        self._services: set[str] = set()
        self._calls = False
        self._busy = False
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="ticketing-state", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def add(self, out: Outcome) -> None:
        if not (out.desks or out.services or out.calls):
            return
        with self._cond:
            self._desks |= out.desks
            self._services |= out.services
            self._calls = self._calls or out.calls
            self._cond.notify_all()

    def _pending(self) -> bool:
        return bool(self._desks or self._services or self._calls)

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._pending() or self._stop)
                if not self._pending():
                    return
                out = Outcome(None, frozenset(self._desks), frozenset(self._services), self._calls)
                self._desks, self._services, self._calls, self._busy = set(), set(), False, True
            try:
                self._publish(out)
            except Exception:  # noqa: BLE001 - keep publishing; the next change or reconnect republishes
                log.exception("publishing the retained state failed")
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything added so far is published."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._pending() and not self._busy, timeout)

    def stop(self) -> None:
        self.flush()
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(5)


class Server:
    """Wires a :class:`Queue` to a DeviceClient.

    >>> s = Server(queue, client, outbox); s.start(); ...; s.tick()  # from the run loop
    """

    def __init__(self, queue: Queue, client: DeviceClient, outbox: Outbox, clock: Clock | None = None,
                 registry: Registry | None = None):
        self.queue = queue
        self.authority = Authority(registry, queue.site, client.device)
        self.authority.desk_authorities.append(console_at_desk)  # the officer web console (desk_rules.py)
        self.appointments = Appointments(queue)  # book, cancel, slots, check-in (appointments.py)
        queue._ops.update(self.appointments.ops())
        self.hours = hours_watcher(self)  # retained state/hours, closing policy (hours.py)
        self.client = client
        self.outbox = outbox
        self.site = queue.site.site
        self.clock = clock or queue.clock
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._mover: threading.Thread | None = None
        self.states = StatePublisher(self.publish_now)
        self.requests_served = 0

    # -- lifecycle --------------------------------------------------------------------------------

    def start(self) -> None:
        for op in topics.REQUEST_OPS:
            self.client.serve(op, self._serve(op))
        self.client.subscribe(topics.events_filter(self.site, "ticket"), self._on_ticket)
        self.client.subscribe(topics.events_filter(self.site, "desk"), self._on_desk)
        self.client.on_connected.append(self.publish_all)
        self._mover = threading.Thread(target=self._move_events, name="ticketing-events", daemon=True)
        self._mover.start()
        self.states.start()
        self.queue.rollover()
        self.client.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._mover is not None:
            self._mover.join(5)
        self.states.stop()
        self._move_once()
        self.client.flush(2.0)
        self.client.stop()

    def tick(self) -> None:
        """From the run loop, about once a second: roll the day over at local midnight."""
        self.hours.tick(self.clock.now())
        if self.appointments.sweep(self.clock.now()):
            self._wake.set()
        out = self.queue.rollover()
        if out is not None:
            self.publish(out)
            self._wake.set()

    # -- handlers (network thread) -------------------------------------------------------------------

    def _serve(self, op: str) -> Callable[[Request, Message], Response]:
        def handler(req: Request, msg: Message) -> Response:
            refused = self.authority.request(op, req, msg)
            if refused is not None:
                return refused
            out = self.queue.handle(op, req)
            self.requests_served += 1
            if not out.replay:
                self.publish(out)
                self._wake.set()
            assert out.response is not None
            return out.response
        handler.__name__ = f"serve_{op}"
        return handler

    def _own(self, msg: Message) -> bool:
        return topics.parse(msg.topic).device == self.client.device

    def _event(self, msg: Message) -> Envelope | None:
        """A device's event, or None when malformed or retained (the collector keeps it as a dead
        letter): a retained event would be replayed on every reconnect."""
        if msg.retain:
            log.warning("forbidden: retained event on %s ignored", msg.topic)
            return None
        try:
            return parse_event(msg.topic, msg.payload)
        except ProtocolError as exc:
            log.warning("bad event on %s: %s", msg.topic, exc)
            return None

    def _on_ticket(self, msg: Message) -> None:
        if self._own(msg) or (env := self._event(msg)) is None:
            return
        data = env.typed_data()
        assert isinstance(data, TicketData)
        if data.action != "issued" or not self.authority.issued(env, data):
            return
        data = data.model_copy(update={"kiosk": env.device})
        if self.authority.registry is not None:
            lease_at = self.queue.lease_time(env.device, data.day, data.service, data.number)
            bounded = self.authority.bound_issued(env, data, lease_at, self.clock.now())
            if bounded is None:
                return
            data = bounded
        out = self.queue.add_issued(data)
        self.publish(out)
        if out.calls:
            self._wake.set()

    def _on_desk(self, msg: Message) -> None:
        if (env := self._event(msg)) is None:
            return
        data = env.typed_data()
        assert isinstance(data, DeskData)
        if not self.authority.desk_event(env, data):
            return
        self.publish(self.queue.sign(data))

    # -- retained state --------------------------------------------------------------------------------

    def publish(self, out: Outcome) -> None:
        """Republish what ``out`` changed, soon, on the state thread (:class:`StatePublisher`)."""
        self.states.add(out)

    def publish_now(self, out: Outcome) -> None:
        c, q = self.client, self.queue
        if out.calls:
            c.publish_state(topics.state(self.site, "calls"), q.calls_state())
        for d in sorted(out.desks):
            c.publish_state(topics.state(self.site, "desk", d), q.desk_state(d))
        for s in sorted(out.services):
            c.publish_state(topics.state(self.site, "service", s), q.service_state(s))

    def publish_all(self) -> None:
        """Every retained state, rebuilt from the database (on every connect)."""
        site = self.queue.site
        self.client.publish_state(topics.state(self.site, "site"), site.to_state(self.clock.now()))
        self.hours.publish(self.clock.now())
        self.publish(Outcome(None, frozenset(d.number for d in site.desks),
                             frozenset(s.code for s in site.services), True))

    # -- ticket events to the outbox ---------------------------------------------------------------------

    def _move_once(self) -> int:
        moved = self._move_appointments()
        while True:
            rows = self.queue.pending_events(500)
            if not rows:
                return moved
            try:
                self.outbox.enqueue_many([("ticket", data) for _id, data in rows])
            except MqttCoreError as exc:  # outbox full: keep them in the queue database
                log.error("cannot move ticket events to the outbox: %s", exc)
                return moved
            self.queue.drop_events([i for i, _d in rows])
            moved += len(rows)

    def _move_appointments(self) -> int:
        rows = self.appointments.pending_events(500)
        if not rows:
            return 0
        try:
            self.outbox.enqueue_many([("appointment", data) for _id, data in rows])
        except MqttCoreError as exc:
            log.error("cannot move appointment events to the outbox: %s", exc)
            return 0
        self.appointments.drop_events([i for i, _d in rows])
        return len(rows)

    def _move_events(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(1.0)
            self._stop.wait(MOVE_BATCH_S)  # gather a batch: one outbox commit for many steps
            self._wake.clear()
            try:
                self._move_once()
            except Exception:  # noqa: BLE001 - keep moving; rows stay in the events table
                log.exception("moving ticket events failed")
                self._stop.wait(0.5)
