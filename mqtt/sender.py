"""Sends a device's outbox over paho, in order, QoS 1, and forgets an event only when the
collector confirmed it stored it (``docs/protocol.md``, "Confirmed delivery").

One place decides what is sent: :meth:`OutboxSender._pump`, under one lock, taken either by the
committing thread (right after a commit, for its own fresh rows, as a bare publisher would) or by
the drain thread (a backlog from disk after a restart or an outage, overdue resends). It sends, in
this order: rows whose confirmation is overdue or was lost with a connection, then the rows after
the newest one sent, from memory when they follow it, else from disk.

Two limits pace it. The broker's PUBACK: paho holds at most ``direct_limit`` unacknowledged rows
(``window`` of them in flight). The collector's confirmation: at most ``unconfirmed_limit`` rows
sent and not yet confirmed, so a site whose collector is down holds its events on the devices'
disks, not in the broker's memory, and the broker's queue for the collector never overflows. A
confirmation that does not come within ``confirm_timeout_s`` (doubling while none comes at all,
up to ``confirm_timeout_max_s``) sends the row again; so does a reconnect (a restarted broker may
have lost what it acknowledged); after a process restart every held row is sent again. The
collector stores by ``id``, so a resend is harmless.

Only paho's public API: ``publish()`` returns the message id and ``on_publish`` reports its
PUBACK. A PUBACK may arrive before ``publish()`` returned; it is kept aside for that moment.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import deque
from datetime import datetime
from typing import Callable

import paho.mqtt.client as paho
from paho.mqtt.reasoncodes import ReasonCode

from .errors import OutboxStorageError
from .outbox import Outbox, OutboxRow
from .schemas import FaultData

log = logging.getLogger(__name__)

_NO_MATCHING_SUBSCRIBERS = 16  # a PUBACK reason that is a success


class OutboxSender:
    """The link between one Outbox and one paho client (owned by :class:`DeviceClient`)."""

    def __init__(self, outbox: Outbox, mqtt: paho.Client, connected: Callable[[], bool], *,
                 window: int = 100, direct_limit: int = 2000, unconfirmed_limit: int = 1000,
                 confirm_timeout_s: float = 15.0, confirm_timeout_max_s: float = 300.0):
        self.outbox = outbox
        self.window = max(1, window)
        self.paho_limit = max(self.window, direct_limit)  # rows paho may hold without PUBACK
        self.unconfirmed_limit = max(1, unconfirmed_limit)
        self.confirm_timeout_s = confirm_timeout_s
        self.confirm_timeout_max_s = max(confirm_timeout_s, confirm_timeout_max_s)
        self._mqtt = mqtt
        self._connected = connected
        self._send = threading.Lock()  # held by whoever runs _pump: one sender at a time
        self._cv = threading.Condition()  # guards the fields below; never held while calling paho
        self._cursor = 0  # the newest seq handed to paho; rows go out in seq order after it
        self._fresh: deque[OutboxRow] = deque()  # committed, not yet sent, following the cursor
        self._backlog = True  # rows after the cursor may wait on disk only (true at start)
        self._backlog_gen = 0
        self._unacked: dict[int, int] = {}  # mid -> seq: with paho, no PUBACK yet
        self._early: dict[int, ReasonCode] = {}  # PUBACKs that came before publish() returned
        self._publishing = False
        self._sent: dict[int, float] = {}  # seq -> when sent, unconfirmed, oldest send first
        self._resend: list[int] = []  # seqs to send again
        self._rejected: list[tuple[int, str]] = []
        self._kicked = False
        self._timeout = confirm_timeout_s
        self._last_confirmed = time.monotonic()
        self._last_resend = 0.0
        self._remove_batch = 10 * self.window  # confirmed rows the drainer removes at once
        self._full = threading.Event()  # the outbox refused an event: raise the fault
        self._full_raised = False
        self._storage: tuple[str, str, datetime] | None = None  # (kind, message, since) to report
        self._storage_raised = False
        outbox.add_listener(self._on_committed)
        outbox.on_full = self._on_outbox_full
        outbox.on_storage_error = self._on_storage_error

    # -- events from paho and the client ------------------------------------------------------

    def wake(self) -> None:
        """Something changed (disconnected, stopping): look again."""
        with self._cv:
            self._kicked = True
            self._cv.notify_all()

    def on_connect(self) -> None:
        """A new connection: what the broker acknowledged but the collector did not confirm may
        have died with a restarted broker; send it again (paho resends what it still holds)."""
        with self._cv:
            held = set(self._unacked.values())
            self._resend = sorted(s for s in self._sent if s not in held)
            self._kicked = True
            self._cv.notify_all()

    def on_publish(self, mid: int, reason: ReasonCode) -> None:
        """Paho's PUBACK for ``mid`` (network thread): it paces sending, it deletes nothing."""
        with self._cv:
            seq = self._unacked.pop(mid, None)
            if seq is None:
                if self._publishing:
                    self._early[mid] = reason
                return
            self._acked(seq, reason)
            if len(self._unacked) <= self.paho_limit - self.window and self._more_to_send():
                self._cv.notify_all()

    def _acked(self, seq: int, reason: ReasonCode) -> None:
        if reason.is_failure and reason.value != _NO_MATCHING_SUBSCRIBERS:
            self._sent.pop(seq, None)
            self._rejected.append((seq, str(reason)))
            self._cv.notify_all()

    def on_confirmed(self, ranges: list[tuple[int, int]]) -> int:
        """The collector stored these seqs (network thread): forget them. Returns how many of
        the rows this sender had sent it confirmed."""
        with self._cv:
            total = sum(hi - lo + 1 for lo, hi in ranges)
            if total <= len(self._sent):
                got = [s for lo, hi in ranges for s in range(lo, hi + 1) if s in self._sent]
            else:
                got = [s for s in self._sent if any(lo <= s <= hi for lo, hi in ranges)]
            for s in got:
                del self._sent[s]
            if not got:
                return 0
            self.outbox.mark_confirmed(got)
            self._last_confirmed = time.monotonic()
            self._timeout = self.confirm_timeout_s
            if self._more_to_send() or self.outbox.removals_pending() >= self._remove_batch:
                self._cv.notify_all()
            return len(got)

    def _on_outbox_full(self, depth: int) -> None:
        # called inside the outbox's commit: enqueueing here would wait on ourselves, so the
        # drainer raises the fault
        self._full.set()
        self.wake()

    def _on_storage_error(self, err: OutboxStorageError) -> None:
        with self._cv:
            if self._storage is None:
                self._storage = (err.kind, str(err), self.outbox.clock.now())
            self._kicked = True
            self._cv.notify_all()

    def _on_committed(self, rows: list[OutboxRow]) -> None:
        """Rows were just committed (in commit order, under the outbox's write lock): send them
        from this thread when they follow what was sent, else leave them to the drainer."""
        with self._cv:
            if not self._fresh and rows[0].seq != self._cursor + 1:
                self._set_backlog()
            if len(self._fresh) + len(rows) > self.paho_limit:
                self._fresh.clear()  # memory stays bounded: they are on disk
                self._set_backlog()
            else:
                self._fresh.extend(rows)
        if self._connected() and self._send.acquire(blocking=False):
            try:
                self._pump(from_disk=False)
            except Exception:  # noqa: BLE001 - the rows are on disk: the drainer sends them
                log.exception("handing committed rows to paho failed")
                with self._cv:
                    self._set_backlog()
            finally:
                self._send.release()
        with self._cv:
            if self._more_to_send() or self._kicked:
                self._kicked = True
                self._cv.notify_all()

    # -- the one place that decides what is sent ----------------------------------------------

    def _set_backlog(self) -> None:
        self._backlog = True
        self._backlog_gen += 1

    def _more_to_send(self) -> bool:
        """Called under _cv: rows wait and both limits leave room for them."""
        if not self._connected() or len(self._unacked) >= self.paho_limit:
            return False
        if self._resend:
            return True
        return len(self._sent) < self.unconfirmed_limit and (self._backlog or bool(self._fresh))

    def _pump(self, from_disk: bool = True) -> None:
        """Send until a limit is reached or nothing waits (the caller holds ``_send``)."""
        while True:
            with self._cv:
                if not self._connected():
                    return
                room = self.paho_limit - len(self._unacked)
                if room <= 0:
                    return
                resend = [s for s in self._resend[:room] if s in self._sent] if from_disk else []
                if from_disk:
                    del self._resend[:room]
                new = min(room, self.unconfirmed_limit - len(self._sent))
                while self._fresh and self._fresh[0].seq <= self._cursor:
                    self._fresh.popleft()
                rows: list[OutboxRow] | None = None
                if resend or new <= 0:
                    pass
                elif self._fresh and self._fresh[0].seq == self._cursor + 1:
                    rows = [self._fresh.popleft() for _ in range(min(new, len(self._fresh)))]
                elif not (self._backlog and from_disk):
                    return
                after, gen = self._cursor, self._backlog_gen
            if resend:
                self._publish(self.outbox.fetch_seqs(resend))
                continue
            if new <= 0:
                return
            if rows is None:
                rows = self.outbox.fetch(after, new)
                if len(rows) < new:
                    with self._cv:
                        if gen == self._backlog_gen:
                            self._backlog = False  # nothing else waits on disk (commits go to _fresh)
                if not rows:
                    continue
            if not self._publish(rows):
                with self._cv:
                    self._set_backlog()
                return

    def _publish(self, rows: list[OutboxRow]) -> bool:
        """Publish rows in order and record them; False when paho refused one."""
        with self._cv:
            self._publishing = True
        try:
            for row in rows:
                info = self._mqtt.publish(row.topic, row.payload, qos=1)
                # NO_CONN: paho keeps the message and sends it on reconnect
                if info.rc not in (paho.MQTT_ERR_SUCCESS, paho.MQTT_ERR_NO_CONN):
                    log.warning("paho refused outbox row %d: %s", row.seq, paho.error_string(info.rc))
                    return False
                with self._cv:
                    self._sent.pop(row.seq, None)
                    self._sent[row.seq] = time.monotonic()  # newest send last
                    early = self._early.pop(info.mid, None)
                    self._early.clear()  # anything else was another publisher's
                    if early is None:
                        self._unacked[info.mid] = row.seq
                    else:
                        self._acked(row.seq, early)
                    if row.seq > self._cursor:
                        self._cursor = row.seq
            return True
        finally:
            with self._cv:
                self._publishing = False
                self._early.clear()

    def _overdue(self) -> None:
        """Called under _cv: schedule rows whose confirmation is overdue to be sent again."""
        now = time.monotonic()
        if self._resend or not self._sent or not self._connected():
            return
        if now - self._last_resend < self._timeout:
            return
        cutoff = now - self._timeout
        held = set(self._unacked.values())
        due = []
        for seq, at in self._sent.items():
            if at >= cutoff:
                break
            if seq not in held:
                due.append(seq)
        if due:
            log.info("no confirmation for %d events within %.0f s: sending them again", len(due), self._timeout)
            if self._last_resend and self._last_confirmed < self._last_resend:
                # the last resend brought no confirmation at all (no collector runs): wait longer
                self._timeout = min(2 * self._timeout, self.confirm_timeout_max_s)
            self._resend = sorted(due)
            self._last_resend = now

    # -- the drain thread ---------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Send what commits could not (a backlog, resends), remove confirmed rows in bulk or
        when no commit came for a moment, set rejected rows aside, raise faults."""
        ob = self.outbox
        timed_out = False
        while not stop.is_set():
            with self._cv:
                rejected, self._rejected = self._rejected, []
                self._kicked = False
                self._overdue()
            try:
                pending = ob.removals_pending()
                if pending >= self._remove_batch or (pending and timed_out):
                    # never wait behind an enqueue's fsync (that commit takes them along),
                    # unless very many are pending
                    ob.purge(wait=timed_out or pending >= 20 * self._remove_batch)
                for seq, why in rejected:
                    ob.reject(seq, why)
                self._faults()
                with self._send:
                    self._pump()
            except Exception:  # noqa: BLE001 - keep draining; the rows stay on disk
                log.exception("outbox drain step failed")
                stop.wait(0.5)
                continue
            with self._cv:
                if stop.is_set():
                    break
                runnable = self._kicked or bool(self._rejected) or self._more_to_send() \
                    or ob.removals_pending() >= self._remove_batch
                timed_out = False
                if not runnable:
                    # idle: wait for work, or briefly for a commit to take the removals along
                    timed_out = not self._cv.wait(0.05 if ob.removals_pending() else 0.5)

    # -- faults -------------------------------------------------------------------------------

    def _faults(self) -> None:
        if self._full.is_set():
            self._outbox_fault()
        self._storage_fault()

    def _outbox_fault(self) -> None:
        """Raise ``outbox_full`` once when events were refused; clear it below 90 % again."""
        ob = self.outbox
        if not self._full_raised:
            ob.enqueue("fault", FaultData(
                code="outbox_full", active=True,
                message_vi="Bộ nhớ đệm sự kiện của thiết bị đã đầy: sự kiện mới bị từ chối",
                message_en="The device's event outbox is full: new events are refused",
                detail=f"{ob.depth()} events waiting, limit {ob.max_events}"))
            self._full_raised = True
        elif ob.depth() < 0.9 * ob.max_events:
            ob.enqueue("fault", FaultData(code="outbox_full", active=False,
                                          message_vi="Bộ nhớ đệm sự kiện đã có chỗ trở lại",
                                          message_en="The event outbox has room again"))
            self._full_raised = False
            self._full.clear()

    def _storage_fault(self) -> None:
        """``storage_full`` / ``storage_read_only``: raised as soon as the disk takes the fault
        event (it says since when and SQLite's error), cleared once events are stored again."""
        ob = self.outbox
        with self._cv:
            noted = self._storage
        if noted is None:
            return
        kind, message, since = noted
        code = "storage_full" if kind == "disk_full" else f"storage_{kind}"
        try:
            if not self._storage_raised:
                ob.enqueue("fault", FaultData(
                    code=code, active=True,
                    message_vi="Bộ nhớ của thiết bị đầy hoặc chỉ đọc: sự kiện mới bị từ chối",
                    message_en="The device's storage is full or read-only: new events are refused",
                    detail=f"since {since.isoformat(timespec='seconds')}: {message}"[:500]))
                self._storage_raised = True
            elif ob.storage_error is None:
                ob.enqueue("fault", FaultData(code=code, active=False,
                                              message_vi="Bộ nhớ của thiết bị đã ghi được trở lại",
                                              message_en="The device's storage accepts events again"))
                self._storage_raised = False
                with self._cv:
                    self._storage = None
        except OutboxStorageError:
            pass  # still failing: try again on the next round

    # -- waiting ------------------------------------------------------------------------------

    def sent_all(self) -> bool:
        """Every held row is with the broker (PUBACKed), none waits to be sent."""
        with self._cv:
            return not (self._unacked or self._resend or self._fresh or self._backlog)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every event is with the broker (PUBACKed). True on success."""
        end = time.monotonic() + timeout
        while not self.sent_all():
            if time.monotonic() >= end:
                return False
            time.sleep(0.02)
        return True

    def wait_confirmed(self, timeout: float = 10.0) -> bool:
        """Wait until the collector confirmed every event (the outbox is empty)."""
        end = time.monotonic() + timeout
        while self.outbox.depth() > 0:
            if time.monotonic() >= end:
                return False
            time.sleep(0.02)
        return True

    def unconfirmed(self) -> int:
        """Rows sent and not yet confirmed."""
        with self._cv:
            return len(self._sent)
