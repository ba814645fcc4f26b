"""Sites forward to the province over Mosquitto bridges (``motcua province-bridge``).

Three steps, each idempotent (prints ``changed:``/``ok:`` per file)::

    # on the central broker's host, once
    sudo motcua province-bridge central-init --server-name province.example.vn
    # on the central host, once per site: a password and a bundle for that site
    sudo motcua province-bridge add-site --site camau-hcc
    # on the site server, with the bundle copied over (or setup.sh --role server --province URL)
    sudo motcua province-bridge join --bundle ~/camau-hcc-province --province mqtts://province.example.vn:8883

The site's bridge carries ``motcua/v1/{site}/#`` out at QoS 1 (events, retained status and
state, the collector's manifest and replays) and one topic in, the province's replay requests to
the site's collector (``motcua/v1/{site}/dev/collector/cmd/replay``); the central ACL lets a site's
login (its site id) write only under its own tree, and the central collectors write nothing into a
site but those requests.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tomllib
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlsplit

from mqtt import topics

from . import mosquitto as mq
from .errors import ProvisionError

CENTRAL_USERS = ("province-collector",)
BUNDLE_FILE = "bridge.toml"

EPILOG = """examples:
  on the central host (once):
    sudo motcua province-bridge central-init --server-name province.example.vn
  on the central host, per site (writes /etc/motcua/province/sites/<site>/, copy it to the site):
    sudo motcua province-bridge add-site --site camau-hcc
  on the site server:
    sudo motcua province-bridge join --bundle ~/camau-hcc --province mqtts://province.example.vn:8883
  or: sudo ./setup.sh --role server --site camau-hcc --province mqtts://province.example.vn:8883 \\
        --province-bundle ~/camau-hcc
See docs/province.md."""


class CentralFiles(NamedTuple):
    conf: Path
    password_file: Path
    acl_file: Path
    tls_dir: Path
    sites_dir: Path

    @classmethod
    def under(cls, root: str | Path = "/") -> "CentralFiles":
        r = Path(root)
        return cls(r / "etc/mosquitto/conf.d/motcua-province.conf", r / "etc/mosquitto/motcua-province/passwd",
                   r / "etc/mosquitto/motcua-province/acl", r / "etc/motcua/province-tls",
                   r / "etc/motcua/province/sites")


def site_bridge_conf(root: str | Path = "/") -> Path:
    """The site's bridge snippet; 'motcua_province' sorts after 'motcua.conf' in conf.d."""
    return Path(root) / "etc/mosquitto/conf.d/motcua_province.conf"


def site_ca_path(root: str | Path = "/") -> Path:
    return Path(root) / "etc/motcua/province/ca.crt"


def parse_province_url(url: str) -> str:
    """'mqtts://host:8883' -> 'host:8883' (the bridge's address); only TLS is accepted."""
    parts = urlsplit(url)
    if parts.scheme != "mqtts" or not parts.hostname:
        raise ProvisionError(f"--province {url!r}: expected mqtts://HOST[:PORT] (the bridge runs over TLS only)")
    try:
        port = parts.port or 8883
    except ValueError:
        raise ProvisionError(f"--province {url!r}: bad port") from None
    return f"{parts.hostname}:{port}"


def check_site(site: str) -> str:
    site = mq.check_id(site, "site")
    if site in CENTRAL_USERS:
        raise ProvisionError(f"{site!r} is the central broker's own user; a site cannot take that id")
    return site


def site_conf_text(site: str, address: str, password: str, cafile: Path, *, protocol: str = "mqttv50",
                   restart_timeout: str = "5 60", max_queued_messages: int = 0, max_queued_bytes: int = 0,
                   templates: Path = mq.TEMPLATES) -> str:
    if protocol not in ("mqttv50", "mqttv311"):
        raise ProvisionError(f"bridge protocol {protocol!r}: expected mqttv50 or mqttv311")
    link = topics.province_link(site)
    return mq.render("bridge-site.in", templates, site=check_site(site), address=address, password=password,
                     cafile=cafile, protocol=protocol, restart_timeout=restart_timeout,
                     max_queued_messages=max_queued_messages, max_queued_bytes=max_queued_bytes,
                     link_topic=link, replay_topic=topics.replay_request(site))


