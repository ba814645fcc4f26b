"""Numbers in the order people took them: real kiosks' Issuers and real ticketing on a real
Mosquitto. Online each number comes from ticketing at the tap (tap order across kiosks); with
ticketing stopped the kiosks issue from their leases, never repeating a number, and say so
(retained dev/{kiosk}/state/numbering); back online the numbers continue above every lease."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from common.registry import Registry
from kiosk.issuer import ClientLeaseSource, IssuedTicket, Issuer
from kiosk.store import KioskStore
from mqtt import topics
from mqtt.client import BrokerConfig, DeviceClient
from mqtt.outbox import Outbox
from mqtt.schemas import Request, uuid7
from tests.support.mqtt import Recorder
from tests.support.wait import wait_for
from tests.ticketing.helpers import SITE, write_configs
from ticketing.config import load_ticketing
from ticketing.queue import Queue
from ticketing.server import ROLE, Server, persistent_client

REGISTRY = f"""site = "{SITE}"
[devices.kiosk-1]
role = "kiosk"
[devices.kiosk-2]
role = "kiosk"
[devices.rt-01]
role = "rating-terminal"
desk = 1
"""


class Ticketing:
    """The real server (queue file kept across a stop and a start)."""

    def __init__(self, tmp: Path, url: str):
        self.tmp, self.url = tmp, url
        (tmp / "devices.toml").write_text(REGISTRY, encoding="utf-8")
        self.registry = Registry.load(tmp / "devices.toml")
        self.start()

    def start(self) -> None:
        cfg, site = load_ticketing(write_configs(self.tmp, self.url, lease_block=5))
        self.queue = Queue(cfg.db, site, device=cfg.device)
        self.outbox = Outbox(cfg.outbox_path(), site.site, cfg.device)
        self.client = persistent_client(site.site, cfg.device, ROLE, BrokerConfig(url=self.url),
                                        outbox=self.outbox, telemetry_interval_s=0)
        self.server = Server(self.queue, self.client, self.outbox, registry=self.registry)
        self.server.start()
        assert self.client.wait_connected(10)
        time.sleep(0.2)  # subscriptions acknowledged

    def stop(self) -> None:
        self.server.stop()
        self.outbox.close()
        self.queue.close()

    def status(self, number: int) -> str | None:
        row = self.queue._db.execute("SELECT status FROM tickets WHERE service='HT' AND number=?",
                                     (number,)).fetchone()
        return row[0] if row else None


class Kiosk:
    def __init__(self, tmp: Path, url: str, device: str):
        self.store = KioskStore(tmp / f"{device}.db")
        self.outbox = Outbox(tmp / f"{device}-outbox.db", SITE, device)
        self.client = DeviceClient(SITE, device, "kiosk", BrokerConfig(url=url), outbox=self.outbox,
                                   telemetry_interval_s=0)
        self.client.start()
        assert self.client.wait_connected(10)
        self.source = ClientLeaseSource(self.client, timeout_s=2.0, number_timeout_s=0.3)
        self.issuer = Issuer(self.store, self.outbox, self.source, device, lease_size=5, lease_low=0,
                             online_retry_s=0.2, on_offline=self.flag)
        self.flags: list[bool] = []

    def flag(self, offline: bool) -> None:  # what kiosk/runtime.py does: the retained numbering state
        self.flags.append(offline)
        from mqtt.schemas import NumberingState
        self.client.publish_state(topics.device_state(SITE, self.client.device, "numbering"),
                                  NumberingState(offline=offline))

    def tap(self, printed: bool = True) -> IssuedTicket:
        t = self.issuer.issue("HT")
        self.issuer.report_print(t, printed)
        return t

    def close(self) -> None:
        self.client.stop()
        self.outbox.close()


@pytest.fixture
def site(tmp_path: Path, broker):  # noqa: ANN001, ANN201
    tk = Ticketing(tmp_path, broker.url)
    kiosks = [Kiosk(tmp_path, broker.url, "kiosk-1"), Kiosk(tmp_path, broker.url, "kiosk-2")]
    yield tk, kiosks
    for k in kiosks:
        k.close()
    tk.stop()


TAPS = [0, 1, 1, 0, 1, 0, 0, 1, 0, 1]  # interleaved: which kiosk the next citizen taps


def test_online_in_tap_order_offline_from_leases_then_online_again(site, broker) -> None:  # noqa: ANN001
    tk, kiosks = site
    flags = Recorder(broker.port, topics.device_state_filter(SITE, "numbering"))
    try:
        # each kiosk holds a fallback block, as its background top-up keeps one
        assert kiosks[0].issuer.top_up("HT") and kiosks[1].issuer.top_up("HT")
        leased = {n for k in kiosks for (n,) in k.store.query('SELECT start FROM lease')}
        blocks = sorted((s, e) for k in kiosks for s, e in k.store.query('SELECT start, "end" FROM lease'))
        assert blocks == [(1000, 1004), (1005, 1009)] and leased == {1000, 1005}

        online = [kiosks[i].tap() for i in TAPS]
        first = online[0].number
        assert [t.number for t in online] == list(range(first, first + len(TAPS)))  # in tap order, both kiosks
        assert first == 1010 and not any(t.offline for t in online)
        assert wait_for(lambda: tk.queue.service_state("HT").waiting == len(TAPS))  # queued for the kiosk that took it
        assert {kiosks[0].issuer.remaining("HT"), kiosks[1].issuer.remaining("HT")} == {5}  # leases untouched

        tk.stop()  # ticketing unreachable: leases are the fallback
        offline = [kiosks[i].tap() for i in TAPS[:8]]
        assert all(t.offline for t in offline)
        numbers = [t.number for t in online + offline]
        assert len(numbers) == len(set(numbers)), "a number was issued twice"
        assert all(1000 <= t.number <= 1009 for t in offline)
        assert kiosks[0].flags == [True] and kiosks[1].flags == [True]
        assert wait_for(lambda: {json.loads(p)["offline"] for t, p, _r in flags.messages[-2:]} == {True})

        time.sleep(1.5)  # the last requests expire (1 s): one still in flight at a restart costs a gap, no more
        tk.start()
        time.sleep(0.3)  # past online_retry_s
        back = [kiosks[i].tap() for i in (1, 0, 1)]
        nxt = back[0].number  # in order again; a request still in flight at the restart costs one number, no more
        assert nxt in (first + len(TAPS), first + len(TAPS) + 1) and [t.number for t in back] == [nxt, nxt + 1, nxt + 2]
        assert not any(t.offline for t in back)
        every = numbers + [t.number for t in back]
        assert len(every) == len(set(every)), "an online number collided with a leased one"
        assert kiosks[0].flags == [True, False] and kiosks[1].flags == [True, False]
        # the offline tickets (sent while ticketing was away) and the new ones are all queued once
        total = len(TAPS) + 8 + 3
        assert wait_for(lambda: tk.queue.service_state("HT").waiting == total), tk.queue.service_state("HT")
    finally:
        flags.close()


def test_retry_same_id_same_number_print_failed_and_forbidden(site, broker) -> None:  # noqa: ANN001
    tk, kiosks = site
    k = kiosks[0]
    rid = uuid7()
    a = k.source.number("HT", rid)
    b = k.source.number("HT", rid)  # a retry (the answer was lost): never a second number
    assert a == b and a.start == a.end
    c = k.source.number("HT", uuid7())
    assert c.start == a.start + 1

    t = k.tap(printed=False)  # the print outcome still reaches ticketing for an online number
    assert t.number == c.start + 1 and not t.offline
    assert wait_for(lambda: tk.status(t.number) == "not_printed")

    rt = DeviceClient(SITE, "rt-01", "rating-terminal", BrokerConfig(url=broker.url), telemetry_interval_s=0)
    rt.start()
    try:
        assert rt.wait_connected(10)
        resp = rt.request("number", Request(id=uuid7(), device="rt-01", service="HT"), 3.0)
        assert not resp.ok and resp.error == "forbidden" and "kiosk" in (resp.message_en or "")
        unknown = k.client.request("number", Request(id=uuid7(), device="kiosk-1", service="ZZ"), 3.0)
        assert not unknown.ok and unknown.error == "unknown_service"
    finally:
        rt.stop()
    assert k.tap().number == t.number + 1  # the refusals took no number
