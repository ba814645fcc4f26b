import json

import pytest

from mqtt import schemas, topics
from mqtt.errors import ProtocolError

T = topics.event("camau-hcc", "rt-05", "rating")


def envelope(**over):
    env = {"v": 1, "id": "0193a4c2-7b1e-7c3a-9f4e-2d1b5a6c7e8f", "seq": 1042,
           "ts": "2026-11-23T09:15:02.123+07:00", "clock_synced": True,
           "site": "camau-hcc", "device": "rt-05", "type": "rating",
           "data": {"desk": 5, "score": 5, "scale": 5, "ticket": "1023", "service": "HT",
                    "officer": "nv-0142", "misuse": False}}
    env.update(over)
    return env


def test_design_example_parses():
    env = schemas.parse_event(T, json.dumps(envelope()))
    assert env.seq == 1042 and env.ts.utcoffset().total_seconds() == 7 * 3600
    data = env.typed_data()
    assert isinstance(data, schemas.RatingData) and data.score == 5


def reason_of(topic, payload):
    with pytest.raises(ProtocolError) as e:
        schemas.parse_event(topic, payload)
    return e.value.reason, str(e.value)


def test_not_json():
    r, m = reason_of(T, b'{"v": 1,')
    assert r == "not_json" and "not valid JSON" in m


def test_not_utf8():
    r, m = reason_of(T, b'\xff\xfe{"v":1}')
    assert r == "not_utf8"


def test_not_object():
    assert reason_of(T, b"[1,2]")[0] == "not_object"


def test_wrong_version():
    r, m = reason_of(T, json.dumps(envelope(v=2)))
    assert r == "bad_version" and "v=2" in m


def test_unknown_type():
    r, m = reason_of(T, json.dumps(envelope(type="selfie")))
    assert r == "unknown_type" and "'selfie'" in m


@pytest.mark.parametrize("field", ["id", "seq", "ts", "clock_synced", "site", "device", "type", "data"])
def test_missing_field_named(field):
    env = envelope()
    del env[field]
    r, m = reason_of(T, json.dumps(env))
    assert r == "missing_field" and repr(field) in m


def test_missing_data_field_named():
    env = envelope()
    del env["data"]["score"]
    r, m = reason_of(T, json.dumps(env))
    assert r == "missing_field" and "data.score" in m


def test_site_and_device_must_match_topic():
    assert reason_of(T, json.dumps(envelope(site="other")))[0] == "site_mismatch"
    r, m = reason_of(T, json.dumps(envelope(device="rt-06")))
    assert r == "device_mismatch" and "'rt-06'" in m and "'rt-05'" in m


def test_type_must_match_topic():
    env = envelope(type="fault", data={"code": "x", "active": True, "message_vi": "a", "message_en": "b"})
    assert reason_of(T, json.dumps(env))[0] == "type_mismatch"


def test_too_large():
    env = envelope()
    env["data"]["officer"] = "x" * (64 * 1024)
    r, m = reason_of(T, json.dumps(env))
    assert r == "too_large" and "64 KiB" in m


def test_naive_timestamp_refused():
    r, m = reason_of(T, json.dumps(envelope(ts="2026-11-23T09:15:02")))
    assert r == "bad_field" and "offset" in m


def test_score_above_scale_refused():
    env = envelope()
    env["data"]["scale"] = 3
    env["data"]["score"] = 5
    r, m = reason_of(T, json.dumps(env))
    assert r == "bad_data" and "above the scale" in m


def test_bad_topic():
    assert reason_of("motcua/v1/camau-hcc/dev/rt-05/status", json.dumps(envelope()))[0] == "bad_topic"


def test_every_event_type_has_a_documented_example():
    """docs/protocol.md carries a JSON example per event type that parses."""
    from pathlib import Path
    import re
    doc = (Path(__file__).resolve().parents[2] / "docs" / "protocol.md").read_text(encoding="utf-8")
    blocks = [json.loads(b) for b in re.findall(r"```json\n(.*?)```", doc, re.S)]
    seen = set()
    for b in blocks:
        if isinstance(b, dict) and b.get("type") in schemas.EVENT_DATA and "seq" in b:
            schemas.parse_event(topics.event(b["site"], b["device"], b["type"]), json.dumps(b))
            seen.add(b["type"])
    assert seen == set(schemas.EVENT_DATA)


def test_uuid7_is_time_ordered_and_unique():
    ids = [schemas.uuid7() for _ in range(2000)]
    assert len(set(ids)) == 2000
    assert all(i[14] == "7" for i in ids)
    assert [i[:13] for i in ids] == sorted(i[:13] for i in ids)
