"""The same migrations on a ClickHouse cluster: replicated local tables, Distributed on top.

Each migration declares its steps as data (``sinks.ddl``); the renderer there
writes them for one server or ON CLUSTER, and says what the cluster form is.
This module runs or prints the whole sequence for either form.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from clickhouse_connect.driver.client import Client

from sinks import ddl
from sinks.ddl import LOCAL_SUFFIX, SESSION_SHARDING, ZK_PATH, Step, UnsupportedStatement
from sinks.migrate import Migration, available, check_database, schema_steps

__all__ = ["LOCAL_SUFFIX", "SESSION_SHARDING", "ZK_PATH", "Rendered", "UnsupportedStatement",
           "all_ddl", "migrate_cluster", "print_ddl", "render"]


@dataclass(frozen=True)
class Rendered:
    migration: str  # the migration's name, or "schema" for the database itself
    statements: list[str]


def render(statements: Iterable[Step | str], cluster: str | None,
           replicated: set[str] | None = None) -> list[str]:
    """Steps as DDL for one server (cluster None) or ``cluster``.

    SQL text is taken as it is on one server, but refused for a cluster: the
    cluster form is built from what a step declares, never by rewriting text.
    """
    seen = replicated if replicated is not None else set()
    out: list[str] = []
    for item in statements:
        if isinstance(item, str):
            if cluster:
                raise UnsupportedStatement(
                    "cannot render SQL text for a cluster; declare it as a sinks.ddl step "
                    f"(a Table needs a *MergeTree engine): {item.strip()[:100]}")
            out.append(item.strip())
        else:
            out.extend(ddl.render([item], cluster, seen))
    return out


def all_ddl(database: str, cluster: str | None,
            migrations: list[Migration] | None = None) -> list[Rendered]:
    """Every statement `playhead migrate` runs, in order, for one server or a cluster."""
    replicated: set[str] = set()
    out = [Rendered("schema", render(schema_steps(database), cluster, replicated))]
    for migration in migrations if migrations is not None else available():
        out.append(Rendered(migration.name,
                            render(migration.steps(database), cluster, replicated)))
    return out


def print_ddl(database: str, cluster: str | None) -> str:
    """The DDL as one SQL script, for review or to apply with clickhouse-client."""
    parts = []
    for rendered in all_ddl(database, cluster):
        parts.append(f"-- {rendered.migration}")
        parts.extend(statement + ";" for statement in rendered.statements)
        if rendered.migration != "schema":
            number = int(rendered.migration[1:5])
            parts.append(f"INSERT INTO {database}.schema_migrations (number, name) "
                         f"VALUES ({number}, '{rendered.migration}');")
    return "\n\n".join(parts) + "\n"


def migrate_cluster(client: Client, database: str, cluster: str | None) -> list[Migration]:
    """``sinks.migrate.migrate`` with the statements rendered for ``cluster``.

    With no cluster it runs the same statements as ``migrate`` (the suite
    runs it that way against chDB); with one, the DDL goes ON CLUSTER through
    the server ``client`` points at.
    """
    check_database(database)
    replicated: set[str] = set()
    for statement in render(schema_steps(database), cluster, replicated):
        client.command(statement)
    done = {row[0] for row in client.query(
        f"SELECT number FROM {database}.schema_migrations").result_rows}
    applied = []
    for migration in available():
        # Rendered even when done: later ALTERs need to know which tables are replicated.
        statements = render(migration.steps(database), cluster, replicated)
        if migration.number in done:
            continue
        for statement in statements:
            client.command(statement)
        client.insert(f"{database}.schema_migrations", [[migration.number, migration.name]],
                      column_names=["number", "name"])
        applied.append(migration)
    return applied
