"""``motcua collector``: run the collector, add dashboard users, create API tokens."""
from __future__ import annotations

import argparse
import getpass
import logging
import sys
from typing import Callable, TypeVar

from pydantic import ValidationError

from common.cli import role_parser
from common.config import validation_problems
from common.errors import ConfigError
from common.logs import setup_logging
from common.web.auth import ROLES

from .backend import Conn, redact
from .config import CollectorConfig, build_config
from .errors import CollectorError

log = logging.getLogger(__name__)
T = TypeVar("T")

RUN_EXAMPLE = """examples:
  motcua collector --broker mqtt://127.0.0.1:1883 --db /var/lib/motcua/collector.db --http 0.0.0.0:8080 --site camau-hcc
  motcua collector run --config /etc/motcua/collector.toml
  motcua collector --config /etc/motcua/collector.toml --check-config

other commands (each also takes --config to read db from):
  motcua collector add-user NAME --db PATH [--role manager|officer|technician|viewer] [--site SITE|+]
                                                 (password read from standard input)
  motcua collector disable-user NAME --db PATH   (ends the user's sessions; enable-user undoes it)
  motcua collector delete-user NAME --db PATH    (ends the sessions, revokes the user's tokens)
  motcua collector create-token NAME --db PATH [--role ROLE] [--expires-days N]
  motcua collector list-tokens --db PATH
  motcua collector revoke-token TOKEN --db PATH  (the token itself or its id from list-tokens)"""


def _run_parser() -> argparse.ArgumentParser:
    p = role_parser(
        "motcua collector", "Máy chủ thu thập / site server collector: lưu mọi sự kiện đúng một lần và phục vụ "
        "bảng điều khiển cho quản lý / stores every event exactly once (SQLite, or PostgreSQL for a province) and serves the manager "
        "dashboard and JSON API.", RUN_EXAMPLE,
        config_help="TOML config file with the same keys (broker, db, http, site)", config_required=False,
        check_help="validate the config and options, then exit")
    p.add_argument("--db", help="SQLite database file, e.g. /var/lib/motcua/collector.db")
    p.add_argument("--store", help="the store instead of --db: postgresql://user:password@host:port/database "
                   "(a province's central collector) or a SQLite path")
    p.add_argument("--http", help="HOST:PORT for the dashboard, e.g. 0.0.0.0:8080")
    p.add_argument("--site", help="site id, or + for every site on the broker")
    p.add_argument("--client-id", dest="client_id", help="MQTT client id (keep it stable: the broker keeps "
                                                           "the session under it)")
    return p


def _db_parser(name: str, description: str, example: str, arg: str | None = "NAME") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=f"motcua collector {name}", description=description,
                                epilog=f"example:\n  {example}", formatter_class=argparse.RawDescriptionHelpFormatter)
    if arg:
        p.add_argument("name", metavar=arg)
    p.add_argument("--db", help="SQLite database file (default: the config's db)")
    p.add_argument("--store", help="postgresql://... or a SQLite path (default: the config's store, else db)")
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
    p.add_argument("--role", choices=ROLES, help="what the user may see (new users: manager); setting a "
                   "password ends the user's sessions")
    p.add_argument("--site", help="bind the user to one site (sees that site only, everywhere); '+' unbinds "
                   "(the whole store: a province-wide login at a central collector)")
    args = p.parse_args(argv)
    cfg = _load(args, ("db", "store"))
    if sys.stdin.isatty():
        pw = getpass.getpass("Mật khẩu / Password: ")
        if getpass.getpass("Nhập lại / Repeat: ") != pw:
            print("Mật khẩu không khớp / passwords differ", file=sys.stderr)
            return 2
    else:
        pw = sys.stdin.readline().rstrip("\r\n")
    from . import auth
    from .db import open_db
    conn = open_db(cfg.store_location)
    try:
        auth.add_user(conn, args.name, pw, role=args.role, site=args.site)
    finally:
        conn.close()
    print(f"Đã lưu người dùng / user saved: {args.name}", file=sys.stderr)
    return 0


def _with_db(args: argparse.Namespace, fn: Callable[[Conn], T]) -> T:
    from .db import open_db
    conn = open_db(_load(args, ("db", "store")).store_location)
    try:
        return fn(conn)
    finally:
        conn.close()


