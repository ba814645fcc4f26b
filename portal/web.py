"""The portal's pages on the shared web layer (common/web): no users, no collector.

    GET  /                      the public site page (services, waiting, estimate, hours, closures)
    GET  /site.json             the same as a small JSON feed
    GET  /ve/{token}            the ticket page (the QR's URL)
    GET  /ve/{token}.json       the ticket's state now
    GET  /ve/{token}/live       server-sent events: the ticket's state on every change
    POST /ve/{token}/rate       the rating from the phone, once the ticket is finished
    GET  /phan-anh, POST        the feedback form (phản ánh, kiến nghị)
"""
from __future__ import annotations

import asyncio
import json
import logging
import re
from dataclasses import asdict
from pathlib import Path
from typing import Any, AsyncIterator

from starlette.applications import Starlette
from starlette.authentication import AuthCredentials, AuthenticationBackend, BaseUser
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from common.ticket_token import TicketRef, read_token
from common.web.app import WebSettings, build_app
from common.web.i18n import request_lang
from common.web.pages import Pages
from mqtt.errors import MqttCoreError
from mqtt.scale import RATING_LABELS
from mqtt.schemas import FeedbackData, RatingData

from .booking import ROUTES as BOOKING_ROUTES
from .busy import WEEKDAYS, Chart, chart
from .booking import Ask
from .config import PortalConfig
from .labels import LABELS
from .limits import Limiter
from .tracker import Tracker, View, now_local

log = logging.getLogger(__name__)

TEMPLATES = Path(__file__).parent / "templates"
_PHONE = re.compile(r"^\+?[0-9 ]{8,15}$")
_LABEL = re.compile(r"^[A-Z0-9]{1,12}$")
KEEPALIVE_S = 15.0


class NoUsers(AuthenticationBackend):
    """Citizens do not log in: every request is anonymous."""

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, BaseUser] | None:
        return None


class Hub:
    """Wakes every live page when the tracker changes (called from the MQTT thread)."""

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self.event: asyncio.Event | None = None
        self.open = 0
        self.per_address: dict[str, int] = {}

    def bind(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.event = asyncio.Event()

    def _bump(self) -> None:
        old, self.event = self.event, asyncio.Event()
        if old is not None:
            old.set()

    def changed(self) -> None:
        if self.loop is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self._bump)


class Portal:
    """What the routes need: config, tracker, the outbox to publish citizens' acts."""

    def __init__(self, config: PortalConfig, tracker: Tracker, enqueue: Any):
        self.config = config
        self.tracker = tracker
        self.enqueue = enqueue  # Outbox.enqueue(type, data)
        self.ask: Ask | None = None  # ticketing's request/response (book, cancel, slots); set by the service
        self.secret = config.secret_bytes()
        self.hub = Hub()
        tracker.listeners.append(self.hub.changed)
        self.pages = Pages([TEMPLATES], LABELS)
        lim = config.limits
        self.requests = Limiter(lim.per_address_per_min)
        self.posts = Limiter(lim.posts_per_address_per_min)
        self.token_posts = Limiter(lim.posts_per_token_per_min)


def portal(request: Request) -> Portal:
    p: Portal = request.app.state.portal
    return p


def _address(request: Request) -> str:
    """The citizen's address (behind a proxy: the last hop the proxy added to X-Forwarded-For)."""
    if portal(request).config.behind_proxy:
        hops = [h.strip() for h in request.headers.get("x-forwarded-for", "").split(",") if h.strip()]
        if hops:
            return hops[-1]
    return request.client.host if request.client else "?"


def _limited(request: Request, *, post: bool = False, token: str | None = None) -> Response | None:
    p = portal(request)
    addr = _address(request)
    ok = p.requests.allow(addr) and (not post or p.posts.allow(addr)) and \
        (token is None or p.token_posts.allow(token))
    return None if ok else _too_many(request)


def _too_many(request: Request) -> Response:
    return portal(request).pages.error(request, 429, "err_429", headers={"Retry-After": "60"})


def _ticket(request: Request) -> tuple[TicketRef | None, Response | None]:
    """The ticket of the URL's token, or the clear page of a forged or expired one."""
    p = portal(request)
    ref = read_token(p.secret, p.config.site, request.path_params["token"])
    if ref is None:
        return None, p.pages.error(request, 404, "bad_token")
    if ref.day != p.tracker.today():
        return None, p.pages.error(request, 410, "expired_token")
    return ref, None


