"""The device registry file (``/etc/motcua/devices.toml``), written here (standard library only:
``server-init`` runs before the venv exists) and read by ticketing and the collector through
``common.registry`` (which validates it).
"""
from __future__ import annotations

import tomllib
from pathlib import Path

from .errors import ProvisionError
from .mosquitto import write_if_changed
from .render import toml_value

FILE_NAME = "devices.toml"
SERVER_ROLES = {"ticketing": "ticketing", "ticketing-probe": "ticketing", "collector": "collector"}


def registry_path(root: str | Path = "/") -> Path:
    return Path(root) / "etc/motcua" / FILE_NAME


def read(path: Path) -> tuple[str | None, dict[str, dict[str, object]]]:
    """(site, {device: {"role": ..., "desk": ..., "desks": [...]}}) of an existing file."""
    if not path.exists():
        return None, {}
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ProvisionError(f"{path}: not valid TOML ({exc}); fix or remove it") from None
    devices = data.get("devices", {})
    return data.get("site"), {k: dict(v) for k, v in devices.items()}


def text(site: str, devices: dict[str, dict[str, object]]) -> str:
    lines = [f"# motcua device registry for site {site}: what each broker login is and where.",
             "# Written by `motcua provision-device` and `setup.sh --role server`; ticketing and the",
             "# collector trust it (docs/security.md). Re-read by them when it changes.",
             f"site = {toml_value(site)}"]
    for device in sorted(devices):
        entry = devices[device]
        lines += ["", f"[devices.{device}]", f"role = {toml_value(entry['role'])}"]
        if entry.get("desk") is not None:
            lines.append(f"desk = {toml_value(entry['desk'])}")
        desks = entry.get("desks")
        if isinstance(desks, list) and desks:
            lines.append(f"desks = [{', '.join(str(int(d)) for d in desks)}]")
    return "\n".join(lines) + "\n"


def set_device(path: Path, site: str, device: str, role: str, desk: int | None = None,
               desks: list[int] | None = None) -> bool:
    """Add or replace one device's entry; True when the file changed."""
    old_site, devices = read(path)
    if old_site is not None and old_site != site:
        raise ProvisionError(f"{path} is the registry of site {old_site!r}, not {site!r}")
    entry: dict[str, object] = {"role": role}
    if desk is not None:
        entry["desk"] = desk
    if desks:
        entry["desks"] = sorted(set(desks))
    devices[device] = entry
    return write_if_changed(path, text(site, devices), mode=0o644)


def ensure_servers(path: Path, site: str) -> bool:
    """The registry exists and names the server processes; True when it changed."""
    old_site, devices = read(path)
    if old_site is not None and old_site != site:
        raise ProvisionError(f"{path} is the registry of site {old_site!r}, not {site!r}")
    for user, role in SERVER_ROLES.items():
        devices.setdefault(user, {"role": role})
    return write_if_changed(path, text(site, devices), mode=0o644)


def check_desks(role: str, desk: int | None, desks: list[int], site_toml: Path) -> None:
    """A rating terminal needs --desk, a camera --desks; each must be a desk of the site."""
    if role == "rating-terminal" and desk is None:
        raise ProvisionError("a rating terminal belongs to one desk: add --desk N")
    if role == "camera" and not desks:
        raise ProvisionError("a camera watches one or more desks: add --desks 5,6")
    if role != "rating-terminal" and desk is not None:
        raise ProvisionError(f"a {role} has no single desk; use --desks for a camera or kiosk")
    if desks and role not in ("camera", "kiosk"):
        raise ProvisionError(f"a {role} has no desks")
    if not site_toml.exists():
        return
    try:
        known = {int(d["number"]) for d in tomllib.loads(site_toml.read_text()).get("desks", [])}
    except (tomllib.TOMLDecodeError, KeyError, TypeError, ValueError):
        return  # ticketing refuses a bad site config itself
    unknown = sorted({d for d in [desk, *desks] if d is not None} - known)
    if unknown:
        raise ProvisionError(f"desk(s) {', '.join(map(str, unknown))} are not in {site_toml} "
                             f"(its desks: {', '.join(map(str, sorted(known)))})")


def parse_desks(value: str | None) -> list[int]:
    if not value:
        return []
    try:
        return [int(x) for x in value.replace(" ", "").split(",") if x]
    except ValueError:
        raise ProvisionError(f"--desks {value!r}: give desk numbers separated by commas, e.g. 5,6") from None
