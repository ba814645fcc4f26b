"""Central collectors and gap filling across the WAN (issue 17, parts 2 and 3), all real: two sites,
each its own Mosquitto (the configs `server-init` and `province-bridge` write) bridged over TLS to
the central broker through a link the test can cut, its own collector process and device clients
with durable outboxes; two central collector processes on one shared store.

``MOTCUA_PROVINCE_LONG=1`` keeps the link cut for minutes instead of seconds."""
from __future__ import annotations

import os
import threading
import time
import tomllib
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from collector.db import connect
from mqtt import topics
from mqtt.client import BrokerConfig, DeviceClient
from mqtt.outbox import Outbox
from mqtt.schemas import RatingData
from tests.collector.wire import CollectorProcess, rating
from tests.ops.support import run_ops
from tests.province.conftest import OTHER, SITE, BridgedSite, CentralBroker, Sub, toml
from tests.province.proxy import Link
from tests.support.pg import fresh_database, pg_cluster  # noqa: F401 (the session's PostgreSQL cluster)
from tests.support.wait import wait_for

LONG = os.environ.get("MOTCUA_PROVINCE_LONG") == "1"
CUT_S = 180.0 if LONG else 8.0
SITES = (SITE, OTHER)
DEVICES = ("rt-01", "rt-02")

SITE_PROVINCE = """
[province]
manifest_interval_s = 0.5
replay_rate_per_s = 5000
replay_max = 2000
"""
CENTRAL_PROVINCE = """
[province]
central = true
session_expiry_s = 4
fill_interval_s = 0.5
fill_grace_s = 1.5
fill_retry_s = 5
"""


@contextmanager
def _store(where: str | Path) -> Iterator[Any]:
    """A connection to a collector's store: a site's SQLite file or the province's store."""
    conn = connect(str(where))
    try:
        yield conn
    finally:
        conn.close()


def _ids(where: str | Path, site: str | None = None) -> set[str]:
    with _store(where) as c:
        if site is None:
            return {r[0] for r in c.execute("SELECT id FROM events")}
        return {r[0] for r in c.execute("SELECT id FROM events WHERE site=?", (site,))}


class Device:
    """A rating terminal's real MQTT client with its durable outbox."""

    def __init__(self, site: "Site", device: str, desk: int):
        cred = toml(site.root / f"etc/motcua/provision/{device}/mqtt.toml", "mqtt")
        self.outbox = Outbox(site.root / f"var/{device}-outbox.db", site.name, device)
        self.desk = desk
        self.client = DeviceClient(site.name, device, "rating-terminal",
                                   BrokerConfig(url=f"mqtt://127.0.0.1:{site.broker.port}",
                                                username=cred["username"], password=cred["password"]),
                                   outbox=self.outbox, desk=desk, reconnect_min_s=0.1, reconnect_max_s=1.0,
                                   confirm_timeout_s=3.0, telemetry_interval_s=0)
        self.client.start()

    def rate(self, n: int) -> None:
        for i in range(n):
            self.outbox.enqueue("rating", RatingData(desk=self.desk, score=1 + i % 5, scale=5))
        self.client.sender.wake()  # type: ignore[union-attr]

    def stop(self) -> None:
        self.client.stop(timeout=2)
        self.outbox.close()


class Site:
    """One site: its broker bridged to the province through `link`, its collector, two devices."""

    def __init__(self, name: str, tmp: Path, province: "Province"):
        self.name, self.root = name, tmp / name
        run_ops("server-init", "--site", name, "--root", str(self.root))
        for i, device in enumerate(DEVICES, 1):
            run_ops("provision-device", "--site", name, "--device", device, "--role", "rating-terminal",
                    "--desk", str(i), "--root", str(self.root))
        self.link = Link(province.central.tls_port).start()
        run_ops("province-bridge", "join", "--root", str(self.root), "--bundle", str(province.bundle(name)),
                "--province", f"mqtts://127.0.0.1:{self.link.port}", "--restart-timeout", "1 2")
        self.broker = BridgedSite(self.root)
        self.db = self.root / "var/collector.db"
        self.db.parent.mkdir(parents=True, exist_ok=True)
        conf = self.root / "etc/motcua/collector-test.toml"
        joined = (self.root / "etc/motcua/collector.toml").read_text()
        assert "\nprovince_link = true\n" in joined, "join switches the site's replay service on"
        conf.write_text(joined + SITE_PROVINCE)
        self.collector = CollectorProcess("", self.db, site=name, client_id="collector",
                                          extra=["--config", str(conf)])
        self.devices: list[Device] = []

    def start(self) -> None:
        self.broker.start()
        self.collector.broker_url = self.broker.url
        self.collector.start(timeout=60)
        self.devices = [Device(self, d, i) for i, d in enumerate(DEVICES, 1)]

    def kill(self) -> None:
        """Power lost: the collector and the broker SIGKILLed, the broker's unsaved queue gone."""
        self.collector.kill()
        self.broker.kill()
        for f in self.broker.dir.glob("mosquitto.db*"):
            f.unlink()  # no autosave came in time: the bridge's queue is lost

    def restart(self) -> None:
        self.broker.start()
        self.collector.start(timeout=60)

    def settle(self, timeout: float = 30.0) -> None:
        """Every device's events are in the site's store (confirmed: the outboxes are empty)."""
        assert all(d.client.wait_confirmed(timeout) for d in self.devices), "the site did not confirm every event"

    def ids(self) -> set[str]:
        return _ids(self.db)

    def stop(self) -> None:
        for d in self.devices:
            d.stop()
        self.collector.stop()
        self.broker.stop()
        self.link.cut()


