"""``motcua update`` (device), ``motcua release`` and ``motcua update-devices`` (site server)."""
from __future__ import annotations

import argparse
import logging
import sys
import tomllib
from pathlib import Path

from .errors import OpsError

EPILOG_UPDATE = """examples:
  sudo motcua update                       (this device: the server's latest release, if newer)
  sudo motcua update --check               (only say whether there is a newer one)
  motcua update --listen                   (the motcua-update unit: answers cmd/update)
Exit code 0 updated or already current, 1 failed or rolled back (the old version runs)."""

EPILOG_RELEASE = """examples:
  sudo motcua release build --repo ~/motcua                 (wheel of this source, signed, latest)
  sudo motcua release build --repo ~/motcua --version 0.1.1
  motcua release serve                                      (the motcua-release unit, port 8090)"""

EPILOG_WAVES = """examples:
  sudo motcua update-devices --site camau-hcc --devices rt-01,rt-02,rt-03,kiosk-1 --wave 2
Asks N devices at a time, waits until each reports healthy on the new release, and stops at the
first wave with a failed or rolled-back device."""

ETC = Path("/etc/motcua")


def _say(msg: str) -> None:
    print(msg, flush=True)


def _configs(etc: Path) -> list[Path]:
    from .roles import ROLES
    return [etc / r.config_file for r in ROLES.values() if r.unit and (etc / r.config_file).exists()]


