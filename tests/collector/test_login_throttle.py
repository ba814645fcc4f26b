"""Login throttling: 5 failed logins for a name from one address lock that pair out for 5 minutes
(429), before the password is checked; 10 from one address lock the address; a guesser elsewhere
cannot lock the real manager out. The clock is a FakeClock moved by hand; API tokens are unaffected."""
from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest
from starlette.testclient import TestClient

from collector import auth
from collector.db import open_db
from collector.queries import Reader
from collector.web import LiveHub, create_app
from common.clock import FakeClock
from common.web.throttle import LoginThrottle
from tests.collector.web_client import csrf
from tests.collector.wire import SITE, VN

PASSWORD = "mat-khau-rat-dai"
LOCKED_VI = "Đăng nhập sai quá nhiều lần, vui lòng thử lại sau 5 phút"
LOCKED_EN = "Too many failed logins, try again in 5 minutes"


class App:
    def __init__(self, tmp_path: Path):
        self.clock = FakeClock(datetime(2026, 11, 23, 9, 0, tzinfo=VN))
        db = tmp_path / "collector.db"
        w = open_db(db)
        auth.add_user(w, "quanly", PASSWORD)
        auth.add_user(w, "ketoan", PASSWORD)
        self.token = auth.create_token(w, "reports")
        w.close()
        reader = Reader(db, self.clock)
        self.app = create_app(str(db), reader, LiveHub(reader, SITE), health=lambda: {"status": "ok"},
                              throttle=LoginThrottle(self.clock))

    def client(self, address: str = "10.0.0.5") -> TestClient:
        return TestClient(self.app, follow_redirects=False, client=(address, 50000))


@pytest.fixture
def app(tmp_path: Path) -> App:
    return App(tmp_path)


@pytest.fixture
def checks(monkeypatch) -> Iterator[list[str]]:
    """Every password check (the real argon2 verify, counted)."""
    calls: list[str] = []
    real = auth.verify_user

    def counted(conn: Any, name: str, password: str) -> str | None:
        calls.append(name)
        return real(conn, name, password)

    monkeypatch.setattr(auth, "verify_user", counted)
    yield calls


def login(c: TestClient, user: str, password: str) -> httpx.Response:
    if "motcua_csrf" not in c.cookies:
        csrf(c)
    return c.post("/login", data={"user": user, "password": password, "csrf_token": c.cookies["motcua_csrf"]})


def test_five_failures_lock_the_name_then_the_lockout_ends(app, checks):
    with app.client() as c:
        for _ in range(5):
            r = login(c, "quanly", "wrong-password")
            assert r.status_code == 303 and "failed=1" in r.headers["location"]
        r = login(c, "quanly", PASSWORD)  # the right password, but too late
        assert r.status_code == 429 and LOCKED_VI in r.text and r.headers["retry-after"] == "300"
        assert 'id="password"' in r.text  # the form is still there for later
        assert len(checks) == 5  # the 6th attempt never reached argon2
        assert c.get("/api/desks").status_code == 401  # no session was given
        c.cookies.set("motcua_lang", "en")
        r = login(c, "quanly", PASSWORD)
        assert r.status_code == 429 and LOCKED_EN in r.text and len(checks) == 5
        c.cookies.delete("motcua_lang")

        # an API token keeps working during the lockout
        for path in ("/api/desks", "/api/devices", "/api/ratings"):
            assert c.get(path, headers={"Authorization": f"Bearer {app.token}"}).status_code == 200, path

        app.clock.advance(240)
        r = login(c, "quanly", PASSWORD)
        assert r.status_code == 429 and "thử lại sau 1 phút" in r.text  # 60 s left
        app.clock.advance(61)
        r = login(c, "quanly", PASSWORD)
        assert r.status_code == 303 and r.headers["location"] == "/"
        assert c.get("/api/desks").status_code == 200 and len(checks) == 6