def central_conf_text(files: CentralFiles, real: "RealPath", *, port: int, tls_port: int, bind: str,
                      templates: Path = mq.TEMPLATES) -> str:
    text = mq.render("bridge-central.in", templates, password_file=real(files.password_file),
                     acl_file=real(files.acl_file), port=port, bind_local="127.0.0.1", tls_port=tls_port,
                     bind=bind, cafile=real(files.tls_dir / "ca.crt"), certfile=real(files.tls_dir / "server.crt"),
                     keyfile=real(files.tls_dir / "server.key"), max_queued_messages=100000)
    return re.sub(r"[ \t]+$", "", text, flags=re.M)


class RealPath:
    """A path under --root as the broker on the real machine sees it."""

    def __init__(self, root: Path):
        self.root = root

    def __call__(self, p: Path) -> str:
        return "/" + str(p.relative_to(self.root))


def _say(msg: str) -> None:
    print(msg, flush=True)


def _changed(path: Path, text: str, mode: int = 0o644) -> None:
    _say(f"{'changed' if mq.write_if_changed(path, text, mode=mode) else 'ok'}: {path}")


def central_init(args: argparse.Namespace) -> int:
    from .tls import ensure_ca, ensure_server_cert
    root = Path(args.root)
    files = CentralFiles.under(root)
    names = args.server_name or ["localhost", "127.0.0.1"]
    _, made_ca = ensure_ca(files.tls_dir, "province")
    _, made_srv = ensure_server_cert(files.tls_dir, "province", names)
    _say(f"{'changed' if made_ca or made_srv else 'ok'}: province CA and broker certificate in {files.tls_dir}")
    _changed(files.conf, central_conf_text(files, RealPath(root), port=args.port, tls_port=args.tls_port,
                                           bind=args.bind, templates=Path(args.templates)))
    _changed(files.acl_file, mq.render("bridge-acl.in", Path(args.templates)))
    pw = mq.PasswordFile(files.password_file)
    out = root / "etc/motcua/province/province-collector.toml"
    if "province-collector" not in pw or not out.exists():
        password = mq.new_password()
        pw.set("province-collector", password)
        pw.save()
        out.parent.mkdir(parents=True, exist_ok=True)
        _say(f"changed: {files.password_file}")
        _changed(out, f'[mqtt]\nurl = "mqtt://127.0.0.1:{args.port}"\nusername = "province-collector"\n'
                      f'password = "{password}"\n', mode=0o600)
    else:
        _say(f"ok: broker user province-collector ({out})")
    return 0


def add_site(args: argparse.Namespace) -> int:
    root = Path(args.root)
    files = CentralFiles.under(root)
    site = check_site(args.site)
    if not (files.tls_dir / "ca.crt").exists():
        raise ProvisionError(f"{files.tls_dir}/ca.crt not found: run `motcua province-bridge central-init` first")
    pw = mq.PasswordFile(files.password_file)
    if site in pw and not args.replace:
        raise ProvisionError(f"site {site!r} already has bridge credentials; add --replace for new ones "
                             "(the old ones stop working)")
    password = args.password or mq.new_password()
    pw.set(site, password)
    pw.save()
    out = Path(args.out) if args.out else files.sites_dir / site
    out.mkdir(parents=True, exist_ok=True)
    os.chmod(out, 0o700)
    shutil.copyfile(files.tls_dir / "ca.crt", out / "ca.crt")
    url = args.province or "mqtts://<this host>:8883"
    (out / BUNDLE_FILE).write_text(f'[bridge]\nsite = "{site}"\nurl = "{url}"\nusername = "{site}"\n'
                                   f'password = "{password}"\n')
    os.chmod(out / BUNDLE_FILE, 0o600)
    _say(f"changed: {files.password_file} (bridge login {site}; reload Mosquitto: sudo systemctl reload mosquitto)")
    _say(f"Gói cho điểm / bundle for the site: {out}  (copy it to the site server, then there run:)")
    _say(f"  sudo motcua province-bridge join --bundle ~/{site} --province {url}")
    return 0


