"""The PostgreSQL side of collector/backend.py: psycopg 3 taking the sqlite3 calls the collector
makes (:class:`PgConnection`), and the migrations' schema calls (:class:`PgSchema`). psycopg is
imported when the first connection is made, never by a SQLite-only collector."""
from __future__ import annotations

import functools
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import psycopg

@functools.lru_cache(maxsize=4096)
def translate(sql: str) -> str:
    """sqlite3's SQL to psycopg's: ``?`` -> ``%s`` outside quotes and comments, ``%`` -> ``%%``
    everywhere, ``BEGIN IMMEDIATE|EXCLUSIVE|DEFERRED`` -> ``BEGIN``."""
    head = sql.strip().upper()
    if head.startswith("BEGIN"):
        return "BEGIN"
    out: list[str] = []
    i, n = 0, len(sql)
    while i < n:
        c = sql[i]
        if c in ("'", '"'):
            j = i + 1
            while j < n:
                if sql[j] == c:
                    if j + 1 < n and sql[j + 1] == c:  # '' inside a literal
                        j += 2
                        continue
                    break
                j += 1
            out.append(sql[i:j + 1].replace("%", "%%"))
            i = j + 1
        elif c == "-" and sql.startswith("--", i):
            j = sql.find("\n", i)
            j = n if j < 0 else j
            out.append(sql[i:j].replace("%", "%%"))
            i = j
        elif c == "?":
            out.append("%s")
            i += 1
        elif c == "%":
            out.append("%%")
            i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


class Row(tuple):
    """A result row: by position (a tuple) and by column name, like ``sqlite3.Row``."""

    _names: tuple[str, ...] = ()
    _index: dict[str, int] = {}

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            try:
                return tuple.__getitem__(self, self._index[key])
            except KeyError:
                raise IndexError(f"No item with that key: {key!r}") from None
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._names)


@functools.lru_cache(maxsize=1024)
def _row_class(names: tuple[str, ...]) -> type[Row]:
    index: dict[str, int] = {}
    for i, name in enumerate(names):
        index.setdefault(name, i)  # the first of two same-named columns, as sqlite3.Row
    return type("Row", (Row,), {"_names": names, "_index": index, "__slots__": ()})


def _row_factory(cursor: Any) -> Any:
    desc = cursor.description
    if desc is None:
        return tuple
    cls = _row_class(tuple(d.name for d in desc))
    return lambda values: cls(values)


class _Adapters:
    """psycopg adapters made once: numeric -> int/float, bool -> 0/1 (int8)."""

    _made: Any = None

    @classmethod
    def get(cls) -> Any:
        if cls._made is None:
            import struct

            import psycopg
            from psycopg.adapt import Dumper, Loader
            from psycopg.pq import Format

            int8 = psycopg.postgres.types["int8"].oid

            class NumericLoader(Loader):
                def load(self, data: Any) -> Any:
                    b = bytes(data)
                    return float(b) if (b"." in b or b"e" in b or b"E" in b or b"N" in b) else int(b)

            class BoolText(Dumper):
                oid = int8

                def dump(self, obj: Any) -> bytes:
                    return b"1" if obj else b"0"

            class BoolBinary(Dumper):
                oid = int8
                format = Format.BINARY

                def dump(self, obj: Any) -> bytes:
                    return struct.pack(">q", 1 if obj else 0)

            m = psycopg.adapt.AdaptersMap(psycopg.adapters)
            m.register_loader("numeric", NumericLoader)
            m.register_dumper(bool, BoolText)
            m.register_dumper(bool, BoolBinary)
            cls._made = m
        return cls._made


