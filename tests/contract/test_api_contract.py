"""The JSON API and the login over both engines: the real app (collector.web.create_app) on a
SQLite file and on a PostgreSQL database holding the same events answers the same."""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pytest
from starlette.testclient import TestClient

from collector import auth, tokens
from collector.alerts import AlertEngine
from collector.db import SCHEMA_VERSION, open_db
from collector.manager_config import AlertThresholds
from collector.queries import Reader
from collector.store import Store
from collector.web import LiveHub, create_app
from common.clock import FakeClock
from tests.collector.test_ingest import malformed
from tests.collector.test_store import msg
from tests.collector.web_client import login, logout
from tests.reports.fixture import VN, load_ingest

from .conftest import BACKENDS, make_store
from .test_reports_contract import STAFF

NOW = datetime(2026, 11, 23, 10, 15, tzinfo=VN)
PASSWORD = "mat-khau-du-dai-1"


@pytest.fixture(scope="module")
def clients(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """One app per backend, each on a store with the reports' fixture and the same dead letters."""
    out: dict[str, TestClient] = {}
    bad = [msg(t, p) for t, p, _ in malformed()]  # the same messages (ids, times) into both
    for kind in BACKENDS:
        url = make_store(kind, tmp_path_factory.mktemp(f"api-{kind}"), request)
        load_ingest(url)  # type: ignore[arg-type]
        w = open_db(url)
        Store(w).write_batch(bad)
        key = tokens.create_token(w, "giamdoc")
        auth.add_user(w, "quanly", PASSWORD)
        w.close()
        clock = FakeClock(NOW)
        engine = AlertEngine(url, AlertThresholds.model_validate({"low_rating_run": [1, 2]}), clock=clock,
                             staff=STAFF)
        engine.evaluate()
        reader = Reader(url, clock)
        app = create_app(url, reader, LiveHub(reader, None), health=lambda: {"status": "ok"}, alerts=engine,
                         staff=STAFF)
        c = TestClient(app, follow_redirects=False, base_url="http://127.0.0.1")
        c.__enter__()
        c.headers["Authorization"] = f"Bearer {key}"
        out[kind] = c
    yield out
    for c in out.values():
        c.__exit__(None, None, None)


def _strip(body: Any) -> Any:
    """Drop what differs by the moment of the request, not by the store."""
    if isinstance(body, dict):
        return {k: _strip(v) for k, v in body.items() if k not in ("generated_at", "id", "raised_at", "received_at", "received_epoch")}
    if isinstance(body, list):
        return [_strip(v) for v in body]
    return body


def same(clients: dict[str, TestClient], path: str) -> Any:
    got = {}
    for kind, c in clients.items():
        r = c.get(path)
        assert r.status_code == 200, (kind, path, r.status_code, r.text[:300])
        got[kind] = r.json()
    assert _strip(got["postgresql"]) == _strip(got["sqlite"]), path
    return got["sqlite"]


@pytest.mark.parametrize("path", ["/api/desks", "/api/queue", "/api/devices", "/api/dead-letters?limit=5&offset=2",
                                  "/api/dead-letters?reason=bad_topic", "/api/alerts",
                                  "/api/reports?period=day&date=2026-11-23&by=desk",
                                  "/api/reports?period=month&date=2026-11-01&by=officer",
                                  "/api/reports/compare?period=day&date=2026-11-23&by=service",
                                  "/api/reports/trend?period=month&date=2026-11-01&figure=served&n=3",
                                  "/api/reports/tickets?period=month&date=2026-11-01",
                                  "/api/reports/ratings?period=month&date=2026-11-01"])
def test_every_list_is_the_same_on_both(clients, path):
    same(clients, path)


def test_ratings_filters_and_pages(clients):
    assert same(clients, "/api/ratings?limit=1000")["total"] == 6
    day = same(clients, "/api/ratings?from=2026-11-23&to=2026-11-23")
    assert day["total"] == 5  # the 00:30 of the 24th is another local day
    desk1 = same(clients, "/api/ratings?desk=1&limit=2&offset=1")
    assert desk1["total"] == 4 and len(desk1["items"]) == 2
    assert same(clients, "/api/ratings?officer=nv-03&service=GT")["total"] == 2
    since = same(clients, "/api/ratings?from=2026-11-23T07:30:00%2B07:00")
    assert since["total"] == 4 and all(i["ts"] >= "2026-11-23T07:30" for i in since["items"])
    for c in clients.values():
        assert c.get("/api/ratings?limit=0").status_code == 400


def test_health_names_the_schema_version(clients):
    assert same(clients, "/api/health")["schema_version"] == SCHEMA_VERSION


def test_login_session_and_logout_on_both(clients):
    for kind, c in clients.items():
        anon = TestClient(c.app, follow_redirects=False, base_url="http://127.0.0.1")
        assert anon.get("/api/desks").status_code == 401, kind
        r = login(anon, "quanly", PASSWORD)
        assert r.status_code == 303, (kind, r.text[:300])
        assert anon.get("/api/desks").status_code == 200, kind
        assert logout(anon).status_code == 303
        assert anon.get("/api/desks").status_code == 401, kind
        login(anon, "quanly", "sai-mat-khau")
        assert anon.get("/api/desks").status_code == 401, kind


def test_acknowledging_an_alert(clients):
    for kind, c in clients.items():
        open_ = c.get("/api/alerts").json()["open"]
        assert open_, kind
        r = c.post(f"/api/alerts/{open_[0]['id']}/ack")
        assert r.status_code == 200, (kind, r.text[:300])
        assert r.json()["acked_by"] == "giamdoc"


def test_the_report_is_the_day_it_says(clients):
    rep = same(clients, "/api/reports?period=day&date=2026-11-23&by=service")
    assert rep["total"]["served"] == 5 and date.fromisoformat(rep["period"]["start"][:10]) == date(2026, 11, 23)


def test_the_dashboard_snapshot_and_counts(clients):
    """What the dashboard's live page starts from (Reader.snapshot) and the store's counts."""
    readers = {k: c.app.state.web.reader for k, c in clients.items()}
    snaps = {k: _strip(r.snapshot()) for k, r in readers.items()}
    assert snaps["postgresql"] == snaps["sqlite"]
    assert snaps["sqlite"]["dead_letters"] == len(malformed()) and snaps["sqlite"]["desks"]
    assert {k: r.counts() for k, r in readers.items()}["postgresql"] == readers["sqlite"].counts()
    assert readers["sqlite"].counts()["ratings"] == 6