class Province:
    def __init__(self, tmp: Path, store: str):
        self.root = tmp / "central"
        run_ops("province-bridge", "central-init", "--root", str(self.root),
                "--server-name", "localhost", "--server-name", "127.0.0.1")
        self.central = CentralBroker(self.root)
        for site in SITES:
            run_ops("province-bridge", "add-site", "--root", str(self.root), "--site", site,
                    "--province", f"mqtts://127.0.0.1:{self.central.tls_port}")
        self.sites = dict(zip(SITES, _parallel(lambda name: Site(name, tmp, self), SITES)))
        # ONE store for both central collectors: PostgreSQL (each keeps only its SQLite `db` beside)
        self.db = store
        conf = tmp / "central.toml"
        conf.write_text(f'store = "{store}"\n' + CENTRAL_PROVINCE +
                        (self.root / "etc/motcua/province/province-collector.toml").read_text())
        self.collectors = [CollectorProcess("", tmp / f"central-{i}.db", site="+",
                                            client_id=f"province-collector-{i}",
                                            log=tmp / f"central-{i}.log", extra=["--config", str(conf)])
                           for i in (1, 2)]

    def bundle(self, site: str) -> Path:
        return self.root / "etc/motcua/province/sites" / site

    def start(self) -> None:
        self.central.start()
        for c in self.collectors:
            c.broker_url = self.central.url
        _parallel(lambda c: c.start(timeout=60), self.collectors)
        _parallel(lambda s: s.start(), list(self.sites.values()))

    def stop(self) -> None:
        for s in self.sites.values():
            s.stop()
        for c in self.collectors:
            c.stop()
        self.central.stop()

    def ids(self, site: str) -> set[str]:
        return _ids(self.db, site)

    def converged(self, site: str, timeout: float = 60.0) -> bool:
        s = self.sites[site]
        return wait_for(lambda: self.ids(site) == s.ids(), timeout)

    def health(self) -> list[dict[str, Any]]:
        return [c.health() for c in self.collectors]

    def logs(self) -> str:
        return "\n".join(c.log.read_text(errors="replace")[-3000:] for c in self.collectors)


