"""The province area (scope ``province``: logins of the whole store, never one bound to a site):

| route | what | scope |
|---|---|---|
| ``GET /tinh`` | every site live, one row each, linking to the site's dashboard (``/?site=``) | province |
| ``GET /api/province`` | the same rows as JSON (static/province.js polls it) | province |
| ``GET /tinh/bao-cao?period=&date=&by=site|department|service`` | the province report | province + reports |
| ``GET /tinh/bao-cao.csv``, ``.xlsx`` | the same as files | province + reports |
| ``GET /api/province/reports`` | the same as JSON | province + reports |

Figures: collector/province_live.py (live) and collector/province_reports.py (from the daily rollups).
"""
from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from common.web.auth import requires
from common.web.i18n import request_lang
from ..exports import province_csv, province_xlsx
from ..periods import PERIOD_KINDS, BadReportQuery, Period, zone
from ..province_live import province_snapshot
from ..province_reports import BY, ProvinceReport, province_report
from ..report_web import COLUMNS, row_cells
from .state import web

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

LABELS: dict[str, tuple[str, str]] = {
    "province_page": ("Tỉnh", "Province"),
    "province_title": ("Toàn tỉnh: các Bộ phận Một cửa", "The province: every one-stop desk"),
    "province_reports": ("Báo cáo toàn tỉnh", "Province reports"),
    "site": ("Đơn vị", "Site"),
    "site_online": ("Trực tuyến", "Online"),
    "longest_wait_target": ("Chờ lâu nhất / mục tiêu", "Longest wait / target"),
    "staffed": ("Quầy có cán bộ", "Desks staffed"),
    "satisfaction_today": ("Hài lòng hôm nay", "Satisfied today"),
    "faulty_devices": ("Thiết bị lỗi", "Faulty devices"),
    "province_link": ("Kết nối về tỉnh", "Link to the province"),
    "link_up": ("Đang kết nối", "Up"),
    "link_down": ("Mất kết nối", "Down"),
    "link_unknown": ("Chưa rõ", "Unknown"),
    "since": ("từ", "since"),
    "open_dashboard": ("Xem chi tiết", "Open dashboard"),
    "no_sites": ("Chưa có đơn vị nào gửi dữ liệu.", "No site has sent data yet."),
    "min": ("phút", "min"),
    "by_site": ("Theo đơn vị", "By site"),
    "by_department": ("Theo sở, ngành", "By department"),
    "by_service": ("Theo lĩnh vực", "By service"),
    "department": ("Sở, ngành", "Department"),
    "period": ("Kỳ báo cáo", "Period"),
    "date": ("Ngày chọn", "Date"),
    "show": ("Xem báo cáo", "Show report"),
    "total": ("Tổng cộng", "Total"),
    "day": ("Ngày", "Day"), "month": ("Tháng", "Month"), "quarter": ("Quý", "Quarter"), "year": ("Năm", "Year"),
    "fair_departments": ("Thời gian chờ và tỷ lệ đúng hạn thuộc về lĩnh vực và đơn vị, không tính cho sở, ngành "
                         "của cán bộ gọi số.",
                         "Waits and the service level belong to services and sites, never to the department "
                         "of the officer who called."),
    "download_csv": ("Tải CSV", "Download CSV"),
    "level_red": ("Vượt ngưỡng", "Over target"),
    "level_amber": ("Gần ngưỡng", "Near target"),
    "level_ok": ("Bình thường", "Normal"),
}


@requires("province", page=True)
async def province_page(request: Request) -> Response:
    w = web(request)
    lang = request_lang(request)
    snap = await run_in_threadpool(province_snapshot, w.reader)
    boot = {"lang": lang, "labels": w.pages.t(lang), "tz": w.tz}
    return w.pages.render(request, "province.html", {"snap": snap, "boot": boot})


@requires("province")
async def province_api(request: Request) -> Response:
    return JSONResponse(await run_in_threadpool(province_snapshot, web(request).reader))


def _report(request: Request) -> ProvinceReport:
    w = web(request)
    qp = request.query_params
    now = w.reader.clock.now()
    today = now.astimezone(zone(w.tz)).date()
    if qp.get("from") or qp.get("to"):
        period = Period.between(qp.get("from") or qp.get("to") or "", qp.get("to") or qp.get("from") or "")
    else:
        period = Period.parse(qp.get("period") or "month", qp.get("date"), today)
    levels = qp.get("levels") or "2"
    if not levels.isdigit():
        raise BadReportQuery(f"Số mức phải là số nguyên 1-5 / levels={levels!r} is not a whole number (1-5)")
    sites = [s for s in qp.getlist("site") if s] or None
    return province_report(w.reader.conn, period, qp.get("by") or "site", int(levels), w.tz, sites=sites,
                           staff=w.staff, now=now.timestamp())


def _label(report: ProvinceReport, key: str, name_vi: str, name_en: str, lang: str) -> str:
    name = name_en if lang == "en" else name_vi
    return name if report.by == "department" or name == key else f"{name} ({key})"


@requires("province", "reports", page=True)
async def report_page(request: Request) -> Response:
    w = web(request)
    lang = request_lang(request)
    report = await run_in_threadpool(_report, request)
    q = {k: v for k, v in request.query_params.items() if k != "lang"}
    rows: list[dict[str, Any]] = [
        {"key": r.key, "label": _label(report, r.key, r.name_vi, r.name_en, lang), "cells": row_cells(r.row),
         "href": f"/reports?{urlencode({'site': r.key, 'period': report.period.kind, 'date': report.period.anchor.isoformat()})}"
         if report.by == "site" else None, "total": False} for r in report.rows]
    rows.append({"key": "total", "label": w.pages.t(lang)["total"], "cells": row_cells(report.total), "href": None,
                 "total": True})
    ctx = {"report": report, "rows": rows, "columns": [(c, en if lang == "en" else vi) for c, vi, en in COLUMNS],
           "periods": PERIOD_KINDS, "groups": BY,
           "today_at": None if report.today_computed is None else
           datetime.fromtimestamp(report.today_computed, zone(w.tz)).isoformat(timespec="seconds"),
           "csv_href": "/tinh/bao-cao.csv?" + urlencode(q), "xlsx_href": "/tinh/bao-cao.xlsx?" + urlencode(q)}
    return w.pages.render(request, "province_reports.html", ctx)


def _name(report: ProvinceReport, ext: str) -> str:
    return f"bao-cao-tinh-{report.period.kind}-{report.period.label}-{report.by}.{ext}"


@requires("province", "reports")
async def report_csv(request: Request) -> Response:
    report = await run_in_threadpool(_report, request)
    return Response(province_csv(report), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{_name(report, "csv")}"',
                             "Cache-Control": "no-store"})


@requires("province", "reports")
async def report_xlsx(request: Request) -> Response:
    report = await run_in_threadpool(_report, request)
    return Response(province_xlsx(report), media_type=XLSX,
                    headers={"Content-Disposition": f'attachment; filename="{_name(report, "xlsx")}"',
                             "Cache-Control": "no-store"})


@requires("province", "reports")
async def report_api(request: Request) -> Response:
    return JSONResponse((await run_in_threadpool(_report, request)).as_dict())


routes = [Route("/tinh", province_page, name="province"),
          Route("/tinh/bao-cao", report_page, name="province_reports"),
          Route("/tinh/bao-cao.csv", report_csv, name="province_reports_csv"),
          Route("/tinh/bao-cao.xlsx", report_xlsx, name="province_reports_xlsx")]
api_routes = [Route("/province", province_api, name="api_province"),
              Route("/province/reports", report_api, name="api_province_reports")]
