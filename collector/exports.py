"""Files managers download, sign and send: every report as XLSX and CSV, the officer evaluation sheet
(phiếu đánh giá) as XLSX and PDF, the QĐ 766 satisfaction summary as XLSX.

XLSX cells hold numbers (counts, minutes, shares as fractions with a % format, dates as dates), with
Vietnamese-style formats (dd/mm/yyyy; Excel shows the decimal separator of the reader's locale). Labels
are Vietnamese first, English second. The PDF is one A4 page in a font with Vietnamese glyphs found on
disk (common.fonts); nothing is downloaded.
"""
from __future__ import annotations

import csv
import io
from typing import Any

from fpdf import FPDF
from openpyxl import Workbook  # type: ignore[import-untyped]
from openpyxl.styles import Alignment, Border, Font, Side  # type: ignore[import-untyped]
from openpyxl.utils import get_column_letter  # type: ignore[import-untyped]
from openpyxl.worksheet.worksheet import Worksheet  # type: ignore[import-untyped]

from common.fonts import vietnamese_font

from . import formats as fmt
from .evaluation import EvaluationSheet, Figure, SatisfactionSummary, period_title
from .province_reports import ProvinceReport
from .reports import Report, ReportRow
from .staff import Staff

BOLD = Font(bold=True)
THIN = Border(*(Side(style="thin"),) * 4)
GROUP_LABELS = {"service": ("Lĩnh vực", "Service"), "desk": ("Quầy", "Desk"), "officer": ("Cán bộ", "Officer"),
                "overall": ("Toàn đơn vị", "Whole site")}
# (header vi, header en, value, xlsx format)
COLUMNS: list[tuple[str, str, Any, str]] = [
    ("Số phiếu cấp", "Tickets issued", lambda r: r.issued, fmt.XLSX_INT),
    ("Đã phục vụ", "Served", lambda r: r.served, fmt.XLSX_INT),
    ("Vắng mặt", "No-shows", lambda r: r.no_shows, fmt.XLSX_INT),
    ("Chờ TB (phút)", "Avg wait (min)", lambda r: _min(r.avg_wait_s), fmt.XLSX_DEC),
    ("Chờ lâu nhất (phút)", "Max wait (min)", lambda r: _min(r.max_wait_s), fmt.XLSX_DEC),
    ("Phục vụ TB (phút)", "Avg service (min)", lambda r: _min(r.avg_service_s), fmt.XLSX_DEC),
    ("Đúng hạn", "Service level", lambda r: r.service_level, fmt.XLSX_PCT),
    *[(f"Mức {i}", f"Level {i}", (lambda r, i=i: r.ratings_by_level.get(i, 0)), fmt.XLSX_INT) for i in range(1, 6)],
    ("Lượt đánh giá", "Ratings", lambda r: r.ratings, fmt.XLSX_INT),
    ("Hài lòng", "Satisfied", lambda r: r.satisfaction_rate, fmt.XLSX_PCT),
    ("Tỷ lệ phản hồi", "Response rate", lambda r: r.response_rate, fmt.XLSX_PCT),
    ("Bấm bất thường", "Misuse presses", lambda r: r.misuse_count, fmt.XLSX_INT),
    ("Có mặt (phút)", "Present (min)", lambda r: r.present_minutes, fmt.XLSX_DEC),
    ("Phải có mặt (phút)", "Expected (min)", lambda r: r.open_minutes, fmt.XLSX_DEC),
    ("Tỷ lệ có mặt", "Presence", lambda r: r.presence_share, fmt.XLSX_PCT),
]


def _min(s: float | None) -> float | None:
    return s / 60 if s is not None else None


def _key_label(report: Report, r: ReportRow, staff: Staff) -> str:
    if r.key == "total":
        return "Tổng cộng / Total"
    if report.by == "officer":
        return staff.label(str(r.key)) if r.key is not None else "(chưa đăng nhập / not signed in)"
    if report.by == "service":
        vi, _ = report.service_names.get(str(r.key), (str(r.key), ""))
        return f"{r.key} · {vi}"
    return str(r.key)


