"""The auth area: ``GET /login`` (the form), ``POST /login`` (throttled, then argon2), ``POST
/logout`` (ends the session on the server). Both POSTs carry the CSRF token (CSRFMiddleware)."""
from __future__ import annotations

import asyncio
import logging
import math
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from common.web.auth import SESSION_COOKIE, Principal
from common.web.pages import safe_next
from common.web.throttle import LoginThrottle
from .. import auth, sessions
from .state import WebState, web

log = logging.getLogger(__name__)


def login_form(request: Request) -> Response:
    w = web(request)
    return w.pages.render(request, "login.html", {"failed": request.query_params.get("failed") == "1",
                                                  "next_url": safe_next(request.query_params.get("next")),
                                                  "locked_minutes": None})


def _locked_out(request: Request, w: WebState, wait_s: float, nxt: str) -> Response:
    return w.pages.render(request, "login.html", {"failed": False, "next_url": nxt,
                                                  "locked_minutes": LoginThrottle.minutes(wait_s)},
                          status=429, headers={"Retry-After": str(math.ceil(wait_s))})


async def _check_password(w: WebState, name: str, password: str, host: str | None) -> str | None | float:
    """The role for a right password; None for a wrong one; seconds to wait when locked out.
    A locked name/address is refused before the (slow on purpose) argon2 check, also when it waited
    for the check slot behind other attempts."""
    if wait := w.throttle.retry_after(name, host):
        return wait
    if w.verify_slot is None:
        w.verify_slot = asyncio.Semaphore(1)
    async with w.verify_slot:  # one check at a time: a lockout cannot be raced past
        if wait := w.throttle.retry_after(name, host):
            return wait
        role = await run_in_threadpool(auth.verify_user, w.reader.conn, name, password) if name else None
        if role is not None:
            w.throttle.succeeded(name, host)
        else:
            w.throttle.failed(name, host)
    return role


async def login(request: Request) -> Response:
    w = web(request)
    form = await request.form()
    name, password = str(form.get("user") or ""), str(form.get("password") or "")
    nxt = safe_next(str(form.get("next") or ""))
    host = request.client.host if request.client else None
    result = await _check_password(w, name, password, host)
    if isinstance(result, float):
        return _locked_out(request, w, result, nxt)
    if result is None:
        log.warning("failed login for %r from %s", name, host or "?")
        return RedirectResponse("/login?" + urlencode({"failed": 1} | ({"next": nxt} if nxt != "/" else {})),
                                status_code=303)
    cookie = await run_in_threadpool(w.writer.run, sessions.start_session, name, host)
    log.info("%s logged in from %s", name, host or "?")
    resp = RedirectResponse(nxt, status_code=303)
    resp.set_cookie(SESSION_COOKIE, cookie, max_age=sessions.SESSION_MAX_AGE_S, httponly=True, samesite="lax",
                    secure=w.secure_cookies)
    return resp


async def logout(request: Request) -> Response:
    user = request.user
    if isinstance(user, Principal) and user.session:
        await run_in_threadpool(web(request).writer.run, sessions.end_session, user.session)
        log.info("%s logged out", user.name)
    resp = RedirectResponse("/login", status_code=303)
    resp.delete_cookie(SESSION_COOKIE, httponly=True, samesite="lax", secure=web(request).secure_cookies)
    return resp


routes = [
    Route("/login", login_form, methods=["GET"], name="login"),
    Route("/login", login, methods=["POST"], name="login_post"),
    Route("/logout", logout, methods=["POST"], name="logout"),
]
