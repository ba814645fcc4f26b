"""Appointments on the portal (ticketing/appointments.py owns them; the portal asks over MQTT).

    GET  /dat-lich                      pick service and day; the free slots of that day
    POST /dat-lich                      book a slot: the code (+ its QR) to check in at the kiosk
    POST /dat-lich/huy                  cancel by code
    POST   /api/v1/bookings             the province's online-service system books (Bearer token)
    DELETE /api/v1/bookings/{code}      ... and cancels (``?day=YYYY-MM-DD``, default today)

Every form carries the CSRF token (common/web/csrf.py); the API authenticates with
``Authorization: Bearer <api_token>`` from portal.toml and is off while no token is set.
"""
from __future__ import annotations

import asyncio
import hmac
import io
import json
import logging
import re
from datetime import date, timedelta
from typing import Any, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from common.web.auth import bearer_token
from mqtt.errors import MqttCoreError
from mqtt.schemas import Request as MqttRequest
from mqtt.schemas import Response as MqttResponse
from mqtt.schemas import uuid7

log = logging.getLogger(__name__)

_CODE = re.compile(r"^[0-9]{6}$")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_SLOT = re.compile(r"^\d{2}:\d{2}$")
_SERVICE = re.compile(r"^[A-Z0-9]{1,8}$")
UNREACHABLE = ("Hệ thống lấy số tạm thời không trả lời, vui lòng thử lại sau",
               "The queue system is not answering; please try again later")

Ask = Callable[[str, MqttRequest], MqttResponse]  # (op, request) -> ticketing's answer


def _portal(request: Request) -> Any:
    return request.app.state.portal


async def ask(request: Request, op: str, **fields: Any) -> MqttResponse:
    """Ask ticketing (blocking MQTT request on a worker thread); an unreachable ticketing is a
    refusal ``unreachable`` with a bilingual message."""
    p = _portal(request)
    req = MqttRequest(id=uuid7(), device=p.config.device, **fields)
    try:
        resp: MqttResponse = await asyncio.to_thread(p.ask, op, req)
        return resp
    except (MqttCoreError, AttributeError) as exc:
        log.warning("%s not answered: %s", op, exc)
        return MqttResponse(request_id=req.id, ok=False, error="unreachable", message_vi=UNREACHABLE[0],
                            message_en=UNREACHABLE[1])


def _services(p: Any) -> list[Any]:
    return list(p.tracker.site.services) if p.tracker.site else []


async def _page(request: Request, *, booked: MqttResponse | None = None, problem: MqttResponse | None = None,
                cancelled: MqttResponse | None = None, status: int = 200) -> Response:
    p = _portal(request)
    q = request.query_params
    today = date.fromisoformat(p.tracker.today())
    days = [(today + timedelta(days=i)).isoformat() for i in range(0, 15)]
    service = q.get("service", "")
    day = q.get("day", days[0])
    slots: list[Any] = []
    if _SERVICE.match(service) and _DAY.match(day):
        got = await ask(request, "slots", service=service, day=day)
        slots = [s for s in (got.slots or []) if s.free > 0] if got.ok else []
        problem = problem or (None if got.ok else got)
    qr = _qr_svg(booked.appointment.code) if booked and booked.appointment else ""
    return p.pages.render(request, "booking.html", {
        "services": _services(p), "days": days, "service": service, "day": day, "slots": slots,
        "booked": booked.appointment if booked else None, "qr": qr, "problem": problem,
        "cancelled": cancelled.appointment if cancelled else None}, status=status)


