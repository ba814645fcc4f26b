"""motcua update: a release served by the real release server (HTTP, broker passwords), fetched,
verified, installed by real pip into a real venv beside the running one, switched, and rolled back
when the new version does not stay up. The 'unit' is a real process started from
/opt/motcua/venv/bin/motcua (the symlink), as systemd would."""
from __future__ import annotations

import base64
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import pytest

from mqtt.transport import BrokerConfig
from ops import mosquitto as mq
from ops.fleet import Agent, Waves
from ops.release import Manifest, ReleaseServer, build_wheel, publish, sha256_file, verify
from ops.update import Updater, release_of
from tests.ops.support import ROOT
from tests.support.broker import Mosquitto

PROBE = '''import sys, time
VERSION = {version!r}
BROKEN = {broken!r}
def main():
    if BROKEN == "start":
        raise SystemExit("release cassée / broken release")
    if sys.argv[1:] == ["--version"]:
        print(VERSION)
        return 0
    time.sleep(0.3)
    if BROKEN == "run":
        raise SystemExit("crashes once running")
    while True:
        time.sleep(0.2)
'''


def make_wheel(out: Path, version: str, broken: str = "") -> Path:
    """A real wheel named motcua (extra 'rating') whose console script is a tiny long-running probe."""
    out.mkdir(parents=True, exist_ok=True)
    tag = version.replace("-", "_")
    path = out / f"motcua-{tag}-py3-none-any.whl"
    di = f"motcua-{tag}.dist-info"
    files = {
        "motcua_probe.py": PROBE.format(version=version, broken=broken),
        f"{di}/METADATA": f"Metadata-Version: 2.1\nName: motcua\nVersion: {version}\nProvides-Extra: rating\n",
        f"{di}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        f"{di}/entry_points.txt": "[console_scripts]\nmotcua = motcua_probe:main\n",
    }
    import hashlib
    record = []
    with zipfile.ZipFile(path, "w") as z:
        for name, text in files.items():
            data = text.encode()
            z.writestr(name, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            record.append(f"{name},sha256={digest},{len(data)}")
        record.append(f"{di}/RECORD,,")
        z.writestr(f"{di}/RECORD", "\n".join(record) + "\n")
    return path


class FakeUnit:
    """A service as systemd runs it: restart = stop the process, start prefix/venv/bin/motcua again."""

    def __init__(self, prefix: Path):
        self.prefix = prefix
        self.proc: subprocess.Popen[bytes] | None = None
        self.restarts = 0

    def restart(self, units: list[str]) -> None:
        self.stop()
        self.restarts += 1
        self.proc = subprocess.Popen([str(self.prefix / "venv/bin/motcua"), "run"], stderr=subprocess.DEVNULL)

    def health(self, units: list[str], settle_s: float) -> str | None:
        time.sleep(settle_s)
        assert self.proc is not None
        rc = self.proc.poll()
        return None if rc is None else f"exited with {rc}"

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="module")
def device(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    """A device prefix with version 1.0.0 installed as setup.sh leaves it, and a release server."""
    tmp = tmp_path_factory.mktemp("update")
    prefix = tmp / "opt"
    v1 = prefix / "venvs/1.0.0-aaaaaaaaaaaa"
    subprocess.run([sys.executable, "-m", "venv", str(v1)], check=True, timeout=300)
    wheel = make_wheel(tmp / "w1", "1.0.0")
    subprocess.run([str(v1 / "bin/python"), "-m", "pip", "install", "--quiet", "--no-index", str(wheel)],
                   check=True, timeout=300)
    (v1 / ".motcua-release").write_text('{"version": "1.0.0", "sha256": "%s"}' % sha256_file(wheel))
    (prefix / "venv").symlink_to(v1)
    pw = mq.PasswordFile(tmp / "passwd")
    pw.set("rt-05", "good-password")
    pw.save()
    releases, keys = tmp / "releases", tmp / "keys"
    srv = ReleaseServer(releases, tmp / "passwd", "127.0.0.1", 0).start()
    unit = FakeUnit(prefix)
    unit.restart([])
    yield {"tmp": tmp, "prefix": prefix, "releases": releases, "keys": keys, "url": f"http://127.0.0.1:{srv.port}/v1/",
           "unit": unit, "v1": v1}
    unit.stop()
    srv.stop()


def updater(d: dict, password: str = "good-password", key: bool = True) -> Updater:
    pub = (d["keys"] / "signing.pub").read_text().strip() if key else None
    return Updater(d["url"], "rt-05", password, extra="rating", units=["motcua-rating-terminal.service"],
                   prefix=d["prefix"], public_key=pub, settle_s=1.0, restart=d["unit"].restart,
                   health=d["unit"].health, timeout_s=10)


def running_version(d: dict) -> str:
    return subprocess.run([str(d["prefix"] / "venv/bin/motcua"), "--version"], capture_output=True,
                          text=True, timeout=30).stdout.strip()


def test_an_update_then_a_broken_release_rolled_back(device: dict) -> None:
    d = device
    publish(make_wheel(d["tmp"] / "w2", "1.1.0"), "1.1.0", d["releases"], d["keys"])
    res = updater(d).run()
    assert res.state == "updated", res
    new = (d["prefix"] / "venv").resolve()
    assert new.name.startswith("1.1.0-") and new.parent == d["prefix"] / "venvs"
    assert running_version(d) == "1.1.0" and d["unit"].proc.poll() is None
    assert d["v1"].is_dir() and release_of(d["v1"])["version"] == "1.0.0", "the old venv stays for a rollback"
    assert updater(d).run().state == "current"

    # a release that cannot even say its version is refused before the switch
    publish(make_wheel(d["tmp"] / "w2b", "1.1.1", broken="start"), "1.1.1", d["releases"], d["keys"])
    res = updater(d).run()
    assert res.state == "failed" and "broken release" in res.detail
    assert (d["prefix"] / "venv").resolve() == new and not list((d["prefix"] / "venvs").glob("1.1.1-*"))
    # a release that starts, then crashes under the unit: switched, found unhealthy, rolled back
    restarts = d["unit"].restarts
    publish(make_wheel(d["tmp"] / "w3", "1.2.0", broken="run"), "1.2.0", d["releases"], d["keys"])
    res = updater(d).run()
    assert res.state == "rolled-back", res
    assert "1.2.0 unhealthy" in res.detail and res.version == "1.1.0"
    assert (d["prefix"] / "venv").resolve() == new and running_version(d) == "1.1.0"
    assert d["unit"].proc.poll() is None, "the old version runs again"
    assert d["unit"].restarts == restarts + 2, "restarted on the new version, then on the old one"
    broken = next((d["prefix"] / "venvs").glob("1.2.0-*"))
    assert (broken / ".motcua-broken").exists()
    again = updater(d).run()
    assert again.state == "failed" and "rolled back here before" in again.detail
    assert (d["prefix"] / "venv").resolve() == new


def test_a_tampered_wheel_or_forged_manifest_is_not_installed(device: dict) -> None:
    d = device
    m = publish(make_wheel(d["tmp"] / "w4", "1.3.0"), "1.3.0", d["releases"], d["keys"])
    before = (d["prefix"] / "venv").resolve()
    with (d["releases"] / m.wheel).open("ab") as f:
        f.write(b"x")
    res = updater(d).run()
    assert res.state == "failed" and "SHA-256" in res.detail
    # a manifest naming the tampered file's checksum, not signed by the server's key
    forged = m._replace(sha256=sha256_file(d["releases"] / m.wheel), size=m.size + 1)
    (d["releases"] / "latest.json").write_bytes(forged.dumps())
    res = updater(d).run()
    assert res.state == "failed" and "signature" in res.detail
    assert (d["prefix"] / "venv").resolve() == before
    assert not list((d["prefix"] / "venvs").glob("1.3.0-*")), "nothing left of a refused release"


def test_the_server_refuses_a_wrong_password(device: dict) -> None:
    res = updater(device, password="wrong").run()
    assert res.state == "failed" and "refused this device's login" in res.detail


def test_signature_round_trip(tmp_path: Path) -> None:
    m = publish(make_wheel(tmp_path / "w", "2.0.0"), "2.0.0", tmp_path / "r", tmp_path / "k")
    data = (tmp_path / "r/latest.json").read_bytes()
    pub = (tmp_path / "k/signing.pub").read_text()
    verify(data, (tmp_path / "r/latest.json.sig").read_bytes(), pub)
    assert Manifest.loads(data) == m
    with pytest.raises(Exception, match="signature"):
        verify(data.replace(b"2.0.0", b"2.0.1"), (tmp_path / "r/latest.json.sig").read_bytes(), pub)


def test_release_wheel_built_from_this_repo_carries_its_version(tmp_path: Path) -> None:
    wheel, version = build_wheel(ROOT, tmp_path, "0.1.0+test1")
    assert version == "0.1.0+test1" and wheel.name.startswith("motcua-0.1.0+test1-")
    names = zipfile.ZipFile(wheel).namelist()
    assert "ops/update.py" in names and "rating_terminal/app.py" in names
    assert not any(n.startswith("tests/") for n in names)


def test_waves_over_mqtt_stop_at_a_device_that_does_not_update(device: dict, tmp_path: Path) -> None:
    d = device
    publish(make_wheel(d["tmp"] / "w5", "1.4.0"), "1.4.0", d["releases"], d["keys"])
    with Mosquitto(tmp_path / "mq") as broker:
        cfg = BrokerConfig(url=broker.url)
        agent = Agent(cfg, "camau-hcc", "rt-05", updater(d))
        results: list = []
        t = threading.Thread(target=lambda: results.append(agent.serve()), daemon=True)
        t.start()
        waves = Waves(cfg, "camau-hcc", timeout_s=60)
        reports: list = []
        try:
            ok = waves.rollout(["rt-05"], 1, "1.4.0", lambda n, r: reports.append((n, r)))
            assert ok and reports[0][1]["rt-05"].state == "updated" and reports[0][1]["rt-05"].version == "1.4.0"
            assert running_version(d) == "1.4.0"
            t.join(10)
            assert results and results[0].state == "updated", "the agent exits after a switch (systemd restarts it)"
            waves.timeout_s = 2
            reports.clear()
            ok = waves.rollout(["rt-99", "rt-05"], 1, "1.4.0", lambda n, r: reports.append((n, r)))
            assert not ok and reports == [(1, {"rt-99": None})], "no answer stops the rollout at wave 1"
        finally:
            waves.close()
            agent.stop()


def test_an_agent_that_was_restarting_when_asked_still_updates(device: dict, tmp_path: Path) -> None:
    """Commands are not retained: the waves ask again (same id) until the agent takes it, once."""
    d = device
    publish(make_wheel(d["tmp"] / "w6", "1.5.0"), "1.5.0", d["releases"], d["keys"])
    with Mosquitto(tmp_path / "mq") as broker:
        cfg = BrokerConfig(url=broker.url)
        waves = Waves(cfg, "camau-hcc", timeout_s=60, resend_s=1.0)
        out: list = []
        t = threading.Thread(target=lambda: out.append(waves.rollout(["rt-05"], 1, "1.5.0", lambda n, r: None)),
                             daemon=True)
        t.start()
        time.sleep(2.5)  # asked at least twice before the agent is up
        agent = Agent(cfg, "camau-hcc", "rt-05", updater(d))
        runs: list = []
        real = agent.run_update
        agent.run_update = lambda cmd, say: runs.append(cmd.id) or real(cmd, say)  # type: ignore[assignment]
        threading.Thread(target=agent.serve, daemon=True).start()
        try:
            t.join(60)
            assert out == [True] and running_version(d) == "1.5.0"
            assert len(runs) == 1, "the same command asked again runs once"
        finally:
            waves.close()
            agent.stop()


def test_update_devices_with_an_unreadable_config_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from ops.update_cli import update_devices
    bad = tmp_path / "collector.toml"
    bad.write_text("x = [")
    for cfg in (bad, tmp_path / "missing.toml"):
        assert update_devices(["--site", "camau-hcc", "--devices", "rt-01", "--config", str(cfg)]) == 2
        assert f"cannot read {cfg}" in capsys.readouterr().err
