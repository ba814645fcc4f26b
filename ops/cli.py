"""Technician commands: ``motcua check-config``, ``motcua doctor``, ``motcua provision-device``,
and the helpers ``setup.sh`` calls (``python3 -m ops server-init|write-config``).

Imports stay lazy: ``server-init`` and ``write-config`` run on a fresh server with the system
python3 before the venv exists (standard library only, ``--tls`` needs ``cryptography``).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .mosquitto import PasswordFile

EPILOG_CHECK = """examples:
  motcua check-config /etc/motcua/kiosk.toml
  motcua check-config --role rating-terminal desk5.toml
The role comes from the file name (kiosk.toml, rating-terminal.toml, camera.toml, collector.toml,
ticketing.toml, site.toml, display.toml) unless --role is given."""

EPILOG_DOCTOR = """examples:
  motcua doctor                                   (every role configured in /etc/motcua)
  motcua doctor --config /etc/motcua/rating-terminal.toml
Exit code 0 when nothing failed, 1 when a check failed (each failure comes with a fix)."""

EPILOG_PROVISION = """examples:
  sudo motcua provision-device --site camau-hcc --device rt-05 --role rating-terminal --desk 5
  sudo motcua provision-device --site camau-hcc --device kiosk-1 --role kiosk --tls
  sudo motcua provision-device --site camau-hcc --device cam-01 --role camera --desks 5,6
  sudo motcua provision-device --site camau-hcc --device rt-05 --role rating-terminal --desk 5 --replace
