"""The one MQTT client every role uses: paho-mqtt 2 (CallbackAPIVersion.VERSION2), MQTT 5.

- broker URL ``mqtt://host:port`` or ``mqtts://host:port`` (CA, optional client certificate),
  username/password;
- retained ``status``: ``online`` on every connect, ``offline`` as Last Will and on clean stop;
- reconnect with exponential backoff; subscriptions restored on every connect;
- periodic ``telemetry``;
- drains the durable outbox whenever connected, in order, QoS 1, with a bounded in-flight
  window, removing an event only when its PUBACK arrived;
- request/response with MQTT 5 response topic and correlation data (``request``/``serve``);
- every callback is wrapped: it logs and never kills the network loop.

Do not call :meth:`DeviceClient.request` from inside a message handler: handlers run on the
network thread, which must stay free to deliver the answer.
"""
from __future__ import annotations

import logging
import shutil
import socket
import ssl
import threading
import time
from pathlib import Path
from typing import Any, Callable, NamedTuple, Protocol
from urllib.parse import urlparse

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from pydantic import BaseModel, Field

from common import __version__
from common.clock import Clock, SystemClock
from common.config import STRICT

from . import topics
from .errors import NotConnected, ProtocolError, RequestTimeout
from .outbox import Outbox, OutboxRow
from .schemas import FaultData, Model, Request, Response, Status, Telemetry, parse_model, uuid7

log = logging.getLogger(__name__)


class BrokerConfig(BaseModel):
    """The ``[mqtt]`` table of every role's config."""

    model_config = STRICT
    url: str = Field("mqtt://127.0.0.1:1883", description="mqtt://host:port or mqtts://host:port")
    username: str | None = None
    password: str | None = None
    ca_file: str | None = Field(None, description="CA certificate for mqtts://")
    cert_file: str | None = Field(None, description="client certificate (optional)")
    key_file: str | None = Field(None, description="client key (optional)")
    keepalive_s: int = Field(30, ge=5, le=600)

    def endpoint(self) -> tuple[str, int, bool]:
        u = urlparse(self.url)
        if u.scheme not in ("mqtt", "mqtts"):
            raise ValueError(f"broker url {self.url!r}: scheme must be mqtt:// or mqtts://")
        if not u.hostname:
            raise ValueError(f"broker url {self.url!r} has no host")
        tls = u.scheme == "mqtts"
        return u.hostname, u.port or (8883 if tls else 1883), tls

    def apply(self, client: paho.Client) -> None:
        """Set these credentials and, for mqtts://, TLS on a paho client."""
        if self.username:
            client.username_pw_set(self.username, self.password)
        if self.endpoint()[2]:
            ctx = ssl.create_default_context(cafile=self.ca_file)
            if self.cert_file:
                ctx.load_cert_chain(self.cert_file, self.key_file)
            client.tls_set_context(ctx)


class Message(NamedTuple):
    """An incoming message, as handlers see it."""

    topic: str
    payload: bytes
    retain: bool
    response_topic: str | None = None
    correlation: bytes | None = None
    mid: int = 0
    qos: int = 0
    generation: int = 0  # which connection delivered it (for manual acknowledgement)


Handler = Callable[[Message], None]


class Deliverable(Protocol):
    """What :meth:`DeviceClient.ack` needs of a message: a Message, or a record copied from one."""

    mid: int
    qos: int
    generation: int


class _ReadBuffered:
    """A plain TCP socket whose reads are buffered. Paho reads every packet in three or more
    recv() calls (type, length, body), each a system call that releases and retakes the
    interpreter lock; this serves them from one recv() of up to 64 KiB. ``pending()`` tells
    paho's loop that buffered bytes are waiting, as it already asks of TLS sockets, so it never
    sleeps in select() on data it holds. Everything else goes to the socket itself."""

    __slots__ = ("_sock", "_buf", "_pos")

    def __init__(self, sock: socket.socket):
        self._sock = sock
        self._buf = b""
        self._pos = 0

    def recv(self, n: int) -> bytes:
        if self._pos >= len(self._buf):
            data = self._sock.recv(65536)  # BlockingIOError and b"" (closed) go to paho as they are
            if len(data) <= n:
                return data
            self._buf, self._pos = data, 0
        end = min(self._pos + n, len(self._buf))
        out = self._buf[self._pos:end]
        self._pos = end
        return out

    def pending(self) -> int:
        return len(self._buf) - self._pos

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def _on_socket_open(client: paho.Client, userdata: Any, sock: Any) -> None:
    """Requests, answers and acks are small: send them at once. Without TCP_NODELAY, Nagle's
    algorithm and delayed ACKs add about 40 ms to every round trip. A plain TCP socket also gets
    buffered reads (TLS sockets buffer already)."""
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if type(sock) is socket.socket and getattr(client, "_sock", None) is sock:
        client._sock = _ReadBuffered(sock)  # type: ignore[attr-defined]


