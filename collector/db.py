"""The collector's store: schema, migrations and connections, on SQLite (a site's file, WAL) or
PostgreSQL (the province; collector/backend.py).

Every table keeps times twice: as ISO 8601 text with the offset the device or the collector used
(``ts``, ``received_at``) and as a UTC epoch in seconds (``ts_epoch``, ``received_epoch``) for
range queries. Migrations run in order, all inside one transaction (a failing one leaves the file
as it was), and each is recorded in ``schema_version``; a newer collector upgrades an older file in place, an older collector refuses
a newer file (:class:`SchemaTooNew`).

A migration gets a :class:`collector.backend.Schema` and uses only ``db.table(t).create(...)``,
``.create_index(...)``, ``.add_column(...)`` and ``db.execute(portable SQL)``: the same function
runs on both engines.
"""
from __future__ import annotations

import logging
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from . import backend
from .backend import Conn, Schema
from .errors import SchemaTooNew

log = logging.getLogger(__name__)


def _v1_events(db: Schema) -> None:
    """Events by id, one table per event type, devices, gaps, dead letters, retained state."""
    common = {"id": str, "site": str, "device": str}
    db.table("events").create({**common, "type": str, "seq": int, "ts": str, "ts_epoch": float,
                         "clock_synced": int, "topic": str, "payload": str, "received_at": str,
                         "received_epoch": float}, pk="id", not_null={"site", "device", "type", "seq"})
    db.table("events").create_index(["site", "device", "seq"])
    db.table("events").create_index(["ts_epoch"])
    db.table("ratings").create({**common, "desk": int, "score": int, "scale": int, "ticket": str, "service": str,
                          "officer": str, "misuse": int, "misuse_reason": str, "day": str, "ts": str,
                          "ts_epoch": float}, pk="id")
    # (desk, ts_epoch, officer): desk pages come out in time order and desk+officer counts stay in the index
    for cols in (["ts_epoch"], ["desk", "ts_epoch", "officer"], ["officer", "ts_epoch"], ["service", "ts_epoch"]):
        db.table("ratings").create_index(cols)
    db.table("ticket_events").create({**common, "action": str, "ticket": str, "number": int, "day": str,
                                "service": str, "priority": str, "appointment": str, "desk": int,
                                "officer": str, "kiosk": str, "issued_at": str, "people_ahead": int,
                                "wait_s": float, "service_s": float, "to_service": str, "offline": int,
                                "ts": str, "ts_epoch": float}, pk="id")
    db.table("ticket_events").create_index(["ts_epoch"])
    db.table("ticket_events").create_index(["day", "service"])
    db.table("presence").create({**common, "desk": int, "zone": str, "kind": str, "present": int, "since": str,
                           "window_s": float, "occupied_share": float, "changes": int, "ts": str,
                           "ts_epoch": float}, pk="id")
    db.table("presence").create_index(["site", "desk", "ts_epoch"])
    db.table("faults").create({**common, "code": str, "active": int, "message_vi": str, "message_en": str,
                         "detail": str, "ts": str, "ts_epoch": float}, pk="id")
    db.table("faults").create_index(["site", "device", "code", "ts_epoch"])
    db.table("desk_sessions").create({**common, "desk": int, "action": str, "officer": str, "badge": str,
                                "ts": str, "ts_epoch": float}, pk="id")
    db.table("desk_sessions").create_index(["site", "desk", "ts_epoch"])
    db.table("devices").create({"site": str, "device": str, "role": str, "version": str, "desk": int,
                          "status": str, "status_at": str, "last_seen": str, "last_seen_epoch": float,
                          "telemetry": str, "telemetry_at": str, "outbox_depth": int, "clock_synced": int,
                          "last_seq": int}, pk=("site", "device"))
    db.table("seq_gaps").create({"site": str, "device": str, "from_seq": int, "to_seq": int, "detected_at": str},
                          pk=("site", "device", "from_seq"))
    db.table("dead_letters").create({"id": int, "topic": str, "payload": str, "payload_encoding": str,
                               "reason": str, "message": str, "received_at": str, "received_epoch": float},
                              pk="id")
    db.table("dead_letters").create_index(["received_epoch"])
    db.table("retained_state").create({"topic": str, "site": str, "device": str, "name": str, "key": str,
                                 "payload": str, "received_at": str, "received_epoch": float}, pk="topic")
    db.table("desk_presence").create({"site": str, "desk": int, "zone": str, "present": int, "since": str,
                                "device": str, "updated_epoch": float}, pk=("site", "desk", "zone"))
    db.table("meta").create({"key": str, "value": str}, pk="key")


