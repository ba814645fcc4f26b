"""Comparisons, trends, rankings, drill-down, dead-letter reasons, and the monthly e-mail of the reports
(received by a local SMTP server)."""
from __future__ import annotations

import io
from datetime import date, datetime, timedelta, timezone
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from openpyxl import load_workbook

from collector.comparisons import (compare, dead_letter_reason, ranking, ratings_behind, tickets_behind, trend)
from collector.db import connect
from collector.manager_config import MailConfig, ReportMailConfig
from collector.periods import BadReportQuery, Period
from collector.report_mail import ReportMailer
from collector.reports import Filters, build_report
from collector.staff import Officer, Staff
from tests.support.broker import free_port

from .fixture import load_ingest

VN = timezone(timedelta(hours=7))
DAY = Period("day", date(2026, 11, 23))


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    p = tmp_path_factory.mktemp("cmp") / "c.db"
    load_ingest(p)
    return p


@pytest.fixture
def conn(db: Path):
    c = connect(db, readonly=True)
    yield c
    c.close()


def test_compare_previous_and_last_year(conn):
    rows = {c.key: c for c in compare(conn, Period("day", date(2026, 11, 24)), by="service")}
    # the 24th: one HT ticket issued; the 23rd: 7 HT issued
    ht = rows["HT"]
    assert ht.now is not None and ht.now.issued == 1 and ht.previous is not None and ht.previous.issued == 7
    assert ht.delta("issued") == -6 and ht.last_year is None and ht.delta("issued", "last_year") is None
    assert rows["total"].delta("issued") == 1 - 8
    with pytest.raises(BadReportQuery, match="figure='speed'"):
        ht.delta("speed")


def test_trend_twelve_months(conn):
    t = trend(conn, Period("month", date(2026, 11, 1)), "issued")
    assert [label for label, _ in t][0] == "2025-12" and t[-1] == ("2026-11", 10) and len(t) == 12
    assert dict(t)["2026-10"] == 0


def test_ranking_follows_the_figure_direction(conn):
    rep = build_report(conn, DAY, by="desk")
    # service time: desk 2 (4 min) is better than desk 1 (9 min); desk 3 served nobody: unranked
    ranked = [(n, r.key) for n, r in ranking(rep, "avg_service_s")]
    assert ranked == [(1, 2), (2, 1), (0, 3)]
    assert [r.key for n, r in ranking(rep, "served")][:2] == [1, 2]


def test_drill_down_to_tickets_and_ratings(conn):
    staff = Staff([Officer(id="nv-02", name="Lê Minh")])
    t = tickets_behind(conn, DAY, Filters(officer="nv-02"), staff=staff)
    assert [x["ticket"] for x in t] == ["1003", "1004"] and t[0]["officer_name"] == "Lê Minh"
    assert t[1]["wait_s"] == 1800 and t[1]["open_wait_s"] == pytest.approx(1800)
    assert t[0]["local_time"] == "10:20 23/11/2026"
    r = ratings_behind(conn, DAY, Filters(desk=1))
    assert [x["score"] for x in r] == [5, 5, 5, 4] and [x["misuse"] for x in r].count(True) == 1
    assert {x["channel"] for x in r} == {"terminal"}


def test_dead_letter_reasons_vietnamese_first():
    assert dead_letter_reason("not_json") == "Không phải JSON / Not JSON (not_json)"
    assert dead_letter_reason("forbidden").startswith("Thiết bị không được phép gửi / ")
    assert dead_letter_reason("something_new") == "something_new"


def test_font_missing_says_what_to_install(monkeypatch):
    from common import fonts
    fonts.vietnamese_font.cache_clear()
    monkeypatch.setattr(fonts, "font_dirs", lambda: [])
    with pytest.raises(fonts.NoVietnameseFont, match="fonts-dejavu-core"):
        fonts.vietnamese_font()
    fonts.vietnamese_font.cache_clear()


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"


def test_monthly_report_mail(tmp_path: Path):
    db = tmp_path / "m.db"
    load_ingest(db)
    inbox = Inbox()
    smtp = Controller(inbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    try:
        mailer = ReportMailer(db, ReportMailConfig(to=["giamdoc@camau-hcc.gov.vn"], day_of_month=1, hour=7),
                              MailConfig.model_validate({"host": "127.0.0.1", "port": smtp.port, "to": []}),
                              staff=Staff([Officer(id="nv-01", name="Nguyễn Thị Lan")]))
        assert mailer.due(datetime(2026, 12, 1, 6, 59, tzinfo=VN)) is None  # before 07:00
        at = datetime(2026, 12, 1, 7, 5, tzinfo=VN)
        assert mailer.due(at) == Period("month", date(2026, 11, 1))
        mailer.tick(at)
        mailer.tick(at + timedelta(hours=1))  # sent once a month, not every tick
        assert len(inbox.messages) == 1
        m = inbox.messages[0]
        assert m["To"] == "giamdoc@camau-hcc.gov.vn"
        files = {p.get_filename(): p.get_payload(decode=True) for p in m.iter_attachments()}
        assert set(files) == {"bao-cao-service-2026-11.xlsx", "bao-cao-desk-2026-11.xlsx", "bao-cao-officer-2026-11.xlsx",
                              "hai-long-qd766-2026-11.xlsx", "phieu-danh-gia-nv-01-2026-11.pdf",
                              "phieu-danh-gia-nv-02-2026-11.pdf", "phieu-danh-gia-nv-03-2026-11.pdf"}
        ws = load_workbook(io.BytesIO(files["bao-cao-officer-2026-11.xlsx"])).active
        assert any(c.value == "Nguyễn Thị Lan (nv-01)" for row in ws.iter_rows() for c in row)
        assert files["phieu-danh-gia-nv-01-2026-11.pdf"].startswith(b"%PDF")
        assert mailer.due(datetime(2027, 1, 1, 8, 0, tzinfo=VN)) == Period("month", date(2026, 12, 1))
    finally:
        smtp.stop()
