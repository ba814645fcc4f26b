"""`python -m ticketing` as a real process: SIGKILL in the middle, a second instance, the CLI."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from mqtt import topics
from tests.support.mqtt import Recorder

from .helpers import SITE, Desk, Kiosk, run_desks, write_configs

ROOT = Path(__file__).resolve().parents[2]


def spawn(cfg: Path, *extra: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MOTCUA_LOG": "WARNING"}
    return subprocess.Popen([sys.executable, "-m", "ticketing", "--config", str(cfg), *extra], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def wait_online(rec: Recorder, after: int = 0, timeout: float = 15) -> None:
    def online(m: list[tuple[str, bytes, bool]]) -> bool:
        return any(t.endswith("/dev/ticketing/status") and b'"online"' in p for t, p, _r in m[after:])
    assert rec.wait_for(online, timeout), "ticketing did not come online"


def stop(p: subprocess.Popen[bytes]) -> None:
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def test_sigkill_in_the_middle_loses_repeats_and_doubles_nothing(tmp_path: Path, broker) -> None:
    cfg = write_configs(tmp_path, broker.url)
    status = Recorder(broker.port, topics.status(SITE, "ticketing"))
    events = Recorder(broker.port, topics.events_filter(SITE, "ticket", "ticketing"))
    proc = spawn(cfg)
    procs = [proc]
    try:
        wait_online(status)
        kiosks = [Kiosk(broker.url, f"kiosk-{i}", tmp_path, block=40) for i in (1, 2)]
        desks = [Desk(broker.url, n) for n in (1, 2, 3, 4)]
        for k in kiosks:  # some tickets before, the rest while ticketing is down and after
            for i in range(100):
                k.issue("HT" if i % 3 else "DD")

        def more(k: Kiosk) -> None:
            for i in range(100):
                k.issue("DD" if i % 3 else "HT")
                time.sleep(0.01)

        producers = [threading.Thread(target=more, args=(k,)) for k in kiosks]
        result: dict[int, list[str]] = {}
        runner = threading.Thread(target=lambda: result.update(run_desks(desks, total=400, stop_after=70)))
        runner.start()
        for t in producers:
            t.start()
        assert events.wait_for(lambda m: sum(b'"called"' in p for _t, p, _r in m) >= 80, 30)
        proc.send_signal(signal.SIGKILL)
        proc.wait(5)
        n_status = len(status.messages)
        time.sleep(1.0)  # desks time out and retry the same request ids; kiosks keep issuing
        proc = spawn(cfg)
        procs.append(proc)
        wait_online(status, after=n_status)
        runner.join(90)
        for t in producers:
            t.join(30)
        issued = {f"{d.day}/{d.ticket}" for k in kiosks for d in k.issued}
        called = [lab for labs in result.values() for lab in labs]
        assert len(issued) == 400
        assert len(called) == len(set(called)) == 400, "a ticket was called twice or lost"
        assert set(called) == issued
        # every call reached the collector's feed, none lost across the kill
        assert events.wait_for(lambda m: {json.loads(p)["data"]["ticket"] for _t, p, _r in m
                                          if b'"called"' in p} >= {c.split("/")[1] for c in called}, 20)
        for k in kiosks:
            k.close()
        for d in desks:
            d.close()
    finally:
        for p in procs:
            stop(p)
        status.close()
        events.close()


def test_a_second_ticketing_for_the_site_refuses_to_start(tmp_path: Path, broker) -> None:
    cfg = write_configs(tmp_path, broker.url)
    status = Recorder(broker.port, topics.status(SITE, "ticketing"))
    first = spawn(cfg)
    try:
        wait_online(status)
        second = spawn(cfg)  # same database: the lock file
        _out, err = second.communicate(timeout=20)
        assert second.returncode != 0
        assert b"another ticketing for site 'test-hcc' is already running" in err
        other = tmp_path / "elsewhere"
        other.mkdir()
        third = spawn(write_configs(other, broker.url))  # other machine, same broker: the probe
        _out, err = third.communicate(timeout=20)
        assert third.returncode != 0
        assert b"another ticketing for site 'test-hcc' answers on" in err
        assert first.poll() is None
    finally:
        stop(first)
        status.close()


def test_cli_check_config_and_help(tmp_path: Path) -> None:
    cfg = write_configs(tmp_path, "mqtt://127.0.0.1:1")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    ok = subprocess.run([sys.executable, "-m", "ticketing", "--config", str(cfg), "--check-config"],
                        cwd=ROOT, env=env, capture_output=True, timeout=30)
    assert ok.returncode == 0 and b"site test-hcc, 3 services" in ok.stdout
    (tmp_path / "site.toml").write_text((tmp_path / "site.toml").read_text().replace("capacity = 5", "capacity = 0"))
    bad = subprocess.run([sys.executable, "-m", "common", "ticketing", "--config", str(cfg), "--check-config"],
                         cwd=ROOT, env=env, capture_output=True, timeout=30)
    assert bad.returncode == 2
    assert f"{tmp_path / 'site.toml'}:".encode() in bad.stderr and b"capacity" in bad.stderr
    helped = subprocess.run([sys.executable, "-m", "ticketing", "--help"], cwd=ROOT, env=env,
                            capture_output=True, timeout=30)
    assert b"motcua ticketing --config /etc/motcua/ticketing.toml" in helped.stdout


@pytest.mark.parametrize("flag", ["--broker", "--db"])
def test_cli_overrides_are_accepted(tmp_path: Path, flag: str) -> None:
    from ticketing.cli import load, parser
    cfg = write_configs(tmp_path, "mqtt://127.0.0.1:1")
    value = "mqtt://10.0.0.9:1883" if flag == "--broker" else str(tmp_path / "x.db")
    c, _site = load(parser().parse_args(["--config", str(cfg), flag, value]))
    assert (c.mqtt.url if flag == "--broker" else c.db) == value