Prints the [mqtt] lines and the setup.sh command to run on the device, and writes them with any
certificates to /etc/motcua/provision/<device>/ (copy that folder to the device). Records the
device's role and desk(s) in /etc/motcua/devices.toml, the registry ticketing and the collector
trust (docs/security.md)."""

DEVICE_ROLES = ("rating-terminal", "kiosk", "display", "camera", "portal")  # the portal: device id "portal"


def _say(msg: str) -> None:
    print(msg, flush=True)


# ---------------------------------------------------------------------------- check-config
def check_config(argv: list[str] | None = None) -> int:
    from .checkconfig import check_file
    from .errors import UnknownRole
    from .roles import role_named, role_of_file
    ap = argparse.ArgumentParser(prog="motcua check-config", description="Kiểm tra tệp cấu hình / "
                                 "validate role config files", epilog=EPILOG_CHECK,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("files", nargs="+", metavar="FILE")
    ap.add_argument("--role", help="the role, when the file name does not tell it")
    args = ap.parse_args(argv)
    code = 0
    for f in args.files:
        try:
            role = role_named(args.role) if args.role else role_of_file(f)
        except UnknownRole as exc:
            print(f"Lỗi / error: {exc}", file=sys.stderr)
            code = 2
            continue
        res = check_file(f, role)
        if res.problems:
            code = max(code, 1)
            print(f"{f}: {len(res.problems)} lỗi / problem(s):", file=sys.stderr)
            for p in res.problems:
                print(f"  {p}", file=sys.stderr)
        else:
            _say("ok: " + res.summary)
    return code


# ---------------------------------------------------------------------------- doctor
def doctor(argv: list[str] | None = None) -> int:
    from .doctor import Doctor, failed, table
    from .errors import UnknownRole
    from .roles import ROLES, role_named, role_of_file
    ap = argparse.ArgumentParser(prog="motcua doctor", description="Kiểm tra thiết bị / check this "
                                 "device end to end and say how to fix each failure", epilog=EPILOG_DOCTOR,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", action="append", help="role config file (default: every one in --etc)")
    ap.add_argument("--role", help="the role, when the file name does not tell it")
    ap.add_argument("--etc", default="/etc/motcua", help="where configs live (default %(default)s)")
    ap.add_argument("--timeout", type=float, default=3.0, help="broker and printer timeout, s")
    ap.add_argument("--json", action="store_true", help="print the checks as JSON")
    args = ap.parse_args(argv)
    files = [Path(c) for c in args.config or []]
    if not files:
        files = [Path(args.etc) / r.config_file for r in ROLES.values()
                 if r.unit and (Path(args.etc) / r.config_file).exists()]
    if not files:
        print(f"Không thấy cấu hình / no role config in {args.etc}: run setup.sh --role ... first, "
              "or pass --config FILE", file=sys.stderr)
        return 2
    bad = False
    out = []
    for f in files:
        try:
            role = role_named(args.role) if args.role else role_of_file(f)
        except UnknownRole as exc:
            print(f"Lỗi / error: {exc}", file=sys.stderr)
            return 2
        checks = Doctor(f, role, timeout_s=args.timeout).run()
        bad = bad or failed(checks)
        if args.json:
            out.append({"config": str(f), "role": role.name, "checks": [c._asdict() for c in checks]})
        else:
            _say(table(checks, f"motcua doctor: {role.name} ({f})"))
            _say("")
    if args.json:
        _say(json.dumps(out, ensure_ascii=False, indent=2))
    return 1 if bad else 0


# ---------------------------------------------------------------------------- provision-device
def provision_device(argv: list[str] | None = None) -> int:
    from .errors import OpsError
    ap = argparse.ArgumentParser(prog="motcua provision-device", description="Cấp tài khoản MQTT cho thiết bị / "
                                 "create a device's broker credentials on the site server",
                                 epilog=EPILOG_PROVISION, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--site", required=True)
    ap.add_argument("--device", required=True)
    ap.add_argument("--role", required=True, choices=DEVICE_ROLES)
    ap.add_argument("--desk", type=int, help="a rating terminal's desk (quầy) number (required for one)")
    ap.add_argument("--desks", help="a camera's (or kiosk's) desks, e.g. 5,6 (required for a camera)")
    ap.add_argument("--broker", help="URL devices use (default mqtt://<this host>.local:1883, "
                                     "mqtts://...:8883 with --tls)")
    ap.add_argument("--tls", action="store_true", help="also issue a client certificate from the site CA")
    ap.add_argument("--replace", action="store_true", help="new credentials for an existing device "
                                                           "(the old ones stop working)")
    ap.add_argument("--password", help="use this password instead of a random one")
    ap.add_argument("--root", default="/", help="prefix of every path (tests, images)")
    ap.add_argument("--out", help="bundle folder (default <root>/etc/motcua/provision/<device>)")
    ap.add_argument("--no-reload", action="store_true", help="do not reload Mosquitto")
    args = ap.parse_args(argv)
    try:
        return _provision(args)
    except OpsError as exc:
        print(f"Lỗi / error: {exc}", file=sys.stderr)
        return 2


def _tls_bundle(tls_dir: Path, site: str, device: str, out: Path) -> dict[str, str]:
    """The site CA and the device's own certificate into its bundle; the config keys that use them."""
    from .tls import device_cert, ensure_ca
    ca, _ = ensure_ca(tls_dir, site)
    pair = device_cert(tls_dir, site, device)
    shutil.copyfile(ca.cert, out / "ca.crt")
    shutil.copyfile(pair.cert, out / "device.crt")
    shutil.copyfile(pair.key, out / "device.key")
    os.chmod(out / "device.key", 0o600)
    return {"ca_file": "/etc/motcua/tls/ca.crt", "cert_file": "/etc/motcua/tls/device.crt",
            "key_file": "/etc/motcua/tls/device.key"}