def _create_token(argv: list[str]) -> int:
    p = _db_parser("create-token", "Create an API token (sent as 'Authorization: Bearer TOKEN'). Prints the "
                   "token on standard output and nothing else; only its sha256 is stored.",
                   "motcua collector create-token reports --db /var/lib/motcua/collector.db --expires-days 90")
    p.add_argument("--role", choices=ROLES, default="manager", help="what the token may read (default: manager)")
    p.add_argument("--expires-days", type=float, help="refused after this many days (default: never)")
    args = p.parse_args(argv)
    from . import tokens
    expires = None if args.expires_days is None else args.expires_days * 86400
    print(_with_db(args, lambda c: tokens.create_token(c, args.name, role=args.role, expires_in_s=expires)))
    return 0


def _list_tokens(argv: list[str]) -> int:
    p = _db_parser("list-tokens", "List the API tokens (never the tokens themselves): id, name, role, state "
                   "(active, expired, revoked), created, expires.",
                   "motcua collector list-tokens --db /var/lib/motcua/collector.db", arg=None)
    from . import tokens
    rows = _with_db(p.parse_args(argv), tokens.list_tokens)
    print("id\tname\trole\tstate\tcreated_at\texpires_at\trevoked_at")
    for r in rows:
        print("\t".join(str(r[k] or "-") for k in ("id", "name", "role", "state", "created_at", "expires_at",
                                                   "revoked_at")))
    return 0


def _revoke_token(argv: list[str]) -> int:
    p = _db_parser("revoke-token", "Revoke an API token at once: give the token itself or its id from "
                   "list-tokens.", "motcua collector revoke-token 3 --db /var/lib/motcua/collector.db", arg="TOKEN")
    args = p.parse_args(argv)
    from . import tokens
    tid = _with_db(args, lambda c: tokens.revoke_token(c, args.name))
    print(f"Đã thu hồi mã / token revoked: id {tid}", file=sys.stderr)
    return 0


def _user_command(name: str, what: str, example: str, fn: Callable[[Conn, str], object],
                  done: str) -> Callable[[list[str]], int]:
    def command(argv: list[str]) -> int:
        args = _db_parser(name, what, example).parse_args(argv)
        _with_db(args, lambda c: fn(c, args.name))
        print(f"{done}: {args.name}", file=sys.stderr)
        return 0
    return command


def _user_commands() -> dict[str, Callable[[list[str]], int]]:
    from . import auth
    db = "--db /var/lib/motcua/collector.db"
    return {
        "delete-user": _user_command("delete-user", "Delete a dashboard user: their sessions end at once and "
                                     "the API tokens in their name are revoked.",
                                     f"motcua collector delete-user ketoan {db}", auth.delete_user,
                                     "Đã xoá người dùng / user deleted"),
        "disable-user": _user_command("disable-user", "Disable a dashboard user: their sessions end at once, "
                                      "logins and their tokens are refused until enable-user.",
                                      f"motcua collector disable-user ketoan {db}",
                                      lambda c, n: auth.set_disabled(c, n, True),
                                      "Đã khoá người dùng / user disabled"),
        "enable-user": _user_command("enable-user", "Enable a disabled dashboard user again.",
                                     f"motcua collector enable-user ketoan {db}",
                                     lambda c, n: auth.set_disabled(c, n, False),
                                     "Đã mở khoá người dùng / user enabled"),
    }


def _run(argv: list[str]) -> int:
    args = _run_parser().parse_args(argv)
    setup_logging(args.log_level)
    cfg = _load(args, ("broker", "db", "store", "http", "site", "client_id"))
    if args.check_config:
        print(f"OK: broker {cfg.broker}, db {redact(cfg.store_location)}, http {cfg.http}, site {cfg.site}, "
              f"client id {cfg.mqtt_client_id()}")
        return 0
    from .service import Collector
    Collector(cfg).run()
    return 0


COMMANDS = {"run": _run, "add-user": _add_user, "create-token": _create_token, "list-tokens": _list_tokens,
            "revoke-token": _revoke_token, **_user_commands()}


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