class PgConnection:
    """A psycopg 3 connection that takes the sqlite3 calls the collector makes (see the module doc).

    Autocommit unless the caller says ``BEGIN``; a broken connection (the server restarted) is
    opened again at the next statement outside a transaction. Safe to share between threads (psycopg
    serialises on the connection)."""

    def __init__(self, url: str, *, readonly: bool = False, connect_timeout: float = 10.0) -> None:
        self.url = url
        self.readonly = readonly
        self.connect_timeout = connect_timeout
        self._lock = threading.Lock()
        self._types: dict[str, dict[str, str]] = {}
        self._raw: psycopg.Connection[Any] = self._open()

    def _open(self) -> "psycopg.Connection[Any]":
        import psycopg
        conn = psycopg.connect(self.url, autocommit=True, connect_timeout=int(self.connect_timeout),
                               row_factory=_row_factory, context=_Adapters.get(),
                               application_name="motcua-collector")
        conn.execute("SET TIME ZONE 'UTC'")
        if self.readonly:
            conn.execute("SET default_transaction_read_only = on")
        return conn

    @property
    def raw(self) -> "psycopg.Connection[Any]":
        """The psycopg connection itself (COPY, pipelines); open again when broken."""
        if self._raw.closed:
            with self._lock:
                if self._raw.closed:
                    self._raw = self._open()
        return self._raw

    def execute(self, sql: str, parameters: Any = (), /) -> Any:
        params = parameters if parameters is not None else ()
        return self.raw.execute(translate(sql), params)

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> Any:
        cur = self.raw.cursor()
        rows = parameters if isinstance(parameters, (list, tuple)) else list(parameters)
        if rows:
            cur.executemany(translate(sql), rows)
        return cur

    def column_types(self, table: str) -> dict[str, str]:
        """Column -> PostgreSQL type name of ``table`` (cached: migrations only add columns, and a
        new connection reads them again)."""
        got = self._types.get(table)
        if got is None or not got:
            rows = self.execute("SELECT column_name, data_type FROM information_schema.columns WHERE "
                                "table_schema = current_schema() AND table_name = ?", (table,)).fetchall()
            got = self._types[table] = {r[0]: r[1] for r in rows}
        return got

    @property
    def in_transaction(self) -> bool:
        from psycopg.pq import TransactionStatus
        return self._raw.info.transaction_status in (TransactionStatus.INTRANS, TransactionStatus.INERROR,
                                                     TransactionStatus.ACTIVE)

    def close(self) -> None:
        self._raw.close()

    def __enter__(self) -> "PgConnection":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_PG_TYPES = {str: "TEXT", int: "BIGINT", float: "DOUBLE PRECISION", bytes: "BYTEA", bool: "BIGINT"}


def _pg_type(t: Any) -> str:
    if t in _PG_TYPES:
        return _PG_TYPES[t]
    if isinstance(t, str) and t.upper() in ("TEXT", "INTEGER", "FLOAT", "REAL", "BLOB"):
        return {"TEXT": "TEXT", "INTEGER": "BIGINT", "FLOAT": "DOUBLE PRECISION", "REAL": "DOUBLE PRECISION",
                "BLOB": "BYTEA"}[t.upper()]
    raise TypeError(f"column type {t!r}: use str, int, float or bytes")


def _ident(name: str) -> str:
    if not name.replace("_", "").isalnum():
        raise ValueError(f"identifier {name!r}: letters, digits and _ only")
    return f'"{name}"'


def _literal(v: Any) -> str:
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, (int, float)):
        return repr(v)
    return "'" + str(v).replace("'", "''") + "'"


class PgTable:
    """``db.table(t)`` of a migration on PostgreSQL: sqlite_utils' create / create_index /
    add_column, with its index names (``idx_{table}_{cols}``) and types mapped."""

    def __init__(self, conn: PgConnection, name: str) -> None:
        self.conn, self.name = conn, name

    def create(self, columns: dict[str, Any], pk: Any = None, *, not_null: Any = None) -> "PgTable":
        keys = [pk] if isinstance(pk, str) else list(pk or [])
        nn = set(not_null or ())
        cols = []
        for col, t in columns.items():
            if keys == [col] and t is int:  # sqlite's INTEGER PRIMARY KEY (a rowid): an identity column
                cols.append(f"{_ident(col)} BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY")
                keys = []
                continue
            cols.append(f"{_ident(col)} {_pg_type(t)}" + (" NOT NULL" if col in nn else ""))
        if keys:
            cols.append(f"PRIMARY KEY ({', '.join(_ident(k) for k in keys)})")
        self.conn.execute(f"CREATE TABLE {_ident(self.name)} ({', '.join(cols)})")
        return self

    def create_index(self, columns: Iterable[str], *, unique: bool = False, if_not_exists: bool = False) -> "PgTable":
        cols = list(columns)
        name = f"idx_{self.name}_{'_'.join(cols)}"[:63]
        self.conn.execute(f"CREATE {'UNIQUE ' if unique else ''}INDEX {'IF NOT EXISTS ' if if_not_exists else ''}"
                          f"{_ident(name)} ON {_ident(self.name)} ({', '.join(_ident(c) for c in cols)})")
        return self

    def add_column(self, col_name: str, col_type: Any = str, *, not_null_default: Any = None) -> "PgTable":
        extra = "" if not_null_default is None else f" NOT NULL DEFAULT {_literal(not_null_default)}"
        self.conn.execute(f"ALTER TABLE {_ident(self.name)} ADD COLUMN {_ident(col_name)} "
                          f"{_pg_type(col_type)}{extra}")
        return self


class PgSchema:
    """What a migration gets on PostgreSQL (see :class:`Schema`)."""

    def __init__(self, conn: PgConnection) -> None:
        self.conn = conn

    def table(self, table_name: str) -> PgTable:
        return PgTable(self.conn, table_name)

    def execute(self, sql: str, parameters: Any = ()) -> Any:
        return self.conn.execute(sql, parameters)
