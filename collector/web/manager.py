"""The managers' area: downloads, comparisons and alerts, thin over the library (collector/evaluation.py,
exports.py, comparisons.py, alerts.py), each endpoint under ``requires``:

| route | what | scope |
|---|---|---|
| ``GET /reports.xlsx?period=&date=&by=`` | any report as XLSX (``from``/``to`` for a custom range; ``service``, ``desk``, ``officer``, ``priority`` filters) | reports |
| ``GET /evaluations.xlsx``, ``/evaluations.pdf?period=month&date=`` | every officer's sheet (one worksheet / page each) | reports |
| ``GET /evaluations/{officer}.xlsx``, ``.pdf`` | one officer's sheet | reports |
| ``GET /satisfaction.xlsx`` | the QĐ 766 satisfaction summary | reports |
| ``GET /api/reports/compare``, ``/api/reports/trend?figure=`` | comparisons (JSON) | reports |
| ``GET /api/reports/tickets``, ``/api/reports/ratings`` | the tickets / ratings behind a figure (citizens' comments and phone numbers only with ``citizen_data``) | reports |
| ``GET /api/alerts`` | open alerts and the conditions now (desk cards) | dashboard |
| ``POST /api/alerts/{id}/ack`` | acknowledge (the logged-in user) | reports (managers only) |

Bad queries raise :class:`BadReportQuery`, answered by the reports area's handler (the bilingual page,
or JSON for /api and Bearer clients); not logged in / a missing scope: the web layer's 401 / 403.
"""
from __future__ import annotations

from dataclasses import asdict
from typing import Any, NamedTuple

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from common.web.auth import current, requires
from ..alerts import desk_cards, open_alerts
from ..comparisons import compare, ratings_behind, tickets_behind, trend
from ..evaluation import evaluation_sheets, satisfaction_summary
from ..exports import report_xlsx, satisfaction_xlsx, sheet_pdf, sheet_xlsx, sheets_pdf, sheets_xlsx
from ..periods import BadReportQuery, Period, zone
from ..reports import Filters, build_report
from ..site_config import site_history
from ..backend import Conn
from .state import WebState, site_param, web

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ACK_SCOPE = "reports"  # held by managers only (common/web/auth.py ROLE_SCOPES)
CITIZEN_FIELDS = ("comment", "phone", "citizen_phone")  # dropped without ``citizen_data``


class Ask(NamedTuple):
    """One manager's query: the shared state, the reader's connection, the period and now (epoch s)."""
    w: WebState
    conn: Conn
    period: Period
    now: float
    site: str | None  # the site asked (a login bound to one site: that one)


def _period(request: Request, today: Any) -> Period:
    qp = request.query_params
    if qp.get("from") or qp.get("to"):
        return Period.between(qp.get("from") or qp.get("to") or "", qp.get("to") or qp.get("from") or "")
    return Period.parse(qp.get("period") or "month", qp.get("date"), today)


def _ask(request: Request) -> Ask:
    w = web(request)
    now = w.reader.clock.now()
    return Ask(w, w.reader.conn, _period(request, now.astimezone(zone(w.tz)).date()), now.timestamp(),
               site_param(request))


def _filters(request: Request) -> Filters:
    qp = request.query_params
    desk = qp.get("desk")
    if desk is not None and not desk.isdigit():
        raise BadReportQuery(f"Số quầy không hợp lệ / desk={desk!r} is not a desk number")
    return Filters(service=qp.get("service") or None, desk=int(desk) if desk else None,
                   officer=qp.get("officer") or None, priority=qp.get("priority") or None)


def _levels(request: Request) -> int:
    v = request.query_params.get("levels") or "2"
    if not v.isdigit():
        raise BadReportQuery(f"Số mức phải là số nguyên 1-5 / levels={v!r} is not a whole number (1-5)")
    return int(v)


def _file(data: bytes, name: str, media: str) -> Response:
    return Response(data, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"',
                                                     "Cache-Control": "no-store"})


def _sheets(request: Request, a: Ask, officer: str | None = None) -> list[Any]:
    return evaluation_sheets(a.conn, a.period, a.w.staff, tz=a.w.tz, site=a.site, now=a.now,
                             levels=_levels(request), officers=[officer] if officer else None)