def update(argv: list[str] | None = None) -> int:
    from .update import PREFIX, PUBLIC_KEY, updater_for
    ap = argparse.ArgumentParser(prog="motcua update", description="Cập nhật phần mềm / update this device "
                                 "from the site server, rolling back by itself when unhealthy",
                                 epilog=EPILOG_UPDATE, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", type=Path, help="the role's config (default: the one in /etc/motcua)")
    ap.add_argument("--url", help="release server (default http://<broker host>:8090/v1/)")
    ap.add_argument("--prefix", type=Path, default=PREFIX)
    ap.add_argument("--public-key", type=Path, default=PUBLIC_KEY)
    ap.add_argument("--settle", type=float, default=20.0, help="seconds the new version must stay up")
    ap.add_argument("--check", action="store_true", help="only report whether a newer release exists")
    ap.add_argument("--force", action="store_true", help="install even the same or a rolled-back release")
    ap.add_argument("--listen", action="store_true", help="run as the update agent (cmd/update)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    config = args.config or next(iter(c for c in _configs(ETC) if c.name not in ("collector.toml",)), None)
    if config is None or not config.exists():
        print("Không thấy cấu hình / no role config in /etc/motcua: run setup.sh --role ... first", file=sys.stderr)
        return 2
    try:
        up = updater_for(config, prefix=args.prefix, public_key=args.public_key, url=args.url, settle_s=args.settle)
        if args.listen:
            return _listen(config, up)
        if args.check:
            m = up.manifest()
            cur = up.current()
            from .update import release_of
            running = release_of(cur).get("sha256") if cur else None
            _say(f"{'đã mới nhất / current' if running == m.sha256 else 'có bản mới / newer release'}: {m.version}")
            return 0
        res = up.run(force=args.force)
    except OpsError as exc:
        print(f"Lỗi / error: {exc}", file=sys.stderr)
        return 1
    _say(f"{res.state}: {res.detail} (đang chạy / running {res.version})")
    return 0 if res.state in ("updated", "current") else 1


def _listen(config: Path, up: object) -> int:
    from mqtt.transport import BrokerConfig
    from .doctor import lookup
    from .fleet import Agent
    from .mosquitto import update_user
    from .roles import role_of_file
    role = role_of_file(config)
    raw = tomllib.loads(config.read_text(encoding="utf-8"))
    table = dict(raw.get("mqtt") or {})
    url = lookup(raw, role.keys.get("url", "mqtt.url"))
    if isinstance(url, str):
        table["url"] = url
    site = lookup(raw, role.keys.get("site", "site"))
    device = lookup(raw, role.keys.get("device", "device")) or table.get("username")
    own = table.get("username")
    if own:  # the device's password under the agent's own login (ops/mosquitto.py update_user)
        table["username"] = update_user(str(own))
    agent = Agent(BrokerConfig.model_validate(table), str(site), str(device), up,  # type: ignore[arg-type]
                  fallback_username=str(own) if own else None)
    agent.serve()
    return 0


def release(argv: list[str] | None = None) -> int:
    from .release import KEY_DIR, PORT, RELEASES, ReleaseServer, build_wheel, ensure_key, publish
    ap = argparse.ArgumentParser(prog="motcua release", description="Bản phát hành trên máy chủ / the site "
                                 "server's releases", epilog=EPILOG_RELEASE,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="build a wheel of a source tree and publish it as the latest")
    b.add_argument("--repo", type=Path, required=True)
    b.add_argument("--version", help="the release's version (default pyproject's)")
    p = sub.add_parser("publish", help="publish a wheel already built")
    p.add_argument("wheel", type=Path)
    p.add_argument("--version", required=True)
    s = sub.add_parser("serve", help="serve the releases to devices (their broker login)")
    s.add_argument("--port", type=int, default=PORT)
    s.add_argument("--bind", default="0.0.0.0")
    s.add_argument("--password-file", type=Path, default=Path("/etc/mosquitto/motcua/passwd"))
    sub.add_parser("keygen", help="make the signing key (once)")
    for sp in (b, p, s):
        sp.add_argument("--releases", type=Path, default=RELEASES)
    for sp in (b, p, sub.choices["keygen"]):
        sp.add_argument("--key-dir", type=Path, default=KEY_DIR)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        if args.cmd == "keygen":
            path, made = ensure_key(args.key_dir)
            _say(f"{'changed' if made else 'ok'}: release signing key {path} (public: {path.parent / 'signing.pub'})")
        elif args.cmd in ("build", "publish"):
            if args.cmd == "build":
                wheel, version = build_wheel(args.repo, args.releases, args.version)
            else:
                wheel, version = args.wheel, args.version
            m = publish(wheel, version, args.releases, args.key_dir)
            _say(f"Đã phát hành / published {m.version}: {args.releases / m.wheel} sha256 {m.sha256}")
        else:
            from common.systemd import Notifier
            srv = ReleaseServer(args.releases, args.password_file, args.bind, args.port)
            Notifier().ready()
            _say(f"đang phục vụ / serving {args.releases} on {args.bind}:{srv.port}")
            srv.serve_forever()
    except OpsError as exc:
        print(f"Lỗi / error: {exc}", file=sys.stderr)
        return 2
    return 0


def update_devices(argv: list[str] | None = None) -> int:
    from mqtt.transport import BrokerConfig
    from pydantic import ValidationError
    from mqtt.schemas import UpdateState
    from .fleet import Waves
    from .mosquitto import PROBE_USERS
    from .release import RELEASES, Manifest
    ap = argparse.ArgumentParser(prog="motcua update-devices", description="Cập nhật thiết bị theo đợt / update "
                                 "devices in waves", epilog=EPILOG_WAVES,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--site", required=True)
    ap.add_argument("--devices", required=True, help="comma-separated device ids, in order")
    ap.add_argument("--wave", type=int, default=1, help="devices asked at once (default 1)")
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds per wave")
    ap.add_argument("--config", type=Path, default=ETC / "collector.toml", help="login as this config's [mqtt] user")
    ap.add_argument("--releases", type=Path, default=RELEASES)
    args = ap.parse_args(argv)
    try:
        raw = tomllib.loads(args.config.read_text(encoding="utf-8"))
        table = dict(raw.get("mqtt") or {})
        if isinstance(raw.get("broker"), str):
            table["url"] = raw["broker"]
        # the collector's password under the waves' own login (ops/mosquitto.py PROBE_USERS)
        table["username"] = PROBE_USERS.get(str(table.get("username")), table.get("username"))
        broker = BrokerConfig.model_validate(table)
    except (OSError, tomllib.TOMLDecodeError, ValidationError) as exc:
        print(f"Lỗi / error: không đọc được / cannot read {args.config}: {exc}", file=sys.stderr)
        return 2
    latest = args.releases / "latest.json"
    version = Manifest.loads(latest.read_bytes()).version if latest.exists() else None
    waves = Waves(broker, args.site, timeout_s=args.timeout)

    def report(n: int, res: "dict[str, UpdateState | None]") -> None:
        for dev, st in res.items():
            state = getattr(st, "state", "no answer / không trả lời")
            _say(f"đợt / wave {n}: {dev:<16} {state:<12} {getattr(st, 'version', '')}  {getattr(st, 'detail', '')}")

    try:
        ok = waves.rollout([d.strip() for d in args.devices.split(",") if d.strip()], args.wave, version, report)
    finally:
        waves.close()
    _say("xong / done" if ok else "dừng / stopped: một thiết bị không cập nhật tốt, các thiết bị còn lại chưa được hỏi / a device did not update healthily (the rest were not asked)")
    return 0 if ok else 1
