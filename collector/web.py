"""The web app: manager dashboard (login, live updates over server-sent events) and JSON API."""
from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from pathlib import Path
from typing import Any, AsyncIterator, Callable
from urllib.parse import parse_qs, urlencode

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from . import auth
from .db import connect, schema_version
from .i18n import labels, pick_lang
from .pages import DEAD_LETTERS_PAGE_SIZE, bad_query_page, dashboard_page, dead_letters_page, login_page
from .queries import BadQuery, Reader, dumps
from .throttle import LoginThrottle

log = logging.getLogger(__name__)

SESSION_COOKIE = "motcua_session"
LANG_COOKIE = "motcua_lang"
STATIC = Path(__file__).parent / "static"
KEEPALIVE_S = 15.0


class LiveHub:
    """Fans one dashboard snapshot out to every open event stream after each committed batch.

    ``notify`` is called from the writer thread; snapshots are built at most every
    ``min_interval_s`` (bursts coalesce) and only while someone is watching."""

    def __init__(self, reader: Reader, site: str | None, min_interval_s: float = 0.05):
        self.reader = reader
        self.site = site
        self.min_interval_s = min_interval_s
        self._loop: asyncio.AbstractEventLoop | None = None
        self._dirty: asyncio.Event | None = None
        self._subs: set[asyncio.Queue[str]] = set()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._dirty = asyncio.Event()
        self._task = asyncio.create_task(self._pump())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._loop = None

    def notify(self, _result: Any = None) -> None:
        loop, dirty = self._loop, self._dirty
        if loop is not None and dirty is not None and not loop.is_closed():
            loop.call_soon_threadsafe(dirty.set)

    def subscribe(self) -> asyncio.Queue[str]:
        q: asyncio.Queue[str] = asyncio.Queue(maxsize=1)
        self._subs.add(q)
        return q

    def unsubscribe(self, q: asyncio.Queue[str]) -> None:
        self._subs.discard(q)

    async def snapshot_json(self) -> str:
        return dumps(await run_in_threadpool(self.reader.snapshot, self.site))

    async def _pump(self) -> None:
        assert self._dirty is not None
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            if self._subs:
                try:
                    data = await self.snapshot_json()
                except Exception:  # noqa: BLE001 - keep the stream alive; the next batch retries
                    log.exception("snapshot failed")
                    continue
                for q in list(self._subs):
                    if q.full():
                        q.get_nowait()  # a slow browser gets the newest snapshot, not a backlog
                    q.put_nowait(data)
            await asyncio.sleep(self.min_interval_s)