def _private(request: Request, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Citizens' comments and phone numbers stay only for a user holding ``citizen_data``."""
    if "citizen_data" in request.auth.scopes:
        return items
    return [{k: v for k, v in i.items() if k not in CITIZEN_FIELDS} for i in items]


@requires("reports")
def report_file(request: Request) -> Response:
    a = _ask(request)
    rep = build_report(a.conn, a.period, request.query_params.get("by") or "service", _levels(request), a.w.tz,
                       site=a.site, now=a.now, staff=a.w.staff, filters=_filters(request))
    return _file(report_xlsx(rep, a.w.staff), f"bao-cao-{a.period.label}-{rep.by}.xlsx", XLSX)


@requires("reports")
def all_sheets(request: Request) -> Response:
    a = _ask(request)
    got = _sheets(request, a)
    if request.url.path.endswith(".pdf"):
        return _file(sheets_pdf(got), f"phieu-danh-gia-{a.period.label}.pdf", "application/pdf")
    return _file(sheets_xlsx(got), f"phieu-danh-gia-{a.period.label}.xlsx", XLSX)


@requires("reports")
def one_sheet(request: Request) -> Response:
    officer, ext = request.path_params["officer"], request.path_params["ext"]
    if ext not in ("xlsx", "pdf"):
        raise BadReportQuery(f"Định dạng không hỗ trợ / .{ext} is not offered: dùng / use .xlsx or .pdf")
    a = _ask(request)
    s = _sheets(request, a, officer)[0]
    if ext == "pdf":
        return _file(sheet_pdf(s), f"phieu-danh-gia-{officer}-{a.period.label}.pdf", "application/pdf")
    return _file(sheet_xlsx(s), f"phieu-danh-gia-{officer}-{a.period.label}.xlsx", XLSX)


@requires("reports")
def satisfaction(request: Request) -> Response:
    a = _ask(request)
    s = satisfaction_summary(a.conn, a.period, tz=a.w.tz, site=a.site, levels=_levels(request), now=a.now)
    return _file(satisfaction_xlsx(s), f"hai-long-qd766-{a.period.label}.xlsx", XLSX)


@requires("reports")
def compared(request: Request) -> Response:
    a = _ask(request)
    p = a.period
    rows = compare(a.conn, p, request.query_params.get("by") or "overall", satisfaction_levels=_levels(request),
                   tz=a.w.tz, site=a.site, now=a.now, staff=a.w.staff, filters=_filters(request))
    return JSONResponse({"period": p.label, "previous": p.previous().label, "last_year": p.last_year().label,
                         "rows": [{"key": c.key, **{k: (getattr(c, k).as_dict() if getattr(c, k) else None)
                                                    for k in ("now", "previous", "last_year")}} for c in rows]})


@requires("reports")
def trended(request: Request) -> Response:
    a = _ask(request)
    figure = request.query_params.get("figure") or "satisfaction_rate"
    pts = trend(a.conn, a.period, figure, 12, satisfaction_levels=_levels(request), tz=a.w.tz, site=a.site,
                now=a.now, staff=a.w.staff, filters=_filters(request))
    return JSONResponse({"figure": figure, "points": [{"period": lbl, "value": v} for lbl, v in pts]})


@requires("reports")
def tickets(request: Request) -> Response:
    a = _ask(request)
    items = tickets_behind(a.conn, a.period, _filters(request), tz=a.w.tz, site=a.site, staff=a.w.staff)
    return JSONResponse({"items": _private(request, items)})


@requires("reports")
def ratings(request: Request) -> Response:
    a = _ask(request)
    items = ratings_behind(a.conn, a.period, _filters(request), tz=a.w.tz, site=a.site, staff=a.w.staff)
    return JSONResponse({"items": _private(request, items)})


@requires("dashboard")
def alerts(request: Request) -> Response:
    w = web(request)
    conn = w.reader.conn
    site = site_param(request)
    conds = [c for c in (w.alerts.last_conditions if w.alerts is not None else []) if site in (None, c.site)]
    cards = desk_cards(conds, site_history(conn, site).current.desk_services)
    return JSONResponse({"open": open_alerts(conn, site), "conditions": [asdict(c) for c in conds],
                         "desks": {str(k): v for k, v in cards.items()}})


@requires(ACK_SCOPE)
def ack(request: Request) -> Response:
    w = web(request)
    raw = str(request.path_params["id"])
    site = site_param(request)
    if site is not None and raw.isdigit() and w.reader.conn.execute(
            "SELECT 1 FROM alerts WHERE id=? AND site=?", (int(raw), site)).fetchone() is None:
        raw = "-"  # another site's alert is not this login's to see: answered as unknown
    if w.alerts is None:
        return w.pages.error(request, 404, "not_found", detail="Không có cảnh báo nào / alerts are off here")
    got = w.alerts.acknowledge(int(raw), current(request).display_name) if raw.isdigit() else None
    if got is None:
        return w.pages.error(request, 404, "not_found", detail=f"Không có cảnh báo / no alert {raw}")
    return JSONResponse(got)


routes = [Route("/reports.xlsx", report_file, name="reports_xlsx"),
          Route("/evaluations.xlsx", all_sheets, name="evaluations_xlsx"),
          Route("/evaluations.pdf", all_sheets, name="evaluations_pdf"),
          Route("/evaluations/{officer}.{ext:str}", one_sheet, name="evaluation"),
          Route("/satisfaction.xlsx", satisfaction, name="satisfaction_xlsx")]
api_routes = [Route("/reports/compare", compared, name="api_compare"),
              Route("/reports/trend", trended, name="api_trend"),
              Route("/reports/tickets", tickets, name="api_tickets"),
              Route("/reports/ratings", ratings, name="api_ratings"),
              Route("/alerts", alerts, name="api_alerts"),
              Route("/alerts/{id}/ack", ack, methods=["POST"], name="api_alert_ack")]
