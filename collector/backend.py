"""Where the collector keeps its data: a SQLite file (a site's store, the default) or PostgreSQL (the
province's store, ``postgresql://user:password@host:port/db``, psycopg 3).

The product code is written once, on the sqlite3 API: ``conn.execute(sql, params)``,
``executemany``, ``fetchone/fetchall``, rows indexable by position and by name, ``BEGIN IMMEDIATE``
/ ``COMMIT`` / ``ROLLBACK`` said by the caller. A SQLite target gives exactly the connection it
always had (:func:`collector.db.connect`); a PostgreSQL one gives :class:`PgConnection`, which
takes the same calls and translates only this, explicitly:

- ``?`` placeholders become ``%s`` (and a literal ``%`` becomes ``%%``); ``BEGIN IMMEDIATE`` is
  ``BEGIN``;
- numeric results (``sum`` of integers, ``avg``) come back as ``int`` when integral in form,
  else ``float``, never ``Decimal``; Python booleans go in as 0/1 integers;
- rows are :class:`Row`: a tuple that also answers ``row["name"]``, ``keys()``, ``dict(row)``.

Everything else is the SQL itself, which must be portable (docs/architecture.md "Store backends").
Migrations run on both through :class:`Schema` (sqlite_utils on SQLite, :class:`PgSchema` on
PostgreSQL). The PostgreSQL classes live in collector/backend_pg.py.
"""
from __future__ import annotations

import sqlite3
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from .backend_pg import PgConnection, PgSchema, _ident, translate
from .errors import BadStore

__all__ = ["Conn", "Cursor", "Schema", "SchemaTable", "PgConnection", "PgSchema", "translate", "connect"]
SQLITE = "sqlite"
POSTGRESQL = "postgresql"
PG_SCHEMES = ("postgresql", "postgres")


# ---------------------------------------------------------------------------------- what callers see

class Cursor(Protocol):
    """What the product code uses of a cursor (sqlite3's, or psycopg's with :class:`Row` rows)."""

    @property
    def rowcount(self) -> int: ...
    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...
    def __iter__(self) -> Iterator[Any]: ...


class Conn(Protocol):
    """A store connection: ``sqlite3.Connection`` or :class:`PgConnection`."""

    def execute(self, sql: str, parameters: Any = ..., /) -> Cursor: ...
    def executemany(self, sql: str, parameters: Iterable[Any], /) -> Cursor: ...
    def close(self) -> None: ...
    @property
    def in_transaction(self) -> bool: ...


class SchemaTable(Protocol):
    """The migrations' table calls: exactly these, on both engines."""

    def create(self, columns: dict[str, Any], pk: Any = ..., *, not_null: Any = ...) -> Any: ...
    def create_index(self, columns: Iterable[str], *, unique: bool = ..., if_not_exists: bool = ...) -> Any: ...
    def add_column(self, col_name: str, col_type: Any = ..., *, not_null_default: Any = ...) -> Any: ...


class Schema(Protocol):
    """What a migration (collector/db.py MIGRATIONS) receives: ``sqlite_utils.Database`` or :class:`PgSchema`."""

    def table(self, table_name: str) -> SchemaTable: ...
    def execute(self, sql: str, parameters: Any = ...) -> Any: ...


# ---------------------------------------------------------------------------------- store locations

def kind(target: str | Path) -> str:
    """``sqlite`` or ``postgresql`` for a store setting (a path, ``sqlite:///path``, ``postgresql://``)."""
    s = str(target)
    scheme = s.split("://", 1)[0].lower() if "://" in s else ""
    return POSTGRESQL if scheme in PG_SCHEMES else SQLITE


def sqlite_path(target: str | Path) -> str:
    """The file of a SQLite store setting: a plain path, or ``sqlite:///var/lib/motcua/collector.db``
    (a file URL: the path after ``sqlite://``)."""
    s = str(target)
    if s.lower().startswith("sqlite://"):
        rest = s[len("sqlite://"):]
        return rest[1:] if rest.startswith("//") else rest
    return s


