"""Officer keys on MockFactory pins against a fake ticketing responder on a real Mosquitto."""
from __future__ import annotations

import json
import time

from mqtt import topics
from mqtt.schemas import Status
from tests.support.mqtt import Recorder

from .conftest import BUZZER, DESK, SITE, make_config, wait_until

FAST = {"request_timeout_s = 2.0": "request_timeout_s = 0.4"}


def _display_cfg(tmp_path, url, **kw):
    return make_config(tmp_path, url, extra='[display]\nport = "loop://"\n', **kw)


def test_call_next_shows_the_ticket_and_rating_carries_it(broker, tmp_path, make_desk, make_ticketing):
    tk = make_ticketing(broker.url)
    desk = make_desk(_display_cfg(tmp_path, broker.url)).start()
    desk.display_bytes()
    answers = []
    desk.terminal.when_answered = lambda op, r: answers.append((op, r))
    desk.key("call-next")
    assert wait_until(lambda: answers)
    op, resp = answers[0]
    assert op == "call-next" and resp.ok and resp.ticket.ticket == "1001"
    assert desk.display_bytes() == b"NUM 05 1001\r\n"
    (op, req), = tk.requests
    assert (req.desk, req.device) == (DESK, "rt-05")
    assert desk.terminal.context.ticket == "1001"
    desk.key("finish")
    assert wait_until(lambda: len(answers) == 2)
    assert answers[1][1].ok and tk.current == {}
    assert desk.display_bytes() == b"IDLE 05\r\n"
    assert desk.terminal.context.ticket == "1001"  # the citizen rates the ticket just served


def test_lost_answer_retries_with_same_id_and_calls_one_ticket(broker, tmp_path, make_desk, make_ticketing):
    tk = make_ticketing(broker.url, lose_answers=1)
    desk = make_desk(make_config(tmp_path, broker.url, replace=FAST)).start()
    resp = desk.terminal.call_next()
    assert resp is not None and resp.ok and resp.ticket.ticket == "1001"
    ids = [r.id for _, r in tk.requests]
    assert len(ids) == 2 and ids[0] == ids[1]       # the retry reused the idempotency id
    assert tk.called == ["1001"]                     # one ticket called, not two
    resp2 = desk.terminal.call_next()                # the next press is a new request
    assert resp2.ticket.ticket == "1002" and tk.requests[-1][1].id != ids[0]


def test_unanswered_request_id_is_reused_by_the_next_press(broker, tmp_path, make_desk, make_ticketing):
    tk = make_ticketing(broker.url, lose_answers=3)
    cfg = make_config(tmp_path, broker.url,
                      replace={**FAST, "attempts = 3": "attempts = 2", "message_s = 4.0": "message_s = 0.2"})
    desk = make_desk(cfg)
    # keep the desk state from moving on: this fake publishes no state when told not to
    tk._publish = lambda state: None
    desk.start()
    assert desk.terminal.call_next() is None         # two attempts, both answers lost
    assert tk.called == ["1001"]
    resp = desk.terminal.call_next()                 # third answer lost, fourth arrives
    assert resp is not None and resp.ticket.ticket == "1001"
    assert len({r.id for _, r in tk.requests}) == 1 and len(tk.requests) == 4
    assert tk.called == ["1001"]


def test_key_ignored_with_short_beep_while_in_flight(broker, tmp_path, make_desk, make_ticketing, factory):
    tk = make_ticketing(broker.url)
    release = []
    orig = tk._do

    def slow(op, req):
        time.sleep(0.5)
        release.append(op)
        return orig(op, req)

    tk._do = slow
    desk = make_desk(make_config(tmp_path, broker.url)).start()
    assert desk.terminal.officer_key("call-next")
    time.sleep(0.1)
    beeps = len(factory.pin(BUZZER).states)
    assert not desk.terminal.officer_key("call-next")   # in flight: ignored
    assert not desk.terminal.officer_key("finish")      # any key waits for the answer
    assert len(factory.pin(BUZZER).states) > beeps        # ... with a short beep
    assert wait_until(lambda: not desk.terminal.busy, 5)
    assert [op for op, _ in tk.requests] == ["call-next"] and tk.called == ["1001"]


def test_keys_send_nothing_while_offline(broker, tmp_path, make_desk, make_ticketing, factory):
    desk = make_desk(_display_cfg(tmp_path, broker.url)).start()
    desk.display_bytes()
    broker.stop()
    assert wait_until(lambda: not desk.rt.client.connected)
    assert desk.display_bytes() == "MSG MẤT KẾT NỐI|OFFLINE\r\n".encode()
    beeps = len(factory.pin(BUZZER).states)
    desk.key("call-next")
    assert not desk.terminal.busy
    assert len(factory.pin(BUZZER).states) > beeps                      # error pattern sounds
    assert desk.terminal.view() == ("msg", "MẤT KẾT NỐI", "OFFLINE")
    broker.start()
    tk = make_ticketing(broker.url)
    assert desk.rt.client.wait_connected(10)
    time.sleep(0.5)
    assert tk.requests == []                                             # nothing was queued


def test_ticketing_offline_and_refusals_are_shown(broker, tmp_path, make_desk, make_ticketing):
    tk = make_ticketing(broker.url, waiting=0)
    desk = make_desk(_display_cfg(tmp_path, broker.url)).start()
    desk.display_bytes()
    resp = desk.terminal.call_next()
    assert resp is not None and not resp.ok and resp.error == "queue_empty"
    assert desk.display_bytes(0.1) == "MSG HẾT SỐ CHỜ|QUEUE EMPTY\r\n".encode()
    # ticketing's retained status says offline: the key refuses at once and sends nothing
    rec = Recorder(broker.port, "nothing/#")
    rec.publish(topics.status(SITE, "ticketing"),
                Status(state="offline", device="ticketing", role="ticketing", version="0").dumps(), retain=True)
    assert wait_until(lambda: desk.terminal.ticketing_online is False)
    n = len(tk.requests)
    assert not desk.terminal.officer_key("call-next")
    assert "MÁY CHỦ NGỪNG|SERVER OFFLINE".encode() in desk.display_bytes(0.2)
    time.sleep(0.3)
    assert len(tk.requests) == n
    rec.close()


def test_no_answer_is_shown_when_ticketing_is_silent(broker, tmp_path, make_desk):
    desk = make_desk(_display_cfg(tmp_path, broker.url, replace={**FAST, "attempts = 3": "attempts = 2"})).start()
    desk.display_bytes()
    rec = Recorder(broker.port, topics.requests_filter(SITE, "recall"))
    assert desk.terminal.recall() is None
    assert "KHÔNG PHẢN HỒI|NO ANSWER".encode() in desk.display_bytes(0.1)
    ids = [json.loads(p)["id"] for _, p, _ in rec.messages]
    assert len(ids) == 2 and len(set(ids)) == 1
    rec.close()
