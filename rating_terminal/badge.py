"""Badge sign-in at the desk: a card signs its officer in, the same card again signs out, another
card switches officer; each change is a durable ``desk`` event."""
from __future__ import annotations

import logging

from mqtt.errors import OutboxFull
from mqtt.outbox import Outbox
from mqtt.schemas import DeskData

from .config import BadgeConfig
from .desk import DeskFollower
from .feedback import Feedback
from .officer import Flash

log = logging.getLogger(__name__)

UNKNOWN_CARD = ("THẺ KHÔNG HỢP LỆ", "UNKNOWN CARD")
SIGNED_IN = ("ĐÃ ĐĂNG NHẬP", "SIGNED IN")
SIGNED_OUT = ("ĐÃ ĐĂNG XUẤT", "SIGNED OUT")
NOT_RECORDED = ("CHƯA GHI ĐƯỢC", "NOT RECORDED")


class BadgeSignIn:
    """Turns card ids into sign-in / sign-out events (``swipe(card)``)."""

    def __init__(self, config: BadgeConfig | None, outbox: Outbox, desk: DeskFollower, feedback: Feedback,
                 flash: Flash):
        self.config, self.outbox, self.desk, self.feedback, self.flash = config, outbox, desk, feedback, flash

    def officer_of(self, card: str) -> str | None:
        """The officer a card belongs to, or None when the card is refused."""
        bc = self.config
        officer = (bc.cards if bc else {}).get(card)
        if officer is None and (bc is None or bc.unknown_cards == "use_card_id"):
            officer = card
        return officer

    def swipe(self, card: str) -> list[DeskData]:
        """A card was swiped: the desk events it makes (none when the card is refused)."""
        officer = self.officer_of(card)
        if officer is None:
            log.warning("unknown card %r refused", card)
            self.feedback.error()
            self.flash(*UNKNOWN_CARD)
            return []
        desk = self.desk
        with desk.lock:
            current = desk.officer
            events: list[DeskData] = []
            if current is not None:
                events.append(DeskData(desk=desk.desk, action="sign_out", officer=current,
                                       badge=card if current == officer else None))
            if current != officer:
                events.append(DeskData(desk=desk.desk, action="sign_in", officer=officer, badge=card))
            desk.officer = None if current == officer else officer
        try:
            self.outbox.enqueue_many([("desk", e) for e in events])
        except OutboxFull as exc:  # the client raises the outbox_full fault
            log.error("sign-in/out %s not recorded: %s", [e.model_dump() for e in events], exc)
            self.feedback.error()
            self.flash(*NOT_RECORDED)
            return events
        self.flash(*(SIGNED_IN if events[-1].action == "sign_in" else SIGNED_OUT))
        return events
