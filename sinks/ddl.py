"""Migration steps as data, and the one renderer that writes their DDL.

A migration declares what it does (a ``Table``'s columns, engine and keys, a
``View``'s query, an ``AddColumn``…) instead of writing CREATE text, so the
one-server DDL and the cluster DDL come from the same definition and cannot
drift apart. On a cluster:

* a ``Table`` becomes ``<name>_local`` with the Replicated form of its engine,
  plus a Distributed table under the original name over it, so the writer,
  the views and the analysts use the same names as on one server. It is
  sharded by session (``cityHash64(organization_id, session_id)``) when it has
  both columns: every version and event of a session lands on one shard,
  which is what keeps ``FINAL`` (run per shard) and the replay-safe views
  exact; other tables by their first column, or ``shard_by``;
* ``AddColumn`` and ``Drop`` act on the Distributed and the local table alike;
* a ``View`` gets ``ON CLUSTER`` and reads the Distributed tables. Its query is
  SQL text in which every JOIN or ``IN (SELECT …)`` over another table is
  written after the ``GLOBAL`` marker: on a cluster that is the GLOBAL
  keyword (a view whose left table is Distributed runs on every shard, and a
  plain join over another Distributed table would run on every shard from
  every shard, which ClickHouse refuses by default); on one server, nothing;
* a ``Backfill`` (``INSERT … SELECT``) is the same text in both forms: it
  runs once, through the Distributed tables.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from sinks.identifiers import check_cluster

ZK_PATH = "/clickhouse/tables/{shard}/{database}/{table}"
LOCAL_SUFFIX = "_local"
SESSION_SHARDING = "cityHash64(organization_id, session_id)"
# Written in a view's query before a join or IN subquery over another table.
GLOBAL = "{GLOBAL}"


class UnsupportedStatement(ValueError):
    """A migration step the cluster rendering does not know how to write."""


@dataclass(frozen=True)
class Database:
    name: str


@dataclass(frozen=True)
class Table:
    database: str
    name: str
    columns: tuple[tuple[str, str], ...]  # (name, type and any DEFAULT …)
    engine: str  # a *MergeTree engine, without arguments
    order_by: tuple[str, ...]
    engine_args: tuple[str, ...] = ()
    partition_by: str | None = None
    settings: tuple[tuple[str, str], ...] = ()
    shard_by: str | None = None  # on a cluster; None: by session, else the first column

    @property
    def sharding_key(self) -> str:
        if self.shard_by:
            return self.shard_by
        names = {name for name, _ in self.columns}
        if {"organization_id", "session_id"} <= names:
            return SESSION_SHARDING
        return f"cityHash64({self.columns[0][0]})"


@dataclass(frozen=True)
class AddColumn:
    database: str
    table: str
    column: str
    type: str


@dataclass(frozen=True)
class View:
    database: str
    name: str
    query: str
    replace: bool = True  # CREATE OR REPLACE; False: CREATE … IF NOT EXISTS


@dataclass(frozen=True)
class Copy:
    """A materialized view: every insert into ``source`` also goes, as ``columns``, to ``target``.

    On a cluster it joins the two local tables, so a row lands on the shard
    its source row did (both tables must be sharded alike).
    """
    database: str
    name: str
    source: str
    target: str
    columns: tuple[str, ...]


@dataclass(frozen=True)
class Drop:
    database: str
    name: str
    kind: Literal["TABLE", "VIEW"] = "TABLE"


@dataclass(frozen=True)
class Backfill:
    sql: str  # INSERT … SELECT, with the database already in it


Step = Database | Table | AddColumn | View | Copy | Drop | Backfill


def _table_body(table: Table, engine: str, args: Iterable[str]) -> str:
    columns = ",\n".join(f"    {name} {kind}" for name, kind in table.columns)
    arguments = ", ".join(args)
    order = table.order_by[0] if len(table.order_by) == 1 else f"({', '.join(table.order_by)})"
    lines = [f"(\n{columns}\n) ENGINE = {engine}" + (f"({arguments})" if arguments else "")]
    if table.partition_by:
        lines.append(f"PARTITION BY {table.partition_by}")
    lines.append(f"ORDER BY {order}")
    if table.settings:
        lines.append("SETTINGS " + ", ".join(f"{k} = {v}" for k, v in table.settings))
    return "\n".join(lines)


def _one_server(step: Step) -> list[str]:
    match step:
        case Database(name):
            return [f"CREATE DATABASE IF NOT EXISTS {name}"]
        case Table():
            return [f"CREATE TABLE IF NOT EXISTS {step.database}.{step.name} "
                    + _table_body(step, step.engine, step.engine_args)]
        case AddColumn(db, table, column, kind):
            return [f"ALTER TABLE {db}.{table} ADD COLUMN IF NOT EXISTS {column} {kind}"]
        case View(db, name, query, replace):
            return [f"{_view_head(db, name, replace)} AS\n{_query(query, '')}"]
        case Copy(db, name, source, target, columns):
            return [_copy(db, name, source, target, columns, "")]
        case Drop(db, name, kind):
            return [f"DROP {kind} IF EXISTS {db}.{name}"]
        case Backfill(sql):
            return [textwrap.dedent(sql).strip()]
    raise UnsupportedStatement(f"not a migration step: {step!r}")


def _clustered(step: Step, cluster: str, replicated: set[str]) -> list[str]:
    on = f"ON CLUSTER {cluster}"
    match step:
        case Database(name):
            return [f"CREATE DATABASE IF NOT EXISTS {name} {on}"]
        case Table(database=db, name=name):
            if not step.engine.endswith("MergeTree"):
                raise UnsupportedStatement(f"{db}.{name}: only *MergeTree engines are rendered")
            local = name + LOCAL_SUFFIX
            replicated.add(f"{db}.{name}")
            args = (f"'{ZK_PATH}'", "'{replica}'", *step.engine_args)
            return [
                f"CREATE TABLE IF NOT EXISTS {db}.{local} {on} "
                + _table_body(step, "Replicated" + step.engine, args),
                f"CREATE TABLE IF NOT EXISTS {db}.{name} {on} AS {db}.{local} "
                f"ENGINE = Distributed({cluster}, {db}, {local}, {step.sharding_key})",
            ]
        case AddColumn(db, table, column, kind):
            action = f"{on} ADD COLUMN IF NOT EXISTS {column} {kind}"
            if f"{db}.{table}" not in replicated:
                return [f"ALTER TABLE {db}.{table} {action}"]
            # Distributed tables take ADD COLUMN too: keep both in step.
            return [f"ALTER TABLE {db}.{table}{LOCAL_SUFFIX} {action}",
                    f"ALTER TABLE {db}.{table} {action}"]
        case View(db, name, query, replace):
            return [f"{_view_head(db, name, replace)} {on} AS\n{_query(query, 'GLOBAL ')}"]
        case Copy(db, name, source, target, columns):
            return [_copy(db, name, source + LOCAL_SUFFIX, target + LOCAL_SUFFIX, columns,
                          f" {on}")]
        case Drop(db, name, kind):
            drops = [f"DROP {kind} IF EXISTS {db}.{name} {on}"]
            if f"{db}.{name}" in replicated:
                replicated.discard(f"{db}.{name}")
                drops.append(f"DROP {kind} IF EXISTS {db}.{name}{LOCAL_SUFFIX} {on}")
            return drops
        case Backfill():
            return _one_server(step)
    raise UnsupportedStatement(f"not a migration step: {step!r}")


def _copy(db: str, name: str, source: str, target: str, columns: tuple[str, ...],
          on: str) -> str:
    names = ", ".join(columns)
    return (f"CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.{name}{on} TO {db}.{target} AS\n"
            f"SELECT {names} FROM {db}.{source}")


def _view_head(db: str, name: str, replace: bool) -> str:
    return (f"CREATE OR REPLACE VIEW {db}.{name}" if replace
            else f"CREATE VIEW IF NOT EXISTS {db}.{name}")


def _query(query: str, global_: str) -> str:
    return textwrap.dedent(query).strip().replace(GLOBAL, global_)


def render(steps: Iterable[Step], cluster: str | None,
           replicated: set[str] | None = None) -> list[str]:
    """The DDL of ``steps`` for one server (cluster None) or for ``cluster``.

    ``replicated`` collects the tables created so far, so that a later
    migration's ALTER or DROP reaches their local tables too.
    """
    if not cluster:
        return [statement for step in steps for statement in _one_server(step)]
    check_cluster(cluster)
    seen = replicated if replicated is not None else set()
    return [statement for step in steps for statement in _clustered(step, cluster, seen)]
