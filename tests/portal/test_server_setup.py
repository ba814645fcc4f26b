"""The site server's portal, the pieces `setup.sh --role server` runs: write-config renders
portal.toml, `ops portal-init` provisions the device "portal" (login, registry, ticket secret),
the generated broker ACL lets the collector publish state/busy-hours and the portal read it, and
`motcua doctor` checks the portal's config, login and secret. (tests/ops runs setup.sh itself.)"""
from __future__ import annotations

import subprocess
import tomllib
from pathlib import Path

import pytest

from ops.doctor import FAIL, OK, Doctor
from ops.mosquitto import BrokerFiles, PasswordFile
from ops.render import set_keys
from ops.roles import role_named
from tests.ops.support import ROOT, SITE, Probe, SiteBroker, run_ops, wait_for

T = f"motcua/v1/{SITE}"


def portal_init(root: Path) -> str:
    return run_ops("portal-init", "--site", SITE, "--root", str(root)).stdout


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("server")
    run_ops("server-init", "--site", SITE, "--root", str(root))
    run_ops("write-config", "--role", "portal", "--template", str(ROOT / "config/portal.toml"),
            "--out", str(root / "etc/motcua/portal.toml"), "--site", SITE)
    out = portal_init(root)
    assert "changed: broker user portal" in out and "changed: ticket-token secret" in out, out
    run_ops("provision-device", "--site", SITE, "--device", "rt-01", "--role", "rating-terminal", "--desk", "1",
            "--root", str(root))
    return root


def portal_mqtt(root: Path) -> dict[str, str]:
    return tomllib.loads((root / "etc/motcua/portal.toml").read_text())["mqtt"]


def password(root: Path, user: str) -> str:
    return tomllib.loads((root / f"etc/motcua/{user}.toml").read_text())["mqtt"]["password"]


def test_portal_init_provisions_the_portal_device_once(server: Path) -> None:
    etc = server / "etc/motcua"
    cfg = tomllib.loads((etc / "portal.toml").read_text())
    assert (cfg["site"], cfg["device"], cfg["secret_file"]) == (SITE, "portal", "/etc/motcua/portal.secret")
    assert cfg["mqtt"]["username"] == "portal" and cfg["mqtt"]["url"] == "mqtt://127.0.0.1:1883"
    assert PasswordFile(BrokerFiles.under(server).password_file).verify("portal", cfg["mqtt"]["password"])
    registry = tomllib.loads((etc / "devices.toml").read_text())
    assert registry["devices"]["portal"] == {"role": "portal"} and registry["site"] == SITE
    secret = etc / "portal.secret"
    assert len(secret.read_text().strip()) >= 32 and secret.stat().st_mode & 0o777 == 0o640
    assert run_ops("check-config", str(etc / "portal.toml")).returncode == 0
    # a second run keeps the working password and the secret (kiosks share it)
    before = {p: p.read_bytes() for p in (etc / "portal.toml", secret, etc / "devices.toml")}
    again = portal_init(server)
    assert "changed" not in again and again.count("ok:") == 3, again
    assert {p: p.read_bytes() for p in before} == before
    # a portal.toml whose password no longer works gets a new one
    (etc / "portal.toml").write_text(set_keys((etc / "portal.toml").read_text(), {"mqtt.password": "stale"}))
    assert "changed: broker user portal" in portal_init(server)
    assert secret.read_bytes() == before[secret]
    # another site's server refuses
    bad = run_ops("portal-init", "--site", "other-site", "--root", str(server), check=False)
    assert bad.returncode == 2 and "server-init" in bad.stderr


def test_the_acl_lets_the_collector_publish_busy_hours_and_the_portal_read_it(server: Path) -> None:
    b = SiteBroker(server)
    b.start()
    probes: list[Probe] = []
    try:
        collector = Probe(b.port, "collector", password(server, "collector"))
        portal = Probe(b.port, "portal", portal_mqtt(server)["password"])
        rt = Probe(b.port, "rt-01", tomllib.loads((server / "etc/motcua/provision/rt-01/mqtt.toml").read_text())
                   ["mqtt"]["password"])
        probes += [collector, portal, rt]
        assert collector.connect() and portal.connect() and rt.connect()
        collector.subscribe(f"{T}/#")
        for flt in (f"{T}/state/#", f"{T}/dev/+/evt/ticket", f"{T}/dev/+/evt/rating"):
            portal.subscribe(flt)
        assert all(code < 128 for acks in portal.subacks for code in acks), portal.subacks
        collector.publish(f"{T}/state/busy-hours", b'{"v": 1}', retain=True)
        assert wait_for(lambda: (f"{T}/state/busy-hours", b'{"v": 1}') in portal.got)
        rt.publish(f"{T}/dev/rt-01/evt/rating", b"desk rating")
        assert wait_for(lambda: (f"{T}/dev/rt-01/evt/rating", b"desk rating") in portal.got)
        # neither the portal nor a device may write the summary; the portal writes only its own tree
        portal.publish(f"{T}/state/busy-hours", b"forged by the portal", retain=True)
        rt.publish(f"{T}/state/busy-hours", b"forged by a terminal", retain=True)
        portal.publish(f"{T}/dev/rt-01/evt/rating", b"forged rating")
        portal.publish(f"{T}/dev/portal/evt/rating", b"phone rating")
        assert wait_for(lambda: (f"{T}/dev/portal/evt/rating", b"phone rating") in collector.got)
        got = [p for t, p in collector.got]
        assert b"forged by the portal" not in got and b"forged by a terminal" not in got and b"forged rating" not in got
        late = Probe(b.port, "portal", portal_mqtt(server)["password"])  # a restarted portal: retained copy
        probes.append(late)
        assert late.connect()
        late.subscribe(f"{T}/state/busy-hours")
        assert wait_for(lambda: late.got == [(f"{T}/state/busy-hours", b'{"v": 1}')])
    finally:
        for p in probes:
            p.close()
        b.stop()


