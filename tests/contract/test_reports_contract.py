"""The reports on both engines: the same events (tests/reports/fixture.py, through the real writer)
give the hand-computed figures on each, and identical reports, evaluations, comparisons, series
and alerts on SQLite and PostgreSQL."""
from __future__ import annotations

import dataclasses
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

from collector.alert_rules import Rules
from collector.comparisons import compare, ratings_behind, tickets_behind, trend
from collector.db import connect
from collector.evaluation import evaluation_sheets, satisfaction_summary
from collector.manager_config import AlertThresholds
from collector.province_reports import province_report
from collector.report_series import arrivals_by_hour, occupancy_by_hour, satisfaction_over_time, waits_by_hour
from collector.reports import GROUPS, Period, build_report
from collector.rollups import refresh
from collector.staff import Officer, Staff
from collector.staffing import desk_officers, officer_zone
from tests.reports import test_figures as figures
from tests.reports.fixture import VN, load_ingest

from .conftest import BACKENDS, make_store

DAY = Period("day", date(2026, 11, 23))
PERIODS = [DAY, Period("month", date(2026, 11, 1)), Period("quarter", date(2026, 11, 1)),
           Period("year", date(2026, 1, 1)), Period.between(date(2026, 11, 22), date(2026, 11, 24))]
STAFF = Staff([Officer(id="nv-01", name="Nguyễn Thị Lan", department="Phòng Tư pháp")])
NOW = datetime(2026, 11, 23, 10, 15, tzinfo=VN)


@pytest.fixture(scope="module")
def loaded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The fixture's events written by the collector's writer into one store per backend."""
    out = {}
    for kind in BACKENDS:
        url = make_store(kind, tmp_path_factory.mktemp(kind), request)
        load_ingest(url)  # type: ignore[arg-type]
        out[kind] = url
    return out


@pytest.fixture(params=BACKENDS)
def conn(request: pytest.FixtureRequest, loaded: dict[str, str]):
    c = connect(loaded[request.param], readonly=True)
    yield c
    c.close()


@pytest.fixture(scope="module")
def both(loaded: dict[str, str]):
    conns = {k: connect(v, readonly=True) for k, v in loaded.items()}
    yield conns
    for c in conns.values():
        c.close()


# the hand-computed figures of tests/reports, on each engine
@pytest.mark.parametrize("check", [figures.test_by_service_day, figures.test_satisfaction_levels_configurable,
                                   figures.test_by_desk_day, figures.test_by_officer_day, figures.test_overall_day,
                                   figures.test_now_cuts_presence_and_opening,
                                   figures.test_longer_periods_include_local_edges,
                                   figures.test_month_opening_minutes, figures.test_chart_data],
                         ids=lambda f: f.__name__.removeprefix("test_"))
def test_hand_computed_figures(conn, check):
    check(conn)


def same(both: dict[str, Any], fn: Any, *args: Any, **kw: Any) -> Any:
    """``fn(conn, ...)`` on each engine; the results must be equal (and not empty)."""
    got = {k: fn(c, *args, **kw) for k, c in both.items()}
    assert got["postgresql"] == got["sqlite"], fn.__name__
    assert got["sqlite"], f"{fn.__name__}: nothing to compare"
    return got["sqlite"]


@pytest.mark.parametrize("period", PERIODS, ids=lambda p: p.label)
def test_reports_are_identical(both, period):
    for by in GROUPS:
        rep = same(both, build_report, period, by, 2, site="camau-hcc", staff=STAFF, now=NOW.timestamp())
        assert dataclasses.asdict(rep)  # a dataclass all the way down: compared field by field above
    assert same(both, build_report, period, "officer").total.served == 5


def test_evaluations_and_satisfaction_summary_are_identical(both):
    month = Period("month", date(2026, 11, 1))
    sheets = same(both, evaluation_sheets, month, STAFF, levels=2, now=NOW.timestamp())
    assert [s.officer for s in sheets] == ["nv-01", "nv-02", "nv-03"]
    summary = same(both, satisfaction_summary, month, levels=2)
    assert summary.total.ratings == 5


def test_comparisons_series_and_staffing_are_identical(both):
    month = Period("month", date(2026, 11, 1))
    for by in ("overall", "service", "desk", "officer"):
        same(both, compare, DAY, by)
    same(both, trend, month, "served", 3)
    assert len(same(both, tickets_behind, month)) == 6
    assert [r["channel"] for r in same(both, ratings_behind, month)] == ["terminal"] * 6
    same(both, arrivals_by_hour, DAY)
    same(both, waits_by_hour, DAY)
    same(both, satisfaction_over_time, month)
    same(both, occupancy_by_hour, DAY)
    start, end = DAY.epochs(VN)
    same(both, officer_zone, start, end)
    same(both, desk_officers, start, end, "camau-hcc")


def test_alert_conditions_are_identical(both):
    rules = Rules(AlertThresholds.model_validate({"low_rating_run": [1, 2]}), STAFF)
    conds = same(both, rules.conditions, NOW)
    assert {c.kind for c in conds} >= {"low_ratings"}


def test_province_rollups_and_reports_are_identical(loaded: dict[str, str]):
    """The daily rollups written on each engine, then the province report read from them (and from
    the events for the days still open) by site, department and service."""
    later = datetime(2026, 12, 2, 9, 0, tzinfo=VN).timestamp()  # November is over: its days are rolled up
    writers = {k: connect(v) for k, v in loaded.items()}
    done = {k: refresh(c, STAFF, "Asia/Ho_Chi_Minh", later) for k, c in writers.items()}
    assert done["postgresql"].days == done["sqlite"].days and done["sqlite"].computed >= 2
    month = Period("month", date(2026, 11, 1))
    for by in ("site", "department", "service"):
        rep = same(writers, province_report, month, by, staff=STAFF, now=later)
        assert rep.live_days == 0, by  # read from the rollups, not the events
    assert same(writers, province_report, month, "site", now=later).total.served == 5
    assert same(writers, province_report, Period("day", date(2026, 12, 2)), "site", now=later).total.served == 0
    for c in writers.values():
        c.close()


def test_fixture_is_really_on_both_engines(loaded: dict[str, str]):
    assert not Path(loaded["postgresql"]).exists() and loaded["postgresql"].startswith("postgresql://")
    assert Path(loaded["sqlite"]).is_file()
