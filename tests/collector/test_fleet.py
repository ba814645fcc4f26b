"""Updates in waves from the devices page, against a real collector and a real broker, with fake
devices that are real MQTT clients answering ``cmd/update`` with ``UpdateState`` (healthy or
failed); over HTTP and in real Chromium at 390 px."""
from __future__ import annotations

import json
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Callable
from zoneinfo import ZoneInfo

import httpx
import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from collector import auth
from collector.db import open_db
from mqtt import topics
from mqtt.schemas import Status, UpdateCommand, UpdateState
from tests.collector.web_client import csrf, login
from tests.collector.wire import SITE, CollectorProcess

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
PW = "mat-khau-rat-dai"
OLD, NEW = "0.1.0", "0.2.0"


class FakeDevice:
    """A device's update agent in miniature: its retained status and update state, and an answer to
    each update command (``healthy``: updated to NEW, else failed) once ``go`` is set."""

    def __init__(self, port: int, device: str, *, healthy: bool = True, hold: bool = False):
        self.device, self.healthy, self.version = device, healthy, OLD
        self.commands: list[UpdateCommand] = []
        self.go = threading.Event()
        if not hold:
            self.go.set()
        self.c = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"fake-{device}", protocol=paho.MQTTv5)
        self.c.on_message = self._on_message
        self.c.on_connect = lambda c, *a: c.subscribe(topics.command(SITE, device, "update"), qos=1)
        self.c.connect("127.0.0.1", port)
        self.c.loop_start()
        self._status()
        self._state("idle")

    def _status(self) -> None:
        st = Status(state="online", device=self.device, role="rating-terminal", version=self.version,
                    ts=datetime.now(TZ))
        self.c.publish(topics.status(SITE, self.device), st.dumps(), qos=1, retain=True).wait_for_publish(5)

    def _state(self, state: str, command: str | None = None, detail: str = "") -> None:
        st = UpdateState(device=self.device, state=state, version=self.version,  # type: ignore[arg-type]
                         target=NEW if command else "", command=command, detail=detail, ts=datetime.now(TZ))
        self.c.publish(topics.device_state(SITE, self.device, "update"), st.dumps(), qos=1, retain=True)

    def _on_message(self, c: paho.Client, userdata: object, msg: paho.MQTTMessage) -> None:
        cmd = UpdateCommand.model_validate_json(msg.payload)
        self.commands.append(cmd)
        threading.Thread(target=self._answer, args=(cmd,), daemon=True).start()

    def _answer(self, cmd: UpdateCommand) -> None:
        self._state("updating", cmd.id)
        self.go.wait(120)
        if self.healthy:
            self.version = NEW
            self._status()
            self._state("updated", cmd.id)
        else:
            self._state("failed", cmd.id, "the new unit did not stay up: rolled back to 0.1.0")

    def close(self) -> None:
        self.c.loop_stop()
        self.c.disconnect()


def wait_for(pred: Callable[[], object], timeout: float = 30.0, what: str = "") -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout}s: {what}")


@pytest.fixture
def site(broker, tmp_path: Path):
    """A collector offering release NEW (latest.json), with a technician and a viewer."""
    releases = tmp_path / "releases"
    releases.mkdir()
    (releases / "latest.json").write_text(json.dumps({"version": NEW, "wheel": "motcua-0.2.0.whl"}))
    cfg = tmp_path / "collector.toml"
    cfg.write_text(f'releases = "{releases}"\n')
    db = tmp_path / "collector.db"
    conn = open_db(db)
    auth.add_user(conn, "kythuat", PW, "technician")
    auth.add_user(conn, "xem", PW, "viewer")
    conn.close()
    col = CollectorProcess(broker.url, db, extra=["--config", str(cfg)]).start()
    devices: list[FakeDevice] = []
    yield col, devices
    for d in devices:
        d.close()
    col.stop()


def devices_json(client: httpx.Client) -> dict:
    return client.get("/api/devices").json()


def known(client: httpx.Client, n: int, version: str = OLD) -> None:
    wait_for(lambda: sum(1 for d in devices_json(client)["items"]
                         if d["version"] == version and d["update"]) >= n, what=f"{n} devices on {version}")


