"""The terminal's parts on their own, with no broker: desk context, status LED and display view."""
from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import serial

from common.clock import FakeClock
from mqtt.client import BrokerConfig, DeviceClient
from mqtt.outbox import Outbox
from mqtt.schemas import DeskState, FaultData
from rating_terminal.desk import DeskFollower
from rating_terminal.faults import Faults
from rating_terminal.feedback import NoFeedback
from rating_terminal.serial_devices import LineDisplay
from rating_terminal.status import StatusView

from .conftest import DESK, SITE

START = datetime(2026, 11, 23, 9, 0, tzinfo=ZoneInfo("Asia/Ho_Chi_Minh"))


def test_desk_follower_moves_on_only_when_the_ticket_changes() -> None:
    desk = DeskFollower(DESK)
    moved: list[str | None] = []
    desk.when_moved_on.append(lambda: moved.append(desk.context.ticket))
    serving = DeskState(desk=DESK, officer="nv-1", ticket="1001", number=1001, day="2026-11-23",
                        service="HT", status="serving")
    desk.apply(serving)
    desk.apply(serving)  # the same state again (a retained copy after a reconnect)
    assert moved == ["1001"] and desk.officer == "nv-1"
    desk.apply(DeskState(desk=DESK, officer="nv-1", status="idle"))  # finished: still the rating context
    assert desk.context.ticket == "1001" and not desk.context.serving and moved == ["1001", "1001"]
    desk.officer = "nv-2"  # a badge switched officer at the desk
    desk.apply(DeskState(desk=DESK, officer="nv-1", status="idle"))
    assert desk.officer == "nv-2"  # ticketing's unchanged officer does not undo the sign-in
    desk.apply(DeskState(desk=DESK + 1, officer="x", status="closed"))  # another desk's state
    assert desk.context.ticket == "1001"
    desk.apply(DeskState(desk=DESK, status="closed"))
    assert desk.context.closed and desk.context.ticket is None and desk.officer is None


class Leds(NoFeedback):
    def __init__(self) -> None:
        self.modes: list[str] = []

    def set_status(self, mode: str) -> None:
        self.modes.append(mode)


def test_status_led_and_display_view(tmp_path: Path) -> None:
    clock = FakeClock(START)
    ob = Outbox(tmp_path / "ob.db", SITE, "rt-05", clock=clock, max_events=4)
    client = DeviceClient(SITE, "rt-05", "rating-terminal", BrokerConfig(), outbox=ob, clock=clock)  # never started
    port = serial.serial_for_url("loop://", timeout=0.2)
    desk, faults, leds = DeskFollower(DESK), Faults(ob), Leds()
    view = StatusView(client, ob, desk, faults, leds, LineDisplay(port), clock, message_s=4.0)
    view.refresh()
    view.refresh()  # nothing changed: nothing written again
    assert leds.modes == ["buffering"] and view.view() == ("msg", "MẤT KẾT NỐI", "OFFLINE")
    written = port.read(port.in_waiting)
    assert written.count(b"\r\n") == 1 and "MẤT KẾT NỐI".encode() in written, written
    view.flash("XIN CHỜ", "PLEASE WAIT")
    assert view.view() == ("msg", "XIN CHỜ", "PLEASE WAIT")
    clock.advance(4.1)
    assert view.view() == ("msg", "MẤT KẾT NỐI", "OFFLINE")  # the message went after message_s
    faults.raise_("badge_reader")
    view.refresh()
    assert leds.modes[-1] == "fault"
    faults.clear("badge_reader")
    view.refresh()
    assert leds.modes[-1] == "buffering"
    assert not ob.full  # the two badge_reader events
    ob.enqueue("fault", FaultData(code="x", active=True, message_vi="a", message_en="b"))
    ob.enqueue("fault", FaultData(code="x", active=False, message_vi="a", message_en="b"))
    assert ob.full
    view.refresh()
    assert leds.modes[-1] == "fault"  # the outbox refuses events: the LED says so
    ob.close()
    port.close()
