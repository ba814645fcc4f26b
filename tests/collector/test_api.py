"""The JSON API and the login, over HTTP against a collector process; users and tokens from the CLI."""
from __future__ import annotations

import subprocess
import sys

import httpx
import pytest

from tests.collector.web_client import login, logout
from tests.collector.wire import ROOT, rating

API = ("/api/desks", "/api/devices", "/api/ratings", "/api/dead-letters", "/api/queue")


def cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "collector", *args], input=stdin, capture_output=True,
                          text=True, cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, timeout=60)


@pytest.fixture
def token(collector) -> str:
    r = cli("create-token", "reports", "--db", str(collector.db))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("mct_")  # the token and nothing else
    return lines[0]


def test_without_login_the_dashboard_and_api_refuse(collector):
    for path in API + ("/events",):
        r = httpx.get(collector.url + path)
        assert r.status_code == 401, path
        assert r.json()["error"] == "unauthorized" and r.headers["www-authenticate"].startswith("Bearer")
    r = httpx.get(collector.url + "/api/ratings", headers={"Authorization": "Bearer mct_wrong"})
    assert r.status_code == 401
    r = httpx.get(collector.url + "/")
    assert r.status_code == 303 and r.headers["location"] == "/login"
    r = httpx.get(collector.url + "/", cookies={"motcua_session": "forged.cookie.value"})
    assert r.status_code == 303
    h = httpx.get(collector.url + "/api/health")
    assert h.status_code == 200 and h.json()["status"] == "ok" and h.json()["mqtt_connected"] is True


def test_token_reads_every_list_as_items_and_total(collector, token):
    for path in API:
        r = httpx.get(collector.url + path, headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200, path
        body = r.json()
        assert set(body) == {"items", "total"} and body["total"] == len(body["items"])
        if path == "/api/devices":  # the collector reports itself (retained status with Last Will)
            assert [(d["device"], d["online"]) for d in body["items"]] == [("collector", True)]
        else:
            assert body["total"] == 0, path


def test_ratings_filters_and_pages(collector, publisher, token):
    h = {"Authorization": f"Bearer {token}"}
    msgs = [rating(desk=1 + s % 3, score=1 + s % 5, seq=s, device="rt-01",
                   ts=f"2026-11-{20 + s % 3}T09:00:{s:02d}.000+07:00") for s in range(1, 31)]
    publisher.send_many(msgs)
    assert collector.wait_stored("ratings", 30) == 30
    get = lambda q: httpx.get(f"{collector.url}/api/ratings?{q}", headers=h).json()  # noqa: E731
    assert get("")["total"] == 30
    by_desk = get("desk=2")
    assert by_desk["total"] == 10 and {i["desk"] for i in by_desk["items"]} == {2}
    day = get("from=2026-11-21&to=2026-11-21")
    assert day["total"] == 10 and {i["day"] for i in day["items"]} == {"2026-11-21"}
    assert get("from=2026-11-21T00:00:00+07:00&to=2026-11-22")["total"] == 20
    assert get("officer=nv-0142&service=HT")["total"] == 30 and get("officer=nobody")["total"] == 0
    p1, p2 = get("limit=7&offset=0"), get("limit=7&offset=7")
    assert len(p1["items"]) == 7 and p1["total"] == 30
    assert not {i["id"] for i in p1["items"]} & {i["id"] for i in p2["items"]}
    newest_first = [i["ts"] for i in get("limit=30")["items"]]
    assert newest_first == sorted(newest_first, reverse=True)
    for q in ("limit=0", "limit=abc", "from=yesterday", "offset=-1"):
        r = httpx.get(f"{collector.url}/api/ratings?{q}", headers=h)
        assert r.status_code == 400 and r.json()["error"] == "bad_query", q


def test_add_user_then_log_in_with_a_session_cookie(collector):
    r = cli("add-user", "quanly", "--db", str(collector.db), stdin="mat-khau-rat-dai\n")
    assert r.returncode == 0, r.stderr
    assert cli("add-user", "ngan", "--db", str(collector.db), stdin="short\n").returncode == 2
    with httpx.Client(base_url=collector.url) as s:
        bad = login(s, "quanly", "wrong-password")
        assert bad.status_code == 303 and "failed=1" in bad.headers["location"]
        assert s.get("/api/desks").status_code == 401
        ok = login(s, "quanly", "mat-khau-rat-dai")
        assert ok.status_code == 303 and ok.headers["location"] == "/"
        page = s.get("/")
        assert page.status_code == 200 and "Quầy" in page.text and "Hàng chờ" in page.text
        en = s.get("/?lang=en")
        assert "Queue" in en.text and "Device health" in en.text
        assert "Queue" in s.get("/").text  # the choice is kept in a cookie
        assert s.get("/api/desks").status_code == 200
        assert logout(s).status_code == 303
        assert s.get("/api/desks").status_code == 401


def test_every_command_has_help_with_an_example():
    for args in ((), ("run",), ("add-user",), ("create-token",), ("list-tokens",), ("revoke-token",),
                 ("delete-user",), ("disable-user",), ("enable-user",)):
        r = cli(*args, "--help")
        assert r.returncode == 0 and "example" in r.stdout and "motcua collector" in r.stdout, args


def test_check_config_names_the_bad_key(tmp_path):
    good = cli("--config", str(ROOT / "config" / "collector.toml"), "--check-config")
    assert good.returncode == 0 and good.stdout.startswith("OK")
    bad = tmp_path / "c.toml"
    bad.write_text('broker = "mqtt://127.0.0.1:1883"\nhttp = "nowhere"\nsite = "Bad Site"\n')
    r = cli("--config", str(bad), "--check-config")
    assert r.returncode == 2
    assert f"{bad}:2: http" in r.stderr and f"{bad}:3: site" in r.stderr
    assert cli("--site", "+", "--check-config").returncode == 0
