"""The Queue alone: SQLite file, FakeClock, no broker."""
from __future__ import annotations

from pathlib import Path

import pytest

from common.clock import FakeClock
from common.errors import ConfigError
from mqtt.schemas import DeskData, Request, TicketData
from ticketing.config import load_site, load_ticketing
from ticketing.errors import AlreadyRunning
from ticketing.queue import Queue
from ticketing.single import InstanceLock

from .helpers import at, issued, site_config, site_toml

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(at("2026-11-23 08:00:00"))


@pytest.fixture
def q(tmp_path: Path, clock: FakeClock) -> Queue:
    queue = Queue(tmp_path / "q.db", site_config(), clock)
    yield queue
    queue.close()


def req(rid: str, desk: int | None = None, **kw: object) -> Request:
    return Request(id=rid, device="rt-01", desk=desk, **kw)  # type: ignore[arg-type]


def events(q: Queue) -> list[TicketData]:
    return [d for _i, d in q.pending_events(10_000)]


def test_leases_never_overlap_and_a_retry_gets_the_same_block(q: Queue) -> None:
    a = q.handle("lease", Request(id="l1", device="kiosk-1", service="HT", count=50)).response
    b = q.handle("lease", Request(id="l2", device="kiosk-2", service="HT", count=30)).response
    again = q.handle("lease", Request(id="l1", device="kiosk-1", service="HT", count=50))
    assert a.ok and a.lease.start == 1000 and a.lease.end == 1049 and a.lease.day == "2026-11-23"
    assert b.lease.start == 1050 and b.lease.end == 1079
    assert again.replay and again.response == a
    c = q.handle("lease", Request(id="l3", device="kiosk-1", service="HT")).response
    assert (c.lease.start, c.lease.end) == (1080, 1129)  # default block of 50
    x = q.handle("lease", Request(id="l4", device="kiosk-1", service="XD", count=2)).response
    assert x.lease.prefix == "X" and (x.lease.start, x.lease.end) == (1, 2)
    bad = q.handle("lease", Request(id="l5", device="kiosk-1", service="ZZ")).response
    assert not bad.ok and bad.error == "unknown_service" and bad.message_vi and bad.message_en


def test_capacity_reached(q: Queue) -> None:
    # XD: capacity 5 a day
    r1 = q.handle("lease", Request(id="a", device="kiosk-1", service="XD", count=3)).response
    r2 = q.handle("lease", Request(id="b", device="kiosk-2", service="XD", count=3)).response
    assert (r1.lease.start, r1.lease.end) == (1, 3)
    assert (r2.lease.start, r2.lease.end) == (4, 5)  # cut at the capacity
    r3 = q.handle("lease", Request(id="c", device="kiosk-1", service="XD", count=3)).response
    assert not r3.ok and r3.error == "capacity_reached"
    assert r3.message_vi == "Đã hết số hôm nay" and r3.message_en == "No more numbers today"
    for n in range(1, 6):
        q.add_issued(issued(n, "XD", prefix="X"))
    st = q.service_state("XD")
    assert st.issued == 5 and st.capacity == 5 and st.finished_for_today and st.waiting == 5


def test_priority_classes_first_then_first_come_first_served(q: Queue, clock: FakeClock) -> None:
    plan = [(1000, None), (1001, "appointment"), (1002, None), (1003, "elderly"), (1004, "pregnant"),
            (1005, "disabled"), (1006, "elderly")]
    for i, (n, prio) in enumerate(plan):
        q.add_issued(issued(n, priority=prio, when=at(f"2026-11-23 08:00:{i:02d}")))
    order = []
    for i in range(len(plan)):
        r = q.handle("call-next", req(f"c{i}", desk=1)).response
        order.append(r.ticket.number)
    assert order == [1003, 1006, 1005, 1004, 1001, 1000, 1002]
    r = q.handle("call-next", req("c-last", desk=1)).response
    assert not r.ok and r.error == "queue_empty" and r.message_vi == "Không còn người chờ"


