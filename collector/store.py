"""The writer side: one batch of incoming MQTT messages -> one transaction (SQLite or PostgreSQL).

Every message ends up in exactly one place: an event row (plus its typed row), a device row
(status, telemetry), retained state, or a dead letter with the reason it was refused. Events are
stored exactly once by ``id`` (ids already stored, or repeated inside the batch, are counted as
duplicates). Per-device ``seq`` gaps are kept in ``seq_gaps`` and shrink when late events fill them.

Several writers may share one PostgreSQL store (central collectors on a shared subscription): an
id is stored once (``ON CONFLICT (id) DO NOTHING RETURNING id`` says which were new), and a
device's ``last_seq`` and gaps are read and written only while its ``devices`` row is locked by
this transaction, so two writers never both open or fill the same gap.
"""
from __future__ import annotations

import base64
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, NamedTuple
from zoneinfo import ZoneInfo

from common.clock import iso
from mqtt import topics
from mqtt.errors import BadId, BadTopic, ProtocolError
from mqtt.schemas import (BusyHoursState, CallsState, DeskState, Envelope, HoursState, Model, PresenceState,
                          ServiceState, SiteState, Status, Telemetry, load_json, parse_event, parse_model)

from . import backend, rollups
from .backend import Conn
from .site_config import record_version

log = logging.getLogger(__name__)

STATE_MODELS: dict[str, type[Model]] = {"site": SiteState, "desk": DeskState, "service": ServiceState,
                                        "calls": CallsState, "presence": PresenceState, "hours": HoursState,
                                        "busy-hours": BusyHoursState}


EVENT_COLUMNS = ("id", "site", "device", "type", "seq", "ts", "ts_epoch", "clock_synced", "topic", "payload",
                 "received_at", "received_epoch")

_HEAD = ("id", "site", "device")
TYPED_COLUMNS: dict[str, tuple[str, ...]] = {
    "ratings": _HEAD + ("desk", "score", "scale", "ticket", "service", "officer", "misuse", "misuse_reason",
                        "day", "ts", "ts_epoch"),
    "ticket_events": _HEAD + ("action", "ticket", "number", "day", "service", "priority", "appointment", "desk",
                              "officer", "kiosk", "issued_at", "people_ahead", "wait_s", "service_s",
                              "to_service", "offline", "ts", "ts_epoch"),
    "presence": _HEAD + ("desk", "zone", "kind", "present", "since", "window_s", "occupied_share", "changes",
                         "ts", "ts_epoch"),
    "faults": _HEAD + ("code", "active", "message_vi", "message_en", "detail", "ts", "ts_epoch"),
    "desk_sessions": _HEAD + ("desk", "action", "officer", "badge", "ts", "ts_epoch"),
}


class Incoming(NamedTuple):
    """One message as the network thread hands it to the writer."""

    topic: str
    payload: bytes
    retain: bool
    received: datetime
    mid: int = 0
    qos: int = 0
    generation: int = 0


@dataclass
class BatchResult:
    stored: int = 0
    duplicates: int = 0
    dead: int = 0
    ignored: int = 0
    changed: set[str] = field(default_factory=set)  # desks, queue, devices, ratings, dead
    # (site, device) -> seqs of its events now in the store (stored, already stored, or kept as
    # dead letters): confirmed to the device after the commit (docs/protocol.md)
    confirm: dict[tuple[str, str], list[int]] = field(default_factory=dict)


def _payload_text(payload: bytes) -> tuple[str, str]:
    try:
        return payload.decode("utf-8"), "utf8"
    except UnicodeDecodeError:
        return base64.b64encode(payload).decode("ascii"), "base64"


def _epoch(dt: datetime | None) -> float | None:
    return dt.timestamp() if dt is not None else None