def report_table(report: Report, staff: Staff | None = None) -> tuple[list[str], list[list[Any]]]:
    """Header and rows (numbers as numbers, None for '-') of any report, names from the directory."""
    staff = staff or Staff()
    vi, en = GROUP_LABELS.get(report.by, (report.by, report.by))
    head = ["Kỳ / Period", f"{vi} / {en}"]
    if report.by == "officer":
        head += ["Phòng ban / Department"]
    head += [f"{a} / {b}" for a, b, _, _ in COLUMNS]
    rows = []
    for r in [*report.rows, report.total]:
        line: list[Any] = [report.period.label, _key_label(report, r, staff)]
        if report.by == "officer":
            line.append(staff.department(str(r.key)) if r.key not in (None, "total") else None)
        line += [f(r) for _, _, f, _ in COLUMNS]
        rows.append(line)
    return head, rows


def report_csv(report: Report, staff: Staff | None = None) -> bytes:
    """UTF-8 with BOM (Excel shows Vietnamese); shares in %, minutes with one decimal; '-' when unknown."""
    return _table_csv(*report_table(report, staff))


def _table_csv(head: list[str], rows: list[list[Any]]) -> bytes:
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(head)
    pct = {i for i, (_, _, _, f) in enumerate(COLUMNS) if f == fmt.XLSX_PCT}
    skip = len(head) - len(COLUMNS)
    for line in rows:
        w.writerow([("-" if v is None else (f"{v * 100:.1f}" if i - skip in pct else
                                            (f"{v:.1f}" if isinstance(v, float) else v)))
                    for i, v in enumerate(line)])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def report_xlsx(report: Report, staff: Staff | None = None) -> bytes:
    head, rows = report_table(report, staff)
    return _table_xlsx(f"Báo cáo / Report {report.period.label} · {fmt.day(report.start)} - "
                       f"{fmt.day(report.end.fromordinal(report.end.toordinal() - 1))}",
                       f"Tính từ / measured from: {fmt.day(report.measured_from)}" if report.measured_from else "",
                       head, rows)


def _table_xlsx(title: str, subtitle: str, head: list[str], rows: list[list[Any]]) -> bytes:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "Báo cáo"
    ws.append([title])
    ws["A1"].font = Font(bold=True, size=13)
    ws.append([subtitle])
    ws.append(head)
    for c in ws[3]:
        c.font, c.alignment = BOLD, Alignment(wrap_text=True, vertical="top")
    skip = len(head) - len(COLUMNS)
    for line in rows:
        ws.append(line)
        for i, (_, _, _, f) in enumerate(COLUMNS):
            ws.cell(ws.max_row, skip + i + 1).number_format = f
    for c in ws[ws.max_row]:
        c.font = BOLD
    _widths(ws, [10, 30] + [14] * (len(head) - 2))
    ws.freeze_panes = "C4"
    return _save(wb)


PROVINCE_GROUPS = {"site": ("Đơn vị", "Site"), "department": ("Sở, ngành", "Department"),
                   "service": ("Lĩnh vực", "Service")}


def province_table(report: ProvinceReport) -> tuple[list[str], list[list[Any]]]:
    """Header and rows of a province report (collector/province_reports.py): sites, departments or services."""
    vi, en = PROVINCE_GROUPS[report.by]
    head = ["Kỳ / Period", f"Mã / Code", f"{vi} / {en}"] + [f"{a} / {b}" for a, b, _, _ in COLUMNS]
    rows = [[report.period.label, r.key or "-", f"{r.name_vi} / {r.name_en}" if r.name_en != r.name_vi else r.name_vi]
            + [f(r.row) for _, _, f, _ in COLUMNS] for r in report.rows]
    rows.append([report.period.label, "", "Tổng cộng / Total"] + [f(report.total) for _, _, f, _ in COLUMNS])
    return head, rows


def province_csv(report: ProvinceReport) -> bytes:
    return _table_csv(*province_table(report))


