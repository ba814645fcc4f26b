"""What each role is made of: its config file, its config model, its units, its packages.

A role's config model is found by a documented name, imported only when needed:
``<package>.config:CONFIG_MODEL`` (hall display: ``kiosk.display.config:CONFIG_MODEL``; site
file: ``ticketing.config:SITE_MODEL``), else the model class the role's CLI loads today
(``rating_terminal.config:TerminalConfig``, ...). ``Role.keys`` says where each config keeps
site, device, desk, broker URL and state; ``setup.sh`` and ``doctor`` read and write only those.
"""
from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from .errors import NoConfigModel, UnknownRole

if TYPE_CHECKING:
    from pydantic import BaseModel


class Role(NamedTuple):
    name: str                       # as on the command line: rating-terminal, camera, ...
    config_file: str                # file name under /etc/motcua and config/
    models: tuple[str, ...]         # "module:ATTRIBUTE" candidates, first found wins
    unit: str | None                # systemd unit, None for a plain data file (site.toml)
    extra: str                      # pyproject extra installed on such a device
    keys: dict[str, str] = {}       # where this role's config keeps site, device, desk, url, state
    pins: tuple[str, ...] = ()      # dotted-key patterns (fnmatch) of GPIO pin numbers
    # its durable outbox (events with seq): a file in the state dir, "" when the state key names
    # the file itself; None: the role publishes no events with seq (ops/replace.py seeds it)
    outbox: str | None = None


_MQTT = {"url": "mqtt.url"}
ROLES: dict[str, Role] = {r.name: r for r in (
    Role("collector", "collector.toml", ("collector.config:CONFIG_MODEL", "collector.config:CollectorConfig"),
         "motcua-collector.service", "server", {"site": "site", "url": "broker", "state": "db"}),
    Role("ticketing", "ticketing.toml", ("ticketing.config:CONFIG_MODEL", "ticketing.config:TicketingConfig"),
         "motcua-ticketing.service", "server", {"device": "device", "state": "db", **_MQTT}),
    Role("site", "site.toml", ("ticketing.config:SITE_MODEL", "ticketing.config:SiteConfig"), None, "server",
         {"site": "site"}),
    Role("rating-terminal", "rating-terminal.toml",
         ("rating_terminal.config:CONFIG_MODEL", "rating_terminal.config:TerminalConfig"),
         "motcua-rating-terminal.service", "rating",
         {"site": "site", "device": "device", "desk": "desk", "state": "outbox", **_MQTT},
         ("rating.buttons[*].pin", "rating.buttons[*].led", "rating.rgb.red", "rating.rgb.green",
          "rating.rgb.blue", "hardware.buzzer", "hardware.status_led", "hardware.keys.*"), outbox=""),
    Role("kiosk", "kiosk.toml", ("kiosk.config:CONFIG_MODEL", "kiosk.config:KioskConfig"),
         "motcua-kiosk.service", "kiosk",
         {"site": "kiosk.site", "device": "kiosk.device", "state": "kiosk.state_dir", **_MQTT}, outbox="outbox.db"),
    Role("display", "display.toml", ("kiosk.display.config:CONFIG_MODEL", "kiosk.display.config:DisplayConfig"),
         "motcua-display.service", "kiosk", {"site": "site", "device": "device", "state": "state_dir", **_MQTT}),
    Role("camera", "camera.toml", ("camera_agent.config:CONFIG_MODEL", "camera_agent.config:CameraAgentConfig"),
         "motcua-camera-agent.service", "camera",
         {"site": "site", "device": "device", "state": "state_dir", **_MQTT}, outbox="camera-agent-outbox.db"),
    Role("portal", "portal.toml", ("portal.config:CONFIG_MODEL", "portal.config:PortalConfig"),
         "motcua-portal.service", "server", {"site": "site", "device": "device", "state": "state_dir", **_MQTT},
         outbox="outbox.db"),
)}
# Any role: keys named pin, *_pin, pins, *_pins hold GPIO numbers too.
COMMON_PINS = ("*.pin", "pin", "*_pin", "*.pins[*]", "*_pins[*]")

ALIASES = {"camera-agent": "camera", "rating": "rating-terminal", "server": "ticketing"}


def role_named(name: str) -> Role:
    key = ALIASES.get(name, name)
    if key not in ROLES:
        raise UnknownRole(f"unknown role {name!r}; known: {', '.join(ROLES)}")
    return ROLES[key]


def role_of_file(path: str | Path) -> Role:
    """The role owning a config file, by its name (kiosk.toml, test-kiosk.toml, kiosk.example.toml)."""
    name = Path(path).name.lower()
    stem = name.removesuffix(".toml").removesuffix(".example")
    for role in sorted(ROLES.values(), key=lambda r: -len(r.name)):  # rating-terminal before a shorter match
        base = role.config_file.removesuffix(".toml")
        if stem == base or stem.endswith("-" + base) or stem.endswith("_" + base) or stem.startswith(base + "-"):
            return role
    raise UnknownRole(f"{path}: cannot tell the role from the file name; name it one of "
                      f"{', '.join(r.config_file for r in ROLES.values())} or pass --role")


def config_model(role: Role) -> "type[BaseModel]":
    """The role's pydantic model: the first of ``role.models`` its module defines."""
    from pydantic import BaseModel
    for target in role.models:
        module, attr = target.split(":")
        model = getattr(importlib.import_module(module), attr, None)
        if isinstance(model, type) and issubclass(model, BaseModel):
            return model
    raise NoConfigModel(f"role {role.name} has no config model: none of {', '.join(role.models)} "
                        "is a pydantic model")