def ask(client: httpx.Client, devices: list[str], wave: int) -> httpx.Response:
    data = {"device": devices, "wave": str(wave), "csrf_token": csrf(client, "/devices")}
    return client.post("/devices/update", data=data)


def rollout(client: httpx.Client) -> dict:
    r = client.get("/api/devices/rollout").json()
    assert r["offered_release"] == NEW
    return r["rollout"] or {}


def test_waves_of_two_wait_for_both_and_versions_show(broker, site):
    col, devices = site
    devs = [FakeDevice(broker.port, f"rt-0{i}", hold=i <= 2) for i in (1, 2, 3, 4)]
    devices.extend(devs)
    with httpx.Client(base_url=col.url, follow_redirects=False) as s:
        assert login(s, "kythuat", PW).status_code == 303
        known(s, 4)
        page = s.get("/devices").text
        assert f"<code>{NEW}</code>" in page and "Cũ" in page and 'id="update-form"' in page
        r = ask(s, [d.device for d in devs], 2)
        assert r.status_code == 303, r.text
        wait_for(lambda: devs[0].commands and devs[1].commands, what="wave 1 asked")
        wait_for(lambda: {d["device"]: (d["update"] or {}).get("state") for d in devices_json(s)["items"]}["rt-01"]
                 == "updating", what="rt-01 updating")
        devs[0].go.set()  # rt-01 healthy, rt-02 still updating: wave 2 must wait
        wait_for(lambda: {d["device"]: d["version"] for d in devices_json(s)["items"]}["rt-01"] == NEW,
                 what="rt-01 on NEW")
        time.sleep(1.5)  # the collector's wave thread polls every 0.5 s: give it a few turns
        assert not devs[2].commands and not devs[3].commands
        assert rollout(s)["status"] == "running" and rollout(s)["wave"] == 1
        busy = ask(s, ["rt-03"], 1)  # one rollout at a time, said as such (not "bad request")
        assert busy.status_code == 409 and "Không bắt đầu được đợt cập nhật mới." in busy.text, busy.text
        devs[1].go.set()
        wait_for(lambda: rollout(s).get("status") == "done", what="rollout done")
        assert [len(d.commands) for d in devs] == [1, 1, 1, 1]
        assert rollout(s)["sent"] == [["rt-01", "rt-02"], ["rt-03", "rt-04"]]
        items = [d for d in devices_json(s)["items"] if d["device"].startswith("rt-")]
        assert {d["device"]: (d["version"], d["update"]["state"], d["outdated"]) for d in items} == {
            f"rt-0{i}": (NEW, "updated", False) for i in (1, 2, 3, 4)}


def test_a_failed_device_stops_the_waves_and_is_shown_first(broker, site):
    col, devices = site
    devs = [FakeDevice(broker.port, "rt-01"), FakeDevice(broker.port, "rt-02", healthy=False),
            FakeDevice(broker.port, "rt-03")]
    devices.extend(devs)
    with httpx.Client(base_url=col.url, follow_redirects=False) as s:
        assert login(s, "kythuat", PW).status_code == 303
        known(s, 3)
        assert ask(s, ["rt-01", "rt-02", "rt-03"], 2).status_code == 303
        wait_for(lambda: rollout(s).get("status") == "stopped", what="rollout stopped")
        ro = rollout(s)
        assert ro["failed"] == "rt-02" and "rt-02: failed" in ro["reason"] and "rolled back" in ro["reason"]
        time.sleep(1.5)
        assert not devs[2].commands  # the next wave was never asked
        order = [d["device"] for d in devices_json(s)["items"] if d["device"].startswith("rt-")]
        assert order == ["rt-02", "rt-03", "rt-01"]  # failed, then outdated, then the rest
        page = s.get("/devices").text
        assert 'id="rollout-reason"' in page and "Lỗi cập nhật" in page and 'class="update-failed"' in page
        assert page.index('data-device="rt-02"') < page.index('data-device="rt-01"')


