"""Ratings on MockFactory pins against a real Mosquitto: context, nulls, misuse, thanks latency."""
from __future__ import annotations

import json
import time
from datetime import datetime
from zoneinfo import ZoneInfo

from common.clock import FakeClock
from mqtt import topics
from mqtt.schemas import DeskState, parse_event
from tests.support.mqtt import Recorder

from .conftest import DESK, LEDS, PINS, SITE, BUZZER, make_config, wait_until


def ratings(rec: Recorder) -> list[dict]:
    out = []
    with rec.lock:
        msgs = list(rec.messages)
    for t, p, _ in msgs:
        if t.endswith("/evt/rating"):
            parse_event(t, p)  # every event is valid on the wire
            out.append(json.loads(p))
    return out


def serve_ticket(rec: Recorder, ticket: str | None, status: str = "serving", officer: str | None = "nv-0142") -> None:
    st = DeskState(desk=DESK, officer=officer, ticket=ticket, number=int(ticket) if ticket else None,
                   day="2026-11-23" if ticket else None, service="HT" if ticket else None, status=status)
    rec.publish(topics.state(SITE, "desk", DESK), st.dumps(), retain=True)


def test_rating_with_desk_context(broker, tmp_path, make_desk):
    rec = Recorder(broker.port, topics.events_filter(SITE, "rating"))
    serve_ticket(rec, "1023")  # retained before the terminal starts: it must pick it up
    desk = make_desk(make_config(tmp_path, broker.url)).start()
    assert wait_until(lambda: desk.terminal.context.ticket == "1023")
    desk.press(4)
    assert rec.wait_for(lambda m: len(m) >= 1)
    (ev,) = ratings(rec)
    assert ev["device"] == "rt-05" and ev["site"] == SITE and ev["type"] == "rating"
    assert ev["data"] == {"desk": DESK, "score": 4, "scale": 5, "ticket": "1023", "service": "HT",
                          "officer": "nv-0142", "misuse": False, "misuse_reason": None,
                          "channel": "desk", "comment": None}
    # the officer finishes: the just-served ticket stays the rating context (citizen rates after)
    serve_ticket(rec, None, status="idle")
    assert wait_until(lambda: not desk.terminal.context.serving)
    assert desk.terminal.context.ticket == "1023"


def test_rating_without_context_sends_nulls(broker, tmp_path, make_desk):
    rec = Recorder(broker.port, topics.events_filter(SITE, "rating"))
    desk = make_desk(make_config(tmp_path, broker.url)).start()
    desk.press(1)
    assert rec.wait_for(lambda m: len(m) >= 1)
    d = ratings(rec)[0]["data"]
    assert (d["score"], d["ticket"], d["service"], d["officer"], d["misuse"]) == (1, None, None, None, False)


def test_misuse_flags_too_soon_and_same_ticket_never_drops(broker, tmp_path, make_desk):
    clock = FakeClock(datetime(2026, 11, 23, 9, 0, tzinfo=ZoneInfo("Asia/Ho_Chi_Minh")))
    rec = Recorder(broker.port, topics.events_filter(SITE, "rating"))
    desk = make_desk(make_config(tmp_path, broker.url), clock=clock).start()
    serve_ticket(rec, "1023")
    assert wait_until(lambda: desk.terminal.context.ticket == "1023")
    desk.press(5)                 # the rating
    clock.advance(1.0)
    desk.press(5)                 # 1 s later: too soon
    clock.advance(10.0)
    desk.press(3)                 # outside the window, same ticket again
    serve_ticket(rec, "1024")
    assert wait_until(lambda: desk.terminal.context.ticket == "1024")
    clock.advance(10.0)
    desk.press(2)                 # a new ticket, outside the window: a clean rating
    assert rec.wait_for(lambda m: len(m) >= 4)
    got = [(e["data"]["score"], e["data"]["ticket"], e["data"]["misuse"], e["data"]["misuse_reason"])
           for e in ratings(rec)]
    assert got == [(5, "1023", False, None), (5, "1023", True, "too_soon"),
                   (3, "1023", True, "same_ticket"), (2, "1024", False, None)]
    assert [e["seq"] for e in ratings(rec)] == sorted(e["seq"] for e in ratings(rec))


def test_misuse_window_is_configurable(broker, tmp_path, make_desk):
    clock = FakeClock(datetime(2026, 11, 23, 9, 0, tzinfo=ZoneInfo("Asia/Ho_Chi_Minh")))
    cfg = make_config(tmp_path, broker.url, replace={"misuse_window_s = 5.0": "misuse_window_s = 0.5"})
    rec = Recorder(broker.port, topics.events_filter(SITE, "rating"))
    desk = make_desk(cfg, clock=clock).start()
    desk.press(5)
    clock.advance(1.0)
    desk.press(4)   # no ticket context, 1 s > 0.5 s: not misuse
    clock.advance(0.2)
    desk.press(3)   # 0.2 s: too soon
    assert rec.wait_for(lambda m: len(m) >= 3)
    assert [e["data"]["misuse_reason"] for e in ratings(rec)] == [None, None, "too_soon"]


def test_thanks_led_and_beep_within_100_ms(broker, tmp_path, make_desk, factory):
    desk = make_desk(make_config(tmp_path, broker.url)).start()
    led, buzzer = factory.pin(LEDS[3]), factory.pin(BUZZER)
    assert not led.state
    t0 = time.perf_counter()
    factory.pin(PINS[3]).drive_low()
    assert wait_until(lambda: led.state and buzzer.state, timeout=0.1, step=0.0005)
    assert time.perf_counter() - t0 < 0.1
    factory.pin(PINS[3]).drive_high()
    # the other LEDs stay dark, and the thanks ends by itself
    assert not any(factory.pin(LEDS[s]).state for s in (1, 2, 4, 5))
    assert wait_until(lambda: not led.state, timeout=3)


def test_rgb_led_shows_the_score_colour(broker, tmp_path, make_desk, factory):
    text = {f"led = {p}\n": "" for p in LEDS.values()}
    cfg = make_config(tmp_path, broker.url, replace=text,
                      extra="[rating.rgb]\nred = 7\ngreen = 8\nblue = 9\n")
    assert cfg.rating.rgb is not None and cfg.rating.rgb.red == 7
    desk = make_desk(cfg).start()
    desk.press(1)
    assert wait_until(lambda: factory.pin(7).state and not factory.pin(8).state, timeout=0.1, step=0.001)
    desk.press(5)
    assert wait_until(lambda: factory.pin(8).state and not factory.pin(7).state, timeout=0.1, step=0.001)
