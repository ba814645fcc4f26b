"""The site collector's side of gap filling across the WAN (docs/protocol.md, "Province").

The site's own store is the truth. :class:`ReplayServer` runs in a site collector whose site has a
bridge to the province (``province_link = true``):

- every ``[province] manifest_interval_s`` it computes the **manifest**, per device the seq runs of
  the events its store holds, from ``min(seq)``, ``devices.last_seq`` and ``seq_gaps`` (dead letters
  and lost seqs are gaps, so they are never asked for), and publishes it retained on
  ``dev/collector/state/manifest`` when it changed (and every 10 intervals): the bridge carries it;
- it answers the province's **replay requests** (``dev/collector/cmd/replay``, the one topic the
  bridge carries in) by re-publishing each wanted stored event's exact original payload on
  ``dev/collector/replay/{device}/{type}``, in seq order, at most ``replay_rate_per_s`` and
  ``replay_max`` per request, then ``dev/collector/replayed`` saying how many it sent, which wanted
  seqs it does not hold and whether there is more to ask for.

Runs are inclusive ``(first, last)`` seq ranges, ascending; the helpers below work on them.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from pathlib import Path
from typing import Any, Iterable

from common.clock import Clock
from mqtt import topics
from mqtt.client import DeviceClient, Message
from mqtt.errors import NotConnected, ProtocolError
from mqtt.province import Manifest, Replayed, ReplayRequest, Runs
from mqtt.schemas import MAX_PAYLOAD, parse_model

from .config import ProvinceConfig
from .db import connect

log = logging.getLogger(__name__)

MANIFEST_RUNS_MAX = 500  # per device; beyond, the oldest runs are left out (the manifest must stay < 64 KiB)
_CHUNK = 200  # events read and published per step (their PUBACKs awaited before the next)


# -- runs ---------------------------------------------------------------------------------------

def normalize(runs: Iterable[tuple[int, int]]) -> Runs:
    """Sorted, merged (adjacent and overlapping runs joined)."""
    out: Runs = []
    for a, b in sorted(runs):
        if out and a <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def subtract(a: Runs, b: Runs) -> Runs:
    """The seqs of ``a`` not in ``b`` (both normalized)."""
    out: Runs = []
    j = 0
    for lo, hi in a:
        while j < len(b) and b[j][1] < lo:
            j += 1
        k, cur = j, lo
        while k < len(b) and b[k][0] <= hi:
            if b[k][0] > cur:
                out.append((cur, b[k][0] - 1))
            cur = max(cur, b[k][1] + 1)
            k += 1
        if cur <= hi:
            out.append((cur, hi))
    return out


def intersect(a: Runs, b: Runs) -> Runs:
    return subtract(a, subtract(a, b))


def count(runs: Runs) -> int:
    return sum(b - a + 1 for a, b in runs)


def clip(runs: Runs, lo: int, hi: int) -> Runs:
    return [(max(a, lo), min(b, hi)) for a, b in runs if b >= lo and a <= hi]


def take(runs: Runs, n: int) -> Runs:
    """The first ``n`` seqs of ``runs``."""
    out: Runs = []
    for a, b in runs:
        if n <= 0:
            break
        out.append((a, min(b, a + n - 1)))
        n -= out[-1][1] - a + 1
    return out


# -- the manifest -------------------------------------------------------------------------------

def site_manifest(conn: Any, site: str) -> dict[str, Runs]:
    """Per device, the seq runs of the events this store holds: ``[min(seq), max(seq, last_seq)]``
    without the device's ``seq_gaps`` (lost, dead-lettered or not yet arrived)."""
    gaps: dict[str, Runs] = {}
    for device, a, b in conn.execute("SELECT device, from_seq, to_seq FROM seq_gaps WHERE site=? "
                                     "ORDER BY device, from_seq", (site,)):
        gaps.setdefault(device, []).append((int(a), int(b)))
    out: dict[str, Runs] = {}
    for device, last in conn.execute("SELECT device, last_seq FROM devices WHERE site=? ORDER BY device", (site,)):
        lo = conn.execute("SELECT min(seq) FROM events WHERE site=? AND device=?", (site, device)).fetchone()[0]
        if lo is None:
            continue
        hi = conn.execute("SELECT max(seq) FROM events WHERE site=? AND device=?", (site, device)).fetchone()[0]
        runs = subtract([(int(lo), max(int(hi), int(last or 0)))], normalize(gaps.get(device, [])))
        if runs:
            out[device] = runs[-MANIFEST_RUNS_MAX:]
    return out


