"""The one MQTT client every role uses: paho-mqtt 2 (CallbackAPIVersion.VERSION2), MQTT 5.

- broker URL ``mqtt://host:port`` or ``mqtts://host:port`` (CA, optional client certificate),
  username/password;
- retained ``status``: ``online`` on every connect, ``offline`` as Last Will and on clean stop;
- reconnect with exponential backoff; subscriptions restored on every connect;
- periodic ``telemetry``;
- sends the durable outbox in order, QoS 1, with a bounded in-flight window, and forgets an
  event only when the collector confirmed it stored it on ``dev/{device}/stored``
  (``mqtt/sender.py``, docs/protocol.md "Confirmed delivery"); the broker's PUBACK only paces;
- request/response: a request goes under the asker's own ``dev/{device}/req/{op}``, the answer
  to its own ``dev/{device}/resp``, matched by MQTT 5 correlation data (``request``/``serve``);
- every callback is wrapped: it logs and never kills the network loop.

Do not call :meth:`DeviceClient.request` from inside a message handler: handlers run on the
network thread, which must stay free to deliver the answer.
"""
from __future__ import annotations

import logging
import shutil
import threading
import time
from pathlib import Path
from typing import Any, Callable, Literal, NamedTuple, Protocol

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions
from pydantic import BaseModel

from common import __version__
from common.clock import Clock, SystemClock

from . import topics
from .errors import NotConnected, OutboxStorageError, ProtocolError, RequestTimeout
from .outbox import Outbox
from .schemas import Model, Request, Response, Status, Stored, Telemetry, parse_model, uuid7
from .sender import OutboxSender
from .transport import BrokerConfig, on_socket_open

__all__ = ["BrokerConfig", "DeviceClient", "Deliverable", "Handler", "Message"]

log = logging.getLogger(__name__)


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

    @property
    def mid(self) -> int: ...

    @property
    def qos(self) -> int: ...

    @property
    def generation(self) -> int: ...


