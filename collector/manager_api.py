"""HTTP routes for managers' downloads, comparisons and alerts, thin over the library (a Starlette route
list, mounted by the web layer behind its login like ``collector.report_web.report_routes``):

| route | what |
|---|---|
| ``GET /reports.xlsx?period=&date=&by=`` | any report as XLSX (``from``/``to`` for a custom range; ``service``, ``desk``, ``officer``, ``priority`` filters) |
| ``GET /evaluations.xlsx``, ``/evaluations.pdf?period=month&date=`` | every officer's sheet (one worksheet / page each) |
| ``GET /evaluations/{officer}.xlsx``, ``.pdf`` | one officer's sheet |
| ``GET /satisfaction.xlsx`` | the QĐ 766 satisfaction summary |
| ``GET /api/reports/compare``, ``/api/reports/trend?figure=`` | comparisons (JSON) |
| ``GET /api/reports/tickets``, ``/api/reports/ratings`` | the tickets / ratings behind a figure |
| ``GET /api/alerts`` | open alerts and the conditions now (desk cards) |
| ``POST /api/alerts/{id}/ack`` | acknowledge (the logged-in user) |

Bad queries answer 400 with the message Vietnamese first; not logged in, 401.
"""
from __future__ import annotations

import sqlite3
from dataclasses import asdict
from datetime import date
from typing import Any, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from common.clock import Clock, SystemClock

from .alerts import AlertEngine, desk_cards, open_alerts
from .comparisons import compare, ratings_behind, tickets_behind, trend
from .evaluation import evaluation_sheets, satisfaction_summary
from .exports import report_xlsx, satisfaction_xlsx, sheet_pdf, sheet_xlsx, sheets_pdf, sheets_xlsx
from .periods import DEFAULT_TZ, BadReportQuery, Period, zone
from .reports import Filters, build_report
from .site_config import site_history
from .staff import Staff

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _period(request: Request, today: date) -> Period:
    qp = request.query_params
    if qp.get("from") or qp.get("to"):
        return Period.between(qp.get("from") or qp.get("to") or "", qp.get("to") or qp.get("from") or "")
    return Period.parse(qp.get("period") or "month", qp.get("date"), today)


def _filters(request: Request) -> Filters:
    qp = request.query_params
    desk = qp.get("desk")
    if desk is not None and not desk.isdigit():
        raise BadReportQuery(f"Số quầy không hợp lệ / desk={desk!r} is not a desk number")
    return Filters(service=qp.get("service") or None, desk=int(desk) if desk else None,
                   officer=qp.get("officer") or None, priority=qp.get("priority") or None)


def _file(data: bytes, name: str, media: str) -> Response:
    return Response(data, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"',
                                                     "Cache-Control": "no-store"})


