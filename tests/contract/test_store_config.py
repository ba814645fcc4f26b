"""Where the collector keeps its data is config: a SQLite path (the default) or a postgresql:// URL;
a bad one refuses to start naming the file and line, and a good one is used by the real collector."""
from __future__ import annotations

import pytest

from collector import backend
from collector.config import CollectorConfig
from collector.errors import BadStore
from common.config import load_config
from common.errors import ConfigError
from collector.db import SCHEMA_VERSION
from tests.collector.web_client import cli
from tests.collector.wire import CollectorProcess, Publisher, rating
from tests.support.wait import wait_for


@pytest.mark.parametrize("value, why", [("mysql://u@h/db", "unsupported store"),
                                        ("postgresql://u@h:99999/db", "port"),
                                        ("postgresql://u@h:5432/", "no database name"),
                                        ("postgresql:///db", "no host"),
                                        ("sqlite://", "no file path"),
                                        ("  ", "empty")])
def test_a_bad_store_names_file_and_line(tmp_path, value, why):
    f = tmp_path / "collector.toml"
    f.write_text(f'broker = "mqtt://127.0.0.1:1883"\nsite = "camau-hcc"\nstore = "{value}"\n')
    with pytest.raises(ConfigError) as e:
        load_config(f, CollectorConfig)
    assert f"{f}:3: store" in str(e.value) and why in str(e.value)
    with pytest.raises(BadStore):
        backend.check_store(value)


def test_store_and_db_and_the_outbox(tmp_path):
    lite = CollectorConfig.model_validate({"db": str(tmp_path / "c.db")})
    assert lite.store_location == str(tmp_path / "c.db") and lite.outbox_path() == tmp_path / "c-outbox.db"
    via_url = CollectorConfig.model_validate({"store": f"sqlite://{tmp_path}/s.db"})
    assert backend.sqlite_path(via_url.store_location) == f"{tmp_path}/s.db"
    assert via_url.outbox_path() == tmp_path / "s-outbox.db"
    pg = CollectorConfig.model_validate({"db": str(tmp_path / "c.db"), "store": "postgresql://u:pw@127.0.0.1:5/p"})
    assert backend.kind(pg.store_location) == backend.POSTGRESQL
    assert pg.outbox_path() == tmp_path / "c-outbox.db"  # the collector's own outbox stays a local file
    assert backend.redact(pg.store_location) == "postgresql://u:***@127.0.0.1:5/p"


def test_check_config_accepts_a_postgresql_store_and_hides_its_password():
    r = cli("--site", "camau-hcc", "--store", "postgresql://collector:bi-mat@127.0.0.1:5433/motcua", "--check-config")
    assert r.returncode == 0, r.stderr
    assert "postgresql://collector:***@127.0.0.1:5433/motcua" in r.stdout and "bi-mat" not in r.stdout


def test_the_collector_cli_manages_users_in_postgresql(pg_url):
    r = cli("add-user", "quanly", "--store", pg_url, stdin="mat-khau-du-dai\n")
    assert r.returncode == 0, r.stderr
    r = cli("create-token", "quanly", "--store", pg_url)
    assert r.returncode == 0 and r.stdout.startswith("mct_"), r.stderr
    listed = cli("list-tokens", "--store", pg_url)
    assert listed.returncode == 0 and "quanly" in listed.stdout
    conn = backend.connect(pg_url)
    assert conn.execute("SELECT name, role FROM users").fetchall() == [("quanly", "manager")]


def test_a_real_collector_stores_into_postgresql(broker, tmp_path, pg_url):
    """``motcua collector --store postgresql://...``: events over MQTT stored once, read back by its API."""
    col = CollectorProcess(broker.url, tmp_path / "collector.db", extra=["--store", pg_url]).start()
    pub = Publisher(broker.port)
    try:
        msgs = [rating(desk=3, score=4, seq=s) for s in (1, 2, 3)]
        pub.send_many(msgs + msgs[:1])  # one resent
        conn = backend.connect(pg_url)
        assert wait_for(lambda: conn.execute("SELECT count(*) FROM ratings").fetchone()[0] == 3)
        assert wait_for(lambda: col.health()["ingest"]["duplicates"] == 1)
        assert not (tmp_path / "collector.db").exists()  # nothing went to the SQLite default
        assert (tmp_path / "collector-outbox.db").exists()  # its own outbox is still a local file
        h = col.health()
        assert h["storage"] == "ok" and h["schema_version"] == SCHEMA_VERSION
    finally:
        pub.close()
        col.stop()
