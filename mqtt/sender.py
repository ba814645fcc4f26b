"""Sends a device's outbox over paho, in order, QoS 1, and removes what the broker acknowledged.

Two paths, never both for the same row:

- right after a commit, the committing thread hands its rows to paho itself when paho already
  has everything before them and holds fewer than ``direct_limit`` unacknowledged rows (no
  wake-up, no read back from disk), as a bare publisher would;
- otherwise (a backlog after a restart or an outage, offline, a burst bigger than the network)
  the drain thread sends the oldest unsent rows from disk, up to two windows ahead.

Paho keeps one window in flight and sends the rest from its own loop as PUBACKs arrive. It keeps
what it was handed until acknowledged, across reconnects; after a process restart the outbox
sends every unacknowledged row again. Acknowledged rows leave the disk with the next commit's
transaction, or in bulk, or when no commit came for a moment.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable

import paho.mqtt.client as paho
from paho.mqtt.reasoncodes import ReasonCode

from .outbox import Outbox, OutboxRow
from .schemas import FaultData

log = logging.getLogger(__name__)


class OutboxSender:
    """The link between one Outbox and one paho client (owned by :class:`DeviceClient`)."""

    def __init__(self, outbox: Outbox, mqtt: paho.Client, connected: Callable[[], bool], *,
                 window: int = 100, direct_limit: int = 2000):
        self.outbox = outbox
        self.window = max(1, window)
        self.direct_limit = direct_limit  # rows paho may hold unacknowledged when handed over at commit
        self._mqtt = mqtt
        self._connected = connected
        # paho calls on_publish while holding its out-message lock, and publish() takes the same
        # (re-entrant) lock: holding it while we publish and record the mids means a PUBACK can
        # never be handled before we know which row it acknowledges
        self._paho_lock = getattr(mqtt, "_out_message_mutex", None) or threading.RLock()
        self._handover = 2 * self.window  # rows the drainer lets paho hold unacknowledged
        self._remove_batch = 10 * self.window  # acknowledged rows the drainer removes at once
        self._wake = threading.Condition()
        self._inflight: dict[int, int] = {}  # mid -> outbox rowid
        self._rejected: list[tuple[int, str]] = []
        self._last_sent = 0  # the newest rowid handed to paho
        self._backlog = True  # rows may wait on disk that paho does not have (true at start)
        self._kicked = False
        self._full = threading.Event()  # the outbox refused an event: raise the fault
        self._full_raised = False
        outbox.add_listener(self._on_committed)
        outbox.on_full = self._on_outbox_full

    def wake(self) -> None:
        """Something changed (connected, disconnected, stopping): look again."""
        with self._wake:
            self._kicked = True
            self._wake.notify_all()

    def on_publish(self, mid: int, reason: ReasonCode) -> None:
        """Paho's PUBACK for `mid` (on the network thread): note the row as acknowledged."""
        with self._wake:
            rowid = self._inflight.pop(mid, None)
            if rowid is None:
                return
            if reason.is_failure and reason.value != 16:  # 16: no matching subscribers is success
                self._rejected.append((rowid, str(reason)))
                self._wake.notify_all()
                return
            # removed by the next commit's transaction, or by the drainer in bulk or when idle
            self.outbox.mark_acked(rowid)
            # wake the drainer when rows wait on disk and a window's worth is free (it then
            # hands over a window at once), or when many removals are pending
            if ((self._backlog and len(self._inflight) <= self._handover - self.window)
                    or self.outbox.removals_pending() >= self._remove_batch):
                self._wake.notify_all()

    def _on_outbox_full(self, depth: int) -> None:
        # called inside the outbox's commit: enqueueing here would wait on ourselves, so the
        # drainer raises the fault
        self._full.set()
        self.wake()

    def _outbox_fault(self) -> None:
        """Raise ``outbox_full`` once when events were refused; clear it below 90 % again."""
        ob = self.outbox
        if self._full.is_set() and not self._full_raised:
            ob.enqueue("fault", FaultData(
                code="outbox_full", active=True,
                message_vi="Bộ nhớ đệm sự kiện của thiết bị đã đầy: sự kiện mới bị từ chối",
                message_en="The device's event outbox is full: new events are refused",
                detail=f"{ob.depth()} events waiting, limit {ob.max_events}"))
            self._full_raised = True
        elif self._full_raised and ob.depth() < 0.9 * ob.max_events:
            ob.enqueue("fault", FaultData(code="outbox_full", active=False,
                                          message_vi="Bộ nhớ đệm sự kiện đã có chỗ trở lại",
                                          message_en="The event outbox has room again"))
            self._full_raised = False
            self._full.clear()

    def _on_committed(self, rows: list[OutboxRow]) -> None:
        """Rows were just committed (called in commit order under the outbox's write lock)."""
        try:
            if self._connected() and self._handoff(rows):
                return
        except Exception:  # noqa: BLE001 - the rows are on disk: the drainer sends them
            log.exception("handing committed rows to paho failed")
        with self._wake:
            self._backlog = True
            self._kicked = True
            self._wake.notify_all()

    def _handoff(self, rows: list[OutboxRow]) -> bool:
        """Hand freshly committed rows to paho from the committing thread, as a bare publisher
        would, when everything before them is already with paho and paho holds fewer than
        ``direct_limit`` unacknowledged rows. Otherwise (a backlog, offline, a burst larger than
        the network) the drainer sends them from disk. True when all were handed over."""
        with self._paho_lock:
            with self._wake:
                if (self._last_sent != rows[0].rowid - 1
                        or len(self._inflight) + len(rows) > self.direct_limit):
                    return False
            published = self._publish_rows(rows)
        return len(published) == len(rows)

    def _publish_rows(self, rows: list[OutboxRow]) -> list[tuple[int, int]]:
        """Publish rows in order (the caller holds paho's out-message lock) and record them."""
        published: list[tuple[int, int]] = []
        for row in rows:
            info = self._mqtt.publish(row.topic, row.payload, qos=1)
            # NO_CONN: paho keeps the message and sends it on reconnect
            if info.rc not in (paho.MQTT_ERR_SUCCESS, paho.MQTT_ERR_NO_CONN):
                log.warning("paho refused outbox row %d: %s", row.rowid, paho.error_string(info.rc))
                break
            published.append((info.mid, row.rowid))
        if published:
            with self._wake:
                self._inflight.update(published)
                self._last_sent = published[-1][1]
        return published

    def run(self, stop: threading.Event) -> None:
        """Send what commits could not hand over themselves (a backlog after a restart or an
        outage, bursts larger than ``direct_limit``): the oldest unsent rows, up to two windows
        ahead. Paho keeps one window in flight and sends the rest from its own loop as PUBACKs
        arrive, so this thread wakes once per window, not per event. Paho keeps what it was
        handed until acknowledged, across reconnects; after a restart the outbox sends every
        unacknowledged row again, in order. Acknowledged rows leave the disk with the next
        commit; this thread removes them in bulk, or when no commit came for a moment."""
        ob = self.outbox
        step = self.window
        timed_out = False
        while not stop.is_set():
            with self._wake:
                rejected, self._rejected = self._rejected, []
                free = self._handover - len(self._inflight) if self._connected() else 0
                after = self._last_sent
                backlog = self._backlog
                self._kicked = False
            rows: list[OutboxRow] = []
            fetched = False
            try:
                pending = ob.removals_pending()
                if pending >= self._remove_batch or (pending and timed_out):
                    # never wait behind an enqueue's fsync (that commit takes them along),
                    # unless very many are pending
                    ob.ack([], wait=timed_out or pending >= 20 * self._remove_batch)
                for rowid, why in rejected:
                    ob.reject(rowid, why)
                if self._full.is_set():
                    self._outbox_fault()
                if backlog and (free >= step or (free > 0 and not self._inflight)):
                    rows = ob.fetch(after, free)
                    fetched = True
            except Exception:  # noqa: BLE001 - keep draining; the rows stay on disk
                log.exception("outbox drain step failed")
                time.sleep(0.5)
                continue
            # paho calls on_publish while holding its out-message lock, and publish() takes the
            # same (re-entrant) lock: holding it here while we publish and record the mids means
            # a PUBACK can never be handled before we know which row it acknowledges.
            with self._paho_lock:
                with self._wake:
                    stale = self._last_sent != after  # a commit handed rows over meanwhile
                sent = self._publish_rows(rows) if rows and not stale else []
            with self._wake:
                if stop.is_set():
                    break
                if fetched and not stale and len(sent) == len(rows) < free and not self._kicked:
                    self._backlog = False  # everything on disk is with paho now
                free = self._handover - len(self._inflight) if self._connected() else 0
                runnable = (bool(self._rejected) or self._kicked
                            or (self._backlog and free >= step and self._connected())
                            or ob.removals_pending() >= self._remove_batch)
                timed_out = False
                if not runnable:
                    # idle: wait for work, or briefly for a commit to take the removals along
                    timed_out = not self._wake.wait(0.05 if ob.removals_pending() else 0.5)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until the outbox is empty (every event acknowledged). True on success."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.outbox.depth() == 0:
                return True
            time.sleep(0.02)
        return self.outbox.depth() == 0