def _v2_auth(db: Schema) -> None:
    """Dashboard users (argon2 hashes) and API tokens (sha256 of the token, never the token)."""
    db.table("users").create({"name": str, "password_hash": str, "created_at": str}, pk="name")
    db.table("tokens").create({"id": int, "name": str, "token_sha256": str, "created_at": str,
                         "last_used_at": str}, pk="id")
    db.table("tokens").create_index(["token_sha256"], unique=True)


def _v3_report_indexes(db: Schema) -> None:
    """Indexes for the reports and the dead-letters page (collector/reports.py, /dead-letters):
    officer-zone presence ``change`` events by time (``WHERE zone=? AND kind=? AND ts_epoch ...``),
    ticket events by action and time (``WHERE action IN (...) AND ts_epoch ...``) and dead letters by
    reason, newest first (``WHERE reason=? ORDER BY id DESC``)."""
    db.table("presence").create_index(["zone", "kind", "ts_epoch"], if_not_exists=True)
    db.table("ticket_events").create_index(["action", "ts_epoch"], if_not_exists=True)
    db.table("dead_letters").create_index(["reason", "id"], if_not_exists=True)


def _v4_sessions(db: Schema) -> None:
    """Web sessions that end (collector/sessions.py): one row per login, removed at logout, at a
    password change and when the user is disabled or deleted; users get a role and a disabled flag;
    tokens a role, an expiry and a revocation time (a revoked token stays listed)."""
    db.table("users").add_column("role", str, not_null_default="manager")
    db.table("users").add_column("disabled", int, not_null_default=0)
    db.table("tokens").add_column("role", str, not_null_default="manager")
    db.table("tokens").add_column("expires_epoch", float)
    db.table("tokens").add_column("revoked_at", str)
    db.table("sessions").create({"id_sha256": str, "name": str, "created_epoch": float, "expires_epoch": float,
                                 "address": str}, pk="id_sha256")
    db.table("sessions").create_index(["name"])


def _v5_forbidden(db: Schema) -> None:
    """Per device: how many of its messages were refused as ``forbidden`` (collector/authz.py),
    when the last was and why: the figure a device alert is raised on."""
    db.table("devices").add_column("forbidden", int)
    db.table("devices").add_column("forbidden_at", str)
    db.table("devices").add_column("forbidden_reason", str)


def _v6_site_history_alerts(db: Schema) -> None:
    """Reports and alerts (collector/site_config.py, collector/alerts.py): every version of the
    retained ``state/site`` with the time it came in force (seeded from the current one), and
    alerts with their times (raised, acknowledged, cleared)."""
    db.table("site_config_history").create({"site": str, "valid_from_epoch": float, "valid_from": str, "payload": str},
                                     pk=("site", "valid_from_epoch"))
    db.execute("INSERT INTO site_config_history (site, valid_from_epoch, valid_from, payload) "
               "SELECT site, received_epoch, received_at, payload FROM retained_state "
               "WHERE name='site' AND device IS NULL ON CONFLICT (site, valid_from_epoch) DO NOTHING")
    db.table("alerts").create({"id": int, "site": str, "kind": str, "subject": str, "severity": str,
                         "message_vi": str, "message_en": str, "detail": str, "raised_at": str,
                         "raised_epoch": float, "cleared_at": str, "cleared_epoch": float,
                         "acked_at": str, "acked_by": str, "delivered": str}, pk="id")
    db.table("alerts").create_index(["site", "kind", "subject", "cleared_epoch"])
    db.table("alerts").create_index(["raised_epoch"])


def _v7_feedback_handling(db: Schema) -> None:
    """Citizens' feedback handled by managers (collector/web/feedback.py): every change of an item's
    state (``new``, ``in_progress``, ``done``) with who made it, when and an optional note; the latest
    is the item's state. Ratings by (site, day, ticket), for one rating per ticket across desk and
    phone (collector/store.py)."""
    db.table("feedback_history").create({"event_id": str, "changed_epoch": float, "site": str, "state": str,
                                         "note": str, "changed_by": str, "changed_at": str},
                                        pk=("event_id", "changed_epoch"), not_null={"state", "changed_by"})
    db.table("ratings").create_index(["site", "day", "ticket"], if_not_exists=True)