def province_xlsx(report: ProvinceReport) -> bytes:
    head, rows = province_table(report)
    vi, en = PROVINCE_GROUPS[report.by]
    return _table_xlsx(f"Báo cáo toàn tỉnh / Province report {report.period.label} · {fmt.day(report.start)} - "
                       f"{fmt.day(report.end.fromordinal(report.end.toordinal() - 1))}",
                       f"Theo / by: {vi} / {en}", head, rows)


def _widths(ws: Worksheet, widths: list[int]) -> None:
    for i, w in enumerate(widths, 1):
        ws.column_dimensions[get_column_letter(i)].width = w


def _save(wb: Workbook) -> bytes:
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


# -- the evaluation sheet ----------------------------------------------------------------------------

SIGNERS = [("Người được đánh giá", "Officer"), ("Trưởng bộ phận", "Head of unit"), ("Giám đốc", "Director")]
XLSX_KIND = {"int": fmt.XLSX_INT, "pct": fmt.XLSX_PCT, "min": fmt.XLSX_DEC, "dec": fmt.XLSX_DEC}


def _sheet_header(s: EvaluationSheet) -> list[str]:
    vi, en = period_title(s.period)
    return ["CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "Độc lập - Tự do - Hạnh phúc", s.site_name[0],
            "PHIẾU ĐÁNH GIÁ CÁN BỘ, CÔNG CHỨC / OFFICER EVALUATION SHEET",
            f"Kỳ / Period: {vi} / {en} ({fmt.day(s.period.first_day)} - "
            f"{fmt.day(s.period.end_day.fromordinal(s.period.end_day.toordinal() - 1))})"]


def _identity(s: EvaluationSheet) -> list[tuple[str, str]]:
    return [("Họ và tên / Name", s.name or "(chưa có tên trong danh bạ / no name in the directory)"),
            ("Mã cán bộ / Officer id", s.officer), ("Phòng ban / Department", s.department or "-"),
            ("Số thẻ / Badge", s.badge or "-")]


def sheet_xlsx(s: EvaluationSheet) -> bytes:
    """One sheet in a workbook of its own (worksheet "Phiếu đánh giá")."""
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "Phiếu đánh giá"
    _sheet_ws(ws, s)
    return _save(wb)


def sheets_xlsx(sheets: list[EvaluationSheet]) -> bytes:
    """A month's sheets in one workbook, one worksheet per officer (named by officer id)."""
    wb = Workbook()
    first = wb.active
    for s in sheets:
        _sheet_ws(wb.create_sheet(s.officer[:31]), s)
    if first is not None and sheets:
        wb.remove(first)
    return _save(wb)


def _sheet_ws(ws: Worksheet, s: EvaluationSheet) -> None:
    for i, text in enumerate(_sheet_header(s), 1):
        ws.cell(i, 1, text).font = Font(bold=i in (1, 4), size=13 if i == 4 else 11)
        ws.merge_cells(start_row=i, start_column=1, end_row=i, end_column=5)
        ws.cell(i, 1).alignment = Alignment(horizontal="center")
    row = 7
    for k, v in _identity(s):
        ws.cell(row, 1, k).font = BOLD
        ws.cell(row, 2, v)
        row += 1
    ws.cell(row, 1, "Ngày lập / Made on").font = BOLD
    ws.cell(row, 2, s.generated_at.replace(tzinfo=None)).number_format = fmt.XLSX_DATETIME
    row += 2
    for c, text in enumerate(["Chỉ tiêu / Figure", "Kỳ này / This period", "Kỳ trước / Previous",
                              "Thay đổi / Change", "TB đơn vị / Site average"], 1):
        cell = ws.cell(row, c, text)
        cell.font, cell.border, cell.alignment = BOLD, THIN, Alignment(wrap_text=True)
    for f in s.figures:
        row += 1
        ws.cell(row, 1, f"{f.label_vi} / {f.label_en}").border = THIN
        for col, val in enumerate((f.now, f.before, f.change, f.site), 2):
            num = ws.cell(row, col, val)
            num.number_format, num.border = XLSX_KIND[f.kind], THIN
    row += 2
    ws.cell(row, 1, "Nhận xét / Remarks: ................................................................")
    row += 2
    for i, (vi, en) in enumerate(SIGNERS):
        ws.cell(row, 1 + i * 2, f"{vi} / {en}").font = BOLD
        ws.cell(row + 1, 1 + i * 2, "(Ký, ghi rõ họ tên / Sign, full name)")
    _widths(ws, [52, 16, 16, 16, 16])
    ws.page_setup.paperSize, ws.page_setup.orientation = ws.PAPERSIZE_A4, "portrait"
    ws.page_setup.fitToWidth = ws.page_setup.fitToHeight = 1
    ws.sheet_properties.pageSetUpPr.fitToPage = True


