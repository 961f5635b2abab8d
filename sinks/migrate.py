"""Applies the numbered migrations in sinks/migrations that a database lacks."""

from __future__ import annotations

import importlib
import pkgutil
import re
from dataclasses import dataclass
from types import ModuleType

from clickhouse_connect.driver.client import Client

import sinks.migrations

_NAME = re.compile(r"^m(\d{4})_\w+$")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# What migrate() creates before any migration, to remember which ones ran.
MIGRATIONS_TABLE = (
    "CREATE TABLE IF NOT EXISTS {db}.schema_migrations "
    "(number UInt32, name String, applied_at DateTime DEFAULT now()) "
    "ENGINE = ReplacingMergeTree ORDER BY number"
)


def check_database(database: str) -> None:
    """Database names go into DDL as they are: only plain identifiers."""
    if not _IDENTIFIER.match(database):
        raise ValueError(f"database name {database!r} must be a plain identifier")


@dataclass(frozen=True)
class Migration:
    number: int
    name: str
    reason: str
    module: ModuleType


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
    client.command(f"CREATE DATABASE IF NOT EXISTS {database}")
    client.command(MIGRATIONS_TABLE.format(db=database))
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
