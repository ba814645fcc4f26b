"""Serial peripherals through pyserial loop:// and a socat pty: display bytes, badge sign-in/out."""
from __future__ import annotations

import json
import shutil
import subprocess

import pytest
import serial

from mqtt import topics
from mqtt.schemas import DeskState, parse_event
from rating_terminal.serial_devices import BadgeReader, Cd5220Display, LineDisplay, fold_ascii
from tests.support.mqtt import Recorder

from .conftest import DESK, SITE, make_config, wait_until


def test_line_display_bytes():
    port = serial.serial_for_url("loop://", timeout=0.2)
    d = LineDisplay(port, width=20)
    d.show_ticket(5, "1023")
    d.show_ticket(5, None)
    d.show_message("MẤT KẾT NỐI", "OFFLINE")
    d.clear()
    assert port.read(port.in_waiting) == (
        b"NUM 05 1023\r\n" b"IDLE 05\r\n" + "MSG MẤT KẾT NỐI|OFFLINE\r\n".encode() + b"CLR\r\n")


def test_ascii_display_folds_vietnamese_and_cd5220_bytes():
    assert fold_ascii("MẤT KẾT NỐI / Đã đăng nhập") == "MAT KET NOI / Da dang nhap"
    port = serial.serial_for_url("loop://", timeout=0.2)
    LineDisplay(port, encoding="ascii").show_message("MẤT KẾT NỐI", "OFFLINE")
    assert port.read(port.in_waiting) == b"MSG MAT KET NOI|OFFLINE\r\n"
    vfd = Cd5220Display(port, width=20)
    vfd.show_ticket(5, "1023")
    assert port.read(port.in_waiting) == (b"\x1b@" b"\x0c\x1bQA" + b"QUAY 05 / DESK 05".ljust(20) + b"\r"
                                          b"\x1bQB" + b"SO 1023".ljust(20) + b"\r")


def test_display_follows_desk_state_and_goes_offline(broker, tmp_path, make_desk):
    cfg = make_config(tmp_path, broker.url, extra='[display]\nport = "loop://"\n')
    desk = make_desk(cfg).start()
    # before the first connect it may briefly say OFFLINE; once connected it shows the idle desk
    assert desk.display_bytes().endswith(b"IDLE 05\r\n")
    rec = Recorder(broker.port, "nothing/#")
    rec.publish(topics.state(SITE, "desk", DESK),
                DeskState(desk=DESK, ticket="1023", number=1023, day="2026-11-23", service="HT",
                          status="serving").dumps(), retain=True)
    assert desk.display_bytes() == b"NUM 05 1023\r\n"
    rec.close()
    broker.stop()
    assert wait_until(lambda: not desk.rt.client.connected)
    assert desk.display_bytes() == "MSG MẤT KẾT NỐI|OFFLINE\r\n".encode()
    broker.start()
    assert desk.rt.client.wait_connected(10)
    assert desk.display_bytes(0.5) == b"NUM 05 1023\r\n"


def test_badge_feed_splits_lines():
    r = BadgeReader(None, lambda c: None)
    assert r.feed(b"04A1") == []
    assert r.feed(b"B2\r\nCARD-2\n\r\n  \nX") == ["04A1B2", "CARD-2"]
    assert r.feed(b"\x01\x02\n") == []


def _desk_events(rec: Recorder) -> list[dict]:
    with rec.lock:
        msgs = list(rec.messages)
    out = []
    for t, p, _ in msgs:
        parse_event(t, p)
        out.append(json.loads(p)["data"])
    return out


def test_badge_signs_in_out_and_switches(broker, tmp_path, make_desk):
    cfg = make_config(tmp_path, broker.url,
                      extra='[badge]\nport = "loop://"\n[badge.cards]\n"04A1B2C3" = "nv-0142"\n')
    rec = Recorder(broker.port, topics.events_filter(SITE, "desk"))
    desk = make_desk(cfg).start()
    desk.badge_port.write(b"04A1B2C3\r\n")             # sign in (mapped officer id)
    assert rec.wait_for(lambda m: len(m) >= 1)
    assert desk.terminal.officer == "nv-0142"
    desk.badge_port.write(b"04A1B2C3\r\n")             # same card: sign out
    assert rec.wait_for(lambda m: len(m) >= 2)
    assert desk.terminal.officer is None
    desk.badge_port.write(b"04A1B2C3\r\nFFEE0011\r\n")  # sign in, then another card switches
    assert rec.wait_for(lambda m: len(m) >= 5)
    got = [(d["action"], d["officer"], d["badge"]) for d in _desk_events(rec)]
    assert got == [("sign_in", "nv-0142", "04A1B2C3"), ("sign_out", "nv-0142", "04A1B2C3"),
                   ("sign_in", "nv-0142", "04A1B2C3"), ("sign_out", "nv-0142", None),
                   ("sign_in", "FFEE0011", "FFEE0011")]
    assert all(d["desk"] == DESK for d in _desk_events(rec))
    assert desk.terminal.officer == "FFEE0011"


def test_badge_unknown_card_refused_when_configured(broker, tmp_path, make_desk, factory):
    cfg = make_config(tmp_path, broker.url, extra='[badge]\nport = "loop://"\nunknown_cards = "reject"\n')
    desk = make_desk(cfg).start()
    assert desk.terminal.badge("nobody") == []
    assert desk.terminal.officer is None


@pytest.mark.skipif(shutil.which("socat") is None, reason="socat not installed")
def test_badge_reader_on_a_socat_pty(tmp_path):
    a, b = tmp_path / "reader", tmp_path / "host"
    proc = subprocess.Popen(["socat", f"pty,raw,echo=0,link={a}", f"pty,raw,echo=0,link={b}"],
                            stderr=subprocess.DEVNULL)
    try:
        assert wait_until(lambda: a.exists() and b.exists(), 5)
        cards: list[str] = []
        reader = BadgeReader(serial.Serial(str(b), 9600, timeout=0.1), cards.append)
        reader.start()
        with serial.Serial(str(a), 9600) as dev:
            dev.write(b"04A1B2C3\r\n0099\n")
            dev.flush()
        assert wait_until(lambda: len(cards) == 2, 5)
        assert cards == ["04A1B2C3", "0099"]
        reader.stop()
    finally:
        proc.terminate()
        proc.wait(5)
