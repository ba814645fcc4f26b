"""The event types are written once (mqtt/topics.py); topics, envelope and data models agree."""
from __future__ import annotations

import typing

import pytest

from mqtt import schemas, topics
from mqtt.errors import BadTopic


def test_one_list_of_event_types() -> None:
    assert topics.EVENT_TYPES == typing.get_args(topics.EventType)
    assert list(schemas.EVENT_DATA) == list(topics.EVENT_TYPES)  # a data model for each, in order
    assert typing.get_args(schemas.Envelope.model_fields["type"].annotation) == topics.EVENT_TYPES


@pytest.mark.parametrize("type_", topics.EVENT_TYPES)
def test_each_type_has_a_topic_and_an_envelope(type_: str) -> None:
    t = topics.event("camau-hcc", "rt-05", type_)
    assert topics.parse(t) == topics.Topic("camau-hcc", "evt", "rt-05", type_)
    env = {"v": 1, "id": "x", "seq": 1, "ts": "2026-11-23T09:15:02+07:00", "clock_synced": True,
           "site": "camau-hcc", "device": "rt-05", "type": type_, "data": {}}
    assert schemas.Envelope.model_validate(env).type == type_


def test_an_unknown_type_is_refused_everywhere() -> None:
    with pytest.raises(BadTopic):
        topics.event("camau-hcc", "rt-05", "weather")
    env = {"v": 1, "id": "x", "seq": 1, "ts": "2026-11-23T09:15:02+07:00", "clock_synced": True,
           "site": "camau-hcc", "device": "rt-05", "type": "weather", "data": {}}
    with pytest.raises(ValueError):
        schemas.Envelope.model_validate(env)
