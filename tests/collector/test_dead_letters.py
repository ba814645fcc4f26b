"""The dead-letters page: behind the login, paged, filtered by reason, the raw payload escaped."""
from __future__ import annotations

import json
import re
import sqlite3

import httpx
import pytest

from collector import auth
from collector.db import open_db
from mqtt import topics
from tests.collector.web_client import login, logout
from tests.collector.wire import SITE, envelope

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
SCRIPT = "<script>alert(1)</script>"
RATING_TOPIC = topics.event(SITE, "rt-09", "rating")


def not_json(note: str = "") -> tuple[str, bytes]:
    return RATING_TOPIC, f'{{"note": "{note}", oops'.encode()


def site_mismatch() -> tuple[str, bytes]:
    env = envelope("rating", {"desk": 9, "score": 4, "scale": 5}, device="rt-09", site="other-site")
    return RATING_TOPIC, json.dumps(env).encode()


def add_user(db) -> None:
    conn = open_db(db)
    auth.add_user(conn, "kythuat", "mat-khau-rat-dai")
    conn.close()


def stored(db) -> list[sqlite3.Row]:
    with sqlite3.connect(db) as c:
        c.row_factory = sqlite3.Row
        return c.execute("SELECT * FROM dead_letters ORDER BY id DESC").fetchall()


def row_ids(html: str) -> list[int]:
    return [int(x) for x in re.findall(r'<tr data-id="(\d+)"', html)]


def test_dead_letters_page_refuses_without_login_then_pages_and_filters(collector, publisher):
    add_user(collector.db)
    r = httpx.get(collector.url + "/dead-letters?reason=not_json")
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    assert r.headers["location"] == "/login?next=%2Fdead-letters%3Freason%3Dnot_json"
    assert "Tin nhắn lỗi" not in r.text
    forged = httpx.get(collector.url + "/dead-letters", cookies={"motcua_session": "forged.cookie.value"})
    assert forged.status_code == 303 and forged.headers["location"].startswith("/login")

    publisher.send_many([not_json(f"bad-{i}") for i in range(52)] + [site_mismatch()])
    assert collector.wait_stored("dead_letters", 53) == 53
    db_rows = stored(collector.db)
    with httpx.Client(base_url=collector.url) as s:
        form = s.get("/login?next=/dead-letters")
        assert 'name="next" value="/dead-letters"' in form.text
        assert 'name="next" value="/"' in s.get("/login?next=//evil.example/x").text  # no open redirect
        ok = login(s, "kythuat", "mat-khau-rat-dai", next="/dead-letters")
        assert ok.status_code == 303 and ok.headers["location"] == "/dead-letters"

        first = s.get("/dead-letters")
        assert first.status_code == 200 and "Tin nhắn lỗi" in first.text and "Lý do" in first.text
        ids = row_ids(first.text)
        assert ids == [r["id"] for r in db_rows[:50]]  # newest first, 50 a page
        api = httpx.get(collector.url + "/api/dead-letters?limit=50", cookies=s.cookies).json()
        assert ids == [it["id"] for it in api["items"]]  # the same query as the API
        assert "1–50" in first.text and "53" in first.text
        assert 'id="older" href="/dead-letters?offset=50&amp;lang=vi"' in first.text and 'id="newer"' not in first.text

        second = s.get("/dead-letters?offset=50")
        assert row_ids(second.text) == [r["id"] for r in db_rows[50:]]
        assert 'id="older"' not in second.text and 'id="newer" href="/dead-letters?lang=vi"' in second.text

        only = s.get("/dead-letters?reason=site_mismatch")
        assert row_ids(only.text) == [db_rows[0]["id"]] and 'data-reason="site_mismatch"' in only.text
        assert '<option value="not_json">Không phải JSON / Not JSON · not_json (52)</option>' in only.text
        assert '<option value="site_mismatch" selected>' in only.text
        none = s.get("/dead-letters?reason=bad_version")
        assert row_ids(none.text) == [] and "Không có tin nhắn lỗi nào." in none.text

        for bad in ("offset=-1", "offset=abc"):
            r = s.get("/dead-letters?" + bad)
            assert r.status_code == 400 and "offset" in r.text, bad
        en = s.get("/dead-letters?lang=en&offset=50")
        assert "Dead letters" in en.text and "Received at" in en.text and "Showing 51–53 of 53" in en.text
        assert logout(s).status_code == 303
        assert s.get("/dead-letters").status_code == 303


