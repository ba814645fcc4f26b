"""``motcua collector``: run the collector, add dashboard users, create API tokens."""
from __future__ import annotations

import argparse
import getpass
import logging
import sys

from pydantic import ValidationError

from common.cli import role_parser
from common.config import validation_problems
from common.errors import ConfigError
from common.logs import setup_logging

from .config import CollectorConfig, build_config
from .errors import CollectorError

log = logging.getLogger(__name__)

RUN_EXAMPLE = """examples:
  motcua collector --broker mqtt://127.0.0.1:1883 --db /var/lib/motcua/collector.db --http 0.0.0.0:8080 --site camau-hcc
  motcua collector run --config /etc/motcua/collector.toml
  motcua collector --config /etc/motcua/collector.toml --check-config

other commands:
  motcua collector add-user NAME --db PATH       (password read from standard input)
  motcua collector create-token NAME --db PATH   (prints a new API token)"""


def _run_parser() -> argparse.ArgumentParser:
    p = role_parser(
        "motcua collector", "Máy chủ thu thập / site server collector: lưu mọi sự kiện đúng một lần và phục vụ "
        "bảng điều khiển cho quản lý / stores every event exactly once in SQLite and serves the manager "
        "dashboard and JSON API.", RUN_EXAMPLE,
        config_help="TOML config file with the same keys (broker, db, http, site)", config_required=False,
        check_help="validate the config and options, then exit")
    p.add_argument("--db", help="SQLite database file, e.g. /var/lib/motcua/collector.db")
    p.add_argument("--http", help="HOST:PORT for the dashboard, e.g. 0.0.0.0:8080")
    p.add_argument("--site", help="site id, or + for every site on the broker")
    p.add_argument("--client-id", dest="client_id", help="MQTT client id (keep it stable: the broker keeps "
                                                           "the session under it)")
    return p


def _db_parser(name: str, description: str, example: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=f"motcua collector {name}", description=description,
                                epilog=f"example:\n  {example}", formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", metavar="NAME")
    p.add_argument("--db", help="SQLite database file (default: the config's db)")
    p.add_argument("--config", help="TOML config file to take db from")
    return p


def _load(args: argparse.Namespace, keys: tuple[str, ...]) -> CollectorConfig:
    overrides = {k: getattr(args, k, None) for k in keys}
    try:
        return build_config(args.config, overrides)
    except ValidationError as exc:
        raise ConfigError("command line", validation_problems("command line", "", exc)) from None


def _add_user(argv: list[str]) -> int:
    p = _db_parser("add-user", "Create a dashboard user, or set a new password for an existing one. The "
                   "password is read from standard input (asked twice on a terminal).",
                   "echo 'mat-khau-du-dai' | motcua collector add-user quanly --db /var/lib/motcua/collector.db")
    args = p.parse_args(argv)
    cfg = _load(args, ("db",))
    if sys.stdin.isatty():
        pw = getpass.getpass("Mật khẩu / Password: ")
        if getpass.getpass("Nhập lại / Repeat: ") != pw:
            print("Mật khẩu không khớp / passwords differ", file=sys.stderr)
            return 2
    else:
        pw = sys.stdin.readline().rstrip("\r\n")
    from . import auth
    from .db import open_db
    conn = open_db(cfg.db)
    try:
        auth.add_user(conn, args.name, pw)
    finally:
        conn.close()
    print(f"Đã lưu người dùng / user saved: {args.name}", file=sys.stderr)
    return 0


def _create_token(argv: list[str]) -> int:
    p = _db_parser("create-token", "Create an API token (sent as 'Authorization: Bearer TOKEN'). Prints the "
                   "token on standard output and nothing else; only its sha256 is stored.",
                   "motcua collector create-token reports --db /var/lib/motcua/collector.db")
    args = p.parse_args(argv)
    cfg = _load(args, ("db",))
    from . import auth
    from .db import open_db
    conn = open_db(cfg.db)
    try:
        token = auth.create_token(conn, args.name)
    finally:
        conn.close()
    print(token)
    return 0


def _run(argv: list[str]) -> int:
    args = _run_parser().parse_args(argv)
    setup_logging(args.log_level)
    cfg = _load(args, ("broker", "db", "http", "site", "client_id"))
    if args.check_config:
        print(f"OK: broker {cfg.broker}, db {cfg.db}, http {cfg.http}, site {cfg.site}, "
              f"client id {cfg.mqtt_client_id()}")
        return 0
    from .service import Collector
    Collector(cfg).run()
    return 0


COMMANDS = {"run": _run, "add-user": _add_user, "create-token": _create_token}


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    cmd = COMMANDS.get(args[0]) if args else None
    try:
        return cmd(args[1:]) if cmd else _run(args)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except CollectorError as exc:
        print(f"motcua collector: {exc}", file=sys.stderr)
        return 2