def join(args: argparse.Namespace) -> int:
    root = Path(args.root)
    bundle = Path(args.bundle)
    try:
        data = tomllib.loads((bundle / BUNDLE_FILE).read_text())["bridge"]
    except (OSError, KeyError, tomllib.TOMLDecodeError) as exc:
        raise ProvisionError(f"{bundle / BUNDLE_FILE}: not a province bundle ({exc})") from None
    site = check_site(str(data.get("site", "")))
    acl_site = mq.acl_site(mq.BrokerFiles.under(root).acl_file)
    if acl_site is not None and acl_site != site:
        raise ProvisionError(f"this server is for site {acl_site!r}, the bundle for {site!r}")
    address = parse_province_url(args.province or str(data.get("url", "")))
    ca = site_ca_path(root)
    ca.parent.mkdir(parents=True, exist_ok=True)
    _changed(ca, (bundle / "ca.crt").read_text())
    text = site_conf_text(site, address, str(data["password"]), Path("/" + str(ca.relative_to(root))),
                          protocol=args.protocol, restart_timeout=args.restart_timeout,
                          max_queued_messages=args.max_queued_messages, max_queued_bytes=args.max_queued_bytes,
                          templates=Path(args.templates))
    _changed(site_bridge_conf(root), text, mode=0o640)
    collector_toml = root / "etc/motcua/collector.toml"
    if collector_toml.exists():  # the collector follows the link and answers the province's replays
        _changed(collector_toml, with_province_link(collector_toml.read_text()), mode=0o640)
    _say("Khởi động lại Mosquitto / restart Mosquitto to start the bridge: sudo systemctl restart mosquitto")
    return 0


def with_province_link(text: str) -> str:
    """collector.toml with ``province_link = true`` (a top-level key: before the first table)."""
    if re.search(r"^province_link\s*=\s*true\s*$", text, re.M):
        return text
    if re.search(r"^province_link\s*=", text, re.M):
        return re.sub(r"^province_link\s*=.*$", "province_link = true", text, count=1, flags=re.M)
    line = ("# the site has a bridge to the province (motcua province-bridge join): alert when the link is\n"
            "# down, publish the manifest and answer replay requests (docs/protocol.md, \"Province\")\n"
            "province_link = true\n")
    m = re.search(r"^\[", text, re.M)
    if m is None:
        return text + ("" if text.endswith("\n") or not text else "\n") + line
    return text[:m.start()] + line + "\n" + text[m.start():]


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="motcua province-bridge", description="Nối điểm với tỉnh / bridge a site's "
                                 "broker to the province's central broker over TLS", epilog=EPILOG,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="step", required=True)
    c = sub.add_parser("central-init", help="central broker: config, ACL, province CA and certificate")
    c.add_argument("--server-name", action="append", default=[], help="names in the central certificate")
    c.add_argument("--port", type=int, default=1883, help="loopback listener for central collectors")
    c.add_argument("--tls-port", type=int, default=8883)
    c.add_argument("--bind", default="", help="TLS listen address (default: all)")
    a = sub.add_parser("add-site", help="central broker: a site's bridge password and bundle")
    a.add_argument("--site", required=True)
    a.add_argument("--province", help="URL sites use, mqtts://HOST:8883 (written into the bundle)")
    a.add_argument("--password", help="use this password instead of a random one")
    a.add_argument("--replace", action="store_true")
    a.add_argument("--out", help="bundle folder (default <root>/etc/motcua/province/sites/<site>)")
    j = sub.add_parser("join", help="site server: write the bridge to the province")
    j.add_argument("--bundle", required=True, help="the folder add-site wrote (ca.crt, bridge.toml)")
    j.add_argument("--province", help="mqtts://HOST:PORT of the central broker (default: the bundle's)")
    j.add_argument("--protocol", default="mqttv50", choices=("mqttv50", "mqttv311"))
    j.add_argument("--restart-timeout", default="5 60", help="reconnect back-off 'base cap' in s")
    j.add_argument("--max-queued-messages", type=int, default=0, help="per-client queue limit (0: none)")
    j.add_argument("--max-queued-bytes", type=int, default=0, help="per-client queue limit in bytes (0: none)")
    for p in (c, a, j):
        p.add_argument("--root", default="/", help="prefix of every path (tests, images)")
        p.add_argument("--templates", default=str(mq.TEMPLATES))
    return ap


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    steps = {"central-init": central_init, "add-site": add_site, "join": join}
    try:
        return steps[args.step](args)
    except ProvisionError as exc:
        print(f"Lỗi / error: {exc}", file=sys.stderr)
        return 2
