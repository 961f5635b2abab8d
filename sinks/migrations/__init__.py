"""Numbered ClickHouse migrations, applied in order by ``sinks.migrate``.

Each ``mNNNN_<what>.py`` has a docstring saying why it exists and a
``statements(database)`` function returning idempotent DDL.
"""
