"""``motcua display``: the hall display (thin layer over :mod:`kiosk.display`)."""
from __future__ import annotations

import argparse
import sys

from common.cli import role_parser
from common.config import load_config
from common.errors import ConfigError
from common.logs import setup_logging

from .display.config import DisplayConfig

EXAMPLE = """\
examples:
  motcua display --config /etc/motcua/display.toml
  motcua display --config config/display.toml --broker mqtt://192.168.1.10:1883
  motcua display --config /etc/motcua/display.toml --check-config

The display subscribes to the site's retained state (state/site, state/service/*, state/calls),
so a restarted display shows the present at once; it announces only calls younger than
[voice] announce_max_age_s at start-up. Headless test run: KIVY_NO_ARGS=1 SDL_VIDEODRIVER=offscreen.
"""


def build_parser() -> argparse.ArgumentParser:
    return role_parser(
        "motcua display", "Màn hình gọi số / Hall display: the ticket being called and its desk, recent "
        "calls, waiting per service and the time; voice calls in Vietnamese.", EXAMPLE,
        config_help="display config (TOML), e.g. config/display.toml")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.log_level)
    try:
        cfg = load_config(args.config, DisplayConfig)
        if args.broker:
            cfg.mqtt.url = args.broker
            cfg.mqtt.endpoint()
    except ConfigError as exc:
        print(f"motcua display: Lỗi cấu hình / bad config\n{exc}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"motcua display: --broker: địa chỉ không hợp lệ / bad URL: {exc}", file=sys.stderr)
        return 2
    if args.check_config:
        w, h = cfg.screen.size
        print(f"{args.config}: hợp lệ / OK (site {cfg.site}, device {cfg.device}, {w}x{h}"
              f"{' fullscreen' if cfg.screen.fullscreen else ''}, voice {'on' if cfg.voice.enabled else 'off'})")
        return 0
    from .display.app import run  # imports Kivy: only when the window is wanted

    return run(cfg)