def _provision(args: argparse.Namespace) -> int:
    from . import mosquitto as mq
    from . import registry as reg
    from .errors import ProvisionError
    from .render import toml_value
    site = mq.check_id(args.site, "site")
    device = mq.check_id(args.device, "device")
    if device in mq.SERVER_USERS or device in mq.PROBE_USERS.values():
        raise ProvisionError(f"{device!r} is the server's own user; choose another device id")
    if device.endswith("-update") or (args.role in mq.UPDATE_ROLES and len(mq.update_user(device)) > 32):
        raise ProvisionError(f"{device!r}: a device id may not end in '-update' nor be longer than 25 characters "
                             "(its update agent logs in as '<id>-update')")
    files = mq.BrokerFiles.under(args.root)
    acl_site = mq.acl_site(files.acl_file)
    if acl_site is None:
        raise ProvisionError(f"{files.acl_file} not found: set up the server first "
                             f"(sudo ./setup.sh --role server --site {site} --device ticketing)")
    if acl_site != site:
        raise ProvisionError(f"this server is for site {acl_site!r}, not {site!r}")
    pw = mq.PasswordFile(files.password_file)
    if device in pw and not args.replace:
        raise ProvisionError(f"device {device!r} already has credentials; to replace a failed device "
                             "add --replace (the old credentials stop working)")
    desks = reg.parse_desks(args.desks)
    if args.replace and args.desk is None and not desks:  # a failed device's stand-in keeps its desk(s)
        old = reg.read(reg.registry_path(args.root))[1].get(device, {})
        if old.get("role") == args.role:
            args.desk, desks = old.get("desk"), list(old.get("desks") or [])  # type: ignore[call-overload]
    reg.check_desks(args.role, args.desk, desks, Path(args.root) / "etc/motcua/site.toml")
    password = args.password or mq.new_password()
    reg.set_device(reg.registry_path(args.root), site, device, args.role, args.desk, desks)
    pw.set(device, password)
    if args.role in mq.UPDATE_ROLES:  # its update agent: the same password, a login of its own
        pw.set(mq.update_user(device), password)
        mq.write_if_changed(files.acl_file, mq.with_update_users(files.acl_file.read_text(), site,
                                                                 _updating_devices(reg.registry_path(args.root))))
    pw.save()
    host = socket.gethostname()
    url = args.broker or (f"mqtts://{host}.local:8883" if args.tls else f"mqtt://{host}.local:1883")
    out = Path(args.out) if args.out else Path(args.root) / "etc/motcua/provision" / device
    out.mkdir(parents=True, exist_ok=True)
    os.chmod(out, 0o700)
    mqtt = {"url": url, "username": device, "password": password}
    if args.tls:
        mqtt.update(_tls_bundle(files.tls_dir, site, device, out))
    release_pub = Path(args.root) / "etc/motcua/release/signing.pub"  # motcua update: the key releases verify with
    if release_pub.exists():
        shutil.copyfile(release_pub, out / "release.pub")
    lines = ["[mqtt]"] + [f"{k} = {toml_value(v)}" for k, v in mqtt.items()]
    portal_secret = Path(args.root) / "etc/motcua/portal.secret"  # written by portal-init (setup.sh --role server)
    if args.role == "kiosk" and portal_secret.exists():  # its tickets' QR open the citizen portal (docs/portal.md)
        kiosk = {"ticket_secret": portal_secret.read_text().strip()}
        site_toml = Path(args.root) / "etc/motcua/site.toml"
        if site_toml.exists() and tomllib.loads(site_toml.read_text()).get("portal_url"):
            kiosk["qr_template"] = "{portal}/ve/{token}"  # only once the portal has a public address
        lines += ["", "[kiosk]"] + [f"{k} = {toml_value(v)}" for k, v in kiosk.items()]
    (out / "mqtt.toml").write_text("\n".join(lines) + "\n")
    os.chmod(out / "mqtt.toml", 0o600)
    reloaded = _reload_mosquitto(args)
    desk = f" --desk {args.desk}" if args.desk else ""
    _say(f"Đã cấp tài khoản cho thiết bị / credentials created for device {device} ({args.role}, site {site})")
    _say(f"  password file: {files.password_file}  ({'Mosquitto reloaded' if reloaded else 'reload Mosquitto: sudo systemctl reload mosquitto'})")
    _say(f"  device registry: {reg.registry_path(args.root)}  (ticketing and the collector re-read it)")
    _say(f"  bundle: {out}  (copy this folder to the device, e.g. scp -r {out} pi@{device}.local:)")
    _say("\nDán vào cấu hình thiết bị / paste into the device's config:\n")
    _say("\n".join(lines))
    _say("\nHoặc trên thiết bị chạy / or on the device run:\n")
    _say(f"  sudo ./setup.sh --role {args.role} --site {site} --device {device}{desk} --bundle ~/{device}")
    return 0


def _reload_mosquitto(args: argparse.Namespace) -> bool:
    if args.no_reload or Path(args.root).resolve() != Path("/"):
        return False
    exe = shutil.which("systemctl")
    if not exe:
        return False
    return subprocess.run([exe, "reload", "mosquitto"], capture_output=True).returncode == 0


