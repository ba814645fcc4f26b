"""The generated Mosquitto config, run for real: each device only under its own topics."""
from __future__ import annotations

import re
import time
import tomllib
from pathlib import Path

import pytest

from tests.ops.support import SITE, Probe, SiteBroker, run_ops, wait_for

T = f"motcua/v1/{SITE}"


def creds(root: Path, device: str) -> str:
    return tomllib.loads((root / f"etc/motcua/provision/{device}/mqtt.toml").read_text())["mqtt"]["password"]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("server")
    run_ops("server-init", "--site", SITE, "--root", str(root))
    for desk, dev in ((1, "rt-01"), (2, "rt-02")):
        run_ops("provision-device", "--site", SITE, "--device", dev, "--role", "rating-terminal", "--desk",
                str(desk), "--root", str(root))
    b = SiteBroker(root)
    b.start()
    yield root, b
    b.stop()


def server_password(root: Path, user: str) -> str:
    return tomllib.loads((root / f"etc/motcua/{user}.toml").read_text())["mqtt"]["password"]


def test_generated_files_use_password_and_acl(site) -> None:
    root, _ = site
    conf = (root / "etc/mosquitto/conf.d/motcua.conf").read_text()
    assert "allow_anonymous false" in conf and "password_file /etc/mosquitto/motcua/passwd" in conf
    assert re.search(r"^pattern write motcua/v1/camau-hcc/dev/%u/#$", (root / "etc/mosquitto/motcua/acl").read_text(), re.M)
    for line in (root / "etc/mosquitto/motcua/passwd").read_text().splitlines():
        assert re.match(r"^[a-z0-9-]+:\$7\$101\$[A-Za-z0-9+/=]{16}\$[A-Za-z0-9+/=]{88}$", line)


def test_device_publishes_only_under_its_own_topics(site) -> None:
    root, b = site
    watcher = Probe(b.port, "collector", server_password(root, "collector"))
    assert watcher.connect()
    watcher.subscribe(f"{T}/#")
    a = Probe(b.port, "rt-01", creds(root, "rt-01"))
    assert a.connect(), "a provisioned device (Python-made PBKDF2 hash) must be let in"
    a.publish(f"{T}/dev/rt-02/evt/rating", b"forged")
    a.publish(f"{T}/state/desk/1", b"forged state")
    a.publish(f"{T}/dev/rt-01/evt/rating", b"mine")
    assert wait_for(lambda: (f"{T}/dev/rt-01/evt/rating", b"mine") in watcher.got)
    time.sleep(0.3)
    topics = [t for t, _ in watcher.got]
    assert f"{T}/dev/rt-02/evt/rating" not in topics
    assert f"{T}/state/desk/1" not in topics
    a.close()
    watcher.close()


def test_device_reads_only_its_own_commands_and_the_site_state(site) -> None:
    root, b = site
    a = Probe(b.port, "rt-01", creds(root, "rt-01"))
    owner = Probe(b.port, "rt-02", creds(root, "rt-02"))
    assert a.connect() and owner.connect()
    a.subscribe(f"{T}/dev/rt-02/cmd/#")
    a.subscribe(f"{T}/dev/rt-02/resp")
    a.subscribe(f"{T}/state/#")
    owner.subscribe(f"{T}/dev/rt-02/cmd/#")
    owner.subscribe(f"{T}/dev/rt-02/resp")
    ticketing = Probe(b.port, "ticketing", server_password(root, "ticketing"))
    collector = Probe(b.port, "collector", server_password(root, "collector"))
    assert ticketing.connect() and collector.connect()
    collector.publish(f"{T}/dev/rt-02/cmd/identify", b"blink")
    ticketing.publish(f"{T}/dev/rt-02/resp", b"answer")
    ticketing.publish(f"{T}/state/calls", b"calls")
    assert wait_for(lambda: len(owner.got) == 2), owner.got
    assert wait_for(lambda: (f"{T}/state/calls", b"calls") in a.got)
    time.sleep(0.3)
    assert [t for t, _ in a.got] == [f"{T}/state/calls"], "rt-01 must not see rt-02's commands or answers"
    for p in (a, owner, ticketing, collector):
        p.close()


