"""The central gap filler: compare each site's manifest with the shared store and ask the site
for what is missing (docs/protocol.md, "Province: central collectors and gap filling").

Every central instance runs one; they need no leader. Each sees every site's retained manifest
(plain subscription), every replay request any instance sends and every site's answer
(``replayed``): a site with a request in flight (by anyone) is not asked again until that request
is answered or ``fill_retry_s`` passed, so an instance that dies mid-request is replaced by the
next one to look. A duplicate request only costs duplicates on the wire; the store keeps each
event once by ``id``.

Per (site, device) an instance keeps, in memory:

- the **claims**: the seq runs any manifest named, with when each run was first named; a seq is
  asked for only when a manifest named it ``fill_grace_s`` ago and it is still not stored (it may
  be on its way through the bridge or in another instance's batch);
- the **absent** runs: wanted seqs the site said it does not hold (never asked again);
- ``verified``: every claimed seq up to it is stored (or absent). Each round checks the store from
  there on, at most ``fill_window`` seqs per device (``SELECT DISTINCT seq ... BETWEEN``, the
  ``(site, device, seq)`` index), so a round costs what is new, and a restarted instance checks
  everything once, a window per round. A claim that appears below ``verified`` (a late event
  filled a gap at the site) brings ``verified`` down to it.
"""
from __future__ import annotations

import logging
import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from common.clock import Clock
from mqtt import topics
from mqtt.client import DeviceClient, Message
from mqtt.errors import BadId, BadTopic, NotConnected, ProtocolError
from mqtt.outbox import seq_runs
from mqtt.province import Manifest, Replayed, ReplayRequest, Runs
from mqtt.schemas import parse_model, uuid7

from .config import ProvinceConfig
from .db import connect
from .replay import clip, count, intersect, normalize, subtract, take

log = logging.getLogger(__name__)


@dataclass
class DeviceGaps:
    """What one instance knows of one device of one site."""

    old: Runs = field(default_factory=list)  # claimed at least the grace time ago
    young: list[tuple[int, int, float]] = field(default_factory=list)  # (first, last, first named at)
    absent: Runs = field(default_factory=list)
    verified: int = -1

    def claimed(self) -> Runs:
        return normalize(self.old + [(a, b) for a, b, _ in self.young])

    def claim(self, runs: Runs, now: float, baseline: bool) -> None:
        new = subtract(normalize(runs), self.claimed())
        if not new:
            return
        self.young.extend((a, b, now) for a, b in new)
        if not baseline and new[0][0] <= self.verified:
            self.verified = new[0][0] - 1

    def ripen(self, now: float, grace: float) -> None:
        ripe = [(a, b) for a, b, t in self.young if now - t >= grace]
        if ripe:
            self.old = normalize(self.old + ripe)
            self.young = [y for y in self.young if now - y[2] < grace]


@dataclass
class SiteState:
    manifest_at: float = 0.0
    devices: dict[str, DeviceGaps] = field(default_factory=dict)
    waiting: str | None = None  # the request in flight (anyone's)
    until: float = 0.0  # not asked again before (monotonic)


