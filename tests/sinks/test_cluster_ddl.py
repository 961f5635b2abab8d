"""Cluster DDL for every migration: parsed by ClickHouse's own parser, checked for shape,
and the one-server form applied to the real engine (the warehouse server)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest
from clickhouse_connect.driver.client import Client

from playhead.cli import main
from sinks.client import connect
from sinks.cluster import (
    SESSION_SHARDING,
    UnsupportedStatement,
    all_ddl,
    migrate_cluster,
    render,
)
from sinks.migrate import available, migrate

CLUSTER = "playhead_cluster"
DB = "playhead"


@pytest.fixture(scope="module")
def client(warehouse_url: str) -> Client:
    return connect(warehouse_url)


def cluster_statements() -> list[str]:
    return [s for rendered in all_ddl(DB, CLUSTER) for s in rendered.statements]


def test_every_migration_is_rendered() -> None:
    names = [rendered.migration for rendered in all_ddl(DB, CLUSTER)]
    assert names == ["schema", *(m.name for m in available())]


@pytest.mark.integration
def test_cluster_ddl_parses_with_clickhouse(client: Client) -> None:
    for statement in cluster_statements():
        formatted = client.query("SELECT formatQuery({q:String})",
                                 parameters={"q": statement}).result_rows[0][0]
        assert formatted, statement


def test_every_table_is_replicated_with_a_distributed_table_over_it() -> None:
    statements = cluster_statements()
    creates = [s for s in statements if s.startswith("CREATE TABLE")]
    local = {m.group(1): s for s in creates
             if (m := re.match(rf"CREATE TABLE IF NOT EXISTS {DB}\.(\w+)_local ON CLUSTER "
                               rf"{CLUSTER} \(", s))}
    distributed = {m.group(1): s for s in creates
                   if (m := re.match(rf"CREATE TABLE IF NOT EXISTS {DB}\.(\w+) ON CLUSTER "
                                     rf"{CLUSTER} AS {DB}\.(\w+)_local ENGINE = Distributed", s))}
    assert local and local.keys() == distributed.keys()
    assert len(creates) == 2 * len(local)
    for table, ddl in local.items():
        assert re.search(r"ENGINE = Replicated\w*MergeTree\('/clickhouse/tables/\{shard\}/"
                         r"\{database\}/\{table\}', '\{replica\}'", ddl), ddl
        expected = (SESSION_SHARDING if re.search(r"^\s*session_id\s", ddl, re.M)
                    and re.search(r"^\s*organization_id\s", ddl, re.M) else "cityHash64(")
        assert f"Distributed({CLUSTER}, {DB}, {table}_local, {expected}" in distributed[table]
    # The replay-safe tables must be sharded by session, or FINAL per shard is not exact.
    assert {"session_versions", "content_events"} <= {
        t for t, ddl in distributed.items() if SESSION_SHARDING in ddl}


def test_every_ddl_statement_runs_on_the_cluster() -> None:
    for statement in cluster_statements():
        if statement.startswith("INSERT"):
            continue  # backfills run once, through the Distributed tables
        head = statement.split(" AS", 1)[0] if "VIEW" in statement[:30] else statement
        assert f"ON CLUSTER {CLUSTER}" in head, statement[:120]
        assert "MergeTree(" not in statement or "Replicated" in statement, statement[:120]


def test_alters_keep_local_and_distributed_tables_in_step() -> None:
    alters = [s for s in cluster_statements() if s.startswith("ALTER TABLE")]
    locals_ = [s.replace("_local ON", " ON", 1) for s in alters if "_local ON" in s]
    assert locals_ and sorted(locals_) == sorted(s for s in alters if "_local ON" not in s)


def test_view_joins_are_global_on_a_cluster() -> None:
    views = [s for s in cluster_statements() if re.match(r"CREATE (OR REPLACE )?VIEW", s)]
    for view in views:
        for join in re.finditer(r"\bJOIN\b", view):
            before = [w.upper() for w in re.findall(r"\w+", view[:join.start()])[-3:]]
            assert before[-1] == "ARRAY" or "GLOBAL" in before, view
        assert not re.search(r"(?<!GLOBAL )(?<!GLOBAL NOT )\bIN\s*\(\s*SELECT", view), view


def test_one_server_form_is_the_migrations_unchanged() -> None:
    for migration in available():
        statements = migration.module.statements(DB)
        assert render(statements, None) == [s.strip() for s in statements]


def test_unknown_statements_are_refused() -> None:
    with pytest.raises(UnsupportedStatement, match="RENAME TABLE"):
        render(["RENAME TABLE a.b TO a.c"], CLUSTER)
    with pytest.raises(UnsupportedStatement, match="MergeTree"):
        render(["CREATE TABLE a.b (x UInt8) ENGINE = Memory"], CLUSTER)


@pytest.fixture
def databases(client: Client) -> Iterator[tuple[str, str]]:
    names = (f"test_render_{uuid.uuid4().hex[:8]}", f"test_plain_{uuid.uuid4().hex[:8]}")
    yield names
    for name in names:
        client.command(f"DROP DATABASE IF EXISTS {name}")


@pytest.mark.parametrize("name", ["1cluster", "c; DROP DATABASE playhead", "clüster", ""])
def test_a_cluster_name_that_is_no_plain_identifier_is_refused(name: str) -> None:
    # The DDL and the erasures' mutations check it alike (sinks/identifiers.py).
    from sinks.erasure_plan import delete_statement

    with pytest.raises(ValueError, match="plain identifier"):
        render(available()[0].steps(DB), name or " ")
    with pytest.raises(ValueError, match="plain identifier"):
        delete_statement(DB, "sessions", name or " ")


@pytest.mark.integration
def test_one_server_form_runs_on_the_engine_like_migrate(
        client: Client, databases: tuple[str, str]) -> None:
    rendered_db, plain_db = databases
    applied = migrate_cluster(client, rendered_db, None)
    assert [m.name for m in applied] == [m.name for m in available()]
    assert migrate_cluster(client, rendered_db, None) == []  # idempotent
    migrate(client, plain_db)

    def tables(db: str) -> list[tuple[str, str]]:
        return [tuple(r) for r in client.query(
            "SELECT name, engine FROM system.tables WHERE database = {d:String} ORDER BY name",
            parameters={"d": db}).result_rows]

    assert tables(rendered_db) == tables(plain_db)
    assert ("session_versions", "ReplacingMergeTree") in tables(rendered_db)


def test_cli_prints_cluster_ddl(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["migrate", "--print-ddl", "--cluster", "analytics"]) == 0
    out = capsys.readouterr().out
    assert "ENGINE = Distributed(analytics, playhead, session_versions_local" in out
    assert out.count("INSERT INTO playhead.schema_migrations") == len(available())
    assert main(["migrate", "--print-ddl"]) == 0
    assert "ON CLUSTER" not in capsys.readouterr().out
