"""The reports area: ``GET /reports`` (table, four SVG charts, printable on A4), ``GET /reports.csv``
(for Excel) and ``GET /api/reports`` (JSON), for the scope ``reports`` (managers).

The figures come from collector/reports.py and report_series.py, called as they are."""
from __future__ import annotations

from typing import Any, NamedTuple
from urllib.parse import urlencode

from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from common.web.auth import requires
from common.web.i18n import request_lang
from common.web.pages import wants_json
from ..report_web import COLUMNS, charts_svg, key_label, report_csv, row_cells, t
from ..reports import GROUPS, PERIOD_KINDS, BadReportQuery, Period, Report, build_report, zone
from ..backend import Conn
from .state import site_param, web


class Built(NamedTuple):
    conn: Conn
    period: Period
    report: Report
    now: float


def _build(request: Request) -> Built:
    w = web(request)
    qp = request.query_params
    now = w.reader.clock.now()
    period = Period.parse(qp.get("period"), qp.get("date"), now.astimezone(zone(w.tz)).date())
    try:
        levels = int(qp.get("levels") or 2)
    except ValueError:
        raise BadReportQuery(f"Số mức phải là số nguyên 1-5 / levels={qp.get('levels')!r} is not a whole "
                             "number (1-5)") from None
    conn = w.reader.conn
    report = build_report(conn, period, qp.get("by") or "service", levels, w.tz, site=site_param(request), now=now.timestamp(),
                          staff=w.staff)
    return Built(conn, period, report, now.timestamp())


def bad_report_query(request: Request, exc: Exception) -> Response:
    """400 ``bad_query`` with the Vietnamese-then-English message, as JSON or the error page."""
    if wants_json(request) or request.url.path.endswith(".csv"):
        vi, _, en = str(exc).partition(" / ")
        return JSONResponse({"error": "bad_query", "message": str(exc), "message_vi": vi, "message_en": en or vi},
                            status_code=400)
    return web(request).pages.error(request, 400, "bad_query", detail=str(exc))


@requires("reports", page=True)
def report_page(request: Request) -> Response:
    w = web(request)
    lang = request_lang(request)
    conn, period, report, now = _build(request)
    charts, _ = charts_svg(conn, period, report, w.tz, report.site, now, lang)
    q = {k: v for k, v in request.query_params.items() if k != "lang"}
    rows = [{"key": key_label(report, row, lang), "total": row.key == "total", "cells": row_cells(row)}
            for row in [*report.rows, report.total]]
    ctx = {"r": t(lang), "report": report, "rows": rows, "charts": Markup(charts),
           "columns": [(c, en if lang == "en" else vi) for c, vi, en in COLUMNS],
           "periods": PERIOD_KINDS, "groups": GROUPS, "levels": q.get("levels", str(report.satisfaction_levels)),
           "csv_href": "/reports.csv?" + urlencode(q | {"lang": lang}),
           "span": t(lang)["from_to"].format(start=report.start.strftime("%Y-%m-%d %H:%M"),
                                             end=report.end.strftime("%Y-%m-%d %H:%M")),
           "generated": w.reader.clock.now().astimezone(zone(w.tz)).strftime("%Y-%m-%d %H:%M")}
    return w.pages.render(request, "reports.html", ctx)


@requires("reports")
def report_file(request: Request) -> Response:
    report = _build(request).report
    name = f"bao-cao-{report.period.kind}-{report.period.label}-{report.by}.csv"
    return Response(report_csv(report, request_lang(request)), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"})


@requires("reports")
def report_api(request: Request) -> Response:
    w = web(request)
    conn, period, report, now = _build(request)
    _, data = charts_svg(conn, period, report, w.tz, report.site, now, request_lang(request))
    return JSONResponse({**report.as_dict(), "charts": data})


routes = [Route("/reports", report_page, name="reports"), Route("/reports.csv", report_file, name="reports_csv")]
api_routes = [Route("/reports", report_api, name="api_reports")]
EXCEPTION_HANDLERS: dict[type[Exception], Any] = {BadReportQuery: bad_report_query}
