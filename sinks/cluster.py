"""The same migrations on a ClickHouse cluster: replicated local tables, Distributed on top.

Migrations are written for one server. ``render(statements, database,
cluster)`` rewrites what a migration returns so that, on a cluster:

* every ``CREATE TABLE db.t (...) ENGINE = XMergeTree(args)`` becomes
  ``db.t_local ON CLUSTER c`` with ``ReplicatedXMergeTree('<zk path>',
  '{replica}', args)``, plus ``db.t ON CLUSTER c AS db.t_local ENGINE =
  Distributed(c, db, t_local, <sharding key>)``. The Distributed table keeps
  the original name, so the writer, the views and the analysts use the same
  names as on one server;
* the sharding key is the session (``cityHash64(organization_id,
  session_id)``) for every table that has both columns: all versions and
  events of a session land on one shard, which is what makes ``FINAL``
  (run per shard) and the replay-safe views exact on a cluster;
* ``ALTER TABLE db.t`` runs ``ON CLUSTER`` on the local and the Distributed
  table; views get ``ON CLUSTER`` and read the Distributed tables; materialized
  views attach to the local tables; ``INSERT … SELECT`` (backfills) is left
  as is: it runs once, through the Distributed tables.

Anything else raises ``UnsupportedStatement``, so a new kind of statement in a
migration fails the test that renders every migration, not a deployment.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from clickhouse_connect.driver.client import Client

from sinks.migrate import MIGRATIONS_TABLE, Migration, available, check_database

ZK_PATH = "/clickhouse/tables/{shard}/{database}/{table}"
LOCAL_SUFFIX = "_local"
SESSION_SHARDING = "cityHash64(organization_id, session_id)"

_NAME = r"`?(\w+)`?\.`?(\w+)`?"
_CREATE_TABLE = re.compile(rf"^\s*CREATE\s+TABLE\s+(IF\s+NOT\s+EXISTS\s+)?{_NAME}\s*\(", re.I)
_ENGINE = re.compile(r"ENGINE\s*=\s*(\w*MergeTree)\b", re.I)
_ALTER = re.compile(rf"^\s*ALTER\s+TABLE\s+{_NAME}\s+(.*)$", re.I | re.S)
_VIEW = re.compile(rf"^\s*CREATE\s+(OR\s+REPLACE\s+)?VIEW\s+(IF\s+NOT\s+EXISTS\s+)?{_NAME}\s+AS\b",
                   re.I)
_MATVIEW = re.compile(
    rf"^\s*CREATE\s+MATERIALIZED\s+VIEW\s+(IF\s+NOT\s+EXISTS\s+)?{_NAME}\s+TO\s+{_NAME}\s", re.I)
_DROP = re.compile(rf"^\s*DROP\s+(TABLE|VIEW)\s+(IF\s+EXISTS\s+)?{_NAME}\s*$", re.I)
_JOIN = re.compile(r"(?<!ARRAY )(?<!GLOBAL )\b(?:(?:LEFT|RIGHT|INNER|FULL)\s+(?:OUTER\s+)?)?JOIN\b",
                   re.I)
_IN_SELECT = re.compile(r"(?<!GLOBAL )\b(?:NOT\s+)?IN\s*\(\s*SELECT\b", re.I)
_INSERT = re.compile(r"^\s*INSERT\s+INTO\s", re.I)
_DATABASE = re.compile(r"^\s*CREATE\s+DATABASE\s+(IF\s+NOT\s+EXISTS\s+)?`?(\w+)`?\s*$", re.I)


class UnsupportedStatement(ValueError):
    """A migration statement the cluster rendering does not know how to rewrite."""


@dataclass(frozen=True)
class Rendered:
    migration: str  # the migration's name, or "schema" for the database itself
    statements: list[str]


def _closing_paren(text: str, opening: int) -> int:
    depth = 0
    for index in range(opening, len(text)):
        if text[index] == "(":
            depth += 1
        elif text[index] == ")":
            depth -= 1
            if depth == 0:
                return index
    raise UnsupportedStatement(f"unbalanced parentheses in: {text.strip()[:80]}")


def _global_subqueries(query: str) -> str:
    """JOIN -> GLOBAL JOIN and IN (SELECT -> GLOBAL IN (SELECT.

    A view whose left table is Distributed runs on every shard; a JOIN or IN
    over another Distributed table would then run on every shard from every
    shard, which ClickHouse refuses by default (distributed_product_mode =
    'deny'). GLOBAL computes the right side once and ships it to the shards:
    correct whatever the join key. Where the left side is a subquery, the
    query runs on the initiator and GLOBAL changes nothing.
    """
    query = _JOIN.sub(lambda m: "GLOBAL " + m.group(0), query)
    return _IN_SELECT.sub(lambda m: "GLOBAL " + m.group(0), query)


def _sharding_key(columns: str) -> str:
    names = set(re.findall(r"^\s*`?(\w+)`?\s", columns, re.M))
    if {"organization_id", "session_id"} <= names:
        return SESSION_SHARDING
    first = re.match(r"\s*`?(\w+)`?", columns)
    if not first:
        raise UnsupportedStatement(f"no columns in: {columns[:80]}")
    return f"cityHash64({first.group(1)})"


def _create_table(statement: str, cluster: str, replicated: set[str]) -> list[str]:
    match = _CREATE_TABLE.match(statement)
    assert match
    if_not_exists, db, table = match.group(1) or "", match.group(2), match.group(3)
    columns_end = _closing_paren(statement, match.end() - 1)
    columns = statement[match.end():columns_end]
    rest = statement[columns_end + 1:]
    engine = _ENGINE.search(rest)
    if not engine:
        raise UnsupportedStatement(f"{db}.{table}: only *MergeTree engines are rendered")
    args = ""
    after = engine.end()
    if rest[after:after + 1] == "(":
        close = _closing_paren(rest, after)
        args = rest[after + 1:close].strip()
        after = close + 1
    replica_args = ", ".join(filter(None, [f"'{ZK_PATH}'", "'{replica}'", args]))
    local = table + LOCAL_SUFFIX
    replicated.add(f"{db}.{table}")
    head = f"CREATE TABLE {if_not_exists}{db}.{local} ON CLUSTER {cluster} ("
    body = (f"{rest[:engine.start()]}ENGINE = Replicated{engine.group(1)}({replica_args})"
            f"{rest[after:]}")
    return [
        head + columns + ")" + body,
        f"CREATE TABLE {if_not_exists}{db}.{table} ON CLUSTER {cluster} AS {db}.{local} "
        f"ENGINE = Distributed({cluster}, {db}, {local}, {_sharding_key(columns)})",
    ]


def render_statement(statement: str, cluster: str, replicated: set[str]) -> list[str]:
    """One migration statement as cluster DDL; ``replicated`` collects the tables seen."""
    on = f"ON CLUSTER {cluster}"
    if _DATABASE.match(statement):
        return [statement.rstrip() + f" {on}"]
    if _CREATE_TABLE.match(statement):
        return _create_table(statement, cluster, replicated)
    if match := _ALTER.match(statement):
        db, table, action = match.groups()
        if f"{db}.{table}" not in replicated:
            return [f"ALTER TABLE {db}.{table} {on} {action}"]
        # Distributed tables take ADD/DROP/MODIFY COLUMN too: keep both in step.
        return [f"ALTER TABLE {db}.{table}{LOCAL_SUFFIX} {on} {action}",
                f"ALTER TABLE {db}.{table} {on} {action}"]
    if match := _VIEW.match(statement):
        query = _global_subqueries(statement[match.end():])
        return [statement[:match.end() - 2].rstrip() + f" {on} AS" + query]
    if match := _MATVIEW.match(statement):
        # A materialized view fires on inserts into its source table: on a cluster
        # that is each shard's local table, writing into the local target.
        _, db, view, target_db, target = match.groups()
        text = statement[match.end():]
        for name in replicated:
            text = re.sub(rf"\b{re.escape(name)}\b", name + LOCAL_SUFFIX, text)
        target_name = f"{target_db}.{target}"
        if target_name in replicated:
            target_name += LOCAL_SUFFIX
        exists = match.group(1) or ""
        return [f"CREATE MATERIALIZED VIEW {exists}{db}.{view} {on} TO {target_name} {text}"]
    if match := _DROP.match(statement):
        kind, exists, db, table = match.groups()
        drops = [f"DROP {kind} {exists or ''}{db}.{table} {on}"]
        if f"{db}.{table}" in replicated:
            drops.append(f"DROP {kind} {exists or ''}{db}.{table}{LOCAL_SUFFIX} {on}")
        return drops
    if _INSERT.match(statement):
        return [statement]  # through the Distributed tables, once
    raise UnsupportedStatement(f"cannot render for a cluster: {statement.strip()[:100]}")


def render(statements: Iterable[str], cluster: str | None,
           replicated: set[str] | None = None) -> list[str]:
    """Statements as they run on one server (cluster None) or on ``cluster``."""
    if not cluster:
        return [s.strip() for s in statements]
    if not re.fullmatch(r"\w+", cluster):
        raise ValueError(f"cluster name {cluster!r} must be a plain identifier")
    seen = replicated if replicated is not None else set()
    return [out.strip() for s in statements for out in render_statement(s, cluster, seen)]


def all_ddl(database: str, cluster: str | None,
            migrations: list[Migration] | None = None) -> list[Rendered]:
    """Every statement `playhead migrate` runs, in order, for one server or a cluster."""
    replicated: set[str] = set()
    schema = [f"CREATE DATABASE IF NOT EXISTS {database}", MIGRATIONS_TABLE.format(db=database)]
    out = [Rendered("schema", render(schema, cluster, replicated))]
    for migration in migrations if migrations is not None else available():
        out.append(Rendered(migration.name,
                            render(migration.module.statements(database), cluster, replicated)))
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
    schema = [f"CREATE DATABASE IF NOT EXISTS {database}", MIGRATIONS_TABLE.format(db=database)]
    for statement in render(schema, cluster, replicated):
        client.command(statement)
    done = {row[0] for row in client.query(
        f"SELECT number FROM {database}.schema_migrations").result_rows}
    applied = []
    for migration in available():
        # Rendered even when done: later ALTERs need to know which tables are replicated.
        statements = render(migration.module.statements(database), cluster, replicated)
        if migration.number in done:
            continue
        for statement in statements:
            client.command(statement)
        client.insert(f"{database}.schema_migrations", [[migration.number, migration.name]],
                      column_names=["number", "name"])
        applied.append(migration)
    return applied
