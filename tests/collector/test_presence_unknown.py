"""A zone the camera cannot read (``present: null``, with a view fault) reaches the dashboard's desk
grid as unknown with the fault's message, never as absent (real SQLite through the writer)."""
from __future__ import annotations

from datetime import datetime

from collector.db import open_db
from collector.queries import Reader
from collector.store import Incoming, Store
from tests.collector.wire import VN, event, presence


def msg(tp: tuple[str, bytes]) -> Incoming:
    return Incoming(tp[0], tp[1], False, datetime.now(VN))


def test_unknown_zone_carries_the_fault_not_absence(sqlite_path):
    store = Store(open_db(sqlite_path))
    fault = {"code": "view_blocked", "active": True, "message_vi": "Vùng quầy bị che khuất, không xác định được có mặt",
             "message_en": "The zone's view is blocked: presence unknown", "detail": "q3-officer: mean 12, spread 1.0"}
    store.write_batch([msg(presence(3, "officer", True, device="cam-01", seq=1)),
                       msg(presence(3, "citizen", False, device="cam-01", seq=2)),
                       msg(event("presence", {"desk": 3, "zone": "officer", "kind": "change", "present": None,
                                              "since": "2026-11-23T09:00:00+07:00"}, device="cam-01", seq=3)),
                       msg(event("fault", fault, device="cam-01", seq=4))])
    d = Reader(sqlite_path).desks()[0]
    assert d["officer"]["present"] is None and d["officer"]["unknown"] is True
    assert d["officer"]["fault"]["code"] == "view_blocked"
    assert d["officer"]["fault"]["message_vi"].startswith("Vùng quầy bị che khuất")
    assert d["citizen"]["present"] is False and "unknown" not in d["citizen"]  # a readable zone stays as it is
    # the fault cleared and the view readable again: no longer unknown
    store.write_batch([msg(event("fault", {**fault, "active": False}, device="cam-01", seq=5)),
                       msg(presence(3, "officer", False, device="cam-01", seq=6))])
    d = Reader(sqlite_path).desks()[0]
    assert d["officer"]["present"] is False and "unknown" not in d["officer"]
