"""What every router of the collector's web app shares, kept on ``app.state.web``."""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Callable

from starlette.requests import Request

from common.web.pages import Pages
from common.web.throttle import LoginThrottle
from ..alerts import AlertEngine
from ..db import connect
from ..queries import BadQuery, Reader
from ..staff import Staff
from .live import LiveHub
from ..backend import Conn


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


def site_param(request: Request) -> str | None:
    """``?site=`` or the collector's own site (None: every site)."""
    return request.query_params.get("site") or web(request).site


def int_param(request: Request, name: str) -> int | None:
    v = request.query_params.get(name)
    if v in (None, ""):
        return None
    try:
        return int(str(v))
    except ValueError:
        raise BadQuery(f"{name}={v!r} is not a whole number") from None
