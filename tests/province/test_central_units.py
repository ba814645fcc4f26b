"""The pieces of gap filling without brokers: seq runs, the site's manifest from its store, what the
central gap filler asks for, the replay topics and messages, the central config's refusals."""
from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from collector.central import CentralIngest, CentralStore, replayed_as_event
from collector.config import CollectorConfig, ProvinceConfig
from collector.db import open_db
from collector.errors import CentralNeedsClientId
from collector.replay import count, intersect, normalize, site_manifest, subtract, take
from collector.replay_fill import DeviceGaps, GapFiller
from collector.store import Incoming, Store
from common.clock import SystemClock
from mqtt import topics
from mqtt.client import BrokerConfig, DeviceClient, Message
from mqtt.errors import BadTopic
from mqtt.province import Manifest, Replayed, ReplayRequest
from tests.collector.wire import SITE, VN, rating


def test_runs() -> None:
    assert normalize([(5, 7), (1, 2), (3, 3), (9, 9)]) == [(1, 3), (5, 7), (9, 9)]
    assert subtract([(1, 10)], [(3, 4), (8, 20)]) == [(1, 2), (5, 7)]
    assert subtract([(1, 3), (5, 9)], []) == [(1, 3), (5, 9)]
    assert subtract([(1, 3)], [(0, 5)]) == []
    assert intersect([(1, 10), (20, 30)], [(5, 25)]) == [(5, 10), (20, 25)]
    assert take([(1, 3), (7, 10)], 5) == [(1, 3), (7, 8)]
    assert count([(1, 3), (7, 10)]) == 7


def _write(store: Store, *events: tuple[str, bytes]) -> None:
    store.write_batch([Incoming(t, p, False, datetime.now(VN)) for t, p in events])


def test_site_manifest_is_what_the_store_holds(tmp_path: Path) -> None:
    conn = open_db(tmp_path / "site.db")
    store = Store(conn)
    _write(store, *(rating(seq=s) for s in (1, 2, 3, 6, 7)), rating(device="rt-02", seq=40))
    _write(store, ("motcua/v1/camau-hcc/dev/rt-01/evt/rating", b"{not json"))  # a dead letter: no seq claimed
    assert site_manifest(conn, SITE) == {"rt-01": [(1, 3), (6, 7)], "rt-02": [(40, 40)]}
    _write(store, rating(seq=4))  # a late event fills part of the gap
    assert site_manifest(conn, SITE)["rt-01"] == [(1, 4), (6, 7)]
    _write(store, rating(seq=8, score=9), rating(seq=9))  # seq 8 is a dead letter (score above the scale)
    assert conn.execute("SELECT count(*) FROM dead_letters WHERE reason='bad_data'").fetchone()[0] == 1
    assert site_manifest(conn, SITE)["rt-01"] == [(1, 4), (6, 7), (9, 9)], "a dead letter is never asked for"
    assert site_manifest(conn, "bac-lieu") == {}


def test_gap_filler_asks_only_for_ripe_claims_and_moves_its_mark_down_for_late_ones() -> None:
    g = DeviceGaps()
    g.claim([(1, 10)], now=100.0, baseline=True)
    g.ripen(101.0, grace=5.0)
    assert g.old == [] and g.claimed() == [(1, 10)], "claimed, not yet ripe"
    g.ripen(106.0, grace=5.0)
    assert g.old == [(1, 10)] and g.young == []
    g.verified = 10
    g.claim([(1, 10), (12, 15)], now=107.0, baseline=False)
    assert g.verified == 10 and g.young == [(12, 15, 107.0)], "new seqs above the mark"
    g.claim([(1, 15), (20, 20)], now=108.0, baseline=False)  # 11 filled at the site, after the mark passed it
    assert g.verified == 10 and (11, 11, 108.0) in g.young
    g.verified = 20
    g.claim([(1, 15), (20, 20)], now=109.0, baseline=False)
    assert g.verified == 20, "nothing new: the mark stays"
    g.claim([(1, 20)], now=109.5, baseline=False)
    assert g.verified == 15, "16..19 appeared at the site (late events): checked again from there"
    g.old, g.young, g.verified = [(1, 9)], [], 9
    g.claim([(0, 0)], now=110.0, baseline=False)
    assert g.verified == -1, "a claim below the mark brings it down"


def test_replay_topics_parse_and_map_to_the_event() -> None:
    t = topics.replay(SITE, "rt-05", "rating")
    assert t == "motcua/v1/camau-hcc/dev/collector/replay/rt-05/rating"
    p = topics.parse(t)
    assert (p.kind, p.device, p.key, p.name) == ("replay", "collector", "rt-05", "rating")
    assert replayed_as_event(t) == topics.event(SITE, "rt-05", "rating")
    assert replayed_as_event("motcua/v1/camau-hcc/dev/rt-01/replay/rt-05/rating") is None, \
        "only the site's collector replays"
    assert topics.parse(topics.replayed(SITE)).kind == "replayed"
    assert topics.parse(topics.replay_request(SITE)) == topics.Topic(SITE, "cmd", "collector", "replay")
    assert topics.parse(topics.manifest(SITE)).kind == "devstate"
    with pytest.raises(BadTopic):
        topics.parse("motcua/v1/camau-hcc/dev/collector/replay/rt-05/nonsense")
    assert topics.shared("province", topics.events_filter(None)) == "$share/province/motcua/v1/+/dev/+/evt/+"


