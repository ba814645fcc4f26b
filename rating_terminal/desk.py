"""What the terminal knows of its desk: ticketing's ``state/desk/{desk}``, the officer, ticketing up.

:class:`DeskFollower` is the one place that holds the rating context (the ticket being served, or
just served, its service), the officer signed in and whether ticketing is online. The other parts
read it and are told when it changes: ``when_moved_on`` (the desk moved to another ticket or
closed: an unanswered officer request must not be reused) and ``when_changed`` (redraw).
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, replace
from typing import Callable

from mqtt.client import Message
from mqtt.errors import ProtocolError
from mqtt.schemas import DeskState, Status, TicketInfo, parse_model

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeskContext:
    """What a rating is about: the ticket served (or just served), its service, the officer."""

    ticket: str | None = None
    day: str | None = None
    service: str | None = None
    serving: bool = False
    closed: bool = False


class DeskFollower:
    """One desk's context. ``lock`` guards ``context`` and ``officer`` for a read-modify-write."""

    def __init__(self, desk: int):
        self.desk = desk
        self.lock = threading.RLock()
        self.context = DeskContext()
        self.officer: str | None = None
        self.ticketing_online: bool | None = None  # None: no status seen yet
        self._state_officer: str | None = None
        self.when_moved_on: list[Callable[[], None]] = []
        self.when_changed: list[Callable[[], None]] = []

    def on_desk_state(self, msg: Message) -> None:
        """Subscriber of ``state/desk/{desk}``; a bad payload is logged and ignored."""
        if not msg.payload:
            return
        try:
            state = parse_model(DeskState, msg.payload)
        except ProtocolError as exc:
            log.error("ignored bad desk state on %s: %s", msg.topic, exc)
            return
        self.apply(state)

    def apply(self, state: DeskState) -> None:
        """Follow ticketing's view of this desk. After a finish the just-served ticket stays the
        rating context (the citizen rates after being served) until another ticket is called."""
        if state.desk != self.desk:
            return
        with self.lock:
            old = self.context
            if state.status == "closed":
                ctx = DeskContext(closed=True)
            elif state.ticket is not None:
                ctx = DeskContext(state.ticket, state.day, state.service, serving=state.status == "serving")
            else:
                ctx = replace(old, serving=False, closed=False)
            self.context = ctx
            if state.officer != self._state_officer:  # a sign-in at the desk itself stays until then
                self._state_officer = state.officer
                self.officer = state.officer
        if ctx != old:
            self._notify(self.when_moved_on)
        self._notify(self.when_changed)

    def served(self, ticket: TicketInfo, serving: bool) -> None:
        """Ticketing answered an officer key with this ticket (before its state arrives)."""
        with self.lock:
            self.context = DeskContext(ticket.ticket, ticket.day, ticket.service, serving=serving)
        self._notify(self.when_changed)

    def on_ticketing_status(self, msg: Message) -> None:
        """Subscriber of ticketing's retained ``status``: online, offline, or cleared (unknown)."""
        if not msg.payload:
            self.ticketing_online = None
            return
        try:
            st = parse_model(Status, msg.payload)
        except ProtocolError as exc:
            log.warning("ignored bad ticketing status: %s", exc)
            return
        self.ticketing_online = st.state == "online"
        self._notify(self.when_changed)

    @staticmethod
    def _notify(listeners: list[Callable[[], None]]) -> None:
        for fn in listeners:
            fn()
