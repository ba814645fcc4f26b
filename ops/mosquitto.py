"""The site broker's files: Mosquitto config, ACL and password file (standard library only).

Passwords are stored as Mosquitto 2 writes them (``mosquitto_passwd``): PBKDF2-SHA512, 101
iterations, 12-byte salt, ``user:$7$101$<salt b64>$<hash b64>``, so credentials can be made
on a machine without ``mosquitto_passwd`` and Mosquitto reads them as its own.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
from pathlib import Path
from string import Template
from typing import NamedTuple

from mqtt import topics
from mqtt.errors import BadId

from .errors import ProvisionError

TEMPLATES = Path(__file__).resolve().parent.parent / "config" / "mosquitto"
SERVER_USERS = ("ticketing", "collector")
# Second logins with a server user's password (the broker binds client ids to user names: a second
# connection as "ticketing" or "collector" would take the live one's session over): ticketing's
# twin probe (ticketing/single.py) and `motcua update-devices` (ops/fleet.py Waves).
PROBE_USERS = {"ticketing": "ticketing-probe", "collector": "collector-waves"}
_ITERATIONS = 101


def check_id(value: str, what: str) -> str:
    """The topic tree's id rule (mqtt.topics.check_id), as a provisioning error."""
    try:
        return topics.check_id(value, what)
    except BadId as exc:
        raise ProvisionError(str(exc)) from None


def new_password() -> str:
    return secrets.token_urlsafe(18)


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = salt if salt is not None else os.urandom(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, _ITERATIONS, 64)
    return f"$7${_ITERATIONS}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        _, kind, iters, salt, digest = stored.split("$")
    except ValueError:
        return False
    if kind != "7":
        return False
    got = hashlib.pbkdf2_hmac("sha512", password.encode(), base64.b64decode(salt), int(iters), 64)
    return hmac.compare_digest(got, base64.b64decode(digest))


class PasswordFile:
    """A Mosquitto password file kept in order, rewritten only when something changed."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.entries: dict[str, str] = {}
        if self.path.exists():
            for line in self.path.read_text().splitlines():
                if ":" in line and not line.lstrip().startswith("#"):
                    user, _, stored = line.partition(":")
                    self.entries[user.strip()] = stored.strip()

    def __contains__(self, user: str) -> bool:
        return user in self.entries

    def set(self, user: str, password: str) -> None:
        self.entries[check_id(user, "user name")] = hash_password(password)

    def remove(self, user: str) -> bool:
        return self.entries.pop(user, None) is not None

    def verify(self, user: str, password: str) -> bool:
        return user in self.entries and verify_password(password, self.entries[user])

    def text(self) -> str:
        return "".join(f"{u}:{h}\n" for u, h in self.entries.items())

    def save(self) -> None:
        write_if_changed(self.path, self.text(), mode=0o640)


def write_if_changed(path: Path, text: str, mode: int = 0o644) -> bool:
    """Write atomically, keeping the old file's owner and mode; False when already identical."""
    if path.exists() and path.read_text() == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    if path.exists():
        st = path.stat()
        os.chmod(tmp, st.st_mode & 0o7777)
        try:
            os.chown(tmp, st.st_uid, st.st_gid)
        except PermissionError:
            pass
    else:
        os.chmod(tmp, mode)
    os.replace(tmp, path)
    return True


class BrokerFiles(NamedTuple):
    """Where the site broker's files live (under an optional root prefix)."""

    conf: Path
    password_file: Path
    acl_file: Path
    tls_dir: Path

    @classmethod
    def under(cls, root: str | Path = "/") -> "BrokerFiles":
        r = Path(root)
        return cls(r / "etc/mosquitto/conf.d/motcua.conf", r / "etc/mosquitto/motcua/passwd",
                   r / "etc/mosquitto/motcua/acl", r / "etc/motcua/tls")


def render(name: str, templates: Path = TEMPLATES, **values: object) -> str:
    return Template((templates / name).read_text()).substitute({k: str(v) for k, v in values.items()})


# Roles whose devices run the update agent (motcua-update.service) beside the role's own unit.
UPDATE_ROLES = ("rating-terminal", "kiosk", "display", "camera")


def update_user(device: str) -> str:
    """The broker user of a device's update agent: the device's password under a login of its
    own, since a second login as the device would take the role unit's session over (the broker
    binds client ids to user names)."""
    return f"{device}-update"


UPDATE_SECTION = "# --- each device's update agent"


def acl_text(site: str, templates: Path = TEMPLATES, devices: tuple[str, ...] = ()) -> str:
    """The site's ACL; ``devices``: the devices whose update agents get their two topics."""
    return with_update_users(render("acl.in", templates, site=check_id(site, "site")), site, devices)


def with_update_users(acl: str, site: str, devices: tuple[str, ...]) -> str:
    """An ACL text with its update agents' section (the last one) made for ``devices``: what
    provision-device rewrites in the installed ACL (no templates in an installed venv)."""
    site = check_id(site, "site")
    text = acl.split("\n" + UPDATE_SECTION)[0].rstrip("\n") + "\n"
    if devices:
        text += (f"\n{UPDATE_SECTION} (written from the device registry by server-init and\n"
                 "# provision-device): its own cmd/update and its retained state/update, nothing else\n")
        for d in sorted(devices):
            text += (f"user {update_user(d)}\ntopic read {topics.command(site, d, 'update')}\n"
                     f"topic write {topics.device_state(site, d, 'update')}\n")
    return text


def acl_site(acl_file: Path) -> str | None:
    """The site an ACL file was written for (its first line), or None."""
    if not acl_file.exists():
        return None
    m = re.search(r"^# motcua site: (\S+)", acl_file.read_text(), re.M)
    return m.group(1) if m else None


def conf_text(site: str, password_file: Path, acl_file: Path, *, port: int = 1883, bind: str = "",
              tls: dict[str, Path] | None = None, tls_port: int = 8883, templates: Path = TEMPLATES) -> str:
    """The conf.d snippet. Plain: one listener. TLS: the plain listener only on loopback (for the
    server's own processes) and an mqtts listener for the network; every client needs a password."""
    if tls:
        listeners = render("listener-plain.in", templates, port=port, bind="127.0.0.1") + \
            render("listener-tls.in", templates, port=tls_port, bind=bind, cafile=tls["ca"],
                   certfile=tls["cert"], keyfile=tls["key"], require_certificate="true")
    else:
        listeners = render("listener-plain.in", templates, port=port, bind=bind)
    text = render("motcua.conf.in", templates, site=check_id(site, "site"), password_file=password_file,
                  acl_file=acl_file, listeners=listeners)
    return re.sub(r"[ \t]+$", "", text, flags=re.M)
