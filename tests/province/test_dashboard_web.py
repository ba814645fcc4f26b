"""The province page and reports served by a real central collector (``--site +``) over a store of
three sites written through the collector's writer: each site's live figures, the drill-down to the
site's dashboard in Chromium at 1280 and 390 px, and logins bound to one site refused the others'."""
from __future__ import annotations

import contextlib
import io
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest

from collector import auth
from collector import province_load as pl
from collector.db import open_db
from tests.collector.web_client import login
from tests.collector.wire import CollectorProcess
from tests.province.dashboard_store import SITES, TZ, ProvinceWriter, fill_live
from tests.support.pg import fresh_database, pg_cluster  # noqa: F401 (the session fixture)
from tests.support.wait import wait_for

try:  # with the collector's PostgreSQL backend (issue 17.2) the central collector stores in PostgreSQL
    import collector.backend  # noqa: F401
    PG = True
except ImportError:
    PG = False

PASSWORD = "mat-khau-rat-dai"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]


@pytest.fixture(scope="module")
def central(module_broker, tmp_path_factory: pytest.TempPathFactory,
            request: pytest.FixtureRequest) -> Iterator[tuple[CollectorProcess, dict[str, Any]]]:
    path = tmp_path_factory.mktemp("central") / "central.db"
    extra: list[str] = []
    db: Any = path
    if PG:  # the province's central collectors store in PostgreSQL (path: the collector's own outbox file)
        db = fresh_database(request.getfixturevalue("pg_cluster"))
        extra = ["--store", db]
    now = datetime.now(TZ)
    expect = fill_live(db, now)
    w = ProvinceWriter(db)  # three past days for the reports
    first = now.date() - timedelta(days=4)
    w.days(SITES, first, 3, now, tickets=6)
    w.close()
    conn = open_db(db)
    auth.add_user(conn, "tinh", PASSWORD, role="manager")  # province-wide
    auth.add_user(conn, "huyen1", PASSWORD, role="manager", site=SITES[0])  # one site's manager
    auth.add_user(conn, "manhinh", PASSWORD, role="viewer")  # a wall screen at the province
    conn.close()
    cfg = path.with_name("collector.toml")  # the province's directory: departments and every site's officers
    cfg.write_text(directory_toml())
    c = CollectorProcess(module_broker.url, path, site="+", extra=["--config", str(cfg), *extra]).start(timeout=60)
    yield c, expect
    c.stop()


def directory_toml() -> str:
    staff = pl.staff_for(SITES)
    out = [f'[[departments]]\ncode = "{d.code}"\nname_vi = "{d.name_vi}"\nname_en = "{d.name_en}"\n'
           for d in staff.departments.values()]
    out += [f'[[officers]]\nid = "{o.id}"\nname = "{o.name}"\ndepartment = "{o.department}"\nsite = "{o.site}"\n'
            for o in staff.officers.values()]
    return "\n".join(out)


@contextlib.contextmanager
def client(c: CollectorProcess, user: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=c.url) as s:
        r = login(s, user, PASSWORD)
        assert r.status_code == 303, r.text
        yield s


def test_province_api_shows_every_site_live(central):
    c, expect = central
    with client(c, "tinh") as s:
        snap = s.get("/api/province").json()
    rows = {r["site"]: r for r in snap["sites"]}
    assert sorted(rows) == SITES
    for site in SITES:
        r = rows[site]
        assert r["waiting"] == expect["waiting"][site], site
        assert r["staffed"] == expect["staffed"][site] and r["desks"] == 4, site
        sat = expect["satisfaction"][site]
        assert r["satisfaction_today"] == (pytest.approx(sat) if sat is not None else None), site
        assert r["href"] == f"/?site={site}"
    a, b, c3 = rows[SITES[0]], rows[SITES[1]], rows[SITES[2]]
    assert a["longest"]["service"] == "HT" and a["longest"]["wait_s"] == pytest.approx(20 * 60, abs=120)
    assert a["longest"]["target_s"] == 15 * 60 and a["wait_level"] == "red"
    assert b["wait_level"] == "amber" and b["link"]["up"] is False and b["link_level"] == "red"
    assert b["offline"] == ["kiosk-01"] and b["online"] is False
    assert a["link"]["up"] is True and a["online"] is True and a["level"] == "red"
    assert c3["link"] is None and c3["faulty"] == ["kiosk-01"] and c3["sat_level"] == "red"
    assert snap["total"]["waiting"] == 6 and snap["total"]["links_down"] == 1