class GapFiller:
    """``GapFiller(db, client, clock, config, me).start()`` in each central instance."""

    def __init__(self, db: str | Path, client: DeviceClient, clock: Clock, config: ProvinceConfig, me: str,
                 link_up: Callable[[str], bool | None] = lambda site: None):
        self.db, self.client, self.clock, self.config, self.me = str(db), client, clock, config, me
        self.link_up = link_up  # a site whose bridge is down is not asked (its requests would only pile up)
        self.sites: dict[str, SiteState] = {}
        self.requests = 0  # replay requests this instance sent (health, tests)
        self.asked = 0  # seqs asked for
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._conn: Any = None
        client.subscribe(topics.replay_requests_filter(), self._on_request)
        client.subscribe(topics.replayed_filter(), self._on_replayed)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="collector-gap-filler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5.0)

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {"requests": self.requests, "asked": self.asked, "sites": len(self.sites),
                    "waiting": sorted(s for s, st in self.sites.items() if st.waiting)}

    # -- what arrives (network thread) --------------------------------------------------------------

    def _site(self, topic: str) -> str | None:
        try:
            return topics.parse(topic).site
        except (BadTopic, BadId):
            return None

    def on_manifest(self, msg: Message) -> None:
        """A site's manifest (the ingest acknowledges it once stored as retained state)."""
        site = self._site(msg.topic)
        if site is None or not msg.payload:
            return
        try:
            m = parse_model(Manifest, msg.payload)
        except ProtocolError as exc:
            log.warning("manifest on %s refused: %s", msg.topic, exc)
            return
        if m.site != site:
            log.warning("manifest on %s names site %r: ignored (the topic's site is who sent it)", msg.topic, m.site)
            return
        now = time.monotonic()
        with self._lock:
            st = self.sites.setdefault(site, SiteState())
            baseline = st.manifest_at == 0.0
            for device, runs in m.devices.items():
                st.devices.setdefault(device, DeviceGaps()).claim(runs, now, baseline)
            st.manifest_at = now

    def _on_request(self, msg: Message) -> None:
        """Any central instance's request (ours too): the site is asked; wait for its answer."""
        self.client.ack(msg)
        site = self._site(msg.topic)
        try:
            req = parse_model(ReplayRequest, msg.payload)
        except ProtocolError:
            return
        if site is None or req.by == self.me:
            return
        with self._lock:
            st = self.sites.setdefault(site, SiteState())
            st.waiting, st.until = req.id, time.monotonic() + self.config.fill_retry_s

    def _on_replayed(self, msg: Message) -> None:
        self.client.ack(msg)
        site = self._site(msg.topic)
        try:
            ans = parse_model(Replayed, msg.payload)
        except ProtocolError as exc:
            log.warning("replay answer on %s refused: %s", msg.topic, exc)
            return
        if site is None:
            return
        with self._lock:
            st = self.sites.setdefault(site, SiteState())
            for device, runs in ans.absent.items():
                g = st.devices.setdefault(device, DeviceGaps())
                g.absent = normalize(g.absent + runs)
                log.warning("site %s does not hold %d seqs of %s it was asked for: not asked again", site,
                            count(runs), device)
            if st.waiting == ans.request_id:
                # the replayed events came before this answer; give them time to be stored
                st.waiting, st.until = None, time.monotonic() + min(self.config.fill_grace_s, 5.0)

    # -- the rounds --------------------------------------------------------------------------------

    def _loop(self) -> None:
        while not self._stop.wait(self.config.fill_interval_s * random.uniform(0.8, 1.2)):
            try:
                self.round()
            except Exception:  # noqa: BLE001 - the next round tries again
                log.exception("gap filling round failed")
                self._close()

    def _close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:  # noqa: BLE001
                pass
            self._conn = None

    def round(self) -> int:
        """Look at every site once; return the number of requests sent."""
        if self._conn is None:
            self._conn = connect(self.db, readonly=True)
        sent = 0
        for site in sorted(self.sites):
            now = time.monotonic()
            with self._lock:
                st = self.sites[site]
                if now < st.until or not st.devices or self.link_up(site) is False:
                    continue
                devices = {d: g for d, g in st.devices.items()}
            want = self._missing(site, devices, now)
            if want and self._ask(site, want):
                sent += 1
        return sent

    def _stored(self, site: str, device: str, lo: int, hi: int) -> Runs:
        rows = self._conn.execute("SELECT DISTINCT seq FROM events WHERE site=? AND device=? AND seq>=? AND seq<=? "
                                  "ORDER BY seq", (site, device, lo, hi)).fetchall()
        return seq_runs([int(r[0]) for r in rows])

    def _missing(self, site: str, devices: dict[str, DeviceGaps], now: float) -> dict[str, Runs]:
        budget = self.config.replay_max
        want: dict[str, Runs] = {}
        for device in sorted(devices):
            g = devices[device]
            with self._lock:
                g.ripen(now, self.config.fill_grace_s)
                claimed, ripe, absent, mark = g.claimed(), list(g.old), list(g.absent), g.verified
            lo = mark + 1
            if not claimed:
                continue
            top = claimed[-1][1]
            for _ in range(10):  # at most ten windows per device and round
                ahead = [a for a, b in claimed if b >= lo]
                if not ahead or budget <= 0:
                    break
                lo = max(lo, ahead[0])  # what no manifest claims needs no look
                hi = min(top, lo + self.config.fill_window - 1)
                unsettled = subtract(subtract(clip(claimed, lo, hi), self._stored(site, device, lo, hi)), absent)
                asked = take(intersect(unsettled, ripe), budget)
                if asked:
                    want[device] = normalize(want.get(device, []) + asked)
                    budget -= count(asked)
                with self._lock:
                    if g.verified != mark:
                        break  # a new claim below moved it down meanwhile: start there next round
                    g.verified = mark = (unsettled[0][0] - 1) if unsettled else hi
                if unsettled:
                    break
                lo = hi + 1
        return want

    def _ask(self, site: str, want: dict[str, Runs]) -> bool:
        req = ReplayRequest(id=uuid7(), want=want, by=self.me, ts=self.clock.now())
        try:
            # expires unasked when it waited the retry time (a link that went down meanwhile)
            self.client.publish(topics.replay_request(site), req.dumps(), qos=1, expiry_s=int(self.config.fill_retry_s))
        except NotConnected:
            return False
        n = sum(count(r) for r in want.values())
        with self._lock:
            st = self.sites[site]
            st.waiting, st.until = req.id, time.monotonic() + self.config.fill_retry_s
            self.requests += 1
            self.asked += n
        log.info("asked site %s for %d missing events of %d devices (request %s)", site, n, len(want), req.id)
        return True