def manager_routes(get_conn: Callable[[], sqlite3.Connection], require_login: Callable[[Request], str | None], *,
                   engine: AlertEngine | None = None, staff: Staff | None = None, tz: str = DEFAULT_TZ,
                   site: str | None = None, clock: Clock | None = None) -> list[Route]:
    clock = clock or SystemClock(tz)
    staff = staff or Staff()
    z = zone(tz)

    def guarded(fn: Callable[[Request, sqlite3.Connection, Period, float], Response]) -> Callable[[Request], Any]:
        async def handler(request: Request) -> Response:
            if require_login(request) is None:
                return JSONResponse({"error": "unauthorized", "message_vi": "Cần đăng nhập",
                                     "message_en": "Log in first"}, status_code=401)
            now = clock.now()
            try:
                return fn(request, get_conn(), _period(request, now.astimezone(z).date()), now.timestamp())
            except BadReportQuery as exc:
                return JSONResponse({"error": "bad_query", "message": str(exc)}, status_code=400)
        return handler

    def levels(request: Request) -> int:
        v = request.query_params.get("levels") or "2"
        if not v.isdigit():
            raise BadReportQuery(f"Số mức phải là số nguyên 1-5 / levels={v!r} is not a whole number (1-5)")
        return int(v)

    def report_file(request: Request, conn: sqlite3.Connection, p: Period, now: float) -> Response:
        rep = build_report(conn, p, request.query_params.get("by") or "service", levels(request), tz, site=site,
                           now=now, staff=staff, filters=_filters(request))
        return _file(report_xlsx(rep, staff), f"bao-cao-{p.label}-{rep.by}.xlsx", XLSX)

    def sheets(conn: sqlite3.Connection, p: Period, now: float, request: Request,
               officer: str | None = None) -> list[Any]:
        return evaluation_sheets(conn, p, staff, tz=tz, site=site, now=now, levels=levels(request),
                                 officers=[officer] if officer else None)

    def all_sheets(request: Request, conn: sqlite3.Connection, p: Period, now: float) -> Response:
        got = sheets(conn, p, now, request)
        if request.url.path.endswith(".pdf"):
            return _file(sheets_pdf(got), f"phieu-danh-gia-{p.label}.pdf", "application/pdf")
        return _file(sheets_xlsx(got), f"phieu-danh-gia-{p.label}.xlsx", XLSX)

    def one_sheet(request: Request, conn: sqlite3.Connection, p: Period, now: float) -> Response:
        officer, ext = request.path_params["officer"], request.path_params["ext"]
        if ext not in ("xlsx", "pdf"):
            raise BadReportQuery(f"Định dạng không hỗ trợ / .{ext} is not offered: dùng / use .xlsx or .pdf")
        s = sheets(conn, p, now, request, officer)[0]
        if ext == "pdf":
            return _file(sheet_pdf(s), f"phieu-danh-gia-{officer}-{p.label}.pdf", "application/pdf")
        return _file(sheet_xlsx(s), f"phieu-danh-gia-{officer}-{p.label}.xlsx", XLSX)

    def satisfaction(request: Request, conn: sqlite3.Connection, p: Period, now: float) -> Response:
        s = satisfaction_summary(conn, p, tz=tz, site=site, levels=levels(request), now=now)
        return _file(satisfaction_xlsx(s), f"hai-long-qd766-{p.label}.xlsx", XLSX)

    def compared(request: Request, conn: sqlite3.Connection, p: Period, now: float) -> Response:
        rows = compare(conn, p, request.query_params.get("by") or "overall", satisfaction_levels=levels(request),
                       tz=tz, site=site, now=now, staff=staff, filters=_filters(request))
        return JSONResponse({"period": p.label, "previous": p.previous().label, "last_year": p.last_year().label,
                             "rows": [{"key": c.key, **{k: (getattr(c, k).as_dict() if getattr(c, k) else None)
                                                        for k in ("now", "previous", "last_year")}} for c in rows]})

    def trended(request: Request, conn: sqlite3.Connection, p: Period, now: float) -> Response:
        figure = request.query_params.get("figure") or "satisfaction_rate"
        pts = trend(conn, p, figure, 12, satisfaction_levels=levels(request), tz=tz, site=site, now=now,
                    staff=staff, filters=_filters(request))
        return JSONResponse({"figure": figure, "points": [{"period": lbl, "value": v} for lbl, v in pts]})

    def tickets(request: Request, conn: sqlite3.Connection, p: Period, now: float) -> Response:
        return JSONResponse({"items": tickets_behind(conn, p, _filters(request), tz=tz, site=site, staff=staff)})

    def ratings(request: Request, conn: sqlite3.Connection, p: Period, now: float) -> Response:
        return JSONResponse({"items": ratings_behind(conn, p, _filters(request), tz=tz, site=site, staff=staff)})

    async def alerts(request: Request) -> Response:
        if require_login(request) is None:
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        conn = get_conn()
        conds = engine.last_conditions if engine is not None else []
        cards = desk_cards(conds, site_history(conn, site).current.desk_services)
        return JSONResponse({"open": open_alerts(conn, site), "conditions": [asdict(c) for c in conds],
                             "desks": {str(k): v for k, v in cards.items()}})

    async def ack(request: Request) -> Response:
        user = require_login(request)
        if user is None:
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        if engine is None:
            return JSONResponse({"error": "no_alerts"}, status_code=404)
        raw = request.path_params["id"]
        got = engine.acknowledge(int(raw), user) if str(raw).isdigit() else None
        if got is None:
            return JSONResponse({"error": "not_found", "message": f"Không có cảnh báo / no alert {raw}"},
                                status_code=404)
        return JSONResponse(got)

    return [Route("/reports.xlsx", guarded(report_file)),
            Route("/evaluations.xlsx", guarded(all_sheets)), Route("/evaluations.pdf", guarded(all_sheets)),
            Route("/evaluations/{officer}.{ext:str}", guarded(one_sheet)),
            Route("/satisfaction.xlsx", guarded(satisfaction)),
            Route("/api/reports/compare", guarded(compared)), Route("/api/reports/trend", guarded(trended)),
            Route("/api/reports/tickets", guarded(tickets)), Route("/api/reports/ratings", guarded(ratings)),
            Route("/api/alerts", alerts), Route("/api/alerts/{id}/ack", ack, methods=["POST"])]
