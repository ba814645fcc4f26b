"""The durable outbox: every event is on disk before ``enqueue`` returns, and leaves only when
the collector confirmed it stored it (``docs/protocol.md``, "Confirmed delivery"); the broker's
PUBACK only paces sending.

SQLite in WAL mode with ``synchronous=FULL``: a committed row survives a crash or power cut at
any instant. Concurrent ``enqueue`` calls share one transaction (group commit), so durability
does not cost throughput when several threads produce events; ``enqueue_many`` stores a burst in
one. The device's ``seq`` is assigned inside the same transaction and persisted, so it is
monotonic across reboots. Listeners get each commit's rows at once (the client hands them to
paho from there); confirmed rows are removed inside the next commit's transaction.

A full disk or a read-only file system refuses the event with :class:`OutboxStorageError` naming
the real cause (SQLite's own error, never a second ROLLBACK's); no ``seq`` is used, and confirmed
rows whose removal failed stay noted for the next transaction.

The outbox is bounded: when full it refuses new events with :class:`OutboxFull` and reports it
through ``on_full`` (the client turns that into a ``fault`` event, which may use a small
reserve above the bound); it never drops old events.
"""
from __future__ import annotations

import logging
import sqlite3
import threading
import time
from _thread import LockType, allocate_lock as _allocate_lock
from pathlib import Path
from typing import Any, Callable, Mapping, NamedTuple

from pydantic import ValidationError

from common.clock import Clock, SystemClock, iso
from common.sqlite import connect

from . import topics
from .errors import OutboxClosed, OutboxFull, OutboxStorageError, ProtocolError, storage_error
from .schemas import EVENT_DATA, Model, uuid7

log = logging.getLogger(__name__)

DEFAULT_MAX_EVENTS = 1_000_000
FAULT_RESERVE = 1_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY,  -- the device's seq is the row key: one B-tree write per event
    id TEXT NOT NULL,
    type TEXT NOT NULL,
    topic TEXT NOT NULL,
    payload TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS rejected (
    id TEXT PRIMARY KEY, seq INTEGER, topic TEXT, payload TEXT, reason TEXT, at TEXT
);
"""


class OutboxRow(NamedTuple):
    seq: int
    topic: str
    payload: bytes


class Enqueued(NamedTuple):
    """What enqueue returns: the event's identity, once it is on disk."""

    id: str
    seq: int
    ts: str
    topic: str
    payload: bytes


class _Req:
    __slots__ = ("type", "data", "id", "done", "error", "result", "gate")

    def __init__(self, type_: str, data: str):
        self.type = type_
        self.data = data  # the event's data, validated, as compact JSON
        self.id = uuid7()
        self.done = False
        self.error: BaseException | None = None
        self.result: Enqueued | None = None
        # only the last request of a submit waits: a held lock, released to wake it (cheaper
        # than an Event, which builds a Condition and a lock per call)
        self.gate: LockType | None = None

    def wake(self) -> None:
        if self.gate is not None:
            self.gate.release()


def seq_runs(ids: list[int]) -> list[tuple[int, int]]:
    """Seqs as inclusive runs, the form confirmations travel in: [5, 1, 2, 3, 7] -> [(1, 3), (5, 5), (7, 7)]"""
    out: list[tuple[int, int]] = []
    for i in sorted(set(ids)):
        if out and i == out[-1][1] + 1:
            out[-1] = (out[-1][0], i)
        else:
            out.append((i, i))
    return out


# a framed row: the request, its id, seq, type, topic and payload
_Row = tuple[_Req, str, int, str, str, str]