# ---------------------------------------------------------------------------- setup.sh helpers
def _server_init_parser() -> argparse.ArgumentParser:
    from . import mosquitto as mq
    ap = argparse.ArgumentParser(prog="python3 -m ops server-init")
    ap.add_argument("--site", required=True)
    ap.add_argument("--root", default="/")
    ap.add_argument("--port", type=int, default=1883)
    ap.add_argument("--bind", default="", help="listen address (default: all)")
    ap.add_argument("--tls", action="store_true")
    ap.add_argument("--tls-port", type=int, default=8883)
    ap.add_argument("--server-name", action="append", default=[], help="names in the broker certificate")
    ap.add_argument("--templates", default=str(mq.TEMPLATES))
    ap.add_argument("--configs", default="", help="where ticketing.toml/collector.toml are (default <root>/etc/motcua)")
    return ap


def server_init(argv: list[str] | None = None) -> int:
    """Write the site broker's conf, ACL and passwords; give ticketing and collector working
    credentials in their configs. Idempotent: prints 'changed:' or 'ok:' per file."""
    from . import mosquitto as mq
    from . import registry as reg
    args = _server_init_parser().parse_args(argv)
    root = Path(args.root)
    files = mq.BrokerFiles.under(root)
    real = lambda p: "/" + str(Path(p).relative_to(root))  # noqa: E731 - path as the broker sees it
    tls = None
    if args.tls:
        from .tls import ensure_ca, ensure_server_cert
        host = socket.gethostname()
        names = args.server_name or [f"{host}.local", host, "localhost", "127.0.0.1"]
        ca, made_ca = ensure_ca(files.tls_dir, args.site)
        srv, made_srv = ensure_server_cert(files.tls_dir, args.site, names)
        _say(f"{'changed' if made_ca or made_srv else 'ok'}: TLS site CA and broker certificate in {files.tls_dir}")
        tls = {"ca": Path(real(ca.cert)), "cert": Path(real(srv.cert)), "key": Path(real(srv.key))}
    templates = Path(args.templates)
    conf = mq.conf_text(args.site, Path(real(files.password_file)), Path(real(files.acl_file)), port=args.port,
                        bind=args.bind, tls=tls, tls_port=args.tls_port, templates=templates)
    cfg_dir = Path(args.configs) if args.configs else root / "etc/motcua"
    acl = mq.acl_text(args.site, templates, _updating_devices(cfg_dir / reg.FILE_NAME))
    for path, text in ((files.conf, conf), (files.acl_file, acl)):
        _say(f"{'changed' if mq.write_if_changed(path, text) else 'ok'}: {path}")
    pw = mq.PasswordFile(files.password_file)
    reg_path = cfg_dir / reg.FILE_NAME
    _say(f"{'changed' if reg.ensure_servers(reg_path, args.site) else 'ok'}: device registry {reg_path}")
    changed_pw = _server_users(pw, cfg_dir, args.port)
    if changed_pw or not files.password_file.exists():
        pw.save()
        _say(f"changed: {files.password_file}")
    else:
        _say(f"ok: {files.password_file}")
    return 0


def _updating_devices(reg_path: Path) -> tuple[str, ...]:
    """The registry's devices that run the update agent (their update users' ACL lines)."""
    from . import mosquitto as mq
    from . import registry as reg
    return tuple(d for d, e in reg.read(reg_path)[1].items() if e.get("role") in mq.UPDATE_ROLES)


def _server_users(pw: "PasswordFile", cfg_dir: Path, port: int) -> bool:
    """ticketing and the collector get working broker credentials in their configs (kept when they
    already work) and the registry next to them; True when a password changed."""
    from . import mosquitto as mq
    from . import registry as reg
    from .render import set_keys
    from .roles import role_named
    changed_pw = False
    for user in mq.SERVER_USERS:
        cfg = cfg_dir / f"{user}.toml"
        text = cfg.read_text() if cfg.exists() else ""
        data = tomllib.loads(text) if text else {}
        current = data.get("mqtt", {})
        if current.get("username") == user and current.get("password") and pw.verify(user, current["password"]):
            changed_pw |= _probe_user(pw, user, current["password"])
            _say(f"ok: broker user {user} ({cfg})")
            new = text
        else:
            password = mq.new_password()
            pw.set(user, password)
            _probe_user(pw, user, password)
            changed_pw = True
            url_key = role_named(user).keys.get("url", "mqtt.url")
            new = set_keys(text, {url_key: f"mqtt://127.0.0.1:{port}", "mqtt.username": user,
                                  "mqtt.password": password})
            _say(f"changed: broker user {user}, password written to {cfg}")
        if not data.get("devices"):
            new = set_keys(new, {"devices": reg.FILE_NAME})  # next to the config: the registry it trusts
        mq.write_if_changed(cfg, new, mode=0o640)
    return changed_pw