def _scale(p: Portal) -> list[tuple[int, str, str]]:
    scale = p.tracker.site.rating_scale if p.tracker.site else 5
    return [(scale - i, vi, en) for i, (vi, en) in enumerate(RATING_LABELS[scale])]


def _view_json(p: Portal, ref: TicketRef) -> dict[str, Any]:
    v = p.tracker.view(ref.day, ref.ticket)
    out = asdict(v)
    out.pop("officer")  # the officer's id is for the rating event, not the page
    svc = next((s for s in (p.tracker.site.services if p.tracker.site else []) if s.code == v.service), None)
    out["service_vi"], out["service_en"] = (svc.name_vi, svc.name_en) if svc else (v.service, v.service)
    return out


async def ticket_page(request: Request) -> Response:
    if (r := _limited(request)) is not None:
        return r
    ref, err = _ticket(request)
    if err is not None or ref is None:
        return err or Response(status_code=500)
    p = portal(request)
    token = request.path_params["token"]
    return p.pages.render(request, "ticket.html", {"v": _view_json(p, ref), "token": token, "scale": _scale(p),
                                                   "comment_chars": p.config.limits.comment_chars,
                                                   "message": request.query_params.get("m", "")})


async def ticket_json(request: Request) -> Response:
    if (r := _limited(request)) is not None:
        return r
    ref, err = _ticket(request)
    if err is not None or ref is None:
        return err or Response(status_code=500)
    return JSONResponse(_view_json(portal(request), ref), headers={"Cache-Control": "no-store"})


async def ticket_live(request: Request) -> Response:
    ref, err = _ticket(request)
    if err is not None or ref is None:
        return err or Response(status_code=500)
    p = portal(request)
    addr = _address(request)
    if p.hub.per_address.get(addr, 0) >= p.config.limits.streams_per_address or not p.requests.allow(addr):
        return _too_many(request)

    async def stream() -> AsyncIterator[bytes]:
        p.hub.open += 1
        p.hub.per_address[addr] = p.hub.per_address.get(addr, 0) + 1
        last = ""
        try:
            while True:
                ev = p.hub.event
                body = json.dumps(_view_json(p, ref), ensure_ascii=False)
                if body != last:
                    last = body
                    yield f"data: {body}\n\n".encode()
                if ev is None:
                    await asyncio.sleep(1)
                    continue
                try:
                    await asyncio.wait_for(ev.wait(), KEEPALIVE_S)
                except asyncio.TimeoutError:
                    yield b": keepalive\n\n"
        finally:
            p.hub.open -= 1
            p.hub.per_address[addr] -= 1
            if not p.hub.per_address[addr]:
                del p.hub.per_address[addr]

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


def _redirect(request: Request, to: str, query: str = "") -> Response:
    return Response(status_code=303, headers={"Location": f"{to}?lang={request_lang(request)}{query}"})


async def rate(request: Request) -> Response:
    token = request.path_params["token"]
    if (r := _limited(request, post=True, token=token)) is not None:
        return r
    ref, err = _ticket(request)
    if err is not None or ref is None:
        return err or Response(status_code=500)
    p = portal(request)
    form = await request.form()
    v = p.tracker.view(ref.day, ref.ticket)
    if v.status != "finished" or v.desk is None:
        return p.pages.error(request, 409, "err_not_finished")
    scale = p.tracker.site.rating_scale if p.tracker.site else 5
    try:
        score = int(str(form.get("score", "")))
    except ValueError:
        score = 0
    if not 1 <= score <= scale:
        return p.pages.error(request, 400, "err_score")
    comment = str(form.get("comment", "")).strip()
    if len(comment) > p.config.limits.comment_chars:
        return p.pages.error(request, 400, "err_too_long")
    first = p.tracker.mark_rated(ref.day, ref.ticket, "phone")
    data = RatingData(desk=v.desk, score=score, scale=scale, ticket=ref.ticket, service=v.service or None,
                      officer=v.officer, misuse=not first, misuse_reason=None if first else "same_ticket",
                      channel="phone", comment=comment or None)
    try:
        await asyncio.to_thread(p.enqueue, "rating", data)
    except MqttCoreError as exc:
        log.error("rating not queued: %s", exc)
        return p.pages.error(request, 503, "err_busy")
    p.hub.changed()
    return _redirect(request, f"/ve/{token}", "" if first else "&m=again")


