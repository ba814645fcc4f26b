"""The desk terminal's logic: no gpiozero inside, so it is tested with any feedback and display.

:class:`Terminal` composes the parts, each with one job:

- :class:`~rating_terminal.desk.DeskFollower` follows ``state/desk/{desk}`` (retained, from
  ticketing: ticket being served, service, officer) and ticketing's status;
- :class:`~rating_terminal.ratings.Ratings`: ``rate(score)`` thanks, flags misuse, stores;
- :class:`~rating_terminal.officer.OfficerKeys`: officer keys as retried, idempotent requests;
- :class:`~rating_terminal.badge.BadgeSignIn`: sign in, sign out, switch officer;
- :class:`~rating_terminal.faults.Faults`: the peripherals' faults, as ``fault`` events;
- :class:`~rating_terminal.status.StatusView`: connected / buffering / fault on the LED, and
  the counter display.
"""
from __future__ import annotations

from typing import Any, Callable

from common.clock import Clock, SystemClock
from mqtt import topics
from mqtt.client import DeviceClient
from mqtt.outbox import Enqueued, Outbox
from mqtt.schemas import DeskData, RatingData, Response

from .badge import BadgeSignIn
from .config import TerminalConfig
from .desk import DeskContext, DeskFollower
from .faults import Faults
from .feedback import Feedback, NoFeedback
from .officer import OfficerKeys
from .rated import RatedTickets
from .ratings import Ratings
from .serial_devices import CounterDisplay
from .status import StatusView

__all__ = ["DeskContext", "Feedback", "NoFeedback", "Terminal"]


class Terminal:
    """One desk's terminal logic. ``start()`` subscribes and starts the ticker and the writer."""

    def __init__(self, config: TerminalConfig, client: DeviceClient, outbox: Outbox,
                 feedback: Feedback | None = None, display: CounterDisplay | None = None,
                 clock: Clock | None = None, tick_s: float = 0.25, rated: RatedTickets | None = None):
        self.config, self.client, self.outbox = config, client, outbox
        self.feedback: Feedback = feedback or NoFeedback()
        self.clock = clock or SystemClock(config.timezone)
        self.desk = DeskFollower(config.desk)
        self.faults = Faults(outbox)
        self.status = StatusView(client, outbox, self.desk, self.faults, self.feedback, display, self.clock,
                                 message_s=config.officer.message_s, tick_s=tick_s)
        self.faults.when_changed = self.status.refresh
        self.desk.when_changed.append(self.status.refresh)
        self.rating = Ratings(config.rating, outbox, self.desk, self.feedback, self.clock, rated)
        self.keys = OfficerKeys(config.officer, config.device, client, self.desk, self.feedback,
                                self.status.flash, self.clock)
        self.badges = BadgeSignIn(config.badge, outbox, self.desk, self.feedback, self.status.flash)

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        site = self.config.site
        self.client.subscribe(topics.state(site, "desk", self.config.desk), self.desk.on_desk_state)
        self.client.subscribe(topics.status(site, self.config.officer.ticketing_device),
                              self.desk.on_ticketing_status)
        self.client.on_connected.append(self.status.refresh)
        self.client.on_disconnected.append(self.status.refresh)
        self.status.refresh()
        self.status.start()
        self.rating.start()

    def stop(self) -> None:
        """Stop the ticker; every rating already pressed is written before this returns."""
        self.status.stop()
        self.rating.stop()

    @property
    def alive(self) -> bool:
        """The working threads run (systemd's watchdog is fed only while this holds)."""
        return self.status.alive and self.rating.alive

    # -- what the hardware and the runtime call ---------------------------------------------------

    def rate(self, score: int) -> RatingData:
        return self.rating.rate(score)

    def officer_key(self, op: str) -> bool:
        return self.keys.press(op)

    def call_next(self) -> Response | None:
        """Send call-next and wait for the answer (tests, the simulator); keys use officer_key."""
        return self.keys.request("call-next")

    def recall(self) -> Response | None:
        return self.keys.request("recall")

    def badge(self, card: str) -> list[DeskData]:
        return self.badges.swipe(card)

    def peripheral_failed(self, code: str, exc: Exception) -> None:
        self.faults.peripheral_failed(code, exc)

    def view(self) -> tuple[Any, ...]:
        return self.status.view()

    # -- what tests, the demo and telemetry read ---------------------------------------------------

    @property
    def context(self) -> DeskContext:
        return self.desk.context

    @property
    def officer(self) -> str | None:
        return self.desk.officer

    @property
    def ticketing_online(self) -> bool | None:
        return self.desk.ticketing_online

    @property
    def busy(self) -> bool:
        return self.keys.busy

    @property
    def ratings(self) -> int:
        return self.rating.count

    @property
    def misuse(self) -> int:
        return self.rating.misuse

    def pending_ratings(self) -> int:
        return self.rating.pending()

    @property
    def when_stored(self) -> Callable[[RatingData, Enqueued], None] | None:
        return self.rating.when_stored

    @when_stored.setter
    def when_stored(self, fn: Callable[[RatingData, Enqueued], None] | None) -> None:
        self.rating.when_stored = fn

    @property
    def when_answered(self) -> Callable[[str, Response | None], None] | None:
        return self.keys.when_answered

    @when_answered.setter
    def when_answered(self, fn: Callable[[str, Response | None], None] | None) -> None:
        self.keys.when_answered = fn

    def telemetry_extra(self) -> dict[str, Any]:
        return {"ratings": self.ratings, "misuse": self.misuse, "status": self.status.status or "buffering",
                "officer": self.officer, "faults": self.faults.codes}
