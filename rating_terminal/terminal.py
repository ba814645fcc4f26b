"""The desk terminal's logic: no gpiozero inside, so it is tested with any feedback and display.

- follows ``state/desk/{desk}`` (retained, from ticketing): ticket being served, service, officer;
- ``rate(score)``: thanks first (LED + beep, well inside 100 ms), then a durable ``rating`` event
  with the desk context (nulls when there is none), flagged ``misuse`` when the ticket was
  already rated (also before a restart: ``rated.py``) or the press came within
  ``misuse_window_s`` of the previous press;
- officer keys: one request at a time, the same idempotency id on every retry, and the id of an
  unanswered request is reused by the next press of that key until the desk state moves on, so
  a lost answer never calls two tickets; nothing is sent while the broker is unreachable;
- badge: sign in, sign out, switch officer (``desk`` events through the outbox);
- status: connected / buffering (offline or outbox not empty) / fault, on the LED and display.
"""
from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass, replace
from typing import Any, Callable, Protocol

from common.clock import Clock, SystemClock, local_day
from mqtt import topics
from mqtt.client import DeviceClient, Message
from mqtt.errors import NotConnected, OutboxFull, ProtocolError, RequestTimeout
from mqtt.outbox import Enqueued, Outbox
from mqtt.schemas import DeskData, DeskState, FaultData, RatingData, Request, Response, Status, parse_model, uuid7

from .config import OFFICER_KEYS, TerminalConfig
from .errors import PeripheralError
from .rated import RatedTickets
from .serial_devices import CounterDisplay

log = logging.getLogger(__name__)

OFFLINE = ("MẤT KẾT NỐI", "OFFLINE")
NO_ANSWER = ("KHÔNG PHẢN HỒI", "NO ANSWER")
SERVER_DOWN = ("MÁY CHỦ NGỪNG", "SERVER OFFLINE")
UNKNOWN_CARD = ("THẺ KHÔNG HỢP LỆ", "UNKNOWN CARD")
SIGNED_IN = ("ĐÃ ĐĂNG NHẬP", "SIGNED IN")
SIGNED_OUT = ("ĐÃ ĐĂNG XUẤT", "SIGNED OUT")
FAULTS = {
    "outbox_full": ("Bộ đệm sự kiện đầy, kiểm tra kết nối máy chủ",
                    "Event outbox full, check the server connection"),
    "counter_display": ("Lỗi màn hình số tại quầy", "Counter display error"),
    "badge_reader": ("Lỗi đầu đọc thẻ", "Badge reader error"),
}
BUFFERING_AFTER_S = 1.0  # outbox not empty this long (while connected) shows as buffering


class Feedback(Protocol):
    """What the terminal shows and sounds; Hardware implements it with gpiozero."""

    def thanks(self, score: int) -> None: ...

    def error(self) -> None: ...

    def busy(self) -> None: ...

    def set_status(self, mode: str) -> None: ...


class NoFeedback:
    def thanks(self, score: int) -> None: ...

    def error(self) -> None: ...

    def busy(self) -> None: ...

    def set_status(self, mode: str) -> None: ...


@dataclass(frozen=True)
class DeskContext:
    """What a rating is about: the ticket served (or just served), its service, the officer."""

    ticket: str | None = None
    day: str | None = None
    service: str | None = None
    serving: bool = False
    closed: bool = False


