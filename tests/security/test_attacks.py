"""Issue 15's attacks, each tried with one device's own credentials on the generated production
broker config against the real ticketing and collector processes, and each refused visibly:
an answer ``forbidden``, a dead letter ``forbidden`` naming the device, or the broker's refusal.
Legitimate traffic of every role goes through alongside."""
from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta, timezone
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from mqtt import topics
from mqtt.schemas import Request, uuid7
from tests.security.conftest import SITE, T, Site, answers, event_bytes, raw_request, send, wait_for

HT_ISSUED = {"action": "issued", "service": "HT", "day": None, "priority": None, "kiosk": None}


def ticket(action: str, number: int, day: str, **extra: Any) -> dict[str, Any]:
    return {"action": action, "ticket": str(number), "number": number, "day": day, "service": "HT", **extra}


def today(site: Site) -> str:
    return str(site.state("service", "HT")["day"])


def test_desk_operations_only_from_the_desks_own_terminal(site: Site) -> None:
    rt1 = site.device("rt-01", desk=1)
    try:
        for op in ("call-next", "recall", "no-show", "transfer", "finish"):
            to = "DD" if op == "transfer" else None
            r = rt1.request(op, Request(id=uuid7(), device="rt-01", desk=2, officer="gia-mao", to_service=to), 10)
            assert (r.ok, r.error) == (False, "forbidden"), (op, r)
            assert "rt-01" in (r.message_en or "") and "desk 2" in (r.message_en or "")
        # the payload cannot lend the asker another identity either
        r = rt1.request("call-next", Request(id=uuid7(), device="rt-02", desk=2), 10)
        assert r.error == "forbidden" and "rt-02" in (r.message_en or "")
        # its own desk is served (an empty queue is an answer, not a refusal)
        r = rt1.request("recall", Request(id=uuid7(), device="rt-01", desk=1), 10)
        assert r.error in ("no_ticket", None) and r.error != "forbidden"
    finally:
        rt1.stop()
    assert site.state("desk", 2).get("officer") != "gia-mao"
    assert site.wait_dead("rt-01 (rating-terminal) asked finish at desk 2")  # counted for a device alert
    assert site.wait_dead("rt-01 sent a call-next request naming device 'rt-02'")


def test_fake_officer_sign_in_at_another_desk(site: Site) -> None:
    watcher = site.device("display-1")
    seen: list[dict[str, Any]] = []
    watcher.subscribe(topics.state(SITE, "desk", 2), lambda m: seen.append(json.loads(m.payload)))
    rt1, rt2 = site.device("rt-01", desk=1), site.device("rt-02", desk=2)
    try:
        send(rt1, *event_bytes("rt-01", "desk", {"desk": 2, "action": "sign_in", "officer": "gia-mao"}))
        send(rt2, *event_bytes("rt-02", "desk", {"desk": 2, "action": "sign_in", "officer": "nv-0002"}))
        assert wait_for(lambda: any(s.get("officer") == "nv-0002" for s in seen)), seen
        assert not any(s.get("officer") == "gia-mao" for s in seen), seen
        assert site.wait_dead("rt-01 (rating-terminal) may not sign officers in or out at desk 2")
        assert wait_for(lambda: site.rows("SELECT * FROM desk_sessions WHERE device='rt-02'"))
        assert not site.rows("SELECT * FROM desk_sessions WHERE device='rt-01'")
    finally:
        for c in (rt1, rt2, watcher):
            c.stop()


def test_leases_only_for_kiosks_and_bounded(site: Site) -> None:
    kiosk, rt1, cam = site.device("kiosk-1"), site.device("rt-01", desk=1), site.device("cam-01")
    try:
        for c in (rt1, cam):
            r = c.request("lease", Request(id=uuid7(), device=c.device, service="DD", count=10), 10)
            assert r.error == "forbidden" and "only a kiosk" in (r.message_en or ""), r
            assert site.wait_dead(f"device {c.device} is a {c.role}: only kiosks lease numbers")
        got = 0
        for _ in range(10):  # a greedy (or captured) kiosk asking for 1,000 numbers again and again
            r = kiosk.request("lease", Request(id=uuid7(), device="kiosk-1", service="DD", count=1000), 10)
            if not r.ok:
                assert r.error == "lease_limit", r
                break
            assert r.lease is not None and r.lease.end - r.lease.start + 1 <= 100
            got += r.lease.end - r.lease.start + 1
        assert r.error == "lease_limit" and got <= 300, (got, r)
        state = site.state("service", "DD")
        assert not state["finished_for_today"]
    finally:
        for c in (kiosk, rt1, cam):
            c.stop()


