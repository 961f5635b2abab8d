"""Applies the numbered migrations in sinks/migrations that a database lacks."""

from __future__ import annotations

import importlib
import pkgutil
import re
from dataclasses import dataclass
from types import ModuleType

from clickhouse_connect.driver.client import Client

import sinks.migrations
from sinks.ddl import Database, Step, Table, render
from sinks.identifiers import check_database

__all__ = ["Migration", "available", "check_database", "migrate", "schema_steps"]

_NAME = re.compile(r"^m(\d{4})_\w+$")


def schema_steps(database: str) -> list[Step]:
    """What migrate() creates before any migration, to remember which ones ran."""
    return [
        Database(database),
        Table(database, "schema_migrations",
              columns=(("number", "UInt32"), ("name", "String"),
                       ("applied_at", "DateTime DEFAULT now()")),
              engine="ReplacingMergeTree", order_by=("number",)),
    ]


@dataclass(frozen=True)
class Migration:
    number: int
    name: str
    reason: str
    module: ModuleType

    def steps(self, database: str) -> list[Step]:
        steps: list[Step] = self.module.steps(database)
        return steps


def available() -> list[Migration]:
    found = []
    for info in pkgutil.iter_modules(sinks.migrations.__path__):
        match = _NAME.match(info.name)
        if not match:
            continue
        module = importlib.import_module(f"sinks.migrations.{info.name}")
        reason = (module.__doc__ or "").strip().splitlines()[0] if module.__doc__ else ""
        if not reason:
            raise ValueError(f"migration {info.name} needs a docstring saying why it exists")
        found.append(Migration(int(match.group(1)), info.name, reason, module))
    return sorted(found, key=lambda m: m.number)


def migrate(client: Client, database: str) -> list[Migration]:
    """Bring ``database`` up to date; return the migrations applied now."""
    check_database(database)
    for statement in render(schema_steps(database), None):
        client.command(statement)
    done = {row[0] for row in client.query(
        f"SELECT number FROM {database}.schema_migrations").result_rows}
    applied = []
    for migration in available():
        if migration.number in done:
            continue
        for statement in migration.module.statements(database):
            client.command(statement)
        client.insert(f"{database}.schema_migrations", [[migration.number, migration.name]],
                      column_names=["number", "name"])
        applied.append(migration)
    return applied