def test_desk_calls_only_its_services_and_orders_by_issue_time_across_them(q: Queue) -> None:
    q.add_issued(issued(1, "XD", prefix="X", when=at("2026-11-23 07:59:00")))
    q.add_issued(issued(5000, "DD", when=at("2026-11-23 07:59:30")))
    q.add_issued(issued(1000, "HT", when=at("2026-11-23 07:59:10")))
    assert q.handle("call-next", req("a", desk=1)).response.ticket.ticket == "1000"
    assert q.handle("call-next", req("b", desk=1)).response.ticket.ticket == "5000"
    assert q.handle("call-next", req("c", desk=1)).response.error == "queue_empty"  # XD is not desk 1's
    assert q.handle("call-next", req("d", desk=3)).response.ticket.ticket == "X1"
    assert q.handle("call-next", req("e", desk=9)).response.error == "unknown_desk"


def test_retry_of_a_request_id_gets_the_same_ticket_never_a_second(q: Queue) -> None:
    for n in (1000, 1001, 1002):
        q.add_issued(issued(n, when=at(f"2026-11-23 07:00:0{n - 1000}")))
    first = q.handle("call-next", req("same", desk=2))
    again = q.handle("call-next", req("same", desk=2))
    assert not first.replay and again.replay
    assert again.response == first.response and first.response.ticket.ticket == "1000"
    assert q.service_state("HT").waiting == 2
    called = [e for e in events(q) if e.action == "called"]
    assert len(called) == 1
    # the same for finish: the second answer is the stored one, no second "finished"
    f1 = q.handle("finish", req("f", desk=2)).response
    f2 = q.handle("finish", req("f", desk=2)).response
    assert f1 == f2 and f1.ok
    assert q.handle("finish", req("f-new", desk=2)).response.error == "no_ticket"
    assert len([e for e in events(q) if e.action == "finished"]) == 1


def test_issued_events_are_idempotent(q: Queue) -> None:
    t = issued(1000)
    assert q.add_issued(t).services == frozenset({"HT"})
    assert q.add_issued(t).services == frozenset()
    assert q.service_state("HT").waiting == 1


def test_steps_become_ticket_events_with_wait_and_service_durations(q: Queue, clock: FakeClock) -> None:
    q.add_issued(issued(1000, when=at("2026-11-23 08:00:00")))
    q.add_issued(issued(1001, when=at("2026-11-23 08:00:00")))
    clock.advance(120)
    r = q.handle("call-next", req("a", desk=1, officer="nv-7")).response
    assert r.ticket.wait_s == 120
    clock.advance(5)
    assert q.handle("recall", req("b", desk=1)).response.ticket.ticket == "1000"
    assert q.calls_state().calls[0].recall is True
    clock.advance(295)
    q.handle("finish", req("c", desk=1))
    q.handle("call-next", req("d", desk=1))
    clock.advance(60)
    q.handle("no-show", req("e", desk=1))
    ev = events(q)
    assert [e.action for e in ev] == ["called", "recalled", "finished", "called", "no_show"]
    fin = ev[2]
    assert fin.wait_s == 120 and fin.service_s == 300 and fin.desk == 1 and fin.officer == "nv-7"
    assert ev[4].wait_s == 420 and ev[4].service_s is None
    assert q.desk_state(1).status == "idle" and q.desk_state(1).officer == "nv-7"
    st = q.service_state("HT")
    assert st.waiting == 0 and st.last_called == "1001"
    q.drop_events([i for i, _ in q.pending_events()])
    assert q.pending_events() == []


@pytest.mark.parametrize("keep", [True, False])
def test_transfer_keeps_place_or_joins_the_back(q: Queue, clock: FakeClock, keep: bool) -> None:
    q.add_issued(issued(1000, "HT", when=at("2026-11-23 07:00:00")))
    q.add_issued(issued(5000, "DD", when=at("2026-11-23 07:30:00")))
    clock.advance(60)
    assert q.handle("call-next", req("a", desk=1)).response.ticket.ticket == "1000"
    r = q.handle("transfer", req("t", desk=1, to_service="DD", keep_place=keep)).response
    assert r.ok and r.waiting == 2
    assert q.desk_state(1).status == "idle"
    nxt = q.handle("call-next", req("b", desk=4)).response.ticket
    assert nxt.ticket == ("1000" if keep else "5000")
    assert nxt.service == "DD"
    tr = [e for e in events(q) if e.action == "transferred"][0]
    assert tr.service == "HT" and tr.to_service == "DD"
    bad = q.handle("transfer", req("t2", desk=4, to_service="NOPE")).response
    assert bad.error == "unknown_service"


