"""Replacing a failed device so that its history continues: ``motcua replace-device`` on the server
and ``python -m ops.replace seed`` (run by setup.sh) on the new device.

The collector knows the last ``seq`` it stored from the device (``devices.last_seq``, or the
largest ``seq`` among its events). ``replace-device`` issues new credentials
(``provision-device --replace``: the old ones stop at once) and writes ``continue.toml`` with
``next_seq = last + 1`` into the bundle. On the new device, setup.sh seeds the role's new, empty
outbox with that ``next_seq`` (the outbox's own persisted counter, ``meta.next_seq``, and its
``first_seq``) before the unit first starts, so the first event of the new device carries the
next number: no clash with the seq values already stored for this device id, and no false gap.
Every role with an outbox is seeded (``Role.outbox`` in ops/roles.py: rating terminal, kiosk,
camera agent, portal; the hall display publishes no events with seq). Events the old device had
not yet sent are lost with its SD card (a real gap, not a false one); if the card still reads,
copy its ``/var/lib/motcua`` instead and skip the seeding (setup.sh never seeds an outbox that
exists).
"""
from __future__ import annotations

import argparse
import shutil
import sqlite3
import sys
import tomllib
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from common.errors import MotcuaError

TZ = ZoneInfo("Asia/Ho_Chi_Minh")


def last_seq(db: Path, site: str, device: str) -> int:
    """The largest seq the collector has from this device (0 when none)."""
    if not db.exists():
        return 0
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        best = 0
        for sql in ("SELECT last_seq FROM devices WHERE site=? AND device=?",
                    "SELECT MAX(seq) FROM events WHERE site=? AND device=?"):
            try:
                row = conn.execute(sql, (site, device)).fetchone()
            except sqlite3.OperationalError:
                continue  # an older collector schema
            if row and row[0] is not None:
                best = max(best, int(row[0]))
        return best
    finally:
        conn.close()


def replace_device(argv: list[str] | None = None) -> int:
    from .cli import provision_device
    ap = argparse.ArgumentParser(prog="motcua replace-device", description="Thay thiết bị hỏng / replace a failed "
                                 "device: new credentials, and its history continues on the new one",
                                 epilog="examples:\n  sudo motcua replace-device --site camau-hcc --device rt-05 "
                                 "--role rating-terminal\nOther options (--role, --desk, --broker, --tls) go to "
                                 "provision-device.", formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--site", required=True)
    ap.add_argument("--device", required=True)
    ap.add_argument("--collector-config", type=Path, default=Path("/etc/motcua/collector.toml"))
    ap.add_argument("--root", default="/")
    args, rest = ap.parse_known_args(argv)
    rc = provision_device(["--site", args.site, "--device", args.device, "--replace", "--root", args.root, *rest])
    if rc != 0:
        return rc
    db = Path("/var/lib/motcua/collector.db")
    if args.collector_config.exists():
        db = Path(tomllib.loads(args.collector_config.read_text()).get("db", db))
    last = last_seq(db, args.site, args.device)
    out = Path(args.root) / "etc/motcua/provision" / args.device
    (out / "continue.toml").write_text(
        f"# {args.device}: the collector's last seq was {last}; the new device starts after it\n"
        f"next_seq = {last + 1}\nreplaced_at = \"{datetime.now(TZ).isoformat(timespec='seconds')}\"\n")
    print(f"Thiết bị mới tiếp tục từ seq / the new device continues at seq {last + 1} ({out / 'continue.toml'})")
    return 0


def outbox_of(role_name: str, config: Path) -> Path:
    """The outbox file a role's config names (its state key, and the role's file name in it)."""
    from common.config import load_config

    from .roles import config_model, role_named
    role = role_named(role_name)
    if role.outbox is None:
        raise ValueError(f"role {role.name} publishes no events with seq: it has no outbox to seed")
    node: Any = load_config(config, config_model(role))
    for part in role.keys["state"].split("."):
        node = getattr(node, part)
    return Path(node) / role.outbox if role.outbox else Path(node)


def seed_outbox(outbox: Path, site: str, device: str, next_seq: int, owner: str | None = None) -> bool:
    """Make a NEW outbox whose first event carries ``next_seq`` (owned by ``owner``, with the
    directories made for it); False, untouched, when it exists."""
    if outbox.exists():
        return False
    made = [d for d in (outbox.parent, *outbox.parent.parents) if not d.exists()]
    from mqtt.outbox import Outbox
    Outbox(outbox, site, device).close()  # the outbox's own schema
    conn = sqlite3.connect(outbox)
    with conn:
        for key in ("next_seq", "first_seq"):
            conn.execute("INSERT INTO meta (key, value) VALUES (?, ?) "
                         "ON CONFLICT(key) DO UPDATE SET value=excluded.value", (key, str(next_seq)))
    conn.close()
    if owner:
        for f in (*made, *outbox.parent.glob(outbox.name + "*")):
            shutil.chown(f, owner, owner)
    return True


def seed(argv: list[str] | None = None) -> int:
    """Seed a NEW (absent) outbox's next seq; prints changed:/ok: for setup.sh."""
    ap = argparse.ArgumentParser(prog="python -m ops.replace seed",
                                 description="seed a replacement device's new outbox from continue.toml")
    where = ap.add_mutually_exclusive_group(required=True)
    where.add_argument("--outbox", type=Path, help="the outbox file")
    where.add_argument("--role", help="the role whose --config names the outbox (rating-terminal, kiosk, camera, portal)")
    ap.add_argument("--config", type=Path, help="with --role: the role's config file")
    ap.add_argument("--root", type=Path, default=Path("/"), help="the config's paths are under this root")
    ap.add_argument("--owner", help="the service user that owns the new outbox (motcua)")
    ap.add_argument("--site", required=True)
    ap.add_argument("--device", required=True)
    ap.add_argument("--continue-file", type=Path, required=True)
    args = ap.parse_args(argv)
    want = int(tomllib.loads(args.continue_file.read_text())["next_seq"])
    outbox = args.outbox
    if outbox is None:
        if args.config is None:
            ap.error("--role needs --config")
        try:
            outbox = args.root / outbox_of(args.role, args.config).relative_to("/")
        except (ValueError, MotcuaError) as exc:
            print(f"ops.replace seed: lỗi / error: {exc}", file=sys.stderr)
            return 2
    if not seed_outbox(outbox, args.site, args.device, want, args.owner):
        print(f"ok: {outbox} exists (its own seq goes on; continue.toml not applied)")
        return 0
    print(f"changed: {outbox} starts at seq {want} (continues the replaced device)")
    return 0


if __name__ == "__main__":
    cmds = {"seed": seed, "replace-device": replace_device}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        print("usage: python -m ops.replace seed|replace-device ...", file=sys.stderr)
        sys.exit(2)
    sys.exit(cmds[sys.argv[1]](sys.argv[2:]))
