"""The PostgreSQL wrapper's translation, kept minimal and explicit: placeholders, percent signs,
rows by name, numbers and booleans as SQLite gives them."""
from __future__ import annotations

from decimal import Decimal

import pytest

from collector import backend
from collector.backend_pg import Row, _row_class, translate


def test_translate_only_placeholders_percent_and_begin():
    assert translate("SELECT a FROM t WHERE b=? AND c LIKE 'x%' AND d='?'") == \
        "SELECT a FROM t WHERE b=%s AND c LIKE 'x%%' AND d='?'"
    assert translate("SELECT 'it''s ?', \"we?ird\", ? -- what? 5%\n, ?") == \
        "SELECT 'it''s ?', \"we?ird\", %s -- what? 5%%\n, %s"
    assert translate("SELECT 10 % 3") == "SELECT 10 %% 3"
    assert [translate(s) for s in ("BEGIN IMMEDIATE", "begin", "COMMIT", "ROLLBACK")] == \
        ["BEGIN", "BEGIN", "COMMIT", "ROLLBACK"]


def test_rows_by_position_and_name_like_sqlite3_row():
    r = _row_class(("site", "n", "site"))(("camau-hcc", 3, "other"))
    assert isinstance(r, Row) and isinstance(r, tuple)
    assert (r[0], r["n"], r["site"], r[-1]) == ("camau-hcc", 3, "camau-hcc", "other")  # the first 'site'
    assert r.keys() == ["site", "n", "site"] and dict(_row_class(("a", "b"))((1, 2))) == {"a": 1, "b": 2}
    with pytest.raises(IndexError):
        r["missing"]


def test_values_come_back_alike(store_url):
    conn = backend.connect(store_url)
    conn.execute("CREATE TABLE t (x BIGINT, y DOUBLE PRECISION, s TEXT)")
    conn.executemany("INSERT INTO t (x, y, s) VALUES (?, ?, ?)", [(1, 0.5, "a%"), (2, 1.5, "b?"), (4, 2.0, None)])
    row = conn.execute("SELECT sum(x), avg(x), sum(y), max(s), count(*), ? + 1 FROM t", (True,)).fetchone()
    assert tuple(row) == (7, pytest.approx(7 / 3), 4.0, "b?", 3, 2)
    assert [type(v) for v in row] == [int, float, float, str, int, int]
    assert not any(isinstance(v, Decimal) for v in row)
    assert conn.execute("SELECT s FROM t WHERE s LIKE ?", ("a%",)).fetchall()[0]["s"] == "a%"
    assert conn.execute("UPDATE t SET x = x + 1 WHERE x > ?", (1,)).rowcount == 2
    conn.execute("BEGIN IMMEDIATE")
    assert conn.in_transaction
    conn.execute("DELETE FROM t")
    conn.execute("ROLLBACK")
    assert not conn.in_transaction and conn.execute("SELECT count(*) FROM t").fetchone()[0] == 3
