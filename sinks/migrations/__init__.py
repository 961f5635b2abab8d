"""Numbered ClickHouse migrations, applied in order by ``sinks.migrate``.

Each ``mNNNN_<what>.py`` has a docstring whose first line says why it exists,
a ``steps(database)`` function declaring what it does as ``sinks.ddl`` steps
(from which the one-server and the cluster DDL are rendered), and
``statements(database)``, the one-server DDL. Every step is idempotent.

A migration is frozen once applied: a database that ran it will not run it
again, so an edit would only make new databases differ from old ones. Each is
self-contained (it imports no other migration, and copies what it needs), and
``tests/sinks/test_migration_ddl.py`` holds the hash of each one's DDL. To
change the schema, add the next numbered migration.
"""