def check_store(value: str) -> str:
    """Validate a store setting; raise :class:`BadStore` with a bilingual reason."""
    s = str(value).strip()
    if not s:
        raise BadStore("nơi lưu trống / the store is empty: a SQLite file path or postgresql://user@host/db")
    if "://" not in s:
        return s
    scheme = s.split("://", 1)[0].lower()
    if scheme == "sqlite":
        if not sqlite_path(s):
            raise BadStore(f"{_redact(s)}: thiếu đường dẫn tệp / no file path after sqlite://")
        return s
    if scheme not in PG_SCHEMES:
        raise BadStore(f"nơi lưu không hỗ trợ / unsupported store {_redact(s)}: use a SQLite file path, "
                       "sqlite:///path or postgresql://user:password@host:port/database")
    parts = urlsplit(s)
    try:
        parts.port
    except ValueError:
        raise BadStore(f"{_redact(s)}: cổng không hợp lệ / the port is not a number 0..65535") from None
    if not parts.hostname and "host=" not in (parts.query or ""):
        raise BadStore(f"{_redact(s)}: thiếu máy chủ / no host (postgresql://user:password@host:port/database)")
    if not parts.path.strip("/"):
        raise BadStore(f"{_redact(s)}: thiếu tên cơ sở dữ liệu / no database name "
                       "(postgresql://user:password@host:port/database)")
    try:
        from psycopg.conninfo import conninfo_to_dict
        conninfo_to_dict(s)
    except ImportError:
        raise BadStore("psycopg is not installed: pip install 'motcua[server]'") from None
    except Exception as exc:  # psycopg.ProgrammingError: libpq's own reason
        raise BadStore(f"{_redact(s)}: {exc}") from None
    return s


def _redact(url: str) -> str:
    """A URL for messages and logs: the password replaced by ``***``."""
    try:
        p = urlsplit(url)
    except ValueError:
        return url
    if p.password is None:
        return url
    netloc = p.netloc.replace(f":{p.password}@", ":***@", 1)
    return p._replace(netloc=netloc).geturl()


redact = _redact


def connect(target: str | Path, *, readonly: bool = False) -> Conn:
    """A connection to the store ``target``: sqlite3's for a path (see :func:`collector.db.connect`),
    a :class:`PgConnection` for a ``postgresql://`` URL (``readonly``: read-only transactions)."""
    if kind(target) == POSTGRESQL:
        return PgConnection(str(target), readonly=readonly)
    from common.sqlite import connect as sqlite_connect
    conn = sqlite_connect(sqlite_path(target), readonly=readonly, rows=True)
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


def query_only(conn: Conn) -> None:
    """Refuse writes on this connection from now on (SQLite's query_only; a PostgreSQL ``readonly``
    connection already is)."""
    if not isinstance(conn, PgConnection):
        conn.execute("PRAGMA query_only=ON")


def is_postgres(conn: Conn) -> bool:
    return isinstance(conn, PgConnection)


def schema(conn: Conn) -> Schema:
    """The migrations' view of ``conn``."""
    if isinstance(conn, PgConnection):
        return PgSchema(conn)
    import sqlite_utils
    assert isinstance(conn, sqlite3.Connection)
    return sqlite_utils.Database(conn)


def has_table(conn: Conn, name: str) -> bool:
    if isinstance(conn, PgConnection):
        return conn.execute("SELECT to_regclass(?) IS NOT NULL", (name,)).fetchone()[0] is True
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (name,)).fetchone() is not None


def lock_schema(conn: Conn) -> None:
    """Inside the migration's transaction: one migrator at a time (SQLite's BEGIN IMMEDIATE already
    is; on PostgreSQL two collectors starting together wait on an advisory lock)."""
    if isinstance(conn, PgConnection):
        conn.execute("SELECT pg_advisory_xact_lock(?)", (MIGRATION_LOCK,))


MIGRATION_LOCK = 0x6D6F7463  # 'motc'


def json_text(conn: Conn, column: str, *path: str) -> str:
    """An SQL expression for the text at ``path`` inside the JSON text ``column`` (NULL when absent):
    the one engine-specific expression the product uses (SQLite json_extract, PostgreSQL #>>)."""
    for p in path:
        _ident(p)
    if isinstance(conn, PgConnection):
        return f"(({column})::json #>> '{{{','.join(path)}}}')"
    return f"json_extract({column}, '$.{'.'.join(path)}')"


