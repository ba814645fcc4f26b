"""The bridge generator's files and refusals (no broker needed)."""
from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

import pytest

from ops import bridge
from ops.errors import ProvisionError
from tests.ops.support import ROOT, run_ops


@pytest.fixture(scope="module")
def central(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("central")
    run_ops("province-bridge", "central-init", "--root", str(root), "--server-name", "province.example.vn")
    run_ops("province-bridge", "add-site", "--root", str(root), "--site", "camau-hcc",
            "--province", "mqtts://province.example.vn:8883")
    return root


def test_central_files(central: Path) -> None:
    files = bridge.CentralFiles.under(central)
    acl = files.acl_file.read_text()
    assert re.search(r"^pattern write motcua/v1/%u/#$", acl, re.M)
    writes = re.findall(r"^topic (?:write|readwrite) (\S+)$", acl, re.M)
    assert writes == ["motcua/v1/+/dev/collector/cmd/replay"], \
        "no login may write beyond its own tree, but the central collectors' replay requests"
    conf = files.conf.read_text()
    assert "allow_anonymous false" in conf and "listener 8883\n" in conf and "listener 1883 127.0.0.1\n" in conf
    assert "certfile /etc/motcua/province-tls/server.crt" in conf
    users = [line.split(":")[0] for line in files.password_file.read_text().splitlines()]
    assert users == ["province-collector", "camau-hcc"]
    again = run_ops("province-bridge", "central-init", "--root", str(central), "--server-name", "province.example.vn")
    assert "changed" not in again.stdout, again.stdout


def test_join_writes_the_bridge(central: Path, tmp_path: Path) -> None:
    bundle = bridge.CentralFiles.under(central).sites_dir / "camau-hcc"
    run_ops("server-init", "--site", "camau-hcc", "--root", str(tmp_path))
    run_ops("province-bridge", "join", "--root", str(tmp_path), "--bundle", str(bundle))
    text = bridge.site_bridge_conf(tmp_path).read_text()
    for line in ("address province.example.vn:8883", "topic motcua/v1/camau-hcc/# out 1", "cleansession false",
                 "remote_username camau-hcc", "bridge_cafile /etc/motcua/province/ca.crt",
                 "bridge_protocol_version mqttv50", "max_queued_messages 0", "notification_topic motcua/link/camau-hcc",
                 "topic motcua/v1/camau-hcc/dev/collector/cmd/replay in 1"):
        assert re.search(rf"^{re.escape(line)}$", text, re.M), line
    assert re.findall(r"^topic (\S+) in ", text, re.M) == ["motcua/v1/camau-hcc/dev/collector/cmd/replay"], \
        "the province writes nothing into a site but replay requests to its collector"
    collector = tomllib.loads((tmp_path / "etc/motcua/collector.toml").read_text())
    assert collector["province_link"] is True and collector["mqtt"]["username"] == "collector", \
        "join switches the site collector's link alert and replay service on, keeping its other keys"
    again = run_ops("province-bridge", "join", "--root", str(tmp_path), "--bundle", str(bundle))
    assert f"ok: {tmp_path}/etc/motcua/collector.toml" in again.stdout, again.stdout
    assert sorted(p.name for p in bridge.site_bridge_conf(tmp_path).parent.iterdir())[-1] == "motcua_province.conf", \
        "the bridge snippet must be read after motcua.conf (its queue limits win)"


def test_join_refuses_another_sites_bundle_and_plain_urls(central: Path, tmp_path: Path) -> None:
    bundle = bridge.CentralFiles.under(central).sites_dir / "camau-hcc"
    run_ops("server-init", "--site", "bac-lieu", "--root", str(tmp_path))
    bad = run_ops("province-bridge", "join", "--root", str(tmp_path), "--bundle", str(bundle), check=False)
    assert bad.returncode == 2 and "bac-lieu" in bad.stderr and "camau-hcc" in bad.stderr
    with pytest.raises(ProvisionError, match="mqtts://"):
        bridge.parse_province_url("mqtt://province.example.vn:1883")
    again = run_ops("province-bridge", "add-site", "--root", str(central), "--site", "camau-hcc", check=False)
    assert again.returncode == 2 and "--replace" in again.stderr
    reserved = run_ops("province-bridge", "add-site", "--root", str(central), "--site", "province-collector", check=False)
    assert reserved.returncode == 2


def test_setup_sh_server_with_province(central: Path, tmp_path: Path) -> None:
    bundle = bridge.CentralFiles.under(central).sites_dir / "camau-hcc"
    proc = subprocess.run([str(ROOT / "setup.sh"), "--role", "server", "--site", "camau-hcc", "--device", "ticketing",
                           "--root", str(tmp_path), "--province", "mqtts://province.example.vn:8883",
                           "--province-bundle", str(bundle)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr
    assert "address province.example.vn:8883" in bridge.site_bridge_conf(tmp_path).read_text()
    assert (tmp_path / "etc/motcua/province/ca.crt").read_text().startswith("-----BEGIN CERTIFICATE-----")
