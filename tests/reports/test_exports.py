"""Evaluation sheets, report exports and the QĐ 766 satisfaction summary: the XLSX opened with openpyxl and
its cells checked, the PDF turned into a PNG (pypdfium2) and its text and ink checked."""
from __future__ import annotations

import csv
import io
from datetime import date, datetime
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from openpyxl import load_workbook

from collector import formats as fmt
from collector.db import connect
from collector.evaluation import evaluation_sheets, period_title, satisfaction_summary
from collector.exports import report_csv, report_xlsx, satisfaction_xlsx, sheet_pdf, sheet_xlsx
from collector.periods import Period
from collector.reports import build_report
from collector.staff import Officer, Staff

from .fixture import load_ingest

NOV = Period("month", date(2026, 11, 1))
STAFF = Staff([Officer(id="nv-01", name="Nguyễn Thị Lan", department="Phòng Tư pháp", badge="B-01"),
               Officer(id="nv-03", name="Trần Văn Hùng", department="Phòng Quản lý đô thị")])
NOW = datetime(2026, 12, 2, 8, 0).timestamp()


@pytest.fixture
def conn(tmp_path: Path):
    load_ingest(tmp_path / "c.db")
    c = connect(tmp_path / "c.db", readonly=True)
    yield c
    c.close()


def _rows(ws) -> dict[str, tuple]:
    return {str(r[0].value).split(" / ")[-1]: tuple(c.value for c in r[1:5]) for r in ws.iter_rows()
            if isinstance(r[0].value, str) and " / " in r[0].value}


def test_month_sheet_figures(conn):
    sheets = {s.officer: s for s in evaluation_sheets(conn, NOV, STAFF, now=NOW)}
    assert set(sheets) == {"nv-01", "nv-02", "nv-03"}
    s = sheets["nv-01"]
    assert (s.display_name, s.department, s.badge) == ("Nguyễn Thị Lan", "Phòng Tư pháp", "B-01")
    f = {x.key: x for x in s.figures}
    # nv-01: 1001 and 1002 served (6 and 8 min), ratings 5 and 5 (+ a misuse), present 120 of 180 signed-in min
    assert (f["served"].now, f["avg_service_min"].now, f["ratings"].now) == (2, pytest.approx(7.0), 2)
    assert f["satisfaction"].now == 1.0 and f["response_rate"].now == 1.0 and f["response_terminal"].now == 1.0
    assert f["level_5"].now == 2 and f["level_4"].now == 0 and f["misuse"].now == 1
    assert f["presence"].now == pytest.approx(120 / 180)
    # site: 5 served by 3 officers; month ratings 5, 5, 4, 2, 1 -> 3 of 5 satisfied; avg service (6+8+10+12+4)/5
    assert f["served"].site == pytest.approx(5 / 3) and f["satisfaction"].site == pytest.approx(0.6)
    assert f["avg_service_min"].site == pytest.approx(8.0)
    assert f["served"].before is None and s.previous.label == "2026-10"  # no data in October
    assert sheets["nv-02"].name is None and sheets["nv-02"].display_name == "nv-02"


def test_change_from_previous_period(conn):
    # nv-03 on Tuesday 24th against Monday 23rd: served 0 vs 1, ratings 1 vs 1, present all day both days
    s = next(x for x in evaluation_sheets(conn, Period("day", date(2026, 11, 24)), STAFF) if x.officer == "nv-03")
    f = {x.key: x for x in s.figures}
    assert (f["served"].now, f["served"].before, f["served"].change) == (0, 1, -1)
    assert f["ratings"].change == 0 and f["presence"].change == pytest.approx(0.0)


def test_sheet_xlsx_cells(conn, tmp_path: Path):
    s = next(x for x in evaluation_sheets(conn, NOV, STAFF, now=NOW) if x.officer == "nv-01")
    wb = load_workbook(io.BytesIO(sheet_xlsx(s)))
    ws = wb["Phiếu đánh giá"]
    assert ws["A4"].value.startswith("PHIẾU ĐÁNH GIÁ CÁN BỘ, CÔNG CHỨC")
    assert "Tháng 11/2026" in ws["A5"].value and "01/11/2026 - 30/11/2026" in ws["A5"].value
    ident = {r[0].value: r[1] for r in ws.iter_rows(min_row=7, max_row=11)}
    assert ident["Họ và tên / Name"].value == "Nguyễn Thị Lan" and ident["Số thẻ / Badge"].value == "B-01"
    made = ident["Ngày lập / Made on"]
    assert isinstance(made.value, datetime) and made.number_format == fmt.XLSX_DATETIME
    rows = _rows(ws)
    assert rows["Tickets served"][0] == 2 and isinstance(rows["Tickets served"][0], int)
    assert rows["Satisfaction share (top 2 levels)"][0] == 1.0
    sat = next(r for r in ws.iter_rows() if str(r[0].value).endswith("Satisfaction share (top 2 levels)"))
    assert sat[1].number_format == fmt.XLSX_PCT and sat[4].value == pytest.approx(0.6)
    assert rows["Presence share at the desk"][0] == pytest.approx(2 / 3)
    assert rows["Average service time"][0] == pytest.approx(7.0)
    texts = [c.value for r in ws.iter_rows() for c in r if isinstance(c.value, str)]
    assert "Giám đốc / Director" in texts and "Trưởng bộ phận / Head of unit" in texts
    assert str(ws.page_setup.paperSize) == ws.PAPERSIZE_A4 == "9"  # A4


