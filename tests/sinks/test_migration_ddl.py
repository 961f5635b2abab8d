"""Migrations declared as data render exactly the DDL that was applied before, and stay frozen.

``fixtures/ddl_before_structured.json`` is what `playhead migrate` ran (one
server) and printed (``--cluster playhead_cluster``) for m0001–m0100 when the
migrations were still SQL text and the cluster form came from rewriting that
text. The definitions must give the same statements, up to whitespace, and
the engine must see the same tables and views.
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from clickhouse_connect.driver.client import Client

from sinks import ddl
from sinks.client import connect
from sinks.cluster import all_ddl
from sinks.migrate import available, migrate

DB = "playhead"
CLUSTER = "playhead_cluster"
MIGRATIONS = Path(__file__).resolve().parents[2] / "sinks" / "migrations"
BEFORE = json.loads((Path(__file__).parent / "fixtures" / "ddl_before_structured.json")
                    .read_text(encoding="utf-8"))

# Applied migrations must never change: a database that already ran one will
# not run it again, so an edit would make new databases differ from old ones
# without anyone noticing. Change the schema with a new numbered migration.
# A new migration records its hash here when it is merged (the test says it).
APPLIED = {
    "m0001_sessions_and_buckets":
        "4abc6939055856e9bf4d7110244572c1b2f53ea02049d36d37fbdff955cf2c1b",
    "m0002_session_figures":
        "ced63a8a3583e7f56c332200fb65a5590a4d131dbc2dc46b451abf65595a18d1",
    "m0003_content_events":
        "f942a37e6c7a4cc259e6e9941b9812931b603175e34b957a00fc62bdb98d619f",
    "m0004_consumption_from_steps":
        "693933be253a5a39634a75d2fed5c418e143b0e7bbf620f0781341bc0411b247",
    "m0005_drop_session_buckets":
        "9f16703077f33a033541036c9b5545bbbfbcb3987b12ff72afc8e955a65769c4",
    "m0006_completeness":
        "c4d281948849f2fc857bff7fce010b4f493a28ee2623835cd286d6f05b66530e",
    "m0007_rollup_tables":
        "3ab301f147713b060c7473ab23096144234c84212db4fce2b2a9d803be815930",
    "m0008_sessions_by_day":
        "0d78a7c3c1b85d13a1a28943fda4690b2c35a4704e2fe09192a7b7a3e5664564",
    "m0009_erasures":
        "f13f596b03a8cd6589bb2a2c54b7aed0743cc4c7f3850735cafaa8bd145c4386",
    "m0010_qualifying_rules":
        "c02b74fb31d3d476e47279b6c0e89ccf7c6db983f402e1078d3bf09537e4eceb",
    "m0100_analyst_views":
        "4a6ff453f33be1af6533f7696357144d48bdaba5075715e325b5ff6ff5e24db8",
    "m0101_views_over_rollups":
        "9b7b07bc3463977d21f1d8d1f252cf92f92daef3806502f66a1b18c267169392",
    "m0102_views_over_session_days":
        "e8ff2f62ed1acbe69350351b474b67f6a2635ad543f40ed7e1348e69d6785ec8",
    "m0103_plain_reads_without_builds":
        "84a1acdc1040d27893752a58be0505bbd2f439d4cb545fd19f83810cdf82e6e8",
    "m0104_views_under_qualifying_rules":
        "0cfe90395115c3ce32e671ac1093eeaccdf839ea880a83cfa361ff1361b8c56f",
    "m0105_session_views_under_qualifying_rules":
        "9551a28cb3c0f05603fd2c330292d23308ebe83400cfc56d4ff1a6a13c89e1b9",
}


def normalized(statement: str) -> str:
    # Whitespace between tokens, and around brackets and commas, means nothing to SQL.
    return re.sub(r"\s*([(),])\s*", r"\1", " ".join(statement.split()))


def rendered(cluster: str | None) -> dict[str, list[str]]:
    return {r.migration: r.statements for r in all_ddl(DB, cluster)}


@pytest.mark.parametrize("form, cluster", [("one_server", None), ("cluster", CLUSTER)])
def test_definitions_render_the_ddl_applied_before(form: str, cluster: str | None) -> None:
    now = rendered(cluster)
    assert BEFORE[form].keys() <= now.keys()
    for migration, statements in BEFORE[form].items():
        assert [normalized(s) for s in now[migration]] == [normalized(s) for s in statements], (
            migration)


def digest(migration: str) -> str:
    forms = (rendered(None)[migration], rendered(CLUSTER)[migration])
    text = "\n--\n".join(";\n".join(statements) for statements in forms)
    return hashlib.sha256(text.encode()).hexdigest()


def test_applied_migrations_never_change() -> None:
    for migration in available():
        assert migration.name in APPLIED, (
            f"{migration.name} is new: once it is merged, record its hash in APPLIED: "
            f"{digest(migration.name)}")
        assert digest(migration.name) == APPLIED[migration.name], (
            f"{migration.name} renders different DDL from when it was applied; leave it as "
            "it was and add a new numbered migration instead")


def imported_modules(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def test_no_migration_imports_another() -> None:
    files = sorted(MIGRATIONS.glob("m[0-9][0-9][0-9][0-9]_*.py"))
    assert len(files) == len(available())
    for path in files:
        others = {name for name in imported_modules(path)
                  if name.startswith(".") or re.search(r"(^|\.)m\d{4}_", name)}
        assert not others, f"{path.name} imports {others}: copy what it needs instead"


def test_the_renderer_writes_partitions_settings_and_sharding() -> None:
    table = ddl.Table("db", "plays", columns=(("clip_id", "String"), ("day", "Date")),
                      engine="MergeTree", order_by=("clip_id", "day"), partition_by="day",
                      settings=(("index_granularity", "1024"),), shard_by="cityHash64(day)")
    assert ddl.render([table], None) == [
        "CREATE TABLE IF NOT EXISTS db.plays (\n    clip_id String,\n    day Date\n) "
        "ENGINE = MergeTree\nPARTITION BY day\nORDER BY (clip_id, day)\n"
        "SETTINGS index_granularity = 1024"]
    local, distributed = ddl.render([table], "c")
    assert local.startswith("CREATE TABLE IF NOT EXISTS db.plays_local ON CLUSTER c (")
    assert "ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/{table}', " \
           "'{replica}')\nPARTITION BY day" in local
    assert distributed.endswith("Distributed(c, db, plays_local, cityHash64(day))")


def test_a_dropped_table_goes_with_its_local_table_on_a_cluster() -> None:
    replicated: set[str] = set()
    ddl.render([ddl.Table("db", "t", (("x", "UInt8"),), "MergeTree", ("x",))], "c", replicated)
    assert ddl.render([ddl.Drop("db", "t")], "c", replicated) == [
        "DROP TABLE IF EXISTS db.t ON CLUSTER c", "DROP TABLE IF EXISTS db.t_local ON CLUSTER c"]
    assert ddl.render([ddl.Drop("db", "t")], None) == ["DROP TABLE IF EXISTS db.t"]


def test_a_view_is_global_only_on_a_cluster() -> None:
    view = ddl.View("db", "v", f"SELECT 1 FROM db.a {ddl.GLOBAL}LEFT JOIN db.b USING (x)")
    assert ddl.render([view], None) == [
        "CREATE OR REPLACE VIEW db.v AS\nSELECT 1 FROM db.a LEFT JOIN db.b USING (x)"]
    assert ddl.render([view], "c") == [
        "CREATE OR REPLACE VIEW db.v ON CLUSTER c AS\n"
        "SELECT 1 FROM db.a GLOBAL LEFT JOIN db.b USING (x)"]


@pytest.fixture(scope="module")
def client(warehouse_url: str) -> Client:
    return connect(warehouse_url)


@pytest.fixture
def databases(client: Client) -> Iterator[tuple[str, str]]:
    names = (f"ddl_text_{uuid.uuid4().hex[:8]}", f"ddl_data_{uuid.uuid4().hex[:8]}")
    yield names
    for name in names:
        client.command(f"DROP DATABASE IF EXISTS {name}")


def schema(client: Client, database: str) -> dict[str, str]:
    rows = client.query("SELECT name, create_table_query FROM system.tables "
                        "WHERE database = {d:String}", parameters={"d": database}).result_rows
    return {name: query.replace(f"{database}.", "db.") for name, query in rows}


@pytest.mark.integration
def test_the_engine_sees_the_same_schema_as_before(
        client: Client, databases: tuple[str, str]) -> None:
    text_db, data_db = databases
    for statements in BEFORE["one_server"].values():
        for statement in statements:
            client.command(statement.replace(f"{DB}.", f"{text_db}.").replace(
                f"EXISTS {DB}", f"EXISTS {text_db}"))
    for rendered_migration in all_ddl(data_db, None):
        if rendered_migration.migration in BEFORE["one_server"]:
            for statement in rendered_migration.statements:
                client.command(statement)
    assert schema(client, data_db) == schema(client, text_db)
    assert "session_buckets" in schema(client, data_db)
    # migrate() over it runs every migration again (all idempotent), then the later ones:
    # m0005 drops session_buckets; what later migrations define is compared by its columns.
    migrate(client, data_db)
    before = {name: query for name, query in schema(client, text_db).items()
              if name != "session_buckets"}
    later = defined_later()
    assert {name: query for name, query in schema(client, data_db).items()
            if name not in later} == {
        name: query for name, query in before.items() if name not in later}
    for name in later & before.keys():
        assert columns(client, data_db, name) == columns(client, text_db, name), name


def defined_later() -> set[str]:
    """The tables and views that migrations after the fixture's create or redefine."""
    return {step.name for migration in available() if migration.name not in BEFORE["one_server"]
            for step in migration.steps(DB) if isinstance(step, ddl.Table | ddl.View | ddl.Copy)}


def columns(client: Client, database: str, name: str) -> list[tuple[str, str]]:
    return [(row[0], row[1]) for row in client.query(
        "SELECT name, type FROM system.columns WHERE database = {d:String} AND table = {t:String} "
        "ORDER BY position", parameters={"d": database, "t": name}).result_rows]