def test_a_site_login_sees_only_its_site(central):
    c, _ = central
    own, other = SITES[0], SITES[1]
    with client(c, "huyen1") as s:
        for path in (f"/?site={other}", f"/api/desks?site={other}", f"/api/queue?site={other}",
                     f"/api/ratings?site={other}", f"/reports?site={other}", f"/api/reports?site={other}",
                     f"/reports.xlsx?site={other}", f"/api/reports/compare?site={other}", f"/devices?site={other}",
                     f"/api/alerts?site={other}", f"/events?site={other}", "/tinh", "/api/province",
                     "/tinh/bao-cao", "/api/province/reports", "/dead-letters"):
            r = s.get(path)
            assert r.status_code == 403, (path, r.status_code)
        # without ?site= every area answers for the login's own site only
        queue = s.get("/api/queue").json()["items"]
        assert queue and {q["site"] for q in queue} == {own}
        assert {d["site"] for d in s.get("/api/desks").json()["items"]} == {own}
        assert {x["site"] for x in s.get("/api/ratings").json()["items"]} == {own}
        assert s.get("/api/reports").json()["site"] == own
        page = s.get("/")
        assert page.status_code == 200 and f'"site": "{own}"' in page.text and other not in page.text
        assert s.get(f"/?site={own}").status_code == 200
        assert 'id="province-link"' not in page.text  # no province link in the header either
    with client(c, "tinh") as s:
        assert s.get(f"/api/queue?site={other}").status_code == 200
        assert {q["site"] for q in s.get(f"/api/queue?site={other}").json()["items"]} == {other}
        assert 'id="province-link"' in s.get("/").text
    with client(c, "manhinh") as s:  # a province wall screen: the page, not the reports
        assert s.get("/tinh").status_code == 200
        assert s.get("/tinh/bao-cao").status_code == 403
    assert httpx.get(c.url + "/api/province").status_code == 401
    r = httpx.get(c.url + "/tinh")
    assert r.status_code == 303 and r.headers["location"].startswith("/login")


def test_province_reports_page_and_files(central):
    c, _ = central
    today = datetime.now(TZ).date()
    day = (today - timedelta(days=3)).isoformat()
    with client(c, "tinh") as s:
        # the collector's rollup job has computed the days that are over: none is computed live
        url = f"/api/province/reports?period=day&date={day}&by=site"
        assert wait_for(lambda: s.get(url).json()["live_days"] == 0, interval=0.3)
        api = s.get(url).json()
        assert [r["key"] for r in api["rows"]] == SITES
        own = s.get(f"/api/reports?period=day&date={day}&by=overall&site={SITES[2]}").json()["total"]
        mine = api["rows"][2]
        for k in ("served", "no_shows", "ratings", "misuse_count", "issued"):
            assert mine[k] == own[k], k
        assert mine["avg_wait_s"] == pytest.approx(own["avg_wait_s"])
        assert mine["served"] > 0
        page = s.get(f"/tinh/bao-cao?period=day&date={day}&by=department")
        assert page.status_code == 200 and "Sở Tư pháp" in page.text and "Báo cáo toàn tỉnh" in page.text
        en = s.get(f"/tinh/bao-cao?period=day&date={day}&by=site&lang=en")
        assert "Province reports" in en.text and f"/reports?site={SITES[0]}" in en.text
        csv = s.get(f"/tinh/bao-cao.csv?period=day&date={day}&by=site")
        assert csv.status_code == 200 and csv.content.startswith(b"\xef\xbb\xbf")
        lines = csv.content.decode("utf-8-sig").splitlines()
        assert len(lines) == 1 + len(SITES) + 1 and "Đơn vị / Site" in lines[0] and SITES[1] in lines[2]
        xlsx = s.get(f"/tinh/bao-cao.xlsx?period=month&date={day}&by=department")
        assert xlsx.status_code == 200
        from openpyxl import load_workbook  # type: ignore[import-untyped]
        ws = load_workbook(io.BytesIO(xlsx.content)).active
        names = [ws.cell(r, 3).value for r in range(4, ws.max_row + 1)]
        assert "Sở Tư pháp / Department of Justice" in names and names[-1] == "Tổng cộng / Total"
        # today: the job's rows of today (computed every minute) are read, not computed live; the page says so
        now_url = f"/api/province/reports?period=day&date={today.isoformat()}&by=site"
        assert wait_for(lambda: s.get(now_url).json()["live_days"] == 0, timeout=60, interval=0.5)
        assert s.get(now_url).json()["today_computed"] > datetime.now(TZ).timestamp() - 180
        page = s.get(f"/tinh/bao-cao?period=day&date={today.isoformat()}&by=site")
        assert "Số liệu hôm nay cập nhật mỗi phút" in page.text and "Today's figures are updated every minute" in page.text
        assert 'id="today-note"' in page.text and "+07:00" in page.text
        assert 'id="today-note"' not in s.get(f"/tinh/bao-cao?period=day&date={day}&by=site").text
        bad = s.get("/api/province/reports?by=officer")
        assert bad.status_code == 400 and "by=" in bad.json()["message"]