class Terminal:
    """One desk's terminal logic. ``start()`` subscribes and starts the status ticker."""

    def __init__(self, config: TerminalConfig, client: DeviceClient, outbox: Outbox,
                 feedback: Feedback | None = None, display: CounterDisplay | None = None,
                 clock: Clock | None = None, tick_s: float = 0.25, rated: RatedTickets | None = None):
        self.config = config
        self.client = client
        self.outbox = outbox
        self.feedback: Feedback = feedback or NoFeedback()
        self.display = display
        self.clock = clock or SystemClock(config.timezone)
        self.tick_s = tick_s
        self.desk = config.desk
        self.when_rated: Callable[[RatingData], None] | None = None
        self.when_answered: Callable[[str, Response | None], None] | None = None
        self.when_stored: Callable[[RatingData, Enqueued], None] | None = None
        self.context = DeskContext()
        self.officer: str | None = None
        self.ticketing_online: bool | None = None
        self.ratings = 0
        self.misuse = 0
        self._lock = threading.RLock()
        self._view_lock = threading.Lock()
        self._last_press: float | None = None
        self.rated = rated  # durable rated (day, ticket) pairs; None keeps them in memory only
        self._rated: dict[str, set[str]] = rated.load() if rated is not None else {}
        self._state_officer: str | None = None
        self._inflight: str | None = None
        self._unanswered: dict[str, str] = {}
        self._message: tuple[str, str] | None = None
        self._message_until = 0.0
        self._faults: dict[str, tuple[str, str]] = {}
        self._shown: tuple[Any, ...] | None = None
        self._status: str | None = None
        self._depth_since: float | None = None
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        # Ratings are written to the outbox by one writer thread, in press order, so a slow
        # fsync never delays the GPIO callback (the thanks, the next edge's debounce time).
        self._ratings_q: queue.Queue[tuple[RatingData, str] | None] = queue.Queue()
        self._writer: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        site = self.config.site
        self.client.subscribe(topics.state(site, "desk", self.desk), self._on_desk_state)
        self.client.subscribe(topics.status(site, self.config.officer.ticketing_device), self._on_ticketing_status)
        self.client.on_connected.append(self.refresh)
        self.client.on_disconnected.append(self.refresh)
        self.refresh()
        self._ticker = threading.Thread(target=self._tick_loop, name="terminal-ticker", daemon=True)
        self._ticker.start()
        self._writer = threading.Thread(target=self._write_loop, name="rating-writer", daemon=True)
        self._writer.start()

    def stop(self) -> None:
        """Stop the ticker; every rating already pressed is written before this returns."""
        self._stop.set()
        if self._writer is not None:
            self._ratings_q.put(None)
            self._writer.join(30.0)
            self._writer = None
        if self._ticker is not None:
            self._ticker.join(2.0)

    @property
    def alive(self) -> bool:
        """The working threads run (systemd's watchdog is fed only while this holds)."""
        return all(t is not None and t.is_alive() for t in (self._ticker, self._writer))

    def pending_ratings(self) -> int:
        """Ratings pressed but not yet on disk (normally 0 within milliseconds)."""
        return self._ratings_q.unfinished_tasks

    def _write_loop(self) -> None:
        while True:
            item = self._ratings_q.get()
            try:
                if item is None:
                    return
                self._store(*item)
            finally:
                self._ratings_q.task_done()

    def _tick_loop(self) -> None:
        while not self._stop.wait(self.tick_s):
            try:
                self.refresh()
            except Exception:  # noqa: BLE001 - the ticker must survive a bad refresh
                log.exception("status refresh failed")

    # -- following ticketing's state --------------------------------------------------------------

    def _on_desk_state(self, msg: Message) -> None:
        if not msg.payload:
            return
        try:
            state = parse_model(DeskState, msg.payload)
        except ProtocolError as exc:
            log.error("ignored bad desk state on %s: %s", msg.topic, exc)
            return
        self.apply_desk_state(state)

    def apply_desk_state(self, state: DeskState) -> None:
        """Follow ticketing's view of this desk. After a finish the just-served ticket stays the
        rating context (the citizen rates after being served) until another ticket is called."""
        if state.desk != self.desk:
            return
        with self._lock:
            old = self.context
            if state.status == "closed":
                ctx = DeskContext(closed=True)
            elif state.ticket is not None:
                ctx = DeskContext(state.ticket, state.day, state.service, serving=state.status == "serving")
            else:
                ctx = replace(old, serving=False, closed=False)
            if ctx != old:
                self._unanswered.clear()  # the desk moved on: the next press is a new request
            self.context = ctx
            if state.officer != self._state_officer:
                self._state_officer = state.officer
                self.officer = state.officer
        self.refresh()

    def _on_ticketing_status(self, msg: Message) -> None:
        if not msg.payload:
            self.ticketing_online = None
            return
        try:
            st = parse_model(Status, msg.payload)
        except ProtocolError as exc:
            log.warning("ignored bad ticketing status: %s", exc)
            return
        self.ticketing_online = st.state == "online"
        self.refresh()

    # -- ratings --------------------------------------------------------------------------------

    def rate(self, score: int) -> RatingData:
        """A citizen pressed a rating button: thank at once, then record it durably."""
        scale = self.config.rating.scale
        if not 1 <= score <= scale:
            raise ValueError(f"score {score} is outside the scale 1..{scale}")
        self.feedback.thanks(score)
        now = self.clock.monotonic()
        with self._lock:
            ctx = self.context
            day = ctx.day or local_day(self.clock.now(), self.clock.tz).isoformat()
            rated = self._rated.setdefault(day, set())
            reason: str | None = None
            if self._last_press is not None and now - self._last_press < self.config.rating.misuse_window_s:
                reason = "too_soon"
            elif ctx.ticket is not None and ctx.ticket in rated:
                reason = "same_ticket"
            self._last_press = now
            if ctx.ticket is not None:
                rated.add(ctx.ticket)
            for d in [d for d in self._rated if d != day]:
                del self._rated[d]
            data = RatingData(desk=self.desk, score=score, scale=scale, ticket=ctx.ticket,
                              service=ctx.service, officer=self.officer, misuse=reason is not None,
                              misuse_reason=reason)  # type: ignore[arg-type]
            self.ratings += 1
            self.misuse += reason is not None
        if self._writer is not None:
            self._ratings_q.put((data, day))
        else:
            self._store(data, day)
        if self.when_rated is not None:
            self.when_rated(data)
        return data

    def _store(self, data: RatingData, day: str) -> None:
        try:
            done = self.outbox.enqueue("rating", data)
        except OutboxFull as exc:
            log.error("rating %s not stored: %s", data.model_dump(), exc)
            self._set_fault("outbox_full", str(exc))
            return
        except Exception:  # noqa: BLE001 - the writer must keep writing the next ratings
            log.exception("rating %s not stored", data.model_dump())
            return
        if self.rated is not None and data.ticket is not None:
            self.rated.add(day, data.ticket)  # after the rating is on disk
        self._clear_fault("outbox_full")
        if self.when_stored is not None:
            self.when_stored(data, done)

    # -- officer keys -------------------------------------------------------------------------------

    def unreachable(self) -> tuple[str, str] | None:
        """Why a request cannot be sent now (display text), or None."""
        if not self.client.connected:
            return OFFLINE
        if self.ticketing_online is False:
            return SERVER_DOWN
        return None

    def officer_key(self, op: str) -> bool:
        """An officer key was pressed: send its request in the background. False when refused."""
        if op not in OFFICER_KEYS:
            raise ValueError(f"unknown officer key {op!r}; known: {', '.join(OFFICER_KEYS)}")
        problem = self.unreachable()
        if problem is not None:
            self._refuse(problem)
            return False
        with self._lock:
            if self._inflight is not None:
                self.feedback.busy()
                log.info("%s ignored: %s still waiting for its answer", op, self._inflight)
                return False
            self._inflight = op
        threading.Thread(target=self._run_key, args=(op,), name=f"key-{op}", daemon=True).start()
        return True

    def _run_key(self, op: str) -> None:
        resp: Response | None = None
        try:
            resp = self.officer_request(op)
        except Exception:  # noqa: BLE001 - a key must never leave the terminal stuck
            log.exception("officer key %s failed", op)
            self.feedback.error()
        finally:
            with self._lock:
                self._inflight = None
        if self.when_answered is not None:
            self.when_answered(op, resp)

    @property
    def busy(self) -> bool:
        return self._inflight is not None

    def officer_request(self, op: str) -> Response | None:
        """Send one officer request, retrying with the same id; the answer, or None."""
        oc = self.config.officer
        with self._lock:
            rid = self._unanswered.setdefault(op, uuid7())
            req = Request(id=rid, device=self.config.device, desk=self.desk, officer=self.officer,
                          ts=self.clock.now())
        for attempt in range(1, oc.attempts + 1):
            problem = self.unreachable()
            if problem is not None:
                self._refuse(problem)
                return None
            try:
                resp = self.client.request(op, req, timeout=oc.request_timeout_s)
            except RequestTimeout:
                log.warning("%s request %s: no answer (attempt %d of %d)", op, rid, attempt, oc.attempts)
                continue
            except NotConnected:
                self._refuse(OFFLINE)
                return None
            with self._lock:
                if self._unanswered.get(op) == rid:
                    del self._unanswered[op]
            self._answered(op, resp)
            return resp
        self._refuse(NO_ANSWER)
        return None

    def _answered(self, op: str, resp: Response) -> None:
        if not resp.ok:
            log.info("%s refused by ticketing: %s", op, resp.error)
            self.feedback.error()
            self.flash(resp.message_vi or (resp.error or "LỖI"), resp.message_en or (resp.error or "ERROR"))
            return
        t = resp.ticket
        if t is not None:
            with self._lock:
                serving = op in ("call-next", "recall")
                self.context = DeskContext(t.ticket, t.day, t.service, serving=serving)
        self.refresh()

    def call_next(self) -> Response | None:
        return self.officer_request("call-next")

    def recall(self) -> Response | None:
        return self.officer_request("recall")

    def no_show(self) -> Response | None:
        return self.officer_request("no-show")

    def finish(self) -> Response | None:
        return self.officer_request("finish")

    def _refuse(self, why: tuple[str, str]) -> None:
        log.warning("officer key refused: %s / %s", *why)
        self.feedback.error()
        self.flash(*why)

    # -- badge ------------------------------------------------------------------------------------

    def badge(self, card: str) -> list[DeskData]:
        """A card was swiped: sign in; the same card again signs out; another card switches."""
        bc = self.config.badge
        cards = bc.cards if bc else {}
        officer = cards.get(card)
        if officer is None and (bc is None or bc.unknown_cards == "use_card_id"):
            officer = card
        if officer is None:
            log.warning("unknown card %r refused", card)
            self.feedback.error()
            self.flash(*UNKNOWN_CARD)
            return []
        with self._lock:
            current = self.officer
            events: list[DeskData] = []
            if current is not None:
                events.append(DeskData(desk=self.desk, action="sign_out", officer=current,
                                       badge=card if current == officer else None))
            if current != officer:
                events.append(DeskData(desk=self.desk, action="sign_in", officer=officer, badge=card))
            self.officer = None if current == officer else officer
        try:
            self.outbox.enqueue_many([("desk", e) for e in events])
        except OutboxFull as exc:
            self._set_fault("outbox_full", str(exc))
        self.flash(*(SIGNED_IN if events[-1].action == "sign_in" else SIGNED_OUT))
        return events

    # -- faults -------------------------------------------------------------------------------------

    def _set_fault(self, code: str, detail: str | None = None) -> None:
        vi, en = FAULTS[code]
        with self._lock:
            new = code not in self._faults
            self._faults[code] = (vi, en)
        if new:
            self._fault_event(code, True, detail)
            self.refresh()

    def _clear_fault(self, code: str) -> None:
        with self._lock:
            was = self._faults.pop(code, None)
        if was is not None:
            self._fault_event(code, False, None)
            self.refresh()

    def _fault_event(self, code: str, active: bool, detail: str | None) -> None:
        vi, en = FAULTS[code]
        try:
            self.outbox.enqueue("fault", FaultData(code=code, active=active, message_vi=vi, message_en=en,
                                                   detail=detail))
        except OutboxFull:
            log.error("fault %s could not be recorded: outbox full", code)

    def peripheral_failed(self, code: str, exc: Exception) -> None:
        log.error("%s: %s", code, exc)
        self._set_fault(code, str(exc))

    @property
    def faults(self) -> list[str]:
        return sorted(self._faults)

    # -- status and display -------------------------------------------------------------------------

    def flash(self, message_vi: str, message_en: str, seconds: float | None = None) -> None:
        """Show a message on the display for a while, then the normal view again."""
        with self._lock:
            self._message = (message_vi, message_en)
            self._message_until = self.clock.monotonic() + (seconds or self.config.officer.message_s)
        self.refresh()

    def status_mode(self) -> str:
        if self._faults:
            return "fault"
        if not self.client.connected:
            return "buffering"
        now = self.clock.monotonic()
        if self.outbox.depth() > 0:
            if self._depth_since is None:
                self._depth_since = now
            if now - self._depth_since >= BUFFERING_AFTER_S:
                return "buffering"
        else:
            self._depth_since = None
        return "connected"

    def view(self) -> tuple[Any, ...]:
        """What the counter display should show now."""
        with self._lock:
            if self._message is not None and self.clock.monotonic() < self._message_until:
                return ("msg",) + self._message
            self._message = None
            if not self.client.connected:
                return ("msg",) + OFFLINE
            if self.ticketing_online is False:
                return ("msg",) + SERVER_DOWN
            ctx = self.context
            return ("ticket", self.desk, ctx.ticket if ctx.serving else None)

    def refresh(self) -> None:
        """Bring the status LED and the display up to date (only writes what changed)."""
        with self._view_lock:
            mode = self.status_mode()
            if mode != self._status:
                self._status = mode
                self.feedback.set_status(mode)
            if self.display is None:
                return
            view = self.view()
            if view == self._shown:
                return
            try:
                if view[0] == "msg":
                    self.display.show_message(view[1], view[2])
                else:
                    self.display.show_ticket(view[1], view[2])
            except PeripheralError as exc:
                self._shown = None
                threading.Thread(target=self.peripheral_failed, args=("counter_display", exc), daemon=True).start()
                return
            self._shown = view
            if "counter_display" in self._faults:
                threading.Thread(target=self._clear_fault, args=("counter_display",), daemon=True).start()

    def telemetry_extra(self) -> dict[str, Any]:
        return {"ratings": self.ratings, "misuse": self.misuse, "status": self._status or "buffering",
                "officer": self.officer, "faults": self.faults}