@pytest.fixture
def browser():
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


def test_dashboard_count_links_to_the_dead_letters_page_in_chromium(collector, publisher, browser, artifacts):
    add_user(collector.db)
    long_note = SCRIPT + " " + "x" * 400  # longer than the preview: the whole text is in a <details>
    publisher.send_many([not_json(long_note), site_mismatch()])
    assert collector.wait_stored("dead_letters", 2) == 2
    db_rows = stored(collector.db)
    shots = artifacts / "collector"
    shots.mkdir(parents=True, exist_ok=True)

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(collector.url + "/login")
    page.fill("#user", "kythuat")
    page.fill("#password", "mat-khau-rat-dai")
    page.click("#login")
    page.wait_for_function("() => document.getElementById('dead') && document.getElementById('dead').textContent === '2'",
                           timeout=5000)
    page.click("#dead")
    page.wait_for_url("**/dead-letters**")
    page.wait_for_selector("#dead-letters tr[data-id]")

    rows = page.locator("#dead-letters tr[data-id]")
    assert rows.count() == 2
    assert [rows.nth(i).get_attribute("data-reason") for i in range(2)] == ["site_mismatch", "not_json"]
    assert page.locator("#dead-letters td.reason b.reason-code").all_inner_texts() == ["site_mismatch", "not_json"]
    # the reason in words, Vietnamese first
    assert page.locator("#dead-letters td.reason .reason-text").all_inner_texts() == [
        "Đơn vị không khớp chủ đề / Site does not match the topic", "Không phải JSON / Not JSON"]
    assert [page.locator("#dead-letters td.topic").nth(i).inner_text() for i in range(2)] == [RATING_TOPIC] * 2
    # received at in Asia/Ho_Chi_Minh: the collector stored it with +07:00
    for i, r in enumerate(db_rows):
        assert r["received_at"].endswith("+07:00")
        assert rows.nth(i).locator("td.received").inner_text() == r["received_at"][:19].replace("T", " ")
    assert rows.nth(0).locator("td.message").inner_text().startswith("site_mismatch")

    # the raw payload is text, never markup: no script element, no alert, the text is on screen
    bad = rows.nth(1)
    assert page.evaluate("document.querySelectorAll('script').length") == 0
    preview = bad.locator("code.preview").inner_text()
    assert preview.startswith('{"note": "' + SCRIPT) and len(preview) == 301  # 300 characters and an ellipsis
    summary = bad.locator("details summary")
    assert summary.inner_text() == f"Xem toàn bộ ({len(db_rows[1]['payload'])} ký tự)"
    assert not bad.locator("pre.full").is_visible()
    summary.click()
    assert bad.locator("pre.full").inner_text() == db_rows[1]["payload"]
    assert rows.nth(0).locator("details").count() == 0  # a short payload is shown whole
    assert SCRIPT in page.inner_text("#dead-letters") and dialogs == []
    assert page.evaluate("document.querySelectorAll('script').length") == 0
    page.screenshot(path=str(shots / "dead_letters.png"), full_page=True)

    page.select_option("#reason", "not_json")
    page.click("#filter button[type=submit]")
    page.wait_for_url("**reason=not_json**")
    assert page.locator("#dead-letters tr[data-id]").count() == 1

    page.click("#lang")
    page.wait_for_selector("#dead-letters tr[data-id]")
    text = page.inner_text("body")
    assert "Dead letters" in text and "Reason" in text and "Topic" in text and "Payload" in text
    assert "Received at" in text and "Show all (" in text and "Showing 1–1 of 1" in text
    assert page.locator("#dead-letters tr[data-id]").count() == 1  # the filter is kept
    page.screenshot(path=str(shots / "dead_letters_en.png"), full_page=True)
    page.click("#dashboard-link")
    page.wait_for_selector("#desks-panel")
    assert "Device health" in page.inner_text("body")  # the language choice followed
    assert dialogs == []