def test_doctor_checks_the_portal_config_login_and_secret(server: Path, tmp_path: Path) -> None:
    b = SiteBroker(server)
    b.start()
    try:
        etc = server / "etc/motcua"
        secret = tmp_path / "portal.secret"
        secret.write_text((etc / "portal.secret").read_text())
        cfg = tmp_path / "portal.toml"
        cfg.write_text(set_keys((etc / "portal.toml").read_text(), {
            "mqtt.url": f"mqtt://127.0.0.1:{b.port}", "state_dir": str(tmp_path / "state"),
            "secret_file": str(secret)}))
        (tmp_path / "state").mkdir()
        got = {c.name: c for c in Doctor(cfg, role_named("portal"), clock_synced=lambda: True, systemctl=None,
                                         env={}).run()}
        for name in ("config", "broker", "ticket secret", "state dir"):
            assert got[name].result == OK, got[name]
        secret.write_text("short\n")
        got = {c.name: c for c in Doctor(cfg, role_named("portal"), clock_synced=lambda: True, systemctl=None,
                                         env={}).run()}
        assert got["ticket secret"].result == FAIL and "kiosk.toml" in got["ticket secret"].fix_en
    finally:
        b.stop()


def test_setup_sh_server_installs_and_enables_the_portal_unit(tmp_path: Path) -> None:
    out = subprocess.run(["bash", str(ROOT / "setup.sh"), "--role", "server", "--site", SITE, "--dry-run",
                          "--root", str(tmp_path)], capture_output=True, text=True, timeout=60,
                         env={"PATH": "/usr/bin:/bin", "MOTCUA_OS": "raspios"}).stdout
    unit = "motcua-portal.service"
    assert f"install -D -m 0644 {ROOT}/systemd/{unit} {tmp_path}/etc/systemd/system/{unit}" in out
    assert f"systemctl enable {unit}" in out and f"systemctl restart {unit}" in out
    assert f"write-config --role portal --template {ROOT}/config/portal.toml" in out
    assert f"portal-init --site {SITE} --root {tmp_path}" in out
    text = (ROOT / "systemd" / unit).read_text()
    assert "ExecStart=/opt/motcua/venv/bin/motcua portal --config /etc/motcua/portal.toml" in text
    assert "Type=notify" in text and "WatchdogSec=" in text and "User=motcua" in text


def test_a_kiosk_provisioned_on_this_server_gets_the_portals_secret_and_qr_template(server: Path,
                                                                                     tmp_path: Path) -> None:
    """provision-device --role kiosk puts the portal's ticket secret in the bundle; setup.sh's
    write-config copies it into kiosk.toml, so the kiosk's QR codes open the portal with no hand edit."""
    secret = (server / "etc/motcua/portal.secret").read_text().strip()
    site_toml = server / "etc/motcua/site.toml"
    run_ops("provision-device", "--site", SITE, "--device", "kiosk-6", "--role", "kiosk", "--root", str(server))
    early = tomllib.loads((server / "etc/motcua/provision/kiosk-6/mqtt.toml").read_text())["kiosk"]
    assert early == {"ticket_secret": secret}  # no public address yet: the kiosk keeps its own QR template
    site_toml.write_text(f'site = "{SITE}"\nportal_url = "https://ve.example.vn"\n')  # setup.sh writes it on a server
    run_ops("provision-device", "--site", SITE, "--device", "kiosk-7", "--role", "kiosk", "--root", str(server))
    bundle = server / "etc/motcua/provision/kiosk-7/mqtt.toml"
    assert tomllib.loads(bundle.read_text())["kiosk"]["ticket_secret"] == secret
    out = tmp_path / "kiosk.toml"
    run_ops("write-config", "--role", "kiosk", "--template", str(ROOT / "config/kiosk.toml"), "--out", str(out),
            "--site", SITE, "--device", "kiosk-7", "--mqtt-file", str(bundle))
    cfg = tomllib.loads(out.read_text())
    assert cfg["kiosk"]["ticket_secret"] == secret and cfg["kiosk"]["qr_template"] == "{portal}/ve/{token}"
    assert cfg["mqtt"]["username"] == "kiosk-7"
    assert run_ops("check-config", str(out)).returncode == 0  # the kiosk's own model takes it
    # a rating terminal's bundle carries no secret, and its config gets none
    rt = tomllib.loads((server / "etc/motcua/provision/rt-01/mqtt.toml").read_text())
    assert "kiosk" not in rt and "ticket_secret" not in (server / "etc/motcua/provision/rt-01/mqtt.toml").read_text()
