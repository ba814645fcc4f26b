"""The report routes over HTTP (Starlette TestClient) in the collector's web app: login enforced
with the collector's real API tokens, HTML page with the four chart figures and bilingual labels,
the shared stylesheet with print CSS for A4, CSV for Excel, JSON."""
from __future__ import annotations

import csv
import io
import re
import xml.etree.ElementTree as ET
from datetime import datetime
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from collector import auth, tokens
from collector.db import open_db
from collector.queries import Reader
from collector.report_web import CHART_TITLES
from collector.web import LiveHub, create_app
from common.clock import FakeClock
from tests.collector.web_client import login

from .fixture import VN, load_ingest

Q = "period=day&date=2026-11-23"


def app_on(path: Path):
    clock = FakeClock(datetime(2026, 11, 24, 9, 0, tzinfo=VN))
    reader = Reader(path, clock)
    return create_app(str(path), reader, LiveHub(reader, None), health=lambda: {"status": "ok"})


@pytest.fixture
def client(tmp_path: Path):
    path = tmp_path / "collector.db"
    load_ingest(path)
    w = open_db(path)
    token = auth.create_token(w, "quanly")
    w.close()
    with TestClient(app_on(path), follow_redirects=False) as c:
        c.headers["Authorization"] = f"Bearer {token}"
        yield c


def test_login_is_required(client):
    anon = {"Authorization": "Bearer mct_wrong"}
    r = client.get(f"/reports?{Q}", headers={"Authorization": ""})
    assert r.status_code == 303 and r.headers["location"] == "/login?next=%2Freports%3F" + Q.replace("=", "%3D").replace("&", "%26")
    r = client.get(f"/reports?{Q}", headers=anon)
    assert r.status_code == 401  # a wrong token is refused, not sent to a login form
    for path in ("/reports.csv", "/api/reports"):
        r = client.get(f"{path}?{Q}", headers=anon)
        assert r.status_code == 401 and r.json()["error"] == "unauthorized" and r.json()["message_vi"]


def test_page_has_table_charts_and_print_css(client):
    r = client.get(f"/reports?{Q}&by=service")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    html = r.text
    for chart in ("arrivals", "waits", "satisfaction", "occupancy"):
        m = re.search(rf'<figure id="chart-{chart}" class="chart-box">.*?(<svg .*?</svg>)</figure>', html, re.S)
        assert m, chart
        svg = ET.fromstring(m.group(1))  # well-formed inline SVG
        assert svg.find("{http://www.w3.org/2000/svg}title").text == CHART_TITLES[chart]
    assert "Lượt đến theo giờ / Arrivals by hour" in html and "Tỷ lệ có mặt tại quầy / Desk occupancy" in html
    assert "Tải CSV" in html and 'id="print"' in html and '<script src="/static/report.js">' in html
    assert "onclick" not in html and "<style" not in html and "style=" not in html  # CSP: no inline script/style
    css = client.get("/static/motcua.css").text
    assert "@media print" in css and "size:A4" in css and '<link rel="stylesheet" href="/static/motcua.css">' in html
    assert '<html lang="vi">' in html and "Lĩnh vực" in html and "Hài lòng (%)" in html
    # the HT row: issued 7, served 4, no-show 1, avg wait 16.3 (16.25), max 30.0, avg service 9.0, level 50.0
    row = re.search(r"<tr><td>HT · Hộ tịch</td>(.*?)</tr>", html).group(1)
    assert re.findall(r"<td>(.*?)</td>", row)[:7] == ["7", "4", "1", "16.3", "30.0", "9.0", "50.0"]
    total = re.search(r'<tr class="total"><td>Tổng cộng</td>(.*?)</tr>', html).group(1)
    cells = re.findall(r"<td>(.*?)</td>", total)
    assert cells[12] == "75.0" and cells[13] == "1" and cells[14:] == ["480", "540", "88.9"]
    # bars: one per hour from 6h to 23h with the arrivals as values
    arrivals = re.search(r'id="chart-arrivals".*?</figure>', html, re.S).group(0)
    assert arrivals.count("<rect ") == 6 and ">6h<" in arrivals and ">23h<" in arrivals


def test_english_switch_and_desk_grouping(client):
    r = client.get(f"/reports?{Q}&by=desk&lang=en")
    assert r.status_code == 200 and r.cookies.get("motcua_lang") == "en"
    html = r.text
    assert '<html lang="en">' in html and "Download CSV" in html and "Tickets issued" in html
    assert "Lượt đến theo giờ / Arrivals by hour" in html  # chart titles stay bilingual, Vietnamese first
    row = re.search(r"<tr><td>Desk 1</td>(.*?)</tr>", html).group(1)
    cells = re.findall(r"<td>(.*?)</td>", row)
    assert cells[0] == "-" and cells[1] == "4" and cells[14:] == ["210", "270", "77.8"]