def test_issued_tickets_only_from_kiosks(site: Site) -> None:
    kiosk, rt1 = site.device("kiosk-1"), site.device("rt-01", desk=1)
    try:
        r = kiosk.request("lease", Request(id=uuid7(), device="kiosk-1", service="HT", count=5), 10)
        assert r.ok and r.lease is not None
        day, n = r.lease.day, r.lease.start
        before = int(site.state("service", "HT")["waiting"])
        # a desk terminal's fake elderly ticket, then the kiosk's real one
        send(rt1, *event_bytes("rt-01", "ticket", ticket("issued", 3999, day, priority="elderly", kiosk="kiosk-1")))
        send(kiosk, *event_bytes("kiosk-1", "ticket", ticket("issued", n, day, kiosk="kiosk-1")))
        assert wait_for(lambda: site.state("service", "HT")["waiting"] == before + 1)
        assert site.wait_dead("device rt-01 is a rating-terminal: only kiosks issue tickets")
        # a kiosk cannot bring its own waiting or service times
        send(kiosk, *event_bytes("kiosk-1", "ticket", ticket("issued", n + 1, day, service_s=99999.0), seq=2))
        assert site.wait_dead("kiosk kiosk-1 sent service_s: only ticketing measures")
        # desk 1 gets the kiosk's ticket, not the fake priority one; ticketing measures the times
        call = rt1.request("call-next", Request(id=uuid7(), device="rt-01", desk=1), 10)
        assert call.ok and call.ticket is not None and call.ticket.ticket != "3999"
        done = rt1.request("finish", Request(id=uuid7(), device="rt-01", desk=1), 10)
        assert done.ok
    finally:
        kiosk.stop()
        rt1.stop()
    fin = wait_for(lambda: site.rows("SELECT * FROM ticket_events WHERE action='finished' AND device='ticketing'"))
    assert fin and all(0 <= r["service_s"] < 3600 for r in fin), [dict(r) for r in fin]


def test_a_kiosk_issues_only_its_leased_numbers_and_cannot_backdate_them(site: Site) -> None:
    kiosk = site.device("kiosk-1")
    try:
        r = kiosk.request("lease", Request(id=uuid7(), device="kiosk-1", service="HT", count=2), 10)
        assert r.ok and r.lease is not None
        day, n = r.lease.day, r.lease.start
        before = int(site.state("service", "HT")["waiting"])
        long_ago = (datetime.now(timezone.utc) - timedelta(hours=3)).isoformat(timespec="milliseconds")
        send(kiosk, *event_bytes("kiosk-1", "ticket", ticket("issued", 3990, day, kiosk="kiosk-1"), seq=20))
        send(kiosk, *event_bytes("kiosk-1", "ticket", ticket("issued", n, day, issued_at=long_ago), seq=21))
        send(kiosk, *event_bytes("kiosk-1", "ticket", ticket("issued", n + 1, day), seq=22))  # queued after 3990
        assert wait_for(lambda: site.state("service", "HT")["waiting"] >= before + 2)
        assert site.state("service", "HT")["waiting"] == before + 2, "a number never leased must not be queued"
        oldest = site.state("service", "HT")["oldest_issued_at"]
        assert oldest is None or datetime.fromisoformat(oldest) > datetime.fromisoformat(long_ago) + timedelta(hours=2)
    finally:
        kiosk.stop()


def test_fake_finished_with_huge_service_time(site: Site) -> None:
    rt1 = site.device("rt-01", desk=1)
    try:
        send(rt1, *event_bytes("rt-01", "ticket", ticket("finished", 1001, "2026-11-23", desk=1, officer="nv-0001",
                                                         service_s=99960.0), seq=7))
    finally:
        rt1.stop()
    assert site.wait_dead("device rt-01 is a rating-terminal: only ticketing reports a ticket 'finished'")
    assert not site.rows("SELECT * FROM ticket_events WHERE device='rt-01'")


