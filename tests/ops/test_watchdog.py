"""sd_notify on a real Unix datagram socket: READY=1 once, WATCHDOG=1 from the loop, and no
more pings once the loop hangs (so systemd would restart the unit)."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from tests.ops.support import ROOT

LOOP = """
import time
from common.systemd import Notifier
n = Notifier()
n.ready("set up")
end = time.monotonic() + 0.6
while time.monotonic() < end:      # the working loop
    n.watchdog()
    time.sleep(0.01)
n.notify("STATUS=hung")
time.sleep(1.2)                     # the loop hangs: no tick any more
"""


def test_pings_stop_when_the_loop_hangs(tmp_path: Path) -> None:
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(0.05)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NOTIFY_SOCKET": path, "WATCHDOG_USEC": "200000"}
    env.pop("WATCHDOG_PID", None)
    proc = subprocess.Popen([sys.executable, "-c", LOOP], cwd=ROOT, env=env)
    got: list[str] = []
    try:
        while proc.poll() is None:
            try:
                got.append(sock.recv(256).decode())
            except socket.timeout:
                pass
    finally:
        proc.wait(5)
        sock.close()
    assert got[0] == "READY=1\nSTATUS=set up"
    hung = got.index("STATUS=hung")
    pings = got[:hung].count("WATCHDOG=1")
    # 0.6 s of loop at one ping per WatchdogSec/2 = 0.1 s: about 6, never one per round (60)
    assert 4 <= pings <= 8, got
    assert "WATCHDOG=1" not in got[hung:], "a hung loop must not be pinged (1.2 s of silence)"
    assert proc.returncode == 0


def test_watchdog_is_silent_without_systemd(monkeypatch) -> None:  # noqa: ANN001
    from common.systemd import Notifier
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    n = Notifier()
    assert not n.enabled and n.watchdog() is False and n.interval_s is None


def test_watchdog_rate_limit_with_injected_clock(tmp_path: Path) -> None:
    from common.systemd import Notifier
    path = str(tmp_path / "n.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    now = [0.0]
    n = Notifier(path, interval_s=5.0, monotonic=lambda: now[0])
    sent = []
    for step in range(0, 21):
        now[0] = float(step)
        sent.append(n.watchdog())
    assert [i for i, s in enumerate(sent) if s] == [0, 5, 10, 15, 20]
    sock.settimeout(0.5)
    assert [sock.recv(64) for _ in range(5)] == [b"WATCHDOG=1"] * 5
    sock.close()


def _recv_until(sock: socket.socket, pred, timeout: float) -> list[str]:  # noqa: ANN001
    import time
    got: list[str] = []
    end = time.monotonic() + timeout
    while time.monotonic() < end and not pred(got):
        try:
            got.append(sock.recv(256).decode())
        except socket.timeout:
            pass
    return got


def test_a_real_role_pings_from_its_working_loop_and_not_when_hung(tmp_path: Path) -> None:
    """ticketing under a fake systemd: READY after set-up, WATCHDOG=1 from its loop; frozen with
    SIGSTOP (a hung loop) it stops pinging, so systemd's WatchdogSec would restart it."""
    import signal

    from common.mosquitto import Mosquitto

    broker = Mosquitto(tmp_path / "mosquitto").start()
    cfg = tmp_path / "ticketing.toml"
    cfg.write_text(f'site_config = "{ROOT / "config" / "site.toml"}"\ndb = "{tmp_path / "t.db"}"\n'
                   f'probe_timeout_s = 0.5\n\n[mqtt]\nurl = "{broker.url}"\n', encoding="utf-8")
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(0.05)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NOTIFY_SOCKET": path, "WATCHDOG_USEC": "2000000"}
    proc = subprocess.Popen([sys.executable, "-m", "ticketing", "--config", str(cfg)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        got = _recv_until(sock, lambda g: g.count("WATCHDOG=1") >= 2, 30)
        assert got and got[0].startswith("READY=1"), got
        assert got.count("WATCHDOG=1") >= 2, got
        proc.send_signal(signal.SIGSTOP)  # the loop hangs
        _recv_until(sock, lambda g: False, 0.3)  # a ping already in flight
        assert "WATCHDOG=1" not in _recv_until(sock, lambda g: False, 2.5)
        proc.send_signal(signal.SIGCONT)
        assert "WATCHDOG=1" in _recv_until(sock, lambda g: "WATCHDOG=1" in g, 5)
        proc.send_signal(signal.SIGTERM)
        assert "STOPPING=1" in _recv_until(sock, lambda g: "STOPPING=1" in g, 10)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGCONT)
            proc.kill()
            proc.wait()
        sock.close()
        broker.stop()