def test_replay_messages_refuse_bad_runs() -> None:
    m = Manifest.model_validate_json(json.dumps({"v": 1, "site": SITE, "devices": {"rt-01": [[1, 3], [5, 9]]}}))
    assert m.devices == {"rt-01": [(1, 3), (5, 9)]}
    for bad in ({"rt-01": [[5, 9], [1, 3]]}, {"rt-01": [[3, 1]]}, {"rt-01": [[1, 5], [4, 9]]}, {"RT 01": [[1, 1]]}):
        with pytest.raises(ValidationError):
            ReplayRequest.model_validate({"id": "r1", "want": bad, "by": "c1"})
    assert Replayed(request_id="r1", sent=0).absent == {}


def test_central_config_refusals(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="site = '\\+'"):
        CollectorConfig.model_validate({"site": SITE, "province": {"central": True}})
    cfg = CollectorConfig.model_validate({"db": str(tmp_path / "c.db"), "province": {"central": True}})
    with pytest.raises(CentralNeedsClientId, match="client_id"):
        CentralIngest(cfg)


def test_central_store_keeps_no_gaps_and_the_highest_seq(tmp_path: Path) -> None:
    conn = open_db(tmp_path / "central.db")
    a, b = CentralStore(conn), CentralStore(conn)  # two instances, each given part of the stream
    _write(a, rating(seq=1), rating(seq=5))
    _write(b, rating(seq=3), rating(seq=9))
    _write(a, rating(seq=7))
    assert conn.execute("SELECT count(*) FROM seq_gaps").fetchone()[0] == 0
    assert conn.execute("SELECT last_seq FROM devices WHERE device='rt-01'").fetchone()[0] == 9


def test_gap_filler_wants_what_the_manifest_claims_and_the_store_lacks(tmp_path: Path) -> None:
    conn = open_db(tmp_path / "central.db")
    _write(Store(conn), *(rating(seq=s) for s in (1, 2, 3, 4, 5, 8, 9, 10)))
    client = DeviceClient(None, "collector", "collector", BrokerConfig())  # never connected: asks nothing
    filler = GapFiller(tmp_path / "central.db", client, SystemClock(), ProvinceConfig(fill_grace_s=0, fill_window=100),
                       "c1")
    manifest = Manifest(site=SITE, devices={"rt-01": [(1, 12)], "rt-02": [(1000000, 1000001)]}).dumps()
    filler.on_manifest(Message(topics.manifest(SITE), manifest, True))
    filler.on_manifest(Message(topics.manifest("bac-lieu"), manifest, True))  # names another site: ignored
    assert list(filler.sites) == [SITE]
    filler._conn = conn
    st = filler.sites[SITE]
    now = time.monotonic()
    assert filler._missing(SITE, st.devices, now) == {"rt-01": [(6, 7), (11, 12)], "rt-02": [(1000000, 1000001)]}
    assert st.devices["rt-01"].verified == 5
    filler._on_replayed(Message(topics.replayed(SITE), Replayed(request_id="r", sent=0,
                                                                absent={"rt-01": [(6, 7)]}).dumps(), False))
    assert filler._missing(SITE, st.devices, now)["rt-01"] == [(11, 12)], "absent at the site: never again"
    _write(Store(conn), rating(seq=11), rating(seq=12))
    assert "rt-01" not in filler._missing(SITE, st.devices, now)
    assert st.devices["rt-01"].verified == 12


def test_gap_filler_does_not_ask_a_site_whose_link_is_down(tmp_path: Path) -> None:
    conn = open_db(tmp_path / "central.db")
    links: dict[str, bool] = {SITE: False}
    client = DeviceClient(None, "collector", "collector", BrokerConfig())
    filler = GapFiller(tmp_path / "central.db", client, SystemClock(), ProvinceConfig(fill_grace_s=0), "c1",
                       link_up=links.get)
    filler.on_manifest(Message(topics.manifest(SITE), Manifest(site=SITE, devices={"rt-01": [(1, 3)]}).dumps(), True))
    filler._conn = conn
    looked: list[str] = []
    filler._missing = lambda site, devices, now: looked.append(site) or {}  # type: ignore[method-assign]
    filler.round()
    assert looked == [], "the bridge is down: nothing asked"
    links[SITE] = True
    filler.round()
    assert looked == [SITE]