def _text(f: Figure, v: float | None) -> str:
    if f.kind == "pct":
        return fmt.share(v)
    if f.kind == "min":
        return fmt.duration(v * 60 if v is not None else None)
    return fmt.number(v, 1 if f.kind == "dec" else (0 if v is None or float(v).is_integer() else 1))


def _change_text(f: Figure) -> str:
    if f.kind == "min":
        c = f.change
        return "-" if c is None else ("+" if c > 0 else "-" if c < 0 else "±") + fmt.duration(abs(c) * 60)
    return fmt.change(f.now, f.before, pct=f.kind == "pct")


def _new_pdf() -> FPDF:
    """An empty A4 document with the Vietnamese fonts (parsing a TTF costs ~0.1 s, so a month's sheets go
    into one document: :func:`sheets_pdf`). Not cached and copied: fpdf2 subsets the font objects in
    place when it writes a document."""
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(False)
    pdf.add_font("vn", "", str(vietnamese_font(False)))
    pdf.add_font("vn", "B", str(vietnamese_font(True)))
    pdf.set_margins(14, 12, 14)
    return pdf


def sheet_pdf(s: EvaluationSheet) -> bytes:
    """One sheet, one A4 page."""
    return sheets_pdf([s])


def sheets_pdf(sheets: list[EvaluationSheet]) -> bytes:
    """Several sheets in one document, one A4 page each (to print a month's sheets at once)."""
    pdf = _new_pdf()
    for s in sheets:
        _sheet_page(pdf, s)
    return bytes(pdf.output())


def _put(pdf: FPDF, x: float, y: float, text: str, width: float | None = None, align: str = "L") -> None:
    """Text at a baseline, left, right (within ``width``) or centred: pdf.text() skips cell()'s line
    breaking, which costs most of a page's time."""
    if align != "L" and width is not None:
        w = pdf.get_string_width(text)
        x = x + width - w - 1.2 if align == "R" else x + (width - w) / 2
    elif align == "L":
        x += 1.2
    pdf.text(x, y, text)


