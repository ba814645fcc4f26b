"""``python3 -m ops portal-init``: the site server's citizen portal as a device of its own.

``setup.sh --role server`` runs it after ``server-init`` (standard library only, like it). The portal
is the device ``portal`` (registry role ``portal``, what ``motcua provision-device --role portal``
records): its broker login (the ACL's ``user portal`` lines let it read tickets, ratings and the
site's state and write only its own ``dev/portal/#``), its password in ``portal.toml`` and the
ticket-token secret it shares with the kiosks (``portal.secret``, made once, never replaced).
Idempotent: working credentials and an existing secret are kept; prints ``changed:``/``ok:``.
"""
from __future__ import annotations

import argparse
import secrets
import sys
import tomllib
from pathlib import Path

from . import mosquitto as mq
from . import registry as reg
from .errors import ProvisionError
from .render import set_keys

DEVICE = ROLE = "portal"
SECRET_FILE = "portal.secret"


def _say(msg: str) -> None:
    print(msg, flush=True)


def ensure_portal(root: Path, site: str, cfg_dir: Path, port: int = 1883) -> bool:
    """Credentials, registry entry and secret of the portal under ``root``; True when anything changed."""
    site = mq.check_id(site, "site")
    files = mq.BrokerFiles.under(root)
    if mq.acl_site(files.acl_file) != site:
        raise ProvisionError(f"{files.acl_file} is not the site {site!r}'s ACL: run server-init first")
    changed = False
    cfg = cfg_dir / "portal.toml"
    text = cfg.read_text() if cfg.exists() else ""
    current = tomllib.loads(text).get("mqtt", {}) if text else {}
    pw = mq.PasswordFile(files.password_file)
    if current.get("username") == DEVICE and current.get("password") and pw.verify(DEVICE, current["password"]):
        _say(f"ok: broker user {DEVICE} ({cfg})")
    else:
        password = mq.new_password()
        pw.set(DEVICE, password)
        pw.save()
        text = set_keys(text, {"device": DEVICE, "mqtt.url": f"mqtt://127.0.0.1:{port}", "mqtt.username": DEVICE,
                               "mqtt.password": password})
        _say(f"changed: broker user {DEVICE}, password written to {cfg}")
        changed = True
    secret = cfg_dir / SECRET_FILE
    if secret.exists() and len(secret.read_text().strip()) >= 16:
        _say(f"ok: ticket-token secret {secret}")
    else:
        mq.write_if_changed(secret, secrets.token_urlsafe(32) + "\n", mode=0o640)
        _say(f"changed: ticket-token secret {secret} (kiosks provisioned from now on get it in their bundle; set it by hand as ticket_secret in a kiosk.toml made before)")
        changed = True
    keys: dict[str, object] = {"site": site}
    if "secret" not in tomllib.loads(text):  # a secret written in the file itself stays the one
        keys["secret_file"] = f"/etc/motcua/{SECRET_FILE}"
    text = set_keys(text, keys)
    if mq.write_if_changed(cfg, text, mode=0o640):
        changed = True
    reg_path = cfg_dir / reg.FILE_NAME
    if reg.set_device(reg_path, site, DEVICE, ROLE):
        _say(f"changed: device registry {reg_path}: {DEVICE} (role {ROLE})")
        changed = True
    else:
        _say(f"ok: device registry {reg_path}: {DEVICE} (role {ROLE})")
    return changed


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m ops portal-init", description="the site server's citizen "
                                 "portal: its broker login, registry entry and ticket-token secret")
    ap.add_argument("--site", required=True)
    ap.add_argument("--root", default="/")
    ap.add_argument("--port", type=int, default=1883, help="the broker's plain (loopback) port")
    ap.add_argument("--configs", default="", help="where portal.toml is (default <root>/etc/motcua)")
    args = ap.parse_args(argv)
    root = Path(args.root)
    try:
        ensure_portal(root, args.site, Path(args.configs) if args.configs else root / "etc/motcua", args.port)
    except ProvisionError as exc:
        print(f"Lỗi / error: {exc}", file=sys.stderr)
        return 2
    return 0