def _properties(packet_type: int) -> Properties:
    return Properties(packet_type)  # type: ignore[no-untyped-call]  # paho's constructor has no hints


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
                 manual_ack: bool = False, receive_maximum: int | None = None, direct_limit: int = 2000,
                 unconfirmed_limit: int = 1000, confirm_timeout_s: float = 15.0):
        # site None: a server process reading every site of a broker (collector --site +); it
        # announces no status and sends no telemetry, having no site to put them under
        self.site = topics.check_id(site, "site") if site is not None else None
        self.device = topics.check_id(device, "device")
        self.role = role
        self.desk = desk
        self.broker = broker or BrokerConfig.model_validate({})
        self.outbox = outbox
        self.clock = clock or SystemClock()
        self.telemetry_interval_s = telemetry_interval_s
        self.telemetry_extra = telemetry_extra
        # clean_start=False with a session expiry keeps this client's subscriptions and queued
        # QoS 1 messages on the broker while it restarts (ticketing: requests and kiosk events).
        self.clean_start = clean_start
        self.session_expiry_s = session_expiry_s
        self.receive_maximum = receive_maximum
        self._started_at = time.monotonic()
        # One lock over the filters and the "subscriptions sent" flag, so a subscription added while
        # a connection comes up is neither missed nor iterated over while it changes.
        self._subs: dict[str, SubscribeOptions] = {}  # filter -> options, again on every connect
        self._subs_lock = threading.Lock()
        self._session_live = False  # subscriptions of this connection have been sent
        self._connected = threading.Event()
        self._stop = threading.Event()
        self._generation = 0
        self._pending: dict[bytes, tuple[threading.Event, list[Response]]] = {}
        self._threads: list[threading.Thread] = []
        self.on_connected: list[Callable[[], None]] = []
        self.on_disconnected: list[Callable[[], None]] = []
        self._host, self._port, _tls = self.broker.endpoint()
        self._mqtt = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id or f"{self.device}",
                                 protocol=paho.MQTTv5, manual_ack=manual_ack)
        self.broker.apply(self._mqtt)
        self._mqtt.max_inflight_messages_set(max(1, inflight_window))
        self._mqtt.max_queued_messages_set(0)
        # paho's hints say int; its backoff works in float seconds
        self._mqtt.reconnect_delay_set(reconnect_min_s, reconnect_max_s)  # type: ignore[arg-type]
        if self.site is not None:
            # the Last Will is fixed at connect time, so it cannot know when the device goes away:
            # it says so (ts null, cause "lost"); the collector takes the broker's delivery time
            self._mqtt.will_set(topics.status(self.site, device), self._status("offline", "lost"), qos=1,
                                retain=True)
        self._mqtt.on_connect = self._guard(self._on_connect)
        self._mqtt.on_disconnect = self._guard(self._on_disconnect)
        self._mqtt.on_message = self._guard(self._on_message)
        self._mqtt.on_publish = self._guard(self._on_publish)
        self._mqtt.on_socket_open = self._guard(on_socket_open)
        self.sender = (OutboxSender(outbox, self._mqtt, self._connected.is_set, window=inflight_window,
                                    direct_limit=direct_limit, unconfirmed_limit=unconfirmed_limit,
                                    confirm_timeout_s=confirm_timeout_s) if outbox is not None else None)

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        """Connect in the background (retrying with backoff) and start the worker threads."""
        if self.site is not None:
            self.subscribe(topics.response(self.site, self.device), self._on_response)
            if self.sender is not None:
                self.subscribe(topics.stored(self.site, self.device), self._on_stored)
        props: Properties | None = None
        if self.session_expiry_s or self.receive_maximum:
            props = _properties(PacketTypes.CONNECT)
            if self.session_expiry_s:
                props.SessionExpiryInterval = self.session_expiry_s
            if self.receive_maximum:
                props.ReceiveMaximum = self.receive_maximum
        self._mqtt.connect_async(self._host, self._port, keepalive=self.broker.keepalive_s,
                                 clean_start=self.clean_start, properties=props)
        self._mqtt.loop_start()
        workers: list[tuple[str, Callable[[], None]]] = []
        if self.sender is not None:
            sender = self.sender
            workers.append(("drain", lambda: sender.run(self._stop)))
        if self.site is not None:
            workers.append(("telemetry", self._telemetry_loop))
        for name, target in workers:
            t = threading.Thread(target=target, name=f"{self.device}-{name}", daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self, timeout: float = 5.0) -> None:
        """Publish ``offline``, disconnect cleanly and stop the threads."""
        self._stop.set()
        if self.sender is not None:
            self.sender.wake()
        if self.connected and self.site is not None:
            try:
                info = self._mqtt.publish(topics.status(self.site, self.device), self._status("offline", "stop"),
                                          qos=1, retain=True)
                info.wait_for_publish(timeout=min(timeout, 2.0))
            except (RuntimeError, ValueError):
                pass
        self._mqtt.disconnect()
        self._mqtt.loop_stop()
        for t in self._threads:
            t.join(timeout)
        if self.outbox is not None and not self.outbox.closed:
            try:
                self.outbox.purge()  # what was confirmed leaves the disk now (close() does it too)
            except OutboxStorageError:
                pass  # kept: resent after the restart and confirmed again

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def wait_connected(self, timeout: float = 10.0) -> bool:
        return self._connected.wait(timeout)

    def _own_site(self) -> str:
        if self.site is None:
            raise ProtocolError("no_site", f"{self.device} reads every site and has none of its own")
        return self.site

    # -- publishing and subscribing --------------------------------------------------------------

    def subscribe(self, topic_filter: str, handler: Handler, qos: int = 1, *, no_local: bool = False,
                  share: str | None = None) -> None:
        """Subscribe now (if connected) and again on every reconnect. ``no_local``: the broker
        does not send this client its own publications (MQTT 5). ``share``: an MQTT 5 shared
        subscription of that group (``$share/{group}/{filter}``): the broker gives each message to
        one member of the group."""
        # paho's topic tree finds the handlers of a message, whatever the number of filters; a
        # shared subscription's messages carry the plain topic, so the handler goes on the plain filter
        self.handle(topic_filter, handler)
        wire = topics.shared(share, topic_filter) if share else topic_filter
        with self._subs_lock:
            opts = SubscribeOptions(qos=qos, noLocal=no_local)
            self._subs[wire] = opts
            if self._session_live:
                self._mqtt.subscribe(wire, options=opts)

    def handle(self, topic_filter: str, handler: Handler) -> None:
        """Also call ``handler`` for messages of ``topic_filter`` that another of this client's
        subscriptions brings (no subscription of its own: Mosquitto sends a message once per
        matching subscription, and each copy reaches every matching handler)."""
        guarded = self._guard(handler)

        def deliver(client: paho.Client, userdata: Any, msg: paho.MQTTMessage) -> None:
            guarded(self._message(msg))

        self._mqtt.message_callback_add(topic_filter, deliver)

    def publish(self, topic: str, payload: bytes | Model | str, *, qos: int = 1, retain: bool = False,
                properties: Properties | None = None, expiry_s: int | None = None) -> paho.MQTTMessageInfo:
        """Publish now, outside the outbox: for retained state and answers, which are rebuilt
        from their source of truth on reconnect. Raises NotConnected when offline. ``expiry_s``:
        brokers drop the message when it waited longer than that for a subscriber (MQTT 5)."""
        if not self.connected:
            raise NotConnected(f"not connected to {self.broker.url}")
        if expiry_s is not None:
            properties = properties or _properties(PacketTypes.PUBLISH)
            properties.MessageExpiryInterval = expiry_s
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

    def request(self, op: str, req: Request, timeout: float = 3.0, expiry_s: int | None = None) -> Response:
        """Send a request to ticketing and wait for its answer; RequestTimeout if none came.
        ``expiry_s``: the broker drops the request if ticketing has not taken it by then (MQTT 5
        message expiry), so a request queued while ticketing is down is not served later."""
        if not self.connected:
            raise NotConnected(f"not connected to {self.broker.url}: request {op} not sent")
        corr = uuid7().encode()
        waiter: tuple[threading.Event, list[Response]] = (threading.Event(), [])
        self._pending[corr] = waiter
        try:
            props = _properties(PacketTypes.PUBLISH)
            props.ResponseTopic = topics.response(self._own_site(), self.device)
            props.CorrelationData = corr
            if expiry_s is not None:
                props.MessageExpiryInterval = expiry_s
            self._mqtt.publish(topics.request(self._own_site(), self.device, op), req.dumps(), qos=1,
                               properties=props)
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
            waiter[1].append(parse_model(Response, msg.payload))
        except ProtocolError as exc:
            log.error("bad response on %s: %s", msg.topic, exc)
            return
        waiter[0].set()

    def serve(self, op: str, handler: Callable[[Request, Message], Response]) -> None:
        """Answer every device's requests on dev/{device}/req/{op} (ticketing). The answer goes to
        that device's own dev/{device}/resp only: an MQTT 5 response topic naming anything else is
        ignored (it would make the server publish there with its own rights)."""

        site = self._own_site()

        def on_req(msg: Message) -> None:
            asker = topics.parse(msg.topic).device
            assert asker is not None  # the filter names one device level
            reply_to = topics.response(site, asker)
            if msg.response_topic and msg.response_topic != reply_to:
                log.warning("request on %s names response topic %r: ignored, answering on %s",
                            msg.topic, msg.response_topic, reply_to)
            try:
                req = parse_model(Request, msg.payload)
            except ProtocolError as exc:
                resp = Response(request_id="?", ok=False, error="bad_request",
                                message_vi=f"Yêu cầu không hợp lệ: {exc}", message_en=f"Bad request: {exc}")
            else:
                resp = handler(req, msg)
            props = _properties(PacketTypes.PUBLISH)
            if msg.correlation is not None:
                props.CorrelationData = msg.correlation
            self._mqtt.publish(reply_to, resp.dumps(), qos=1, properties=props)

        self.subscribe(topics.requests_filter(site, op), on_req)

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

    def _status(self, state: str, cause: Literal["stop", "lost"] | None = None) -> bytes:
        return Status(state=state, device=self.device, role=self.role, version=__version__,  # type: ignore[arg-type]
                      desk=self.desk, ts=None if cause == "lost" else self.clock.now(), cause=cause).dumps()

    def _on_connect(self, client: paho.Client, userdata: Any, flags: Any, reason: ReasonCode,
                    properties: Properties | None) -> None:
        if reason.is_failure:
            log.error("broker %s refused the connection: %s", self.broker.url, reason)
            return
        log.info("connected to %s as %s", self.broker.url, self.device)
        if self.site is not None:
            client.publish(topics.status(self.site, self.device), self._status("online"), qos=1, retain=True)
        with self._subs_lock:
            for flt, opts in self._subs.items():
                client.subscribe(flt, options=opts)
            self._session_live = True
        # paho keeps every QoS 1 message it was handed until its PUBACK, across reconnects, and
        # sends them again right after this callback; the sender sends again what the broker
        # acknowledged but the collector did not confirm (a restarted broker may have lost it)
        self._generation += 1
        self._connected.set()
        if self.sender is not None:
            self.sender.on_connect()
        for cb in list(self.on_connected):
            self._guard(cb)()

    def _on_disconnect(self, client: paho.Client, userdata: Any, flags: Any, reason: ReasonCode,
                       properties: Properties | None) -> None:
        was = self.connected
        with self._subs_lock:
            self._session_live = False
        self._connected.clear()
        if self.sender is not None:
            self.sender.wake()
        if was:
            log.warning("disconnected from %s: %s", self.broker.url, reason)
            for cb in list(self.on_disconnected):
                self._guard(cb)()

    def _message(self, msg: paho.MQTTMessage) -> Message:
        props = getattr(msg, "properties", None)
        return Message(msg.topic, bytes(msg.payload), bool(msg.retain),
                       getattr(props, "ResponseTopic", None) if props else None,
                       getattr(props, "CorrelationData", None) if props else None,
                       msg.mid, msg.qos, self._generation)

    def _on_message(self, client: paho.Client, userdata: Any, msg: paho.MQTTMessage) -> None:
        log.debug("message on %s matches no subscription of ours", msg.topic)

    def _on_publish(self, client: paho.Client, userdata: Any, mid: int, reason: ReasonCode,
                    properties: Properties | None) -> None:
        if self.sender is not None:
            self.sender.on_publish(mid, reason)

    def _on_stored(self, msg: Message) -> None:
        if self.sender is None:
            return
        try:
            st = parse_model(Stored, msg.payload)
        except ProtocolError as exc:
            log.error("bad confirmation on %s: %s", msg.topic, exc)
            return
        self.sender.on_confirmed(st.seqs)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every outbox event is with the broker (PUBACKed). True on success."""
        return self.sender.flush(timeout) if self.sender is not None else True

    def wait_confirmed(self, timeout: float = 10.0) -> bool:
        """Wait until the collector confirmed every outbox event (the outbox is empty)."""
        return self.sender.wait_confirmed(timeout) if self.sender is not None else True

    def settle(self, timeout: float = 2.0) -> bool:
        """Before a clean stop: every event with the broker, then (within the same ``timeout``)
        confirmed by the collector. False when time ran out; what is unconfirmed stays on disk and
        is sent again after the restart."""
        end = time.monotonic() + timeout
        if not self.flush(timeout):
            return False
        return self.wait_confirmed(max(0.0, end - time.monotonic()))

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
        ob = self.outbox
        seqs: dict[str, Any] = {}
        if ob is not None and not ob.closed:
            seqs = {"seq_first": ob.first_seq, "seq_last": ob.next_seq - 1 if ob.next_seq > 1 else None,
                    "seq_oldest_held": ob.oldest(),
                    "storage": ob.storage_error.kind if ob.storage_error is not None else "ok"}
        return Telemetry(ts=self.clock.now(), uptime_s=round(time.monotonic() - self._started_at, 1),
                         cpu_temp_c=_cpu_temp_c(), disk_free_mb=free,
                         outbox_depth=ob.depth() if ob else 0,
                         clock_synced=self.clock.is_synced(), extra=extra, **seqs)

    def send_telemetry(self) -> bool:
        try:
            self.publish(topics.telemetry(self._own_site(), self.device), self.telemetry(), qos=0)
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

