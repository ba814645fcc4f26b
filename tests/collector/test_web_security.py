"""Web sessions that end, tokens that can be revoked, CSRF, security headers and the body limit,
over HTTP against one real collector process (httpx; the CLI as an operator runs it)."""
from __future__ import annotations

import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from collector import auth
from collector.db import open_db
from tests.collector.web_client import cli, csrf, login, logout
from tests.collector.wire import CollectorProcess

PW = "mat-khau-rat-dai"
HEADERS = {"content-security-policy": "script-src 'self'", "x-frame-options": "DENY",
           "x-content-type-options": "nosniff", "referrer-policy": "same-origin"}


@pytest.fixture(scope="module")
def col(module_broker, tmp_path_factory: pytest.TempPathFactory):
    c = CollectorProcess(module_broker.url, tmp_path_factory.mktemp("web") / "collector.db").start()
    yield c
    c.stop()


def user(col: CollectorProcess, name: str, role: str = "manager") -> None:
    r = cli("add-user", name, "--role", role, "--db", str(col.db), stdin=PW + "\n")
    assert r.returncode == 0, r.stderr


def session(col: CollectorProcess, name: str) -> httpx.Client:
    s = httpx.Client(base_url=col.url)
    assert login(s, name, PW).headers["location"] == "/"
    assert s.get("/api/desks").status_code == 200
    return s


def replay(col: CollectorProcess, cookie: str) -> int:
    """A request carrying only an old session cookie, as a thief would send it."""
    return httpx.get(col.url + "/api/desks", cookies={"motcua_session": cookie}).status_code


def test_a_cookie_from_before_logout_or_a_password_change_is_refused(col):
    user(col, "quanly")
    s = session(col, "quanly")
    other = session(col, "quanly")  # the same manager on a second computer
    old = s.cookies["motcua_session"]
    assert logout(s).status_code == 303
    assert replay(col, old) == 401  # logout ended this session on the server, not just in the browser
    assert other.get("/api/desks").status_code == 200  # ...and only this one
    old_other = other.cookies["motcua_session"]
    user(col, "quanly")  # a new password (add-user on an existing name)
    assert replay(col, old_other) == 401 and other.get("/").status_code == 303
    assert session(col, "quanly").get("/").status_code == 200  # the new password works


def test_disabled_and_deleted_users_lose_their_sessions_and_tokens(col):
    user(col, "ketoan")
    s = session(col, "ketoan")
    token = cli("create-token", "ketoan", "--db", str(col.db)).stdout.strip()
    bearer = {"Authorization": f"Bearer {token}"}
    assert httpx.get(col.url + "/api/desks", headers=bearer).status_code == 200
    assert cli("disable-user", "ketoan", "--db", str(col.db)).returncode == 0
    assert s.get("/api/desks").status_code == 401
    assert httpx.get(col.url + "/api/desks", headers=bearer).status_code == 401
    assert login(httpx.Client(base_url=col.url), "ketoan", PW).headers["location"].startswith("/login?failed")
    assert cli("enable-user", "ketoan", "--db", str(col.db)).returncode == 0
    s = session(col, "ketoan")
    r = cli("delete-user", "ketoan", "--db", str(col.db))
    assert r.returncode == 0 and "ketoan" in r.stderr
    assert s.get("/api/desks").status_code == 401
    assert httpx.get(col.url + "/api/desks", headers=bearer).status_code == 401  # revoked with the user
    assert cli("delete-user", "ketoan", "--db", str(col.db)).returncode == 2  # no such user: a clear error