def _probe_user(pw: "PasswordFile", user: str, password: str) -> bool:
    """A server user's second login with its password (mq.PROBE_USERS: ticketing's start-up twin
    probe, update-devices' waves): the broker binds client ids to user names, so as 'ticketing' or
    'collector' it would take the live session over."""
    from . import mosquitto as mq
    probe = mq.PROBE_USERS.get(user)
    if probe is None or pw.verify(probe, password):
        return False
    pw.set(probe, password)
    return True


def write_config(argv: list[str] | None = None) -> int:
    """Render a role config from its template (or update the existing file) with this device's
    site, device, desk, broker and credentials, at the keys the role uses; prints 'changed:'/'ok:'."""
    from .mosquitto import write_if_changed
    from .render import set_keys
    from .errors import UnknownRole
    from .roles import role_named
    ap = argparse.ArgumentParser(prog="python3 -m ops write-config")
    ap.add_argument("--role", required=True)
    ap.add_argument("--template", help="config/<role>.toml from the repo (used when --out is absent)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--site")
    ap.add_argument("--device")
    ap.add_argument("--desk", type=int)
    ap.add_argument("--broker", help="broker URL")
    ap.add_argument("--password", help="broker password (user name = device id)")
    ap.add_argument("--mqtt-file", help="mqtt.toml from provision-device: its [mqtt] table is copied")
    args = ap.parse_args(argv)
    try:
        role = role_named(args.role)
    except UnknownRole as exc:
        print(f"Lỗi / error: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out)
    if out.exists():
        text = out.read_text()
    elif args.template and Path(args.template).exists():
        text = Path(args.template).read_text()
    else:
        text = f"# {out.name}: written by setup.sh (no template config/{out.name} in this version)\n"
    values: dict[str, object] = {}
    try:
        tables = tomllib.loads(Path(args.mqtt_file).read_text()) if args.mqtt_file else {}
        bundle = tables.get("mqtt", {})
    except (OSError, tomllib.TOMLDecodeError) as exc:
        print(f"Lỗi / error: --mqtt-file {args.mqtt_file}: {exc}", file=sys.stderr)
        return 2
    wanted = {"site": args.site, "device": args.device, "desk": args.desk,
              "url": args.broker or bundle.pop("url", None)}
    for name, value in wanted.items():
        if value is not None and name in role.keys:
            values[role.keys[name]] = value
    if args.password:
        values.update({"mqtt.username": args.device, "mqtt.password": args.password})
    for k, v in bundle.items():
        values.setdefault(f"mqtt.{k}", v)
    if role.name == "kiosk":  # the portal's ticket secret and QR template, when the server has a portal
        for k, v in tables.get("kiosk", {}).items():
            if k in ("qr_template", "ticket_secret"):
                values[f"kiosk.{k}"] = v
    new = set_keys(text, values)
    _say(f"{'changed' if write_if_changed(out, new, mode=0o640) else 'ok'}: {out}")
    return 0


def province_bridge(argv: list[str] | None = None) -> int:
    from .bridge import main as bridge_main
    return bridge_main(argv)


def _seed_outbox(argv: list[str]) -> int:
    from .replace import seed
    return seed(argv)


def portal_init(argv: list[str] | None = None) -> int:
    from .portal_init import main as portal_main
    return portal_main(argv)


HELPERS = {"province-bridge": province_bridge, "check-config": check_config, "doctor": doctor, "provision-device": provision_device,
           "server-init": server_init, "write-config": write_config, "seed-outbox": _seed_outbox,
           "portal-init": portal_init}


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in HELPERS:
        print(f"cách dùng / usage: python -m ops {{{','.join(HELPERS)}}} ...", file=sys.stderr)
        return 2
    return int(HELPERS[args[0]](args[1:]) or 0)
