"""Every topic of the motcua/v1 tree is built and parsed here, and nowhere else.

    motcua/v1/{site}/dev/{device}/status              retained online/offline (+ Last Will)
    motcua/v1/{site}/dev/{device}/telemetry           periodic health
    motcua/v1/{site}/dev/{device}/evt/{type}          events, QoS 1, from the outbox
    motcua/v1/{site}/dev/{device}/cmd/{name}          commands to a device
    motcua/v1/{site}/dev/{device}/resp                answers to this device's requests
    motcua/v1/{site}/dev/{device}/stored              the collector's confirmations of stored events
    motcua/v1/{site}/dev/{device}/state/{name}        retained state a device owns (presence)
    motcua/v1/{site}/dev/{device}/req/{op}            this device's requests to ticketing (answered on resp)
    motcua/v1/{site}/state/{name}[/{key}]             retained site state (ticketing, collector)
    motcua/v1/{site}/dev/collector/state/manifest     retained: the seq runs the site's store holds (province)
    motcua/v1/{site}/dev/collector/cmd/replay         the province asks the site collector for stored events
    motcua/v1/{site}/dev/collector/replay/{device}/{type}  a stored event of {device}, replayed (exact payload)
    motcua/v1/{site}/dev/collector/replayed           the site collector's account of one replay request
"""
from __future__ import annotations

import re
from typing import Literal, NamedTuple, get_args

from .errors import BadId, BadTopic

ROOT = "motcua/v1"
ID_PATTERN = r"^[a-z0-9-]{1,32}$"  # a site or device id (schemas and configs use it too)
_ID = re.compile(ID_PATTERN)

# The event types, here only: the envelope's ``type`` (schemas.Envelope) and the data models
# (schemas.EVENT_DATA, keyed by this Literal) follow from it.
EventType = Literal["rating", "ticket", "presence", "fault", "desk", "feedback", "appointment"]
EVENT_TYPES: tuple[EventType, ...] = get_args(EventType)
REQUEST_OPS = ("lease", "number", "call-next", "recall", "no-show", "transfer", "finish", "sign-in", "sign-out",
               "book", "cancel", "check-in", "slots")
STATE_NAMES = ("site", "desk", "service", "calls", "presence", "hours", "busy-hours")


def check_id(value: object, what: str = "id") -> str:
    """Return value if it is 1-32 lower-case letters, digits or '-'; raise BadId otherwise."""
    if not isinstance(value, str) or not _ID.match(value):
        raise BadId(
            f"{what} {value!r} không hợp lệ: chỉ dùng 1 đến 32 chữ thường không dấu, chữ số và '-' / "
            f"is not valid: use 1 to 32 lower-case letters, digits and '-' (for example 'camau-hcc' or 'rt-05')"
        )
    return value


def _key(value: object, what: str) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return str(value)
    if isinstance(value, str):
        return check_id(value.lower(), what)
    raise BadId(f"{what} {value!r} is not valid: use a desk number or a lower-case id")


def site_root(site: str) -> str:
    return f"{ROOT}/{check_id(site, 'site')}"


def device_root(site: str, device: str) -> str:
    return f"{site_root(site)}/dev/{check_id(device, 'device')}"


def status(site: str, device: str) -> str:
    return f"{device_root(site, device)}/status"


def telemetry(site: str, device: str) -> str:
    return f"{device_root(site, device)}/telemetry"


def event(site: str, device: str, type_: str) -> str:
    if type_ not in EVENT_TYPES:
        raise BadTopic(f"unknown event type {type_!r}; known: {', '.join(EVENT_TYPES)}")
    return f"{device_root(site, device)}/evt/{type_}"


def command(site: str, device: str, name: str) -> str:
    return f"{device_root(site, device)}/cmd/{check_id(name, 'command name')}"


def response(site: str, device: str) -> str:
    return f"{device_root(site, device)}/resp"


def stored(site: str, device: str) -> str:
    """The collector's confirmations of this device's stored events (docs/protocol.md)."""
    return f"{device_root(site, device)}/stored"