class Outbox:
    """A device's durable, ordered, bounded event queue.

    >>> ob = Outbox("/var/lib/motcua/outbox.db", site="camau-hcc", device="rt-05")
    >>> ob.enqueue("rating", {"desk": 5, "score": 5, "scale": 5})  # on disk when this returns
    """

    def __init__(self, path: str | Path, site: str, device: str, clock: Clock | None = None,
                 max_events: int = DEFAULT_MAX_EVENTS, fault_reserve: int = FAULT_RESERVE):
        if max_events < 1:
            raise ValueError(f"max_events must be at least 1, got {max_events}")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.site = topics.check_id(site, "site")
        self.device = topics.check_id(device, "device")
        self.clock = clock or SystemClock()
        self.max_events = max_events
        self.fault_reserve = fault_reserve
        self.on_full: Callable[[int], None] | None = None
        self.on_storage_error: Callable[[OutboxStorageError], None] | None = None
        try:
            self._w = connect(self.path)
            self._w.executescript(_SCHEMA)
            self._r = connect(self.path)
        except sqlite3.Error as exc:
            raise storage_error(exc, self.path) from exc
        self._wlock = threading.Lock()
        self._rlock = threading.Lock()
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._pending: list[_Req] = []
        self._writing = False
        self._last_batch = 1
        self._closed = False
        self._listeners: list[Callable[[list[OutboxRow]], None]] = []
        self._topics: dict[str, str] = {}  # event type -> topic
        self._removals: list[int] = []  # confirmed, to be removed with the next transaction
        # next_seq is the larger of what removals recorded in meta and the newest stored event:
        # an insert commits its seq with its row, a removal commits next_seq with the delete
        row = self._w.execute("SELECT value FROM meta WHERE key='next_seq'").fetchone()
        newest = self._w.execute("SELECT MAX(seq) FROM outbox").fetchone()[0]
        self._next_seq = max(int(row[0]) if row else 1, (newest or 0) + 1)
        self._depth: int = int(self._w.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])
        self._was_full = False
        # the first seq this file ever assigned: with the newest seq and the oldest held, the
        # collector tells events lost before the first it stored (telemetry, docs/protocol.md)
        row = self._w.execute("SELECT value FROM meta WHERE key='first_seq'").fetchone()
        if row is None:
            oldest = self._w.execute("SELECT MIN(seq) FROM outbox").fetchone()[0]
            self._first_seq = oldest if oldest is not None else self._next_seq
            self._w.execute("INSERT INTO meta (key, value) VALUES ('first_seq', ?)", (str(self._first_seq),))
        else:
            self._first_seq = int(row[0])
        self.storage_error: OutboxStorageError | None = None  # the last write's, until one succeeds

    # -- producing ----------------------------------------------------------------------------

    def enqueue(self, type_: str, data: Model | Mapping[str, Any]) -> Enqueued:
        """Store one event durably and return its id and seq; raise OutboxFull when full."""
        return self._submit([self._request(type_, data)])[0]

    def enqueue_many(self, items: list[tuple[str, Model | Mapping[str, Any]]]) -> list[Enqueued]:
        """Store several events in one transaction (all or, when full, as many as fit)."""
        return self._submit([self._request(t, d) for t, d in items])

    def _request(self, type_: str, data: Model | Mapping[str, Any]) -> _Req:
        model = EVENT_DATA.get(type_)
        if model is None:
            raise ProtocolError("unknown_type", f"unknown event type {type_!r}; known: {', '.join(EVENT_DATA)}")
        if isinstance(data, Model):
            if not isinstance(data, model):
                raise ProtocolError("bad_data", f"{type_} event needs {model.__name__}, got {type(data).__name__}")
            payload = data.model_dump_json()  # compact, UTF-8 kept as is
        else:
            try:
                payload = model.model_validate(data if isinstance(data, dict) else dict(data)).model_dump_json()
            except ValidationError as exc:
                raise ProtocolError("bad_data", f"{type_} data: {exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}") from None
        return _Req(type_, payload)

    def _submit(self, reqs: list[_Req]) -> list[Enqueued]:
        """Group commit: whoever finds no write in progress leads and writes everything pending
        in one transaction; the others sleep on their own gate. After its batch the leader
        hands the lead to the newest waiter (whose batch is whole), so no caller serves others
        for long."""
        last = reqs[-1]
        last.gate = _allocate_lock()
        last.gate.acquire()
        with self._lock:
            if self._closed:
                raise OutboxClosed("the outbox is closed")
            self._pending.extend(reqs)
            lead = not self._writing
            if lead:
                self._writing = True
        while True:
            if not lead:
                last.gate.acquire()
                if last.done:
                    break
                lead = True  # the previous leader handed the lead to us
            self._gather()
            with self._lock:
                batch, self._pending = self._pending, []
            self._last_batch = len(batch)
            try:
                self._write(batch)
            except BaseException as exc:  # noqa: BLE001 - every waiter must learn of it
                for r in batch:
                    if not r.done:
                        r.error, r.done = exc, True
            for r in batch:
                if r is not last:
                    r.wake()
            with self._lock:
                if self._pending:
                    self._pending[-1].wake()  # next leader: the newest waiter, whose batch is whole
                else:
                    self._writing = False
                    self._idle.notify_all()
            if last.done:
                break
            lead = False
        for r in reqs:
            if r.error is not None:
                raise r.error
        return [r.result for r in reqs if r.result is not None]

    def _gather(self) -> None:
        """Before committing, let producers that the last commit woke add their events, so they
        share this commit rather than each waiting for the next (PostgreSQL's commit_delay,
        without the fixed delay): yield while the queue grows and is smaller than the last batch.
        A lone producer never yields."""
        n = len(self._pending)
        while n < self._last_batch:
            time.sleep(0)
            m = len(self._pending)
            if m == n:
                return
            n = m

    def _write(self, batch: list[_Req]) -> None:
        ts = iso(self.clock.now())
        synced = self.clock.is_synced()
        with self._wlock:
            rows, seq, depth, refused = self._frame(batch, ts, synced)
            if rows:
                self._commit(rows, seq, depth)
            committed = []
            for r, eid, s, _t, topic, payload in rows:
                data = payload.encode()
                r.result = Enqueued(eid, s, ts, topic, data)
                r.done = True
                committed.append(OutboxRow(s, topic, data))
            if committed:
                self._notify_listeners(committed)
        if refused:
            self._refused(depth)

    def _frame(self, batch: list[_Req], ts: str, synced: bool) -> tuple[list[_Row], int, int, int]:
        """Each request as its row (envelope written once, seq assigned), or refused when full."""
        rows: list[_Row] = []
        refused = 0
        seq = self._next_seq
        depth = self._depth
        # the envelope's fields that are the same for the whole batch, written once
        shared = (f'"ts":"{ts}","clock_synced":{"true" if synced else "false"},'
                  f'"site":"{self.site}","device":"{self.device}"')
        for r in batch:
            limit = self.max_events + (self.fault_reserve if r.type == "fault" else 0)
            if depth >= limit:
                r.error = OutboxFull(
                    f"outbox {self.path} holds {depth} events, its limit is {self.max_events}: "
                    f"event refused (nothing old was dropped); is the broker reachable?")
                r.done = True
                refused += 1
                continue
            topic = self._topics.get(r.type)
            if topic is None:
                topic = self._topics[r.type] = topics.event(self.site, self.device, r.type)
            payload = f'{{"v":1,"id":"{r.id}","seq":{seq},{shared},"type":"{r.type}","data":{r.data}}}'
            rows.append((r, r.id, seq, r.type, topic, payload))
            seq += 1
            depth += 1
        return rows, seq, depth, refused

    def _commit(self, rows: list[_Row], seq: int, depth: int) -> None:
        """One transaction: the new rows in, the confirmed rows out (one fsync for both)."""
        c = self._w
        with self._lock:
            removals, self._removals = self._removals, []
        try:
            c.execute("BEGIN IMMEDIATE")
            deleted = self._delete(removals) if removals else 0
            c.executemany(
                "INSERT INTO outbox (id, seq, type, topic, payload) VALUES (?,?,?,?,?)",
                [row[1:] for row in rows])
            c.execute("COMMIT")
        except BaseException as exc:
            self._undo(removals)
            if isinstance(exc, sqlite3.Error):
                raise self._storage_failed(exc) from exc
            raise
        self.storage_error = None
        self._next_seq = seq
        self._depth = depth
        self._removed(deleted)

    def _refused(self, depth: int) -> None:
        if not self._was_full:
            log.error("outbox full (%d events): refusing new events", self.max_events)
        self._was_full = True
        if self.on_full is not None:
            try:
                self.on_full(depth)
            except Exception:  # noqa: BLE001 - a hook must not break enqueue
                log.exception("outbox on_full hook failed")

    # -- draining -----------------------------------------------------------------------------

    def add_listener(self, fn: Callable[[list[OutboxRow]], None]) -> None:
        """fn(rows) is called right after each commit with the rows it stored, in commit order,
        under the outbox's write lock: the client hands them to paho from there, so a drainer
        neither wakes up nor reads them back. It must be quick and must not enqueue."""
        self._listeners.append(fn)

    def _notify_listeners(self, rows: list[OutboxRow]) -> None:
        for fn in self._listeners:
            try:
                fn(rows)
            except Exception:  # noqa: BLE001 - the rows are stored; the drainer will send them
                log.exception("outbox listener failed")

    def fetch(self, after_seq: int = 0, limit: int = 500) -> list[OutboxRow]:
        """The oldest events after ``after_seq``, in order."""
        with self._rlock:
            cur = self._r.execute(
                "SELECT seq, topic, payload FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?", (after_seq, limit))
            return [OutboxRow(r[0], r[1], r[2].encode()) for r in cur.fetchall()]

    def fetch_seqs(self, seqs: list[int]) -> list[OutboxRow]:
        """These events (those still held), in order."""
        out: list[OutboxRow] = []
        with self._rlock:
            for lo, hi in seq_runs(seqs):
                cur = self._r.execute("SELECT seq, topic, payload FROM outbox WHERE seq BETWEEN ? AND ? "
                                      "ORDER BY seq", (lo, hi))
                out.extend(OutboxRow(r[0], r[1], r[2].encode()) for r in cur.fetchall())
        return out

    def oldest(self) -> int | None:
        """The oldest seq still held (confirmed rows awaiting removal may be among them)."""
        with self._rlock:
            row = self._r.execute("SELECT MIN(seq) FROM outbox").fetchone()
        return int(row[0]) if row[0] is not None else None

    def purge(self, wait: bool = True) -> bool:
        """Remove the rows the collector confirmed. With ``wait=False`` and an enqueue
        committing, the removal joins the next commit's transaction (one fsync for both) and
        this returns False at once, so a drainer never stalls on an fsync."""
        if not self._wlock.acquire(blocking=wait):
            return False
        try:
            with self._lock:
                removals, self._removals = self._removals, []
            if not removals:
                return True
            c = self._w
            # A lost delete only means a resend (the collector stores by id), so removals skip
            # the fsync; the next durable enqueue commit syncs them along with it.
            try:
                c.execute("PRAGMA synchronous=NORMAL")
                c.execute("BEGIN IMMEDIATE")
                deleted = self._delete(removals)
                self._keep_next_seq()
                c.execute("COMMIT")
            except sqlite3.Error as exc:
                self._undo(removals)
                raise self._storage_failed(exc) from exc
            finally:
                c.execute("PRAGMA synchronous=FULL")
            self._removed(deleted)
        finally:
            self._wlock.release()
        return True

    def _keep_next_seq(self) -> None:
        """Inside a transaction that deletes rows: the newest event may be among them, so
        next_seq is kept with the removal."""
        self._w.execute("INSERT INTO meta (key, value) VALUES ('next_seq', ?) "
                        "ON CONFLICT(key) DO UPDATE SET value=excluded.value", (str(self._next_seq),))

    def _undo(self, removals: list[int]) -> None:
        """A transaction failed: roll back what SQLite did not already roll back itself (on a
        full disk it has, and a second ROLLBACK would hide the real error), and keep the
        removals for the next one."""
        if self._w.in_transaction:
            try:
                self._w.execute("ROLLBACK")
            except sqlite3.Error:
                log.exception("outbox rollback failed")
        with self._lock:
            self._removals[:0] = removals

    def _storage_failed(self, exc: sqlite3.Error) -> OutboxStorageError:
        err = storage_error(exc, self.path)
        if self.storage_error is None or self.storage_error.kind != err.kind:
            log.error("%s", err)
        self.storage_error = err
        if self.on_storage_error is not None:
            try:
                self.on_storage_error(err)
            except Exception:  # noqa: BLE001 - a hook must not hide the error
                log.exception("outbox on_storage_error hook failed")
        return err

    def mark_confirmed(self, seqs: list[int]) -> None:
        """Note rows the collector confirmed, to be removed by the next commit's transaction
        (or by ``purge()``). Never touches the disk: safe on the network thread. Each seq once:
        the sender passes only rows it had sent and not yet seen confirmed."""
        with self._lock:
            self._removals.extend(seqs)

    def confirm(self, seqs: list[int]) -> None:
        """Remove these rows now, as a confirmation from the collector would (tests, tools)."""
        self.mark_confirmed(sorted(set(seqs)))
        self.purge()

    def removals_pending(self) -> int:
        """Confirmed rows waiting to be removed with the next commit."""
        return len(self._removals)

    def _delete(self, seqs: list[int]) -> int:
        deleted = 0
        for lo, hi in seq_runs(seqs):  # confirmations come mostly in order: delete ranges
            deleted += self._w.execute("DELETE FROM outbox WHERE seq BETWEEN ? AND ?", (lo, hi)).rowcount
        return deleted

    def _removed(self, deleted: int) -> None:
        self._depth -= deleted
        if self._was_full and self._depth < self.max_events:
            self._was_full = False
            log.info("outbox below its limit again (%d events)", self._depth)

    def reject(self, seq: int, reason: str) -> None:
        """The broker refused this event for good (e.g. not authorised): keep it aside with
        the reason instead of blocking the queue, and never drop it silently."""
        with self._wlock:
            c = self._w
            try:
                c.execute("BEGIN IMMEDIATE")
                c.execute("INSERT OR IGNORE INTO rejected (id, seq, topic, payload, reason, at) "
                          "SELECT id, seq, topic, payload, ?, ? FROM outbox WHERE seq=?",
                          (reason, iso(self.clock.now()), seq))
                cur = c.execute("DELETE FROM outbox WHERE seq=?", (seq,))
                self._keep_next_seq()
                c.execute("COMMIT")
            except sqlite3.Error as exc:
                # an open transaction would make every later BEGIN fail: roll it back
                self._undo([])
                raise self._storage_failed(exc) from exc
            self._depth -= cur.rowcount
        log.error("broker rejected outbox event seq=%d: %s (kept in table 'rejected')", seq, reason)

    def depth(self) -> int:
        """Events stored and not yet confirmed by the collector."""
        return self._depth - len(self._removals)

    @property
    def full(self) -> bool:
        return bool(self._depth >= self.max_events)

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def next_seq(self) -> int:
        return self._next_seq

    @property
    def first_seq(self) -> int:
        """The first seq this outbox file ever assigned."""
        return self._first_seq

    def rejected(self) -> list[tuple[str, int, str]]:
        with self._rlock:
            return [(str(r[0]), int(r[1]), str(r[2]))
                    for r in self._r.execute("SELECT id, seq, reason FROM rejected ORDER BY seq")]

    def close(self) -> None:
        with self._lock:
            while self._writing:
                self._idle.wait()
            if self._closed:
                return
            self._closed = True
        try:
            self.purge()  # what was confirmed leaves the disk now
        except OutboxStorageError:
            pass  # kept on disk: resent after the restart and confirmed again
        with self._wlock, self._rlock:
            self._w.close()
            self._r.close()
