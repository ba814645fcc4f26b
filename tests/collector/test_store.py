"""The writer on a real SQLite file: exactly-once, seq gaps that shrink, migrations."""
from __future__ import annotations

import json
from datetime import datetime

from collector.db import SCHEMA_VERSION, connect, migrate, open_db, schema_version
from collector.queries import Reader
from collector.store import Incoming, Store
from tests.collector.wire import VN, rating


def msg(topic: str, payload: bytes) -> Incoming:
    return Incoming(topic, payload, False, datetime.now(VN))


def gaps(conn, device="rt-01"):
    return [tuple(r) for r in conn.execute("SELECT from_seq, to_seq FROM seq_gaps WHERE device=? ORDER BY from_seq",
                                           (device,))]


def test_same_id_in_one_batch_and_across_batches_is_stored_once(sqlite_path):
    store = Store(open_db(sqlite_path))
    t, p = rating(seq=1)
    r1 = store.write_batch([msg(t, p), msg(t, p)])
    r2 = store.write_batch([msg(t, p)])
    assert (r1.stored, r1.duplicates, r2.stored, r2.duplicates) == (1, 1, 0, 1)
    assert store.conn.execute("SELECT count(*) FROM events").fetchone()[0] == 1
    assert store.conn.execute("SELECT count(*) FROM ratings").fetchone()[0] == 1


def test_gap_is_recorded_then_shrinks_as_late_events_arrive(sqlite_path):
    store = Store(open_db(sqlite_path))
    store.write_batch([msg(*rating(seq=s)) for s in (10, 11, 15)])
    assert gaps(store.conn) == [(12, 14)]
    store.write_batch([msg(*rating(seq=13))])
    assert gaps(store.conn) == [(12, 12), (14, 14)]
    store.write_batch([msg(*rating(seq=12)), msg(*rating(seq=14)), msg(*rating(seq=20))])
    assert gaps(store.conn) == [(16, 19)]
    # a new Store (a restarted collector) continues from the stored last_seq
    store2 = Store(store.conn)
    store2.write_batch([msg(*rating(seq=22))])
    assert gaps(store.conn) == [(16, 19), (21, 21)]


def test_older_database_is_migrated_and_keeps_its_data(sqlite_path):
    conn = connect(sqlite_path)
    migrate(conn, target=1)  # what the first collector release wrote
    assert schema_version(conn) == 1
    Store(conn).write_batch([msg(*rating(desk=4, seq=1))])
    assert not conn.execute("SELECT 1 FROM sqlite_master WHERE name='users'").fetchone()
    conn.close()
    conn = open_db(sqlite_path)  # the newer collector
    assert schema_version(conn) == SCHEMA_VERSION
    assert conn.execute("SELECT 1 FROM sqlite_master WHERE name='users'").fetchone()
    got = Reader(sqlite_path).ratings(desk=4)
    assert got["total"] == 1 and got["items"][0]["score"] == 5
    # version 3: the reports' indexes, and the reports' queries use them
    cols = {name: [c["name"] for c in conn.execute(f"PRAGMA index_info('{name}')")]
            for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert cols["idx_presence_zone_kind_ts_epoch"] == ["zone", "kind", "ts_epoch"]
    assert cols["idx_ticket_events_action_ts_epoch"] == ["action", "ts_epoch"]
    assert cols["idx_dead_letters_reason_id"] == ["reason", "id"]
    plan = " ".join(r["detail"] for r in conn.execute(
        "EXPLAIN QUERY PLAN SELECT desk, present, since, ts_epoch FROM presence WHERE zone='officer' "
        "AND kind='change' AND ts_epoch >= ? AND ts_epoch < ? ORDER BY ts_epoch", [0, 1]))
    assert "idx_presence_zone_kind_ts_epoch" in plan, plan
    plan = " ".join(r["detail"] for r in conn.execute(
        "EXPLAIN QUERY PLAN SELECT count(*) FROM ticket_events WHERE action='issued' AND ts_epoch >= ? "
        "AND ts_epoch < ?", [0, 1]))
    assert "idx_ticket_events_action_ts_epoch" in plan, plan
    assert [r[0] for r in conn.execute("SELECT version FROM schema_version ORDER BY version")] == list(range(1, SCHEMA_VERSION + 1))


def test_migration_3_applies_to_a_version_2_file(sqlite_path):
    conn = connect(sqlite_path)
    migrate(conn, target=2)
    assert not conn.execute("SELECT 1 FROM sqlite_master WHERE name='idx_presence_zone_kind_ts_epoch'").fetchone()
    conn.close()
    conn = open_db(sqlite_path)
    assert schema_version(conn) == SCHEMA_VERSION >= 3
    assert conn.execute("SELECT 1 FROM sqlite_master WHERE name='idx_presence_zone_kind_ts_epoch'").fetchone()


def test_migration_6_seeds_the_site_config_history_from_the_retained_state(sqlite_path):
    conn = connect(sqlite_path)
    migrate(conn, target=3)
    conn.execute("INSERT INTO retained_state (topic, site, device, name, key, payload, received_at, received_epoch) "
                 "VALUES ('motcua/v1/camau-hcc/state/site', 'camau-hcc', NULL, 'site', NULL, '{}', "
                 "'2026-11-23T12:00:00+07:00', 1795410000)")
    conn.close()
    conn = open_db(sqlite_path)
    assert [tuple(r) for r in conn.execute("SELECT site, valid_from_epoch FROM site_config_history")] == [("camau-hcc",
                                                                                                  1795410000.0)]
    assert conn.execute("SELECT count(*) FROM alerts").fetchone()[0] == 0


def test_retained_presence_state_and_status_feed_the_desk_grid(sqlite_path):
    store = Store(open_db(sqlite_path))
    ps = {"v": 1, "desk": 2, "officer": True, "officer_since": "2026-11-23T08:00:00+07:00", "citizen": False,
          "citizen_since": "2026-11-23T08:30:00+07:00", "ts": "2026-11-23T08:30:00+07:00"}
    st = {"v": 1, "state": "online", "device": "rt-02", "role": "rating-terminal", "version": "0.1.0", "desk": 2}
    store.write_batch([msg("motcua/v1/camau-hcc/dev/cam-01/state/presence/2", json.dumps(ps).encode()),
                       msg("motcua/v1/camau-hcc/dev/rt-02/status", json.dumps(st).encode())])
    desks = Reader(sqlite_path).desks()
    assert len(desks) == 1
    d = desks[0]
    assert d["desk"] == 2 and d["officer"]["present"] is True and d["citizen"]["present"] is False
    assert d["devices"] == [{"device": "rt-02", "role": "rating-terminal", "online": True}]
