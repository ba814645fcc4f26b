"""The kiosk and ticketing's retained state/hours: a break keeps issuing with "served from 13:30"
and a wait counted from the reopening; closed refuses new numbers with the next opening."""
from __future__ import annotations

from datetime import datetime
from pathlib import Path

from kiosk.runtime import build
from mqtt import topics
from mqtt.client import Message
from mqtt.schemas import HoursState
from tests.kiosk.helpers import TZ, FakeLeaseSource, fake_clock, kiosk_config, service_state, site_state

BREAK = HoursState(status="break", since=datetime(2026, 11, 23, 11, 30, tzinfo=TZ),
                   until=datetime(2026, 11, 23, 13, 30, tzinfo=TZ),
                   message_vi="Nghỉ trưa – làm việc lại lúc 13:30", message_en="Lunch break – back at 13:30")
CLOSED = HoursState(status="closed", since=datetime(2026, 11, 23, 17, 0, tzinfo=TZ),
                    until=datetime(2026, 11, 24, 7, 30, tzinfo=TZ),
                    message_vi="Đã hết giờ làm việc – mở cửa lại lúc 07:30 thứ Ba 24/11",
                    message_en="Closed – opens again at 07:30 on Tuesday 24/11")


def make(tmp_path: Path):  # noqa: ANN201
    k = build(kiosk_config(tmp_path), clock=fake_clock(), source=FakeLeaseSource(), connect=False,
              print_async=False)
    k.state.set_site(site_state())
    k.state.set_service(service_state("HT", 4, 1200.0))
    k.state.set_service(service_state("DD", 0, 0.0))
    return k


def hours_msg(h: HoursState | None) -> Message:
    return Message(topic=topics.state("camau-hcc", "hours"), payload=h.dumps() if h else b"", retain=True)


def test_break_keeps_issuing_with_the_reopening_note(tmp_path: Path) -> None:
    k = make(tmp_path)
    try:
        c = k.controller
        k.state.on_message(hours_msg(BREAK))
        assert c.base_screen() == "home" and k.state.hours_status() == "break"
        assert c.words.hours_banner() == "Nghỉ trưa – làm việc lại lúc 13:30 / Lunch break – back at 13:30"
        lines = {x.code: x.detail for x in c.service_lines()}
        assert lines["HT"] == "Đang chờ: 4 người  ·  ~20 phút kể từ 13:30"
        assert lines["DD"] == "Phục vụ lại lúc 13:30"  # never "no wait" over lunch
        c.choose_service("HT")
        ticket = c.choose_priority(None)
        assert ticket is not None and c.screen == "confirm"
        got = c.confirm_lines()
        assert got["wait"] == "Thời gian chờ dự kiến: khoảng 20 phút, tính từ 13:30 (không tính giờ nghỉ)"
        c.done()
        c.toggle_language()
        lines = {x.code: x.detail for x in c.service_lines()}
        assert lines["DD"] == "Served from 13:30" and lines["HT"] == "Waiting: 5  ·  ~25 min from 13:30"  # the new ticket counted
        # reopening: back to the ordinary wording, banner gone
        k.state.on_message(hours_msg(HoursState(status="open")))
        assert c.words.hours_banner() == ""
        assert {x.code: x.detail for x in c.service_lines()}["DD"] == "No wait"
    finally:
        k.stop()


def test_closed_refuses_new_numbers_and_names_the_next_opening(tmp_path: Path) -> None:
    k = make(tmp_path)
    try:
        c = k.controller
        c.choose_service("HT")  # the citizen is choosing when the centre closes
        k.state.on_message(hours_msg(CLOSED))
        assert c.choose_priority(None) is None and c.screen == "home"
        assert c.notice_text() == "Đã hết giờ làm việc: không cấp số mới"
        assert c.base_screen() == "closed"
        c.choose_service("DD")
        assert c.screen == "home"  # a tap on the closed screen issues nothing
        assert c.words.message("closed", "vi") == ("Đã hết giờ làm việc", "Mở cửa lại lúc 07:30 thứ Ba 24/11")
        assert c.words.message("closed", "en") == ("Closed for today", "Opens again at 07:30 on Tuesday 24/11")
        no_next = CLOSED.model_copy(update={"until": None})
        k.state.on_message(hours_msg(no_next))
        assert c.words.message("closed", "en") == ("Closed for today", "")
        # a cleared or bad retained message: back to the site's own hours (09:15 Monday: open)
        k.state.on_message(hours_msg(None))
        assert c.base_screen() == "home"
        k.state.on_message(Message(topic=topics.state("camau-hcc", "hours"), payload=b'{"status": "nap"}',
                                   retain=True))
        assert k.state.hours is None and c.base_screen() == "home"
    finally:
        k.stop()