def device_state(site: str, device: str, name: str, key: str | int | None = None) -> str:
    t = f"{device_root(site, device)}/state/{check_id(name, 'state name')}"
    return t if key is None else f"{t}/{_key(key, 'state key')}"


def request(site: str, device: str, op: str) -> str:
    """A request of ``device``: under its own tree, which the broker ACL binds to its login, so
    ticketing knows who asks from the topic, never from the payload."""
    if op not in REQUEST_OPS:
        raise BadTopic(f"unknown request op {op!r}; known: {', '.join(REQUEST_OPS)}")
    return f"{device_root(site, device)}/req/{op}"


def state(site: str, name: str, key: str | int | None = None) -> str:
    if name not in STATE_NAMES:
        raise BadTopic(f"unknown state {name!r}; known: {', '.join(STATE_NAMES)}")
    t = f"{site_root(site)}/state/{name}"
    return t if key is None else f"{t}/{_key(key, 'state key')}"


# -- the province: manifests and replays (docs/protocol.md, "Province") ----------------------------

SITE_COLLECTOR = "collector"  # the site collector's broker login: only it writes dev/collector/ at a site


def manifest(site: str) -> str:
    """The site collector's retained manifest of the seq runs its store holds, per device."""
    return device_state(site, SITE_COLLECTOR, "manifest")


def replay_request(site: str) -> str:
    """The province's replay requests to the site's collector (the one topic the bridge carries in)."""
    return command(site, SITE_COLLECTOR, "replay")


def replay(site: str, device: str, type_: str) -> str:
    """A stored event of ``device`` re-published by the site collector (its exact original payload)."""
    if type_ not in EVENT_TYPES:
        raise BadTopic(f"unknown event type {type_!r}; known: {', '.join(EVENT_TYPES)}")
    return f"{device_root(site, SITE_COLLECTOR)}/replay/{check_id(device, 'device')}/{type_}"


def replayed(site: str) -> str:
    """The site collector's account of a replay request: what it sent, what it does not hold."""
    return f"{device_root(site, SITE_COLLECTOR)}/replayed"


def shared(group: str, topic_filter: str) -> str:
    """An MQTT 5 shared subscription: each message to one member of ``group`` (central collectors)."""
    return f"$share/{check_id(group, 'share group')}/{topic_filter}"


def replay_requests_filter() -> str:
    """Every site's replay requests (central collectors see each other's, to ask only once)."""
    return f"{ROOT}/+/dev/{SITE_COLLECTOR}/cmd/replay"


def replayed_filter() -> str:
    return f"{ROOT}/+/dev/{SITE_COLLECTOR}/replayed"


def province_links_filter() -> str:
    """Every site's bridge link state at the central broker."""
    return "motcua/link/+"


def replay_filter(site: str | None = None) -> str:
    return f"{ROOT}/{check_id(site, 'site') if site else '+'}/dev/{SITE_COLLECTOR}/replay/+/+"


# -- subscription filters ---------------------------------------------------------------------

def province_link(site: str) -> str:
    """The site's bridge to the province: Mosquitto's retained "1"/"0" (and will "0"), outside
    motcua/v1/ so no collector takes it for an event (docs/province.md)."""
    return f"motcua/link/{check_id(site, 'site')}"


def site_filter(site: str | None) -> str:
    """Everything of one site, or of every site when site is None."""
    return f"{ROOT}/{check_id(site, 'site') if site else '+'}/#"


def events_filter(site: str | None, type_: str | None = None, device: str | None = None) -> str:
    s = check_id(site, "site") if site else "+"
    d = check_id(device, "device") if device else "+"
    return f"{ROOT}/{s}/dev/{d}/evt/{type_ or '+'}"


def state_filter(site: str, name: str | None = None) -> str:
    return f"{site_root(site)}/state/{name}/#" if name else f"{site_root(site)}/state/#"


def device_state_filter(site: str, name: str) -> str:
    return f"{site_root(site)}/dev/+/state/{check_id(name, 'state name')}/#"