def test_tokens_are_listed_revoked_and_expire(col):
    a = cli("create-token", "bao-cao", "--db", str(col.db)).stdout.strip()
    b = cli("create-token", "man-hinh", "--role", "viewer", "--db", str(col.db)).stdout.strip()
    c = cli("create-token", "tam-thoi", "--expires-days", "0.00001", "--db", str(col.db)).stdout.strip()
    get = lambda tok, path="/api/desks": httpx.get(col.url + path,  # noqa: E731
                                                   headers={"Authorization": f"Bearer {tok}"}).status_code
    assert get(a) == 200 and get(b) == 200
    assert get(b, "/api/ratings") == 403  # a viewer's token: no ratings
    time.sleep(1.0)  # 0.00001 days = 0.864 s
    assert get(c) == 401
    listed = cli("list-tokens", "--db", str(col.db))
    assert listed.returncode == 0 and a not in listed.stdout  # never the token itself
    rows = {line.split("\t")[1]: line.split("\t") for line in listed.stdout.splitlines()[1:]}
    assert rows["bao-cao"][3] == "active" and rows["tam-thoi"][3] == "expired" and rows["man-hinh"][2] == "viewer"
    assert cli("revoke-token", a, "--db", str(col.db)).returncode == 0  # by the token itself
    assert get(a) == 401
    assert cli("revoke-token", rows["man-hinh"][0], "--db", str(col.db)).returncode == 0  # by its id
    assert get(b) == 401
    after = {line.split("\t")[1]: line.split("\t") for line in cli("list-tokens", "--db", str(col.db))
             .stdout.splitlines()[1:]}
    assert after["bao-cao"][3] == "revoked" and after["man-hinh"][3] == "revoked"
    r = cli("revoke-token", "mct_nothing", "--db", str(col.db))
    assert r.returncode == 2 and "list-tokens" in r.stderr


def test_state_changing_requests_need_this_sites_token(col):
    user(col, "quanly")
    with httpx.Client(base_url=col.url) as anon:
        r = anon.post("/login", data={"user": "quanly", "password": PW})  # no token at all
        assert r.status_code == 403 and "trang khác" in r.text and "another site" in r.text
        token = csrf(anon)
        r = anon.post("/login", data={"user": "quanly", "password": PW, "csrf_token": "x" * 43})
        assert r.status_code == 403
        evil = {"Origin": "http://evil.example"}
        r = anon.post("/login", data={"user": "quanly", "password": PW, "csrf_token": token}, headers=evil)
        assert r.status_code == 403 and "motcua_session" not in anon.cookies
        r = anon.post("/login", data={"user": "quanly", "password": PW, "csrf_token": token},
                      headers={"Sec-Fetch-Site": "cross-site"})
        assert r.status_code == 403
        r = anon.post("/login", data={"user": "quanly", "password": PW, "csrf_token": token},
                      headers={"Origin": col.url, "Sec-Fetch-Site": "same-origin"})
        assert r.status_code == 303 and r.headers["location"] == "/"  # the real form from the real page
        assert anon.post("/logout").status_code == 403  # logout too
        assert anon.post("/logout", data={"csrf_token": token}, headers=evil).status_code == 403
        assert anon.get("/api/desks").status_code == 200  # still logged in
        assert anon.post("/logout", headers={"X-CSRF-Token": token}).status_code == 303  # a script's POST
        assert anon.get("/api/desks").status_code == 401


def test_every_answer_carries_the_security_headers(col):
    user(col, "quanly")
    s = session(col, "quanly")
    for path in ("/login", "/", "/reports", "/dead-letters", "/devices", "/api/desks", "/api/health",
                 "/static/motcua.css", "/nothing-here"):
        r = s.get(path)
        for k, v in HEADERS.items():
            assert v in r.headers.get(k, ""), (path, k, r.headers.get(k))
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
        assert "unsafe-inline" not in r.headers["content-security-policy"]
    missing = s.get("/nothing-here")
    assert missing.status_code == 404 and "Không tìm thấy trang." in missing.text and "Page not found." in missing.text
    assert missing.text.index("Không tìm thấy") < missing.text.index("Page not found")  # Vietnamese first
    set_cookie = httpx.get(col.url + "/login").headers.get_list("set-cookie")
    assert any(c.startswith("motcua_csrf=") and "SameSite=Strict" in c and "HttpOnly" in c for c in set_cookie)
    assert not any("Secure" in c for c in set_cookie)  # plain HTTP here; secure_cookies = true for TLS


def raw_post(url: str, head: str, body: bytes) -> tuple[bytes, int]:
    """Send the head and as much of the body as the server takes; its answer and the bytes sent."""
    u = urlsplit(url)
    with socket.create_connection((u.hostname, u.port), timeout=20) as sock:
        sock.sendall(head.encode())
        sent = 0
        reply = b""
        try:
            sent += sock.send(body[:65536])
            while chunk := sock.recv(65536):  # the whole answer: the server closes after it
                reply += chunk
        except (BrokenPipeError, ConnectionResetError):
            pass
        return reply, sent


