"""Officer keys: call-next, recall, no-show, finish as requests to ticketing, safe to retry.

One request at a time; every retry carries the same idempotency id, and the id of an unanswered
request is reused by the next press of that key until the desk state moves on, so a lost answer
never calls two tickets. Nothing is sent while the broker or ticketing is unreachable: the key
is refused and the display says why.
"""
from __future__ import annotations

import logging
import threading
from typing import Callable

from common.clock import Clock
from mqtt.client import DeviceClient
from mqtt.errors import NotConnected, RequestTimeout
from mqtt.schemas import Request, Response, uuid7

from .config import OFFICER_KEYS, OfficerConfig
from .desk import DeskFollower
from .feedback import Feedback
from .status import OFFLINE, SERVER_DOWN

log = logging.getLogger(__name__)

NO_ANSWER = ("KHÔNG PHẢN HỒI", "NO ANSWER")

Flash = Callable[[str, str], None]  # show a message (Vietnamese, English) on the display


class OfficerKeys:
    """One desk's officer requests. ``press(op)`` runs one in the background."""

    def __init__(self, config: OfficerConfig, device: str, client: DeviceClient, desk: DeskFollower,
                 feedback: Feedback, flash: Flash, clock: Clock):
        self.config, self.device, self.client, self.desk = config, device, client, desk
        self.feedback, self.flash, self.clock = feedback, flash, clock
        self.when_answered: Callable[[str, Response | None], None] | None = None
        self._lock = threading.Lock()
        self._inflight: str | None = None
        self._unanswered: dict[str, str] = {}  # op -> id of its request still without an answer
        desk.when_moved_on.append(self.forget_unanswered)

    @property
    def busy(self) -> bool:
        return self._inflight is not None

    def forget_unanswered(self) -> None:
        """The desk moved on: the next press of any key is a new request."""
        with self._lock:
            self._unanswered.clear()

    def unreachable(self) -> tuple[str, str] | None:
        """Why a request cannot be sent now (display text), or None."""
        if not self.client.connected:
            return OFFLINE
        if self.desk.ticketing_online is False:
            return SERVER_DOWN
        return None

    def press(self, op: str) -> bool:
        """An officer key was pressed: send its request in the background. False when refused."""
        if op not in OFFICER_KEYS:
            raise ValueError(f"unknown officer key {op!r}; known: {', '.join(OFFICER_KEYS)}")
        problem = self.unreachable()
        if problem is not None:
            self._refuse(problem)
            return False
        with self._lock:
            if self._inflight is not None:
                self.feedback.busy()
                log.info("%s ignored: %s still waiting for its answer", op, self._inflight)
                return False
            self._inflight = op
        threading.Thread(target=self._run, args=(op,), name=f"key-{op}", daemon=True).start()
        return True

    def _run(self, op: str) -> None:
        resp: Response | None = None
        try:
            resp = self.request(op)
        except Exception:  # noqa: BLE001 - a key must never leave the terminal stuck
            log.exception("officer key %s failed", op)
            self.feedback.error()
        finally:
            with self._lock:
                self._inflight = None
        if self.when_answered is not None:
            self.when_answered(op, resp)

    def request(self, op: str) -> Response | None:
        """Send one officer request, retrying with the same id; the answer, or None."""
        with self._lock:
            rid = self._unanswered.setdefault(op, uuid7())
        req = Request(id=rid, device=self.device, desk=self.desk.desk, officer=self.desk.officer,
                      ts=self.clock.now())
        attempts = self.config.attempts
        for attempt in range(1, attempts + 1):
            problem = self.unreachable()
            if problem is not None:
                self._refuse(problem)
                return None
            try:
                resp = self.client.request(op, req, timeout=self.config.request_timeout_s)
            except RequestTimeout:
                log.warning("%s request %s: no answer (attempt %d of %d)", op, rid, attempt, attempts)
                continue
            except NotConnected:
                self._refuse(OFFLINE)
                return None
            with self._lock:
                if self._unanswered.get(op) == rid:
                    del self._unanswered[op]
            self._answered(op, resp)
            return resp
        self._refuse(NO_ANSWER)
        return None

    def _answered(self, op: str, resp: Response) -> None:
        if not resp.ok:
            log.info("%s refused by ticketing: %s", op, resp.error)
            self.feedback.error()
            self.flash(resp.message_vi or (resp.error or "LỖI"), resp.message_en or (resp.error or "ERROR"))
            return
        if resp.ticket is not None:
            self.desk.served(resp.ticket, serving=op in ("call-next", "recall"))

    def _refuse(self, why: tuple[str, str]) -> None:
        log.warning("officer key refused: %s / %s", *why)
        self.feedback.error()
        self.flash(*why)
