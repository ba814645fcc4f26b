"""Live updates: ``LiveHub`` fans snapshots out to every open ``/events`` stream (server-sent events)
after each committed batch, one snapshot per (kind, site) watched: the dashboard of the collector's
site or of the ``?site=`` asked (a login bound to one site: that one only), and the province page's
(collector/web/province.py registers its source); a stream ends as soon as its login does."""
from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, AsyncIterator, Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from common.web.auth import requires
from ..queries import Reader, dumps
from .state import site_param

log = logging.getLogger(__name__)

KEEPALIVE_S = 15.0


class LiveHub:
    """``notify`` is called from the writer thread; snapshots are built at most every
    ``min_interval_s`` (bursts coalesce) and only while someone is watching."""

    def __init__(self, reader: Reader, site: str | None, min_interval_s: float = 0.05):
        self.reader = reader
        self.site = site
        self.min_interval_s = min_interval_s
        self._loop: asyncio.AbstractEventLoop | None = None
        self._dirty: asyncio.Event | None = None
        self._subs: dict[asyncio.Queue[str], tuple[str, str | None]] = {}
        self._task: asyncio.Task[None] | None = None
        # kind -> snapshot of a site (None: every site)
        self.sources: dict[str, Callable[[str | None], Any]] = {"dashboard": reader.snapshot}

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

    def subscribe(self, site: str | None = None, kind: str = "dashboard") -> asyncio.Queue[str]:
        q: asyncio.Queue[str] = asyncio.Queue(maxsize=1)
        self._subs[q] = (kind, site)
        return q

    def unsubscribe(self, q: asyncio.Queue[str]) -> None:
        self._subs.pop(q, None)

    async def snapshot_json(self, site: str | None = None, kind: str = "dashboard") -> str:
        return dumps(await run_in_threadpool(self.sources[kind], site))

    async def _pump(self) -> None:
        assert self._dirty is not None
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            for key in set(self._subs.values()):
                try:
                    data = await self.snapshot_json(key[1], key[0])
                except Exception:  # noqa: BLE001 - keep the stream alive; the next batch retries
                    log.exception("snapshot failed")
                    continue
                for q, k in list(self._subs.items()):
                    if k != key:
                        continue
                    if q.full():
                        q.get_nowait()  # a slow browser gets the newest snapshot, not a backlog
                    q.put_nowait(data)
            await asyncio.sleep(self.min_interval_s)


async def _still_logged_in(request: Request) -> bool:
    backend = request.app.state.auth_backend
    return await backend.authenticate(request) is not None


@requires("dashboard")
async def events(request: Request) -> Response:
    return await stream_snapshots(request, site_param(request), "dashboard")


async def stream_snapshots(request: Request, site: str | None, kind: str) -> Response:
    """The SSE stream of ``kind`` snapshots of ``site`` (the caller checked the login's scope and site)."""
    hub: LiveHub = request.app.state.web.hub
    q = hub.subscribe(site, kind)
    first = await hub.snapshot_json(site, kind)

    async def stream() -> AsyncIterator[str]:
        try:
            yield "retry: 1000\n\n"
            yield f"event: snapshot\ndata: {first}\n\n"
            while True:
                try:
                    data: str | None = await asyncio.wait_for(q.get(), KEEPALIVE_S)
                except asyncio.TimeoutError:
                    data = None
                if not await _still_logged_in(request):  # logged out, password changed, user disabled
                    yield "event: logout\ndata: {}\n\n"
                    return
                yield ": keepalive\n\n" if data is None else f"event: snapshot\ndata: {data}\n\n"
        finally:
            hub.unsubscribe(q)

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


routes = [Route("/events", events, name="events")]