async def feedback_page(request: Request) -> Response:
    if (r := _limited(request)) is not None:
        return r
    p = portal(request)
    return p.pages.render(request, "feedback.html", {"sent": request.query_params.get("sent") == "1",
                                                     "max_chars": p.config.limits.feedback_chars})


async def feedback_post(request: Request) -> Response:
    if (r := _limited(request, post=True)) is not None:
        return r
    p = portal(request)
    form = await request.form()
    kind = str(form.get("kind", "complaint"))
    text = str(form.get("text", "")).strip()
    ticket = str(form.get("ticket", "")).strip().upper()
    phone = str(form.get("phone", "")).strip()
    problem = ("err_text" if not text else "err_too_long" if len(text) > p.config.limits.feedback_chars
               else "err_ticket" if ticket and not _LABEL.match(ticket)
               else "err_phone" if phone and not _PHONE.match(phone)
               else "err_consent" if form.get("consent") != "yes"
               else "err_400" if kind not in ("complaint", "suggestion") else None)
    if problem:
        return p.pages.error(request, 400, problem)
    data = FeedbackData(kind=kind, text=text, ticket=ticket or None,  # type: ignore[arg-type]
                        day=p.tracker.today() if ticket else None, phone=phone or None, consent=True)
    try:
        await asyncio.to_thread(p.enqueue, "feedback", data)
    except MqttCoreError as exc:
        log.error("feedback not queued: %s", exc)
        return p.pages.error(request, 503, "err_busy")
    return _redirect(request, "/phan-anh", "&sent=1")


def site_summary(p: Portal) -> dict[str, Any]:
    site = p.tracker.site
    if site is None:
        return {"site": p.config.site, "ready": False}
    today = p.tracker.today()
    services = []
    for s in site.services:
        st = p.tracker.services.get(s.code)
        cur = st if st is not None and st.day == today else None
        services.append({"code": s.code, "name_vi": s.name_vi, "name_en": s.name_en,
                         "waiting": cur.waiting if cur else 0,
                         "est_wait_min": round(cur.est_wait_s / 60) if cur and cur.est_wait_s is not None else None,
                         "finished_for_today": cur.finished_for_today if cur else False})
    busy = _busy(p)
    return {"site": site.site, "ready": True, "name_vi": site.name_vi, "name_en": site.name_en, "day": today,
            "closed_today": today in site.closed_days, "hours": site.hours,
            "closed_days": [d for d in site.closed_days if d >= today][:10], "services": services,
            "busy_hours": busy.feed() if busy else None}


def _busy(p: Portal) -> Chart | None:
    weekday = WEEKDAYS[now_local(p.tracker.clock, p.tracker.tz).weekday()]
    return chart(p.tracker.busy, p.tracker.site, weekday)


async def site_page(request: Request) -> Response:
    if (r := _limited(request)) is not None:
        return r
    p = portal(request)
    return p.pages.render(request, "site.html", {"s": site_summary(p), "weekdays": WEEKDAYS, "busy": _busy(p)})


async def site_json(request: Request) -> Response:
    if (r := _limited(request)) is not None:
        return r
    return JSONResponse(site_summary(portal(request)), headers={"Cache-Control": "no-store"})


ROUTES = [
    Route("/", site_page),
    Route("/site.json", site_json),
    Route("/phan-anh", feedback_page, methods=["GET"]),
    Route("/phan-anh", feedback_post, methods=["POST"]),
    Route("/ve/{token}.json", ticket_json),
    Route("/ve/{token}/live", ticket_live),
    Route("/ve/{token}/rate", rate, methods=["POST"]),
    Route("/ve/{token}", ticket_page),
    *BOOKING_ROUTES,  # appointments: /dat-lich, /api/v1/bookings (portal/booking.py)
]


def make_app(p: Portal) -> Starlette:
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        p.hub.bind()
        yield

    settings = WebSettings(secure_cookies=p.config.secure_cookies, max_body_bytes=16 * 1024,
                           trusted_origins=frozenset(p.config.trusted_origins))
    app = build_app(ROUTES, pages=p.pages, backend=NoUsers(), settings=settings, static_package="portal",
                    lifespan=lifespan)
    app.state.portal = p
    return app


__all__ = ["Portal", "View", "make_app"]