def test_csv_for_excel(client):
    r = client.get(f"/reports.csv?{Q}&by=officer")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    assert r.content.startswith(b"\xef\xbb\xbf")  # BOM: Excel reads UTF-8
    table = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    head = table[0]
    assert head[:3] == ["Kỳ / Period", "Cán bộ / Officer", "Số phiếu cấp / Tickets issued"]
    assert "Hài lòng (%) / Satisfied (%)" in head and "Có mặt (phút) / Present (min)" in head
    by = {row[1]: dict(zip(head, row)) for row in table[1:]}
    assert set(by) == {"nv-01", "nv-02", "nv-03", "Tổng cộng"}
    nv1 = by["nv-01"]
    assert nv1["Kỳ / Period"] == "2026-11-23" and nv1["Số phiếu cấp / Tickets issued"] == "-"
    assert nv1["Đã phục vụ / Served"] == "2" and nv1["Chờ TB (phút) / Avg wait (min)"] == "-"
    assert nv1["Có mặt (phút) / Present (min)"] == "120" and nv1["Bấm bất thường / Misuse presses"] == "1"
    assert by["Tổng cộng"]["Số phiếu cấp / Tickets issued"] == "8"


def test_json_api_and_bad_queries(client):
    body = client.get(f"/api/reports?{Q}&by=overall&levels=1").json()
    assert body["period"] == {"kind": "day", "date": "2026-11-23", "label": "2026-11-23",
                              "start": "2026-11-23T00:00:00+07:00", "end": "2026-11-24T00:00:00+07:00"}
    assert body["total"]["issued"] == 8 and body["total"]["satisfaction_rate"] == 0.5
    assert body["charts"]["arrivals_by_hour"] == {"6": 1, "7": 2, "8": 1, "9": 1, "10": 2, "23": 1}
    assert body["charts"]["occupancy_by_hour"]["1"]["7"] == 0.5
    month = client.get("/api/reports?period=month&date=2026-11-05").json()
    assert month["period"]["label"] == "2026-11" and month["total"]["issued"] == 10
    today = client.get("/api/reports").json()  # defaults: today (the clock's local day), by service
    assert today["period"]["date"] == "2026-11-24" and today["by"] == "service"
    for bad in ("period=week", "date=24-11-2026", "date=9999-12-31", "by=floor", "levels=x", "levels=9"):
        r = client.get(f"/api/reports?{bad}")
        assert r.status_code == 400 and r.json()["error"] == "bad_query", bad
        vi, en = r.json()["message"].split(" / ", 1)  # Vietnamese first, then English naming the parameter
        assert not vi.isascii() and bad.split("=")[0] in en, r.json()
    assert client.get("/reports?period=week").status_code == 400


def test_reports_need_the_reports_scope(tmp_path: Path):
    """A manager's session sees the reports; a viewer's session and a technician's token do not (403)."""
    path = tmp_path / "collector.db"
    load_ingest(path)
    w = open_db(path)
    auth.add_user(w, "quanly", "mat-khau-dai")
    auth.add_user(w, "manhinh", "mat-khau-dai", role="viewer")
    tech = tokens.create_token(w, "kythuat", role="technician")
    w.close()
    with TestClient(app_on(path), follow_redirects=False) as c:
        assert c.get(f"/reports?{Q}").headers["location"].startswith("/login?next=")
        assert c.get(f"/api/reports?{Q}").status_code == 401
        r = login(c, "quanly", "mat-khau-dai", next=f"/reports?{Q}")
        assert r.status_code == 303 and r.headers["location"] == f"/reports?{Q}"
        page = c.get(f"/reports?{Q}")
        assert page.status_code == 200 and 'id="chart-occupancy"' in page.text and "HT · Hộ tịch" in page.text
        assert c.get(f"/reports.csv?{Q}").content.startswith(b"\xef\xbb\xbf")
        assert c.get(f"/api/reports?{Q}").json()["total"]["issued"] == 8
    with TestClient(app_on(path), follow_redirects=False) as c:
        assert login(c, "manhinh", "mat-khau-dai").status_code == 303
        assert c.get("/").status_code == 200  # the viewer sees the dashboard
        r = c.get(f"/reports?{Q}")
        assert r.status_code == 403 and "không có quyền" in r.text and "may not open" in r.text
        assert 'id="reports-link"' not in c.get("/").text  # and no link to what it may not open
    h = {"Authorization": f"Bearer {tech}"}
    with TestClient(app_on(path), follow_redirects=False) as c:
        r = c.get(f"/api/reports?{Q}", headers=h)
        assert r.status_code == 403 and r.json()["error"] == "forbidden"
        assert c.get("/api/dead-letters", headers=h).status_code == 200


def test_empty_database_renders(tmp_path: Path):
    path = tmp_path / "empty.db"
    w = open_db(path)
    token = auth.create_token(w, "quanly")
    w.close()
    with TestClient(app_on(path), headers={"Authorization": f"Bearer {token}"}) as c:
        for kind in ("day", "year"):
            html = c.get(f"/reports?period={kind}&date=2026-11-23").text
            assert "Không có số liệu trong kỳ này." in html
            for chart in ("arrivals", "waits", "satisfaction", "occupancy"):
                svg = re.search(rf'id="chart-{chart}".*?(<svg .*?</svg>)', html, re.S).group(1)
                ET.fromstring(svg)
        body = c.get("/api/reports?by=desk").json()
        assert body["rows"] == [] and body["total"]["issued"] == 0 and body["total"]["service_level"] is None