def test_an_outsider_cannot_lock_the_manager_out(app, checks):
    """Guesses at "quanly" from other addresses lock those addresses, never the manager's own."""
    with app.client("10.0.0.5") as manager:
        assert login(manager, "quanly", PASSWORD).status_code == 303  # the manager's usual address
    for n in range(1, 5):  # 4 addresses x 5 wrong guesses: each pair locks, then the account-wide count
        with app.client(f"10.9.9.{n}") as outsider:
            for _ in range(5):
                login(outsider, "quanly", "wrong-password")
            assert login(outsider, "quanly", PASSWORD).status_code == 429
    with app.client("10.0.0.5") as manager:  # the real manager still gets in at once
        r = login(manager, "quanly", PASSWORD)
        assert r.status_code == 303 and r.headers["location"] == "/"
        assert manager.get("/api/desks").status_code == 200
    with app.client("10.0.0.6") as fresh:  # an address never seen for quanly waits out the account lock
        assert login(fresh, "quanly", PASSWORD).status_code == 429
        assert login(fresh, "ketoan", PASSWORD).status_code == 303  # another name from a clean address
    with app.client("10.0.0.7") as other:
        for _ in range(5):
            login(other, "ketoan", "wrong-password")
    with app.client("10.0.0.6") as fresh:  # a single outsider address: the manager is not even slowed
        assert login(fresh, "ketoan", PASSWORD).status_code == 303


def test_ten_failures_from_one_address_lock_the_address(app, checks):
    with app.client("10.0.0.7") as c:
        for name in ("admin", "root", "quanly", "ketoan", "pi", "user", "test", "guest", "demo", "oracle"):
            assert login(c, name, "guess-guess").status_code == 303
        assert login(c, "ketoan", PASSWORD).status_code == 429 and len(checks) == 10
    with app.client("10.0.0.8") as c:  # the names were tried once each: not locked
        assert login(c, "ketoan", PASSWORD).status_code == 303


def test_a_success_resets_the_names_count_and_old_failures_expire(app):
    with app.client("10.0.0.5") as a, app.client("10.0.0.6") as b:
        for _ in range(4):
            login(a, "quanly", "wrong-password")
        assert login(b, "quanly", PASSWORD).status_code == 303  # another address: its own count
        for _ in range(4):
            login(b, "quanly", "wrong-password")
        assert login(b, "quanly", PASSWORD).status_code == 303  # the success reset the pair: 4, not 5
        for _ in range(4):
            login(b, "quanly", "wrong-password")
        assert login(b, "quanly", PASSWORD).status_code == 303  # 4 since the reset, not 8
        app.clock.advance(601)  # address 6's four failures leave the 10-minute window
        for _ in range(4):
            login(b, "ketoan", "wrong-password")
        assert login(b, "ketoan", PASSWORD).status_code == 303


def test_throttle_window_and_keys():
    clock = FakeClock(datetime(2026, 11, 23, 9, 0, tzinfo=VN))
    t = LoginThrottle(clock)
    assert t.keys("quanly", "10.0.0.5") == ["pair:quanly@10.0.0.5", "addr:10.0.0.5", "user:quanly"]
    assert t.keys("", None) == []
    for _ in range(4):
        t.failed("quanly", "10.0.0.5")
        clock.advance(200)  # 4 failures over 800 s: never 5 within 600 s
    t.failed("quanly", "10.0.0.5")  # at 800: the ones at 0 and 200 have left the window, 3 remain
    assert t.retry_after("quanly", "10.0.0.5") == 0.0
    t.failed("quanly", "10.0.0.5")
    t.failed("quanly", "10.0.0.5")  # 400, 600, 800, 800, 800: five within 600 s
    assert t.retry_after("quanly", "10.0.0.5") == 300.0
    assert t.retry_after("quanly", "10.0.0.6") == 0.0 and t.retry_after("other", "10.0.0.9") == 0.0
    assert LoginThrottle.minutes(300) == 5 and LoginThrottle.minutes(1) == 1
    small = LoginThrottle(clock, max_keys=3)
    for i in range(10):
        small.failed(f"n{i}", None)
    assert len(small._records) <= 3  # memory stays bounded whatever names attackers invent


def test_the_real_collector_refuses_with_429_and_tokens_still_work(collector):
    w = open_db(collector.db)
    auth.add_user(w, "quanly", PASSWORD)
    token = auth.create_token(w, "reports")
    w.close()
    with httpx.Client(base_url=collector.url) as s:
        token_field = {"csrf_token": csrf(s)}
        for _ in range(5):
            assert s.post("/login", data={"user": "quanly", "password": "wrong", **token_field}).status_code == 303
        r = s.post("/login", data={"user": "quanly", "password": PASSWORD, **token_field})
        assert r.status_code == 429 and LOCKED_VI in r.text
        assert s.get("/api/desks", headers={"Authorization": f"Bearer {token}"}).status_code == 200