def test_day_rollover_at_local_midnight(q: Queue, clock: FakeClock) -> None:
    # 23:59:59 local is 16:59:59 UTC the same day; one second later the local day changes
    # while the UTC day does not: numbers must restart on the LOCAL day (TheQ's bug).
    clock.set(at("2026-11-23 23:59:59"))
    a = q.handle("lease", Request(id="l1", device="kiosk-1", service="HT", count=10)).response
    assert a.lease.day == "2026-11-23" and a.lease.start == 1000
    q.add_issued(issued(1000, day="2026-11-23", when=clock.now()))
    q.add_issued(issued(1001, day="2026-11-23", when=clock.now()))
    assert q.handle("call-next", req("c1", desk=1)).response.ticket.ticket == "1000"
    clock.advance(1)
    assert clock.now().astimezone().utcoffset() is not None
    assert q.today() == "2026-11-24"
    b = q.handle("lease", Request(id="l2", device="kiosk-1", service="HT", count=10)).response
    assert b.lease.day == "2026-11-24" and b.lease.start == 1000  # restarted
    # yesterday's waiting ticket is not callable today, the desk's current ticket is gone
    assert q.desk_state(1).status == "idle"
    assert q.handle("call-next", req("c2", desk=1)).response.error == "queue_empty"
    expired = {e.ticket for e in events(q) if e.action == "expired"}
    assert expired == {"1000", "1001"}
    assert q.service_state("HT").waiting == 0 and q.service_state("HT").day == "2026-11-24"
    # a late issued event of yesterday (kiosk was offline) is stored but never called
    q.add_issued(issued(1002, day="2026-11-23"))
    assert q.handle("call-next", req("c3", desk=1)).response.error == "queue_empty"
    # the same number on the new day is a different ticket
    q.add_issued(issued(1000, day="2026-11-24", when=clock.now()))
    r = q.handle("call-next", req("c4", desk=1)).response
    assert r.ticket.ticket == "1000" and r.ticket.day == "2026-11-24"
    assert q.calls_state().calls[0].ticket == "1000" and len(q.calls_state().calls) == 1


def test_early_morning_local_is_not_yesterday_in_utc(tmp_path: Path) -> None:
    clock = FakeClock(at("2026-11-24 06:30:00"))  # 2026-11-23 23:30 UTC
    q = Queue(tmp_path / "q.db", site_config(), clock)
    assert q.handle("lease", Request(id="x", device="kiosk-1", service="HT")).response.lease.day == "2026-11-24"
    q.close()


def test_state_survives_reopen(tmp_path: Path, clock: FakeClock) -> None:
    q = Queue(tmp_path / "q.db", site_config(), clock)
    for n in range(1000, 1005):
        q.add_issued(issued(n, when=at(f"2026-11-23 07:00:0{n - 1000}")))
    q.handle("call-next", req("a", desk=2, officer="nv-2"))
    q.handle("lease", Request(id="l", device="kiosk-1", service="HT", count=10))
    q.close()
    q2 = Queue(tmp_path / "q.db", site_config(), clock)
    assert q2.desk_state(2).ticket == "1000" and q2.desk_state(2).officer == "nv-2"
    assert q2.service_state("HT").waiting == 4
    assert q2.handle("call-next", req("a", desk=2)).replay
    assert q2.handle("call-next", req("b", desk=1)).response.ticket.ticket == "1001"
    assert q2.handle("lease", Request(id="l2", device="kiosk-1", service="HT", count=10)).response.lease.start == 1010
    q2.close()


def test_a_file_from_before_kept_tickets_is_upgraded(tmp_path: Path, clock: FakeClock) -> None:
    """A queue file without tickets.queue_day / calls.ticket_id (before closing_policy 'keep')
    opens, its waiting tickets are in today's queue and recall cooldowns still hold."""
    import sqlite3
    q = Queue(tmp_path / "q.db", site_config().model_copy(update={"recall_cooldown_s": 60}), clock)
    q.close()
    db = sqlite3.connect(tmp_path / "q.db")
    for stmt in ("DROP INDEX tickets_queue", "DROP INDEX tickets_queue_oldest", "DROP INDEX calls_ticket",
                 "ALTER TABLE tickets DROP COLUMN queue_day", "ALTER TABLE calls DROP COLUMN ticket_id"):
        db.execute(stmt)
    db.execute("INSERT INTO tickets (day, origin, number, label, service, prank, order_key, issued_at, issued_ts, "
               "status) VALUES ('2026-11-23', 'HT', 1000, '1000', 'HT', 99, 1, ?, 1, 'waiting')",
               (at("2026-11-23 07:00:00").isoformat(),))
    db.commit()
    db.close()
    q2 = Queue(tmp_path / "q.db", site_config().model_copy(update={"recall_cooldown_s": 60}), clock)
    assert q2.service_state("HT").waiting == 1
    assert q2.handle("call-next", req("a", desk=1)).response.ticket.ticket == "1000"
    assert q2.handle("recall", req("b", desk=1)).response.error == "recall_too_soon"
    q2.close()