def _cpu_temp_c() -> float | None:
    try:
        return int(Path("/sys/class/thermal/thermal_zone0/temp").read_text().strip()) / 1000
    except (OSError, ValueError):
        return None


class DeviceClient:
    """One device's (or server process's) connection to the site broker.

    >>> c = DeviceClient("camau-hcc", "rt-05", "rating-terminal", BrokerConfig(url="mqtt://127.0.0.1:1883"),
    ...                  outbox=Outbox("/var/lib/motcua/outbox.db", "camau-hcc", "rt-05"))
    >>> c.start()
    """

    def __init__(self, site: str | None, device: str, role: str, broker: BrokerConfig | None = None, *,
                 outbox: Outbox | None = None, desk: int | None = None, clock: Clock | None = None,
                 telemetry_interval_s: float = 60.0,
                 telemetry_extra: Callable[[], dict[str, Any]] | None = None,
                 inflight_window: int = 100, reconnect_min_s: float = 0.5, reconnect_max_s: float = 30.0,
                 client_id: str | None = None, clean_start: bool = True, session_expiry_s: int | None = None,
                 manual_ack: bool = False, receive_maximum: int | None = None, direct_limit: int = 2000):
        # site None: a server process reading every site of a broker (collector --site +); it
        # announces no status and sends no telemetry, having no site to put them under
        self.site = topics.check_id(site, "site") if site is not None else None
        self.device = topics.check_id(device, "device")
        self.role = role
        self.desk = desk
        self.broker = broker or BrokerConfig()
        self.outbox = outbox
        self.clock = clock or SystemClock()
        self.telemetry_interval_s = telemetry_interval_s
        self.telemetry_extra = telemetry_extra
        self.window = max(1, inflight_window)
        self._handover = 2 * self.window  # rows the drainer lets paho hold unacknowledged
        self.direct_limit = direct_limit  # the same for rows handed over right after their commit
        self._remove_batch = 10 * self.window  # acknowledged rows the drainer removes at once
        self._backlog = True  # rows may wait on disk that paho does not have (true at start)
        # clean_start=False with a session expiry keeps this client's subscriptions and queued
        # QoS 1 messages on the broker while it restarts (ticketing: requests and kiosk events).
        self.clean_start = clean_start
        self.session_expiry_s = session_expiry_s
        self.receive_maximum = receive_maximum
        self._started_at = time.monotonic()
        # One lock over the filters and the "subscriptions sent" flag, so a subscription added while
        # a connection comes up is neither missed nor iterated over while it changes.
        self._subs: dict[str, int] = {}  # filter -> qos, to subscribe again on every connect
        self._subs_lock = threading.Lock()
        self._session_live = False  # subscriptions of this connection have been sent
        self._connected = threading.Event()
        self._stop = threading.Event()
        self._wake = threading.Condition()
        self._inflight: dict[int, int] = {}  # mid -> outbox rowid
        self._rejected: list[tuple[int, str]] = []
        self._last_sent = 0
        self._generation = 0
        self._kicked = False
        self._pending: dict[bytes, tuple[threading.Event, list[Response]]] = {}
        self._threads: list[threading.Thread] = []
        self.on_connected: list[Callable[[], None]] = []
        self.on_disconnected: list[Callable[[], None]] = []
        self._host, self._port, _tls = self.broker.endpoint()
        self._mqtt = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id or f"{self.device}",
                                 protocol=paho.MQTTv5, manual_ack=manual_ack)
        self.broker.apply(self._mqtt)
        self._paho_lock = getattr(self._mqtt, "_out_message_mutex", None) or threading.RLock()
        self._mqtt.max_inflight_messages_set(self.window)
        self._mqtt.max_queued_messages_set(0)
        self._mqtt.reconnect_delay_set(reconnect_min_s, reconnect_max_s)
        if self.site is not None:
            self._mqtt.will_set(topics.status(self.site, device), self._status("offline"), qos=1, retain=True)
        self._mqtt.on_connect = self._guard(self._on_connect)
        self._mqtt.on_disconnect = self._guard(self._on_disconnect)
        self._mqtt.on_message = self._guard(self._on_message)
        self._mqtt.on_publish = self._guard(self._on_publish)
        self._mqtt.on_socket_open = self._guard(_on_socket_open)
        self._full = threading.Event()  # the outbox refused an event: raise the fault
        self._full_raised = False
        if outbox is not None:
            outbox.add_listener(self._on_committed)
            outbox.on_full = self._on_outbox_full

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        """Connect in the background (retrying with backoff) and start the worker threads."""
        if self.site is not None:
            self.subscribe(topics.response(self.site, self.device), self._on_response)
        props = None
        if self.session_expiry_s or self.receive_maximum:
            props = Properties(PacketTypes.CONNECT)
            if self.session_expiry_s:
                props.SessionExpiryInterval = self.session_expiry_s
            if self.receive_maximum:
                props.ReceiveMaximum = self.receive_maximum
        self._mqtt.connect_async(self._host, self._port, keepalive=self.broker.keepalive_s,
                                 clean_start=self.clean_start, properties=props)
        self._mqtt.loop_start()
        for name, target in (("drain", self._drain_loop), ("telemetry", self._telemetry_loop)):
            if (name == "drain" and self.outbox is None) or (name == "telemetry" and self.site is None):
                continue
            t = threading.Thread(target=target, name=f"{self.device}-{name}", daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self, timeout: float = 5.0) -> None:
        """Publish ``offline``, disconnect cleanly and stop the threads."""
        self._stop.set()
        self._kick()
        if self.connected and self.site is not None:
            try:
                info = self._mqtt.publish(topics.status(self.site, self.device), self._status("offline"),
                                          qos=1, retain=True)
                info.wait_for_publish(timeout=min(timeout, 2.0))
            except (RuntimeError, ValueError):
                pass
        self._mqtt.disconnect()
        self._mqtt.loop_stop()
        for t in self._threads:
            t.join(timeout)
        if self.outbox is not None:
            try:
                self.outbox.ack([])  # what was acknowledged leaves the disk now
            except Exception:  # noqa: BLE001 - e.g. the role closed its outbox already
                log.debug("outbox removals at stop skipped", exc_info=True)

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def wait_connected(self, timeout: float = 10.0) -> bool:
        return self._connected.wait(timeout)

    # -- publishing and subscribing --------------------------------------------------------------

    def subscribe(self, topic_filter: str, handler: Handler, qos: int = 1) -> None:
        """Subscribe now (if connected) and again on every reconnect."""
        guarded = self._guard(handler)

        def deliver(client: paho.Client, userdata: Any, msg: paho.MQTTMessage) -> None:
            guarded(self._message(msg))

        # paho's topic tree finds the handlers of a message, whatever the number of filters
        self._mqtt.message_callback_add(topic_filter, deliver)
        with self._subs_lock:
            self._subs[topic_filter] = qos
            if self._session_live:
                self._mqtt.subscribe(topic_filter, qos)

    def publish(self, topic: str, payload: bytes | Model | str, *, qos: int = 1, retain: bool = False,
                properties: Properties | None = None) -> paho.MQTTMessageInfo:
        """Publish now, outside the outbox: for retained state and answers, which are rebuilt
        from their source of truth on reconnect. Raises NotConnected when offline."""
        if not self.connected:
            raise NotConnected(f"not connected to {self.broker.url}")
        data = payload.dumps() if isinstance(payload, BaseModel) else payload
        return self._mqtt.publish(topic, data, qos=qos, retain=retain, properties=properties)

    def publish_state(self, topic: str, state: Model | bytes, qos: int = 1) -> bool:
        """Publish retained state if connected; False when offline (republish on connect)."""
        try:
            self.publish(topic, state, qos=qos, retain=True)
            return True
        except NotConnected:
            return False

    def ack(self, msg: "Deliverable") -> None:
        """With ``manual_ack``: acknowledge a QoS 1 message once it is safely stored. Only on the
        connection that delivered it; after a reconnect the broker sends it again anyway."""
        if msg.qos > 0 and msg.generation == self._generation:
            self._mqtt.ack(msg.mid, msg.qos)

    # -- request / response ------------------------------------------------------------------------

    def request(self, op: str, req: Request, timeout: float = 3.0) -> Response:
        """Send a request to ticketing and wait for its answer; RequestTimeout if none came."""
        if not self.connected:
            raise NotConnected(f"not connected to {self.broker.url}: request {op} not sent")
        corr = uuid7().encode()
        waiter: tuple[threading.Event, list[Response]] = (threading.Event(), [])
        self._pending[corr] = waiter
        try:
            props = Properties(PacketTypes.PUBLISH)
            props.ResponseTopic = topics.response(self.site, self.device)
            props.CorrelationData = corr
            self._mqtt.publish(topics.request(self.site, op), req.dumps(), qos=1, properties=props)
            if not waiter[0].wait(timeout):
                raise RequestTimeout(f"no answer to {op} (request {req.id}) within {timeout:.1f} s")
            return waiter[1][0]
        finally:
            self._pending.pop(corr, None)

    def _on_response(self, msg: Message) -> None:
        waiter = self._pending.get(msg.correlation or b"")
        if waiter is None:
            log.debug("late or unknown response on %s", msg.topic)
            return
        try:
            waiter[1].append(parse_model(Response, msg.payload))  # type: ignore[arg-type]
        except ProtocolError as exc:
            log.error("bad response on %s: %s", msg.topic, exc)
            return
        waiter[0].set()

    def serve(self, op: str, handler: Callable[[Request, Message], Response]) -> None:
        """Answer requests on req/{op} (ticketing). Replies go to the request's response topic."""

        def on_req(msg: Message) -> None:
            if not msg.response_topic:
                log.warning("request on %s without response topic ignored", msg.topic)
                return
            try:
                req = parse_model(Request, msg.payload)
            except ProtocolError as exc:
                resp = Response(request_id="?", ok=False, error="bad_request",
                                message_vi=f"Yêu cầu không hợp lệ: {exc}", message_en=f"Bad request: {exc}")
            else:
                resp = handler(req, msg)  # type: ignore[arg-type]
            props = Properties(PacketTypes.PUBLISH)
            if msg.correlation is not None:
                props.CorrelationData = msg.correlation
            self._mqtt.publish(msg.response_topic, resp.dumps(), qos=1, properties=props)

        self.subscribe(topics.request(self.site, op), on_req)

    # -- paho callbacks ----------------------------------------------------------------------------

    def _guard(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except Exception:  # noqa: BLE001 - a callback must never kill the network loop
                log.exception("error in %s", getattr(fn, "__name__", fn))
                return None
        wrapped.__name__ = getattr(fn, "__name__", "callback")
        return wrapped

    def _status(self, state: str) -> bytes:
        return Status(state=state, device=self.device, role=self.role, version=__version__,  # type: ignore[arg-type]
                      desk=self.desk, ts=self.clock.now()).dumps()

    def _on_connect(self, client: paho.Client, userdata: Any, flags: Any, reason: ReasonCode,
                    properties: Properties | None) -> None:
        if reason.is_failure:
            log.error("broker %s refused the connection: %s", self.broker.url, reason)
            return
        log.info("connected to %s as %s", self.broker.url, self.device)
        if self.site is not None:
            client.publish(topics.status(self.site, self.device), self._status("online"), qos=1, retain=True)
        with self._subs_lock:
            for flt, qos in self._subs.items():
                client.subscribe(flt, qos)
            self._session_live = True
        with self._wake:
            # paho keeps every QoS 1 message it was handed until its PUBACK, across reconnects,
            # and sends them again (in order) right after this callback: the drain goes on
            # from where it was, the rows it handed over stay in flight under the same mids
            self._generation += 1
            self._connected.set()
            self._wake.notify_all()
        for cb in list(self.on_connected):
            self._guard(cb)()

    def _on_disconnect(self, client: paho.Client, userdata: Any, flags: Any, reason: ReasonCode,
                       properties: Properties | None) -> None:
        was = self.connected
        with self._subs_lock:
            self._session_live = False
        with self._wake:
            self._connected.clear()
            self._wake.notify_all()
        if was:
            log.warning("disconnected from %s: %s", self.broker.url, reason)
            for cb in list(self.on_disconnected):
                self._guard(cb)()

    def _message(self, msg: paho.MQTTMessage) -> Message:
        props = getattr(msg, "properties", None)
        return Message(msg.topic, msg.payload, bool(msg.retain),
                       getattr(props, "ResponseTopic", None) if props else None,
                       getattr(props, "CorrelationData", None) if props else None,
                       msg.mid, msg.qos, self._generation)

    def _on_message(self, client: paho.Client, userdata: Any, msg: paho.MQTTMessage) -> None:
        log.debug("message on %s matches no subscription of ours", msg.topic)

    def _on_publish(self, client: paho.Client, userdata: Any, mid: int, reason: ReasonCode,
                    properties: Properties | None) -> None:
        with self._wake:
            rowid = self._inflight.pop(mid, None)
            if rowid is None:
                return
            if reason.is_failure and reason.value != 16:  # 16: no matching subscribers is success
                self._rejected.append((rowid, str(reason)))
                self._wake.notify_all()
                return
            assert self.outbox is not None
            # removed by the next commit's transaction, or by the drainer in bulk or when idle
            self.outbox.acked(rowid)
            # wake the drainer when rows wait on disk and a window's worth is free (it then
            # hands over a window at once), or when many removals are pending
            if ((self._backlog and len(self._inflight) <= self._handover - self.window)
                    or self.outbox.removals_pending() >= self._remove_batch):
                self._wake.notify_all()

    # -- outbox drain ------------------------------------------------------------------------------

    def _on_outbox_full(self, depth: int) -> None:
        # called inside the outbox's commit: enqueueing here would wait on ourselves, so the
        # drainer raises the fault
        self._full.set()
        self._kick()

    def _outbox_fault(self) -> None:
        """Raise ``outbox_full`` once when events were refused; clear it below 90 % again."""
        ob = self.outbox
        assert ob is not None
        if self._full.is_set() and not self._full_raised:
            ob.enqueue("fault", FaultData(
                code="outbox_full", active=True,
                message_vi="Bộ nhớ đệm sự kiện của thiết bị đã đầy: sự kiện mới bị từ chối",
                message_en="The device's event outbox is full: new events are refused",
                detail=f"{ob.depth()} events waiting, limit {ob.max_events}"))
            self._full_raised = True
        elif self._full_raised and ob.depth() < 0.9 * ob.max_events:
            ob.enqueue("fault", FaultData(code="outbox_full", active=False,
                                          message_vi="Bộ nhớ đệm sự kiện đã có chỗ trở lại",
                                          message_en="The event outbox has room again"))
            self._full_raised = False
            self._full.clear()

    def _on_committed(self, rows: list[OutboxRow]) -> None:
        """Rows were just committed (called in commit order under the outbox's write lock)."""
        if not (self.connected and self._handoff(rows)):
            with self._wake:
                self._backlog = True
                self._kicked = True
                self._wake.notify_all()

    def _handoff(self, rows: list[OutboxRow]) -> bool:
        """Hand freshly committed rows to paho from the committing thread, as a bare publisher
        would, when everything before them is already with paho and paho holds fewer than
        ``direct_limit`` unacknowledged rows. Otherwise (a backlog, offline, a burst larger than
        the network) the drainer sends them from disk. True when all were handed over."""
        with self._paho_lock:
            with self._wake:
                if (self._last_sent != rows[0].rowid - 1
                        or len(self._inflight) + len(rows) > self.direct_limit):
                    return False
            published = self._publish_rows(rows)
        return len(published) == len(rows)

    def _publish_rows(self, rows: list[OutboxRow]) -> list[tuple[int, int]]:
        """Publish rows in order (the caller holds paho's out-message lock) and record them."""
        published: list[tuple[int, int]] = []
        for row in rows:
            info = self._mqtt.publish(row.topic, row.payload, qos=1)
            # NO_CONN: paho keeps the message and sends it on reconnect
            if info.rc not in (paho.MQTT_ERR_SUCCESS, paho.MQTT_ERR_NO_CONN):
                log.warning("paho refused outbox row %d: %s", row.rowid, paho.error_string(info.rc))
                break
            published.append((info.mid, row.rowid))
        if published:
            with self._wake:
                self._inflight.update(published)
                self._last_sent = published[-1][1]
        return published

    def _kick(self) -> None:
        with self._wake:
            self._kicked = True
            self._wake.notify_all()

    def _drain_loop(self) -> None:
        """Send what commits could not hand over themselves (a backlog after a restart or an
        outage, bursts larger than ``direct_limit``): the oldest unsent rows, up to two windows
        ahead. Paho keeps one window in flight and sends the rest from its own loop as PUBACKs
        arrive, so this thread wakes once per window, not per event. Paho keeps what it was
        handed until acknowledged, across reconnects; after a restart the outbox sends every
        unacknowledged row again, in order. Acknowledged rows leave the disk with the next
        commit; this thread removes them in bulk, or when no commit came for a moment."""
        assert self.outbox is not None
        ob = self.outbox
        step = self.window
        timed_out = False
        while not self._stop.is_set():
            with self._wake:
                rejected, self._rejected = self._rejected, []
                free = self._handover - len(self._inflight) if self.connected else 0
                after = self._last_sent
                backlog = self._backlog
                self._kicked = False
            rows: list[OutboxRow] = []
            fetched = False
            try:
                pending = ob.removals_pending()
                if pending >= self._remove_batch or (pending and timed_out):
                    # never wait behind an enqueue's fsync (that commit takes them along),
                    # unless very many are pending
                    ob.ack([], wait=timed_out or pending >= 20 * self._remove_batch)
                for rowid, why in rejected:
                    ob.reject(rowid, why)
                if self._full.is_set():
                    self._outbox_fault()
                if backlog and (free >= step or (free > 0 and not self._inflight)):
                    rows = ob.fetch(after, free)
                    fetched = True
            except Exception:  # noqa: BLE001 - keep draining; the rows stay on disk
                log.exception("outbox drain step failed")
                time.sleep(0.5)
                continue
            # paho calls on_publish while holding its out-message lock, and publish() takes the
            # same (re-entrant) lock: holding it here while we publish and record the mids means
            # a PUBACK can never be handled before we know which row it acknowledges.
            with self._paho_lock:
                with self._wake:
                    stale = self._last_sent != after  # a commit handed rows over meanwhile
                if rows and not stale:
                    self._publish_rows(rows)
            with self._wake:
                if self._stop.is_set():
                    break
                if fetched and not stale and len(rows) < free and not self._kicked:
                    self._backlog = False  # everything on disk is with paho now
                free = self._handover - len(self._inflight) if self.connected else 0
                runnable = (bool(self._rejected) or self._kicked
                            or (self._backlog and free >= step and self.connected)
                            or ob.removals_pending() >= self._remove_batch)
                timed_out = False
                if not runnable:
                    # idle: wait for work, or briefly for a commit to take the removals along
                    timed_out = not self._wake.wait(0.05 if ob.removals_pending() else 0.5)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until the outbox is empty (every event acknowledged). True on success."""
        if self.outbox is None:
            return True
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.outbox.depth() == 0:
                return True
            time.sleep(0.02)
        return self.outbox.depth() == 0

    # -- telemetry -------------------------------------------------------------------------------

    def telemetry(self) -> Telemetry:
        free = None
        where = self.outbox.path.parent if self.outbox else Path("/")
        try:
            free = shutil.disk_usage(where).free / 1e6
        except OSError:
            pass
        extra: dict[str, Any] = {}
        if self.telemetry_extra:
            try:
                extra = dict(self.telemetry_extra())
            except Exception:  # noqa: BLE001
                log.exception("telemetry_extra failed")
        return Telemetry(ts=self.clock.now(), uptime_s=round(time.monotonic() - self._started_at, 1),
                         cpu_temp_c=_cpu_temp_c(), disk_free_mb=free,
                         outbox_depth=self.outbox.depth() if self.outbox else 0,
                         clock_synced=self.clock.is_synced(), extra=extra)

    def send_telemetry(self) -> bool:
        try:
            self.publish(topics.telemetry(self.site, self.device), self.telemetry(), qos=0)
            return True
        except NotConnected:
            return False

    def _telemetry_loop(self) -> None:
        if self.telemetry_interval_s <= 0:
            return
        self._connected.wait(self.telemetry_interval_s)
        while not self._stop.is_set():
            if self.connected:
                self.send_telemetry()
            self._stop.wait(self.telemetry_interval_s)