@pytest.fixture(scope="module")
def browser():
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.mark.parametrize("width", [1280, 390])
def test_province_page_in_chromium_drills_down_to_a_site(central, browser, artifacts: Path, width: int):
    c, expect = central
    page = browser.new_page(viewport={"width": width, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    page.goto(c.url + "/login?next=/tinh")
    page.fill("#user", "tinh")
    page.fill("#password", PASSWORD)
    page.click("#login")
    page.wait_for_url("**/tinh")
    page.wait_for_selector(f"tr[data-site='{SITES[2]}']")
    for site in SITES:
        row = page.locator(f"tr[data-site='{site}']")
        assert row.locator("td.waiting").inner_text().strip() == str(expect["waiting"][site])
        assert row.locator("td.staffed").inner_text().strip() == f"{expect['staffed'][site]}/4"
        assert row.locator("td.site-name a").is_visible()
    first = page.locator(f"tr[data-site='{SITES[0]}']")
    assert "level-red" in (first.locator("td.longest").get_attribute("class") or "")
    assert "75 %" in first.locator("td.satisfaction").inner_text()
    second = page.locator(f"tr[data-site='{SITES[1]}']")
    assert "level-amber" in (second.locator("td.longest").get_attribute("class") or "")
    assert "Mất kết nối" in second.locator("td.link").inner_text() and "từ" in second.locator("td.link").inner_text()
    assert "level-red" in (second.locator("td.link").get_attribute("class") or "")
    third = page.locator(f"tr[data-site='{SITES[2]}']")
    assert "kiosk-01" in third.locator("td.faults").inner_text()
    # the poll keeps the rows fresh without a reload
    page.wait_for_function("() => (window.motcuaProvinceRenders || 0) >= 2", timeout=15000)
    if width == 390:  # cards, nothing wider than the phone
        assert page.evaluate("() => document.documentElement.scrollWidth") <= width + 1
        assert first.locator("td.waiting").evaluate("e => getComputedStyle(e).display") == "block"
    page.screenshot(path=str(artifacts / f"province-{width}.png"), full_page=True)
    first.locator("td.site-name a").click()
    page.wait_for_url(f"**/?site={SITES[0]}*")
    page.wait_for_selector("#desks .desk")
    page.wait_for_function("() => document.getElementById('live').classList.contains('on')", timeout=15000)
    html = page.content()
    assert SITES[0] in html and SITES[1] not in page.locator("#queue").inner_text()
    page.screenshot(path=str(artifacts / f"province-drill-{width}.png"), full_page=True)
    assert not errors, errors
    page.close()


def test_add_user_binds_a_login_to_one_site(tmp_path: Path):
    from tests.collector.web_client import cli
    db = tmp_path / "c.db"
    ok = cli("add-user", "huyen2", "--db", str(db), "--role", "viewer", "--site", SITES[1], stdin=PASSWORD + "\n")
    assert ok.returncode == 0, ok.stderr
    conn = open_db(db)
    assert auth.list_users(conn) == [{"name": "huyen2", "role": "viewer", "disabled": False,
                                      "created_at": auth.list_users(conn)[0]["created_at"], "site": SITES[1]}]
    conn.close()
    assert cli("add-user", "huyen2", "--db", str(db), "--site", "+", stdin=PASSWORD + "\n").returncode == 0
    conn = open_db(db)
    assert auth.list_users(conn)[0]["site"] is None  # unbound: the whole store
    conn.close()
    bad = cli("add-user", "x1", "--db", str(db), "--site", "Không Hợp Lệ", stdin=PASSWORD + "\n")
    assert bad.returncode != 0 and "site" in bad.stderr
