"""The province's side of ``motcua demo --sites N`` (and of bench/province.py): the central broker
and each site's bridge, written by the real provisioning code (ops/bridge.py: ``central-init``,
``add-site``, ``join``) under a directory instead of ``/``, TLS with the province CA it makes.

    central = Central(work / "central").init()
    bridge_conf = central.join(site, work / site / "root")   # Mosquitto conf lines for that site
    central.broker().start()
"""
from __future__ import annotations

import contextlib
import getpass
import io
import tomllib
from pathlib import Path

from common.mosquitto import Mosquitto, free_port
from ops import bridge


#: the site broker's in-flight window (Mosquitto's default, a real site's): the private brokers'
#: ``max_inflight_messages 0`` (no limit) goes out as the bridge's MQTT 5 Receive Maximum, and 0 is a
#: protocol error the central broker disconnects on (Mosquitto 2.0.11: "disconnected due to protocol error")
SITE_INFLIGHT = "max_inflight_messages 20\n"


class ProvisioningFailed(RuntimeError):
    """A ``motcua province-bridge`` step refused; the message carries its output."""


def _step(*argv: str) -> None:
    """One ``motcua province-bridge`` step in this process, its chatter kept out of the demo's output."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = bridge.main(list(argv))
    if rc != 0:
        raise ProvisioningFailed(f"motcua province-bridge {' '.join(argv[:1])} failed ({rc}): "
                                 f"{err.getvalue().strip() or out.getvalue().strip()}")


class CentralBroker(Mosquitto):
    """Mosquitto with the central conf ``central-init`` wrote: a loopback listener for the central
    collectors and a TLS listener for the sites' bridges, both on free ports here."""

    def __init__(self, central: "Central"):
        super().__init__(central.root / "run", port=central.port, anonymous=False)
        self.central = central

    def write_config(self) -> Path:
        files = self.central.files
        text = bridge.central_conf_text(files, bridge.RealPath(Path("/")), port=self.port,
                                        tls_port=self.central.tls_port, bind="127.0.0.1")
        conf = self.dir / "mosquitto.conf"
        conf.write_text(f"persistence false\nuser {getpass.getuser()}\nlog_type error\nlog_type warning\n"
                        f"log_dest stderr\n{self.extra_conf}\n{text}", encoding="utf-8")
        return conf


class Central:
    """The central host's files under ``root`` (what ``/`` would hold on the real one)."""

    def __init__(self, root: Path):
        self.root = root.resolve()
        self.files = bridge.CentralFiles.under(self.root)
        self.port = free_port()
        self.tls_port = free_port()

    @property
    def province_url(self) -> str:
        return f"mqtts://127.0.0.1:{self.tls_port}"

    @property
    def url(self) -> str:
        """The loopback listener the central collectors use."""
        return f"mqtt://127.0.0.1:{self.port}"

    def init(self) -> "Central":
        _step("central-init", "--root", str(self.root), "--server-name", "localhost", "--server-name", "127.0.0.1",
              "--port", str(self.port), "--tls-port", str(self.tls_port), "--bind", "127.0.0.1")
        return self

    def collector_login(self) -> tuple[str, str]:
        """The central collectors' broker login (``province-collector.toml``)."""
        cred = tomllib.loads((self.root / "etc/motcua/province/province-collector.toml").read_text())["mqtt"]
        return str(cred["username"]), str(cred["password"])

    def join(self, site: str, site_root: Path, restart_timeout: str = "1 5", via: str | None = None) -> str:
        """``add-site`` here, ``join`` on the site (under ``site_root``): the lines a private site broker
        (common/mosquitto.py) adds, the bridge with the CA path as this machine sees it. ``via``: the
        bridge's mqtts:// URL when it goes through something else (a cut-able link) to the central
        broker. The central broker reads the new site's password when it starts (or on SIGHUP)."""
        site_root = site_root.resolve()
        bundle = self.files.sites_dir / site
        _step("add-site", "--root", str(self.root), "--site", site, "--province", self.province_url, "--replace")
        _step("join", "--root", str(site_root), "--bundle", str(bundle), "--restart-timeout", restart_timeout,
              *(["--province", via] if via else []))
        ca = bridge.site_ca_path(site_root)
        text = bridge.site_bridge_conf(site_root).read_text(encoding="utf-8")
        return SITE_INFLIGHT + text.replace(f"bridge_cafile /{ca.relative_to(site_root)}\n", f"bridge_cafile {ca}\n")

    def broker(self) -> CentralBroker:
        return CentralBroker(self)
