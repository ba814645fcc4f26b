"""The writer and the migrations, the same on SQLite and PostgreSQL: schema_version, exactly once
by id, dead letters with their reasons, seq gaps and their filling, retained state, devices."""
from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from collector import backend
from collector.db import SCHEMA_VERSION, connect, migrate, open_db, schema_version
from collector.errors import SchemaTooNew
from collector.queries import Reader
from collector.store import Incoming, Store
from mqtt import topics
from mqtt.schemas import Status, Telemetry
from tests.collector.test_ingest import malformed
from tests.collector import test_store as store_cases
from tests.collector.test_store import gaps, msg
from tests.collector.wire import SITE, VN, envelope, event, rating

TABLES = ("events", "ratings", "ticket_events", "presence", "faults", "desk_sessions", "devices", "seq_gaps",
          "dead_letters", "retained_state", "desk_presence", "meta", "users", "tokens", "sessions",
          "site_config_history", "alerts", "schema_version")


def test_migrations_from_empty_then_nothing_to_do(store_url):
    conn = connect(store_url)
    assert schema_version(conn) == 0
    assert migrate(conn) == 0
    assert schema_version(conn) == SCHEMA_VERSION
    assert migrate(conn) == SCHEMA_VERSION  # a second start migrates nothing
    assert [r[0] for r in conn.execute("SELECT version FROM schema_version ORDER BY version")] == \
        list(range(1, SCHEMA_VERSION + 1))
    assert [t for t in TABLES if not backend.has_table(conn, t)] == []
    assert not backend.has_table(conn, "no_such_table")
    conn.close()


def test_both_engines_get_the_same_columns(tmp_path, pg_url):
    lite, pg = open_db(tmp_path / "c.db"), open_db(pg_url)
    for t in TABLES:
        assert backend.column_names(pg, t) == backend.column_names(lite, t), t


def test_an_older_store_is_upgraded_with_its_data(store_url):
    conn = connect(store_url)
    migrate(conn, target=1)
    Store(conn).write_batch([msg(*rating(desk=4, seq=1))])
    assert not backend.has_table(conn, "users")
    conn.close()
    conn = open_db(store_url)
    assert schema_version(conn) == SCHEMA_VERSION and backend.has_table(conn, "users")
    # v4 added users.role with a default; v6 seeded the config history from the retained state
    conn.execute("INSERT INTO users (name, password_hash, created_at) VALUES ('a', 'x', 'now')")
    assert conn.execute("SELECT role, disabled FROM users").fetchone()[:] == ("manager", 0)
    got = Reader(store_url).ratings(desk=4)
    assert got["total"] == 1 and got["items"][0]["score"] == 5


def test_a_newer_store_is_refused(store_url):
    open_db(store_url).execute("INSERT INTO schema_version (version, applied_at) VALUES (?, 'later')",
                               (SCHEMA_VERSION + 1,))
    with pytest.raises(SchemaTooNew):
        open_db(store_url)


def test_same_id_in_one_batch_and_across_batches_is_stored_once(store_url):
    store = Store(open_db(store_url))
    t, p = rating(seq=1)
    r1 = store.write_batch([msg(t, p), msg(t, p), msg(*rating(seq=2))])
    r2 = store.write_batch([msg(t, p), msg(*rating(seq=3))])
    assert (r1.stored, r1.duplicates, r2.stored, r2.duplicates) == (2, 1, 1, 1)
    assert r1.confirm == {(SITE, "rt-01"): [1, 1, 2]}  # a duplicate is confirmed too
    assert Reader(store_url).counts() == {"events": 3, "ratings": 3, "dead_letters": 0}


def test_every_malformed_kind_is_a_dead_letter_with_its_reason(store_url):
    store = Store(open_db(store_url))
    bad = malformed()
    res = store.write_batch([msg(t, p) for t, p, _ in bad] + [msg(*rating(seq=1))])
    assert (res.dead, res.stored) == (len(bad), 1)
    r = Reader(store_url)
    items = r.dead_letters(limit=100)["items"]
    assert sorted(i["reason"] for i in items) == sorted(reason for _, _, reason in bad)
    binary = next(i for i in items if i["reason"] == "not_utf8")
    assert binary["payload_encoding"] == "base64"
    want: dict[str, int] = {}
    for _, _, reason in bad:
        want[reason] = want.get(reason, 0) + 1
    assert r.dead_letter_reasons() == dict(sorted(want.items(), key=lambda kv: (-kv[1], kv[0])))
    page = r.dead_letters(reason="bad_topic", limit=1, offset=1)
    assert page["total"] == 2 and len(page["items"]) == 1
    assert [i["id"] for i in r.dead_letters(limit=3)["items"]] == sorted((i["id"] for i in items), reverse=True)[:3]


@pytest.mark.parametrize("check", [store_cases.test_same_id_in_one_batch_and_across_batches_is_stored_once,
                                   store_cases.test_gap_is_recorded_then_shrinks_as_late_events_arrive],
                         ids=lambda f: f.__name__.removeprefix("test_"))
def test_the_writer_cases_of_tests_collector(store_url, check):
    check(store_url)


def test_seq_gaps_as_the_devices_list_shows_them(store_url):
    store_cases.test_gap_is_recorded_then_shrinks_as_late_events_arrive(store_url)  # gaps 16..19, 21
    dev = next(d for d in Reader(store_url).devices() if d["device"] == "rt-01")
    assert (dev["last_seq"], dev["missing"], dev["seq_gaps"]) == (22, 5, [{"from": 16, "to": 19},
                                                                         {"from": 21, "to": 21}])


