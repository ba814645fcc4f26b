"""``motcua``: one command, a subcommand per role. Each subcommand is a thin layer over its
role's own ``cli.main(argv)``, imported only when used, so a desk Pi never imports Kivy."""
from __future__ import annotations

import argparse
import importlib
import sys
from typing import Callable, NamedTuple

from . import __version__


class Command(NamedTuple):
    target: str  # "module:function" taking argv and returning an exit code
    help: str
    example: str


COMMANDS: dict[str, Command] = {
    "collector": Command("collector.cli:main", "máy chủ thu thập / site server: store every event, dashboard, reports",
                         "motcua collector --broker mqtt://127.0.0.1:1883 --db /var/lib/motcua/collector.db"),
    "ticketing": Command("ticketing.cli:main", "máy chủ cấp số / site server: the queue authority (numbers, calls)",
                         "motcua ticketing --config /etc/motcua/ticketing.toml"),
    "rating-terminal": Command("rating_terminal.cli:main", "thiết bị đánh giá tại quầy / desk device: rating buttons and officer keys",
                               "motcua rating-terminal --simulate --config config/rating-terminal.toml"),
    "kiosk": Command("kiosk.cli:main", "máy lấy số thứ tự / touchscreen ticket kiosk with thermal printer",
                     "motcua kiosk --config /etc/motcua/kiosk.toml"),
    "display": Command("kiosk.display_cli:main", "màn hình gọi số / hall display: called tickets with voice",
                       "motcua display --config /etc/motcua/display.toml"),
    "camera-agent": Command("camera_agent.cli:main", "camera có mặt tại quầy / desk presence from a camera; only summaries leave",
                            "motcua camera-agent replay --source video.avi --fps 4 --zone seat=0.5,0.4,0.9,0.4,0.9,0.9"),
    "demo": Command("demo.cli:main", "trung tâm mô phỏng / a whole simulated centre on this machine",
                    "motcua demo --speed 60 --seed 1"),
    "check-config": Command("ops.cli:check_config", "kiểm tra tệp cấu hình / validate a role's config file",
                            "motcua check-config /etc/motcua/kiosk.toml"),
    "doctor": Command("ops.cli:doctor", "kiểm tra thiết bị / check this device's role end to end and say how to fix it",
                      "motcua doctor --config /etc/motcua/rating-terminal.toml"),
    "provision-device": Command("ops.cli:provision_device", "cấp tài khoản MQTT / create a device's broker credentials",
                                "motcua provision-device --site camau-hcc --device rt-05 --role rating-terminal"),
    "province-bridge": Command("ops.cli:province_bridge", "nối điểm với tỉnh / bridge a site's broker to the province",
                               "motcua province-bridge join --bundle ~/camau-hcc --province mqtts://province.example.vn:8883"),
}


def role_parser(prog: str, description: str, epilog: str, *, config_help: str,
                config_required: bool = True, config_default: str | None = None,
                check_help: str = "validate the config and exit (0 when valid)") -> argparse.ArgumentParser:
    """The options every role shares (--config, --broker, --check-config, --log-level); the role
    adds its own after these."""
    p = argparse.ArgumentParser(prog=prog, description=description, epilog=epilog,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", required=config_required and config_default is None, default=config_default,
                   metavar="PATH", help=config_help)
    p.add_argument("--broker", metavar="URL", help="broker URL (overrides the config's), e.g. mqtt://127.0.0.1:1883")
    p.add_argument("--check-config", action="store_true", help=check_help)
    p.add_argument("--log-level", default=None, help="DEBUG, INFO (default; or $MOTCUA_LOG), WARNING")
    return p


def usage() -> str:
    lines = [f"motcua {__version__}: Phần mềm cho Trung tâm Phục vụ Hành chính công / Bộ phận Một cửa",
             "(firmware for one-stop public-service centres)", "",
             "cách dùng / usage: motcua COMMAND [options]   (motcua COMMAND --help for each)", "",
             "lệnh / commands:"]
    for name, cmd in COMMANDS.items():
        lines.append(f"  {name:<17} {cmd.help}")
        lines.append(f"  {'':<17}   e.g. {cmd.example}")
    return "\n".join(lines)


def resolve(name: str) -> Callable[..., int]:
    """The role's ``main``."""
    cmd = COMMANDS[name]
    module, func = cmd.target.split(":")
    main: Callable[..., int] = getattr(importlib.import_module(module), func)
    return main


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    if args[0] == "--version":
        print(__version__)
        return 0
    name = args[0]
    if name not in COMMANDS:
        print(f"motcua: không có lệnh {name!r} / unknown command {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    try:
        fn = resolve(name)
    except ModuleNotFoundError as exc:
        print(f"motcua {name}: thiết bị thiếu gói cần thiết / this device lacks a package it needs ({exc.name}); "
              f"cài thêm / install the role's extra, e.g. pip install 'motcua[{_extra(name)}]'", file=sys.stderr)
        return 3
    return int(fn(args[1:]) or 0)


def _extra(name: str) -> str:
    return {"collector": "server", "ticketing": "server", "rating-terminal": "rating", "kiosk": "kiosk",
            "display": "kiosk", "camera-agent": "camera"}.get(name, "all")


if __name__ == "__main__":
    sys.exit(main())
