"""``create_app``: the collector's web app, one router per area on the shared web layer
(common/web): auth, dashboard (+ live events), reports, dead letters, devices, and the JSON API
mounted at ``/api``. Middleware order and error pages: :func:`common.web.app.build_app`."""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, AsyncIterator, Callable

from starlette.applications import Starlette
from starlette.routing import BaseRoute, Mount

from common.web.app import WebSettings, build_app
from common.web.auth import CookieOrTokenBackend, Principal
from common.web.pages import NavLink, Pages
from common.web.throttle import LoginThrottle

from .. import sessions, tokens
from ..alerts import AlertEngine
from ..staff import Staff
from ..i18n import LABELS
from ..queries import Reader
from ..console_link import ConsoleLink
from . import api, console, dashboard, dead_letters, devices, feedback, live, login, manager, province, reports
from .fleet import Fleet, Publish
from .live import LiveHub
from .state import AuthWriter, WebState

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
NAV = [
    NavLink("/", "dashboard", "dashboard", id="dashboard-link"),
    NavLink("/reports", "reports", "reports", id="reports-link"),
    NavLink("/devices", "devices_page", "devices", id="devices-link"),
    NavLink("/dead-letters", "dead_letters", "dead_letters", id="dead-letters-link"),
    NavLink("/console", "console", "officer", id="console-link"),
    NavLink("/feedback", "feedback_page", "citizen_data", id="feedback-link"),
    NavLink("/tinh", "province_page", "province", id="province-link"),
]


class CollectorBackend(CookieOrTokenBackend):
    """Sessions and tokens from the collector's database (the reader's connection of the thread)."""

    def __init__(self, reader: Reader):
        self.reader = reader

    def session_principal(self, cookie: str) -> Principal | None:
        return sessions.session_principal(self.reader.conn, cookie)

    def token_principal(self, token: str) -> Principal | None:
        return tokens.token_principal(self.reader.conn, token)


def collector_routes() -> list[BaseRoute]:
    """Every route of the collector; add a new area's ``routes`` here and its ``api_routes`` in the mount."""
    api_mount = Mount("/api", routes=[*api.routes, *devices.api_routes, *dead_letters.api_routes,
                                      *reports.api_routes, *manager.api_routes, *console.api_routes,
                                      *province.api_routes], name="api")
    return [*login.routes, *dashboard.routes, *live.routes, *reports.routes, *manager.routes,
            *dead_letters.routes, *devices.routes, *console.routes, *feedback.routes, *province.routes, api_mount]


def create_app(db_path: str, reader: Reader, hub: LiveHub, *, health: Callable[[], dict[str, Any]],
               tz: str = "Asia/Ho_Chi_Minh", on_ready: Callable[[], None] | None = None,
               throttle: LoginThrottle | None = None, settings: WebSettings = WebSettings(),
               alerts: AlertEngine | None = None, staff: Staff | None = None,
               console_link: ConsoleLink | None = None, fleet_publish: Publish | None = None,
               releases: str | None = None) -> Starlette:
    """``throttle`` counts failed logins (in memory; default: one on ``reader.clock``);
    ``settings.secure_cookies`` for a site served over TLS; ``fleet_publish(topic, payload)``
    sends devices' update commands (None: the update form answers 503); ``releases``: the
    directory of the site server's ``latest.json``."""
    pages = Pages([TEMPLATES], {**LABELS, **console.LABELS, **province.LABELS}, nav=NAV)
    writer = AuthWriter(db_path)
    backend = CollectorBackend(reader)
    state = WebState(reader=reader, hub=hub, pages=pages, writer=writer,
                     throttle=throttle or LoginThrottle(reader.clock), health=health, tz=tz,
                     secure_cookies=settings.secure_cookies, staff=staff or Staff(), alerts=alerts)

    fleet = Fleet(db_path, hub.site, fleet_publish)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await hub.start()
        if on_ready:
            on_ready()
        try:
            yield
        finally:
            fleet.stop()
            await hub.stop()

    app = build_app(collector_routes(), pages=pages, backend=backend, settings=settings, static_package="collector",
                    lifespan=lifespan)
    handlers: dict[type[Exception], Any] = {**api.EXCEPTION_HANDLERS, **reports.EXCEPTION_HANDLERS}
    for exc, handler in handlers.items():
        app.add_exception_handler(exc, handler)
    app.state.web = state
    app.state.console = console.ConsoleState(console_link)
    app.state.auth_backend = backend
    app.state.fleet = fleet
    app.state.releases = releases
    return app
