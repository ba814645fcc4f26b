"""What every router of the collector's web app shares, kept on ``app.state.web``."""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from starlette.requests import Request

from common.web.errors import Forbidden
from common.web.pages import Pages
from common.web.throttle import LoginThrottle
from ..alerts import AlertEngine
from ..db import connect
from ..queries import BadQuery, Reader
from ..staff import Staff
from ..backend import Conn

if TYPE_CHECKING:  # live.py takes its site from here
    from .live import LiveHub


class AuthWriter:
    """The one connection that writes sessions (login, logout), serialised by a lock; the
    ingest thread's writer is another connection (SQLite lets one write at a time, WAL readers on)."""

    def __init__(self, db_path: str):
        self._conn = connect(db_path)
        self._lock = threading.Lock()

    def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        with self._lock:
            return fn(self._conn, *args)

    def close(self) -> None:
        self._conn.close()

    @property
    def conn(self) -> Conn:
        return self._conn


@dataclass
class WebState:
    reader: Reader
    hub: LiveHub
    pages: Pages
    writer: AuthWriter
    throttle: LoginThrottle
    health: Callable[[], dict[str, Any]]
    tz: str = "Asia/Ho_Chi_Minh"
    secure_cookies: bool = False
    verify_slot: Any = field(default=None)  # asyncio.Semaphore(1), made in the app's loop
    staff: Staff = field(default_factory=Staff)  # the officer directory and roster (names in reports)
    alerts: AlertEngine | None = None  # the managers' alerts engine (None: alerts are off)

    @property
    def site(self) -> str | None:
        return self.hub.site


def web(request: Request) -> WebState:
    """The shared state of the app answering ``request``."""
    state: WebState = request.app.state.web
    return state


def bound_site(request: Request) -> str | None:
    """The one site the login is bound to (None: a login of the whole store)."""
    return getattr(request.scope.get("user"), "site", None)


def site_param(request: Request) -> str | None:
    """The site a request concerns: ``?site=``, else the collector's own site (None: every site). A
    login bound to one site gets that site and nothing else: asking for another, or asking a collector
    of another site, is refused (403) here, where every area's queries take their site from."""
    asked = request.query_params.get("site") or None
    return _allowed(request, asked or web(request).site)


def own_site(request: Request) -> str | None:
    """The collector's own site (the console's, the fleet's), refused to a login bound elsewhere."""
    return _allowed(request, web(request).site)


def _allowed(request: Request, site: str | None) -> str | None:
    bound = bound_site(request)
    if bound is None:
        return site
    if site is not None and site != bound:
        raise Forbidden([f"site {site}"])
    return bound


def whole_store(request: Request) -> None:
    """Refuse a login bound to one site what holds every site's data (the dead letters of a central
    collector), unless the collector is that very site's."""
    bound = bound_site(request)
    if bound is not None and web(request).site != bound:
        raise Forbidden([f"site {bound}: every site's data"])


def int_param(request: Request, name: str) -> int | None:
    v = request.query_params.get(name)
    if v in (None, ""):
        return None
    try:
        return int(str(v))
    except ValueError:
        raise BadQuery(f"{name}={v!r} is not a whole number") from None
