"""Parsing a payload into its model: never lets a bad payload through, and says exactly what was
wrong (:class:`ProtocolError` ``reason`` and message, which the collector stores in its dead
letters). Imported through :mod:`mqtt.schemas`."""
from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from . import topics
from .errors import BadId, BadTopic, ProtocolError
from .schemas import EVENT_DATA, MAX_PAYLOAD, M, NEEDS_OFFSET, SCHEMA_VERSION, Envelope

def _describe(err: ValidationError) -> str:
    parts = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "(payload)"
        if e["type"] == "missing":
            parts.append(f"missing field {loc!r}")
        elif e["type"] == "extra_forbidden":
            parts.append(f"unknown field {loc!r}")
        elif e["type"] == "timezone_aware":
            parts.append(f"field {loc!r}: {NEEDS_OFFSET}")
        else:
            parts.append(f"field {loc!r}: {e['msg']}")
    return "; ".join(parts)


def load_json(payload: bytes | str) -> Any:
    if isinstance(payload, str):
        payload = payload.encode("utf-8", "surrogateescape")
    if len(payload) > MAX_PAYLOAD:
        raise ProtocolError("too_large", f"payload is {len(payload)} bytes; the limit is {MAX_PAYLOAD} (64 KiB)")
    try:
        return json.loads(payload.decode("utf-8"), parse_float=_finite, parse_int=_int64,
                          parse_constant=_no_constant)
    except UnicodeDecodeError as exc:
        raise ProtocolError("not_utf8", f"payload is not UTF-8: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ProtocolError("not_json", f"payload is not valid JSON: {exc}") from None
    except ValueError as exc:  # an integer of more digits than Python converts, or NaN/Infinity
        raise ProtocolError("bad_number", f"payload holds a number that cannot be used: {exc}") from None


def _int64(text: str) -> int:
    value = int(text)
    if not -(2 ** 63) <= value < 2 ** 63:
        raise ValueError(f"integer {text[:40]}{'…' if len(text) > 40 else ''} is out of the 64-bit range")
    return value


def _finite(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"{text[:40]!r} is too large for a float")
    return value


def _no_constant(text: str) -> float:
    raise ValueError(f"{text} is not a number JSON allows")


def parse_event(topic: str, payload: bytes | str) -> Envelope:
    """Validate an event against its topic; raise ProtocolError naming what was wrong."""
    try:
        t = topics.parse(topic)
    except (BadTopic, BadId) as exc:
        raise ProtocolError("bad_topic", str(exc)) from None
    if t.kind != "evt":
        raise ProtocolError("bad_topic", f"topic {topic!r} is not an event topic (…/dev/{{device}}/evt/{{type}})")
    raw = load_json(payload)
    if not isinstance(raw, dict):
        raise ProtocolError("not_object", f"payload is JSON {type(raw).__name__}, expected an object")
    if "v" not in raw:
        raise ProtocolError("missing_field", "missing field 'v' (schema version)")
    if raw["v"] != SCHEMA_VERSION:
        raise ProtocolError("bad_version", f"schema version v={raw['v']!r} is not supported; this collector reads v={SCHEMA_VERSION}")
    typ = raw.get("type")
    if typ is not None and typ not in EVENT_DATA:
        raise ProtocolError("unknown_type", f"unknown event type {typ!r}; known: {', '.join(EVENT_DATA)}")
    try:
        env = Envelope.model_validate(raw)
    except ValidationError as exc:
        missing = any(e["type"] == "missing" for e in exc.errors())
        raise ProtocolError("missing_field" if missing else "bad_field", _describe(exc)) from None
    if env.site != t.site:
        raise ProtocolError("site_mismatch", f"payload site {env.site!r} does not match topic site {t.site!r}")
    if env.device != t.device:
        raise ProtocolError("device_mismatch", f"payload device {env.device!r} does not match topic device {t.device!r}")
    if env.type != t.name:
        raise ProtocolError("type_mismatch", f"payload type {env.type!r} does not match topic event type {t.name!r}")
    try:
        env.typed_data()
    except ValidationError as exc:
        missing = any(e["type"] == "missing" for e in exc.errors())
        raise ProtocolError("missing_field" if missing else "bad_data",
                            f"{env.type} data: " + _describe(exc).replace("field '", "field 'data.")) from None
    return env


def parse_model(model: type[M], payload: bytes | str) -> M:
    """Parse a request, response or state payload; ProtocolError on anything wrong."""
    raw = load_json(payload)
    if not isinstance(raw, dict):
        raise ProtocolError("not_object", f"payload is JSON {type(raw).__name__}, expected an object")
    if raw.get("v", SCHEMA_VERSION) != SCHEMA_VERSION:
        raise ProtocolError("bad_version", f"schema version v={raw.get('v')!r} is not supported")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        missing = any(e["type"] == "missing" for e in exc.errors())
        raise ProtocolError("missing_field" if missing else "bad_field", f"{model.__name__}: {_describe(exc)}") from None