def _sheet_page(pdf: FPDF, s: EvaluationSheet) -> None:
    pdf.add_page()
    left, full = 14.0, 182.0
    y = 18.0
    for i, text in enumerate(_sheet_header(s)):
        pdf.set_font("vn", "B" if i in (0, 1, 3) else "", 13 if i == 3 else 10)
        y += 3 if i == 3 else 0
        _put(pdf, left, y, text, full, "C")
        y += 8 if i == 3 else 5.5
    y += 2
    for k, v in _identity(s) + [("Ngày lập / Made on", fmt.moment(s.generated_at))]:
        pdf.set_font("vn", "B", 9)
        _put(pdf, left - 1.2, y, k)
        pdf.set_font("vn", "", 9)
        _put(pdf, left + 44, y, v)
        y += 5.5
    widths = (94.0, 22.0, 22.0, 22.0, 22.0)
    xs = [left + sum(widths[:i]) for i in range(len(widths) + 1)]
    top = y
    pdf.set_font("vn", "B", 8)
    for (vi, en), x, w in zip((("Chỉ tiêu", "Figure"), ("Kỳ này", "This period"), ("Kỳ trước", "Previous"),
                               ("Thay đổi", "Change"), ("TB đơn vị", "Site average")), xs, widths):
        _put(pdf, x, y + 3.8, vi, w, "C")
        _put(pdf, x, y + 7.8, en, w, "C")
    y += 9.5
    pdf.set_font("vn", "", 7.5)
    row_h = 6.2
    for f in s.figures:
        pdf.line(left, y, left + full, y)
        cells = [f"{f.label_vi} / {f.label_en}", _text(f, f.now), _text(f, f.before), _change_text(f),
                 _text(f, f.site)]
        for i, (text, x, w) in enumerate(zip(cells, xs, widths)):
            _put(pdf, x, y + 4.2, text, w, "L" if i == 0 else "R")
        y += row_h
    pdf.rect(left, top, full, y - top)
    pdf.line(left, top + 9.5, left + full, top + 9.5)
    for x in xs[1:-1]:
        pdf.line(x, top, x, y)
    pdf.set_xy(left, y + 3)
    pdf.set_font("vn", "", 8)
    if s.measured_from:
        pdf.multi_cell(0, 4.5, f"Số liệu tính từ / figures from {fmt.day(s.measured_from)}. Có mặt so với thời "
                               "gian đăng nhập tại quầy hoặc theo lịch trực, trong giờ làm việc / presence against "
                               "the signed-in or rostered time within opening hours. Thời gian chờ không tính cho "
                               "cán bộ / waits are not charged to the officer.", new_x="LMARGIN", new_y="NEXT")
    y = pdf.get_y() + 5
    _put(pdf, left - 1.2, y, "Nhận xét / Remarks: " + "." * 110)
    y += 10
    for i, (vi, en) in enumerate(SIGNERS):
        pdf.set_font("vn", "B", 9)
        _put(pdf, left + i * 62, y, f"{vi} / {en}", 58, "C")
        pdf.set_font("vn", "", 7.5)
        _put(pdf, left + i * 62, y + 5, "(Ký, ghi rõ họ tên / Sign, full name)", 58, "C")


# -- the QĐ 766 satisfaction summary -----------------------------------------------------------------

def satisfaction_xlsx(summary: SatisfactionSummary) -> bytes:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "QĐ 766 - Hài lòng"
    vi, en = period_title(summary.period)
    ws.append([f"{summary.site_name[0]}: Mức độ hài lòng của người dân, doanh nghiệp / Satisfaction of citizens "
               f"and businesses (QĐ 766/QĐ-TTg) · {vi} / {en}"])
    ws["A1"].font = Font(bold=True, size=12)
    ws.append(["Nhóm / Group", "Lượt phục vụ / Served", "Lượt đánh giá / Ratings", "Tỷ lệ phản hồi / Response",
               "Hài lòng / Satisfied", "Tỷ lệ hài lòng / Satisfaction", *[f"Mức {i} / Level {i}" for i in range(5, 0, -1)]])
    for c in ws[2]:
        c.font = BOLD
    lines = [summary.total, *summary.by_service, *summary.by_channel]
    for ln in lines:
        ws.append([f"{ln.label_vi} / {ln.label_en}", ln.served, ln.ratings, ln.response_rate, ln.satisfied, ln.share,
                   *[ln.by_level.get(i, 0) for i in range(5, 0, -1)]])
        for col, f in zip("BCDEF", (fmt.XLSX_INT, fmt.XLSX_INT, fmt.XLSX_PCT, fmt.XLSX_INT, fmt.XLSX_PCT)):
            ws[f"{col}{ws.max_row}"].number_format = f
    ws.append([])
    ws.append([f"Hài lòng = {summary.levels} mức cao nhất của thang đánh giá / satisfied = the top {summary.levels} "
               "levels of the scale; lượt bấm bất thường không tính / misuse presses not counted."])
    _widths(ws, [40, 14, 14, 14, 14, 14, 10, 10, 10, 10, 10])
    return _save(wb)