def insert_rows(conn: Conn, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], *,
                conflict: Sequence[str] = ("id",), returning: str | None = None) -> list[Any]:
    """INSERT many rows, skipping those whose ``conflict`` key is stored already (``ON CONFLICT
    DO NOTHING``); with ``returning``, that column of each row that was new. The one bulk write
    the engines do differently, for speed: SQLite multi-row VALUES (or executemany), PostgreSQL one
    statement over ``unnest`` of one array per column (a short query psycopg parses once)."""
    if not rows:
        return []
    cols = ", ".join(_ident(c) for c in columns)
    tail = f"ON CONFLICT ({', '.join(_ident(c) for c in conflict)}) DO NOTHING" + \
        (f" RETURNING {_ident(returning)}" if returning else "")
    if isinstance(conn, PgConnection):
        types = conn.column_types(table)
        arrays = ", ".join(f"%b::{types[c]}[]" for c in columns)  # binary arrays: no text escaping
        sql = f"INSERT INTO {_ident(table)} ({cols}) SELECT * FROM unnest({arrays}) {tail}"
        cur = conn.raw.execute(sql, [list(col) for col in zip(*rows)])
        return [r[0] for r in cur.fetchall()] if returning else []
    if not returning:
        conn.executemany(f"INSERT INTO {_ident(table)} ({cols}) VALUES ({', '.join('?' * len(columns))}) {tail}",
                         rows)
        return []
    out: list[Any] = []
    marks = "(" + ", ".join("?" * len(columns)) + ")"
    per = max(1, SQLITE_MAX_PARAMS // len(columns))
    for i in range(0, len(rows), per):
        chunk = rows[i:i + per]
        sql = f"INSERT INTO {_ident(table)} ({cols}) VALUES {', '.join([marks] * len(chunk))} {tail}"
        out += [r[0] for r in conn.execute(sql, [v for row in chunk for v in row]).fetchall()]
    return out


SQLITE_MAX_PARAMS = 6000  # per statement (SQLite allows 32766)


def refresh_stats(conn: Conn) -> None:
    """Planner statistics: SQLite's ANALYZE limited to 400 rows per index (fast on any size);
    PostgreSQL's ANALYZE (autovacuum keeps them fresh later)."""
    if isinstance(conn, PgConnection):
        conn.execute("ANALYZE")
        return
    conn.execute("PRAGMA analysis_limit=400")
    conn.execute("ANALYZE")


# The errors a store raises, for ``except``: sqlite3's, and psycopg's once psycopg is loaded (a
# SQLite-only collector never imports it: no psycopg error can exist before it is).
#: any error from either engine
Error: tuple[type[BaseException], ...]
#: the errors worth retrying (busy or locked, disk full, the server gone or restarting, a deadlock)
OperationalError: tuple[type[BaseException], ...]


def __getattr__(name: str) -> Any:
    if name not in ("Error", "OperationalError"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    pg = sys.modules.get("psycopg")
    if name == "Error":
        return (sqlite3.Error,) if pg is None else (sqlite3.Error, pg.Error)
    return (sqlite3.OperationalError,) if pg is None else (sqlite3.OperationalError, pg.OperationalError)


def is_busy(exc: BaseException) -> bool:
    """A write that fails only because another writer holds the data: SQLite's "database is
    locked", PostgreSQL's deadlock or serialization failure (retry the batch)."""
    text = str(exc)
    if "locked" in text or "busy" in text:
        return True
    sqlstate = getattr(exc, "sqlstate", None)
    return bool(sqlstate) and str(sqlstate).startswith("40")


def store_error_kind(exc: BaseException) -> str:
    """``disk_full``, ``read_only``, ``io`` (as for SQLite) or ``unavailable`` (a PostgreSQL server
    that does not answer)."""
    sqlstate = getattr(exc, "sqlstate", None)
    if sqlstate is not None or type(exc).__module__.startswith("psycopg"):
        if sqlstate == "53100":
            return "disk_full"
        if sqlstate == "25006":
            return "read_only"
        return "unavailable"
    from mqtt.errors import storage_kind
    return storage_kind(exc)


def column_names(conn: Conn, table: str) -> list[str]:
    """The columns of ``table`` in order (tests, checks)."""
    if isinstance(conn, PgConnection):
        rows: Sequence[Any] = conn.execute("SELECT column_name FROM information_schema.columns WHERE "
                                           "table_schema = current_schema() AND table_name = ? "
                                           "ORDER BY ordinal_position", (table,)).fetchall()
        return [r[0] for r in rows]
    return [r[1] for r in conn.execute(f"PRAGMA table_info({_ident(table)})").fetchall()]