def test_ratings_only_from_rating_terminals_for_their_desk(site: Site) -> None:
    rating = {"desk": 1, "score": 1, "scale": 5, "ticket": None, "service": None, "officer": None}
    for dev in ("kiosk-1", "cam-01"):
        c = site.device(dev)
        try:
            send(c, *event_bytes(dev, "rating", rating))
        finally:
            c.stop()
        assert site.wait_dead(f"device {dev} is a {c.role}: only rating terminals send ratings")
    rt2 = site.device("rt-02", desk=2)
    try:
        send(rt2, *event_bytes("rt-02", "rating", rating))  # desk 2's terminal rating desk 1
        send(rt2, *event_bytes("rt-02", "rating", {**rating, "desk": 2, "score": 5}, seq=2))
    finally:
        rt2.stop()
    assert site.wait_dead("rt-02 is the terminal of desk 2, not of desk 1: rating refused")
    assert wait_for(lambda: site.rows("SELECT * FROM ratings WHERE device='rt-02' AND desk=2"))
    assert not site.rows("SELECT * FROM ratings WHERE device IN ('kiosk-1', 'cam-01') OR (device='rt-02' AND desk=1)")


def test_presence_and_status_only_about_the_device_itself(site: Site) -> None:
    change = {"desk": 3, "zone": "officer", "kind": "change", "present": False, "since": "2026-11-23T09:00:00.000+07:00"}
    cam = site.device("cam-01")
    try:
        send(cam, *event_bytes("cam-01", "presence", change))  # desk 3 is not one of its desks
        send(cam, topics.device_state(SITE, "cam-01", "presence", 3),
             json.dumps({"v": 1, "desk": 3, "officer": False}).encode(), retain=True)
        send(cam, *event_bytes("cam-01", "presence", {**change, "desk": 1}, seq=2))  # its own desk
    finally:
        cam.stop()
    assert site.wait_dead("camera cam-01 does not watch desk 3")
    assert site.wait_dead("camera cam-01: presence state for desk 3")
    assert wait_for(lambda: site.rows("SELECT * FROM presence WHERE device='cam-01' AND desk=1"))
    assert not site.rows("SELECT * FROM desk_presence WHERE desk=3")
    rt1 = site.device("rt-01", desk=1)
    try:
        send(rt1, *event_bytes("rt-01", "presence", {**change, "desk": 1}))
    finally:
        rt1.stop()
    assert site.wait_dead("rt-01 is a rating-terminal: only cameras send presence")
    liar = site.device("rt-01", desk=2)  # its retained status names desk 2
    liar.stop()
    assert site.wait_dead("rt-01 (rating-terminal) announced desk 2")
    send_clear = site.device("cam-01")
    send(send_clear, topics.device_state(SITE, "cam-01", "presence", 3), b"", retain=True)
    send_clear.stop()


def test_answers_only_on_the_askers_own_topic(site: Site) -> None:
    watcher = site.device("display-1")
    calls: list[bytes] = []
    watcher.subscribe(topics.state(SITE, "calls"), lambda m: calls.append(m.payload))
    rt2 = site.device("rt-02", desk=2)
    rt2_got = answers(rt2)
    rt1 = site.device("rt-01", desk=1)
    got = answers(rt1)
    try:
        a = raw_request(rt1, "recall", {"device": "rt-01", "desk": 1}, topics.state(SITE, "calls"))
        b = raw_request(rt1, "recall", {"device": "rt-01", "desk": 1}, topics.response(SITE, "rt-02"))
        assert wait_for(lambda: {x["request_id"] for x in got} >= {a, b}), got
        rt2.request("recall", Request(id=uuid7(), device="rt-02", desk=2), 10)  # rt-02's own answer comes back
        assert all(x["request_id"] not in (a, b) for x in rt2_got), rt2_got
        assert not any(b"request_id" in p for p in calls), calls
    finally:
        for c in (rt1, rt2, watcher):
            c.stop()