def test_estimated_wait_uses_recent_service_times_and_open_desks(q: Queue, clock: FakeClock) -> None:
    for n in range(1000, 1010):
        q.add_issued(issued(n, "HT", when=at("2026-11-23 07:00:00")))
    assert q.service_state("HT").est_wait_s is None  # no history yet
    for i in range(2):
        q.handle("call-next", req(f"c{i}", desk=1))
        clock.advance(100 + 200 * i)  # 100 s, then 300 s: average 200 s
        q.handle("finish", req(f"f{i}", desk=1))
    # 8 waiting; no officer signed in -> all 4 desks handling HT count
    assert q.service_state("HT").est_wait_s == pytest.approx(8 * 200 / 4)
    q.sign(DeskData(desk=2, action="sign_in", officer="nv-2"))
    # desk 1 has an officer from its requests? no: requests carried none; now only desk 2 is open
    assert q.service_state("HT").est_wait_s == pytest.approx(8 * 200 / 1)
    q.sign(DeskData(desk=2, action="sign_out"))
    assert q.desk_state(2).officer is None


def test_site_config_errors_name_file_and_line(tmp_path: Path) -> None:
    good = site_toml()
    p = tmp_path / "site.toml"
    p.write_text(good.replace("capacity = 5", "capacity = 500"), encoding="utf-8")
    with pytest.raises(ConfigError) as ei:
        load_site(p)
    xd_header = [i for i, ln in enumerate(good.splitlines(), 1) if ln == "[[services]]"][2]
    assert f"{p}:{xd_header}: services[2]" in str(ei.value)
    assert "capacity 500 is larger than the number range 1-99" in str(ei.value)
    p.write_text(good.replace('number = 4\nservices = ["DD", "HT"]', 'number = 4\nservices = ["QQ"]'))
    with pytest.raises(ConfigError, match="unknown service 'QQ'"):
        load_site(p)
    p.write_text('timezone = "Mars/Base"\n' + good)
    with pytest.raises(ConfigError, match=f"{p}:1: timezone: .*unknown time zone 'Mars/Base'"):
        load_site(p)
    p.write_text(good.replace('code = "DD"', 'code = "HT"'))
    with pytest.raises(ConfigError, match="service code\\(s\\) HT listed twice"):
        load_site(p)
    p.write_text(good.replace("range_start = 5000", "range_start = 3000"))
    with pytest.raises(ConfigError, match="number ranges overlap"):
        load_site(p)
    p.write_text(good.replace("capacity = 3000\ntarget_wait_min = 30", "capacity = 3000\ncolour = 1"))
    line = [i for i, ln in enumerate(p.read_text().splitlines(), 1) if ln == "colour = 1"][0]
    with pytest.raises(ConfigError, match=f"{p}:{line}: services\\[1\\].colour: unknown key"):
        load_site(p)


def test_example_configs_are_valid_and_site_state_is_published_form() -> None:
    cfg, site = load_ticketing(ROOT / "config" / "ticketing.toml")
    assert site.site == "demo-hcc" and site.timezone == "Asia/Ho_Chi_Minh"
    st = site.to_state()
    assert len(st.services) >= 4 and len(st.desks) == 8 and st.hours["sat"] == [("07:00", "11:30")]
    assert {"HT", "DD"} <= {s.code for s in st.services}
    assert st.priority_classes == ["elderly", "disabled", "pregnant", "appointment"]


def test_instance_lock_is_exclusive(tmp_path: Path) -> None:
    a = InstanceLock(tmp_path / "t.db", "test-hcc").acquire()
    with pytest.raises(AlreadyRunning, match="already running"):
        InstanceLock(tmp_path / "t.db", "test-hcc").acquire()
    a.release()
    InstanceLock(tmp_path / "t.db", "test-hcc").acquire().release()