def test_sheet_pdf_renders_vietnamese(conn, tmp_path: Path):
    s = next(x for x in evaluation_sheets(conn, NOV, STAFF, now=NOW) if x.officer == "nv-03")
    data = sheet_pdf(s)
    assert data.startswith(b"%PDF")
    doc = pdfium.PdfDocument(data)
    assert len(doc) == 1  # one page to sign
    page = doc[0]
    w, h = page.get_size()
    assert (round(w), round(h)) == (595, 842)  # A4 in points
    text = page.get_textpage().get_text_range()
    for want in ("PHIẾU ĐÁNH GIÁ CÁN BỘ, CÔNG CHỨC", "Trần Văn Hùng", "Phòng Quản lý đô thị", "Tháng 11/2026",
                 "Tỷ lệ hài lòng", "4 phút 0 giây", "Giám đốc / Director", "Ký, ghi rõ họ tên"):
        assert want in text, want
    png = tmp_path / "sheet.png"
    img = page.render(scale=1.5).to_pil().convert("L")
    img.save(png)
    # ink where the title and the table are, blank paper below the signatures
    title = img.crop((0, int(h * 1.5 * 0.10), img.width, int(h * 1.5 * 0.14)))
    assert min(title.getdata()) < 80
    assert min(img.crop((0, int(img.height * 0.9), img.width, img.height)).getdata()) > 200


def test_report_xlsx_and_csv_show_names(conn):
    rep = build_report(conn, Period("day", date(2026, 11, 23)), by="officer", staff=STAFF)
    ws = load_workbook(io.BytesIO(report_xlsx(rep, STAFF))).active
    head = [c.value for c in ws[3]]
    assert head[:3] == ["Kỳ / Period", "Cán bộ / Officer", "Phòng ban / Department"]
    by = {r[1].value: r for r in ws.iter_rows(min_row=4)}
    lan = by["Nguyễn Thị Lan (nv-01)"]
    served = head.index("Đã phục vụ / Served")
    presence = head.index("Tỷ lệ có mặt / Presence")
    assert lan[served].value == 2 and lan[presence].value == pytest.approx(120 / 180)
    assert lan[presence].number_format == fmt.XLSX_PCT and lan[2].value == "Phòng Tư pháp"
    assert by["nv-02"][served].value == 2  # no name in the directory: the id
    assert "Tổng cộng / Total" in by
    table = list(csv.reader(io.StringIO(report_csv(rep, STAFF).decode("utf-8-sig"))))
    row = next(r for r in table if r[1] == "Nguyễn Thị Lan (nv-01)")
    assert row[served] == "2" and row[presence] == "66.7"


def test_satisfaction_summary_qd766(conn):
    s = satisfaction_summary(conn, Period("day", date(2026, 11, 23)))
    assert (s.total.ratings, s.total.satisfied, s.total.share) == (4, 3, 0.75)
    by = {x.key: x for x in s.by_service}
    assert (by["HT"].ratings, by["HT"].satisfied, by["GT"].share) == (3, 3, 0.0)
    assert {x.key: x.ratings for x in s.by_channel} == {"terminal": 4, "portal": 0}
    ws = load_workbook(io.BytesIO(satisfaction_xlsx(s))).active
    assert "QĐ 766/QĐ-TTg" in ws["A1"].value
    assert ws["C3"].value == 4 and ws["F3"].value == 0.75 and ws["F3"].number_format == fmt.XLSX_PCT


def test_formats():
    assert fmt.duration(278) == "4 phút 38 giây" and fmt.duration(278, "en") == "4 min 38 s"
    assert fmt.duration(3900) == "1 giờ 05 phút" and fmt.duration(None) == "-" and fmt.duration(9) == "9 giây"
    assert fmt.duration_both(278) == "4 phút 38 giây / 4 min 38 s"
    assert fmt.day(date(2026, 11, 3)) == "03/11/2026"
    assert fmt.number(1234.5, 1) == "1.234,5" and fmt.number(1234.5, 1, "en") == "1,234.5"
    assert fmt.share(0.875) == "87,5 %" and fmt.change(0.9, 0.85, pct=True) == "+5,0 điểm %"
    assert period_title(Period("quarter", date(2026, 11, 1))) == ("Quý IV/2026", "Q4 2026")