def status_filter(site: str | None) -> str:
    return f"{ROOT}/{check_id(site, 'site') if site else '+'}/dev/+/status"


def telemetry_filter(site: str | None) -> str:
    return f"{ROOT}/{check_id(site, 'site') if site else '+'}/dev/+/telemetry"


def device_states_filter(site: str | None) -> str:
    """Every device's retained state (presence, numbering, updates, the collector's manifest)."""
    return f"{ROOT}/{check_id(site, 'site') if site else '+'}/dev/+/state/#"


def site_states_filter(site: str | None) -> str:
    return f"{ROOT}/{check_id(site, 'site') if site else '+'}/state/#"


def requests_filter(site: str, op: str | None = None) -> str:
    """Every device's requests (of one op, or all): what ticketing subscribes to."""
    if op is not None and op not in REQUEST_OPS:
        raise BadTopic(f"unknown request op {op!r}; known: {', '.join(REQUEST_OPS)}")
    return f"{site_root(site)}/dev/+/req/{op or '+'}"


# -- parsing ----------------------------------------------------------------------------------

class Topic(NamedTuple):
    """A parsed topic. kind: status, telemetry, evt, cmd, resp, stored, devstate, req, state,
    replay (``key`` the replayed event's device, ``name`` its type), replayed."""

    site: str
    kind: str
    device: str | None = None
    name: str | None = None  # event type, command name, request op or state name
    key: str | None = None  # state key (desk number, service code) when present


def parse(topic: str) -> Topic:
    """Parse any topic of the tree; raise BadTopic (or BadId) saying what is wrong."""
    parts = topic.split("/")
    if len(parts) < 4 or "/".join(parts[:2]) != ROOT:
        raise BadTopic(f"topic {topic!r} is not under {ROOT}/{{site}}/")
    site = check_id(parts[2], "site")
    rest = parts[3:]
    if rest[0] == "dev":
        if len(rest) < 3:
            raise BadTopic(f"topic {topic!r}: expected dev/{{device}}/<status|telemetry|evt|cmd|resp|req|stored|state|replay|replayed>")
        device = check_id(rest[1], "device")
        kind, tail = rest[2], rest[3:]
        if kind in ("status", "telemetry", "resp", "stored", "replayed") and not tail:
            return Topic(site, kind, device)
        if kind == "replay" and len(tail) == 2:  # key: the device whose event it is; name: its type
            if tail[1] not in EVENT_TYPES:
                raise BadTopic(f"topic {topic!r}: unknown event type {tail[1]!r}; known: {', '.join(EVENT_TYPES)}")
            return Topic(site, "replay", device, tail[1], check_id(tail[0], "device"))
        if kind == "evt" and len(tail) == 1:
            if tail[0] not in EVENT_TYPES:
                raise BadTopic(f"topic {topic!r}: unknown event type {tail[0]!r}; known: {', '.join(EVENT_TYPES)}")
            return Topic(site, "evt", device, tail[0])
        if kind == "req" and len(tail) == 1:
            if tail[0] not in REQUEST_OPS:
                raise BadTopic(f"topic {topic!r}: unknown request op {tail[0]!r}; known: {', '.join(REQUEST_OPS)}")
            return Topic(site, "req", device, tail[0])
        if kind == "cmd" and len(tail) == 1:
            return Topic(site, "cmd", device, check_id(tail[0], "command name"))
        if kind == "state" and len(tail) in (1, 2):
            return Topic(site, "devstate", device, check_id(tail[0], "state name"),
                         tail[1] if len(tail) == 2 else None)
        raise BadTopic(f"topic {topic!r}: unknown device topic")
    if rest[0] == "state" and len(rest) in (2, 3):
        if rest[1] not in STATE_NAMES:
            raise BadTopic(f"topic {topic!r}: unknown state {rest[1]!r}")
        return Topic(site, "state", name=rest[1], key=rest[2] if len(rest) == 3 else None)
    raise BadTopic(f"topic {topic!r}: expected dev/ or state/ after the site (requests go under "
                   f"dev/{{device}}/req/{{op}})")
