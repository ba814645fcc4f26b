"""Optional TLS: a site CA, a broker certificate and per-device client certificates, for real."""
from __future__ import annotations

import ssl
import tomllib

import pytest

from tests.ops.support import SITE, Probe, SiteBroker, free_port, run_ops


def test_mqtts_with_device_certificate(tmp_path) -> None:  # noqa: ANN001
    root = tmp_path / "srv"
    run_ops("server-init", "--site", SITE, "--root", str(root), "--tls")
    conf = (root / "etc/mosquitto/conf.d/motcua.conf").read_text()
    assert "listener 1883 127.0.0.1" in conf and "require_certificate true" in conf
    out = run_ops("provision-device", "--site", SITE, "--device", "kiosk-1", "--role", "kiosk", "--tls",
                  "--root", str(root)).stdout
    assert "mqtts://" in out
    bundle = root / "etc/motcua/provision/kiosk-1"
    mqtt = tomllib.loads((bundle / "mqtt.toml").read_text())["mqtt"]
    assert mqtt["ca_file"] == "/etc/motcua/tls/ca.crt" and (bundle / "device.key").stat().st_mode & 0o077 == 0
    b = SiteBroker(root, tls_port=free_port())
    b.start()
    try:
        tls = {"ca": str(bundle / "ca.crt"), "cert": str(bundle / "device.crt"), "key": str(bundle / "device.key")}
        p = Probe(b.tls_port, "kiosk-1", mqtt["password"], tls=tls)
        assert p.connect()
        p.close()
        no_cert = Probe(b.tls_port, "kiosk-1", mqtt["password"], tls={"ca": tls["ca"]})
        with pytest.raises((ssl.SSLError, OSError, AssertionError)):
            assert no_cert.connect(timeout=2)
        no_cert.close()
    finally:
        b.stop()