def test_a_64_mib_body_is_refused_before_it_is_read(col):
    size = 64 * 1024 * 1024
    head = (f"POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {size}\r\nConnection: close\r\n\r\n")
    reply, sent = raw_post(col.url, head, b"a" * size)
    assert reply.startswith(b"HTTP/1.1 413"), reply[:200]
    assert sent <= 65536  # the answer came while 64 MiB minus at most 64 KiB were still unsent
    assert "quá lớn".encode() in reply or b"too_large" in reply or b"too large" in reply
    # without a Content-Length (chunked): refused as soon as the bytes read pass the limit
    with httpx.Client(base_url=col.url) as s:
        token = csrf(s)

        def chunks():
            yield f"csrf_token={token}&user=".encode()
            for _ in range(64):
                yield b"a" * (1024 * 1024)

        r = s.post("/login", content=chunks(), headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert r.status_code == 413
    assert httpx.get(col.url + "/api/health").status_code == 200  # and the server is fine


def test_secure_cookies_for_tls(tmp_path: Path):
    from starlette.testclient import TestClient

    from collector.queries import Reader
    from collector.web import LiveHub, create_app
    from common.web.app import WebSettings
    w = open_db(tmp_path / "c.db")
    auth.add_user(w, "quanly", PW)
    w.close()
    reader = Reader(tmp_path / "c.db")
    app = create_app(str(tmp_path / "c.db"), reader, LiveHub(reader, None), health=lambda: {"status": "ok"},
                     settings=WebSettings(secure_cookies=True))
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as c:
        r = login(c, "quanly", PW)
        assert r.status_code == 303
        cookies = r.headers.get_list("set-cookie")
        assert any(k.startswith("motcua_session=") and "Secure" in k and "HttpOnly" in k for k in cookies)
        assert "max-age" in c.get("/").headers["strict-transport-security"]


def test_users_and_tokens_of_an_older_database_keep_working_as_managers(tmp_path: Path):
    from argon2 import PasswordHasher

    from collector import tokens
    from collector.db import connect, migrate
    conn = connect(tmp_path / "old.db")
    migrate(conn, target=3)  # a collector before sessions and roles
    conn.execute("INSERT INTO users (name, password_hash, created_at) VALUES ('quanly', ?, '2026-11-01')",
                 (PasswordHasher().hash(PW),))
    conn.execute("INSERT INTO tokens (name, token_sha256, created_at) VALUES ('bao-cao', ?, '2026-11-01')",
                 (__import__("hashlib").sha256(b"mct_old").hexdigest(),))
    conn.close()
    conn = open_db(tmp_path / "old.db")
    assert auth.verify_user(conn, "quanly", PW) == "manager"
    who = tokens.token_principal(conn, "mct_old")
    assert who is not None and who.role == "manager" and who.name == "bao-cao"
    assert [t["state"] for t in tokens.list_tokens(conn)] == ["active"]


def test_error_pages_are_bilingual_and_a_script_posts_with_the_header(tmp_path: Path):
    """404/405/500 as pages (Vietnamese first) and as JSON for the API; the shared motcua.js helper
    sends the CSRF header a state-changing fetch needs."""
    from starlette.routing import Route
    from starlette.testclient import TestClient

    from collector.queries import Reader
    from collector.web import LiveHub, create_app
    open_db(tmp_path / "c.db").close()
    reader = Reader(tmp_path / "c.db")
    app = create_app(str(tmp_path / "c.db"), reader, LiveHub(reader, None), health=lambda: {"status": "ok"})

    def boom(request):
        raise RuntimeError("a bug")

    app.router.routes.insert(0, Route("/boom", boom))
    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.get("/boom")
        assert r.status_code == 500 and "Lỗi máy chủ" in r.text and "Server error" in r.text
        assert "a bug" not in r.text  # no traceback for the visitor
        r = c.get("/logout")
        assert r.status_code == 405 and "Phương thức không được phép." in r.text
        en = c.get("/nothing?lang=en")
        assert en.status_code == 404 and en.text.index("Page not found.") < en.text.index("Không tìm thấy trang.")
        assert c.get("/api/nothing").json() == {"error": "not_found", "message_vi": "Không tìm thấy trang.",
                                                "message_en": "Page not found."}
        js = c.get("/static/motcua.js")
        assert js.status_code == 200 and "X-CSRF-Token" in js.text
