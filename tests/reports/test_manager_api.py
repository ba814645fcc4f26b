"""The managers' download, comparison and alert routes over HTTP (Starlette TestClient, a real SQLite file
loaded through the collector's writer), with the login refused and bad queries answered 400."""
from __future__ import annotations

import io
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from openpyxl import load_workbook
from starlette.applications import Starlette
from starlette.testclient import TestClient

from collector.alerts import AlertEngine
from collector.db import connect
from collector.manager_api import manager_routes
from collector.manager_config import AlertThresholds
from collector.staff import Officer, Staff
from common.clock import FakeClock

from .fixture import load_ingest

VN = timezone(timedelta(hours=7))
STAFF = Staff([Officer(id="nv-01", name="Nguyễn Thị Lan", department="Phòng Tư pháp")])


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory):
    db = tmp_path_factory.mktemp("api") / "c.db"
    load_ingest(db)
    clock = FakeClock(datetime(2026, 12, 2, 9, 0, tzinfo=VN))
    engine = AlertEngine(db, AlertThresholds.model_validate({"low_rating_run": [1, 2]}), clock=clock)
    engine.evaluate()
    conn = connect(db, readonly=True)
    app = Starlette(routes=manager_routes(lambda: conn, lambda r: r.headers.get("x-user") or None, engine=engine,
                                         staff=STAFF, clock=clock))
    with TestClient(app, headers={"x-user": "giamdoc"}) as c:
        yield c
    conn.close()


def test_downloads(client):
    r = client.get("/reports.xlsx?period=day&date=2026-11-23&by=officer")
    assert r.status_code == 200 and 'filename="bao-cao-2026-11-23-officer.xlsx"' in r.headers["content-disposition"]
    ws = load_workbook(io.BytesIO(r.content)).active
    assert any(c.value == "Nguyễn Thị Lan (nv-01)" for row in ws.iter_rows() for c in row)
    r = client.get("/evaluations.pdf?period=month&date=2026-11-01")
    assert r.status_code == 200 and len(pdfium.PdfDocument(r.content)) == 3  # a page per officer
    wb = load_workbook(io.BytesIO(client.get("/evaluations.xlsx?period=month&date=2026-11-01").content))
    assert wb.sheetnames == ["nv-01", "nv-02", "nv-03"]
    r = client.get("/evaluations/nv-01.pdf?period=month&date=2026-11-01")
    assert r.status_code == 200 and "Nguyễn Thị Lan" in pdfium.PdfDocument(r.content)[0].get_textpage().get_text_range()
    assert client.get("/evaluations/nv-01.xlsx?period=quarter&date=2026-11-01").status_code == 200
    assert client.get("/evaluations/nv-01.doc").status_code == 400
    ws = load_workbook(io.BytesIO(client.get("/satisfaction.xlsx?period=day&date=2026-11-23").content)).active
    assert ws["C3"].value == 4


def test_custom_range_filters_and_drill_down(client):
    r = client.get("/reports.xlsx?from=2026-11-22&to=2026-11-24&service=HT")
    assert r.status_code == 200 and "2026-11-22..2026-11-24" in r.headers["content-disposition"]
    items = client.get("/api/reports/tickets?period=day&date=2026-11-23&desk=1").json()["items"]
    assert [i["ticket"] for i in items] == ["1001", "1002", "1003", "1004"]
    rat = client.get("/api/reports/ratings?period=day&date=2026-11-23&officer=nv-01").json()["items"]
    assert [x["score"] for x in rat] == [5, 5, 5] and rat[0]["officer_name"] == "Nguyễn Thị Lan"
    cmp_ = client.get("/api/reports/compare?period=day&date=2026-11-24").json()
    assert cmp_["previous"] == "2026-11-23" and cmp_["rows"][-1]["previous"]["issued"] == 8
    tr = client.get("/api/reports/trend?period=month&date=2026-11-01&figure=issued").json()
    assert len(tr["points"]) == 12 and tr["points"][-1] == {"period": "2026-11", "value": 10}


def test_bad_queries_and_login(client):
    r = client.get("/api/reports/trend?period=month&date=2026-11-01&figure=speed")
    assert r.status_code == 400 and "figure='speed'" in r.json()["message"]
    r = client.get("/reports.xlsx?from=2026-11-24&to=2026-11-01")
    assert r.status_code == 400 and r.json()["message"].startswith("Khoảng ngày ngược")
    assert client.get("/reports.xlsx?desk=abc").status_code == 400
    assert client.get("/evaluations.xlsx", headers={"x-user": ""}).status_code == 401
    assert client.post("/api/alerts/1/ack", headers={"x-user": ""}).status_code == 401


def test_alerts_list_and_acknowledge(client):
    body = client.get("/api/alerts").json()
    kinds = {a["kind"]: a for a in body["open"]}
    # the fixture's last ratings: desk 2's last is a 1 (low_rating_run [1, 2])
    assert "low_ratings" in kinds and kinds["low_ratings"]["desk"] == 2
    assert body["desks"]["2"]["level"] == "red" and body["desks"]["2"]["services"] == ["HT", "GT"]
    r = client.post(f"/api/alerts/{kinds['low_ratings']['id']}/ack")
    assert r.status_code == 200 and r.json()["acked_by"] == "giamdoc"
    assert client.post("/api/alerts/99999/ack").status_code == 404
