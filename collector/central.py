"""A central collector of the province (``[province] central = true``; docs/protocol.md, "Province").

Two or more instances read the central broker, where every site's bridge writes its own
``motcua/v1/{site}/...`` (the broker's ACL binds a site's login to its tree: identity at the province
is the site), and store into ONE shared store, each event exactly once by ``id``:

- events, telemetry and replayed events through an MQTT 5 shared subscription
  (``$share/{group}/...``): each message goes to one instance; one may die at any moment (what it
  held unacknowledged is redelivered to it when it comes back, or filled from the site after its
  session expired);
- retained trees (device status and state, site state, the sites' manifests) through plain
  subscriptions in every instance: a shared subscription does not give retained messages to late
  subscribers reliably; their writes are idempotent upserts;
- ``motcua/link/{site}`` (each site's bridge state) the same way, kept per site like a site
  collector keeps its own (collector/province_link.py).

A central collector never confirms to devices (``dev/{device}/stored`` is the site collector's),
never answers requests and runs no alerts; it tracks no seq gaps as events arrive (each instance
sees only part of a device's stream): :mod:`collector.replay_fill` finds them in the store.
"""
from __future__ import annotations

import logging
import threading
from typing import Any, Callable

from common.clock import Clock, SystemClock
from common.systemd import Notifier
from mqtt import topics
from mqtt.client import Message
from mqtt.errors import BadId, BadTopic

from .backend import Conn
from .config import CollectorConfig
from .errors import CentralNeedsClientId
from .ingest import Ingest
from .province_link import LinkWatch
from .replay_fill import GapFiller
from .store import BatchResult, Incoming, Store

log = logging.getLogger(__name__)



class CentralStore(Store):
    """The shared store's writer: no seq gaps kept as events arrive (each instance sees only part of
    a device's stream: collector/replay_fill.py finds gaps in the store); ``devices.last_seq`` is the
    highest seq stored (read and written under the device row's lock, as the store does)."""

    def _track_seqs(self, site: str, device: str, last: int | None, events: list[tuple[Incoming, Any]]) -> int | None:
        top = max(e.seq for _, e in events)
        return top if last is None else max(last, top)

    def _edge_gaps(self, *args: Any) -> None:
        """A device's outbox figures say what the SITE store must hold, not the province's."""


def replayed_as_event(topic: str) -> str | None:
    """``motcua/v1/{site}/dev/collector/replay/{device}/{type}`` -> the event's own topic, or None
    when the topic is not a replay by the site's collector (never taken as an event)."""
    try:
        t = topics.parse(topic)
    except (BadTopic, BadId):
        return None
    if t.kind != "replay" or t.device != topics.SITE_COLLECTOR or t.key is None or t.name is None:
        return None
    return topics.event(t.site, t.key, t.name)


class CentralIngest(Ingest):
    """The ingest of one central instance: shared and plain subscriptions, no confirmations."""

    def __init__(self, config: CollectorConfig, *, clock: Clock | None = None,
                 on_batch: Callable[[BatchResult], None] | None = None, notifier: Notifier | None = None):
        if not config.client_id:  # two instances on one default id would take each other's session
            raise CentralNeedsClientId("[province] central = true cần client_id riêng cho mỗi phiên bản / needs its "
                                       "own client_id per instance (e.g. --client-id province-collector-1), stable "
                                       "across restarts")
        self.province = config.province
        self.gap_filler: GapFiller | None = None
        self.replayed_in = 0  # replayed events taken (each stored once by id like any other)
        self.events_in = 0  # events this instance got from the shared subscription
        super().__init__(config.model_copy(update={"session_expiry_s": config.province.session_expiry_s}),
                         clock=clock, on_batch=on_batch, notifier=notifier)
        self.links = CentralLinks(config.store_location, self.clock, self.client.ack)
        self.gap_filler = GapFiller(config.store_location, self.client, self.clock, config.province,
                                    config.mqtt_client_id(), link_up=self.links.up.get)
        self.client.subscribe(topics.province_links_filter(), self.links.on_message)

    def _subscribe(self) -> None:
        group = self.province.share_group
        for flt in (topics.events_filter(None), topics.telemetry_filter(None), topics.replay_filter()):
            self.client.subscribe(flt, self._on_message, share=group)
        # retained trees: every instance, plain (idempotent upserts)
        for flt in (topics.status_filter(None), topics.device_states_filter(None), topics.site_states_filter(None)):
            self.client.subscribe(flt, self._on_message)

    def _make_store(self, conn: Conn) -> Store:
        return CentralStore(conn, self.config.timezone)

    def _on_message(self, msg: Message) -> None:
        try:
            t: topics.Topic | None = topics.parse(msg.topic)
        except (BadTopic, BadId):
            t = None  # the store dead-letters it
        if t is not None and t.kind == "replay":
            original = replayed_as_event(msg.topic)
            if original is not None:  # stored as that device's event at that site, by its own topic
                self.replayed_in += 1
                msg = msg._replace(topic=original)
        elif t is not None and t.kind == "evt":
            self.events_in += 1
        elif (t is not None and t.kind == "devstate" and t.device == topics.SITE_COLLECTOR and t.name == "manifest"
              and self.gap_filler is not None):
            self.gap_filler.on_manifest(msg)  # and stored as the site collector's retained state
        super()._on_message(msg)

    def _confirm(self, res: BatchResult) -> None:
        """Confirmations to devices are the site collector's: nothing is published here."""

    def start(self) -> None:
        super().start()
        if self.gap_filler is not None:
            self.gap_filler.start()

    def stop(self, timeout: float = 5.0) -> None:
        if self.gap_filler is not None:
            self.gap_filler.stop()
        super().stop(timeout)


class CentralLinks:
    """``motcua/link/{site}`` for every site: one :class:`LinkWatch` per site, made on first sight."""

    def __init__(self, db: str, clock: Clock | None, ack: Callable[[Any], None]):
        self.db, self.clock, self.ack = db, clock or SystemClock(), ack
        self._watch: dict[str, LinkWatch] = {}
        self._lock = threading.Lock()
        self.up: dict[str, bool] = {}  # the sites' bridges as last heard (for the gap filler)

    def on_message(self, msg: Message) -> None:
        site = msg.topic.rsplit("/", 1)[-1]
        try:
            expected = topics.province_link(site)
        except BadId:
            log.warning("link state on %s: not a site id, ignored", msg.topic)
            self.ack(msg)
            return
        with self._lock:
            watch = self._watch.setdefault(site, LinkWatch(self.db, site, expected, self.clock, self.ack))
        watch.on_message(msg)
        raw = bytes(msg.payload).strip()
        if raw in (b"0", b"1"):
            self.up[site] = raw == b"1"
