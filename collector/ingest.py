"""The ingest: an MQTT 5 persistent session that acknowledges a message only after it is committed.

- ``clean_start=False`` with a ``SessionExpiryInterval``: while the collector is down (crash, SIGKILL,
  upgrade) the broker keeps its subscription and queues every QoS 1 message for it.
- ``manual_ack=True``: paho does not send PUBACK on receipt; the writer thread acknowledges each
  message (in arrival order) after the transaction holding it committed. A collector killed at any
  instant has either committed a message (and may not have acked it: the broker redelivers it and
  the id makes it a duplicate) or not acked it (the broker redelivers it). Nothing is lost.
- Batching: the writer takes whatever arrived (up to ``batch_max``, waiting at most
  ``batch_wait_ms`` to fill a batch) and writes it in one transaction.
"""
from __future__ import annotations

import logging
import queue
import sqlite3
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from common.clock import Clock, SystemClock
from common.registry import load_registry
from common.systemd import Notifier
from mqtt import topics
from mqtt.client import DeviceClient, Message

from .authz import Authz
from .config import CollectorConfig
from .db import open_db, refresh_stats
from .store import BatchResult, Incoming, Store

log = logging.getLogger(__name__)

COLLECTOR_DEVICE = "collector"


@dataclass
class IngestStats:
    received: int = 0
    stored: int = 0
    duplicates: int = 0
    dead: int = 0
    ignored: int = 0
    batches: int = 0
    write_errors: int = 0
    last_batch_ms: float = 0.0

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
        self._conn: sqlite3.Connection | None = None
        self.authz = Authz(load_registry(config.devices))  # a bad registry refuses to start (file and line)
        self.broker = config.broker_config()
        self._site = config.site_or_none
        self.client = DeviceClient(
            self._site, COLLECTOR_DEVICE, "collector", self.broker, clock=self.clock,
            client_id=config.mqtt_client_id(), clean_start=False, session_expiry_s=config.session_expiry_s,
            manual_ack=True, receive_maximum=min(65535, max(1000, config.batch_max * 4)),
            reconnect_min_s=0.2, reconnect_max_s=10.0,
            telemetry_extra=lambda: {"queue_depth": self.queue_depth, **self.stats.as_dict()})
        self.client.subscribe(topics.site_filter(self._site), self._on_message)

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        self._conn = open_db(self.config.db)
        refresh_stats(self._conn)
        self.store = Store(self._conn, self.config.timezone)
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
        if self._conn is not None:
            self._conn.close()

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
                batch.append(self._queue.get(timeout=left))
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
            for m in batch:  # in arrival order, and only on the connection that delivered them
                self.client.ack(m)
            if self.on_batch is not None:
                try:
                    self.on_batch(res)
                except Exception:  # noqa: BLE001 - a dashboard problem must not stop the ingest
                    log.exception("batch listener failed")

    def _write(self, batch: list[Incoming]) -> BatchResult:
        """Commit the batch; retry while the database is busy or the disk is full; if one message
        breaks the batch for any other reason, write the messages one by one so only that message
        becomes a dead letter."""
        t0 = time.perf_counter()
        batch, refused = self.authz.screen(self.store, batch)  # forbidden -> dead letters (collector/authz.py)
        while True:
            try:
                res = self.store.write_batch(batch)
                break
            except sqlite3.OperationalError as exc:
                self.stats.write_errors += 1
                log.error("database write failed (%s); retrying in 1 s", exc)
                time.sleep(1.0)
            except Exception:  # noqa: BLE001
                log.exception("batch of %d failed; writing one by one", len(batch))
                res = self._write_singly(batch)
                break
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