def _qr_svg(code: str) -> str:
    import qrcode
    import qrcode.image.svg
    img = qrcode.make(code, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
    buf = io.BytesIO()
    img.save(buf)
    return buf.getvalue().decode()


def _limited(request: Request, post: bool = False) -> Response | None:
    from .web import _limited as limited  # the portal's per-address limits (web.py imports this module)
    return limited(request, post=post)


async def booking_page(request: Request) -> Response:
    if (r := _limited(request)) is not None:
        return r
    return await _page(request)


async def booking_post(request: Request) -> Response:
    if (r := _limited(request, post=True)) is not None:
        return r
    form = await request.form()
    service, day, slot = (str(form.get(k, "")) for k in ("service", "day", "slot"))
    if not (_SERVICE.match(service) and _DAY.match(day) and _SLOT.match(slot)):
        return await _page(request, problem=_bad("chọn lĩnh vực, ngày và giờ hẹn", "choose a service, day and time"),
                           status=400)
    got = await ask(request, "book", service=service, day=day, slot=slot)
    if not got.ok:
        return await _page(request, problem=got, status=409 if got.error == "slot_full" else 400)
    return await _page(request, booked=got)


async def cancel_post(request: Request) -> Response:
    if (r := _limited(request, post=True)) is not None:
        return r
    form = await request.form()
    code, day = str(form.get("code", "")).strip(), str(form.get("day", "")).strip()
    if not _CODE.match(code) or (day and not _DAY.match(day)):
        return await _page(request, problem=_bad("mã lịch hẹn gồm 6 chữ số", "the code has 6 digits"), status=400)
    got = await ask(request, "cancel", appointment=code, day=day or None)
    if not got.ok:
        return await _page(request, problem=got, status=404 if got.error == "unknown_appointment" else 400)
    return await _page(request, cancelled=got)


def _bad(vi: str, en: str) -> MqttResponse:
    return MqttResponse(request_id="-", ok=False, error="bad_request", message_vi=f"Yêu cầu không hợp lệ: {vi}",
                        message_en=f"Bad request: {en}")


# -- the online-service API ---------------------------------------------------------------------------

def _api_refusal(got: MqttResponse, status: int) -> JSONResponse:
    return JSONResponse({"error": got.error, "message_vi": got.message_vi, "message_en": got.message_en},
                        status_code=status)


def _authorized(request: Request) -> JSONResponse | None:
    token = _portal(request).config.api_token
    sent = bearer_token(request)
    if token and sent and hmac.compare_digest(sent.encode(), token.encode()):
        return None
    return JSONResponse({"error": "unauthorized", "message_vi": "Thiếu hoặc sai mã truy cập (Bearer token)",
                         "message_en": "Missing or wrong access token (Bearer)"}, status_code=401,
                        headers={"WWW-Authenticate": 'Bearer realm="motcua-portal"'})


_STATUS = {"slot_full": 409, "unknown_appointment": 404, "forbidden": 403, "unreachable": 503}


async def api_book(request: Request) -> Response:
    if (r := _authorized(request)) is not None:
        return r
    try:
        body = json.loads(await request.body())
        service, day, slot = str(body["service"]), str(body["day"]), str(body["slot"])
        source = str(body.get("source", "api"))[:64]
    except (ValueError, KeyError, TypeError):
        return _api_refusal(_bad('JSON {"service", "day", "slot"}', 'JSON {"service", "day", "slot"} expected'), 400)
    if not (_SERVICE.match(service) and _DAY.match(day) and _SLOT.match(slot)):
        return _api_refusal(_bad("service, day (YYYY-MM-DD), slot (HH:MM)", "service, day (YYYY-MM-DD), slot (HH:MM)"),
                            400)
    got = await ask(request, "book", service=service, day=day, slot=slot, source=f"api:{source}")
    if not got.ok or got.appointment is None:
        return _api_refusal(got, _STATUS.get(got.error or "", 400))
    return JSONResponse(got.appointment.model_dump(), status_code=201)


async def api_cancel(request: Request) -> Response:
    if (r := _authorized(request)) is not None:
        return r
    code, day = request.path_params["code"], request.query_params.get("day")
    if not _CODE.match(code) or (day and not _DAY.match(day)):
        return _api_refusal(_bad("mã 6 chữ số, day=YYYY-MM-DD", "a 6-digit code, day=YYYY-MM-DD"), 400)
    got = await ask(request, "cancel", appointment=code, day=day)
    if not got.ok or got.appointment is None:
        return _api_refusal(got, _STATUS.get(got.error or "", 400))
    return JSONResponse(got.appointment.model_dump())


ROUTES = [
    Route("/dat-lich", booking_page, methods=["GET"]),
    Route("/dat-lich", booking_post, methods=["POST"]),
    Route("/dat-lich/huy", cancel_post, methods=["POST"]),
    Route("/api/v1/bookings", api_book, methods=["POST"]),
    Route("/api/v1/bookings/{code}", api_cancel, methods=["DELETE"]),
]