class ReplayServer:
    """The site collector's manifest and replay answers, on the collector's own MQTT connection."""

    def __init__(self, db: str | Path, site: str, client: DeviceClient, clock: Clock, config: ProvinceConfig):
        self.db, self.site, self.client, self.clock, self.config = str(db), site, client, clock, config
        self._requests: queue.Queue[ReplayRequest] = queue.Queue(maxsize=100)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._published: dict[str, Runs] | None = None
        self._published_at = 0.0
        self.sent = 0  # events replayed since start (health, tests)
        self._seen: list[str] = []  # the last request ids (a QoS 1 resend is answered once)
        # the ingest's subscription to the whole site brings them (and acknowledges them)
        client.handle(topics.replay_request(site), self._on_request)
        client.on_connected.append(self._republish)

    def start(self) -> None:
        for name, target in (("manifest", self._manifest_loop), ("replay", self._replay_loop)):
            t = threading.Thread(target=target, name=f"collector-{name}", daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(5.0)

    # -- the manifest ---------------------------------------------------------------------------

    def _republish(self) -> None:
        self._published = None  # a reconnected collector says it again at its next round

    def _manifest_loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.publish_manifest()
            except Exception:  # noqa: BLE001 - the next round tries again
                log.exception("manifest for the province failed")
            self._stop.wait(self.config.manifest_interval_s)

    def publish_manifest(self) -> bool:
        """Publish the manifest if it changed (or every 10 intervals); True when published."""
        conn = connect(self.db, readonly=True)
        try:
            devices = site_manifest(conn, self.site)
        finally:
            conn.close()
        stale = time.monotonic() - self._published_at > 10 * self.config.manifest_interval_s
        if devices == self._published and not stale:
            return False
        body = self._manifest_body(devices)
        if not self.client.publish_state(topics.manifest(self.site), body):
            return False
        self._published, self._published_at = devices, time.monotonic()
        return True

    def _manifest_body(self, devices: dict[str, Runs]) -> bytes:
        """The manifest, within the payload limit: a device with many gaps keeps its newest runs."""
        cap = MANIFEST_RUNS_MAX
        while True:
            body = Manifest(site=self.site, devices={d: r[-cap:] for d, r in devices.items()},
                            ts=self.clock.now()).dumps()
            if len(body) <= MAX_PAYLOAD - 1024 or cap == 1:
                return body
            cap //= 2
            log.warning("manifest of %d devices over %d bytes: at most %d runs per device", len(devices),
                        MAX_PAYLOAD, cap)

    # -- replay requests ---------------------------------------------------------------------------

    def _on_request(self, msg: Message) -> None:
        """On the network thread: queue it (the collector's ingest acknowledges the message)."""
        try:
            req = parse_model(ReplayRequest, msg.payload)
        except ProtocolError as exc:
            log.warning("replay request on %s refused: %s", msg.topic, exc)
            return
        if req.id in self._seen:
            return
        self._seen = self._seen[-99:] + [req.id]
        try:
            self._requests.put_nowait(req)
        except queue.Full:
            log.warning("replay request %s from %s dropped: 100 waiting (it is asked again)", req.id, req.by)

    def _replay_loop(self) -> None:
        while not self._stop.is_set():
            try:
                req = self._requests.get(timeout=0.5)
            except queue.Empty:
                continue
            try:
                self.answer(req)
            except NotConnected:
                log.warning("replay %s from %s interrupted: not connected (it is asked again)", req.id, req.by)
            except Exception:  # noqa: BLE001
                log.exception("replay %s from %s failed", req.id, req.by)

    def answer(self, req: ReplayRequest) -> Replayed:
        """Re-publish the wanted stored events, paced; then the account of what was sent."""
        sent, more = 0, False
        absent: dict[str, Runs] = {}
        pace = _Pace(self.config.replay_rate_per_s, self._stop)
        conn = connect(self.db, readonly=True)
        try:
            for device, runs in req.want.items():
                scanned: Runs = []
                found: list[tuple[int, int]] = []
                for a, b in runs:
                    lo = a
                    while lo <= b and not more:
                        limit = min(_CHUNK, self.config.replay_max - sent)
                        if limit <= 0:
                            more = True
                            break
                        rows = conn.execute(
                            "SELECT seq, type, payload FROM events WHERE site=? AND device=? AND seq>=? AND seq<=? "
                            "ORDER BY seq LIMIT ?", (self.site, device, lo, b, limit)).fetchall()
                        infos = []
                        for seq, type_, payload in rows:
                            pace.step()
                            infos.append(self.client.publish(topics.replay(self.site, device, type_),
                                                             payload.encode("utf-8"), qos=1))
                            found.append((int(seq), int(seq)))
                        for info in infos:  # bounded: never more than one chunk waits in paho's queue
                            info.wait_for_publish(30)
                        sent += len(rows)
                        end = b if len(rows) < limit else int(rows[-1][0])
                        scanned.append((lo, end))
                        lo = end + 1
                missing = subtract(normalize(scanned), normalize(found))
                if missing:
                    absent[device] = missing
        finally:
            conn.close()
        answer = Replayed(request_id=req.id, sent=sent, absent=absent, more=more, ts=self.clock.now())
        self.client.publish(topics.replayed(self.site), answer.dumps(), qos=1)
        self.sent += sent
        log.info("replayed %d events for %s (request %s)%s", sent, req.by, req.id, ", more to ask" if more else "")
        return answer


class _Pace:
    """At most ``rate`` steps per second (a token bucket of one second's worth)."""

    def __init__(self, rate: float, stop: threading.Event):
        self.interval, self.stop = 1.0 / rate, stop
        self.next = time.monotonic()

    def step(self) -> None:
        now = time.monotonic()
        self.next = max(self.next + self.interval, now - 1.0)
        if self.next > now:
            self.stop.wait(self.next - now)