def _v8_province(db: Schema) -> None:
    """The province (collector/rollups.py, collector/province_reports.py): daily figures per site, day,
    grain (site, service, desk, officer, department) and key, the days whose figures must be computed
    again (``gen`` counts the marks), and users bound to one site (NULL: the whole store, e.g. province-wide)."""
    figures = {"issued": int, "served": int, "no_shows": int, "wait_n": int, "wait_sum": float, "wait_max": float,
               "service_n": int, "service_sum": float, "in_target": int, "with_target": int,
               **{f"r{i}": int for i in range(1, 6)}, **{f"sat{i}": int for i in range(1, 6)}, "misuse": int,
               "portal": int, "terminal": int, "present_s": float, "expected_s": float}
    db.table("rollup_day").create({"site": str, "day": str, "grain": str, "key": str, **figures,
                                   "computed_epoch": float}, pk=("site", "day", "grain", "key"))
    db.table("rollup_day").create_index(["grain", "day", "site"], if_not_exists=True)
    db.table("rollup_dirty").create({"site": str, "day": str, "gen": int}, pk=("site", "day"))
    db.table("users").add_column("site", str)


def _v9_none(db: Schema) -> None:
    """Number 9 was assigned to the province replay, which needed no table: nothing (the numbers
    stay those of the assignment, so the console's is 10)."""


def _v10_console_desks(db: Schema) -> None:
    """The officer console (collector/web/console.py): the desk a login session is bound to, kept
    with the session so a collector restart leaves the officer at their desk (NULL: no desk)."""
    db.table("sessions").add_column("desk", int)


MIGRATIONS: list[Callable[[Schema], None]] = [_v1_events, _v2_auth, _v3_report_indexes,
                                                              _v4_sessions, _v5_forbidden, _v6_site_history_alerts,
                                                              _v7_feedback_handling, _v8_province,
                                                              _v9_none, _v10_console_desks]
SCHEMA_VERSION = len(MIGRATIONS)


def connect(target: str | Path, *, readonly: bool = False) -> Conn:
    """A connection to the store: for a SQLite path, :func:`common.sqlite.connect`'s (WAL,
    ``synchronous=FULL`` on every connection: a stored event survives a power cut; 30 s busy
    timeout) with foreign keys on and rows as ``sqlite3.Row``; for a ``postgresql://`` URL, a
    :class:`collector.backend.PgConnection` taking the same calls."""
    return backend.connect(target, readonly=readonly)


def schema_version(conn: Conn) -> int:
    if not backend.has_table(conn, "schema_version"):
        return 0
    v = conn.execute("SELECT max(version) FROM schema_version").fetchone()[0]
    return int(v or 0)


def migrate(conn: Conn, target: int = SCHEMA_VERSION) -> int:
    """Bring the database to ``target``; return the version it had before."""
    db = backend.schema(conn)
    conn.execute("BEGIN IMMEDIATE")
    try:
        backend.lock_schema(conn)
        conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at TEXT)")
        before = schema_version(conn)
        if before > SCHEMA_VERSION:
            raise SchemaTooNew(f"database schema version {before} is newer than this collector's "
                               f"({SCHEMA_VERSION}); upgrade motcua")
        for version in range(before + 1, target + 1):
            log.info("migrating database to schema version %d (%s)", version, MIGRATIONS[version - 1].__name__)
            MIGRATIONS[version - 1](db)
            conn.execute("INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
                         (version, datetime.now(timezone.utc).isoformat(timespec="seconds")))
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return before


def refresh_stats(conn: Conn) -> None:
    """Approximate planner statistics (SQLite: ANALYZE limited to 400 rows per index, fast on any
    size; PostgreSQL: ANALYZE), so the query planner picks the time-ordered index for ratings pages."""
    backend.refresh_stats(conn)


def open_db(target: str | Path) -> Conn:
    """Open (creating if needed) and migrate; the connection is the writer's."""
    conn = connect(target)
    migrate(conn)
    return conn