def create_app(db_path: str, reader: Reader, hub: LiveHub, *, health: Callable[[], dict[str, Any]],
               tz: str = "Asia/Ho_Chi_Minh", on_ready: Callable[[], None] | None = None,
               throttle: LoginThrottle | None = None) -> Starlette:
    """``throttle`` counts failed logins (in memory; default: one on ``reader.clock``)."""
    throttle = throttle or LoginThrottle(reader.clock)
    verify_slot = asyncio.Semaphore(1)  # one password check at a time: a lockout cannot be raced past
    setup = connect(db_path)
    serializer = auth.session_serializer(setup)
    setup.close()

    def user_of(request: Request) -> str | None:
        header = request.headers.get("authorization", "")
        if header.lower().startswith("bearer "):
            return auth.token_owner(reader.conn, header[7:].strip())
        return auth.session_user(serializer, request.cookies.get(SESSION_COOKIE))

    def refused(request: Request) -> JSONResponse:
        t_vi, t_en = labels("vi")["unauthorized"], labels("en")["unauthorized"]
        return JSONResponse({"error": "unauthorized", "message_vi": t_vi, "message_en": t_en}, status_code=401,
                            headers={"WWW-Authenticate": 'Bearer realm="motcua"'})

    def lang_of(request: Request) -> str:
        return pick_lang(request.query_params.get("lang"), request.cookies.get(LANG_COOKIE))

    def with_lang(request: Request, resp: Response, lang: str) -> Response:
        if request.query_params.get("lang") in ("vi", "en"):
            resp.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="lax")
        return resp

    def api(fn: Callable[[Request], dict[str, Any]]) -> Callable[[Request], Response]:
        def endpoint(request: Request) -> Response:
            if user_of(request) is None:
                return refused(request)
            try:
                return JSONResponse(fn(request))
            except BadQuery as exc:
                return JSONResponse({"error": "bad_query", "message": str(exc)}, status_code=400)
        endpoint.__name__ = fn.__name__
        return endpoint

    def int_param(request: Request, name: str) -> int | None:
        v = request.query_params.get(name)
        if v in (None, ""):
            return None
        try:
            return int(v)
        except ValueError:
            raise BadQuery(f"{name}={v!r} is not a whole number") from None

    def site_param(request: Request) -> str | None:
        return request.query_params.get("site") or hub.site

    def desks(request: Request) -> dict[str, Any]:
        items = reader.desks(site_param(request))
        return {"items": items, "total": len(items)}

    def devices(request: Request) -> dict[str, Any]:
        items = reader.devices(site_param(request))
        return {"items": items, "total": len(items)}

    def queue(request: Request) -> dict[str, Any]:
        items = reader.queue(site_param(request))
        return {"items": items, "total": len(items)}

    def ratings(request: Request) -> dict[str, Any]:
        q = request.query_params
        return reader.ratings(from_=q.get("from"), to=q.get("to"), desk=int_param(request, "desk"),
                              officer=q.get("officer") or None, service=q.get("service") or None,
                              site=q.get("site") or None, limit=int_param(request, "limit"),
                              offset=int_param(request, "offset"))

    def dead_letters(request: Request) -> dict[str, Any]:
        return reader.dead_letters(reason=request.query_params.get("reason") or None,
                                   limit=int_param(request, "limit"), offset=int_param(request, "offset"))

    def api_health(request: Request) -> Response:
        body = health()
        body["schema_version"] = schema_version(reader.conn)
        return JSONResponse(body, status_code=200 if body.get("status") == "ok" else 503)

    def dashboard(request: Request) -> Response:
        lang = lang_of(request)
        user = user_of(request)
        if user is None:
            return with_lang(request, RedirectResponse("/login", status_code=303), lang)
        page = dashboard_page(lang, user, reader.snapshot(hub.site), tz)
        return with_lang(request, HTMLResponse(page, headers={"Cache-Control": "no-store"}), lang)

    def dead_letters_html(request: Request) -> Response:
        """The dead-letters list for the manager/technician: the same query as /api/dead-letters."""
        lang = lang_of(request)
        user = user_of(request)
        if user is None:
            to_login = "/login?" + urlencode({"next": str(request.url.path) + (
                "?" + request.url.query if request.url.query else "")})
            return with_lang(request, RedirectResponse(to_login, status_code=303), lang)
        reason = request.query_params.get("reason") or None
        try:
            offset = int_param(request, "offset") or 0
            result = reader.dead_letters(reason=reason, limit=DEAD_LETTERS_PAGE_SIZE, offset=offset)
        except BadQuery as exc:
            return with_lang(request, HTMLResponse(bad_query_page(lang, str(exc)), status_code=400), lang)
        page = dead_letters_page(lang, user, result, reader.dead_letter_reasons(), reason=reason, offset=offset,
                                 tz=tz)
        return with_lang(request, HTMLResponse(page, headers={"Cache-Control": "no-store"}), lang)

    def login_form(request: Request) -> Response:
        lang = lang_of(request)
        page = login_page(lang, request.query_params.get("failed") == "1",
                          next_url=_safe_next(request.query_params.get("next")))
        return with_lang(request, HTMLResponse(page), lang)

    def locked_out(request: Request, wait_s: float, nxt: str) -> Response:
        lang = lang_of(request)
        page = login_page(lang, next_url=nxt, locked_minutes=LoginThrottle.minutes(wait_s))
        return HTMLResponse(page, status_code=429, headers={"Retry-After": str(math.ceil(wait_s))})

    async def login(request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode("utf-8", "replace")).items()}
        name, password = form.get("user", ""), form.get("password", "")
        host = request.client.host if request.client else None
        keys = LoginThrottle.keys(name, host)
        # a locked name/address is refused before the (slow on purpose) argon2 check, also when it
        # waited for the check slot behind other attempts
        if wait := throttle.retry_after(keys):
            return locked_out(request, wait, _safe_next(form.get("next")))
        async with verify_slot:
            if wait := throttle.retry_after(keys):
                return locked_out(request, wait, _safe_next(form.get("next")))
            ok = await run_in_threadpool(auth.verify_user, reader.conn, name, password) if name else False
            if ok:
                throttle.succeeded(LoginThrottle.keys(name, None))
            else:
                throttle.failed(keys)
        if not ok:
            log.warning("failed login for %r from %s", name, host or "?")
            nxt = _safe_next(form.get("next"))
            return RedirectResponse("/login?" + urlencode({"failed": 1} | ({"next": nxt} if nxt != "/" else {})),
                                    status_code=303)
        resp = RedirectResponse(_safe_next(form.get("next")), status_code=303)
        resp.set_cookie(SESSION_COOKIE, serializer.dumps({"u": name}), max_age=auth.SESSION_MAX_AGE_S,
                        httponly=True, samesite="lax")
        return resp

    async def logout(request: Request) -> Response:
        resp = RedirectResponse("/login", status_code=303)
        resp.delete_cookie(SESSION_COOKIE)
        return resp

    async def events(request: Request) -> Response:
        if await run_in_threadpool(user_of, request) is None:
            return refused(request)
        q = hub.subscribe()
        first = await hub.snapshot_json()

        async def stream() -> AsyncIterator[str]:
            try:
                yield "retry: 1000\n\n"
                yield f"event: snapshot\ndata: {first}\n\n"
                while True:
                    try:
                        data = await asyncio.wait_for(q.get(), KEEPALIVE_S)
                    except asyncio.TimeoutError:
                        yield ": keepalive\n\n"
                        continue
                    yield f"event: snapshot\ndata: {data}\n\n"
            finally:
                hub.unsubscribe(q)

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await hub.start()
        if on_ready:
            on_ready()
        try:
            yield
        finally:
            await hub.stop()

    routes = [
        Route("/", dashboard),
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/events", events),
        Route("/dead-letters", dead_letters_html),
        Route("/api/health", api_health),
        Route("/api/desks", api(desks)),
        Route("/api/devices", api(devices)),
        Route("/api/queue", api(queue)),
        Route("/api/ratings", api(ratings)),
        Route("/api/dead-letters", api(dead_letters)),
        Mount("/static", StaticFiles(directory=str(STATIC)), name="static"),
    ]
    routes += _report_routes(reader, user_of, tz, hub.site)
    return Starlette(routes=routes, lifespan=lifespan)


def _safe_next(nxt: str | None) -> str:
    """Where to go after login: a path on this server only (never ``//host`` or ``/\\host``)."""
    if not nxt or not nxt.startswith("/") or nxt.startswith("//") or "\\" in nxt:
        return "/"
    return nxt


def _report_routes(reader: Reader, user_of: Callable[[Request], str | None], tz: str,
                   site: str | None) -> list[Route]:
    """The managers' reports (collector/report_web.py) behind the same login."""
    from .report_web import report_routes
    return list(report_routes(lambda: reader.conn, user_of, tz=tz, site=site, clock=reader.clock))