def test_a_viewer_cannot_ask_and_a_form_without_csrf_is_refused(broker, site):
    col, devices = site
    devices.append(FakeDevice(broker.port, "rt-01"))
    with httpx.Client(base_url=col.url, follow_redirects=False) as s:
        assert login(s, "xem", PW).status_code == 303
        assert s.get("/devices").status_code == 403  # a viewer does not see the devices area
        token = csrf(s, "/login")
        r = s.post("/devices/update", data={"device": "rt-01", "wave": "1", "csrf_token": token})
        assert r.status_code == 403
    with httpx.Client(base_url=col.url, follow_redirects=False) as s:
        assert login(s, "kythuat", PW).status_code == 303
        known(s, 1)
        assert s.post("/devices/update", data={"device": "rt-01", "wave": "1"}).status_code == 403
        assert ask(s, ["rt-99"], 1).status_code == 400  # an unknown device: said, nothing sent
        time.sleep(1.0)
        assert not devices[0].commands and rollout(s) == {}


def test_update_in_chromium_at_390px(broker, site, artifacts):
    playwright = pytest.importorskip("playwright.sync_api")
    from tests.collector.test_browser import CHROMIUM_ARGS, no_horizontal_scroll
    col, devices = site
    devs = [FakeDevice(broker.port, f"rt-0{i}") for i in (1, 2, 3)]
    devices.extend(devs)
    with httpx.Client(base_url=col.url) as s:
        login(s, "kythuat", PW)
        known(s, 3)
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
        page = b.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True)
        page.goto(col.url + "/login")
        page.fill("#user", "kythuat")
        page.fill("#password", PW)
        page.click("#login")
        page.goto(col.url + "/devices")
        assert NEW in page.locator("#offered-release").inner_text()
        assert page.locator('tr[data-device="rt-01"] .version').inner_text().startswith(OLD)
        for d in ("rt-01", "rt-02"):
            page.check(f'input[name=device][value="{d}"]')
        page.fill("input[name=wave]", "2")
        page.click("#update-ask")
        page.wait_for_selector("#rollout")
        for _ in range(100):
            if page.locator("#rollout").get_attribute("data-status") == "done":
                break
            time.sleep(0.2)
            page.reload()
        assert page.locator("#rollout").get_attribute("data-status") == "done"
        assert NEW in page.locator('tr[data-device="rt-01"] .version').inner_text()
        assert page.locator('tr[data-device="rt-02"] .update-state [data-state]').get_attribute(
            "data-state") == "updated"
        assert not devs[2].commands
        # rt-03 (still outdated) now comes before the two updated ones
        rows = page.locator("#device-table tbody tr")
        order = [rows.nth(i).get_attribute("data-device") for i in range(rows.count())]
        assert [d for d in order if d.startswith("rt-")] == ["rt-03", "rt-01", "rt-02"]
        assert "Cũ" in page.locator('tr[data-device="rt-03"]').inner_text()
        width, inner = no_horizontal_scroll(page)
        assert inner == 390 and width <= 390, (width, inner)
        shots = artifacts / "collector"
        shots.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shots / "devices-update-390.png"), full_page=True)
        b.close()


def test_rollout_resends_until_taken_and_stops_on_silence():
    """The wave decisions alone (common/waves.py): a command is sent again until the device takes
    it (a command is not retained); a device silent past the timeout stops the rollout."""
    from common.waves import Rollout
    sent: list[tuple[str, str]] = []
    states: dict[str, UpdateState] = {}
    ro = Rollout(["a", "b", "c"], 2, resend_s=5, timeout_s=60)
    send = lambda d, cmd: sent.append((d, cmd.id))  # noqa: E731
    assert ro.step(states.get, send, now=0) == "running" and [d for d, _ in sent] == ["a", "b"]
    ro.step(states.get, send, now=2)
    assert len(sent) == 2  # not yet: resend_s
    states["a"] = UpdateState(device="a", state="updating", version=OLD, command=ro.cmds["a"].id, ts=datetime.now(TZ))
    ro.step(states.get, send, now=6)
    assert [d for d, _ in sent] == ["a", "b", "b"] and sent[1][1] == sent[2][1]  # same command id again
    states["b"] = UpdateState(device="b", state="current", version=NEW, command=ro.cmds["b"].id, ts=datetime.now(TZ))
    ro.step(states.get, send, now=7)
    assert ro.status == "running" and ro.wave == 0  # a is still updating
    states["a"] = states["a"].model_copy(update={"state": "updated"})
    ro.step(states.get, send, now=8)
    assert ro.wave == 1 and sent[-1][0] == "c"
    assert ro.step(states.get, send, now=100) == "stopped" and ro.failed == "c" and "no answer" in ro.reason
