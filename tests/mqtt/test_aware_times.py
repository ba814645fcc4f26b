"""Every time in every message model carries its offset: a time without one is refused, by name."""
from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from mqtt import schemas
from mqtt.errors import ProtocolError


def _time_fields() -> list[tuple[type[schemas.Model], str]]:
    out = []
    for obj in vars(schemas).values():
        if isinstance(obj, type) and issubclass(obj, schemas.Model) and obj is not schemas.Model:
            for name, field in obj.model_fields.items():
                if "datetime" in repr(field.annotation).lower():
                    out.append((obj, name))
    return out


TIME_FIELDS = _time_fields()


def test_every_time_field_is_found() -> None:
    names = {f"{m.__name__}.{f}" for m, f in TIME_FIELDS}
    assert {"Envelope.ts", "Request.ts", "TicketData.issued_at", "PresenceData.since", "Telemetry.ts",
            "ServiceState.oldest_issued_at"} <= names
    assert len(TIME_FIELDS) >= 15


def _errors_at(model: type[schemas.Model], field: str, value: str) -> list[str]:
    try:
        model.model_validate({field: value})
    except ValidationError as exc:
        return [e["type"] for e in exc.errors() if e["loc"] == (field,)]
    return []


@pytest.mark.parametrize("model,field", TIME_FIELDS, ids=[f"{m.__name__}.{f}" for m, f in TIME_FIELDS])
def test_a_time_without_offset_is_refused(model: type[schemas.Model], field: str) -> None:
    assert _errors_at(model, field, "2026-11-23T09:15:02") == ["timezone_aware"]
    assert _errors_at(model, field, "2026-11-23T09:15:02.123+07:00") == []
    assert _errors_at(model, field, "2026-11-23T02:15:02Z") == []


def test_the_refusal_says_what_would_be_right() -> None:
    with pytest.raises(ProtocolError) as info:
        schemas.parse_model(schemas.Request, json.dumps({"id": "r1", "device": "rt-05", "ts": "2026-11-23 09:15"}))
    assert info.value.reason == "bad_field"
    assert "'ts'" in str(info.value) and "+07:00" in str(info.value)