def _parallel(fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
    """fn over items in threads (set-up waits mostly on subprocesses), results in order."""
    with ThreadPoolExecutor(len(items)) as pool:
        return list(pool.map(fn, items))


@pytest.fixture(scope="module")
def province(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[Province]:
    p = Province(tmp_path_factory.mktemp("central"), fresh_database(request.getfixturevalue("pg_cluster")))
    p.start()
    try:
        yield p
    finally:
        p.stop()


def _produce(sites: list[Site], per_device: int, seconds: float) -> None:
    """Each device of each site rates `per_device` times, spread over `seconds`."""
    steps = max(1, int(seconds / 0.5))
    for k in range(steps):
        for s in sites:
            for d in s.devices:
                d.rate(per_device // steps + (1 if k < per_device % steps else 0))
        time.sleep(seconds / steps)


def test_two_sites_stored_once_by_two_central_collectors(province: Province) -> None:
    sites = list(province.sites.values())
    _produce(sites, 30, 1.0)
    for s in sites:
        s.settle()
        assert len(s.ids()) >= 60
        assert province.converged(s.name), f"{s.name}: {len(province.ids(s.name))} of {len(s.ids())}\n{province.logs()}"
    health = province.health()
    assert all(h["province"]["events_in"] > 0 for h in health), f"both central instances share the stream: {health}"
    assert all(h["ingest"]["confirmations"] == 0 for h in health), "a central collector never confirms to devices"
    with _store(province.db) as c:  # once each: typed rows too
        for site in SITES:
            n_ev = c.execute("SELECT count(*) FROM events WHERE site=? AND type='rating'", (site,)).fetchone()[0]
            n_r = c.execute("SELECT count(*) FROM ratings WHERE site=?", (site,)).fetchone()[0]
            assert n_ev == n_r == len(_ids(province.sites[site].db)) - _own(province.sites[site].db)
        manifests = c.execute("SELECT count(*) FROM retained_state WHERE name='manifest'").fetchone()[0]
        assert manifests == 2, "each site's manifest is kept as its collector's retained state"


def _own(db: Path) -> int:
    """The site collector's own events (its faults), not ratings."""
    with _store(db) as c:
        return int(c.execute("SELECT count(*) FROM events WHERE type!='rating'").fetchone()[0])


def test_bridge_cut_while_devices_produce_then_restored(province: Province) -> None:
    a = province.sites[SITE]
    a.link.cut()
    before = len(province.ids(SITE))
    _produce([a], int(5 * CUT_S), CUT_S)
    a.settle(60)
    assert len(province.ids(SITE)) == before, "nothing crosses a cut link"
    a.link.restore()
    assert province.converged(SITE, 40 + CUT_S / 2), f"{len(province.ids(SITE))} of {len(a.ids())}\n{province.logs()}"


def test_site_killed_with_its_broker_during_the_cut_converges_by_replay(province: Province) -> None:
    a = province.sites[SITE]
    replayed_before = sum(h["province"]["replayed_in"] for h in province.health())
    a.link.cut()
    _produce([a], 30, 2.0)
    a.settle()
    a.kill()  # the bridge's queue (30 events a device) is gone; the site's SQLite keeps them
    a.restart()
    _produce([a], 5, 0.5)
    a.settle()
    a.link.restore()
    assert province.converged(SITE, 60), f"{len(province.ids(SITE))} of {len(a.ids())}\n{province.logs()}"
    replayed = sum(h["province"]["replayed_in"] for h in province.health()) - replayed_before
    assert replayed >= 60, f"the lost events came by replay from the site's store ({replayed})"
    assert a.collector.health()["province"]["replayed_out"] >= 60


def test_central_collector_killed_mid_stream(province: Province) -> None:
    b = province.sites[OTHER]
    stop = threading.Event()

    def stream() -> None:
        while not stop.is_set():
            for d in b.devices:
                d.rate(2)
            time.sleep(0.1)

    t = threading.Thread(target=stream, daemon=True)
    t.start()
    time.sleep(1.5)
    province.collectors[0].kill()
    time.sleep(1.5)
    province.collectors[0].start(timeout=60)  # Restart=always: its session (and its share) comes back
    time.sleep(1.0)
    stop.set()
    t.join()
    b.settle()
    assert province.converged(OTHER), f"{len(province.ids(OTHER))} of {len(b.ids())}\n{province.logs()}"
    with _store(province.db) as c:
        n_r = c.execute("SELECT count(*) FROM ratings WHERE site=?", (OTHER,)).fetchone()[0]
    assert n_r == len(b.ids()) - _own(b.db), "nothing doubled"


def test_central_collector_dead_for_good_its_share_is_filled_from_the_site(province: Province) -> None:
    """Mosquitto keeps giving a dead instance's persistent session its share until the session
    expires; what it held is then gone from the broker, and the site's store fills it."""
    b = province.sites[OTHER]
    survivor = province.collectors[0]
    before = survivor.health()["province"]["replayed_in"]
    province.collectors[1].kill()
    _produce([b], 40, 3.0)
    b.settle()
    assert province.converged(OTHER, 40), f"{len(province.ids(OTHER))} of {len(b.ids())}\n{province.logs()}"
    assert survivor.health()["province"]["replayed_in"] > before, "the dead session's share came by replay"
    province.collectors[1].start(timeout=60)


def test_a_site_cannot_publish_as_another_site(province: Province) -> None:
    a = province.sites[SITE]
    forger = Sub(province.central.tls_port, SITE, _site_password(province, SITE),
                 ca=str(province.root / "etc/motcua/province-tls/ca.crt"), name="forger")
    assert forger.connect(), forger.rc
    # under the other site's tree: the central broker refuses it (ACL), nothing is stored
    t1, p1 = rating(site=OTHER, device="rt-01", seq=900001)
    forger.publish(t1, p1)
    # under its own tree, saying it is the other site: a dead letter
    t2, p2 = rating(site=OTHER, device="rt-01", seq=900002)
    forger.publish(topics.event(SITE, "rt-01", "rating"), p2)
    # a replay of its own collector carrying the other site's event: a dead letter too
    forger.publish(topics.replay(SITE, "rt-01", "rating"), p2)
    with _store(province.db) as c:
        assert wait_for(lambda: c.execute("SELECT count(*) FROM dead_letters WHERE reason='site_mismatch'")
                        .fetchone()[0] >= 2, 15)
        assert not c.execute("SELECT id FROM events WHERE seq IN (900001, 900002)").fetchall()
    forger.close()
    assert a.ids() == province.ids(SITE)


def _site_password(province: Province, site: str) -> str:
    return str(tomllib.loads((province.bundle(site) / "bridge.toml").read_text())["bridge"]["password"])

