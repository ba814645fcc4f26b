"""The ingest: an MQTT 5 persistent session that acknowledges a message only after it is committed.

- ``clean_start=False`` with a ``SessionExpiryInterval``: while the collector is down (crash, SIGKILL,
  upgrade) the broker keeps its subscription and queues every QoS 1 message for it.
- ``manual_ack=True``: paho does not send PUBACK on receipt; the writer thread acknowledges each
  message (in arrival order) after the transaction holding it committed. A collector killed at any
  instant has either committed a message (and may not have acked it: the broker redelivers it and
  the id makes it a duplicate) or not acked it (the broker redelivers it). Nothing is lost.
- Batching: the writer takes whatever arrived (up to ``batch_max``, waiting at most
  ``batch_wait_ms`` to fill a batch) and writes it in one transaction.
- Confirmation: after that commit, before acknowledging, the writer tells each device which of
  its seqs are now in the store, on ``dev/{device}/stored`` (docs/protocol.md, "Confirmed
  delivery"); only then may the device forget them. A confirmation lost on the way only means a
  resend, which the store recognises by ``id`` and confirms again.
- Storage: a full disk or a read-only database keeps the batch (unacknowledged, unconfirmed) and
  retries; ``storage`` says which (``/api/health``, telemetry) until a write succeeds.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from common.clock import Clock, SystemClock
from common.registry import load_registry
from common.systemd import Notifier
from mqtt import topics
from mqtt.client import DeviceClient, Message
from mqtt.errors import NotConnected, OutboxStorageError
from mqtt.outbox import Outbox, seq_runs
from mqtt.schemas import FaultData, Stored

from . import backend
from .authz import Authz
from .backend import Conn
from .config import CollectorConfig
from .db import open_db, refresh_stats
from .store import BatchResult, Incoming, Store

log = logging.getLogger(__name__)

COLLECTOR_DEVICE = "collector"
_BATCH_GAP_S = 0.002  # a batch closes when nothing arrived for this long (or at batch_wait_ms)


@dataclass
class IngestStats:
    received: int = 0
    stored: int = 0
    duplicates: int = 0
    dead: int = 0
    ignored: int = 0
    batches: int = 0
    write_errors: int = 0
    confirmations: int = 0
    last_batch_ms: float = 0.0
    storage: str = "ok"  # ok, disk_full, read_only, io: the last write's outcome
    storage_error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Ingest:
    """Subscribes to ``motcua/v1/{site}/#`` and writes everything to the database, through the
    project's one MQTT client (persistent session, manual acknowledgement)."""

    def __init__(self, config: CollectorConfig, *, clock: Clock | None = None,
                 on_batch: Callable[[BatchResult], None] | None = None, notifier: Notifier | None = None):
        self.config = config
        self.clock = clock or SystemClock(config.timezone)
        self.on_batch = on_batch
        self.notifier = notifier or Notifier()
        self.stats = IngestStats()
        self._queue: queue.Queue[Incoming] = queue.Queue()
        self._stop = threading.Event()
        self._writer: threading.Thread | None = None
        self._conn: Conn | None = None
        self.authz = Authz(load_registry(config.devices))  # a bad registry refuses to start (file and line)
        self.broker = config.broker_config()
        self._site = config.site_or_none
        # the collector's own events (its storage faults) go the way every event goes: its own
        # outbox, the broker, this ingest, a confirmation (one site only: events need a site)
        self.outbox = (Outbox(config.outbox_path(), self._site,
                              COLLECTOR_DEVICE, clock=self.clock) if self._site is not None else None)
        self._faults_pending: list[tuple[str, bool, str]] = []  # (code, active, detail) to record
        self.client = DeviceClient(
            self._site, COLLECTOR_DEVICE, "collector", self.broker, clock=self.clock, outbox=self.outbox,
            client_id=config.mqtt_client_id(), clean_start=False, session_expiry_s=config.session_expiry_s,
            manual_ack=True, receive_maximum=min(65535, max(1000, config.batch_max * 4)),
            reconnect_min_s=0.2, reconnect_max_s=10.0,
            telemetry_extra=lambda: {"queue_depth": self.queue_depth, **self.stats.as_dict()})
        self._subscribe()

    def _subscribe(self) -> None:
        """Everything of the site (a central collector subscribes otherwise: collector/central.py)."""
        self.client.subscribe(topics.site_filter(self._site), self._on_message)

    def _make_store(self, conn: Conn) -> Store:
        return Store(conn, self.config.timezone)

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        self._conn = open_db(self.config.store_location)
        refresh_stats(self._conn)
        self.store = self._make_store(self._conn)
        self._writer = threading.Thread(target=self._write_loop, name="collector-writer", daemon=True)
        self._writer.start()
        self.client.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Write what has arrived, acknowledge it, then disconnect (the broker keeps the session)."""
        end = time.monotonic() + timeout
        while not self._queue.empty() and time.monotonic() < end:
            time.sleep(0.02)
        self._stop.set()
        if self._writer:
            self._writer.join(max(0.1, end - time.monotonic()))
        self.client.stop(timeout=2.0)
        if self._writer is not None and self._writer.is_alive():
            self._writer.join(10.0)  # never close the connection under a running write
        if self._conn is not None and not (self._writer is not None and self._writer.is_alive()):
            self._conn.close()
        if self.outbox is not None:
            self.outbox.close()

    @property
    def connected(self) -> bool:
        return self.client.connected

    def wait_connected(self, timeout: float = 10.0) -> bool:
        return self.client.wait_connected(timeout)

    @property
    def queue_depth(self) -> int:
        return self._queue.qsize()

    # -- the network thread: hand off, never block ---------------------------------------------

    def _on_message(self, msg: Message) -> None:
        self.stats.received += 1
        self._queue.put(Incoming(msg.topic, msg.payload, msg.retain, self.clock.now(), msg.mid, msg.qos,
                                 msg.generation))

    # -- the writer thread ------------------------------------------------------------------------

    def _take_batch(self) -> list[Incoming]:
        try:
            first = self._queue.get(timeout=0.5)
        except queue.Empty:
            return []
        batch = [first]
        deadline = time.monotonic() + self.config.batch_wait_ms / 1000
        while len(batch) < self.config.batch_max:
            try:
                batch.append(self._queue.get_nowait())
                continue
            except queue.Empty:
                pass
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                # wait for more only while more keeps coming: a lone event (a citizen's press) is
                # committed and confirmed at once; under load the queue fills during each commit
                batch.append(self._queue.get(timeout=min(left, _BATCH_GAP_S)))
            except queue.Empty:
                break
        return batch

    def _write_loop(self) -> None:
        while not (self._stop.is_set() and self._queue.empty()):
            self.notifier.watchdog()  # rate-limited by the notifier
            batch = self._take_batch()
            if not batch:
                continue
            res = self._write(batch)
            if res is None:
                continue
            self._confirm(res)
            for m in batch:  # in arrival order, and only on the connection that delivered them
                self.client.ack(m)
            if self.on_batch is not None:
                try:
                    self.on_batch(res)
                except Exception:  # noqa: BLE001 - a dashboard problem must not stop the ingest
                    log.exception("batch listener failed")

    def _own_fault(self) -> None:
        """Record the collector's own storage fault (raised or cleared) through its outbox; on a
        disk that takes nothing yet, try again at the next write."""
        while self._faults_pending and self.outbox is not None:
            code, active, detail = self._faults_pending[0]
            data = (FaultData(code=code, active=True,
                              message_vi="Cơ sở dữ liệu của máy chủ đầy hoặc chỉ đọc: sự kiện chờ ở thiết bị",
                              message_en="The server's database is full or read-only: events wait on the devices",
                              detail=detail[:500])
                    if active else
                    FaultData(code=code, active=False, message_vi="Cơ sở dữ liệu của máy chủ đã ghi được trở lại",
                              message_en="The server's database accepts writes again"))
            try:
                self.outbox.enqueue("fault", data)
            except OutboxStorageError:
                return
            self._faults_pending.pop(0)

    def _confirm(self, res: BatchResult) -> None:
        """Tell each device which of its seqs are in the store now (after the commit)."""
        for (site, device), seqs in res.confirm.items():
            body = Stored(seqs=seq_runs(seqs), by=COLLECTOR_DEVICE, ts=self.clock.now()).dumps()
            try:
                self.client.publish(topics.stored(site, device), body, qos=1)
                self.stats.confirmations += 1
            except NotConnected:
                return  # the device sends them again and they are confirmed then
            except Exception:  # noqa: BLE001 - a lost confirmation only means a resend
                log.exception("confirmation to %s/%s failed", site, device)

    def _write(self, batch: list[Incoming]) -> BatchResult | None:
        """Commit the batch; retry while the database is busy, the disk full or read-only; if one
        message breaks the batch for any other reason, write the messages one by one so only that
        message becomes a dead letter."""
        t0 = time.perf_counter()
        arrived, refused = batch, None
        while True:
            try:
                if refused is None:  # forbidden -> dead letters (collector/authz.py), retried like the batch
                    batch, refused = self.authz.screen(self.store, arrived)
                res = self.store.write_batch(batch)
                if self.stats.storage != "ok":
                    log.warning("database writes again after: %s", self.stats.storage_error)
                    self._faults_pending.append((_fault_code(self.stats.storage), False, ""))
                self.stats.storage, self.stats.storage_error = "ok", None
                self._own_fault()
                break
            except backend.OperationalError as exc:
                self.stats.write_errors += 1
                kind = "busy" if backend.is_busy(exc) else backend.store_error_kind(exc)
                message = f"{backend.redact(self.config.store_location)}: {getattr(exc, 'sqlite_errorname', '')}: {exc}"
                if kind != "busy":
                    if self.stats.storage != kind:
                        log.error("database write failed, %s (%s); the broker keeps the batch, retrying "
                                  "every second", kind, message)
                    if self.stats.storage != kind:
                        self._faults_pending.append((_fault_code(kind), True, message))
                    self.stats.storage, self.stats.storage_error = kind, message
                    self._own_fault()
                else:
                    log.warning("database busy (%s); retrying in 1 s", exc)
                if self._stop.wait(1.0):
                    return None  # stopping: nothing confirmed or acknowledged, the broker redelivers
                continue
            except Exception:  # noqa: BLE001
                if refused is None:
                    raise  # the screening itself broke: never store a batch unscreened
                log.exception("batch of %d failed; writing one by one", len(batch))
                res = self._write_singly(batch)
                break
        assert refused is not None  # every way out of the loop above screened first
        res.dead += refused.dead
        res.changed |= refused.changed
        self.stats.batches += 1
        self.stats.stored += res.stored
        self.stats.duplicates += res.duplicates
        self.stats.dead += res.dead
        self.stats.ignored += res.ignored
        self.stats.last_batch_ms = (time.perf_counter() - t0) * 1000
        return res

    def _write_singly(self, batch: list[Incoming]) -> BatchResult:
        total = BatchResult()
        for m in batch:
            try:
                r = self.store.write_batch([m])
            except Exception as exc:  # noqa: BLE001
                r = self.store.write_dead(m, "internal_error", f"internal_error: {type(exc).__name__}: {exc}")
            total.stored += r.stored
            total.duplicates += r.duplicates
            total.dead += r.dead
            total.ignored += r.ignored
            total.changed |= r.changed
        return total


def _fault_code(kind: str) -> str:
    """The collector's own fault for a database that takes no writes: ``database_full``,
    ``database_read_only``, ``database_io``, ``database_unavailable`` (a PostgreSQL server that does not
    answer; its outbox's own disk raises ``storage_*``)."""
    return "database_" + kind.replace("disk_", "")