class Store:
    """Writes batches on the writer's own connection (one per process; several processes may share
    a PostgreSQL store)."""

    def __init__(self, conn: Conn, tz: str = "Asia/Ho_Chi_Minh"):
        self.conn = conn
        self.tz = ZoneInfo(tz)
        # the province's daily rollups (collector/rollups.py) are kept in a store migrated to have them
        # (always, once open_db migrated it; not in an older schema a migration test writes into)
        self.rollups = backend.has_table(conn, "rollup_sites")
        # each site's earliest event time this writer knows rollup_sites holds: a batch writes only an
        # earlier one (not one upsert per site per batch); forgotten at a rollback
        self._first_noted: dict[str, float] = {}

    # -- the batch ------------------------------------------------------------------------------

    def write_batch(self, batch: list[Incoming]) -> BatchResult:
        res = BatchResult()
        try:
            self.conn.execute("BEGIN IMMEDIATE")
            events: list[tuple[Incoming, Envelope]] = []
            for msg in batch:
                try:
                    self._route(msg, events, res)
                except ProtocolError as exc:
                    self._dead(msg, exc.reason, str(exc), res)
            if events:
                self._store_events(events, res)
            self.conn.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise
        return res

    def _rollback(self) -> None:
        """Roll back what SQLite did not roll back itself: on a full disk it has, and a second
        ROLLBACK would replace the real error with "cannot rollback - no transaction is active"."""
        self._first_noted.clear()
        if self.conn.in_transaction:
            try:
                self.conn.execute("ROLLBACK")
            except backend.Error:
                log.exception("rollback failed")

    def _route(self, msg: Incoming, events: list[tuple[Incoming, Envelope]], res: BatchResult) -> None:
        try:
            t = topics.parse(msg.topic)
        except (BadTopic, BadId) as exc:
            raise ProtocolError("bad_topic", str(exc)) from None
        if t.kind == "evt":
            events.append((msg, parse_event(msg.topic, msg.payload)))
        elif t.kind == "status":
            self._status(t, msg, res)
        elif t.kind == "telemetry":
            self._telemetry(t, msg, res)
        elif t.kind == "state" or (t.kind == "devstate" and t.name == "presence"):
            self._state(t, msg, res)
        elif t.kind == "devstate":
            if msg.payload:
                load_json(msg.payload)
            self._keep_state(t, msg, res)
        else:  # requests, responses, commands and confirmations are conversations, not records
            res.ignored += 1

    def _dead(self, msg: Incoming, reason: str, message: str, res: BatchResult) -> None:
        text, enc = _payload_text(msg.payload)
        self.conn.execute(
            "INSERT INTO dead_letters (topic, payload, payload_encoding, reason, message, received_at, "
            "received_epoch) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (msg.topic, text, enc, reason, message, iso(msg.received), msg.received.timestamp()))
        res.dead += 1
        res.changed.add("dead")
        seq = _event_seq(msg)
        if seq is not None:  # kept as a dead letter with its reason: the device may forget it
            res.confirm.setdefault(seq[:2], []).append(seq[2])
        log.warning("dead letter on %s: %s", msg.topic, message)

    # -- device status, telemetry, retained state -----------------------------------------------

    def _seen(self, site: str, device: str, msg: Incoming) -> None:
        self._seen_many({(site, device): msg})

    def _seen_many(self, latest: dict[tuple[str, str], Incoming]) -> dict[tuple[str, str], int | None]:
        """Each device was heard from at its message's ``received`` (a later time than the stored
        one wins); their ``last_seq``. One statement, devices in sorted order: on PostgreSQL the
        upsert locks each row until the commit, in the same order in every writer."""
        newer = "excluded.last_seen_epoch >= coalesce(devices.last_seen_epoch, 0)"
        keys = sorted(latest)
        out: dict[tuple[str, str], int | None] = {}
        per = backend.SQLITE_MAX_PARAMS // 4
        for i in range(0, len(keys), per):
            chunk = keys[i:i + per]
            args = [v for k in chunk for v in (k[0], k[1], iso(latest[k].received), latest[k].received.timestamp())]
            rows = self.conn.execute(
                "INSERT INTO devices (site, device, last_seen, last_seen_epoch) VALUES "
                f"{', '.join(['(?, ?, ?, ?)'] * len(chunk))} ON CONFLICT(site, device) DO UPDATE SET "
                f"last_seen=CASE WHEN {newer} THEN excluded.last_seen ELSE devices.last_seen END, "
                f"last_seen_epoch=CASE WHEN {newer} THEN excluded.last_seen_epoch ELSE devices.last_seen_epoch END "
                "RETURNING site, device, last_seq", args).fetchall()
            out.update({(r[0], r[1]): None if r[2] is None else int(r[2]) for r in rows})
        return out

    def _status(self, t: topics.Topic, msg: Incoming, res: BatchResult) -> None:
        if not msg.payload:  # a cleared retained status
            res.ignored += 1
            return
        st = parse_model(Status, msg.payload)
        if st.device != t.device:
            raise ProtocolError("device_mismatch", f"status device {st.device!r} does not match topic device {t.device!r}")
        self.conn.execute(
            "INSERT INTO devices (site, device, role, version, desk, status, status_at) VALUES (?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(site, device) DO UPDATE SET role=excluded.role, version=excluded.version, "
            "desk=excluded.desk, status=excluded.status, status_at=excluded.status_at",
            (t.site, t.device, st.role, st.version, st.desk, st.state, iso(st.ts or msg.received)))
        if st.state == "online" or not msg.retain:
            self._seen(t.site, t.device or "", msg)
        res.stored += 1
        res.changed.update(("devices", "desks"))

    def _telemetry(self, t: topics.Topic, msg: Incoming, res: BatchResult) -> None:
        tel = parse_model(Telemetry, msg.payload)
        self.conn.execute(
            "INSERT INTO devices (site, device, telemetry, telemetry_at, outbox_depth, clock_synced) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(site, device) DO UPDATE SET telemetry=excluded.telemetry, "
            "telemetry_at=excluded.telemetry_at, outbox_depth=excluded.outbox_depth, "
            "clock_synced=excluded.clock_synced",
            (t.site, t.device, tel.model_dump_json(), iso(tel.ts), tel.outbox_depth, int(tel.clock_synced)))
        self._seen(t.site, t.device or "", msg)
        self._edge_gaps(t.site, t.device or "", tel, msg)
        res.stored += 1
        res.changed.add("devices")

    def _edge_gaps(self, site: str, device: str, tel: Telemetry, msg: Incoming) -> None:
        """Events lost before the first or after the last one stored: the device says which seqs
        it ever assigned (``seq_first``..``seq_last``) and which it still holds (from
        ``seq_oldest_held``); every other one must be here."""
        if tel.seq_first is None or tel.seq_last is None or tel.seq_last < tel.seq_first:
            return
        end = tel.seq_last if tel.seq_oldest_held is None else min(tel.seq_last, tel.seq_oldest_held - 1)
        if end < tel.seq_first:
            return
        lo, hi = self.conn.execute("SELECT MIN(seq), MAX(seq) FROM events WHERE site=? AND device=? AND seq>=?",
                                   (site, device, tel.seq_first)).fetchone()
        at = iso(msg.received)
        found: list[tuple[int, int]] = []
        if lo is None:
            found.append((tel.seq_first, end))
        else:
            if lo > tel.seq_first:
                found.append((tel.seq_first, min(lo - 1, end)))
            if hi < end:
                found.append((hi + 1, end))
        for a, b in found:
            covered = self.conn.execute("SELECT 1 FROM seq_gaps WHERE site=? AND device=? AND from_seq<=? "
                                        "AND to_seq>=?", (site, device, a, b)).fetchone()
            if covered:
                continue
            self._put_gap(site, device, a, b, at)
            log.warning("device %s/%s lost seq %d..%d (it holds them no more and they were never stored)",
                        site, device, a, b)
        if found and found[-1][1] == end:  # a later arrival inside the tail fills the gap
            self.conn.execute("UPDATE devices SET last_seq=? WHERE site=? AND device=? "
                              "AND (last_seq IS NULL OR last_seq < ?)", (end, site, device, end))

    def _state(self, t: topics.Topic, msg: Incoming, res: BatchResult) -> None:
        if msg.payload:
            model = parse_model(STATE_MODELS[t.name or ""], msg.payload)
            if isinstance(model, SiteState):  # reports measure each past period with the version in force
                if record_version(self.conn, t.site, msg.payload.decode("utf-8"), model.ts or msg.received) \
                        and self.rollups:
                    rollups.mark_from(self.conn, t.site, (model.ts or msg.received).timestamp(), self.tz,
                                      msg.received.timestamp())
            if isinstance(model, PresenceState):
                at = (model.ts or msg.received).timestamp()
                for zone, present, since in (("officer", model.officer, model.officer_since),
                                             ("citizen", model.citizen, model.citizen_since)):
                    if present is not None or zone in model.unknown:
                        self._presence_now(t.site, model.desk, zone, present, since, t.device, at)
        self._keep_state(t, msg, res)
        res.changed.update(("desks", "queue"))

    def _keep_state(self, t: topics.Topic, msg: Incoming, res: BatchResult) -> None:
        if not msg.payload:
            self.conn.execute("DELETE FROM retained_state WHERE topic=?", (msg.topic,))
        else:
            self.conn.execute(
                "INSERT INTO retained_state (topic, site, device, name, key, payload, received_at, "
                "received_epoch) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (topic) DO UPDATE SET "
                "site=excluded.site, device=excluded.device, name=excluded.name, key=excluded.key, "
                "payload=excluded.payload, received_at=excluded.received_at, received_epoch=excluded.received_epoch",
                (msg.topic, t.site, t.device, t.name, t.key, msg.payload.decode("utf-8"), iso(msg.received),
                 msg.received.timestamp()))
        res.stored += 1

    def _presence_now(self, site: str, desk: int, zone: str, present: bool | None, since: datetime | None,
                      device: str | None, at: float) -> None:
        self.conn.execute(
            "INSERT INTO desk_presence (site, desk, zone, present, since, device, updated_epoch) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(site, desk, zone) DO UPDATE SET present=excluded.present, "
            "since=excluded.since, device=excluded.device, updated_epoch=excluded.updated_epoch "
            "WHERE excluded.updated_epoch >= desk_presence.updated_epoch",
            (site, desk, zone, None if present is None else int(present), iso(since) if since else None, device, at))

    # -- events ---------------------------------------------------------------------------------

    def _insert_events(self, rows: list[tuple[Any, ...]]) -> set[str]:
        """INSERT the event rows (in id order: two writers lock ids in one order), skipping ids
        already stored; the ids that were new. Another writer's uncommitted same id makes this one
        wait for its commit (PostgreSQL's unique index; SQLite has one writer), so every id is
        stored once however many collectors write."""
        return set(backend.insert_rows(self.conn, "events", EVENT_COLUMNS, sorted(rows, key=lambda r: r[0]),
                                       returning="id"))

    def _store_events(self, events: list[tuple[Incoming, Envelope]], res: BatchResult) -> None:
        unique: dict[str, tuple[Incoming, Envelope]] = {}
        for msg, env in events:
            res.confirm.setdefault((env.site, env.device), []).append(env.seq)
            if env.id in unique:  # repeated inside the batch
                res.duplicates += 1
                continue
            unique[env.id] = (msg, env)
        if not unique:
            return
        new = self._insert_events([(e.id, e.site, e.device, e.type, e.seq, iso(e.ts), e.ts.timestamp(),
                                    int(e.clock_synced), m.topic, m.payload.decode("utf-8"), iso(m.received),
                                    m.received.timestamp()) for m, e in unique.values()])
        fresh = [(m, e) for m, e in unique.values() if e.id in new]  # in arrival order
        res.duplicates += len(unique) - len(fresh)
        if not fresh:
            return
        by_type: dict[str, list[tuple[Any, ...]]] = {}
        by_device: dict[tuple[str, str], list[tuple[Incoming, Envelope]]] = {}
        for m, e in fresh:
            self._typed_row(e, by_type, res)
            by_device.setdefault((e.site, e.device), []).append((m, e))
        for table, rows_ in by_type.items():
            backend.insert_rows(self.conn, table, TYPED_COLUMNS[table], rows_)
        if self.rollups:  # days already over whose daily figures change (the province's rollups)
            rollups.mark_dirty(self.conn, [(e.site, e.type, e.ts.timestamp()) for _, e in fresh], self.tz,
                               max(m.received.timestamp() for m, _ in fresh), self._first_noted)
        moved: list[tuple[int, str, str]] = []
        # last_seq read under the row locks: a second writer waits for the first's commit
        before = self._seen_many({k: evs[-1][0] for k, evs in by_device.items()})
        for (site, device) in sorted(by_device):
            first = before[(site, device)]
            last = self._track_seqs(site, device, first, by_device[(site, device)])
            if last != first and last is not None:
                moved.append((last, site, device))
        self.conn.executemany("UPDATE devices SET last_seq=? WHERE site=? AND device=?", moved)
        res.stored += len(fresh)

    def _typed_row(self, e: Envelope, out: dict[str, list[tuple[Any, ...]]], res: BatchResult) -> None:
        d: Any = e.typed_data()
        ts, ep = iso(e.ts), e.ts.timestamp()
        head = (e.id, e.site, e.device)
        if e.type == "rating":
            day = e.ts.astimezone(self.tz).date().isoformat()
            rows = out.setdefault("ratings", [])
            misuse, reason = d.misuse, d.misuse_reason
            if not misuse and d.ticket and self._rated(e.site, day, d.ticket, rows):
                misuse, reason = True, "same_ticket"  # one rating per ticket across desk and phone
            rows.append(head + (d.desk, d.score, d.scale, d.ticket, d.service, d.officer, int(misuse), reason,
                                day, ts, ep))
            res.changed.update(("ratings", "desks"))
        elif e.type == "ticket":
            out.setdefault("ticket_events", []).append(head + (
                d.action, d.ticket, d.number, d.day, d.service, d.priority, d.appointment, d.desk, d.officer,
                d.kiosk, iso(d.issued_at) if d.issued_at else None, d.people_ahead, d.wait_s, d.service_s,
                d.to_service, int(d.offline), ts, ep))
            res.changed.update(("queue", "desks"))
        elif e.type == "presence":
            out.setdefault("presence", []).append(head + (d.desk, d.zone, d.kind, None if d.present is None else int(d.present), iso(d.since),
                                                          d.window_s, d.occupied_share, d.changes, ts, ep))
            self._presence_now(e.site, d.desk, d.zone, d.present, d.since, e.device, ep)
            res.changed.add("desks")
        elif e.type == "fault":
            out.setdefault("faults", []).append(head + (d.code, int(d.active), d.message_vi, d.message_en,
                                                        d.detail, ts, ep))
            res.changed.add("devices")
        elif e.type == "desk":
            out.setdefault("desk_sessions", []).append(head + (d.desk, d.action, d.officer, d.badge, ts, ep))
            res.changed.add("desks")

    def _rated(self, site: str, day: str, ticket: str, batch: list[tuple[Any, ...]]) -> bool:
        """Has this ticket of that day a counted rating, stored or earlier in this batch? (A desk
        terminal knows only its own presses, the portal only what it saw: a desk rating after a phone
        one is caught here, where the data lands.)"""
        cols = TYPED_COLUMNS["ratings"]
        i_site, i_day, i_ticket, i_misuse = (cols.index(c) for c in ("site", "day", "ticket", "misuse"))
        if any(r[i_site] == site and r[i_day] == day and r[i_ticket] == ticket and not r[i_misuse] for r in batch):
            return True
        return self.conn.execute("SELECT 1 FROM ratings WHERE site = ? AND day = ? AND ticket = ? AND misuse = 0 "
                                 "LIMIT 1", (site, day, ticket)).fetchone() is not None

    # -- seq gaps -------------------------------------------------------------------------------

    def _track_seqs(self, site: str, device: str, last: int | None,
                    events: list[tuple[Incoming, Envelope]]) -> int | None:
        """Gaps from one device's new events after ``last`` (its last_seq, read under its row lock):
        a seq past ``last + 1`` opens one, a late seq fills (splits) the one it falls in; the first
        event ever seen is the baseline. Returns the new last_seq."""
        for m, e in events:
            s = e.seq
            if last is None:
                last = s
                continue
            if s > last + 1:
                self._put_gap(site, device, last + 1, s - 1, iso(m.received))
                log.warning("device %s/%s skipped seq %d..%d", site, device, last + 1, s - 1)
            if s > last:
                last = s
                continue
            gap = self.conn.execute("SELECT from_seq, to_seq, detected_at FROM seq_gaps WHERE site=? AND device=? "
                                    "AND from_seq<=? AND to_seq>=?", (site, device, s, s)).fetchone()
            if gap is None:
                continue
            lo, hi, at = gap
            self.conn.execute("DELETE FROM seq_gaps WHERE site=? AND device=? AND from_seq=?", (site, device, lo))
            for a, b in ((lo, s - 1), (s + 1, hi)):
                if a <= b:
                    self._put_gap(site, device, a, b, at)
        return last

    def _put_gap(self, site: str, device: str, a: int, b: int, at: str) -> None:
        self.conn.execute("INSERT INTO seq_gaps (site, device, from_seq, to_seq, detected_at) VALUES (?, ?, ?, ?, ?) "
                          "ON CONFLICT (site, device, from_seq) DO UPDATE SET to_seq=excluded.to_seq, "
                          "detected_at=excluded.detected_at", (site, device, a, b, at))

    def write_dead_many(self, items: list[tuple[Incoming, str, str]],
                        also: Callable[[Conn], None] | None = None) -> BatchResult:
        """Store (message, reason, message text) dead letters in one transaction, with `also`
        (e.g. collector/authz.py counting them per device) in the same transaction."""
        res = BatchResult()
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            for msg, reason, message in items:
                self._dead(msg, reason, message, res)
            if also is not None:
                also(self.conn)
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        return res

    def write_dead(self, msg: Incoming, reason: str, message: str) -> BatchResult:
        """Store one message as a dead letter in its own transaction (the last resort)."""
        res = BatchResult()
        try:
            self.conn.execute("BEGIN IMMEDIATE")
            self._dead(msg, reason, message, res)
            self.conn.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise
        return res


def _event_seq(msg: Incoming) -> tuple[str, str, int] | None:
    """(site, device, seq) of a refused event, when its topic is an event topic and its payload
    carries an integer seq: the device is the topic's (the broker login's), never the payload's."""
    try:
        t = topics.parse(msg.topic)
        if t.kind != "evt" or t.device is None:
            return None
        data = load_json(msg.payload)
    except (BadTopic, BadId, ProtocolError):
        return None
    seq = data.get("seq") if isinstance(data, dict) else None
    if isinstance(seq, int) and not isinstance(seq, bool) and seq >= 0:
        return t.site, t.device, seq
    return None
