import pytest

from mqtt import topics
from mqtt.errors import BadId, BadTopic


def test_builders_round_trip():
    cases = [
        (topics.status("camau-hcc", "rt-05"), topics.Topic("camau-hcc", "status", "rt-05")),
        (topics.telemetry("camau-hcc", "rt-05"), topics.Topic("camau-hcc", "telemetry", "rt-05")),
        (topics.event("camau-hcc", "rt-05", "rating"), topics.Topic("camau-hcc", "evt", "rt-05", "rating")),
        (topics.command("camau-hcc", "rt-05", "identify"), topics.Topic("camau-hcc", "cmd", "rt-05", "identify")),
        (topics.response("s1", "kiosk-1"), topics.Topic("s1", "resp", "kiosk-1")),
        (topics.device_state("s1", "cam-1", "presence", 5), topics.Topic("s1", "devstate", "cam-1", "presence", "5")),
        (topics.request("s1", "rt-05", "call-next"), topics.Topic("s1", "req", "rt-05", "call-next")),
        (topics.state("s1", "desk", 5), topics.Topic("s1", "state", name="desk", key="5")),
        (topics.state("s1", "service", "HT"), topics.Topic("s1", "state", name="service", key="ht")),
        (topics.state("s1", "site"), topics.Topic("s1", "state", name="site")),
    ]
    for topic, parsed in cases:
        assert topic.startswith("motcua/v1/")
        assert topics.parse(topic) == parsed


def test_exact_strings():
    assert topics.event("camau-hcc", "rt-05", "rating") == "motcua/v1/camau-hcc/dev/rt-05/evt/rating"
    assert topics.request("camau-hcc", "kiosk-1", "lease") == "motcua/v1/camau-hcc/dev/kiosk-1/req/lease"
    assert topics.site_filter(None) == "motcua/v1/+/#"
    assert topics.events_filter("a", "ticket") == "motcua/v1/a/dev/+/evt/ticket"


@pytest.mark.parametrize("bad", ["", "Camau", "ca_mau", "cà-mau", "a" * 33, "a/b", "+", "#", "a b", None, 5])
def test_bad_ids_rejected_with_clear_message(bad):
    with pytest.raises(BadId) as e:
        topics.status(bad, "rt-05")  # type: ignore[arg-type]
    assert "lower-case letters, digits and '-'" in str(e.value)
    with pytest.raises(BadId):
        topics.event("ok", bad, "rating")  # type: ignore[arg-type]


def test_longest_valid_id():
    assert topics.status("a" * 32, "0-9") == f"motcua/v1/{'a' * 32}/dev/0-9/status"


@pytest.mark.parametrize("topic", [
    "motcua/v2/s/dev/d/status", "other/v1/s/dev/d/status", "motcua/v1/s/dev/d/evt/selfie",
    "motcua/v1/s/dev/d", "motcua/v1/s/req/steal", "motcua/v1/s/req/lease", "motcua/v1/s/dev/d/req/steal", "motcua/v1/s/state/weather", "motcua/v1/s/foo/bar",
    "motcua/v1/s/dev/d/evt/rating/extra",
])
def test_parse_rejects_foreign_topics(topic):
    with pytest.raises((BadTopic, BadId)):
        topics.parse(topic)


def test_unknown_event_type_and_op_rejected():
    with pytest.raises(BadTopic, match="unknown event type"):
        topics.event("s", "d", "selfie")
    with pytest.raises(BadTopic, match="unknown request op"):
        topics.request("s", "d", "steal")


def _string_literals(tree):
    """Every string literal of a module except docstrings (which may quote a topic)."""
    import ast
    docs = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                docs.add(id(body[0].value))
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
            yield node.value


def test_no_topic_strings_built_elsewhere():
    """Every topic comes from mqtt/topics.py: no other module spells a topic in code."""
    import ast
    from pathlib import Path
    root = Path(__file__).resolve().parents[2]
    offenders = []
    for pkg in ("common", "rating_terminal", "kiosk", "camera_agent", "ticketing", "collector", "ops", "demo"):
        for f in (root / pkg).rglob("*.py") if (root / pkg).exists() else []:
            tree = ast.parse(f.read_text(encoding="utf-8"))
            for lit in _string_literals(tree):
                if "motcua/v1" in lit or "/evt/" in lit or "/dev/" in lit and "/state" in lit:
                    offenders.append(f"{f.relative_to(root)}: {lit!r}")
    assert offenders == []