def _telemetry(device: str, **seqs: int | None) -> Incoming:
    tel = Telemetry(ts=datetime.now(VN), uptime_s=5, outbox_depth=0, clock_synced=True, **seqs)
    return msg(topics.telemetry(SITE, device), tel.model_dump_json().encode())


def test_telemetry_shows_events_lost_at_either_end(store_url):
    store = Store(open_db(store_url))
    store.write_batch([msg(*rating(seq=s)) for s in (5, 6)])
    # the device assigned 1..9 and holds none: 1..4 and 7..9 were lost before reaching us
    store.write_batch([_telemetry("rt-01", seq_first=1, seq_last=9, seq_oldest_held=None)])
    assert gaps(store.conn) == [(1, 4), (7, 9)]
    store.write_batch([msg(*rating(seq=8))])  # a late arrival inside the tail
    assert gaps(store.conn) == [(1, 4), (7, 7), (9, 9)]
    assert Reader(store_url).devices()[0]["last_seq"] == 9


def _status(device: str, state: str, desk: int | None = None) -> Incoming:
    st = Status(state=state, device=device, role="rating-terminal", version="1.2.3", desk=desk,  # type: ignore[arg-type]
                ts=datetime.now(VN))
    return Incoming(topics.status(SITE, device), st.model_dump_json().encode(), True, datetime.now(VN))


def test_status_telemetry_and_retained_state(store_url):
    store = Store(open_db(store_url))
    svc = {"v": 1, "service": "HT", "day": datetime.now(VN).date().isoformat(), "waiting": 3, "issued": 9, "capacity": 300,
           "est_wait_s": 120.0, "oldest_issued_at": (datetime.now(VN) - timedelta(minutes=4)).isoformat()}
    service_topic = topics.state(SITE, "service", "HT")
    store.write_batch([_status("rt-01", "online", desk=1), _status("rt-02", "offline", desk=2),
                       _telemetry("rt-01"), Incoming(service_topic, json.dumps(svc).encode(), True, datetime.now(VN))])
    r = Reader(store_url)
    devs = {d["device"]: d for d in r.devices()}
    assert (devs["rt-01"]["online"], devs["rt-02"]["online"]) == (True, False)
    assert devs["rt-01"]["clock_synced"] is True and devs["rt-01"]["uptime_s"] == 5
    assert devs["rt-02"]["outbox_depth"] is None
    desks = {d["desk"]: d for d in r.desks()}
    assert desks[1]["online"] is True and desks[2]["online"] is False
    q = r.queue()
    assert [(x["service"], x["waiting"], x["issued"]) for x in q] == [("HT", 3, 9)]
    assert 230 < q[0]["longest_wait_s"] < 300
    # a retained state cleared (empty payload) is gone; a new status replaces the old
    store.write_batch([Incoming(service_topic, b"", True, datetime.now(VN)), _status("rt-02", "online", desk=2)])
    assert r.queue() == []
    assert {d["device"]: d["online"] for d in r.devices()} == {"rt-01": True, "rt-02": True}


def test_typed_rows_of_every_event_type(store_url):
    store = Store(open_db(store_url))
    fault = {"code": "printer_paper_out", "active": True, "message_vi": "Hết giấy", "message_en": "Out of paper"}
    res = store.write_batch([
        msg(*rating(desk=2, score=4, seq=1)),
        msg(*event("fault", fault, device="kiosk-01", seq=1)),
        msg(*event("desk", {"desk": 2, "action": "sign_in", "officer": "nv-0142"}, device="dt-02", seq=1)),
        msg(*event("presence", {"desk": 2, "zone": "officer", "kind": "change", "present": True,
                                "since": datetime.now(VN).isoformat()}, device="cam-01", seq=1)),
        msg(*event("ticket", {"action": "issued", "ticket": "1001", "number": 1001, "day": "2026-11-23",
                              "service": "HT", "kiosk": "kiosk-01"}, device="kiosk-01", seq=2)),
    ])
    assert (res.stored, res.dead) == (5, 0)
    conn = store.conn
    assert [conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for t in ("ratings", "faults", "desk_sessions", "presence", "ticket_events")] == [1, 1, 1, 1, 1]
    d2 = next(d for d in Reader(store_url).desks() if d["desk"] == 2)
    assert d2["officer"]["id"] == "nv-0142" and d2["officer"]["present"] is True
    assert d2["ratings_today"] == {"count": 1, "average": 4.0, "scale": 5}
    kiosk = next(d for d in Reader(store_url).devices() if d["device"] == "kiosk-01")
    assert [f["code"] for f in kiosk["open_faults"]] == ["printer_paper_out"]


def test_site_mismatch_refused_and_the_envelope_kept(store_url):
    store = Store(open_db(store_url))
    env = envelope("rating", {"desk": 9, "score": 4, "scale": 5}, device="rt-09", site="other-site")
    res = store.write_batch([msg(topics.event(SITE, "rt-09", "rating"), json.dumps(env).encode())])
    assert res.dead == 1 and res.confirm == {(SITE, "rt-09"): [env["seq"]]}
    item = Reader(store_url).dead_letters()["items"][0]
    assert item["reason"] == "site_mismatch" and json.loads(item["payload"])["id"] == env["id"]
