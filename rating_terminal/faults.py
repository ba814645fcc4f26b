"""The terminal's own peripheral faults: raised once, cleared once, each a durable ``fault`` event.

:class:`Faults` owns the faults of the desk's peripherals (``counter_display``, ``badge_reader``).
It does not own ``outbox_full``: the device's MQTT client raises and clears that one for every
role (``mqtt/sender.py``), so a desk terminal never reports it twice with two texts.
"""
from __future__ import annotations

import logging
import threading
from typing import Callable

from mqtt.errors import OutboxFull
from mqtt.outbox import Outbox
from mqtt.schemas import FaultData

log = logging.getLogger(__name__)

FAULTS = {
    "counter_display": ("Lỗi màn hình số tại quầy", "Counter display error"),
    "badge_reader": ("Lỗi đầu đọc thẻ", "Badge reader error"),
}


class Faults:
    """The active faults by code. ``when_changed`` runs after a fault was raised or cleared."""

    def __init__(self, outbox: Outbox):
        self.outbox = outbox
        self._active: set[str] = set()
        self._lock = threading.Lock()
        self.when_changed: Callable[[], None] | None = None

    def raise_(self, code: str, detail: str | None = None) -> bool:
        """Raise ``code`` (one of :data:`FAULTS`); True when it was not active already."""
        if code not in FAULTS:
            raise ValueError(f"unknown fault {code!r}; known: {', '.join(FAULTS)}")
        with self._lock:
            new = code not in self._active
            self._active.add(code)
        if new:
            self._event(code, True, detail)
            self._changed()
        return new

    def clear(self, code: str) -> bool:
        """Clear ``code``; True when it was active."""
        with self._lock:
            was = code in self._active
            self._active.discard(code)
        if was:
            self._event(code, False, None)
            self._changed()
        return was

    def peripheral_failed(self, code: str, exc: Exception) -> None:
        """A peripheral failed: logged once when the fault is raised, quietly while it lasts."""
        if self.raise_(code, str(exc)):
            log.error("%s: %s", code, exc)
        else:
            log.debug("%s still failing: %s", code, exc)

    def __contains__(self, code: object) -> bool:
        return code in self._active

    @property
    def codes(self) -> list[str]:
        return sorted(self._active)

    def _event(self, code: str, active: bool, detail: str | None) -> None:
        vi, en = FAULTS[code]
        try:
            self.outbox.enqueue("fault", FaultData(code=code, active=active, message_vi=vi, message_en=en,
                                                   detail=detail))
        except OutboxFull:
            log.error("fault %s could not be recorded: outbox full", code)

    def _changed(self) -> None:
        if self.when_changed is not None:
            self.when_changed()