class Raw:
    """A bare MQTT 5 login (any client id it likes), recording PUBACK reason codes."""

    def __init__(self, site: Site, user: str, client_id: str):
        self.acks: dict[int, int] = {}
        self.done = threading.Event()
        self.c = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5)
        self.c.username_pw_set(user, site.password(user))
        self.c.on_connect = lambda c, u, f, rc, p=None: self.done.set()
        self.c.on_publish = lambda c, u, mid, rc, p=None: self.acks.__setitem__(mid, rc.value)
        self.c.connect("127.0.0.1", site.broker.port)
        self.c.loop_start()
        assert self.done.wait(10)

    def publish(self, topic: str, payload: bytes) -> int:
        info = self.c.publish(topic, payload, qos=1)
        info.wait_for_publish(10)
        assert wait_for(lambda: info.mid in self.acks, 10)
        return self.acks[info.mid]

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


def test_no_one_takes_the_servers_client_ids(site: Site) -> None:
    assert site.collector is not None
    log_before = site.broker.log_path.read_text()
    for cid in (site.collector.client_id, "collector", "ticketing", "motcua-collector-test-hcc"):
        r = Raw(site, "rt-01", cid)
        r.close()
    log = site.broker.log_path.read_text()[len(log_before):]
    for server in ("collector", "ticketing", site.collector.client_id):
        assert f"Client {server} already connected" not in log, log[-2000:]
    assert site.collector.health()["mqtt_connected"]


def test_the_old_shared_request_tree_is_closed(site: Site) -> None:
    r = Raw(site, "rt-02", "rt-02")
    try:
        body = json.dumps({"v": 1, "id": uuid7(), "device": "rt-02", "service": "HT", "count": 1000}).encode()
        assert r.publish(f"{T}/req/lease", body) == 0x87  # not authorized
        assert r.publish(f"{T}/dev/rt-01/req/call-next", body) == 0x87  # another device's tree
    finally:
        r.close()


def test_a_number_too_large_is_a_protocol_error(site: Site) -> None:
    rt1 = site.device("rt-01", desk=1)
    try:
        topic, payload = event_bytes("rt-01", "rating", {"desk": 1, "score": 5, "scale": 5})
        send(rt1, topic, payload.replace(b'"score": 5', b'"score": ' + b"9" * 5000))
    finally:
        rt1.stop()
    row = wait_for(lambda: site.rows("SELECT * FROM dead_letters WHERE reason='bad_number'"))
    assert row and "cannot be used" in row[0]["message"]


def test_refusals_are_counted_per_device(site: Site) -> None:
    kiosk = site.device("kiosk-1")
    try:
        send(kiosk, *event_bytes("kiosk-1", "rating", {"desk": 1, "score": 1, "scale": 5}, seq=9))
    finally:
        kiosk.stop()
    assert wait_for(lambda: site.forbidden_count("kiosk-1") >= 1)
    assert site.forbidden_count("rt-01") >= 1 and site.forbidden_count("display-1") == 0
    row = site.rows("SELECT forbidden_reason, forbidden_at FROM devices WHERE device='kiosk-1'")[0]
    assert "kiosk-1" in row["forbidden_reason"] and row["forbidden_at"]


def test_retained_requests_and_events_are_refused(site: Site) -> None:
    """The broker cannot refuse the retain flag per topic; the servers refuse what they are
    replayed on (re)subscribing. Runs last in this module: it restarts both servers."""
    rt1 = site.device("rt-01", desk=1)
    got = answers(rt1)
    req_topic = topics.request(SITE, "rt-01", "recall")
    evt_topic, evt = event_bytes("rt-01", "rating", {"desk": 1, "score": 4, "scale": 5}, seq=50)
    rid = uuid7()
    try:
        send(rt1, req_topic, json.dumps({"v": 1, "id": rid, "device": "rt-01", "desk": 1}).encode(), retain=True)
        send(rt1, evt_topic, evt, retain=True)
        assert wait_for(lambda: any(a["request_id"] == rid for a in got))  # the live copy was answered once
        assert site.ticketing is not None and site.collector is not None
        site.ticketing.stop()
        site.collector.stop()
        got.clear()
        site.start_collector()
        site.start_ticketing()
        assert wait_for(lambda: any(a["request_id"] == rid and a["error"] == "forbidden" for a in got), 30), got
        assert site.wait_dead("device rt-01: retained evt is not allowed")
    finally:
        send(rt1, req_topic, b"", retain=True)
        send(rt1, evt_topic, b"", retain=True)
        rt1.stop()
