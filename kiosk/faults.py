"""Raise and clear ``fault`` events through the outbox, once per change (persisted, so a fault
raised before a reboot is cleared after it)."""
from __future__ import annotations

import json
import logging
import threading

from mqtt.outbox import Outbox
from mqtt.schemas import FaultData

from .store import KioskStore

log = logging.getLogger(__name__)


class Faults:
    """The kiosk's active faults. ``raise_`` and ``clear`` enqueue an event only on a change."""

    def __init__(self, store: KioskStore, outbox: Outbox):
        self.store = store
        self.outbox = outbox
        self._lock = threading.Lock()
        self.active: dict[str, FaultData] = {
            code: FaultData.model_validate_json(data) for code, data in store.query("SELECT code, data FROM fault")}

    def raise_(self, code: str, message_vi: str, message_en: str, detail: str | None = None) -> bool:
        """Report a fault as active; True if it was not active before (an event was enqueued)."""
        with self._lock:
            if code in self.active:
                return False
            data = FaultData(code=code, active=True, message_vi=message_vi, message_en=message_en, detail=detail)
            self.outbox.enqueue("fault", data)
            with self.store.lock:
                self.store.conn.execute("INSERT OR REPLACE INTO fault(code, data) VALUES (?, ?)",
                                        (code, data.model_dump_json()))
            self.active[code] = data
            log.warning("fault raised: %s (%s)", code, message_en)
            return True

    def clear(self, code: str) -> bool:
        """Report a fault as cleared; True if it was active (an event was enqueued)."""
        with self._lock:
            data = self.active.get(code)
            if data is None:
                return False
            self.outbox.enqueue("fault", data.model_copy(update={"active": False, "detail": None}))
            with self.store.lock:
                self.store.conn.execute("DELETE FROM fault WHERE code=?", (code,))
            del self.active[code]
            log.info("fault cleared: %s", code)
            return True

    def report_once(self, code: str, message_vi: str, message_en: str, detail: str | None = None) -> None:
        """A one-off fault (an unexpected error): raised and cleared at once, both on the wire."""
        self.raise_(code, message_vi, message_en, detail)
        self.clear(code)

    def summary(self) -> str:
        return json.dumps(sorted(self.active))