def test_ticketing_serves_requests_and_nothing_else(site) -> None:
    root, b = site
    ticketing = Probe(b.port, "ticketing", server_password(root, "ticketing"))
    assert ticketing.connect()
    ticketing.subscribe(f"{T}/req/#")  # the old shared request tree: nobody may write there now
    ticketing.subscribe(f"{T}/dev/+/req/#")
    ticketing.subscribe(f"{T}/dev/+/evt/ticket")
    ticketing.subscribe(f"{T}/dev/+/evt/rating")  # not its business: denied
    a = Probe(b.port, "rt-01", creds(root, "rt-01"))
    assert a.connect()
    a.publish(f"{T}/req/call-next", b"{}")  # denied: requests go under the asker's own tree
    a.publish(f"{T}/dev/rt-01/req/call-next", b"{}")
    a.publish(f"{T}/dev/rt-01/evt/ticket", b"t")
    a.publish(f"{T}/dev/rt-01/evt/rating", b"r")
    assert wait_for(lambda: len(ticketing.got) == 2)
    time.sleep(0.3)
    assert sorted(t for t, _ in ticketing.got) == [f"{T}/dev/rt-01/evt/ticket", f"{T}/dev/rt-01/req/call-next"]
    a.close()
    ticketing.close()


def test_unknown_user_and_wrong_password_cannot_connect(site) -> None:
    root, b = site
    for user, pw in (("intruder", "x"), ("rt-01", "wrong"), (None, None)):
        p = Probe(b.port, user, pw)
        assert not p.connect(), f"{user} must be refused"
        assert p.rc.value in (0x86, 0x87), p.rc
        p.close()


def test_provisioning_after_start_and_replacing_a_device(site) -> None:
    root, b = site
    run_ops("provision-device", "--site", SITE, "--device", "kiosk-9", "--role", "kiosk", "--root", str(root))
    b.reload()
    k = Probe(b.port, "kiosk-9", creds(root, "kiosk-9"))
    assert k.connect()
    k.close()
    old = creds(root, "kiosk-9")
    again = run_ops("provision-device", "--site", SITE, "--device", "kiosk-9", "--role", "kiosk", "--root",
                    str(root), check=False)
    assert again.returncode == 2 and "--replace" in again.stderr
    run_ops("provision-device", "--site", SITE, "--device", "kiosk-9", "--role", "kiosk", "--root", str(root),
            "--replace")
    b.reload()
    assert not Probe(b.port, "kiosk-9", old).connect(), "the failed device's old password must stop working"
    assert Probe(b.port, "kiosk-9", creds(root, "kiosk-9")).connect()


def test_provision_refuses_other_site_and_server_names(site) -> None:
    root, _ = site
    other = run_ops("provision-device", "--site", "other-site", "--device", "x-1", "--role", "kiosk",
                    "--root", str(root), check=False)
    assert other.returncode == 2 and "camau-hcc" in other.stderr
    srv = run_ops("provision-device", "--site", SITE, "--device", "ticketing", "--role", "kiosk",
                  "--root", str(root), check=False)
    assert srv.returncode == 2


def test_update_devices_waves_log_in_beside_the_running_collector(site) -> None:
    """update-devices' waves use the collector's password as 'collector-waves': the live collector
    keeps its connection (client ids are bound to user names), and the waves may only ask devices
    to update and read their update state."""
    root, b = site
    password = server_password(root, "collector")
    collector = Probe(b.port, "collector", password)
    assert collector.connect()
    collector.subscribe(f"{T}/dev/+/status")
    waves = Probe(b.port, "collector-waves", password)
    assert waves.connect()
    waves.subscribe(f"{T}/dev/+/state/update/#")
    waves.subscribe(f"{T}/dev/+/status")                      # denied: not its business
    dev = Probe(b.port, "rt-01", creds(root, "rt-01"))
    assert dev.connect()
    dev.subscribe(f"{T}/dev/rt-01/cmd/#")
    waves.publish(f"{T}/dev/rt-01/cmd/update", b"u")
    waves.publish(f"{T}/dev/rt-01/cmd/reboot", b"r")          # denied: only update
    dev.publish(f"{T}/dev/rt-01/state/update", b"s", retain=True)
    dev.publish(f"{T}/dev/rt-01/status", b"online")
    assert wait_for(lambda: len(dev.got) >= 1 and len(waves.got) >= 1 and len(collector.got) >= 1)
    time.sleep(0.3)
    assert [t for t, _ in dev.got] == [f"{T}/dev/rt-01/cmd/update"]
    assert [t for t, _ in waves.got] == [f"{T}/dev/rt-01/state/update"]
    assert collector.c.is_connected(), "the collector's own login was not taken over"
    assert [t for t, _ in collector.got] == [f"{T}/dev/rt-01/status"]
    for p in (dev, waves, collector):
        p.close()


def test_a_devices_update_agent_logs_in_beside_its_unit(site) -> None:
    """The agent (rt-01-update, the device's password) and the role unit (rt-01) stay connected
    side by side; the agent reads only its own cmd/update and writes only its own state/update."""
    root, b = site
    password = creds(root, "rt-01")
    unit = Probe(b.port, "rt-01", password)
    assert unit.connect()
    agent = Probe(b.port, "rt-01-update", password)
    assert agent.connect()
    agent.subscribe(f"{T}/dev/rt-01/cmd/#")
    agent.subscribe(f"{T}/dev/rt-02/cmd/update")              # denied: another device's
    watcher = Probe(b.port, "collector", server_password(root, "collector"))
    assert watcher.connect()
    watcher.subscribe(f"{T}/dev/+/state/#")
    watcher.subscribe(f"{T}/dev/+/evt/#")
    for dev in ("rt-01", "rt-02"):
        watcher.publish(f"{T}/dev/{dev}/cmd/update", b"u")
        watcher.publish(f"{T}/dev/{dev}/cmd/reboot", b"r")
    agent.publish(f"{T}/dev/rt-01/state/update", b"from-agent")
    agent.publish(f"{T}/dev/rt-02/state/update", b"x")        # denied
    agent.publish(f"{T}/dev/rt-01/evt/rating", b"x")          # denied: the unit's business
    assert wait_for(lambda: len(agent.got) >= 1 and (f"{T}/dev/rt-01/state/update", b"from-agent") in watcher.got)
    time.sleep(0.3)
    assert [t for t, _ in agent.got] == [f"{T}/dev/rt-01/cmd/update"]
    assert [m for m in watcher.got if m[1] != b"s"] == [(f"{T}/dev/rt-01/state/update", b"from-agent")]
    assert unit.c.is_connected() and agent.c.is_connected(), "neither took the other's session over"
    for p in (unit, agent, watcher):
        p.close()


def test_an_agent_without_its_own_login_falls_back_to_the_devices(site) -> None:
    """A device provisioned before update users existed: the broker refuses '<id>-update', the
    agent logs in as the device (as before) and still answers."""
    import threading

    from mqtt.transport import BrokerConfig
    from ops.fleet import Agent
    root, b = site

    class NoVenv:
        def current(self) -> None:
            return None

    watcher = Probe(b.port, "collector", server_password(root, "collector"))
    assert watcher.connect()
    watcher.subscribe(f"{T}/dev/rt-02/state/update")
    broker = BrokerConfig(url=f"mqtt://127.0.0.1:{b.port}", username="rt-02-update", password=creds(root, "rt-02"))
    pw = root / "etc/mosquitto/motcua/passwd"
    before = pw.read_text()
    pw.write_text("".join(l for l in before.splitlines(True) if not l.startswith("rt-02-update:")))
    b.reload()
    try:
        agent = Agent(broker, SITE, "rt-02", NoVenv(), fallback_username="rt-02")  # type: ignore[arg-type]
        t = threading.Thread(target=agent.serve, daemon=True)
        t.start()
        assert wait_for(lambda: any(b'"idle"' in p for _, p in watcher.got), 20), "the agent never got in"
        assert agent.broker.username == "rt-02"
        agent.stop()
        t.join(10)
    finally:
        pw.write_text(before)
        b.reload()
        watcher.close()


def test_provisioning_needs_no_templates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """provision-device runs from the installed venv, which has no config/mosquitto templates: it
    edits the ACL's update-agent section in place (found by the system test)."""
    from ops import cli, mosquitto as mq
    run_ops("server-init", "--site", SITE, "--root", str(tmp_path))
    monkeypatch.setattr(mq, "TEMPLATES", tmp_path / "no-templates-here")
    for dev in ("kiosk-1", "rt-03"):
        extra = ["--desk", "3"] if dev == "rt-03" else []
        assert cli.provision_device(["--site", SITE, "--device", dev, "--role", dev.startswith("rt") and
                                     "rating-terminal" or "kiosk", *extra, "--root", str(tmp_path)]) == 0
    acl = (tmp_path / "etc/mosquitto/motcua/acl").read_text()
    assert acl.count("# --- each device's update agent") == 1
    assert "user kiosk-1-update\n" in acl and f"topic write {T}/dev/rt-03/state/update\n" in acl
    assert acl.startswith(mq.acl_text(SITE).split("\n# --- each device's update agent")[0])
    # server-init (setup.sh run again) writes the same file: nothing changes
    assert "ok: " + str(tmp_path / "etc/mosquitto/motcua/acl") in run_ops("server-init", "--site", SITE, "--root",
                                                                          str(tmp_path)).stdout
